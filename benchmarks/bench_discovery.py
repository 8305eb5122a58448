"""Issue 3 benchmark: ``tm.discover`` + ``tm.bottlenecks(by="activity")`` vs pm4py's
``discover_dfg`` + ``discover_performance_dfg`` on the 860,000-dossier synthetic log, one run.

    .venv/bin/python benchmarks/bench_discovery.py                 # 860,000 dossiers
    .venv/bin/python benchmarks/bench_discovery.py --dossiers 100000

Both sides start from the same Parquet file (``benchmarks/data/province_<n>_<seed>.parquet``,
the canonical event table of ``tm.synth.province(n, seed)``, written once by
``benchmarks/common.py``) and run in their own fresh Python process, so that each peak resident
memory (``VmHWM``) is that side's alone. Imports happen before the clocks start on both sides.

* tthc_mining: ``tm.read_log(parquet)`` (load: column recognition, checks, categorical codes,
  roles), then ``tm.discover(log)`` and ``tm.bottlenecks(log, by="activity")`` on the fresh log
  (nothing cached: the working-time segments, the catalogue-free deadlines of ``tm.timing``
  behind ``share_in_overdue`` — ``tm.timing.overdue_arrays``, the same per-dossier arrays
  without the cases table —, the dossier bootstrap and the kind hints are all computed in the
  timed calls).
* Before the clocks, ``tthc_mining.kernels.warm()`` starts numba and loads the compiled kernels
  (compiling them the first time on a machine), as pm4py's import happens before its clocks; the
  run reports how many kernels were compiled inside the clocks (it should be 0).
* pm4py: ``pandas.read_parquet`` + ``pm4py.format_dataframe`` (load), then
  ``pm4py.discover_dfg`` and ``pm4py.discover_performance_dfg`` (elapsed time, no calendar).

The ratio printed is pm4py's analysis time over ours (the two calls each); the end-to-end ratio
(load included) is printed too. The directly-follows counts of both sides are compared (they
must be equal). Load averages at start and end are printed: on a busy machine both sides are
slowed down.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PM4PY_LOAD, ensure_data, finish, machine, run_side  # noqa: E402

OURS = r'''
import json
import tthc_mining as tm
import scipy.sparse, scipy.special  # noqa: F401  (imports outside the clocks)
tm.VietnamCalendar()._ensure(20000, 20500)  # the holidays package's import, outside the clocks
import tthc_mining.kernels as kernels
kernels.warm()       # numba's start-up and the kernels' load (or first compile), outside the clocks
n_jit = kernels.n_compiled()
report(rss_after_warm=rss_mb())
with phase("load"):
    log = tm.read_log({path!r})
report(events=log.n_events, dossiers=log.n_cases, rss_after_load=rss_mb(), peak_after_load=peak_mb())
with phase("discover"):
    pmap = tm.discover(log)
report(rss_after_discover=rss_mb(), peak_after_discover=peak_mb())
with phase("bottlenecks"):
    b = tm.bottlenecks(log, by="activity")
report(rows=len(b), top=str(b["activity"].iloc[0]), kind=str(b["kind"].iloc[0]),
       bootstrap=b.attrs.get("bootstrap_method"), jit_in_clocks=kernels.n_compiled() - n_jit)
with open({out!r}, "w") as fh:
    json.dump([[s, t, int(c)] for (s, t), c in pmap.dfg_dict().items()], fh)
'''

PM4PY = PM4PY_LOAD + r'''
with phase("discover_dfg"):
    dfg, starts, ends = pm4py.discover_dfg(df)
with phase("discover_performance_dfg"):
    perf, _, _ = pm4py.discover_performance_dfg(df)
report(edges=len(dfg), version=pm4py.__version__)
with open({out!r}, "w") as fh:
    json.dump([[s, t, int(c)] for (s, t), c in dfg.items()], fh)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dossiers", type=int, default=860_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-pm4py", action="store_true", help="run our side only")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--library", help="run our side with tthc_mining from this directory (a "
                    "checkout of another commit, e.g. `git worktree add /tmp/old <commit>`)")
    args = ap.parse_args()

    m0 = machine()
    path = ensure_data(args.dossiers, args.seed, parquet=True)["parquet"]
    tmp = Path(tempfile.mkdtemp(prefix="bench_discovery_"))
    ours = run_side(OURS.format(path=str(path), out=str(tmp / "ours.json")), label="tthc_mining",
                    root=args.library)
    t = ours["times"]
    e = ours["extra"]
    ours_an = t["discover"] + t["bottlenecks"]
    print(f"data: {path.name}: {e['dossiers']:,} dossiers, {e['events']:,} events "
          f"({path.stat().st_size / 1e6:.0f} MB Parquet)")
    print(f"tthc_mining: load {t['load']:.2f} s | discover {t['discover']:.2f} s + "
          f"bottlenecks {t['bottlenecks']:.2f} s = {ours_an:.2f} s | peak RSS "
          f"{ours['peak_mb']:,.0f} MB (after load {e['peak_after_load']:,.0f} MB; numba and its "
          f"kernels before the clocks: {e['rss_after_warm']:,.0f} MB resident); kernels compiled "
          f"inside the clocks: {e['jit_in_clocks']}")
    result = {"dossiers": e["dossiers"], "events": e["events"], "ours": ours}
    if not args.skip_pm4py:
        pm = run_side(PM4PY.format(path=str(path), out=str(tmp / "pm4py.json")), label="pm4py")
        p = pm["times"]
        pm_an = p["discover_dfg"] + p["discover_performance_dfg"]
        print(f"pm4py {pm['extra']['version']}: load {p['load']:.2f} s | discover_dfg "
              f"{p['discover_dfg']:.2f} s + discover_performance_dfg "
              f"{p['discover_performance_dfg']:.2f} s = {pm_an:.2f} s | peak RSS "
              f"{pm['peak_mb']:,.0f} MB")
        a = {(s, d): c for s, d, c in json.loads((tmp / "ours.json").read_text())}
        b = {(s, d): c for s, d, c in json.loads((tmp / "pm4py.json").read_text())}
        same = a == b
        print(f"directly-follows counts equal pm4py's: {same} ({len(a)} edges)")
        print(f"RATIO analysis (pm4py / tthc_mining): {pm_an / ours_an:.1f}x   "
              f"end to end with load: {(pm_an + p['load']) / (ours_an + t['load']):.1f}x   "
              f"peak RSS {ours['peak_mb']:,.0f} MB vs {pm['peak_mb']:,.0f} MB")
        c, pc = ours.get("cpu") or {}, pm.get("cpu") or {}
        if c.get("discover") is not None and pc.get("discover_dfg") is not None:
            ours_c = c["discover"] + c["bottlenecks"]
            pm_c = pc["discover_dfg"] + pc["discover_performance_dfg"]
            print(f"CPU seconds (all threads; less sensitive to other jobs): tthc_mining "
                  f"{ours_c:.2f} s vs pm4py {pm_c:.2f} s = {pm_c / ours_c:.1f}x")
            result.update(cpu_ratio=pm_c / ours_c)
        result.update(pm4py=pm, ratio=pm_an / ours_an,
                      ratio_end_to_end=(pm_an + p["load"]) / (ours_an + t["load"]), dfg_equal=same)
    return finish(result, m0, args.json)


if __name__ == "__main__":
    sys.exit(main())
