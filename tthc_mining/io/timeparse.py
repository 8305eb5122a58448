"""Vectorised timestamp parsing for dossier logs.

Supported, detected per value but decided per column (no row-by-row Python):

* ISO 8601 with or without a UTC offset (``2023-05-01T08:00:00``, ``2023-05-01 08:00:00+07:00``,
  ``...Z``, fractional seconds);
* ``dd/mm/yyyy[ HH:MM[:SS[.fff]]]`` (also with ``-`` or ``.`` between the date parts), the
  Vietnamese default; a column is read month-first (``mm/dd/yyyy``) only when that parses more of
  its values than day-first does (e.g. it contains ``12/25/2023``), or when asked;
* ``yyyy/mm/dd[ HH:MM[:SS[.fff]]]`` (Disco exports);
* 12-hour clocks with ``AM``/``PM`` or the Vietnamese ``SA``/``CH`` suffix;
* ``yyyyMMddHHmmss``, ``yyyyMMddHHmm`` and ``yyyyMMdd`` (the national portal's sync format);
* Excel serial dates (days since 1899-12-30, fractional part = time of day) between 1950 and 2100;
* values that already are datetimes (Excel cells, Parquet, DataFrames).

Every shape is rewritten with a vectorised regular expression (pyarrow) to ISO 8601 and parsed by
pandas' ISO parser, which rejects impossible dates such as 31/02. Parsing runs over the distinct
values of a column only. Naive values are wall-clock time in ``tz``; values with an offset are
converted to ``tz``. Results outside 1900-2200 count as unparsable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NAT = np.iinfo(np.int64).min
_MIN_NS = pd.Timestamp("1900-01-01").value
_MAX_NS = pd.Timestamp("2200-12-31 23:59:59").value
_EXCEL_EPOCH_DAYS = 25569  # 1899-12-30 -> 1970-01-01
_SERIAL_MIN, _SERIAL_MAX = 18264, 73051  # 1950-01-01 .. 2100-01-01

_TIME = r"(?:[T ]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
_OFFSET = r"(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?"
_AWARE = r"[T ]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_AMPM = r"\s*(?P<s>[AaPp]\.?[Mm]\.?|SA|CH|sa|ch)$"

# family name, full-match pattern, rewrite to ISO (pattern, replacement) or None
_FAMILIES: list[tuple[str, str, tuple[str, str] | None]] = [
    ("iso", r"^\d{4}-\d{1,2}-\d{1,2}" + _TIME + _OFFSET + "$", None),
    ("ymd_slash", r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}" + _TIME + _OFFSET + "$",
     (r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3")),
    ("dmy", r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}" + _TIME + _OFFSET + "$",
     (r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", r"\3-\2-\1")),
    ("yyyyMMddHHmmss", r"^\d{14}$",
     (r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$", r"\1-\2-\3 \4:\5:\6")),
    ("yyyyMMddHHmm", r"^\d{12}$", (r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$", r"\1-\2-\3 \4:\5")),
    ("yyyyMMdd", r"^\d{8}$", (r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")),
    ("excel_serial", r"^\d{5}(?:\.\d+)?$", None),
]
_MDY_REWRITE = (r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", r"\3-\1-\2")


@dataclass
class ParsedTimes:
    """Result of :func:`parse_times` (all arrays aligned with the input)."""

    values: pd.Series                  # datetime64[ns, tz]
    invalid: np.ndarray                # bool: a non-empty value that could not be parsed
    formats: dict[str, int] = field(default_factory=dict)  # rows per detected format
    month_first: bool = False          # slash dates read as mm/dd/yyyy

    @property
    def n_invalid(self) -> int:
        return int(self.invalid.sum())

    @property
    def mixed(self) -> bool:
        return sum(1 for v in self.formats.values() if v) > 1


def _utc_series(utc_ns: np.ndarray, index: pd.Index, tz: str) -> pd.Series:
    idx = pd.DatetimeIndex(utc_ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
    return pd.Series(idx, index=index)


def _localize(naive_ns: np.ndarray, tz: str) -> np.ndarray:
    """Naive wall-clock ns in ``tz`` -> UTC ns (NaT kept). Ambiguous times (DST fall-back) are
    read as standard time; non-existent ones (spring-forward gap) move forward."""
    if naive_ns.size == 0:
        return naive_ns
    idx = pd.DatetimeIndex(naive_ns.view("datetime64[ns]"))
    loc = idx.tz_localize(tz, ambiguous=np.zeros(len(idx), dtype=bool),
                          nonexistent="shift_forward")
    return loc.as_unit("ns").asi8


def _iso_to_utc(strings: np.ndarray, tz: str) -> np.ndarray:
    """ISO strings (naive or with offset) -> UTC ns; NaT where invalid or out of range."""
    out = np.full(len(strings), NAT, dtype=np.int64)
    if len(strings) == 0:
        return out
    arr = pa.array(strings, type=pa.string())
    aware = np.asarray(pc.fill_null(pc.match_substring_regex(arr, _AWARE), False))
    for mask, is_aware in ((aware, True), (~aware, False)):
        if not mask.any():
            continue
        s = pd.Series(strings[mask], dtype=object).str.replace(",", ".", regex=False)
        try:
            dt = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=is_aware)
        except (ValueError, OverflowError):  # pragma: no cover - defensive
            dt = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        if is_aware:
            dt = dt.dt.tz_localize(None)
        # range check before narrowing to ns (year 0001 would overflow)
        ok = dt.notna() & (dt >= pd.Timestamp("1900-01-01")) & (dt <= pd.Timestamp("2200-12-31 23:59:59"))
        vals = np.full(len(s), NAT, dtype=np.int64)
        if ok.any():
            vals[ok.to_numpy()] = dt[ok].dt.as_unit("ns").to_numpy().view(np.int64)
        if not is_aware:
            vals = _localize(vals, tz)
        out[mask] = vals
    return out


def _strings_to_utc(u: pa.Array, tz: str, month_first: bool | None
                    ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Distinct trimmed non-empty strings -> (UTC ns, family index per value (-1 unparsed),
    month_first used)."""
    n = len(u)
    out = np.full(n, NAT, dtype=np.int64)
    fam = np.full(n, -1, dtype=np.int8)
    # 12-hour clock suffix: remember it, strip it, fix the hour afterwards
    ampm_raw = pc.extract_regex(u, _AMPM)
    suffix = pc.struct_field(ampm_raw, [0]) if n else pa.array([], pa.string())
    suffix = pc.utf8_upper(pc.fill_null(suffix, ""))
    suffix_np = np.asarray(suffix.to_numpy(zero_copy_only=False), dtype=object)
    is_pm = np.isin(suffix_np, ["PM", "P.M.", "P.M", "CH"])
    is_12h = suffix_np != ""
    if is_12h.any():
        u = pc.replace_substring_regex(u, _AMPM, "")
    mf_used = False
    mixed_mf = None
    for i, (name, pattern, rewrite) in enumerate(_FAMILIES):
        todo = fam < 0
        if not todo.any():
            break
        m = np.asarray(pc.fill_null(pc.match_substring_regex(u, pattern), False)) & todo
        if not m.any():
            continue
        sub = u.filter(pa.array(m))
        if name == "excel_serial":
            x = np.asarray(pc.cast(sub, pa.float64()).to_numpy(zero_copy_only=False))
            ok = (x >= _SERIAL_MIN) & (x <= _SERIAL_MAX)
            ns = np.full(len(x), NAT, dtype=np.int64)
            ms = np.round((x[ok] - _EXCEL_EPOCH_DAYS) * 86_400_000.0).astype(np.int64)
            ns[ok] = ms * 1_000_000
            vals = _localize(ns, tz)
        elif name == "dmy":
            df_iso = pc.replace_substring_regex(sub, *rewrite).to_numpy(zero_copy_only=False)
            vals = _iso_to_utc(np.asarray(df_iso, dtype=object), tz)
            if month_first is not False:
                mf_iso = pc.replace_substring_regex(sub, *_MDY_REWRITE).to_numpy(zero_copy_only=False)
                mf_vals = _iso_to_utc(np.asarray(mf_iso, dtype=object), tz)
                only_df = (vals != NAT) & (mf_vals == NAT)
                only_mf = (mf_vals != NAT) & (vals == NAT)
                if month_first or (only_mf.any() and not only_df.any()):
                    # the column is month-first (some value has a "month" above 12 only
                    # when read day-first, none the other way round)
                    vals, mf_used = mf_vals, True
                elif only_mf.any():
                    # genuinely mixed: day-first stays the default for ambiguous values;
                    # values that only make sense month-first are read so
                    vals = np.where(only_mf, mf_vals, vals)
                    mixed_mf = np.zeros(n, dtype=bool)
                    mixed_mf[np.flatnonzero(m)[only_mf]] = True
        else:
            iso = sub if rewrite is None else pc.replace_substring_regex(sub, *rewrite)
            vals = _iso_to_utc(np.asarray(iso.to_numpy(zero_copy_only=False), dtype=object), tz)
        idx = np.flatnonzero(m)
        good = vals != NAT
        out[idx[good]] = vals[good]
        fam[idx[good]] = i
    if mixed_mf is not None:
        fam[mixed_mf & (out != NAT)] = len(_FAMILIES)  # "mdy" values inside a day-first column
    if is_12h.any():
        ok = is_12h & (out != NAT)
        if ok.any():
            # the hour on the local wall clock decides the correction
            local = pd.DatetimeIndex(out[ok].view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
            hour = np.asarray(local.hour)
            pm = is_pm[ok]
            shift = np.where(pm & (hour < 12), 12, np.where(~pm & (hour == 12), -12, 0))
            bad = hour > 12  # "13:00 PM" is not a 12-hour clock time
            vals = out[ok] + shift.astype(np.int64) * 3_600_000_000_000
            vals[bad] = NAT
            out[ok] = vals
            fam[np.flatnonzero(ok)[bad]] = -1
    return out, fam, mf_used


def parse_times(values: pd.Series, tz: str, *, month_first: bool | None = None) -> ParsedTimes:
    """Parse one column of timestamps (see the module docstring).

    ``month_first``: ``None`` decides per column (day-first unless month-first parses more
    values), ``True``/``False`` forces it. Empty values are missing, not invalid.
    """
    index = values.index
    n = len(values)
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        s = values.dt.tz_convert(tz).dt.as_unit("ns")
        return ParsedTimes(s, np.zeros(n, dtype=bool), {"datetime": int(s.notna().sum())})
    if pd.api.types.is_datetime64_dtype(dtype):
        ns = values.dt.as_unit("ns").to_numpy().view(np.int64).copy()
        utc = _localize(ns, tz)
        return ParsedTimes(_utc_series(utc, index, tz), np.zeros(n, dtype=bool),
                           {"datetime": int((ns != NAT).sum())})
    if pd.api.types.is_bool_dtype(dtype):
        values = values.astype(object)
        dtype = values.dtype
    if pd.api.types.is_numeric_dtype(dtype):
        num = pd.to_numeric(values, errors="coerce").astype("float64")
        x = num.to_numpy()
        integral = np.isfinite(x) & (x == np.floor(x)) & (np.abs(x) < 1e15)
        text = np.full(n, None, dtype=object)
        if integral.any():
            text[integral] = x[integral].astype(np.int64).astype(str)
        frac = np.isfinite(x) & ~integral
        if frac.any():
            text[frac] = x[frac].astype(str)
        values = pd.Series(text, index=index, dtype=object)
    elif dtype == object:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("datetime", "datetime64", "date"):
            try:
                dt = pd.to_datetime(values, errors="coerce")
            except (ValueError, TypeError):
                dt = pd.to_datetime(values, errors="coerce", utc=True)
            return parse_times(dt, tz, month_first=month_first)
        if kind not in ("string", "empty"):
            values = values.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
                                na_action="ignore")
    codes, uniques = pd.factorize(values)
    u = pa.array(np.asarray(uniques, dtype=object), type=pa.string())
    u = pc.utf8_trim_whitespace(u)
    empty = np.asarray(pc.equal(u, ""))
    utc, fam, mf = _strings_to_utc(u, tz, month_first)
    utc[empty] = NAT
    ext = np.append(utc, NAT)  # code -1 (missing) -> NaT
    res = ext[codes]
    bad_u = (utc == NAT) & ~empty
    invalid = np.append(bad_u, False)[codes]
    fam_rows = np.append(fam, -1)[codes]
    counts = np.bincount(fam_rows[fam_rows >= 0], minlength=len(_FAMILIES) + 1)
    formats = {}
    for i, name in enumerate([f[0] for f in _FAMILIES] + ["mdy"]):
        if counts[i]:
            label = "mdy" if (name == "dmy" and mf) else name
            formats[label] = formats.get(label, 0) + int(counts[i])
    return ParsedTimes(_utc_series(res, index, tz), invalid, formats, mf)
