"""Writing event logs: CSV, Excel or Parquet, in canonical (XES keys) or one-stop layout.

``layout="onestop"`` writes the Vietnamese headers of a one-stop export (Mã hồ sơ, Mã TTHC,
Tên thủ tục, Bước xử lý, Thời điểm bắt đầu, Thời điểm kết thúc, Cán bộ xử lý, Đơn vị xử lý,
Ngày tiếp nhận, Ngày hẹn trả, Kênh nộp, Trạng thái, then Ngày hẹn trả trước, Ngày hẹn trả mới,
Ngày nộp hồ sơ, Ngày kết thúc xử lý, Lý do when present), dates as ``dd/mm/yyyy HH:MM:SS``
local time (``.ffffff`` added only to values with sub-second parts) and channels as
Vietnamese labels. ``layout="xes"`` keeps the canonical column names and writes dates in ISO 8601
with their UTC offset. Columns the library computes on reading (``tm:role``, ``tm:row``,
``tm:injected``) are not written; other columns follow the known ones unchanged.

CSV (UTF-8 with BOM, so Excel shows Vietnamese correctly; ``.csv.gz`` compresses) and Excel
cells are protected against formula injection: text starting with ``= + - @``, tab or CR that
is not a number gets a leading ``'``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema as S
from ..errors import ConfigError
from ..export import neutralise_formulas
from .canonical import CHANNEL_LABELS, DERIVED
from .headers import PROCEDURE_NAME

ONESTOP_HEADERS: dict[str, str] = {
    S.CASE: "Mã hồ sơ", S.PROCEDURE: "Mã TTHC", PROCEDURE_NAME: "Tên thủ tục",
    S.ACTIVITY: "Bước xử lý", S.START: "Thời điểm bắt đầu", S.TIMESTAMP: "Thời điểm kết thúc",
    S.RESOURCE: "Cán bộ xử lý", S.GROUP: "Đơn vị xử lý", S.RECEIVED: "Ngày tiếp nhận",
    S.DUE: "Ngày hẹn trả", S.CHANNEL: "Kênh nộp", S.STATUS: "Trạng thái",
    S.DUE_BEFORE: "Ngày hẹn trả trước", S.DUE_AFTER: "Ngày hẹn trả mới",
    S.SUBMITTED: "Ngày nộp hồ sơ", S.FINISHED_REPORTED: "Ngày kết thúc xử lý", S.REASON: "Lý do",
}
LAYOUTS = ("xes", "onestop")


def _format_times(values: pd.Series, style: str) -> pd.Series:
    """Datetimes -> text, vectorised with pyarrow casts (NaT -> empty).

    ``style="dmy"``: ``dd/mm/yyyy HH:MM:SS`` on the local wall clock; ``style="iso"``:
    ``yyyy-mm-ddTHH:MM:SS+hh:mm``. Sub-second parts are written (``.ffffff``) only where present.
    """
    s = values
    offset = None
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        local = s.dt.tz_localize(None)
        if style == "iso":
            utc = s.dt.tz_convert("UTC").dt.tz_localize(None)
            offset = ((local.to_numpy(dtype="datetime64[ns]").view(np.int64)
                       - utc.to_numpy(dtype="datetime64[ns]").view(np.int64)) // 10**9)
        s = local
    ns = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
    nat = ns == np.iinfo(np.int64).min
    frac = ~nat & (ns % 1_000_000_000 != 0)
    secs = pa.array(np.where(frac | nat, 0, ns) // 1_000_000_000).cast(pa.timestamp("s"))
    text = pc.cast(secs, pa.string())
    if frac.any():
        us = pa.array(np.where(frac, ns, 0) // 1000).cast(pa.timestamp("us"))
        text = pc.if_else(pa.array(frac), pc.cast(us, pa.string()), text)
    if style == "dmy":
        text = pc.replace_substring_regex(text, r"^(\d{4})-(\d{2})-(\d{2})", r"\3/\2/\1")
    else:
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        if offset is not None:
            codes, uniq = pd.factorize(offset)
            labels = [("-" if o < 0 else "+") + f"{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
                      for o in uniq]
            suffix = pc.take(pa.array(labels, type=pa.string()), pa.array(np.maximum(codes, 0)))
            text = pc.binary_join_element_wise(text, suffix, "")
    text = pc.if_else(pa.array(nat), pa.scalar(None, pa.string()), text)
    return pd.Series(pd.array(text, dtype="str"), index=values.index)


def _prepare(df: pd.DataFrame, layout: str, *, text_dates: bool) -> pd.DataFrame:
    out = df.drop(columns=[c for c in DERIVED if c in df.columns])
    if layout == "onestop":
        if S.CHANNEL in out.columns:
            ch = out[S.CHANNEL]
            codes, uniques = pd.factorize(ch)
            labels = np.array([CHANNEL_LABELS.get(u, u) for u in uniques], dtype=object)
            out[S.CHANNEL] = np.append(labels, None)[codes] if len(uniques) else ch
        for c in out.columns:
            if text_dates and pd.api.types.is_datetime64_any_dtype(out[c].dtype):
                out[c] = _format_times(out[c], "dmy")
        known = [c for c in ONESTOP_HEADERS if c in out.columns]
        rest = [c for c in out.columns if c not in ONESTOP_HEADERS]
        out = out[known + rest].rename(columns=ONESTOP_HEADERS)
    else:
        for c in out.columns:
            if text_dates and pd.api.types.is_datetime64_any_dtype(out[c].dtype):
                out[c] = _format_times(out[c], "iso")
    return out


def write_log(log_or_df: Any, path: str | Path, *, layout: str = "xes",
              sheet_name: str = "data") -> Path:
    """Write a :class:`~tthc_mining.DossierLog` or an event DataFrame to ``.csv``
    (``.csv.gz``), ``.xlsx`` or ``.parquet``; see the module docstring for the layouts.

    Reading the file back with :func:`tthc_mining.read_log` gives the same events.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; use 'xes' or 'onestop'")
    df = getattr(log_or_df, "events", log_or_df)
    if not isinstance(df, pd.DataFrame):
        raise ConfigError("write_log expects a DossierLog or a pandas DataFrame")
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        _prepare(df, layout, text_dates=False).to_parquet(path, index=False)
    elif name.endswith(".xlsx"):
        out = neutralise_formulas(_prepare(df, layout, text_dates=True))
        for c in out.columns:  # Excel stores no time zones: local wall clock
            if isinstance(out[c].dtype, pd.DatetimeTZDtype):
                out[c] = out[c].dt.tz_localize(None)
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            out.to_excel(xw, index=False, sheet_name=sheet_name[:31])
    elif name.endswith(".csv") or name.endswith(".csv.gz") or name.endswith(".txt"):
        import pyarrow.csv as pacsv
        out = neutralise_formulas(_prepare(df, layout, text_dates=True))
        table = pa.Table.from_pandas(out, preserve_index=False)
        table = table.rename_columns([str(c) for c in out.columns])
        if name.endswith(".gz"):
            sink = pa.CompressedOutputStream(str(path), "gzip")
        else:
            sink = pa.OSFile(str(path), "wb")
        with sink:
            sink.write(b"\xef\xbb\xbf")
            pacsv.write_csv(table, sink)
    else:
        raise ConfigError(f"cannot write {path.name!r}: use .csv, .csv.gz, .xlsx or .parquet")
    return path
