"""The simulation engine: common random numbers, cuts as scenarios, and two event loops.

**Common random numbers.** For replication ``r`` every random number is drawn up front from
streams keyed by ``(seed, r, procedure, purpose)`` (:class:`Draws`): the route of every
simulated dossier (a bootstrap draw of an observed dossier), one uniform number per dossier and
route position for the duration draw, one for the officer the dossier is assigned to, one for a
random loop decision, and the hidden jobs of every in-tray (keyed by the in-tray, so officers
added by a cut get new streams and the others keep theirs). The baseline and every cut read the
same numbers, so their difference has far less noise than either level
(``../shared/docs/methods.md`` §4). Durations are drawn by inverse transform within each
station's observations sorted by duration, so the same number gives the same quantile (the
coupling survives a cut that moves a visit to another time of day).

**A cut is a scenario** (:func:`scenario`): per observed event of the routes, whether it is
skipped (and with which probability, for ``ReduceLoopRate``), a factor / cap on processing or
on the segment, a cap on waiting (hand-over made electronic, merged steps), run in parallel
with the previous event; per queue station the officers added. The rules follow the replay
engine (:mod:`tthc_mining.cuts.replay`), with queues simulated instead of frozen.

**Two engines, same results.**

* :func:`run_passes` (used): position-synchronous and vectorised. All dossiers advance one route
  position at a time (numpy on whole columns); visits to delay stations are pure arithmetic
  given the draws. Queue stations need the arrivals of every dossier: a pass is run with the
  current queue waits, then every queue is solved at once from the arrivals of that pass
  (FIFO single-server in-trays with their hidden jobs: Lindley's recursion as a grouped
  cumulative maximum, :func:`tthc_mining.simulation.model.fifo_single_server`), and passes
  repeat until the arrivals at the queues no longer change (one extra pass per queue station
  in sequence on a route; rework bypasses queues, so a dossier visits a queue station once).
* :func:`run_events` (reference): a textbook discrete-event loop, one heap of dossier events in
  time order and a free-time per in-tray, per event in Python. Same draws, same rules: it
  gives the same times (to floating-point rounding) and is used to test the vectorised engine
  and in ``benchmarks/bench_simulation.py`` (with a SimPy version of the same model) to show
  what the vectorisation buys.
"""
from __future__ import annotations

import heapq
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..segments import OWNER_AGENCY, OWNER_CITIZEN
from .model import KIND_QUEUE, TOD_NEIGHBOURS, ProcModel, SimulationModel, fifo_single_server

__all__ = ["Draws", "Scenario", "scenario", "make_draws", "trace_draws", "run_passes", "run_events",
           "queue_exposure", "exposure",
           "simulate", "SimulationRun", "MAX_PASSES"]

MAX_PASSES = 25
_TOL_S = 1e-6
MODE_AUTO, MODE_PROC, MODE_SEGMENT = 0, 1, 2


def _key(*parts: Any) -> list[int]:
    return [zlib.crc32(str(p).encode("utf-8")) for p in parts]


# ====================================================================== draws
@dataclass
class Draws:
    """The random numbers of one replication of one procedure (shared by every scenario)."""

    r: int
    tmpl: np.ndarray          # (n,) route template of each simulated dossier
    weight: np.ndarray        # (T,) bootstrap weight of each observed dossier
    cell_ev: np.ndarray       # (K, n) event index of each route position (-1 past the end)
    Us: np.ndarray            # (K, n) duration draws
    Ut: np.ndarray            # (K, n) in-tray draws
    Ul: np.ndarray            # (K, n) loop decisions
    w_tod: np.ndarray         # bootstrap weights along pm.order_tod
    bag_all: np.ndarray       # pm.order_all with each observation repeated by its weight
    bag_svc: np.ndarray       # the same along pm.order_svc
    bag_lo: np.ndarray        # (S,) first position of each station in the bags
    bag_n: np.ndarray         # (S,) weight of each station
    seed: int
    hidden: dict = field(default_factory=dict)
    trace: bool = False       # every dossier replays its own observed visits (no sampling)

    @property
    def n(self) -> int:
        return int(self.tmpl.size)

    @property
    def K(self) -> int:
        return int(self.cell_ev.shape[0])


def make_draws(pm: ProcModel, seed: int, r: int) -> Draws:
    rng = np.random.default_rng([int(seed), int(r), *_key(pm.code, "routes")])
    T = pm.n_templates
    tmpl = rng.integers(0, T, size=T)
    weight = np.bincount(tmpl, minlength=T).astype(np.float64)
    m = pm.n_ev[tmpl] - 1
    K = int(m.max()) if T else 0
    k = np.arange(K)[:, None]
    cell_ev = np.where(k < m[None, :], pm.ev_off[tmpl][None, :] + k, -1).astype(np.int64)
    Us = rng.random((K, T))
    Ut = rng.random((K, T))
    Ul = rng.random((K, T))
    w_obs = weight[pm.tmpl]
    wi = w_obs.astype(np.int64)
    n_st = np.bincount(pm.station, weights=w_obs, minlength=len(pm.st_kind)).astype(np.int64)
    return Draws(r=int(r), tmpl=tmpl, weight=weight, cell_ev=cell_ev, Us=Us, Ut=Ut, Ul=Ul,
                 w_tod=w_obs[pm.order_tod], bag_all=np.repeat(pm.order_all, wi[pm.order_all]),
                 bag_svc=np.repeat(pm.order_svc, wi[pm.order_svc]),
                 bag_lo=np.concatenate([[0], np.cumsum(n_st)[:-1]]).astype(np.int64),
                 bag_n=n_st, seed=int(seed))


def trace_draws(pm: ProcModel) -> Draws:
    """Draws that make every simulated dossier replay its own observed route and durations
    (queues included: their observed waits): the engine then reproduces the log's agency time
    exactly, and a cut is applied as the replay engine applies it (no queue effects). A
    self-check of the engine's clock arithmetic against ``tm.timing``."""
    D = make_draws(pm, 0, 0)
    T = pm.n_templates
    tmpl = np.arange(T)
    m = pm.n_ev - 1
    K = int(m.max()) if T else 0
    k = np.arange(K)[:, None]
    D.tmpl = tmpl
    D.weight = np.ones(T)
    D.cell_ev = np.where(k < m[None, :], pm.ev_off[:-1][None, :] + k, -1).astype(np.int64)
    D.Us = np.zeros((K, T))
    D.Ut = np.zeros((K, T))
    D.Ul = np.zeros((K, T))
    D.trace = True
    return D


def _pick(bag: np.ndarray, D: Draws, st: np.ndarray, u: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Observation at quantile ``u`` of each station's bootstrap multiset (the bag is sorted
    by station, then by duration: inverse transform, no search); and whether the station has
    any weight in this replication."""
    n = D.bag_n[st]
    j = D.bag_lo[st] + np.minimum((u * n).astype(np.int64), np.maximum(n - 1, 0))
    return bag[np.minimum(j, bag.size - 1)], n > 0


def _pick_near(pm: ProcModel, D: Draws, st: np.ndarray, tod: np.ndarray, u: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Among the TOD_NEIGHBOURS visits of each station nearest in arrival time of day: the
    observation at weighted quantile ``u`` of their segments; and whether any had weight."""
    k = TOD_NEIGHBOURS
    lo, hi = pm.all_lo[st], pm.all_hi[st]
    pos = np.searchsorted(pm.key_tod, st * (pm.L + 1.0) + tod)
    start = np.clip(pos - k // 2, lo, np.maximum(hi - k, lo))
    idx = start[:, None] + np.arange(k)[None, :]
    inside = idx < hi[:, None]
    idx = np.where(inside, idx, start[:, None])
    wt = np.where(inside, D.w_tod[idx], 0.0)
    obs = pm.order_tod[idx]
    seg = pm.w[obs] + pm.p[obs]
    o = np.argsort(np.where(inside, seg, np.inf), axis=1, kind="stable")
    wt = np.take_along_axis(wt, o, axis=1)
    obs = np.take_along_axis(obs, o, axis=1)
    cw = np.cumsum(wt, axis=1)
    tot = cw[:, -1]
    j = (cw <= (u * tot)[:, None]).sum(axis=1)
    j = np.minimum(j, k - 1)
    return obs[np.arange(st.size), j], tot > 0


def sample_delay(pm: ProcModel, D: Draws, st: np.ndarray, tod: np.ndarray, u: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Observation behind each delay visit (station ``st``, arrival time of day ``tod``) and
    whether it was drawn among the visits that arrived at about the same time of day."""
    obs, _ = _pick(D.bag_all, D, st, u)
    cond = pm.st_cond[st]
    near = np.zeros(st.size, dtype=bool)
    if cond.any():
        i = np.flatnonzero(cond)
        o2, ok = _pick_near(pm, D, st[i], tod[i], u[i])
        obs[i[ok]] = o2[ok]
        near[i[ok]] = True
    return obs, near


def delay_visit(pm: ProcModel, D: Draws, sc: "Scenario", st: np.ndarray, ev: np.ndarray,
                base: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(waiting, processing) of delay visits arriving at ``base``: an observed visit drawn by
    inverse transform; at a time-of-day dependent station among the visits that arrived in the
    same part of the day, ending at the same clock time as that visit (a bulk signing at 15:30
    ends at 15:30 whether the dossier came at 14:40 or 14:55); then the cut's transforms."""
    if D.trace:
        return _transform(pm, sc, ev, pm.w[ev], pm.p[ev], pm.has_start[ev])
    tod = np.mod(base, pm.L)
    obs, inbin = sample_delay(pm, D, st, tod, u)
    w = pm.w[obs]
    if inbin.any():
        w = np.where(inbin, np.maximum(w + pm.tod[obs] - tod, 0.0), w)
    return _transform(pm, sc, ev, w, pm.p[obs], pm.has_start[obs])


def sample_service(pm: ProcModel, D: Draws, st: np.ndarray, u: np.ndarray) -> np.ndarray:
    obs, _ = _pick(D.bag_svc, D, st, u)
    return pm.p[obs]


def hidden_jobs(pm: ProcModel, D: Draws, s: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Hidden jobs of in-tray ``j`` of queue station ``s`` in this replication (cached)."""
    key = (int(s), int(j))
    h = D.hidden.get(key)
    if h is None:
        lam = float(pm.hidden_rate[s])
        rng = np.random.default_rng([D.seed, D.r, *_key(pm.code, "hidden", s, j)])
        span = pm.t1 - pm.t0
        k = rng.poisson(lam * span) if lam > 0 else 0
        t = np.sort(pm.t0 + rng.random(k) * span)
        u = rng.random(k)
        svc = sample_service(pm, D, np.full(k, s, dtype=np.int64), u) if k else np.zeros(0)
        h = D.hidden[key] = (t, svc)
    return h


# ====================================================================== scenarios
@dataclass
class Scenario:
    """A cut applied to one procedure's model (arrays over the model's events)."""

    thr: np.ndarray        # skip when the decision draw is below this (0 never, 1 always)
    dec_pos: np.ndarray    # route column of the decision draw (the loop's first event)
    pf: np.ndarray         # factor on processing / segment
    pcap: np.ndarray       # cap on processing / segment (working s)
    mode: np.ndarray       # MODE_AUTO / MODE_PROC / MODE_SEGMENT
    wcap: np.ndarray       # cap on waiting
    merged: np.ndarray     # waiting removed (MergeSteps): 0 with a start, else the estimate
    merge_cap: np.ndarray  # waiting kept for merged events without a start time
    parallel: np.ndarray   # runs in parallel with the previous event
    extra: np.ndarray      # (S,) officers added at each queue station
    identity: bool = True     # nothing changes (the baseline)
    plain: bool = True        # no factor, cap or merge on durations
    notes: list = field(default_factory=list)


def base_scenario(pm: ProcModel) -> Scenario:
    n = pm.row.size
    return Scenario(thr=np.zeros(n), dec_pos=(pm.pos - 1).astype(np.int64), pf=np.ones(n),
                    pcap=np.full(n, np.inf), mode=np.zeros(n, np.int8), wcap=np.full(n, np.inf),
                    merged=np.zeros(n, bool), merge_cap=np.full(n, np.inf),
                    parallel=np.zeros(n, bool), extra=np.zeros(len(pm.st_kind), np.int64))


def scenario(pm: ProcModel, model: SimulationModel, cut) -> Scenario:
    """The scenario of ``cut`` on procedure model ``pm`` (``None``: the baseline)."""
    sc = base_scenario(pm)
    if cut is None:
        return sc
    from ..cuts.catalogue import (AddStaff, MergeSteps, Parallelize, ReduceLoopRate,
                                  RemoveHandover, RemoveLoop, RemoveStep, ShortenStep)
    ctx = model.ctx
    for part in cut.parts():
        if isinstance(part, RemoveStep):
            m = pm.act == ctx.activity_code(part.activity)
            sc.thr[m] = 1.0
        elif isinstance(part, ShortenStep):
            m = pm.act == ctx.activity_code(part.activity)
            if part.factor is not None:
                sc.pf[m] *= part.factor
            else:
                sc.pcap[m] = np.minimum(sc.pcap[m], part.to_hours * 3600.0)
            sc.mode[m] = {"auto": MODE_AUTO, "processing": MODE_PROC, "segment": MODE_SEGMENT}[part.part]
        elif isinstance(part, MergeSteps):
            a, b = ctx.activity_code(part.a), ctx.activity_code(part.b)
            m = (pm.act == b) & (pm.prev_act == a) & (pm.owner == OWNER_AGENCY)
            if m.any():
                sc.merged[m] = True
                if not pm.has_start[m].all():
                    q = float(ctx.processing_estimate(b))
                    sc.merge_cap[m] = np.minimum(sc.merge_cap[m], q)
        elif isinstance(part, Parallelize):
            sc.parallel |= _parallel_mask(pm, ctx.activity_code(part.a), ctx.activity_code(part.b))
        elif isinstance(part, (RemoveLoop, ReduceLoopRate)):
            factor = 0.0 if isinstance(part, RemoveLoop) else float(part.factor)
            _apply_loops(pm, model, sc, ctx.loop_mask(part.loop_kind, part.activity), 1.0 - factor)
        elif isinstance(part, RemoveHandover):
            fu, tu = ctx.unit_code(part.from_unit), ctx.unit_code(part.to_unit)
            m = pm.handover & (pm.prev_unit == fu) & (pm.unit == tu) & (pm.owner == OWNER_AGENCY)
            if part.residual_hours is None:
                res, n_basis, basis = ctx.internal_wait(tu)
                sc.notes.append(f"residual wait {res / 3600:.2f} h = median of {n_basis:,} {basis}")
            else:
                res = part.residual_hours * 3600.0
            sc.wcap[m] = np.minimum(sc.wcap[m], res)
        elif isinstance(part, AddStaff):
            st = pm.stations
            sel = np.ones(len(st), dtype=bool)
            if part.step is not None:
                sel &= st["act_code"].to_numpy() == ctx.activity_code(part.step)
            if part.unit is not None:
                sel &= st["unit_code"].to_numpy() == ctx.unit_code(part.unit)
            q = sel & (pm.st_kind == KIND_QUEUE)
            sc.extra[q] += part.n
            if sel.any() and not q.any():
                sc.notes.append(f"{pm.code}: no officer queue found at the target (the log does "
                                "not show officers as the constraint there), so added staff "
                                "changes nothing in the simulation")
        else:  # pragma: no cover - every catalogue type is handled above
            raise ConfigError(f"the simulation does not know the cut {part!r}")
    sc.plain = not ((sc.pf != 1).any() or np.isfinite(sc.pcap).any()
                    or np.isfinite(sc.wcap).any() or sc.merged.any())
    sc.identity = sc.plain and not (sc.thr.any() or sc.parallel.any() or sc.extra.any())
    return sc


def _parallel_mask(pm: ProcModel, a: int, b: int) -> np.ndarray:
    """Events that run in parallel with the previous one (as the replay pairs them: directly
    consecutive a/b, both agency-held, not after the dossier's first event; in a run A B A B
    every other one)."""
    n = pm.row.size
    prev_owner = np.full(n, -1)
    prev_owner[1:] = pm.owner[:-1]
    same_t = np.zeros(n, bool)
    same_t[1:] = pm.tmpl[1:] == pm.tmpl[:-1]
    prev_owner = np.where(same_t, prev_owner, -1)
    cand = (((pm.act == b) & (pm.prev_act == a)) | ((pm.act == a) & (pm.prev_act == b)))
    cand &= (pm.owner == OWNER_AGENCY) & (prev_owner == OWNER_AGENCY) & (pm.pos >= 2)
    start_run = cand.copy()
    start_run[1:] &= ~(cand[:-1] & same_t[1:])
    idx = np.arange(n)
    pos_in_run = idx - np.maximum.accumulate(np.where(start_run, idx, 0))
    return cand & (pos_in_run % 2 == 0)


def _apply_loops(pm: ProcModel, model: SimulationModel, sc: Scenario, sel: np.ndarray,
                 thr: float) -> None:
    if not sel.any() or thr <= 0:
        return
    lp, _ = model.ctx.loops
    n_rows = model.ctx.n
    lid = np.full(n_rows + 1, -1, dtype=np.int64)
    start, end = lp.start[sel], lp.end[sel]
    # loops are disjoint: mark rows start..end with the loop's start row
    d = np.zeros(n_rows + 1, dtype=np.int64)
    np.add.at(d, start, 1)
    np.add.at(d, end + 1, -1)
    inside = np.cumsum(d[:-1]) > 0
    first_of = np.full(n_rows, -1, dtype=np.int64)
    first_of[start] = start
    first_of = np.maximum.accumulate(first_of)
    lid[:-1] = np.where(inside, first_of, -1)
    loop_start = lid[pm.row]
    m = loop_start >= 0
    if not m.any():
        return
    cs = model.ctx.seg.case_start
    start_pos = loop_start - cs[model.ctx.case[np.maximum(loop_start, 0)]]
    # a loop starting at the dossier's first event decides with the next position's draw
    start_pos = np.maximum(start_pos, 1)
    sc.thr[m] = np.maximum(sc.thr[m], thr)
    sc.dec_pos[m] = start_pos[m] - 1


# ====================================================================== the vectorised engine
@dataclass
class Outcome:
    """Per simulated dossier (one replication, one scenario)."""

    agency: np.ndarray
    citizen: np.ndarray
    visits: np.ndarray
    changed: np.ndarray       # some event skipped or transformed
    wait_sum: np.ndarray      # (S,) waiting at each station (for the backtest)
    wait_n: np.ndarray
    passes: int = 1


def _tray_cdf(pm: ProcModel, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per queue station: global in-tray offset and count under ``extra`` officers, and the
    cumulative assignment shares (station rank added so one searchsorted serves all)."""
    S = len(pm.st_kind)
    qs = np.flatnonzero(pm.st_kind == KIND_QUEUE)
    off = np.full(S, -1, dtype=np.int64)
    cnt = np.zeros(S, dtype=np.int64)
    cdfs = []
    o = 0
    for rank, s in enumerate(qs):  # loop over queue stations (a few)
        c, x = int(pm.tray_n[s]), int(extra[s])
        sh = pm.tray_share[pm.tray_lo[s]:pm.tray_lo[s] + c] * (c / (c + x))
        sh = np.concatenate([sh, np.full(x, 1.0 / (c + x))])
        cdf = np.cumsum(sh)
        cdf[-1] = 1.0
        cdfs.append(rank + cdf)
        off[s], cnt[s] = o, c + x
        o += c + x
    return off, cnt, (np.concatenate(cdfs) if cdfs else np.zeros(0))


def _solve_queues(pm: ProcModel, D: Draws, sc: Scenario, st: np.ndarray, arr: np.ndarray,
                  svc: np.ndarray, ut: np.ndarray, who: np.ndarray) -> np.ndarray:
    """Waiting of the queue visits (station ``st``, arrival ``arr``, service ``svc``, in-tray
    draw ``ut``, dossier ``who`` for ties) with every in-tray's hidden jobs."""
    off, cnt, cdf = _tray_cdf(pm, sc.extra)
    qs = np.flatnonzero(pm.st_kind == KIND_QUEUE)
    rank = np.full(len(pm.st_kind), -1)
    rank[qs] = np.arange(qs.size)
    g = np.searchsorted(cdf, rank[st] + ut, side="right")
    g = np.clip(g, off[st], off[st] + cnt[st] - 1)
    ga, aa, sa, va, wa = [g], [arr], [svc], [np.ones(arr.size, bool)], [who]
    for s in qs:  # hidden jobs per in-tray (cached per replication)
        for j in range(int(cnt[s])):
            t, hs = hidden_jobs(pm, D, s, j)
            if t.size:
                ga.append(np.full(t.size, off[s] + j))
                aa.append(t)
                sa.append(hs)
                va.append(np.zeros(t.size, bool))
                wa.append(np.full(t.size, -1))
    G, A, Sv, V, Wh = (np.concatenate(x) for x in (ga, aa, sa, va, wa))
    o = np.lexsort((Wh, ~V, A, G))
    start, _ = fifo_single_server(G[o], A[o], Sv[o])
    wait = np.empty(G.size)
    wait[o] = start - A[o]
    return wait[:arr.size]


def _transform(pm: ProcModel, sc: Scenario, ev: np.ndarray, w: np.ndarray, p: np.ndarray,
               hs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the scenario's factors and caps to sampled (waiting, processing)."""
    if sc.plain:
        return w, p
    mode = sc.mode[ev]
    pf, pcap = sc.pf[ev], sc.pcap[ev]
    touched = (pf != 1.0) | np.isfinite(pcap)
    if touched.any():
        proc_t = touched & ((mode == MODE_PROC) | ((mode == MODE_AUTO) & hs))
        seg_t = touched & ((mode == MODE_SEGMENT) | ((mode == MODE_AUTO) & ~hs))
        p = np.where(proc_t, np.minimum(p * pf, pcap), p)
        if seg_t.any():
            tot = w + p
            new = np.minimum(tot * pf, pcap)
            red = np.where(seg_t & (tot > 0), tot - new, 0.0)
            from_w = np.minimum(red, np.maximum(w, 0.0))
            rest = red - from_w
            w = w - from_w
            p = p - np.minimum(rest, np.maximum(p, 0.0))
    mg = sc.merged[ev]
    if mg.any():
        w = np.where(mg & hs, np.minimum(w, 0.0), w)
        w = np.where(mg & ~hs, np.minimum(w, sc.merge_cap[ev]), w)
    wc = sc.wcap[ev]
    w = np.minimum(w, wc)
    return w, p


def _statics(pm: ProcModel, D: Draws, sc: Scenario):
    """Per cell: validity, skip decision, queue flag, station (shared by both engines)."""
    ev = D.cell_ev
    valid = ev >= 0
    evc = np.where(valid, ev, 0)
    st = pm.station[evc]
    dec = sc.dec_pos[evc]
    u_dec = np.take_along_axis(D.Ul, np.clip(dec, 0, D.K - 1), axis=0) if D.K else D.Ul
    skip = valid & (u_dec < sc.thr[evc])
    queue = valid & ~skip & (pm.st_kind[st] == KIND_QUEUE) & ~sc.merged[evc] & (not D.trace)
    par = valid & sc.parallel[evc]
    return evc, valid, st, skip, queue, par


def _queue_services(pm: ProcModel, D: Draws, sc: Scenario, evc, st, queue) -> np.ndarray:
    svc = np.zeros(queue.shape)
    if queue.any():
        qi = np.nonzero(queue)
        e = evc[qi]
        s = sample_service(pm, D, st[qi], D.Us[qi])
        _, s = _transform(pm, sc, e, np.zeros(s.size), s, np.ones(s.size, bool))
        svc[qi] = s
    return svc


def _finish(pm: ProcModel, D: Draws, sc: Scenario, E: np.ndarray, waits: np.ndarray,
            valid, skip, st, evc, passes: int) -> Outcome:
    """Agency / citizen working time inside each dossier's clock window, as tm.timing."""
    n, K = D.n, D.K
    a0 = pm.arrival
    tm_ = D.tmpl
    cs = a0 + pm.cs_off[tm_]
    cp = pm.close_pos[tm_]
    Eclose = np.where(cp > 0, E[np.clip(cp - 1, 0, max(K - 1, 0)), np.arange(n)] if K else a0, a0)
    fin = Eclose + pm.fin_off[tm_]
    first_piece = np.clip(np.minimum(a0, fin) - cs, 0.0, None)
    agency = first_piece.copy()
    citizen = np.zeros(n)
    if K:
        Eprev = np.vstack([a0[None, :], E[:-1]])
        lo = np.maximum(Eprev, cs[None, :])
        hi = np.minimum(E, fin[None, :])
        piece = np.where(valid, np.clip(hi - lo, 0.0, None), 0.0)
        own = pm.owner[evc]
        agency += np.where(own == OWNER_AGENCY, piece, 0.0).sum(axis=0)
        citizen += np.where(own == OWNER_CITIZEN, piece, 0.0).sum(axis=0)
        visits = (skip & pm.is_received[evc]).sum(axis=0).astype(np.float64)
        counted = valid & ~skip
        Sn = len(pm.st_kind)
        wait_sum = np.bincount(st[counted], weights=waits[counted], minlength=Sn)
        wait_n = np.bincount(st[counted], minlength=Sn).astype(np.float64)
        changed_ev = skip | (valid & ((sc.pf[evc] != 1) | np.isfinite(sc.pcap[evc])
                                      | np.isfinite(sc.wcap[evc]) | sc.merged[evc]
                                      | sc.parallel[evc]))
        changed = changed_ev.any(axis=0)
    else:
        visits = np.zeros(n)
        Sn = len(pm.st_kind)
        wait_sum = np.zeros(Sn)
        wait_n = np.zeros(Sn)
        changed = np.zeros(n, bool)
    return Outcome(agency=agency, citizen=citizen, visits=visits, changed=changed,
                   wait_sum=wait_sum, wait_n=wait_n, passes=passes)


def run_passes(pm: ProcModel, D: Draws, sc: Scenario) -> Outcome:
    """The vectorised position-synchronous engine (see the module docstring)."""
    n, K = D.n, D.K
    L = pm.L
    a0 = pm.arrival
    evc, valid, st, skip, queue, par = _statics(pm, D, sc)
    svc = _queue_services(pm, D, sc, evc, st, queue)
    qwait = np.zeros((K, n))
    E = np.empty((K, n))
    waits = np.zeros((K, n))
    qarr = np.zeros((K, n))
    prev_qarr = None
    passes = 0
    has_q = bool(queue.any())
    qi = np.nonzero(queue)
    who = np.broadcast_to(np.arange(n), (K, n))[qi] if has_q else None
    for passes in range(1, MAX_PASSES + 1):
        prev1 = a0
        prev2 = a0
        for k in range(K):  # route positions (tens), vectorised over dossiers
            base = np.where(par[k], prev2, prev1)
            Ek = prev1.copy()
            v = valid[k] & ~skip[k]
            q = queue[k]
            d = v & ~q
            if d.any():
                i = np.flatnonzero(d)
                b = base[i]
                w, p = delay_visit(pm, D, sc, st[k, i], evc[k, i], b, D.Us[k, i])
                Ek[i] = b + w + p
                waits[k, i] = w
            if q.any():
                i = np.flatnonzero(q)
                Ek[i] = base[i] + qwait[k, i] + svc[k, i]
                qarr[k, i] = base[i]
                waits[k, i] = qwait[k, i]
            pk = par[k] & v
            if pk.any():
                Ek = np.where(pk, np.maximum(prev1, Ek), Ek)
            E[k] = Ek
            prev2, prev1 = prev1, Ek
        if not has_q:
            break
        cur = qarr[qi]
        if prev_qarr is not None and np.max(np.abs(cur - prev_qarr)) <= _TOL_S:
            break
        qwait[qi] = _solve_queues(pm, D, sc, st[qi], cur, svc[qi], D.Ut[qi], who)
        prev_qarr = cur.copy()
    return _finish(pm, D, sc, E, waits, valid, skip, st, evc, passes)


# ====================================================================== the reference event loop
def run_events(pm: ProcModel, D: Draws, sc: Scenario) -> Outcome:
    """A textbook discrete-event loop over the same model, draws and scenario (per event in
    Python; slow, used to check :func:`run_passes` and in the benchmark)."""
    n, K = D.n, D.K
    L = pm.L
    a0 = pm.arrival
    evc, valid, st, skip, queue, par = _statics(pm, D, sc)
    svc = _queue_services(pm, D, sc, evc, st, queue)
    off, cnt, cdf = _tray_cdf(pm, sc.extra)
    qs = np.flatnonzero(pm.st_kind == KIND_QUEUE)
    rank = np.full(len(pm.st_kind), -1)
    rank[qs] = np.arange(qs.size)
    free: dict[int, float] = {}
    hid: dict[int, tuple] = {}
    ptr: dict[int, int] = {}
    for s in qs:
        for j in range(int(cnt[s])):
            hid[int(off[s] + j)] = hidden_jobs(pm, D, s, j)
            ptr[int(off[s] + j)] = 0
            free[int(off[s] + j)] = -np.inf
    E = np.empty((K, n))
    waits = np.zeros((K, n))
    m_len = valid.sum(axis=0)

    def delay_end(k: int, i: int, base: float) -> float:
        w, p = delay_visit(pm, D, sc, st[k, i:i + 1], evc[k, i:i + 1], np.array([base]),
                           D.Us[k, i:i + 1])
        waits[k, i] = w[0]
        return base + float(w[0]) + float(p[0])

    def queue_end(k: int, i: int, t: float) -> float:
        g = int(np.searchsorted(cdf, rank[st[k, i]] + D.Ut[k, i], side="right"))
        s = st[k, i]
        g = min(max(g, int(off[s])), int(off[s] + cnt[s] - 1))
        ht, hs = hid[g]
        f = free[g]
        j = ptr[g]
        while j < ht.size and ht[j] < t:  # hidden jobs that arrived first
            f = max(f, ht[j]) + hs[j]
            j += 1
        ptr[g] = j
        start = max(t, f)
        free[g] = start + svc[k, i]
        waits[k, i] = start - t
        return start + svc[k, i]

    def visit(k: int, i: int, base: float) -> float:
        if skip[k, i]:
            return base
        if queue[k, i]:
            return queue_end(k, i, base)
        return delay_end(k, i, base)

    heap = [(float(a0[i]), i, 0) for i in range(n)]
    heapq.heapify(heap)
    prev_end = a0.astype(float).copy()
    while heap:
        t, i, k = heapq.heappop(heap)
        if k >= m_len[i]:
            continue
        if k + 1 < m_len[i] and par[k + 1, i] and not skip[k + 1, i]:
            # fork: k and k + 1 start together at t, the dossier joins at the later end
            ek = visit(k, i, t)
            ek1 = visit(k + 1, i, t)
            E[k, i] = ek
            E[k + 1, i] = max(ek, ek1)
            prev_end[i] = E[k + 1, i]
            heapq.heappush(heap, (E[k + 1, i], i, k + 2))
            continue
        E[k, i] = visit(k, i, t)
        prev_end[i] = E[k, i]
        heapq.heappush(heap, (E[k, i], i, k + 1))
    return _finish(pm, D, sc, E, waits, valid, skip, st, evc, 1)


# ====================================================================== replications
@dataclass
class SimulationRun:
    """Baseline and cuts simulated with common random numbers.

    Arrays are ``(replications, dossiers)`` per scenario (index 0 = baseline, then the cuts in
    order): ``agency`` / ``citizen`` working seconds inside the clock window, ``visits`` to the
    desk avoided, ``changed`` (the cut touched the dossier's route). Per simulated dossier:
    ``procedure``, ``budget`` (statutory budget, working s), ``agency_obs`` (observed agency time
    of the dossier whose arrival it takes) and ``case`` (its code in the replay context).
    ``wait_sum`` / ``wait_n``: per (replication, station of the concatenated station table)
    waiting of the baseline. ``passes``: passes the engine needed (max per replication).
    """

    model: SimulationModel
    cuts: list
    replications: int
    seed: int
    agency: np.ndarray        # (C + 1, R, N)
    citizen: np.ndarray
    visits: np.ndarray
    changed: np.ndarray
    procedure: np.ndarray     # (N,)
    budget: np.ndarray
    agency_obs: np.ndarray
    case: np.ndarray
    wait_sum: np.ndarray      # (R, S_total)
    wait_n: np.ndarray
    passes: np.ndarray        # (R,)
    notes: list = field(default_factory=list)

    @property
    def L(self) -> float:
        return self.model.L


_WORK: dict = {}
#: how worker processes start ("fork": instant, no re-import of the caller's script; the
#: parent's objects are frozen out of the garbage collector first so that the children do
#: not copy the shared heap page by page)
START_METHOD = "fork"


def _init_worker(procs, scenarios, seed, engine) -> None:
    """Worker set-up: only the procedure models and scenarios travel (pickled once per
    worker), not the log behind them."""
    _WORK.clear()
    _WORK.update(procs=procs, scenarios=scenarios, seed=seed,
                 engine=run_passes if engine == "passes" else run_events)


def _replicate(r: int) -> dict:
    procs: list[ProcModel] = _WORK["procs"]
    scen: list[list[Scenario]] = _WORK["scenarios"]
    seed: int = _WORK["seed"]
    engine = _WORK.get("engine", run_passes)
    C = len(scen)
    parts = {k: [[] for _ in range(C)] for k in ("agency", "citizen", "visits", "changed")}
    ws, wn = [], []
    passes = 0
    for pi, pm in enumerate(procs):
        D = make_draws(pm, seed, r)
        base = None
        for c in range(C):
            sc = scen[c][pi]
            if c > 0 and sc.identity:
                out = base
                ch = np.zeros(D.n, bool)
            else:
                out = engine(pm, D, sc)
                ch = out.changed
            if c == 0:
                base = out
                ws.append(out.wait_sum)
                wn.append(out.wait_n)
            passes = max(passes, out.passes)
            parts["agency"][c].append(out.agency)
            parts["citizen"][c].append(out.citizen)
            parts["visits"][c].append(out.visits if c > 0 else np.zeros(D.n))
            parts["changed"][c].append(ch)
    res = {k: np.stack([np.concatenate(v[c]) for c in range(C)]) for k, v in parts.items()}
    res["wait_sum"] = np.concatenate(ws)
    res["wait_n"] = np.concatenate(wn)
    res["passes"] = passes
    return res


def default_jobs(work: float) -> int:
    """Processes for the replications: 2 (or fewer CPUs) when the work is large enough to pay
    for starting them, else 1."""
    cpus = os.cpu_count() or 1
    return min(2, cpus) if work >= 2e6 else 1


def simulate(model: SimulationModel, cuts: list, *, replications: int = 30, seed: int = 0,
             n_jobs: int | None = None, engine: str = "passes") -> SimulationRun:
    """Simulate the baseline and every cut ``replications`` times with common random numbers.

    ``n_jobs``: processes over replications (default: 2 when the work is large, see
    :func:`default_jobs`); ``engine``: ``"passes"`` (vectorised) or ``"events"`` (reference)."""
    replications = int(replications)
    if replications < 1:
        raise ConfigError("replications must be at least 1")
    if engine not in ("passes", "events"):
        raise ConfigError(f"engine must be 'passes' or 'events', not {engine!r}")
    for c in cuts:
        c.validate(model.log)
    scen = [[scenario(pm, model, c) for pm in model.procs] for c in [None, *cuts]]
    notes = list(dict.fromkeys(x for row in scen for sc in row for x in sc.notes))
    n_events = sum(int(pm.row.size) for pm in model.procs)
    work = n_events * replications * (1 + sum(1 for row in scen[1:] if not all(s.identity for s in row)))
    jobs = default_jobs(work) if n_jobs is None else max(1, int(n_jobs))
    init = (model.procs, scen, int(seed), engine)
    _init_worker(*init)
    try:
        if jobs > 1 and replications > 1:
            import gc
            import multiprocessing as mp
            ctx = mp.get_context(START_METHOD)
            gc.freeze()
            try:
                with ctx.Pool(min(jobs, replications), initializer=_init_worker,
                              initargs=init) as pool:
                    outs = pool.map(_replicate, range(replications), chunksize=1)
            finally:
                gc.unfreeze()
        else:
            outs = [_replicate(r) for r in range(replications)]
    finally:
        _WORK.clear()
    stack = lambda k: np.stack([o[k] for o in outs], axis=1)  # noqa: E731  (C, R, N)
    procs = np.concatenate([np.full(pm.n_templates, pm.code, dtype=object) for pm in model.procs])
    return SimulationRun(
        model=model, cuts=list(cuts), replications=replications, seed=int(seed),
        agency=stack("agency"), citizen=stack("citizen"), visits=stack("visits"),
        changed=stack("changed"), procedure=procs,
        budget=np.concatenate([pm.budget for pm in model.procs]),
        agency_obs=np.concatenate([pm.agency_obs for pm in model.procs]),
        case=np.concatenate([pm.case for pm in model.procs]),
        wait_sum=np.stack([o["wait_sum"] for o in outs]),
        wait_n=np.stack([o["wait_n"] for o in outs]),
        passes=np.array([o["passes"] for o in outs]), notes=notes)


# ====================================================================== exposure
def exposure(model: SimulationModel, cut, kinds: tuple = ("queue", "time_of_day")) -> str:
    """The stations of the model whose behaviour a cut reaches beyond its own segments:
    ``queue`` stations (the cut changes a visit at an officer queue or before one on some
    route, so the queue's arrivals move, or it adds officers) and ``time_of_day`` stations
    (the cut changes a visit before a station whose duration depends on the time of day, e.g.
    a bulk signing at fixed times, so the dossiers reach it at another time of day). Returns a
    short description (empty when none): ``score_cuts(method="auto")`` can send such cuts to
    the simulation, because the replay keeps every other segment as observed."""
    hits = []
    for pm in model.procs:
        targets = []
        if "queue" in kinds:
            targets += [("queue", s) for s in np.flatnonzero(pm.st_kind == KIND_QUEUE)]
        if "time_of_day" in kinds:
            targets += [("time of day", s) for s in np.flatnonzero(pm.st_cond & (pm.st_kind != KIND_QUEUE))]
        if not targets:
            continue
        sc = scenario(pm, model, cut)
        if sc.identity:
            continue
        changed = (sc.thr > 0) | (sc.pf != 1) | np.isfinite(sc.pcap) | np.isfinite(sc.wcap) \
            | sc.merged | sc.parallel
        T = pm.n_templates
        st = pm.stations
        for kind, s in targets:  # a few stations per procedure
            at = pm.station == s
            pos = np.full(T, -1, dtype=np.int64)
            np.maximum.at(pos, pm.tmpl[at], pm.pos[at])
            # a queue is reached by a change at or before its visit; a time-of-day station by a
            # change strictly before it (its own shortening is the replay's business)
            lim = pos[pm.tmpl] if kind == "queue" else pos[pm.tmpl] - 1
            if (kind == "queue" and sc.extra[s]) or (changed & (pm.pos <= lim)).any():
                r = st.iloc[s]
                hits.append(f"{kind}: {pm.code} {r['activity']} @ {r['unit']}")
    return "; ".join(dict.fromkeys(hits))


def queue_exposure(model: SimulationModel, cut) -> str:
    """:func:`exposure` restricted to officer queues (without the ``queue: `` prefix)."""
    return "; ".join(h.split(": ", 1)[1] for h in exposure(model, cut, ("queue",)).split("; ") if h)
