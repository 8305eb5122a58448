"""Charts for the report: matplotlib figures returned as inline SVG text.

Every chart is drawn on a :class:`matplotlib.figure.Figure` (no pyplot, no global state) and
saved as SVG with text kept as ``<text>`` elements (``svg.fonttype = "none"``: searchable,
small, and rendered with the reader's Vietnamese-capable fonts). Labels that come from the data
are passed through :func:`plain` (NFC, control characters removed, ``$`` escaped so that
matplotlib's mathtext never interprets them); matplotlib escapes ``& < > "`` when it writes the
SVG, so a step named ``<script>`` is drawn as text. :func:`inline_svg` removes the XML prologue
and prefixes every ``id`` so that several figures can live in one HTML page.
"""
from __future__ import annotations

import io
import re
import textwrap
import unicodedata
from typing import Any, Sequence

import numpy as np

from .text import fmt_num, fmt_pct

__all__ = ["inline_svg", "plain", "ranked_ci", "bars", "paired_rates", "COLORS"]

COLORS = {"main": "#2b6cb0", "second": "#dd6b20", "ci": "#1a202c", "grid": "#e2e8f0",
          "muted": "#718096"}
_RC = {"svg.fonttype": "none", "svg.hashsalt": "tthc_mining", "font.family": "sans-serif",
       "font.sans-serif": ["DejaVu Sans"],  # shipped with matplotlib: Vietnamese glyphs, no lookup
       "font.size": 9.0, "axes.titlesize": 10.0, "text.parse_math": False,
       "axes.spines.top": False, "axes.spines.right": False}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def plain(text: Any, width: int = 48) -> str:
    """A data string made safe and short for an axis label."""
    s = unicodedata.normalize("NFC", str(text))
    s = _CONTROL.sub(" ", s).replace("\n", " ").replace("\r", " ")
    if len(s) > width:
        s = s[: width - 1].rstrip() + "…"
    return s.replace("$", r"\$")


def _wrap(text: str, width: int = 34) -> str:
    parts = textwrap.wrap(text, width=width, break_long_words=True) or [text]
    return "\n".join(parts[:2]) + ("…" if len(parts) > 2 else "")


def inline_svg(svg: str | bytes, prefix: str) -> str:
    """SVG text ready to paste into HTML: no XML prologue/DOCTYPE/comments, ids prefixed with
    ``prefix`` (and the references to them), so figures in one page never share an id."""
    if isinstance(svg, bytes):
        svg = svg.decode("utf-8")
    s = _PROLOGUE.sub("", svg, count=1)
    s = _COMMENT.sub("", s)
    s = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', s)
    s = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", s)
    return s.strip()


def _save(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


def _figure(n_rows: int, *, width: float = 7.2, per_row: float = 0.32, min_h: float = 2.0):
    import matplotlib
    from matplotlib.figure import Figure
    ctx = matplotlib.rc_context(_RC)
    ctx.__enter__()
    fig = Figure(figsize=(width, max(min_h, 0.9 + per_row * n_rows)))
    return ctx, fig


def ranked_ci(names: Sequence[Any], values: Sequence[float], low: Sequence[float] | None,
              high: Sequence[float] | None, *, xlabel: str, title: str, lang: str = "vi",
              digits: int = 1, percent: bool = False, notes: Sequence[str] | None = None) -> str:
    """Horizontal bars (largest on top) with interval whiskers and the value printed at the
    end of each bar: bottleneck waits, savings of cuts, shares with their intervals."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    lo = np.asarray(low, dtype=np.float64) if low is not None else np.full(n, np.nan)
    hi = np.asarray(high, dtype=np.float64) if high is not None else np.full(n, np.nan)
    ctx, fig = _figure(n)
    try:
        ax = fig.subplots()
        y = np.arange(n)[::-1]
        ax.barh(y, np.nan_to_num(v), color=COLORS["main"], height=0.6, alpha=0.85)
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            err = np.vstack([np.clip(v[ok] - lo[ok], 0, None), np.clip(hi[ok] - v[ok], 0, None)])
            ax.errorbar(v[ok], y[ok], xerr=err, fmt="none", ecolor=COLORS["ci"], elinewidth=1,
                        capsize=3)
        ax.set_yticks(y)
        ax.set_yticklabels([_wrap(plain(s)) for s in names])
        top = np.nanmax(np.r_[np.nan_to_num(v), hi[ok]] if ok.any() else np.nan_to_num(v)) if n else 1.0
        top = top if np.isfinite(top) and top > 0 else 1.0
        for yi, vi_, hi_ in zip(y, v, hi):
            if np.isfinite(vi_):
                label = fmt_pct(vi_, lang) if percent else fmt_num(vi_, digits, lang)
                xpos = (hi_ if np.isfinite(hi_) else vi_) + 0.01 * top
                ax.text(xpos, yi, " " + label, va="center", fontsize=8, color=COLORS["ci"])
        ax.set_xlim(0, top * 1.18)
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        ax.grid(axis="x", color=COLORS["grid"])
        ax.set_axisbelow(True)
        if percent:
            ax.xaxis.set_major_formatter(lambda x, pos: fmt_pct(x, lang, 0))
        if notes:
            fig.text(0.0, -0.02, "\n".join(plain(s, 140) for s in notes), fontsize=7,
                     color=COLORS["muted"], va="top")
        return _save(fig)
    finally:
        ctx.__exit__(None, None, None)


def bars(names: Sequence[Any], values: Sequence[float], *, xlabel: str, title: str,
         lang: str = "vi", digits: int = 1) -> str:
    """Plain horizontal bars, largest on top."""
    return ranked_ci(names, values, None, None, xlabel=xlabel, title=title, lang=lang,
                     digits=digits)


def paired_rates(names: Sequence[Any], a: Sequence[float], a_lo: Sequence[float],
                 a_hi: Sequence[float], b: Sequence[float], b_lo: Sequence[float],
                 b_hi: Sequence[float], *, labels: tuple[str, str], title: str,
                 lang: str = "vi") -> str:
    """Two rates per row (e.g. on time as reported vs recomputed) with their intervals."""
    n = len(names)
    ctx, fig = _figure(n, per_row=0.45)
    try:
        ax = fig.subplots()
        y = np.arange(n)[::-1].astype(float)
        h = 0.36
        for off, vals, lo, hi, color, lab in ((h / 2, a, a_lo, a_hi, COLORS["muted"], labels[0]),
                                              (-h / 2, b, b_lo, b_hi, COLORS["main"], labels[1])):
            v = np.asarray(vals, dtype=np.float64)
            lo = np.asarray(lo, dtype=np.float64)
            hi = np.asarray(hi, dtype=np.float64)
            ax.barh(y + off, np.nan_to_num(v), height=h, color=color, label=plain(lab, 80))
            ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                err = np.vstack([np.clip(v[ok] - lo[ok], 0, None), np.clip(hi[ok] - v[ok], 0, None)])
                ax.errorbar(v[ok], (y + off)[ok], xerr=err, fmt="none", ecolor=COLORS["ci"],
                            elinewidth=0.9, capsize=2)
        ax.set_yticks(y)
        ax.set_yticklabels([_wrap(plain(s)) for s in names])
        ax.set_xlim(0, 1.05)
        ax.xaxis.set_major_formatter(lambda x, pos: fmt_pct(x, lang, 0))
        ax.set_title(title, loc="left")
        ax.grid(axis="x", color=COLORS["grid"])
        ax.set_axisbelow(True)
        ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.06 - 0.25 / max(n, 1)), ncol=2,
                  frameon=False, fontsize=8)
        return _save(fig)
    finally:
        ctx.__exit__(None, None, None)
