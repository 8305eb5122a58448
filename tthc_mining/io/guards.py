"""Structural repairs and plausibility checks of raw tables (hardening, issue 8).

Each function here is called once by the readers and accounts for what it changes in the
quality report, so ``rows_read == rows_used + rows_dropped`` still holds:

* :func:`drop_repeated_headers` - a copy of the header line inside the data (exports joined
  with ``cat``, or copied twice into one sheet) is dropped and counted as ``repeated_header``
  instead of surfacing as an unparsable time;
* :func:`excel_merged_ranges` / :func:`fill_merged_cells` - a cell merged over several rows
  (Vietnamese reports merge the dossier id over all its steps) holds its value only in the
  top-left cell; the value is copied to every row of the range and counted as ``merged_cells``;
* :func:`other_data_sheets` - a workbook with several sheets is read from the first sheet (or
  ``sheet=``); the other sheets that also have a recognised header are named in the report
  (``other_sheets_not_read``) and in the error when the sheet read has no log;
* :func:`flag_implausible_times` - times before 1990 (before any one-stop system) and event
  times in the future are kept but flagged (``time_before_1990``, ``time_in_future``).
"""
from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import InputError
from ..quality import FLAGGED, QualityIssue, QualityReport

EARLIEST = pd.Timestamp("1990-01-01")
#: columns that record something that already happened (a due date may be in the future)
EVENT_TIME_COLUMNS = (S.TIMESTAMP, S.START, S.RECEIVED, S.SUBMITTED, S.FINISHED_REPORTED)
FUTURE_TOLERANCE = pd.Timedelta(days=1)


# --------------------------------------------------------------------------- repeated headers
def _variants(name: str) -> list[str]:
    return sorted({name, unicodedata.normalize("NFD", name), unicodedata.normalize("NFC", name)})


def repeated_header_mask(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose text cells repeat their own column headers (at least three of them, or all
    of them in a table of fewer than three columns).

    Cheap on large tables: one vectorised comparison of the first named text column, then the
    other columns only on its few matching rows."""
    n = len(frame)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    cols = [c for c in frame.columns
            if (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c].dtype))
            and str(c).strip() and not str(c).startswith("Unnamed: ")]
    if not cols:
        return out
    first = frame[cols[0]]
    try:
        cand = first.isin(_variants(str(cols[0]))).to_numpy(dtype=bool, na_value=False)
    except (TypeError, ValueError):
        return out
    if not cand.any():
        return out
    idx = np.flatnonzero(cand)
    sub = frame.iloc[idx]
    hits = np.zeros(len(idx), dtype=np.int64)
    for c in cols:
        vals = sub[c].astype(object).map(
            lambda v: unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v)
        hits += (vals == str(c)).to_numpy(dtype=bool)
    need = min(3, len(cols))
    out[idx[hits >= need]] = True
    return out


def drop_repeated_headers(raw: Any) -> None:
    """Drop header copies from a :class:`~tthc_mining.io.tabular.RawTable` (in place)."""
    if raw.kind not in ("csv", "excel") or len(raw.frame) == 0:
        return
    mask = repeated_header_mask(raw.frame)
    if not mask.any():
        return
    if raw.rows_read is None:
        raw.rows_read = len(raw.frame)
    raw.issues.append(("repeated_header", "dropped", np.asarray(raw.rows)[mask],
                       "a copy of the header line inside the data (files joined together?)"))
    keep = ~mask
    raw.frame = raw.frame.loc[keep].reset_index(drop=True)
    raw.rows = np.asarray(raw.rows)[keep]
    if len(raw.frame) == 0:
        raise InputError("no data rows (only copies of the header line)", file=raw.source)


# --------------------------------------------------------------------------- Excel structure
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="\$?([A-Z]{1,3})\$?(\d{1,7}):\$?([A-Z]{1,3})'
                    rb'\$?(\d{1,7})"')


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def sheet_parts(path: str | Path) -> list[tuple[str, str]]:
    """``[(sheet name, zip part of its XML)]`` in workbook order (parsed with defusedxml)."""
    from defusedxml import ElementTree as ET
    with zipfile.ZipFile(path) as zf:
        wb = ET.fromstring(zf.read("xl/workbook.xml"))
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{{{_NS_PKG}}}Relationship")}
    out = []
    for sh in wb.iter(f"{{{_NS_MAIN}}}sheet"):
        target = targets.get(sh.get(f"{{{_NS_REL}}}id"), "")
        part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        out.append((sh.get("name") or "", part))
    return out


def excel_merged_ranges(path: str | Path, sheet: str | int | None) -> list[tuple[int, int, int, int]]:
    """Merged ranges of a sheet as ``(first row, first col, last row, last col)``, 1-based.

    The sheet's XML is streamed from the archive (1 MiB at a time) and only ``<mergeCell>``
    elements are looked at, so this costs one decompression of the sheet and no parsing."""
    try:
        parts = sheet_parts(path)
    except Exception:  # not a standard workbook layout: nothing to repair
        return []
    if not parts:
        return []
    if sheet is None:
        part = parts[0][1]
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(parts):
            return []
        part = parts[sheet][1]
    else:
        match = [p for n, p in parts if n == sheet]
        if not match:
            return []
        part = match[0]
    found: set[tuple[int, int, int, int]] = set()
    try:
        with zipfile.ZipFile(path) as zf, zf.open(part) as fh:
            tail = b""
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                buf = tail + chunk
                for m in _MERGE.finditer(buf):
                    c1, r1, c2, r2 = m.groups()
                    found.add((int(r1), _col_number(c1.decode()), int(r2), _col_number(c2.decode())))
                tail = buf[-256:]
    except Exception:  # an odd archive openpyxl could still read: no merged cells to repair
        return []      # (their empty cells are then counted like any other empty cell)
    return sorted(found)


def fill_merged_cells(grid: pd.DataFrame, ranges: list[tuple[int, int, int, int]]
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    """Copy each merged range's top-left value into its empty cells.

    ``grid`` is the sheet as read with ``header=None`` (row ``i`` = sheet row ``i + 1``).
    Returns the grid and the 1-based sheet rows in which a cell was filled."""
    if not ranges:
        return grid, np.zeros(0, dtype=np.int64)
    nrow, ncol = grid.shape
    filled_rows: set[int] = set()
    values = grid.to_numpy(dtype=object, copy=True)
    changed = False
    for r1, c1, r2, c2 in ranges:
        if r1 > nrow or c1 > ncol or (r1 == r2 and c1 == c2):
            continue
        anchor = values[r1 - 1, c1 - 1]
        if anchor is None or (isinstance(anchor, float) and np.isnan(anchor)):
            continue
        block = values[r1 - 1:min(r2, nrow), c1 - 1:min(c2, ncol)]
        empty = pd.isna(block)
        if empty.any():
            block[empty] = anchor
            changed = True
            filled_rows.update((np.flatnonzero(empty.any(axis=1)) + r1).tolist())
    if not changed:
        return grid, np.zeros(0, dtype=np.int64)
    out = pd.DataFrame(values, index=grid.index, columns=grid.columns).astype(grid.dtypes.to_dict())
    return out, np.asarray(sorted(filled_rows), dtype=np.int64)


def other_data_sheets(path: str | Path, score: Any, chosen: int = 0) -> tuple[list[str], list[str]]:
    """``(all sheet names, names of the other sheets whose first ten rows contain a recognised
    header row (score(cells) >= 3))``. Only workbooks with several sheets are opened (read-only,
    first ten rows of each sheet)."""
    try:
        names = [n for n, _ in sheet_parts(path)]
    except Exception:
        return [], []
    if len(names) <= 1:
        return names, []
    import openpyxl
    others = []
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        for i, ws in enumerate(wb.worksheets):
            if i == chosen or i >= len(names):
                continue
            for row in ws.iter_rows(max_row=10, values_only=True):
                if score(list(row)) >= 3:
                    others.append(names[i])
                    break
    finally:
        wb.close()
    return names, others


def note_other_sheets(quality: QualityReport, others: list[str]) -> None:
    if others:
        quality.issues.append(QualityIssue(
            "other_sheets_not_read", FLAGGED, 0, [], None,
            "these sheets also have a recognised header and were not read (pass sheet=...): "
            + ", ".join(map(repr, others[:10]))))


# --------------------------------------------------------------------------- plausibility
def flag_implausible_times(events: pd.DataFrame, quality: QualityReport, *,
                           now: pd.Timestamp | None = None) -> None:
    """Flag (keep, count) times before 1990 and event times after ``now`` + 1 day."""
    if len(events) == 0 or S.ROW not in events.columns:
        return
    rows = events[S.ROW].to_numpy()
    mapping = quality.meta.get("columns", {}) if isinstance(quality.meta, dict) else {}
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tz is None:
        now = now.tz_localize("UTC")
    for col in S.TIME_COLUMNS:
        if col not in events.columns or not isinstance(events[col].dtype, pd.DatetimeTZDtype):
            continue
        s = events[col]
        tz = s.dt.tz
        old = (s < EARLIEST.tz_localize(tz)).to_numpy(dtype=bool, na_value=False)
        quality.add("time_before_1990", rows[old], action=FLAGGED, column=mapping.get(col, col),
                    detail="before 1990, earlier than any one-stop system: a typing error or "
                           "a placeholder date? (kept)")
        if col in EVENT_TIME_COLUMNS:
            fut = (s > (now + FUTURE_TOLERANCE)).to_numpy(dtype=bool, na_value=False)
            quality.add("time_in_future", rows[fut], action=FLAGGED,
                        column=mapping.get(col, col),
                        detail=f"after the time of reading ({now:%Y-%m-%d}): kept")
