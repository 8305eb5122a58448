"""Loop detection kernels on integer codes (no per-row or per-dossier Python).

Everything here works on the per-event arrays of :mod:`tthc_mining.segments` (events sorted by
dossier, then time; dossiers are contiguous blocks) plus the officer / unit / role codes.

Definitions (see ``ReworkReport`` for the user-facing description):

* **edeaR self-loops** (``number_of_selfloops``): maximal runs of the same activity executed
  immediately after each other in a dossier; a run of length ``k > 1`` is one self-loop of size
  ``k - 1``. It is a *repeat* self-loop when one resource executed the whole run, a *redo*
  self-loop when more than one resource did.
* **edeaR repetitions** (``number_of_repetitions``): per (dossier, activity), the number of runs
  (non-immediate executions); when there are ``r > 1`` runs the activity is *repeated* with size
  ``r - 1``; *repeat* when one resource executed all instances of the activity in the dossier,
  *redo* when several did. Case-level counts are numbers of such activities (edeaR's ``absolute``).
* **re-executions**: every execution of an activity after its first one in the dossier, split by
  whether the officer is the same as in the previous execution (``same``) or another (``other``).
* **loops** (counted and priced): chronological loop erasure of the dossier's activity sequence.
  Walking the events in order, a step already on the current path done again *closes* a loop
  back to its earlier execution (the *anchor*); the loop's events are the closing event and the
  events after the anchor still on the path, which are erased. Each erased event belongs to
  exactly one loop, so the costs of the loops add up; what remains is the dossier's loop-free
  path. A redo ``A A`` is one loop ``{A}``; a supplement ``Thẩm định, Yêu cầu bổ sung, Nhận bổ
  sung, Thẩm định`` one loop of three events; two supplements two loops. A supplement request
  that is not inside such a loop (asked for at the desk, no step done again) forms its own loop
  from the request to the receipt of the supplement. The loop's *trigger* is its first
  supplement request, else the event the dossier jumped back from (the one before the closing).
* **self-loop events**: an activity executed right after itself, split by whether the officer is
  the same as the one just before (``selfloop_same_officer``) or another
  (``selfloop_other_officer``).
* **ping-pong**: on the sequence of unit visits (consecutive events of one unit collapsed), a
  return to unit X right after a visit to Y that followed a visit to X, when the first event back
  at X is rework (re-executes a step or goes back against the normal order) and the visit to Y
  holds no supplement event (the citizen's resubmission at the desk is a supplement loop). An
  alternation X, Y, X, Y, X counts its bounces without overlap (2). The forward path desk ->
  department -> desk (the result goes back to the one-stop) is not a ping-pong.
* **back-edges**: transitions whose target comes earlier than the source in the procedure's
  normal order (the catalogue's ``step_order`` when one is given, else the order learned from the
  log: median, then mean, of the activity's first position in the dossiers).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

import numpy as np
import pandas as pd

from .. import schema as S
from ..roles import fold
from ..segments import OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD, Segments

LOOP_KINDS = np.array(["supplement", "selfloop", "cross_unit", "same_unit"], dtype=object)
KIND_SUPPLEMENT, KIND_SELFLOOP, KIND_CROSS_UNIT, KIND_SAME_UNIT = 0, 1, 2, 3


class EventCodes:
    """Per-event integer codes used by the kernels (aligned with ``log.events`` rows).

    ``resource``, ``unit``, ``procedure``: int64 codes, -1 missing (``procedure`` all 0 when
    the log has no procedure column); ``resources``, ``units``, ``procedures`` their names;
    ``is_request`` / ``is_received`` / ``is_receipt`` / ``is_reappointed``: bool role flags.

    The code arrays may be given in a narrower integer type (a categorical column's own
    codes): ``resource_codes`` / ``unit_codes`` / ``procedure_codes`` are those arrays as given
    (for gathers and comparisons), ``resource`` / ``unit`` / ``procedure`` the int64 view,
    converted on first access."""

    def __init__(self, resource, resources, unit, units, procedure, procedures, is_request,
                 is_received, is_receipt, is_reappointed, has_roles):
        self.resource_codes = resource
        self.resources = resources
        self.unit_codes = unit
        self.units = units
        self.procedure_codes = procedure
        self.procedures = procedures
        self.is_request = is_request
        self.is_received = is_received
        self.is_receipt = is_receipt
        self.is_reappointed = is_reappointed
        self.has_roles = has_roles
        self._wide: dict = {}

    def _int64(self, name: str) -> np.ndarray:
        a = getattr(self, name + "_codes")
        if a.dtype == np.int64:
            return a
        w = self._wide.get(name)
        if w is None:
            w = self._wide[name] = a.astype(np.int64)
        return w

    @property
    def resource(self) -> np.ndarray:
        return self._int64("resource")

    @property
    def unit(self) -> np.ndarray:
        return self._int64("unit")

    @property
    def procedure(self) -> np.ndarray:
        return self._int64("procedure")

    def __repr__(self) -> str:
        return (f"EventCodes({len(self.is_request):,} events, {len(self.resources):,} officers, "
                f"{len(self.units):,} units, {len(self.procedures):,} procedures)")


def narrow_codes(log, column: str) -> tuple[np.ndarray, pd.Index]:
    """``log.codes(column)`` without the int64 copy when the column is categorical: the
    categorical's own codes (the same values, -1 missing, 1 to 4 bytes each; read-only)."""
    key = ("codes", column)
    if key in log._cache:
        return log._cache[key]
    col = log.events[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        # the Categorical's own codes array (a read-only view; ``.cat.codes`` would copy it)
        return col.array.codes, pd.Index(col.cat.categories)
    return log.codes(column)


def event_codes(log) -> EventCodes:
    ev = log.events
    n = len(ev)

    def codes_or_missing(col):
        if col in ev.columns:
            return narrow_codes(log, col)
        return np.full(n, -1, dtype=np.int8), pd.Index([])

    res, resources = codes_or_missing(S.RESOURCE)
    unit, units = codes_or_missing(S.GROUP)
    if S.PROCEDURE in ev.columns:
        proc, procs = narrow_codes(log, S.PROCEDURE)
    else:
        proc, procs = np.zeros(n, dtype=np.int8), pd.Index(["(all)"])
    has_roles = S.ROLE in ev.columns
    if has_roles:
        rc, ru = narrow_codes(log, S.ROLE)
        ru = np.asarray(ru.astype(str))

        def is_role(name):
            hit = np.flatnonzero(ru == name)
            return rc == int(hit[0]) if hit.size else np.zeros(n, dtype=bool)

        is_req, is_recv = is_role(S.ROLE_SUPPLEMENT_REQUEST), is_role(S.ROLE_SUPPLEMENT_RECEIVED)
        is_rcpt, is_reap = is_role(S.ROLE_RECEIPT), is_role(S.ROLE_REAPPOINTED)
    else:
        is_req = is_recv = is_rcpt = is_reap = np.zeros(n, dtype=bool)
    return EventCodes(res, resources, unit, units, proc, procs, is_req, is_recv, is_rcpt, is_reap,
                      has_roles)


# ---------------------------------------------------------------------------------- occurrences
@dataclass
class Occurrences:
    """(dossier, activity) pairs: occurrence index and previous execution of every event."""

    pair: np.ndarray        # pair code per event (0..P-1)
    occ: np.ndarray         # 0-based occurrence index of the event's activity in its dossier
    prev_occ: np.ndarray    # row of the previous execution of the same activity, -1 for the first
    pair_count: np.ndarray  # executions per pair
    pair_case: np.ndarray   # dossier code per pair
    pair_act: np.ndarray    # activity code per pair
    order: np.ndarray       # rows sorted by (dossier, activity, time)
    gstart: np.ndarray      # per sorted position: sorted position where its pair's group starts
    multi_sorted: np.ndarray  # sorted positions (bool mask) of pairs executed more than once


def occurrences(seg: Segments) -> Occurrences:
    n = seg.case.size
    if n == 0:
        z = np.zeros(0, np.int64)
        return Occurrences(pair=z, occ=z, prev_occ=z, pair_count=z, pair_case=z,
                           pair_act=z, order=z, gstart=z, multi_sorted=np.zeros(0, bool))
    A = max(len(seg.activities), 1)
    key = seg.case.astype(np.int64) * A + seg.activity
    # events are sorted by case, so the key is nearly sorted and a stable sort is cheap
    order = np.argsort(key, kind="stable")
    ks = key[order]
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = ks[1:] != ks[:-1]
    gid_sorted = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n))
    gstart = starts[gid_sorted]
    pair = np.empty(n, dtype=np.int64)
    pair[order] = gid_sorted
    occ = np.empty(n, dtype=np.int64)
    occ[order] = np.arange(n) - gstart
    prev_occ = np.full(n, -1, dtype=np.int64)
    same = np.flatnonzero(~new)
    prev_occ[order[same]] = order[same - 1]
    first_rows = order[starts]
    return Occurrences(pair=pair, occ=occ, prev_occ=prev_occ,
                       pair_count=counts.astype(np.int64), pair_case=seg.case[first_rows],
                       pair_act=seg.activity[first_rows], order=order, gstart=gstart,
                       multi_sorted=(counts > 1)[gid_sorted])


# ---------------------------------------------------------------------------------- edeaR
@dataclass
class EdeaR:
    """edeaR's self-loop and repetition counts (repeat = one resource, redo = several)."""

    selfloop_case_repeat: np.ndarray   # per case: number of repeat self-loops
    selfloop_case_redo: np.ndarray
    selfloop_act_repeat: np.ndarray    # per activity
    selfloop_act_redo: np.ndarray
    rep_case_repeat: np.ndarray        # per case: number of activities repeated (edeaR absolute)
    rep_case_redo: np.ndarray
    rep_act_repeat: np.ndarray         # per activity
    rep_act_redo: np.ndarray


def edear(seg: Segments, occ: Occurrences, resource: np.ndarray) -> EdeaR:
    """edeaR's counts. Whether a group of instances (a run, or all instances of an activity in
    a dossier) had one resource or several only needs "does any instance differ from the one
    before it in the group": the instances are contiguous (rows for runs, the pair-sorted order
    for activities), so one comparison of neighbours replaces distinct counting."""
    n = seg.case.size
    C, A = seg.n_cases, len(seg.activities)
    run_start = seg.is_first | (seg.activity != seg.prev_activity)
    run_id = np.cumsum(run_start) - 1
    n_runs = int(run_id[-1]) + 1 if n else 0
    run_rows = np.flatnonzero(run_start)
    run_case, run_act = seg.case[run_rows], seg.activity[run_rows]
    # continuation rows (same activity as the event before): the runs longer than one; a run has
    # several resources iff some continuation differs from its predecessor (a missing resource,
    # -1, is one value, as n_distinct / uniqueN count NA)
    cont = np.flatnonzero(~run_start)
    cont_run = run_id[cont]
    sl = np.bincount(cont_run, minlength=n_runs) > 0
    several = np.bincount(cont_run[resource[cont] != resource[cont - 1]], minlength=n_runs) > 0
    sl_rep, sl_redo = sl & ~several, sl & several

    # repetitions: runs per (case, activity) pair; resources across the pair's instances, which
    # are contiguous in the pair-sorted order (only pairs executed more than once matter)
    P = occ.pair_count.size
    runs_per_pair = np.bincount(occ.pair[run_rows], minlength=P)
    multi = runs_per_pair > 1
    srt = occ.order[occ.multi_sorted]
    pr = occ.pair[srt]
    r_s = resource[srt]
    d_s = np.zeros(srt.size, dtype=bool)
    if srt.size:
        d_s[1:] = (r_s[1:] != r_s[:-1]) & (pr[1:] == pr[:-1])
    several_p = np.bincount(pr[d_s], minlength=P) > 0
    rp_rep, rp_redo = multi & ~several_p, multi & several_p

    def cnt(idx, mask, m):
        return np.bincount(idx[mask], minlength=m)

    return EdeaR(
        selfloop_case_repeat=cnt(run_case, sl_rep, C), selfloop_case_redo=cnt(run_case, sl_redo, C),
        selfloop_act_repeat=cnt(run_act, sl_rep, A), selfloop_act_redo=cnt(run_act, sl_redo, A),
        rep_case_repeat=cnt(occ.pair_case, rp_rep, C), rep_case_redo=cnt(occ.pair_case, rp_redo, C),
        rep_act_repeat=cnt(occ.pair_act, rp_rep, A), rep_act_redo=cnt(occ.pair_act, rp_redo, A),
    )


# ---------------------------------------------------------------------------------- loops
@dataclass
class Loops:
    """Priced loops: one entry per loop (a closing of the loop erasure, or a supplement asked
    for outside any erased loop)."""

    case: np.ndarray
    anchor: np.ndarray      # row of the kept event the loop starts after (-1: none, desk request)
    start: np.ndarray       # first row inside the loop (anchor + 1)
    frag_first: np.ndarray  # first row of the loop's fragment (the anchor, or the desk request)
    end: np.ndarray         # last row inside the loop (end of the repeated work)
    trigger: np.ndarray     # row of the event that triggered the loop
    kind: np.ndarray        # int code into LOOP_KINDS
    closing_activity: np.ndarray  # activity code of the re-executed step (-1 for desk requests)
    n_events: np.ndarray    # events inside the loop counted as extra (not covered by another loop)
    handovers: np.ndarray
    agency_s: np.ndarray
    citizen_s: np.ndarray
    third_s: np.ndarray

    @property
    def size(self) -> int:
        return int(self.case.size)


class _RangeMin:
    """Sparse table: vectorised minimum of ``values[lo..hi]`` (inclusive; empty ranges -> INF).

    ``max_len``: the longest range that will be queried (the levels beyond it are not built;
    the ranges of the loop erasure stay inside one dossier, so a few levels suffice)."""

    INF = np.iinfo(np.int64).max

    def __init__(self, values: np.ndarray, max_len: int | None = None):
        self.levels = [np.asarray(values, dtype=np.int64)]
        limit = self.levels[0].size if max_len is None else min(self.levels[0].size, int(max_len))
        k = 1
        while 2 * k <= limit:
            prev = self.levels[-1]
            self.levels.append(np.minimum(prev[:-k], prev[k:]))
            k *= 2

    def query(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        out = np.full(lo.size, self.INF, dtype=np.int64)
        ok = hi >= lo
        if not ok.any():
            return out
        lo_ok, hi_ok = lo[ok], hi[ok]
        length = hi_ok - lo_ok + 1
        j = np.floor(np.log2(length)).astype(np.int64)
        res = np.empty(length.size, dtype=np.int64)
        for lev in np.flatnonzero(np.bincount(j)):  # a handful of levels
            m = j == lev
            tab = self.levels[int(lev)]
            res[m] = np.minimum(tab[lo_ok[m]], tab[hi_ok[m] - (1 << int(lev)) + 1])
        out[ok] = res
        return out


def _longest(lo: np.ndarray, hi: np.ndarray) -> int:
    """The longest of the ranges ``lo..hi`` (inclusive), 1 when there is none."""
    if lo.size == 0:
        return 1
    return max(int((hi - lo).max()) + 1, 1)


def chronological_erasure(seg: Segments, occ: Occurrences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chronological loop erasure of every dossier at once.

    Walking a dossier's events in order, the *path* holds the steps done so far; when a step
    already on the path is done again (a *closing*), the loop back to its earlier execution (the
    *anchor*) is erased: the events after the anchor still on the path and the closing event
    itself. The remaining path is the dossier's loop-erased (normal) path. Each erased event
    belongs to exactly one loop (the closing that erased it), so loop costs add up.

    Recursion on integer codes, solved by fixed-point iteration (each round fully vectorised;
    dependencies only go back in time, so the first repeated state is the solution):

    * ``anchor(t)`` = the latest execution of ``activity(t)`` before ``t`` that is not a closing;
    * ``closing(t)`` = ``t`` is a re-execution and no closing ``s`` with ``anchor(t) < s < t`` has
      ``anchor(s) < anchor(t)`` (that would have erased the anchor);
    * a non-closing event ``x`` is erased by the first closing ``t > x`` with ``anchor(t) < x``.

    Returns ``(closing rows, their anchor rows, eraser)`` where ``eraser[x]`` is the index (into
    the closings) of the loop that erased event ``x``, -1 for events on the normal path.
    """
    n = seg.case.size
    z = np.zeros(0, np.int64)
    eraser = np.full(n, -1, dtype=np.int64)
    R = np.flatnonzero(occ.occ > 0)  # re-executions, in row order
    if R.size == 0:
        return z, z, eraser
    # work on the events of repeated (dossier, activity) pairs only, in pair-sorted order
    in_multi = occ.multi_sorted
    srt = occ.order[in_multi]
    gst = occ.gstart[in_multi]
    m = srt.size
    # group start as a position in the compressed order
    full_to_comp = np.cumsum(in_multi) - 1
    gst = full_to_comp[gst]
    pos = np.arange(m, dtype=np.int64)
    closing = np.zeros(n, dtype=bool)
    closing[R] = True
    INF = _RangeMin.INF
    anchor = np.full(n, -1, dtype=np.int64)
    for _ in range(n + 1):
        # latest non-closing execution of the same activity before each event
        cand = np.where(~closing[srt], pos, -1)
        runmax = np.maximum.accumulate(cand)
        prev_pos = np.r_[-1, runmax[:-1]]
        valid = prev_pos >= gst
        anchor[srt] = np.where(valid, srt[np.maximum(prev_pos, 0)], -1)
        aR = anchor[R]
        vals = np.where(closing[R], aR, INF)
        lo = np.searchsorted(R, aR, side="right")
        hi = np.arange(R.size) - 1
        rmq = _RangeMin(vals, max_len=_longest(lo, hi))
        new = rmq.query(lo, hi) >= aR
        if np.array_equal(new, closing[R]):
            break
        closing[R] = new
    else:  # pragma: no cover - cannot happen: the recursion is well founded
        raise RuntimeError("loop erasure did not converge")
    crow = R[closing[R]]
    canchor = anchor[crow]
    # eraser of each non-closing event: the first closing after it whose anchor is before it
    cvals = canchor  # closings in row order
    # candidates: rows after the earliest anchor and before the last closing of their dossier
    cc = seg.case[crow]
    lo_row = np.full(seg.n_cases, n, dtype=np.int64)
    hi_row = np.full(seg.n_cases, -1, dtype=np.int64)
    np.minimum.at(lo_row, cc, canchor)
    np.maximum.at(hi_row, cc, crow)
    rows = np.arange(n)
    xs = np.flatnonzero((rows > lo_row[seg.case]) & (rows < hi_row[seg.case]) & ~closing)
    if xs.size:
        lo = np.searchsorted(crow, xs, side="right")
        case_end_row = seg.case_start[1:][seg.case[xs]]
        hi_max = np.searchsorted(crow, case_end_row, side="left") - 1
        rmq = _RangeMin(cvals, max_len=_longest(lo, hi_max))
        hit = rmq.query(lo, hi_max) < xs
        xs, lo, hi_max = xs[hit], lo[hit], hi_max[hit]
        # binary search for the first closing (smallest index) whose anchor is before x
        a_, b_ = lo.copy(), hi_max.copy()
        while (a_ < b_).any():
            mid = (a_ + b_) // 2
            left = rmq.query(lo, mid) < xs
            b_ = np.where(left, mid, b_)
            a_ = np.where(left, a_, mid + 1)
        eraser[xs] = a_
    eraser[crow] = np.arange(crow.size)
    return crow, canchor, eraser


def price_loops(seg: Segments, occ: Occurrences, codes: EventCodes) -> Loops:
    """The loops with their events, trigger, kind and price (work on the loops' rows only)."""
    n = seg.case.size
    crow, canchor, eraser = chronological_erasure(seg, occ)
    erased_rows = np.flatnonzero(eraser >= 0)

    # supplement requests outside every erased loop (e.g. asked for at the desk, no step done
    # again) -> their own loop: request .. receipt of the supplement (or the dossier's last
    # event), stopping before any erased event
    req_all = np.flatnonzero(codes.is_request)
    req_rows = req_all[eraser[req_all] < 0]
    if req_rows.size:
        recv_rows = np.flatnonzero(codes.is_received)

        def next_row(rows_sorted, after):  # first row in rows_sorted >= after (n when none)
            i = np.searchsorted(rows_sorted, after, side="left")
            return np.where(i < rows_sorted.size, rows_sorted[np.minimum(i, max(rows_sorted.size - 1, 0))], n)

        case_last = seg.case_start[1:][seg.case[req_rows]] - 1
        after = req_rows + 1
        r_end = np.minimum(np.minimum(next_row(recv_rows, after), case_last),
                           next_row(erased_rows, after) - 1)
        r_end = np.maximum(r_end, req_rows)
        # a second request before the first one's supplement arrived belongs to the same loop
        prev_end = np.maximum.accumulate(np.r_[-1, r_end[:-1]])
        keep = req_rows > prev_end
        req_rows, r_end = req_rows[keep], r_end[keep]
    else:
        r_end = np.zeros(0, np.int64)
    K1 = crow.size
    K = K1 + req_rows.size
    # member rows and their loop: erased rows, then the desk spans [request, end]
    lengths = r_end - req_rows + 1
    desk_rows = (np.repeat(req_rows - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
                 + np.arange(int(lengths.sum()))) if req_rows.size else np.zeros(0, np.int64)
    rows = np.r_[erased_rows, desk_rows].astype(np.int64)
    li = np.r_[eraser[erased_rows], K1 + np.repeat(np.arange(req_rows.size), lengths)].astype(np.int64)

    seg_m = np.nan_to_num(seg.seg_s[rows], nan=0.0)
    own_m = seg.owner[rows]

    def per_loop(w):
        return np.bincount(li, weights=w, minlength=K)

    agency = per_loop(np.where(own_m == OWNER_AGENCY, seg_m, 0.0))
    citizen = per_loop(np.where(own_m == OWNER_CITIZEN, seg_m, 0.0))
    third = per_loop(np.where(own_m == OWNER_THIRD, seg_m, 0.0))
    hand = per_loop(seg.handover[rows].astype(np.float64)).astype(np.int64)
    n_ev = np.bincount(li, minlength=K).astype(np.int64)
    # first supplement request inside each loop
    first_req = np.full(K, n, dtype=np.int64)
    rq = codes.is_request[rows]
    if rq.any():
        np.minimum.at(first_req, li[rq], rows[rq])
    has_req = first_req < n
    is_desk = np.r_[np.zeros(K1, bool), np.ones(req_rows.size, bool)]
    end = np.r_[crow, r_end].astype(np.int64)
    anchor = np.r_[canchor, np.full(req_rows.size, -1)].astype(np.int64)
    frag_first = np.r_[canchor, req_rows].astype(np.int64)
    # trigger: the first supplement request of the loop, else the event the dossier jumped back
    # from (the one before the closing re-execution)
    trigger = np.where(has_req, first_req, np.maximum(end - 1, frag_first))
    kind = np.full(K, KIND_SAME_UNIT, dtype=np.int64)
    kind[hand > 0] = KIND_CROSS_UNIT
    kind[~is_desk & (n_ev == 1) & (anchor == end - 1)] = KIND_SELFLOOP
    kind[has_req | is_desk] = KIND_SUPPLEMENT
    closing_act = np.where(is_desk, -1, seg.activity[np.maximum(end, 0)] if n else end)
    lcase = seg.case[end] if n else end
    o = np.lexsort((end, lcase))
    return Loops(case=lcase[o], anchor=anchor[o], start=frag_first[o] + (~is_desk[o]).astype(np.int64),
                 frag_first=frag_first[o], end=end[o], trigger=trigger[o], kind=kind[o],
                 closing_activity=closing_act[o], n_events=n_ev[o], handovers=hand[o],
                 agency_s=agency[o], citizen_s=citizen[o], third_s=third[o])


# ---------------------------------------------------------------------------------- ping-pong
@dataclass
class PingPong:
    per_case: np.ndarray    # count per case
    rows: np.ndarray        # event row of each return (first event of the X visit after Y)
    x: np.ndarray           # unit code X
    y: np.ndarray           # unit code Y
    detour_rows: tuple      # (first row, last row) of the Y visit per ping-pong
    trigger: np.ndarray     # last event of the Y visit (who sent it back)


def pingpong(seg: Segments, unit: np.ndarray, supplement: np.ndarray | None = None,
             rework: np.ndarray | None = None) -> PingPong:
    """Ping-pong returns on the sequence of unit visits.

    A return to unit X right after a visit to Y that followed a visit to X, where the return is
    rework (``rework`` per-event mask: the first event back at X re-executes a step or goes back
    against the normal order), counts once. The forward path desk -> department -> desk (the
    result goes back to the one-stop) is not a ping-pong. In an
    alternation X, Y, X, Y, X the returns are counted without overlap (2 here: the middle
    Y, X, Y is the continuation of the first bounce, not a new one). A detour to Y that holds a
    supplement event (the citizen's resubmission at the desk) is a supplement loop, not a
    ping-pong, and is left out when ``supplement`` (per-event mask) is given.
    """
    n = seg.case.size
    C = seg.n_cases
    z = np.zeros(0, np.int64)
    if n == 0 or (unit < 0).all():
        return PingPong(np.zeros(C, np.int64), z, z, z, (z, z), z)
    vstart = seg.is_first.copy()
    vstart[1:] |= unit[1:] != unit[:-1]
    vrows = np.flatnonzero(vstart)
    V, Vc = unit[vrows], seg.case[vrows]
    alt = np.zeros(vrows.size, dtype=bool)
    if vrows.size > 2:
        alt[2:] = (Vc[2:] == Vc[:-2]) & (V[2:] == V[:-2]) & (V[2:] >= 0) & (V[1:-1] >= 0)
        m = np.flatnonzero(alt)  # candidate returns (few): check them only
        ok = np.ones(m.size, dtype=bool)
        if rework is not None:
            ok &= rework[vrows[m]]
        if supplement is not None and m.size:
            sup_rows = np.flatnonzero(supplement)
            d0, d1 = vrows[m - 1], vrows[m] - 1  # the visit to Y
            first_sup = np.searchsorted(sup_rows, d0, side="left")
            has = first_sup < sup_rows.size
            has[has] = sup_rows[first_sup[has]] <= d1[has]
            ok &= ~has
        alt[m[~ok]] = False
    # keep every other return inside an alternation run (non-overlapping bounces): runs of
    # consecutive candidate visits, worked out on the (few) candidates only
    m = np.flatnonzero(alt)
    if m.size:
        run_start = np.ones(m.size, dtype=bool)
        run_start[1:] = m[1:] != m[:-1] + 1
        start_idx = np.maximum.accumulate(np.where(run_start, m, 0))
        m = m[(m - start_idx) % 2 == 0]
    rows = vrows[m]
    return PingPong(per_case=np.bincount(Vc[m], minlength=C), rows=rows, x=V[m], y=V[m - 1],
                    detour_rows=(vrows[m - 1], rows - 1), trigger=rows - 1)


def pingpong_rows(seg: Segments, unit: np.ndarray, supplement_rows: np.ndarray | None,
                  rework_rows: np.ndarray) -> PingPong:
    """:func:`pingpong` from the rows of its masks (the same result): ``rework_rows`` the
    (sorted) rows where ``rework`` holds, ``supplement_rows`` those where ``supplement`` does.

    A return is rework, so only those rows are looked at: a row is a candidate when it starts
    a unit visit (its unit differs from the event before, same dossier); the visit before it
    (Y) is walked back to its start, and the visit before that must be in the same dossier at
    the candidate's unit X. Two candidates are consecutive visits when the later one's Y visit
    starts at the earlier one. No pass over the whole log."""
    C = seg.n_cases
    z = np.zeros(0, np.int64)
    is_first = seg.is_first
    r = np.asarray(rework_rows, dtype=np.int64)
    r = r[r > 0]
    if r.size:
        r = r[~is_first[r]]
        r = r[(unit[r] != unit[r - 1]) & (unit[r] >= 0) & (unit[r - 1] >= 0)]
    if r.size == 0:
        return PingPong(np.zeros(C, np.int64), z, z, z, (z, z), z)
    y = unit[r - 1]
    ys = r - 1                       # start of the Y visit, walked back
    active = np.arange(r.size)
    for _ in range(64):
        a = ys[active]
        more = ~is_first[a]
        more[more] = unit[a[more] - 1] == y[active[more]]
        active = active[more]
        if active.size == 0:
            break
        ys[active] -= 1
    if active.size:                  # very long visits: the visit starts of the whole log
        vstart = is_first.copy()
        vstart[1:] |= unit[1:] != unit[:-1]
        vrows = np.flatnonzero(vstart)
        ys[active] = vrows[np.searchsorted(vrows, ys[active], side="right") - 1]
    ok = ~is_first[ys]
    ok[ok] = unit[ys[ok] - 1] == unit[r[ok]]
    if supplement_rows is not None and ok.any():
        sup = np.asarray(supplement_rows, dtype=np.int64)
        i = np.searchsorted(sup, ys, side="left")
        has = i < sup.size
        has[has] = sup[i[has]] <= r[has] - 1
        ok &= ~has
    r, ys = r[ok], ys[ok]
    if r.size:
        # non-overlapping bounces: every other return inside a run of consecutive visits
        run_start = np.ones(r.size, dtype=bool)
        run_start[1:] = ys[1:] != r[:-1]
        pos = np.arange(r.size)
        start_pos = np.maximum.accumulate(np.where(run_start, pos, 0))
        keep = (pos - start_pos) % 2 == 0
        r, ys = r[keep], ys[keep]
    return PingPong(per_case=np.bincount(seg.case[r], minlength=C), rows=r,
                    x=unit[r].astype(np.int64), y=unit[r - 1].astype(np.int64),
                    detour_rows=(ys, r - 1), trigger=r - 1)


# ---------------------------------------------------------------------------------- order
def _median_mean_by_key(key: np.ndarray, pos: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median (mean of the two middle values for even counts, as pandas) and mean of small
    non-negative integer positions per key in ``0..K-1``, by counting (no sort): returns
    (keys present, median, mean)."""
    pos = pos.astype(np.int64)
    P = int(pos.max()) + 1 if pos.size else 1
    cnt = np.bincount(key, minlength=K).astype(np.int64)
    present = np.flatnonzero(cnt)
    mean = np.bincount(key, weights=pos.astype(np.float64), minlength=K)[present] / cnt[present]
    if K * P <= 50_000_000:
        hist = np.bincount(key * P + pos, minlength=K * P).reshape(K, P)[present]
        cum = np.cumsum(hist, axis=1)
        c = cnt[present]
        v1 = (cum > ((c - 1) // 2)[:, None]).argmax(axis=1)  # the two middle values
        v2 = (cum > (c // 2)[:, None]).argmax(axis=1)
        med = (v1 + v2) / 2.0
    else:  # very long dossiers: a grouped median instead of a histogram
        med = pd.Series(pos.astype(np.float64)).groupby(key).median().reindex(present).to_numpy()
    return present, med, mean


def learned_order(seg: Segments, occ: Occurrences, procedure: np.ndarray, n_proc: int) -> np.ndarray:
    """Order key per (procedure, activity): median, then mean, first position in the dossiers.

    Returns a float array of shape (n_proc, A): a rank (0 = earliest); NaN where unseen.
    """
    A = len(seg.activities)
    first = occ.occ == 0
    P = procedure[first].astype(np.int64)
    key = P * A + seg.activity[first]
    if key.size == 0:
        return np.full((n_proc, A), np.nan)
    # positions of the first occurrences only (no per-event position array)
    rows = np.flatnonzero(first)
    pos = rows - seg.case_start[seg.case[rows]]
    ks, med, mean = _median_mean_by_key(key, pos, n_proc * A)
    out = np.full((n_proc, A), np.nan)
    # dense rank within procedure by (median, mean)
    pr, ac = ks // A, ks % A
    md, mn = med, mean
    o = np.lexsort((mn, md, pr))
    pr_o, md_o, mn_o = pr[o], md[o], mn[o]
    newp = np.r_[True, pr_o[1:] != pr_o[:-1]]
    newv = newp | np.r_[True, (md_o[1:] != md_o[:-1]) | (mn_o[1:] != mn_o[:-1])]
    dense = np.cumsum(newv)
    gstart = np.maximum.accumulate(np.where(newp, np.arange(o.size), 0))
    rank = (dense - dense[gstart]).astype(np.float64)
    out[pr_o, ac[o]] = rank
    return out


def catalog_order(catalog, procedures: pd.Index, activities: pd.Index, learned: np.ndarray) -> np.ndarray:
    """Order key per (procedure, activity) from a catalogue's ``step_order``.

    Activities of the log matched (diacritic-insensitive) to a catalogue step get its
    ``step_order``; unmatched activities are placed by interpolating their learned rank between
    the matched ones. Procedures the catalogue does not list keep the learned order.
    """
    out = learned.copy()
    steps = getattr(catalog, "steps", None)
    if steps is None or len(steps) == 0:
        return out
    steps = pd.DataFrame(steps)
    code_col = "code" if "code" in steps.columns else steps.columns[0]
    folded_acts = np.array([fold(a) for a in activities.astype(str)], dtype=object)
    for pi, proc in enumerate(procedures.astype(str)):  # loop over procedures (a handful)
        st = steps.loc[steps[code_col].astype(str) == proc]
        if st.empty and len(procedures) == 1 and steps[code_col].nunique() == 1:
            st = steps
        if st.empty:
            continue
        m = dict(zip((fold(a) for a in st["activity"].astype(str)), st["step_order"].astype(float)))
        cat = np.array([m.get(a, np.nan) for a in folded_acts], dtype=np.float64)
        lr = learned[pi]
        matched = ~np.isnan(cat) & ~np.isnan(lr)
        if not matched.any():
            continue
        xs, ys = lr[matched], cat[matched]
        o = np.argsort(xs, kind="stable")
        interp = np.interp(lr, xs[o], ys[o])
        # unmatched steps sit just after the matched step they follow in the learned order
        res = np.where(np.isnan(cat), interp + 0.5, cat)
        res[np.isnan(lr) & np.isnan(cat)] = np.nan
        out[pi] = res
    return out


@dataclass
class BackEdges:
    mask: np.ndarray      # per event: the transition into this event is a back-edge
    per_case: np.ndarray
    edges: pd.DataFrame   # src, dst (codes), transitions, dossiers
    rows: np.ndarray | None = None   # the rows where ``mask`` holds


#: rows per block of the blocked passes over the whole log (their temporaries stay in cache)
BLOCK_ROWS = 1 << 16


def back_edges(seg: Segments, order: np.ndarray, procedure: np.ndarray) -> BackEdges:
    """Transitions into an earlier step of the normal order (``order[procedure, step]``).

    Up to 4M (procedure, source, target) cells: a back-edge table looked up once per event,
    in cache-sized blocks of rows (no log-sized temporaries); otherwise the order is compared
    event by event."""
    n = seg.case.size
    C, A = seg.n_cases, len(seg.activities)
    act = seg.activity
    mask = np.zeros(n, dtype=bool)
    rows = None
    if n:
        if order.shape[0] * A * A <= 1 << 22:
            # back-edge table per (procedure, source, target)
            with np.errstate(invalid="ignore"):
                back = (order[:, None, :] < order[:, :, None]).ravel()   # [p, src, dst]
            is_first = seg.is_first
            found = []
            for b0 in range(0, n, BLOCK_ROWS):
                b1 = min(b0 + BLOCK_ROWS, n)
                lo = max(b0, 1)
                if lo >= b1:
                    continue
                p = procedure[lo:b1].astype(np.int64)
                np.maximum(p, 0, out=p)
                p *= A
                p += act[lo - 1:b1 - 1]           # the source: the event before
                p *= A
                p += act[lo:b1]
                m = back[p]
                m &= ~is_first[lo:b1]
                mask[lo:b1] = m
                found.append(np.flatnonzero(m) + lo)
            rows = np.concatenate(found) if found else np.zeros(0, np.int64)
        else:
            p = np.maximum(procedure, 0).astype(np.int64)
            p *= A
            src = np.maximum(seg.prev_activity, 0)
            flat = order.ravel()
            o_src = flat[p + src]
            p += seg.activity
            mask = flat[p] < o_src
            del o_src, p, src
            mask &= ~seg.is_first
    if rows is None:
        rows = np.flatnonzero(mask)
    # a back-edge is never a dossier's first event
    src, dst = act[rows - 1].astype(np.int64), act[rows].astype(np.int64)
    key = src * A + dst
    trans = np.bincount(key, minlength=0) if key.size else np.zeros(0, np.int64)
    ck = seg.case[rows].astype(np.int64) * (A * A) + key
    uk = pd.unique(ck)
    doss = np.bincount(uk % (A * A), minlength=trans.size) if uk.size else np.zeros(0, np.int64)
    nz = np.flatnonzero(trans)
    edges = pd.DataFrame({"src": nz // max(A, 1), "dst": nz % max(A, 1), "transitions": trans[nz],
                          "dossiers": doss[nz]})
    return BackEdges(mask=mask, per_case=np.bincount(seg.case[rows], minlength=C), edges=edges,
                     rows=rows)


# ---------------------------------------------------------------------------------- DFG cycles
def dfg(seg: Segments) -> pd.DataFrame:
    A = len(seg.activities)
    nf = ~seg.is_first
    key = seg.prev_activity[nf] * A + seg.activity[nf]
    cnt = np.bincount(key, minlength=A * A) if key.size else np.zeros(A * A, np.int64)
    nz = np.flatnonzero(cnt)
    return pd.DataFrame({"src": nz // max(A, 1), "dst": nz % max(A, 1), "count": cnt[nz]})


def dfg_cycles(edges: pd.DataFrame, activities: pd.Index, *, length_bound: int = 4,
               max_cycles: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Strongly connected components and bounded simple cycles of the directly-follows graph.

    Returns ``(sccs, cycles)``: ``sccs`` one row per non-trivial component (size > 1 or with a
    self-loop), ``cycles`` up to ``max_cycles`` simple cycles of at most ``length_bound`` steps with
    their weight (the smallest directly-follows count along the cycle, an upper bound of how often
    the whole cycle can have been traversed), sorted by weight.
    """
    import networkx as nx

    G = nx.DiGraph()
    names = activities.astype(str)
    for s, d, c in zip(edges["src"].to_numpy(), edges["dst"].to_numpy(), edges["count"].to_numpy()):
        G.add_edge(int(s), int(d), count=int(c))
    scc_rows = []
    comp_of = {}
    for i, comp in enumerate(sorted(nx.strongly_connected_components(G), key=len, reverse=True)):
        comp = sorted(comp)
        selfloop = any(G.has_edge(c, c) for c in comp)
        if len(comp) > 1 or selfloop:
            cid = len(scc_rows)
            for c in comp:
                comp_of[c] = cid
            scc_rows.append({"scc": cid, "size": len(comp),
                             "activities": [names[c] for c in comp]})
    sccs = pd.DataFrame(scc_rows, columns=["scc", "size", "activities"])
    cyc_rows = []
    for cyc in islice(nx.simple_cycles(G, length_bound=length_bound), max_cycles):
        path = list(cyc) + [cyc[0]]
        w = min(G[a][b]["count"] for a, b in zip(path[:-1], path[1:]))
        cyc_rows.append({"cycle": " → ".join(names[c] for c in path), "length": len(cyc),
                         "weight": w, "scc": comp_of.get(cyc[0], -1)})
    cycles = pd.DataFrame(cyc_rows, columns=["cycle", "length", "weight", "scc"])
    if len(cycles):
        cycles = cycles.sort_values(["weight", "length"], ascending=[False, True],
                                    kind="stable").reset_index(drop=True)
    return sccs, cycles


# ---------------------------------------------------------------------------------- fragments
_HASH_P = np.uint64(0x9E3779B97F4A7C15)  # odd, so invertible modulo 2**64


def fragment_hashes(activity: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Position-independent 64-bit hash of the activity sequences ``rows first..last``.

    Polynomial hash with prefix sums modulo 2**64: ``h = sum_t (a_t + 1) * P**(t - first)``,
    obtained as ``(H[last] - H[first-1]) * P**(-first)``; no Python loop over fragments.
    """
    n = activity.size
    if first.size == 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(n, _HASH_P, dtype=np.uint64))  # P**1 .. P**n
        powers = np.r_[np.uint64(1), powers[:-1]]                   # P**0 .. P**(n-1)
        inv = pow(int(_HASH_P), -1, 1 << 64)
        inv_powers = np.cumprod(np.full(n, np.uint64(inv), dtype=np.uint64))
        inv_powers = np.r_[np.uint64(1), inv_powers[:-1]]
        terms = (activity.astype(np.uint64) + np.uint64(1)) * powers
        H = np.r_[np.uint64(0), np.cumsum(terms, dtype=np.uint64)]
        h = (H[last + 1] - H[first]) * inv_powers[first]
        h = h ^ (np.uint64(last - first + 1) * np.uint64(0xBF58476D1CE4E5B9))
    return h
