"""Command-line interface: ``tthc-mining <command> ...``.

Exit codes: 0 success; 2 usage error; 3 bad input data (the message names file, row, column,
value); 4 a required external program is missing; 5 ``validate --fail-on-dropped`` found dropped
rows; 1 unexpected error (traceback with ``--debug``).
"""
from __future__ import annotations

import argparse
import html
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INPUT, EXIT_PROGRAM, EXIT_DROPPED = 0, 1, 2, 3, 4, 5

DESCRIPTION = """\
tthc-mining: process mining for Vietnamese administrative-procedure (TTHC) dossier logs.
Khai phá quy trình thủ tục hành chính từ nhật ký hồ sơ một cửa.

Input logs: one-stop-shop exports (CSV/Excel with Vietnamese headers, dd/mm/yyyy dates),
XES (.xes, .xes.gz), Parquet. Durations are working time under the Vietnamese official
calendar (07:00-11:30, 13:30-17:00, public holidays and make-up Saturdays).
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", help="event log: .csv, .xlsx, .xes, .xes.gz or .parquet")
    p.add_argument("--catalog", help="procedure catalogue (CSV/YAML: deadlines, step allotments)")
    p.add_argument("--schema", default="auto", choices=["auto", "xes", "onestop"],
                   help="how to recognise the columns (default: auto)")
    p.add_argument("--column", action="append", default=[], metavar="ROLE=HEADER",
                   help="map a column explicitly, e.g. --column case='Số hồ sơ' (repeatable)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad row instead of counting it")
    p.add_argument("--calendar", default="VN", choices=["VN", "24x7"],
                   help="working calendar: Vietnamese official (default) or 24x7")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tthc-mining", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("summary", help="KPI summary: received, resolved, on time (both ways), 766 score",
                       description="KPI summary as a provincial report quotes it, recomputed from raw events.")
    _log_args(p)
    p.add_argument("--as-of", help="status date (default: the last timestamp in the log)")
    p.add_argument("--lang", default="vi", choices=["vi", "en"], help="language of the text (default vi)")
    p.add_argument("-o", "--output", help="write to a file: .html, .json, .csv or .xlsx")
    _common(p)

    p = sub.add_parser("validate", help="data-quality report: every row used or counted by reason",
                       description="Read the log and report what was dropped, repaired or flagged.")
    _log_args(p)
    p.add_argument("-o", "--output", help="write the quality report to .json, .csv or .html")
    p.add_argument("--fail-on-dropped", action="store_true",
                   help=f"exit with code {EXIT_DROPPED} when any row was dropped")
    _common(p)

    p = sub.add_parser("synth", help="write a synthetic province log (and its ground truth)",
                       description="Generate a realistic synthetic multi-procedure log with planted truth.")
    p.add_argument("-n", "--dossiers", type=int, default=5000, help="number of dossiers (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("-o", "--output", required=True,
                   help="output file: .csv or .xlsx (one-stop layout, Vietnamese headers) or .parquet")
    p.add_argument("--truth", help="also write the ground truth (JSON) here")
    _common(p)
    return parser


def _version() -> str:
    from . import __version__
    return f"tthc-mining {__version__}"


def _columns(pairs: Sequence[str]) -> dict[str, str] | None:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"tthc-mining: error: --column expects ROLE=HEADER, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out or None


def _read(args) -> Any:
    import tthc_mining as tm
    from .calendar import continuous
    catalog = tm.ProcedureCatalog.load(args.catalog) if getattr(args, "catalog", None) else None
    calendar = continuous() if args.calendar == "24x7" else None
    return tm.read_log(args.log, schema=args.schema, columns=_columns(args.column),
                       calendar=calendar, catalog=catalog, strict=args.strict,
                       progress=not args.quiet)


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text)


def _page(title: str, body: str, lang: str = "vi") -> str:
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def cmd_summary(args) -> int:
    import tthc_mining as tm
    t0 = time.perf_counter()
    log = _read(args)
    summ = tm.summary(log, as_of=args.as_of)
    _say(args, summ.text(lang=args.lang))
    if args.output:
        out = Path(args.output)
        suffix = out.suffix.lower()
        if suffix == ".json":
            out.write_text(summ.to_json(), encoding="utf-8")
        elif suffix in (".csv", ".xlsx"):
            from .export import write_table
            write_table(summ.to_frame(), out)
        else:
            title = "Tổng hợp tình hình giải quyết hồ sơ" if args.lang == "vi" else "Dossier processing summary"
            body = (f"<p>{html.escape(summ.text(lang=args.lang))}</p>" + summ._repr_html_()
                    + "<h2>" + ("Chất lượng dữ liệu" if args.lang == "vi" else "Data quality") + "</h2>"
                    + log.quality._repr_html_())
            out.write_text(_page(title, body, args.lang), encoding="utf-8")
        _say(args, f"→ {out} ({time.perf_counter() - t0:.1f} s)")
    return EXIT_OK


def cmd_validate(args) -> int:
    log = _read(args)
    q = log.quality
    _say(args, str(q))
    if args.output:
        out = Path(args.output)
        suffix = out.suffix.lower()
        if suffix == ".json":
            out.write_text(q.to_json(indent=2), encoding="utf-8")
        elif suffix in (".csv", ".xlsx"):
            from .export import write_table
            write_table(q.to_frame(), out)
        else:
            out.write_text(_page("Chất lượng dữ liệu / Data quality", q._repr_html_()), encoding="utf-8")
        _say(args, f"→ {out}")
    if args.fail_on_dropped and q.rows_dropped:
        return EXIT_DROPPED
    return EXIT_OK


def cmd_synth(args) -> int:
    from . import synth
    t0 = time.perf_counter()
    prov = synth.province(n_dossiers=args.dossiers, seed=args.seed)
    out = Path(args.output)
    prov.to_onestop(out) if out.suffix.lower() in (".csv", ".xlsx") else prov.log.events.to_parquet(out)
    if args.truth:
        prov.truth.save(args.truth)
    _say(args, f"{args.dossiers:,} dossiers, {len(prov.log.events):,} events → {out} "
               f"({time.perf_counter() - t0:.1f} s)")
    return EXIT_OK


COMMANDS = {"summary": cmd_summary, "validate": cmd_validate, "synth": cmd_synth}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from .errors import InputError, MissingProgramError, TthcMiningError
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("tthc-mining: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # one clear line; traceback only with --debug
        if getattr(args, "debug", False):
            raise
        if isinstance(exc, MissingProgramError):
            code = EXIT_PROGRAM
        elif isinstance(exc, (InputError, TthcMiningError, FileNotFoundError)):
            code = EXIT_INPUT
        else:
            code = EXIT_ERROR
        print(f"tthc-mining: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
