"""The working-time axis under the Vietnamese official calendar.

Every timestamp is mapped once onto a *working-time axis*: working seconds since a fixed
reference (00:00 of 2000-01-01, local time). Non-working time (nights, lunch break, weekends,
public holidays, decreed days off) collapses to nothing, so any duration in working time is a
subtraction ``to_working(t1) - to_working(t0)``.

Implementation (``../shared/docs/methods.md`` §1): a *day table* with, for each calendar date,
whether it is a working date and ``cum`` = the number of working dates between the reference and
that date. ``W(t) = cum[date(t)] * L + intra(t)`` with ``L`` the seconds of a full office day and
``intra`` the office seconds elapsed on that day (a clip per office slot). All vectorised;
the exact int64 axis (:meth:`WorkingCalendar.to_working_ns`) is one compiled pass per column
(``tthc_mining.kernels.calendar``).

Convention for instants that map to the same axis value (a slot end and the next slot start,
17:00 and the next working day's 07:00, a whole weekend): :meth:`WorkingCalendar.from_working`
returns the *next* working instant by default (``side="next"``: 11:30 -> 13:30, 17:00 -> next
working day 07:00) or the end of the previous working stretch with ``side="prev"`` (used for
deadlines, so that "one working day from Monday 07:00" is Monday 17:00, not Tuesday 07:00).
"""
from __future__ import annotations

import datetime as _dt
import functools
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import CalendarError
from .schema import DEFAULT_TZ

NS_PER_S = 1_000_000_000
S_PER_DAY = 86_400
NS_PER_DAY = S_PER_DAY * NS_PER_S
REFERENCE = pd.Timestamp("2000-01-01")
_REF_DAY = int(REFERENCE.value // NS_PER_DAY)  # day number since 1970-01-01
_MIN_YEAR, _MAX_YEAR = 1900, 2200

DEFAULT_OFFICE_HOURS = (("07:00", "11:30"), ("13:30", "17:00"))
_FAST_LOCAL_MIN = 10_000  # inputs at least this long take the constant-offset path
_NO_FLOATS = np.empty(0, dtype=np.float64)  # the seconds output of a kernel call without them


def ns_view(arr) -> np.ndarray:
    """int64 ns of a DatetimeArray / DatetimeIndex, a read-only view when it is already in ns
    (pandas' ``as_unit("ns")`` copies even then: 48 MB per 6 million events). Never write
    into the result."""
    if getattr(arr, "unit", None) == "ns":
        return arr.asi8
    return arr.as_unit("ns").asi8


def utc_to_local_ns(utc_ns: np.ndarray, tz: str) -> np.ndarray:
    """UTC int64 ns -> wall-clock int64 ns in ``tz`` (NaT = int64 min kept).

    When the zone's UTC offset is the same over the whole span of the data (checked by pandas'
    own conversion at every hour of the span and at its ends: zones change offset at most a few
    times a year, never twice within an hour), the local time is one addition; otherwise (a DST
    change inside the span, or a span of more than 200,000 hours) pandas converts every value.
    (NaT is the least int64: the array's min tells whether there is any, so a log without NaT
    costs a min, a max and the addition.)
    """
    nat_val = np.iinfo(np.int64).min
    utc_ns = np.asarray(utc_ns, dtype=np.int64)
    if utc_ns.size == 0:
        return utc_ns.copy()
    lo, hi = int(utc_ns.min()), int(utc_ns.max())
    any_nat = lo == nat_val
    nat = None
    if any_nat:
        if hi == nat_val:                       # all NaT
            return utc_ns.copy()
        nat = utc_ns == nat_val
        lo = int(np.min(utc_ns, initial=np.iinfo(np.int64).max, where=~nat))
    off = _constant_offset(lo, hi, tz)
    if off is not None:
        out = utc_ns + off
        if any_nat:
            out[nat] = nat_val
        return out
    idx = pd.DatetimeIndex(utc_ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
    return idx.tz_localize(None).as_unit("ns").asi8


def _kernel_input(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous int64 read-only array (a view when it already is one): kernels
    then see one array type, whether the data came from Parquet (read-only Arrow buffers) or
    from a DataFrame built in memory."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=64)
def _constant_offset(lo: int, hi: int, tz: str) -> int | None:
    """The UTC offset (ns) of ``tz`` when it is the same at every hour of the UTC span
    [lo, hi] and at its ends, else None (remembered for the last spans asked about: the
    columns of a log are asked about again and again)."""
    hour = 3_600 * NS_PER_S
    if (hi - lo) // hour > 200_000:
        return None
    grid = np.append(np.arange(lo, hi, hour, dtype=np.int64), hi)
    local = pd.DatetimeIndex(grid.view("datetime64[ns]")).tz_localize("UTC").tz_convert(
        tz).tz_localize(None).as_unit("ns").asi8
    off = local - grid
    return int(off[0]) if (off == off[0]).all() else None


def localize_ns(local_ns: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """Wall-clock int64 ns in ``tz`` (NaT = int64 min) -> aware DatetimeIndex, as
    ``DatetimeIndex(local).tz_localize(tz)`` (ambiguous/non-existent times raise), with one
    subtraction when the zone's offset is the same around the whole span (no DST change)."""
    nat_val = np.iinfo(np.int64).min
    local_ns = np.asarray(local_ns, dtype=np.int64)
    nat = local_ns == nat_val
    any_nat = bool(nat.any())
    if local_ns.size >= _FAST_LOCAL_MIN and not nat.all():
        lo = int(np.min(local_ns, initial=np.iinfo(np.int64).max, where=~nat)) if any_nat else int(local_ns.min())
        hi = int(local_ns.max())
        day = S_PER_DAY * NS_PER_S
        off = _constant_offset(lo - 2 * day, hi + 2 * day, tz)
        if off is not None:
            utc = local_ns - off
            if any_nat:
                utc[nat] = nat_val
            return pd.DatetimeIndex(utc.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
    return pd.DatetimeIndex(local_ns.view("datetime64[ns]")).tz_localize(tz)


def _parse_clock(value: Any) -> float:
    """'07:30' / '7:30:15' / datetime.time / seconds -> seconds since midnight."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, _dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    parts = str(value).strip().split(":")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise CalendarError(f"cannot read clock time {value!r}; use 'HH:MM'") from None
    while len(nums) < 3:
        nums.append(0.0)
    h, m, s = nums[:3]
    out = h * 3600 + m * 60 + s
    if not (0 <= out <= S_PER_DAY):
        raise CalendarError(f"clock time {value!r} is outside 00:00-24:00")
    return out


def _to_dates(values: Iterable[Any] | None) -> set[_dt.date]:
    out = set()
    for v in values or ():
        out.add(pd.Timestamp(v).date())
    return out


class WorkingCalendar:
    """A weekly office schedule plus dated exceptions, with a vectorised working-time axis.

    Parameters
    ----------
    office_hours:
        Office slots within a working day, e.g. ``[("07:00", "11:30"), ("13:30", "17:00")]``.
    weekend:
        Weekday numbers (Monday = 0) that are not working days unless listed as make-up days.
    holidays:
        ``"VN"`` for the ``holidays`` package's Vietnamese public holidays (with substituted
        days and its decreed make-up Saturdays), ``None`` for none, or a collection of dates
        (a province's own table of days off replaces the national one).
    extra_days_off:
        Additional dates off (local closures, decreed swaps the package does not know).
    makeup_workdays:
        Dates that are working days although they fall on a weekend (làm bù), e.g. 2026-08-22.
        Also used to *cancel* a holiday (a date listed here is always a working day).
    years:
        Years to build the day table for up front; it grows on demand otherwise.
    tz:
        Time zone whose wall clock the office hours refer to. Naive timestamps are taken as
        local time in this zone; aware ones are converted to it.
    """

    def __init__(self, office_hours: Sequence[tuple[Any, Any]] = DEFAULT_OFFICE_HOURS, *,
                 weekend: Iterable[int] = (5, 6), holidays: Any = "VN",
                 extra_days_off: Iterable[Any] = (), makeup_workdays: Iterable[Any] = (),
                 years: Iterable[int] | None = None, tz: str | None = DEFAULT_TZ,
                 name: str | None = None):
        slots = sorted((_parse_clock(a), _parse_clock(b)) for a, b in office_hours)
        if not slots:
            raise CalendarError("office_hours must contain at least one slot")
        for (a, b), nxt in zip(slots, slots[1:] + [(S_PER_DAY, S_PER_DAY)]):
            if not a < b:
                raise CalendarError(f"office slot {a/3600:.2f}h-{b/3600:.2f}h is empty or reversed")
            if b > nxt[0]:
                raise CalendarError("office slots overlap")
        self.office_hours = [tuple(x) for x in office_hours]
        self._a = np.array([s[0] for s in slots], dtype=np.float64)
        self._b = np.array([s[1] for s in slots], dtype=np.float64)
        self._len = self._b - self._a
        self._cumlen = np.concatenate([[0.0], np.cumsum(self._len)])
        self.seconds_per_day = float(self._cumlen[-1])
        self.weekend = tuple(sorted(set(int(w) for w in weekend)))
        self.holidays_spec = holidays
        self.extra_days_off = _to_dates(extra_days_off)
        self.makeup_workdays = _to_dates(makeup_workdays)
        self.tz = tz
        self.name = name or "custom"
        self._d0 = self._d1 = None  # table covers day numbers [d0, d1)
        self._working = np.zeros(0, dtype=bool)
        self._cum = np.zeros(0, dtype=np.int64)
        self._wd_index = np.zeros(0, dtype=np.int64)
        self._holiday_names: dict[_dt.date, str] = {}
        self._ktab = None  # the day table as the axis kernels read it (:meth:`_kernel_table`)
        if years is not None:
            ys = list(years)
            if ys:
                self._build(min(ys), max(ys))

    # ------------------------------------------------------------------ day table
    @property
    def hours_per_day(self) -> float:
        return self.seconds_per_day / 3600.0

    def _holiday_dates(self, y0: int, y1: int) -> tuple[set[_dt.date], set[_dt.date]]:
        """(days off, make-up working days) from the holiday spec for years y0..y1."""
        spec = self.holidays_spec
        off: set[_dt.date] = set()
        makeup: set[_dt.date] = set()
        if spec is None or spec is False:
            return off, makeup
        if isinstance(spec, str):
            import holidays as _holidays
            try:
                hol = _holidays.country_holidays(spec, years=range(y0, y1 + 1))
            except NotImplementedError:
                raise CalendarError(f"the holidays package has no calendar for {spec!r}") from None
            for d, name in hol.items():
                off.add(d)
                self._holiday_names[d] = name
            for d in getattr(hol, "weekend_workdays", ()) or ():
                if y0 <= d.year <= y1:
                    makeup.add(d)
            return off, makeup
        if hasattr(spec, "items"):  # a holidays object or {date: name}
            for d, name in spec.items():
                d = pd.Timestamp(d).date()
                off.add(d)
                self._holiday_names[d] = str(name)
            makeup |= set(getattr(spec, "weekend_workdays", ()) or ())
            return off, makeup
        return _to_dates(spec), makeup

    def _build(self, y0: int, y1: int) -> None:
        if self._d0 is not None:
            cur0 = pd.Timestamp(self._d0 * NS_PER_DAY).year
            cur1 = pd.Timestamp((self._d1 - 1) * NS_PER_DAY).year
            y0, y1 = min(y0, cur0), max(y1, cur1)
        y0, y1 = min(y0, REFERENCE.year - 1), max(y1, REFERENCE.year + 1)
        if y0 < _MIN_YEAR or y1 > _MAX_YEAR:
            raise CalendarError(f"dates outside {_MIN_YEAR}-{_MAX_YEAR} are not supported "
                                f"(asked for {y0}-{y1}); check the timestamps")
        days = pd.date_range(f"{y0}-01-01", f"{y1}-12-31", freq="D").as_unit("ns")
        dnum = (days.asi8 // NS_PER_DAY).astype(np.int64)
        working = ~np.isin(days.day_of_week, self.weekend)
        off, makeup = self._holiday_dates(y0, y1)
        off |= self.extra_days_off
        makeup |= self.makeup_workdays
        if off:
            working &= ~days.isin(pd.DatetimeIndex(sorted(off)))
        if makeup:
            working |= days.isin(pd.DatetimeIndex(sorted(makeup)))
        cum = np.concatenate([[0], np.cumsum(working)]).astype(np.int64)  # before each day
        base = cum[_REF_DAY - dnum[0]]  # the table always contains the reference date
        d0, working, cum = int(dnum[0]), working.astype(bool), cum[:-1] - base
        # the kernels' table first, in one assignment: a thread reading the calendar while
        # another one widens it sees a whole table, old or new (tables only grow)
        self._ktab = self._make_kernel_table(d0, working, cum)
        self._d0, self._d1 = d0, int(dnum[-1]) + 1
        self._working = working
        self._cum = cum
        self._wd_index = np.flatnonzero(working).astype(np.int64)

    def _ensure(self, dmin: int, dmax: int) -> None:
        """Make the table cover day numbers dmin..dmax (inclusive), with a year of margin."""
        if self._d0 is not None and dmin >= self._d0 and dmax < self._d1:
            return
        y0 = pd.Timestamp(int(dmin) * NS_PER_DAY).year - 1
        y1 = pd.Timestamp(int(dmax) * NS_PER_DAY).year + 1
        self._build(y0, y1)

    # ------------------------------------------------------------------ conversions
    def _local_ns(self, ts: Any) -> np.ndarray:
        """Any timestamp-like input -> int64 ns of local wall-clock time (NaT = int64 min)."""
        if isinstance(ts, pd.Series):
            s = ts
            if not pd.api.types.is_datetime64_any_dtype(s.dtype):
                s = pd.to_datetime(s)
            if isinstance(s.dtype, pd.DatetimeTZDtype) and len(s) >= _FAST_LOCAL_MIN:
                return utc_to_local_ns(ns_view(s.array), self.tz or "UTC")
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert(self.tz or "UTC").dt.tz_localize(None)
            return s.to_numpy(dtype="datetime64[ns]").view(np.int64)
        if isinstance(ts, pd.DatetimeIndex):
            idx = ts
        elif isinstance(ts, np.ndarray) and np.issubdtype(ts.dtype, np.datetime64):
            return ts.astype("datetime64[ns]").view(np.int64)
        elif isinstance(ts, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64)):
            idx = pd.DatetimeIndex([pd.Timestamp(ts)])
        else:
            idx = pd.DatetimeIndex(pd.to_datetime(list(ts) if not isinstance(ts, np.ndarray) else ts))
        if idx.tz is not None:
            if len(idx) >= _FAST_LOCAL_MIN:
                return utc_to_local_ns(ns_view(idx), self.tz or "UTC")
            idx = idx.tz_convert(self.tz or "UTC").tz_localize(None)
        return idx.as_unit("ns").asi8

    def _day_and_seconds(self, ns: np.ndarray):
        nat = ns == np.iinfo(np.int64).min
        day = np.floor_divide(ns, NS_PER_DAY)
        sec = (ns - day * NS_PER_DAY) / NS_PER_S
        valid = ~nat
        if valid.any():
            self._ensure(int(day[valid].min()), int(day[valid].max()))
        day = np.where(nat, self._d0, day)
        return day - self._d0, sec, nat

    def to_working(self, ts: Any) -> np.ndarray:
        """Working seconds since the reference (float64; NaN for missing timestamps).

        Monotone non-decreasing in ``ts``; constant over non-working time.
        """
        scalar = isinstance(ts, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64))
        ns = self._local_ns(ts)
        idx, sec, nat = self._day_and_seconds(ns)
        intra = np.zeros(len(ns), dtype=np.float64)
        for a, ln in zip(self._a, self._len):
            intra += np.clip(sec - a, 0.0, ln)
        w = self._cum[idx] * self.seconds_per_day + np.where(self._working[idx], intra, 0.0)
        w = np.where(nat, np.nan, w)
        return w[0] if scalar else w

    def to_working_parts(self, ts: Any) -> tuple[np.ndarray, np.ndarray]:
        """The working-time axis split in two exact parts, for precise durations.

        Returns arrays ``(days, intra_ns)`` (float64 holding integers, NaN for missing
        timestamps): ``days`` = working days between the reference and the date, ``intra_ns`` =
        office nanoseconds elapsed on that date (0 on non-working dates), computed in integer
        arithmetic. ``to_working(ts) == days * seconds_per_day + intra_ns / 1e9`` up to float
        rounding. A duration ``(days1 - days0) * seconds_per_day + (intra1 - intra0) / 1e9`` is
        exact to the nanosecond, whereas the difference of two axis values (~1e9 s, ulp
        ~1e-7 s) is not.
        """
        ns = np.atleast_1d(self._local_ns(ts))
        nat = ns == np.iinfo(np.int64).min
        any_nat = bool(nat.any())
        day = np.floor_divide(ns, NS_PER_DAY)
        ns_in_day = ns - day * NS_PER_DAY
        if any_nat:
            valid = ~nat
            if valid.any():
                self._ensure(int(day[valid].min()), int(day[valid].max()))
            elif self._d0 is None:
                self._ensure(_REF_DAY, _REF_DAY)
            day[nat] = self._d0
            ns_in_day[nat] = 0
        elif len(ns):
            self._ensure(int(day.min()), int(day.max()))
        idx = day - self._d0 if len(ns) else day
        intra = np.zeros(len(ns), dtype=np.int64)
        for a, ln in zip(self._a, self._len):
            a_ns, ln_ns = int(round(a * NS_PER_S)), int(round(ln * NS_PER_S))
            if a_ns == 0 and ln_ns == NS_PER_DAY:  # a 24-hour slot: the time of day itself
                intra += ns_in_day
            else:
                intra += np.clip(ns_in_day - a_ns, 0, ln_ns)
        days = self._cum[idx].astype(np.float64)
        working = self._working[idx]
        intra_f = intra.astype(np.float64)
        if not working.all():
            intra_f[~working] = 0.0
        if any_nat:
            days[nat] = np.nan
            intra_f[nat] = np.nan
        return days, intra_f

    def to_working_ns(self, ts: Any) -> np.ndarray:
        """The working-time axis in integer nanoseconds: ``days * L + intra`` of
        :meth:`to_working_parts` as one exact int64 (``L`` = office nanoseconds of a day;
        int64 min for missing timestamps). A duration is a subtraction of two such values,
        exact to the nanosecond; ``to_working_ns(ts) / 1e9`` is the axis of :meth:`to_working`.

        Same arithmetic as :meth:`to_working_parts`, in one compiled pass over the input
        (``tthc_mining.kernels.calendar``; an aware column's local time is added on the fly;
        a large input is shared by two threads).
        """
        return self._working_ns(ts, False)

    def to_working_ns_and_seconds(self, ts: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(to_working_ns(ts), axis in seconds)`` from one pass: the seconds are
        ``days * seconds_per_day + intra_ns / 1e9`` with ``days, intra_ns = divmod(w_ns, L_ns)``
        (NaN for missing timestamps), the float axis ``DossierLog.working`` has always given,
        bit for bit, computed in the same compiled pass without the division or any
        full-length temporary."""
        return self._working_ns(ts, True)

    def _working_ns(self, ts: Any, seconds: bool):
        raw, off, lo, hi, n_nat = self._local_source(ts)
        n = raw.size
        out = np.empty(n, dtype=np.int64)
        out_s = np.empty(n, dtype=np.float64) if seconds else None
        if n == 0:
            return (out, out_s) if seconds else out
        if n_nat == n:
            out.fill(np.iinfo(np.int64).min)
            if seconds:
                out_s.fill(np.nan)
                return out, out_s
            return out
        from .kernels import calendar as K
        from .parallel import PARALLEL_MIN_EVENTS, Tasks
        tab = self._kernel_table(lo // NS_PER_DAY, hi // NS_PER_DAY)
        args = (raw, off, *tab, out, out_s if seconds else _NO_FLOATS, seconds)
        side = Tasks(parallel=n >= PARALLEL_MIN_EVENTS)   # a large column: half on each core
        m = n // 2 if side.parallel else n
        if m < n:
            side.submit("half", K.working_ns, *args, m, n)
        K.working_ns(*args, 0, m)
        if m < n:
            side.result("half")
        return (out, out_s) if seconds else out

    def _local_source(self, ts: Any) -> tuple[np.ndarray, int, int, int, int]:
        """``(raw, off, lo, hi, n_nat)``: int64 ns ``raw`` (NaT = int64 min; C-contiguous,
        read-only) whose local wall-clock time is ``raw + off``, the least and greatest local
        time (``int64`` max / min when every value is NaT) and the number of NaT.

        An aware column of at least ``_FAST_LOCAL_MIN`` values whose zone keeps one UTC offset
        over its span is its own UTC nanoseconds (a view, no copy) with that offset, which the
        kernels add on the fly; any other input is :meth:`_local_ns` with offset 0."""
        from .kernels import calendar as K
        utc = None
        if isinstance(ts, pd.Series):
            if not pd.api.types.is_datetime64_any_dtype(ts.dtype):
                ts = pd.to_datetime(ts)
            if isinstance(ts.dtype, pd.DatetimeTZDtype) and len(ts) >= _FAST_LOCAL_MIN:
                utc = ns_view(ts.array)
        elif isinstance(ts, pd.DatetimeIndex) and ts.tz is not None and len(ts) >= _FAST_LOCAL_MIN:
            utc = ns_view(ts)
        if utc is not None:
            raw = _kernel_input(utc)
            lo, hi, n_nat = K.minmax_valid(raw, 0, raw.size)
            if n_nat < raw.size:
                off = _constant_offset(int(lo), int(hi), self.tz or "UTC")
                if off is not None:
                    return raw, off, int(lo) + off, int(hi) + off, int(n_nat)
        raw = _kernel_input(np.atleast_1d(self._local_ns(ts)))
        lo, hi, n_nat = K.minmax_valid(raw, 0, raw.size)
        return raw, 0, int(lo), int(hi), int(n_nat)

    def _kernel_table(self, dmin: int, dmax: int) -> tuple:
        """The day table as the axis kernels take it, covering day numbers ``dmin..dmax``
        (:meth:`_ensure` first): ``(d0, base, wmask, cum_f, slot_a, slot_len, L_ns, L_s)`` with
        ``base`` the working ns before each day, ``wmask`` -1 on working days and 0 on the
        others (int64), ``cum_f`` the working days before each day as float64 and the office
        slots in int64 ns. One tuple per table, replaced whole when the table grows: a thread
        holding it keeps a consistent table."""
        while True:
            self._ensure(dmin, dmax)
            tab = getattr(self, "_ktab", None)
            if tab is None:          # (a calendar pickled before the kernels)
                tab = self._ktab = self._make_kernel_table(self._d0, self._working, self._cum)
            if tab[0] <= dmin and dmax < tab[0] + tab[1].size:
                return tab

    def _make_kernel_table(self, d0: int, working: np.ndarray, cum: np.ndarray) -> tuple:
        L_ns = int(round(self.seconds_per_day * NS_PER_S))
        slot_a = np.array([int(round(a * NS_PER_S)) for a in self._a], dtype=np.int64)
        slot_len = np.array([int(round(ln * NS_PER_S)) for ln in self._len], dtype=np.int64)
        return (int(d0), cum * L_ns, np.where(working, -1, 0).astype(np.int64),
                cum.astype(np.float64), slot_a, slot_len, L_ns, float(self.seconds_per_day))

    def from_working(self, w: Any, *, side: str = "next", tz_aware: bool = False):
        """Inverse of :meth:`to_working`: axis values -> local timestamps.

        ``side="next"``: an axis value shared by several instants maps to the next working
        instant (slot start); ``side="prev"``: to the end of the previous working stretch.
        Returns a ``DatetimeIndex`` (naive local time, or aware in the calendar's zone with
        ``tz_aware=True``); a scalar for a scalar input.
        """
        scalar = np.ndim(w) == 0
        w = np.atleast_1d(np.asarray(w, dtype=np.float64))
        nan = np.isnan(w)
        wv = np.where(nan, 0.0, w)
        L = self.seconds_per_day
        if side == "next":
            k = np.floor(wv / L)
        elif side == "prev":
            k = np.ceil(wv / L) - 1
        else:
            raise CalendarError("side must be 'next' or 'prev'")
        r = wv - k * L
        k = k.astype(np.int64)
        if self._d0 is None:
            self._ensure(_REF_DAY, _REF_DAY)
        # k-th working day relative to the reference -> position in the working-day index
        for _ in range(200):
            first = self._cum[self._wd_index[0]]
            j = k - first
            if j.min() >= 0 and j.max() < len(self._wd_index):
                break
            span_days = int(np.ceil(abs(j).max() * 7 / 4)) + 366
            lo = self._d0 - (span_days if j.min() < 0 else 0)
            hi = self._d1 + (span_days if j.max() >= len(self._wd_index) else 0)
            self._ensure(lo, hi)
        else:  # pragma: no cover
            raise CalendarError("working-time value out of range")
        day = self._wd_index[j] + self._d0
        if side == "next":
            slot = np.searchsorted(self._cumlen[1:], r, side="right")
        else:
            slot = np.searchsorted(self._cumlen[1:], r, side="left")
        slot = np.minimum(slot, len(self._a) - 1)
        sec = self._a[slot] + (r - self._cumlen[slot])
        ns = day * NS_PER_DAY + np.round(sec * NS_PER_S).astype(np.int64)
        ns = np.where(nan, np.iinfo(np.int64).min, ns)
        if tz_aware and self.tz:
            out = localize_ns(ns, self.tz)
        else:
            out = pd.DatetimeIndex(ns.view("datetime64[ns]"))
        return out[0] if scalar else out

    def working_seconds_between(self, a: Any, b: Any) -> np.ndarray:
        return self.to_working(b) - self.to_working(a)

    def working_days_between(self, a: Any, b: Any) -> np.ndarray:
        """Working time from ``a`` to ``b`` in working days (seconds / seconds of an office day)."""
        return self.working_seconds_between(a, b) / self.seconds_per_day

    def is_working_day(self, dates: Any) -> np.ndarray:
        scalar = isinstance(dates, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64))
        idx, _, nat = self._day_and_seconds(self._local_ns(dates))
        out = self._working[idx] & ~nat
        return bool(out[0]) if scalar else out

    def is_working_time(self, ts: Any) -> np.ndarray:
        scalar = isinstance(ts, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64))
        idx, sec, nat = self._day_and_seconds(self._local_ns(ts))
        inside = np.zeros(len(idx), dtype=bool)
        for a, b in zip(self._a, self._b):
            inside |= (sec >= a) & (sec < b)
        out = inside & self._working[idx] & ~nat
        return bool(out[0]) if scalar else out

    def _start_axis(self, ts: Any, cutoff: Any) -> np.ndarray:
        """Axis value where a statutory count starts: after ``cutoff`` on a working day the
        count starts at the beginning of the next working day."""
        w = self.to_working(ts)
        w = np.atleast_1d(w)
        if cutoff is None:
            return w
        c = _parse_clock(cutoff)
        idx, sec, nat = self._day_and_seconds(self._local_ns(ts))
        late = self._working[idx] & (sec > c) & ~nat
        L = self.seconds_per_day
        # the start of the next working day = the close of this one: ceil, so that a receipt at
        # or after closing time (already at the close on the axis) does not skip a day
        return np.where(late, np.ceil(w / L) * L, w)

    def add_working_days(self, t: Any, n: Any, *, cutoff: Any = "15:00", tz_aware: bool = False):
        """``t`` plus ``n`` working days (``n`` may be fractional or an array).

        A time received after ``cutoff`` on a working day starts counting at the beginning of
        the next working day (``cutoff=None`` disables the rule). The result uses the
        ``side="prev"`` convention, so a count that ends exactly at the close of a day lands on
        that day's closing time.
        """
        scalar = np.ndim(n) == 0 and isinstance(t, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64))
        start = self._start_axis(t, cutoff)
        out = self.from_working(start + np.asarray(n, dtype=np.float64) * self.seconds_per_day,
                                side="prev", tz_aware=tz_aware)
        return out[0] if scalar else out

    def end_of_working_day(self, t: Any, *, cutoff: Any = "15:00", tz_aware: bool = False):
        """Close of the working day on which a same-day request is due (next working day after
        the cut-off): the statutory 'ngay trong ngày' deadline."""
        scalar = isinstance(t, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64))
        start = self._start_axis(t, cutoff)
        L = self.seconds_per_day
        out = self.from_working((np.floor(start / L) + 1) * L, side="prev", tz_aware=tz_aware)
        return out[0] if scalar else out

    def add_calendar_days(self, t: Any, n: Any, *, skip_holidays: bool = True,
                          tz_aware: bool = False):
        """Deadline in plain days ('ngày'): ``t`` + ``n`` days; when the result falls on a
        non-working day (and ``skip_holidays``) it moves to the next working day. The due
        instant is the close of office hours on the due date."""
        scalar = np.ndim(n) == 0 and isinstance(t, (pd.Timestamp, _dt.datetime, _dt.date, str, np.datetime64))
        ns = self._local_ns(t)
        nat = ns == np.iinfo(np.int64).min
        day = np.floor_divide(ns, NS_PER_DAY) + np.asarray(n, dtype=np.int64)
        day = np.where(nat, _REF_DAY, day)
        if skip_holidays:
            self._ensure(int(day.min()), int(day.max()) + 60)
            pos = day - self._d0
            nxt = np.searchsorted(self._wd_index, pos, side="left")
            day = self._wd_index[nxt] + self._d0
        close = self._b[-1]
        out_ns = day * NS_PER_DAY + int(close * NS_PER_S)
        out_ns = np.where(nat, np.iinfo(np.int64).min, out_ns)
        out = pd.DatetimeIndex(out_ns.view("datetime64[ns]"))
        if tz_aware and self.tz:
            out = out.tz_localize(self.tz)
        return out[0] if scalar else out

    def working_days(self, start: Any, end: Any) -> pd.DatetimeIndex:
        """The working dates in [start, end]."""
        days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize())
        return days[self.is_working_day(days)]

    def holiday_name(self, date: Any) -> str | None:
        d = pd.Timestamp(date).date()
        self.is_working_day(pd.Timestamp(d))
        return self._holiday_names.get(d)

    # ------------------------------------------------------------------ description
    def to_dict(self) -> dict:
        return {"name": self.name, "office_hours": [list(map(str, s)) for s in self.office_hours],
                "hours_per_day": self.hours_per_day, "weekend": list(self.weekend),
                "holidays": self.holidays_spec if isinstance(self.holidays_spec, (str, type(None))) else "custom",
                "extra_days_off": sorted(str(d) for d in self.extra_days_off),
                "makeup_workdays": sorted(str(d) for d in self.makeup_workdays),
                "tz": self.tz, "reference": str(REFERENCE.date())}

    def __repr__(self) -> str:
        slots = ", ".join(f"{a}-{b}" for a, b in self.office_hours)
        return (f"{type(self).__name__}({self.name}: {slots}; {self.hours_per_day:g} h/day; "
                f"holidays={self.to_dict()['holidays']}; tz={self.tz})")


class VietnamCalendar(WorkingCalendar):
    """The Vietnamese official calendar for state agencies.

    Office hours 07:00-11:30 and 13:30-17:00 (8 h), Monday to Friday, public holidays of the
    Labour Code 2019 art. 112 as implemented by the ``holidays`` package (Tết, Giỗ Tổ Hùng Vương,
    30/4, 1/5, 2/9 and their substituted days) with the decreed make-up Saturdays it knows; add a
    province's own closures with ``extra_days_off`` and make-up days with ``makeup_workdays``.
    """

    def __init__(self, office_hours: Sequence[tuple[Any, Any]] = DEFAULT_OFFICE_HOURS,
                 holidays: Any = "VN", extra_days_off: Iterable[Any] = (),
                 makeup_workdays: Iterable[Any] = (), years: Iterable[int] | None = None, *,
                 weekend: Iterable[int] = (5, 6), tz: str | None = DEFAULT_TZ):
        super().__init__(office_hours, weekend=weekend, holidays=holidays,
                         extra_days_off=extra_days_off, makeup_workdays=makeup_workdays,
                         years=years, tz=tz, name="VN")


def continuous(tz: str | None = "UTC") -> WorkingCalendar:
    """A 24x7 calendar: working time equals elapsed time (what pm4py measures without
    business hours). In UTC by default, so that durations are exact across DST changes."""
    return WorkingCalendar([("00:00", "24:00")], weekend=(), holidays=None, tz=tz, name="24x7")


def weekdays(office_hours: Sequence[tuple[Any, Any]] = (("07:00", "17:00"),), *,
             holidays: Any = None, tz: str | None = None) -> WorkingCalendar:
    """Monday-Friday office hours without holidays (pm4py's default business hours are
    07:00-17:00 Monday to Friday)."""
    return WorkingCalendar(office_hours, weekend=(5, 6), holidays=holidays, tz=tz, name="weekdays")


def resolve(calendar: Any) -> WorkingCalendar:
    """``None`` -> VietnamCalendar(); ``"24x7"`` -> continuous(); a calendar -> itself."""
    if calendar is None or calendar == "VN":
        return VietnamCalendar()
    if isinstance(calendar, WorkingCalendar):
        return calendar
    if calendar in ("24x7", "continuous"):
        return continuous()
    raise CalendarError(f"unknown calendar {calendar!r}; pass a WorkingCalendar, 'VN' or '24x7'")
