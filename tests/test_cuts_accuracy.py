"""Accuracy of the replay engine against the synthetic world's true effect (fast version).

The synthetic province applies each cut to its own parameters and re-simulates the same dossiers
with common random numbers (``tm.synth.true_effect``), which gives the true effect dossier by
dossier. For the cut types where replay is the right engine (RemoveStep, RemoveLoop,
ShortenStep, RemoveHandover) at steps without queues, the predicted mean saving must be within
15 % (or 0.2 working days, whichever is larger) of the truth and the 95 % interval must cover it
in at least 90 % of the trials. At the planted queue the replay must raise its queue flag (it
is then far from the truth, which is why ``auto`` hands such cuts to the simulation). The full
study over more seeds and sizes is ``benchmarks/accuracy_study.py`` (docs/accuracy.md).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining.cuts import RemoveHandover, RemoveLoop, RemoveStep, ShortenStep

true_effect = getattr(tm.synth, "true_effect", None)
pytestmark = pytest.mark.skipif(true_effect is None, reason="tm.synth.true_effect is not available")

SEEDS = (0, 1, 2)
N_DOSSIERS = 6000
# (procedure, cut): procedures whose paths have no queue and no batched signing
CUTS = [
    ("1.009994", RemoveStep("Kiểm tra thực địa")),
    ("1.009994", RemoveLoop("supplement")),
    ("1.009994", ShortenStep("Thẩm định hồ sơ", factor=0.5)),
    ("1.012756", RemoveLoop("supplement")),
    ("1.012756", ShortenStep("Tính thuế, ra thông báo thuế", to_hours=2, part="segment")),
    ("2.001417", RemoveHandover("Sở Tư pháp", "Công an tỉnh")),
    ("2.001417", RemoveStep("Phân công thụ lý")),
    ("1.004399", RemoveStep("Cấp thẻ BHYT")),
]
QUEUED = ("1.004227", ShortenStep("Thẩm định hồ sơ", factor=0.5))


@pytest.fixture(scope="module")
def trials():
    rows = []
    for seed in SEEDS:  # a few seeds: one province each
        prov = tm.synth.province(N_DOSSIERS, seed=seed)
        frame = pd.DataFrame({"cut": [c for _, c in CUTS + [QUEUED]],
                              "procedure": [p for p, _ in CUTS + [QUEUED]]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            auto = tm.score_cuts(prov.log, frame.iloc[:len(CUTS)], n_boot=1000, seed=seed, sort_by=None)
        replay = tm.score_cuts(prov.log, frame.iloc[len(CUTS):], method="replay", n_boot=1000,
                               seed=seed, sort_by=None)
        scores = pd.concat([auto, replay], ignore_index=True)
        for k, ((code, cut), (_, r)) in enumerate(zip(CUTS + [QUEUED], scores.iterrows())):
            truth = true_effect(prov, cut, procedure=code)
            rows.append({"seed": seed, "procedure": code, "cut": str(cut), "queued": k == len(CUTS),
                         "method": r["method"],
                         "truth": truth.saved_mean_days, "pred": r["saved_mean_days"],
                         "low": r["saved_ci_low"], "high": r["saved_ci_high"],
                         "n": r["n_dossiers"], "n_truth": truth.summary["n_dossiers"],
                         "queue_flag": bool(r["queue_flag"]),
                         "truth_on_time_after": truth.summary["on_time_after"],
                         "on_time_after": r["on_time_after"]})
    return pd.DataFrame(rows)


def test_same_dossiers_as_the_truth(trials):
    assert (trials["n"] == trials["n_truth"]).all()
    assert (trials["n"] > 100).all()


def test_replay_is_the_engine_auto_picks_there(trials):
    main = trials[~trials["queued"]]
    assert (main["method"] == "replay").all()
    assert not main["queue_flag"].any()


def test_mean_saving_within_15_percent_or_0_2_days(trials):
    main = trials[~trials["queued"]]
    err = (main["pred"] - main["truth"]).abs()
    tol = np.maximum(0.15 * main["truth"].abs(), 0.2)
    bad = main[err > tol]
    assert bad.empty, bad.to_string()
    # the replay is exact where nothing queues: most trials agree to the ns-level rounding
    assert (err < 1e-3).mean() > 0.6


def test_interval_covers_the_truth_in_90_percent(trials):
    main = trials[~trials["queued"]]
    cover = (main["low"] <= main["truth"]) & (main["truth"] <= main["high"])
    assert cover.mean() >= 0.9, main[~cover].to_string()


def test_on_time_after_matches_the_truth(trials):
    main = trials[~trials["queued"]]
    assert (main["on_time_after"] - main["truth_on_time_after"]).abs().max() < 0.02


def test_queue_step_is_flagged(trials):
    """At the planted queue (1 officer, utilisation 0.75) halving the appraisal also shrinks the
    queue: the replay, which keeps the waits, misses most of the effect and says so."""
    q = trials[trials["queued"]]
    assert q["queue_flag"].all()
    assert (q["truth"] > 2 * q["pred"]).all()


def test_auto_hands_the_flagged_cut_to_the_simulation():
    from tthc_mining.cuts.score import _simulation
    prov = tm.synth.province(3000, seed=5)
    code, cut = QUEUED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = tm.score_cuts(prov.log, [cut], procedure=code, replications=5, n_boot=200).iloc[0]
    if _simulation() is None:
        assert r["method"] == "replay" and r["queue_flag"]
        assert "simulate" in r["notes"]
    else:
        assert r["method"] == "simulate"
        assert "no-queue assumption is doubtful" in r["notes"]
