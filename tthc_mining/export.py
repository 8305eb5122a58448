"""Safe table exports: CSV and Excel cells can never become formulas.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with
``'`` (OWASP's advice against CSV/formula injection) unless it is a plain number such as ``-3.5``.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot be read as formulas (vectorised per column)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
                or isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        text = s.astype("string")
        risky = text.str.startswith(_TRIGGERS).fillna(False).to_numpy(bool)
        if risky.any():
            numeric = pd.to_numeric(text.where(risky), errors="coerce").notna().to_numpy(bool)
            risky &= ~numeric
        if risky.any():
            vals = s.astype(object).to_numpy().copy()
            vals[risky] = np.array(["'" + v for v in text.to_numpy()[risky]], dtype=object)
            out[col] = vals
    # column names are cells too
    out.columns = ["'" + str(c) if str(c).startswith(_TRIGGERS) else c for c in out.columns]
    return out


def _excel_ready(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:  # Excel cannot store time zones
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_localize(None)
    return out


def write_table(df: pd.DataFrame, path: str | Path, *, sheet_name: str = "data",
                index: bool = False) -> Path:
    """Write one table to .csv (UTF-8 with BOM, so Excel shows Vietnamese correctly), .xlsx,
    .json or .parquet, with formula injection neutralised for CSV and Excel."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        neutralise_formulas(df).to_csv(path, index=index, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        _excel_ready(neutralise_formulas(df)).to_excel(path, index=index,
                                                       sheet_name=sheet_name[:31])
    elif suffix == ".json":
        path.write_text(df.to_json(orient="records", force_ascii=False, date_format="iso"),
                        encoding="utf-8")
    elif suffix == ".parquet":
        df.to_parquet(path, index=index)
    else:
        from .errors import ConfigError
        raise ConfigError(f"cannot write {path.name!r}: use .csv, .xlsx, .json or .parquet")
    return path


def write_workbook(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Several tables, one sheet each, formula-injection safe; sheet names made valid and
    unique (:func:`safe_sheet_name`)."""
    path = Path(path)
    used: list[str] = []
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in tables.items():
            sheet = safe_sheet_name(name, used)
            used.append(sheet)
            _excel_ready(neutralise_formulas(df)).to_excel(xw, sheet_name=sheet, index=False)
    return path


# --------------------------------------------------------------------------- names from data
_UNSAFE_FILE_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"/\\|?*\u200b-\u200f\u202a-\u202e'
                                r'\u2066-\u2069\ufeff]')
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", "conin$", "conout$",
                              *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


def safe_filename(text: Any, *, default: str = "output", max_bytes: int = 120) -> str:
    """A file name built from a value of the data (a procedure code, a unit's name) that cannot
    leave the output folder or break a file system.

    NFC; path separators, ``..``, control, bidirectional and zero-width characters and the
    characters Windows reserves (``< > : " / \\ | ? *``) become ``_`` (a run of ``_`` becomes
    one); no leading dot, dash, underscore or space (no hidden files, no option-like names) and
    no trailing dot or space; Windows device names (``CON``, ``NUL``, ``COM1`` ...) get a ``_``
    prefix; at most ``max_bytes`` bytes of UTF-8 (cut at a character boundary); a result without
    a letter or digit is ``default``. Add the extension after calling it.
    """
    name = unicodedata.normalize("NFC", "" if text is None else str(text))
    name = _UNSAFE_FILE_CHARS.sub("_", name)
    name = re.sub(r"\.{2,}", "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    name = re.sub(r"_{2,}", "_", name).lstrip("-_. ")  # no hidden or option-like names
    if name.split(".")[0].strip().casefold() in _WINDOWS_DEVICES:
        name = "_" + name
    encoded = name.encode("utf-8")[:max_bytes]
    name = encoded.decode("utf-8", errors="ignore").rstrip(" .")
    return name if any(ch.isalnum() for ch in name) else default


_SHEET_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def safe_sheet_name(text: Any, existing: Iterable[str] = (), *, default: str = "Sheet") -> str:
    """A valid, unique Excel sheet name from a value of the data: no ``[ ] : * ? / \\`` or
    control characters, not starting or ending with ``'``, not ``History``, at most 31
    characters, different (case-insensitively) from ``existing`` (``name (2)`` ...)."""
    name = unicodedata.normalize("NFC", "" if text is None else str(text))
    name = _SHEET_BAD.sub("_", name).strip().strip("'").strip() or default
    if name.casefold() == "history":
        name = "History_"
    taken = {e.casefold() for e in existing}
    base, k, cand = name[:31], 1, name[:31]
    while cand.casefold() in taken:
        k += 1
        suffix = f" ({k})"
        cand = base[:31 - len(suffix)] + suffix
    return cand
