"""Wilson intervals (published values) and the dossier-level bootstrap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tthc_mining import ConfigError
from tthc_mining.stats import MeanCI, bootstrap_mean_ci, wilson, z_value


# Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score interval
# without continuity correction)
@pytest.mark.parametrize("k, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (5, 10, 0.2366, 0.7634),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
])
def test_wilson_published_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)


def test_wilson_vectorised_and_edge_cases():
    lo, hi = wilson(np.array([81, 0, 3]), np.array([263, 0, 10]))
    assert lo.shape == (3,) and np.isnan(lo[1]) and np.isnan(hi[1])
    assert lo[0] == pytest.approx(0.2553, abs=5e-5)
    # broadcasting one n over many k
    lo, hi = wilson(np.arange(11), 10)
    assert np.all(np.diff(lo) > 0) and np.all(np.diff(hi) > 0)
    assert np.all(lo <= np.arange(11) / 10) and np.all(hi >= np.arange(11) / 10)
    # wider for a higher confidence level
    assert wilson(5, 10, 0.99)[0] < wilson(5, 10, 0.95)[0]
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ConfigError):
        wilson(11, 10)
    with pytest.raises(ConfigError):
        wilson(-1, 10)
    with pytest.raises(ConfigError):
        z_value(1.5)


def test_bootstrap_contains_point_estimate_and_matches_theory():
    rng = np.random.default_rng(0)
    v = rng.normal(10.0, 2.0, size=4000)
    r = bootstrap_mean_ci(v, n_boot=2000, seed=1)
    assert isinstance(r, MeanCI) and r.method == "exact" and r.n == 4000 and r.n_obs == 4000
    assert r.low < r.mean < r.high and r.mean == pytest.approx(v.mean())
    # the interval half-width is close to 1.96 * sd / sqrt(n)
    half = 1.96 * v.std(ddof=1) / np.sqrt(v.size)
    assert (r.high - r.low) / 2 == pytest.approx(half, rel=0.12)
    # reproducible with a seed
    assert bootstrap_mean_ci(v, n_boot=500, seed=3) == bootstrap_mean_ci(v, n_boot=500, seed=3)


def test_bootstrap_resamples_dossiers_not_events():
    # 500 dossiers x 8 identical events: the events carry no independent information, so the
    # dossier bootstrap must be as wide as a bootstrap over the 500 dossier values, and about
    # sqrt(8) wider than a naive event bootstrap
    rng = np.random.default_rng(4)
    per_dossier = rng.exponential(5.0, size=500)
    v = np.repeat(per_dossier, 8)
    g = np.repeat(np.arange(500), 8)
    clustered = bootstrap_mean_ci(v, g, n_boot=2000, seed=2)
    naive = bootstrap_mean_ci(v, n_boot=2000, seed=2)
    dossier_level = bootstrap_mean_ci(per_dossier, n_boot=2000, seed=2)
    w_c, w_n, w_d = (clustered.high - clustered.low), (naive.high - naive.low), \
        (dossier_level.high - dossier_level.low)
    assert clustered.n == 500 and clustered.n_obs == 4000
    assert w_c == pytest.approx(w_d, rel=0.15)
    assert w_c / w_n == pytest.approx(np.sqrt(8), rel=0.2)


def test_bootstrap_by_strata_joint_dossiers():
    rng = np.random.default_rng(5)
    n = 3000
    g = rng.integers(0, 600, size=n)
    by = rng.choice(["Thẩm định", "Phê duyệt", "Hiếm"], size=n, p=[0.6, 0.3999, 0.0001])
    v = np.where(by == "Thẩm định", 8.0, 2.0) + rng.exponential(1.0, size=n)
    out = bootstrap_mean_ci(v, g, by=by, n_boot=800, seed=0)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["mean", "ci_low", "ci_high", "n", "n_obs"]
    assert out.attrs["method"] == "exact" and out.attrs["n_boot"] == 800
    for label in ("Thẩm định", "Phê duyệt"):
        row = out.loc[label]
        assert row["ci_low"] < row["mean"] < row["ci_high"]
        assert row["mean"] == pytest.approx(v[by == label].mean())
        assert row["n_obs"] == (by == label).sum() and row["n"] == len(np.unique(g[by == label]))
    if "Hiếm" in out.index and out.loc["Hiếm", "n"] < 2:
        assert np.isnan(out.loc["Hiếm", "ci_low"])     # no honest interval from one dossier
    # NaN values are ignored, pre-factorised strata accepted
    v2 = v.copy()
    v2[:10] = np.nan
    codes, uniques = pd.factorize(by)
    out2 = bootstrap_mean_ci(v2, g, by=(codes, pd.Index(uniques)), n_boot=200)
    assert out2["n_obs"].sum() == n - 10


def test_random_group_bootstrap_for_large_inputs():
    rng = np.random.default_rng(6)
    n_d = 20_000
    g = np.repeat(np.arange(n_d), 3)
    v = rng.gamma(2.0, 3.0, size=g.size) + np.repeat(rng.normal(0, 2, n_d), 3)
    by = np.tile(np.array(["a", "b", "c"]), n_d)
    exact = bootstrap_mean_ci(v, g, by=by, n_boot=400, method="exact", seed=1)
    grouped = bootstrap_mean_ci(v, g, by=by, n_boot=400, method="groups", n_groups=1000, seed=1)
    auto = bootstrap_mean_ci(v, g, by=by, n_boot=400, budget=1e4, seed=1)
    assert grouped.attrs["method"] == "groups" and auto.attrs["method"] == "groups"
    w_e = exact["ci_high"] - exact["ci_low"]
    w_g = grouped["ci_high"] - grouped["ci_low"]
    assert np.allclose(w_g, w_e, rtol=0.25)
    assert (grouped["ci_low"] <= grouped["mean"]).all() and (grouped["mean"] <= grouped["ci_high"]).all()
    assert np.allclose(grouped["mean"], exact["mean"])


def test_bootstrap_argument_checks():
    with pytest.raises(ConfigError):
        bootstrap_mean_ci([1.0, 2.0], [0], n_boot=10)
    with pytest.raises(ConfigError):
        bootstrap_mean_ci([1.0, 2.0], method="magic")
    with pytest.raises(ConfigError):
        bootstrap_mean_ci([1.0, 2.0], n_boot=0)
    empty = bootstrap_mean_ci(np.array([np.nan, np.nan]))
    assert empty.n == 0 and np.isnan(empty.mean) and empty.method == "none"
