"""Overdue attribution: which steps and units made overdue dossiers late.

``tm.overdue_attribution(log)`` answers the provincial leader's question "which unit caused how
many overdue dossiers and how many overdue working days?".

Rules
-----
* **Overdue dossiers** come from :func:`tthc_mining.timing` (``tm.timing(log).cases``) when it is
  available: a dossier is overdue when the agency actually spent more than the statutory budget
  (``on_time_actual`` is False: working time with the clock paused only while the citizen holds
  the dossier) or when it is still in progress past its due date (status
  ``in_progress_overdue``); its days late are ``days_late_actual``. Without timing (or when it
  gives no budget) the exported due date is used: overdue when the last event is later than
  ``case:due`` on the working-time axis, days late = working days between them. ``basis`` in the
  result says which rule was used.
* **Time a step spent** in a dossier = the sum of its agency-owned segments
  (:mod:`tthc_mining.segments`, wait + processing, working days), per (dossier, step, unit) — so
  a step repeated after a supplement adds up.
* **Allotment** of a step = the per-step allotment of the internal procedure in the catalogue
  (``ProcedureCatalog.steps.allotment_days``) when there is one. Otherwise the step's **median
  share**: the median, over all dossiers of the procedure that went through the step, of the
  step's share of the dossier's agency time, times the dossier's statutory budget (or, without a
  budget, times the dossier's own agency time).
* **Excess** = max(0, spent − allotted). A step/unit "caused" an overdue dossier when its excess
  is positive. The dossier's days late are shared among its steps in proportion to their excess
  (``overdue_days_caused``), so the units' caused days add up to the total days late of the
  overdue dossiers that have any excess; dossiers where no step exceeded are counted as
  ``unexplained``.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema as S
from .bottlenecks import event_allotment_s, group_quantiles, procedure_mask, resolve_catalog
from .errors import ConfigError
from .segments import OWNER_AGENCY, segments

__all__ = ["overdue_attribution", "OverdueReport", "case_overdue", "LABELS_VI"]

LABELS_VI = {
    "case:concept:name": "Mã hồ sơ",
    "procedure": "Mã TTHC",
    "step": "Bước xử lý",
    "unit": "Đơn vị xử lý",
    "spent_days": "Thời gian thực tế (ngày làm việc)",
    "allotted_days": "Thời gian được giao (ngày làm việc)",
    "excess_days": "Vượt định mức (ngày làm việc)",
    "basis": "Căn cứ định mức",
    "days_late": "Số ngày trễ hạn của hồ sơ",
    "overdue_days_caused": "Số ngày trễ hạn do đơn vị gây ra",
    "overdue_dossiers": "Số hồ sơ trễ hạn liên quan",
    "dossier_share": "Tỷ lệ trong số hồ sơ trễ hạn",
    "dossier_share_ci_low": "Cận dưới (Wilson 95%)",
    "dossier_share_ci_high": "Cận trên (Wilson 95%)",
    "share": "Tỷ trọng ngày trễ hạn",
}


# ====================================================================== overdue per dossier
def _timing_cases(log, catalog):
    """tm.timing(log).cases, or None when the timing module is not available or cannot work
    with this catalogue."""
    try:
        from .timing import timing
    except ImportError:
        return None
    try:
        return timing(log, catalog=catalog).cases
    except ConfigError:
        return None


def case_overdue(log, catalog=None) -> dict | None:
    """Per dossier (aligned with the segment case codes): ``overdue`` (bool), ``days_late``
    (working days, NaN when unknown), ``budget_days`` (statutory working days, NaN when unknown)
    and ``basis``. None when the log gives no way to tell (no timing budget, no due date).
    Cached on the log."""
    catalog = resolve_catalog(log, catalog)
    key = ("d2_case_overdue", id(catalog))
    if key in log._cache:
        return log._cache[key]
    seg = segments(log)
    nc = seg.n_cases
    out = None
    tc = _timing_cases(log, catalog)
    if tc is not None and len(tc) and "budget_days" in tc.columns:
        pos = pd.Index(seg.case_ids).get_indexer(tc[S.CASE]) if S.CASE in tc.columns else \
            np.arange(len(tc))
        ok = pos >= 0
        budget = np.full(nc, np.nan)
        budget[pos[ok]] = pd.to_numeric(tc["budget_days"], errors="coerce").to_numpy()[ok]
        if np.isfinite(budget).any():
            overdue = np.zeros(nc, dtype=bool)
            late = np.full(nc, np.nan)
            if "on_time_actual" in tc.columns:
                ota = tc["on_time_actual"]
                od = (ota.astype("boolean") == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
                overdue[pos[ok]] |= od[ok]
            st_col = "status_actual" if "status_actual" in tc.columns else "status"
            if st_col in tc.columns:
                st = tc[st_col].astype(object).to_numpy()
                overdue[pos[ok]] |= (st == "in_progress_overdue")[ok] | (st == "overdue")[ok]
            if "days_late_actual" in tc.columns:
                late[pos[ok]] = pd.to_numeric(tc["days_late_actual"], errors="coerce").to_numpy()[ok]
            if "agency_days" in tc.columns:
                ag = np.full(nc, np.nan)
                ag[pos[ok]] = pd.to_numeric(tc["agency_days"], errors="coerce").to_numpy()[ok]
                late = np.where(np.isfinite(late), late, ag - budget)
            late = np.where(overdue, np.maximum(np.nan_to_num(late, nan=0.0), 0.0), 0.0)
            out = {"overdue": overdue, "days_late": late, "budget_days": budget,
                   "basis": "timing: agency working days over the statutory budget"}
    if out is None and S.DUE in log.events.columns:
        ev = log.events
        due = ev[S.DUE].groupby(seg.case32, sort=True).first()
        if due.notna().any():
            cal = log.calendar
            L = cal.seconds_per_day
            w_due = np.full(nc, np.nan)
            w_due[due.index.to_numpy()] = cal.to_working(due.reset_index(drop=True))
            w_fin = seg.w_end[seg.case_start[1:] - 1] if nc else np.zeros(0)
            if S.RECEIVED in ev.columns:
                rec = ev[S.RECEIVED].groupby(seg.case32, sort=True).first()
                w_rec = np.full(nc, np.nan)
                w_rec[rec.index.to_numpy()] = cal.to_working(rec.reset_index(drop=True))
                w_rec = np.where(np.isfinite(w_rec), w_rec, seg.w_end[seg.case_start[:-1]])
            else:
                w_rec = seg.w_end[seg.case_start[:-1]]
            with np.errstate(invalid="ignore"):
                overdue = np.isfinite(w_due) & (w_fin > w_due)
            late = np.where(overdue, (w_fin - w_due) / L, 0.0)
            budget = (w_due - w_rec) / L
            out = {"overdue": overdue, "days_late": late, "budget_days": budget,
                   "basis": "case:due: last event later than the exported due date"}
    log._cache[key] = out
    return out


# ====================================================================== the report
@dataclass
class OverdueReport:
    """Who made overdue dossiers late. ``by_case``: one row per (overdue dossier, step, unit)
    over its allotment; ``by_unit``, ``by_step``, ``by_procedure_unit``: summaries sorted by the
    overdue days caused; ``summary``: totals."""

    by_case: pd.DataFrame
    by_unit: pd.DataFrame
    by_step: pd.DataFrame
    by_procedure_unit: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.by_unit

    def to_json(self, **kw) -> str:
        def rec(df):
            return json.loads(df.to_json(orient="records", force_ascii=False))
        return json.dumps({"summary": self.summary, "by_unit": rec(self.by_unit),
                           "by_step": rec(self.by_step),
                           "by_procedure_unit": rec(self.by_procedure_unit)},
                          ensure_ascii=False, default=str, **kw)

    def _repr_html_(self) -> str:
        s = self.summary
        head = (f"<p><b>Hồ sơ trễ hạn / Overdue dossiers</b>: {s.get('n_overdue', 0):,} of "
                f"{s.get('n_dossiers', 0):,}; {s.get('overdue_days', 0):,.1f} working days late; "
                f"{s.get('unexplained', 0):,} with no step over its allotment. "
                f"Basis: {html.escape(str(s.get('basis')))}</p>")
        return head + self.by_unit.head(20).to_html(escape=True, index=False)

    def __repr__(self) -> str:
        s = self.summary
        return (f"OverdueReport({s.get('n_overdue', 0)} overdue of {s.get('n_dossiers', 0)} dossiers, "
                f"{len(self.by_unit)} units)")


def _summarise(df: pd.DataFrame, keys: list[str], n_overdue: int, total_late: float,
               ci: float) -> pd.DataFrame:
    from .stats import wilson
    cols = keys + ["overdue_dossiers", "dossier_share", "dossier_share_ci_low",
                   "dossier_share_ci_high", "overdue_days_caused", "share", "excess_days"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby(keys, sort=False, dropna=False)
    out = pd.DataFrame({
        "overdue_dossiers": g[S.CASE].nunique(),
        "overdue_days_caused": g["overdue_days_caused"].sum(),
        "excess_days": g["excess_days"].sum(),
    }).reset_index()
    k = out["overdue_dossiers"].to_numpy()
    out["dossier_share"] = k / n_overdue if n_overdue else np.nan
    lo, hi = wilson(k, np.full(len(k), n_overdue), ci)
    out["dossier_share_ci_low"], out["dossier_share_ci_high"] = lo, hi
    out["share"] = out["overdue_days_caused"] / total_late if total_late > 0 else np.nan
    out = out[cols].sort_values(["overdue_days_caused", "overdue_dossiers"], ascending=False,
                                kind="stable").reset_index(drop=True)
    return out


def overdue_attribution(log, *, catalog=None, procedure=None, ci: float = 0.95) -> OverdueReport:
    """For every overdue dossier, the steps and units that spent more than their allotment (or
    their median share), and per unit how many overdue dossiers and overdue working days it
    caused. See the module docstring for the rules."""
    catalog = resolve_catalog(log, catalog)
    seg = segments(log)
    od = case_overdue(log, catalog)
    if od is None:
        raise ConfigError("cannot tell which dossiers are overdue: the log has no due date "
                          "(case:due) and no catalogue deadline; pass catalog=ProcedureCatalog")
    L = log.calendar.seconds_per_day
    pmask = procedure_mask(log, procedure)
    ev = log.events
    sel = ~seg.is_first & (seg.owner == OWNER_AGENCY)
    if pmask is not None:
        sel &= pmask
    idx = np.flatnonzero(sel)
    nc = seg.n_cases
    case = seg.case[idx]
    act = seg.activity[idx]
    A = max(len(seg.activities), 1)
    if S.GROUP in ev.columns:
        unit, uniq_u = log.codes(S.GROUP)
        unit = unit[idx]
    else:
        unit, uniq_u = np.full(idx.size, -1, dtype=np.int64), pd.Index([])
    U = len(uniq_u) + 1            # code U-1 = no unit
    unit = np.where(unit < 0, U - 1, unit)
    if S.PROCEDURE in ev.columns:
        proc, uniq_p = log.codes(S.PROCEDURE)
        proc = proc[idx]
    else:
        proc, uniq_p = np.zeros(idx.size, dtype=np.int64), pd.Index([None])
    P = len(uniq_p) + 1
    proc = np.where(proc < 0, P - 1, proc)
    held = np.maximum(np.nan_to_num(seg.seg_s[idx], nan=0.0), 0.0)
    allot = event_allotment_s(log, catalog, idx)

    # per (dossier, step, unit): time spent
    pair = (case * A + act) * U + unit
    upair, inv = np.unique(pair, return_inverse=True)
    spent = np.bincount(inv, weights=held, minlength=upair.size)
    p_case = upair // (A * U)
    p_act = (upair // U) % A
    p_unit = upair % U
    first_ev = np.full(upair.size, -1, dtype=np.int64)
    first_ev[inv[::-1]] = np.arange(idx.size)[::-1]
    p_proc = proc[first_ev]
    p_allot = allot[first_ev]
    dossier_agency = np.bincount(case, weights=held, minlength=nc)

    # median share of each (procedure, step) over all dossiers (for steps without an allotment)
    # per (dossier, step) share (units of one step summed)
    cs = p_case * A + p_act
    ucs, inv_cs = np.unique(cs, return_inverse=True)
    cs_spent = np.bincount(inv_cs, weights=spent, minlength=ucs.size)
    cs_case = ucs // A
    cs_act = ucs % A
    cs_first = np.full(ucs.size, -1, dtype=np.int64)
    cs_first[inv_cs[::-1]] = np.arange(upair.size)[::-1]
    cs_proc = p_proc[cs_first]
    with np.errstate(invalid="ignore", divide="ignore"):
        cs_share = np.where(dossier_agency[cs_case] > 0, cs_spent / dossier_agency[cs_case], 0.0)
    grp = cs_proc * A + cs_act
    med = group_quantiles(cs_share, grp, P * A, (0.5,))[:, 0]

    overdue = od["overdue"]
    budget_s = od["budget_days"] * L
    scale = np.where(np.isfinite(budget_s) & (budget_s > 0), budget_s, dossier_agency)
    allotted = np.where(np.isfinite(p_allot), p_allot,
                        med[p_proc * A + p_act] * scale[p_case])
    basis = np.where(np.isfinite(p_allot), "allotment", "median_share")
    excess = np.maximum(spent - allotted, 0.0)

    keep = overdue[p_case] & (excess > 0)
    # days late shared in proportion to excess within each dossier
    ex_case = np.bincount(p_case[keep], weights=excess[keep], minlength=nc)
    late = od["days_late"]
    caused = np.zeros(upair.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        caused[keep] = late[p_case[keep]] * excess[keep] / ex_case[p_case[keep]]

    scope_cases = np.unique(seg.case[pmask]) if pmask is not None else np.arange(nc)
    od_cases = scope_cases[overdue[scope_cases]]
    n_overdue = int(od_cases.size)
    total_late = float(np.nansum(late[od_cases]))
    explained = np.zeros(nc, dtype=bool)
    explained[p_case[keep]] = True
    unit_labels = np.append(uniq_u.to_numpy(dtype=object), None)
    proc_labels = np.append(uniq_p.to_numpy(dtype=object), None)
    k = np.flatnonzero(keep)
    by_case = pd.DataFrame({
        S.CASE: seg.case_ids.to_numpy(dtype=object)[p_case[k]],
        "procedure": proc_labels[p_proc[k]],
        "step": seg.activities.to_numpy(dtype=object)[p_act[k]],
        "unit": unit_labels[p_unit[k]],
        "spent_days": spent[k] / L,
        "allotted_days": allotted[k] / L,
        "excess_days": excess[k] / L,
        "basis": basis[k],
        "days_late": late[p_case[k]],
        "overdue_days_caused": caused[k],
    })
    by_case = by_case.sort_values([S.CASE, "excess_days"], ascending=[True, False],
                                  kind="stable").reset_index(drop=True)
    explained_late = float(np.nansum(late[od_cases[explained[od_cases]]]))
    by_unit = _summarise(by_case, ["unit"], n_overdue, explained_late, ci)
    by_step = _summarise(by_case, ["procedure", "step", "unit"], n_overdue, explained_late, ci)
    by_pu = _summarise(by_case, ["procedure", "unit"], n_overdue, explained_late, ci)
    if not by_pu.empty:
        # within a procedure: share of that procedure's overdue dossiers
        from .stats import wilson
        od_proc = _case_procedure(log, seg)[od_cases]
        counts = pd.Series(od_proc).value_counts(dropna=False)
        n_p = by_pu["procedure"].map(counts).fillna(0).to_numpy(dtype=np.float64)
        by_pu["dossier_share"] = np.where(n_p > 0, by_pu["overdue_dossiers"] / np.maximum(n_p, 1), np.nan)
        lo, hi = wilson(by_pu["overdue_dossiers"].to_numpy(), n_p, ci)
        by_pu["dossier_share_ci_low"], by_pu["dossier_share_ci_high"] = lo, hi
        by_pu = by_pu.sort_values(["procedure", "overdue_days_caused"], ascending=[True, False],
                                  kind="stable").reset_index(drop=True)
    summary = {"n_dossiers": int(scope_cases.size), "n_overdue": n_overdue,
               "overdue_days": total_late, "explained_overdue_days": explained_late,
               "unexplained": int(n_overdue - explained[od_cases].sum()),
               "basis": od["basis"], "procedure": procedure,
               "allotment_basis": ("catalogue allotments where given, else median share"
                                   if catalog is not None else "median share (no catalogue)")}
    return OverdueReport(by_case=by_case, by_unit=by_unit, by_step=by_step,
                         by_procedure_unit=by_pu, summary=summary)


def _case_procedure(log, seg) -> np.ndarray:
    """Procedure label per case code (object array; None without a procedure column)."""
    if S.PROCEDURE not in log.events.columns:
        return np.full(seg.n_cases, None, dtype=object)
    codes, uniq = log.codes(S.PROCEDURE)
    first = codes[seg.case_start[:-1]]
    lab = np.append(uniq.to_numpy(dtype=object), None)
    return lab[np.where(first < 0, len(uniq), first)]
