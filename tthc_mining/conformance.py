"""Conformance to the internal procedure (quy trình nội bộ) of a procedure catalogue.

``tm.conformance(log, catalog, procedure=...)`` compares every dossier with the prescribed step
sequence and per-step allotments of ``tm.ProcedureCatalog`` and returns a per-dossier DataFrame
(:class:`ConformanceReport`) with a ``.by_step`` summary.

Rules
-----
* The prescribed sequence of a dossier is the ordered steps of its procedure in the catalogue
  version in force when it was received. Steps are matched to the log's activities on the folded
  name (case, diacritics and spacing ignored).
* ``fitness``: pm4py token-based replay of the dossier on a Petri net built from the prescribed
  sequence (a chain ``p0 -> step1 -> p1 -> ... -> stepN -> pN``, initial marking ``p0``, final
  ``pN``); pm4py's trace fitness ``0.5 (1 - missing/consumed) + 0.5 (1 - remaining/produced)``.
  Events of activities that are not prescribed are ignored by the replay (pm4py's default), so
  ``fitness`` measures the prescribed steps: skips, repetitions and order. The replay runs once per
  distinct prescribed-step sequence (variant), not once per dossier.
* ``skipped``: prescribed steps the dossier never executed. For a dossier that is not
  ``complete`` (it did not reach the last prescribed step and has no result-returned /
  processing-finished event: still in progress, withdrawn or refused) only the steps before the
  furthest step it reached count.
* ``extra``: events of activities that are not prescribed, except the clock events (supplement
  request/receipt, suspension/resumption, re-appointment, withdrawal, refusal — counted in
  ``clock_events``), which the rules allow.
* ``repeated``: executions of a prescribed step after its first one (rework).
* ``out_of_order``: prescribed steps whose first execution comes after a step that is prescribed
  later (the running maximum of the step order within the dossier was already higher).
* ``over_allotment``: prescribed steps whose time in the dossier (sum of the agency-owned segments
  of its events, wait + processing, working days) exceeds the step's allotment;
  ``over_allotment_days`` the total excess.
All counts are vectorised on integer codes; only the fitness goes through pm4py.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from . import schema as S
from .bottlenecks import catalog_plan, make_module_callable, procedure_mask, resolve_catalog
from .errors import ConfigError
from .segments import OWNER_AGENCY, segments

__all__ = ["conformance", "ConformanceReport", "LABELS_VI", "CLOCK_ROLES"]

CLOCK_ROLES = (S.ROLE_SUPPLEMENT_REQUEST, S.ROLE_SUPPLEMENT_RECEIVED, S.ROLE_SUSPENDED,
               S.ROLE_RESUMED, S.ROLE_REAPPOINTED, S.ROLE_WITHDRAWN, S.ROLE_REFUSED)
_END_ROLES = (S.ROLE_RESULT, S.ROLE_FINISHED)

LABELS_VI = {
    "case:concept:name": "Mã hồ sơ",
    "procedure": "Mã TTHC",
    "n_events": "Số sự kiện",
    "fitness": "Độ phù hợp (token replay)",
    "skipped": "Số bước bị bỏ qua",
    "extra": "Số bước ngoài quy trình",
    "repeated": "Số bước lặp lại",
    "out_of_order": "Số bước sai thứ tự",
    "over_allotment": "Số bước vượt thời gian",
    "over_allotment_days": "Tổng ngày vượt thời gian",
    "clock_events": "Sự kiện dừng/tính lại thời hạn",
    "complete": "Đã hoàn thành",
    "step_order": "Thứ tự bước",
    "activity": "Bước xử lý",
    "unit": "Đơn vị",
    "allotment_days": "Thời gian quy định (ngày)",
    "dossiers": "Số hồ sơ",
    "executed": "Số hồ sơ thực hiện",
    "skip_rate": "Tỷ lệ bỏ qua",
    "over_rate": "Tỷ lệ vượt thời gian",
    "spent_mean_days": "Thời gian thực tế TB (ngày)",
    "spent_median_days": "Trung vị thời gian thực tế (ngày)",
    "excess_days_total": "Tổng ngày vượt",
}


class ConformanceReport(pd.DataFrame):
    """Per-dossier conformance (a DataFrame) with ``.by_step`` (per prescribed step),
    ``.extra_steps`` (activities outside the internal procedure) and ``.summary``."""

    _metadata = ["by_step", "extra_steps", "summary"]

    @property
    def _constructor(self):
        return ConformanceReport

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self)

    def to_json(self, *args, **kw) -> str:  # noqa: D401 - same name as pandas, richer content
        if args or kw.get("path_or_buf") is not None:
            return pd.DataFrame(self).to_json(*args, **kw)
        by_step = getattr(self, "by_step", None)
        return json.dumps({"summary": getattr(self, "summary", {}),
                           "by_step": json.loads(by_step.to_json(orient="records", force_ascii=False))
                           if by_step is not None else [],
                           "cases": json.loads(pd.DataFrame(self).to_json(orient="records",
                                                                          force_ascii=False))},
                          ensure_ascii=False, default=str)

    def _repr_html_(self) -> str:
        s = getattr(self, "summary", None) or {}
        head = (f"<p><b>Tuân thủ quy trình nội bộ / Conformance</b>: {s.get('n_dossiers', len(self)):,} "
                f"dossiers, mean fitness {s.get('fitness_mean', float('nan')):.3f}, "
                f"{s.get('perfect_share', float('nan')):.1%} follow the procedure exactly</p>")
        by_step = getattr(self, "by_step", None)
        body = by_step.to_html(escape=True, index=False) if by_step is not None else ""
        return head + body + pd.DataFrame(self).head(10).to_html(escape=True, index=False)


def _sequence_net(labels: list[str]):
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils import petri_utils

    net = PetriNet("internal_procedure")
    places = [PetriNet.Place(f"p{i}") for i in range(len(labels) + 1)]
    for p in places:
        net.places.add(p)
    for i, a in enumerate(labels):
        t = PetriNet.Transition(f"t{i}", a)
        net.transitions.add(t)
        petri_utils.add_arc_from_to(places[i], t, net)
        petri_utils.add_arc_from_to(t, places[i + 1], net)
    return net, Marking({places[0]: 1}), Marking({places[-1]: 1})


def _replay_fitness(sequences: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """pm4py token-replay fitness of each sequence (step positions) on the chain net."""
    from pm4py.algo.conformance.tokenreplay import algorithm as token_replay
    from pm4py.objects.log.obj import Event, EventLog, Trace

    net, im, fm = _sequence_net(labels)
    log = EventLog([Trace([Event({S.ACTIVITY: labels[int(k)]}) for k in seq],
                          attributes={S.CASE: f"v{i:09d}"}) for i, seq in enumerate(sequences)])
    res = token_replay.apply(log, net, im, fm, parameters={"show_progress_bar": False})
    return np.array([r["trace_fitness"] for r in res], dtype=np.float64)


def conformance(log, catalog=None, procedure=None, *, fitness: bool = True,
                ci: float = 0.95, seed: int = 0) -> ConformanceReport:
    """Per-dossier conformance to the internal procedure (see the module docstring).

    ``catalog`` defaults to ``log.catalog``; ``procedure`` restricts to one code (or a list);
    dossiers whose procedure has no prescribed steps in the catalogue are left out (their number
    is in ``summary["not_in_catalog"]``). ``fitness=False`` skips pm4py."""
    catalog = resolve_catalog(log, catalog)
    if catalog is None:
        raise ConfigError("conformance needs a procedure catalogue with the internal procedure "
                          "(tm.ProcedureCatalog); pass catalog=")
    plan = catalog_plan(log, catalog)
    if plan is None:
        raise ConfigError("conformance needs the procedure column (case:procedure) in the log")
    seg = segments(log)
    nc = seg.n_cases
    A = plan["lut_order"].shape[1]
    L = log.calendar.seconds_per_day
    case_version = plan["case_version"]
    n_steps_v = np.array([len(s) for s in plan["steps"]] + [0], dtype=np.int64)
    has_plan = (case_version >= 0) & (n_steps_v[case_version] > 0)
    pmask = procedure_mask(log, procedure)
    in_proc = np.ones(nc, dtype=bool)
    if pmask is not None:
        in_proc = np.zeros(nc, dtype=bool)
        in_proc[seg.case[pmask]] = True
    cases_sel = in_proc & has_plan
    not_in_catalog = int(np.count_nonzero(in_proc & ~has_plan))
    ev = np.flatnonzero(cases_sel[seg.case])
    c = seg.case[ev]
    v = case_version[c]
    a = seg.activity[ev]
    order = plan["lut_order"].ravel()[v * A + a]
    presc = np.isfinite(order)
    o = np.where(presc, order, -1).astype(np.int64)
    if S.ROLE in log.events.columns:
        role = log.events[S.ROLE].astype(object).to_numpy()[ev]
        clock = np.isin(role, CLOCK_ROLES)
        end_role = np.isin(role, _END_ROLES)
    else:
        clock = np.zeros(ev.size, dtype=bool)
        end_role = np.zeros(ev.size, dtype=bool)

    # occurrence index of each (dossier, activity) pair, in event order
    pair = c * A + a
    occ = pd.Series(pair).groupby(pair, sort=False).cumcount().to_numpy()
    first = presc & (occ == 0)
    n_events = np.bincount(c, minlength=nc)
    extra = np.bincount(c, weights=(~presc & ~clock).astype(np.float64), minlength=nc)
    clock_n = np.bincount(c, weights=clock.astype(np.float64), minlength=nc)
    repeated = np.bincount(c, weights=(presc & (occ > 0)).astype(np.float64), minlength=nc)
    executed = np.bincount(c, weights=first.astype(np.float64), minlength=nc)
    max_order = np.full(nc, -1, dtype=np.int64)
    np.maximum.at(max_order, c[first], o[first])
    k = n_steps_v[np.maximum(case_version, 0)]
    complete = np.zeros(nc, dtype=bool)
    complete[c[end_role]] = True
    complete |= (max_order == k - 1) & (k > 0)
    skipped = np.where(complete, k - executed, (max_order + 1) - executed)

    # out of order: first executions below the running maximum of earlier first executions
    fi = np.flatnonzero(first)
    K = int(n_steps_v.max()) + 1
    comp = c[fi] * K + o[fi]
    run = np.maximum.accumulate(comp) if fi.size else comp
    prev_run = np.full(fi.size, -1, dtype=np.int64)
    prev_run[1:] = run[:-1]
    same = np.zeros(fi.size, dtype=bool)
    same[1:] = c[fi][1:] == c[fi][:-1]
    ooo_ev = same & (prev_run > comp) & (prev_run // K == c[fi])
    out_of_order = np.bincount(c[fi], weights=ooo_ev.astype(np.float64), minlength=nc)

    # time spent per (dossier, prescribed step) vs allotment
    held = np.where(seg.owner[ev] == OWNER_AGENCY,
                    np.maximum(np.nan_to_num(seg.seg_s[ev], nan=0.0), 0.0), 0.0)
    held[seg.is_first[ev]] = 0.0
    p_idx = np.flatnonzero(presc)
    pk = c[p_idx] * K + o[p_idx]
    upk, inv = np.unique(pk, return_inverse=True)
    spent = np.bincount(inv, weights=held[p_idx], minlength=upk.size) / L
    pc, po = upk // K, upk % K
    allot = _position_allotments(plan)[case_version[pc], po]
    over = np.isfinite(allot) & (spent > np.nan_to_num(allot, nan=np.inf))
    excess = np.where(over, spent - np.nan_to_num(allot), 0.0)
    over_n = np.bincount(pc, weights=over.astype(np.float64), minlength=nc)
    over_days = np.bincount(pc, weights=excess, minlength=nc)

    # fitness: pm4py token replay once per (version, prescribed-step sequence)
    fit = np.full(nc, np.nan)
    sel_cases = np.flatnonzero(cases_sel)
    if fitness and sel_cases.size:
        fit[sel_cases] = _fitness(plan, log, seg, sel_cases, c[p_idx], o[p_idx], case_version, seed)

    proc_labels = _case_procedure(log, seg)
    out = pd.DataFrame({
        S.CASE: seg.case_ids.to_numpy(dtype=object)[sel_cases],
        "procedure": proc_labels[sel_cases],
        "n_events": n_events[sel_cases],
        "fitness": fit[sel_cases],
        "skipped": skipped[sel_cases].astype(np.int64),
        "extra": extra[sel_cases].astype(np.int64),
        "repeated": repeated[sel_cases].astype(np.int64),
        "out_of_order": out_of_order[sel_cases].astype(np.int64),
        "over_allotment": over_n[sel_cases].astype(np.int64),
        "over_allotment_days": over_days[sel_cases],
        "clock_events": clock_n[sel_cases].astype(np.int64),
        "complete": complete[sel_cases],
    })
    rep = ConformanceReport(out)
    rep.by_step = _by_step(plan, log, sel_cases, case_version, complete, max_order, pc, po,
                           spent, allot, over, excess, fi, c, o, ooo_ev, proc_labels, ci)
    rep.extra_steps = _extra_steps(seg, ev, c, a, presc, clock)
    from .stats import wilson
    n = int(sel_cases.size)
    perfect = int(np.count_nonzero((skipped[sel_cases] == 0) & (extra[sel_cases] == 0)
                                   & (repeated[sel_cases] == 0) & (out_of_order[sel_cases] == 0)))
    lo, hi = wilson(perfect, n, ci) if n else (float("nan"), float("nan"))
    rep.summary = {"n_dossiers": n, "not_in_catalog": not_in_catalog, "procedure": procedure,
                   "fitness_mean": float(np.nanmean(fit[sel_cases])) if n and fitness else float("nan"),
                   "perfect": perfect, "perfect_share": perfect / n if n else float("nan"),
                   "perfect_share_ci": (lo, hi),
                   "over_allotment_dossiers": int(np.count_nonzero(over_n[sel_cases] > 0))}
    return rep


def _position_allotments(plan) -> np.ndarray:
    """(versions x positions) table of step allotments in days (NaN = not counted)."""
    V = len(plan["steps"])
    K = max((len(s) for s in plan["steps"]), default=0) + 1
    table = np.full((V, K), np.nan)
    for i, s in enumerate(plan["steps"]):          # loop over catalogue versions (few)
        if len(s):
            table[i, :len(s)] = s["allotment_days"].to_numpy(dtype=np.float64)
    return table


def _fitness(plan, log, seg, sel_cases, pc, po, case_version, seed):
    """Fitness of every selected dossier through its variant (hash of its step sequence)."""
    nc = seg.n_cases
    # position of each prescribed event within its dossier's prescribed subsequence
    starts = np.flatnonzero(np.r_[True, pc[1:] != pc[:-1]]) if pc.size else np.zeros(0, np.int64)
    lens = np.diff(np.r_[starts, pc.size])
    pos = np.arange(pc.size) - np.repeat(starts, lens)
    maxlen = int(lens.max()) if lens.size else 1
    rng = np.random.default_rng(seed + 12345)
    r1 = (rng.integers(1, 2 ** 62, size=maxlen, dtype=np.int64).astype(np.uint64) << np.uint64(1)) | np.uint64(1)
    term = r1[pos] * (po.astype(np.uint64) + np.uint64(1))
    h = np.zeros(nc, dtype=np.uint64)
    length = np.zeros(nc, dtype=np.int64)
    if pc.size:
        h[pc[starts]] = np.add.reduceat(term, starts)
        length[pc[starts]] = lens
    ver = case_version[sel_cases]
    key = pd.DataFrame({"v": ver, "h": h[sel_cases], "n": length[sel_cases]})
    vid, uniq = pd.MultiIndex.from_frame(key).factorize()
    rep_case = np.full(len(uniq), -1, dtype=np.int64)
    rep_case[vid[::-1]] = sel_cases[::-1]            # first dossier of each variant
    # each variant's sequence from its representative dossier
    order_ix = np.argsort(pc, kind="stable")
    bounds = np.searchsorted(pc[order_ix], rep_case), np.searchsorted(pc[order_ix], rep_case, side="right")
    fit_v = np.full(len(uniq), np.nan)
    vers = np.asarray(uniq.get_level_values(0))
    for v in np.unique(vers):                        # loop over catalogue versions (few)
        idx = np.flatnonzero(vers == v)
        steps = plan["steps"][v]
        labels = _step_labels(steps, log)
        seqs = [po[order_ix[bounds[0][i]:bounds[1][i]]] for i in idx]  # one per variant
        fit_v[idx] = _replay_fitness(seqs, labels)
    return fit_v[vid]


def _step_labels(steps: pd.DataFrame, log) -> list[str]:
    """Transition labels: the log's spelling of each step when it occurs, else the catalogue's."""
    acts = log.codes(S.ACTIVITY)[1]
    out = []
    for code, name in zip(steps["act_code"].to_numpy(), steps["activity"].astype(str)):
        out.append(str(acts[code]) if code >= 0 else name)
    return out


def _by_step(plan, log, sel_cases, case_version, complete, max_order, pc, po, spent, allot, over,
             excess, fi, c, o, ooo_ev, proc_labels, ci):
    from .bottlenecks import group_quantiles
    from .stats import wilson
    nc = len(case_version)
    V = len(plan["steps"])
    K = max((len(s) for s in plan["steps"]), default=0) + 1
    sel = np.zeros(nc, dtype=bool)
    sel[sel_cases] = True
    cv = case_version
    # dossiers per version, and eligible dossiers per (version, position)
    comp_n = np.bincount(cv[sel & complete], minlength=V)
    inc = sel & ~complete & (max_order >= 0)
    reach = np.bincount(cv[inc] * K + max_order[inc], minlength=V * K).reshape(V, K)
    reach_ge = np.cumsum(reach[:, ::-1], axis=1)[:, ::-1]   # incomplete dossiers reaching >= pos
    eligible = comp_n[:, None] + reach_ge
    dossiers = np.bincount(cv[sel], minlength=V)
    vk = cv[pc] * K + po
    executed = np.bincount(vk, minlength=V * K).reshape(V, K)
    over_n = np.bincount(vk, weights=over.astype(np.float64), minlength=V * K).reshape(V, K)
    ex_tot = np.bincount(vk, weights=excess, minlength=V * K).reshape(V, K)
    sp_tot = np.bincount(vk, weights=spent, minlength=V * K).reshape(V, K)
    med = group_quantiles(spent, vk, V * K, (0.5,))[:, 0].reshape(V, K)
    ooo = np.bincount(cv[c[fi]] * K + o[fi], weights=ooo_ev.astype(np.float64),
                      minlength=V * K).reshape(V, K)
    rows = []
    for v, steps in enumerate(plan["steps"]):        # loop over catalogue versions (few)
        if dossiers[v] == 0 or len(steps) == 0:
            continue
        code, vf = plan["version_keys"][v]
        n_k = len(steps)
        ex = executed[v, :n_k]
        el = eligible[v, :n_k]
        skipped = np.maximum(el - ex, 0)
        df = pd.DataFrame({
            "procedure": code, "version": vf if vf not in ("", "NaT", "nan") else None,
            "step_order": steps["step_order"].to_numpy(), "activity": steps["activity"].to_numpy(),
            "unit": steps["unit"].to_numpy(), "allotment_days": steps["allotment_days"].to_numpy(),
            "dossiers": dossiers[v], "eligible": el, "executed": ex, "skipped": skipped,
            "out_of_order": ooo[v, :n_k].astype(np.int64), "over_allotment": over_n[v, :n_k].astype(np.int64),
            "spent_mean_days": np.where(ex > 0, sp_tot[v, :n_k] / np.maximum(ex, 1), np.nan),
            "spent_median_days": med[v, :n_k], "excess_days_total": ex_tot[v, :n_k],
        })
        rows.append(df)
    if not rows:
        return pd.DataFrame()
    out = pd.concat(rows, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["skip_rate"] = np.where(out["eligible"] > 0, out["skipped"] / out["eligible"], np.nan)
        lo, hi = wilson(out["skipped"].to_numpy(), out["eligible"].to_numpy(), ci)
        out["skip_rate_ci_low"], out["skip_rate_ci_high"] = lo, hi
        out["over_rate"] = np.where(out["executed"] > 0, out["over_allotment"] / out["executed"], np.nan)
        lo, hi = wilson(out["over_allotment"].to_numpy(), out["executed"].to_numpy(), ci)
        out["over_rate_ci_low"], out["over_rate_ci_high"] = lo, hi
    return out


def _extra_steps(seg, ev, c, a, presc, clock):
    m = ~presc & ~clock
    cols = ["activity", "events", "dossiers"]
    if not m.any():
        return pd.DataFrame(columns=cols)
    A = max(len(seg.activities), 1)
    events = np.bincount(a[m], minlength=A)
    pairs = pd.unique(c[m] * A + a[m])
    dossiers = np.bincount(pairs % A, minlength=A)
    keep = np.flatnonzero(events)
    out = pd.DataFrame({"activity": seg.activities.to_numpy(dtype=object)[keep],
                        "events": events[keep], "dossiers": dossiers[keep]})
    return out.sort_values("events", ascending=False, kind="stable").reset_index(drop=True)


def _case_procedure(log, seg) -> np.ndarray:
    from .overdue import _case_procedure as cp
    return cp(log, seg)


make_module_callable(__name__, "conformance")
