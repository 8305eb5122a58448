"""Issue 4 benchmark: ``tm.rework`` vs pm4py's ``get_rework_cases_per_activity`` +
``get_variants`` on the 860,000-dossier synthetic log, one run.

    .venv/bin/python benchmarks/bench_rework.py                    # 860,000 dossiers
    .venv/bin/python benchmarks/bench_rework.py --dossiers 100000  # (or a bare 100000)
    .venv/bin/python benchmarks/bench_rework.py --library /tmp/old # our side from another checkout

Both sides start from the same Parquet file (``benchmarks/data/province_<n>_<seed>.parquet``,
written once by ``benchmarks/common.py``) and run in their own fresh Python process, so each
peak resident memory (``VmHWM``) is that side's alone. Imports happen before the clocks start.

* tthc_mining: ``tm.read_log(parquet)`` (load, timed apart), then on that fresh log (nothing
  cached: no codes, segments or working-time axis yet):

  - ``rework``: the ``tm.rework(log)`` call: edeaR self-loops / repetitions, re-executions,
    the loop erasure with the price of every loop (working time of the loop subset's
    segments), ping-pong, back-edges and the tables ``by_case``, ``by_activity``, ``loops``,
    ``back_edges``, ``pingpong``, ``order`` (the whole log's segments are built by the lazy
    ``clock`` below, see ``tthc_mining.rework.blocks``);
  - ``lazy tables``: then every table built on first access (``patterns``, ``cycles``,
    ``triggers`` with their bootstrap intervals, ``tm.timing`` behind the hidden clock,
    ``clock``, ``summary``), timed one by one; ``full`` = the call + all of them.

* pm4py: ``pandas.read_parquet`` + ``pm4py.format_dataframe`` (load), then
  ``pm4py.get_rework_cases_per_activity`` and ``pm4py.get_variants``.

The ratio printed is pm4py's two functions over ``tm.rework`` (and over ``full``). The check
at the end compares ``by_activity.cases_with_repeat`` with pm4py's result (they must be equal).
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
import tthc_mining.rework  # noqa: F401  (tm.rework's module: imported outside the clocks)
import networkx, scipy.sparse, scipy.special  # noqa: F401  (imports outside the clocks)
tm.VietnamCalendar()._ensure(20000, 20500)  # the holidays package's import, outside the clocks
import tthc_mining.kernels
tthc_mining.kernels.warm()   # numba's start-up and the compiled kernels, outside the clocks
with phase("load"):
    log = tm.read_log({path!r})
report(events=log.n_events, dossiers=log.n_cases, rss_after_load=rss_mb(),
       peak_after_load=peak_mb())
with phase("rework"):
    rep = tm.rework(log)
report(peak_after_rework=peak_mb(), loops=int(rep.by_case["n_loops"].sum()),
       dossiers_with_loop=int((rep.by_case["n_loops"] > 0).sum()))
lazy = {{}}
for name in ("patterns", "cycles", "triggers", "_timing", "clock", "summary"):
    with phase("lazy_" + name):
        getattr(rep, name)
with open({out!r}, "w") as fh:
    json.dump(rep.rework_cases_per_activity(), fh, ensure_ascii=False)
'''

PM4PY = PM4PY_LOAD + r'''
with phase("get_rework_cases_per_activity"):
    rw = pm4py.get_rework_cases_per_activity(df)
with phase("get_variants"):
    variants = pm4py.get_variants(df)
report(variants=len(variants), version=pm4py.__version__)
with open({out!r}, "w") as fh:
    json.dump({{str(k): int(v) for k, v in rw.items()}}, fh, ensure_ascii=False)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", nargs="?", type=int, help="dossiers (same as --dossiers)")
    ap.add_argument("--dossiers", type=int, default=860_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-pm4py", action="store_true", help="run our side only")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--library", help="run our side with tthc_mining from this directory (a "
                    "checkout of another commit, e.g. `git worktree add /tmp/old <commit>`)")
    args = ap.parse_args()
    n = args.n or args.dossiers

    m0 = machine()
    path = ensure_data(n, args.seed, parquet=True)["parquet"]
    tmp = Path(tempfile.mkdtemp(prefix="bench_rework_"))
    ours = run_side(OURS.format(path=str(path), out=str(tmp / "ours.json")), label="tthc_mining",
                    root=args.library)
    t = ours["times"]
    e = ours["extra"]
    lazy = {k[len("lazy_"):]: v for k, v in t.items() if k.startswith("lazy_")}
    full = t["rework"] + sum(lazy.values())
    print(f"data: {path.name}: {e['dossiers']:,} dossiers, {e['events']:,} events "
          f"({path.stat().st_size / 1e6:.0f} MB Parquet)")
    print(f"tthc_mining: load {t['load']:.2f} s | tm.rework {t['rework']:.2f} s "
          f"({e['loops']:,} loops in {e['dossiers_with_loop']:,} dossiers) | peak RSS "
          f"{e['peak_after_rework']:,.0f} MB after tm.rework (after load "
          f"{e['peak_after_load']:,.0f} MB)")
    print("  lazy tables: " + ", ".join(f"{k.replace('_timing', 'tm.timing')} {v:.2f} s"
                                         for k, v in lazy.items())
          + f" -> full report {full:.2f} s, peak RSS {ours['peak_mb']:,.0f} MB")
    result = {"dossiers": e["dossiers"], "events": e["events"], "ours": ours, "full": full}
    if not args.skip_pm4py:
        pm = run_side(PM4PY.format(path=str(path), out=str(tmp / "pm4py.json")), label="pm4py")
        p = pm["times"]
        pm_t = p["get_rework_cases_per_activity"] + p["get_variants"]
        print(f"pm4py {pm['extra']['version']}: load {p['load']:.2f} s | "
              f"get_rework_cases_per_activity {p['get_rework_cases_per_activity']:.2f} s + "
              f"get_variants {p['get_variants']:.2f} s ({pm['extra']['variants']:,} variants) "
              f"= {pm_t:.2f} s | peak RSS {pm['peak_mb']:,.0f} MB")
        a = json.loads((tmp / "ours.json").read_text())
        b = json.loads((tmp / "pm4py.json").read_text())
        same = a == b
        print(f"cases_with_repeat equals pm4py's get_rework_cases_per_activity: {same} "
              f"({len(b)} activities)")
        print(f"RATIO (pm4py rework + variants / tthc_mining): tm.rework {pm_t / t['rework']:.1f}x"
              f"   full report {pm_t / full:.1f}x   end to end with load: "
              f"{(pm_t + p['load']) / (t['rework'] + t['load']):.1f}x   peak RSS "
              f"{ours['peak_mb']:,.0f} MB vs {pm['peak_mb']:,.0f} MB")
        c, pc = ours.get("cpu") or {}, pm.get("cpu") or {}
        if c.get("rework") and pc.get("get_variants") is not None:
            pm_c = pc["get_rework_cases_per_activity"] + pc["get_variants"]
            print(f"CPU seconds (all threads; less sensitive to other jobs): tm.rework "
                  f"{c['rework']:.2f} s vs pm4py {pm_c:.2f} s = {pm_c / c['rework']:.1f}x")
            result.update(cpu_ratio=pm_c / c["rework"])
        result.update(pm4py=pm, ratio=pm_t / t["rework"], ratio_full=pm_t / full,
                      cases_with_repeat_equal=same)
    return finish(result, m0, args.json)


if __name__ == "__main__":
    sys.exit(main())
