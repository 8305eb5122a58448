"""Summary KPIs: the figures a provincial report quotes, recomputed from raw events.

``tm.summary(log)`` counts the dossiers *received* in a period (default: everything received up
to ``as_of``) and their state *as of* ``as_of`` (default: the log's last timestamp), overall,
per procedure, per responsible unit and per month of receipt:

* ``received``, ``resolved`` (finished: early / on time / overdue / no deadline),
  ``resolved_on_time_reported``, ``resolved_on_time_actual``, ``resolved_early_reported``,
  ``overdue`` (resolved late, reported clock), ``overdue_actual`` (resolved late on the agency
  clock), ``in_progress``, ``in_progress_overdue``, ``suspended`` (supplement requested, tax,
  verification ...), ``withdrawn``, ``refused``;
* ``on_time_rate_reported`` — as one-stop systems report it: (resolved on time by date +
  withdrawn) / (resolved + withdrawn), with the due date restarted at each supplement and a
  missing due date counted as on time (``../shared/docs/domain-vn.md`` §3);
* ``on_time_rate_actual`` — as the agency actually spent it: resolved with ``agency_days <=
  budget_days`` / resolved dossiers that have a deadline (clock paused only while the citizen
  or a third party holds the dossier; see :mod:`tthc_mining.timing`);
* ``gap`` = reported minus actual on-time rate: the hidden clock;
* ``online_share`` = dossiers submitted online / dossiers with a known channel;
* ``score_766_progress`` — the "Tiến độ giải quyết" indicator of the national service-quality
  scorecard (QĐ 766/QĐ-TTg, 20 points), as provincial systems compute it: (in progress within
  time, including dossiers awaiting a supplement or suspended + resolved on or before the due
  date + withdrawn + refused on time) ÷ received in the period × 20.

Every rate has a Wilson 95% interval (``*_low``, ``*_high``) and its denominator (``*_n``);
``small_sample`` marks rows with fewer than 30 dossiers received.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import schema as S
from .errors import ConfigError
from .stats import wilson
from .timing import RESOLVED_STATUSES, timing

__all__ = ["summary", "Summary", "KPI_COLUMNS", "LABELS", "SMALL_SAMPLE"]

SMALL_SAMPLE = 30

COUNT_COLUMNS = ("received", "resolved", "resolved_on_time_reported", "resolved_on_time_actual",
                 "resolved_early_reported", "overdue", "overdue_actual", "in_progress",
                 "in_progress_overdue", "suspended", "withdrawn", "refused")
KPI_COLUMNS = COUNT_COLUMNS + (
    "on_time_rate_reported", "on_time_rate_reported_low", "on_time_rate_reported_high",
    "on_time_rate_reported_n",
    "on_time_rate_actual", "on_time_rate_actual_low", "on_time_rate_actual_high",
    "on_time_rate_actual_n", "gap",
    "online_share", "online_share_low", "online_share_high", "online_share_n",
    "score_766_progress", "score_766_progress_low", "score_766_progress_high", "small_sample")

LABELS = {
    "received": ("Tiếp nhận", "Received"),
    "resolved": ("Đã giải quyết", "Resolved"),
    "resolved_on_time_reported": ("Giải quyết đúng hạn (hệ thống)", "Resolved on time (reported)"),
    "resolved_on_time_actual": ("Giải quyết đúng hạn (thời gian thực)", "Resolved on time (actual)"),
    "resolved_early_reported": ("Giải quyết trước hạn", "Resolved early"),
    "overdue": ("Giải quyết quá hạn", "Resolved overdue"),
    "overdue_actual": ("Quá hạn theo thời gian thực", "Overdue (actual)"),
    "in_progress": ("Đang giải quyết trong hạn", "In progress"),
    "in_progress_overdue": ("Đang giải quyết quá hạn", "In progress, overdue"),
    "suspended": ("Tạm dừng / chờ bổ sung", "Suspended / awaiting supplement"),
    "withdrawn": ("Rút hồ sơ", "Withdrawn"),
    "refused": ("Từ chối", "Refused"),
    "on_time_rate_reported": ("Tỷ lệ đúng hạn (hệ thống)", "On-time rate (reported)"),
    "on_time_rate_actual": ("Tỷ lệ đúng hạn (thời gian thực)", "On-time rate (actual)"),
    "gap": ("Chênh lệch (đồng hồ ẩn)", "Gap (hidden clock)"),
    "online_share": ("Tỷ lệ nộp trực tuyến", "Online share"),
    "score_766_progress": ("Điểm Tiến độ giải quyết (QĐ 766, /20)", "766 progress score (/20)"),
    "small_sample": ("Ít hồ sơ (< 30)", "Small sample (< 30)"),
}


def _vi_int(n: Any) -> str:
    return f"{int(n):,}".replace(",", ".")


def _en_int(n: Any) -> str:
    return f"{int(n):,}"


def _pct(x: float, lang: str, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    s = f"{100.0 * x:.{digits}f}"
    return (s.replace(".", ",") if lang == "vi" else s) + "%"


def _num(x: float, lang: str, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    s = f"{x:.{digits}f}"
    return s.replace(".", ",") if lang == "vi" else s


def _parse_period(period: Any, tz: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if period is None:
        return None, None
    if not isinstance(period, (tuple, list)) or len(period) != 2:
        raise ConfigError("period must be a pair (start, end) of dates, e.g. ('2025-01-01', '2025-10-31')")
    out = []
    for v in period:
        if v is None:
            out.append(None)
            continue
        try:
            t = pd.Timestamp(v)
        except (ValueError, TypeError):
            raise ConfigError(f"cannot read the period bound {v!r}") from None
        out.append(pd.Timestamp(t.date()))
    if out[0] is not None and out[1] is not None and out[1] < out[0]:
        raise ConfigError(f"period ends ({out[1].date()}) before it starts ({out[0].date()})")
    return out[0], out[1]


def indicator_flags(is_, *, received, resolved, otr, ota_true, ota_known, early, online,
                    ch_known) -> dict:
    """The per-dossier 0/1 indicators the KPIs sum, from the status test ``is_(name)`` and the
    base flags; the same expressions serve numpy arrays (pandas engine) and Ibis columns
    (:mod:`tthc_mining.engines.summary`)."""
    withdrawn, refused = is_("withdrawn"), is_("refused")
    in_prog, suspended = is_("in_progress"), is_("suspended")
    return {
        "received": received,
        "resolved": resolved,
        "resolved_on_time_reported": resolved & otr,
        "resolved_on_time_actual": resolved & ota_known & ota_true,
        "resolved_early_reported": resolved & early,
        "overdue": is_("overdue"),
        "overdue_actual": resolved & ota_known & ~ota_true,
        "in_progress": in_prog,
        "in_progress_overdue": is_("in_progress_overdue"),
        "suspended": suspended,
        "withdrawn": withdrawn,
        "refused": refused,
        "_rep_num": (resolved & otr) | withdrawn,
        "_rep_den": resolved | withdrawn,
        "_act_den": resolved & ota_known,
        "_online": online,
        "_ch_known": ch_known,
        "_progress_ok": in_prog | suspended | (resolved & otr) | withdrawn | (refused & otr),
    }


def _indicators(cases: pd.DataFrame) -> pd.DataFrame:
    """Per-dossier 0/1 indicators (vectorised)."""
    st = cases["status"].astype(object)
    ota = cases["on_time_actual"]
    ch = cases["channel"]
    ch_known = ch.notna().to_numpy()
    d = indicator_flags(
        lambda name: (st == name).to_numpy(),
        received=np.ones(len(cases), dtype=np.int64),
        resolved=st.isin(RESOLVED_STATUSES).to_numpy(),
        otr=cases["on_time_reported"].fillna(False).to_numpy(dtype=bool),
        ota_true=ota.fillna(False).to_numpy(dtype=bool), ota_known=ota.notna().to_numpy(),
        early=cases["early_reported"].fillna(False).to_numpy(dtype=bool),
        online=(ch.astype(object) == S.CHANNEL_ONLINE).to_numpy() & ch_known, ch_known=ch_known)
    return pd.DataFrame({k: np.asarray(v).astype(np.int64) for k, v in d.items()}, index=cases.index)


def _kpis(sums: pd.DataFrame, ci: float) -> pd.DataFrame:
    """Rates, intervals and the 766 score from group sums of the indicators (vectorised)."""
    out = sums[list(COUNT_COLUMNS)].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, num, den in (("on_time_rate_reported", "_rep_num", "_rep_den"),
                               ("on_time_rate_actual", "resolved_on_time_actual", "_act_den"),
                               ("online_share", "_online", "_ch_known")):
            k = sums[num].to_numpy(np.float64)
            n = sums[den].to_numpy(np.float64)
            lo, hi = wilson(k, n, ci)
            out[name] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
            out[name + "_low"], out[name + "_high"] = lo, hi
            out[name + "_n"] = n.astype(np.int64)
            if name == "on_time_rate_actual":
                out["gap"] = out["on_time_rate_reported"] - out["on_time_rate_actual"]
        k = sums["_progress_ok"].to_numpy(np.float64)
        n = sums["received"].to_numpy(np.float64)
        lo, hi = wilson(k, n, ci)
        out["score_766_progress"] = np.where(n > 0, 20.0 * k / np.where(n > 0, n, 1), np.nan)
        out["score_766_progress_low"] = 20.0 * lo
        out["score_766_progress_high"] = 20.0 * hi
    out["small_sample"] = out["received"] < SMALL_SAMPLE
    return out[list(KPI_COLUMNS)]


@dataclass
class Summary:
    """KPI summary (see the module docstring for every definition)."""

    overall: pd.Series
    by_procedure: pd.DataFrame
    by_unit: pd.DataFrame
    by_month: pd.DataFrame
    as_of: pd.Timestamp
    period: tuple = (None, None)
    ci: float = 0.95
    notes: list = field(default_factory=list)

    @property
    def gap(self) -> float:
        """Reported minus actual on-time rate (the hidden clock), overall."""
        return float(self.overall["gap"])

    # ------------------------------------------------------------------ text
    def text(self, lang: str = "vi") -> str:
        """One paragraph as a provincial report words it, with the honest figure next to it."""
        if lang not in ("vi", "en"):
            raise ConfigError("lang must be 'vi' or 'en'")
        o = self.overall
        I = _vi_int if lang == "vi" else _en_int
        p0, p1 = self.period
        fmt = "%d/%m/%Y"
        if lang == "vi":
            when = f"Tính đến {self.as_of.strftime('%H:%M ngày %d/%m/%Y')}"
            if p0 is not None or p1 is not None:
                when += (" (hồ sơ tiếp nhận" + (f" từ {p0.strftime(fmt)}" if p0 is not None else "")
                         + (f" đến {p1.strftime(fmt)}" if p1 is not None else "") + ")")
            parts = [f"{when}: {I(o['received'])} hồ sơ tiếp nhận, {I(o['resolved'])} đã giải quyết, "
                     f"{_pct(o['on_time_rate_reported'], 'vi')} đúng hạn theo cách tính của hệ thống một cửa"]
            if not pd.isna(o["on_time_rate_actual"]):
                parts[-1] += (f" ({_pct(o['on_time_rate_actual'], 'vi')} nếu tính theo thời gian cơ quan "
                              "thực sự xử lý, chỉ dừng đồng hồ khi hồ sơ ở phía công dân hoặc bên thứ ba; "
                              f"chênh lệch {_num(100 * o['gap'], 'vi')} điểm phần trăm)")
            parts.append(f"{I(o['overdue'])} hồ sơ giải quyết quá hạn")
            parts.append(f"{I(o['in_progress'] + o['in_progress_overdue'])} đang giải quyết "
                         f"(trong đó {I(o['in_progress_overdue'])} đã quá hạn)")
            parts.append(f"{I(o['suspended'])} tạm dừng hoặc chờ bổ sung")
            parts.append(f"{I(o['withdrawn'])} rút hồ sơ")
            if o["refused"]:
                parts.append(f"{I(o['refused'])} bị từ chối")
            if o["online_share_n"]:
                parts.append(f"{_pct(o['online_share'], 'vi')} nộp trực tuyến")
            parts.append(f"điểm Tiến độ giải quyết theo QĐ 766/QĐ-TTg: "
                         f"{_num(o['score_766_progress'], 'vi', 2)}/20")
            return "; ".join(parts) + "."
        when = f"As of {self.as_of.strftime('%Y-%m-%d %H:%M')}"
        if p0 is not None or p1 is not None:
            when += (" (dossiers received" + (f" from {p0.date()}" if p0 is not None else "")
                     + (f" to {p1.date()}" if p1 is not None else "") + ")")
        parts = [f"{when}: {I(o['received'])} dossiers received, {I(o['resolved'])} resolved, "
                 f"{_pct(o['on_time_rate_reported'], 'en')} on time as the one-stop systems report it"]
        if not pd.isna(o["on_time_rate_actual"]):
            parts[-1] += (f" ({_pct(o['on_time_rate_actual'], 'en')} on the time the agency actually "
                          "spent, pausing the clock only while the citizen or a third party holds the "
                          f"dossier; a gap of {_num(100 * o['gap'], 'en')} percentage points)")
        parts.append(f"{I(o['overdue'])} resolved late")
        parts.append(f"{I(o['in_progress'] + o['in_progress_overdue'])} in progress "
                     f"({I(o['in_progress_overdue'])} of them overdue)")
        parts.append(f"{I(o['suspended'])} suspended or awaiting a supplement")
        parts.append(f"{I(o['withdrawn'])} withdrawn")
        if o["refused"]:
            parts.append(f"{I(o['refused'])} refused")
        if o["online_share_n"]:
            parts.append(f"{_pct(o['online_share'], 'en')} submitted online")
        parts.append(f"QĐ 766 progress score {_num(o['score_766_progress'], 'en', 2)}/20")
        return "; ".join(parts) + "."

    # ------------------------------------------------------------------ export
    def to_frame(self) -> pd.DataFrame:
        """All tables in one: columns ``level`` (overall / procedure / unit / month), ``key``,
        then the KPI columns."""
        parts = [pd.DataFrame([self.overall.to_dict()]).assign(level="overall", key="")]
        for level, df in (("procedure", self.by_procedure), ("unit", self.by_unit),
                          ("month", self.by_month)):
            d = df[list(KPI_COLUMNS)].copy()
            d.insert(0, "key", [None if pd.isna(k) else str(k) for k in df.index])
            d.insert(0, "level", level)
            parts.append(d.reset_index(drop=True))
        out = pd.concat(parts, ignore_index=True)
        return out[["level", "key", *KPI_COLUMNS]]

    def to_dict(self) -> dict:
        def table(df: pd.DataFrame) -> list:
            d = df.reset_index()
            d.iloc[:, 0] = d.iloc[:, 0].astype(object).where(d.iloc[:, 0].notna(), None)
            return json.loads(d.to_json(orient="records", force_ascii=False))
        return {"as_of": self.as_of.isoformat(),
                "period": [None if p is None else str(p.date()) for p in self.period],
                "ci": self.ci,
                "overall": json.loads(self.overall.to_json(force_ascii=False)),
                "gap": None if pd.isna(self.gap) else self.gap,
                "text_vi": self.text("vi"), "text_en": self.text("en"),
                "by_procedure": table(self.by_procedure), "by_unit": table(self.by_unit),
                "by_month": table(self.by_month), "notes": list(self.notes)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        return f"Summary({self.text('en')})"

    def _repr_html_(self) -> str:
        o = self.overall
        rows = []
        for c in COUNT_COLUMNS:
            vi, en = LABELS[c]
            rows.append(f"<tr><td>{html.escape(vi)} / {html.escape(en)}</td>"
                        f"<td style='text-align:right'>{_vi_int(o[c])}</td><td></td></tr>")
        for c in ("on_time_rate_reported", "on_time_rate_actual", "online_share"):
            vi, en = LABELS[c]
            ci = (f"[{_pct(o[c + '_low'], 'vi')}; {_pct(o[c + '_high'], 'vi')}], n = {_vi_int(o[c + '_n'])}"
                  if o[c + "_n"] else "")
            rows.append(f"<tr><td>{html.escape(vi)} / {html.escape(en)}</td>"
                        f"<td style='text-align:right'>{_pct(o[c], 'vi')}</td><td>{html.escape(ci)}</td></tr>")
        vi, en = LABELS["gap"]
        rows.append(f"<tr><td>{html.escape(vi)} / {html.escape(en)}</td>"
                    f"<td style='text-align:right'>{_num(100 * o['gap'], 'vi')} điểm %</td><td></td></tr>")
        vi, en = LABELS["score_766_progress"]
        rows.append(f"<tr><td>{html.escape(vi)} / {html.escape(en)}</td>"
                    f"<td style='text-align:right'>{_num(o['score_766_progress'], 'vi', 2)}</td>"
                    f"<td>[{_num(o['score_766_progress_low'], 'vi', 2)}; "
                    f"{_num(o['score_766_progress_high'], 'vi', 2)}]</td></tr>")
        head = f"<p>{html.escape(self.text('vi'))}</p>"
        table = ("<table><tr><th>Chỉ tiêu / Indicator</th><th>Giá trị / Value</th>"
                 "<th>KTC 95% / 95% CI</th></tr>" + "".join(rows) + "</table>")

        def sub(title: str, df: pd.DataFrame) -> str:
            cols = ["received", "resolved", "on_time_rate_reported", "on_time_rate_actual", "gap",
                    "overdue", "in_progress_overdue", "suspended", "online_share", "score_766_progress"]
            d = df[cols].head(30).copy()
            d.columns = [f"{LABELS[c][0]} / {LABELS[c][1]}" for c in cols]
            return f"<h3>{html.escape(title)}</h3>" + d.to_html(escape=True, float_format=lambda x: f"{x:.3f}")

        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (head + table + notes + sub("Theo thủ tục / By procedure", self.by_procedure)
                + sub("Theo đơn vị / By unit", self.by_unit) + sub("Theo tháng / By month", self.by_month))


def summary(log, as_of: Any = None, *, catalog: Any = None, period: Any = None,
            ci: float = 0.95, **timing_kw) -> Summary:
    """KPI summary of a log (see the module docstring). ``period=(start, end)`` keeps the
    dossiers received on those dates (inclusive, local dates; either bound may be None);
    ``as_of`` fixes the date of the statuses (default: the log's last timestamp; a date
    without a time means the end of that day). Extra keywords go to :func:`tthc_mining.timing`."""
    from .engines.core import RelationalLog
    if isinstance(log, RelationalLog):   # DuckDB / Spark: the relational definitions
        from .engines.summary import summary as relational_summary
        return relational_summary(log, as_of, catalog=catalog, period=period, ci=ci, **timing_kw)
    tim = timing(log, catalog=catalog, as_of=as_of, **timing_kw)
    cases = tim.cases
    tz = log.calendar.tz or "UTC"
    p0, p1 = _parse_period(period, tz)
    keep = cases["status"].notna().to_numpy().copy()  # received by as_of
    recv_local = pd.DatetimeIndex(cases["received"]).tz_convert(tz).tz_localize(None).normalize()
    if p0 is not None:
        keep &= np.asarray(recv_local >= p0)
    if p1 is not None:
        keep &= np.asarray(recv_local <= p1)
    c = cases.loc[keep]
    ind = _indicators(c)
    notes = list(tim.notes)
    if not c["on_time_actual"].notna().any() and len(c):
        notes.append("No statutory deadline is known for these dossiers (no procedure catalogue and "
                     "no exported due date): the actual on-time rate cannot be computed.")

    def grouped(key: pd.Series | np.ndarray, name: str) -> pd.DataFrame:
        g = ind.groupby(np.asarray(key, dtype=object), sort=True, dropna=False).sum()
        out = _kpis(g, ci)
        out.index.name = name
        return out

    overall = _kpis(ind.sum().to_frame().T, ci).iloc[0] if len(ind) else \
        _kpis(pd.DataFrame(0, index=[0], columns=ind.columns), ci).iloc[0]
    overall.name = "overall"
    by_proc = grouped(c["procedure"].astype(object), "procedure")
    if len(c) and c["procedure_name"].notna().any():
        names = c.groupby(c["procedure"].astype(object), dropna=False)["procedure_name"].first()
        by_proc.insert(0, "procedure_name", names.reindex(by_proc.index).to_numpy())
    by_unit = grouped(c["unit"].astype(object), "unit")
    rk = recv_local[keep]
    ym = (rk.year * 100 + rk.month).to_numpy() if len(c) else np.zeros(0, np.int64)
    by_month = grouped(ym, "month")
    by_month.index = pd.Index([f"{int(v) // 100:04d}-{int(v) % 100:02d}" for v in by_month.index],
                              name="month", dtype=object)  # one label per month
    return Summary(overall=overall, by_procedure=by_proc, by_unit=by_unit, by_month=by_month,
                   as_of=tim.as_of, period=(p0, p1), ci=float(ci), notes=notes)


# ``tm.summary`` is both this module and the function: importing the submodule binds the
# package attribute to the module, so the module itself is made callable.
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return summary(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
