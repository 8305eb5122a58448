"""Issue 2 benchmark: our read + timing vs pm4py's format_dataframe + get_all_case_durations
(business hours on), on the same synthetic one-stop log, in one run.

    .venv/bin/python benchmarks/bench_foundation.py --dossiers 860000

Both sides start from the same file. pm4py's side is pandas.read_csv + format_dataframe +
get_all_case_durations(business_hours=True) with the Vietnamese office slots (07:00-11:30,
13:30-17:00, Monday-Friday); it knows no holidays and no make-up Saturdays, so it computes less
than we do. Ours is tm.read_log (column recognition, dd/mm/yyyy parsing, NFC, data-quality
accounting, roles) + tm.timing (working-time segments, agency/citizen time, deadlines both ways).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dossiers", type=int, default=860_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=str(ROOT / "benchmarks" / "data"))
    ap.add_argument("--pm4py-cases", type=int, default=None,
                    help="run pm4py on a prefix of this many dossiers and scale linearly "
                         "(its business-hours path is row by row); default: all")
    args = ap.parse_args()

    import pandas as pd
    import tthc_mining as tm

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"province_{args.dossiers}_{args.seed}.csv"
    if not path.exists():
        t0 = time.perf_counter()
        prov = tm.synth.province(n_dossiers=args.dossiers, seed=args.seed)
        t_gen = time.perf_counter() - t0
        prov.to_onestop(path)
        print(f"generated {args.dossiers:,} dossiers / {len(prov.log.events):,} events in {t_gen:.1f} s "
              f"-> {path} ({path.stat().st_size / 1e6:.0f} MB)")
        del prov
        gc.collect()

    # ---------------------------------------------------------------- ours
    t0 = time.perf_counter()
    log = tm.read_log(path)
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    tim = tm.timing(log)
    t_timing = time.perf_counter() - t1
    ours = t_read + t_timing
    n_events, n_cases = len(log.events), log.n_cases
    print(f"tthc_mining: read {t_read:.2f} s + timing {t_timing:.2f} s = {ours:.2f} s "
          f"({n_events:,} events, {n_cases:,} dossiers; {len(tim.cases):,} timed)")
    del log, tim
    gc.collect()

    # ---------------------------------------------------------------- pm4py
    import pm4py
    t0 = time.perf_counter()
    df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    if args.pm4py_cases:
        keep = df["Mã hồ sơ"].drop_duplicates().iloc[: args.pm4py_cases]
        df = df[df["Mã hồ sơ"].isin(keep)]
    df["Thời điểm kết thúc"] = pd.to_datetime(df["Thời điểm kết thúc"], format="%d/%m/%Y %H:%M:%S")
    df = pm4py.format_dataframe(df, case_id="Mã hồ sơ", activity_key="Bước xử lý",
                                timestamp_key="Thời điểm kết thúc")
    df.attrs = {}  # pm4py 2.7.23 KeyError workaround (peers.md §a, observed 1)
    slots = [((d * 24 + 7) * 3600, (d * 24 + 11) * 3600 + 1800) for d in range(5)] + \
            [((d * 24 + 13) * 3600 + 1800, (d * 24 + 17) * 3600) for d in range(5)]
    durations = pm4py.get_all_case_durations(df, business_hours=True, business_hour_slots=slots)
    t_pm = time.perf_counter() - t0
    scale = 1.0
    if args.pm4py_cases:
        scale = n_cases / max(1, df["case:concept:name"].nunique())
    t_pm_full = t_pm * scale
    print(f"pm4py {pm4py.__version__}: read_csv + format_dataframe + get_all_case_durations"
          f"(business_hours=True) = {t_pm:.2f} s on {len(durations):,} dossiers"
          + (f" (x{scale:.1f} -> {t_pm_full:.1f} s for all)" if scale != 1 else ""))
    print(f"RATIO (pm4py / tthc_mining): {t_pm_full / ours:.1f}x   peak RSS {rss_mb():.0f} MB   "
          f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
