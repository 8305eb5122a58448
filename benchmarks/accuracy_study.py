"""Accuracy study: predicted savings of procedure cuts against the synthetic world's truth.

For several seeds a synthetic province is generated; every cut below is scored within its
procedure by ``tm.score_cuts`` with ``method="auto"`` (the engine the library picks), and also
with ``"replay"`` and ``"simulate"``; the truth is ``tm.synth.true_effect`` (the cut applied to
the world's own parameters, re-simulated with common random numbers). Per cut type and engine:
the mean and largest absolute error of the mean saving, the share of trials within tolerance
(15 % of the truth or 0.2 working days, whichever is larger), the coverage of the 95 % interval
and its mean width. Writes the table into ``docs/accuracy.md`` (between markers) and prints it.

    python benchmarks/accuracy_study.py                # 20 seeds, 5,000 dossiers, 30 replications
    python benchmarks/accuracy_study.py --seeds 5 --no-write
"""
from __future__ import annotations

import argparse
import sys
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tthc_mining as tm  # noqa: E402
from tthc_mining.cuts import (AddStaff, MergeSteps, Parallelize, ReduceLoopRate,  # noqa: E402
                              RemoveHandover,
                              RemoveLoop, RemoveStep, ShortenStep)

LAND_OFFICE = "Văn phòng Đăng ký đất đai tỉnh"
#: (cut type as the acceptance names it, procedure, cut, why this instance)
CUTS = [
    ("RemoveStep", "1.009994", RemoveStep("Kiểm tra thực địa"), "slow site inspection"),
    ("RemoveStep", "1.004227", RemoveStep("Phân công thụ lý"), "step just before the queue"),
    ("RemoveLoop", "1.004227", RemoveLoop("supplement"), "supplements after the queue"),
    ("RemoveLoop", "2.001610", RemoveLoop("supplement"), "supplements before a daily signing"),
    ("ShortenStep", "1.001193", ShortenStep("Ghi sổ hộ tịch, in Giấy khai sinh", factor=0.5),
     "slow work, no queue"),
    ("ShortenStep", "1.004227", ShortenStep("Thẩm định hồ sơ", factor=0.5), "the queued step"),
    ("AddStaff", "1.004227", AddStaff(step="Thẩm định hồ sơ", unit=LAND_OFFICE), "queue, +1"),
    ("AddStaff", "1.004227", AddStaff(step="Thẩm định hồ sơ", unit=LAND_OFFICE, n=2), "queue, +2"),
    ("RemoveHandover", "2.001417", RemoveHandover("Sở Tư pháp", "Công an tỉnh", residual_hours=0.5),
     "paper transfer to the police"),
    ("RemoveHandover", "1.004227", RemoveHandover(LAND_OFFICE, "Chi cục Thuế huyện An Phú",
                                                  residual_hours=0.5), "transfer to a tax office"),
    ("ReduceLoopRate", "1.004227", ReduceLoopRate("supplement", 0.5), "half the supplements"),
    ("Parallelize", "1.004399", Parallelize("Đăng ký thường trú", "Cấp thẻ BHYT"), "two agencies"),
    ("MergeSteps", "2.001417", MergeSteps("Phân công thụ lý", "Tra cứu, xác minh thông tin lý lịch"),
     "assignment + search"),
]
ACCEPTANCE = ("RemoveStep", "RemoveLoop", "ShortenStep", "AddStaff", "RemoveHandover")
MARK_BEGIN = "<!-- accuracy-table:begin -->"
MARK_END = "<!-- accuracy-table:end -->"


def tolerance(truth: float) -> float:
    return max(0.15 * abs(truth), 0.2)


def score_all(prov, method: str, seed: int, replications: int) -> pd.DataFrame:
    frame = pd.DataFrame({"cut": [c for _, _, c, _ in CUTS], "procedure": [p for _, p, _, _ in CUTS]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return tm.score_cuts(prov.log, frame, method=method, seed=seed, replications=replications,
                             n_boot=1000, sort_by=None)


def trials(seeds, n_dossiers: int, replications: int, methods=("auto", "replay", "simulate"),
           log=print) -> pd.DataFrame:
    rows = []
    for seed in seeds:  # one province per seed
        t0 = time.perf_counter()
        prov = tm.synth.province(n_dossiers, seed=seed)
        truths = [tm.synth.true_effect(prov, c, procedure=p) for _, p, c, _ in CUTS]
        for method in methods:
            df = score_all(prov, method, seed, replications)
            for (ctype, proc, cut, why), te, (_, r) in zip(CUTS, truths, df.iterrows()):
                truth = te.saved_mean_days
                err = r["saved_mean_days"] - truth
                rows.append({
                    "seed": seed, "type": ctype, "procedure": proc, "cut": str(cut), "why": why,
                    "requested": method, "engine": r["method"], "truth": truth,
                    "pred": r["saved_mean_days"], "low": r["saved_ci_low"], "high": r["saved_ci_high"],
                    "err": err, "within_tol": abs(err) <= tolerance(truth),
                    "covered": bool(r["saved_ci_low"] - 1e-12 <= truth <= r["saved_ci_high"] + 1e-12),
                    "width": r["saved_ci_high"] - r["saved_ci_low"],
                    "backtest_pass": r.get("backtest_pass", np.nan)})
        log(f"seed {seed}: {time.perf_counter() - t0:.1f} s")
    return pd.DataFrame(rows)


def summarise(t: pd.DataFrame) -> pd.DataFrame:
    g = t.groupby(["type", "procedure", "cut", "requested"], sort=False)
    out = pd.DataFrame({
        "engine": g["engine"].agg(lambda s: "/".join(sorted(set(s)))),
        "trials": g.size(),
        "truth_mean": g["truth"].mean(),
        "pred_mean": g["pred"].mean(),
        "mean_abs_err": g["err"].apply(lambda e: e.abs().mean()),
        "max_abs_err": g["err"].apply(lambda e: e.abs().max()),
        "mean_rel_err": g.apply(lambda d: (d["err"].abs() / d["truth"].abs().clip(lower=1e-9)).mean(),
                                include_groups=False),
        "within_tol": g["within_tol"].mean(),
        "coverage": g["covered"].mean(),
        "mean_width": g["width"].mean(),
    }).reset_index()
    return out


def by_type(t: pd.DataFrame) -> pd.DataFrame:
    g = t[t["requested"] == "auto"].groupby("type", sort=False)
    return pd.DataFrame({"trials": g.size(), "within_tol": g["within_tol"].mean(),
                         "coverage": g["covered"].mean(),
                         "engines": g["engine"].agg(lambda s: "/".join(sorted(set(s))))}).reset_index()


def markdown(t: pd.DataFrame, meta: dict) -> str:
    s = summarise(t)
    bt = by_type(t)
    lines = [MARK_BEGIN, "",
             f"Run: {meta['seeds']} seeds x {meta['n_dossiers']:,} dossiers, {meta['replications']} "
             f"replications, {meta['seconds']:.0f} s on {meta['cpus']} CPU(s), "
             f"tthc_mining {tm.__version__}. Tolerance: max(15 % of the truth, 0.2 working days).",
             "",
             "**Acceptance view** (`method=\"auto\"`, the engine the library picks), per cut type:",
             "", "| cut type | trials | within tolerance | 95 % interval covers truth | engines |",
             "|---|---:|---:|---:|---|"]
    for _, r in bt.iterrows():
        flag = "" if r["type"] in ACCEPTANCE else " (not in the acceptance list)"
        lines.append(f"| {r['type']}{flag} | {r['trials']} | {r['within_tol']:.0%} | "
                     f"{r['coverage']:.0%} | {r['engines']} |")
    lines += ["", "**Every cut and engine** (working days per dossier of the procedure):", "",
              "| type | procedure | cut | method | engine | truth | predicted | mean abs err | "
              "max abs err | mean rel err | within tol | coverage | mean CI width |",
              "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in s.iterrows():
        lines.append(f"| {r['type']} | {r['procedure']} | {r['cut'].replace('|', '/')} | {r['requested']} | "
                     f"{r['engine']} | {r['truth_mean']:.4f} | {r['pred_mean']:.4f} | "
                     f"{r['mean_abs_err']:.4f} | {r['max_abs_err']:.4f} | {r['mean_rel_err']:.1%} | "
                     f"{r['within_tol']:.0%} | {r['coverage']:.0%} | {r['mean_width']:.4f} |")
    lines += ["", MARK_END]
    return "\n".join(lines)


def write_doc(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Accuracy\n\n{MARK_BEGIN}\n{MARK_END}\n"
    if MARK_BEGIN in text and MARK_END in text:
        a, rest = text.split(MARK_BEGIN, 1)
        _, b = rest.split(MARK_END, 1)
        text = a + table + b
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--replications", type=int, default=30)
    ap.add_argument("--doc", default=str(Path(__file__).resolve().parents[1] / "docs" / "accuracy.md"))
    ap.add_argument("--csv", default=None, help="also write every trial to this CSV")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--from-csv", default=None, help="rebuild the table from a saved --csv run")
    a = ap.parse_args(argv)
    import os
    t0 = time.perf_counter()
    if a.from_csv:
        t = pd.read_csv(a.from_csv)
        meta = json.loads(Path(a.from_csv + ".json").read_text())
    else:
        t = trials(range(a.seeds), a.n, a.replications)
        meta = {"seeds": a.seeds, "n_dossiers": a.n, "replications": a.replications,
                "seconds": time.perf_counter() - t0, "cpus": os.cpu_count()}
    table = markdown(t, meta)
    print(table)
    print(json.dumps(meta))
    if a.csv:
        t.to_csv(a.csv, index=False)
        Path(a.csv + ".json").write_text(json.dumps(meta))
    if not a.no_write:
        write_doc(Path(a.doc), table)
    return t


if __name__ == "__main__":
    main()
