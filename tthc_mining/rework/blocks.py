"""Dossier blocks and the loop subset: what ``tm.rework`` reads from the whole log, and the
dossiers its loop kernels need.

Every loop of :mod:`tthc_mining.rework.detect` lives inside one dossier, and only dossiers that
execute some step more than once (re-executions, self-loops, repetitions, loop-erasure
closings) or ask for a supplement (supplement loops) have one. On the synthetic province that
is 11 % of the dossiers and 19 % of the events. So ``tm.rework``

* reads the whole log only through its integer codes (:class:`CaseBlocks`: dossier and step
  codes, dossier starts; no working-time axis),
* finds the dossiers with a repeated step by one OR-reduction of step bit masks per dossier
  (:func:`repeated_cases`; a hash of (dossier, step) keys when there are more than 64 steps),
* builds the segments (working time, owner, hand-over) of those dossiers only
  (:func:`subset_segments`: the same arithmetic as :mod:`tthc_mining.segments` on their rows)
  and runs the loop kernels on them, then maps rows and dossiers back (:func:`lift_loops`,
  :func:`lift_edear`).

The results are the same as running the kernels on the whole log: every kernel works dossier
by dossier and the subset keeps the row order, so the mapping is order-preserving.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..segments import Segments, owners_of
from .detect import BLOCK_ROWS, EdeaR, EventCodes, Loops, _median_mean_by_key, narrow_codes

_NAT = np.iinfo(np.int64).min


class CaseBlocks:
    """The dossier blocks of a log (events sorted by dossier, then time) without times: the
    parts of :class:`~tthc_mining.segments.Segments` that only need the codes.

    case: integer dossier code (0..n_cases-1, contiguous blocks in row order; a categorical
        column's own codes when they are already so: cast before arithmetic)
    activity: integer step code (a categorical's own codes, 1 byte for < 128 steps: cast
        before arithmetic)
    is_first: bool, first event of its dossier
    case_start: row of each dossier's first event (length n_cases + 1, last = n)
    case_ids, activities: the names of the codes
    prev_activity: step code of the previous event in the dossier (-1 first), on first access
    """

    def __init__(self, case, activity, is_first, case_start, case_ids, activities):
        self.case = case
        self.activity = activity
        self.is_first = is_first
        self.case_start = case_start
        self.case_ids = case_ids
        self.activities = activities
        self._prev_activity = None

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.case_start)

    @property
    def prev_activity(self) -> np.ndarray:
        if self._prev_activity is None:
            n = self.activity.size
            prev = np.empty(n, dtype=np.int64)
            if n:
                prev[0] = -1
                prev[1:] = self.activity[:-1]
                prev[self.is_first] = -1
            self._prev_activity = prev
        return self._prev_activity

    def __repr__(self) -> str:
        return (f"CaseBlocks({self.case.size:,} events, {self.n_cases:,} dossiers, "
                f"{len(self.activities):,} activities)")


def case_blocks(log, is_first: np.ndarray | None = None,
                starts: np.ndarray | None = None) -> CaseBlocks:
    """The :class:`CaseBlocks` of a log: the same dossier codes as
    :func:`tthc_mining.segments.segments` (taken from its cached result when there is one).
    ``is_first``, ``starts``: the first-event flags of the case codes and their rows when
    already computed."""
    cached = log._cache.get("segments")
    if cached is not None:
        return CaseBlocks(cached.case, cached.activity, cached.is_first, cached.case_start,
                          cached.case_ids, cached.activities)
    raw_case, raw_ids = narrow_codes(log, S.CASE)     # a categorical's own codes: no copy
    act, acts = narrow_codes(log, S.ACTIVITY)
    n = raw_case.size
    if is_first is None or is_first.size != n:
        is_first = np.ones(n, dtype=bool)
        if n:
            np.not_equal(raw_case[1:], raw_case[:-1], out=is_first[1:])
        starts = None
    if starts is None:
        starts = np.flatnonzero(is_first)
    n_cases = starts.size
    case_start = np.append(starts, n).astype(np.int64)
    first_codes = raw_case[starts]
    if n_cases == len(raw_ids) and np.array_equal(first_codes, np.arange(n_cases)):
        case, case_ids = raw_case, raw_ids
    else:
        case = np.cumsum(is_first, dtype=np.int64)
        case -= 1
        case_ids = raw_ids.take(first_codes) if n else raw_ids[:0]
    return CaseBlocks(case, act, is_first, case_start, case_ids, acts)


# ---------------------------------------------------------------------------------- the subset
def repeated_cases(blocks: CaseBlocks) -> np.ndarray:
    """Per dossier: does it execute some step more than once?

    Up to 64 steps: OR of one bit per step over each dossier's block (``bitwise_or.reduceat``),
    then a dossier repeats a step iff its number of distinct steps (set bits) is below its
    number of events. More steps: a hash of the (dossier, step) keys."""
    C = blocks.n_cases
    n = blocks.case.size
    if n == 0:
        return np.zeros(C, dtype=bool)
    A = max(len(blocks.activities), 1)
    lengths = blocks.lengths
    if A <= 64 and hasattr(np, "bitwise_count"):
        dt = np.uint8 if A <= 8 else np.uint16 if A <= 16 else np.uint32 if A <= 32 else np.uint64
        lut = np.left_shift(np.ones(A, dtype=dt), np.arange(A, dtype=dt))
        bits = lut[blocks.activity]
        mask = np.bitwise_or.reduceat(bits, blocks.case_start[:-1])
        return np.bitwise_count(mask).astype(np.int64) < lengths
    key = blocks.case.astype(np.int64) * A + blocks.activity
    dup = pd.Series(key).duplicated().to_numpy()
    return np.bincount(blocks.case[dup], minlength=C) > 0


def spans(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``first[i]..last[i]`` (inclusive) of every span, concatenated, and the spans'
    lengths."""
    first = np.asarray(first, dtype=np.int64)
    lengths = np.asarray(last, dtype=np.int64) - first + 1
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), lengths
    offsets = np.cumsum(lengths) - lengths
    rows = np.repeat(first - offsets, lengths)
    rows += np.arange(total, dtype=np.int64)
    return rows, lengths


def block_rows(case_start: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the dossiers ``sel`` (ascending), in row order, and their block lengths."""
    return spans(case_start[sel], case_start[sel + 1] - 1)


def _owners(log, rows: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """Owner of the segment ending at each of ``rows`` (whole dossiers, in row order):
    :func:`tthc_mining.segments.owners_of` on these rows."""
    case = np.cumsum(is_first, dtype=np.int64)
    case -= 1
    return owners_of(log.events, rows, case, is_first)


def _working_ns_rows(log, rows: np.ndarray) -> np.ndarray:
    """The exact working-ns axis of the end timestamps at ``rows`` (int64 min for NaT): the
    calendar's elementwise mapping, on these rows only."""
    ts = log.events[S.TIMESTAMP]
    return np.asarray(log.calendar.to_working_ns(ts.take(rows)), dtype=np.int64)


def _seconds_since_prev(e_ns: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """``e[i] - e[i-1]`` in seconds (exact int64 difference, one rounding), NaN for a
    dossier's first event and missing times: :mod:`tthc_mining.segments`' ``seg_s``."""
    m = e_ns.size
    out = np.empty(m, dtype=np.float64)
    if m == 0:
        return out
    out[0] = np.nan
    e, s0, o = e_ns[1:], e_ns[:-1], out[1:]
    np.subtract(e, s0, out=o, casting="unsafe")
    o /= 1e9
    missing = (e == _NAT) | (s0 == _NAT)
    if missing.any():
        o[missing] = np.nan
    out[is_first] = np.nan
    return out


def _working_seconds(log, e_ns: np.ndarray) -> np.ndarray:
    """``DossierLog.working`` of these values: working seconds as float64 (NaN for NaT)."""
    L = log.calendar.seconds_per_day
    L_ns = int(round(L * 1e9))
    days, intra = np.divmod(e_ns, L_ns)
    out = days.astype(np.float64)
    out *= L
    out += intra / 1e9
    nat = e_ns == _NAT
    if nat.any():
        out[nat] = np.nan
    return out


def subset_blocks(blocks: CaseBlocks, sel: np.ndarray) -> tuple[CaseBlocks, np.ndarray]:
    """The dossiers ``sel`` (ascending codes) alone, numbered ``0..len(sel)-1``, and the log
    row of each of their rows."""
    rows, lengths = block_rows(blocks.case_start, sel)
    m = rows.size
    k = sel.size
    case = np.repeat(np.arange(k, dtype=np.int64), lengths)
    case_start = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(lengths, out=case_start[1:])
    is_first = np.zeros(m, dtype=bool)
    is_first[case_start[:-1][lengths > 0]] = True
    sub = CaseBlocks(case, blocks.activity[rows], is_first, case_start,
                     blocks.case_ids.take(sel), blocks.activities)
    return sub, rows


def subset_codes(codes: EventCodes, rows: np.ndarray) -> EventCodes:
    """The event codes at ``rows`` (narrow code arrays stay narrow)."""
    return EventCodes(
        resource=codes.resource_codes[rows], resources=codes.resources,
        unit=codes.unit_codes[rows], units=codes.units,
        procedure=codes.procedure_codes[rows], procedures=codes.procedures,
        is_request=codes.is_request[rows], is_received=codes.is_received[rows],
        is_receipt=codes.is_receipt[rows], is_reappointed=codes.is_reappointed[rows],
        has_roles=codes.has_roles)


def subset_segments(log, sub: CaseBlocks, rows: np.ndarray, unit: np.ndarray) -> Segments:
    """The segments of the dossiers of :func:`subset_blocks` alone (``unit``: the unit codes
    at ``rows``), as a :class:`~tthc_mining.segments.Segments` with the subset's numbering.

    The working time (``seg_s``, ``w_end``), ``owner`` and ``handover`` are those of
    :func:`tthc_mining.segments.segments` at these rows: taken from the log's cached segments
    when there are some, else computed on these rows only with the same arithmetic (exact
    working-ns differences); calendars without an exact axis use the whole log's segments."""
    m = rows.size
    is_first = sub.is_first
    full = log._cache.get("segments")
    if full is None and not (hasattr(log, "working_ns")
                             and hasattr(log.calendar, "to_working_ns")):
        from ..segments import segments
        full = segments(log, lazy_start=True)
    if full is not None:
        seg_s, w_end = full.seg_s[rows], full.w_end[rows]
        owner, handover = full.owner[rows], full.handover[rows]
    else:
        e_ns = _working_ns_rows(log, rows)
        seg_s = _seconds_since_prev(e_ns, is_first)
        w_end = _working_seconds(log, e_ns)
        del e_ns
        owner = _owners(log, rows, is_first)
        handover = np.zeros(m, dtype=bool)
        if S.GROUP in log.events.columns and m:
            g = unit
            np.not_equal(g[1:], g[:-1], out=handover[1:])
            handover[1:] &= (g[1:] >= 0) & (g[:-1] >= 0)
            handover[is_first] = False
    seg = Segments(case=sub.case, activity=sub.activity, is_first=is_first, w_end=w_end,
                   w_start=None, seg_s=seg_s, wait_s=None, proc_s=None, owner=owner,
                   handover=handover, activities=sub.activities, case_ids=sub.case_ids,
                   case_start=sub.case_start,
                   prev_activity=sub._prev_activity)
    return seg


def seg_seconds_at(log, rows: np.ndarray) -> np.ndarray:
    """``segments(log).seg_s[rows]`` for rows that are not a dossier's first event (working
    seconds since the event before), computed on these rows and the ones before them only."""
    rows = np.asarray(rows, dtype=np.int64)
    full = log._cache.get("segments")
    if full is None and not (hasattr(log, "working_ns")
                             and hasattr(log.calendar, "to_working_ns")):
        from ..segments import segments
        full = segments(log, lazy_start=True)
    if full is not None:
        return full.seg_s[rows]
    if rows.size == 0:
        return np.zeros(0, dtype=np.float64)
    both = np.empty(2 * rows.size, dtype=np.int64)
    both[0::2] = rows - 1
    both[1::2] = rows
    e_ns = _working_ns_rows(log, both)
    is_first = np.zeros(both.size, dtype=bool)
    is_first[0::2] = True
    return _seconds_since_prev(e_ns, is_first)[1::2]


# ---------------------------------------------------------------------------------- lifting
def _lift_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Subset rows -> log rows (-1 stays -1)."""
    x = np.asarray(x, dtype=np.int64)
    if x.size == 0:
        return x.copy()
    out = rows[np.maximum(x, 0)]
    if (x < 0).any():
        out = np.where(x < 0, -1, out)
    return out


def lift_loops(lp: Loops, rows: np.ndarray, sel: np.ndarray) -> Loops:
    """Loops found on a subset, in the log's rows and dossier codes (order kept: by dossier,
    then end row)."""
    return Loops(case=sel[lp.case], anchor=_lift_rows(lp.anchor, rows),
                 start=_lift_rows(lp.start, rows), frag_first=_lift_rows(lp.frag_first, rows),
                 end=_lift_rows(lp.end, rows), trigger=_lift_rows(lp.trigger, rows),
                 kind=lp.kind, closing_activity=lp.closing_activity, n_events=lp.n_events,
                 handovers=lp.handovers, agency_s=lp.agency_s, citizen_s=lp.citizen_s,
                 third_s=lp.third_s)


def lift_edear(ed: EdeaR, sel: np.ndarray, C: int) -> EdeaR:
    """edeaR's per-dossier counts of a subset spread to every dossier (0 elsewhere)."""
    def spread(x):
        out = np.zeros(C, dtype=np.int64)
        out[sel] = x
        return out

    return EdeaR(selfloop_case_repeat=spread(ed.selfloop_case_repeat),
                 selfloop_case_redo=spread(ed.selfloop_case_redo),
                 selfloop_act_repeat=ed.selfloop_act_repeat, selfloop_act_redo=ed.selfloop_act_redo,
                 rep_case_repeat=spread(ed.rep_case_repeat), rep_case_redo=spread(ed.rep_case_redo),
                 rep_act_repeat=ed.rep_act_repeat, rep_act_redo=ed.rep_act_redo)


# ---------------------------------------------------------------------------------- order
def learned_order_blocks(blocks: CaseBlocks, reexec_rows: np.ndarray, procedure: np.ndarray,
                         n_proc: int, events_per_step: list | None = None) -> np.ndarray:
    """:func:`tthc_mining.rework.detect.learned_order` from the codes: every event is its
    step's first occurrence in the dossier except the re-executions ``reexec_rows``, so the
    (procedure, step, position) histogram of the first occurrences is the histogram of every
    event minus that of the re-executions (one counting pass over the log, no mask).
    ``events_per_step``: a list that receives the number of events of every step (a
    by-product of the histogram)."""
    A = len(blocks.activities)
    n = blocks.case.size
    K = n_proc * A
    if n == 0 or A == 0:
        if events_per_step is not None:
            events_per_step.append(np.zeros(A, dtype=np.int64))
        return np.full((n_proc, A), np.nan)
    lengths = blocks.lengths
    P = int(lengths.max())        # positions 0..P-1
    if K * P > 50_000_000:        # very long dossiers: the grouped median of the masked events
        first = np.ones(n, dtype=bool)
        first[reexec_rows] = False
        rows = np.flatnonzero(first)
        key = procedure[rows].astype(np.int64) * A + blocks.activity[rows]
        pos = rows - blocks.case_start[blocks.case[rows]]
        ks, med, mean = _median_mean_by_key(key, pos, K)
        if events_per_step is not None:
            events_per_step.append(np.bincount(blocks.activity, minlength=A))
    else:
        # key = (procedure * A + step) * P + position, counted in cache-sized blocks of rows
        hist = np.zeros(K * P, dtype=np.int64)
        act, case, starts = blocks.activity, blocks.case, blocks.case_start
        for b0 in range(0, n, BLOCK_ROWS):
            b1 = min(b0 + BLOCK_ROWS, n)
            key = procedure[b0:b1].astype(np.int64)
            key *= A
            key += act[b0:b1]
            key *= P
            key += np.arange(b0, b1, dtype=np.int64)
            key -= starts[case[b0:b1]]
            hist += np.bincount(key, minlength=K * P)
        if events_per_step is not None:
            events_per_step.append(hist.reshape(n_proc, A, P).sum(axis=(0, 2)))
        if reexec_rows.size:
            rr = reexec_rows
            key = (procedure[rr].astype(np.int64) * A + act[rr]) * P + (rr - starts[case[rr]])
            hist -= np.bincount(key, minlength=K * P)
        del key
        hist = hist.reshape(K, P)
        cnt = hist.sum(axis=1)
        ks = np.flatnonzero(cnt)
        hist = hist[ks]
        c = cnt[ks]
        # the sum of the positions is an exact integer: the same mean as a float sum of them
        mean = (hist @ np.arange(P, dtype=np.int64)).astype(np.float64) / c
        cum = np.cumsum(hist, axis=1)
        v1 = (cum > ((c - 1) // 2)[:, None]).argmax(axis=1)
        v2 = (cum > (c // 2)[:, None]).argmax(axis=1)
        med = (v1 + v2) / 2.0
    out = np.full((n_proc, A), np.nan)
    if ks.size == 0:
        return out
    pr, ac = ks // A, ks % A
    o = np.lexsort((mean, med, pr))
    pr_o, md_o, mn_o = pr[o], med[o], mean[o]
    newp = np.r_[True, pr_o[1:] != pr_o[:-1]]
    newv = newp | np.r_[True, (md_o[1:] != md_o[:-1]) | (mn_o[1:] != mn_o[:-1])]
    dense = np.cumsum(newv)
    gstart = np.maximum.accumulate(np.where(newp, np.arange(o.size), 0))
    out[pr_o, ac[o]] = (dense - dense[gstart]).astype(np.float64)
    return out
