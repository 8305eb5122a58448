"""The true effect of a procedure cut in the synthetic world (issue 5: accuracy against truth).

``tm.synth.true_effect(province, cut)`` applies a cut object of :mod:`tthc_mining.cuts` to the
*world's own parameters* and re-simulates the same dossiers with the same random numbers
(common random numbers, :meth:`World.simulate`). The difference dossier by dossier is the true
effect of the cut, against which the replay and the simulation engines are checked
(``benchmarks/accuracy_study.py``, ``docs/accuracy.md``).

How each cut changes the world (``P`` = the procedures in scope; names are matched exactly or
after :func:`tthc_mining.roles.fold`):

``RemoveStep(X)``
    step ``X`` of every procedure in ``P`` that has it is skipped (``p_active = 0``); loops
    anchored on ``X`` (redo, supplement after an appraisal ``X``, ping-pong from ``X``) go with
    it. The receipt and *Trả kết quả* cannot be removed; loop and clock events (supplement
    request, send-back, suspension) are not steps: use ``RemoveLoop``.
``ShortenStep(X, factor | to_hours, part)``
    every execution's processing time of ``X`` (including rework executions and a planted
    overdue extra) is multiplied by ``factor`` or capped at ``to_hours``; ``part="segment"``
    also scales the step's own (iid) waiting. A queued step's service gets shorter, so its queue
    shrinks; a batched step still ends at its signing time.
``RemoveLoop(kind | activity)`` / ``ReduceLoopRate(kind, factor)``
    the loop probabilities of the world go to 0 / are multiplied by ``factor``:
    ``supplement`` -> ``p_supplement``; ``selfloop`` -> ``p_redo`` and ``p_repeat`` (the step
    done again right away); ``cross_unit`` / ``same_unit`` -> ``p_pingpong`` (the next unit
    sends the dossier back) when the two units of the ping-pong differ / are the same;
    ``any`` -> all of them; ``activity=X`` keeps the loops that repeat ``X`` (the appraisal for
    supplements, the redo step, the first step of a ping-pong). Under ``ReduceLoopRate`` the
    dossiers that keep a loop are those whose (fixed) coin is below the new probability.
``AddStaff(step, unit, n)``
    ``n`` officers join every *queued* step matching ``step`` / ``unit``, each with an in-tray
    of its own (a FIFO pool of one with the unit's background work); new dossiers are spread
    evenly over all pools. Steps without a queue have no officer limit in the world: adding
    staff there changes nothing (the truth is 0).
``RemoveHandover(U, V, residual_hours)``
    the (iid) waiting of every agency event at unit ``V`` right after an event at unit ``U`` is
    capped at ``residual_hours`` (default: as the replay engine defines it, the median waiting
    of agency events at ``V`` that follow an event of ``V`` itself, here measured on the world's
    baseline events); queue and batch waits are not transfer time and stay.
``MergeSteps(a, b)``
    ``b``'s own waiting is 0 when it comes right after ``a``.
``Parallelize(a, b)``
    where ``a`` and ``b`` are consecutive main steps of a procedure (either order), the second
    starts when the first does; the dossier moves on when both are done.
``Bundle([...])``
    the parts in order.

The truth is measured the way ``tm.timing`` measures a log: agency working time from receipt
to the end of processing minus the citizen's (supplement) and third parties' (tax) time;
on time = agency time within the statutory budget (``base due - received``).
"""
from __future__ import annotations

import dataclasses
import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from .build import case_ids
from .procedures import SynthParams
from .world import OWNER_AGENCY, Changes, SimResult, World

__all__ = ["true_effect", "TrueEffect", "world_changes"]

_EPS = 1e-6
H = 3600.0


# ====================================================================== name resolution
def _resolve(name: str, known: list[str], what: str) -> str:
    from ..cuts.catalogue import resolve_name
    return known[resolve_name(name, known, what)]


def _scope(params: SynthParams, procedure: Any) -> list[int]:
    codes = [p.code for p in params.procedures]
    if procedure is None:
        return list(range(len(codes)))
    wanted = [procedure] if isinstance(procedure, str) or np.ndim(procedure) == 0 else list(procedure)
    out = []
    for w in wanted:
        if str(w) not in codes:
            raise ConfigError(f"unknown procedure {w!r}; known: {', '.join(codes)}")
        out.append(codes.index(str(w)))
    return out


def _step_names(params: SynthParams, scope: list[int]) -> list[str]:
    return list(dict.fromkeys(s.activity for i in scope for s in params.procedures[i].steps))


def _activity(world: World, params: SynthParams, scope: list[int], name: str) -> str:
    """Exact step name (among the steps of every procedure: a step of procedures out of scope
    is a valid name that changes nothing); loop/clock events (not steps) give a clear error."""
    steps = _step_names(params, list(range(len(params.procedures))))
    try:
        return _resolve(name, steps, "activity")
    except ConfigError:
        others = [a for a in world.activities if a not in steps]
        try:
            other = _resolve(name, others, "activity") if others else None
        except ConfigError:
            other = None
        if other is not None:
            raise ConfigError(f"{other!r} is a loop or clock event of the synthetic world, not a "
                              "step of an internal procedure: use RemoveLoop / ReduceLoopRate") from None
        raise


# ====================================================================== cut -> world
def _loop_families(p, kind: str | None, activity: str | None) -> list[str]:
    """The world's loop families of procedure ``p`` a loop cut targets."""
    fams = []
    if p.appraisal and p.p_supplement > 0:
        fams.append(("supplement", p.appraisal))
    if p.redo_activity and (p.p_redo > 0 or p.p_repeat > 0):
        fams.append(("selfloop", p.redo_activity))
    if p.pingpong and p.p_pingpong > 0:
        same = p.step(p.pingpong[0]).unit == p.step(p.pingpong[1]).unit
        fams.append(("same_unit" if same else "cross_unit", p.pingpong[0]))
    out = []
    for fam, anchor in fams:
        if kind not in (None, "any") and fam != kind:
            continue
        if activity is not None and anchor != activity:
            continue
        out.append({"supplement": "supplement", "selfloop": "redo"}.get(fam, "pingpong"))
    return out


def _scale_loops(params: SynthParams, code: str, fams: list[str], factor: float) -> SynthParams:
    p = params.procedure(code)
    ch: dict[str, float] = {}
    if "supplement" in fams:
        ch["p_supplement"] = p.p_supplement * factor
    if "redo" in fams:
        ch["p_redo"] = p.p_redo * factor
        ch["p_repeat"] = p.p_repeat * factor
    if "pingpong" in fams:
        ch["p_pingpong"] = p.p_pingpong * factor
    return params.with_procedure(code, **ch) if ch else params


def _internal_wait(base: SimResult, unit: int) -> tuple[float, int, str]:
    """The replay engine's default residual of a hand-over (``ReplayContext.internal_wait``)
    measured on the world's baseline events: the median waiting of agency events at ``unit``
    right after an event of the same unit (at least 5), else of all such internal transfers."""
    ev = base.events
    o = np.lexsort((ev["order"], ev["we"], ev["case"]))
    c, u, ws, we, own = (ev[k][o] for k in ("case", "unit", "ws", "we", "owner"))
    first = np.ones(len(c), bool)
    first[1:] = c[1:] != c[:-1]
    prev_we = np.empty(len(c))
    prev_we[1:] = we[:-1]
    prev_u = np.full(len(c), -1)
    prev_u[1:] = u[:-1]
    wait = ws - prev_we
    base_m = ~first & (own == OWNER_AGENCY) & (prev_u == u) & (wait >= 0)
    m = base_m & (u == unit)
    if m.sum() >= 5:
        return float(np.median(wait[m])), int(m.sum()), "receiving unit's internal transfers"
    if base_m.any():
        return float(np.median(wait[base_m])), int(base_m.sum()), "all internal transfers"
    return 0.0, 0, "no internal transfers (residual 0)"


def world_changes(world: World, cut, *, procedure: Any = None, params: SynthParams | None = None,
                  base: SimResult | None = None) -> tuple[SynthParams, Changes, list[str]]:
    """Translate a cut into the world's terms: ``(params, changes, notes)`` for
    :meth:`World.simulate` (see the module docstring for the rules)."""
    from ..cuts.catalogue import (AddStaff, Cut, MergeSteps, Parallelize,
                                  ReduceLoopRate, RemoveHandover, RemoveLoop, RemoveStep,
                                  ShortenStep)
    if not isinstance(cut, Cut):
        raise ConfigError(f"expected a cut object (tm.cuts.RemoveStep(...), ...), got {cut!r}")
    P = world.params if params is None else params
    scope = _scope(P, procedure)
    ch: dict[str, list] = {f.name: [] for f in dataclasses.fields(Changes)}
    notes: list[str] = []

    def with_step(code: str, act: str) -> bool:
        return any(s.activity == act for s in P.procedure(code).steps)

    codes = [P.procedures[i].code for i in scope]
    for part in cut.parts():
        if isinstance(part, RemoveStep):
            act = _activity(world, P, scope, part.activity)
            for code in codes:
                p = P.procedure(code)
                if not with_step(code, act):
                    continue
                if act in (p.steps[0].activity, p.steps[-1].activity):
                    raise ConfigError(f"the synthetic world cannot remove {act!r} from {code}: every "
                                      "dossier is received and its result returned")
                P = P.with_step(code, act, p_active=0.0)
        elif isinstance(part, ShortenStep):
            act = _activity(world, P, scope, part.activity)
            seg = part.part == "segment"
            for code in codes:
                if not with_step(code, act):
                    continue
                if part.factor is not None:
                    ch["segment_factor" if seg else "proc_factor"].append((code, act, part.factor))
                else:
                    ch["segment_cap" if seg else "proc_cap"].append((code, act, part.to_hours * H))
        elif isinstance(part, (RemoveLoop, ReduceLoopRate)):
            kind = part.loop_kind
            act = None if part.activity is None else _activity(world, P, scope, part.activity)
            factor = 0.0 if isinstance(part, RemoveLoop) else part.factor
            hit = False
            for code in codes:
                fams = _loop_families(P.procedure(code), kind, act)
                if fams:
                    hit = True
                    P = _scale_loops(P, code, fams, factor)
            if not hit:
                notes.append(f"{part}: the world has no such loop in scope (truth = 0)")
        elif isinstance(part, AddStaff):
            act = None if part.step is None else _activity(world, P, scope, part.step)
            unit = None if part.unit is None else _resolve(part.unit, world.unit_names, "unit")
            hit = False
            for i in scope:
                p = P.procedures[i]
                for s in p.steps:
                    if s.queue is None or (act is not None and s.activity != act):
                        continue
                    g = world.groups[i]
                    units = sorted({world.unit_names[u] for u in world.template_codes(s.unit)[g.commune]})
                    for un in units:
                        if unit is None or un == unit:
                            ch["extra_officers"].append((p.code, s.activity, un, part.n))
                            hit = True
            if not hit:
                notes.append(f"{part}: no queued step there; the world has no officer limit at "
                             "that step, so added staff changes nothing (truth = 0)")
        elif isinstance(part, RemoveHandover):
            fu = _resolve(part.from_unit, world.unit_names, "unit")
            tu = _resolve(part.to_unit, world.unit_names, "unit")
            if part.residual_hours is None:
                if base is None:
                    base = world.simulate(P)
                res, n_basis, basis = _internal_wait(base, world.unit_index[tu])
                notes.append(f"residual wait {res / H:.2f} h = median of {n_basis:,} {basis}")
            else:
                res = part.residual_hours * H
            for code in codes:
                ch["handover_caps"].append((code, fu, tu, float(res)))
        elif isinstance(part, MergeSteps):
            a = _activity(world, P, scope, part.a)
            b = _activity(world, P, scope, part.b)
            for code in codes:
                if with_step(code, a) and with_step(code, b):
                    ch["merge"].append((code, a, b))
        elif isinstance(part, Parallelize):
            a = _activity(world, P, scope, part.a)
            b = _activity(world, P, scope, part.b)
            hit = False
            for code in codes:
                acts = [s.activity for s in P.procedure(code).steps[1:-1]]
                for x, y in ((a, b), (b, a)):
                    if x in acts and y in acts and acts.index(y) == acts.index(x) + 1:
                        ch["parallel"].append((code, x, y))
                        hit = True
            if not hit:
                notes.append(f"{part}: the two steps are not consecutive main steps of a "
                             "procedure in scope (truth = 0)")
        else:  # pragma: no cover - every catalogue type is handled above
            raise ConfigError(f"the synthetic world does not know how to apply {part!r}")
    return P, Changes(**{k: tuple(v) for k, v in ch.items()}), notes


# ====================================================================== the truth
@dataclass
class TrueEffect:
    """The true effect of a cut in the synthetic world.

    ``cases``: one row per dossier in scope (``case:concept:name``, ``procedure``,
    ``agency_before_days``, ``agency_after_days``, ``saved_days``, ``budget_days``,
    ``on_time_before``, ``on_time_after``, ``citizen_hours_saved``, ``visits_avoided``,
    ``affected``); ``summary``: the same figures as a score row (``saved_mean_days``,
    ``saved_median_days`` / ``saved_p90_days`` among the dossiers that gain, ``on_time_before``
    / ``on_time_after``, ``share_affected``, ``share_slower`` (dossiers a queue made slower) ...).
    """

    cut: Any
    cases: pd.DataFrame
    summary: dict
    notes: list = field(default_factory=list)

    @property
    def saved_mean_days(self) -> float:
        return float(self.summary["saved_mean_days"])

    def to_frame(self) -> pd.DataFrame:
        return self.cases

    def to_dict(self) -> dict:
        cut = self.cut.to_dict() if hasattr(self.cut, "to_dict") else str(self.cut)
        summ = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.summary.items()}
        return {"cut": cut, "summary": summ, "notes": list(self.notes)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        s = self.summary
        return (f"TrueEffect({self.cut}: {s['saved_mean_days']:.3f} working days saved per dossier "
                f"over {s['n_dossiers']:,} dossiers)")

    def _repr_html_(self) -> str:
        label = getattr(self.cut, "label", str(self.cut))
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                       for k, v in self.summary.items())
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<p><b>Tác động thực (thế giới mô phỏng) / true effect</b>: {html.escape(label)}</p>"
                f"<table>{rows}</table>" + (f"<ul>{notes}</ul>" if notes else ""))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def _world_of(obj) -> World:
    if isinstance(obj, World):
        return obj
    w = getattr(obj, "world", None)
    if isinstance(w, World):
        return w
    raise ConfigError("true_effect needs a synthetic World or the SynthProvince that "
                      f"tm.synth.province(...) returns, not {type(obj).__name__}")


def _per_case(sim: SimResult) -> dict[str, np.ndarray]:
    cs = sim.cases
    agency = cs["finish_w"] - cs["received_w"] - cs["citizen_s"] - cs["third_s"]
    budget = cs["base_due_w"] - cs["received_w"]
    return {"agency": agency, "budget": budget, "citizen": cs["citizen_s"],
            "supp": cs["n_supplement"].astype(np.float64)}


def baseline(world: World) -> SimResult:
    """The world simulated under its own parameters (cached on the world)."""
    cache = world.__dict__.setdefault("_truth_cache", {})
    key = id(world.params)
    if key not in cache:
        cache.clear()
        cache[key] = world.simulate()
    return cache[key]


def true_effect(province_or_world, cut, *, procedure: Any = None,
                base: SimResult | None = None) -> TrueEffect:
    """The true effect of ``cut`` on the synthetic world's dossiers (common random numbers).

    ``province_or_world``: what :func:`tthc_mining.synth.province` returns (or its ``world``).
    ``procedure``: a code (or a list) limits the cut and the dossiers scored to those
    procedures, as ``tm.score_cuts(..., procedure=)`` does; ``None`` = every procedure.
    ``base``: the baseline :class:`SimResult` when already simulated (default: cached on the
    world). Returns a :class:`TrueEffect` (per-dossier table and a summary; working days of the
    world's calendar).
    """
    W = _world_of(province_or_world)
    base = baseline(W) if base is None else base
    params, changes, notes = world_changes(W, cut, procedure=procedure, base=base)
    after = W.simulate(params, changes=changes)
    b, a = _per_case(base), _per_case(after)
    L = W.L
    scope = np.isin(base.cases["pi"], _scope(W.params, procedure))
    ids = case_ids(base)
    saved = (b["agency"] - a["agency"]) / L
    ok_b = b["agency"] <= b["budget"] + 1e-3
    ok_a = a["agency"] <= a["budget"] + 1e-3
    cit = (b["citizen"] - a["citizen"]) / H
    visits = b["supp"] - a["supp"]
    affected = (np.abs(saved) * L > _EPS) | (np.abs(cit) > _EPS) | (visits != 0)
    codes = np.array([p.code for p in W.params.procedures], dtype=object)
    cases = pd.DataFrame({
        S.CASE: ids, "procedure": codes[base.cases["pi"]],
        "agency_before_days": b["agency"] / L, "agency_after_days": a["agency"] / L,
        "saved_days": saved, "budget_days": b["budget"] / L,
        "on_time_before": ok_b, "on_time_after": ok_a, "citizen_hours_saved": cit,
        "visits_avoided": visits, "affected": affected})[scope].reset_index(drop=True)
    s = cases["saved_days"].to_numpy()
    n = len(s)
    gain = s[cases["affected"].to_numpy() & (s > 0)]
    summary = {
        "cut": str(cut), "n_dossiers": n,
        "saved_mean_days": float(s.mean()) if n else float("nan"),
        "saved_se_days": float(s.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
        "saved_median_days": float(np.median(gain)) if gain.size else float("nan"),
        "saved_p90_days": float(np.quantile(gain, 0.9)) if gain.size else float("nan"),
        "dossiers_affected": int(cases["affected"].sum()),
        "share_affected": float(cases["affected"].mean()) if n else float("nan"),
        "share_slower": float((s < -_EPS / L).mean()) if n else float("nan"),
        "agency_mean_before_days": float(cases["agency_before_days"].mean()) if n else float("nan"),
        "agency_mean_after_days": float(cases["agency_after_days"].mean()) if n else float("nan"),
        "on_time_before": float(cases["on_time_before"].mean()) if n else float("nan"),
        "on_time_after": float(cases["on_time_after"].mean()) if n else float("nan"),
        "citizen_hours_saved_mean": float(cases["citizen_hours_saved"].mean()) if n else float("nan"),
        "visits_avoided_mean": float(cases["visits_avoided"].mean()) if n else float("nan"),
    }
    return TrueEffect(cut=cut, cases=cases, summary=summary, notes=notes)
