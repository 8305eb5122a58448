"""One report for the reform team: ``tm.report(log)`` and ``tthc-mining report LOG -o report.html``.

The report is a single self-contained HTML file (inline CSS and SVG, no script, no font or
image from the network, printable) with, in order:

1. the KPI summary as a province reports it and as recomputed from raw events
   (:func:`tthc_mining.summary`);
2. the process map, frequency and performance (:func:`tthc_mining.discover`, graphviz);
3. the bottleneck ranking with intervals (:func:`tthc_mining.bottlenecks`);
4. hand-overs between units (:func:`tthc_mining.handovers`);
5. overdue attribution per unit (:func:`tthc_mining.overdue_attribution`);
6. rework loops and the hidden clock (:func:`tthc_mining.rework`);
7. the ranked cuts with savings in working days and VND and their intervals
   (:func:`tthc_mining.suggest_cuts` + :func:`tthc_mining.score_cuts`; a clear note when the
   cut engines are not available);
8. data quality (``log.quality``);
9. a methods section stating every definition and assumption, with this run's parameters.

Vietnamese by default, English with ``lang="en"``. The same results go to an Excel workbook
(:meth:`Report.to_excel`, one sheet per table, Vietnamese headers, formula-injection safe) and
to a JSON document (:meth:`Report.to_json`) that follows the versioned JSON Schema
``tthc_mining/schemas/report-1.0.json`` (``schema_version: "1.0"``).

Every string from the data is escaped (jinja2 autoescaping for the page; graphviz labels by
:mod:`tthc_mining.render`; matplotlib escapes chart text), so an activity named
``<script>alert(1)</script>`` is shown as text.
"""
from __future__ import annotations

import html as _html
import json
import sys as _sys
import time
import types as _types
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..errors import ConfigError
from .build import Section, compute, cuts_available
from .text import LANGS, SECTIONS, TEXT, fmt_ci, fmt_num, fmt_pct, t

__all__ = ["report", "Report", "SCHEMA_VERSION", "SECTIONS", "load_cuts", "cuts_available"]

SCHEMA_VERSION = "1.0"
FORMATS = ("html", "json", "xlsx")


def load_cuts(path):
    """Candidate cuts from a YAML/JSON file (see :mod:`tthc_mining.report.cutsfile`)."""
    from .cutsfile import load_cuts as _load
    return _load(path)


@dataclass
class Report:
    """The computed report: sections (tables, charts, JSON payload), metadata and the page.

    ``html`` is the self-contained page; :meth:`save` writes it (or the JSON/Excel forms, by
    the file's suffix); :meth:`to_dict`/:meth:`to_json` give the versioned JSON document;
    :meth:`to_excel` the workbook; :meth:`to_frame` one row per section (status, rows, time).
    """

    sections: dict[str, Section]
    meta: dict
    lang: str = "vi"
    findings: list[str] = field(default_factory=list)
    html: str = field(default="", repr=False)

    # ------------------------------------------------------------------ views
    @property
    def errors(self) -> dict[str, str]:
        """``{section id: error message}`` for the sections that failed."""
        return {k: s.error or s.note or "" for k, s in self.sections.items() if s.status == "error"}

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every result table by id (English column keys, full length)."""
        out: dict[str, pd.DataFrame] = {}
        for s in self.sections.values():
            out.update(s.tables)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per section: ``section, title, status, tables, rows, seconds, note``."""
        rows = []
        for s in self.sections.values():
            rows.append({"section": s.id, "title": TEXT[self.lang].get(s.id, s.id),
                         "status": s.status, "tables": len(s.tables),
                         "rows": int(sum(len(df) for df in s.tables.values() if df is not None)),
                         "seconds": round(s.seconds, 3), "note": s.note})
        return pd.DataFrame(rows, columns=["section", "title", "status", "tables", "rows",
                                           "seconds", "note"])

    def to_dict(self) -> dict:
        """The JSON document (schema ``report-1.0.json``)."""
        m = self.meta
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "generator": {"name": "tthc_mining", "version": m["version"]},
            "created": m["created"],
            "lang": self.lang,
            "title": m["title"],
            "source": m["source"],
            "procedure": m["procedure"],
            "as_of": m["as_of_iso"],
            "log": {"n_dossiers": m["n_dossiers"], "n_events": m["n_events"],
                    "first_event": m["first_event"], "last_event": m["last_event"],
                    "catalog": m["catalog"], "calendar": m["calendar"]},
            "params": m["params"],
            "sections": [{"id": s.id, "title": TEXT[self.lang].get(s.id, s.id),
                          "status": s.status, "note": s.note, "seconds": round(s.seconds, 3)}
                         for s in self.sections.values()],
            "findings": list(self.findings),
        }
        for s in self.sections.values():
            if s.data:
                doc[s.id] = s.data
        return doc

    def to_json(self, **kw) -> str:
        from .views import jsonable
        kw.setdefault("ensure_ascii", False)
        return json.dumps(jsonable(self.to_dict()), **kw)

    def to_excel(self, path: str | Path, *, lang: str | None = None) -> Path:
        """All tables in one .xlsx workbook (one sheet per table, Vietnamese headers)."""
        from .tables import write_excel
        return write_excel(self, path, lang=lang)

    def validate(self) -> None:
        """Check :meth:`to_dict` against the packaged JSON Schema (needs ``jsonschema``)."""
        from .tables import validate
        validate(json.loads(self.to_json()))

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the report: ``format`` ``html`` / ``json`` / ``xlsx`` (default: from the
        file's suffix, ``.html`` when there is none)."""
        p = Path(path)
        fmt = format or _format_of(p)
        if fmt == "html":
            p.write_text(self.html, encoding="utf-8")
        elif fmt == "json":
            p.write_text(self.to_json(indent=1), encoding="utf-8")
        elif fmt == "xlsx":
            self.to_excel(p)
        else:
            raise ConfigError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
        return p

    # ------------------------------------------------------------------ notebook display
    def _repr_html_(self) -> str:
        """The page in an iframe (its styles stay inside), with a one-line header."""
        head = (f"<p><b>{_html.escape(self.meta['title'])}</b> — {_html.escape(str(self.meta['source']))}: "
                f"{self.meta['n_dossiers']:,} {t('dossiers', self.lang)}; "
                + ", ".join(f"{_html.escape(s.id)}: {_html.escape(s.status)}" for s in self.sections.values())
                + "</p>")
        return (head + '<iframe style="width:100%;height:720px;border:1px solid #ccc" '
                f'srcdoc="{_html.escape(self.html, quote=True)}"></iframe>')

    def __repr__(self) -> str:
        st = ", ".join(f"{k}={s.status}" for k, s in self.sections.items())
        return f"Report({self.meta['source']}: {self.meta['n_dossiers']:,} dossiers; {st})"


def _format_of(p: Path) -> str:
    suf = p.suffix.lower().lstrip(".")
    if suf in ("htm", "html", ""):
        return "html"
    if suf in ("json", "xlsx"):
        return suf
    raise ConfigError(f"cannot tell the report format from {p.name!r}: use .html, .json or .xlsx")


def _fmt_time(ts: Any, lang: str, with_time: bool = True) -> str | None:
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return None
    ts = pd.Timestamp(ts)
    if lang == "vi":
        return ts.strftime("%H:%M %d/%m/%Y" if with_time else "%d/%m/%Y")
    return ts.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _findings(sections: dict[str, Section], lang: str) -> list[str]:
    out = []
    s = sections.get("summary")
    if s is not None and s.status == "ok" and "kpi" in s.tables:
        k = s.tables["kpi"].set_index("indicator")
        rep, act = k.at["on_time_rate_reported", "value"], k.at["on_time_rate_actual", "value"]
        gap = k.at["gap", "value"]
        if pd.notna(rep) and pd.notna(act):
            out.append(t("finding_gap", lang).format(rep=fmt_pct(rep, lang), act=fmt_pct(act, lang),
                                                     gap=fmt_num(100 * gap, 1, lang)))
    b = sections.get("bottlenecks")
    if b is not None and b.status == "ok" and len(b.tables.get("bottlenecks_activity", ())):
        r = b.tables["bottlenecks_activity"].iloc[0]
        name = str(r["activity"]) + (f" · {r['unit']}" if isinstance(r.get("unit"), str) else "")
        out.append(t("finding_bn", lang).format(
            name=name, total=fmt_num(r["total_wait_h"], 0, lang), mean=fmt_num(r["wait_mean_h"], 1, lang),
            ci=fmt_ci(r.get("wait_mean_ci_low"), r.get("wait_mean_ci_high"), lang)))
    o = sections.get("overdue")
    if o is not None and o.status == "ok" and len(o.tables.get("overdue_unit", ())):
        r = o.tables["overdue_unit"].iloc[0]
        if pd.notna(r["overdue_days_caused"]) and r["overdue_days_caused"] > 0:
            out.append(t("finding_od", lang).format(name=str(r["unit"]),
                                                    days=fmt_num(r["overdue_days_caused"], 1, lang),
                                                    n=fmt_num(r["overdue_dossiers"], 0, lang)))
    rw = sections.get("rework")
    if rw is not None and rw.status == "ok" and len(rw.tables.get("rework_summary", ())):
        sm = rw.tables["rework_summary"]
        row = sm.loc[(sm["scope"] == "(all)") & (sm["metric"] == "share_with_loop")]
        if len(row):
            r = row.iloc[0]
            out.append(t("finding_rw", lang).format(share=fmt_pct(r["value"], lang),
                                                    ci=fmt_ci(r["ci_low"], r["ci_high"], lang, pct=True)))
    c = sections.get("cuts")
    if c is not None and c.status == "ok" and len(c.tables.get("cuts_ranked", ())):
        r = c.tables["cuts_ranked"].iloc[0]
        lab = r["label_vi"] if lang == "vi" else r["label_en"]
        if isinstance(r.get("procedure"), str) and r.get("procedure"):
            lab = f"{lab} ({r['procedure']})"
        vnd, days_cut = r.get("statutory_cost_saved_vnd_per_year"), r.get("statutory_days_saved")
        same_deadline = bool(pd.notna(vnd) and pd.notna(days_cut) and vnd == 0 and days_cut == 0)
        out.append(t("finding_cut_same_deadline" if same_deadline else "finding_cut", lang).format(
            label=lab, days=fmt_num(r.get("saved_mean_days"), 2, lang),
            ci=fmt_ci(r.get("saved_ci_low"), r.get("saved_ci_high"), lang, digits=2),
            vnd=fmt_num(vnd, 0, lang)))
    return out


def report(log, *, procedure: str | None = None, catalog: Any = None, lang: str = "vi",
           as_of: Any = None, path: str | Path | None = None, format: str | None = None,
           sections: Iterable[str] | None = None, cuts: Any = None, cost: Any = None,
           cuts_method: str = "auto", top: int = 15, ci: float = 0.95, n_boot: int | None = None,
           seed: int = 0, on_error: str = "note", progress: Any = False,
           map_max_edges: int = 80, bottlenecks_by: Iterable[str] = ("activity", "unit"),
           max_cuts: int | None = 12, parallel: Any = "auto") -> Report:
    """Build the report of a :class:`~tthc_mining.DossierLog` (see the module docstring).

    Parameters
    ----------
    procedure:
        Restrict everything to one procedure code (``log.filter(procedure=...)``).
    catalog:
        A :class:`~tthc_mining.ProcedureCatalog` (or a path to one) for deadlines and step
        allotments; default ``log.catalog``.
    lang:
        ``"vi"`` (default) or ``"en"``: headings, labels, number format.
    as_of:
        Date of the statuses (default: the log's last timestamp).
    path, format:
        Also write the report there (``html``/``json``/``xlsx``, default from the suffix).
    sections:
        Which sections to compute (default all, :data:`SECTIONS`); ``"methods"`` is always
        added, ``"quality"`` too when the full report is asked for.
    cuts:
        ``None``: score the cuts :func:`tthc_mining.suggest_cuts` proposes; ``False``: leave the
        cuts out; a list of cuts, a frame with a ``cut`` (and ``procedure``) column, or the path
        of a YAML/JSON cuts file (:func:`load_cuts`).
    cost:
        :class:`tthc_mining.CostParams` for the VND figures (default: the provinces' 40.000
        đ/giờ, 8 h/day).
    cuts_method:
        ``"auto"``, ``"replay"`` or ``"simulate"`` (passed to :func:`tthc_mining.score_cuts`).
    max_cuts:
        With suggested cuts, score only the ``max_cuts`` (12) suggestions with the largest potential
        (``None``: all; the section says how many were left unscored). Cuts you give are all
        scored.
    top:
        Rows shown per table in the page (the Excel/JSON forms have every row).
    ci, n_boot, seed:
        Interval level, bootstrap replicates (default: each analysis's own default) and seed.
    on_error:
        ``"note"`` (default): a failing analysis becomes a section with the error message
        (listed in :attr:`Report.errors`); ``"raise"``: re-raise it.
    progress:
        ``True`` for a progress bar on stderr, or a callable ``f(section, i, n)``.
    map_max_edges:
        Draw at most about this many arrows in the process map (rarer ones are hidden and
        counted in the map's legend).
    bottlenecks_by:
        The bottleneck rankings to compute (``"activity"``, ``"transition"``, ``"unit"``,
        ``"resource"``); the first is drawn and shown first.

    Notes
    -----
    Each section keeps the analyses' own result objects in ``section.objects`` (e.g.
    ``rep.sections["process_map"].objects["map"]`` is the :class:`~tthc_mining.ProcessMap`).
    """
    from ..log import DossierLog
    from .. import __version__
    if not isinstance(log, DossierLog):
        raise ConfigError(f"tm.report expects a DossierLog (tm.read_log(...)), not {type(log).__name__}")
    if lang not in LANGS:
        raise ConfigError(f"lang must be 'vi' or 'en', not {lang!r}")
    if on_error not in ("note", "raise"):
        raise ConfigError(f"on_error must be 'note' or 'raise', not {on_error!r}")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ConfigError(f"top must be a positive integer, not {top!r}")
    if not 0.0 < float(ci) < 1.0:
        raise ConfigError(f"ci must be between 0 and 1, not {ci!r}")
    if n_boot is not None and (not isinstance(n_boot, int) or n_boot < 1):
        raise ConfigError(f"n_boot must be a positive integer or None, not {n_boot!r}")
    bottlenecks_by = (bottlenecks_by,) if isinstance(bottlenecks_by, str) else tuple(bottlenecks_by)
    bad = [b for b in bottlenecks_by if b not in ("activity", "transition", "unit", "resource")]
    if bad or not bottlenecks_by:
        raise ConfigError(f"bottlenecks_by takes 'activity', 'transition', 'unit', 'resource'; got {bad or '()'}")
    if max_cuts is not None and (not isinstance(max_cuts, int) or isinstance(max_cuts, bool) or max_cuts < 1):
        raise ConfigError(f"max_cuts must be a positive integer or None, not {max_cuts!r}")
    if format is not None and format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if sections is None:
        wanted = set(SECTIONS)
    else:
        wanted = {str(s) for s in ([sections] if isinstance(sections, str) else sections)}
        unknown = wanted - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
        wanted.add("methods")
    if cuts is False:
        wanted.discard("cuts")
    if catalog is not None:
        if isinstance(catalog, (str, Path)):
            from ..catalog import ProcedureCatalog
            catalog = ProcedureCatalog.load(catalog)
        log = DossierLog(events=log.events, quality=log.quality, calendar=log.calendar,
                         catalog=catalog, source=log.source)
    if procedure is not None:
        log = log.filter(procedure=str(procedure))
    cut_obj = None if cuts is None or cuts is False else cuts
    if isinstance(cut_obj, (str, Path)):
        cf = load_cuts(cut_obj)
        cut_obj = cf.to_frame() if any(p is not None for p in cf.procedures) else cf.cuts
        if cost is None:
            cost = cf.cost
    t0 = time.perf_counter()
    opt = {"lang": lang, "as_of": as_of, "ci": float(ci), "n_boot": n_boot, "seed": int(seed),
           "top": top, "cuts": cut_obj, "cost": cost, "cuts_method": cuts_method,
           "map_max_edges": int(map_max_edges), "bottlenecks_by": tuple(bottlenecks_by),
           "max_cuts": max_cuts}
    ev = log.events
    from .. import schema as S
    first = ev[S.TIMESTAMP].min() if len(ev) else None
    last = ev[S.TIMESTAMP].max() if len(ev) else None
    # the date of the statuses: the summary's (it resolves as_of like tm.timing does)
    as_of_ts = None
    if "summary" in wanted:
        pass  # filled in after the summary ran
    elif as_of is not None:
        as_of_ts = pd.Timestamp(as_of)
    else:
        as_of_ts = last
    opt["_as_of_text"] = _fmt_time(as_of_ts, lang) if as_of_ts is not None else None
    if parallel not in ("auto", True, False):
        raise ConfigError(f"parallel must be 'auto', True or False, not {parallel!r}")
    secs = compute(log, wanted - {"methods"}, opt, on_error=on_error, progress=progress,
                   parallel=parallel)
    if "summary" in secs and secs["summary"].status == "ok":
        as_of_ts = pd.Timestamp(secs["summary"].data.get("as_of")) if secs["summary"].data.get("as_of") else as_of_ts
    opt["_as_of_text"] = _fmt_time(as_of_ts, lang) if as_of_ts is not None else None
    secs.update(compute(log, {"methods"}, opt, on_error=on_error))
    cal = log.calendar.to_dict() if hasattr(log.calendar, "to_dict") else {}
    meta = {
        "title": t("title", lang), "source": str(log.source),
        "procedure": None if procedure is None else str(procedure),
        "n_dossiers": int(log.n_cases), "n_events": int(log.n_events),
        "size_text": (f"{fmt_num(log.n_cases, 0, lang)} {t('dossiers', lang)}, "
                      f"{fmt_num(log.n_events, 0, lang)} {t('events', lang)}"),
        "first_event": None if first is None or pd.isna(first) else pd.Timestamp(first).isoformat(),
        "last_event": None if last is None or pd.isna(last) else pd.Timestamp(last).isoformat(),
        "first_text": _fmt_time(first, lang, False), "last_text": _fmt_time(last, lang, False),
        "as_of_iso": None if as_of_ts is None or pd.isna(as_of_ts) else pd.Timestamp(as_of_ts).isoformat(),
        "as_of": opt["_as_of_text"],
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "version": __version__, "schema_version": SCHEMA_VERSION,
        "catalog": log.catalog is not None, "calendar": cal,
        "params": {"ci": float(ci), "n_boot": n_boot, "seed": int(seed), "top": top,
                   "cuts_method": cuts_method, "sections": [s for s in SECTIONS if s in secs]},
    }
    rep = Report(sections={k: secs[k] for k in SECTIONS if k in secs}, meta=meta, lang=lang,
                 findings=_findings(secs, lang))
    from .page import render_page
    rep.html = render_page(rep)
    meta["seconds"] = round(time.perf_counter() - t0, 3)
    if path is not None:
        rep.save(path, format)
    return rep


class _CallableModule(_types.ModuleType):
    """``tm.report`` resolves to this package (lazy import); calling it runs :func:`report`."""

    def __call__(self, *args, **kwargs):
        return report(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
