"""``rework(log)`` and the :class:`ReworkReport` it returns."""
from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError, InputError
from ..parallel import PARALLEL_MIN_EVENTS, Tasks
from ..segments import segments
from . import ci
from .blocks import (CaseBlocks, case_blocks, learned_order_blocks, lift_edear, lift_loops,
                     repeated_cases, seg_seconds_at, spans, subset_blocks, subset_codes,
                     subset_segments)
from .clock import RULES, clock_by_unit, clock_cases
from .detect import (LOOP_KINDS, BackEdges, EdeaR, EventCodes, Loops, Occurrences, PingPong,
                     back_edges, catalog_order, dfg, dfg_cycles, edear, event_codes,
                     fragment_hashes, learned_order, narrow_codes, occurrences, pingpong, pingpong_rows,
                     price_loops)

#: Vietnamese / English labels of the loop kinds and report columns
LABELS = {
    "supplement": ("Vòng bổ sung hồ sơ", "Supplement loop"),
    "selfloop": ("Lặp ngay một bước", "Self-loop"),
    "cross_unit": ("Vòng qua đơn vị khác", "Loop across units"),
    "same_unit": ("Vòng trong cùng đơn vị", "Loop within a unit"),
    "n_loops": ("Số vòng lặp", "Loops"),
    "selfloops_repeat": ("Tự lặp cùng cán bộ (repeat)", "Repeat self-loops (same resource)"),
    "selfloops_redo": ("Tự lặp khác cán bộ (redo)", "Redo self-loops (other resource)"),
    "repetitions_repeat": ("Lặp lại cùng cán bộ (repeat)", "Repeat repetitions (same resource)"),
    "repetitions_redo": ("Lặp lại khác cán bộ (redo)", "Redo repetitions (other resource)"),
    "reexec_same_officer": ("Làm lại bởi cùng cán bộ", "Re-executions, same officer"),
    "reexec_other_officer": ("Làm lại bởi cán bộ khác", "Re-executions, another officer"),
    "selfloop_same_officer": ("Làm lại ngay, cùng cán bộ", "Immediate re-execution, same officer"),
    "selfloop_other_officer": ("Làm lại ngay, cán bộ khác", "Immediate re-execution, another officer"),
    "n_supplement": ("Số lần yêu cầu bổ sung", "Supplement requests"),
    "n_pingpong": ("Chuyển qua lại giữa đơn vị", "Ping-pong between units"),
    "n_back_edges": ("Bước quay ngược quy trình", "Back-edges against the normal order"),
    "extra_steps": ("Số bước phát sinh", "Extra steps"),
    "extra_handovers": ("Số lần chuyển giao phát sinh", "Extra hand-overs"),
    "rework_agency_h": ("Giờ làm việc cơ quan trong vòng lặp", "Agency working hours in loops"),
    "rework_citizen_h": ("Giờ chờ công dân trong vòng lặp", "Citizen hours in loops"),
    "rework_third_party_h": ("Giờ tạm dừng (bên thứ ba) trong vòng lặp", "Third-party hours in loops"),
    "late_request": ("Yêu cầu bổ sung muộn (20% cuối thời hạn)", "Late supplement request (last 20% of budget)"),
    "double_request": ("Yêu cầu bổ sung quá 1 lần", "More than one supplement request"),
    "due_moved": ("Ngày hẹn trả bị dời", "Due date moved"),
    "reappointed_over_limit": ("Hẹn lại quá 1 lần", "Re-appointed more than once"),
    "clock_restarted": ("Tính lại hạn từ đầu khi bổ sung", "Clock restarted at the supplement"),
    "desk_entered_online": ("Hồ sơ trực tuyến do cán bộ nhập tại quầy", "Online dossier entered at the desk"),
    "on_time_reported": ("Đúng hạn (theo hệ thống)", "On time (as reported)"),
    "on_time_actual": ("Đúng hạn (thời gian thực, dừng đồng hồ khi chờ bổ sung, không tính lại hạn)",
                       "On time (agency time, clock paused, never restarted)"),
    # summary metrics
    "share_with_loop": ("Tỷ lệ hồ sơ có vòng lặp", "Dossiers with a loop"),
    "share_with_supplement": ("Tỷ lệ hồ sơ phải bổ sung", "Dossiers with a supplement request"),
    "share_with_selfloop": ("Tỷ lệ hồ sơ có bước làm lại ngay", "Dossiers with a self-loop (edeaR)"),
    "share_with_repetition": ("Tỷ lệ hồ sơ có bước lặp lại", "Dossiers with a repetition (edeaR)"),
    "share_with_repeat": ("Tỷ lệ hồ sơ lặp cùng cán bộ (repeat)", "Dossiers with an edeaR repeat (same resource)"),
    "share_with_redo": ("Tỷ lệ hồ sơ lặp khác cán bộ (redo)", "Dossiers with an edeaR redo (another resource)"),
    "share_with_reexec_same_officer": ("Tỷ lệ hồ sơ làm lại bởi cùng cán bộ",
                                       "Dossiers with a re-execution by the same officer"),
    "share_with_reexec_other_officer": ("Tỷ lệ hồ sơ làm lại bởi cán bộ khác",
                                        "Dossiers with a re-execution by another officer"),
    "share_with_selfloop_same_officer": ("Tỷ lệ hồ sơ làm lại ngay, cùng cán bộ",
                                         "Dossiers with an immediate re-execution, same officer"),
    "share_with_selfloop_other_officer": ("Tỷ lệ hồ sơ làm lại ngay, cán bộ khác",
                                          "Dossiers with an immediate re-execution, another officer"),
    "share_with_pingpong": ("Tỷ lệ hồ sơ chuyển qua lại giữa đơn vị", "Dossiers with a ping-pong between units"),
    "share_with_back_edge": ("Tỷ lệ hồ sơ quay ngược quy trình", "Dossiers with a back-edge"),
    "loops_per_dossier": ("Số vòng lặp bình quân mỗi hồ sơ", "Loops per dossier"),
    "supplement_requests_per_dossier": ("Số lần yêu cầu bổ sung bình quân", "Supplement requests per dossier"),
    "reexec_same_officer_per_dossier": ("Số lần làm lại (cùng cán bộ) bình quân",
                                        "Re-executions by the same officer per dossier"),
    "reexec_other_officer_per_dossier": ("Số lần làm lại (cán bộ khác) bình quân",
                                         "Re-executions by another officer per dossier"),
    "selfloop_same_officer_per_dossier": ("Số lần làm lại ngay (cùng cán bộ) bình quân",
                                          "Immediate re-executions, same officer, per dossier"),
    "selfloop_other_officer_per_dossier": ("Số lần làm lại ngay (cán bộ khác) bình quân",
                                           "Immediate re-executions, another officer, per dossier"),
    "pingpong_per_dossier": ("Số lần chuyển qua lại bình quân", "Ping-pongs per dossier"),
    "extra_steps_per_dossier": ("Số bước phát sinh bình quân", "Extra steps per dossier"),
    "extra_handovers_per_dossier": ("Số lần chuyển giao phát sinh bình quân", "Extra hand-overs per dossier"),
    "rework_agency_days_per_dossier": ("Ngày làm việc cơ quan trong vòng lặp, bình quân",
                                       "Agency working days in loops per dossier"),
    "rework_citizen_days_per_dossier": ("Ngày chờ công dân trong vòng lặp, bình quân",
                                        "Citizen working days in loops per dossier"),
    "rework_agency_days_total": ("Tổng ngày làm việc cơ quan trong vòng lặp", "Agency working days in loops, total"),
    "rework_citizen_days_total": ("Tổng ngày chờ công dân trong vòng lặp", "Citizen working days in loops, total"),
    "loops_total": ("Tổng số vòng lặp", "Loops, total"),
    "share_overdue_actual": ("Tỷ lệ hồ sơ quá hạn (thời gian thực)", "Overdue dossiers (agency time)"),
    "share_of_overdue_explained_by_loops": ("Tỷ lệ hồ sơ quá hạn do vòng lặp",
                                            "Overdue dossiers explained by loops"),
    "share_of_overdue_days_explained_by_loops": ("Tỷ lệ ngày quá hạn do vòng lặp",
                                                 "Overdue days explained by loops"),
}

KIND_COLUMNS = {0: "loops_supplement", 1: "loops_selfloop", 2: "loops_cross_unit", 3: "loops_same_unit"}


@dataclass
class _Subset:
    """The dossiers that can hold a loop (a repeated step or a supplement request), on which
    the loop kernels ran: their segments, rows in the log, dossier codes and occurrences."""

    seg: Any              # Segments of the subset (dossiers numbered 0..len(sel)-1)
    rows: np.ndarray      # log row of each subset row
    sel: np.ndarray       # log dossier code of each subset dossier
    occ: Occurrences      # (dossier, step) occurrences of the subset
    reexec_rows: np.ndarray   # log rows of the re-executions (every execution after the first)
    reexec_prev: np.ndarray   # log row of the previous execution of each


@dataclass
class _Context:
    log: Any
    seg: CaseBlocks       # the log's dossier blocks (codes only; segments() on demand)
    codes: EventCodes
    sub: _Subset
    req_rows: np.ndarray  # rows of the supplement requests
    step_events: np.ndarray   # events per step
    ed: EdeaR
    loops: Loops
    pp: PingPong
    be: BackEdges
    order: np.ndarray
    proc_case: np.ndarray      # procedure code per dossier (n_proc = unknown)
    catalog: Any
    n_boot: int
    seed: int
    rules: dict
    top_patterns: int
    length_bound: int
    max_cycles: int
    use_timing: bool


def _cat(codes: np.ndarray, names: pd.Index) -> pd.Categorical:
    """Categorical of names from integer codes (-1 -> missing), without building strings per row."""
    cats = pd.Index(names.astype(str)) if len(names) else pd.Index([], dtype=object)
    if cats.has_duplicates:  # (e.g. 1 and "1" factorised apart): fall back to object values
        arr = np.asarray(names.astype(str), dtype=object)
        return pd.Categorical(np.where(codes >= 0, arr[np.maximum(codes, 0)], None))
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=cats)


def _safe_json(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if o is pd.NA or o is pd.NaT:
        return None
    return str(o)


def _records(df: pd.DataFrame, max_rows: int | None = None) -> list:
    d = df if max_rows is None else df.head(max_rows)
    return json.loads(d.to_json(orient="records", date_format="iso", force_ascii=False,
                                default_handler=str))


@dataclass
class ReworkReport:
    """Rework loops and the hidden clock of a dossier log (``tm.rework(log)``).

    Tables (pandas DataFrames; working time in hours, ``*_days`` in working days of the log's
    calendar):

    ``by_case``
        One row per dossier: ``n_loops`` (closings of the loop erasure plus supplements asked for
        outside them, see :mod:`tthc_mining.rework.detect`) split by kind into
        ``loops_supplement``, ``loops_selfloop``, ``loops_cross_unit``, ``loops_same_unit``;
        edeaR's ``selfloops_repeat`` / ``selfloops_redo`` / ``repetitions_repeat`` /
        ``repetitions_redo`` (edeaR: *repeat* = the same resource, *redo* = another one);
        ``reexec_same_officer`` / ``reexec_other_officer`` (every execution after the first, vs
        the previous execution's officer) and ``selfloop_same_officer`` /
        ``selfloop_other_officer`` (immediate re-executions: what one-stop staff call doing a
        step again right away, by the same or another officer); ``n_supplement`` (requests),
        ``n_pingpong``, ``n_back_edges``; ``extra_steps``, ``extra_handovers`` and
        ``rework_agency_h`` / ``rework_citizen_h`` / ``rework_third_party_h`` (working time of
        the loops' events by who held the dossier: from the trigger to the end of the repeated
        work).
    ``by_activity``
        One row per step: ``cases_with_repeat`` (equal to pm4py's
        ``get_rework_cases_per_activity``), edeaR counts, re-executions, loops closed at and
        triggered by the step with their time, back-edges in and out.
    ``loops``
        One row per loop: its kind, the re-executed (closing) step, its trigger (step, officer,
        unit, reason text when the log has one), trigger and end times, its pattern id, extra
        steps / hand-overs and agency / citizen / third-party hours.
    ``patterns``
        The most frequent loop fragments (activity sequences of the loops) with counts, dossiers
        and time cost (total and mean per loop).
    ``triggers``
        Rates per procedure, unit, officer, step, month (of receipt) and reason: dossiers in
        which the key appears, dossiers in which it triggered a loop, the rate with a Wilson
        interval, loops, and the mean agency / citizen hours per loop with a dossier-bootstrap
        interval.
    ``clock``
        The hidden clock per responsible unit (and ``(all)``): late supplement requests, double
        requests, moved due dates, re-appointments over the limit, clock restarts, online
        dossiers entered at the desk (counts, rates, Wilson intervals) and the on-time rate as
        reported next to the one recomputed without clock restarts. ``clock_cases`` has the
        per-dossier flags (with overdue attribution to loops).
    ``summary``
        Rates (Wilson) and means per dossier (dossier bootstrap) for all dossiers and per
        procedure: share of dossiers with each loop type, loops per dossier, rework days, extra
        steps, the share of overdue dossiers and of overdue days that loops explain, and the
        hidden-clock rates.
    ``back_edges``, ``cycles``, ``sccs``, ``pingpong``, ``order``
        Back-edges against the normal order, bounded simple cycles and strongly connected
        components of the directly-follows graph, ping-pong unit pairs, the normal order used.

    ``render()`` draws the process map with the back-edges highlighted.
    """

    by_case: pd.DataFrame
    by_activity: pd.DataFrame
    loops: pd.DataFrame
    back_edges: pd.DataFrame
    pingpong: pd.DataFrame
    order: pd.DataFrame
    params: dict = field(default_factory=dict)
    source: str = "<data>"
    _ctx: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ lazy tables
    @cached_property
    def patterns(self) -> pd.DataFrame:
        return _patterns(self._ctx, self.loops)

    @cached_property
    def _cycles(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        c = self._ctx
        return dfg_cycles(dfg(c.seg), c.seg.activities, length_bound=c.length_bound,
                          max_cycles=c.max_cycles)

    @property
    def sccs(self) -> pd.DataFrame:
        return self._cycles[0]

    @property
    def cycles(self) -> pd.DataFrame:
        return self._cycles[1]

    @cached_property
    def _timing(self):
        return _timing_cases(self._ctx)

    @cached_property
    def clock_cases(self) -> pd.DataFrame:
        return _clock_cases(self._ctx, self._timing, self.by_case)

    @cached_property
    def clock(self) -> pd.DataFrame:
        c = self._ctx
        cc = self.clock_cases
        units = c.codes.units
        ucode = cc["_unit_code"].to_numpy()
        out = clock_by_unit(cc, ucode, units)
        return out

    @cached_property
    def triggers(self) -> pd.DataFrame:
        # the month of receipt is taken from tm.timing when it has run, else computed directly
        t = self.__dict__.get("_timing")
        return _triggers(self._ctx, t if t is not None else (pd.DataFrame(), None))

    @cached_property
    def summary(self) -> pd.DataFrame:
        return _summary(self._ctx, self.by_case, self.clock_cases)

    # ------------------------------------------------------------------ pm4py-style view
    def rework_cases_per_activity(self) -> dict[str, int]:
        """``{activity: dossiers where it occurs more than once}`` as
        ``pm4py.get_rework_cases_per_activity`` returns it."""
        d = self.by_activity
        d = d.loc[d["cases_with_repeat"] > 0]
        return dict(zip(d["activity"].astype(str), d["cases_with_repeat"].astype(int).tolist()))

    # ------------------------------------------------------------------ rendering
    def render(self, kind: str = "frequency", format: str = "svg", lang: str = "vi", *,
               path: Any = None, **kw):
        """The process map (``tm.discover``) with the back-edges against the normal order drawn
        highlighted (``tthc_mining.render``); same options as ``ProcessMap.render``."""
        from ..discovery import discover
        c = self._ctx
        pm = discover(c.log)
        edges = {(str(s), str(d)) for s, d in zip(self.back_edges["source"], self.back_edges["target"])}
        kw.setdefault("highlight_edges", edges)
        kw.setdefault("highlight_label", "vòng lặp / loop back-edge" if lang == "vi" else "loop back-edge")
        return pm.render(kind=kind, format=format, lang=lang, path=path, **kw)

    # ------------------------------------------------------------------ export
    def to_frame(self) -> pd.DataFrame:
        """One row per dossier (``by_case``)."""
        return self.by_case

    def to_dict(self, max_rows: int | None = 1000) -> dict:
        """Every table as records (``max_rows`` per table; ``None`` = all)."""
        return {
            "source": self.source, "params": self.params,
            "summary": _records(self.summary),
            "by_activity": _records(self.by_activity, max_rows),
            "patterns": _records(self.patterns, max_rows),
            "triggers": _records(self.triggers, max_rows),
            "clock": _records(self.clock, max_rows),
            "back_edges": _records(self.back_edges, max_rows),
            "pingpong": _records(self.pingpong, max_rows),
            "cycles": _records(self.cycles, max_rows),
            "sccs": _records(self.sccs, max_rows),
            "order": _records(self.order, max_rows),
            "by_case": _records(self.by_case, max_rows),
            "loops": _records(self.loops, max_rows),
        }

    def to_json(self, max_rows: int | None = 1000, **kw) -> str:
        return json.dumps(self.to_dict(max_rows), ensure_ascii=False, default=_safe_json, **kw)

    def __repr__(self) -> str:
        bc = self.by_case
        n = len(bc)
        looped = int((bc["n_loops"] > 0).sum()) if n else 0
        return (f"ReworkReport({self.source}: {n:,} dossiers, {int(bc['n_loops'].sum()):,} loops in "
                f"{looped:,} dossiers, {bc['rework_agency_h'].sum():,.1f} agency hours and "
                f"{bc['rework_citizen_h'].sum():,.1f} citizen hours inside loops)")

    def _repr_html_(self) -> str:
        e = html.escape
        parts = [f"<h4>Vòng lặp và đồng hồ ẩn / Rework loops and the hidden clock — {e(str(self.source))}</h4>"]
        s = self.summary
        if len(s):
            main = s.loc[s["scope"] == "(all)", ["metric", "label_vi", "label_en", "value", "ci_low",
                                                  "ci_high", "n"]]
            parts.append("<p><b>Tổng hợp / Summary</b></p>" + main.to_html(escape=True, index=False,
                                                                          float_format=lambda x: f"{x:,.4g}"))
        parts.append("<p><b>Mẫu vòng lặp thường gặp / Most frequent loop patterns</b></p>"
                     + self.patterns.head(10).to_html(escape=True, index=False))
        parts.append("<p><b>Đồng hồ ẩn theo đơn vị / Hidden clock per unit</b></p>"
                     + self.clock.head(20).to_html(escape=True, index=False))
        return "".join(parts)


# ====================================================================================== build
def rework(log, *, procedure: str | None = None, catalog: Any = None, length_bound: int = 4,
           max_cycles: int = 2000, top_patterns: int = 50, n_boot: int = ci.N_BOOT,
           seed: int = 0, rules: dict | None = None, timing: bool = True) -> ReworkReport:
    """Rework loops and the hidden clock of a :class:`~tthc_mining.DossierLog`.

    A :class:`~tthc_mining.engines.RelationalLog` (DuckDB / Spark) is handed to
    :func:`tthc_mining.engines.rework.rework`, which computes the rework counts relationally
    and returns a :class:`~tthc_mining.engines.rework.RelationalReworkReport` (no loop erasure,
    no hidden clock; see that module).

    Parameters
    ----------
    procedure:
        Analyse only this procedure's dossiers (``log.filter(procedure=...)``).
    catalog:
        A :class:`~tthc_mining.ProcedureCatalog` (default ``log.catalog``): its ``step_order``
        is the normal order for back-edges and its deadlines feed the hidden clock (through
        ``tm.timing``). Without one the order is learned from the log.
    length_bound, max_cycles:
        Longest simple cycle enumerated in the process map, and how many at most.
    top_patterns:
        Number of loop fragments named in ``patterns``.
    n_boot, seed:
        Dossier bootstrap replicates and seed of the time intervals.
    rules:
        Overrides of the hidden-clock rules for every era, e.g. ``{"late_request_share": 0.75}``
        (keys of :data:`RULES` entries).
    timing:
        Use ``tm.timing`` for budgets, due dates and on-time flags (hidden clock, overdue
        attribution). ``False`` leaves those columns empty.

    The detection tables (``by_case``, ``by_activity``, ``loops``, ``back_edges``, ``pingpong``,
    ``order``) are computed at once; ``patterns``, ``triggers``, ``clock``, ``clock_cases``,
    ``summary``, ``cycles`` and ``sccs`` on first access (then cached).
    """
    from ..log import DossierLog
    if not isinstance(log, DossierLog):
        from ..engines.core import RelationalLog   # (imported only for other logs)
        if isinstance(log, RelationalLog):   # DuckDB / Spark: the relational rework counts
            from ..engines.rework import rework as relational_rework
            return relational_rework(log, procedure=procedure, catalog=catalog, n_boot=n_boot,
                                     seed=seed, rules=rules, timing=timing,
                                     length_bound=length_bound, max_cycles=max_cycles,
                                     top_patterns=top_patterns)
        raise ConfigError(f"tm.rework expects a DossierLog (tm.read_log(...)), not {type(log).__name__}")
    if procedure is not None:
        log = log.filter(procedure=procedure)
    if rules:
        bad = set(rules) - set(RULES["nd118"])
        if bad:
            raise ConfigError(f"unknown rule(s) {sorted(bad)}; known: {', '.join(RULES['nd118'])}")
    if n_boot < 1:
        raise ConfigError("n_boot must be at least 1")
    cat = catalog if catalog is not None else getattr(log, "catalog", None)

    # The whole log is read through its codes only; the segments, occurrences, loop erasure
    # and edeaR's counts are computed on the dossiers that can hold a loop (a repeated step
    # or a supplement request; see tthc_mining.rework.blocks). Large logs use a second core
    # for independent parts (each function gets its own inputs: the same results either way).
    parallel = log.n_events >= PARALLEL_MIN_EVENTS
    tasks = Tasks(parallel=parallel)
    tasks.submit("codes", event_codes, log)
    is_first, starts = _check_log(log)
    seg = case_blocks(log, is_first=is_first, starts=starts)
    del is_first, starts
    maybe = repeated_cases(seg)
    codes = tasks.result("codes")
    C = seg.n_cases
    sup_rows = np.flatnonzero(codes.is_request | codes.is_received)   # one scan for both
    req_rows = sup_rows[codes.is_request[sup_rows]]
    maybe[seg.case[req_rows]] = True
    sel = np.flatnonzero(maybe)
    del maybe
    sblk, rows = subset_blocks(seg, sel)
    sblk.prev_activity   # built here, read by both threads
    # second core: the subset's event codes and segments (working time, owners, hand-overs),
    # then (once this core has the occurrences) the loop erasure with the price of every loop
    # and the loops table; this one: the occurrences, the normal order, back-edges, ping-pong
    # and edeaR's counts
    tasks = Tasks(parallel=parallel)
    occ_box: dict = {}
    occ_ready = threading.Event()
    if tasks.parallel:
        tasks.submit("loops", _subset_loops, log, seg, sblk, rows, sel, codes, occ_box, occ_ready)
    try:
        occ_box["occ"] = socc = occurrences(sblk)
    finally:
        occ_ready.set()            # the worker never waits for ever
    if not tasks.parallel:
        tasks.submit("loops", _subset_loops, log, seg, sblk, rows, sel, codes, occ_box, occ_ready)
    re_local = np.flatnonzero(socc.prev_occ >= 0)
    reexec_rows = rows[re_local]
    n_proc = len(codes.procedures)
    proc = codes.procedure_codes           # narrow codes; int64 when some are missing
    if proc.size and int(proc.min()) < 0:
        proc = proc.astype(np.int64)
        proc[proc < 0] = n_proc
    step_events: list = []
    learned = learned_order_blocks(seg, reexec_rows, proc, n_proc + 1, step_events)
    proc_names = pd.Index(list(codes.procedures.astype(str)) + ["(unknown)"])
    order = catalog_order(cat, proc_names, seg.activities, learned) if cat is not None else learned
    be = back_edges(seg, order, proc)
    # ping-pong returns are rework: a re-execution or a back-edge
    pp = pingpong_rows(seg, codes.unit_codes,
                       sup_rows,
                       _sorted_union(reexec_rows, be.rows))
    # edeaR reads the dossier blocks and resources only
    ed = lift_edear(edear(sblk, socc, codes.resource_codes[rows]), sel, C)
    sub = _Subset(seg=sblk, rows=rows, sel=sel, occ=socc, reexec_rows=reexec_rows,
                  reexec_prev=rows[socc.prev_occ[re_local]])
    del re_local
    first = seg.case_start[:-1]
    proc_case = proc[first].astype(np.int64) if first.size else np.zeros(0, np.int64)
    counts = _by_case_counts(log, seg, codes, sub, ed, pp, be, req_rows, proc_case)
    sseg, lp, loops_df = tasks.result("loops")
    sub.seg = sseg
    ctx = _Context(log=log, seg=seg, codes=codes, sub=sub, req_rows=req_rows,
                   step_events=step_events[0], ed=ed, loops=lp,
                   pp=pp, be=be, order=order, proc_case=proc_case,
                   catalog=cat, n_boot=int(n_boot), seed=int(seed), rules=dict(rules or {}),
                   top_patterns=int(top_patterns), length_bound=int(length_bound),
                   max_cycles=int(max_cycles), use_timing=bool(timing))
    report = ReworkReport(
        by_case=_by_case(ctx, counts), by_activity=_by_activity(ctx), loops=loops_df,
        back_edges=_back_edges_table(ctx, proc_names), pingpong=_pingpong_table(ctx),
        order=_order_table(ctx, proc_names),
        params={"procedure": procedure, "catalog": bool(cat is not None),
                "order_source": "catalog" if cat is not None else "learned",
                "length_bound": int(length_bound), "n_boot": int(n_boot), "seed": int(seed),
                "rules": {k: dict(v) for k, v in RULES.items()}, "rule_overrides": dict(rules or {}),
                "hours_per_day": log.calendar.hours_per_day, "calendar": log.calendar.name,
                "has_roles": codes.has_roles},
        source=str(getattr(log, "source", "<data>")), _ctx=ctx)
    return report


def _sorted_union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two sorted arrays of distinct rows (a merge: the stable sort finds the runs)."""
    c = np.concatenate([a, b]).astype(np.int64, copy=False)
    c.sort(kind="stable")
    if c.size > 1:
        c = c[np.r_[True, c[1:] != c[:-1]]]
    return c


def _subset_loops(log, seg: CaseBlocks, sblk: CaseBlocks, rows: np.ndarray, sel: np.ndarray,
                  codes: EventCodes, occ_box: dict, occ_ready: threading.Event):
    """The loop subset's segments, its priced loops (in the log's rows and dossier codes) and
    the loops table. The subset's occurrences come from the calling thread (``occ_box``, set
    before ``occ_ready``)."""
    scodes = subset_codes(codes, rows)
    sseg = subset_segments(log, sblk, rows, scodes.unit_codes)
    occ_ready.wait()
    if "occ" not in occ_box:          # the calling thread failed: it raises its own error
        raise RuntimeError("the loop subset's occurrences are missing")
    lp = lift_loops(price_loops(sseg, occ_box["occ"], scodes), rows, sel)
    return sseg, lp, _loops_table(log, seg, lp, codes)


def _check_log(log) -> tuple[np.ndarray, np.ndarray]:
    """Dossier ids and activities must be present and events sorted by dossier (the canonical
    form ``tm.read_log`` produces); otherwise raise an InputError naming row, column and value.
    Returns the first-event flags of the dossier blocks and their rows."""
    ev = log.events
    for col in S.REQUIRED:
        if col not in ev.columns:
            from ..errors import MissingColumnError
            raise MissingColumnError([col], list(ev.columns), file=str(log.source))
    for col in (S.CASE, S.ACTIVITY):
        codes, _ = narrow_codes(log, col)
        if codes.size == 0 or int(codes.min()) >= 0:
            continue
        bad = np.flatnonzero(codes < 0)
        i = int(bad[0])
        row = int(ev[S.ROW].iloc[i]) if S.ROW in ev.columns else i + 1
        raise InputError(f"{bad.size:,} event(s) without a value (read the file with "
                         "tm.read_log, which drops and counts them)", file=str(log.source),
                         row=row, column=col, value=None)
    case, _ = narrow_codes(log, S.CASE)
    change = np.ones(case.size, dtype=bool)
    starts = np.flatnonzero(change)
    if case.size > 1:
        np.not_equal(case[1:], case[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        first_codes = case[starts]
        # grouped <=> every code starts one run only: certain when the codes of the runs
        # increase (the reader's order), else as many runs as distinct codes (no sort needed)
        if not bool(np.all(first_codes[1:] > first_codes[:-1])) \
                and starts.size != int(np.count_nonzero(np.bincount(case))):
            # the first run of a dossier that already had an earlier run
            i = int(starts[pd.Series(first_codes).duplicated().to_numpy()][0])
            row = int(ev[S.ROW].iloc[i]) if S.ROW in ev.columns else i + 1
            raise InputError("events are not grouped by dossier; sort them by dossier, then time "
                             "(tm.read_log does)", file=str(log.source), row=row, column=S.CASE,
                             value=ev[S.CASE].iloc[i])
    return change, starts


# ====================================================================================== tables
def _per_case(idx: np.ndarray, C: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=C)


def _reexec(ctx: _Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return _reexec_of(ctx.codes, ctx.sub)


def _reexec_of(codes: EventCodes, sub: _Subset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of re-executions and masks same / other / unknown officer."""
    rr = sub.reexec_rows
    r1 = codes.resource_codes[rr]
    r0 = codes.resource_codes[sub.reexec_prev]
    known = (r1 >= 0) & (r0 >= 0)
    return rr, known & (r1 == r0), known & (r1 != r0), ~known


def _selfloop_events_of(codes: EventCodes, sub: _Subset) -> tuple[np.ndarray, np.ndarray]:
    """Immediate re-executions (activity equal to the previous event's) by the same officer as
    that previous execution, and by another officer (both officers known): the dossier code of
    each (they are re-executions, so they lie in the loop subset)."""
    seg = sub.seg
    rows = np.flatnonzero(~seg.is_first & (seg.activity == seg.prev_activity))
    r = codes.resource_codes[sub.rows[rows]]
    r_prev = codes.resource_codes[sub.rows[rows - 1]]
    known = (r >= 0) & (r_prev >= 0)
    case = sub.sel[seg.case[rows]]
    return case[known & (r == r_prev)], case[known & (r != r_prev)]


def _by_case_counts(log, seg: CaseBlocks, codes: EventCodes, sub: _Subset, ed: EdeaR,
                    pp: PingPong, be: BackEdges, req_rows: np.ndarray,
                    proc_case: np.ndarray) -> dict:
    """The ``by_case`` columns that do not depend on the priced loops (built while the second
    core prices them)."""
    C = seg.n_cases
    rr, same, other, unknown = _reexec_of(codes, sub)
    rc = seg.case[rr]
    sl_same, sl_other = _selfloop_events_of(codes, sub)

    def count(idx):             # int64 counts per dossier (bincount gives int64: no copy)
        return np.bincount(idx, minlength=C)

    out = {S.CASE: seg.case_ids}
    if S.PROCEDURE in log.events.columns:
        out["procedure"] = _cat(np.where(proc_case < len(codes.procedures), proc_case, -1),
                                codes.procedures)
    out["n_events"] = np.diff(seg.case_start)
    out.update({
        "selfloops_repeat": ed.selfloop_case_repeat.astype(np.int64, copy=False),
        "selfloops_redo": ed.selfloop_case_redo.astype(np.int64, copy=False),
        "repetitions_repeat": ed.rep_case_repeat.astype(np.int64, copy=False),
        "repetitions_redo": ed.rep_case_redo.astype(np.int64, copy=False),
        "reexec_same_officer": count(rc[same]),
        "reexec_other_officer": count(rc[other]),
        "reexec_unknown_officer": count(rc[unknown]),
        "selfloop_same_officer": count(sl_same),
        "selfloop_other_officer": count(sl_other),
        "n_supplement": count(seg.case[req_rows]),
        "n_pingpong": pp.per_case.astype(np.int64, copy=False),
        "n_back_edges": be.per_case.astype(np.int64, copy=False),
    })
    return out


def _by_case(ctx: _Context, counts: dict | None = None) -> pd.DataFrame:
    seg, lp, sub = ctx.seg, ctx.loops, ctx.sub
    C = seg.n_cases
    if counts is None:
        counts = _by_case_counts(ctx.log, seg, ctx.codes, sub, ctx.ed, ctx.pp, ctx.be,
                                 ctx.req_rows, ctx.proc_case)

    def count(idx):
        return np.bincount(idx, minlength=C)

    # sums over the loops: on the subset's dossiers (loops live there), then spread
    k = sub.sel.size
    lcase = np.searchsorted(sub.sel, lp.case)

    def loop_sum(w, dtype, scale=1.0):
        local = np.bincount(lcase, weights=w, minlength=k).astype(np.float64, copy=False)
        if scale != 1.0:
            local /= scale
        out = np.zeros(C, dtype=dtype)
        out[sub.sel] = local
        return out

    head = [S.CASE, "procedure", "n_events"]
    out = {c: counts[c] for c in head if c in counts}
    out["n_loops"] = count(lp.case)
    for kind, name in KIND_COLUMNS.items():
        out[name] = count(lp.case[lp.kind == kind])
    out.update({c: v for c, v in counts.items() if c not in head})
    out.update({
        # integer sums of integers: exact as float64 sums, as before
        "extra_steps": loop_sum(lp.n_events.astype(np.float64), np.int64),
        "extra_handovers": loop_sum(lp.handovers.astype(np.float64), np.int64),
        "rework_agency_h": loop_sum(lp.agency_s, np.float64, 3600.0),
        "rework_citizen_h": loop_sum(lp.citizen_s, np.float64, 3600.0),
        "rework_third_party_h": loop_sum(lp.third_s, np.float64, 3600.0),
    })
    # every column is a new array: no copy into consolidated blocks
    return pd.DataFrame(out, copy=False)


def _by_activity(ctx: _Context) -> pd.DataFrame:
    seg, occ, ed, lp, be = ctx.seg, ctx.sub.occ, ctx.ed, ctx.loops, ctx.be
    A = len(seg.activities)
    act = seg.activity
    rr, same, other, _ = _reexec(ctx)
    trig_act = act[lp.trigger] if lp.size else np.zeros(0, np.int64)
    closing = lp.closing_activity[lp.closing_activity >= 0]
    n_events = ctx.step_events
    reexec = np.bincount(act[rr], minlength=A)
    be_rows = be.rows if be.rows is not None else np.flatnonzero(be.mask)
    df = pd.DataFrame({
        "activity": seg.activities.astype(str),
        "n_events": n_events,
        # dossiers where the step occurs: its events but the re-executions; with a repeat:
        # pairs (dossier, step) executed more than once (all in the loop subset)
        "n_cases": n_events - reexec,
        "cases_with_repeat": np.bincount(occ.pair_act[occ.pair_count > 1], minlength=A),
        "selfloops_repeat": ed.selfloop_act_repeat.astype(np.int64),
        "selfloops_redo": ed.selfloop_act_redo.astype(np.int64),
        "repetitions_repeat": ed.rep_act_repeat.astype(np.int64),
        "repetitions_redo": ed.rep_act_redo.astype(np.int64),
        "reexec_events": reexec,
        "reexec_same_officer": np.bincount(act[rr[same]], minlength=A),
        "reexec_other_officer": np.bincount(act[rr[other]], minlength=A),
        "loops_closed": np.bincount(closing, minlength=A),
        "loops_triggered": np.bincount(trig_act, minlength=A),
        "rework_agency_h_triggered": np.bincount(trig_act, weights=lp.agency_s, minlength=A) / 3600.0,
        "rework_citizen_h_triggered": np.bincount(trig_act, weights=lp.citizen_s, minlength=A) / 3600.0,
        "back_edges_out": np.bincount(act[be_rows - 1], minlength=A),
        "back_edges_in": np.bincount(act[be_rows], minlength=A),
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        df["repeat_case_share"] = df["cases_with_repeat"] / df["n_cases"]
    return df.sort_values(["loops_triggered", "cases_with_repeat", "n_events"], ascending=False,
                          kind="stable").reset_index(drop=True)


def _loops_table(log, seg: CaseBlocks, lp: Loops, codes: EventCodes) -> pd.DataFrame:
    ev = log.events
    trig = lp.trigger
    out = {
        S.CASE: seg.case_ids.take(lp.case),
        "kind": pd.Categorical.from_codes(lp.kind, categories=list(LOOP_KINDS)),
        "closing_activity": _cat(lp.closing_activity, seg.activities),
        "trigger_activity": _cat(seg.activity[trig], seg.activities),
        "trigger_officer": _cat(codes.resource_codes[trig], codes.resources),
        "trigger_unit": _cat(codes.unit_codes[trig], codes.units),
    }
    if S.REASON in ev.columns:
        # only the loops' rows (converting the whole text column would cost a Python object
        # per event)
        col = ev[S.REASON]
        if isinstance(col.dtype, pd.StringDtype):   # text stays text (no Python objects)
            out["reason"] = col.array.take(trig)
        elif (isinstance(col.dtype, pd.CategoricalDtype)
              and isinstance(col.cat.categories.dtype, pd.StringDtype)):
            # the categorical text column of a read log: the same text array as above
            codes = col.cat.codes.to_numpy()[trig]
            out["reason"] = col.cat.categories.array.take(codes, allow_fill=True)
        else:
            out["reason"] = col.iloc[trig].to_numpy()
    ts = ev[S.TIMESTAMP]
    out["trigger_time"] = ts.iloc[trig].reset_index(drop=True)
    out["end_time"] = ts.iloc[lp.end].reset_index(drop=True)
    out.update({
        "extra_steps": lp.n_events, "extra_handovers": lp.handovers,
        "agency_h": lp.agency_s / 3600.0, "citizen_h": lp.citizen_s / 3600.0,
        "third_party_h": lp.third_s / 3600.0,
    })
    df = pd.DataFrame(out)
    return df


def _pattern_codes(ctx: _Context) -> tuple[np.ndarray, np.ndarray]:
    lp = ctx.loops
    h = fragment_hashes(ctx.seg.activity, lp.frag_first, lp.end)
    codes, uniq = pd.factorize(h)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniq)


def _fragment_text(ctx: _Context, first: int, last: int, max_steps: int = 12) -> str:
    acts = ctx.seg.activities.astype(str)
    rows = range(first, last + 1)
    names = [acts[ctx.seg.activity[r]] for r in rows]
    if len(names) > max_steps:
        names = names[: max_steps // 2] + [f"… ({len(names) - max_steps} more) …"] + names[-max_steps // 2:]
    return " → ".join(names)


def _patterns(ctx: _Context, loops_df: pd.DataFrame) -> pd.DataFrame:
    lp = ctx.loops
    cols = ["pattern", "fragment", "length", "kind", "loops", "dossiers", "share_of_loops",
            "agency_h_total", "agency_h_mean", "citizen_h_total", "citizen_h_mean",
            "extra_steps_mean"]
    if lp.size == 0:
        return pd.DataFrame(columns=cols)
    pc, uniq = _pattern_codes(ctx)
    P = uniq.size
    cnt = np.bincount(pc, minlength=P)
    ck = lp.case.astype(np.int64) * P + pc
    doss = np.bincount(pd.unique(ck) % P, minlength=P)
    ag = np.bincount(pc, weights=lp.agency_s, minlength=P) / 3600.0
    cz = np.bincount(pc, weights=lp.citizen_s, minlength=P) / 3600.0
    ex = np.bincount(pc, weights=lp.n_events.astype(np.float64), minlength=P)
    # representative loop (first of its pattern) and dominant kind
    first_idx = np.full(P, -1, dtype=np.int64)
    newp = pc > np.r_[-1, np.maximum.accumulate(pc)[:-1]]
    first_idx[pc[newp]] = np.flatnonzero(newp)
    kinds = np.zeros((P, len(LOOP_KINDS)), dtype=np.int64)
    np.add.at(kinds, (pc, lp.kind), 1)
    top = np.lexsort((-ag, -cnt))[: ctx.top_patterns]
    frag = [_fragment_text(ctx, int(lp.frag_first[first_idx[p]]), int(lp.end[first_idx[p]])) for p in top]
    length = (lp.end - lp.frag_first + 1)[first_idx[top]]
    df = pd.DataFrame({
        "pattern": np.arange(top.size), "fragment": frag, "length": length,
        "kind": LOOP_KINDS[kinds[top].argmax(axis=1)], "loops": cnt[top], "dossiers": doss[top],
        "share_of_loops": cnt[top] / max(lp.size, 1),
        "agency_h_total": ag[top], "agency_h_mean": ag[top] / cnt[top],
        "citizen_h_total": cz[top], "citizen_h_mean": cz[top] / cnt[top],
        "extra_steps_mean": ex[top] / cnt[top],
    })
    # the pattern id of every loop (-1 outside the named patterns)
    rank = np.full(P, -1, dtype=np.int64)
    rank[top] = np.arange(top.size)
    loops_df["pattern"] = rank[pc]
    return df[cols]


def _back_edges_table(ctx: _Context, proc_names: pd.Index) -> pd.DataFrame:
    e = ctx.be.edges
    acts = ctx.seg.activities.astype(str)
    if e.empty:
        return pd.DataFrame(columns=["source", "target", "transitions", "dossiers"])
    return pd.DataFrame({"source": np.asarray(acts)[e["src"].to_numpy()],
                         "target": np.asarray(acts)[e["dst"].to_numpy()],
                         "transitions": e["transitions"].to_numpy(),
                         "dossiers": e["dossiers"].to_numpy()}).sort_values(
        "transitions", ascending=False, kind="stable").reset_index(drop=True)


def _order_table(ctx: _Context, proc_names: pd.Index) -> pd.DataFrame:
    o = ctx.order
    pi, ai = np.nonzero(np.isfinite(o))
    acts = np.asarray(ctx.seg.activities.astype(str))
    df = pd.DataFrame({"procedure": np.asarray(proc_names)[pi], "activity": acts[ai], "order": o[pi, ai]})
    return df.sort_values(["procedure", "order"], kind="stable").reset_index(drop=True)


def _pingpong_table(ctx: _Context) -> pd.DataFrame:
    pp, seg, codes = ctx.pp, ctx.seg, ctx.codes
    cols = ["unit_x", "unit_y", "pingpongs", "dossiers", "detour_h_mean", "detour_h_total"]
    if pp.rows.size == 0:
        return pd.DataFrame(columns=cols)
    U = len(codes.units)
    key = pp.x * U + pp.y
    k, inv = np.unique(key, return_inverse=True)
    # working time of the segments ending at the Y visit's events, on those rows only
    d0, d1 = pp.detour_rows
    span_rows, span_len = spans(d0, d1)
    span_s = np.nan_to_num(seg_seconds_at(ctx.log, span_rows), nan=0.0)
    detour = np.bincount(np.repeat(np.arange(d0.size), span_len), weights=span_s,
                         minlength=d0.size) / 3600.0
    cnt = np.bincount(inv)
    ck = seg.case[pp.rows].astype(np.int64) * k.size + inv
    doss = np.bincount(pd.unique(ck) % k.size, minlength=k.size)
    tot = np.bincount(inv, weights=detour)
    names = np.asarray(codes.units.astype(str))
    df = pd.DataFrame({"unit_x": names[k // U], "unit_y": names[k % U], "pingpongs": cnt,
                       "dossiers": doss, "detour_h_mean": tot / cnt, "detour_h_total": tot})
    return df.sort_values("pingpongs", ascending=False, kind="stable").reset_index(drop=True)[cols]


# ====================================================================================== timing
def _timing_cases(ctx: _Context) -> tuple[pd.DataFrame, np.ndarray | None]:
    """(timing cases aligned with the dossier codes, counted agency seconds per event)."""
    C = ctx.seg.n_cases
    empty = pd.DataFrame(index=range(C))
    if not ctx.use_timing:
        return empty, None
    try:
        from ..timing import timing as _timing
    except ImportError:  # pragma: no cover - timing module absent
        return empty, None
    from ..catalog import ProcedureCatalog
    cat = ctx.catalog if isinstance(ctx.catalog, ProcedureCatalog) else None
    t = _timing(ctx.log, catalog=cat)
    tc = t.cases
    ids = ctx.seg.case_ids
    if not (len(tc) == C and np.array_equal(tc[S.CASE].to_numpy(), ids.to_numpy())):
        tc = tc.set_index(S.CASE).reindex(ids).reset_index()
    tc = tc.reset_index(drop=True)
    counted = None
    if "counted_h" in t.events.columns:
        counted = t.events["counted_h"].to_numpy(dtype=np.float64) * 3600.0
    return tc, counted


def _unit_code_of_case(ctx: _Context, tc: pd.DataFrame) -> np.ndarray:
    """Responsible unit code per dossier: timing's ``unit``, else the unit of the first event."""
    units = ctx.codes.units
    C = ctx.seg.n_cases
    if "unit" in tc.columns and len(units):
        uc, uu = pd.factorize(tc["unit"])  # map the distinct unit names, not every dossier
        pos = pd.Index(units.astype(str)).get_indexer(pd.Index(uu).astype(str))
        lut = np.r_[np.asarray(pos, dtype=np.int64), -1]
        return lut[np.where(uc >= 0, uc, len(uu))]
    if len(units):
        return ctx.codes.unit[ctx.seg.case_start[:-1]] if C else np.zeros(0, np.int64)
    return np.full(C, -1, dtype=np.int64)


def _clock_cases(ctx: _Context, timing_out, by_case: pd.DataFrame) -> pd.DataFrame:
    tc, counted = timing_out
    seg = segments(ctx.log, lazy_start=True)   # working time of every event (the clock's)
    cc = clock_cases(ctx.log, seg, ctx.codes, tc, overrides=ctx.rules, counted_s=counted)
    L = ctx.log.calendar.seconds_per_day
    ucode = _unit_code_of_case(ctx, tc)
    cc.insert(1, "unit", _cat(ucode, ctx.codes.units))
    cc["_unit_code"] = ucode
    if "procedure" in by_case.columns:
        cc.insert(2, "procedure", by_case["procedure"].to_numpy())
    cc["requesting_unit"] = _cat(cc.pop("requesting_unit_code").to_numpy(), ctx.codes.units)
    # overdue attribution on the agency clock: would the dossier have been on time without the
    # agency time spent inside its loops?
    agency_days = tc["agency_days"].to_numpy(dtype=np.float64) if "agency_days" in tc.columns else np.full(len(cc), np.nan)
    budget = cc["budget_days"].to_numpy(dtype=np.float64)
    late = (tc["days_late_actual"].to_numpy(dtype=np.float64) if "days_late_actual" in tc.columns
            else np.clip(agency_days - budget, 0, None))
    on_act = cc["on_time_actual"] if "on_time_actual" in cc.columns else pd.Series(pd.NA, index=cc.index, dtype="boolean")
    overdue = pd.array(on_act, dtype="boolean")
    overdue = ~overdue
    loop_days = by_case["rework_agency_h"].to_numpy() * 3600.0 / L
    cc["agency_days"] = agency_days
    cc["rework_agency_days"] = loop_days
    cc["overdue_actual"] = overdue
    cc["days_late_actual"] = np.where(overdue.fillna(False).to_numpy(dtype=bool), late, 0.0)
    cc.loc[np.asarray(overdue.isna(), dtype=bool), "days_late_actual"] = np.nan
    expl = pd.array((agency_days - loop_days) <= budget + 1e-9, dtype="boolean")
    expl = expl & overdue
    expl[np.asarray(overdue.isna(), dtype=bool)] = pd.NA
    cc["overdue_explained_by_loops"] = expl
    cc["late_days_explained_by_loops"] = np.where(overdue.fillna(False).to_numpy(dtype=bool),
                                                  np.minimum(np.nan_to_num(late), loop_days), 0.0)
    cc.loc[np.asarray(overdue.isna(), dtype=bool), "late_days_explained_by_loops"] = np.nan
    return cc


# ====================================================================================== triggers
def _distinct_pairs(case: np.ndarray, key: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (case, key) pairs of event-level keys (case-sorted input, so nearly sorted)."""
    ok = key >= 0
    pk = case[ok].astype(np.int64) * K + key[ok]
    pk = np.sort(pk, kind="stable")  # nearly sorted already: fast
    u = pk[np.r_[True, pk[1:] != pk[:-1]]] if pk.size else pk
    return u // K, u % K


def _dossiers_per_key(case: np.ndarray, key: np.ndarray, K: int) -> np.ndarray:
    """Per key in ``0..K-1``: the dossiers in which it appears (events sorted by dossier; -1 =
    no key). Only the first row of each run of one key inside a dossier can be new; those
    (dossier, key) pairs are deduplicated by a stable sort (nearly sorted already)."""
    n = key.size
    if n == 0:
        return np.zeros(K, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    np.not_equal(key[1:], key[:-1], out=new[1:])
    new[1:] |= case[1:] != case[:-1]
    new &= key >= 0
    rows = np.flatnonzero(new)
    del new
    pk = case[rows].astype(np.int64)
    pk *= K
    pk += key[rows]
    pk.sort(kind="stable")
    if pk.size > 1:
        pk = pk[np.r_[True, pk[1:] != pk[:-1]]]
    return np.bincount(pk % K, minlength=K)


def _month_codes(ctx: _Context, tc: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Month of receipt (local) per dossier as codes into 'YYYY-MM' labels. Received as
    tm.timing defines it: ``case:received``, else the first receipt event, else the first
    event (computed here, so the triggers do not need the whole timing)."""
    seg = ctx.seg
    tz = ctx.log.calendar.tz
    ev = ctx.log.events
    first = seg.case_start[:-1]
    if "received" in tc.columns:
        r = pd.to_datetime(tc["received"]).reset_index(drop=True)
    else:
        rows = first.copy()
        rc = np.flatnonzero(ctx.codes.is_receipt)
        if rc.size:
            cc = seg.case[rc]
            fr = np.r_[True, cc[1:] != cc[:-1]]
            rows[cc[fr]] = rc[fr]
        r = pd.to_datetime(ev[S.TIMESTAMP].iloc[rows]).reset_index(drop=True)
        if S.RECEIVED in ev.columns:
            rv = pd.to_datetime(ev[S.RECEIVED].iloc[first]).reset_index(drop=True)
            if getattr(rv.dt, "tz", None) is None and getattr(r.dt, "tz", None) is not None:
                rv = rv.dt.tz_localize(tz or "UTC", ambiguous="NaT", nonexistent="NaT")
            elif getattr(rv.dt, "tz", None) is not None and getattr(r.dt, "tz", None) is None:
                rv = rv.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
            r = rv.where(rv.notna(), r)
    if getattr(r.dt, "tz", None) is not None:
        r = r.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
    m = r.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    nat = np.isnat(m)
    mi = m.astype(np.int64)
    codes, uniq = pd.factorize(np.where(nat, np.iinfo(np.int64).min, mi), sort=True)
    labels = [str(np.datetime64(int(u), "M")) if u != np.iinfo(np.int64).min else None for u in uniq]
    codes = np.asarray(codes, dtype=np.int64)
    if nat.any():
        codes = np.where(nat, -1, codes)
    return codes, pd.Index(labels)


def _mean_frame(t) -> pd.DataFrame:
    e, lo, hi, n = t
    return pd.DataFrame({"mean": e, "ci_low": lo, "ci_high": hi, "n": n})


def _triggers(ctx: _Context, timing_out) -> pd.DataFrame:
    tc, _ = timing_out
    seg, lp, codes = ctx.seg, ctx.loops, ctx.codes
    C = seg.n_cases
    ev = ctx.log.events
    looped_case = np.bincount(lp.case, minlength=C) > 0
    frames = []
    trig = lp.trigger

    def dimension(name, per_event, names, per_case=None, n_doss=None):
        K = len(names)
        if K == 0:
            return
        if per_case is not None:  # dossier-level key: denominators = dossiers with the key
            ok = per_case >= 0
            n_doss = np.bincount(per_case[ok], minlength=K)
            n_with = np.bincount(per_case[ok & looped_case], minlength=K)
            lk = per_case[lp.case]
        else:
            if n_doss is None:
                n_doss = _dossiers_per_key(seg.case, per_event, K)
            lk = per_event[trig]
            okl = lk >= 0
            tc_, tk = _distinct_pairs(lp.case[okl], lk[okl], K)
            n_with = np.bincount(tk, minlength=K)
        okl = lk >= 0
        n_loops = np.bincount(lk[okl], minlength=K)
        p, lo, hi = ci.rate(n_with, n_doss)
        mb = ci.means_by_key({"agency": lp.agency_s[okl] / 3600.0, "citizen": lp.citizen_s[okl] / 3600.0},
                             lp.case[okl], lk[okl], K, n_boot=ctx.n_boot, seed=ctx.seed)
        ag, cz = _mean_frame(mb["agency"]), _mean_frame(mb["citizen"])
        df = pd.DataFrame({
            "dimension": name, "key": np.asarray(names.astype(str)), "dossiers": n_doss,
            "dossiers_with_loop": n_with, "rate": p, "rate_ci_low": lo, "rate_ci_high": hi,
            "loops": n_loops,
            "loops_per_dossier": np.where(n_doss > 0, n_loops / np.maximum(n_doss, 1), np.nan),
            "agency_h_per_loop": ag["mean"].to_numpy(), "agency_h_ci_low": ag["ci_low"].to_numpy(),
            "agency_h_ci_high": ag["ci_high"].to_numpy(),
            "citizen_h_per_loop": cz["mean"].to_numpy(), "citizen_h_ci_low": cz["ci_low"].to_numpy(),
            "citizen_h_ci_high": cz["ci_high"].to_numpy(),
        })
        frames.append(df.loc[df["dossiers"] > 0].sort_values(
            ["loops", "dossiers"], ascending=False, kind="stable"))

    if S.PROCEDURE in ev.columns:
        pcase = np.where(ctx.proc_case < len(codes.procedures), ctx.proc_case, -1)
        dimension("procedure", None, codes.procedures, per_case=pcase)
    if len(codes.units):
        dimension("unit", codes.unit_codes, codes.units)
    if len(codes.resources):
        dimension("officer", codes.resource_codes, codes.resources)
    # dossiers per step: its events but the re-executions (as by_activity's n_cases)
    A = len(seg.activities)
    dimension("step", seg.activity, seg.activities,
              n_doss=ctx.step_events - np.bincount(seg.activity[ctx.sub.reexec_rows], minlength=A))
    mcodes, months = _month_codes(ctx, tc if tc is not None else pd.DataFrame())
    dimension("month", None, months, per_case=mcodes)
    if S.REASON in ev.columns and lp.size:
        # reasons: among dossiers with a loop, how many cite the reason at a trigger
        rc, rnames = pd.factorize(ev[S.REASON].iloc[trig].to_numpy())   # the loops' rows only
        rc = np.asarray(rc, dtype=np.int64)
        K = len(rnames)
        if K:
            ok = rc >= 0
            n_loops = np.bincount(rc[ok], minlength=K)
            _, rk = _distinct_pairs(lp.case[ok], rc[ok], K)
            n_with = np.bincount(rk, minlength=K)
            n_looped = int(looped_case.sum())
            p, lo, hi = ci.rate(n_with, np.full(K, n_looped))
            mb = ci.means_by_key({"agency": lp.agency_s[ok] / 3600.0, "citizen": lp.citizen_s[ok] / 3600.0},
                                 lp.case[ok], rc[ok], K, n_boot=ctx.n_boot, seed=ctx.seed)
            ag, cz = _mean_frame(mb["agency"]), _mean_frame(mb["citizen"])
            frames.append(pd.DataFrame({
                "dimension": "reason", "key": np.asarray(pd.Index(rnames).astype(str)),
                "dossiers": n_looped, "dossiers_with_loop": n_with, "rate": p, "rate_ci_low": lo,
                "rate_ci_high": hi, "loops": n_loops, "loops_per_dossier": np.nan,
                "agency_h_per_loop": ag["mean"].to_numpy(), "agency_h_ci_low": ag["ci_low"].to_numpy(),
                "agency_h_ci_high": ag["ci_high"].to_numpy(),
                "citizen_h_per_loop": cz["mean"].to_numpy(), "citizen_h_ci_low": cz["ci_low"].to_numpy(),
                "citizen_h_ci_high": cz["ci_high"].to_numpy(),
            }).sort_values("loops", ascending=False, kind="stable"))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


# ====================================================================================== summary
def _summary(ctx: _Context, bc: pd.DataFrame, cc: pd.DataFrame) -> pd.DataFrame:
    C = len(bc)
    L = ctx.log.calendar.seconds_per_day
    scopes = [("(all)", np.ones(C, dtype=bool))]
    n_part = 0
    part = np.full(C, -1, dtype=np.int64)
    if "procedure" in bc.columns:
        n_part = len(ctx.codes.procedures)
        part = np.where(ctx.proc_case < n_part, ctx.proc_case, -1).astype(np.int64)
        for i, name in enumerate(ctx.codes.procedures.astype(str)):
            scopes.append((name, part == i))
    # report the procedures that have dossiers (a filtered log may keep unused categories)
    shown = [si for si, (_, m) in enumerate(scopes) if si == 0 or m.any()]
    rows: list[dict] = []

    def add(metric, value, lo, hi, n, scope, note=""):
        lv, le = LABELS.get(metric, (metric, metric))
        rows.append({"scope": scope, "metric": metric, "label_vi": lv, "label_en": le,
                     "value": value, "ci_low": lo, "ci_high": hi, "n": int(n), "note": note})

    def rate_metric(metric, flag, known=None, note=""):
        flag = np.asarray(flag, dtype=bool)
        known = np.ones(C, dtype=bool) if known is None else np.asarray(known, dtype=bool)
        k = np.r_[(flag & known).sum(), np.bincount(part[(part >= 0) & flag & known], minlength=n_part)]
        n = np.r_[known.sum(), np.bincount(part[(part >= 0) & known], minlength=n_part)]
        p, lo, hi = ci.rate(k[: len(scopes)], n[: len(scopes)])
        for si in shown:
            add(metric, float(p[si]), float(lo[si]), float(hi[si]), int(n[si]), scopes[si][0], note)

    rate_metric("share_with_loop", bc["n_loops"] > 0)
    rate_metric("share_with_supplement", bc["n_supplement"] > 0)
    rate_metric("share_with_selfloop", (bc["selfloops_repeat"] + bc["selfloops_redo"]) > 0)
    rate_metric("share_with_repetition", (bc["repetitions_repeat"] + bc["repetitions_redo"]) > 0)
    rate_metric("share_with_repeat", (bc["selfloops_repeat"] + bc["repetitions_repeat"]) > 0,
                note="edeaR repeat: same resource")
    rate_metric("share_with_redo", (bc["selfloops_redo"] + bc["repetitions_redo"]) > 0,
                note="edeaR redo: different resource")
    rate_metric("share_with_reexec_same_officer", bc["reexec_same_officer"] > 0)
    rate_metric("share_with_reexec_other_officer", bc["reexec_other_officer"] > 0)
    rate_metric("share_with_selfloop_same_officer", bc["selfloop_same_officer"] > 0)
    rate_metric("share_with_selfloop_other_officer", bc["selfloop_other_officer"] > 0)
    rate_metric("share_with_pingpong", bc["n_pingpong"] > 0)
    rate_metric("share_with_back_edge", bc["n_back_edges"] > 0)

    means = {
        "loops_per_dossier": bc["n_loops"],
        "supplement_requests_per_dossier": bc["n_supplement"],
        "reexec_same_officer_per_dossier": bc["reexec_same_officer"],
        "reexec_other_officer_per_dossier": bc["reexec_other_officer"],
        "selfloop_same_officer_per_dossier": bc["selfloop_same_officer"],
        "selfloop_other_officer_per_dossier": bc["selfloop_other_officer"],
        "pingpong_per_dossier": bc["n_pingpong"],
        "extra_steps_per_dossier": bc["extra_steps"],
        "extra_handovers_per_dossier": bc["extra_handovers"],
        "rework_agency_days_per_dossier": bc["rework_agency_h"] * 3600.0 / L,
        "rework_citizen_days_per_dossier": bc["rework_citizen_h"] * 3600.0 / L,
    }
    res = ci.dossier_means({k: np.asarray(v, dtype=np.float64) for k, v in means.items()}, part,
                           n_part, n_boot=ctx.n_boot, seed=ctx.seed)
    for metric, (e, lo, hi, n) in res.items():
        for si in shown:
            add(metric, float(e[si]), float(lo[si]), float(hi[si]), int(n[si]), scopes[si][0],
                "mean per dossier, dossier bootstrap")
    shown_scopes = [scopes[si] for si in shown]
    for scope, mask in shown_scopes:
        add("rework_agency_days_total", float(bc["rework_agency_h"].to_numpy()[mask].sum() * 3600.0 / L),
            np.nan, np.nan, int(mask.sum()), scope, "sum over dossiers")
        add("rework_citizen_days_total", float(bc["rework_citizen_h"].to_numpy()[mask].sum() * 3600.0 / L),
            np.nan, np.nan, int(mask.sum()), scope, "sum over dossiers")
        add("loops_total", float(bc["n_loops"].to_numpy()[mask].sum()), np.nan, np.nan,
            int(mask.sum()), scope, "sum over dossiers")

    # overdue attribution (agency clock) and the hidden clock
    od = cc["overdue_actual"]
    od_known = ~np.asarray(od.isna(), dtype=bool)
    od_true = od.fillna(False).to_numpy(dtype=bool)
    expl = cc["overdue_explained_by_loops"].fillna(False).to_numpy(dtype=bool)
    rate_metric("share_overdue_actual", od_true, od_known)
    rate_metric("share_of_overdue_explained_by_loops", expl, od_true,
                note="overdue dossiers that would be on time without the agency time in loops")
    late = np.nan_to_num(cc["days_late_actual"].to_numpy(dtype=np.float64))
    expl_days = np.nan_to_num(cc["late_days_explained_by_loops"].to_numpy(dtype=np.float64))
    for scope, mask in shown_scopes:
        m = mask & od_true
        tot = late[m].sum()
        val = expl_days[m].sum() / tot if tot > 0 else np.nan
        lo = hi = np.nan
        if m.sum() >= 2 and tot > 0:
            lo, hi = _ratio_boot(expl_days[m], late[m], ctx.n_boot, ctx.seed)
        add("share_of_overdue_days_explained_by_loops", float(val), lo, hi, int(m.sum()), scope,
            "overdue days that the agency time inside loops accounts for")
    for f in ("late_request", "double_request", "due_moved", "reappointed_over_limit",
              "clock_restarted", "desk_entered_online", "on_time_reported", "on_time_actual"):
        if f in cc.columns:
            v = pd.array(cc[f], dtype="boolean")
            rate_metric(f, v.fillna(False).to_numpy(dtype=bool), ~np.asarray(v.isna(), dtype=bool))
    return pd.DataFrame(rows)


def _ratio_boot(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile interval of sum(num)/sum(den) with Poisson weights per dossier (few dossiers:
    the overdue ones)."""
    rng = np.random.default_rng(seed)
    w = rng.poisson(1.0, size=(n_boot, num.size)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (w @ num) / (w @ den)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return np.nan, np.nan
    return float(np.quantile(reps, 0.025)), float(np.quantile(reps, 0.975))
