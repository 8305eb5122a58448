"""The queue evidence of tm.bottlenecks counts the backlogs over bands of queues (ranges of queue
codes, each with the sort keys of its own events only): the same rho/p, bit for bit, as a plain
reference over every event at once (pd.factorize of the (row, officer) pairs, the sample drawn
in event order, :func:`tthc_mining.bottlenecks.wip_at_arrival` on the composite keys), with one
band, many bands, and when the bands are found to touch (the one-band fallback); the queue codes
from the direct table of the pairs and from the hash table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import bottlenecks as B
from tthc_mining import schema as S
from tthc_mining.kernels import bottlenecks as K


@pytest.fixture(scope="module")
def log():
    return tm.synth.province(1500, seed=11).log


def _captured_args(log, by, monkeypatch):
    """The arguments tm.bottlenecks passes to _queue_evidence."""
    cap = {}
    orig = B._queue_evidence

    def spy(*a):
        cap["args"] = a
        return orig(*a)

    with monkeypatch.context() as m:
        m.setattr(B, "_queue_evidence", spy)
        tm.bottlenecks(log, by=by, n_boot=0)
    return cap["args"]


def _reference(log, seg, idx, key, R, seed):
    """Every item's keys at once (the computation before the bands), in plain numpy/pandas."""
    rho, p = np.full(R, np.nan), np.full(R, np.nan)
    column = S.RESOURCE if S.RESOURCE in log.events.columns else S.GROUP
    w_end = np.asarray(seg.w_end, dtype=np.float64)
    w_start = np.asarray(seg.w_start, dtype=np.float64)
    idx = np.asarray(idx, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    if column in log.events.columns:
        sub = np.asarray(B._codes_view(log, column)[0], dtype=np.int64)[idx]
        V = len(B._codes_view(log, column)[1])
        qcode = pd.factorize(key * (V + 1) + sub + 1)[0]
    else:
        qcode = key.copy()
    a = w_end[idx - 1]
    d = w_start[idx]
    d = np.where(np.isfinite(d), d, w_end[idx])
    ok = np.isfinite(a) & np.isfinite(d)
    if not ok.any():
        return rho, p
    a, d, qcode, row = a[ok], d[ok], qcode[ok], key[ok]
    cnt = np.bincount(row, minlength=R)
    frac = np.minimum(1.0, B.KIND_SAMPLE / np.maximum(cnt, 1))
    total = float((frac * cnt).sum())
    if total > B.KIND_SAMPLE_TOTAL:
        frac *= B.KIND_SAMPLE_TOTAL / total
    if (frac >= 1.0).all():
        query = np.arange(a.size)
    else:
        u = np.random.default_rng(seed).random(a.size, dtype=np.float32)
        query = np.flatnonzero(u < frac.astype(np.float32)[row])
    wip = B.wip_at_arrival(qcode, a, d, query).astype(np.float64)
    wait = np.maximum(d[query] - a[query], 0.0)
    return B._spearman_by_group(wip, wait, row[query], R)


def _assert_same(got, ref):
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)         # NaN positions equal, values bit-identical


@pytest.mark.parametrize("by", ["activity", "unit", "resource", "transition"])
@pytest.mark.parametrize("sample", [None, 150])
@pytest.mark.parametrize("band", [1 << 20, 1, 40, 700])
@pytest.mark.parametrize("lut", [1 << 20, 0])     # queue codes from a direct table / a hash
def test_bands_equal_reference(log, by, sample, band, lut, monkeypatch):
    if sample is not None:                          # sampled rows (the 860k log's path)
        monkeypatch.setattr(B, "KIND_SAMPLE", sample)
        monkeypatch.setattr(B, "KIND_SAMPLE_TOTAL", 5 * sample)
    args = _captured_args(log, by, monkeypatch)
    ref = _reference(*args)
    assert np.isfinite(ref[0]).any()
    monkeypatch.setattr(K, "QUEUE_BAND", band)
    monkeypatch.setattr(K, "QUEUE_MAX_BANDS", 1 << 30)
    monkeypatch.setattr(K, "QUEUE_LUT", lut)
    _assert_same(B._queue_evidence(*args), ref)


def test_many_bands_are_used(log, monkeypatch):
    args = _captured_args(log, "activity", monkeypatch)
    monkeypatch.setattr(K, "QUEUE_BAND", 50)
    monkeypatch.setattr(K, "QUEUE_MAX_BANDS", 1 << 30)
    calls = []
    orig = K.queue_band

    def spy(*a):
        calls.append(a[6])
        return orig(*a)

    monkeypatch.setattr(K, "queue_band", spy)
    _assert_same(B._queue_evidence(*args), _reference(*args))
    assert len(calls) > 10 and max(calls) < args[2].size


def test_touching_bands_fall_back_to_one_band(log, monkeypatch):
    """Bands whose keys touch (rounding on a huge axis) are not counted apart: one band."""
    args = _captured_args(log, "activity", monkeypatch)
    monkeypatch.setattr(K, "QUEUE_BAND", 100)
    monkeypatch.setattr(K, "QUEUE_MAX_BANDS", 1 << 30)
    calls = []
    orig = K.queue_band

    def touching(*a):
        ka, kd, lo, hi = orig(*a)
        calls.append(a[6])
        return ka, kd, (-np.inf if len(calls) == 2 else lo), hi

    monkeypatch.setattr(K, "queue_band", touching)
    _assert_same(B._queue_evidence(*args), _reference(*args))
    assert len(calls) == 3 and calls[-1] == int(np.sum(np.isfinite(
        np.asarray(args[1].w_end)[np.asarray(args[2], np.int64) - 1])))


def test_without_officers_and_without_units(log, monkeypatch):
    monkeypatch.setattr(B, "KIND_SAMPLE", 150)
    monkeypatch.setattr(K, "QUEUE_BAND", 300)
    monkeypatch.setattr(K, "QUEUE_MAX_BANDS", 1 << 30)
    for drop in ([S.RESOURCE], [S.RESOURCE, S.GROUP]):
        lg = log.with_events(log.events.drop(columns=drop))
        args = _captured_args(lg, "activity", monkeypatch)
        _assert_same(B._queue_evidence(*args), _reference(*args))


def test_no_items(log, monkeypatch):
    """No event with an arrival and a departure (times missing): NaN rho/p (as before)."""
    from types import SimpleNamespace
    lg, seg, idx, key, R, seed = _captured_args(log, "activity", monkeypatch)
    nan = np.full(np.asarray(seg.w_end).size, np.nan)
    rho, p = B._queue_evidence(lg, SimpleNamespace(w_end=nan, w_start=nan), idx, key, R, seed)
    assert rho.shape == p.shape == (R,) and np.isnan(rho).all() and np.isnan(p).all()


@pytest.mark.parametrize("by", ["activity", "resource"])
def test_departures_from_raw_starts_equal_the_axis(log, by, monkeypatch):
    """A fresh log's segments keep no start-time axis; the queue kernels then map the raw start
    instants themselves (mode 1) and find the same departures as from the axis (mode 0)."""
    monkeypatch.setattr(B, "KIND_SAMPLE", 150)
    monkeypatch.setattr(B, "KIND_SAMPLE_TOTAL", 750)
    lg = log.with_events(log.events)
    args = _captured_args(lg, by, monkeypatch)
    seg = args[1]
    assert seg._w_start is None and ("working", S.START) not in lg._cache
    assert B._departures(lg, seg)[0] == 1
    got = B._queue_evidence(*args)
    ref = _reference(*args)                         # builds seg.w_start
    assert B._departures(lg, seg)[0] == 0
    _assert_same(got, ref)
    _assert_same(B._queue_evidence(*args), ref)
    # without start times: the end is the departure (mode 2)
    lg2 = log.with_events(log.events.drop(columns=[S.START]))
    args2 = _captured_args(lg2, by, monkeypatch)
    assert B._departures(lg2, args2[1])[0] == 2
    _assert_same(B._queue_evidence(*args2), _reference(*args2))


def test_batching_evidence_in_row_bands(log, monkeypatch):
    """The clock-minute clumps are counted over bands of rows: the same shares for any band."""
    want = tm.bottlenecks(log.with_events(log.events), by="activity", n_boot=0)
    for band in (1, 37, 1000):
        monkeypatch.setattr(B, "BATCH_BAND", band)
        got = tm.bottlenecks(log.with_events(log.events), by="activity", n_boot=0)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (want["batch_share"] > 0).any()


def test_unit_codes_read_at_their_own_width(log):
    """The unit codes reach the kernels as their own bytes (int8 / int16 / int32 by the number
    of categories, no widened copy): the same table whatever their width."""
    ev = log.events
    want = tm.bottlenecks(log.with_events(ev), by="activity", n_boot=50)
    cats = list(ev[S.GROUP].cat.categories)
    for extra in (200, 40_000):                   # int16 and int32 codes
        wide = ev.copy()
        wide[S.GROUP] = wide[S.GROUP].cat.add_categories([f"~unused {k}" for k in range(extra)])
        assert wide[S.GROUP].cat.codes.dtype.itemsize > 1
        assert list(wide[S.GROUP].cat.categories)[:len(cats)] == cats
        got = tm.bottlenecks(log.with_events(wide), by="activity", n_boot=50)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
