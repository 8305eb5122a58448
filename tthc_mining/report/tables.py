"""Tables out: the report's result tables as an Excel workbook and as a versioned JSON document.

* :func:`write_excel` — one sheet per table, Vietnamese headers (English with ``lang="en"``),
  formula-injection safe (:func:`tthc_mining.export.write_workbook`: a text cell starting with
  ``=``, ``+``, ``-``, ``@`` is written as text), plus an *Information* sheet (source, date of
  the statuses, versions) and the *Methods* sheet.
* :func:`load_schema` / :func:`validate` — the JSON Schema (draft 2020-12) of the document that
  :meth:`tthc_mining.report.Report.to_dict` returns (``tthc_mining/schemas/report-1.0.json``);
  ``schema_version`` in the document names the schema it follows.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .text import column_label

__all__ = ["SHEETS", "sheet_tables", "write_excel", "schema_path", "load_schema", "validate"]

#: table id -> (Vietnamese sheet name, English sheet name); Excel allows 31 characters
SHEETS: dict[str, tuple[str, str]] = {
    "info": ("Thông tin", "Information"),
    "kpi": ("Chỉ tiêu tổng hợp", "KPIs"),
    "summary_procedure": ("Chỉ tiêu theo thủ tục", "KPIs by procedure"),
    "summary_unit": ("Chỉ tiêu theo đơn vị", "KPIs by unit"),
    "summary_month": ("Chỉ tiêu theo tháng", "KPIs by month"),
    "map_activities": ("Bản đồ - bước xử lý", "Map - steps"),
    "map_transitions": ("Bản đồ - chuyển tiếp", "Map - transitions"),
    "bottlenecks_activity": ("Điểm nghẽn theo bước", "Bottlenecks by step"),
    "bottlenecks_unit": ("Điểm nghẽn theo đơn vị", "Bottlenecks by unit"),
    "bottlenecks_transition": ("Điểm nghẽn theo chuyển tiếp", "Bottlenecks by transition"),
    "bottlenecks_resource": ("Điểm nghẽn theo cán bộ", "Bottlenecks by officer"),
    "handovers": ("Chuyển giao giữa đơn vị", "Hand-overs"),
    "overdue_unit": ("Trễ hạn theo đơn vị", "Overdue by unit"),
    "overdue_step": ("Trễ hạn theo bước", "Overdue by step"),
    "overdue_procedure_unit": ("Trễ hạn theo thủ tục-đơn vị", "Overdue by procedure-unit"),
    "rework_summary": ("Vòng lặp - tổng hợp", "Rework - summary"),
    "rework_patterns": ("Vòng lặp - mẫu", "Rework - patterns"),
    "rework_clock": ("Đồng hồ ẩn", "Hidden clock"),
    "rework_activity": ("Vòng lặp theo bước", "Rework by step"),
    "cuts_ranked": ("Phương án cắt giảm", "Cuts ranked"),
    "cuts_suggested": ("Đề xuất cắt giảm", "Cuts suggested"),
    "quality": ("Chất lượng dữ liệu", "Data quality"),
    "methods": ("Phương pháp", "Methods"),
}
_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")


def _cell(v: Any) -> Any:
    """Lists, dicts and other non-scalars become JSON text (Excel cells hold scalars only)."""
    if isinstance(v, (list, tuple, dict, set, np.ndarray)):
        from .views import jsonable
        return json.dumps(jsonable(v), ensure_ascii=False)
    return v


def _translate(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    out = df.reset_index(drop=df.index.name is None).copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object and len(s):
            out[c] = s.map(_cell)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(object)
    seen: dict[str, int] = {}
    names = []
    for c in out.columns:
        lab = column_label(str(c), lang)
        if lab in seen:
            seen[lab] += 1
            lab = f"{lab} ({c})"
        else:
            seen[lab] = 1
        names.append(lab)
    out.columns = names
    return out


def sheet_tables(report, lang: str | None = None) -> dict[str, pd.DataFrame]:
    """``{sheet name: table with translated headers}`` for every table of the report."""
    lang = lang or report.lang
    i = 0 if lang == "vi" else 1
    meta = report.meta
    info_rows = [
        ("Báo cáo" if lang == "vi" else "Report", meta.get("title")),
        ("Nguồn dữ liệu" if lang == "vi" else "Source", meta.get("source")),
        ("Thủ tục" if lang == "vi" else "Procedure", meta.get("procedure") or ""),
        ("Số hồ sơ" if lang == "vi" else "Dossiers", meta.get("n_dossiers")),
        ("Số sự kiện" if lang == "vi" else "Events", meta.get("n_events")),
        ("Tính đến" if lang == "vi" else "As of", meta.get("as_of") or ""),
        ("Lập lúc" if lang == "vi" else "Generated", meta.get("created")),
        ("Phần mềm" if lang == "vi" else "Software", f"tthc_mining {meta.get('version')}"),
        ("Phiên bản lược đồ JSON" if lang == "vi" else "JSON schema version", meta.get("schema_version")),
    ]
    for sec in report.sections.values():
        info_rows.append((f"{'Mục' if lang == 'vi' else 'Section'}: {sec.id}",
                          sec.status + (f" — {sec.note}" if sec.note else "")))
    out = {SHEETS["info"][i]: pd.DataFrame(info_rows, columns=[
        "Mục" if lang == "vi" else "Item", "Giá trị" if lang == "vi" else "Value"])}
    for sec in report.sections.values():
        for tid, df in sec.tables.items():
            if df is None:
                continue
            name = SHEETS.get(tid, (tid, tid))[i]
            name = _BAD_SHEET.sub("-", name)[:31]
            out[name] = _translate(df, lang)
    return out


def write_excel(report, path: str | Path, *, lang: str | None = None) -> Path:
    """Write every table of ``report`` to an .xlsx workbook (one sheet per table)."""
    from ..export import write_workbook
    return write_workbook(sheet_tables(report, lang), Path(path))


# ====================================================================== JSON Schema
def schema_path(version: str = "1.0") -> Path:
    """Path of the packaged JSON Schema of the report document."""
    return Path(__file__).resolve().parent.parent / "schemas" / f"report-{version}.json"


@lru_cache(maxsize=4)
def _schema_text(version: str) -> str:
    return schema_path(version).read_text(encoding="utf-8")


def load_schema(version: str = "1.0") -> dict:
    """The JSON Schema (a dict) of the report document."""
    return json.loads(_schema_text(version))


def validate(document: dict) -> None:
    """Validate a report document against the schema named by its ``schema_version``. Needs
    the ``jsonschema`` package; raises ``jsonschema.ValidationError`` when invalid."""
    import jsonschema
    version = str(document.get("schema_version", "1.0"))
    schema = load_schema(version)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
