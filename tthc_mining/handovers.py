"""Hand-overs between units (liên thông): who passes dossiers to whom, and what the boundary costs.

``tm.handovers(log)`` returns a :class:`HandoverReport` with a unit-to-unit ``table``, a networkx
``graph``, ``to_dot()`` and ``pm4py_network()`` (pm4py's handover-of-work network, optional).

Rules
-----
* A **transfer** is an event whose unit (``org:group``) differs from the unit of the previous
  event of the same dossier (``segments.handover``), on an **agency-owned** segment (the time a
  citizen or a third party holds the dossier is not a unit boundary of the agency; such events
  are counted in ``attrs``/``summary``).
* The **waiting at the boundary** is the transfer event's waiting time (``segments.wait_s``:
  previous end -> start, or previous end -> end without start times), in working hours; negative
  waits (parallel work) count as 0.
* **Share of the statutory budget** of a transfer = its waiting / the dossier's statutory budget
  in working time (from :func:`tthc_mining.timing` when available, else due date − received
  date); ``share_of_budget`` is the mean over the transfers whose dossier has a budget
  (``budget_n`` of them).
* ``wait_mean_ci_low/high``: percentile bootstrap over dossiers
  (:func:`tthc_mining.stats.bootstrap_mean_ci`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema as S
from .bottlenecks import group_quantiles, make_module_callable, procedure_mask
from .errors import ConfigError
from .segments import OWNER_AGENCY, segments

__all__ = ["handovers", "HandoverReport", "LABELS_VI"]

LABELS_VI = {
    "from_unit": "Đơn vị chuyển",
    "to_unit": "Đơn vị nhận",
    "transfers": "Số lượt chuyển",
    "cases": "Số hồ sơ",
    "wait_mean_h": "Thời gian chờ trung bình (giờ làm việc)",
    "wait_mean_ci_low": "Cận dưới khoảng tin cậy (giờ)",
    "wait_mean_ci_high": "Cận trên khoảng tin cậy (giờ)",
    "wait_median_h": "Trung vị thời gian chờ (giờ)",
    "wait_total_h": "Tổng giờ chờ",
    "share_of_budget": "Tỷ lệ thời hạn giải quyết bị tiêu tốn",
    "budget_n": "Số lượt có thời hạn",
}


def _fmt(x: float, decimals: int, lang: str) -> str:
    """Number with thousands separators; Vietnamese style (1.234,5) for lang='vi'."""
    t = f"{x:,.{decimals}f}"
    if lang == "vi":
        t = t.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return t


def _dot_id(text: str) -> str:
    """A DOT double-quoted string with quotes, backslashes and line breaks escaped."""
    t = str(text).replace("\\", "\\\\").replace('"', '\\"')
    t = t.replace("\r", " ").replace("\n", "\\n")
    return f'"{t}"'


@dataclass
class HandoverReport:
    """Unit-to-unit transfers. ``table``: one row per (from_unit, to_unit) sorted by total
    waiting; ``graph``: networkx DiGraph (nodes = units, edges carry the table's columns)."""

    table: pd.DataFrame
    summary: dict = field(default_factory=dict)
    _log: object = field(default=None, repr=False)

    @property
    def graph(self):
        import networkx as nx
        g = nx.DiGraph()
        for row in self.table.to_dict("records"):
            a, b = row["from_unit"], row["to_unit"]
            g.add_edge(a, b, **{k: v for k, v in row.items() if k not in ("from_unit", "to_unit")})
        for n in g.nodes:
            g.nodes[n]["transfers_in"] = sum(d["transfers"] for _, _, d in g.in_edges(n, data=True))
            g.nodes[n]["transfers_out"] = sum(d["transfers"] for _, _, d in g.out_edges(n, data=True))
        return g

    def to_dot(self, *, lang: str = "vi", max_edges: int | None = None) -> str:
        """Graphviz DOT source: edge width by transfers, label = transfers and mean wait. Every
        label is escaped (a unit named ``a" -> b`` stays text)."""
        t = self.table if max_edges is None else self.table.head(max_edges)
        vi = lang == "vi"
        lines = ["digraph handovers {", '  graph [rankdir=LR, fontname="Arial"];',
                 '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Arial"];',
                 '  edge [fontname="Arial", fontsize=10];']
        units = pd.unique(pd.concat([t["from_unit"], t["to_unit"]]).astype(str)) if len(t) else []
        for u in units:
            lines.append(f"  {_dot_id(u)};")
        mx = float(t["transfers"].max()) if len(t) else 1.0
        for row in t.itertuples(index=False):
            width = 1.0 + 5.0 * float(row.transfers) / mx
            n_txt, w_txt = _fmt(row.transfers, 0, lang), _fmt(row.wait_mean_h, 1, lang)
            lab = (f"{n_txt} lượt, chờ TB {w_txt} giờ" if vi else
                   f"{n_txt} transfers, mean wait {w_txt} h")
            lines.append(f"  {_dot_id(row.from_unit)} -> {_dot_id(row.to_unit)} "
                         f"[label={_dot_id(lab)}, penwidth={width:.2f}];")
        lines.append("}")
        return "\n".join(lines)

    def render(self, format: str = "svg", *, lang: str = "vi", path=None,
               max_edges: int | None = None):
        """The hand-over graph drawn by graphviz (``format="svg"|"png"|"pdf"``) or its DOT source
        (``format="dot"``); written to ``path`` when given. Raises
        :class:`~tthc_mining.errors.MissingProgramError` when the ``dot`` program is missing."""
        from pathlib import Path

        source = self.to_dot(lang=lang, max_edges=max_edges)
        if format == "dot":
            out = source
        else:
            from .render import pipe
            raw = pipe(source, format)
            out = raw.decode("utf-8") if format == "svg" else raw
        if path is not None:
            p = Path(path)
            p.write_text(out, encoding="utf-8") if isinstance(out, str) else p.write_bytes(out)
        return out

    def pm4py_network(self, resource_key: str = S.GROUP, beta: int = 0):
        """pm4py's handover-of-work network (``pm4py.discover_handover_of_work_network``) on the
        same log, between units (default) or officers (``resource_key="org:resource"``)."""
        if self._log is None:
            raise ConfigError("this report was built without its log")
        if resource_key not in self._log.events.columns:
            raise ConfigError(f"the log has no column {resource_key!r}")
        import pm4py
        df = self._log.to_pm4py()
        df = df[df[resource_key].notna()]
        df[resource_key] = df[resource_key].astype(str)
        return pm4py.discover_handover_of_work_network(df, beta=beta, resource_key=resource_key)

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def to_json(self, **kw) -> str:
        return json.dumps({"summary": self.summary,
                           "table": json.loads(self.table.to_json(orient="records", force_ascii=False))},
                          ensure_ascii=False, default=str, **kw)

    def _repr_html_(self) -> str:
        s = self.summary
        head = (f"<p><b>Chuyển giao giữa đơn vị / Hand-overs</b>: {s.get('transfers', 0):,} "
                f"transfers in {s.get('cases', 0):,} of {s.get('n_dossiers', 0):,} dossiers, "
                f"{len(self.table):,} unit pairs</p>")
        return head + self.table.head(30).to_html(escape=True, index=False)

    def __repr__(self) -> str:
        s = self.summary
        return (f"HandoverReport({s.get('transfers', 0)} transfers, {len(self.table)} unit pairs, "
                f"{s.get('cases', 0)} dossiers)")


def handovers(log, *, procedure=None, ci: float = 0.95, n_boot: int = 1000,
              seed: int | None = 0, catalog=None) -> HandoverReport:
    """Unit-to-unit hand-overs with the waiting at each boundary and the share of the statutory
    budget it consumes. See the module docstring for the rules."""
    if S.GROUP not in log.events.columns:
        raise ConfigError("hand-overs need the unit column (org:group), which the log does not have")
    seg = segments(log)
    g, units = log.codes(S.GROUP)
    pmask = procedure_mask(log, procedure)
    scope = ~seg.is_first if pmask is None else (~seg.is_first & pmask)
    ho = scope & seg.handover
    sel = ho & (seg.owner == OWNER_AGENCY)
    idx = np.flatnonzero(sel)
    U = max(len(units), 1)
    src, dst = g[idx - 1], g[idx]
    pair = src * U + dst
    codes, upair = pd.factorize(pair)
    upair = np.asarray(upair)
    P = len(upair)
    wait = np.maximum(np.nan_to_num(seg.wait_s[idx], nan=0.0), 0.0)
    case = seg.case[idx]
    from .overdue import case_overdue
    od = case_overdue(log, catalog)
    L = log.calendar.seconds_per_day
    n_dossiers = int(np.unique(seg.case[scope]).size) if scope.any() else 0
    summary = {"n_dossiers": n_dossiers, "transfers": int(idx.size),
               "cases": int(np.unique(case).size), "procedure": procedure,
               "transfers_not_agency": int(np.count_nonzero(ho & (seg.owner != OWNER_AGENCY))),
               "budget_basis": od["basis"] if od is not None else None}
    cols = ["from_unit", "to_unit", "transfers", "cases", "wait_mean_h", "wait_mean_ci_low",
            "wait_mean_ci_high", "wait_median_h", "wait_total_h", "share_of_budget", "budget_n"]
    if P == 0:
        return HandoverReport(pd.DataFrame(columns=cols), summary, log)
    transfers = np.bincount(codes, minlength=P)
    tot = np.bincount(codes, weights=wait, minlength=P)
    med = group_quantiles(wait, codes, P, (0.5,))[:, 0]
    from .stats import bootstrap_mean_ci
    if n_boot and n_boot > 0:
        boot = bootstrap_mean_ci(wait / 3600.0, groups=(case, seg.case_ids),
                                 by=(codes, pd.RangeIndex(P)), n_boot=n_boot, ci=ci, seed=seed)
        lo, hi, ncases = boot["ci_low"].to_numpy(), boot["ci_high"].to_numpy(), boot["n"].to_numpy()
    else:
        lo = hi = np.full(P, np.nan)
        ncases = np.bincount(pd.unique(codes.astype(np.int64) * seg.n_cases + case) // seg.n_cases,
                             minlength=P)
    if od is not None:
        budget = od["budget_days"][case] * L
        okb = np.isfinite(budget) & (budget > 0)
        share = np.where(okb, wait / np.where(okb, budget, 1.0), 0.0)
        bn = np.bincount(codes, weights=okb.astype(np.float64), minlength=P)
        with np.errstate(invalid="ignore", divide="ignore"):
            sob = np.where(bn > 0, np.bincount(codes, weights=share, minlength=P) / bn, np.nan)
    else:
        bn = np.zeros(P)
        sob = np.full(P, np.nan)
    names = units.to_numpy(dtype=object)
    table = pd.DataFrame({
        "from_unit": names[upair // U], "to_unit": names[upair % U],
        "transfers": transfers.astype(np.int64), "cases": ncases.astype(np.int64),
        "wait_mean_h": tot / transfers / 3600.0, "wait_mean_ci_low": lo, "wait_mean_ci_high": hi,
        "wait_median_h": med / 3600.0, "wait_total_h": tot / 3600.0,
        "share_of_budget": sob, "budget_n": bn.astype(np.int64),
    })
    table = table.sort_values(["wait_total_h", "transfers"], ascending=False,
                              kind="stable").reset_index(drop=True)
    table.attrs.update({"procedure": procedure, "ci": ci, "n_boot": n_boot})
    return HandoverReport(table, summary, log)


make_module_callable(__name__, "handovers")
