"""Command-line interface: ``tthc-mining <command> ...``.

Commands: ``summary``, ``validate``, ``map``, ``bottlenecks``, ``rework``, ``cuts``, ``report``,
``synth``. Every command that reads a log takes the same options (``--catalog``,
``--procedure``, ``--as-of``, ``--lang``, ``-o/--output``, ``--format``, ``--top``, ``--quiet``,
``--debug`` ...). Output: a short text table on stdout, or with ``-o FILE`` / ``--format`` an
HTML page (the report's sections), the versioned JSON document (schema
``tthc_mining/schemas/report-1.0.json``), an Excel workbook (one sheet per table, Vietnamese
headers) or CSV; ``map`` also writes SVG, PNG or DOT.

Exit codes:

* 0 success;
* 1 unexpected error (the traceback with ``--debug``), or a report written with a failed
  section (the warning names it);
* 2 usage error (unknown option, bad option value, e.g. an unknown ``--procedure``);
* 3 bad input data or file (the message names file, row, column, value), bad catalogue or
  cuts file;
* 4 a required external program (graphviz ``dot``) or component (the cut engines) is missing;
* 5 ``validate --fail-on-dropped`` found dropped rows.

Errors print as one line on stderr (``tthc-mining: error: ...``); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
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

EPILOG = """\
exit codes: 0 ok; 1 unexpected error (traceback with --debug) or a report section failed;
2 usage error; 3 bad input data, catalogue or cuts file; 4 missing program (graphviz 'dot')
or component; 5 'validate --fail-on-dropped' found dropped rows.
"""

TEXT_FORMATS = ("text", "html", "json", "xlsx", "csv")


class UsageError(Exception):
    """A wrong combination of options (exit code 2)."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _log_args(p: argparse.ArgumentParser, *, formats: Sequence[str] = TEXT_FORMATS,
              analysis: bool = True, multi_output: bool = False) -> None:
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
    p.add_argument("--pseudonymize", action="store_true",
                   help="replace citizens' names, ID numbers, phone numbers and e-mails (detected "
                        "by column name and by pattern) with keyed pseudonyms before anything is "
                        "computed or written; the key comes from --pseudonym-key or the "
                        "environment variable TTHC_MINING_PSEUDONYM_KEY")
    p.add_argument("--pseudonym-key", metavar="KEY",
                   help="secret key for --pseudonymize (at least 16 characters; the same key "
                        "gives the same pseudonyms)")
    p.add_argument("--pseudonymize-officers", action="store_true",
                   help="with --pseudonymize, also replace officers' names")
    p.add_argument("--procedure", metavar="CODE", help="analyse only this procedure (Mã TTHC)")
    p.add_argument("--as-of", help="status date (default: the last timestamp in the log)")
    p.add_argument("--lang", default="vi", choices=["vi", "en"], help="language of the text (default vi)")
    p.add_argument("-o", "--output", action="append" if multi_output else "store",
                   help="write to a file; the format follows the suffix "
                        f"({', '.join('.' + f for f in formats if f != 'text')})"
                        + ("; repeatable" if multi_output else ""))
    p.add_argument("--format", choices=list(formats), dest="fmt",
                   help="output format (default: from the -o suffix, else text on stdout; "
                        "json without -o prints the JSON document)")
    if analysis:
        p.add_argument("--top", type=int, default=15, help="rows shown in text and HTML (default 15)")
        p.add_argument("--ci", type=float, default=0.95, help="confidence level (default 0.95)")
        p.add_argument("--n-boot", type=int, default=None,
                       help="bootstrap replicates (default: each analysis's own, 1000)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _cost_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hourly-income", type=float, default=None, metavar="VND",
                   help="value of a citizen's hour in VND (default 40000, as provinces compute)")
    p.add_argument("--annual-volume", type=float, default=None, metavar="N",
                   help="dossiers per year (default: measured from the log)")
    p.add_argument("--visit-hours", type=float, default=None, metavar="H",
                   help="hours one visit to the office costs the citizen (default 4)")
    p.add_argument("--method", default="auto", choices=["auto", "replay", "simulate"],
                   help="cut engine (default auto: simulation for queue-changing cuts when installed)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tthc-mining", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = add("summary", "KPI summary: received, resolved, on time (both ways), 766 score",
            "KPI summary as a provincial report quotes it, recomputed from raw events.")
    _log_args(p)
    _common(p)

    p = add("validate", "data-quality report: every row used or counted by reason",
            "Read the log and report what was dropped, repaired or flagged.")
    _log_args(p, analysis=False)
    p.add_argument("--fail-on-dropped", action="store_true",
                   help=f"exit with code {EXIT_DROPPED} when any row was dropped")
    _common(p)

    p = add("map", "process map (frequency or performance) as SVG, PNG, DOT, HTML or JSON",
            "Directly-follows process map with working-time statistics, drawn with graphviz.")
    _log_args(p, formats=TEXT_FORMATS + ("svg", "png", "dot"))
    p.add_argument("--kind", default="frequency", choices=["frequency", "performance"],
                   help="edge labels: transition counts or mean working time (default frequency)")
    p.add_argument("--min-share", type=float, default=None,
                   help="hide arrows below this share of transitions (0..1)")
    p.add_argument("--clusters", choices=["unit"], default=None, help="box the steps by unit")
    _common(p)

    p = add("bottlenecks", "bottleneck ranking with confidence intervals",
            "Rank steps, transitions, units or officers by the waiting they cause (working hours).")
    _log_args(p)
    p.add_argument("--by", default="activity", choices=["activity", "transition", "unit", "resource"],
                   help="what to rank (default activity)")
    _common(p)

    p = add("rework", "rework loops and the hidden clock",
            "Loops (supplements, self-loops, ping-pong), their cost in working time, and the "
            "hidden clock (late or double supplement requests, clock restarts, moved due dates).")
    _log_args(p)
    _common(p)

    p = add("cuts", "score procedure cuts: savings in days and VND with intervals",
            "Score the cuts listed in a YAML file (--cuts), or the ones suggested from the log, "
            "and rank them by dossier-days saved per year.")
    _log_args(p)
    p.add_argument("--cuts", metavar="FILE",
                   help="YAML/JSON file listing candidate cuts (default: suggest them from the log)")
    _cost_args(p)
    _common(p)

    p = add("report", "the full report: one self-contained HTML file (or JSON / Excel)",
            "KPIs as reported and recomputed, process map, bottlenecks, hand-overs, overdue "
            "attribution, rework and the hidden clock, ranked cuts, data quality and methods. "
            "Repeat -o to write several forms from one computation "
            "(-o report.html -o report.xlsx -o report.json).")
    _log_args(p, formats=("html", "json", "xlsx"), multi_output=True)
    p.add_argument("--cuts", metavar="FILE",
                   help="YAML/JSON file of candidate cuts (default: suggested from the log)")
    p.add_argument("--no-cuts", action="store_true", help="leave the cuts section out")
    _cost_args(p)
    _common(p)

    p = add("synth", "write a synthetic province log (and its ground truth)",
            "Generate a realistic synthetic multi-procedure log with planted truth.")
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
            raise UsageError(f"--column expects ROLE=HEADER, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out or None


def _read(args) -> Any:
    import tthc_mining as tm
    from .calendar import continuous
    catalog = tm.ProcedureCatalog.load(args.catalog) if getattr(args, "catalog", None) else None
    calendar = continuous() if args.calendar == "24x7" else None
    log = tm.read_log(args.log, schema=args.schema, columns=_columns(args.column),
                      calendar=calendar, catalog=catalog, strict=args.strict,
                      progress=_progress(args))
    if getattr(args, "pseudonymize", False):
        log = tm.pseudonymize(log, key=args.pseudonym_key,
                              officers=bool(getattr(args, "pseudonymize_officers", False)))
    return log


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text)


def _fmt(args, allowed: Sequence[str]) -> str:
    """The output format: ``--format``, else the -o suffix, else ``text``."""
    fmt = getattr(args, "fmt", None)
    out = getattr(args, "output", None)
    if fmt is None:
        if out:
            suf = Path(out).suffix.lower().lstrip(".")
            fmt = {"htm": "html", "gv": "dot"}.get(suf, suf)
            if fmt not in allowed:
                raise UsageError(f"cannot tell the output format from {Path(out).name!r}; use "
                                 f"{', '.join('.' + f for f in allowed if f != 'text')} or --format")
        else:
            fmt = "text"
    if fmt not in allowed:
        raise UsageError(f"--format {fmt} is not available here; use one of {', '.join(allowed)}")
    if fmt in ("html", "xlsx", "png", "svg", "dot") and not out:
        raise UsageError(f"--format {fmt} needs -o FILE")
    return fmt


def _cost(args):
    vals = {k: v for k, v in (("hourly_income_vnd", args.hourly_income),
                              ("annual_volume", args.annual_volume),
                              ("visit_hours", args.visit_hours)) if v is not None}
    if not vals:
        return None
    from .report import cuts_available
    ok, reason = cuts_available()
    if not ok:
        from .errors import MissingProgramError
        raise MissingProgramError(f"the cut engines are not available: {reason}")
    from .cuts import CostParams
    return CostParams(**vals)


def _progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _build(args, sections, log=None, **extra):
    """Read the log (unless given) and compute the report sections for a command."""
    import tthc_mining as tm
    log = _read(args) if log is None else log
    kw = dict(procedure=args.procedure, lang=args.lang, as_of=args.as_of,
              on_error="raise" if args.debug else "note", progress=_progress(args))
    if hasattr(args, "top"):
        if args.top < 1:
            raise UsageError("--top must be at least 1")
        kw.update(top=args.top, ci=args.ci, n_boot=args.n_boot, seed=args.seed)
    kw.update(extra)
    return log, tm.report(log, sections=sections, **kw)


def _write(args, rep, fmt: str, main_table: str | None = None, text: str | None = None,
           report_errors: bool = True) -> int:
    """Write a report in the chosen format; ``text`` goes to stdout for ``fmt == "text"``."""
    out = Path(args.output) if args.output else None
    if fmt == "text":
        if text is not None:
            _say(args, text)
    elif fmt == "json":
        doc = rep.to_json(indent=1)
        if out is None:
            print(doc)  # the document is the output: printed even with --quiet
        else:
            out.write_text(doc, encoding="utf-8")
    elif fmt == "html":
        rep.save(out, "html")
    elif fmt == "xlsx":
        rep.to_excel(out)
    elif fmt == "csv":
        from .export import neutralise_formulas, write_table
        df = rep.tables.get(main_table) if main_table else None
        if df is None:
            raise UsageError("this command has no table to write as CSV")
        if out is None:
            sys.stdout.write(neutralise_formulas(df).to_csv(index=False))
        else:
            write_table(df, out)
    if out is not None and fmt != "text":
        _say(args, f"→ {out}")
    return _section_status(args, rep) if report_errors else EXIT_OK


def _section_status(args, rep) -> int:
    errs = rep.errors
    for sid, msg in errs.items():
        print(f"tthc-mining: warning: section {sid!r} failed: {msg}", file=sys.stderr)
    return EXIT_ERROR if errs else EXIT_OK


def _table_text(df, cols: Sequence[str], top: int) -> str:
    import pandas as pd
    if df is None or not len(df):
        return "(no rows)"
    cols = [c for c in cols if c in df.columns]
    d = df[cols].head(top).copy()
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.max_colwidth", 60, "display.float_format", "{:,.3f}".format):
        text = d.to_string(index=False)
    if len(df) > top:
        text += f"\n… {len(df) - top} more rows (use --top or -o FILE)"
    return text


# ====================================================================== commands
def cmd_summary(args) -> int:
    fmt = _fmt(args, TEXT_FORMATS)
    log, rep = _build(args, ["summary", "quality"])
    sec = rep.sections["summary"]
    if sec.status == "error":
        return _section_status(args, rep)
    if fmt == "csv":  # as before: all levels in one table (Summary.to_frame)
        rep.sections["summary"].tables["summary_all"] = sec.objects["summary"].to_frame()
        return _write(args, rep, fmt, "summary_all")
    return _write(args, rep, fmt, "summary_procedure", text="\n".join(sec.texts))


def cmd_validate(args) -> int:
    fmt = _fmt(args, TEXT_FORMATS)
    log, rep = _build(args, ["quality"])
    q = log.quality
    if fmt == "text" or args.output:
        _say(args, str(q))
    code = _write(args, rep, fmt, "quality") if fmt != "text" else EXIT_OK
    if args.fail_on_dropped and q.rows_dropped:
        return EXIT_DROPPED
    return code


def cmd_map(args) -> int:
    fmt = _fmt(args, TEXT_FORMATS + ("svg", "png", "dot"))
    if fmt in ("svg", "png", "dot"):
        import tthc_mining as tm
        log = _read(args)
        pm = tm.discover(log, procedure=args.procedure)
        kw = {}
        if args.min_share is not None:
            kw["min_share"] = args.min_share
        if args.clusters:
            kw["clusters"] = args.clusters
        pm.render(kind=args.kind, format=fmt, lang=args.lang, path=args.output, **kw)
        _say(args, f"{pm.n_cases:,} dossiers, {len(pm.activities):,} steps, {len(pm.dfg):,} "
                   f"transitions → {args.output}")
        return EXIT_OK
    log, rep = _build(args, ["process_map"])
    sec = rep.sections["process_map"]
    text = None
    if sec.status == "ok":
        d = sec.data
        text = (f"{d['n_cases']:,} dossiers, {d['n_events']:,} events, "
                f"{len(sec.tables['map_activities']):,} steps, {len(sec.tables['map_transitions']):,} "
                "transitions\n" + _table_text(sec.tables["map_transitions"],
                                              ["source", "target", "count", "cases", "mean_h"], args.top))
    return _write(args, rep, fmt, "map_transitions", text=text)


def cmd_bottlenecks(args) -> int:
    fmt = _fmt(args, TEXT_FORMATS)
    log, rep = _build(args, ["bottlenecks"], bottlenecks_by=(args.by,))
    sec = rep.sections["bottlenecks"]
    key = f"bottlenecks_{args.by}"
    text = None
    if sec.status == "ok":
        first = {"activity": ["activity", "unit"], "transition": ["source", "target", "unit"],
                 "unit": ["unit"], "resource": ["resource", "unit"]}[args.by]
        text = _table_text(sec.tables[key], first + ["cases", "wait_mean_h", "wait_mean_ci_low",
                                                     "wait_mean_ci_high", "total_wait_h", "kind"],
                           args.top)
    return _write(args, rep, fmt, key, text=text)


def cmd_rework(args) -> int:
    fmt = _fmt(args, TEXT_FORMATS)
    log, rep = _build(args, ["rework"])
    sec = rep.sections["rework"]
    text = None
    if sec.status == "ok":
        s = sec.tables["rework_summary"]
        s = s.loc[s["scope"] == "(all)"]
        lab = "label_vi" if args.lang == "vi" else "label_en"
        text = _table_text(s, [lab, "value", "ci_low", "ci_high", "n"], 100)
    return _write(args, rep, fmt, "rework_summary", text=text)


def cmd_cuts(args) -> int:
    fmt = _fmt(args, TEXT_FORMATS)
    from .report import cuts_available
    ok, reason = cuts_available()
    if not ok:
        from .errors import MissingProgramError
        raise MissingProgramError(f"the cut engines are not available: {reason}")
    cuts = None
    cost = _cost(args)
    if args.cuts:
        from .report import load_cuts
        cf = load_cuts(args.cuts)
        cuts = cf.to_frame() if any(p is not None for p in cf.procedures) else cf.cuts
        cost = cost or cf.cost
    log = _read(args)
    if cuts is not None:
        from .errors import ConfigError
        for i, c in enumerate(cuts["cut"] if hasattr(cuts, "columns") else cuts, start=1):
            try:
                c.validate(log)  # an unknown step fails here, before any scoring
            except ConfigError as exc:
                raise ConfigError(f"cuts file {Path(args.cuts).name!r}, cut #{i}: {exc}") from None
    log, rep = _build(args, ["cuts"], log=log, cuts=cuts, cost=cost, cuts_method=args.method)
    sec = rep.sections["cuts"]
    text = None
    if sec.status == "ok":
        lab = "label_vi" if args.lang == "vi" else "label_en"
        text = _table_text(sec.tables["cuts_ranked"],
                           ["rank", "procedure", lab, "method", "saved_mean_days", "saved_ci_low",
                            "saved_ci_high", "dossier_days_saved_per_year",
                            "statutory_cost_saved_vnd_per_year", "citizen_cost_saved_vnd_per_year"],
                           args.top)
        if sec.texts:
            text += "\n" + "\n".join(f"warning: {w}" for w in sec.texts)
    return _write(args, rep, fmt, "cuts_ranked", text=text)


def cmd_report(args) -> int:
    outputs = list(args.output or [])
    if not outputs:
        raise UsageError("report needs -o FILE (.html, .json or .xlsx)")
    if args.fmt and len(outputs) > 1:
        raise UsageError("--format applies to one output; with several -o the suffixes decide")
    fmts = []
    for o in outputs:
        args.output = o
        fmts.append(_fmt(args, ("html", "json", "xlsx")))
    t0 = time.perf_counter()
    cuts: Any = None
    cost = _cost(args) if any(v is not None for v in (args.hourly_income, args.annual_volume,
                                                      args.visit_hours)) else None
    if args.no_cuts:
        cuts = False
    elif args.cuts:
        cuts = args.cuts
    log, rep = _build(args, None, cuts=cuts, cost=cost, cuts_method=args.method)
    for o, fmt in zip(outputs, fmts):
        args.output = o
        _write(args, rep, fmt, report_errors=False)
    code = _section_status(args, rep)
    _say(args, f"{rep.meta['n_dossiers']:,} dossiers, {len(rep.sections)} sections "
               f"({time.perf_counter() - t0:.1f} s)")
    return code


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


COMMANDS = {"summary": cmd_summary, "validate": cmd_validate, "map": cmd_map,
            "bottlenecks": cmd_bottlenecks, "rework": cmd_rework, "cuts": cmd_cuts,
            "report": cmd_report, "synth": cmd_synth}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2, message printed)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from .errors import CatalogError, ConfigError, InputError, MissingProgramError, TthcMiningError
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
        elif isinstance(exc, UsageError):
            code = EXIT_USAGE
        elif isinstance(exc, ConfigError) and not _is_file_error(exc):
            code = EXIT_USAGE
        elif isinstance(exc, (InputError, CatalogError, TthcMiningError, FileNotFoundError,
                              IsADirectoryError, PermissionError)):
            code = EXIT_INPUT
        else:
            code = EXIT_ERROR
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"tthc-mining: error: {msg}", file=sys.stderr)
        return code


def _is_file_error(exc: Exception) -> bool:
    """A ConfigError about a file the user gave (cuts file) is bad input, not usage."""
    return str(exc).startswith("cuts file")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
