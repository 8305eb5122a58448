"""The segments keep the dossier and activity codes as int32 (views of the log's own
categorical codes when those are int32) and build the int64 ``case`` / ``activity`` only for
the modules that ask for them: the hot paths (discover, bottlenecks, the overdue flags) hold no
int64 copy of the codes, and every result is the same."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.segments import Segments, segments


def _many_dossiers(n_cases: int = 33_000) -> tm.DossierLog:
    """A log with more than 32,767 dossiers (so its case codes are int32), two to three events
    each, start times on some events."""
    rng = np.random.default_rng(4)
    k = rng.integers(2, 4, n_cases)
    case = np.repeat(np.arange(n_cases), k)
    pos = np.concatenate([np.arange(j) for j in k])
    acts = np.array(["Tiếp nhận", "Thẩm định", "Trả kết quả"], dtype=object)
    base = pd.Timestamp("2025-03-03 08:00", tz="Asia/Ho_Chi_Minh")
    end = base + pd.to_timedelta(case % 500, unit="D") + pd.to_timedelta(pos * 90, unit="min")
    start = end - pd.to_timedelta(30, unit="min")
    df = pd.DataFrame({"case:concept:name": [f"HS{c:06d}" for c in case],
                       "concept:name": acts[pos],
                       "time:timestamp": end,
                       "start_timestamp": start.where(pos % 2 == 1),
                       "org:group": np.where(pos == 1, "Phòng TN", "Bộ phận một cửa")})
    return tm.read_log(df)


@pytest.fixture(scope="module")
def big_log():
    return _many_dossiers()


def _widths(seg: Segments, name: str) -> set[int]:
    return set(seg._codes[name])


def test_case_codes_are_views_of_the_log(big_log):
    log = big_log.with_events(big_log.events)
    col = log.events[S.CASE]
    assert col.array.codes.dtype == np.int32
    seg = segments(log)
    assert seg.case32.dtype == np.int32 and seg.act32.dtype == np.int32
    assert np.shares_memory(seg.case32, col.array.codes)
    # nothing int64 until asked for
    tm.discover(log)
    tm.bottlenecks(log, by="activity", n_boot=50)
    assert 8 not in _widths(seg, "case") and 8 not in _widths(seg, "activity")
    assert ("codes", S.CASE) not in log._cache and ("codes", S.ACTIVITY) not in log._cache
    # the int64 views on demand: the same values
    assert seg.case.dtype == np.int64 and seg.activity.dtype == np.int64
    np.testing.assert_array_equal(seg.case, seg.case32)
    np.testing.assert_array_equal(seg.activity, seg.act32)
    assert seg.case is seg.case                      # built once
    np.testing.assert_array_equal(seg.case, log.codes(S.CASE)[0])
    np.testing.assert_array_equal(seg.activity, log.codes(S.ACTIVITY)[0])


def test_small_log_codes_widened_to_int32():
    log = tm.synth.province(200, seed=2).log
    seg = segments(log)
    assert log.events[S.CASE].array.codes.dtype != np.int32
    assert seg.case32.dtype == np.int32 and seg.case.dtype == np.int64
    np.testing.assert_array_equal(seg.case, np.repeat(np.arange(seg.n_cases),
                                                      np.diff(seg.case_start)))


def test_codes_view_is_a_view_and_codes32(big_log):
    log = big_log.with_events(big_log.events)
    codes, cats = log.codes_view(S.ACTIVITY)
    assert np.shares_memory(codes, log.events[S.ACTIVITY].array.codes)
    assert not codes.flags.writeable
    c32, cats32 = log.codes32(S.ACTIVITY)
    assert c32.dtype == np.int32 and list(cats32) == list(cats)
    np.testing.assert_array_equal(c32, codes)
    assert log.codes32(S.ACTIVITY)[0] is c32         # cached copy of the narrow codes
    case32, _ = log.codes32(S.CASE)
    assert np.shares_memory(case32, log.events[S.CASE].array.codes)   # int32 already: a view


def test_results_equal_with_int64_codes(big_log):
    """The same discover / bottlenecks / timing results whether the segments were given int32
    or int64 codes."""
    a = big_log.with_events(big_log.events)
    b = big_log.with_events(big_log.events)
    seg = segments(b)
    wide = Segments(case=seg.case.copy(), activity=seg.activity.copy(), is_first=seg.is_first,
                    w_end=seg.w_end, w_start=seg.w_start, seg_s=seg.seg_s, wait_s=seg.wait_s,
                    proc_s=seg.proc_s, owner=seg.owner, handover=seg.handover,
                    activities=seg.activities, case_ids=seg.case_ids,
                    case_start=seg.case_start)
    b._cache["segments"] = wide
    assert wide.case32.dtype == np.int32 and wide.case.dtype == np.int64
    pa, pb = tm.discover(a), tm.discover(b)
    pd.testing.assert_frame_equal(pa.dfg, pb.dfg, check_exact=True)
    pd.testing.assert_frame_equal(pa.activities, pb.activities, check_exact=True)
    for by in ("activity", "transition", "unit"):
        pd.testing.assert_frame_equal(tm.bottlenecks(a, by=by, n_boot=50),
                                      tm.bottlenecks(b, by=by, n_boot=50), check_exact=True)
    pd.testing.assert_frame_equal(tm.variants(a), tm.variants(b), check_exact=True)


def test_start_axis_not_kept_and_built_on_demand(big_log):
    """The segments of a log with start times keep the durations, not the start column's axis:
    discover and bottlenecks do not build it; ``seg.w_start`` builds it on first access, bit for
    bit the values ``log.working`` and the eager segment kernel give."""
    from tthc_mining.segments import _Axis
    log = big_log.with_events(big_log.events)
    seg = segments(log)
    tm.discover(log)
    tm.bottlenecks(log, by="activity", n_boot=50)
    assert seg._w_start is None and ("working", S.START) not in log._cache
    other = big_log.with_events(big_log.events)
    eager = _Axis(other, start=True).times(segments(other).is_first, end=True)[2]
    w = seg.w_start
    assert w is seg.w_start and log._cache[("working", S.START)] is w
    np.testing.assert_array_equal(w.view(np.int64), eager.view(np.int64))
    fresh = big_log.with_events(big_log.events)
    np.testing.assert_array_equal(w.view(np.int64), fresh.working(S.START).view(np.int64))
    # a pickled copy carries the built axis, not the builder
    import pickle
    again = pickle.loads(pickle.dumps(segments(big_log.with_events(big_log.events))))
    np.testing.assert_array_equal(again.w_start.view(np.int64), w.view(np.int64))
