"""``tm.summary`` on a :class:`~tthc_mining.engines.RelationalLog` (DuckDB, Spark).

The KPIs of :mod:`tthc_mining.summary` (read its module docstring for every definition) from the
relational per-dossier timing (:mod:`tthc_mining.engines.timing`): the per-dossier 0/1
indicators are summed in the engine in **one** ``GROUP BY (procedure, responsible unit, month of
receipt)``; only those sums (one row per combination that occurs) come back to pandas, where the
overall / per-procedure / per-unit / per-month tables are their sums and the rates, Wilson
intervals and the QĐ 766 score are computed by the pandas engine's own
:func:`tthc_mining.summary._kpis`. Counts are therefore exact and the rates identical.

``by_procedure.procedure_name`` is the first non-empty name in dossier-id order (the pandas
engine: first in its dossier order, which is the id order).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S

__all__ = ["summary"]

_INDICATORS = ("received", "resolved", "resolved_on_time_reported", "resolved_on_time_actual",
               "resolved_early_reported", "overdue", "overdue_actual", "in_progress",
               "in_progress_overdue", "suspended", "withdrawn", "refused", "_rep_num",
               "_rep_den", "_act_den", "_online", "_ch_known", "_progress_ok")


def _sums(tim, p0_day: int | None, p1_day: int | None, month_table):
    """Per (procedure, unit, month) sums of the indicators, as an Ibis aggregate."""
    from ..summary import indicator_flags
    from .timing import _STATUS
    t = tim.table
    st = t["status"]
    keep = st.notnull()
    if p0_day is not None:
        keep = keep & (t["recv_day"] >= p0_day)
    if p1_day is not None:
        keep = keep & (t["recv_day"] <= p1_day)
    c = t.filter(keep)
    c = c.left_join(month_table, c["recv_day"] == month_table["_m_day"])
    st = c["status"]

    def is_(name):
        return (st == _STATUS[name]).fill_null(False)

    ota = c["on_time_actual"]
    ota_known = ota.notnull()
    ch_known = c["channel"].notnull()
    ind = indicator_flags(
        is_, received=st.notnull(),
        resolved=is_("early") | is_("on_time") | is_("overdue") | is_("resolved"),
        otr=c["on_time_reported"].fill_null(False), ota_true=ota.fill_null(False),
        ota_known=ota_known, early=c["early_reported"].fill_null(False),
        online=(c["channel"] == S.CHANNEL_ONLINE).fill_null(False) & ch_known, ch_known=ch_known)
    aggs = {k: v.cast("int64").sum() for k, v in ind.items()}
    aggs["_ota_known"] = ota_known.cast("int64").sum()
    pn = c["procedure_name"]
    aggs["_pn"] = pn.argmin(c["case"], where=pn.notnull())
    aggs["_pn_key"] = c["case"].min(where=pn.notnull())
    return c.group_by(_proc=c["procedure"], _unit=c["unit"], _ym=c["_m_ym"]).aggregate(**aggs)


def _month_table(rlog, lo_day: int, hi_day: int):
    """Local day number -> year * 100 + month (a small Python-built table)."""
    from .core import _register
    days = np.arange(lo_day, hi_day + 1, dtype=np.int64)
    idx = pd.DatetimeIndex((days * 86_400_000_000_000).view("datetime64[ns]"))
    frame = pd.DataFrame({"_m_day": days, "_m_ym": (idx.year * 100 + idx.month).astype(np.int64)})
    return _register(rlog.con, rlog.backend, frame, "tthc_months")


def summary(rlog, as_of: Any = None, *, catalog: Any = None, period: Any = None,
            ci: float = 0.95, **timing_kw) -> Any:
    """:func:`tthc_mining.summary.summary` for a relational log: same parameters, the same
    :class:`~tthc_mining.summary.Summary` (tables, rates and intervals), computed from
    per-(procedure, unit, month) sums in the engine."""
    from ..summary import COUNT_COLUMNS, Summary, _kpis, _parse_period
    from .timing import timing

    tim = timing(rlog, catalog=catalog, as_of=as_of, **timing_kw)
    tz = rlog.calendar.tz or "UTC"
    p0, p1 = _parse_period(period, tz)
    day = 86_400_000_000_000
    p0_day = None if p0 is None else int(p0.value // day)
    p1_day = None if p1 is None else int(p1.value // day)
    t = tim.table
    rng = t.aggregate(lo=t["recv_day"].min(), hi=t["recv_day"].max()).to_pandas().iloc[0]
    if pd.isna(rng["lo"]):
        lo_day = hi_day = 0
    else:
        lo_day, hi_day = int(rng["lo"]), int(rng["hi"])
    sums = _sums(tim, p0_day, p1_day, _month_table(rlog, lo_day, hi_day)).to_pandas()
    cols = list(_INDICATORS)
    for c in cols + ["_ota_known"]:
        sums[c] = pd.to_numeric(sums[c], errors="coerce").fillna(0).astype(np.int64)
    notes = list(tim.notes)
    n_kept = int(sums["received"].sum()) if len(sums) else 0
    if n_kept and not int(sums["_ota_known"].sum()):
        notes.append("No statutory deadline is known for these dossiers (no procedure catalogue and "
                     "no exported due date): the actual on-time rate cannot be computed.")

    def key(col: str) -> np.ndarray:
        return sums[col].astype(object).where(sums[col].notna(), None).to_numpy(dtype=object)

    def grouped(values: np.ndarray, name: str) -> pd.DataFrame:
        g = sums[cols].groupby(values, sort=True, dropna=False).sum()
        out = _kpis(g, ci)
        out.index.name = name
        return out

    total = sums[cols].sum().to_frame().T if len(sums) else \
        pd.DataFrame(0, index=[0], columns=cols)
    overall = _kpis(total.astype(np.int64), ci).iloc[0]
    overall.name = "overall"
    if len(sums):
        by_proc = grouped(key("_proc"), "procedure")
        unit_key = key("_unit")
        by_unit = grouped(unit_key, "unit")
        ym = sums["_ym"].to_numpy(np.int64)
        by_month = grouped(ym, "month")
        by_month.index = pd.Index([f"{int(v) // 100:04d}-{int(v) % 100:02d}" for v in by_month.index],
                                  name="month", dtype=object)
        named = sums.loc[sums["_pn"].notna()]
        if len(named):
            first = named.sort_values("_pn_key", kind="stable").drop_duplicates("_proc", keep="first")
            names = pd.Series(first["_pn"].to_numpy(dtype=object),
                              index=first["_proc"].astype(object).where(first["_proc"].notna(), None))
            by_proc.insert(0, "procedure_name", [
                names.get(k) if not pd.isna(k) else (names[names.index.isna()].iloc[0]
                                                     if names.index.isna().any() else None)
                for k in by_proc.index])
    else:
        empty = _kpis(pd.DataFrame(columns=cols, dtype=np.int64), ci)
        by_proc = empty.copy()
        by_proc.index.name = "procedure"
        by_unit = empty.copy()
        by_unit.index.name = "unit"
        by_month = empty.copy()
        by_month.index = pd.Index([], name="month", dtype=object)
    for df in (by_proc, by_unit, by_month):
        for c in COUNT_COLUMNS:
            df[c] = df[c].astype(np.int64)
    out = Summary(overall=overall, by_procedure=by_proc, by_unit=by_unit, by_month=by_month,
                  as_of=tim.as_of, period=(p0, p1), ci=float(ci), notes=notes)
    return out
