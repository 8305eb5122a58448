"""Vectorised timestamp parsing for dossier logs.

Supported, detected per value but decided per column (no row-by-row Python):

* ISO 8601 with or without a UTC offset (``2023-05-01T08:00:00``, ``2023-05-01 08:00:00+07:00``,
  ``...Z``, fractional seconds);
* ``dd/mm/yy`` with a two-digit year (read as 20yy and counted as ``two_digit_year``);
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
converted to ``tz``. Results outside 1901-2199 (the range the working calendar covers with its
margin) count as unparsable, typed datetimes included.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NAT = np.iinfo(np.int64).min
# the working calendar covers 1900-2200 with a year of margin around the dates it is asked
# for, so the reader accepts 1901-2199: every time it returns can be put on the working axis
_MIN_TS, _MAX_TS = pd.Timestamp("1901-01-01"), pd.Timestamp("2199-12-31 23:59:59")
_MIN_NS = _MIN_TS.value
_MAX_NS = _MAX_TS.value
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
    # dd/mm/yy (two-digit year, read as 20yy; '-' is left out: 24-01-02 may be yy-mm-dd)
    ("dmy_yy", r"^\d{1,2}[/.]\d{1,2}[/.]\d{2}" + _TIME + _OFFSET + "$",
     (r"^(\d{1,2})[/.](\d{1,2})[/.](\d{2})", r"20\3-\2-\1")),
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
    if naive_ns.size >= 10_000:
        # one subtraction when the zone keeps one UTC offset around the whole span (no DST
        # change, so nothing ambiguous or non-existent): the same instants, without pandas'
        # per-value conversion
        from ..calendar import _constant_offset
        nat = naive_ns == NAT
        if not nat.all():
            lo = int(naive_ns.min(initial=np.iinfo(np.int64).max, where=~nat))
            hi = int(naive_ns.max())
            day = 86_400 * 1_000_000_000
            off = _constant_offset(lo - 2 * day, hi + 2 * day, tz)
            if off is not None:
                out = naive_ns - off
                out[nat] = NAT
                return out
    idx = pd.DatetimeIndex(naive_ns.view("datetime64[ns]"))
    loc = idx.tz_localize(tz, ambiguous=np.zeros(len(idx), dtype=bool),
                          nonexistent="shift_forward")
    return loc.as_unit("ns").asi8


# zero-padded shapes parsed by pyarrow: (format, length, character at index 10 or None,
# fields to verify as (pyarrow component function, start, end))
_FAST_FORMATS = (
    ("%Y-%m-%d %H:%M:%S", 19, " ", ("hour", 11, 13), ("minute", 14, 16), ("second", 17, 19)),
    ("%Y-%m-%dT%H:%M:%S", 19, "T", ("hour", 11, 13), ("minute", 14, 16), ("second", 17, 19)),
    ("%Y-%m-%d %H:%M", 16, " ", ("hour", 11, 13), ("minute", 14, 16)),
    ("%Y-%m-%d", 10, None),
)
_DATE_FIELDS = (("year", 0, 4), ("month", 5, 7), ("day", 8, 10))


def _in_range(ns: np.ndarray) -> np.ndarray:
    return (ns != NAT) & (ns >= _MIN_NS) & (ns <= _MAX_NS)


def _naive_iso_ns(arr: pa.Array) -> np.ndarray:
    """Naive ISO strings -> wall-clock ns (NaT where invalid/out of range).

    Fast path: pyarrow's strptime for the common zero-padded shapes. pyarrow rolls impossible
    dates over (31/02 -> 03/03, 23:59:60 -> next minute), so a value is accepted only when the
    year, month, day, hour, minute and second of the result equal the digits written. Everything
    else goes to pandas' strict ISO parser."""
    n = len(arr)
    out = np.full(n, NAT, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    length = np.asarray(pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False))
    c10 = pc.utf8_slice_codeunits(arr, 10, 11)
    for fmt, size, sep, *checks in _FAST_FORMATS:
        cand = todo & (length == size)
        if sep is not None:
            cand &= np.asarray(pc.fill_null(pc.equal(c10, sep), False), dtype=bool)
        if not cand.any():
            continue
        idx = np.flatnonzero(cand)
        sub = arr if len(idx) == n else arr.take(pa.array(idx))
        parsed = pc.strptime(sub, format=fmt, unit="s", error_is_null=True)
        ok = np.asarray(pc.is_valid(parsed), dtype=bool)
        try:
            for field, lo, hi in (*_DATE_FIELDS, *checks):
                written = pc.cast(pc.utf8_slice_codeunits(sub, lo, hi), pa.int64(), safe=False)
                got = getattr(pc, field)(parsed)
                ok &= np.asarray(pc.fill_null(pc.equal(written, got), False), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # leave these values to pandas
        if ok.any():
            secs = np.asarray(pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
            out[idx[ok]] = secs[ok].astype(np.int64) * 1_000_000_000
            todo[idx[ok]] = False
    if todo.any():
        idx = np.flatnonzero(todo)
        strings = np.asarray(arr.take(pa.array(idx)).to_numpy(zero_copy_only=False), dtype=object)
        dt = pd.to_datetime(pd.Series(strings, dtype=object), format="ISO8601", errors="coerce")
        ok = (dt.notna() & (dt >= _MIN_TS) & (dt <= _MAX_TS)).to_numpy()
        if ok.any():
            out[idx[ok]] = dt[ok].dt.as_unit("ns").to_numpy().view(np.int64)
    out[~_in_range(out)] = NAT
    return out


def _iso_to_utc(arr: pa.Array, tz: str) -> np.ndarray:
    """ISO strings (naive or with a UTC offset) -> UTC ns; NaT where invalid or out of range."""
    n = len(arr)
    out = np.full(n, NAT, dtype=np.int64)
    if n == 0:
        return out
    arr = pc.replace_substring(arr, ",", ".")  # 08:00:00,5 -> 08:00:00.5
    # cheap pre-check for an offset (Z, or + / - after the date), then the exact pattern
    tail = pc.utf8_slice_codeunits(arr, 10)
    maybe = np.asarray(pc.fill_null(pc.or_(pc.match_substring(tail, "+"), pc.or_(
        pc.match_substring(tail, "-"), pc.ends_with(tail, "Z"))), False), dtype=bool)
    aware = np.zeros(n, dtype=bool)
    if maybe.any():
        idx = np.flatnonzero(maybe)
        m = pc.fill_null(pc.match_substring_regex(arr.take(pa.array(idx)), _AWARE), False)
        aware[idx[np.asarray(m, dtype=bool)]] = True
    if (~aware).any():
        idx = np.flatnonzero(~aware)
        sub = arr if len(idx) == n else arr.take(pa.array(idx))
        out[idx] = _localize(_naive_iso_ns(sub), tz)
    if aware.any():
        idx = np.flatnonzero(aware)
        strings = np.asarray(arr.take(pa.array(idx)).to_numpy(zero_copy_only=False), dtype=object)
        try:
            dt = pd.to_datetime(pd.Series(strings, dtype=object), format="ISO8601",
                                errors="coerce", utc=True).dt.tz_localize(None)
        except (ValueError, OverflowError):  # pragma: no cover - defensive
            dt = pd.Series(pd.NaT, index=range(len(idx)), dtype="datetime64[ns]")
        ok = (dt.notna() & (dt >= _MIN_TS) & (dt <= _MAX_TS)).to_numpy()
        vals = np.full(len(idx), NAT, dtype=np.int64)
        if ok.any():
            vals[ok] = dt[ok].dt.as_unit("ns").to_numpy().view(np.int64)
        out[idx] = vals
    return out


def _candidates(u: pa.Array) -> dict[str, np.ndarray]:
    """Cheap per-value guesses of the family (character positions), before the exact regex."""
    def at(i: int) -> pa.Array:
        return pc.utf8_slice_codeunits(u, i, i + 1)

    def isin(x: pa.Array, chars: list[str]) -> np.ndarray:
        return np.asarray(pc.fill_null(pc.is_in(x, pa.array(chars)), False), dtype=bool)

    c4 = at(4)
    seps = ["/", ".", "-"]
    digits = np.asarray(pc.fill_null(pc.utf8_is_digit(u), False), dtype=bool)
    length = np.asarray(pc.utf8_length(u).to_numpy(zero_copy_only=False))
    return {
        "iso": isin(c4, ["-"]),
        "ymd_slash": isin(c4, ["/", "."]),
        "dmy": isin(at(1), seps) | isin(at(2), seps),
        "dmy_yy": isin(at(1), seps[:2]) | isin(at(2), seps[:2]),
        "yyyyMMddHHmmss": digits & (length == 14),
        "yyyyMMddHHmm": digits & (length == 12),
        "yyyyMMdd": digits & (length == 8),
        "excel_serial": isin(at(5), ["."]) | (digits & (length == 5)),
    }


def _strings_to_utc(u: pa.Array, tz: str, month_first: bool | None
                    ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Distinct trimmed non-empty strings -> (UTC ns, family index per value (-1 unparsed),
    month_first used)."""
    n = len(u)
    out = np.full(n, NAT, dtype=np.int64)
    fam = np.full(n, -1, dtype=np.int8)
    # 12-hour clock suffix: remember it, strip it, fix the hour afterwards
    last = pc.utf8_slice_codeunits(u, -1)
    maybe12 = np.asarray(pc.fill_null(pc.is_in(last, pa.array(list("MmAaHh."))), False), dtype=bool)
    suffix_np = np.full(n, "", dtype=object)
    if maybe12.any():
        idx = np.flatnonzero(maybe12)
        ext = pc.extract_regex(u.take(pa.array(idx)), _AMPM)
        suf = pc.utf8_upper(pc.fill_null(pc.struct_field(ext, [0]), ""))
        suffix_np[idx] = np.asarray(suf.to_numpy(zero_copy_only=False), dtype=object)
    is_pm = np.isin(suffix_np, ["PM", "P.M.", "P.M", "CH"])
    is_12h = suffix_np != ""
    if is_12h.any():
        u = pc.replace_substring_regex(u, _AMPM, "")
    mf_used = False
    mixed_mf = None
    cands = _candidates(u)
    for i, (name, pattern, rewrite) in enumerate(_FAMILIES):
        todo = fam < 0
        if not todo.any():
            break
        cidx = np.flatnonzero(cands[name] & todo)
        if len(cidx) == 0:
            continue
        csub = u.take(pa.array(cidx))
        ok = np.asarray(pc.fill_null(pc.match_substring_regex(csub, pattern), False), dtype=bool)
        if not ok.any():
            continue
        sub = csub.filter(pa.array(ok))
        m = np.zeros(n, dtype=bool)
        m[cidx[ok]] = True
        if name == "excel_serial":
            x = np.asarray(pc.cast(sub, pa.float64()).to_numpy(zero_copy_only=False))
            ok = (x >= _SERIAL_MIN) & (x <= _SERIAL_MAX)
            ns = np.full(len(x), NAT, dtype=np.int64)
            ms = np.round((x[ok] - _EXCEL_EPOCH_DAYS) * 86_400_000.0).astype(np.int64)
            ns[ok] = ms * 1_000_000
            vals = _localize(ns, tz)
        elif name == "dmy":
            vals = _iso_to_utc(pc.replace_substring_regex(sub, *rewrite), tz)
            if month_first is not False:
                # a value read month-first is valid iff its first field is <= 12, i.e. iff its
                # day-first reading has a day <= 12: only the failures need a second parse
                mf_vals = np.full(len(vals), NAT, dtype=np.int64)
                if month_first:
                    mf_vals = _iso_to_utc(pc.replace_substring_regex(sub, *_MDY_REWRITE), tz)
                else:
                    fail = np.flatnonzero(vals == NAT)
                    if len(fail):
                        mf_vals[fail] = _iso_to_utc(pc.replace_substring_regex(
                            sub.take(pa.array(fail)), *_MDY_REWRITE), tz)
                good = vals != NAT
                day = np.zeros(len(vals), dtype=np.int64)
                if good.any():
                    day[good] = pd.DatetimeIndex(vals[good].view("datetime64[ns]")).tz_localize(
                        "UTC").tz_convert(tz).day
                only_df = good & (day > 12)
                only_mf = (mf_vals != NAT) & ~good
                if month_first or (only_mf.any() and not only_df.any()):
                    # the column is month-first (some value has a "month" above 12 only
                    # when read day-first, none the other way round)
                    if not month_first:
                        mf_vals = _iso_to_utc(pc.replace_substring_regex(sub, *_MDY_REWRITE), tz)
                    vals, mf_used = mf_vals, True
                elif only_mf.any():
                    # genuinely mixed: day-first stays the default for ambiguous values;
                    # values that only make sense month-first are read so
                    vals = np.where(only_mf, mf_vals, vals)
                    mixed_mf = np.zeros(n, dtype=bool)
                    mixed_mf[np.flatnonzero(m)[only_mf]] = True
        else:
            iso = sub if rewrite is None else pc.replace_substring_regex(sub, *rewrite)
            vals = _iso_to_utc(iso, tz)
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


def _typed_in_range(values: pd.Series) -> pd.Series:
    """Naive datetimes (any unit) outside 1901-2199 -> NaT (counted as unparsable)."""
    return values.where((values >= _MIN_TS) & (values <= _MAX_TS))


_DMY_DIGITS = (0, 1, 3, 4, 6, 7, 8, 9, 11, 12, 14, 15, 17, 18)


def _civil_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised, integer arithmetic)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _fixed_dmy(values: pd.Series, tz: str) -> ParsedTimes | None:
    """Fast path for the one-stop export's own shape, ``dd/mm/yyyy HH:MM:SS`` zero-padded in
    every non-empty cell of an Arrow-backed text column: the digits are read straight from the
    Arrow buffer as a ``(rows, 19)`` byte matrix, checked (calendar dates, 00-23:00-59:00-59,
    1901-2199) and converted with integer arithmetic. Returns None (the general path decides)
    as soon as one cell has another shape or an impossible value, so the result always equals
    the general path's: every value reads day-first, so the column is day-first."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return None
    n = len(values)
    if n < 1000:
        return None
    try:
        arr = pa.array(values.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # pragma: no cover
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    m = int(valid.sum())
    if m == 0:
        return None
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset:arr.offset + n + 1]
    starts = offsets[:-1][valid].astype(np.int64)     # (a null slot may still hold bytes)
    if not (offsets[1:][valid] - starts == 19).all():
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    s0 = int(starts[0])
    if int(starts[-1]) == s0 + 19 * (m - 1) and (np.diff(starts) == 19).all():
        mat = data[s0:s0 + 19 * m].reshape(m, 19)     # the usual case: one contiguous block
    else:
        mat = data[starts[:, None] + np.arange(19)]
    if not ((mat[:, 2] == 47) & (mat[:, 5] == 47) & (mat[:, 10] == 32) & (mat[:, 13] == 58)
            & (mat[:, 16] == 58)).all():
        return None
    dig = mat[:, _DMY_DIGITS] - np.uint8(48)          # uint8: a non-digit wraps above 9
    if (dig > 9).any():
        return None

    def num(*cols: int) -> np.ndarray:
        out = dig[:, cols[0]].astype(np.int32)
        for c in cols[1:]:
            out *= 10
            out += dig[:, c]
        return out

    day, mon, yr = num(0, 1), num(2, 3), num(4, 5, 6, 7)
    hh, mi, ss = num(8, 9), num(10, 11), num(12, 13)
    del dig
    leap = ((yr % 4 == 0) & (yr % 100 != 0)) | (yr % 400 == 0)
    dim = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    ok = (mon >= 1) & (mon <= 12) & (day >= 1) & (hh <= 23) & (mi <= 59) & (ss <= 59)
    if not ok.all():
        return None
    if not (day <= dim[mon] + (leap & (mon == 2))).all():
        return None
    y0 = int(yr.min())
    span = int(yr.max()) - y0 + 1              # days before each (year, month): a small table
    gy, gm = np.divmod(np.arange(span * 12, dtype=np.int64), 12)
    first_of_month = _civil_days(gy + y0, gm + 1, np.ones(span * 12, dtype=np.int64))
    naive = first_of_month[(yr - y0) * 12 + (mon - 1)]
    naive += day - 1
    naive *= 86_400
    naive += hh * 3600 + mi * 60 + ss
    naive *= 1_000_000_000
    if not ((naive >= _MIN_NS) & (naive <= _MAX_NS)).all():
        return None
    ns = np.full(n, NAT, dtype=np.int64)
    ns[valid] = naive
    del naive
    utc = _localize(ns, tz)
    return ParsedTimes(_utc_series(utc, values.index, tz), np.zeros(n, dtype=bool), {"dmy": m})


def parse_times(values: pd.Series, tz: str, *, month_first: bool | None = None) -> ParsedTimes:
    """Parse one column of timestamps (see the module docstring).

    ``month_first``: ``None`` decides per column (day-first unless month-first parses more
    values), ``True``/``False`` forces it. Empty values are missing, not invalid.
    """
    index = values.index
    n = len(values)
    dtype = values.dtype
    if month_first is not True:
        fast = _fixed_dmy(values, tz)
        if fast is not None:
            return fast
    if isinstance(dtype, pd.DatetimeTZDtype):
        arr = values.array
        if arr.unit == "ns":  # the usual case: checked on the int64 view, no copies
            ns = arr.asi8
            nat = ns == NAT
            if (nat | ((ns >= _MIN_NS) & (ns <= _MAX_NS))).all():
                s = values.dt.tz_convert(tz)
                return ParsedTimes(s, np.zeros(n, dtype=bool), {"datetime": int(n - nat.sum())})
        s = _typed_in_range(values.dt.tz_convert("UTC").dt.tz_localize(None))
        bad = s.isna().to_numpy() & values.notna().to_numpy()
        s = s.dt.tz_localize("UTC").dt.tz_convert(tz).dt.as_unit("ns")
        return ParsedTimes(s, bad, {"datetime": int(s.notna().sum())})
    if pd.api.types.is_datetime64_dtype(dtype):
        s = _typed_in_range(values)
        bad = s.isna().to_numpy() & values.notna().to_numpy()
        ns = s.dt.as_unit("ns").to_numpy().view(np.int64).copy()
        utc = _localize(ns, tz)
        return ParsedTimes(_utc_series(utc, index, tz), bad,
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
