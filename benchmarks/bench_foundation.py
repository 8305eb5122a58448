"""Issue 2 benchmark: our read + timing vs pm4py's format_dataframe + get_all_case_durations
(business hours on), on the same synthetic one-stop export, in one run.

    .venv/bin/python benchmarks/bench_foundation.py                  # 860,000 dossiers
    .venv/bin/python benchmarks/bench_foundation.py --dossiers 100000

Both sides read the same CSV (``benchmarks/data/province_<n>_<seed>.csv``: the one-stop layout
of ``tm.synth.province(n, seed)`` with Vietnamese headers, ``dd/mm/yyyy HH:MM:SS`` dates, UTF-8
with BOM; written once by ``benchmarks/common.py``), each in its own fresh Python process
(imports before the clocks; peak resident memory per side).

* tthc_mining: ``tm.read_log(csv)`` (encoding and separator detection, header recognition,
  date parsing, NFC, data-quality accounting, roles) + ``tm.timing(log)`` with its full
  ``cases`` table (working-time segments, agency/citizen/third-party time, statutory and
  reported due dates, on time both ways, statuses).
* pm4py: ``pandas.read_csv`` + ``pandas.to_datetime`` of the end time + ``pm4py.format_dataframe``
  + ``pm4py.get_all_case_durations(business_hours=True)`` with the Vietnamese office slots
  (07:00-11:30, 13:30-17:00, Monday-Friday). It knows no holidays, no make-up Saturdays, no
  clock stops, so it computes less than we do. ``--pm4py-cases N`` runs pm4py on the first N
  dossiers only and scales its time linearly (its business-hours path is row by row); the
  default runs it on every dossier.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ensure_data, finish, machine, run_side  # noqa: E402

OURS = r'''
import tthc_mining as tm
import scipy.sparse, scipy.special  # noqa: F401  (imports outside the clocks)
tm.VietnamCalendar()._ensure(20000, 20500)  # the holidays package's import, outside the clocks
import tthc_mining.kernels
tthc_mining.kernels.warm()   # numba's start-up and the compiled kernels, outside the clocks
with phase("read"):
    log = tm.read_log({path!r})
report(events=log.n_events, dossiers=log.n_cases, rows_read=log.quality.rows_read,
       rows_dropped=log.quality.rows_dropped, rss_after_read=rss_mb(), peak_after_read=peak_mb())
with phase("timing"):
    tim = tm.timing(log)
    cases = tim.cases                      # the full per-dossier table
report(timed=len(cases), finished=int((cases["outcome"] == "finished").sum()),
       median_elapsed=float(cases["elapsed_working_days"].median()),
       on_time_actual=float(cases["on_time_actual"].mean()))
'''

PM4PY = r'''
import warnings
warnings.simplefilter("ignore")
import pandas as pd
import pm4py
limit = {limit!r}
with phase("read_csv"):
    df = pd.read_csv({path!r}, dtype=str, encoding="utf-8-sig")
    if limit:
        keep = df["Mã hồ sơ"].drop_duplicates().iloc[:limit]
        df = df[df["Mã hồ sơ"].isin(keep)]
with phase("format_dataframe"):
    df["Thời điểm kết thúc"] = pd.to_datetime(df["Thời điểm kết thúc"], format="%d/%m/%Y %H:%M:%S")
    df = pm4py.format_dataframe(df, case_id="Mã hồ sơ", activity_key="Bước xử lý",
                                timestamp_key="Thời điểm kết thúc")
    df.attrs = {{}}  # pm4py 2.7.23 KeyError workaround (peers.md)
slots = [((d * 24 + 7) * 3600, (d * 24 + 11) * 3600 + 1800) for d in range(5)] + \
        [((d * 24 + 13) * 3600 + 1800, (d * 24 + 17) * 3600) for d in range(5)]
with phase("get_all_case_durations"):
    durations = pm4py.get_all_case_durations(df, business_hours=True, business_hour_slots=slots)
report(dossiers=len(durations), version=pm4py.__version__)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dossiers", type=int, default=860_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pm4py-cases", type=int, default=None,
                    help="run pm4py on the first N dossiers and scale its time linearly")
    ap.add_argument("--skip-pm4py", action="store_true", help="run our side only")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--library", help="run our side with tthc_mining from this directory (a "
                    "checkout of another commit, e.g. `git worktree add /tmp/old <commit>`)")
    args = ap.parse_args()

    m0 = machine()
    path = ensure_data(args.dossiers, args.seed, csv=True, parquet=False)["csv"]
    ours = run_side(OURS.format(path=str(path)), label="tthc_mining", root=args.library)
    t, e = ours["times"], ours["extra"]
    total = t["read"] + t["timing"]
    print(f"data: {path.name}: {e['rows_read']:,} rows, {e['dossiers']:,} dossiers "
          f"({path.stat().st_size / 1e6:,.0f} MB CSV)")
    print(f"tthc_mining: read_log {t['read']:.2f} s + timing {t['timing']:.2f} s = {total:.2f} s "
          f"({e['timed']:,} dossiers timed; {e['rows_dropped']:,} rows dropped) | peak RSS "
          f"{ours['peak_mb']:,.0f} MB")
    result = {"ours": ours}
    if not args.skip_pm4py:
        pm = run_side(PM4PY.format(path=str(path), limit=args.pm4py_cases), label="pm4py",
                      timeout=6 * 3600)
        p = pm["times"]
        pm_total = sum(p.values())
        scale = e["dossiers"] / max(pm["extra"]["dossiers"], 1) if args.pm4py_cases else 1.0
        # read_csv always reads the whole file; only the per-dossier work is scaled
        pm_all = p["read_csv"] + scale * (p["format_dataframe"] + p["get_all_case_durations"])
        print(f"pm4py {pm['extra']['version']}: read_csv {p['read_csv']:.2f} s + "
              f"format_dataframe {p['format_dataframe']:.2f} s + get_all_case_durations"
              f"(business_hours=True) {p['get_all_case_durations']:.2f} s = {pm_total:.2f} s on "
              f"{pm['extra']['dossiers']:,} dossiers"
              + (f" (format + durations x{scale:.2f} -> {pm_all:.1f} s for all)" if scale != 1 else "")
              + f" | peak RSS {pm['peak_mb']:,.0f} MB")
        ratio = pm_all / total
        print(f"RATIO (pm4py / tthc_mining): {ratio:.1f}x"
              + (" (pm4py scaled from a prefix)" if scale != 1 else ""))
        result.update(pm4py=pm, ratio=ratio, pm4py_scale=scale)
    return finish(result, m0, args.json)


if __name__ == "__main__":
    sys.exit(main())
