"""The discover kernels (``tthc_mining.kernels.discovery``) give bit for bit the numbers of the
numpy code they replaced: ``group_stats`` against that code's packed-key sort (kept here as the
reference), on inputs that exercise the selection (large groups, ties, sorted and reversed
runs, negative values and -0.0), and the map's dossier counts against a pandas groupby."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import discovery as D


# ---------------------------------------------------------------- the former numpy group_stats
def _sortable(values):
    if values.size and values.min() >= 0:
        out = (values + 0.0).view(np.uint64)
        out |= np.uint64(1 << 63)
        return out
    bits = values.view(np.int64)
    return (bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))).view(np.uint64) \
        ^ np.uint64(1 << 63)


def _read(at, n, quantiles):
    res = np.full((len(n), len(quantiles)), np.nan)
    idx = np.flatnonzero(n > 0)
    starts = np.zeros(len(n), dtype=np.int64)
    if len(n) > 1:
        starts[1:] = np.cumsum(n)[:-1]
    for j, q in enumerate(quantiles):
        pos = q * (n[idx] - 1).astype(np.float64)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n[idx] - 1)
        frac = pos - lo
        a, b = at(starts[idx] + lo), at(starts[idx] + hi)
        res[idx, j] = a + (b - a) * frac
    return res


def reference_group_stats(group, values, n_groups, quantiles=(0.5, 0.9), bits_max=24):
    group = np.asarray(group, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    use = (group >= 0) & ~np.isnan(values)
    g, v = group[use], values[use]
    n = np.bincount(g, minlength=n_groups)[:n_groups].astype(np.int64)
    s = np.bincount(g, weights=v, minlength=n_groups)[:n_groups].astype(np.float64)
    mean = np.full(n_groups, np.nan)
    mean[n > 0] = s[n > 0] / n[n > 0]
    out = {"n": n, "sum": s, "mean": mean}
    bits = max(int(n_groups - 1).bit_length(), 1)
    if not np.any(n > 0):
        qv = np.full((n_groups, len(quantiles)), np.nan)
    elif bits <= bits_max:
        keys = _sortable(v) >> np.uint64(bits)
        keys |= g.astype(np.uint64) << np.uint64(64 - bits)
        keys.sort()
        mask = np.uint64((1 << (64 - bits)) - 1)
        sh = np.uint64(bits)
        bits_of = lambda k: (k ^ np.uint64(1 << 63)).view(np.int64)     # noqa: E731
        unsort = lambda k: (bits_of(k) ^ ((bits_of(k) >> 63)            # noqa: E731
                                          & np.int64(0x7FFFFFFFFFFFFFFF))).view(np.float64)
        qv = _read(lambda pos: unsort((keys[pos] & mask) << sh), n, quantiles)
    else:
        order = np.argsort(v)
        order = order[np.argsort(g[order], kind="stable")]
        sv = v[order]
        qv = _read(lambda pos: sv[pos], n, quantiles)
    for j, q in enumerate(quantiles):
        out[f"q{int(round(q * 100))}"] = qv[:, j]
    return out


def assert_bits_equal(got, exp):
    assert set(got) == set(exp)
    for k in exp:
        a, b = np.asarray(got[k]), np.asarray(exp[k])
        assert a.shape == b.shape, k
        if a.dtype.kind == "f":
            # bit for bit, except the sign of a zero (it never changes an interpolated quantile)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=k)
            ok = ~np.isnan(a)
            same = (a[ok].view(np.uint64) == b[ok].view(np.uint64)) | ((a[ok] == 0) & (b[ok] == 0))
            assert same.all(), (k, a[ok][~same][:5], b[ok][~same][:5])
        else:
            np.testing.assert_array_equal(a, b, err_msg=k)


def _cases(rng):
    n = 120_000
    yield "big groups", rng.integers(-1, 5, n), rng.lognormal(8, 2, n)
    yield "ties", rng.integers(0, 3, n), rng.integers(0, 7, n).astype(float)
    yield "all equal", np.zeros(n, np.int64), np.full(n, 3600.0)
    yield "sorted", np.repeat(np.arange(4), n // 4), np.arange(n, dtype=float)
    yield "reversed", np.repeat(np.arange(4), n // 4), np.arange(n, 0, -1, dtype=float)
    v = rng.normal(0, 1e4, n)
    v[rng.random(n) < 0.1] = np.nan
    v[rng.random(n) < 0.05] = -0.0
    v[rng.random(n) < 0.05] = 0.0
    yield "negative and signed zeros", rng.integers(-1, 9, n), v
    w = np.abs(v)
    w[rng.random(n) < 0.05] = -0.0
    yield "positive and -0.0", rng.integers(-1, 9, n), w
    yield "two values", rng.integers(0, 2, n), np.where(rng.random(n) < 0.5, 0.0, 86400.0)
    yield "many small groups", rng.integers(0, 5000, n), rng.exponential(100, n)
    yield "empty", np.zeros(0, np.int64), np.zeros(0)


@pytest.mark.parametrize("quantiles", [(0.5, 0.9), (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)])
def test_group_stats_bit_identical_to_the_packed_sort(quantiles):
    rng = np.random.default_rng(11)
    for name, g, v in _cases(rng):
        G = int(g.max()) + 2 if g.size else 0
        exp = reference_group_stats(g, v, G, quantiles)
        assert_bits_equal(D.group_stats(g, v, G, quantiles), exp)


def test_group_stats_exact_path_and_many_groups(monkeypatch):
    rng = np.random.default_rng(12)
    g = rng.integers(-1, 40, 50_000)
    v = rng.lognormal(5, 3, g.size)
    monkeypatch.setattr(D, "_KEY_BITS_MAX", 0)
    assert_bits_equal(D.group_stats(g, v, 41), reference_group_stats(g, v, 41, bits_max=0))
    monkeypatch.undo()
    big = rng.integers(0, 1 << 25, 20_000)                # 25 bits: exact keys
    assert_bits_equal(D.group_stats(big, v[:big.size], 1 << 25),
                      reference_group_stats(big, v[:big.size], 1 << 25))


def test_sorted_group_quantiles_equals_group_stats():
    rng = np.random.default_rng(13)
    g = rng.integers(0, 6, 40_000)
    v = rng.exponential(50, g.size)
    counts = np.bincount(g, minlength=7)
    got = D.sorted_group_quantiles(g, v, counts, (0.5, 0.9))
    exp = D.group_stats(g, v, 7)
    np.testing.assert_array_equal(got[:, 0], exp["q50"])
    np.testing.assert_array_equal(got[:, 1], exp["q90"])


def test_map_dossier_counts_equal_a_groupby():
    log = tm.synth.province(2000, seed=4).log
    pm = tm.discover(log)
    ev = log.events
    case, act = ev["case:concept:name"].astype(str), ev["concept:name"].astype(str)
    same = case.eq(case.shift())
    pairs = pd.DataFrame({"case": case[same], "source": act.shift()[same], "target": act[same]})
    exp = pairs.groupby(["source", "target"])["case"].nunique().to_dict()
    assert dict(zip(zip(pm.dfg["source"], pm.dfg["target"]), pm.dfg["cases"].tolist())) == exp
    a_exp = pd.DataFrame({"case": case, "a": act}).groupby("a")["case"].nunique().to_dict()
    assert dict(zip(pm.activities["activity"], pm.activities["cases"].tolist())) == a_exp
    # the kept dossiers only (top_variants)
    top = tm.discover(log, top_variants=3)
    assert top.hidden["events"] + top.n_events == len(ev)
    assert top.dfg["cases"].max() <= top.n_cases


@pytest.mark.parametrize("n_units", [5, 300, 40_000])      # int8, int16, int32 unit codes
def test_dominant_unit_any_code_width(n_units):
    from tthc_mining import DossierLog
    ev = tm.synth.province(400, seed=6).log.events.copy()
    rng = np.random.default_rng(n_units)
    cats = [f"u{i:05d}" for i in range(n_units)]
    codes = rng.integers(-1, min(n_units, 7), len(ev))       # -1: no unit
    ev["org:group"] = pd.Categorical.from_codes(codes, categories=cats)
    pm = tm.discover(DossierLog(events=ev))
    a = ev["concept:name"].astype(str).to_numpy()
    for act, unit in zip(pm.activities["activity"], pm.activities["unit"]):
        c = np.bincount(codes[(a == act) & (codes >= 0)], minlength=n_units)
        assert unit == (cats[int(c.argmax())] if c.max() > 0 else None)


def test_select_on_adversarial_orders():
    from tthc_mining.kernels import discovery as K
    n = 60_000
    killer = np.zeros(n, np.int64)                         # a median-of-three killer
    for i in range(1, n // 2 + 1):
        if i % 2 == 1:
            killer[i - 1], killer[i] = i, n // 2 + i
        killer[n // 2 + i - 1] = 2 * i
    rng = np.random.default_rng(14)
    for a in (killer, np.concatenate([np.arange(n // 2), np.arange(n // 2, 0, -1)]),
              rng.integers(0, 3, n), np.arange(n), np.full(n, 7)):
        a = a.astype(np.uint64)
        for k in (0, 1, n // 2, int(0.9 * (n - 1)), n - 1):
            b = a.copy()
            K._select(b, 0, n, k)
            assert b[k] == np.partition(a, k)[k]
            assert (b[:k] <= b[k]).all() and (b[k + 1:] >= b[k]).all()
