"""The sorted-by-dossier path of ``stats.bootstrap_mean_ci(normal_min_units=...)`` (session 4,
issue 3): per-stratum sums, repeated (stratum, dossier) pairs and the clustered variance term
without per-pair arrays, chunked. Its intervals must equal, bit for bit, those of the per-pair
path and of an obvious reference (pairs from ``np.unique``, sums with ``np.bincount``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import stats as ST


def _no_counts(monkeypatch):
    """Force the per-pair path: without the compiled sorted path ``bootstrap_mean_ci`` takes
    the dense ranks and the per-pair sums of ``_clustered_ci``."""
    monkeypatch.setattr(ST, "_sorted_clustered_ci", lambda *a, **k: None)


def _per_pair(monkeypatch, v, **kw):
    with monkeypatch.context() as mp:
        _no_counts(mp)
        return ST.bootstrap_mean_ci(v, **kw)


def _reference_normal(v, g, p, n_strata, ci):
    """Clustered normal interval from the pairs of ``np.unique`` (sorted by dossier, then
    stratum: per stratum the pairs in dossier order, as the library sums them)."""
    key = g * n_strata + p
    ukey, inv = np.unique(key, return_inverse=True)
    pair_s = np.bincount(inv, weights=v, minlength=ukey.size)   # each pair's rows in row order
    pair_c = np.bincount(inv, minlength=ukey.size).astype(np.float64)
    pair_p = ukey % n_strata
    tot_s = np.bincount(p, weights=v, minlength=n_strata)
    tot_c = np.bincount(p, minlength=n_strata).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(tot_c > 0, tot_s / np.where(tot_c > 0, tot_c, 1), np.nan)
    units = np.bincount(pair_p, minlength=n_strata)
    z = pair_s - mean[pair_p] * pair_c
    ss = np.bincount(pair_p, weights=z * z, minlength=n_strata)
    k = units.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = ST.z_value(ci) * (np.sqrt(k / np.maximum(k - 1.0, 1.0) * ss) / tot_c)
    return mean, mean - half, mean + half, units, tot_c


@pytest.fixture(scope="module")
def wait_inputs():
    """The inputs ``tm.bottlenecks`` gives the kernel (agency steps' waits by activity)."""
    from tthc_mining import bottlenecks as B
    from tthc_mining.segments import segments
    log = tm.synth.province(n_dossiers=3000, seed=11).log
    seg = segments(log)
    agency = ~seg.is_first & (seg.owner == B.OWNER_AGENCY)
    keys_all, labels = B._keys(log, seg, "activity")
    idx = np.flatnonzero(agency & (keys_all >= 0))
    wait = np.fmax(seg.wait_s[idx], 0) / 3600
    return wait, seg.case[idx], seg.case_ids, keys_all[idx], len(labels)


@pytest.mark.parametrize("min_units", [200, 1000, 10 ** 9])
def test_bottleneck_inputs_equal_reference_and_per_pair_path(monkeypatch, wait_inputs,
                                                            min_units):
    wait, case, case_ids, key, R = wait_inputs
    kw = dict(groups=(case, case_ids), by=(key, pd.RangeIndex(R)), n_boot=200, ci=0.95, seed=0,
              normal_min_units=min_units)
    fast = ST.bootstrap_mean_ci(wait, **kw)
    slow = _per_pair(monkeypatch, wait, **kw)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs
    mean, lo, hi, units, n_obs = _reference_normal(wait, case, key, R, 0.95)
    np.testing.assert_array_equal(fast["n"].to_numpy(), units)
    np.testing.assert_array_equal(fast["n_obs"].to_numpy(), n_obs)
    np.testing.assert_array_equal(fast["mean"].to_numpy(), mean)
    big = units >= max(min_units, 2)
    np.testing.assert_array_equal(fast["ci_low"].to_numpy()[big], lo[big])
    np.testing.assert_array_equal(fast["ci_high"].to_numpy()[big], hi[big])
    assert (units > 0).sum() > 10 and np.any(n_obs > units)   # repeated activities present


def _synthetic(seed, n_units=4000, n_strata=20, max_len=30):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len, n_units)
    g = np.repeat(np.arange(n_units), lengths)
    # few strata per dossier: many repeated (stratum, dossier) pairs
    p = rng.integers(0, n_strata, g.size) % rng.integers(1, n_strata + 1, g.size)
    v = rng.exponential(2.0, g.size)
    v[rng.random(g.size) < 0.1] = -0.0
    return v, g, p


@pytest.mark.parametrize("n_strata,spread", [(20, 1), (20, 10 ** 6), (90, 1)])
def test_sorted_kernels_equal_the_per_pair_path_and_the_reference(monkeypatch, n_strata, spread):
    """The compiled sorted path with both sum orders: sequential pair sums (<= 64 strata, unit
    codes that fit the rank table) and np.add.reduceat's (more strata, or sparse unit codes: the
    per-pair path it replaces)."""
    v, g, p = _synthetic(3, n_strata=n_strata)
    g = g * spread
    kw = dict(groups=g, by=(p, pd.RangeIndex(n_strata)), n_boot=50, seed=4,
              normal_min_units=1500 if n_strata == 20 else 400)
    fast = ST.bootstrap_mean_ci(v, **kw)
    slow = _per_pair(monkeypatch, v, **kw)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs
    mean, lo, hi, units, _ = _reference_normal(v, g, p, n_strata, 0.95)
    big = units >= kw["normal_min_units"]
    assert big.any() and (~big & (units > 0)).any()
    np.testing.assert_array_equal(fast["n"].to_numpy(), units)
    np.testing.assert_array_equal(fast["mean"].to_numpy(), mean)
    if n_strata <= 64 and spread == 1:          # (the reference adds pairs in row order)
        np.testing.assert_array_equal(fast["ci_low"].to_numpy()[big], lo[big])


def test_pairwise_kernel_equals_numpy_reduceat():
    from tthc_mining.kernels.stats import _pairwise
    rng = np.random.default_rng(1)
    lens = rng.integers(1, 400, 600)
    lens[:60] = rng.integers(1, 20, 60)
    v = rng.exponential(1.0, int(lens.sum())) * rng.choice([1.0, -1.0], int(lens.sum()))
    v[rng.random(v.size) < 0.05] = -0.0
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    want = np.add.reduceat(v, starts)
    got = np.array([v[s] + _pairwise(v, s + 1, n - 1) if n > 1 else v[s]
                    for s, n in zip(starts.tolist(), lens.tolist())])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("pairwise", [False, True])
def test_clustered_term_kernel_equals_its_definition(pairwise):
    """``normal_ss`` term by term on few, long pairs (every rounding of a pair sum shows)."""
    from tthc_mining.kernels.stats import normal_ss, normal_sums
    rng = np.random.default_rng(2)
    lens = rng.integers(1, 300, 40)
    g = np.repeat(np.arange(40, dtype=np.int64) * 3, lens)
    p = rng.integers(0, 3, g.size).astype(np.int64)
    v = rng.exponential(5.0, g.size)
    v[::11] = np.nan                            # skipped rows
    st, tot_s, n_obs, units, n_units, g_max, n_valid, n_bad, max_len = normal_sums(v, g, p, 3)
    keep = np.isfinite(v)
    assert st == 0 and n_bad == (~keep).sum() and n_units == 40 and g_max == 117
    mean = tot_s / n_obs
    small = np.array([False, True, False])
    ss, rows, rank = normal_ss(v, g, p, mean, small, int(n_obs[1]), int(max_len), pairwise)
    want = np.zeros(3)
    vk, gk, pk = v[keep], g[keep], p[keep]
    for u in np.unique(gk):
        for s in range(3):
            x = vk[(gk == u) & (pk == s)]
            if x.size:
                tot = np.add.reduceat(x, [0])[0] if pairwise else float(np.cumsum(x)[-1])
                want[s] += (tot - mean[s] * x.size) ** 2
    np.testing.assert_array_equal(ss, want)
    np.testing.assert_array_equal(rows, np.flatnonzero(keep & (p == 1)))
    np.testing.assert_array_equal(rank, np.unique(gk, return_inverse=True)[1][pk == 1])
    # units out of order, a stratum out of range: the caller's general path
    assert normal_sums(v[::-1].copy(), g[::-1].copy(), p[::-1].copy(), 3)[0] == 1
    assert normal_sums(v, g, p, 2)[0] == 2


def test_sparse_codes_single_stratum_and_unsorted_units(monkeypatch):
    v, g, p = _synthetic(5, n_units=1500)
    g = g * 3 + 7                               # codes with gaps: ranks through the table
    kw = dict(groups=g, by=(p, pd.RangeIndex(20)), n_boot=30, seed=1, normal_min_units=300)
    pd.testing.assert_frame_equal(ST.bootstrap_mean_ci(v, **kw),
                                  _per_pair(monkeypatch, v, **kw), check_exact=True)
    one = ST.bootstrap_mean_ci(v, g, n_boot=30, seed=1, normal_min_units=300)
    with monkeypatch.context() as mp:
        _no_counts(mp)
        assert one == ST.bootstrap_mean_ci(v, g, n_boot=30, seed=1, normal_min_units=300)
    perm = np.random.default_rng(0).permutation(v.size)    # not sorted: the per-pair path
    kw["groups"] = g[perm]
    kw["by"] = (p[perm], pd.RangeIndex(20))
    pd.testing.assert_frame_equal(ST.bootstrap_mean_ci(v[perm], **kw),
                                  _per_pair(monkeypatch, v[perm], **kw), check_exact=True)


def test_nan_values_and_negative_codes_are_dropped():
    v, g, p = _synthetic(6, n_units=800)
    v2, g2, p2 = v.copy(), g.copy(), p.copy()
    v2[::17] = np.nan
    v2[1::31] = np.inf
    v2[2::37] = -np.inf
    g2[5::23] = -1
    p2[3::29] = -1
    keep = np.isfinite(v2) & (g2 >= 0) & (p2 >= 0)
    kw = dict(by=(p2, pd.RangeIndex(20)), n_boot=40, seed=2, normal_min_units=100)
    units = pd.RangeIndex(int(g.max()) + 1)     # pre-factorised: code -1 = drop
    got = ST.bootstrap_mean_ci(v2, groups=(g2, units), **kw)
    kw["by"] = (p2[keep], pd.RangeIndex(20))
    want = ST.bootstrap_mean_ci(v2[keep], groups=(g2[keep], units), **kw)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_all_zero_small_strata_skip_the_draws_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(9)
    lengths = rng.integers(1, 6, 3000)
    g = np.repeat(np.arange(lengths.size), lengths)
    p = rng.integers(0, 4, g.size)              # 0..3 big (normal); 4: a small stratum
    v = rng.exponential(1.0, g.size)
    zero = rng.random(g.size) < 0.03
    p[zero] = 4
    v[zero] = 0.0
    kw = dict(groups=g, by=(p, pd.RangeIndex(6)), n_boot=300, seed=0, normal_min_units=1000)
    alone = ST.bootstrap_mean_ci(v, **kw)
    assert alone.attrs["method"] == "normal+exact"
    assert alone.loc[4, "ci_low"] == 0.0 and alone.loc[4, "ci_high"] == 0.0
    assert np.isnan(alone.loc[5, "ci_low"])     # empty stratum
    # the same stratum next to a small stratum with non-zero values: drawn, still exactly 0
    live = (rng.random(g.size) < 0.02) & ~zero
    p2 = p.copy()
    p2[live] = 5
    kw2 = dict(kw, by=(p2, pd.RangeIndex(6)))
    drawn = ST.bootstrap_mean_ci(v, **kw2)
    assert drawn.loc[4, "ci_low"] == 0.0 and drawn.loc[4, "ci_high"] == 0.0
    assert drawn.loc[5, "ci_low"] < drawn.loc[5, "mean"] < drawn.loc[5, "ci_high"]
    # the live stratum's draws are the per-pair path's (same RNG stream)
    pd.testing.assert_frame_equal(drawn, _per_pair(monkeypatch, v, **kw2), check_exact=True)
    # and without the zero shortcut (a non-zero value somewhere) the stratum still resamples
    v3 = v.copy()
    v3[np.flatnonzero(zero)[0]] = 1.0
    r3 = ST.bootstrap_mean_ci(v3, **kw)
    assert r3.loc[4, "ci_high"] > 0.0


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")     # the squares overflow
def test_finite_values_whose_total_overflows_are_kept():
    v, g, p = _synthetic(7, n_units=300)
    v[:4] = 1e308                               # the total overflows, every value is finite
    r = ST.bootstrap_mean_ci(v, groups=g, by=(p, pd.RangeIndex(20)), n_boot=20, seed=0,
                             normal_min_units=50)
    assert r["n_obs"].sum() == v.size
