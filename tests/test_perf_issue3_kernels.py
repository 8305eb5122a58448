"""Issue 3 performance: the faster kernels give the values of straightforward references
(pandas / scipy / loops), ties and missing values included."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tthc_mining import bottlenecks as B
from tthc_mining import stats as ST
from tthc_mining.calendar import VietnamCalendar, continuous


@pytest.mark.parametrize("n,groups", [(1, 1), (50, 3), (5000, 27), (20000, 700)])
def test_group_ranks_equal_pandas_average_ranks(n, groups):
    rng = np.random.default_rng(n)
    g = rng.integers(0, groups, n)
    for v in (rng.integers(0, 7, n).astype(float), rng.exponential(1.0, n),
              np.round(rng.normal(0, 1, n), 1)):
        ref = pd.Series(v).groupby(g).rank(method="average").to_numpy()
        np.testing.assert_array_equal(B._group_ranks(v, g, groups), ref)


def test_spearman_by_group_equals_scipy():
    from scipy import stats
    rng = np.random.default_rng(3)
    g = rng.integers(0, 4, 3000)
    x = rng.integers(0, 10, g.size).astype(float)
    y = x * (g == 1) + rng.exponential(1.0, g.size)
    rho, p = B._spearman_by_group(x, y, g, 5)
    for k in range(4):
        r = stats.spearmanr(x[g == k], y[g == k])
        assert rho[k] == pytest.approx(r.statistic, abs=1e-12)
        assert p[k] == pytest.approx(r.pvalue, rel=1e-6, abs=1e-300)
    assert np.isnan(rho[4]) and rho[1] > 0.5


def _clump_reference(minute_ns, ck, key, R):
    ok = minute_ns != np.iinfo(np.int64).min
    df = pd.DataFrame({"m": minute_ns // 60_000_000_000, "ck": ck, "key": key})[ok]
    size = df.groupby(["ck", "m"])["key"].transform("size")
    clumped = np.bincount(df["key"][size >= 3], minlength=R)
    return clumped / np.maximum(np.bincount(key, minlength=R), 1)


@pytest.mark.parametrize("span_min,n_ck", [(50, 4), (100_000, 30), (5_000_000, 2000)])
def test_clump_share_equals_a_groupby(span_min, n_ck):
    rng = np.random.default_rng(span_min)
    n = 20_000
    ns = rng.integers(0, span_min, n) * 60_000_000_000 + rng.integers(0, 59, n) * 1_000_000_000
    ns[rng.random(n) < 0.01] = np.iinfo(np.int64).min
    ck = rng.integers(0, n_ck, n)
    key = ck % 7
    np.testing.assert_array_equal(B._clump_share(ns, ck, key, 7), _clump_reference(ns, ck, key, 7))


def test_pair_sums_bitset_equals_the_sort_path():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 9, 4000)
    g = np.repeat(np.arange(lengths.size), lengths)
    p = rng.integers(0, 20, g.size)
    p[: lengths[0]] = np.arange(lengths[0])             # a first unit without repeats
    v = rng.exponential(1.0, g.size)
    fast = ST._pair_sums_bitset(v, g, p, 20)
    ref = pd.DataFrame({"g": g, "p": p, "v": v}).groupby(["g", "p"], sort=True)["v"].agg(["sum", "size"])
    order = np.lexsort((fast[0], fast[1]))
    np.testing.assert_array_equal(fast[1][order], ref.index.get_level_values("g"))
    np.testing.assert_array_equal(fast[0][order], ref.index.get_level_values("p"))
    np.testing.assert_allclose(fast[2][order], ref["sum"].to_numpy(), rtol=1e-13)
    np.testing.assert_array_equal(fast[3][order], ref["size"].to_numpy())
    assert np.all(np.diff(fast[1]) >= 0)                 # sorted by unit
    # no repeats at all: the observations themselves
    q = np.arange(g.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    same = ST._pair_sums_bitset(v, g, q, 9)
    np.testing.assert_array_equal(same[2], v)
    np.testing.assert_array_equal(same[3], np.ones(g.size))


def test_clustered_interval_unchanged_by_the_bitset_path(monkeypatch):
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 7, 3000)
    g = np.repeat(np.arange(lengths.size), lengths)
    p = rng.integers(0, 12, g.size)
    v = rng.exponential(2.0, g.size)
    kw = dict(groups=g, by=(p, pd.RangeIndex(12)), n_boot=100, seed=2, normal_min_units=200)
    fast = ST.bootstrap_mean_ci(v, **kw)
    monkeypatch.setattr(ST, "_pair_sums_bitset", _sort_path)     # the sort of every pair
    slow = ST.bootstrap_mean_ci(v, **kw)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)


def _sort_path(v, g, p, n_strata):
    key = g * n_strata + p
    perm = np.argsort(key, kind="stable")
    ks = key[perm]
    starts = np.flatnonzero(np.concatenate(([True], ks[1:] != ks[:-1])))
    pk = ks[starts]
    return (pk % n_strata, pk // n_strata, np.add.reduceat(v[perm], starts),
            np.diff(np.append(starts, v.size)).astype(np.float64))


@pytest.mark.parametrize("cal", [VietnamCalendar(), continuous()])
def test_working_ns_and_seconds_equal_the_two_passes(cal):
    rng = np.random.default_rng(1)
    t = pd.Timestamp("2025-01-01", tz="Asia/Ho_Chi_Minh")
    offs = rng.integers(0, 400 * 86_400, 50_000) * 1_000_000_000 + rng.integers(0, 10**9, 50_000)
    ts = pd.Series(t + pd.to_timedelta(offs, unit="ns"))
    # exact office edges (the close of a full day maps to (days + 1, 0)) and missing values
    ts.iloc[:4] = pd.to_datetime(["2025-03-04 17:00", "2025-03-04 11:30", "2025-03-04 07:00",
                                  "2025-03-08 17:00"]).tz_localize("Asia/Ho_Chi_Minh")
    ts.iloc[5] = pd.NaT
    ns, sec = cal.to_working_ns_and_seconds(ts)
    ref_ns = cal.to_working_ns(ts)
    L_ns = int(round(cal.seconds_per_day * 1e9))
    days, intra = np.divmod(ref_ns, L_ns)
    ref = days.astype(np.float64) * cal.seconds_per_day + intra / 1e9
    ref[ref_ns == np.iinfo(np.int64).min] = np.nan
    np.testing.assert_array_equal(ns, ref_ns)
    np.testing.assert_array_equal(sec, ref)


def test_exact_group_quantiles_radix_path():
    rng = np.random.default_rng(2)
    v = rng.exponential(1.0, 30_000)
    g = rng.integers(0, 40, v.size)
    q = B.group_quantiles(v, g, 41, (0.5, 0.9))
    for k in range(40):
        x = np.sort(v[g == k])
        for j, qq in enumerate((0.5, 0.9)):
            pos = qq * (x.size - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, x.size - 1)
            assert q[k, j] == x[lo] * (1 - (pos - lo)) + x[hi] * (pos - lo)
    assert np.isnan(q[40]).all()


def test_wip_consuming_equals_wip_at_arrival():
    rng = np.random.default_rng(4)
    row = rng.integers(0, 5, 2000)
    arrive = rng.uniform(0, 1e6, row.size)
    depart = arrive + rng.exponential(1e4, row.size)
    query = np.sort(rng.choice(row.size, 300, replace=False))
    ref = B.wip_at_arrival(row, arrive, depart, query)
    got = B._wip_consuming(row, arrive.copy(), depart.copy(), query)
    np.testing.assert_array_equal(got, ref)
    # brute force for a few items
    for i in query[:20]:
        same = (row == row[i]) & (arrive <= arrive[i]) & (np.maximum(depart, arrive) > arrive[i])
        assert ref[np.searchsorted(query, i)] == max(int(same.sum()) - 1, 0)
