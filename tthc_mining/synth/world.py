"""The synthetic province as a *world* simulated on the working-time axis.

``World(params, seed, n_dossiers)`` fixes the dossiers (procedure, commune, channel, arrival
time, applicant) and the calibration of the queues. ``world.simulate(params)`` walks every
procedure's steps with arrays over its dossiers and returns the events and the ground truth.

Common random numbers: every random number used by :meth:`World.simulate` comes from a stream
keyed by ``(seed, procedure, slot, purpose)`` (:meth:`World.draws`), one value per dossier of
the procedure whether the dossier uses it or not. The draws are therefore fixed by the world,
independent of the parameters: simulating the same world under changed parameters (a cut: a
step removed, shortened, a loop removed, an officer added) re-uses exactly the same numbers, and
the difference dossier by dossier is the true effect of the change.

Time model (everything in whole working seconds on the axis of
:class:`tthc_mining.calendar.VietnamCalendar`, mapped back with ``from_working(side="next")``):

- a step waits ``wait`` after the previous event's end, then takes ``proc``; a *queued* step is a
  FIFO queue per pool of officers (heap of server-free times, one pass in arrival order); a
  *batched* step completes at the next signing time;
- the citizen's time (supplement) and the tax payment (suspension) are also simulated in working
  time: the one-stop desk only accepts a supplement or a payment receipt during office hours, and
  the working time between request and resubmission is what a paused clock excludes;
- no event ends exactly at the close of a working day (such an end is moved one second later), so
  an end time on the axis and its timestamp compare the same way with a due date.
"""
from __future__ import annotations

import dataclasses
import heapq
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..calendar import WorkingCalendar, resolve
from ..errors import ConfigError
from . import people
from .procedures import (APOLOGY, DESK, EXPERT, HEAD, LEADER, BASE_POOL, RESULT, RESUME,
                         SEND_BACK, SUPP_RECEIVED, SUPP_REQUEST, SUSPEND, Dist, ProcedureDef,
                         StepDef, SynthParams, default_params)

H = 3600.0
OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD = 0, 1, 2

# event kinds recorded by the simulation (truth bookkeeping)
K_MAIN, K_REDO, K_REPEAT, K_SUPP_REQ, K_SUPP_RECV, K_REAPPRAISE, K_SEND_BACK, K_PP_REDO, \
    K_SUSPEND, K_RESUME, K_APOLOGY, K_RESULT, K_RECEIPT = range(13)
KIND_NAMES = ("main", "redo", "repeat", "supplement_request", "supplement_received",
              "reappraisal", "send_back", "pingpong_redo", "suspended", "resumed", "apology",
              "result", "receipt")
#: kinds whose events are rework (a loop-control step or a repeated execution)
REWORK_KINDS = (K_REDO, K_REPEAT, K_SUPP_REQ, K_SUPP_RECV, K_REAPPRAISE, K_SEND_BACK, K_PP_REDO)

REASON_SEND_BACK = "Hồ sơ chuyển chưa đủ thông tin, đề nghị hoàn thiện"
REASON_APOLOGY = "Hồ sơ cần thêm thời gian xác minh; xin lỗi và hẹn lại ngày trả kết quả"
REASON_SUSPEND = "Chờ người nộp thực hiện nghĩa vụ tài chính (thuế, lệ phí trước bạ)"


def _key(*parts: Any) -> list[int]:
    return [zlib.crc32(str(p).encode("utf-8")) for p in parts]


@dataclass
class _Group:
    """The dossiers of one procedure (arrays aligned, sorted by arrival)."""

    pi: int
    n: int
    gidx: np.ndarray          # global dossier index
    commune: np.ndarray       # int commune index
    channel: np.ndarray       # 0 direct, 1 online, 2 post
    desk_entered: np.ndarray  # bool (online keyed in at the desk)
    submitted_w: np.ndarray   # working-axis submission (NaN unless online)
    submitted_ns: np.ndarray  # local wall-clock ns of the online submission (NaT-min otherwise)
    arrival_w: np.ndarray     # start of the receipt step


@dataclass
class _Rec:
    """Event arrays collected during a procedure's simulation."""

    case: list = field(default_factory=list)
    order: list = field(default_factory=list)
    act: list = field(default_factory=list)
    unit: list = field(default_factory=list)
    off: list = field(default_factory=list)
    ws: list = field(default_factory=list)
    we: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    owner: list = field(default_factory=list)
    reason: list = field(default_factory=list)
    allot: list = field(default_factory=list)
    #: per dossier: unit / activity code of the last event emitted (-1 before any); events are
    #: emitted in each dossier's time order, so during the walk this is the previous event
    last_unit: np.ndarray | None = None
    last_act: np.ndarray | None = None

    def emit(self, mask, order, act, unit, off, ws, we, kind, owner=OWNER_AGENCY, reason=-1,
             allot=np.nan):
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        m = idx.size

        def take(v, dtype):
            a = np.asarray(v)
            return a[idx].astype(dtype) if a.ndim else np.full(m, v, dtype=dtype)

        self.case.append(idx.astype(np.int64))
        self.order.append(np.full(m, float(order)))
        self.act.append(np.full(m, act, dtype=np.int64))
        self.unit.append(take(unit, np.int64))
        self.off.append(take(off, np.int64))
        self.ws.append(take(ws, np.float64))
        self.we.append(take(we, np.float64))
        self.kind.append(np.full(m, kind, dtype=np.int8))
        self.owner.append(np.full(m, owner, dtype=np.int8))
        self.reason.append(take(reason, np.int64))
        self.allot.append(np.full(m, allot, dtype=np.float64))
        if self.last_unit is not None:
            self.last_unit[idx] = self.unit[-1]
            self.last_act[idx] = act

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("case", "order", "act", "unit", "off", "ws", "we", "kind", "owner", "reason",
                 "allot")
        return {k: np.concatenate(getattr(self, k)) for k in names}


@dataclass
class SimResult:
    """Raw output of :meth:`World.simulate`: event arrays (working-axis times, integer codes)
    and per-dossier truth arrays. :func:`tthc_mining.synth.build` turns it into a log."""

    events: dict[str, np.ndarray]
    cases: dict[str, np.ndarray]
    world: "World"
    params: SynthParams


@dataclass(frozen=True)
class Changes:
    """What-if changes that :class:`SynthParams` cannot express, for :meth:`World.simulate`.

    Built from cut objects by :mod:`tthc_mining.synth.cuts` (``true_effect``); names are exact
    (procedure codes, activity names, unit names as in the log). Every entry is a tuple so the
    object is hashable. Empty (the default) = no change: the world behaves exactly as without.

    - ``extra_officers``: ``(code, activity, unit, n)``: ``n`` more officers at a *queued* step
      of a unit, each with an in-tray of its own (a new FIFO pool of one officer with the same
      background work as the unit's pools); dossiers are assigned evenly over all pools.
    - ``proc_factor`` / ``proc_cap``: ``(code, activity, x)``: every execution's processing time
      (after the planted overdue extra) multiplied by ``x`` / capped at ``x`` working seconds.
    - ``segment_factor`` / ``segment_cap``: the same on waiting + processing (waiting first),
      for steps whose waiting is an iid delay (queue and batch waits are not scaled).
    - ``handover_caps``: ``(code, from_unit, to_unit, seconds)``: the iid waiting of an agency
      event at ``to_unit`` right after an event at ``from_unit`` is capped (electronic transfer).
    - ``merge``: ``(code, a, b)``: the iid waiting of ``b`` right after ``a`` becomes 0.
    - ``parallel``: ``(code, a, b)``: consecutive main steps ``a`` then ``b`` start together
      (``b`` waits from ``a``'s arrival); the dossier moves on when both are done.
    """

    extra_officers: tuple = ()
    proc_factor: tuple = ()
    proc_cap: tuple = ()
    segment_factor: tuple = ()
    segment_cap: tuple = ()
    handover_caps: tuple = ()
    merge: tuple = ()
    parallel: tuple = ()

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))


class _ProcChanges:
    """:class:`Changes` resolved for one procedure (integer codes, per-activity lookups)."""

    def __init__(self, world: "World", p: ProcedureDef, ch: "Changes | None"):
        ch = ch or Changes()
        code = p.code
        self.active = bool(ch)
        self.extra = {}
        for c, a, u, n in ch.extra_officers:
            if c == code and u in world.unit_index:
                d = self.extra.setdefault(a, {})
                k = world.unit_index[u]
                d[k] = d.get(k, 0) + int(n)
        self.pf, self.pc, self.sf, self.sc = {}, {}, {}, {}
        for src, dst, combine in ((ch.proc_factor, self.pf, np.multiply),
                                  (ch.proc_cap, self.pc, np.minimum),
                                  (ch.segment_factor, self.sf, np.multiply),
                                  (ch.segment_cap, self.sc, np.minimum)):
            for c, a, x in src:  # several cuts on one step combine (factors multiply)
                if c == code:
                    dst[a] = float(combine(dst[a], x)) if a in dst else float(x)
        self.caps = [(world.unit_index.get(f, -2), world.unit_index.get(t, -2), float(x))
                     for c, f, t, x in ch.handover_caps if c == code]
        self.merge = {b: world.activity_code(a) for c, a, b in ch.merge if c == code}
        self.par = {b: a for c, a, b in ch.parallel if c == code}
        self.par_first = {a: b for c, a, b in ch.parallel if c == code}

    def proc(self, act: str, proc: np.ndarray) -> np.ndarray:
        if act in self.pf:
            proc = proc * self.pf[act]
        if act in self.pc:
            proc = np.minimum(proc, self.pc[act])
        return proc

    def handover(self, wait: np.ndarray, prev_unit: np.ndarray, unit: np.ndarray) -> np.ndarray:
        for f, t, x in self.caps:
            m = (prev_unit == f) & (unit == t)
            if m.any():
                wait = np.where(m, np.minimum(wait, x), wait)
        return wait

    def wait(self, act: str, wait: np.ndarray, proc: np.ndarray, rec: "_Rec", unit: np.ndarray,
             first_pass: bool) -> tuple[np.ndarray, np.ndarray]:
        if not self.active:
            return wait, proc
        wait = self.handover(wait, rec.last_unit, unit)
        if first_pass and act in self.merge:
            wait = np.where(rec.last_act == self.merge[act], 0.0, wait)
        if act in self.sf:
            wait, proc = wait * self.sf[act], proc * self.sf[act]
        if act in self.sc:
            tot = wait + proc
            red = np.maximum(tot - self.sc[act], 0.0)
            from_w = np.minimum(red, wait)
            wait, proc = wait - from_w, proc - (red - from_w)
        return wait, proc


class World:
    """A synthetic province: fixed dossiers and random numbers, simulated under parameters.

    Parameters
    ----------
    params: :class:`SynthParams` (default: :func:`default_params`).
    seed: the world's seed; every random number derives from it.
    n_dossiers: number of dossiers received in the period.
    start, months: the period of receipt (dossiers received in it are followed to the end).
    calendar: a working calendar (default :class:`~tthc_mining.VietnamCalendar`).
    """

    def __init__(self, params: SynthParams | None = None, seed: int = 0, n_dossiers: int = 5000,
                 *, start: Any = "2025-01-01", months: int = 12,
                 calendar: WorkingCalendar | None = None):
        if params is None:
            params = default_params()
        params.validate()
        if int(n_dossiers) < 1:
            raise ConfigError(f"n_dossiers must be at least 1, got {n_dossiers!r}")
        if int(months) < 1:
            raise ConfigError(f"months must be at least 1, got {months!r}")
        self.params = params
        self.seed = int(seed)
        self.n = int(n_dossiers)
        self.cal = resolve(calendar)
        self.L = float(self.cal.seconds_per_day)
        try:
            self.start = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise ConfigError(f"cannot read start date {start!r}") from None
        if self.start.tzinfo is not None:
            self.start = self.start.tz_convert(self.cal.tz or "UTC").tz_localize(None)
        self.months = int(months)
        self.end = self.start + pd.DateOffset(months=self.months)
        self.w0 = float(self.cal.to_working(self.start))
        self.w1 = float(self.cal.to_working(self.end))
        if self.w1 <= self.w0:
            raise ConfigError("the period contains no working time")
        self._build_dossiers()
        self._build_units()
        self._calibrate()

    # ------------------------------------------------------------------ random streams
    def rng(self, *keys: Any) -> np.random.Generator:
        return np.random.default_rng([self.seed, *_key(*keys)])

    def draws(self, pi: int, slot: str, purpose: str, kind: str = "normal") -> np.ndarray:
        """The fixed draws of one (procedure, slot, purpose): one per dossier of the procedure."""
        g = self.groups[pi]
        r = self.rng("draw", self.params.procedures[pi].code, slot, purpose)
        if kind == "normal":
            return r.standard_normal(g.n)
        return r.random(g.n)

    # ------------------------------------------------------------------ dossiers
    def _build_dossiers(self) -> None:
        P = self.params
        geo = P.geography
        shares = np.array([p.share for p in P.procedures], dtype=float)
        if shares.sum() <= 0:
            raise ConfigError("procedure shares add up to 0")
        counts = self.rng("counts").multinomial(self.n, shares / shares.sum())
        cw = geo.commune_weights
        self.groups: list[_Group] = []
        offset = 0
        cal, L = self.cal, self.L
        span = self.w1 - self.w0
        ns0 = self.start.value
        ns1 = self.end.value
        for pi, (p, n) in enumerate(zip(P.procedures, counts)):
            r = self.rng("dossiers", p.code)
            commune = r.choice(len(cw), size=n, p=cw)
            u = r.random(n)
            channel = np.where(u < p.online_share, 1,
                               np.where(u < p.online_share + p.post_share, 2, 0)).astype(np.int8)
            desk_entered = (channel == 1) & (r.random(n) < P.desk_entered_share)
            # office arrivals: uniform working day, more in the morning
            w = self.w0 + r.random(n) * span
            k = np.floor(w / L)
            frac = (w - k * L) / L
            r_day = L * frac ** P.arrival_skew
            w_office = np.rint(k * L + r_day)
            # online submissions: any calendar instant in the period
            sub_ns = (ns0 + r.random(n) * (ns1 - ns0)).astype(np.int64)
            sub_ns = (sub_ns // 1_000_000_000) * 1_000_000_000
            online = channel == 1
            sub_w = np.full(n, np.nan)
            sub_local = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
            genuine = online & ~desk_entered
            if genuine.any():
                sub_local[genuine] = sub_ns[genuine]
                sub_w[genuine] = cal.to_working(sub_ns[genuine].view("datetime64[ns]"))
            if desk_entered.any():
                # keyed in at the desk: submission and receipt a few minutes apart in one office
                # slot (kept away from the slot's end so that no break falls in between)
                slot_end = self._slot_ends()
                j = np.searchsorted(slot_end, r_day, side="right")
                room = slot_end[np.minimum(j, len(slot_end) - 1)] - r_day
                w_desk = np.where(room < P.desk_entered_gap_s[1] + 60,
                                  w_office - (P.desk_entered_gap_s[1] + 60), w_office)
                w_office = np.where(desk_entered, w_desk, w_office)
                sub_w[desk_entered] = w_office[desk_entered]
                sub_local[desk_entered] = cal.from_working(w_office[desk_entered]).as_unit("ns").asi8
            ow = P.online_wait.seconds(r.standard_normal(n))
            gap = np.rint(P.desk_entered_gap_s[0]
                          + r.random(n) * (P.desk_entered_gap_s[1] - P.desk_entered_gap_s[0]))
            arrival = np.where(genuine, np.nan_to_num(sub_w) + np.maximum(ow, P.online_min_wait_h * H),
                               np.where(desk_entered, np.nan_to_num(sub_w) + gap, w_office))
            order = np.argsort(arrival, kind="stable")
            self.groups.append(_Group(
                pi=pi, n=int(n), gidx=np.arange(offset, offset + n, dtype=np.int64),
                commune=commune[order], channel=channel[order], desk_entered=desk_entered[order],
                submitted_w=sub_w[order], submitted_ns=sub_local[order], arrival_w=arrival[order]))
            offset += n
        # applicants
        r = self.rng("people")
        self.people = people.citizens(r, self.n, ref_year=self.start.year,
                                      home_code=geo.cccd_code, email_share=P.email_share)

    # ------------------------------------------------------------------ units and officers
    def _build_units(self) -> None:
        P = self.params
        geo = P.geography
        communes = geo.communes
        cdist = geo.commune_district
        self.unit_names: list[str] = []
        self.unit_index: dict[str, int] = {}
        self._tmpl: dict[str, np.ndarray] = {}   # unit template -> unit code per commune
        for p in P.procedures:
            for s in p.steps:
                self.template_codes(s.unit)
        # planted overdue units must exist
        for p in P.procedures:
            codes = set(self._tmpl[p.step(p.overdue_activity).unit].tolist())
            if p.overdue_unit not in self.unit_index or self.unit_index[p.overdue_unit] not in codes:
                raise ConfigError(f"procedure {p.code!r}: overdue_unit {p.overdue_unit!r} is not a "
                                  f"unit of step {p.overdue_activity!r}")
        # activities
        self.activities: list[str] = []
        self.act_index: dict[str, int] = {}
        for p in P.procedures:
            for s in p.steps:
                self.activity_code(s.activity)
        for a in (SUPP_REQUEST, SUPP_RECEIVED, SEND_BACK, SUSPEND, RESUME, APOLOGY):
            self.activity_code(a)
        reasons = [REASON_SEND_BACK, REASON_APOLOGY, REASON_SUSPEND]
        for p in P.procedures:
            for rs in p.supplement_reasons:
                if rs not in reasons:
                    reasons.append(rs)
        self.reasons = reasons
        self.reason_index = {r: i for i, r in enumerate(reasons)}

    def template_codes(self, template: str) -> np.ndarray:
        """Unit code per commune for a unit template (new units are added on first use, e.g.
        when changed parameters move a step to another unit)."""
        codes = self._tmpl.get(template)
        if codes is None:
            geo = self.params.geography
            dnames, cdist = geo.district_names, geo.commune_district
            out = []
            for i, c in enumerate(geo.communes):
                name = template.format(xa=c, huyen=dnames[cdist[i]])
                if name not in self.unit_index:
                    self.unit_index[name] = len(self.unit_names)
                    self.unit_names.append(name)
                out.append(self.unit_index[name])
            codes = self._tmpl[template] = np.array(out, dtype=np.int64)
        return codes

    def reason_code(self, text: str) -> int:
        if text not in self.reason_index:
            self.reason_index[text] = len(self.reasons)
            self.reasons.append(text)
        return self.reason_index[text]

    def activity_code(self, name: str) -> int:
        if name not in self.act_index:
            self.act_index[name] = len(self.activities)
            self.activities.append(name)
        return self.act_index[name]

    def _expected_counts(self, pi: int, template: str) -> np.ndarray:
        """Dossiers of procedure ``pi`` per unit code of ``template`` (realised in this world)."""
        g = self.groups[pi]
        codes = self.template_codes(template)[g.commune]
        return np.bincount(codes, minlength=len(self.unit_names)).astype(float)

    def _calibrate(self) -> None:
        """Officer pools per (unit, role) and queue pools, from the base parameters."""
        P = self.params
        span_h = (self.w1 - self.w0) / H
        work = {}  # (unit code, role) -> expected working hours in the period
        self.queues: dict[tuple[int, str], dict] = {}
        for pi, p in enumerate(P.procedures):
            for s in p.steps:
                cnt = self._expected_counts(pi, s.unit) * s.p_active
                for u in np.flatnonzero(cnt):
                    work[(u, s.officer)] = work.get((u, s.officer), 0.0) + cnt[u] * s.proc.mean_h
                if s.queue is not None:
                    self._calibrate_queue(pi, s)
        # pool sizes
        sizes: dict[tuple[int, str], int] = {}
        for (u, role), hours in work.items():
            base = BASE_POOL.get(role, 2)
            sizes[(u, role)] = max(base, int(np.ceil(hours / (0.6 * span_h))))
        for (pi, act), q in self.queues.items():
            role = P.procedures[pi].step(act).officer
            for u, info in q["units"].items():
                need = info["pools"] * (q["servers"] + 2)  # two reserve officers per pool
                sizes[(u, role)] = max(sizes.get((u, role), 0), need)
        r = self.rng("officers")
        keys = sorted(sizes)
        names = people.unique_names(r, int(sum(sizes[k] for k in keys)))
        self.officer_names = names
        self._pool: dict[tuple[int, str], tuple[int, int]] = {}
        off = 0
        for k in keys:
            self._pool[k] = (off, sizes[k])
            off += sizes[k]
        self.officer_unit = np.empty(off, dtype=np.int64)
        self.officer_role = np.empty(off, dtype=object)
        for (u, role), (o, n) in self._pool.items():
            self.officer_unit[o:o + n] = u
            self.officer_role[o:o + n] = role

    def _calibrate_queue(self, pi: int, s: StepDef) -> dict:
        """Pools per unit of a queued step: enough pools of ``servers`` officers for the planted
        utilisation; the gap to it in a pool is filled with background work (rate ``lam_bg``)."""
        q = s.queue
        cnt = self._expected_counts(pi, s.unit) * s.p_active
        lam_star = q.utilisation * q.servers / (s.proc.mean_h * H)  # arrivals per working s
        per_unit = {}
        for u in np.flatnonzero(cnt):
            lam = cnt[u] / (self.w1 - self.w0)
            pools = max(1, int(round(lam / lam_star)))
            per_unit[int(u)] = {"pools": pools, "lam_bg": max(0.0, lam_star - lam / pools)}
        info = {"units": per_unit, "base_proc": s.proc, "servers": q.servers,
                "utilisation": q.utilisation}
        self.queues[(pi, s.activity)] = info
        return info

    def _add_pool(self, u: int, role: str) -> None:
        """Officers for a (unit, role) the base world did not have (changed parameters)."""
        n = BASE_POOL.get(role, 2)
        r = self.rng("officers", self.unit_names[u], role)
        taken = set(self.officer_names.tolist())
        names = [x for x in people.unique_names(r, n + len(taken)) if x not in taken][:n]
        off = len(self.officer_names)
        self.officer_names = np.concatenate([self.officer_names, np.array(names, dtype=object)])
        self.officer_unit = np.concatenate([self.officer_unit, np.full(n, u, dtype=np.int64)])
        self.officer_role = np.concatenate([self.officer_role, np.full(n, role, dtype=object)])
        self._pool[(u, role)] = (off, n)

    def pool(self, units: np.ndarray, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(offset, size) of the officer pool of each unit code for a role."""
        for u in np.unique(units):
            if (int(u), role) not in self._pool:
                self._add_pool(int(u), role)
        nu = len(self.unit_names)
        offs = np.full(nu, -1, dtype=np.int64)
        size = np.zeros(nu, dtype=np.int64)
        for (u, r), (o, n) in self._pool.items():
            if r == role:
                offs[u], size[u] = o, n
        o, n = offs[units], size[units]
        if np.any(o < 0):
            raise ConfigError(f"no officers with role {role!r} in a unit")  # pragma: no cover
        return o, n

    # ------------------------------------------------------------------ helpers
    def _slot_ends(self) -> np.ndarray:
        """Working-axis offsets (within a day) of the ends of the office slots."""
        day = self.cal.working_days(self.start, self.start + pd.Timedelta(days=20))[0]
        base = self.cal.to_working(day)
        ends = [float(self.cal.to_working(day + pd.Timedelta(str(b) + (":00" if str(b).count(":") == 1 else "")))) - base
                for _, b in self.cal.office_hours]
        return np.array(sorted(ends), dtype=float)

    def _nudge(self, w: np.ndarray) -> np.ndarray:
        """Move ends that fall exactly on a day boundary one second later."""
        return w + (np.mod(w, self.L) == 0)

    def _batch_offsets(self, times: tuple[str, ...]) -> np.ndarray:
        day = self.cal.working_days(self.start, self.start + pd.Timedelta(days=20))[0]
        base = self.cal.to_working(day)
        offs = [float(self.cal.to_working(day + pd.Timedelta(t + ":00" if t.count(":") == 1 else t)) - base)
                for t in times]
        offs = np.array(sorted(set(offs)), dtype=float)
        if np.any((offs <= 0) | (offs >= self.L)):
            raise ConfigError(f"batch times {times!r} must lie inside office hours")
        return offs

    def _next_batch(self, arrival: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        L = self.L
        k = np.floor(arrival / L)
        r = arrival - k * L
        j = np.searchsorted(offsets, r, side="left")
        nxt = j >= len(offsets)
        j = np.where(nxt, 0, j)
        return (k + nxt) * L + offsets[j]

    def _queue(self, pi: int, step: StepDef, arrival: np.ndarray, service: np.ndarray,
               units: np.ndarray, upool: np.ndarray, servers: int, extra: dict | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FIFO multi-server queues: returns (start, end, server index within the unit).
        ``extra``: unit code -> officers added (each a pool of one, :class:`Changes`)."""
        info = self.queues.get((pi, step.activity))
        if info is None:  # a queue added by the parameters: calibrate it on this step
            info = self._calibrate_queue(pi, step)
        base_proc: Dist = info["base_proc"]
        n = len(arrival)
        start = np.empty(n)
        end = np.empty(n)
        server = np.empty(n, dtype=np.int64)
        horizon = self.w1 + 60 * self.L
        for u in np.unique(units):
        # every unit's pools are independent queues
            uinfo = info["units"].get(int(u))
            if uinfo is None:  # pragma: no cover - a unit not in the base world
                uinfo = {"pools": 1, "lam_bg": 0.0}
            sel = np.flatnonzero(units == u)
            base_pools = uinfo["pools"]
            pools = base_pools + (extra or {}).get(int(u), 0)
            pool_of = np.minimum((upool[sel] * pools).astype(np.int64), pools - 1)
            for pl in range(pools):
                ns = servers if pl < base_pools else 1
                ids = sel[pool_of == pl]
                # invisible background work of the officers (fixed by the world, CRN)
                rb = self.rng("background", self.params.procedures[pi].code, step.activity,
                              int(u), pl)
                nb = rb.poisson(uinfo["lam_bg"] * (horizon - self.w0)) if uinfo["lam_bg"] > 0 else 0
                b_arr = np.sort(np.rint(self.w0 + rb.random(nb) * (horizon - self.w0)))
                b_srv = base_proc.seconds(rb.standard_normal(nb))
                a = np.concatenate([arrival[ids], b_arr])
                sv = np.concatenate([service[ids], b_srv])
                fg = np.concatenate([np.ones(len(ids), bool), np.zeros(nb, bool)])
                pos = np.concatenate([ids, np.full(nb, -1)])
                o = np.lexsort((~fg, a))
                free = [(self.w0, j) for j in range(ns)]
                heapq.heapify(free)
                a_l, s_l, f_l, p_l = a[o].tolist(), sv[o].tolist(), fg[o].tolist(), pos[o].tolist()
                for ai, si, fi, pi_ in zip(a_l, s_l, f_l, p_l):
                    t_free, j = free[0]
                    st = ai if ai > t_free else t_free
                    en = st + si
                    heapq.heapreplace(free, (en, j))
                    if fi:
                        start[pi_] = st
                        end[pi_] = en
                        server[pi_] = pl * servers + j
        return start, end, server

    # ------------------------------------------------------------------ simulation
    def simulate(self, params: SynthParams | None = None, changes: Changes | None = None
                 ) -> SimResult:
        """Simulate every dossier under ``params`` (default: the world's own parameters).

        ``params`` must describe the same procedures (same codes, same order) and the same
        geography; step and loop parameters may differ (a what-if cut). Dossiers, arrivals,
        applicants and every random number stay those of the world. ``changes``
        (:class:`Changes`) adds what parameters cannot say (officers added to a queue, caps on
        hand-over waits, merged or parallel steps); see :func:`tthc_mining.synth.true_effect`.
        """
        P = self.params if params is None else params
        P.validate()
        if [p.code for p in P.procedures] != [p.code for p in self.params.procedures]:
            raise ConfigError("params must list the same procedures, in the same order, as the world")
        if P.geography != self.params.geography:
            raise ConfigError("params must keep the world's geography")
        ev_parts: list[dict] = []
        case_parts: list[dict] = []
        for pi, p in enumerate(P.procedures):
            g = self.groups[pi]
            if g.n == 0:
                continue
            ev, cs = self._simulate_procedure(pi, p, g, changes)
            ev["case"] = g.gidx[ev["case"]]
            ev_parts.append(ev)
            cs["gidx"] = g.gidx
            case_parts.append(cs)
        events = {k: np.concatenate([e[k] for e in ev_parts]) for k in ev_parts[0]}
        cases = {k: np.concatenate([c[k] for c in case_parts]) for k in case_parts[0]}
        order = np.argsort(cases["gidx"], kind="stable")
        cases = {k: v[order] for k, v in cases.items()}
        return SimResult(events=events, cases=cases, world=self, params=P)

    def _deadline(self, p: ProcedureDef, ts: pd.DatetimeIndex) -> np.ndarray:
        """Statutory due (axis value) for receipts at local times ``ts``."""
        cal = self.cal
        if p.same_day:
            due = cal.end_of_working_day(ts, cutoff="15:00")
        elif p.deadline_unit == "working":
            due = cal.add_working_days(ts, p.deadline_days, cutoff="15:00")
        else:
            due = cal.add_calendar_days(ts, int(round(p.deadline_days)))
        return cal.to_working(due)

    def _clock_start(self, p: ProcedureDef, ts: pd.DatetimeIndex) -> np.ndarray:
        if p.deadline_unit == "calendar" and not p.same_day:
            return self.cal.to_working(ts)
        return self.cal.to_working(self.cal.add_working_days(ts, 0, cutoff="15:00"))

    def _simulate_procedure(self, pi: int, p: ProcedureDef, g: _Group,
                            changes: Changes | None = None) -> tuple[dict, dict]:
        n, L, cal = g.n, self.L, self.cal
        for s in p.steps:
            self.activity_code(s.activity)
        A = self.act_index
        rec = _Rec()
        ch = _ProcChanges(self, p, changes)
        if ch.active:
            rec.last_unit = np.full(n, -1, dtype=np.int64)
            rec.last_act = np.full(n, -1, dtype=np.int64)
        D = lambda slot, purpose: self.draws(pi, slot, purpose)            # noqa: E731
        U = lambda slot, purpose: self.draws(pi, slot, purpose, "uniform")  # noqa: E731
        steps = p.steps
        step_units = {s.activity: self.template_codes(s.unit)[g.commune] for s in steps}
        step_off = {}

        def officers(step: StepDef, slot: str, units=None) -> np.ndarray:
            units = step_units[step.activity] if units is None else units
            o, size = self.pool(units, step.officer)
            return o + np.minimum((U(slot, "officer") * size).astype(np.int64), size - 1)

        def other_officer(step: StepDef, first: np.ndarray, slot: str) -> np.ndarray:
            o, size = self.pool(step_units[step.activity], step.officer)
            shift = 1 + np.minimum((U(slot, "other") * np.maximum(size - 1, 1)).astype(np.int64),
                                   np.maximum(size - 2, 0))
            return np.where(size > 1, o + (first - o + shift) % np.maximum(size, 1), first)

        # ---------------------------------------------------------------- receipt
        s0 = steps[0]
        ws = g.arrival_w.copy()
        we = self._nudge(ws + np.maximum(s0.proc.seconds(D(s0.activity, "proc")), 60.0))
        desk_off = officers(s0, s0.activity)
        rec.emit(np.ones(n, bool), 0, A[s0.activity], step_units[s0.activity], desk_off, ws, we,
                 K_RECEIPT, allot=s0.allotment_days if s0.allotment_days is not None else np.nan)
        received_w = we
        received_ts = cal.from_working(received_w)
        base_due_w = self._deadline(p, received_ts)
        clock_w = self._clock_start(p, received_ts)
        budget = base_due_w - clock_w
        t = we.copy()
        # ---------------------------------------------------------------- planted coins
        supp = U("plan", "supplement") < (p.p_supplement if p.appraisal else 0.0)
        double = supp & (U("plan", "double") < p.p_double)
        late = supp & (U("plan", "late") < p.p_late)
        late_frac = 0.83 + 0.12 * U("plan", "late_frac")
        ur = U("plan", "redo")
        redo = (ur < p.p_redo) if p.redo_activity else np.zeros(n, bool)
        repeat = ((ur >= p.p_redo) & (ur < p.p_redo + p.p_repeat)) if p.redo_activity else np.zeros(n, bool)
        pp1 = (U("plan", "pingpong") < p.p_pingpong) if p.pingpong else np.zeros(n, bool)
        pp2 = pp1 & (U("plan", "pingpong2") < p.p_pingpong2)
        susp_on = (U("plan", "suspension") < p.p_suspension) if p.suspension_after else np.zeros(n, bool)
        od_units = step_units[p.overdue_activity]
        od_plant = (od_units == self.unit_index.get(p.overdue_unit, -1)) \
            & (U("plan", "overdue") < p.p_overdue)
        lo, hi = p.overdue_excess_days
        od_extra = np.rint((lo + (hi - lo) * U("plan", "overdue_days")) * L)
        reasons = np.array([self.reason_code(r) for r in p.supplement_reasons], dtype=np.int64)
        # per-dossier truth accumulators
        citizen = np.zeros(n)
        third = np.zeros(n)
        rework_agency = np.zeros(n)
        n_supp = np.zeros(n, dtype=np.int64)
        req_frac = np.full((n, 2), np.nan)
        last_supp_recv = np.full(n, np.nan)
        susp_done = np.zeros(n, bool)

        def run_step(step: StepDef, slot: str, active: np.ndarray, t: np.ndarray, *,
                     first_pass: bool, off=None, extra_proc=None, proc_scale=1.0):
            """Execute ``step`` for the active dossiers after time ``t`` (iid wait, queue or
            batch on the first pass; re-executions get ``rework_wait`` and a shorter proc)."""
            proc = np.maximum(np.rint(step.proc.seconds(D(slot, "proc")) * proc_scale), 30.0)
            if extra_proc is not None:
                proc = proc + extra_proc
            if ch.active:
                proc = ch.proc(step.activity, proc)
            srv_off = None
            if first_pass and step.queue is not None and active.any():
                idx = np.flatnonzero(active)
                st_q, en_q, srv = self._queue(pi, step, t[idx], proc[idx],
                                              step_units[step.activity][idx],
                                              U(slot, "pool")[idx], step.queue.servers,
                                              ch.extra.get(step.activity))
                start = t.copy()
                start[idx] = st_q
                o, size = self.pool(step_units[step.activity], step.officer)
                srv_off = o.copy()
                srv_off[idx] = o[idx] + srv % size[idx]  # beyond the pool (added staff): names wrap
            elif first_pass and step.batch is not None:
                offs = self._batch_offsets(step.batch.times)
                bt = self._next_batch(t, offs)
                jit = np.rint(U(slot, "jitter") * step.batch.jitter_s)
                end_b = bt + jit
                start = np.maximum(t, end_b - proc)
                proc = end_b - start
            else:
                wait = (step.wait if first_pass else p.rework_wait).seconds(D(slot, "wait"))
                if ch.active:
                    wait, proc = ch.wait(step.activity, wait, proc, rec,
                                         step_units[step.activity], first_pass)
                start = t + wait
            end = self._nudge(start + proc)
            if off is None:
                off = srv_off if srv_off is not None else officers(step, slot)
            return start, end, off

        par_from: dict = {}
        for k, step in enumerate(steps[1:-1], 1):
            base = 100.0 * k
            act = A[step.activity]
            units = step_units[step.activity]
            active = np.ones(n, bool) if step.p_active >= 1 else (U(step.activity, "active") < step.p_active)
            extra = np.where(od_plant, od_extra, 0.0) if step.activity == p.overdue_activity else None
            t_in = t
            if step.activity in ch.par and step.activity in par_from:
                # parallel with the previous main step: starts from that step's arrival and
                # the dossier moves on when both are done
                ws, we, off = run_step(step, step.activity, active, par_from.pop(step.activity),
                                       first_pass=True, extra_proc=extra)
                t_out = np.maximum(t, we)
            else:
                ws, we, off = run_step(step, step.activity, active, t, first_pass=True,
                                       extra_proc=extra)
                t_out = we
            if step.activity in ch.par_first and k + 1 < len(steps) - 1 \
                    and steps[k + 1].activity == ch.par_first[step.activity]:
                par_from[steps[k + 1].activity] = t_in
            allot = step.allotment_days if step.allotment_days is not None else np.nan
            rec.emit(active, base, act, units, off, ws, we, K_MAIN, allot=allot)
            t = np.where(active, t_out, t)
            step_off[step.activity] = off
            # redo / repeat right after the step
            if step.activity == p.redo_activity:
                redo &= active      # a step that was not done is not redone
                repeat &= active
                rr = redo | repeat
                other = other_officer(step, off, step.activity + "#redo")
                off2 = np.where(repeat, other, off)
                ws2, we2, _ = run_step(step, step.activity + "#redo", rr, t, first_pass=False, off=off2)
                rec.emit(rr & redo, base + 1, act, units, off2, ws2, we2, K_REDO)
                rec.emit(rr & repeat, base + 1, act, units, off2, ws2, we2, K_REPEAT)
                rework_agency += np.where(rr, we2 - t, 0.0)
                t = np.where(rr, we2, t)
            # supplement loops after the appraisal
            if step.activity == p.appraisal:
                desk_step = steps[0]
                supp &= active
                double &= active
                late &= active
                for j, on in enumerate((supp, double), 1):
                    if not on.any():
                        continue
                    slot = f"supplement{j}"
                    # the request (by the appraising officer)
                    rq_proc = np.maximum(Dist(0.1, 0.5).seconds(D(slot, "req_proc")), 60.0)
                    rq_ws = t + Dist(0.3).seconds(D(slot, "req_wait"))
                    rq_we = rq_ws + rq_proc
                    if j == 1:
                        # a planted late request: the officer holds the open dossier until most
                        # of the budget is gone (the delay is processing time of the request)
                        target = clock_w + late_frac * budget
                        plant = late & (rq_we < target)
                        rq_we = np.where(plant, np.rint(target), rq_we)
                    rq_we = self._nudge(rq_we)
                    rsn = reasons[np.minimum((U(slot, "reason") * len(reasons)).astype(np.int64),
                                             len(reasons) - 1)]
                    rec.emit(on, base + 10 * j + 2, A[SUPP_REQUEST], units, off, rq_ws, rq_we,
                             K_SUPP_REQ, reason=rsn)
                    req_frac[:, j - 1] = np.where(on, (rq_we - clock_w - citizen - third)
                                                  / np.where(budget > 0, budget, np.nan), np.nan)
                    rework_agency += np.where(on, rq_we - t, 0.0)
                    # the citizen holds the dossier, then the desk receives the supplement
                    cw = p.citizen_wait.seconds(D(slot, "citizen"))
                    rv_ws = rq_we + np.maximum(cw, 600.0)
                    rv_we = self._nudge(rv_ws + np.maximum(Dist(0.1, 0.5).seconds(D(slot, "recv_proc")), 60.0))
                    doff = officers(desk_step, slot + "#desk")
                    rec.emit(on, base + 10 * j + 4, A[SUPP_RECEIVED], step_units[desk_step.activity],
                             doff, rv_ws, rv_we, K_SUPP_RECV, owner=OWNER_CITIZEN)
                    citizen += np.where(on, rv_we - rq_we, 0.0)
                    n_supp += on
                    last_supp_recv = np.where(on, rv_we, last_supp_recv)
                    # appraisal again, same officer
                    ws3, we3, _ = run_step(step, slot + "#again", on, rv_we, first_pass=False,
                                           off=off, proc_scale=0.6)
                    rec.emit(on, base + 10 * j + 6, act, units, off, ws3, we3, K_REAPPRAISE)
                    rework_agency += np.where(on, we3 - rv_we, 0.0)
                    t = np.where(on, we3, t)
            # ping-pong: the next unit sends the dossier back, this step is done again
            if p.pingpong and step.activity == p.pingpong[0]:
                tgt = p.step(p.pingpong[1])
                t_units = step_units[tgt.activity]
                pp1 &= active
                pp2 &= active
                for j, on in enumerate((pp1, pp2), 1):
                    if not on.any():
                        continue
                    slot = f"pingpong{j}"
                    sb_off = officers(tgt, slot + "#back", t_units)
                    sb_wait = Dist(max(0.5, 0.5 * tgt.wait.mean_h)).seconds(D(slot, "back_wait"))
                    if ch.active:
                        sb_wait = ch.handover(sb_wait, rec.last_unit, t_units)
                    sb_ws = t + sb_wait
                    sb_we = self._nudge(sb_ws + np.maximum(Dist(0.15, 0.5).seconds(D(slot, "back_proc")), 60.0))
                    rec.emit(on, base + 50 + 10 * j, A[SEND_BACK], t_units, sb_off, sb_ws, sb_we,
                             K_SEND_BACK, reason=self.reason_index[REASON_SEND_BACK])
                    ws4, we4, _ = run_step(step, slot + "#again", on, sb_we, first_pass=False,
                                           off=off, proc_scale=0.5)
                    rec.emit(on, base + 50 + 10 * j + 5, act, units, off, ws4, we4, K_PP_REDO)
                    rework_agency += np.where(on, we4 - t, 0.0)
                    t = np.where(on, we4, t)
            # suspension (tax payment): the clock stops while the citizen pays
            if step.activity == p.suspension_after:
                on = susp_on & active
                nxt = steps[k + 1]
                s_ws = t + Dist(0.3).seconds(D("suspension", "wait"))
                s_we = self._nudge(s_ws + 60.0)
                rec.emit(on, base + 80, A[SUSPEND], units, off, s_ws, s_we, K_SUSPEND,
                         reason=self.reason_index[REASON_SUSPEND])
                r_ws = s_we + np.maximum(p.suspension_wait.seconds(D("suspension", "pay")), 600.0)
                r_we = self._nudge(r_ws + 120.0)
                r_off = officers(nxt, "suspension#resume")
                rec.emit(on, base + 85, A[RESUME], step_units[nxt.activity], r_off, r_ws, r_we,
                         K_RESUME, owner=OWNER_THIRD)
                third += np.where(on, r_we - s_we, 0.0)
                susp_done |= on
                t = np.where(on, r_we, t)
        finish_w = t.copy()
        # ---------------------------------------------------------------- dues
        paused = citizen + third
        statutory_due_w = base_due_w + paused
        restarted = supp & p.restart_on_supplement
        due_rep_w = statutory_due_w.copy()
        if restarted.any():
            idx = np.flatnonzero(restarted)
            ts = cal.from_working(last_supp_recv[idx])
            due_rep_w[idx] = self._deadline(p, ts) + third[idx]
        # re-appointment: the agency apologises for a dossier that will miss the exported due
        moved = np.zeros(n, bool)
        due_before_w = np.full(n, np.nan)
        due_after_w = np.full(n, np.nan)
        if not p.same_day and p.p_reappoint > 0:
            late_rep = finish_w > due_rep_w
            moved = late_rep & (U("plan", "reappoint") < p.p_reappoint)
            if moved.any():
                need = np.ceil((finish_w - due_rep_w) / L)
                kdays = need + np.floor(U("plan", "reappoint_days") * 3)
                due_before_w = np.where(moved, due_rep_w, np.nan)
                due_after_w = np.where(moved, due_rep_w + kdays * L, np.nan)
                self._apology(rec, moved, due_rep_w, received_w,
                              np.where(restarted, last_supp_recv, received_w), A)
        reported_due_w = np.where(moved, due_after_w, due_rep_w)
        # ---------------------------------------------------------------- result returned
        last = steps[-1]
        pick = np.where(g.channel == 1, p.pickup_online.seconds(D(RESULT, "pickup")),
                        p.pickup_direct.seconds(D(RESULT, "pickup")))
        rs_ws = finish_w + pick
        rs_we = self._nudge(rs_ws + np.maximum(last.proc.seconds(D(RESULT, "proc")), 60.0))
        rec.emit(np.ones(n, bool), 100.0 * (len(steps) - 1), A[last.activity],
                 step_units[last.activity], officers(last, RESULT), rs_ws, rs_we, K_RESULT)
        ev = rec.arrays()
        cases = {
            "pi": np.full(n, pi, dtype=np.int64), "commune": g.commune, "channel": g.channel,
            "desk_entered": g.desk_entered, "submitted_ns": g.submitted_ns,
            "submitted_w": g.submitted_w, "receipt_start_w": g.arrival_w,
            "received_w": received_w, "clock_start_w": clock_w, "budget_s": budget,
            "base_due_w": base_due_w, "statutory_due_w": statutory_due_w,
            "reported_due_w": reported_due_w, "due_before_w": due_before_w,
            "due_after_w": due_after_w, "finish_w": finish_w, "returned_w": rs_we,
            "citizen_s": citizen, "third_s": third, "pickup_s": rs_we - finish_w,
            "rework_agency_s": rework_agency, "n_supplement": n_supp,
            "n_redo": redo.astype(np.int64), "n_repeat": repeat.astype(np.int64),
            "n_pingpong": pp1.astype(np.int64) + pp2.astype(np.int64),
            "late_planted": late, "request_frac1": req_frac[:, 0], "request_frac2": req_frac[:, 1],
            "suspended": susp_done, "restarted": restarted, "moved": moved,
            "overdue_planted": od_plant,
        }
        return ev, cases

    def _apology(self, rec: _Rec, moved: np.ndarray, due_w: np.ndarray, received_w: np.ndarray,
                 lower_w: np.ndarray, A: dict) -> None:
        """Insert 'Xin lỗi và hẹn lại ngày trả kết quả' right after the last event that ended at
        least one working day before the due date in force (or after the event that set it), with
        the same end time, unit and officer as that event (so no waiting time is split)."""
        ev = rec.arrays()
        c = ev["case"]
        ok = moved[c] & (ev["we"] >= lower_w[c] - 0.5) & (ev["kind"] != K_RESULT)
        cand = ok & (ev["we"] <= due_w[c] - self.L)
        # dossiers with no event early enough: the event that set the due date
        has = np.zeros(len(moved), bool)
        has[c[cand]] = True
        fallback = ok & ~has[c] & (np.abs(ev["we"] - lower_w[c]) < 0.5)
        sel = np.flatnonzero(cand | fallback)
        o = np.lexsort((ev["order"][sel], ev["we"][sel], c[sel]))
        sel = sel[o]
        last = np.ones(len(sel), bool)
        last[:-1] = c[sel][1:] != c[sel][:-1]
        pick = sel[last]
        n = len(moved)
        mask = np.zeros(n, bool)
        mask[c[pick]] = True
        def full(a: np.ndarray, fill) -> np.ndarray:
            out = np.full(n, fill, dtype=a.dtype)
            out[c[pick]] = a[pick]
            return out

        w = full(ev["we"], np.nan)
        rec.emit(mask, 0.0, A[APOLOGY], full(ev["unit"], 0), full(ev["off"], 0), w, w, K_APOLOGY,
                 reason=self.reason_index[REASON_APOLOGY])
        # order: just after the chosen event
        rec.order[-1] = full(ev["order"], 0.0)[mask] + 0.5
