"""Compute the report's sections from a log (one analysis call per table, nothing recomputed).

Each section is a :class:`Section`: its status (``ok``, ``unavailable``, ``error``), a note, the
full result tables (for Excel/JSON), the JSON payload, the charts (inline SVG) and the views
the HTML template shows. An analysis that raises does not stop the report unless
``on_error="raise"``: the section says what failed (``status="error"`` and the message), and
:attr:`tthc_mining.report.Report.errors` lists it.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import schema as S
from . import charts
from .text import SECTIONS, fmt_ci, fmt_num, fmt_pct, t
from .views import Col, TableView, jsonable, records, view

__all__ = ["Section", "compute", "cuts_available", "SUGGEST_N_BOOT"]

#: bootstrap replicates of the intervals in suggest_cuts' evidence (the scored cuts use n_boot)
SUGGEST_N_BOOT = 200
#: with cuts_method="auto", logs with more dossiers than this are scored by the replay engine
AUTO_REPLAY_ABOVE = 50_000


@dataclass
class Section:
    id: str
    status: str = "ok"              # ok | unavailable | error
    note: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    charts: dict[str, str] = field(default_factory=dict)
    views: dict[str, TableView] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    cards: list[dict] = field(default_factory=list)  # headline figures (summary)
    objects: dict[str, Any] = field(default_factory=dict)  # the analyses' own result objects
    seconds: float = 0.0
    error: str | None = None


def cuts_available() -> tuple[bool, str | None]:
    """Whether the cut engines can be used: ``(True, None)`` or ``(False, reason)``."""
    try:
        import tthc_mining.cuts as cuts_mod
    except ImportError as exc:
        return False, f"tthc_mining.cuts cannot be imported: {exc}"
    missing = [n for n in ("suggest_cuts", "score_cuts", "CostParams") if not hasattr(cuts_mod, n)]
    if missing:
        return False, f"tthc_mining.cuts has no {', '.join(missing)}"
    return True, None


# ====================================================================== sections
def _boot_kw(opt: dict) -> dict:
    """Interval options for the analyses; ``n_boot`` only when the caller chose one."""
    kw = {"ci": opt["ci"], "seed": opt["seed"]}
    if opt["n_boot"] is not None:
        kw["n_boot"] = opt["n_boot"]
    return kw


def _summary(log, sec: Section, opt: dict) -> None:
    import tthc_mining as tm
    lang = opt["lang"]
    s = tm.summary(log, as_of=opt["as_of"], ci=opt["ci"])
    sec.objects["summary"] = s
    o = s.overall
    kpi_rows = []
    for key in ("received", "resolved", "overdue", "in_progress", "in_progress_overdue",
                "suspended", "withdrawn", "refused"):
        kpi_rows.append({"indicator": key, "value": o.get(key), "ci_low": None, "ci_high": None,
                         "n": None})
    for key in ("on_time_rate_reported", "on_time_rate_actual", "online_share"):
        kpi_rows.append({"indicator": key, "value": o.get(key), "ci_low": o.get(key + "_low"),
                         "ci_high": o.get(key + "_high"), "n": o.get(key + "_n")})
    kpi_rows.append({"indicator": "gap", "value": o.get("gap"), "ci_low": None, "ci_high": None,
                     "n": None})
    kpi_rows.append({"indicator": "score_766_progress", "value": o.get("score_766_progress"),
                     "ci_low": o.get("score_766_progress_low"),
                     "ci_high": o.get("score_766_progress_high"), "n": o.get("received")})
    from .text import column_label
    kpi = pd.DataFrame(kpi_rows)
    kpi.insert(1, "label", [column_label(k, lang) for k in kpi["indicator"]])
    by_proc = s.by_procedure.reset_index()
    by_unit = s.by_unit.reset_index()
    by_month = s.by_month.reset_index()
    sec.tables = {"kpi": kpi, "summary_procedure": by_proc, "summary_unit": by_unit,
                  "summary_month": by_month}
    sec.data = jsonable(s.to_dict())
    sec.texts = [s.text(lang)]
    # the headline: reported vs recomputed, side by side
    cards = []
    for key, kind in (("received", "int"), ("resolved", "int"), ("on_time_rate_reported", "pct"),
                      ("on_time_rate_actual", "pct"), ("gap", "pp"), ("score_766_progress", "num2")):
        v = o.get(key)
        if kind == "int":
            txt = fmt_num(v, 0, lang)
        elif kind == "pct":
            txt = fmt_pct(v, lang)
        elif kind == "pp":
            txt = fmt_num(100 * v if v is not None and np.isfinite(v) else np.nan, 1, lang) + (
                " điểm %" if lang == "vi" else " pp")
        else:
            txt = fmt_num(v, 2, lang) + "/20"
        sub = ""
        if key + "_low" in o.index and kind in ("pct", "num2"):
            sub = fmt_ci(o.get(key + "_low"), o.get(key + "_high"), lang, pct=kind == "pct",
                         digits=1 if kind == "pct" else 2)
            if key + "_n" in o.index:
                sub += f" · n = {fmt_num(o.get(key + '_n'), 0, lang)}"
        cards.append({"label": column_label(key, lang), "value": txt, "sub": sub,
                      "tone": {"on_time_rate_reported": "reported", "on_time_rate_actual": "actual",
                               "gap": "gap"}.get(key, "")})
    sec.cards = cards
    pcols = [Col("procedure"), Col("procedure_name"), Col("received", "int"), Col("resolved", "int"),
             Col("on_time_rate_reported", "pct"),
             Col("on_time_rate_reported", "ci_pct", lo="on_time_rate_reported_low",
                 hi="on_time_rate_reported_high"),
             Col("on_time_rate_actual", "pct"),
             Col("on_time_rate_actual", "ci_pct", lo="on_time_rate_actual_low",
                 hi="on_time_rate_actual_high"),
             Col("gap", "pct"), Col("overdue", "int"), Col("in_progress_overdue", "int"),
             Col("score_766_progress", "num", 2)]
    top = opt["top"]
    bp = by_proc.sort_values("received", ascending=False, kind="stable")
    sec.views["by_procedure"] = view(bp, pcols, lang, max_rows=top, caption=t("by_procedure", lang),
                                     small_flag="small_sample")
    ucols = [Col("unit")] + pcols[2:]
    sec.views["by_unit"] = view(by_unit.sort_values("received", ascending=False, kind="stable"),
                                ucols, lang, max_rows=top, caption=t("by_unit", lang),
                                small_flag="small_sample")
    mcols = [Col("month")] + pcols[2:]
    sec.views["by_month"] = view(by_month, mcols, lang, max_rows=36, caption=t("by_month", lang),
                                 small_flag="small_sample")
    chart_df = bp.loc[bp["on_time_rate_reported_n"].fillna(0) > 0].head(12)
    if len(chart_df):
        names = chart_df["procedure_name"] if "procedure_name" in chart_df.columns else chart_df["procedure"]
        names = [f"{p} {n}" if isinstance(n, str) else str(p)
                 for p, n in zip(chart_df["procedure"], names)]
        sec.charts["on_time"] = charts.paired_rates(
            names, chart_df["on_time_rate_reported"], chart_df["on_time_rate_reported_low"],
            chart_df["on_time_rate_reported_high"], chart_df["on_time_rate_actual"],
            chart_df["on_time_rate_actual_low"], chart_df["on_time_rate_actual_high"],
            labels=(t("reported", lang), t("recomputed", lang)), title=t("kpi_chart", lang),
            lang=lang)


def _process_map(log, sec: Section, opt: dict) -> None:
    import tthc_mining as tm
    from ..errors import MissingProgramError
    lang = opt["lang"]
    pm = tm.discover(log)
    sec.objects["map"] = pm
    sec.tables = {"map_activities": pm.activities, "map_transitions": pm.dfg}
    sec.data = {"n_cases": pm.n_cases, "n_events": pm.n_events, "n_transitions": pm.n_transitions,
                "hidden": jsonable(pm.hidden), "activities": records(pm.activities),
                "transitions": records(pm.dfg), "start_activities": records(pm.start_activities),
                "end_activities": records(pm.end_activities)}
    # a readable map: very busy maps hide the rarest arrows (the legend says what was hidden)
    kw: dict[str, Any] = {}
    if len(pm.dfg) > opt["map_max_edges"]:
        counts = np.sort(pm.dfg["count"].to_numpy())[::-1]
        cut = counts[opt["map_max_edges"] - 1] / max(pm.n_transitions, 1)
        kw["min_share"] = float(min(max(cut, 0.0), 0.5))
    try:
        for kind in ("frequency", "performance"):
            svg = pm.render(kind=kind, format="svg", lang=lang, **kw)
            sec.charts[f"map_{kind}"] = svg
    except MissingProgramError:
        sec.note = t("no_dot", lang)
    acols = [Col("activity"), Col("unit"), Col("count", "int"), Col("cases", "int"),
             Col("wait_mean_h", "num"), Col("wait_median_h", "num"), Col("proc_mean_h", "num")]
    tcols = [Col("source"), Col("target"), Col("count", "int"), Col("cases", "int"),
             Col("mean_h", "num"), Col("median_h", "num")]
    sec.views["activities"] = view(pm.activities.sort_values("count", ascending=False, kind="stable"),
                                   acols, lang, max_rows=opt["top"] * 2, caption=t("by_step", lang))
    if sec.note:  # no drawing: the transitions table stands in for the map
        sec.views["transitions"] = view(pm.dfg, tcols, lang, max_rows=opt["top"] * 2)


def _bottlenecks(log, sec: Section, opt: dict) -> None:
    import tthc_mining as tm
    lang = opt["lang"]
    kw = _boot_kw(opt)
    wanted = list(opt.get("bottlenecks_by") or ("activity", "unit"))
    have = {"unit": S.GROUP, "resource": S.RESOURCE}
    wanted = [w for w in wanted if w not in have or have[w] in log.events.columns]
    if not wanted:
        sec.status = "unavailable"
        sec.note = t("no_units", lang)
        return
    sec.tables, sec.data = {}, {}
    for by in wanted:
        frame = tm.bottlenecks(log, by=by, **kw)
        sec.tables[f"bottlenecks_{by}"] = frame
        sec.objects[by] = frame
        sec.data[f"by_{by}"] = records(frame)
        if "attrs" not in sec.data:
            sec.data["attrs"] = jsonable({k: v for k, v in frame.attrs.items() if k != "calendar"})
            opt["_bootstrap_method"] = frame.attrs.get("bootstrap_method")
    b = sec.tables[f"bottlenecks_{wanted[0]}"]
    cols = [Col("activity"), Col("source"), Col("target"), Col("resource"), Col("unit"),
            Col("cases", "int"), Col("wait_mean_h", "num"),
            Col("wait_mean_h", "ci", lo="wait_mean_ci_low", hi="wait_mean_ci_high"),
            Col("wait_p90_h", "num"), Col("total_wait_h", "num", 0),
            Col("share_of_agency_time", "pct"), Col("excess_wait_h", "num", 0), Col("kind")]
    bv = b.copy()
    if "kind" in bv.columns:
        from ..bottlenecks import KIND_LABELS_VI
        en = {"queue": "queue (backlog)", "slow_work": "slow work", "handover": "hand-over",
              "batching": "batching"}
        lab = KIND_LABELS_VI if lang == "vi" else en
        bv["kind"] = [lab.get(k, k) if isinstance(k, str) else None for k in bv["kind"]]
    sec.views["ranked"] = view(bv, cols, lang, max_rows=opt["top"], caption=t("ranked_by", lang))
    if "bottlenecks_unit" in sec.tables and wanted[0] != "unit":
        ucols = [Col("unit"), Col("cases", "int"), Col("wait_mean_h", "num"),
                 Col("wait_mean_h", "ci", lo="wait_mean_ci_low", hi="wait_mean_ci_high"),
                 Col("total_wait_h", "num", 0), Col("share_of_agency_time", "pct")]
        sec.views["by_unit"] = view(sec.tables["bottlenecks_unit"], ucols, lang,
                                    max_rows=opt["top"], caption=t("by_unit", lang))
    top = b.head(min(10, opt["top"]))
    if len(top):
        first = top["activity"] if "activity" in top.columns else (
            top["source"].astype(str) + " → " + top["target"].astype(str) if "source" in top.columns
            else top["resource"] if "resource" in top.columns else top["unit"])
        second = top["unit"] if "unit" in top.columns and wanted[0] != "unit" else [None] * len(top)
        names = [f"{a} · {u}" if isinstance(u, str) else str(a) for a, u in zip(first, second)]
        sec.charts["waits"] = charts.ranked_ci(
            names, top["wait_mean_h"], top["wait_mean_ci_low"], top["wait_mean_ci_high"],
            xlabel=t("hours", lang), title=t("bn_chart", lang), lang=lang)


def _handovers(log, sec: Section, opt: dict) -> None:
    import tthc_mining as tm
    from ..errors import MissingProgramError
    lang = opt["lang"]
    if S.GROUP not in log.events.columns:
        sec.status, sec.note = "unavailable", t("no_units", lang)
        return
    h = tm.handovers(log, **_boot_kw(opt))
    sec.objects["handovers"] = h
    sec.tables = {"handovers": h.table}
    sec.data = {"summary": jsonable(h.summary), "table": records(h.table)}
    cols = [Col("from_unit"), Col("to_unit"), Col("transfers", "int"), Col("cases", "int"),
            Col("wait_mean_h", "num"),
            Col("wait_mean_h", "ci", lo="wait_mean_ci_low", hi="wait_mean_ci_high"),
            Col("wait_total_h", "num", 0), Col("share_of_budget", "pct")]
    sec.views["table"] = view(h.table, cols, lang, max_rows=opt["top"])
    if len(h.table):
        try:
            sec.charts["graph"] = h.render(format="svg", lang=lang, max_edges=opt["top"])
        except MissingProgramError:
            sec.note = t("no_dot", lang)


def _overdue(log, sec: Section, opt: dict) -> None:
    import tthc_mining as tm
    lang = opt["lang"]
    o = tm.overdue_attribution(log, ci=opt["ci"])
    sec.objects["overdue"] = o
    sec.tables = {"overdue_unit": o.by_unit, "overdue_step": o.by_step,
                  "overdue_procedure_unit": o.by_procedure_unit}
    sec.data = {"summary": jsonable(o.summary), "by_unit": records(o.by_unit),
                "by_step": records(o.by_step), "by_procedure_unit": records(o.by_procedure_unit)}
    s = o.summary
    if lang == "vi":
        sec.texts = [f"{fmt_num(s.get('n_overdue', 0), 0, lang)} / {fmt_num(s.get('n_dossiers', 0), 0, lang)} "
                     f"hồ sơ trễ hạn, tổng {fmt_num(s.get('overdue_days', 0), 1, lang)} ngày làm việc trễ; "
                     f"{fmt_num(s.get('unexplained', 0), 0, lang)} hồ sơ không có bước nào vượt định mức."]
    else:
        sec.texts = [f"{fmt_num(s.get('n_overdue', 0), 0, lang)} of {fmt_num(s.get('n_dossiers', 0), 0, lang)} "
                     f"dossiers overdue, {fmt_num(s.get('overdue_days', 0), 1, lang)} working days late "
                     f"in all; {fmt_num(s.get('unexplained', 0), 0, lang)} with no step over its allotment."]
    cols = [Col("unit"), Col("overdue_dossiers", "int"), Col("dossier_share", "pct"),
            Col("dossier_share", "ci_pct", lo="dossier_share_ci_low", hi="dossier_share_ci_high"),
            Col("overdue_days_caused", "num"), Col("share", "pct"), Col("excess_days", "num")]
    sec.views["by_unit"] = view(o.by_unit, cols, lang, max_rows=opt["top"])
    scols = [Col("procedure"), Col("step"), Col("unit"), Col("overdue_dossiers", "int"),
             Col("overdue_days_caused", "num"), Col("share", "pct")]
    sec.views["by_step"] = view(o.by_step, scols, lang, max_rows=opt["top"],
                                caption=t("by_step", lang))
    top = o.by_unit.head(10)
    if len(top) and top["overdue_days_caused"].fillna(0).sum() > 0:
        sec.charts["units"] = charts.bars(top["unit"].astype(str), top["overdue_days_caused"],
                                          xlabel=t("days", lang), title=t("od_chart", lang),
                                          lang=lang)


def _rework(log, sec: Section, opt: dict) -> None:
    import tthc_mining as tm
    lang = opt["lang"]
    kw = {"seed": opt["seed"]}
    if opt["n_boot"]:
        kw["n_boot"] = opt["n_boot"]
    r = tm.rework(log, **kw)
    sec.objects["rework"] = r
    summ = r.summary
    sec.tables = {"rework_summary": summ, "rework_patterns": r.patterns, "rework_clock": r.clock,
                  "rework_activity": r.by_activity}
    sec.data = {"params": jsonable({k: v for k, v in r.params.items() if k != "rules"}),
                "summary": records(summ), "patterns": records(r.patterns),
                "clock": records(r.clock), "by_activity": records(r.by_activity),
                "back_edges": records(r.back_edges), "pingpong": records(r.pingpong)}
    main = summ.loc[summ["scope"] == "(all)"].copy() if len(summ) else summ
    lab = "label_vi" if lang == "vi" else "label_en"
    if len(main):
        main["metric_label"] = main[lab]
        rates = main["metric"].astype(str).str.startswith("share_")
        main["_pct"] = rates.to_numpy()
    cols = [Col("metric_label", label=t("indicator", lang)), Col("value", "num", 3),
            Col("value", "ci", 3, lo="ci_low", hi="ci_high"), Col("n", "int")]
    if len(main):
        shares = main.loc[main["_pct"]]
        others = main.loc[~main["_pct"]]
        pcols = [Col("metric_label", label=t("indicator", lang)), Col("value", "pct"),
                 Col("value", "ci_pct", lo="ci_low", hi="ci_high"), Col("n", "int")]
        sec.views["shares"] = view(shares, pcols, lang, max_rows=40,
                                   caption=t("rework_summary", lang))
        sec.views["means"] = view(others, cols, lang, max_rows=40)
        chart = shares.loc[shares["metric"].isin(
            ["share_with_loop", "share_with_supplement", "share_with_selfloop",
             "share_with_repetition", "share_with_pingpong", "share_with_back_edge",
             "share_of_overdue_explained_by_loops"])]
        if len(chart):
            sec.charts["shares"] = charts.ranked_ci(
                chart[lab], chart["value"], chart["ci_low"], chart["ci_high"],
                xlabel=t("rate", lang), title=t("rw_chart", lang), lang=lang, percent=True)
    pcols = [Col("fragment"), Col("kind"), Col("loops", "int"), Col("dossiers", "int"),
             Col("agency_h_mean", "num"), Col("citizen_h_mean", "num")]
    sec.views["patterns"] = view(r.patterns, pcols, lang, max_rows=10,
                                 caption=t("patterns", lang))
    ccols = [Col("unit"), Col("dossiers", "int"), Col("late_request_rate", "pct", label_key="late_request"),
             Col("double_request_rate", "pct", label_key="double_request"),
             Col("due_moved_rate", "pct", label_key="due_moved"),
             Col("clock_restarted_rate", "pct", label_key="clock_restarted"),
             Col("desk_entered_online_rate", "pct", label_key="desk_entered_online"),
             Col("on_time_reported_rate", "pct", label_key="on_time_reported"),
             Col("on_time_actual_rate", "pct", label_key="on_time_actual")]
    sec.views["clock"] = view(r.clock, ccols, lang, max_rows=opt["top"], caption=t("clock", lang))


def _cuts(log, sec: Section, opt: dict) -> None:
    lang = opt["lang"]
    ok, reason = cuts_available()
    if not ok:
        sec.status, sec.note = "unavailable", t("cuts_missing", lang)
        sec.data = {"available": False, "reason": reason}
        return
    import tthc_mining as tm
    from ..cuts import CostParams
    cost = opt.get("cost") or CostParams()
    given = opt.get("cuts")
    suggested = None
    cut_input: Any
    left_out = 0
    if given is None:
        # the suggestions' own intervals are evidence for choosing what to score, not results:
        # SUGGEST_N_BOOT replicates keep them quick on large logs (scores use n_boot)
        suggested = tm.suggest_cuts(log, ci=opt["ci"], seed=opt["seed"], n_boot=SUGGEST_N_BOOT)
        cut_input = suggested
        cap = opt.get("max_cuts")
        if cap is not None and len(suggested) > cap:  # sorted by potential, largest first
            cut_input = suggested.sort_values("potential_h", ascending=False, kind="stable").head(cap)
            left_out = len(suggested) - cap
    else:
        cut_input = given
    method = opt.get("cuts_method", "auto")
    method_note = None
    if method == "auto" and log.n_cases > AUTO_REPLAY_ABOVE:
        # a province-year: the queue simulation (minutes per procedure) is left to a targeted run
        method = "replay"
        method_note = t("cuts_large", lang).format(n=fmt_num(AUTO_REPLAY_ABOVE, 0, lang))
    caught: list[str] = []
    if cut_input is None or (isinstance(cut_input, pd.DataFrame) and cut_input.empty) or (
            isinstance(cut_input, list) and not cut_input):
        scores = pd.DataFrame()
    else:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            scores = tm.score_cuts(log, cut_input, ci=opt["ci"], n_boot=opt["n_boot"] or 1000,
                                   seed=opt["seed"], cost=cost, method=method)
        caught = sorted({str(x.message) for x in w if issubclass(x.category, (RuntimeWarning, UserWarning))})
    ranked = _ranked_cuts(scores)
    sec.objects["scores"] = scores
    sec.tables = {"cuts_ranked": ranked}
    if suggested is not None:
        sec.tables["cuts_suggested"] = suggested
    sec.data = {"available": True, "source": "suggested" if given is None else "given",
                "cost": jsonable(cost.to_dict()), "warnings": caught, "not_scored": left_out,
                "method": method,
                "ranked": _ranked_records(ranked)}
    if suggested is not None:
        sec.data["suggested"] = records(suggested)
    if ranked.empty:
        sec.note = t("cuts_none", lang)
    sec.texts = list(caught)
    if left_out:
        sec.texts.append(t("cuts_capped", lang).format(k=len(ranked), n=len(suggested)))
    if method_note:
        sec.texts.append(method_note)
    lab = "label_vi" if lang == "vi" else "label_en"
    view_df = ranked.copy()
    if len(view_df):
        view_df["cut_label"] = view_df[lab]
    cols = [Col("rank", "int"), Col("procedure"), Col("cut_label", label=column_label_cut(lang)),
            Col("method"), Col("dossiers_affected", "int"), Col("saved_mean_days", "num", 2),
            Col("saved_mean_days", "ci", 2, lo="saved_ci_low", hi="saved_ci_high"),
            Col("dossier_days_saved_per_year", "num", 0),
            Col("statutory_days_saved", "num", 1),
            Col("statutory_cost_saved_vnd_per_year", "num", 0),
            Col("citizen_cost_saved_vnd_per_year", "num", 0),
            Col("on_time_before", "pct"), Col("on_time_after", "pct"),
            Col("queue_flag", "bool")]
    sec.views["ranked"] = view(view_df, cols, lang, max_rows=opt["top"])
    top = ranked.head(min(10, opt["top"]))
    if len(top):
        names = [f"{p}: {x}" if isinstance(p, str) and p else str(x)
                 for p, x in zip(top["procedure"], top[lab])]
        sec.charts["savings"] = charts.ranked_ci(
            names, top["saved_mean_days"], top["saved_ci_low"], top["saved_ci_high"],
            xlabel=t("days", lang), title=t("cut_chart", lang), lang=lang, digits=2)


def column_label_cut(lang: str) -> str:
    from .text import column_label
    return column_label("cut", lang)


def _ranked_cuts(scores: pd.DataFrame) -> pd.DataFrame:
    """The score table ranked (as score_cuts sorts it) with a rank column, the cut's JSON
    specification and the per-year interval (mean-saving interval x annual volume)."""
    if scores is None or scores.empty:
        return pd.DataFrame(columns=["rank", "procedure", "cut", "label_vi", "label_en"])
    d = scores.reset_index(drop=True).copy()
    d.insert(0, "rank", np.arange(1, len(d) + 1))
    if "cut" in d.columns:
        import json
        d["cut_spec"] = [json.dumps(jsonable(c.to_dict()), ensure_ascii=False)
                         if hasattr(c, "to_dict") else None for c in d["cut"]]
        d["cut"] = [str(c) for c in d["cut"]]
    if {"saved_ci_low", "saved_ci_high", "annual_volume"} <= set(d.columns):
        vol = pd.to_numeric(d["annual_volume"], errors="coerce")
        d["dossier_days_saved_per_year_low"] = pd.to_numeric(d["saved_ci_low"], errors="coerce") * vol
        d["dossier_days_saved_per_year_high"] = pd.to_numeric(d["saved_ci_high"], errors="coerce") * vol
    return d


def _ranked_records(ranked: pd.DataFrame) -> list[dict]:
    """Rows of the ranked table for JSON, the cut's specification as an object."""
    import json
    out = records(ranked)
    for r in out:
        if isinstance(r.get("cut_spec"), str):
            r["cut_spec"] = json.loads(r["cut_spec"])
    return out


def _quality(log, sec: Section, opt: dict) -> None:
    lang = opt["lang"]
    q = log.quality
    frame = q.to_frame()
    sec.tables = {"quality": frame}
    sec.data = jsonable(q.to_dict())
    if lang == "vi":
        sec.texts = [f"{fmt_num(q.rows_read, 0, lang)} dòng được đọc, {fmt_num(q.rows_used, 0, lang)} "
                     f"dòng được dùng, {fmt_num(q.rows_dropped, 0, lang)} dòng bị loại."]
    else:
        sec.texts = [f"{fmt_num(q.rows_read, 0, lang)} rows read, {fmt_num(q.rows_used, 0, lang)} used, "
                     f"{fmt_num(q.rows_dropped, 0, lang)} dropped."]
    v = frame.copy()
    if len(v):
        v["examples"] = [", ".join(map(str, e)) if isinstance(e, (list, tuple)) else e
                         for e in v["examples"]]
    cols = [Col("reason"), Col("action"), Col("count", "int", label_key="rows"), Col("column"),
            Col("examples"), Col("detail")]
    sec.views["issues"] = view(v, cols, lang, max_rows=50)
    meta = q.meta or {}
    mapping = meta.get("columns") or {}
    if mapping:
        mf = pd.DataFrame({"key": list(mapping.keys()), "column": list(mapping.values())})
        sec.views["columns"] = view(mf, [Col("column", label="Cột trong tệp" if lang == "vi" else "Column in the file"),
                                         Col("key", label="Khóa chuẩn" if lang == "vi" else "Canonical key")],
                                    lang, max_rows=60)


def _methods(log, sec: Section, opt: dict) -> None:
    from .methods import methods
    from .. import __version__
    from . import SCHEMA_VERSION
    cost = opt.get("cost")
    if cost is None:
        ok, _ = cuts_available()
        if ok:
            from ..cuts import CostParams
            cost = CostParams()
    ctx = {"calendar": log.calendar.to_dict() if hasattr(log.calendar, "to_dict") else {},
           "ci": opt["ci"], "n_boot": opt["n_boot"] or 1000, "seed": opt["seed"],
           "as_of": opt.get("_as_of_text"), "catalog": log.catalog is not None,
           "cost": cost.to_dict() if cost is not None else None,
           "bootstrap_method": opt.get("_bootstrap_method"), "version": __version__,
           "schema_version": SCHEMA_VERSION}
    items = methods(ctx, opt["lang"])
    sec.data = {"items": items}
    sec.tables = {"methods": pd.DataFrame([{"item": i["id"], "title": i["title"],
                                            "text": "\n".join(i["text"])} for i in items])}


RUNNERS: dict[str, Callable] = {"summary": _summary, "process_map": _process_map,
                                "bottlenecks": _bottlenecks, "handovers": _handovers,
                                "overdue": _overdue, "rework": _rework, "cuts": _cuts,
                                "quality": _quality, "methods": _methods}


def _run(sid: str, log, opt: dict, on_error: str) -> Section:
    """One section in this process."""
    sec = Section(sid)
    t0 = time.perf_counter()
    try:
        RUNNERS[sid](log, sec, opt)
    except Exception as exc:
        if on_error == "raise":
            raise
        _failed(sec, f"{type(exc).__name__}: {exc}", opt)
    sec.seconds = time.perf_counter() - t0
    return sec


def _failed(sec: Section, error: str, opt: dict) -> None:
    sec.status = "error"
    sec.error = error
    sec.note = f"{t('error', opt['lang'])}: {error}"
    sec.views, sec.charts, sec.tables, sec.data = {}, {}, {}, {}


class _Forked:
    """A section computed in a forked child process (the log is shared copy-on-write, nothing
    is pickled on the way in); the finished :class:`Section` comes back through a pipe."""

    def __init__(self, sid: str, log, opt: dict):
        import multiprocessing as mp
        self.sid = sid
        ctx = mp.get_context("fork")
        self.recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_child, args=(send, sid, log, opt), daemon=True,
                                name=f"tthc-report-{sid}")
        self.proc.start()
        send.close()

    def result(self) -> tuple[str, Any] | None:
        """``("ok", Section)``, ``("error", message, traceback)`` or None if the child died."""
        try:
            msg = self.recv.recv()
        except (EOFError, OSError):
            msg = None
        finally:
            self.recv.close()
            self.proc.join(timeout=30)
            if self.proc.is_alive():  # pragma: no cover - it has answered already
                self.proc.kill()
                self.proc.join()
        return msg


def _child(conn, sid: str, log, opt: dict) -> None:  # runs in the forked process
    sec = Section(sid)
    t0 = time.perf_counter()
    try:
        RUNNERS[sid](log, sec, opt)
        sec.objects = {}  # the analyses' objects may hold models and logs: not sent back
        sec.seconds = time.perf_counter() - t0
        conn.send(("ok", sec))
    except Exception as exc:
        import traceback
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


#: sections worth a second process on large logs (the slowest, independent of the others)
PARALLEL_SECTIONS = ("cuts",)
#: logs with at least this many dossiers use ``parallel="auto"``
PARALLEL_MIN_DOSSIERS = 100_000


def parallel_ok(log, sections, parallel: Any) -> bool:
    """Whether to compute :data:`PARALLEL_SECTIONS` in a forked process."""
    import multiprocessing as mp
    import os
    if parallel is False or parallel is None:
        return False
    if not any(s in sections for s in PARALLEL_SECTIONS) or len(set(sections)) < 2:
        return False
    if "fork" not in mp.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return False
    return parallel is True or log.n_cases >= PARALLEL_MIN_DOSSIERS


def compute(log, sections, opt: dict, *, on_error: str = "note", progress: Any = False,
            parallel: Any = False) -> dict[str, Section]:
    """Run the requested sections in report order. ``progress``: ``True`` for a tqdm bar on
    stderr, or a callable ``f(section_id, index, total)``. ``parallel``: compute the cuts in a
    forked process while this one computes the other sections (``"auto"``: on large logs, where
    fork is available and there are two cores); the KPI summary runs first so that the child
    inherits the working-time computations (``tm.timing``) already cached on the log."""
    todo = [s for s in SECTIONS if s in sections]
    out: dict[str, Section] = {}
    forked: dict[str, _Forked] = {}
    bar = None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc="report", unit=" section", leave=False)
    use_fork = parallel_ok(log, todo, parallel)
    order = list(todo)
    if use_fork and "summary" in order:
        order.remove("summary")
        order.insert(0, "summary")

    def start_children() -> None:
        for ps in PARALLEL_SECTIONS:
            if ps in todo and ps not in forked:
                forked[ps] = _Forked(ps, log, opt)

    try:
        if use_fork and "summary" not in todo:
            start_children()
        for i, sid in enumerate(order):
            if use_fork and sid in PARALLEL_SECTIONS:
                continue  # computed by its own process (started after the summary)
            if bar is not None:
                bar.set_postfix_str(sid)
            elif callable(progress):
                progress(sid, i, len(todo))
            out[sid] = _run(sid, log, opt, on_error)
            if bar is not None:
                bar.update(1)
            if use_fork and sid == "summary":
                start_children()
        for sid, job in forked.items():
            if bar is not None:
                bar.set_postfix_str(sid)
            elif callable(progress):
                progress(sid, len(out), len(todo))
            t0 = time.perf_counter()
            msg = job.result()
            if msg is not None and msg[0] == "ok":
                out[sid] = msg[1]
            elif msg is not None:
                if on_error == "raise":
                    raise RuntimeError(f"section {sid!r} failed in its process:\n{msg[2]}")
                sec = Section(sid)
                _failed(sec, msg[1], opt)
                sec.seconds = time.perf_counter() - t0
                out[sid] = sec
            else:  # the child died (e.g. out of memory): compute it here instead
                out[sid] = _run(sid, log, opt, on_error)
            if bar is not None:
                bar.update(1)
    finally:
        for job in forked.values():
            if job.proc.is_alive():
                job.proc.kill()
        if bar is not None:
            bar.close()
    return {sid: out[sid] for sid in todo}
