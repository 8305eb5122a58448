"""Safe table exports: CSV and Excel cells can never become formulas.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with
``'`` (OWASP's advice against CSV/formula injection) unless it is a plain number such as ``-3.5``.
"""
from __future__ import annotations

from pathlib import Path

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
    """Several tables, one sheet each, formula-injection safe."""
    path = Path(path)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in tables.items():
            _excel_ready(neutralise_formulas(df)).to_excel(xw, sheet_name=str(name)[:31], index=False)
    return path
