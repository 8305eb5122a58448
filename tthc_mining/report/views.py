"""Plain data for the template and the JSON document: table views and JSON-safe records.

A *view* is what the HTML template shows of a result table: a few chosen columns, formatted as
text for one language (numbers with Vietnamese separators, intervals as ``[lo; hi]``), at most
``max_rows`` rows, with the count of rows left out. Every cell is plain text; the template's
autoescaping turns it into HTML, so nothing from the data is ever written unescaped.
"""
from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .text import column_label, fmt_ci, fmt_int, fmt_num, fmt_pct, t

__all__ = ["Col", "TableView", "view", "records", "jsonable"]


@dataclass(frozen=True)
class Col:
    """One column of a view: ``key`` in the frame, how to format it, an optional label key.

    ``kind``: ``text`` | ``int`` | ``num`` (``digits``) | ``pct`` | ``ci`` (interval from the
    columns ``lo`` and ``hi``, same unit as ``num``) | ``ci_pct`` | ``bool``.
    """

    key: str
    kind: str = "text"
    digits: int = 1
    lo: str | None = None
    hi: str | None = None
    label: str | None = None      # explicit (already translated) header
    label_key: str | None = None  # column key whose label to use


@dataclass
class TableView:
    headers: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    total: int
    shown: int
    caption: str | None = None
    flags: list[str] = field(default_factory=list)  # per row: css class ("" or "small")

    @property
    def truncated(self) -> bool:
        return self.shown < self.total


def _nfc(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x is pd.NA or x is pd.NaT:
        return "—"
    return unicodedata.normalize("NFC", str(x))


def _cell(row: dict, c: Col, lang: str) -> str:
    v = row.get(c.key)
    if c.kind == "int":
        return fmt_int(v, lang)
    if c.kind == "num":
        return fmt_num(v, c.digits, lang)
    if c.kind == "pct":
        return fmt_pct(v, lang, c.digits)
    if c.kind in ("ci", "ci_pct"):
        return fmt_ci(row.get(c.lo), row.get(c.hi), lang, digits=c.digits, pct=c.kind == "ci_pct")
    if c.kind == "bool":
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return t("yes", lang) if bool(v) else t("no", lang)
    return _nfc(v)


def view(df: pd.DataFrame | None, cols: Sequence[Col], lang: str = "vi", *, max_rows: int = 15,
         caption: str | None = None, small_flag: str | None = None) -> TableView:
    """A formatted view of ``df`` (columns missing from the frame are skipped)."""
    if df is None:
        df = pd.DataFrame()
    cols = [c for c in cols if c.key in df.columns or (c.kind in ("ci", "ci_pct") and c.lo in df.columns)]
    head = df.head(max_rows)
    recs = head.to_dict("records")
    headers = []
    for c in cols:
        if c.label is not None:
            headers.append(c.label)
        elif c.kind in ("ci", "ci_pct"):
            headers.append(t("ci95", lang))
        else:
            headers.append(column_label(c.label_key or c.key, lang))
    numeric = [c.kind != "text" and c.kind != "bool" for c in cols]
    rows = [[_cell(r, c, lang) for c in cols] for r in recs]
    flags = []
    for r in recs:
        flag = small_flag is not None and bool(r.get(small_flag)) and r.get(small_flag) is not pd.NA
        flags.append("small" if flag else "")
    return TableView(headers=headers, numeric=numeric, rows=rows, total=len(df), shown=len(recs),
                     caption=caption, flags=flags)


# ====================================================================== JSON-safe data
def jsonable(o: Any) -> Any:
    """A JSON-safe copy of ``o``: NaN/inf -> None, numpy scalars -> Python, timestamps -> ISO,
    cut objects -> their ``to_dict()``, anything else unknown -> ``str``."""
    if o is None or isinstance(o, (bool, str)):
        return o
    if isinstance(o, (int, np.integer)) and not isinstance(o, bool):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, np.ndarray, pd.Index)):
        return [jsonable(v) for v in (sorted(o, key=str) if isinstance(o, set) else list(o))]
    if isinstance(o, pd.Timestamp):
        return None if pd.isna(o) else o.isoformat()
    if o is pd.NA or o is pd.NaT:
        return None
    if hasattr(o, "to_dict") and hasattr(o, "label_vi"):  # a cut
        return jsonable(o.to_dict())
    if isinstance(o, pd.DataFrame):
        return records(o)
    if isinstance(o, pd.Series):
        return jsonable(o.to_dict())
    try:
        if pd.isna(o):
            return None
    except (TypeError, ValueError):
        pass
    return str(o)


def records(df: pd.DataFrame | None, max_rows: int | None = None) -> list[dict]:
    """Rows of a frame as JSON-safe dicts (column order kept; index dropped unless named)."""
    if df is None:
        return []
    d = df if max_rows is None else df.head(max_rows)
    if d.index.name is not None and d.index.name not in d.columns:
        d = d.reset_index()
    d = d.copy()
    for c in d.columns:
        s = d[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            d[c] = s.astype(object).where(s.notna(), None)
        elif s.dtype == object and len(s) and any(hasattr(v, "label_vi") for v in s.head(50)):
            d[c] = [v.to_dict() if hasattr(v, "to_dict") else v for v in s]
    text = d.to_json(orient="records", force_ascii=False, date_format="iso",
                     default_handler=str, double_precision=15)
    return jsonable(json.loads(text))
