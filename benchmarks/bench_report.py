"""Benchmark: the full report (tm.report) on the 860,000-dossier synthetic province.

    .venv/bin/python benchmarks/bench_report.py                 # 860,000 dossiers, in memory
    .venv/bin/python benchmarks/bench_report.py --dossiers 100000
    .venv/bin/python benchmarks/bench_report.py --from-csv      # also time reading the CSV

Target (issue 6): the report on the 860,000-dossier log in under 2 minutes. The log is generated
by ``tm.synth.province`` (not timed) or read from the one-stop CSV (``--from-csv``: generated
once under benchmarks/data/, read time printed separately). Timed: ``tm.report(log)`` with every
section — KPIs (tm.timing + tm.summary), both process maps (graphviz), bottlenecks by step and by
unit with bootstrap intervals, hand-overs, overdue attribution, rework and the hidden clock, the
suggested cuts scored, data quality, methods — the charts and the HTML page, then writing the
HTML, JSON and Excel files. Per-section seconds are printed from the report itself.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except Exception:  # pragma: no cover
        return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dossiers", type=int, default=860_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--from-csv", action="store_true", help="read the log from its one-stop CSV")
    ap.add_argument("--data", default=str(ROOT / "benchmarks" / "data"))
    ap.add_argument("--out", default=None, help="folder for report.html/.json/.xlsx (default: a temp dir)")
    ap.add_argument("--cuts-method", default="auto", choices=["auto", "replay", "simulate"])
    ap.add_argument("--max-cuts", type=int, default=None,
                    help="score at most this many suggested cuts (default: the report's default)")
    ap.add_argument("--target", type=float, default=120.0, help="seconds (default 120)")
    args = ap.parse_args()

    import tempfile
    import tthc_mining as tm

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_report_"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.from_csv:
        data = Path(args.data)
        data.mkdir(parents=True, exist_ok=True)
        path = data / f"province_{args.dossiers}_{args.seed}.csv"
        cat_path = data / f"province_{args.dossiers}_{args.seed}_catalog.csv"
        if not path.exists() or not cat_path.exists():
            prov = tm.synth.province(n_dossiers=args.dossiers, seed=args.seed)
            prov.to_onestop(path)
            prov.log.catalog.to_csv(cat_path)
            del prov
            gc.collect()
            print(f"generated {path} in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        log = tm.read_log(path, catalog=tm.ProcedureCatalog.load(cat_path))
        print(f"read_log: {time.perf_counter() - t0:.1f} s")
    else:
        prov = tm.synth.province(n_dossiers=args.dossiers, seed=args.seed)
        log = prov.log
        del prov
        gc.collect()
        print(f"synth (not timed): {time.perf_counter() - t0:.1f} s")
    print(f"log: {log.n_cases:,} dossiers, {log.n_events:,} events; catalogue: {log.catalog is not None}")

    kw = {"cuts_method": args.cuts_method}
    if args.max_cuts is not None:
        kw["max_cuts"] = args.max_cuts
    t1 = time.perf_counter()
    rep = tm.report(log, **kw)
    t_report = time.perf_counter() - t1
    t2 = time.perf_counter()
    rep.save(out / "report.html")
    rep.save(out / "report.json")
    rep.to_excel(out / "report.xlsx")
    t_write = time.perf_counter() - t2
    for row in rep.to_frame().itertuples(index=False):  # one row per section (nine)
        print(f"  {row.section:12s} {row.status:11s} {row.seconds:7.1f} s  {row.rows:>7,} rows")
    total = t_report + t_write
    print(f"tm.report: {t_report:.1f} s + writing html/json/xlsx {t_write:.1f} s = {total:.1f} s "
          f"(target < {args.target:.0f} s: {'PASS' if total < args.target else 'FAIL'}); "
          f"html {os.path.getsize(out / 'report.html') / 1e6:.1f} MB; peak RSS {rss_mb():.0f} MB; "
          f"{os.cpu_count()} cores; files in {out}")
    if rep.errors:
        print(f"sections that failed: {rep.errors}")
    return 0 if total < args.target and not rep.errors else 1


if __name__ == "__main__":
    sys.exit(main())
