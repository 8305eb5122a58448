"""Process models from pm4py: inductive miner (Petri net, process tree, BPMN) and heuristics net.

``tm.models.inductive(log, noise_threshold=0.2)`` runs pm4py's inductive miner (IMf when the
noise threshold is above 0) on ``log.to_pm4py()`` and returns an :class:`InductiveModel` with the
process tree, the equivalent Petri net (net, initial and final marking) and BPMN, which can be
saved as ``.bpmn`` and ``.pnml``. ``tm.models.heuristics(log, dependency_threshold=0.5)`` returns
a :class:`HeuristicsModel` (heuristics net + Petri net), which copes better with noisy logs.

pm4py is imported inside the functions only. Models record the number of dossiers and events
they were mined from (the sample size behind them); :meth:`InductiveModel.fitness` gives
token-based replay fitness on the same log.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import schema as S
from .errors import ConfigError

__all__ = ["inductive", "heuristics", "InductiveModel", "HeuristicsModel"]


def _pm4py_frame(log, procedure: str | None) -> tuple[Any, pd.DataFrame]:
    if procedure is not None:
        log = log.filter(procedure=procedure)
    df = log.to_pm4py()
    keep = [c for c in (S.CASE, S.ACTIVITY, S.TIMESTAMP) if c in df.columns]
    return log, df[keep].copy()  # only what the miners read (a start column would change sorting)


def _unit_interval(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
    return v


def _count_net(net) -> dict:
    visible = sum(1 for t in net.transitions if t.label is not None)
    return {"places": len(net.places), "transitions": len(net.transitions),
            "visible_transitions": visible, "silent_transitions": len(net.transitions) - visible,
            "arcs": len(net.arcs)}


class _NetMixin:
    """Shared saving/rendering of a model that has ``net``, ``initial_marking``,
    ``final_marking``."""

    net: Any
    initial_marking: Any
    final_marking: Any
    kind: str = "model"

    def save_pnml(self, path: Any) -> Path:
        """Write the Petri net (with its markings) as PNML; returns the path."""
        import pm4py
        p = Path(path)
        pm4py.write_pnml(self.net, self.initial_marking, self.final_marking, str(p))
        return p

    def to_dot(self, lang: str = "vi") -> str:
        """DOT source of the Petri net (escaped labels; no graphviz program needed)."""
        from .render import petri_net_dot
        return petri_net_dot(self.net, self.initial_marking, self.final_marking, lang=lang,
                             title=self._title(lang))

    def render(self, format: str = "svg", lang: str = "vi", *, path: Any = None) -> str | bytes:
        """Draw the Petri net: SVG text, PNG bytes or DOT source (``format="dot"``)."""
        from .render import _finish
        if format not in ("svg", "png", "dot"):
            raise ConfigError(f"format must be 'svg', 'png' or 'dot'; got {format!r}")
        return _finish(self.to_dot(lang=lang), format, path)

    def _title(self, lang: str) -> str:
        return self.kind

    def fitness(self) -> dict:
        """Token-based replay fitness of the model on the log it was mined from
        (``pm4py.fitness_token_based_replay``), with the number of dossiers replayed."""
        import pm4py
        if self._log is None:
            raise ConfigError("this model was built without its log")
        _, df = _pm4py_frame(self._log, None)
        res = dict(pm4py.fitness_token_based_replay(df, self.net, self.initial_marking,
                                                     self.final_marking))
        res["n_cases"] = int(df[S.CASE].nunique())
        return res

    def _repr_svg_(self) -> str | None:
        from .errors import MissingProgramError
        try:
            return self.render(format="svg")
        except MissingProgramError:
            return None


@dataclass
class InductiveModel(_NetMixin):
    """Result of :func:`inductive`: ``tree`` (pm4py ProcessTree), ``net``, ``initial_marking``,
    ``final_marking`` (pm4py Petri net), ``bpmn`` (pm4py BPMN, built on first use)."""

    tree: Any
    net: Any
    initial_marking: Any
    final_marking: Any
    noise_threshold: float
    n_cases: int
    n_events: int
    n_activities: int
    procedure: str | None = None
    _log: Any = field(default=None, repr=False, compare=False)
    _bpmn: Any = field(default=None, repr=False, compare=False)
    kind = "inductive miner"

    @property
    def bpmn(self):
        if self._bpmn is None:
            import pm4py
            self._bpmn = pm4py.convert_to_bpmn(self.tree)
        return self._bpmn

    def save_bpmn(self, path: Any, *, auto_layout: bool = True) -> Path:
        """Write the BPMN model (with a graphviz layout unless ``auto_layout=False``) as a
        ``.bpmn`` XML file; returns the path. Names are written as XML text (escaped)."""
        import pm4py
        p = Path(path)
        bpmn = _layout_bpmn(self.bpmn) if auto_layout else self.bpmn
        pm4py.write_bpmn(bpmn, str(p), auto_layout=False)
        return p

    def _title(self, lang: str) -> str:
        from .render import _num
        return (f"Mô hình (inductive miner, ngưỡng nhiễu {_num(self.noise_threshold, 'vi', 2)}) — "
                f"{_num(self.n_cases, 'vi')} hồ sơ" if lang == "vi" else
                f"Inductive miner model (noise threshold {self.noise_threshold:g}) — "
                f"{self.n_cases:,} dossiers")

    def to_dict(self) -> dict:
        return {"model": "inductive", "noise_threshold": self.noise_threshold,
                "procedure": self.procedure, "n_cases": self.n_cases, "n_events": self.n_events,
                "n_activities": self.n_activities, "process_tree": str(self.tree),
                **_count_net(self.net)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def to_frame(self) -> pd.DataFrame:
        """The Petri net's transitions: ``transition, label, silent, inputs, outputs``."""
        return _transitions_frame(self.net)

    def _repr_html_(self) -> str:
        d = self.to_dict()
        svg = self._repr_svg_()
        head = (f"<p><b>InductiveModel</b> (noise threshold {d['noise_threshold']:g}): "
                f"{d['n_cases']:,} dossiers, {d['n_events']:,} events; Petri net with "
                f"{d['places']} places, {d['visible_transitions']} visible and "
                f"{d['silent_transitions']} silent transitions</p>"
                f"<pre>{html.escape(d['process_tree'])}</pre>")
        return head + (svg[svg.find("<svg"):] if svg else "")

    def __repr__(self) -> str:
        d = self.to_dict()
        return (f"InductiveModel(noise_threshold={self.noise_threshold:g}, "
                f"{self.n_cases:,} dossiers, {d['places']} places, "
                f"{d['transitions']} transitions)")


@dataclass
class HeuristicsModel(_NetMixin):
    """Result of :func:`heuristics`: ``heu_net`` (pm4py HeuristicsNet) and its Petri net."""

    heu_net: Any
    net: Any
    initial_marking: Any
    final_marking: Any
    dependency_threshold: float
    and_threshold: float
    loop_two_threshold: float
    n_cases: int
    n_events: int
    procedure: str | None = None
    _log: Any = field(default=None, repr=False, compare=False)
    kind = "heuristics miner"

    def _title(self, lang: str) -> str:
        from .render import _num
        return (f"Mạng heuristics (ngưỡng phụ thuộc {_num(self.dependency_threshold, 'vi', 2)}) — "
                f"{_num(self.n_cases, 'vi')} hồ sơ" if lang == "vi" else
                f"Heuristics net (dependency threshold {self.dependency_threshold:g}) — "
                f"{self.n_cases:,} dossiers")

    def to_frame(self) -> pd.DataFrame:
        """Dependencies kept by the miner: ``source, target, dependency, count``."""
        dep = getattr(self.heu_net, "dependency_matrix", {}) or {}
        dfg = getattr(self.heu_net, "dfg", {}) or {}
        rows = []
        for a, succ in dep.items():
            for b, v in succ.items():
                if v >= self.dependency_threshold and dfg.get((a, b), 0) > 0:
                    rows.append((a, b, float(v), int(dfg.get((a, b), 0))))
        df = pd.DataFrame(rows, columns=["source", "target", "dependency", "count"])
        return df.sort_values(["dependency", "count"], ascending=False,
                              kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict:
        return {"model": "heuristics", "dependency_threshold": self.dependency_threshold,
                "and_threshold": self.and_threshold, "loop_two_threshold": self.loop_two_threshold,
                "procedure": self.procedure, "n_cases": self.n_cases, "n_events": self.n_events,
                **_count_net(self.net),
                "dependencies": json.loads(self.to_frame().to_json(orient="records",
                                                                   force_ascii=False))}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def _repr_html_(self) -> str:
        svg = self._repr_svg_()
        head = (f"<p><b>HeuristicsModel</b> (dependency threshold {self.dependency_threshold:g}): "
                f"{self.n_cases:,} dossiers, {self.n_events:,} events</p>")
        return head + (svg[svg.find("<svg"):] if svg else
                       self.to_frame().head(30).to_html(escape=True, index=False))

    def __repr__(self) -> str:
        return (f"HeuristicsModel(dependency_threshold={self.dependency_threshold:g}, "
                f"{self.n_cases:,} dossiers, {len(self.net.transitions)} transitions)")


_LAYOUT_SAFE = str.maketrans({"<": "‹", ">": "›", "\\": "∖", '"': "”"})


def _layout_bpmn(bpmn):
    """pm4py's BPMN layouter hands task names to graphviz unescaped (a name like ``<b>`` is
    read as an HTML label and breaks ``dot``). Lay out with look-alike characters of the same
    width, then put the real names back; the XML exporter escapes them properly."""
    from pm4py.objects.bpmn.layout import layouter
    renamed = []
    for node in bpmn.get_nodes():  # one per model node, not per event
        name = node.get_name()
        if isinstance(name, str):
            safe = name.translate(_LAYOUT_SAFE)
            if safe != name:
                node.set_name(safe)
                renamed.append((node, name))
    try:
        return layouter.apply(bpmn)
    finally:
        for node, name in renamed:
            node.set_name(name)


def _transitions_frame(net) -> pd.DataFrame:
    rows = [(t.name, t.label, t.label is None, len(t.in_arcs), len(t.out_arcs))
            for t in net.transitions]  # one per model transition, not per event
    df = pd.DataFrame(rows, columns=["transition", "label", "silent", "inputs", "outputs"])
    return df.sort_values(["silent", "label", "transition"], kind="stable",
                          na_position="last").reset_index(drop=True)


def inductive(log, noise_threshold: float = 0.2, *, procedure: str | None = None,
              disable_fallthroughs: bool = False) -> InductiveModel:
    """Inductive miner on a :class:`~tthc_mining.DossierLog`.

    ``noise_threshold`` (0..1): 0 is the classic inductive miner (every behaviour kept, perfect
    fitness); above 0 it is IMf, which drops infrequent directly-follows relations (0.2 is a
    common choice for administrative logs with rare deviations). ``procedure`` mines one
    procedure only. Returns an :class:`InductiveModel` (process tree, Petri net, BPMN).
    """
    import pm4py

    nt = _unit_interval("noise_threshold", noise_threshold)
    log, df = _pm4py_frame(log, procedure)
    if df.empty:
        raise ConfigError("cannot mine a model from an empty log")
    tree = pm4py.discover_process_tree_inductive(df, noise_threshold=nt,
                                                 disable_fallthroughs=disable_fallthroughs)
    net, im, fm = pm4py.convert_to_petri_net(tree)
    return InductiveModel(tree=tree, net=net, initial_marking=im, final_marking=fm,
                          noise_threshold=nt, n_cases=int(df[S.CASE].nunique()),
                          n_events=len(df), n_activities=int(df[S.ACTIVITY].nunique()),
                          procedure=procedure, _log=log)


def heuristics(log, dependency_threshold: float = 0.5, *, and_threshold: float = 0.65,
               loop_two_threshold: float = 0.5, procedure: str | None = None) -> HeuristicsModel:
    """Heuristics miner on a :class:`~tthc_mining.DossierLog` (robust to noise: a relation is
    kept when its dependency measure reaches ``dependency_threshold``). Returns a
    :class:`HeuristicsModel` with the heuristics net and its Petri net."""
    import pm4py

    dt = _unit_interval("dependency_threshold", dependency_threshold)
    at = _unit_interval("and_threshold", and_threshold)
    lt = _unit_interval("loop_two_threshold", loop_two_threshold)
    log, df = _pm4py_frame(log, procedure)
    if df.empty:
        raise ConfigError("cannot mine a model from an empty log")
    heu = pm4py.discover_heuristics_net(df, dependency_threshold=dt, and_threshold=at,
                                        loop_two_threshold=lt)
    net, im, fm = pm4py.discover_petri_net_heuristics(df, dependency_threshold=dt,
                                                      and_threshold=at, loop_two_threshold=lt)
    return HeuristicsModel(heu_net=heu, net=net, initial_marking=im, final_marking=fm,
                           dependency_threshold=dt, and_threshold=at, loop_two_threshold=lt,
                           n_cases=int(df[S.CASE].nunique()), n_events=len(df),
                           procedure=procedure, _log=log)
