"""The compiled segment and working-time kernels (``kernels/calendar.py``, ``kernels/segments.py``)
against references written the obvious way in numpy: the exact axis from ``to_working_parts``,
the segment durations from it, the owners from the clock-state forward fill; with missing
start and end times, dossiers of one event, non-contiguous case codes, a DST zone, and the
rows shared by two threads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
import tthc_mining.parallel as parallel
from tthc_mining import schema as S
from tthc_mining import segments as SG
from tthc_mining.calendar import WorkingCalendar, continuous

NAT = np.iinfo(np.int64).min


@pytest.fixture(scope="module")
def province():
    return tm.synth.province(1_200, seed=21).log


def _with_gaps(events: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Some start and end times missing, some dossiers cut to their first event, one category
    of the case column unused (non-contiguous codes)."""
    rng = np.random.default_rng(seed)
    ev = events.copy()
    n = len(ev)
    ev.loc[ev.index[rng.choice(n, n // 20, replace=False)], S.START] = pd.NaT
    ev.loc[ev.index[rng.choice(n, n // 50, replace=False)], S.TIMESTAMP] = pd.NaT
    cases = ev[S.CASE].cat.categories
    drop = ev[S.CASE].isin(cases[1:2])                       # a gap in the codes
    single = ev[S.CASE].isin(cases[5::40])                   # one-event dossiers
    later = ev.groupby(S.CASE, observed=True).cumcount() > 0
    return ev[~drop & ~(single & later)].reset_index(drop=True)


def _exact_axis(cal, col: pd.Series) -> np.ndarray:
    days, intra = cal.to_working_parts(col)
    L_ns = int(round(cal.seconds_per_day * 1e9))
    nat = np.isnan(days)
    out = np.where(nat, 0, days).astype(np.int64) * L_ns + np.where(nat, 0, intra).astype(np.int64)
    out[nat] = NAT
    return out


def _reference(log) -> dict:
    """The segment durations and float axis as the numpy code computed them."""
    ev, cal = log.events, log.calendar
    case = ev[S.CASE].cat.codes.to_numpy()
    is_first = np.ones(len(ev), dtype=bool)
    is_first[1:] = case[1:] != case[:-1]
    e = _exact_axis(cal, ev[S.TIMESTAMP])
    s = _exact_axis(cal, ev[S.START])

    def diff(a, b, shift):
        out = np.full(len(a), np.nan)
        if shift:
            x, y, o = a[1:], b[:-1], out[1:]
        else:
            x, y, o = a, b, out
        ok = (x != NAT) & (y != NAT)
        o[ok] = (x[ok] - y[ok]) / 1e9
        return out

    seg = diff(e, e, True)
    seg[is_first] = np.nan
    wait = diff(s, e, True)
    wait[is_first] = np.nan
    wait[s == NAT] = seg[s == NAT]
    proc = diff(e, s, False)
    L_ns = int(round(cal.seconds_per_day * 1e9))

    def seconds(w):
        d, r = np.divmod(w, L_ns)
        out = d.astype(np.float64) * cal.seconds_per_day + r / 1e9
        out[w == NAT] = np.nan
        return out
    return {"seg_s": seg, "wait_s": wait, "proc_s": proc, "w_end": seconds(e),
            "w_start": seconds(s), "is_first": is_first}


def _owner_reference(ev: pd.DataFrame, is_first: np.ndarray) -> np.ndarray:
    """The clock-state forward fill and the after-finish rule, row by row."""
    role = ev[S.ROLE].astype(object).to_numpy()
    ts = ev[S.TIMESTAMP].array.as_unit("ns").asi8
    rep = ev[S.FINISHED_REPORTED].array.as_unit("ns").asi8 \
        if S.FINISHED_REPORTED in ev.columns else None
    sets = {S.ROLE_SUPPLEMENT_REQUEST: SG.OWNER_CITIZEN, S.ROLE_SUSPENDED: SG.OWNER_THIRD,
            S.ROLE_SUPPLEMENT_RECEIVED: SG.OWNER_AGENCY, S.ROLE_RESUMED: SG.OWNER_AGENCY}
    starts = list(np.flatnonzero(is_first)) + [len(ev)]
    out = np.zeros(len(ev), dtype=np.int8)
    for a, b in zip(starts[:-1], starts[1:]):
        fin = next((ts[j] for j in range(a, b) if role[j] == S.ROLE_FINISHED), NAT)
        if fin == NAT and rep is not None:
            fin = rep[a]
        state = SG.OWNER_AGENCY
        for j in range(a, b):
            if j > a:
                out[j] = SG.OWNER_CITIZEN if fin != NAT and ts[j - 1] >= fin else state
            state = sets.get(role[j], state)
    return out


CALENDARS = {"VN": None, "24x7": continuous(),
             "Amsterdam": WorkingCalendar([("08:00", "12:00"), ("13:00", "17:30")],
                                          tz="Europe/Amsterdam", holidays=None)}


@pytest.mark.parametrize("threads", [False, True], ids=["one-thread", "two-threads"])
@pytest.mark.parametrize("cal", list(CALENDARS), ids=list(CALENDARS))
def test_segments_equal_the_numpy_reference(province, cal, threads, monkeypatch):
    if threads:   # the rows shared by two threads even on a small log
        monkeypatch.setattr(SG, "PARALLEL_MIN_EVENTS", 0)
        monkeypatch.setattr(parallel, "PARALLEL_MIN_EVENTS", 0)
    ev = _with_gaps(province.events, seed=3)
    log = tm.DossierLog(events=ev, calendar=CALENDARS[cal] or province.calendar,
                        catalog=province.catalog)
    ref = _reference(log)
    seg = SG.segments(log)
    for name, want in ref.items():
        np.testing.assert_array_equal(getattr(seg, name), want, err_msg=name)
    assert seg.n_cases == int(ref["is_first"].sum())
    np.testing.assert_array_equal(seg.case_start[:-1], np.flatnonzero(ref["is_first"]))
    np.testing.assert_array_equal(seg.case, np.cumsum(ref["is_first"]) - 1)
    np.testing.assert_array_equal(seg.owner, _owner_reference(ev, ref["is_first"]))
    g = ev[S.GROUP].cat.codes.to_numpy().astype(np.int64)
    hand = np.zeros(len(ev), dtype=bool)
    hand[1:] = (g[1:] != g[:-1]) & (g[1:] >= 0) & (g[:-1] >= 0)
    hand[ref["is_first"]] = False
    np.testing.assert_array_equal(seg.handover, hand)
    # the float axis is cached on the log, the int64 axis is not kept
    assert log.working(S.TIMESTAMP) is seg.w_end
    assert ("working_ns", S.TIMESTAMP) not in log._cache
    # lazily built start arrays: the same values
    lazy = SG.segments(tm.DossierLog(events=ev, calendar=log.calendar,
                                     catalog=province.catalog), lazy_start=True)
    for name in ("w_start", "wait_s", "proc_s", "seg_s", "w_end"):
        np.testing.assert_array_equal(getattr(lazy, name), ref[name], err_msg=name)


def test_owners_of_a_row_subset_and_without_roles(province):
    ev = province.events
    case = ev[S.CASE].cat.codes.to_numpy()
    is_first = np.ones(len(ev), dtype=bool)
    is_first[1:] = case[1:] != case[:-1]
    blocks = np.split(np.arange(len(ev)), np.flatnonzero(is_first)[1:])
    rows = np.concatenate(blocks[3::4])                     # whole dossiers, in order
    sub_first = np.zeros(rows.size, dtype=bool)
    sub_first[np.cumsum([0] + [b.size for b in blocks[3::4]])[:-1]] = True
    sub_case = np.cumsum(sub_first) - 1
    got = SG.owners_of(ev, rows, sub_case, sub_first)
    np.testing.assert_array_equal(got, _owner_reference(ev.iloc[rows], sub_first))
    # a role column of strings, and no role column at all
    ev2 = ev.assign(**{S.ROLE: ev[S.ROLE].astype(object)})
    np.testing.assert_array_equal(SG.owners_of(ev2, None, case, is_first),
                                  _owner_reference(ev, is_first))
    ev3 = ev.drop(columns=[S.ROLE])
    got = SG.owners_of(ev3, None, case, is_first)
    assert set(np.unique(got)) <= {SG.OWNER_AGENCY, SG.OWNER_CITIZEN}


def test_empty_and_one_event_logs(province):
    ev = province.events
    for part in (ev.iloc[:0], ev.iloc[:1]):
        log = tm.DossierLog(events=part.reset_index(drop=True), calendar=province.calendar,
                            catalog=province.catalog)
        seg = SG.segments(log)
        assert len(seg.seg_s) == len(part) and np.isnan(seg.seg_s).all()
        assert seg.case_start.tolist() == ([0] if len(part) == 0 else [0, 1])
        assert seg.is_first.tolist() == [True] * len(part)
