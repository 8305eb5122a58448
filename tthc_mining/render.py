"""Maps people can read: process maps (and Petri nets) drawn with graphviz.

:func:`to_dot` turns a :class:`~tthc_mining.discovery.ProcessMap` into DOT source (no external
program needed); :func:`render` runs graphviz ``dot`` to make SVG or PNG. The map shows:

* nodes filled on a sequential colour scale (light yellow -> dark red) by the step's mean
  waiting time in working time, with a legend giving the range of every colour;
* edge width growing with the logarithm of the transition count; edge labels give the count
  (``kind="frequency"``) or the mean working time of the transition (``kind="performance"``);
* labels in Vietnamese (``lang="vi"``, default) or English (``lang="en"``), activity names as
  written (NFC-normalised, Vietnamese diacritics kept), long names wrapped;
* optional clusters by unit (``clusters="unit"``: every step in the box of its most frequent
  unit), optional highlighted edges (``highlight_edges={(source, target), ...}`` drawn in
  ``highlight_color``; the rework module uses this for back-edges);
* what the filters hid (``min_share``, ``top_variants``) in the legend, so a reader knows the
  map is not the whole log.

Every string that comes from the data goes into graphviz *HTML-like* labels after escaping
``& < > " '``, so an activity named ``<script>`` is drawn as text and appears in the SVG only as
``&lt;script&gt;``. Node and cluster identifiers are generated (``a0``, ``cluster_u1``), never
taken from the data.
"""
from __future__ import annotations

import math
import re
import shutil
import textwrap
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import ConfigError, MissingProgramError, TthcMiningError

__all__ = ["to_dot", "render", "pipe", "has_dot", "escape_html", "petri_net_dot",
           "PALETTE", "KINDS", "FORMATS", "LANGS"]

KINDS = ("frequency", "performance")
FORMATS = ("svg", "png", "dot")
LANGS = ("vi", "en")
#: sequential scale for mean waiting time (ColorBrewer YlOrRd, 7 classes)
PALETTE = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
_DARK_FROM = 4  # palette index from which labels are drawn in white
NO_WAIT_FILL = "#eeeeee"
DEFAULT_HIGHLIGHT = "#d62728"
FONT = "Helvetica,Arial,DejaVu Sans,sans-serif"
EDGE_COLOR = "#555555"
WRAP = 28

TEXT = {
    "vi": {
        "title_frequency": "Bản đồ quy trình — tần suất",
        "title_performance": "Bản đồ quy trình — thời gian xử lý",
        "summary": "{cases} hồ sơ, {events} sự kiện, {acts} bước",
        "procedure": "Thủ tục: {p}",
        "start": "Bắt đầu", "end": "Kết thúc",
        "legend": "Chú giải",
        "wait_scale": "Màu nút: thời gian chờ trung bình (giờ làm việc)",
        "no_wait": "không có thời gian chờ (chỉ là bước đầu)",
        "node_freq": "{n} lần", "node_perf": "chờ TB {d}", "first_only": "bước đầu hồ sơ",
        "hidden_acts": "Đã ẩn {n} bước không còn mũi tên nào (vẫn có trong bảng số liệu)",
        "hidden_ends": "Đã ẩn {n} mũi tên bắt đầu/kết thúc dưới {share} số hồ sơ",
        "width": "Độ dày mũi tên: số lần chuyển",
        "label_freq": "Số trên mũi tên: số lần chuyển",
        "label_perf": "Số trên mũi tên: thời gian chuyển trung bình (giờ làm việc)",
        "hidden_edges": "Đã ẩn {edges} mũi tên dưới {share} số lần chuyển ({trans} lần, {tshare})",
        "hidden_variants": "Chỉ vẽ {k} biến thể phổ biến nhất; đã ẩn {variants} biến thể "
                           "({cases} hồ sơ, {events} sự kiện)",
        "nothing_hidden": "Không ẩn gì: bản đồ đầy đủ",
        "highlight": "Mũi tên màu {color}: {label}",
        "highlight_default": "cạnh được đánh dấu",
        "calendar": "Lịch làm việc: {name}, {hours} giờ/ngày",
        "no_data": "Không có dữ liệu",
        "unit_none": "(không rõ đơn vị)",
        "sec": "giây", "min": "phút", "hour": "giờ", "day": "ngày", "wday": "ngày LV",
        "dec": ",", "thou": ".",
    },
    "en": {
        "title_frequency": "Process map — frequency",
        "title_performance": "Process map — performance",
        "summary": "{cases} dossiers, {events} events, {acts} steps",
        "procedure": "Procedure: {p}",
        "start": "Start", "end": "End",
        "legend": "Legend",
        "wait_scale": "Node colour: mean waiting time (working hours)",
        "no_wait": "no waiting time (first step only)",
        "node_freq": "{n}×", "node_perf": "mean wait {d}", "first_only": "first step",
        "hidden_acts": "Hidden: {n} steps left without arrows (still in the tables)",
        "hidden_ends": "Hidden: {n} start/end arrows below {share} of dossiers",
        "width": "Arrow width: number of transitions",
        "label_freq": "Arrow labels: number of transitions",
        "label_perf": "Arrow labels: mean working time of the transition",
        "hidden_edges": "Hidden: {edges} arrows below {share} of transitions ({trans} transitions, "
                        "{tshare})",
        "hidden_variants": "Only the {k} most frequent variants drawn; hidden {variants} variants "
                           "({cases} dossiers, {events} events)",
        "nothing_hidden": "Nothing hidden: complete map",
        "highlight": "Arrows in {color}: {label}",
        "highlight_default": "highlighted edges",
        "calendar": "Working calendar: {name}, {hours} h/day",
        "no_data": "No data",
        "unit_none": "(unknown unit)",
        "sec": "s", "min": "min", "hour": "h", "day": "d", "wday": "wd",
        "dec": ".", "thou": ",",
    },
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ====================================================================== text helpers
def escape_html(text: Any) -> str:
    """NFC-normalise and escape a string for a graphviz HTML-like label (and for SVG/HTML)."""
    t = unicodedata.normalize("NFC", str(text))
    t = _CONTROL.sub(" ", t)
    return (t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace('"', "&quot;").replace("'", "&#39;"))


def _lines(text: Any, width: int = WRAP) -> str:
    """Wrap a name at word boundaries; escaped lines joined with ``<BR/>``."""
    t = unicodedata.normalize("NFC", str(text)).replace("\r", " ").replace("\n", " ")
    parts = textwrap.wrap(t, width=width, break_long_words=True, break_on_hyphens=False) or [t]
    return '<BR ALIGN="CENTER"/>'.join(escape_html(p) for p in parts)


def _num(x: float, lang: str, digits: int = 0) -> str:
    tx = TEXT[lang]
    s = f"{x:,.{digits}f}"
    return s.replace(",", "\0").replace(".", tx["dec"]).replace("\0", tx["thou"])


def _pct(x: float, lang: str) -> str:
    v = 100.0 * x
    digits = 1 if 0 < v < 10 and abs(v - round(v)) >= 0.05 else 0
    return _num(v, lang, digits) + "%"


def _dur(hours: float, lang: str, hours_per_day: float, continuous: bool) -> str:
    """A working-time duration in the most readable unit."""
    tx = TEXT[lang]
    if hours is None or not np.isfinite(hours):
        return "–"
    if hours < 1 / 60:
        return f"{_num(hours * 3600, lang, 0)} {tx['sec']}"
    if hours < 1:
        return f"{_num(hours * 60, lang, 0)} {tx['min']}"
    if hours < hours_per_day:
        return f"{_num(hours, lang, 1)} {tx['hour']}"
    return f"{_num(hours / hours_per_day, lang, 1)} {tx['day' if continuous else 'wday']}"


def _check(kind: str, format: str, lang: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")


# ====================================================================== colour scale
def colour_classes(values: np.ndarray, n_classes: int = len(PALETTE)):
    """Quantile classes of the finite values: ``(class index per value (-1 for NaN),
    class bounds [(lo, hi)], palette colour per class)``."""
    v = np.asarray(values, dtype=np.float64)
    fin = np.isfinite(v)
    cls = np.full(v.shape, -1, dtype=np.int64)
    if not fin.any():
        return cls, [], []
    n_classes = max(1, min(n_classes, np.unique(v[fin]).size))
    breaks = np.unique(np.quantile(v[fin], np.linspace(0, 1, n_classes + 1)))
    if breaks.size == 1:
        cls[fin] = 0
        return cls, [(breaks[0], breaks[0])], [PALETTE[len(PALETTE) // 2]]
    k = breaks.size - 1
    cls[fin] = np.clip(np.searchsorted(breaks[1:-1], v[fin], side="right"), 0, k - 1)
    pal_idx = np.round(np.linspace(0, len(PALETTE) - 1, k)).astype(int)
    colours = [PALETTE[i] for i in pal_idx]
    return cls, [(breaks[i], breaks[i + 1]) for i in range(k)], colours


# ====================================================================== DOT of a process map
def to_dot(pm, *, kind: str = "frequency", lang: str = "vi", clusters: str | None = None,
           min_share: float | None = None, highlight_edges: Iterable[tuple[str, str]] | None = None,
           highlight_color: str = DEFAULT_HIGHLIGHT, highlight_label: str | None = None,
           title: str | None = None, legend: bool = True) -> str:
    """DOT source of a process map (see the module docstring). Needs no graphviz program."""
    import graphviz

    _check(kind, "dot", lang)
    if clusters not in (None, "unit"):
        raise ConfigError(f"clusters must be None or 'unit'; got {clusters!r}")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}|[A-Za-z]+", str(highlight_color)):
        raise ConfigError(f"highlight_color must be '#rrggbb' or a colour name; got {highlight_color!r}")
    tx = TEXT[lang]
    cal = pm.calendar or {}
    hpd = float(cal.get("hours_per_day", 8.0) or 8.0)
    continuous = cal.get("name") == "24x7"
    dur = lambda h: _dur(h, lang, hpd, continuous)  # noqa: E731

    acts = pm.activities
    dfg = pm.dfg
    notes: list[str] = []
    hidden = dict(pm.hidden or {})
    if min_share is not None:
        try:
            ms = float(min_share)
        except (TypeError, ValueError):
            raise ConfigError(f"min_share must be a number between 0 and 1, got {min_share!r}") from None
        if not 0.0 <= ms < 1.0:
            raise ConfigError(f"min_share must be between 0 (inclusive) and 1, got {min_share!r}")
        if ms > 0 and len(dfg):
            low = dfg["count"].to_numpy() < ms * max(pm.n_transitions, 1)
            prev_edges = int(hidden.get("edges", 0))
            prev_trans = int(hidden.get("transitions", 0))
            hidden["min_share"] = max(ms, float(hidden.get("min_share", 0.0)))
            hidden["edges"] = prev_edges + int(low.sum())
            hidden["transitions"] = prev_trans + int(dfg["count"].to_numpy()[low].sum())
            hidden["transition_share"] = hidden["transitions"] / max(pm.n_transitions, 1)
            dfg = dfg.loc[~low]
    if hidden.get("top_variants") is not None:
        notes.append(tx["hidden_variants"].format(
            k=_num(hidden["top_variants"], lang), variants=_num(hidden.get("variants", 0), lang),
            cases=_num(hidden.get("cases", 0), lang), events=_num(hidden.get("events", 0), lang)))
    if hidden.get("min_share"):
        notes.append(tx["hidden_edges"].format(
            edges=_num(hidden.get("edges", 0), lang), share=_pct(hidden["min_share"], lang),
            trans=_num(hidden.get("transitions", 0), lang),
            tshare=_pct(hidden.get("transition_share", 0.0), lang)))
    starts, ends = pm.start_activities, pm.end_activities
    if hidden.get("min_share") and len(acts):
        # keep the map readable: start/end arrows below the share (of dossiers) go too, and so
        # do the steps the filter left without any arrow; both are counted in the legend
        ms = float(hidden["min_share"])
        n_se = len(starts) + len(ends)
        starts = starts.loc[starts["share"] >= ms]
        ends = ends.loc[ends["share"] >= ms]
        visible = (set(dfg["source"]) | set(dfg["target"]) | set(starts["activity"])
                   | set(ends["activity"]))
        keep = acts["activity"].isin(visible).to_numpy()
        if (~keep).any():
            notes.append(tx["hidden_acts"].format(n=_num(int((~keep).sum()), lang)))
            acts = acts.loc[keep].reset_index(drop=True)
        if n_se - len(starts) - len(ends):
            notes.append(tx["hidden_ends"].format(n=_num(n_se - len(starts) - len(ends), lang),
                                                  share=_pct(ms, lang)))
    if not notes:
        notes.append(tx["nothing_hidden"])

    g = graphviz.Digraph("process_map", engine="dot")
    g.attr(rankdir="TB", fontname=FONT, fontsize="16", labelloc="t", nodesep="0.35",
           ranksep="0.45", bgcolor="white", outputorder="edgesfirst")
    g.attr("node", fontname=FONT, fontsize="12", shape="box", style="rounded,filled",
           color="#666666", penwidth="1")
    g.attr("edge", fontname=FONT, fontsize="10", color=EDGE_COLOR, fontcolor="#333333",
           arrowsize="0.7")
    head = title if title is not None else tx[f"title_{kind}"]
    sub = tx["summary"].format(cases=_num(pm.n_cases, lang), events=_num(pm.n_events, lang),
                               acts=_num(len(pm.activities), lang))
    if pm.procedure is not None:
        sub += " · " + tx["procedure"].format(p=pm.procedure)
    g.attr(label=f"<<B>{escape_html(head)}</B><BR/>"
                 f'<FONT POINT-SIZE="11">{escape_html(sub)}</FONT>>')

    if len(acts) == 0:
        g.node("nodata", label=f"<{escape_html(tx['no_data'])}>", style="rounded")
        return g.source

    # ---------------------------------------------------------------- nodes
    waits = acts["wait_mean_h"].to_numpy(dtype=np.float64)
    cls, bounds, colours = colour_classes(waits)
    ids = {name: f"a{i}" for i, name in enumerate(acts["activity"])}

    def node_args(i: int, row) -> dict:
        name = row.activity
        if kind == "frequency":
            stat = tx["node_freq"].format(n=_num(row.count, lang))
        elif np.isfinite(row.wait_mean_h):
            stat = tx["node_perf"].format(d=dur(row.wait_mean_h))
        else:
            stat = tx["first_only"]
        label = (f'<<B>{_lines(name)}</B><BR/><FONT POINT-SIZE="10">{escape_html(stat)}</FONT>>')
        c = cls[i]
        fill = colours[c] if c >= 0 else NO_WAIT_FILL
        pal = PALETTE.index(fill) if fill in PALETTE else 0
        return dict(label=label, fillcolor=fill,
                    fontcolor="white" if c >= 0 and pal >= _DARK_FROM else "black")

    rows = list(acts.itertuples(index=False))  # one per distinct step, not per event
    if clusters == "unit":
        if "unit" not in acts.columns:
            raise ConfigError("clusters='unit' needs a unit column (org:group) in the log")
        units = acts["unit"].astype(object).where(acts["unit"].notna(), None).tolist()
        order = list(dict.fromkeys(u for u in units if u is not None))
        for j, u in enumerate(order):
            with g.subgraph(name=f"cluster_u{j}") as c:
                c.attr(label=f"<<I>{escape_html(u)}</I>>", style="rounded,dashed",
                       color="#888888", fontsize="12", fontname=FONT)
                for i, row in enumerate(rows):
                    if units[i] == u:
                        c.node(ids[row.activity], **node_args(i, row))
        for i, row in enumerate(rows):
            if units[i] is None:
                g.node(ids[row.activity], **node_args(i, row))
    else:
        for i, row in enumerate(rows):
            g.node(ids[row.activity], **node_args(i, row))

    # ---------------------------------------------------------------- start / end
    with g.subgraph() as r:
        r.attr(rank="source")
        r.node("start", label=f"<{escape_html(tx['start'])}>", shape="ellipse", style="filled",
               fillcolor="#2ca02c", fontcolor="white", color="#2ca02c", fontsize="11")
    with g.subgraph() as r:
        r.attr(rank="sink")
        r.node("end", label=f"<{escape_html(tx['end'])}>", shape="ellipse", style="filled",
               fillcolor="#404040", fontcolor="white", color="#404040", fontsize="11")
    for df, is_start in ((starts, True), (ends, False)):
        for name, cnt in zip(df["activity"], df["count"]):
            if name not in ids:
                continue
            a, b = ("start", ids[name]) if is_start else (ids[name], "end")
            g.edge(a, b, style="dashed", color="#999999",
                   label=_num(cnt, lang) if kind == "frequency" else "")

    # ---------------------------------------------------------------- edges
    hl = {(unicodedata.normalize("NFC", str(s)), unicodedata.normalize("NFC", str(t)))
          for s, t in (highlight_edges or ())}
    if len(dfg):
        cnt = dfg["count"].to_numpy(dtype=np.float64)
        top = math.log1p(cnt.max())
        for r in dfg.itertuples(index=False):  # one per transition type, not per event
            if r.source not in ids or r.target not in ids:
                continue
            width = 1.0 + 5.0 * math.log1p(r.count) / top if top > 0 else 1.0
            label = _num(r.count, lang) if kind == "frequency" else dur(r.mean_h)
            attrs = dict(penwidth=f"{width:.2f}", label=label)
            if (unicodedata.normalize("NFC", str(r.source)),
                    unicodedata.normalize("NFC", str(r.target))) in hl:
                attrs.update(color=highlight_color, fontcolor=highlight_color,
                             penwidth=f"{width + 1.0:.2f}")
            g.edge(ids[r.source], ids[r.target], **attrs)

    # ---------------------------------------------------------------- legend
    if legend:
        trs = [f'<TR><TD COLSPAN="2" ALIGN="LEFT"><B>{escape_html(tx["wait_scale"])}</B></TD></TR>']
        for (lo, hi), col in zip(bounds, colours):
            rng = dur(lo) if lo == hi else f"{dur(lo)} – {dur(hi)}"
            trs.append(f'<TR><TD BGCOLOR="{col}" WIDTH="22" HEIGHT="12" FIXEDSIZE="TRUE"></TD>'
                       f'<TD ALIGN="LEFT">{escape_html(rng)}</TD></TR>')
        if (cls < 0).any():
            trs.append(f'<TR><TD BGCOLOR="{NO_WAIT_FILL}" WIDTH="22" HEIGHT="12" '
                       f'FIXEDSIZE="TRUE"></TD><TD ALIGN="LEFT">{escape_html(tx["no_wait"])}</TD></TR>')
        lines = [tx["width"], tx["label_freq"] if kind == "frequency" else tx["label_perf"]]
        if hl:
            lines.append(tx["highlight"].format(color=highlight_color,
                                                label=highlight_label or tx["highlight_default"]))
        if cal:
            lines.append(tx["calendar"].format(name=cal.get("name", "?"),
                                               hours=_num(hpd, lang, 0 if hpd == int(hpd) else 1)))
        lines.extend(notes)
        for ln in lines:
            trs.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT">{escape_html(ln)}</TD></TR>')
        table = ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
                 + "".join(trs) + "</TABLE>>")
        with g.subgraph(name="cluster_legend") as c:
            c.attr(label=f"<<B>{escape_html(tx['legend'])}</B>>", style="rounded",
                   color="#bbbbbb", fontsize="11", fontname=FONT)
            c.node("legend", label=table, shape="plaintext", style="", fontsize="10")
    return g.source


# ====================================================================== running dot
_MISSING = ("the graphviz program 'dot' was not found on PATH; install Graphviz "
            "(e.g. 'apt install graphviz', 'brew install graphviz', 'conda install graphviz') "
            "or use format='dot' to get the DOT source")


def has_dot() -> bool:
    """Whether the graphviz ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def pipe(source: str, format: str = "svg") -> bytes:
    """Run ``dot -T<format>`` on DOT source. Raises
    :class:`~tthc_mining.errors.MissingProgramError` naming 'dot' when it is not installed."""
    if format not in ("svg", "png", "pdf"):
        raise ConfigError(f"format must be 'svg', 'png' or 'pdf' for graphviz; got {format!r}")
    if not has_dot():
        raise MissingProgramError(_MISSING)
    import graphviz
    try:
        return graphviz.Source(source, engine="dot").pipe(format=format)
    except graphviz.ExecutableNotFound:
        raise MissingProgramError(_MISSING) from None
    except graphviz.CalledProcessError as exc:
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr
        raise TthcMiningError(f"graphviz 'dot' failed: {str(err).strip()[:500]}") from None


def _finish(source: str, format: str, path: Any) -> str | bytes:
    if format == "dot":
        out: str | bytes = source
    else:
        raw = pipe(source, format)
        out = raw.decode("utf-8") if format == "svg" else raw
    if path is not None:
        p = Path(path)
        if isinstance(out, str):
            p.write_text(out, encoding="utf-8")
        else:
            p.write_bytes(out)
    return out


def render(pm, *, kind: str = "frequency", format: str = "svg", lang: str = "vi",
           path: Any = None, **kw) -> str | bytes:
    """Render a process map: SVG text, PNG bytes or DOT source (``format``); also written to
    ``path`` when given. Keyword options as :func:`to_dot`."""
    _check(kind, format, lang)
    return _finish(to_dot(pm, kind=kind, lang=lang, **kw), format, path)


# ====================================================================== Petri nets
def petri_net_dot(net, initial_marking, final_marking, *, lang: str = "vi",
                  title: str | None = None) -> str:
    """DOT source of a pm4py Petri net with escaped labels: places as circles (tokens of the
    initial marking shown as ●, final places double-circled), visible transitions as boxes,
    silent transitions as small black boxes."""
    import graphviz

    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    g = graphviz.Digraph("petri_net", engine="dot")
    g.attr(rankdir="LR", fontname=FONT, fontsize="14", labelloc="t", bgcolor="white")
    if title:
        g.attr(label=f"<<B>{escape_html(title)}</B>>")
    g.attr("node", fontname=FONT, fontsize="11")
    ids: dict[Any, str] = {}
    places = sorted(net.places, key=lambda p: str(p.name))
    for i, p in enumerate(places):
        ids[p] = f"p{i}"
        tokens = initial_marking.get(p, 0) if initial_marking is not None else 0
        final = final_marking is not None and p in final_marking
        lab = "●" if tokens == 1 else (str(tokens) if tokens else "")
        g.node(ids[p], label=lab, shape="doublecircle" if final else "circle",  # generated text
               width="0.3", fixedsize="true", style="filled",
               fillcolor="#d9f2d9" if tokens else ("#f2d9d9" if final else "white"))
    trans = sorted(net.transitions, key=lambda t: (t.label is None, str(t.label), str(t.name)))
    for i, t in enumerate(trans):
        ids[t] = f"t{i}"
        if t.label is None:
            g.node(ids[t], label="", shape="box", style="filled", fillcolor="black",
                   width="0.15", height="0.4", fixedsize="true")
        else:
            g.node(ids[t], label=f"<{_lines(t.label)}>", shape="box", style="rounded,filled",
                   fillcolor="#f7f7f7")
    for a in sorted(net.arcs, key=lambda a: (ids[a.source], ids[a.target])):
        w = getattr(a, "weight", 1)
        g.edge(ids[a.source], ids[a.target], label=str(w) if w != 1 else "")
    return g.source
