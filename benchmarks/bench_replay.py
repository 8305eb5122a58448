"""Issue 5 benchmark: replay of 10 cuts on the 860,000-dossier synthetic province (target < 10 s).

    .venv/bin/python benchmarks/bench_replay.py --dossiers 860000

Steps timed separately: generating the province (tm.synth), the one-off replay context
(tm.timing + segments + clock windows, shared by every later what-if on the log; the loop
detection of tm.rework is computed on first use and counted with the cuts), then
``tm.score_cuts(log, cuts, method="replay")`` for 10 cuts — every score row with its dossier
bootstrap interval, Wilson intervals and costs. The 10 cuts are what ``tm.suggest_cuts``
proposes on a small province with the same seed (same procedures, steps and units), so they are
realistic: steps capped at their allotment, electronic hand-overs, loops removed, steps run in
parallel, each within its procedure. A second set of 10 cuts acts on the whole log at once
(loops removed in every procedure, the most frequent steps removed or shortened, bundles).
"""
from __future__ import annotations

import argparse
import gc
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
    ap.add_argument("--cuts", type=int, default=10)
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()

    import pandas as pd
    import tthc_mining as tm
    from tthc_mining.cuts.replay import context

    small = tm.synth.province(n_dossiers=20_000, seed=args.seed).log
    sug = tm.suggest_cuts(small, top=2)
    sug = sug[~sug["cut"].map(lambda c: c.queue_changing)].head(args.cuts)
    cuts, procs = list(sug["cut"]), list(sug["procedure"])
    del small
    gc.collect()

    t0 = time.perf_counter()
    prov = tm.synth.province(n_dossiers=args.dossiers, seed=args.seed)
    log = prov.log
    t_gen = time.perf_counter() - t0
    print(f"province: {log.n_cases:,} dossiers, {log.n_events:,} events generated in {t_gen:.1f} s")

    t0, c0 = time.perf_counter(), time.process_time()
    ctx = context(log)
    t_ctx = time.perf_counter() - t0
    print(f"replay context (tm.timing + segments + windows, once per log): {t_ctx:.2f} s wall, "
          f"{time.process_time() - c0:.2f} s CPU")

    frame = pd.DataFrame({"cut": cuts, "procedure": procs})
    t0, c0 = time.perf_counter(), time.process_time()
    df = tm.score_cuts(log, frame, method="replay", n_boot=args.n_boot)
    t_cuts, c_cuts = time.perf_counter() - t0, time.process_time() - c0
    print(f"score_cuts, {len(cuts)} cuts within their procedures (replay, bootstrap {args.n_boot}): "
          f"{t_cuts:.2f} s wall, {c_cuts:.2f} s CPU ({t_cuts / max(len(cuts), 1):.2f} s per cut) "
          f"-> target < 10 s: {'PASS' if t_cuts < 10 else 'FAIL'}")
    t0, c0 = time.perf_counter(), time.process_time()
    tm.score_cuts(log, frame, method="replay", n_boot=args.n_boot)
    print(f"the same cuts again (queue evidence and bootstrap weights cached): "
          f"{time.perf_counter() - t0:.2f} s wall, {time.process_time() - c0:.2f} s CPU")
    # 10 cuts over the whole log (every procedure at once): the heaviest case
    from tthc_mining import schema as S
    from tthc_mining.cuts import RemoveLoop, RemoveStep, ShortenStep, Bundle
    roles = log.events[S.ROLE].astype(str)
    top = log.events.loc[roles.to_numpy() == "work", S.ACTIVITY].value_counts().index[:4]
    whole = [RemoveLoop("supplement"), RemoveLoop("selfloop"), RemoveLoop("cross_unit"),
             RemoveStep(str(top[0])), RemoveStep(str(top[1])),
             ShortenStep(str(top[0]), factor=0.5), ShortenStep(str(top[2]), to_hours=2, part="segment"),
             ShortenStep(str(top[3]), factor=0.7),
             Bundle([RemoveStep(str(top[1])), RemoveLoop("supplement")]), Bundle([])]
    for label in ("first time (loop detection and queue evidence of the whole log included)",
                  "again"):
        t0, c0 = time.perf_counter(), time.process_time()
        dfw = tm.score_cuts(log, whole, method="replay", n_boot=args.n_boot)
        t_whole, c_whole = time.perf_counter() - t0, time.process_time() - c0
        print(f"score_cuts, {len(whole)} cuts on the whole log ({int(dfw['n_dossiers'].max()):,} "
              f"dossiers each), {label}: {t_whole:.2f} s wall, {c_whole:.2f} s CPU -> target < 10 s: "
              f"{'PASS' if t_whole < 10 else 'FAIL'}")
    # the straightforward alternative for one cut: drop the step's events, move every later
    # event of the dossier earlier by the removed working time, rebuild the log and recompute
    # tm.timing (a re-timing counterfactual); it must agree with the replay row
    import numpy as np
    from tthc_mining.segments import segments
    t0 = time.perf_counter()
    seg = segments(log)
    ev = log.events
    rm = (ev[S.ACTIVITY] == str(top[1])).to_numpy() & ~seg.is_first
    red = np.where(rm, np.nan_to_num(seg.seg_s, nan=0.0), 0.0)
    cum = np.cumsum(red)
    first_rows = seg.case_start[:-1]
    cum -= (cum[first_rows] - red[first_rows])[seg.case]
    keep = ~rm
    cal = log.calendar
    moved = ev.loc[keep].drop(columns=[S.ROLE]).reset_index(drop=True)
    moved[S.TIMESTAMP] = cal.from_working((seg.w_end - cum)[keep], side="next", tz_aware=True)
    if S.START in ev.columns:
        moved[S.START] = cal.from_working((seg.w_start - cum)[keep], side="next", tz_aware=True)
    if S.FINISHED_REPORTED in ev.columns:  # the exported end of processing moves with it
        shift = cum[ctx.close_row][seg.case]
        fin_w = log.working(S.FINISHED_REPORTED)
        moved[S.FINISHED_REPORTED] = cal.from_working((fin_w - shift)[keep], side="next", tz_aware=True)
    naive_log = tm.DossierLog(events=moved, calendar=cal, catalog=log.catalog)
    naive = tm.timing(naive_log).cases.set_index(S.CASE)["agency_days"]
    tb = tm.timing(log).cases.set_index(S.CASE)
    t_naive = time.perf_counter() - t0
    fin = tb["outcome"] == "finished"
    diff = (tb["agency_days"] - naive.reindex(tb.index))[fin]
    rep_row = dfw[dfw["cut"] == RemoveStep(str(top[1]))].iloc[0]
    print(f"re-timing counterfactual for {RemoveStep(str(top[1]))}: {t_naive:.2f} s, mean saving "
          f"{diff.mean():.6f} d; replay row {rep_row['saved_mean_days']:.6f} d "
          f"[{rep_row['saved_ci_low']:.4f}, {rep_row['saved_ci_high']:.4f}] in "
          f"~{t_whole / len(whole):.2f} s per cut")
    print(f"peak RSS {rss_mb():,.0f} MB; dossiers scored per cut: "
          f"{int(df['n_dossiers'].min()):,} to {int(df['n_dossiers'].max()):,}")
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(df[["procedure", "label_en", "saved_mean_days", "saved_ci_low", "saved_ci_high",
                  "share_affected", "on_time_before", "on_time_after"]].to_string(index=False))
    del ctx


if __name__ == "__main__":
    main()
