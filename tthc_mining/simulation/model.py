"""The simulation model learned from a log (``tm.simulation.fit``).

Everything is on the working-time axis of the log's calendar (seconds of office time; nights,
lunch breaks, weekends and holidays do not exist there), so the calendar is handled by
construction and mapped back only for reporting. Per procedure the model holds:

**Arrivals** (empirical): the observed receipts of the finished dossiers, i.e. each working
day's count and the times of day exactly as in the log. Simulated dossier ``i`` arrives when
observed dossier ``i`` was received and keeps its statutory budget (which depends on the time
and day of receipt: the 15:00 cut-off, calendar-day deadlines).

**Routing** (variant-based): each simulated dossier follows the route of an observed dossier
of its procedure drawn at random (a bootstrap draw in every replication), i.e. the empirical
distribution of whole variants with their loops, supplement requests, suspensions and
hand-overs. This keeps what a first-order Markov chain on activities loses (a second
supplement request is rarer than a first, ping-pong counts, loops tied to the step they
repeat) and backtested better on the synthetic province; a route never contains an activity
sequence the log has not shown.

**Stations**: every event after a dossier's first is a visit to a station
``(activity, unit, owner of the segment, first execution or repeat)`` of its procedure.

* *Delay stations* (the default): the segment (waiting + processing) is drawn jointly from the
  station's observed segments: the pair ``(waiting, processing)`` of one observed visit, so
  their relation (e.g. bulk signing: short processing after a wait for the signing time) is
  kept. When a station's segments depend on the time of day at arrival (Kruskal-Wallis over
  :data:`TOD_BINS` bins of the working day, ``p <`` :data:`TOD_P`, at least
  :data:`TOD_MIN_OBS` visits) the draw is taken among the :data:`TOD_NEIGHBOURS` visits that
  arrived nearest in time of day, and the visit ends at the same clock time as the one drawn
  (batching at fixed signing times, a desk that opens the mail at 10:00).
  Citizen time for supplements and third-party time (tax) are delay stations owned by the
  citizen / third party.
* *Queue stations*: a first execution at a unit whose log shows a FIFO officer queue: with
  start times, at least :data:`MIN_QUEUE_OBS` visits, a point mass of visits started the
  moment the dossier arrived (share between :data:`QUEUE_ZERO_MIN` and
  :data:`QUEUE_ZERO_MAX`: an idle officer starts at once, a busy one later), officers that
  never work on two of these dossiers at once (overlap share at most
  :data:`QUEUE_OVERLAP_MAX`) and waits that end when the same officer finished the previous
  dossier (back-to-back share among the waiting ones at least :data:`QUEUE_B2B_MIN`). Each
  officer seen there has an in-tray (a FIFO single-server queue); an arriving dossier is
  assigned to an officer with the officers' observed shares (the head's ``phân công``); the
  service time is drawn from the station's observed processing times. Officers also do work
  the log does not show (other procedures, other duties): *hidden jobs* arrive at each in-tray
  as a Poisson process whose rate is calibrated so that the simulated mean waiting of the
  observed dossiers (observed arrivals and processing, trace-driven) equals the observed mean
  waiting. Rework executions (the same step again in a dossier) bypass the queue: the officer
  who knows the file picks it up again; they are delay stations of their own.

**Officer pools** are therefore estimated per queue station as the distinct officers who did
the step at the unit (their in-trays) plus the calibrated hidden load; ``AddStaff`` adds
in-trays (new officers with the station's average hidden load) and spreads new assignments
over all officers.

Without start times no queue can be identified (waiting and processing are not separable):
every station is then a delay station and ``AddStaff`` has no effect in the simulation (the
score says so).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from ..segments import OWNER_AGENCY, OWNER_NAMES

__all__ = ["SimulationModel", "ProcModel", "fit_model", "MIN_QUEUE_OBS", "TOD_BINS"]

#: queue detection (see the module docstring)
MIN_QUEUE_OBS = 30
QUEUE_ZERO_MIN = 0.03
QUEUE_ZERO_MAX = 0.9
QUEUE_OVERLAP_MAX = 0.02
QUEUE_B2B_MIN = 0.05
ZERO_WAIT_S = 1.0
#: time-of-day conditioning of delay stations
TOD_BINS = 8
TOD_MIN_OBS = 20 * TOD_BINS
TOD_P = 1e-3
TOD_NEIGHBOURS = 12
#: hidden-load calibration: coupled realisations averaged, bisection steps
CALIB_REALISATIONS = 4
CALIB_STEPS = 30
CALIB_MAX_UTIL = 0.98
#: the simulation horizon after the last arrival (working days) for hidden jobs
HORIZON_DAYS = 250

KIND_DELAY, KIND_QUEUE = 0, 1


# ====================================================================== FIFO kernel
def fifo_single_server(group: np.ndarray, arrival: np.ndarray, service: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of jobs at FIFO single-server queues, vectorised.

    The jobs must be sorted by ``(group, arrival)``; every group is one server that is idle
    before its first job. Lindley's recursion ``end_n = max(arrival_n, end_{n-1}) + s_n`` in
    closed form: ``end_n = S_n + max_{k<=n}(arrival_k - S_{k-1})`` with ``S`` the running sum of
    service times in the group, i.e. a grouped cumulative maximum (no Python loop)."""
    n = arrival.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = group[1:] != group[:-1]
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    gi = np.repeat(np.arange(starts.size), lengths)
    cs = np.cumsum(service)
    S_incl = cs - np.repeat(cs[starts] - service[starts], lengths)
    X = arrival - (S_incl - service)
    lo = np.minimum.reduceat(X, starts)
    hi = np.maximum.reduceat(X, starts)
    span = float((hi - lo).max()) + 1.0
    off = gi * span
    Y = (X - lo[gi]) + off
    M = np.maximum.accumulate(Y) - off + lo[gi]
    end = S_incl + M
    return end - service, end


# ====================================================================== per-procedure model
@dataclass
class ProcModel:
    """The learned model of one procedure (arrays; see :class:`SimulationModel`)."""

    code: str
    L: float
    # templates (observed finished dossiers)
    case: np.ndarray          # ctx dossier code of each template
    arrival: np.ndarray       # working-axis end of the dossier's first event
    budget: np.ndarray        # statutory budget (working s; NaN: none)
    agency_obs: np.ndarray    # observed agency working seconds
    cs_off: np.ndarray        # clock start - arrival
    fin_off: np.ndarray       # close - end of the closing event
    close_pos: np.ndarray     # position of the closing event in the dossier (0 = first)
    n_ev: np.ndarray          # events per template, first included
    ev_off: np.ndarray        # (T + 1) offsets into the event arrays (events after the first)
    # events after each template's first (observations)
    row: np.ndarray           # row in log.events
    pos: np.ndarray           # position in the dossier (>= 1)
    tmpl: np.ndarray          # template of the event
    station: np.ndarray
    owner: np.ndarray
    act: np.ndarray
    prev_act: np.ndarray
    unit: np.ndarray
    prev_unit: np.ndarray
    has_start: np.ndarray
    w: np.ndarray             # observed waiting (segment - processing)
    p: np.ndarray             # observed processing (0 without a start)
    tod: np.ndarray           # time of day at arrival (working s since the day's opening)
    tod_bin: np.ndarray       # time-of-day bin at arrival
    is_received: np.ndarray   # supplement received (a visit to the desk)
    handover: np.ndarray
    # stations
    stations: pd.DataFrame
    st_kind: np.ndarray
    st_cond: np.ndarray
    # sampling orders and station ranges (every order is sorted by station first)
    order_tod: np.ndarray     # by (station, time of day at arrival)
    key_tod: np.ndarray       # station * (L + 1) + time of day, along order_tod
    order_all: np.ndarray
    all_lo: np.ndarray        # (S,)
    all_hi: np.ndarray
    order_svc: np.ndarray
    # queues
    tray_lo: np.ndarray       # (S,) first tray of each queue station (-1: not a queue)
    tray_n: np.ndarray        # (S,) officers (in-trays) of each queue station
    tray_share: np.ndarray    # (n_trays,) observed share of assignments
    tray_officer: np.ndarray  # (n_trays,) officer code
    hidden_rate: np.ndarray   # (S,) hidden jobs per working second per in-tray
    t0: float
    t1: float
    notes: list = field(default_factory=list)

    @property
    def n_templates(self) -> int:
        return int(self.case.size)

    @property
    def n_trays(self) -> int:
        return int(self.tray_share.size)


def _grouped_ranges(keys_sorted: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.searchsorted(keys_sorted, np.arange(n_groups), side="left")
    hi = np.searchsorted(keys_sorted, np.arange(n_groups), side="right")
    return lo, hi


def _kruskal_p(values: np.ndarray, groups: np.ndarray) -> float:
    """p-value of the Kruskal-Wallis test of ``values`` across ``groups`` (groups with fewer
    than 5 values left out; tie-corrected H, chi-square with k - 1 degrees of freedom)."""
    from scipy.special import chdtrc
    _, g = np.unique(groups, return_inverse=True)
    cnt = np.bincount(g)
    keep = cnt[g] >= 5
    if (cnt >= 5).sum() < 2:
        return 1.0
    v, g = values[keep], g[keep]
    _, g = np.unique(g, return_inverse=True)
    N = v.size
    ranks = pd.Series(v).rank(method="average").to_numpy()
    n_i = np.bincount(g).astype(np.float64)
    R_i = np.bincount(g, weights=ranks)
    H = 12.0 / (N * (N + 1)) * np.sum(R_i ** 2 / n_i) - 3.0 * (N + 1)
    _, t = np.unique(v, return_counts=True)
    C = 1.0 - np.sum(t ** 3 - t) / (N ** 3 - N) if N > 1 else 0.0
    if C <= 0:
        return 1.0
    return float(chdtrc(n_i.size - 1, H / C))


def _queue_evidence(w: np.ndarray, p: np.ndarray, a: np.ndarray, st: np.ndarray, en: np.ndarray,
                    res: np.ndarray) -> dict:
    """Zero-wait share, officer overlap share and back-to-back share of one station's first
    executions (arrays aligned)."""
    n = w.size
    zero = float(np.mean(w <= ZERO_WAIT_S)) if n else np.nan
    o = np.lexsort((st, res))
    r, s_, e_, w_ = res[o], st[o], en[o], w[o]
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = (r[1:] == r[:-1]) & (r[1:] >= 0)
    prev_end = np.full(n, np.nan)
    prev_end[1:] = e_[:-1]
    pairs = int(same.sum())
    overlap = float(np.mean(s_[same] < prev_end[same] - ZERO_WAIT_S)) if pairs else np.nan
    waiting = w_ > ZERO_WAIT_S
    b2b_m = same & waiting
    b2b = float(np.mean(np.abs(s_[b2b_m] - prev_end[b2b_m]) <= ZERO_WAIT_S)) if waiting.sum() else np.nan
    return {"zero_wait_share": zero, "overlap_share": overlap, "back_to_back_share": b2b,
            "n_waiting": int(waiting.sum())}


def _is_queue(ev: dict) -> bool:
    return (ev["n_start"] >= MIN_QUEUE_OBS
            and QUEUE_ZERO_MIN <= ev["zero_wait_share"] <= QUEUE_ZERO_MAX
            and np.isfinite(ev["overlap_share"]) and ev["overlap_share"] <= QUEUE_OVERLAP_MAX
            and ev["n_waiting"] >= 10
            and np.isfinite(ev["back_to_back_share"]) and ev["back_to_back_share"] >= QUEUE_B2B_MIN
            and ev["has_officers"])


def calibrate_hidden(a: np.ndarray, s: np.ndarray, tray: np.ndarray, n_trays: int,
                     service_pool: np.ndarray, target_wait: float, t0: float, t1: float,
                     seed: int = 0) -> tuple[float, float, float]:
    """Rate of hidden jobs per in-tray (per working second) that makes the mean simulated
    waiting of the observed jobs (arrivals ``a``, services ``s``, in-trays ``tray``) equal
    ``target_wait``. Hidden jobs: Poisson arrivals on ``[t0, t1]``, services drawn from
    ``service_pool``; :data:`CALIB_REALISATIONS` coupled realisations (thinning of one process
    at the maximum rate, so the mean wait is monotone in the rate), bisection.

    Returns ``(rate, wait at rate 0, wait at the rate found)``."""
    rng = np.random.default_rng([int(seed), 5150, int(n_trays)])
    mean_s = float(np.mean(service_pool)) if service_pool.size else 0.0
    if mean_s <= 0 or a.size == 0 or not np.isfinite(target_wait):
        return 0.0, float("nan"), float("nan")
    span = max(float(t1 - t0), 1.0)
    # the visible load of the busiest in-tray bounds the hidden rate
    vis = np.bincount(tray, weights=s, minlength=n_trays) / span
    lam_max = max(0.0, (CALIB_MAX_UTIL - float(vis.max())) / mean_s)
    R = CALIB_REALISATIONS
    # visible jobs replicated per realisation
    g_vis = (np.arange(R)[:, None] * n_trays + tray[None, :]).ravel()
    a_vis = np.tile(a, R)
    s_vis = np.tile(s, R)
    if lam_max > 0:
        counts = rng.poisson(lam_max * span, size=R * n_trays)
        nh = int(counts.sum())
        g_hid = np.repeat(np.arange(R * n_trays), counts)
        a_hid = t0 + rng.random(nh) * span
        s_hid = service_pool[rng.integers(0, service_pool.size, nh)]
        v_hid = rng.random(nh)
    else:
        g_hid = np.zeros(0, np.int64)
        a_hid = s_hid = v_hid = np.zeros(0)

    # one sort of every job (visible + hidden at the maximum rate); thinning keeps the order
    G = np.concatenate([g_vis, g_hid])
    AA = np.concatenate([a_vis, a_hid])
    SS = np.concatenate([s_vis, s_hid])
    VV = np.concatenate([np.ones(a_vis.size, bool), np.zeros(a_hid.size, bool)])
    UU = np.concatenate([np.full(a_vis.size, -1.0), v_hid])
    o = np.lexsort((~VV, AA, G))
    G, AA, SS, VV, UU = G[o], AA[o], SS[o], VV[o], UU[o]

    def mean_wait(lam: float) -> float:
        keep = UU < (lam / lam_max if lam_max > 0 else 0.0)
        st, _ = fifo_single_server(G[keep], AA[keep], SS[keep])
        return float((st - AA[keep])[VV[keep]].mean())

    w0 = mean_wait(0.0)
    if w0 >= target_wait or lam_max <= 0:
        return 0.0, w0, w0
    hi_w = mean_wait(lam_max)
    if hi_w <= target_wait:
        return lam_max, w0, hi_w
    lo, hi = 0.0, lam_max
    for _ in range(CALIB_STEPS):
        mid = 0.5 * (lo + hi)
        if mean_wait(mid) < target_wait:
            lo = mid
        else:
            hi = mid
    lam = 0.5 * (lo + hi)
    return lam, w0, mean_wait(lam)


def _ctx_arrays(ctx) -> dict:
    """What the model reads from the replay context (one place: the interface with
    :mod:`tthc_mining.cuts.replay`)."""
    log = ctx.log
    res = getattr(ctx, "res", None)
    if res is None:
        if S.RESOURCE in log.events.columns:
            res, _ = log.codes(S.RESOURCE)
        else:
            res = np.full(ctx.n, -1, dtype=np.int64)
    return {"case": ctx.case, "act": ctx.act, "prev_act": ctx.prev_act, "first": ctx.first,
            "owner": ctx.owner, "unit": ctx.unit, "prev_unit": ctx.prev_unit,
            "has_start": ctx.has_start, "w0": ctx.w0, "p0": ctx.p0, "E": ctx.E,
            "handover": ctx.handover, "res": res, "case_start": ctx.seg.case_start,
            "w_start": ctx.seg.w_start, "cs": ctx.cs, "fin": ctx.fin, "close_row": ctx.close_row,
            "pop": ctx.pop, "proc_case": ctx.proc_case, "budget_s": ctx.budget_s,
            "agency_s": ctx.agency_s}


def _is_received(ctx) -> np.ndarray:
    if S.ROLE in ctx.log.events.columns:
        return (ctx.log.events[S.ROLE].astype(object).to_numpy() == S.ROLE_SUPPLEMENT_RECEIVED)
    return np.zeros(ctx.n, dtype=bool)


def fit_procedure(ctx, cases: np.ndarray, code: str, arrays: dict, is_received: np.ndarray,
                  *, seed: int = 0) -> ProcModel:
    """Learn the model of one procedure from its finished dossiers ``cases`` (ctx codes)."""
    A = arrays
    L = float(ctx.L)
    cstart = A["case_start"]
    n_ev = (cstart[cases + 1] - cstart[cases]).astype(np.int64)
    first_rows = cstart[cases]
    arrival = A["E"][first_rows].astype(np.float64)
    T = cases.size
    # events after each template's first event
    m = n_ev - 1
    ev_off = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    tot = int(ev_off[-1])
    tmpl = np.repeat(np.arange(T), m)
    within = np.arange(tot) - np.repeat(ev_off[:-1], m)
    pos = within + 1
    row = first_rows[tmpl] + pos
    close_pos = (A["close_row"][cases] - first_rows).astype(np.int64)
    E = A["E"]
    cs_off = A["cs"][cases] - arrival
    fin_off = A["fin"][cases] - np.where(close_pos > 0, E[first_rows + np.maximum(close_pos, 0)], arrival)
    owner = A["owner"][row].astype(np.int8)
    act = A["act"][row]
    unit = A["unit"][row]
    hs = A["has_start"][row]
    w = np.asarray(A["w0"][row], dtype=np.float64)
    p = np.asarray(A["p0"][row], dtype=np.float64)
    prev_end = E[row - 1]
    tod = np.mod(prev_end, L)
    tod_bin = np.minimum((tod / L * TOD_BINS).astype(np.int64), TOD_BINS - 1)
    # first execution of the activity in the dossier (rework executions are repeats)
    key = tmpl.astype(np.int64) * (int(act.max()) + 2 if act.size else 1) + act
    _, first_idx = np.unique(key, return_index=True)
    first_exec = np.zeros(tot, dtype=bool)
    first_exec[first_idx] = True
    # stations: (activity, unit, owner, first execution | repeat after <previous activity>)
    U1 = int(unit.max()) + 2 if unit.size else 1
    prev_act = A["prev_act"][row]
    A1 = int(max(act.max(), prev_act.max())) + 2 if act.size else 1
    trig = np.where(first_exec, 0, prev_act + 1)  # what a rework execution follows
    skey = (((act.astype(np.int64) * U1 + (unit + 1)) * 3 + owner) * A1 + trig)
    st_codes, st_uniques = pd.factorize(skey, sort=True)
    station = st_codes.astype(np.int64)
    Sn = len(st_uniques)
    uq = np.asarray(st_uniques, dtype=np.int64)
    st_trig = uq % A1
    st_repeat = st_trig > 0
    rest = uq // A1
    st_owner = rest % 3
    st_unit = ((rest // 3) % U1) - 1
    st_act = (rest // 3) // U1
    seg = w + p
    n_obs = np.bincount(station, minlength=Sn)
    # ---------------------------------------------------------------- time of day
    st_cond = np.zeros(Sn, dtype=bool)
    tod_p = np.full(Sn, np.nan)
    for s in np.flatnonzero(n_obs >= TOD_MIN_OBS):  # one test per large station (dozens)
        msk = station == s
        tod_p[s] = _kruskal_p(seg[msk], tod_bin[msk])
        st_cond[s] = tod_p[s] < TOD_P
    # ---------------------------------------------------------------- queues
    st_kind = np.zeros(Sn, dtype=np.int8)
    res = A["res"][row]
    w_start = A["w_start"][row]
    evid_rows = []
    notes: list[str] = []
    cand = np.flatnonzero(~st_repeat & (st_owner == OWNER_AGENCY) & (n_obs >= MIN_QUEUE_OBS))
    tray_lo = np.full(Sn, -1, dtype=np.int64)
    tray_n = np.zeros(Sn, dtype=np.int64)
    shares: list[np.ndarray] = []
    officers: list[np.ndarray] = []
    hidden = np.zeros(Sn)
    t0 = float(arrival.min()) if T else 0.0
    t1 = float(arrival.max()) + HORIZON_DAYS * L if T else 0.0
    n_trays = 0
    for s in cand:  # loop over candidate stations (a few per procedure)
        msk = (station == s) & hs
        n_start = int(msk.sum())
        info = {"station": int(s), "n_start": n_start, "has_officers": bool((res[msk] >= 0).all()) if n_start else False}
        if n_start >= MIN_QUEUE_OBS:
            ev = _queue_evidence(w[msk], p[msk], prev_end[msk], w_start[msk], E[row[msk]], res[msk])
        else:
            ev = {"zero_wait_share": np.nan, "overlap_share": np.nan, "back_to_back_share": np.nan,
                  "n_waiting": 0}
        info.update(ev)
        info["queue"] = _is_queue(info)
        evid_rows.append(info)
        if not info["queue"]:
            continue
        st_kind[s] = KIND_QUEUE
        offs, tray_of = np.unique(res[msk], return_inverse=True)
        cnt = np.bincount(tray_of, minlength=offs.size).astype(np.float64)
        tray_lo[s] = n_trays
        tray_n[s] = offs.size
        n_trays += offs.size
        shares.append(cnt / cnt.sum())
        officers.append(offs)
        a_obs = prev_end[msk]
        s_obs = p[msk]
        target = float(np.mean(np.maximum(w[msk], 0.0)))
        horizon_end = float(E[row[msk]].max()) + 10 * L
        order = np.lexsort((a_obs, tray_of))
        lam, w_vis, w_fit = calibrate_hidden(a_obs[order], s_obs[order], tray_of[order], offs.size,
                                             s_obs, target, t0, horizon_end, seed=seed + int(s))
        hidden[s] = lam
        span = max(horizon_end - t0, 1.0)
        info.update({"officers": int(offs.size), "mean_wait_h": target / 3600.0,
                     "visible_only_wait_h": w_vis / 3600.0, "fitted_wait_h": w_fit / 3600.0,
                     "hidden_jobs_per_day": lam * L,
                     "visible_utilisation": float(s_obs.sum() / span / offs.size),
                     "utilisation": float((s_obs.sum() / span + lam * offs.size * s_obs.mean())
                                          / offs.size)})
        if lam == 0.0 and np.isfinite(w_vis) and w_vis > 1.25 * target:
            notes.append(f"queue {code} / station {s}: the visible work alone gives longer waits "
                         f"({w_vis / 3600:.2f} h) than observed ({target / 3600:.2f} h)")
    # ---------------------------------------------------------------- sampling orders
    # ties in time of day (date-only timestamps, batches) are broken at random, so that the
    # neighbours of a query are a random subset of the tie, not its shortest segments
    tie = np.random.default_rng([int(seed), 4243, tot]).random(tot)
    o_tod = np.lexsort((tie, tod, station))
    key_tod = station[o_tod] * (L + 1.0) + tod[o_tod]
    o_all = np.lexsort((seg, station))
    all_lo, all_hi = _grouped_ranges(station[o_all], Sn)
    o_svc = np.lexsort((p, station))
    # ---------------------------------------------------------------- station table
    acts = np.asarray(ctx.acts, dtype=object)
    units = np.append(np.asarray(ctx.units, dtype=object), None)
    ev_df = pd.DataFrame(evid_rows)
    stations = pd.DataFrame({
        "procedure": code, "activity": acts[st_act], "unit": units[st_unit],
        "owner": OWNER_NAMES[st_owner], "repeat": st_repeat,
        "after": np.where(st_repeat, acts[np.maximum(st_trig - 1, 0)], None),
        "kind": np.where(st_kind == KIND_QUEUE, "queue", "delay"),
        "n": n_obs, "wait_mean_h": np.bincount(station, weights=w, minlength=Sn) / np.maximum(n_obs, 1) / 3600.0,
        "proc_mean_h": np.bincount(station, weights=p, minlength=Sn) / np.maximum(n_obs, 1) / 3600.0,
        "time_of_day": st_cond, "time_of_day_p": tod_p,
    })
    if len(ev_df):
        ev_df = ev_df.set_index("station")
        for c in ("zero_wait_share", "overlap_share", "back_to_back_share", "officers",
                  "hidden_jobs_per_day", "visible_utilisation", "utilisation", "mean_wait_h",
                  "visible_only_wait_h", "fitted_wait_h"):
            if c in ev_df.columns:
                stations[c] = ev_df[c].reindex(np.arange(Sn)).to_numpy()
    stations["act_code"] = st_act
    stations["unit_code"] = st_unit
    stations["owner_code"] = st_owner
    return ProcModel(
        code=code, L=L, case=cases, arrival=arrival, budget=A["budget_s"][cases].astype(np.float64),
        agency_obs=A["agency_s"][cases].astype(np.float64), cs_off=cs_off, fin_off=fin_off,
        close_pos=close_pos, n_ev=n_ev, ev_off=ev_off, row=row, pos=pos, tmpl=tmpl,
        station=station, owner=owner, act=act, prev_act=prev_act, unit=unit,
        prev_unit=A["prev_unit"][row], has_start=hs, w=w, p=p, tod=tod, tod_bin=tod_bin,
        is_received=is_received[row], handover=A["handover"][row], stations=stations,
        st_kind=st_kind, st_cond=st_cond, order_tod=o_tod, key_tod=key_tod, order_all=o_all, all_lo=all_lo, all_hi=all_hi,
        order_svc=o_svc, tray_lo=tray_lo, tray_n=tray_n,
        tray_share=np.concatenate(shares) if shares else np.zeros(0),
        tray_officer=np.concatenate(officers) if officers else np.zeros(0, np.int64),
        hidden_rate=hidden, t0=t0, t1=t1, notes=notes)


# ====================================================================== the model
@dataclass
class SimulationModel:
    """The queue-aware simulation model learned from a log (``tm.simulation.fit(log)``).

    ``procs``: one :class:`ProcModel` per procedure (arrivals, variant routes, stations with
    their empirical distributions, queues with officers and hidden load); ``stations``: the
    station table of all procedures (kind ``queue`` / ``delay``, visits, mean waiting and
    processing, time-of-day dependence, queue evidence: zero-wait, overlap and back-to-back
    shares, officers, hidden jobs per day, utilisation). See the module docstring for what is
    learned and how. ``backtest()`` compares the simulated baseline with the log;
    ``simulate(cuts)`` runs baseline and cuts with common random numbers.
    """

    log: Any
    ctx: Any
    procs: list
    procedure: Any = None
    seed: int = 0
    notes: list = field(default_factory=list)

    @property
    def L(self) -> float:
        return float(self.ctx.L)

    @property
    def n_dossiers(self) -> int:
        return int(sum(pm.n_templates for pm in self.procs))

    @property
    def stations(self) -> pd.DataFrame:
        cols_drop = ["act_code", "unit_code", "owner_code"]
        frames = [pm.stations.drop(columns=cols_drop) for pm in self.procs]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def queues(self) -> pd.DataFrame:
        st = self.stations
        return st[st["kind"] == "queue"].reset_index(drop=True) if len(st) else st

    def backtest(self, replications: int = 10, seed: int = 0, **kw):
        """Simulate the observed period with the fitted model and compare with the log
        (:class:`tthc_mining.simulation.backtest.Backtest`)."""
        from .backtest import run_backtest
        return run_backtest(self, replications=replications, seed=seed, **kw)

    def simulate(self, cuts=(), *, replications: int = 30, seed: int = 0,
                 n_jobs: int | None = None, engine: str = "passes"):
        """Baseline and ``cuts`` simulated with common random numbers
        (:class:`tthc_mining.simulation.engine.SimulationRun`)."""
        from .engine import simulate
        return simulate(self, list(cuts), replications=replications, seed=seed, n_jobs=n_jobs,
                        engine=engine)

    def to_frame(self) -> pd.DataFrame:
        return self.stations

    def to_dict(self) -> dict:
        st = self.stations
        return {"procedure": self.procedure, "n_dossiers": self.n_dossiers,
                "procedures": [pm.code for pm in self.procs],
                "n_stations": int(len(st)),
                "queues": json.loads(self.queues.to_json(orient="records", force_ascii=False)),
                "notes": list(self.notes)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        st = self.stations
        nq = int((st["kind"] == "queue").sum()) if len(st) else 0
        return (f"SimulationModel({self.n_dossiers:,} dossiers, {len(self.procs)} procedures, "
                f"{len(st)} stations, {nq} queues)")

    def _repr_html_(self) -> str:
        q = self.queues
        cols = [c for c in ("procedure", "activity", "unit", "n", "officers", "wait_mean_h",
                            "proc_mean_h", "hidden_jobs_per_day", "utilisation") if c in q.columns]
        return (f"<p><b>Mô hình mô phỏng / simulation model</b>: {self.n_dossiers:,} hồ sơ / "
                f"dossiers, {len(self.procs)} thủ tục / procedures</p>"
                "<p>Hàng đợi phát hiện được / queues found</p>"
                + (q[cols].to_html(index=False, escape=True) if len(q) else "<p>(none)</p>"))


def fit_model(log, *, procedure: Any = None, catalog: Any = None, seed: int = 0) -> SimulationModel:
    """Learn the simulation model (see the module docstring); cached on the log per scope."""
    from ..cuts.replay import context, scope_cases
    from ..log import DossierLog
    if not isinstance(log, DossierLog):
        raise ConfigError(f"simulation.fit expects a DossierLog (tm.read_log(...)), not {type(log).__name__}")
    key = ("simulation_model", repr(procedure), id(catalog if catalog is not None else log.catalog),
           int(seed))
    cached = log._cache.get(key)
    if cached is not None:
        return cached
    ctx = context(log, catalog=catalog)
    scope = scope_cases(ctx, procedure)
    A = _ctx_arrays(ctx)
    rec = _is_received(ctx)
    pop = A["pop"] & scope
    pc = np.asarray(A["proc_case"])
    labels = np.asarray(ctx.procs, dtype=object)
    procs = []
    for code_i in np.unique(pc[pop]):  # one model per procedure (a handful)
        cases = np.flatnonzero(pop & (pc == code_i))
        code = str(labels[code_i]) if code_i >= 0 else "(no procedure)"
        procs.append(fit_procedure(ctx, cases, code, A, rec, seed=seed))
    if not procs:
        raise ConfigError("no finished dossier in scope: nothing to simulate")
    model = SimulationModel(log=log, ctx=ctx, procs=procs, procedure=procedure, seed=seed)
    for pm in procs:
        model.notes.extend(pm.notes)
    if not bool(np.any(A["has_start"][A["first"] == False])):  # noqa: E712
        model.notes.append("the log has no start times: waiting and processing cannot be told "
                           "apart, so no officer queue is modelled (every step is a delay)")
    log._cache[key] = model
    return model
