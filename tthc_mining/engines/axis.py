"""The working-time axis in relational form: a calendar-table join plus the in-day clip.

Exactly the arithmetic of :meth:`tthc_mining.calendar.WorkingCalendar.to_working_ns`, in int64
nanoseconds, written once with Ibis for DuckDB and Spark:

1. ``us`` = microseconds since 1970-01-01 UTC of the timestamp (:func:`epoch_us`: DuckDB
   ``epoch_us``, Spark ``unix_micros``; both backends run with a UTC session time zone, see
   :func:`tthc_mining.engines.core.connect`);
2. local wall clock ``local = us + offset``: the UTC offset of the calendar's zone is one literal
   when it is the same over the whole data range (every zone without DST, e.g.
   Asia/Ho_Chi_Minh); otherwise it comes from a small Python-built table of the offset per UTC
   hour of the data range (per 15 minutes if an offset change falls inside an hour), joined on
   the hour number, so DST zones stay exact. Timestamps without a time zone are the local wall
   clock already (as in the pandas reader);
3. ``day = floor(local / 1 day)`` (integer division, corrected exactly), ``nid`` = nanoseconds
   into the local day;
4. the **calendar table** (one row per local day of the data range: ``tm:day`` day number since
   1970-01-01, ``tm:base_ns`` = working nanoseconds before that day = ``cum * L_ns`` of the
   calendar's day table, ``tm:working`` 0/1) is joined on the day;
5. ``working_ns = base_ns + working * sum_slots(clip(nid - slot_start, 0, slot_len))``.

A NULL timestamp gives NULL. Durations are differences of two such int64 values, exact to the
nanosecond (to the microsecond of the input: both backends store microseconds).
"""
from __future__ import annotations

from typing import Any, Mapping

import ibis.expr.datatypes as dt  # noqa: F401 - the builtin UDFs' annotations name it
import numpy as np
import pandas as pd

from ..calendar import NS_PER_DAY, NS_PER_S, _constant_offset
from .core import RelationalLog, _ibis, _register

US_PER_DAY = NS_PER_DAY // 1000
US_PER_HOUR = 3_600_000_000
US_PER_QUARTER = 900_000_000


_NATIVE_EPOCH: dict = {}


def _native_epoch(backend: str):
    """The backend's own "microseconds since the epoch" function as an Ibis builtin UDF
    (DuckDB ``epoch_us``, Spark ``unix_micros``): the same value as the portable
    ``delta(epoch, 'microsecond')``, which DuckDB computes through its calendar code (about 10x
    slower). The only backend-specific name in the engines."""
    if backend not in _NATIVE_EPOCH:
        ibis = _ibis()
        name = "unix_micros" if backend == "spark" else "epoch_us"

        @ibis.udf.scalar.builtin(name=name)
        def _epoch(x: dt.Timestamp()) -> dt.int64:  # a builtin: the signature only
            ...
        _NATIVE_EPOCH[backend] = _epoch
    return _NATIVE_EPOCH[backend]


def epoch_us(col: Any, backend: str | None = None):
    """Microseconds since 1970-01-01 00:00 (UTC for an instant, the wall clock for a naive
    timestamp) of an Ibis timestamp expression, as int64 (NULL stays NULL). ``backend``
    (``"duckdb"`` / ``"spark"``; found from the expression when omitted) selects the native
    function; an expression without a backend uses the portable ``delta`` to the epoch."""
    ibis = _ibis()
    if backend is None:
        try:
            backend = "spark" if col._find_backend().name == "pyspark" else "duckdb"
        except Exception:
            backend = None
    if backend in ("duckdb", "spark"):
        return _native_epoch(backend)(col).cast("int64")
    return col.delta(ibis.timestamp("1970-01-01 00:00:00"), unit="microsecond").cast("int64")


def epoch_ns(rlog: RelationalLog, col: Any):
    """:func:`epoch_us` in nanoseconds (int64; the backends hold microseconds)."""
    return epoch_us(col, rlog.backend) * 1000


def floor_div(x: Any, d: int):
    """``floor(x / d)`` of an int64 expression by a positive constant, exact: the backends
    divide in float64, so the quotient is corrected by the sign of the remainder."""
    q = (x // d).cast("int64")
    r = x - q * d
    return (r < 0).ifelse(q - 1, (r >= d).ifelse(q + 1, q))


def time_range(rlog: RelationalLog, columns: list[str]) -> dict[str, tuple[int, int] | None]:
    """``{column: (min_us, max_us)}`` of timestamp columns (None when all empty); one
    aggregate query for the columns not cached yet."""
    cache = rlog._cache.setdefault("time_range", {})
    todo = [c for c in columns if c not in cache]
    if todo:
        ev = rlog.events
        aggs = {}
        for i, c in enumerate(todo):
            us = epoch_us(ev[c], rlog.backend)
            aggs[f"lo{i}"] = us.min()
            aggs[f"hi{i}"] = us.max()
        row = ev.aggregate(**aggs).to_pyarrow().to_pylist()[0]
        for i, c in enumerate(todo):
            lo, hi = row[f"lo{i}"], row[f"hi{i}"]
            cache[c] = None if lo is None else (int(lo), int(hi))
    return {c: cache[c] for c in columns}


def _offsets(rlog: RelationalLog, lo_us: int, hi_us: int) -> tuple[int | None, pd.DataFrame | None, int]:
    """``(constant offset in µs, None, 0)`` or ``(None, table bucket -> offset µs, bucket µs)``
    for the calendar's zone over the UTC span [lo_us, hi_us]."""
    tz = rlog.calendar.tz or "UTC"
    key = ("offsets", tz, lo_us, hi_us)
    if key in rlog._cache:
        return rlog._cache[key]
    off = _constant_offset(lo_us * 1000, hi_us * 1000, tz)
    if off is not None:
        out = (off // 1000, None, 0)
    else:
        out = None
        for bucket in (US_PER_HOUR, US_PER_QUARTER):
            b = np.arange(lo_us // bucket, hi_us // bucket + 1, dtype=np.int64)
            starts = b * bucket * 1000
            ends = starts + bucket * 1000 - 1

            def offset_at(ns: np.ndarray) -> np.ndarray:
                idx = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
                return idx.tz_convert(tz).tz_localize(None).as_unit("ns").asi8 - ns
            o0, o1 = offset_at(starts), offset_at(ends)
            if np.array_equal(o0, o1):
                out = (None, pd.DataFrame({"tm:bucket": b, "tm:off_us": o0 // 1000}), bucket)
                break
        if out is None:  # pragma: no cover - no zone changes offset off a quarter hour
            raise NotImplementedError(f"time zone {tz!r} changes its offset inside a quarter hour")
    rlog._cache[key] = out
    return out


def calendar_frame(calendar: Any, day_lo: int, day_hi: int) -> pd.DataFrame:
    """The calendar table for local day numbers ``day_lo..day_hi`` (days since 1970-01-01):
    ``tm:day``, ``tm:base_ns`` (working ns before the day) and ``tm:working`` (0/1)."""
    calendar._ensure(day_lo, day_hi)
    L_ns = int(round(calendar.seconds_per_day * NS_PER_S))
    days = np.arange(day_lo, day_hi + 1, dtype=np.int64)
    idx = days - calendar._d0
    return pd.DataFrame({"tm:day": days,
                         "tm:base_ns": calendar._cum[idx].astype(np.int64) * L_ns,
                         "tm:working": calendar._working[idx].astype(np.int64)})


def _slots_ns(calendar: Any) -> list[tuple[int, int]]:
    return [(int(round(a * NS_PER_S)), int(round(ln * NS_PER_S)))
            for a, ln in zip(calendar._a, calendar._len)]


def _calendar_table(rlog: RelationalLog, day_lo: int, day_hi: int):
    key = ("calendar_table", day_lo, day_hi)
    if key not in rlog._cache:
        rlog._cache[key] = _register(rlog.con, rlog.backend,
                                     calendar_frame(rlog.calendar, day_lo, day_hi), "tthc_calendar")
    return rlog._cache[key]


def with_working_ns(rlog: RelationalLog, table: Any, columns: Mapping[str, str]) -> Any:
    """``table`` with one int64 column per entry ``{new name: timestamp column}``: the
    timestamp on the working-time axis in nanoseconds (:meth:`WorkingCalendar.to_working_ns`),
    NULL for a NULL timestamp. ``table`` must hold the timestamp columns (usually
    ``rlog.events`` or an expression over it); the data range is taken from ``rlog.events``."""
    ibis = _ibis()
    cal = rlog.calendar
    ranges = time_range(rlog, list(dict.fromkeys(columns.values())))
    slots = _slots_ns(cal)
    t = table
    for k, (name, col) in enumerate(columns.items()):
        rng = ranges[col]
        if rng is None:  # all empty: NULL
            t = t.mutate(**{name: ibis.null("int64")})
            continue
        lo, hi = rng
        us = epoch_us(t[col], rlog.backend)
        tmp_local, tmp_day = f"tm:_local{k}", f"tm:_day{k}"
        if col in rlog.naive_columns:
            t = t.mutate(**{tmp_local: us})
            lo_l, hi_l = lo, hi
        else:
            const, table_off, bucket = _offsets(rlog, lo, hi)
            if const is not None:
                t = t.mutate(**{tmp_local: us + const})
                lo_l, hi_l = lo + const, hi + const
            else:
                off_t = _register(rlog.con, rlog.backend, table_off, "tthc_offsets")
                off_t = off_t.rename({f"tm:_bucket{k}": "tm:bucket", f"tm:_off{k}": "tm:off_us"})
                t = t.mutate(**{f"tm:_b{k}": floor_div(us, bucket)})
                t = t.left_join(off_t, t[f"tm:_b{k}"] == off_t[f"tm:_bucket{k}"])
                t = t.mutate(**{tmp_local: us + t[f"tm:_off{k}"]})
                t = t.drop(f"tm:_b{k}", f"tm:_bucket{k}", f"tm:_off{k}")
                lo_l = lo + int(table_off["tm:off_us"].min())
                hi_l = hi + int(table_off["tm:off_us"].max())
        day_lo, day_hi = lo_l // US_PER_DAY - 1, hi_l // US_PER_DAY + 1
        cal_t = _calendar_table(rlog, day_lo, day_hi).rename(
            {f"tm:_cday{k}": "tm:day", f"tm:_base{k}": "tm:base_ns", f"tm:_work{k}": "tm:working"})
        local = t[tmp_local]
        t = t.mutate(**{tmp_day: floor_div(local, US_PER_DAY)})
        t = t.left_join(cal_t, t[tmp_day] == cal_t[f"tm:_cday{k}"])
        nid = (t[tmp_local] - t[tmp_day] * US_PER_DAY) * 1000      # ns into the local day
        intra = None
        for a_ns, ln_ns in slots:
            part = nid if (a_ns == 0 and ln_ns == NS_PER_DAY) else \
                ibis.greatest(ibis.least(nid - a_ns, ln_ns), 0)
            intra = part if intra is None else intra + part
        t = t.mutate(**{name: (t[f"tm:_base{k}"] + intra * t[f"tm:_work{k}"]).cast("int64")})
        t = t.drop(tmp_local, tmp_day, f"tm:_cday{k}", f"tm:_base{k}", f"tm:_work{k}")
    return t


def working_ns(rlog: RelationalLog, table: Any, column: str, name: str | None = None) -> Any:
    """``table`` with the column ``name`` (default ``"<column>:wns"``) = ``column`` on the
    working-time axis in int64 nanoseconds; see :func:`with_working_ns`."""
    return with_working_ns(rlog, table, {name or f"{column}:wns": column})
