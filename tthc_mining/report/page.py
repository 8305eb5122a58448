"""The HTML page of a report (jinja2, autoescaping on; inline CSS and SVG only).

Only two kinds of markup enter the page unescaped, both through :func:`safe_svg`: SVG made by
graphviz from labels :mod:`tthc_mining.render` escaped, and SVG written by matplotlib (which
escapes text). :func:`safe_svg` also refuses any SVG that contains a script, an event-handler
attribute, a ``foreignObject`` or a reference to an outside resource, so a failure of escaping
upstream cannot become script in the page.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from .charts import inline_svg
from .text import TEXT, t

__all__ = ["render_page", "safe_svg", "UnsafeSvgError"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_UNSAFE = re.compile(r"<\s*script|<\s*foreignObject|\son[a-z]+\s*=|javascript:|"
                     r"(?:xlink:)?href\s*=\s*[\"'](?!#)|<\s*iframe|<\s*image\b|@import",
                     re.IGNORECASE)


class UnsafeSvgError(ValueError):
    """An SVG meant for the page contains active content or an outside reference."""


def safe_svg(svg: str, prefix: str) -> Markup:
    """Inline SVG markup for the page (ids prefixed); raises :class:`UnsafeSvgError` if the SVG
    holds a script, an event handler, ``foreignObject`` or an outside reference."""
    s = inline_svg(svg, prefix)
    m = _UNSAFE.search(s)
    if m:
        raise UnsafeSvgError(f"refusing to inline an SVG containing {m.group(0)!r}")
    return Markup(s)


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def render_page(rep) -> str:
    """The full HTML page of a :class:`~tthc_mining.report.Report`."""
    lang = rep.lang
    svgs: dict[str, dict[str, Markup]] = {}
    notes: dict[str, list[str]] = {}
    for sid, sec in rep.sections.items():
        svgs[sid] = {}
        for name, svg in sec.charts.items():
            try:
                svgs[sid][name] = safe_svg(svg, f"{sid}-{name}")
            except UnsafeSvgError as exc:
                notes.setdefault(sid, []).append(str(exc))
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    tmpl = _env().get_template("report.html.j2")
    return tmpl.render(rep=rep, meta=rep.meta, sections=rep.sections, svgs=svgs, notes=notes,
                       tx=TEXT[lang], lang=lang, css=Markup(css), findings=rep.findings,
                       t=lambda k: t(k, lang))
