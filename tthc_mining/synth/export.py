"""One-stop export of a synthetic log: CSV or Excel with Vietnamese headers.

Uses ``tthc_mining.io.write_log(df, path, layout="onestop")`` when the io package provides it;
otherwise this module's own writer produces the same layout: one row per event, dates as
``dd/mm/yyyy HH:MM:SS`` local time, channels in Vietnamese, personal-data columns last, text
cells neutralised against formula injection, CSV in UTF-8 with a BOM (Excel opens it with the
right characters).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from .build import OWNER_EMAIL, OWNER_ID, OWNER_NAME, OWNER_PHONE, PROCEDURE_NAME

#: canonical column -> one-stop header, in export order
ONESTOP_HEADERS = {
    S.CASE: "Mã hồ sơ",
    S.PROCEDURE: "Mã TTHC",
    PROCEDURE_NAME: "Tên thủ tục",
    S.ACTIVITY: "Bước xử lý",
    S.START: "Thời điểm bắt đầu",
    S.TIMESTAMP: "Thời điểm kết thúc",
    S.RESOURCE: "Cán bộ xử lý",
    S.GROUP: "Đơn vị xử lý",
    S.RECEIVED: "Ngày tiếp nhận",
    S.DUE: "Ngày hẹn trả",
    S.CHANNEL: "Kênh nộp",
    S.STATUS: "Trạng thái",
    S.DUE_BEFORE: "Ngày hẹn trả trước",
    S.DUE_AFTER: "Ngày hẹn trả mới",
    S.SUBMITTED: "Ngày nộp hồ sơ",
    S.FINISHED_REPORTED: "Ngày kết thúc xử lý",
    S.REASON: "Lý do",
    OWNER_NAME: "Chủ hồ sơ",
    OWNER_ID: "Số CCCD",
    OWNER_PHONE: "Số điện thoại",
    OWNER_EMAIL: "Email",
}
CHANNEL_VI = {S.CHANNEL_DIRECT: "Trực tiếp", S.CHANNEL_ONLINE: "Trực tuyến",
              S.CHANNEL_POST: "Bưu chính công ích"}
EXCEL_MAX_ROWS = 1_048_575


def format_times(ts: pd.Series | pd.DatetimeIndex, tz: str | None) -> pd.Series:
    """Timestamps -> ``dd/mm/yyyy HH:MM:SS`` local text (vectorised; NaT -> empty)."""
    idx = pd.DatetimeIndex(ts)
    if idx.tz is not None:
        idx = idx.tz_convert(tz or "UTC").tz_localize(None)
    iso = pd.Series(np.datetime_as_string(idx.to_numpy(dtype="datetime64[s]"), unit="s"),
                    dtype="string")
    out = (iso.str.slice(8, 10) + "/" + iso.str.slice(5, 7) + "/" + iso.str.slice(0, 4) + " "
           + iso.str.slice(11, 19))
    return out.where(~np.asarray(idx.isna()), "").astype(object)


def onestop_frame(events: pd.DataFrame, tz: str | None = S.DEFAULT_TZ) -> pd.DataFrame:
    """The events as a one-stop table with Vietnamese headers (text cells)."""
    out = {}
    for col, header in ONESTOP_HEADERS.items():
        if col not in events.columns:
            continue
        s = events[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[header] = format_times(s, tz)
        elif col == S.CHANNEL:
            out[header] = s.astype(object).map(CHANNEL_VI).fillna(s.astype(object)).to_numpy()
        elif isinstance(s.dtype, pd.CategoricalDtype):
            cats = np.asarray(s.cat.categories.astype(object))
            codes = s.cat.codes.to_numpy()
            vals = np.where(codes >= 0, cats[np.maximum(codes, 0)] if len(cats) else "", "")
            out[header] = vals.astype(object)
        else:
            out[header] = s.astype(object).where(s.notna(), "").to_numpy()
    return pd.DataFrame(out)


def write_onestop(events: pd.DataFrame, path: str | Path, *, tz: str | None = S.DEFAULT_TZ) -> Path:
    """Write ``events`` as a one-stop export (``.csv`` or ``.xlsx`` by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ConfigError(f"cannot write {path}: use a .csv or .xlsx file name")
    try:  # the io package's writer, when there is one
        from ..io import write_log  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - io ships with the package
        write_log = None
    if write_log is not None:
        # the personal-data columns go out under their one-stop headers (the writer keeps
        # columns it does not know after the known ones, unchanged)
        personal = {c: ONESTOP_HEADERS[c] for c in (OWNER_NAME, OWNER_ID, OWNER_PHONE, OWNER_EMAIL)
                    if c in events.columns}
        write_log(events.rename(columns=personal), path, layout="onestop")
        return path
    from ..export import neutralise_formulas
    df = neutralise_formulas(onestop_frame(events, tz))
    if suffix == ".csv":
        df.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    else:
        if len(df) > EXCEL_MAX_ROWS:
            raise ConfigError(f"{len(df):,} events do not fit in one Excel sheet "
                              f"(at most {EXCEL_MAX_ROWS:,} rows); write a .csv instead")
        df.to_excel(path, index=False, sheet_name="Nhật ký xử lý", engine="openpyxl")
    return path
