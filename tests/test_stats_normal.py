"""The dossier-clustered normal interval of ``stats.bootstrap_mean_ci(normal_min_units=...)``
(used by ``tm.bottlenecks`` for rows with many dossiers): as good as the dossier bootstrap it
replaces (same means, widths within Monte Carlo noise, nominal coverage), the bootstrap kept for
small strata, and the pair sums equal whether or not the observations are sorted by dossier."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import bottlenecks as bn
from tthc_mining.stats import bootstrap_mean_ci


def clustered(n_d: int, seed: int, per: int = 3):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_d), per)
    # skewed waits with a dossier effect (observations of one dossier are correlated)
    v = rng.gamma(2.0, 3.0, size=g.size) + np.repeat(rng.gamma(1.0, 2.0, n_d), per)
    by = np.tile(np.array(["a", "b", "c"]), n_d)[: g.size]
    return v, g, by


def test_normal_interval_matches_the_exact_bootstrap():
    v, g, by = clustered(20_000, 1)
    exact = bootstrap_mean_ci(v, g, by=by, n_boot=1000, method="exact", seed=1)
    normal = bootstrap_mean_ci(v, g, by=by, n_boot=1000, seed=1, normal_min_units=1000)
    assert normal.attrs["method"] == "normal"
    assert np.allclose(normal["mean"], exact["mean"], rtol=1e-12)
    assert (normal["n"] == exact["n"]).all() and (normal["n_obs"] == exact["n_obs"]).all()
    w_e = exact["ci_high"] - exact["ci_low"]
    w_n = normal["ci_high"] - normal["ci_low"]
    assert np.allclose(w_n, w_e, rtol=0.12)              # bootstrap Monte Carlo noise ~5%
    mid = (exact["ci_high"] + exact["ci_low"]) / 2
    assert (abs(mid - normal["mean"]) < 0.25 * w_e).all()
    assert (normal["ci_low"] < normal["mean"]).all() and (normal["mean"] < normal["ci_high"]).all()


def test_normal_interval_coverage():
    """95% intervals over 300 simulated samples of 2,000 dossiers cover the population mean
    at the nominal rate (binomial tolerance)."""
    rng = np.random.default_rng(7)
    hits = 0
    n_sim, n_d = 300, 2000
    for _ in range(n_sim):
        k = rng.integers(1, 6, size=n_d)                  # 1..5 events per dossier
        g = np.repeat(np.arange(n_d), k)
        effect = np.repeat(rng.exponential(2.0, n_d), k)
        v = rng.exponential(4.0, size=g.size) + effect    # population mean 4 + 2 = 6
        r = bootstrap_mean_ci(v, g, normal_min_units=1000)
        assert r.method == "normal" and r.n == n_d
        hits += r.low <= 6.0 <= r.high
    assert 0.91 * n_sim <= hits <= 0.985 * n_sim


def test_small_strata_keep_the_bootstrap():
    v, g, by = clustered(5_000, 2)
    by = by.astype(object)
    small = np.arange(v.size) < 240                      # 80 dossiers in stratum "z"
    by[small] = "z"
    mixed = bootstrap_mean_ci(v, g, by=by, n_boot=400, seed=3, normal_min_units=1000)
    assert mixed.attrs["method"] == "normal+exact"
    alone = bootstrap_mean_ci(v[small], g[small], n_boot=400, seed=3)
    # the small stratum gets exactly the bootstrap of its own dossiers
    assert mixed.loc["z", "ci_low"] == pytest.approx(alone.low, rel=1e-12)
    assert mixed.loc["z", "ci_high"] == pytest.approx(alone.high, rel=1e-12)
    assert mixed.loc["z", "n"] == 80
    # a single dossier still has no interval
    one = bootstrap_mean_ci([1.0, 2.0], [5, 5], normal_min_units=1)
    assert np.isnan(one.low) and np.isnan(one.high) and one.n == 1


def test_unsorted_observations_give_the_same_interval():
    v, g, by = clustered(3_000, 4)
    a = bootstrap_mean_ci(v, g, by=by, normal_min_units=100)
    perm = np.random.default_rng(0).permutation(v.size)
    b = bootstrap_mean_ci(v[perm], g[perm], by=by[perm], normal_min_units=100)
    pd.testing.assert_frame_equal(a, b.loc[a.index], rtol=1e-10)


def test_bottlenecks_normal_rows_cover_the_planted_mean(monkeypatch):
    """On a synthetic province the planted bottleneck's interval (normal for every row once
    the threshold is low) covers the true mean wait and holds the estimate."""
    synth = pytest.importorskip("tthc_mining.synth")
    log, truth = synth.province(6_000, seed=3)
    monkeypatch.setattr(bn, "NORMAL_MIN_DOSSIERS", 50)
    for row in truth.bottlenecks.itertuples():
        b = tm.bottlenecks(log, procedure=row.procedure, seed=3)
        assert b.attrs["bootstrap_method"].startswith("normal")
        top = b.iloc[0]
        assert top["activity"] == row.activity
        assert top["wait_mean_ci_low"] <= row.true_wait_mean_h <= top["wait_mean_ci_high"]
        ok = b["wait_mean_ci_low"].notna()
        assert (b.loc[ok, "wait_mean_ci_low"] <= b.loc[ok, "wait_mean_h"]).all()
        assert (b.loc[ok, "wait_mean_h"] <= b.loc[ok, "wait_mean_ci_high"]).all()
