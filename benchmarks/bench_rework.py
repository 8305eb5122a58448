"""Benchmark: tm.rework on the synthetic province vs pm4py's rework and variants functions.

    .venv/bin/python benchmarks/bench_rework.py            # 860,000 dossiers
    .venv/bin/python benchmarks/bench_rework.py 100000     # smaller

pm4py baseline: ``pm4py.get_rework_cases_per_activity`` + ``pm4py.get_variants`` on the same
events (``log.to_pm4py()``; the conversion is not timed). Timings for tthc_mining:

* ``detect`` — ``tm.rework(log)`` on a fresh log (no cached codes, segments or working-time
  axis): edeaR self-loops / repetitions, re-executions, loop erasure with the price of every loop,
  ping-pong, back-edges, by_case, by_activity, loops;
* ``full`` — the same plus every lazy table (patterns, cycles, triggers with their bootstrap
  intervals, the hidden clock and the summary with intervals). The hidden clock needs
  ``tm.timing`` (budgets, due dates, on-time flags; issue 2, shared with other modules and cached
  on the log): its time is printed separately and included in ``full``.

The check at the end compares ``cases_with_repeat`` with pm4py's result.
"""
from __future__ import annotations

import sys
import time
import warnings

import tthc_mining as tm
from tthc_mining.log import DossierLog


def main(n: int = 860_000, seed: int = 2025) -> None:
    t = time.perf_counter()
    log, truth = tm.synth.province(n, seed=seed)
    print(f"synthetic province: {log.n_cases:,} dossiers, {log.n_events:,} events "
          f"({time.perf_counter() - t:.1f} s to generate)")
    df = log.to_pm4py()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
        t = time.perf_counter()
        rw = pm4py.get_rework_cases_per_activity(df)
        t_rw = time.perf_counter() - t
        t = time.perf_counter()
        variants = pm4py.get_variants(df)
        t_var = time.perf_counter() - t
    t_pm = t_rw + t_var
    print(f"pm4py get_rework_cases_per_activity: {t_rw:.2f} s; get_variants: {t_var:.2f} s "
          f"({len(variants):,} variants); total {t_pm:.2f} s")

    fresh = DossierLog(events=log.events, calendar=log.calendar, catalog=log.catalog,
                       source=log.source)
    t = time.perf_counter()
    report = tm.rework(fresh)
    t_detect = time.perf_counter() - t
    print(f"tm.rework (detect + price, cold log): {t_detect:.2f} s -> "
          f"{int(report.by_case['n_loops'].sum()):,} loops in "
          f"{int((report.by_case['n_loops'] > 0).sum()):,} dossiers")
    t = time.perf_counter()
    parts = {}
    for name in ("patterns", "cycles", "triggers", "_timing", "clock", "summary"):
        t1 = time.perf_counter()
        getattr(report, name)
        parts[name] = time.perf_counter() - t1
    t_rest = time.perf_counter() - t
    t_full = t_detect + t_rest
    print("  lazy tables: " + ", ".join(f"{k.replace('_timing', 'tm.timing')} {v:.2f} s"
                                         for k, v in parts.items()))
    print(f"tm.rework full report: {t_full:.2f} s")

    warm = time.perf_counter()
    tm.rework(fresh)
    t_warm = time.perf_counter() - warm
    print(f"tm.rework again on the same log (codes, segments cached): {t_warm:.2f} s")

    same = report.rework_cases_per_activity() == rw
    print(f"cases_with_repeat equals pm4py: {same}")
    print(f"speed-up vs pm4py (rework + variants): detect {t_pm / t_detect:.1f}x, "
          f"full report {t_pm / t_full:.1f}x, warm detect {t_pm / t_warm:.1f}x (target > 10x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 860_000)
