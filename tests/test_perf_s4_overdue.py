"""Issue 3, session 4: the faster lean deadline path (``tm.timing.overdue_arrays``) gives the
same per-dossier arrays as before.

* its block kernels equal what they replace, bit for bit (``_to_working_utc`` =
  ``calendar.to_working``; ``_counted_sums`` = ``np.bincount`` of the masked per-event counted
  time; ``_case_first_ns`` / ``_end_of_office_ns`` = the pandas paths);
* ``overdue_arrays`` equals a slow, obvious per-dossier loop (scalar calendar calls, Python
  sums in row order) on synthetic logs, also perturbed so that every branch runs (missing
  first values, no ``case:finished``, withdrawn / refused dossiers, events after ``as_of``),
  and equals ``tm.timing``'s ``case_arrays`` there.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining import timing as T
from tthc_mining.calendar import VietnamCalendar, WorkingCalendar
from tthc_mining.segments import OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD, segments

NAT = np.iinfo(np.int64).min
NS_DAY = 86_400 * 10**9


# ----------------------------------------------------------------------------- kernels
def _random_utc_ns(rng, n, *, nat=0.0, span_years=3, start="2023-01-01"):
    t0 = pd.Timestamp(start, tz="UTC").value
    x = t0 + rng.integers(0, span_years * 365 * NS_DAY, n)
    # many values on slot edges, at midnight and on whole minutes
    k = n // 4
    days = (x[:k] // NS_DAY) * NS_DAY
    edges = np.array([0, 7, 11.5, 13.5, 17, 15, 23.99]) * 3_600 * 10**9
    x[:k] = days + edges[rng.integers(0, len(edges), k)].astype(np.int64) - 7 * 3_600 * 10**9
    if nat:
        x[rng.random(n) < nat] = NAT
    return x


CALENDARS = [
    VietnamCalendar(),
    WorkingCalendar([("08:00", "17:00")], tz="UTC", holidays=None),
    WorkingCalendar([("00:00", "24:00")], weekend=(), holidays=None, tz="Asia/Ho_Chi_Minh"),
    WorkingCalendar([("07:00", "09:00"), ("10:00", "12:00"), ("13:00", "16:30")],
                    tz="Europe/Berlin", holidays=None),    # DST: pandas' local time
]


@pytest.mark.parametrize("cal", CALENDARS, ids=lambda c: f"{c.name}-{c.tz}-{len(c._a)}slots")
@pytest.mark.parametrize("n,nat", [(50_000, 0.0), (40_000, 0.1), (500, 0.2), (12_000, 1.0)])
def test_to_working_utc_equals_the_calendar(cal, n, nat):
    rng = np.random.default_rng(n)
    x = _random_utc_ns(rng, n, nat=nat, start="1999-06-01" if n == 500 else "2023-01-01")
    got = T._to_working_utc(cal, x, cal.tz)
    want = np.asarray(cal.to_working(T._idx_from_ns(x, cal.tz)), dtype=np.float64)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def _counted_reference(w_end, case, case_start, owner, ws, we, o):
    n = len(w_end)
    counted = np.repeat(ws, np.diff(case_start))
    if n > 1:
        np.maximum(w_end[:-1], counted[1:], out=counted[1:])
    counted[case_start[:-1]] = ws
    hi = np.repeat(we, np.diff(case_start))
    np.minimum(w_end, hi, out=hi)
    counted = np.fmax(hi - counted, 0.0)
    return np.bincount(case, weights=np.where(owner == o, counted, 0.0),
                       minlength=len(case_start) - 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_counted_sums_equal_the_full_bincount(seed):
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 30, 20_000)
    lens[::97] = 400                                   # cases longer than a block
    case_start = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    n, nc = int(case_start[-1]), len(lens)
    case = np.repeat(np.arange(nc), lens)
    w_end = np.cumsum(rng.exponential(3_000.0, n))
    w_end[rng.random(n) < 0.05] -= 50_000.0            # not monotone
    w_end[rng.random(n) < 0.01] = np.nan
    owner = rng.choice(np.array([OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD], dtype=np.int8), n,
                       p=[0.8, 0.1, 0.1])
    first, last = case_start[:-1], case_start[1:] - 1
    ws = w_end[first] + rng.normal(0, 2_000.0, nc)
    we = np.where(rng.random(nc) < 0.5, w_end[last] - rng.exponential(5_000.0, nc), w_end[last] + 1)
    we[::11] = ws[::11] - 10.0                          # closed before received
    ws[::13] = np.nan
    for owners in [(OWNER_AGENCY,), (OWNER_AGENCY, OWNER_THIRD), (OWNER_CITIZEN,)]:
        got = T._counted_sums(w_end, case, case_start, owner, ws, we, owners)
        for o, g in zip(owners, got):
            np.testing.assert_array_equal(g, _counted_reference(w_end, case, case_start, owner,
                                                                ws, we, o))


def _toy_events(unit="ns"):
    cases = np.repeat(["a", "b", "c", "d"], [3, 2, 4, 1])
    t = pd.date_range("2025-03-03 08:00", periods=10, freq="7h", tz="Asia/Ho_Chi_Minh")
    col = pd.Series([pd.NaT, t[1], t[2], pd.NaT, pd.NaT, t[5], pd.NaT, t[7], t[8], t[9]],
                    dtype=f"datetime64[{unit}, Asia/Ho_Chi_Minh]")
    return pd.DataFrame({S.CASE: cases, "x": col}), np.repeat(np.arange(4), [3, 2, 4, 1])


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_case_first_ns_equals_the_pandas_path(unit):
    ev, case = _toy_events(unit)
    first_row = np.array([0, 3, 5, 9])
    got = T._case_first_ns(ev, "x", case, 4, first_row, "Asia/Ho_Chi_Minh")
    want = T._aware(T._case_first(ev, "x", case, 4, first_row), "Asia/Ho_Chi_Minh").asi8
    np.testing.assert_array_equal(got, want)
    assert got[1] == NAT and got[0] == ev["x"].iloc[1].value
    # a naive column takes the pandas path
    ev2 = ev.assign(x=ev["x"].dt.tz_localize(None))
    np.testing.assert_array_equal(T._case_first_ns(ev2, "x", case, 4, first_row, "UTC"),
                                  T._aware(T._case_first(ev2, "x", case, 4, first_row), "UTC").asi8)


@pytest.mark.parametrize("with_midnight", [False, True])
def test_end_of_office_ns_equals_the_pandas_path(with_midnight):
    cal = VietnamCalendar()
    rng = np.random.default_rng(3)
    x = _random_utc_ns(rng, 30_000, nat=0.05)
    local = T._idx_from_ns(x, cal.tz).tz_localize(None).asi8
    x = np.where(local % NS_DAY == 0, x + 60 * 10**9, x)       # no midnight unless asked
    if with_midnight:
        x[::7] = pd.DatetimeIndex(pd.to_datetime(local[::7] // NS_DAY * NS_DAY)).tz_localize(
            cal.tz).asi8
    got = T._end_of_office_ns(x, cal, cal.tz)
    want = T._end_of_office_if_date(T._idx_from_ns(x, cal.tz), cal).asi8
    np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------- reference
def _reference(log, *, as_of=None, third_party_paused=True) -> dict:
    """tm.timing's rules for ``budget_days``, ``agency_days``, ``days_late_actual``,
    ``overdue_actual`` (no catalogue: the exported due dates), one dossier at a time."""
    ev = log.events
    cal = log.calendar
    tz = cal.tz
    seg = segments(log)
    L = cal.seconds_per_day
    ts = ev[S.TIMESTAMP].array.asi8
    as_of_t = T._resolve_as_of(as_of, ts, tz)
    A = as_of_t.value
    roles = ev[S.ROLE].astype(object).to_numpy()
    assert S.FINISHED_REPORTED in ev.columns or (roles != "work").any()

    def col(name):
        return ev[name].array.asi8 if name in ev.columns else np.full(len(ev), NAT)

    rec_c, fin_c, due_c, dueb_c = (col(S.RECEIVED), col(S.FINISHED_REPORTED), col(S.DUE),
                                   col(S.DUE_BEFORE))

    def w_of(ns):
        return float(cal.to_working(pd.Timestamp(int(ns), tz="UTC")))

    def first_value(a, rows):
        for i in rows:
            if a[i] != NAT:
                return int(a[i])
        return NAT

    close_s = float(np.max(cal._b))
    state = {"supplement_request": OWNER_CITIZEN, "suspended": OWNER_THIRD,
             "supplement_received": OWNER_AGENCY, "resumed": OWNER_AGENCY}
    nc = seg.n_cases
    out = {"budget_days": np.full(nc, np.nan), "agency_days": np.zeros(nc),
           "days_late_actual": np.full(nc, np.nan), "overdue_actual": np.zeros(nc, dtype=bool)}
    w_asof = float(cal.to_working(as_of_t))
    for c in range(nc):
        rows = range(int(seg.case_start[c]), int(seg.case_start[c + 1]))
        known = [i for i in rows if ts[i] != NAT and ts[i] <= A]
        # received
        r = first_value(rec_c, rows)
        if r != NAT:
            recv_ns, recv_w = r, w_of(r)
        else:
            rr = next((i for i in rows if roles[i] == "receipt"), rows[0])
            recv_ns, recv_w = int(ts[rr]), float(seg.w_end[rr])
        # closed: finished (event, else case:finished known by as_of, else result event),
        # withdrawn, refused: the earliest, in that order on ties
        fin_row = next((i for i in known if roles[i] == "processing_finished"), None)
        fin = (int(ts[fin_row]), fin_row) if fin_row is not None else None
        if fin is None:
            f = first_value(fin_c, rows)
            if f != NAT and f <= A:
                fin = (f, None)
        if fin is None:
            rr = next((i for i in known if roles[i] == "result_returned"), None)
            if rr is not None:
                fin = (int(ts[rr]), rr)
        cands = [fin] + [next(((int(ts[i]), i) for i in known if roles[i] == r), None)
                         for r in ("withdrawn", "refused")]
        outcome, closed = -1, None
        for k, cand in enumerate(cands):
            if cand is not None and (closed is None or cand[0] < closed[0]):
                outcome, closed = k, cand
        # budget from the exported due dates (a date without a time: close of office)
        due = first_value(dueb_c, rows)
        if due == NAT:
            due = first_value(due_c, rows)
        has_deadline = due != NAT
        if has_deadline:
            local = T._idx_from_ns(np.array([due]), tz).tz_localize(None).asi8[0]
            if local % NS_DAY == 0:
                due = T._aware(pd.DatetimeIndex([pd.Timestamp(int(local + close_s * 1e9))]),
                               tz).asi8[0]
            out["budget_days"][c] = (w_of(due) - recv_w) / L
        # the clock window and the counted time per owner, in row order
        received = recv_ns <= A
        if not received:
            win_end = recv_w
        elif closed is not None:
            win_end = float(seg.w_end[closed[1]]) if closed[1] is not None else w_of(closed[0])
        else:
            win_end = w_asof
        sums = {OWNER_AGENCY: 0.0, OWNER_CITIZEN: 0.0, OWNER_THIRD: 0.0}
        for i in rows:
            lo = recv_w if i == rows[0] else np.maximum(seg.w_end[i - 1], recv_w)
            v = np.fmax(np.minimum(seg.w_end[i], win_end) - lo, 0.0)
            sums[int(seg.owner[i])] = sums[int(seg.owner[i])] + float(v)
        lk = known[-1] if known else None
        holder = OWNER_AGENCY
        if lk is not None:
            holder = state.get(roles[lk], int(seg.owner[lk]))
            if lk == rows[-1]:
                tail = max(float(win_end - np.maximum(seg.w_end[lk], recv_w)), 0.0)
                sums[holder] = sums[holder] + tail
        agency = sums[OWNER_AGENCY]
        charged = agency + (0.0 if third_party_paused else sums[OWNER_THIRD])
        out["agency_days"][c] = agency / L
        b = out["budget_days"][c]
        is_fin, is_open = outcome == 0, outcome < 0 and received
        if has_deadline and (is_fin or is_open):
            out["days_late_actual"][c] = max(charged / L - b, 0.0)
            over = not (charged / L <= b + T._EPS_S / L)
            out["overdue_actual"][c] = over and (is_fin or holder == OWNER_AGENCY)
    return out


def _fresh(log, events=None):
    return log.with_events((log.events if events is None else events).copy())


def _perturbed(log, seed):
    """Missing first values, dossiers without case:finished, withdrawn / refused events."""
    rng = np.random.default_rng(seed)
    ev = log.events.copy()
    seg = segments(log)
    first, last = seg.case_start[:-1], seg.case_start[1:] - 1
    nc = len(first)
    pick = rng.random(nc)
    rec = ev[S.RECEIVED].copy()
    rec.iloc[first[pick < 0.2]] = pd.NaT                        # found on a later row
    for c in np.flatnonzero(pick > 0.97):                       # none at all
        rec.iloc[first[c]:last[c] + 1] = pd.NaT
    ev[S.RECEIVED] = rec
    fin = ev[S.FINISHED_REPORTED].copy()
    for c in np.flatnonzero((pick > 0.3) & (pick < 0.45)):      # closed by the result event
        fin.iloc[first[c]:last[c] + 1] = pd.NaT
    ev[S.FINISHED_REPORTED] = fin
    dueb = ev[S.DUE_BEFORE].copy()
    dueb.iloc[first[(pick > 0.5) & (pick < 0.6)]] = pd.NaT
    ev[S.DUE_BEFORE] = dueb
    role = np.array(ev[S.ROLE].astype(object).to_numpy(), dtype=object)
    mid = (first + last) // 2
    role[mid[(pick > 0.6) & (pick < 0.63)]] = "withdrawn"
    role[mid[(pick > 0.63) & (pick < 0.65)]] = "refused"
    role[first[(pick > 0.65) & (pick < 0.66)]] = "work"          # no receipt row
    ev[S.ROLE] = pd.Categorical(role, categories=list(S.ROLES))
    return log.with_events(ev)


def _assert_same(got: dict, want: dict, exact: bool = True) -> None:
    assert set(got) == set(want)
    for k in want:
        a, b = np.asarray(got[k]), np.asarray(want[k])
        assert a.dtype == b.dtype, k
        if exact or a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=k)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("kw", [{}, {"third_party_paused": False}, {"as_of": "2025-04-15"}])
@pytest.mark.parametrize("seed,perturb", [(0, False), (5, True), (7, True)])
def test_overdue_arrays_equal_a_per_dossier_loop(seed, perturb, kw):
    log = tm.synth.province(3000, seed=seed).log
    if perturb:
        log = _perturbed(log, seed)
    log.catalog = None              # (the exported due dates: the reference has no catalogue)
    got = T.overdue_arrays(_fresh(log), catalog=None, **kw)
    ref = _reference(_fresh(log), **kw)
    _assert_same(got, ref, exact=True)
    # and tm.timing's own arrays, bit for bit
    _assert_same(got, tm.timing(_fresh(log), catalog=None, **kw).case_arrays)
    od = got["overdue_actual"]
    assert od.any() and not od.all()


@pytest.mark.parametrize("seed", [1, 9])
def test_overdue_arrays_equal_timing_on_perturbed_logs_with_a_catalogue(seed):
    log = tm.synth.province(3000, seed=seed).log
    pert = _perturbed(log, seed)
    for kw in ({}, {"third_party_paused": False}, {"as_of": "2025-03-01"}):
        got = T.overdue_arrays(_fresh(pert), catalog=log.catalog, **kw)
        _assert_same(got, tm.timing(_fresh(pert), catalog=log.catalog, **kw).case_arrays)
