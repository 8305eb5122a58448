"""The replay engine: a vectorised per-dossier counterfactual on the working-time axis.

Every dossier's timeline is the chain of its segments (:mod:`tthc_mining.segments`): each event
after the first closes a segment = *waiting* (previous end -> start) + *processing* (start ->
end); without a start time the whole segment counts as waiting. A cut is a vectorised
transformation of the per-segment waiting and processing arrays (segments removed, scaled,
overlapped or collapsed); the dossier's new timeline is the old one with every segment shortened
by the cut's reduction, so the events after a shortened segment move earlier by the same amount
and nothing else changes (**no queue effects**: the other dossiers do not speed up or slow
down).

Rules of each cut (``r`` = reduction of a segment, never negative, never more than the segment):

* ``RemoveStep(X)``: the segments of X's events become 0 (waiting and processing).
* ``ShortenStep(X, factor | to_hours, part)``: processing (``part="processing"``, or
  ``"auto"`` where the event has a start time) or the whole segment (``"segment"``, or ``"auto"``
  without a start) is multiplied by ``factor`` or capped at ``to_hours``.
* ``MergeSteps(A, B)``: where B directly follows A, B's waiting disappears. Without a start time
  the segment keeps only an estimate of B's processing: the ``NO_START_PROCESSING_QUANTILE``
  quantile of B's segments (the fastest B's show how long the work itself takes).
* ``Parallelize(A, B)``: where B directly follows A (or A follows B), the pair runs at once:
  the later segment is reduced by ``min(segment A, segment B)`` (both agency-held). Chains
  A B A B pair up left to right without reusing a segment.
* ``RemoveLoop(kind | activity)``: the loops priced by :func:`tthc_mining.rework` (reused, not
  re-detected: :func:`tthc_mining.rework.detect.price_loops`) are dropped: every segment from
  the loop's first event (the trigger / supplement request) to the end of the repeated work
  becomes 0 (agency, citizen and third-party time). Each supplement received inside a removed
  loop is one visit the citizen does not make.
* ``ReduceLoopRate(kind, factor)``: each such loop is removed with probability ``1 - factor``;
  the draw is seeded and repeated ``draws`` times (common random numbers: one uniform number per
  loop and draw, shared by every cut of the call) and the per-dossier results are averaged.
* ``RemoveHandover(U, V)``: on agency segments handed over from unit U to unit V the waiting
  shrinks to ``residual_hours`` (default: the median waiting of V's agency segments that follow
  an event of V itself — an internal transfer, taken to be as fast as an electronic one).
* ``AddStaff(step, unit, n)`` under replay is an *approximation*: the waiting at the target is
  multiplied by the ratio of Erlang-C (M/M/c) mean queue waits with ``c + n`` and ``c``
  officers, where ``c`` = mean number of distinct officers active per working day at the target,
  the arrival rate = target events per working second of the observed span and the service time
  = mean processing (needs start times). The simulation engine is the right tool; ``auto`` uses
  it when :mod:`tthc_mining.simulation` is installed.
* ``Bundle([...])``: the parts are applied in order, each to the result of the previous ones.

Per dossier: the new timeline moves every event earlier by the reductions of the segments
before it (``E'_j = E_j - sum of r_k for k <= j``); the window in which ``tm.timing`` counts
agency time keeps its start (the receipt) and its end moves with the closing event (processing
finished / withdrawn / refused). The agency (citizen) working time is the sum of the
agency-owned (citizen-owned) pieces of the new segments inside the window, exactly as
``tm.timing`` counts it, so a cut whose removed time lies before the window (steps logged
before the receipt) still moves the finish earlier, and time after the close (waiting for the
citizen to collect the result) saves nothing. Saving = old count - new count (never negative:
every piece can only shrink); new agency time = ``agency_days - saving``; on time after = new
agency days ``<= budget_days``. The population scored is the *finished* dossiers
(``tm.timing(...).cases.outcome == "finished"``). Only the dossiers with a shortened segment are
recounted, and :meth:`ReplayContext.restrict` gives a context limited to one procedure's
dossiers, so a cut costs in proportion to the dossiers it can touch.

Queue check (:meth:`ReplayContext.pair_load`): for every (step, unit) whose segments a cut
shortens, the mean utilisation of its officers (:func:`tthc_mining.load.utilisation`) and the
Spearman correlation of the waiting with the backlog found at arrival; at ``QUEUE_UTILISATION``
or more, or a correlation of at least ``QUEUE_RHO`` (p < ``QUEUE_P``), the no-queue assumption
is doubtful and ``tm.score_cuts`` raises ``queue_flag`` (``auto`` then simulates the cut).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from ..segments import OWNER_AGENCY, OWNER_CITIZEN, segments
from .catalogue import (AddStaff, Bundle, Cut, MergeSteps, Parallelize, ReduceLoopRate,
                        RemoveHandover, RemoveLoop, RemoveStep, ShortenStep, resolve_name)

__all__ = ["ReplayContext", "ReplayOutcome", "context", "replay", "NO_START_PROCESSING_QUANTILE",
           "QUEUE_UTILISATION", "DEFAULT_DRAWS"]

#: without start times, the quantile of a step's segments taken as its pure processing time
NO_START_PROCESSING_QUANTILE = 0.05
#: officers' utilisation (busy / available time) from which the no-queue assumption is doubtful
QUEUE_UTILISATION = 0.8
#: Spearman rho of waiting vs work in progress from which a step is called a queue
QUEUE_RHO = 0.3
QUEUE_P = 0.01
#: events sampled per (step, unit) for the wait-vs-backlog correlation
QUEUE_SAMPLE = 5000
#: number of random draws for cuts that remove loops at random
DEFAULT_DRAWS = 20
_EPS_S = 1e-3


# ====================================================================== context
class ReplayContext:
    """Everything the replay needs from a log, computed once (cached on the log per catalogue).

    Per-event arrays (aligned with ``log.events``): ``case``, ``act``, ``prev_act``,
    ``unit``/``prev_unit`` (-1 missing), ``res`` (officer code, -1 missing), ``owner``,
    ``handover``, ``first``, ``has_start``, ``w0`` (waiting), ``p0`` (processing, 0 without a
    start), ``seg0 = w0 + p0``, ``E`` (event end on the working axis), ``piece0`` / ``counted``
    (the part of the segment inside the counting window). Per-dossier arrays: ``agency_s``,
    ``budget_s`` (working seconds), ``pop`` (finished dossiers), ``proc_case`` (code into
    ``procs``), ``received_ns``, ``cs`` / ``fin`` (the counting window on the working axis),
    ``close_row`` (row of the closing event), ``agency_window_s`` / ``citizen_window_s``.
    ``seg.case_start`` / ``seg.w_start`` / ``seg.case_ids`` come from the segments. These names
    are also read by :mod:`tthc_mining.simulation` (keep them stable).
    """

    def __init__(self, log, *, catalog: Any = None):
        from ..timing import timing as _timing
        self.log = log
        self.catalog = catalog if catalog is not None else getattr(log, "catalog", None)
        tim = _timing(log, catalog=self.catalog)
        self.timing = tim
        seg = segments(log)  # after timing: roles exist and the cache is current
        self.seg = seg
        self.L = float(log.calendar.seconds_per_day)
        self.n = n = seg.case.size
        self.C = seg.n_cases
        self.case = seg.case
        self.act = seg.activity
        self.acts = seg.activities
        self.prev_act = seg.prev_activity
        self.first = seg.is_first
        self.owner = seg.owner
        self.handover = seg.handover
        if S.GROUP in log.events.columns:
            self.unit, self.units = log.codes(S.GROUP)
        else:
            self.unit, self.units = np.full(n, -1, dtype=np.int64), pd.Index([])
        self.prev_unit = np.full(n, -1, dtype=np.int64)
        if n:
            self.prev_unit[1:] = self.unit[:-1]
        self.prev_unit[self.first] = -1
        seg0 = np.nan_to_num(seg.seg_s, nan=0.0)
        seg0[self.first] = 0.0
        self.has_start = np.isfinite(seg.w_start) & ~self.first & np.isfinite(seg.proc_s)
        self.p0 = np.where(self.has_start, np.nan_to_num(seg.proc_s, nan=0.0), 0.0)
        self.seg0 = seg0
        self.w0 = seg0 - self.p0
        cases = tim.cases
        self.cases = cases
        self.agency_s = cases["agency_days"].to_numpy(dtype=np.float64) * self.L
        self.budget_s = cases["budget_days"].to_numpy(dtype=np.float64) * self.L
        self.pop = (cases["outcome"].to_numpy(dtype=object) == "finished") & np.isfinite(self.agency_s)
        proc = cases["procedure"].astype(object)
        self.proc_case, self.procs = pd.factorize(proc, use_na_sentinel=True)
        rec = pd.DatetimeIndex(cases["received"])
        self.received_ns = rec.as_unit("ns").asi8
        # the window tm.timing counts agency time in, on the working axis: from the receipt to
        # the close (finished / withdrawn / refused)
        cal = log.calendar
        C = self.C
        cs = np.full(C, np.nan)
        okr = ~rec.isna()
        if okr.any():
            cs[okr] = cal.to_working(rec[okr])
        fin_idx = pd.DatetimeIndex(cases["closed"])
        fin = np.full(C, np.nan)
        okf = ~fin_idx.isna()
        if okf.any():
            fin[okf] = cal.to_working(fin_idx[okf])
        self.pop &= np.isfinite(fin) & np.isfinite(cs)
        self.cs = np.where(np.isfinite(cs), cs, -np.inf)
        self.fin = np.where(np.isfinite(fin), fin, np.inf)
        self.E = np.nan_to_num(seg.w_end, nan=0.0)
        # row of the event that closes the clock: the last event ending at or before fin
        at_or_before = self.E <= self.fin[self.case] + _EPS_S
        rows = np.flatnonzero(at_or_before)
        close_row = seg.case_start[:-1].copy()
        if rows.size:
            c = self.case[rows]
            last = np.ones(rows.size, dtype=bool)
            last[:-1] = c[:-1] != c[1:]
            close_row[c[last]] = rows[last]
        self.close_row = close_row
        self.own_agency = self.owner == OWNER_AGENCY
        self.own_citizen = self.owner == OWNER_CITIZEN
        if S.RESOURCE in log.events.columns:
            self.res, self.resources = log.codes(S.RESOURCE)
        else:
            self.res, self.resources = np.full(n, -1, dtype=np.int64), pd.Index([])
        self.cs_ev = self.cs[self.case] if n else np.zeros(0)
        uc, ag0, ci0, piece0, _ = self.window_sums(np.zeros(n))
        self.agency_window_s, self.citizen_window_s, self.piece0 = ag0, ci0, piece0
        self.counted = piece0  # the part of each segment counted (tm.timing's counted_h x 3600)
        # the observation period (years between the first and the last receipt of a finished
        # dossier), for annual volumes
        r = self.received_ns[self.pop]
        r = r[r != np.iinfo(np.int64).min]
        span_days = (r.max() - r.min()) / 86_400e9 if r.size >= 2 else 0.0
        self.span_years = span_days / 365.25 if span_days >= 1 else float("nan")
        self._parent = None

    _EVENT_ARRAYS = ("act", "prev_act", "first", "owner", "handover", "unit", "prev_unit",
                     "has_start", "p0", "seg0", "w0", "E", "own_agency", "own_citizen",
                     "piece0", "res", "cs_ev")
    _CASE_ARRAYS = ("agency_s", "budget_s", "pop", "proc_case", "received_ns", "cs", "fin",
                    "agency_window_s", "citizen_window_s")

    def restrict(self, scope: np.ndarray) -> "ReplayContext":
        """The same context restricted to the dossiers of ``scope`` (a boolean mask over
        dossiers), with its own compact codes: every replay on it costs in proportion to those
        dossiers only. Cached per scope; queue evidence is shared with the whole log."""
        scope = np.asarray(scope, dtype=bool)
        if self._parent is not None:
            raise ConfigError("restrict() applies to the context of a whole log")  # pragma: no cover
        if scope.all():
            return self
        cache = self.__dict__.setdefault("_restricted", {})
        key = (hash(np.packbits(scope).tobytes()), int(scope.sum()))
        sub = cache.get(key)
        if sub is not None:
            return sub
        if len(cache) > 64:
            cache.clear()
        import types
        cases = np.flatnonzero(scope)
        rows = self.case_rows(cases)
        newpos = np.full(self.n, -1, dtype=np.int64)
        newpos[rows] = np.arange(rows.size)
        newcase = np.full(self.C, -1, dtype=np.int64)
        newcase[cases] = np.arange(cases.size)
        sub = object.__new__(ReplayContext)
        for name in ("log", "catalog", "timing", "L", "acts", "units", "procs", "resources",
                     "span_years"):
            setattr(sub, name, getattr(self, name))
        sub._parent = self
        sub.n, sub.C = int(rows.size), int(cases.size)
        sub.case = newcase[self.case[rows]]
        for name in self._EVENT_ARRAYS:
            setattr(sub, name, getattr(self, name)[rows])
        for name in self._CASE_ARRAYS:
            setattr(sub, name, getattr(self, name)[cases])
        sub.close_row = newpos[self.close_row[cases]]
        sub.cases = self.cases.iloc[cases].reset_index(drop=True)
        lengths = np.diff(self.seg.case_start)[cases]
        sub.seg = types.SimpleNamespace(
            case_start=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            case_ids=self.seg.case_ids[cases], w_end=self.seg.w_end[rows],
            w_start=self.seg.w_start[rows], w_prev_end=self.seg.w_prev_end[rows],
            n_cases=int(cases.size))
        if "loops" in self.__dict__:  # loops already detected on the whole log: remap them
            sub.__dict__["loops"] = _restrict_loops(self.loops, scope, newcase, newpos, rows)
        cache[key] = sub
        return sub

    def blocked_rows(self, scope: np.ndarray) -> np.ndarray:
        """Per event: no segment to shorten (a dossier's first event, or a dossier out of
        ``scope``); cached for the last few scopes."""
        cache = self.__dict__.setdefault("_blocked", {})
        key = (hash(np.packbits(scope).tobytes()), int(scope.sum()))
        b = cache.get(key)
        if b is None:
            if len(cache) > 16:
                cache.clear()
            b = self.first | ~scope[self.case] if self.n else np.zeros(0, dtype=bool)
            cache[key] = b
        return b

    def case_rows(self, cases: np.ndarray) -> np.ndarray:
        """Event rows of the given (sorted, distinct) dossier codes, in log order."""
        cs = self.seg.case_start
        starts, lengths = cs[cases], cs[cases + 1] - cs[cases]
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        offs = np.cumsum(lengths) - lengths
        return np.arange(total, dtype=np.int64) - np.repeat(offs - starts, lengths)

    def window_sums(self, red: np.ndarray, rows: np.ndarray | None = None):
        """Agency and citizen working seconds inside the counting window when every segment
        ``j`` is shortened by ``red[j]`` (all later events of the dossier move earlier).

        ``rows``: the event rows of whole dossiers to compute (default: all). Returns
        ``(cases, agency_s, citizen_s, pieces, shift)``: the dossier codes, their sums, the piece
        of every row counted and how far every row's end moved. With ``red == 0`` this is
        ``tm.timing``'s count."""
        if rows is None:
            first_r = self.first
            case_r = self.case
            E = self.E
            red_r = red
            own_a, own_c = self.own_agency, self.own_citizen
            cid = case_r
            ucase = np.arange(self.C)
            start_pos = self.seg.case_start[:-1]
            cs_r = self.cs_ev
        else:
            first_r = self.first[rows]
            case_r = self.case[rows]
            E = self.E[rows]
            red_r = red[rows]
            own_a, own_c = self.own_agency[rows], self.own_citizen[rows]
            cid = np.cumsum(first_r) - 1
            start_pos = np.flatnonzero(first_r)
            ucase = case_r[start_pos]
            cs_r = self.cs_ev[rows]
        m = len(ucase)
        if red_r.size == 0:
            z = np.zeros(m)
            return ucase, z, z.copy(), np.zeros(0), np.zeros(0)
        cumred = np.cumsum(red_r)
        base = cumred[start_pos] - red_r[start_pos]
        cumred -= base[cid]               # reduction accumulated within the dossier
        E1 = E - cumred                   # new event ends
        Ep = np.empty_like(E1)
        Ep[1:] = E1[:-1]
        Ep[first_r] = -np.inf  # a dossier's first event counts from the start of the window
        close_pos = start_pos + (self.close_row[ucase] - self.seg.case_start[ucase])
        fin1 = self.fin[ucase] - cumred[close_pos]
        np.maximum(Ep, cs_r, out=Ep)      # lo
        np.minimum(E1, fin1[cid], out=E1)  # hi
        piece = np.subtract(E1, Ep, out=E1)
        np.maximum(piece, 0.0, out=piece)
        ag = np.bincount(cid, weights=piece * own_a, minlength=m)
        ci = np.bincount(cid, weights=piece * own_c, minlength=m)
        return ucase, ag, ci, piece, cumred

    # ------------------------------------------------------------------ names
    def activity_code(self, name: str) -> int:
        return resolve_name(name, self.acts, "activity")

    def unit_code(self, name: str) -> int:
        if not len(self.units):
            raise ConfigError("this cut needs the unit column (org:group), which the log does not have")
        return resolve_name(name, self.units, "unit")

    # ------------------------------------------------------------------ lazily derived
    @cached_property
    def loops(self):
        """Priced loops of :func:`tthc_mining.rework` (its detection kernels, reused)."""
        if self._parent is not None:
            p = self._parent
            scope = np.zeros(p.C, dtype=bool)
            scope[np.asarray(self.seg.case_ids.map(_case_index(p)))] = True
            newcase = np.full(p.C, -1, dtype=np.int64)
            cases = np.flatnonzero(scope)
            newcase[cases] = np.arange(cases.size)
            rows = p.case_rows(cases)
            newpos = np.full(p.n, -1, dtype=np.int64)
            newpos[rows] = np.arange(rows.size)
            return _restrict_loops(p.loops, scope, newcase, newpos, rows)
        from ..rework.detect import event_codes, occurrences, price_loops
        codes = event_codes(self.log)
        occ = occurrences(self.seg)
        return price_loops(self.seg, occ, codes), codes

    @cached_property
    def is_received(self) -> np.ndarray:
        return self.loops[1].is_received

    def loop_mask(self, kind: str | None, activity: str | None) -> np.ndarray:
        """Boolean mask over the priced loops of a kind and/or closing activity."""
        from ..rework.detect import LOOP_KINDS as RK
        lp, _ = self.loops
        m = np.ones(lp.size, dtype=bool)
        if kind is not None and kind != "any":
            m &= lp.kind == int(np.flatnonzero(RK == kind)[0])
        if activity is not None:
            m &= lp.closing_activity == self.activity_code(activity)
        return m

    @cached_property
    def loop_uniforms(self) -> dict:
        return {}

    def uniforms(self, seed: int, draw: int) -> np.ndarray:
        """One uniform number per priced loop for a draw (common random numbers)."""
        key = (int(seed), int(draw))
        u = self.loop_uniforms.get(key)
        if u is None:
            u = np.random.default_rng([int(seed), int(draw), 7919]).random(self.loops[0].size)
            self.loop_uniforms[key] = u
        return u

    def processing_estimate(self, code: int) -> float:
        """Pure processing of a step without start times: a low quantile of its segments."""
        m = (self.act == code) & ~self.first
        if not m.any():
            return 0.0
        return float(np.quantile(np.maximum(self.seg0[m], 0.0), NO_START_PROCESSING_QUANTILE))

    def internal_wait(self, unit_code: int) -> tuple[float, int, str]:
        """Median waiting of agency segments that end at ``unit_code`` after an event of the
        same unit (an internal transfer), over the whole log (every procedure); falls back to
        all internal transfers of the log."""
        if self._parent is not None:
            return self._parent.internal_wait(unit_code)
        table = self.__dict__.get("_internal_wait")
        if table is None:   # every unit at once (one sort by unit), then looked up
            table = self.__dict__["_internal_wait"] = self._internal_waits()
        per_unit, overall = table
        hit = per_unit.get(int(unit_code))
        return hit if hit is not None else overall

    def _internal_waits(self):
        """``({unit: (median, n, basis)} for units with >= 5 internal transfers, fallback)``:
        the medians :meth:`internal_wait` returns (``np.median`` of the same values)."""
        base = (~self.first) & (self.owner == OWNER_AGENCY) & (self.unit >= 0) & \
               (self.prev_unit == self.unit) & (self.w0 >= 0)
        idx = np.flatnonzero(base)
        del base
        if not idx.size:
            return {}, (0.0, 0, "no internal transfers in the log (residual 0)")
        w = self.w0[idx]
        u = self.unit[idx]
        del idx
        overall = (float(np.median(w)), int(w.size), "all internal transfers of the log")
        order = np.argsort(u, kind="stable")
        u, w = u[order], w[order]
        del order
        cuts = np.flatnonzero(np.r_[True, u[1:] != u[:-1], True])
        per_unit = {}
        for a, b in zip(cuts[:-1], cuts[1:]):   # one slice per unit (a few dozen)
            if b - a >= 5:
                per_unit[int(u[a])] = (float(np.median(w[a:b])), int(b - a),
                                       "receiving unit's internal transfers")
        return per_unit, overall

    def pair_load(self, pairs: np.ndarray) -> pd.DataFrame:
        """Queue evidence for (activity, unit) pairs (codes of :attr:`pair_key`), computed on
        first request and cached: the mean utilisation of the pair's officers
        (:func:`tthc_mining.load.utilisation` — busy union of processing intervals / available
        time; needs start times and officers), the Spearman correlation of the waiting with the
        backlog found at arrival (dossiers already waiting at the same step of the same unit,
        :func:`tthc_mining.bottlenecks.wip_at_arrival`; at most ``QUEUE_SAMPLE`` sampled events
        per pair), and ``queue`` = the no-queue assumption is doubtful there (utilisation >=
        ``QUEUE_UTILISATION``, or rho >= ``QUEUE_RHO`` with p < ``QUEUE_P``)."""
        if self._parent is not None:
            return self._parent.pair_load(pairs)
        cache = self.__dict__.setdefault("_pair_load", {})
        pairs = np.unique(np.asarray(pairs, dtype=np.int64))
        todo = pairs[[int(k) not in cache for k in pairs]] if pairs.size else pairs
        if todo.size:
            for k, row in self._compute_pair_load(todo).iterrows():  # one row per new pair
                cache[int(k)] = row
        cols = ["activity", "unit", "events", "utilisation", "queue_rho", "queue_p", "queue"]
        if not pairs.size:
            return pd.DataFrame(columns=cols)
        return pd.DataFrame([cache[int(k)] for k in pairs], index=pairs)[cols]

    def _compute_pair_load(self, pairs: np.ndarray) -> pd.DataFrame:
        from scipy.special import stdtr  # Student t CDF (lighter than importing scipy.stats)
        from ..bottlenecks import wip_at_arrival
        U = len(self.units)
        lut = np.zeros(int(max(self.pair_key.max(initial=0), pairs.max(initial=0))) + 1, dtype=bool)
        lut[pairs] = True
        m = (~self.first) & (self.owner == OWNER_AGENCY) & lut[self.pair_key]
        idx = np.flatnonzero(m)
        K = len(pairs)
        key = np.searchsorted(pairs, self.pair_key[idx])
        cnt = np.bincount(key, minlength=K)
        util = np.full(K, np.nan)
        if S.RESOURCE in self.log.events.columns and self.has_start[idx].any():
            res, rnames = self.log.codes(S.RESOURCE)
            offs = np.unique(res[idx][res[idx] >= 0])
            if offs.size:
                from ..load import utilisation
                # an officer's utilisation depends on that officer's events only: the whole
                # log's table (tm.utilisation(log), what the analyst sees) computed once and
                # read for every request, instead of a sub-log (and its segments) per request
                ut = self.__dict__.get("_utilisation_all")
                if ut is None:
                    ut = self.__dict__["_utilisation_all"] = utilisation(self.log)
                per_off = pd.Series(ut["utilisation"].to_numpy(dtype=np.float64),
                                    index=ut["resource"].astype(str))
                per_off = per_off[~per_off.index.duplicated()]
                per_code = per_off.reindex(pd.Index(rnames.astype(str))).to_numpy(dtype=np.float64)
                r = res[idx]
                u_ev = np.full(idx.size, np.nan)
                okr = r >= 0
                u_ev[okr] = per_code[r[okr]]
                okv = np.isfinite(u_ev)
                s_u = np.bincount(key[okv], weights=u_ev[okv], minlength=K)
                n_u = np.bincount(key[okv], minlength=K)
                with np.errstate(invalid="ignore", divide="ignore"):
                    util = np.where(n_u > 0, s_u / np.maximum(n_u, 1), np.nan)
        rho = np.full(K, np.nan)
        pval = np.full(K, np.nan)
        arrive = self.seg.w_prev_end[idx]
        depart = np.where(self.has_start[idx], self.seg.w_start[idx], self.seg.w_end[idx])
        ok = np.isfinite(arrive) & np.isfinite(depart)
        if ok.any():
            rng = np.random.default_rng(12345)
            frac = np.minimum(1.0, QUEUE_SAMPLE / np.maximum(cnt, 1))
            take = np.flatnonzero(ok & (rng.random(idx.size) < frac[key]))
            items = np.flatnonzero(ok)
            pos = np.searchsorted(items, take)
            wip = wip_at_arrival(key[items], arrive[items], depart[items], pos).astype(np.float64)
            wait = np.maximum(depart[take] - arrive[take], 0.0)
            g = key[take]
            df = pd.DataFrame({"g": g, "x": wip, "y": wait})
            rx = df.groupby("g")["x"].rank().to_numpy()
            ry = df.groupby("g")["y"].rank().to_numpy()
            nn = np.bincount(g, minlength=K).astype(np.float64)
            sx, sy = np.bincount(g, rx, K), np.bincount(g, ry, K)
            sxx, syy, sxy = np.bincount(g, rx * rx, K), np.bincount(g, ry * ry, K), np.bincount(g, rx * ry, K)
            with np.errstate(invalid="ignore", divide="ignore"):
                vx, vy = sxx - sx * sx / nn, syy - sy * sy / nn
                r = (sxy - sx * sy / nn) / np.sqrt(vx * vy)
                dfree = nn - 2
                t = r * np.sqrt(dfree / np.maximum((1 - r) * (1 + r), 1e-300))
                pv = 2.0 * stdtr(np.maximum(dfree, 1), -np.abs(t))
            good = (nn >= 10) & (vx > 0) & (vy > 0)
            rho[good], pval[good] = r[good], pv[good]
        with np.errstate(invalid="ignore"):
            queue = (util >= QUEUE_UTILISATION) | ((rho >= QUEUE_RHO) & (pval < QUEUE_P))
        names = self.acts.to_numpy(dtype=object).astype(str)
        unames = np.append(self.units.to_numpy(dtype=object), None)
        return pd.DataFrame({"activity": names[pairs // (U + 1)], "unit": unames[(pairs % (U + 1)) - 1],
                             "events": cnt.astype(np.int64), "utilisation": util,
                             "queue_rho": rho, "queue_p": pval, "queue": queue}, index=pairs)

    @cached_property
    def n_pairs(self) -> int:
        """Number of (activity, unit) pair codes (``pair_key < n_pairs``)."""
        return len(self.acts) * (len(self.units) + 1)

    @cached_property
    def pair_key(self) -> np.ndarray:
        """Per event: activity x (unit + 1) code (unit -1 -> 0)."""
        U = len(self.units)
        return self.act * (U + 1) + (self.unit + 1)

    def staff_target(self, cut: AddStaff) -> np.ndarray:
        m = (~self.first) & (self.owner == OWNER_AGENCY)
        if cut.step is not None:
            m &= self.act == self.activity_code(cut.step)
        if cut.unit is not None:
            m &= self.unit == self.unit_code(cut.unit)
        return m


def _case_index(ctx: ReplayContext) -> dict:
    cache = ctx.__dict__.get("_case_index")
    if cache is None:
        cache = {c: i for i, c in enumerate(ctx.seg.case_ids)}
        ctx.__dict__["_case_index"] = cache
    return cache


def _restrict_loops(loops, scope: np.ndarray, newcase: np.ndarray, newpos: np.ndarray,
                    rows: np.ndarray):
    """The priced loops of the dossiers in ``scope``, with rows and dossiers renumbered."""
    import types
    lp, codes = loops
    keep = scope[lp.case] if lp.size else np.zeros(0, dtype=bool)

    def rows_of(a):
        a = a[keep]
        return np.where(a >= 0, newpos[np.maximum(a, 0)], -1)

    sub = types.SimpleNamespace(
        case=newcase[lp.case[keep]], start=rows_of(lp.start), end=rows_of(lp.end),
        kind=lp.kind[keep], closing_activity=lp.closing_activity[keep],
        agency_s=lp.agency_s[keep], citizen_s=lp.citizen_s[keep], size=int(keep.sum()))
    sub_codes = types.SimpleNamespace(is_received=codes.is_received[rows])
    return sub, sub_codes


def context(log, *, catalog: Any = None) -> ReplayContext:
    """The replay context of a log (cached on the log per catalogue)."""
    cat = catalog if catalog is not None else getattr(log, "catalog", None)
    key = ("cuts_replay_ctx", id(cat))
    ctx = log._cache.get(key)
    if ctx is None:
        ctx = ReplayContext(log, catalog=cat)
        log._cache[key] = ctx
    return ctx


# ====================================================================== state and cut kernels
@dataclass
class _State:
    w: np.ndarray
    p: np.ndarray
    visits: np.ndarray          # per case: visits avoided
    notes: list = field(default_factory=list)

    @property
    def seg(self) -> np.ndarray:
        return self.w + self.p


def _reduce_total(st: _State, idx: np.ndarray, red: np.ndarray) -> None:
    """Shorten segments ``idx`` by ``red`` (>= 0), taking waiting first, then processing."""
    red = np.clip(red, 0.0, None)
    w, p = st.w[idx], st.p[idx]
    from_w = np.minimum(red, np.maximum(w, 0.0))
    rest = red - from_w
    from_p = np.minimum(rest, np.maximum(p, 0.0))
    st.w[idx] = w - from_w
    st.p[idx] = p - from_p


def _apply_remove_step(ctx: ReplayContext, cut: RemoveStep, st: _State, seed: int, draw: int) -> None:
    m = (ctx.act == ctx.activity_code(cut.activity)) & ~ctx.first
    st.w[m] = 0.0
    st.p[m] = 0.0


def _apply_shorten(ctx: ReplayContext, cut: ShortenStep, st: _State, seed: int, draw: int) -> None:
    m = (ctx.act == ctx.activity_code(cut.activity)) & ~ctx.first
    if cut.part == "processing":
        proc_rows = m & ctx.has_start
        seg_rows = np.zeros_like(m)
    elif cut.part == "segment":
        proc_rows = np.zeros_like(m)
        seg_rows = m
    else:
        proc_rows = m & ctx.has_start
        seg_rows = m & ~ctx.has_start
    cap = None if cut.to_hours is None else cut.to_hours * 3600.0
    if proc_rows.any():
        p = st.p[proc_rows]
        st.p[proc_rows] = p * cut.factor if cap is None else np.minimum(p, cap)
    if seg_rows.any():
        idx = np.flatnonzero(seg_rows)
        tot = st.w[idx] + st.p[idx]
        new = tot * cut.factor if cap is None else np.minimum(tot, cap)
        _reduce_total(st, idx, np.where(tot > 0, tot - new, 0.0))


def _apply_merge(ctx: ReplayContext, cut: MergeSteps, st: _State, seed: int, draw: int) -> None:
    a, b = ctx.activity_code(cut.a), ctx.activity_code(cut.b)
    m = (ctx.act == b) & (ctx.prev_act == a) & ~ctx.first & (ctx.owner == OWNER_AGENCY)
    hs = m & ctx.has_start
    st.w[hs] = np.minimum(st.w[hs], 0.0)
    ns = m & ~ctx.has_start
    if ns.any():
        q = ctx.processing_estimate(b)
        st.w[ns] = np.minimum(st.w[ns], q)
        st.notes.append(f"no start times: {cut.b!r} keeps {q / 3600:.2f} h of processing "
                        f"(the {NO_START_PROCESSING_QUANTILE:.0%} quantile of its segments)")


def _apply_parallel(ctx: ReplayContext, cut: Parallelize, st: _State, seed: int, draw: int) -> None:
    a, b = ctx.activity_code(cut.a), ctx.activity_code(cut.b)
    n = ctx.n
    if n < 2:
        return
    cand = np.zeros(n, dtype=bool)
    cand[1:] = (((ctx.act[1:] == b) & (ctx.prev_act[1:] == a)) |
                ((ctx.act[1:] == a) & (ctx.prev_act[1:] == b)))
    cand &= ~ctx.first & (ctx.owner == OWNER_AGENCY)
    cand[1:] &= (ctx.owner[:-1] == OWNER_AGENCY)
    # in a run of consecutive candidates (A B A B ...) keep every other one: no segment is
    # paired twice
    start_run = cand.copy()
    start_run[1:] &= ~cand[:-1]
    pos_in_run = np.arange(n) - np.maximum.accumulate(np.where(start_run, np.arange(n), 0))
    keep = cand & (pos_in_run % 2 == 0)
    idx = np.flatnonzero(keep)
    if not idx.size:
        return
    seg_now = st.w + st.p
    prev_is_first = ctx.first[idx - 1]
    red = np.where(prev_is_first, 0.0, np.minimum(np.maximum(seg_now[idx - 1], 0.0),
                                                  np.maximum(seg_now[idx], 0.0)))
    _reduce_total(st, idx, red)


def _apply_loops(ctx: ReplayContext, sel: np.ndarray, st: _State) -> None:
    lp, _ = ctx.loops
    if not sel.any():
        return
    n = ctx.n
    diff = np.zeros(n + 1, dtype=np.int64)
    np.add.at(diff, lp.start[sel], 1)
    np.add.at(diff, lp.end[sel] + 1, -1)
    cov = np.cumsum(diff[:-1]) > 0
    cov &= ~ctx.first
    st.w[cov] = 0.0
    st.p[cov] = 0.0
    rx = cov & ctx.is_received
    if rx.any():
        st.visits += np.bincount(ctx.case[rx], minlength=ctx.C)


def _apply_remove_loop(ctx: ReplayContext, cut: RemoveLoop, st: _State, seed: int, draw: int) -> None:
    _apply_loops(ctx, ctx.loop_mask(cut.loop_kind, cut.activity), st)


def _apply_reduce_loop(ctx: ReplayContext, cut: ReduceLoopRate, st: _State, seed: int, draw: int) -> None:
    sel = ctx.loop_mask(cut.loop_kind, cut.activity)
    u = ctx.uniforms(seed, draw)
    _apply_loops(ctx, sel & (u < 1.0 - cut.factor), st)


def _apply_handover(ctx: ReplayContext, cut: RemoveHandover, st: _State, seed: int, draw: int) -> None:
    fu, tu = ctx.unit_code(cut.from_unit), ctx.unit_code(cut.to_unit)
    m = ctx.handover & (ctx.prev_unit == fu) & (ctx.unit == tu) & ~ctx.first & \
        (ctx.owner == OWNER_AGENCY)
    if cut.residual_hours is None:
        res, n_basis, basis = ctx.internal_wait(tu)
        st.notes.append(f"residual wait {res / 3600:.2f} h = median of {n_basis:,} {basis}")
    else:
        res = cut.residual_hours * 3600.0
    st.w[m] = np.minimum(st.w[m], res)


def _erlang_c_wq(c: int, a: float) -> float:
    """Mean waiting in queue (in units of the mean service time) of M/M/c with offered load a."""
    if a >= c:
        return float("inf")
    # Erlang C probability of waiting, computed stably
    term, s = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        s += term
    term *= a / c  # a^c / c!
    last = term * c / (c - a)
    pw = last / (s + last)
    return pw / (c - a)


def addstaff_ratio(ctx: ReplayContext, cut: AddStaff) -> tuple[float, dict]:
    """Ratio of M/M/c queue waits with ``c + n`` and ``c`` officers at the cut's target."""
    m = ctx.staff_target(cut)
    if not (m & ctx.has_start).any():
        raise ConfigError(f"{cut} under replay needs start times (start_timestamp) to estimate the "
                          "service time; this log has none at the target — use method='simulate'")
    if S.RESOURCE not in ctx.log.events.columns:
        raise ConfigError(f"{cut} needs the officer column (org:resource) to count officers")
    idx = np.flatnonzero(m)
    w_end = ctx.seg.w_end[idx]
    span = max(float(np.nanmax(w_end) - np.nanmin(w_end)), ctx.L)
    lam = idx.size / span
    hs = ctx.has_start[idx]
    es = float(ctx.p0[idx][hs].mean())
    day = np.floor(w_end / ctx.L).astype(np.int64)
    r = ctx.res[idx]
    ok = r >= 0
    pairs = pd.unique(day[ok] * (int(r.max()) + 2) + r[ok]) if ok.any() else np.zeros(0, np.int64)
    per_day = np.bincount(pd.factorize(pairs // (int(r.max()) + 2))[0]) if pairs.size else np.ones(1)
    c = max(1, int(round(float(per_day.mean()))))
    a = lam * es
    info = {"arrivals_per_day": lam * ctx.L, "service_h": es / 3600.0, "officers": c,
            "utilisation": a / c}
    capped = False
    if a >= 0.98 * c:
        a = 0.98 * c
        capped = True
    w_before = _erlang_c_wq(c, a)
    w_after = _erlang_c_wq(c + cut.n, a)
    ratio = w_after / w_before if w_before > 0 else 1.0
    info.update({"ratio": ratio, "capped": capped})
    return float(ratio), info


def _apply_addstaff(ctx: ReplayContext, cut: AddStaff, st: _State, seed: int, draw: int) -> None:
    ratio, info = addstaff_ratio(ctx, cut)
    m = ctx.staff_target(cut)
    st.w[m] = np.where(st.w[m] > 0, st.w[m] * ratio, st.w[m])
    st.notes.append(f"M/M/c approximation: c={info['officers']}, utilisation "
                    f"{info['utilisation']:.2f}{' (capped at 0.98)' if info['capped'] else ''}, "
                    f"waits x {ratio:.3f}")


def _apply_bundle(ctx: ReplayContext, cut: Bundle, st: _State, seed: int, draw: int) -> None:
    for c in cut.cuts:
        apply_cut(ctx, c, st, seed, draw)


_APPLY = {RemoveStep: _apply_remove_step, ShortenStep: _apply_shorten, MergeSteps: _apply_merge,
          Parallelize: _apply_parallel, RemoveLoop: _apply_remove_loop,
          ReduceLoopRate: _apply_reduce_loop, RemoveHandover: _apply_handover,
          AddStaff: _apply_addstaff, Bundle: _apply_bundle}


def apply_cut(ctx: ReplayContext, cut: Cut, st: _State, seed: int, draw: int) -> None:
    f = _APPLY.get(type(cut))
    if f is None:
        raise ConfigError(f"the replay engine does not know the cut {cut!r}")
    f(ctx, cut, st, seed, draw)


def _is_random(cut: Cut) -> bool:
    return any(isinstance(c, ReduceLoopRate) and 0.0 < c.factor < 1.0 for c in cut.parts())


# ====================================================================== outcome
@dataclass
class ReplayOutcome:
    """Per-dossier and per-event results of replaying one cut (averaged over draws)."""

    cut: Cut
    saved_s: np.ndarray             # per dossier: agency working seconds saved (clock window)
    citizen_saved_s: np.ndarray     # per dossier: citizen working seconds saved
    visits_avoided: np.ndarray      # per dossier
    affected: np.ndarray            # per dossier: share of draws in which a segment changed
    on_time_after: np.ndarray       # per dossier: P(agency after <= budget) (NaN: no budget)
    reduction_s: np.ndarray         # per event: mean reduction of the segment (all owners)
    counted_reduction_s: np.ndarray | None  # per event: mean decrease of the counted piece
                                            # (only with replay(..., per_event=True))
    agency_after_s: np.ndarray      # per dossier: agency working seconds after the cut
    pop: np.ndarray                 # per dossier: scored (finished and in scope)
    draws: int
    notes: list
    touched_pairs: np.ndarray | None = None  # (activity, unit) pair codes of changed segments
    downstream_pairs: np.ndarray | None = None  # pairs of later events that only move earlier


def scope_cases(ctx: ReplayContext, procedure: Any = None) -> np.ndarray:
    """Boolean mask over dossiers: those of ``procedure`` (a code or a list), all for None."""
    if procedure is None:
        return np.ones(ctx.C, dtype=bool)
    wanted = [procedure] if isinstance(procedure, str) or np.ndim(procedure) == 0 else list(procedure)
    codes = pd.Index(ctx.procs.astype(str)).get_indexer([str(w) for w in wanted])
    if (codes < 0).any():
        missing = [w for w, c in zip(wanted, codes) if c < 0]
        known = sorted(map(str, ctx.procs))[:40]
        raise ConfigError(f"unknown procedure {missing[0]!r}; known: {', '.join(known)}")
    return np.isin(ctx.proc_case, codes)


def replay(log_or_ctx, cut: Cut, *, seed: int = 0, draws: int | None = None,
           catalog: Any = None, validate: bool = True, cases: np.ndarray | None = None,
           procedure: Any = None, per_event: bool = False) -> ReplayOutcome:
    """Replay one cut on every dossier (see the module docstring for the rules).

    ``cases`` (a boolean mask over dossiers) or ``procedure`` limits the cut to some dossiers:
    the others keep their timeline and are not scored. ``per_event=True`` also returns, per
    event, how much of the counted time disappears from its piece of the window."""
    ctx = log_or_ctx if isinstance(log_or_ctx, ReplayContext) else context(log_or_ctx, catalog=catalog)
    if not isinstance(cut, Cut):
        raise ConfigError(f"expected a cut object (tm.cuts.RemoveStep(...), ...), got {cut!r}")
    if validate:
        cut.validate(ctx.log)
    scope = scope_cases(ctx, procedure) if cases is None else np.asarray(cases, dtype=bool)
    if scope.shape != (ctx.C,):
        raise ConfigError(f"cases must be a boolean mask over the {ctx.C} dossiers")
    # first events have no segment and no cut touches them; other dossiers are blocked only
    # when the scope leaves some out
    blocked = None if scope.all() else ctx.blocked_rows(scope)
    random = _is_random(cut)
    R = (DEFAULT_DRAWS if draws is None else int(draws)) if random else 1
    if R < 1:
        raise ConfigError("draws must be at least 1")
    C, n = ctx.C, ctx.n
    saved = np.zeros(C)
    cit = np.zeros(C)
    visits = np.zeros(C)
    affected = np.zeros(C)
    on_after = np.zeros(C)
    red_ev = np.zeros(n) if R > 1 else None
    cred_ev = np.zeros(n) if per_event else None
    pair_hits = np.zeros(ctx.n_pairs, dtype=np.int64)
    down_hits = np.zeros_like(pair_hits)
    has_budget = np.isfinite(ctx.budget_s)
    notes: list[str] = []
    for d in range(R):  # loop over random draws (R = 1 for deterministic cuts)
        st = _State(w=ctx.w0.copy(), p=ctx.p0.copy(), visits=np.zeros(C))
        apply_cut(ctx, cut, st, seed, d)
        red = ctx.seg0 - st.w
        red -= st.p
        np.maximum(red, 0.0, out=red)
        if blocked is not None:
            red[blocked] = 0.0
        # only the dossiers with a shortened segment need their window recounted
        ch_rows = np.flatnonzero(red > 0.0)
        pair_hits += np.bincount(ctx.pair_key[ch_rows], minlength=pair_hits.size)
        tc_all = ctx.case[ch_rows]
        tc = tc_all[np.r_[True, tc_all[1:] != tc_all[:-1]]] if tc_all.size else tc_all
        if tc.size > 0.6 * C:  # most dossiers change: the full pass is cheaper than gathers
            rows = None
            uc, ag1, ci1, piece1, shift = ctx.window_sums(red)
            red_r, pk_r = red, ctx.pair_key
        else:
            rows = ctx.case_rows(tc)
            uc, ag1, ci1, piece1, shift = ctx.window_sums(red, rows)
            red_r, pk_r = red[rows], ctx.pair_key[rows]
        s_ag = np.zeros(C)
        s_ci = np.zeros(C)
        s_ag[uc] = ctx.agency_window_s[uc] - ag1
        s_ci[uc] = ctx.citizen_window_s[uc] - ci1
        changed = np.zeros(C)
        changed[tc_all[red[ch_rows] > _EPS_S]] = 1.0
        after = ctx.agency_s - s_ag
        ok = np.where(has_budget, after <= ctx.budget_s + _EPS_S, False).astype(np.float64)
        saved += s_ag
        cit += s_ci
        visits += np.where(scope, st.visits, 0.0)
        affected += changed
        on_after += ok
        if R > 1:
            red_ev += red
        else:
            red_ev = red
        if per_event:
            if rows is None:
                cred_ev += ctx.piece0 - piece1
            elif rows.size:
                cred_ev[rows] += ctx.piece0[rows] - piece1
        if shift.size:  # events after a shortened segment of their dossier (they move earlier)
            down = (shift > 0.0) & (red_r <= 0.0)
            down_hits += np.bincount(pk_r[down], minlength=down_hits.size)
        if d == 0:
            notes.extend(dict.fromkeys(st.notes))
    inv = 1.0 / R
    out = ReplayOutcome(cut=cut, saved_s=saved * inv, citizen_saved_s=cit * inv,
                        visits_avoided=visits * inv, affected=affected * inv,
                        on_time_after=np.where(has_budget, on_after * inv, np.nan),
                        reduction_s=red_ev * inv if R > 1 else red_ev,
                        counted_reduction_s=(cred_ev * inv if R > 1 else cred_ev) if per_event else None,
                        agency_after_s=ctx.agency_s - saved * inv, pop=ctx.pop & scope, draws=R,
                        notes=notes, touched_pairs=np.flatnonzero(pair_hits),
                        downstream_pairs=np.flatnonzero(down_hits & ~(pair_hits > 0)))
    return out
