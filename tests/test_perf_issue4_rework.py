"""Issue 4 performance path of tm.rework (tthc_mining.rework.blocks): the loop kernels run on
the dossiers that can hold a loop, the whole log only through its codes. Every shortcut is
checked here against the whole-log computation it replaces:

* the loop subset's segments equal ``segments(log)`` at its rows (working time, owners,
  hand-overs), with the log's own calendar and with the 24x7 one;
* ``repeated_cases`` (bit masks, and the hash path beyond 64 steps) against a plain count;
* ``learned_order_blocks`` against ``detect.learned_order`` on the whole log's occurrences;
* ``pingpong_rows`` against ``detect.pingpong`` with the masks;
* ``back_edges`` (blocked table) against an event-by-event comparison of the order;
* ``tm.rework`` on a fresh log, on a log whose segments are cached, and on two threads give
  the same tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
import tthc_mining.rework.report as R
from tthc_mining import schema as S
from tthc_mining.calendar import continuous
from tthc_mining.rework import blocks as B
from tthc_mining.rework import detect as D
from tthc_mining.segments import segments

from test_rework import make_log

# loops last: patterns adds its pattern column
TABLES = ("by_case", "by_activity", "back_edges", "pingpong", "order", "patterns", "triggers",
          "summary", "loops")


@pytest.fixture(scope="module")
def province():
    log, _ = tm.synth.province(3000, seed=11)
    return log


def random_log(seed, n_cases=300, n_acts=6, n_units=3, calendar=None, with_proc=True):
    rng = np.random.default_rng(seed)
    rows = []
    acts = [f"A{i}" for i in range(n_acts)] + ["Yêu cầu bổ sung hồ sơ", "Nhận hồ sơ bổ sung"]
    for c in range(n_cases):
        h = 0.0
        for _ in range(int(rng.integers(1, 12))):
            h += float(rng.exponential(5.0))
            u = None if rng.random() < 0.05 else f"U{rng.integers(n_units)}"
            r = None if rng.random() < 0.05 else f"r{rng.integers(4)}"
            rows.append((f"c{c:04d}", acts[int(rng.integers(len(acts)))], r, u, h))
    extra = None
    if with_proc:
        proc = {f"c{c:04d}": (None if rng.random() < 0.1 else f"P{rng.integers(3)}")
                for c in range(n_cases)}
        extra = {S.PROCEDURE: [proc[r[0]] for r in sorted(rows, key=lambda x: (x[0], x[4]))]}
    log = make_log(rows, calendar=calendar)
    if extra:
        log.events[S.PROCEDURE] = extra[S.PROCEDURE]
    return log


def assert_reports_equal(a, b):
    for t in TABLES:
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True, obj=t)


# ---------------------------------------------------------------------------------- subset
@pytest.mark.parametrize("which", ["province", "random_vn", "random_24x7"])
def test_subset_segments_equal_the_logs_segments(which, province):
    if which == "province":
        log = province
    else:
        cal = None if which == "random_vn" else continuous()
        log = random_log(3, calendar=cal)
        if which == "random_vn":
            log = tm.DossierLog(events=log.events, calendar=tm.VietnamCalendar())
    fresh = tm.DossierLog(events=log.events, calendar=log.calendar)
    blocks = B.case_blocks(fresh)
    codes = D.event_codes(fresh)
    sel = np.flatnonzero(B.repeated_cases(blocks))
    assert 0 < sel.size < blocks.n_cases
    sblk, rows = B.subset_blocks(blocks, sel)
    sub = B.subset_segments(fresh, sblk, rows, codes.unit[rows])
    assert "segments" not in fresh._cache          # computed on the rows, not the log
    full = segments(tm.DossierLog(events=log.events, calendar=log.calendar))
    np.testing.assert_array_equal(blocks.case, full.case)
    np.testing.assert_array_equal(blocks.case_start, full.case_start)
    np.testing.assert_array_equal(sub.activity, full.activity[rows])
    np.testing.assert_array_equal(sub.is_first, full.is_first[rows])
    np.testing.assert_array_equal(sub.seg_s, full.seg_s[rows])        # NaN at the same places
    np.testing.assert_array_equal(sub.w_end, full.w_end[rows])
    np.testing.assert_array_equal(sub.owner, full.owner[rows])
    np.testing.assert_array_equal(sub.handover, full.handover[rows])
    np.testing.assert_array_equal(sel[sub.case], full.case[rows])
    # seconds since the previous event at arbitrary non-first rows
    nf = np.flatnonzero(~full.is_first)[::7]
    np.testing.assert_array_equal(B.seg_seconds_at(fresh, nf), full.seg_s[nf])


def test_repeated_cases_against_plain_count():
    for seed, n_acts in ((1, 6), (2, 70)):             # 70 steps: the hash path
        log = random_log(seed, n_acts=n_acts)
        blocks = B.case_blocks(log)
        got = B.repeated_cases(blocks)
        ev = log.events
        want = (ev.groupby(S.CASE, observed=True, sort=True)[S.ACTIVITY]
                .agg(lambda s: s.duplicated().any()))
        np.testing.assert_array_equal(got, want.reindex(blocks.case_ids).to_numpy(dtype=bool))
        assert got.any() and not got.all()


def whole_log_occurrences(log):
    full = segments(tm.DossierLog(events=log.events, calendar=log.calendar))
    return full, D.occurrences(full)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_learned_order_blocks_equals_learned_order(seed):
    log = random_log(seed)
    full, occ = whole_log_occurrences(log)
    codes = D.event_codes(log)
    n_proc = len(codes.procedures)
    proc = np.where(codes.procedure >= 0, codes.procedure, n_proc)
    want = D.learned_order(full, occ, proc, n_proc + 1)
    blocks = B.case_blocks(tm.DossierLog(events=log.events, calendar=log.calendar))
    reexec = np.flatnonzero(occ.occ > 0)
    got = B.learned_order_blocks(blocks, reexec, proc, n_proc + 1)
    np.testing.assert_array_equal(got, want)
    assert np.isfinite(got).sum() > n_proc


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_pingpong_rows_and_back_edges_against_whole_log(seed):
    log = random_log(seed, n_units=2)       # two units: many X-Y-X returns
    full, occ = whole_log_occurrences(log)
    codes = D.event_codes(log)
    n_proc = len(codes.procedures)
    proc = np.where(codes.procedure >= 0, codes.procedure, n_proc)
    order = D.learned_order(full, occ, proc, n_proc + 1)
    be = D.back_edges(full, order, proc)
    # back-edges: event by event
    prev = full.prev_activity
    p = np.maximum(proc, 0)
    with np.errstate(invalid="ignore"):
        want = ~full.is_first & (order[p, full.activity] < order[p, np.maximum(prev, 0)])
    np.testing.assert_array_equal(be.mask, want)
    np.testing.assert_array_equal(be.rows, np.flatnonzero(want))
    assert want.any()
    sup = codes.is_request | codes.is_received
    rework = (occ.occ > 0) | be.mask
    a = D.pingpong(full, codes.unit, supplement=sup, rework=rework)
    b = D.pingpong_rows(full, codes.unit, np.flatnonzero(sup), np.flatnonzero(rework))
    assert a.rows.size > 0
    for x, y in ((a.per_case, b.per_case), (a.rows, b.rows), (a.x, b.x), (a.y, b.y),
                 (a.detour_rows[0], b.detour_rows[0]), (a.detour_rows[1], b.detour_rows[1]),
                 (a.trigger, b.trigger)):
        np.testing.assert_array_equal(x, y)


def test_pingpong_rows_long_visits():
    """Visits longer than the walk-back's 64 steps fall back to the visit starts."""
    rows = []
    for c in range(3):
        h = 0
        for unit, k in (("X", 3), ("Y", 100 + 30 * c), ("X", 2)):
            for i in range(k):
                h += 1
                rows.append((f"c{c}", f"S{unit}{i % 3}", "r1", unit, h))
        rows.append((f"c{c}", "SX0", "r1", "X", h + 1))
    log = make_log(rows)
    full, occ = whole_log_occurrences(log)
    codes = D.event_codes(log)
    rework = occ.occ > 0
    a = D.pingpong(full, codes.unit, rework=rework)
    b = D.pingpong_rows(full, codes.unit, None, np.flatnonzero(rework))
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.detour_rows[0], b.detour_rows[0])
    assert a.per_case.tolist() == [1, 1, 1]


# ---------------------------------------------------------------------------------- tm.rework
def test_rework_fresh_cached_segments_and_threads_agree(province, monkeypatch):
    fresh = tm.DossierLog(events=province.events, calendar=province.calendar,
                          catalog=province.catalog)
    a = tm.rework(fresh, n_boot=30)
    cached = tm.DossierLog(events=province.events, calendar=province.calendar,
                           catalog=province.catalog)
    segments(cached)                       # the subset then reads the cached segments
    b = tm.rework(cached, n_boot=30)
    monkeypatch.setattr(R, "PARALLEL_MIN_EVENTS", 0)   # two threads even on a small log
    c = tm.rework(tm.DossierLog(events=province.events, calendar=province.calendar,
                                catalog=province.catalog), n_boot=30)
    assert a.by_case["n_loops"].sum() > 0 and a.by_case["n_pingpong"].sum() > 0
    assert_reports_equal(a, b)
    assert_reports_equal(a, c)


def test_rework_does_not_build_the_logs_segments(province):
    """The timed call reads the working time of the loop subset only; the clock (lazy) builds
    the log's segments on first access."""
    log = tm.DossierLog(events=province.events, calendar=province.calendar,
                        catalog=province.catalog)
    r = tm.rework(log, n_boot=20)
    assert "segments" not in log._cache
    assert ("working_ns", S.TIMESTAMP) not in log._cache
    r.clock
    assert "segments" in log._cache


class _FloatAxisCalendar:
    """A calendar without the exact working-ns axis (duck-typed): the subset then takes the
    whole log's segments."""

    def __init__(self, cal):
        self._cal = cal

    def __getattr__(self, name):
        if name in ("to_working_ns", "to_working_ns_and_seconds"):
            raise AttributeError(name)
        return getattr(self._cal, name)


def test_rework_with_a_calendar_without_exact_axis(province):
    cal = _FloatAxisCalendar(province.calendar)
    log = tm.DossierLog(events=province.events, catalog=province.catalog)
    log.calendar = cal
    r = tm.rework(log, n_boot=20, timing=False)
    assert "segments" in log._cache                  # the fallback: the whole log's segments
    ref = tm.rework(tm.DossierLog(events=province.events, calendar=province.calendar,
                                  catalog=province.catalog), n_boot=20, timing=False)
    a, b = r.by_case, ref.by_case
    for c in a.columns:
        if pd.api.types.is_float_dtype(a[c]):
            np.testing.assert_allclose(a[c], b[c], rtol=1e-9, atol=1e-6, err_msg=c)
        else:
            assert a[c].equals(b[c]), c
