"""From a raw source table to the canonical event table, accounting for every row.

Order of the checks (each row is counted under the first reason that drops it, so
``rows_read == rows_used + rows_dropped`` always holds):

1. dropped: ``missing_case_id``, ``missing_activity``, ``missing_timestamp``,
   ``unparsable_timestamp``; with ``duplicates="drop"`` also ``duplicate_event`` (an exact copy
   of an earlier row: same values in every column; the first one is kept). By default
   (``duplicates="flag"``) exact copies are kept and *flagged*: real published logs contain them
   (helpdesk 127, sepsis 1, ...), their published event counts include them and pm4py keeps
   them, so dropping by default would change counts and directly-follows graphs;
2. repaired (row kept, value changed): ``unparsable_time`` in optional time columns (set to
   NaT), ``end_before_start`` (start set to NaT), ``inconsistent_case_attribute`` (a dossier's
   rows disagree: the first non-empty value in time order is used for all its rows),
   ``out_of_order`` (rows earlier than a previous row of the same dossier; the table is sorted),
   ``non_nfc_text`` (text re-composed to Unicode NFC), ``mixed_time_formats``, ``short_record``;
3. flagged (kept unchanged, marked): ``event_after_close`` (after the dossier's result was
   returned, it was withdrawn or refused), ``injected_sync_row`` (``tm:injected``: looks written
   by a sync job, see below), ``unrecognised_channel``, ``duplicate_event`` (by default);
4. issues without rows: ``unknown_activity_in_role_mapping`` (a ``roles=`` entry that names
   no activity of the log).

Sync-job rows (domain notes 2.3): a provincial system pushing to the national portal writes a
receipt row "Tiếp nhận hồ sơ" stamped exactly at NgayTiepNhan by "Cán bộ một cửa" and a
"Kết thúc xử lý hồ sơ" row at NgayKetThucXuLy; a missing officer defaults to "Chuyên viên". A
receipt-role event at exactly the dossier's received time (to the second, or 00:00 of that date)
and a processing-finished event at exactly the reported finishing time (same rule), each by a
generic or empty officer name, are flagged ``tm:injected``. Without an officer column nothing is
flagged (a receipt stamped at the received time is normal).

Sorting: by case id (string order, as pm4py's ``format_dataframe``), then by end time; ties keep
the source order (stable), so directly-follows counts equal pm4py's on the same rows.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema as S
from ..errors import ConfigError, InputError, TimestampError
from ..quality import DROPPED, FLAGGED, REPAIRED, QualityIssue, QualityReport
from ..memory import release_memory
from ..roles import add_role_column, fold
from ..segments import _role_index
from .headers import PROCEDURE_NAME, resolve_columns
from .tabular import RawTable
from .text import _STR, make_categorical, normalize_categorical, normalize_text
from .timeparse import NAT, parse_times

TEXT_COLUMNS = (S.CASE, S.ACTIVITY, S.RESOURCE, S.GROUP, S.PROCEDURE, PROCEDURE_NAME, S.CHANNEL,
                S.STATUS, S.REASON, S.LIFECYCLE)
CASE_LEVEL = (*S.CASE_ATTRIBUTES, PROCEDURE_NAME)
#: canonical text columns stored as pandas categoricals (integer codes into the distinct values;
#: the case id's categories sorted as text, the others in order of first appearance in the
#: sorted table, i.e. the codes ``pd.factorize`` gives): a repeated value is stored once (the
#: reason text too: a few distinct sentences repeated on many rows)
CATEGORICAL_COLUMNS = (S.CASE, S.ACTIVITY, S.RESOURCE, S.GROUP, S.PROCEDURE, PROCEDURE_NAME,
                       S.CHANNEL, S.STATUS, S.LIFECYCLE, S.REASON)
DERIVED = (S.ROLE, S.ROW, S.INJECTED)  # recomputed on every read

#: folded officer names that a sync job writes instead of a person
GENERIC_OFFICERS = frozenset({
    "can bo mot cua", "can bo", "chuyen vien", "cong chuc", "bo phan mot cua",
    "bo phan tiep nhan va tra ket qua", "mot cua", "he thong", "quan tri", "quan tri vien",
    "dong bo", "admin", "administrator", "system", "sync", "unknown", "khong xac dinh"})

#: folded channel value -> canonical channel
CHANNELS = {
    **{k: S.CHANNEL_DIRECT for k in (
        "1", "truc tiep", "tai quay", "nop truc tiep", "direct", "offline", "desk", "counter",
        "in person", "walk in")},
    **{k: S.CHANNEL_ONLINE for k in (
        "2", "truc tuyen", "nop truc tuyen", "online", "internet", "dich vu cong",
        "dich vu cong truc tuyen", "dvc", "dvctt", "web", "e mail", "email", "portal")},
    **{k: S.CHANNEL_POST for k in (
        "3", "buu chinh", "buu chinh cong ich", "qua buu chinh", "qua buu chinh cong ich",
        "bcci", "post", "postal", "mail")},
}
CHANNEL_LABELS = {S.CHANNEL_DIRECT: "Trực tiếp", S.CHANNEL_ONLINE: "Trực tuyến",
                  S.CHANNEL_POST: "Bưu chính công ích"}
_CLOSING = (S.ROLE_RESULT, S.ROLE_WITHDRAWN, S.ROLE_REFUSED)
# issues that strict=True turns into errors (benign repairs such as sorting are not errors)
_STRICT = {"missing_case_id", "missing_activity", "missing_timestamp", "unparsable_timestamp",
           "duplicate_event", "unparsable_time", "end_before_start",
           "inconsistent_case_attribute", "malformed_record", "short_record"}


# issues whose report shows example values
_VALUE_EXAMPLES = {"unparsable_timestamp", "unparsable_time", "inconsistent_case_attribute",
                   "unrecognised_channel"}


class _Ctx:
    """Shared state of one canonicalisation: report, strict mode, source names and values."""

    def __init__(self, raw: RawTable, mapping: dict[str, str], strict: bool):
        self.raw = raw
        self.mapping = mapping
        self.strict = strict
        self.q = QualityReport(source=raw.source, rows_read=int(raw.rows_read or len(raw.frame)))
        self.pending: tuple[type[InputError], dict] | None = None

    def raise_pending(self) -> None:
        """strict=True: raise for the earliest row found so far by the checks."""
        if self.pending is not None:
            error, kw = self.pending
            raise error(kw.pop("message"), **kw)

    def src(self, canon: str | None) -> str | None:
        if canon is None:
            return None
        return self.mapping.get(canon, canon)

    def raw_value(self, canon: str | None, pos: int) -> Any:
        col = self.src(canon)
        if col is None or col not in self.raw.frame.columns:
            return None
        v = self.raw.frame[col].iloc[pos]
        return None if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                        or v is pd.NaT) else v

    def report(self, reason: str, mask: np.ndarray, rows: np.ndarray,
               positions: np.ndarray | None, action: str, *, canon: str | None = None,
               detail: str | None = None, error: type[InputError] = InputError,
               message: str | None = None) -> None:
        """Count ``mask`` rows under ``reason`` (or raise in strict mode); ``positions``: the
        rows' positions in the raw frame (None: 0, 1, 2, ...)."""
        if not mask.any():
            return
        idx = np.flatnonzero(mask)

        def position(i: int) -> int:       # None: no row dropped or moved, position = index
            return int(i if positions is None else positions[i])

        if self.strict and reason in _STRICT:
            # remember the earliest offending row; raise_pending() raises it
            first = idx[np.argmin(rows[idx])]
            row = int(rows[first])
            if self.pending is None or row < self.pending[1]["row"]:
                self.pending = (error, dict(
                    message=message or reason.replace("_", " "), file=self.raw.source, row=row,
                    column=self.src(canon), value=self.raw_value(canon, position(first))))
            return
        if canon is not None and reason in _VALUE_EXAMPLES:
            vals = []
            for i in idx[:3]:
                v = self.raw_value(canon, position(i))
                if v is not None:
                    vals.append(repr(v)[:60])
            if vals:
                detail = (detail + "; " if detail else "") + "e.g. " + ", ".join(vals)
        self.q.add(reason, rows[idx], action=action, column=self.src(canon), detail=detail)


def _as_text(values: pd.Series) -> pd.Series:
    """Case ids / activities given as numbers (DataFrame or Parquet input) -> text without
    a spurious '.0'."""
    if pd.api.types.is_float_dtype(values.dtype):
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.all(np.isnan(x) | (x == np.floor(x))):
            return values.astype("Int64").astype("str")
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("str").where(values.notna())
    return values


def _channel_key(value: Any) -> str:
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0+", text):  # 1.0 from a numeric column
        text = text.split(".")[0]
    return fold(text)


def _channel(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Map channel labels/codes to direct/online/post; unknown values are kept as written.
    Runs once per distinct value."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _channel_categorical(values)
    codes, uniques = pd.factorize(values)
    mapped = np.array([CHANNELS.get(_channel_key(u)) for u in uniques], dtype=object)
    known = np.array([m is not None for m in mapped], dtype=bool)
    out_u = np.where(known, mapped, np.asarray(uniques, dtype=object)) if len(uniques) else mapped
    res = np.append(out_u, None)[codes] if len(uniques) else np.full(len(codes), None, dtype=object)
    unknown = np.append(~known, False)[codes] if len(uniques) else np.zeros(len(codes), bool)
    return pd.Series(pd.array(pa.array(res, type=pa.string()), dtype="str"), index=values.index), unknown


def _channel_categorical(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """:func:`_channel` on a categorical column: the mapping runs on its categories and the
    result is categorical (canonical channel names, unknown values as written)."""
    cats = values.cat.categories.to_numpy(dtype=object)
    k = len(cats)
    codes = values.array.codes                    # int8 .. int32 (a view): k fits their type
    mapped = np.array([CHANNELS.get(_channel_key(u)) for u in cats], dtype=object)
    known = np.array([m is not None for m in mapped], dtype=bool)
    out_u = np.where(known, mapped, cats) if k else mapped
    new_codes, new_cats = pd.factorize(out_u) if k else (np.zeros(0, np.int64), [])
    at = np.where(codes < 0, k, codes)           # -1 -> the extra last entry
    unknown = np.append(~known, False)[at]
    if (not values.cat.ordered and values.cat.categories.dtype == _STR
            and np.array_equal(new_codes, np.arange(k)) and list(new_cats) == list(cats)):
        return values, unknown                    # already canonical: the column as it is
    lut = np.append(np.asarray(new_codes, dtype=np.int64), -1)
    res = lut[at]
    categories = pd.Index(pd.array(pa.array(list(new_cats), type=pa.string()), dtype="str"))
    return make_categorical(res, categories, index=values.index, name=values.name), unknown


def _key_repeats(ev: pd.DataFrame, key: list[str]) -> np.ndarray:
    """A superset of the rows whose ``key`` values occur on another row too (what
    ``ev.duplicated(subset=key, keep=False)`` marks): rows whose 64-bit polynomial hash of the
    key's integer values (categorical codes, UTC ns) occurs twice. Hash collisions only add
    candidates, which the exact comparison on every column then discards."""
    n = len(ev)
    h = np.zeros(n, dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    block = 1 << 20                   # narrow codes widened a block at a time (no n-long copy)
    for c in key:
        vals = _int_values(ev[c])
        if vals is None:
            v, _ = pd.factorize(ev[c])
        else:
            v = vals[0]
        for a in range(0, n, block):
            hb = h[a:a + block]
            hb *= mult
            vb = v[a:a + block]
            hb += vb.view(np.uint64) if vb.dtype == np.int64 else vb.astype(np.int64).view(np.uint64)
    srt = np.sort(h)
    rep = srt[1:] == srt[:-1]
    if not rep.any():
        return np.zeros(n, dtype=bool)
    dup_vals = np.unique(srt[1:][rep])
    pos = np.minimum(np.searchsorted(dup_vals, h), len(dup_vals) - 1)
    return dup_vals[pos] == h


def _ns(values: pd.Series) -> np.ndarray:
    """UTC int64 ns of a tz-aware column (NaT = int64 min); a read-only view when possible."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        arr = values.array
        out = (arr if arr.unit == "ns" else arr.as_unit("ns")).asi8.view()
        out.flags.writeable = False
        return out
    return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(
        dtype="datetime64[ns]").view(np.int64)


def canonicalize(raw: RawTable, *, schema: str = "auto", columns: Mapping[str, str] | None = None,
                 tz: str = S.DEFAULT_TZ, strict: bool = False,
                 roles: Mapping[str, str] | None = None, month_first: bool | None = None,
                 duplicates: str = "flag") -> tuple[pd.DataFrame, QualityReport]:
    """The canonical event table and its quality report (see the module docstring)."""
    if duplicates not in ("flag", "drop", "keep"):
        raise ConfigError(f"duplicates must be 'flag', 'drop' or 'keep', not {duplicates!r}")
    frame = raw.frame.drop(columns=[c for c in DERIVED if c in raw.frame.columns])
    mapping = resolve_columns(list(frame.columns), schema=schema, columns=columns,
                              file=raw.source)
    ctx = _Ctx(raw, mapping, strict)
    q = ctx.q
    q.meta.update(raw.meta)
    q.meta["kind"] = raw.kind
    q.meta["columns"] = dict(mapping)
    for reason, action, rws, detail in raw.issues:
        if strict and reason in _STRICT:
            raise InputError(f"{reason.replace('_', ' ')}: {detail}", file=raw.source,
                             row=int(rws[0]))
        q.add(reason, rws, action=action, detail=detail)
    n = len(frame)
    rows = _row_numbers(raw.rows)
    raw.rows = rows              # (not kept twice when the source gave int64)
    # positions in the raw frame of the rows (for the example values of the report): None
    # while they are 0, 1, 2, ... (no row dropped or moved yet; no n-long array for that)
    pos = None

    # ---------------------------------------------------------------- columns
    cols: dict[str, pd.Series] = {}
    for canon, src in mapping.items():
        cols[canon] = frame[src].reset_index(drop=True)
    for c in frame.columns:
        if c in mapping.values():
            continue
        name = c if c not in cols else f"{c} (source)"
        cols[name] = frame[c].reset_index(drop=True)

    # ---------------------------------------------------------------- text: NFC + trim
    nfc_rows = np.zeros(n, dtype=bool)
    nfc_cols = []
    ctrl_rows = np.zeros(n, dtype=bool)
    ctrl_cols = []
    for name in list(cols):
        s = cols[name]
        is_text = (name in TEXT_COLUMNS or s.dtype == object or pd.api.types.is_string_dtype(s.dtype))
        if name in S.TIME_COLUMNS or name in raw.date_columns or not is_text:
            continue
        if name in (S.CASE, S.ACTIVITY):
            s = _as_text(s)
        if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
            if name not in TEXT_COLUMNS:
                continue  # mixed Python objects in an extra column: leave them alone
        ctrl: list = []
        if name in CATEGORICAL_COLUMNS:
            cols[name], changed = normalize_categorical(s, sort=(name == S.CASE), controls=ctrl)
        else:
            cols[name], changed = normalize_text(s, controls=ctrl)
        if ctrl and ctrl[0].any():
            ctrl_rows |= ctrl[0]
            ctrl_cols.append(name)
        if changed.any():
            nfc_rows |= changed
            nfc_cols.append(name)

    release_memory()  # freed temporaries back to the system (memory.py)
    # ---------------------------------------------------------------- times
    time_invalid: dict[str, np.ndarray] = {}
    no_rows = np.zeros(n, dtype=bool)
    no_rows.flags.writeable = False
    formats: dict[str, dict[str, int]] = {}
    for canon in S.TIME_COLUMNS:
        if canon not in cols:
            continue
        pt = parse_times(cols[canon], tz, month_first=month_first)
        cols[canon] = pt.values.reset_index(drop=True)
        # (a column without an invalid value keeps no per-row mask: one shared all-False one)
        time_invalid[canon] = pt.invalid if pt.invalid.any() else no_rows
        formats[ctx.src(canon)] = pt.formats
        if pt.mixed:
            counts = sorted(pt.formats.items(), key=lambda kv: -kv[1])
            dominant = counts[0][0]
            # rows written in a format other than the column's dominant one
            fam_rows = np.zeros(n, dtype=bool)
            if dominant != "datetime":
                other = _other_format_rows(cols[canon], raw.frame[ctx.src(canon)], dominant,
                                           tz, month_first)
                fam_rows = other & ~pt.invalid
            ctx.report("mixed_time_formats", fam_rows, rows, pos, REPAIRED, canon=canon,
                       detail="formats: " + ", ".join(f"{k} {v}" for k, v in counts))
        if pt.formats.get("mdy") and not pt.month_first:  # mm/dd values in a dd/mm column
            ctx.report("day_month_order", _month_first_rows(cols[canon], raw.frame[ctx.src(canon)]),
                       rows, pos, REPAIRED, canon=canon,
                       detail="read as mm/dd/yyyy because the second number is above 12, in a "
                              "column read dd/mm/yyyy (ambiguous dates stay dd/mm)")
        if pt.formats.get("dmy_yy"):  # dd/mm/yy: the century is a guess, say so
            ctx.report("two_digit_year", _two_digit_year_rows(cols[canon], raw.frame[ctx.src(canon)]),
                       rows, pos, REPAIRED, canon=canon,
                       detail="dd/mm/yy read as 20yy (check rows before 2000)")
    for name in raw.date_columns:  # typed XES dates outside the canonical columns
        if name in cols and name not in S.TIME_COLUMNS:
            pt = parse_times(cols[name], tz)
            if not pt.invalid.any():
                cols[name] = pt.values.reset_index(drop=True)
    q.meta["time_formats"] = formats

    # ---------------------------------------------------------------- dropped rows
    drop = np.zeros(n, dtype=bool)

    def drop_rows(reason: str, mask: np.ndarray, canon: str | None, **kw: Any) -> None:
        m = mask & ~drop
        ctx.report(reason, m, rows, pos, DROPPED, canon=canon, **kw)
        drop[:] |= m

    drop_rows("missing_case_id", cols[S.CASE].isna().to_numpy(), S.CASE,
              message="missing case id (Mã hồ sơ)")
    drop_rows("missing_activity", cols[S.ACTIVITY].isna().to_numpy(), S.ACTIVITY,
              message="missing activity (Bước xử lý)")
    ts_missing = cols[S.TIMESTAMP].isna().to_numpy() & ~time_invalid[S.TIMESTAMP]
    drop_rows("missing_timestamp", ts_missing, S.TIMESTAMP,
              message="missing end time (Thời điểm kết thúc)", error=TimestampError)
    drop_rows("unparsable_timestamp", time_invalid[S.TIMESTAMP], S.TIMESTAMP,
              message="cannot read the end time (use dd/mm/yyyy HH:MM:SS or ISO 8601)",
              error=TimestampError)
    for canon, bad in time_invalid.items():
        if canon == S.TIMESTAMP:
            continue
        ctx.report("unparsable_time", bad & ~drop, rows, pos, REPAIRED, canon=canon,
                   message="cannot read this date/time (use dd/mm/yyyy HH:MM:SS or ISO 8601)",
                   error=TimestampError)
    ctx.report("non_nfc_text", nfc_rows & ~drop, rows, pos, REPAIRED,
               detail="text re-composed to Unicode NFC in " + ", ".join(map(str, nfc_cols))
               if nfc_cols else None)

    ctx.report("control_characters", ctrl_rows & ~drop, rows, pos, REPAIRED,
               detail="control, bidirectional-override or zero-width characters removed in "
                      + ", ".join(map(str, ctrl_cols)) if ctrl_cols else None)

    ctx.raise_pending()
    nfc_rows = ctrl_rows = ts_missing = no_rows = None
    ev = pd.DataFrame(cols, copy=False)
    del cols   # ev shares the columns; a column replaced in ev below is then freed at once
    if drop.any():
        keep = ~drop
        ev = ev.loc[keep].reset_index(drop=True)
        rows_k, pos_k = rows[keep], _positions(pos, keep)
        keep = None
    else:
        rows_k, pos_k = rows, pos
    drop = None

    release_memory()  # freed temporaries back to the system (memory.py)
    # exact duplicates: candidates on the event key, confirmed on every column
    key = [c for c in (S.CASE, S.ACTIVITY, S.TIMESTAMP, S.RESOURCE, S.START, S.LIFECYCLE,
                       S.GROUP) if c in ev.columns]
    if len(ev) and duplicates != "keep":
        cand = _key_repeats(ev, key)
        if cand.any():
            sub = ev.loc[cand]
            hashable = sub.astype({c: "str" for c in sub.columns
                                   if sub[c].dtype == object})
            dup_sub = hashable.duplicated(keep="first").to_numpy()
            dup = np.zeros(len(ev), dtype=bool)
            dup[np.flatnonzero(cand)[dup_sub]] = True
            if duplicates == "drop":
                ctx.report("duplicate_event", dup, rows_k, pos_k, DROPPED, canon=S.CASE,
                           message="exact duplicate of an earlier row")
                ctx.raise_pending()
                if dup.any():
                    ev = ev.loc[~dup].reset_index(drop=True)
                    rows_k, pos_k = rows_k[~dup], _positions(pos_k, ~dup)
            elif duplicates == "flag":
                ctx.report("duplicate_event", dup, rows_k, pos_k, FLAGGED, canon=S.CASE,
                           detail="exact copy of an earlier row; kept (duplicates='drop' "
                                  "removes it)")
    if len(ev) == 0:
        raise InputError("no usable rows: every row was dropped\n" + str(q), file=raw.source)

    # ---------------------------------------------------------------- repairs
    ts = _ns(ev[S.TIMESTAMP])
    if S.START in ev.columns:
        st = _ns(ev[S.START])
        bad = (st != NAT) & (st > ts)
        ctx.report("end_before_start", bad, rows_k, pos_k, REPAIRED, canon=S.START,
                   message="the start time is after the end time",
                   detail="start time after end time: start set to empty")
        if bad.any():
            ev.loc[bad, S.START] = pd.NaT
    if S.CHANNEL in ev.columns:
        ev[S.CHANNEL], unknown = _channel(ev[S.CHANNEL])
        ctx.report("unrecognised_channel", unknown, rows_k, pos_k, FLAGGED, canon=S.CHANNEL,
                   detail="kept as written; known: 1/2/3, Trực tiếp/Trực tuyến/Bưu chính, "
                          "direct/online/post")

    # out of order (in source order) and the sort
    case_col = ev[S.CASE]
    if isinstance(case_col.dtype, pd.CategoricalDtype) and _sorted_text(case_col.cat.categories):
        # categories sorted as text: the codes as they are (int32 for a million dossiers; no
        # missing ids here, so differences of codes cannot overflow)
        case_codes = case_col.array.codes
    else:
        case_codes, _ = pd.factorize(case_col, sort=True)
        case_codes = case_codes.astype(np.int64)
    if _sorted_by_case_time(case_codes, ts):
        pass  # nothing out of order, nothing to sort (the usual export order)
    else:
        tser = pd.Series(ts)
        running = tser.groupby(case_codes).cummax()
        prev = running.groupby(case_codes).shift(1)
        ooo = (tser < prev).to_numpy()
        ctx.report("out_of_order", ooo, rows_k, pos_k, REPAIRED,
                   detail="earlier than a previous row of the same dossier; sorted by time")
        order = np.lexsort((ts, case_codes))
        if not np.array_equal(order, np.arange(len(order))):
            ev = ev.take(order).reset_index(drop=True)
            rows_k, ts, case_codes = rows_k[order], ts[order], case_codes[order]
            pos_k = _positions(pos_k, order)
    n_ev = len(ev)
    is_first = np.ones(n_ev, dtype=bool)
    np.not_equal(case_codes[1:], case_codes[:-1], out=is_first[1:])
    case_start = np.flatnonzero(is_first)
    case_of = np.cumsum(is_first, dtype=np.int32 if n_ev < 2**31 else np.int64)
    case_of -= 1                                  # 0..n_cases-1 per row (rows in case order)

    # case attributes: the first non-empty value (in time order) for all rows of the dossier
    for canon in CASE_LEVEL:
        if canon not in ev.columns:
            continue
        col = ev[canon]
        vals = _int_values(col)
        if vals is None:  # another dtype: the general (groupby) path
            first = col.groupby(case_codes).first()
            full = first.reindex(case_codes)
            full.index = col.index
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                a, b = _ns(col), _ns(full)
                differs = (a != NAT) & (a != b)
            else:
                differs = (col.notna() & (col != full)).to_numpy(dtype=bool, na_value=False)
            ctx.report("inconsistent_case_attribute", differs, rows_k, pos_k, REPAIRED,
                       canon=canon,
                       message="the rows of one dossier disagree on a dossier attribute",
                       detail="rows of one dossier disagree; the first value in time order is used")
            ev[canon] = full.astype(col.dtype) if not isinstance(col.dtype, pd.DatetimeTZDtype) else full
            continue
        v, missing_v = vals
        # rows that differ from the previous row of the same dossier (empty counts as a value)
        step = np.zeros(n_ev, dtype=bool)
        np.not_equal(v[1:], v[:-1], out=step[1:])
        step[is_first] = False
        if not step.any():
            continue                              # every dossier holds one value (or none)
        # the first non-empty row of every dossier (-1: none), then that value on every row
        nn = np.flatnonzero(~missing_v)
        src = np.full(len(case_start), -1, dtype=np.int64)
        if nn.size:
            c = case_of[nn]
            f = np.concatenate(([True], c[1:] != c[:-1]))
            src[c[f]] = nn[f]
        src_row = src[case_of]
        differs = ~missing_v & (v != v[np.maximum(src_row, 0)])
        ctx.report("inconsistent_case_attribute", differs, rows_k, pos_k, REPAIRED, canon=canon,
                   message="the rows of one dossier disagree on a dossier attribute",
                   detail="rows of one dossier disagree; the first value in time order is used")
        if differs.any() or (missing_v & (src_row >= 0)).any():
            ev[canon] = pd.Series(col.array.take(src_row, allow_fill=True), index=col.index,
                                  name=col.name)

    ctx.raise_pending()

    release_memory()  # freed temporaries back to the system (memory.py)
    # ---------------------------------------------------------------- roles and flags
    add_role_column(ev, roles)
    if roles:
        acts = {fold(a) for a in pd.unique(ev[S.ACTIVITY])}
        missing = [k for k in roles if fold(k) not in acts]
        if missing:
            if strict:
                raise ConfigError(f"roles= names activities that are not in the log: {missing}")
            q.issues.append(QualityIssue("unknown_activity_in_role_mapping", FLAGGED, 0, [],
                                         S.ACTIVITY, "not in the log: " + ", ".join(
                                             map(repr, missing[:10]))))
    role = _role_index(ev)
    closing = np.isin(role, [S.ROLES.index(r) for r in _CLOSING])
    if closing.any():
        # the dossier's first closing time (min over its closing rows), then compared block by
        # block (no n-long int64 temporaries)
        ci = np.flatnonzero(closing)
        close_case = np.full(len(case_start), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(close_case, case_of[ci], ts[ci])
        ci = None
        after = np.empty(n_ev, dtype=bool)
        for a in range(0, n_ev, 1 << 20):
            b = a + (1 << 20)
            np.greater(ts[a:b], close_case[case_of[a:b]], out=after[a:b])
        close_case = None
        ctx.report("event_after_close", after, rows_k, pos_k, FLAGGED, canon=S.ACTIVITY,
                   detail="after the result was returned / the dossier was withdrawn or refused")
    injected = _injected(ev, role, ts)
    ev[S.INJECTED] = injected
    ctx.report("injected_sync_row", injected, rows_k, pos_k, FLAGGED, canon=S.RESOURCE,
               detail="receipt / finish row stamped exactly at the dossier's reported date by a "
                      "generic officer name (sync job, domain notes 2.3)")
    ev[S.ROW] = rows_k

    # the per-row temporaries of the checks above are not needed any more: free them before
    # the categorical codes are rebuilt (peak memory)
    ts = st = close_t = after = case_codes = time_invalid = s = case_col = injected = None
    rows = pos = rows_k = pos_k = drop = keep = role = closing = nfc_rows = ctrl_rows = None
    release_memory()  # freed temporaries back to the system (memory.py)
    # ---------------------------------------------------------------- categorical codes
    for name in CATEGORICAL_COLUMNS:
        if name not in ev.columns or not isinstance(ev[name].dtype, pd.CategoricalDtype):
            continue
        col = ev[name]
        if name == S.CASE and _sorted_text(col.cat.categories):
            # sorted categories and rows in case order: the codes are the dossier ranks once
            # the unused categories (ids of dropped rows only) are removed
            cc = col.array.codes
            missing = bool((cc < 0).any())
            if len(case_start) != len(col.cat.categories) or missing:
                if not missing:
                    cats = col.cat.categories.take(cc[case_start])
                    ev[name] = make_categorical(case_of, cats, index=col.index, name=name)
                else:
                    ev[name] = _first_appearance(col)
        else:
            ev[name] = _first_appearance(col)

    # ---------------------------------------------------------------- column order
    first_cols = [c for c in (S.CASE, S.ACTIVITY, S.TIMESTAMP, S.START, S.RESOURCE, S.GROUP,
                              S.LIFECYCLE, *CASE_LEVEL, S.REASON) if c in ev.columns]
    tail = [S.ROLE, S.INJECTED, S.ROW]
    rest = [c for c in ev.columns if c not in first_cols and c not in tail]
    ev = ev[first_cols + rest + tail]
    return ev, q


def _other_format_rows(parsed: pd.Series, raw: pd.Series, dominant: str, tz: str,
                       month_first: bool | None) -> np.ndarray:
    """Rows of a mixed-format time column not written in its dominant format."""
    from .timeparse import _FAMILIES
    text = pa.array(raw.astype("str").to_numpy(dtype=object, na_value=None), type=pa.string())
    text = pc.utf8_trim_whitespace(text)
    pattern = dict((f[0], f[1]) for f in _FAMILIES).get("dmy" if dominant == "mdy" else dominant)
    if pattern is None:
        return np.zeros(len(raw), dtype=bool)
    text = pc.replace_substring_regex(text, r"\s*([AaPp]\.?[Mm]\.?|SA|CH|sa|ch)$", "")
    in_dom = np.asarray(pc.fill_null(pc.match_substring_regex(text, pattern), False))
    return parsed.notna().to_numpy() & ~in_dom


def _month_first_rows(parsed: pd.Series, raw: pd.Series) -> np.ndarray:
    """Rows written n/m/yyyy with n <= 12 < m (only readable month-first), vectorised."""
    text = pa.array(raw.astype("str").to_numpy(dtype=object, na_value=None), type=pa.string())
    ext = pc.extract_regex(pc.utf8_trim_whitespace(text), r"^(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-]\d{4}")
    a = pc.cast(pc.struct_field(ext, [0]), pa.int64(), safe=False)
    b = pc.cast(pc.struct_field(ext, [1]), pa.int64(), safe=False)
    hit = pc.fill_null(pc.and_(pc.less_equal(a, 12), pc.greater(b, 12)), False)
    return parsed.notna().to_numpy() & np.asarray(hit, dtype=bool)


def _two_digit_year_rows(parsed: pd.Series, raw: pd.Series) -> np.ndarray:
    """Rows of a time column written dd/mm/yy and read (vectorised, pyarrow regex)."""
    from .timeparse import _FAMILIES
    text = pa.array(raw.astype("str").to_numpy(dtype=object, na_value=None), type=pa.string())
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(text),
                                      r"\s*([AaPp]\.?[Mm]\.?|SA|CH|sa|ch)$", "")
    pattern = dict((f[0], f[1]) for f in _FAMILIES)["dmy_yy"]
    hit = np.asarray(pc.fill_null(pc.match_substring_regex(text, pattern), False), dtype=bool)
    return parsed.notna().to_numpy() & hit


def _injected(ev: pd.DataFrame, role: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Sync-job rows (see the module docstring); ``role`` = index into ``schema.ROLES``."""
    out = np.zeros(len(ev), dtype=bool)
    if S.RESOURCE in ev.columns:
        res = ev[S.RESOURCE]
        if isinstance(res.dtype, pd.CategoricalDtype):
            codes = res.array.codes                   # -1 (missing) reads the last entry below
            uniques = res.cat.categories.to_numpy(dtype=object)
        else:
            codes, uniques = pd.factorize(res)
        generic_u = np.array([fold(u) in GENERIC_OFFICERS for u in uniques], dtype=bool)
        generic = np.append(generic_u, True)[codes]  # empty officer counts as generic
    else:
        return out  # no officer column: nothing tells a sync row from a real receipt
    day = 86_400 * 10**9
    for r, col in ((S.ROLE_RECEIPT, S.RECEIVED), (S.ROLE_FINISHED, S.FINISHED_REPORTED)):
        if col not in ev.columns:
            continue
        ref = _ns(ev[col])
        cand = (role == S.ROLES.index(r)) & generic & (ref != NAT)
        if not cand.any():
            continue
        idx = np.flatnonzero(cand)
        # "00:00 of that date" on the local wall clock
        local = _local(ev[S.TIMESTAMP].iloc[idx])
        ref_local = _local(ev[col].iloc[idx])
        same = ts[idx] // 10**9 == ref[idx] // 10**9  # equal to the second
        midnight = (local % day == 0) & (local // day == ref_local // day)
        out[idx[same | midnight]] = True
    return out


def _local(values: pd.Series) -> np.ndarray:
    """Wall-clock int64 ns of a tz-aware column in its own zone."""
    from ..calendar import utc_to_local_ns
    return utc_to_local_ns(values.array.as_unit("ns").asi8, str(values.dt.tz))


def _int_values(col: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``(int64 values, missing mask)`` of a categorical (codes) or tz-aware datetime (UTC ns)
    column, for exact comparisons without per-row objects; None for other dtypes."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        v = col.array.codes                        # int8/16/32 (a read-only view): exact
        return v, v < 0
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        v = _ns(col)
        return v, v == NAT
    return None


def _positions(pos: np.ndarray | None, sel: np.ndarray) -> np.ndarray:
    """``pos[sel]`` (a mask or an index array), where ``pos`` None stands for 0, 1, 2, ..."""
    if pos is not None:
        return pos[sel]
    if sel.dtype == bool:
        return np.flatnonzero(sel)
    return np.asarray(sel, dtype=np.int64)


def _row_numbers(rows: np.ndarray) -> np.ndarray:
    """The source row numbers as int32 when they fit (every log that fits in memory), else
    int64: they become the ``tm:row`` column."""
    rows = np.asarray(rows)
    i32 = np.iinfo(np.int32)
    if rows.size == 0 or (int(rows.min()) >= i32.min and int(rows.max()) <= i32.max):
        return rows.astype(np.int32, copy=False)
    return rows.astype(np.int64, copy=False)


def _codes_type(n_categories: int) -> type:
    """The integer type of pandas' codes for ``n_categories`` categories."""
    for t in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(t).max:
            return t
    return np.int64


def _sorted_by_case_time(case_codes: np.ndarray, ts: np.ndarray) -> bool:
    """Rows already in (case, time) order: cases in blocks of non-decreasing codes and times
    non-decreasing within each block (then nothing is out of order and no sort is needed)."""
    if len(case_codes) < 2:
        return True
    dc = case_codes[1:] - case_codes[:-1]
    if (dc < 0).any():
        return False
    same = dc == 0
    return not (same & (ts[1:] < ts[:-1])).any()


def _sorted_text(categories: pd.Index) -> bool:
    """Categories in increasing text order (checked by pyarrow on arrow-backed text, so that
    pandas does not build and cache a hash table of the values)."""
    if len(categories) < 2:
        return True
    if pd.api.types.is_string_dtype(categories.dtype) and categories.dtype != object:
        arr = pa.array(categories.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return bool(pc.all(pc.less(arr[:-1], arr[1:])).as_py())
    return bool(categories.is_monotonic_increasing)


def _first_appearance(col: pd.Series) -> pd.Series:
    """A categorical column with its categories in order of first appearance and the unused
    ones removed: the codes and uniques ``pd.factorize`` gives on the same values."""
    codes = col.array.codes                         # (a read-only view)
    k = len(col.cat.categories)
    if k == 0 or not (codes >= 0).any():
        return col.cat.remove_unused_categories() if k else col
    # codes in order of first appearance: pandas' unique on the codes themselves (a hash table
    # of the k codes, no per-row temporary)
    order = pd.unique(codes)
    order = order[order >= 0].astype(np.int64)
    if len(order) == k and np.array_equal(order, np.arange(k)):
        return col                                  # already: first appearances are 0, 1, 2 ...
    lut = np.full(k + 1, -1, dtype=_codes_type(len(order)))
    lut[order] = np.arange(len(order))
    new = lut[codes]                                # code -1 reads lut[-1] = -1 (missing)
    cats = col.cat.categories.take(order)
    return make_categorical(new, cats, ordered=bool(col.cat.ordered), index=col.index,
                            name=col.name)
