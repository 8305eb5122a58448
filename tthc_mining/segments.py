"""Segments: who holds the dossier, and for how long (``../shared/docs/methods.md`` §2).

Each event after a dossier's first closes a *segment* that runs from the previous event's end to
this event's end. When start times exist the segment splits into *waiting* (previous end ->
start) and *processing* (start -> end). Every segment has an *owner*:

- ``citizen`` between a supplement request and the receipt of the supplement (clock stopped),
- ``third_party`` between a suspension (tax, verification, public posting ...) and its resumption,
- ``citizen`` also once the dossier is *finished* (the result is ready at the one-stop and waits
  for the citizen to collect it: the step *Trả kết quả* is "không tính thời gian",
  ``../shared/docs/domain-vn.md`` §1): every segment that starts at or after the dossier's
  finish — the first *processing finished* event (Kết thúc xử lý), else the exported
  ``case:finished`` (NgayKetThucXuLy), the instant :func:`tthc_mining.timing` ends the agency's
  clock at — so that the pick-up wait is not ranked as an agency bottleneck,
- ``agency`` otherwise, attributed to the unit/officer of the event that ends the segment.

Bottlenecks, rework cost, overdue attribution and the replay of cuts are sums over segments, so
they are computed once here, vectorised on integer codes, and cached on the log.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema as S
import threading

from .memory import release_memory, releases_memory
from .parallel import PARALLEL_MIN_EVENTS, Tasks

OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD = 0, 1, 2
OWNER_NAMES = np.array(["agency", "citizen", "third_party"], dtype=object)


class Segments:
    """Per-event arrays aligned with ``log.events`` rows (which are sorted by case, then time).

    Times are on the working-time axis (seconds); durations are working seconds. For a dossier's
    first event the segment fields are NaN and ``is_first`` is True.

    Arrays that follow from others (``prev_activity``, ``pos``, ``is_last``, ``w_prev_end``)
    are built on first access and then kept, so a module that does not need them does not pay
    for them (48 MB each on 6 million events).

    case: int64 case code (0..n_cases-1, contiguous blocks)
    activity: int64 activity code
    prev_activity: int64 activity code of the previous event in the dossier, -1 first
    pos: 0-based position of the event within its dossier
    is_first, is_last: bool
    w_end: working-axis time of the event's end (time:timestamp)
    w_start: working-axis start time (NaN without start_timestamp)
    w_prev_end: working-axis end of the previous event (NaN for the first)
    seg_s: w_end - w_prev_end: working time since the previous event
    wait_s: w_start - w_prev_end when a start exists, else seg_s
    proc_s: w_end - w_start (NaN without start)
    owner: int8: OWNER_AGENCY / OWNER_CITIZEN / OWNER_THIRD (citizen also after the finish)
    handover: bool: the unit differs from the previous event's unit
    activities: activity names for the codes
    case_ids: case ids for the codes
    case_start: row index of each case's first event (len n_cases + 1, last = n)
    """

    _LAZY = ("prev_activity", "pos", "is_last", "w_prev_end")

    def __init__(self, *, case: np.ndarray, activity: np.ndarray, is_first: np.ndarray,
                 w_end: np.ndarray, w_start: np.ndarray | None, seg_s: np.ndarray,
                 wait_s: np.ndarray | None, proc_s: np.ndarray | None, owner: np.ndarray,
                 handover: np.ndarray, activities: pd.Index, case_ids: pd.Index,
                 case_start: np.ndarray, prev_activity: np.ndarray | None = None,
                 pos: np.ndarray | None = None, is_last: np.ndarray | None = None,
                 w_prev_end: np.ndarray | None = None, start_fn=None):
        self.case = case
        self.activity = activity
        self.is_first = is_first
        self.w_end = w_end
        self._w_start = w_start
        self.seg_s = seg_s
        self._wait_s = wait_s
        self._proc_s = proc_s
        # ``start_fn() -> (w_start, wait_s, proc_s)`` when those were left for first access
        self._start_fn = start_fn
        self._start_lock = threading.Lock()
        self.owner = owner
        self.handover = handover
        self.activities = activities
        self.case_ids = case_ids
        self.case_start = case_start
        self._prev_activity = prev_activity
        self._pos = pos
        self._is_last = is_last
        self._w_prev_end = w_prev_end

    def __getstate__(self) -> dict:
        # copies and pickles (e.g. through DataFrame.attrs) carry the arrays, not the lock
        self._fill_start()
        state = self.__dict__.copy()
        state.pop("_start_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._start_lock = threading.Lock()

    # ------------------------------------------------------------------ start-time arrays
    def _fill_start(self) -> None:
        with self._start_lock:
            if self._start_fn is not None:
                self._w_start, self._wait_s, self._proc_s = self._start_fn()
                self._start_fn = None

    @property
    def w_start(self) -> np.ndarray:
        if self._start_fn is not None:
            self._fill_start()
        return self._w_start

    @property
    def wait_s(self) -> np.ndarray:
        if self._start_fn is not None:
            self._fill_start()
        return self._wait_s

    @property
    def proc_s(self) -> np.ndarray:
        if self._start_fn is not None:
            self._fill_start()
        return self._proc_s

    # ------------------------------------------------------------------ derived, on demand
    @property
    def prev_activity(self) -> np.ndarray:
        if self._prev_activity is None:
            n = len(self.activity)
            prev = np.empty(n, dtype=np.int64)
            if n:
                prev[0] = -1
                prev[1:] = self.activity[:-1]
                prev[self.is_first] = -1
            self._prev_activity = prev
        return self._prev_activity

    @property
    def pos(self) -> np.ndarray:
        if self._pos is None:
            n = len(self.case)
            if n:
                starts = self.case_start[:-1]
                self._pos = np.arange(n, dtype=np.int64) - starts[self.case]
            else:
                self._pos = np.zeros(0, np.int64)
        return self._pos

    @property
    def is_last(self) -> np.ndarray:
        if self._is_last is None:
            n = len(self.is_first)
            last = np.ones(n, dtype=bool)
            if n:
                last[:-1] = self.is_first[1:]
            self._is_last = last
        return self._is_last

    @property
    def w_prev_end(self) -> np.ndarray:
        if self._w_prev_end is None:
            n = len(self.w_end)
            prev = np.empty(n, dtype=np.float64)
            if n:
                prev[0] = np.nan
                prev[1:] = self.w_end[:-1]
                prev[self.is_first] = np.nan
            self._w_prev_end = prev
        return self._w_prev_end

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)

    def __repr__(self) -> str:
        return (f"Segments({len(self.case):,} events, {self.n_cases:,} dossiers, "
                f"{len(self.activities):,} activities)")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            S.CASE: self.case_ids.to_numpy()[self.case],
            S.ACTIVITY: self.activities.to_numpy()[self.activity],
            "prev_activity": np.where(self.prev_activity >= 0,
                                      self.activities.to_numpy()[np.maximum(self.prev_activity, 0)], None),
            "pos": self.pos, "seg_s": self.seg_s, "wait_s": self.wait_s, "proc_s": self.proc_s,
            "owner": OWNER_NAMES[self.owner], "handover": self.handover,
        })


def _role_index(events: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Index into ``schema.ROLES`` of every event's role (-1 for missing/unknown), from the
    categorical codes when the column is categorical (no per-row strings); ``rows``: of these
    rows only."""
    col = events[S.ROLE]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        lut = np.array([S.ROLES.index(c) if c in S.ROLES else -1 for c in cats] + [-1],
                       dtype=np.int8)
        codes = col.cat.codes.to_numpy()
        if rows is not None:
            codes = codes[rows]
        return lut[np.where(codes < 0, len(cats), codes)]
    vals = col.astype(object) if rows is None else col.astype(object).to_numpy()[rows]
    return pd.Categorical(vals, categories=list(S.ROLES)).codes.astype(np.int8)


#: role index (``schema.ROLES``; the last entry for -1) -> the clock state the event sets
#: (-1: none): a supplement request hands the dossier to the citizen, a suspension to a third
#: party, the supplement's receipt or a resumption back to the agency
_STATE_SET = np.full(len(S.ROLES) + 1, -1, dtype=np.int8)
_STATE_SET[S.ROLES.index(S.ROLE_SUPPLEMENT_REQUEST)] = OWNER_CITIZEN
_STATE_SET[S.ROLES.index(S.ROLE_SUSPENDED)] = OWNER_THIRD
_STATE_SET[S.ROLES.index(S.ROLE_SUPPLEMENT_RECEIVED)] = OWNER_AGENCY
_STATE_SET[S.ROLES.index(S.ROLE_RESUMED)] = OWNER_AGENCY


def _owner_states(events: pd.DataFrame, case: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """Owner of the segment that ends at each event = clock state after the previous event."""
    return owners_of(events, None, case, is_first)


def owners_of(events: pd.DataFrame, rows: np.ndarray | None, case: np.ndarray,
              is_first: np.ndarray) -> np.ndarray:
    """Owner of the segment ending at each event of ``rows`` (default: all; whole dossiers in
    row order, ``case`` numbering them 0, 1, ... and ``is_first`` marking their first rows):
    the clock state after the previous event, and the citizen after the dossier's finish."""
    n = len(events) if rows is None else rows.size
    if n == 0:
        return np.zeros(n, dtype=np.int8)

    def take(a: np.ndarray) -> np.ndarray:
        return a if rows is None else a[rows]

    if S.ROLE in events.columns:
        role = _role_index(events, rows)
        # clock-changing events set a state; others carry the last state forward in the case
        state = _STATE_SET[role]                               # (-1 of an unknown role -> [-1])
        # a new dossier starts with the agency
        state[is_first & (state < 0)] = OWNER_AGENCY
        # forward fill: the rows that set a state, each repeated until the next one (every
        # dossier's first event sets one, so the fill never crosses into another dossier)
        setters = np.flatnonzero(state >= 0)                   # setters[0] == 0
        filled = np.repeat(state[setters], np.diff(np.append(setters, n)))
        del setters, state
        owner = np.empty(n, dtype=np.int8)
        owner[0] = OWNER_AGENCY
        owner[1:] = filled[:-1]
        owner[is_first] = OWNER_AGENCY
        del filled
        is_fin = role == S.ROLES.index(S.ROLE_FINISHED)
    else:
        owner = np.zeros(n, dtype=np.int8)
        is_fin = np.zeros(n, dtype=bool)
    fin_rep = take(utc_ns(events[S.FINISHED_REPORTED])) \
        if S.FINISHED_REPORTED in events.columns else None
    after = after_finish(take(utc_ns(events[S.TIMESTAMP])), is_fin, fin_rep, is_first, case)
    if after is not None:
        owner[after] = OWNER_CITIZEN
    return owner


_NAT = np.iinfo(np.int64).min


def utc_ns(col: pd.Series) -> np.ndarray:
    """int64 UTC nanoseconds of a datetime column (NaT = int64 min), a view when it is in ns."""
    arr = col.array
    if hasattr(arr, "as_unit"):
        from .calendar import ns_view
        return ns_view(arr)
    return pd.to_datetime(col).array.as_unit("ns").asi8


def after_finish(ts_ns: np.ndarray, is_fin: np.ndarray, fin_reported_ns: np.ndarray | None,
                 is_first: np.ndarray, case: np.ndarray) -> np.ndarray | None:
    """Per event: whether its segment starts at or after its dossier's finish (the pick-up
    wait, owned by the citizen), or None when no dossier has a finish.

    The finish is :func:`tthc_mining.timing`'s: the end time of the dossier's first event with
    ``is_fin`` (processing finished), else its exported ``case:finished`` (``fin_reported_ns``,
    read at the dossier's first row); a segment starts at the previous event's end time. Rows
    are whole dossiers in order (``is_first`` marks the first row of each, ``case`` numbers
    them 0, 1, ... in row order)."""
    n = ts_ns.size
    if n == 0:
        return None
    fin_rows = np.flatnonzero(is_fin)
    if fin_rows.size == 0 and fin_reported_ns is None:
        return None
    starts = np.flatnonzero(is_first)
    fin = np.full(starts.size, _NAT, dtype=np.int64)
    if fin_rows.size:
        c = case[fin_rows]
        first = np.ones(c.size, dtype=bool)
        first[1:] = c[1:] != c[:-1]           # rows ascending: the first finish of each dossier
        fin[c[first]] = ts_ns[fin_rows[first]]
    if fin_reported_ns is not None:
        fr = fin_reported_ns[starts]
        np.copyto(fin, fr, where=fin == _NAT)
    if not (fin != _NAT).any():
        return None
    out = np.zeros(n, dtype=bool)
    block = 1 << 20
    for a in range(1, n, block):              # in blocks: no per-event int64 temporaries
        b = min(n, a + block)
        f = fin[case[a:b]]
        np.greater_equal(ts_ns[a - 1:b - 1], f, out=out[a:b])
        out[a:b] &= f != _NAT
    out[is_first] = False
    return out


def _owner_and_handover(log, ev: pd.DataFrame, case: np.ndarray, is_first: np.ndarray):
    """``(owner, handover)`` of :class:`Segments` (from the role and unit codes only)."""
    n = len(ev)
    owner = _owner_states(ev, case, is_first)
    handover = np.zeros(n, dtype=bool)
    if S.GROUP in ev.columns and n:
        g, _ = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
        np.not_equal(g[1:], g[:-1], out=handover[1:])
        handover[1:] &= (g[1:] >= 0) & (g[:-1] >= 0)
        handover[is_first] = False
    return owner, handover


def _diff_seconds(end_ns: np.ndarray, start_ns: np.ndarray, *, shift: bool) -> np.ndarray:
    """Working seconds ``end - start`` of two int64 working-ns arrays (NaN where either is
    missing); with ``shift`` the start is the previous row's value (element 0 gets NaN)."""
    nat = np.iinfo(np.int64).min
    n = len(end_ns)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    if shift:
        e, s0, o = end_ns[1:], start_ns[:-1], out[1:]
        out[0] = np.nan
    else:
        e, s0, o = end_ns, start_ns, out
    np.subtract(e, s0, out=o, casting="unsafe")       # exact int64 difference -> float64
    o /= 1e9
    # (NaT is the int64 minimum: one min() per array tells whether any is missing)
    if (e.size and e.min() == nat) or (s0.size and s0.min() == nat):
        missing = (e == nat) | (s0 == nat)
        o[missing] = np.nan
    return out


def _cover(log, columns) -> None:
    """Build the calendar's day table for the whole span of ``columns`` now (so that threads
    mapping them afterwards only read it)."""
    lo, hi = [], []
    for c in columns:
        col = log.events[c]
        if col.notna().any():
            lo.append(col.min())
            hi.append(col.max())
    if lo:
        log.calendar.to_working_ns(pd.Series([min(lo), max(hi)]))


def segments(log, *, lazy_start: bool = False) -> Segments:
    """The segments of a :class:`~tthc_mining.DossierLog` (cached on the log).

    ``lazy_start=True`` (for callers that do not read them, e.g. ``tm.rework``): when the log
    has start times, ``w_start``, ``wait_s`` and ``proc_s`` are computed on first access
    instead of now (the same values; the end column's exact working-ns axis is kept until
    then). An already cached result is returned as it is."""
    cached = log._cache.get("segments")
    if cached is not None:
        return cached
    return _build(log, lazy_start=lazy_start)


@releases_memory
def _build(log, lazy_start: bool = False) -> Segments:
    ev = log.events
    n = len(ev)
    raw_case, raw_ids = log.codes(S.CASE)
    act, acts = log.codes(S.ACTIVITY)
    is_first = np.ones(n, dtype=bool)
    if n:
        np.not_equal(raw_case[1:], raw_case[:-1], out=is_first[1:])
    starts = np.flatnonzero(is_first)
    n_cases = len(starts)
    case_start = np.append(starts, n).astype(np.int64)
    # contiguous dossier codes 0..n_cases-1 in block order: categorical codes may have gaps or
    # another order (e.g. a filtered log keeps every category)
    first_codes = raw_case[starts]
    if n_cases == len(raw_ids) and np.array_equal(first_codes, np.arange(n_cases)):
        case = raw_case                 # already contiguous in block order: share the array
        case_ids = raw_ids
    else:
        case = np.cumsum(is_first, dtype=np.int64)
        case -= 1
        case_ids = raw_ids.take(first_codes) if n else raw_ids[:0]
    has_start = S.START in ev.columns
    exact = n and hasattr(log, "working_ns") and hasattr(log.calendar, "to_working_ns")
    # owners and hand-overs (codes only) on the second thread of a large log, after the start
    # column when that one is mapped there too, while this thread maps the end column
    side = Tasks(parallel=n >= PARALLEL_MIN_EVENTS)
    if side.parallel and exact and has_start and not (lazy_start and has_start):
        _cover(log, (S.TIMESTAMP, S.START))
        side.submit("start", lambda: (log.working(S.START), log.working_ns(S.START))[::-1])
    if side.parallel and S.GROUP in ev.columns:   # codes read here, not in the thread
        _ = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
    side.submit("owner", _owner_and_handover, log, ev, case, is_first)
    if exact:
        # durations from the exact int64 working-ns axis (the float axis values are ~1e9 s
        # with an ulp of ~1e-7 s, their differences would not be exact): one calendar pass per
        # column gives both; the int64 arrays are dropped from the cache afterwards. The start
        # column is mapped on a second thread (large logs) once the calendar's day table
        # covers both columns (the table is then only read)
        lazy = bool(lazy_start and has_start)
        w_end = log.working(S.TIMESTAMP)          # (both views from one calendar pass)
        e_ns = log.working_ns(S.TIMESTAMP)
        seg = _diff_seconds(e_ns, e_ns, shift=True)
        seg[starts] = np.nan                      # (the first rows: is_first)
        start_fn = None
        if lazy:
            w_start = wait = proc = None
            start_fn = _start_arrays(log, e_ns, seg, is_first)
        elif has_start:
            if side.parallel:
                s_ns, w_start = side.result("start")
            else:
                w_start = log.working(S.START)
                s_ns = log.working_ns(S.START)
            wait = _diff_seconds(s_ns, e_ns, shift=True)
            wait[starts] = np.nan
            no_start = s_ns == np.iinfo(np.int64).min
            if no_start.any():
                wait[no_start] = seg[no_start]
            proc = _diff_seconds(e_ns, s_ns, shift=False)
            del s_ns, no_start
            log._cache.pop(("working_ns", S.START), None)
        else:
            w_start = np.full(n, np.nan)
            wait = seg.copy()
            proc = np.full(n, np.nan)
        del e_ns
        log._cache.pop(("working_ns", S.TIMESTAMP), None)
    else:
        w_end = log.working(S.TIMESTAMP)
        w_start = log.working(S.START) if has_start else np.full(n, np.nan)
        w_prev = np.full(n, np.nan)
        if n:
            w_prev[1:] = w_end[:-1]
        w_prev[is_first] = np.nan
        seg = w_end - w_prev
        wait = np.where(np.isnan(w_start), seg, w_start - w_prev)
        proc = w_end - w_start
    owner, handover = side.result("owner")
    out = Segments(case=case, activity=act, is_first=is_first, w_end=w_end, w_start=w_start,
                   seg_s=seg, wait_s=wait, proc_s=proc, owner=owner, handover=handover,
                   activities=acts, case_ids=case_ids, case_start=case_start,
                   start_fn=start_fn if exact else None)
    log._cache["segments"] = out
    return out


def _start_arrays(log, e_ns: np.ndarray, seg: np.ndarray, is_first: np.ndarray):
    """The start-time arrays of :func:`_build`, computed later (``lazy_start``): exactly the
    eager path's operations on the same inputs."""
    def build():
        w_start = log.working(S.START)
        s_ns = log.working_ns(S.START)
        wait = _diff_seconds(s_ns, e_ns, shift=True)
        wait[is_first] = np.nan
        no_start = s_ns == np.iinfo(np.int64).min
        if no_start.any():
            wait[no_start] = seg[no_start]
        proc = _diff_seconds(e_ns, s_ns, shift=False)
        log._cache.pop(("working_ns", S.START), None)
        release_memory()
        return w_start, wait, proc
    return build


def case_sums(seg: Segments, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-case sum of ``values`` (NaN treated as 0) over events where ``mask`` holds."""
    v = np.nan_to_num(values, nan=0.0)
    if mask is not None:
        v = np.where(mask, v, 0.0)
    return np.bincount(seg.case, weights=v, minlength=seg.n_cases)
