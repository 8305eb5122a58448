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
they are computed once here and cached on the log: compiled passes over the raw int64 instants and
the integer codes (``tthc_mining.kernels.calendar.segment_times`` maps both timestamp columns onto
the working-time axis and takes the exact differences in the same pass, without the int64 axis
arrays; ``tthc_mining.kernels.segments`` gives the dossier blocks, owners and hand-overs), the
rows of a large log shared by two threads.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema as S
import threading

from .kernels import readonly as _ro
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
    case32, act32: the same codes as int32 (what the compiled kernels read; the segments keep
        these, usually views of the log's own categorical codes, and build the int64 ``case``
        and ``activity`` on first access, so that the hot paths hold no int64 copies)
    prev_activity: int64 activity code of the previous event in the dossier, -1 first
    pos: 0-based position of the event within its dossier
    is_first, is_last: bool
    w_end: working-axis time of the event's end (time:timestamp)
    w_start: working-axis start time (NaN without start_timestamp); not kept by
        :func:`segments` (the hot paths read the durations): built on first access and cached
        on the log as ``log.working(start_timestamp)`` gives it
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
                 w_prev_end: np.ndarray | None = None, start_fn=None, w_start_fn=None):
        # the codes as given (int32 from :func:`segments`); the other width on first access
        self._codes = {"case": {case.dtype.itemsize: case},
                       "activity": {activity.dtype.itemsize: activity}}
        self.is_first = is_first
        self.w_end = w_end
        self._w_start = w_start
        self.seg_s = seg_s
        self._wait_s = wait_s
        self._proc_s = proc_s
        # ``start_fn() -> (w_start, wait_s, proc_s)`` when those were left for first access
        self._start_fn = start_fn
        # ``w_start_fn() -> w_start`` when only the start column's axis was left for first
        # access (the hot paths read the durations, not the axis: 48 MB on 6 M events)
        self._w_start_fn = w_start_fn
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

    # ------------------------------------------------------------------ codes
    def _code(self, name: str, dtype) -> np.ndarray:
        have = self._codes[name]
        width = np.dtype(dtype).itemsize
        a = have.get(width)
        if a is None or a.dtype != dtype:
            src = next(iter(have.values()))
            a = src.astype(dtype)
            have[width] = a
        return a

    @property
    def case(self) -> np.ndarray:
        return self._code("case", np.int64)

    @property
    def activity(self) -> np.ndarray:
        return self._code("activity", np.int64)

    @property
    def case32(self) -> np.ndarray:
        return self._code("case", np.int32)

    @property
    def act32(self) -> np.ndarray:
        return self._code("activity", np.int32)

    # ------------------------------------------------------------------ start-time arrays
    def _fill_start(self) -> None:
        with self._start_lock:
            if self._start_fn is not None:
                self._w_start, self._wait_s, self._proc_s = self._start_fn()
                self._start_fn = None
                self._w_start_fn = None
            if self._w_start_fn is not None:
                self._w_start = self._w_start_fn()
                self._w_start_fn = None

    @property
    def w_start(self) -> np.ndarray:
        if self._start_fn is not None or self._w_start_fn is not None:
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
            act = self.act32
            n = len(act)
            prev = np.empty(n, dtype=np.int64)
            if n:
                prev[0] = -1
                prev[1:] = act[:-1]
                prev[self.is_first] = -1
            self._prev_activity = prev
        return self._prev_activity

    @property
    def pos(self) -> np.ndarray:
        if self._pos is None:
            n = len(self.is_first)
            if n:
                starts = self.case_start[:-1]
                self._pos = np.arange(n, dtype=np.int64) - starts[self.case32]
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
        return (f"Segments({len(self.is_first):,} events, {self.n_cases:,} dossiers, "
                f"{len(self.activities):,} activities)")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            S.CASE: self.case_ids.to_numpy()[self.case32],
            S.ACTIVITY: self.activities.to_numpy()[self.act32],
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
        lut = _role_lut(col)
        codes = col.cat.codes.to_numpy()
        if rows is not None:
            codes = codes[rows]
        return lut[np.where(codes < 0, lut.size - 1, codes)]
    vals = col.astype(object) if rows is None else col.astype(object).to_numpy()[rows]
    return pd.Categorical(vals, categories=list(S.ROLES)).codes.astype(np.int8)


def _role_lut(col: pd.Series) -> np.ndarray:
    """Category code of a categorical role column -> index into ``schema.ROLES`` (-1 unknown;
    int8, the last entry for the missing code -1)."""
    cats = [str(c) for c in col.cat.categories]
    return np.array([S.ROLES.index(c) if c in S.ROLES else -1 for c in cats] + [-1],
                    dtype=np.int8)


#: role index (``schema.ROLES``; the last entry for -1) -> the clock state the event sets
#: (-1: none): a supplement request hands the dossier to the citizen, a suspension to a third
#: party, the supplement's receipt or a resumption back to the agency
_STATE_SET = np.full(len(S.ROLES) + 1, -1, dtype=np.int8)
_STATE_SET[S.ROLES.index(S.ROLE_SUPPLEMENT_REQUEST)] = OWNER_CITIZEN
_STATE_SET[S.ROLES.index(S.ROLE_SUSPENDED)] = OWNER_THIRD
_STATE_SET[S.ROLES.index(S.ROLE_SUPPLEMENT_RECEIVED)] = OWNER_AGENCY
_STATE_SET[S.ROLES.index(S.ROLE_RESUMED)] = OWNER_AGENCY
_FINISHED = S.ROLES.index(S.ROLE_FINISHED)


def owners_of(events: pd.DataFrame, rows: np.ndarray | None, case: np.ndarray,
              is_first: np.ndarray) -> np.ndarray:
    """Owner of the segment ending at each event of ``rows`` (default: all; whole dossiers in
    row order, ``case`` numbering them 0, 1, ... and ``is_first`` marking their first rows):
    the clock state after the previous event, and the citizen after the dossier's finish
    (:func:`after_finish`). One compiled pass (``tthc_mining.kernels.segments.owners``)."""
    n = len(events) if rows is None else rows.size
    if n == 0:
        return np.zeros(n, dtype=np.int8)

    def take(a: np.ndarray) -> np.ndarray:
        return a if rows is None else a[rows]

    if S.ROLE in events.columns:
        col = events[S.ROLE]
        codes = col.cat.codes.to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else None
        if codes is not None and codes.dtype == np.int8:
            role_lut = _role_lut(col)              # per category, the codes used as they are
            codes = take(codes)
        else:                                      # role indices, -1 -> the last entry
            role_lut = np.append(np.arange(len(S.ROLES)), -1).astype(np.int8)
            codes = _role_index(events, rows)
        state_lut = _STATE_SET[role_lut]
        fin_lut = role_lut == _FINISHED
    else:
        codes = np.zeros(n, dtype=np.int8)
        state_lut = np.array([-1, -1], dtype=np.int8)
        fin_lut = np.zeros(2, dtype=bool)
    ts = take(utc_ns(events[S.TIMESTAMP]))
    rep = take(utc_ns(events[S.FINISHED_REPORTED])) \
        if S.FINISHED_REPORTED in events.columns else None
    owner = np.empty(n, dtype=np.int8)
    _owners(codes, state_lut, fin_lut, is_first, ts, rep, owner)
    return owner


def _owners(codes, state_lut, fin_lut, is_first, ts, rep, owner) -> int:
    from .kernels import segments as K
    return K.owners(_ro(codes, np.int8), _ro(state_lut, np.int8), _ro(fin_lut, bool),
                    _ro(is_first, bool), _ro(ts, np.int64),
                    _ro(ts if rep is None else rep, np.int64), rep is not None, owner)


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
    them 0, 1, ... in row order; the kernel reads the dossiers off ``is_first``)."""
    n = ts_ns.size
    if n == 0:
        return None
    # the owner kernel without clock states: agency (0) everywhere but citizen (1) after the
    # finish, i.e. the flags themselves
    out = np.empty(n, dtype=np.int8)
    n_fin = _owners(np.asarray(is_fin, dtype=bool).view(np.int8), np.array([-1, -1, -1]),
                    np.array([False, True, False]), is_first, ts_ns, fin_reported_ns, out)
    return out.view(bool) if n_fin else None


def _handover(log, ev: pd.DataFrame, is_first: np.ndarray) -> np.ndarray:
    """``handover`` of :class:`Segments`: the unit code differs from the previous row's (both
    known, not a dossier's first row); one compiled pass over the column's own codes."""
    n = len(ev)
    handover = np.zeros(n, dtype=bool)
    if S.GROUP in ev.columns and n:
        g, _ = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
        if g.dtype not in (np.int8, np.int16, np.int32, np.int64):
            g = g.astype(np.int64)
        from .kernels import segments as K
        K.handover(_ro(g), _ro(is_first, bool), handover)
    return handover


def _owner_and_handover(log, ev: pd.DataFrame, case: np.ndarray, is_first: np.ndarray):
    """``(owner, handover)`` of :class:`Segments` (from the role and unit codes only)."""
    return owners_of(ev, None, case, is_first), _handover(log, ev, is_first)


def segments(log, *, lazy_start: bool = False) -> Segments:
    """The segments of a :class:`~tthc_mining.DossierLog` (cached on the log).

    ``lazy_start=True`` (for callers that do not read them, e.g. ``tm.rework``): when the log
    has start times, ``w_start``, ``wait_s`` and ``proc_s`` are computed on first access
    instead of now (the same values). An already cached result is returned as it is."""
    cached = log._cache.get("segments")
    if cached is not None:
        return cached
    return _build(log, lazy_start=lazy_start)


@releases_memory
def _build(log, lazy_start: bool = False) -> Segments:
    ev = log.events
    n = len(ev)
    # int32 codes (views of the log's categorical codes when they are int32: no copies; the
    # int64 ``Segments.case`` / ``activity`` are only built for the modules that ask for them)
    raw_case, raw_ids = _codes32(log, S.CASE)
    act, acts = _codes32(log, S.ACTIVITY)
    # dossier blocks in one compiled pass: first rows, their row numbers, and whether the codes
    # are already contiguous (0..n_cases-1 in block order; categorical codes may have gaps or
    # another order, e.g. a filtered log keeps every category)
    from .kernels import segments as K
    is_first = np.empty(n, dtype=bool)
    case_start, contiguous = K.case_blocks(_ro(raw_case, np.int32), is_first)
    n_cases = case_start.size - 1
    if contiguous and n_cases == len(raw_ids):
        case = raw_case                 # already contiguous in block order: share the array
        case_ids = raw_ids
    else:
        case = np.cumsum(is_first, dtype=np.int32)
        case -= 1
        case_ids = raw_ids.take(raw_case[case_start[:-1]]) if n else raw_ids[:0]
    has_start = S.START in ev.columns
    cal = log.calendar
    # exact durations: from the int64 working-ns axis (the float axis values are ~1e9 s with an
    # ulp of ~1e-7 s, their differences would not be exact), computed in registers by one
    # kernel pass that also gives the float axis (``log.working``), without the int64 arrays
    exact = n and hasattr(log, "working_ns") and hasattr(cal, "to_working_ns") \
        and hasattr(cal, "_kernel_table")
    lazy = bool(lazy_start and has_start)
    # owners and hand-overs (codes only) on the second thread of a large log while this thread
    # maps the timestamps (the kernels release the GIL)
    side = Tasks(parallel=n >= PARALLEL_MIN_EVENTS)
    if side.parallel and S.GROUP in ev.columns:   # codes read here, not in the thread
        _ = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
    start_fn = w_start_fn = None
    side.submit("owner", _owner_and_handover, log, ev, case, is_first)
    if exact:
        axis = _Axis(log, start=has_start and not lazy)
        # the start column's axis is not kept (only the durations are read on the hot paths):
        # built on first access of ``Segments.w_start`` (unless the log already has it)
        out = axis.alloc(n, end=True, keep_start=False)
        # the times kernel on both threads: rows [0, m) here, [m, n) on the second thread after
        # the owners (about equal shares: the owners take about a third of the times' work)
        m = (3 * n) // 5 if side.parallel else n
        if m < n:
            side.submit("times", axis.run, out, is_first, m, n)
        axis.run(out, is_first, 0, m)
        if m < n:
            side.result("times")
        w_end, seg, w_start, wait, proc = axis.finish(out)
        if has_start and not lazy and w_start is None:
            w_start_fn = _start_axis(log)
        if lazy:
            start_fn = _start_arrays(log, seg, is_first)
        elif not has_start:
            w_start = np.full(n, np.nan)
            wait = seg.copy()
            proc = np.full(n, np.nan)
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
                   start_fn=start_fn, w_start_fn=w_start_fn)
    log._cache["segments"] = out
    return out


def _codes32(log, column: str) -> tuple[np.ndarray, pd.Index]:
    """``log.codes32(column)`` (int32 codes, -1 missing, and the uniques) for any log object
    (one without ``codes32`` gives its ``codes`` narrowed)."""
    if hasattr(log, "codes32"):
        return log.codes32(column)
    codes, uniques = log.codes(column)
    return codes.astype(np.int32), uniques


class _Axis:
    """The end (and with ``start``, the start) column of a log as the segment kernel reads
    them: raw int64 ns and the zone offset (``WorkingCalendar._local_source``), with the
    calendar's day table covering both; the float axis arrays already cached on the log
    (``log.working``) are reused, new ones are cached there."""

    def __init__(self, log, *, start: bool):
        from .calendar import NS_PER_DAY, _REF_DAY
        cal = log.calendar
        self.log = log
        self.cols = (S.TIMESTAMP, S.START) if start else (S.TIMESTAMP,)
        self.src = [cal._local_source(log.events[c]) for c in self.cols]
        spans = [(lo, hi) for raw, _off, lo, hi, n_nat in self.src if n_nat < raw.size]
        # (one table covering both columns, held here: both threads read this one)
        self.tab = cal._kernel_table(min(s[0] for s in spans) // NS_PER_DAY,
                                     max(s[1] for s in spans) // NS_PER_DAY) if spans \
            else cal._kernel_table(_REF_DAY, _REF_DAY)

    def alloc(self, n: int, *, end: bool, keep_start: bool = True) -> dict:
        """The output arrays of :meth:`run` (the float axis arrays already cached on the log
        are not recomputed; with ``keep_start=False`` the start column's axis is not built
        when the log does not have it: :meth:`finish` then gives None for it)."""
        cache = self.log._cache
        has_s = len(self.cols) > 1
        w_end = cache.get(("working", S.TIMESTAMP))
        w_start = cache.get(("working", S.START)) if has_s else None
        write_end = end and w_end is None
        write_start = has_s and w_start is None and keep_start

        def new(flag: bool) -> np.ndarray:
            return np.empty(n, dtype=np.float64) if flag else _NO_FLOATS
        return {"end": end, "has_s": has_s, "write_end": write_end,
                "write_start": write_start, "w_end": new(write_end) if write_end else w_end,
                "seg": new(end), "w_start": new(write_start) if write_start else w_start,
                "wait": new(has_s), "proc": new(has_s)}

    def run(self, out: dict, is_first: np.ndarray, lo: int, hi: int) -> None:
        """The segment kernel on rows ``[lo, hi)`` (threads may share a column by ranges)."""
        from .kernels import calendar as K
        e_raw, e_off = self.src[0][:2]
        s_raw, s_off = self.src[1][:2] if out["has_s"] else (e_raw, 0)
        K.segment_times(e_raw, e_off, s_raw, s_off, _ro(is_first, bool), *self.tab,
                        out["w_end"] if out["write_end"] else _NO_FLOATS, out["seg"],
                        out["w_start"] if out["write_start"] else _NO_FLOATS, out["wait"],
                        out["proc"], out["end"], out["write_end"], out["has_s"],
                        out["write_start"], lo, hi)

    def finish(self, out: dict):
        """``(w_end, seg, w_start, wait, proc)`` (None for what was not asked: ``end`` the end
        column's axis and ``seg``; the start column's when the axis has it); new float axis
        arrays are cached on the log (``log.working``)."""
        cache = self.log._cache
        if out["write_end"]:
            cache[("working", S.TIMESTAMP)] = out["w_end"]
        if out["write_start"]:
            cache[("working", S.START)] = out["w_start"]
        for c in self.cols:                    # (never built here; dropped if someone did)
            cache.pop(("working_ns", c), None)
        end, has_s = out["end"], out["has_s"]
        return (out["w_end"] if end else None, out["seg"] if end else None,
                out["w_start"] if has_s else None, out["wait"] if has_s else None,
                out["proc"] if has_s else None)

    def times(self, is_first: np.ndarray, *, end: bool):
        """:meth:`alloc`, :meth:`run` on all rows and :meth:`finish` in this thread."""
        out = self.alloc(is_first.size, end=end)
        self.run(out, is_first, 0, is_first.size)
        return self.finish(out)


_NO_FLOATS = np.empty(0, dtype=np.float64)


def _start_axis(log):
    """``Segments.w_start`` on first access: the start column on the float working axis, as
    ``log.working`` gives it (bit for bit the values the segment kernel computes), cached on
    the log when it is still alive (held through a weak reference: no cycle log -> segments ->
    log); the int64 axis of the same pass is not kept."""
    import weakref
    ref = weakref.ref(log)
    col = log.events[S.START]
    cal = log.calendar

    def build():
        lg = ref()
        key = ("working", S.START)
        w = lg._cache.get(key) if lg is not None else None
        if w is None:
            w = cal.to_working_ns_and_seconds(col)[1] \
                if hasattr(cal, "to_working_ns_and_seconds") else cal.to_working(col)
            if lg is not None:
                lg._cache[key] = w
        return w
    return build


def _start_arrays(log, seg: np.ndarray, is_first: np.ndarray):
    """The start-time arrays of :func:`_build`, computed later (``lazy_start``): the same
    kernel on the same inputs (it maps the end column again rather than keep its axis)."""
    def build():
        _, _, w_start, wait, proc = _Axis(log, start=True).times(is_first, end=False)
        release_memory()
        return w_start, wait, proc
    return build


def case_sums(seg: Segments, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-case sum of ``values`` (NaN treated as 0) over events where ``mask`` holds."""
    v = np.nan_to_num(values, nan=0.0)
    if mask is not None:
        v = np.where(mask, v, 0.0)
    return np.bincount(seg.case, weights=v, minlength=seg.n_cases)
