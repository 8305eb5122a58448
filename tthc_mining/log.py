"""The DossierLog: the canonical event table plus what was learned while reading it."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import schema as S
from .calendar import WorkingCalendar, resolve
from .quality import QualityReport


@dataclass
class DossierLog:
    """A dossier event log in canonical form.

    ``events`` is a pandas DataFrame with XES keys (see :mod:`tthc_mining.schema`), sorted stably
    by case and time (ties keep file order, as pm4py does). Timestamps are timezone-aware.
    ``cases`` has one row per dossier. ``quality`` accounts for every row read.
    """

    events: pd.DataFrame
    quality: QualityReport = field(default_factory=QualityReport)
    calendar: WorkingCalendar | None = None
    catalog: Any = None  # tthc_mining.catalog.ProcedureCatalog
    source: str = "<data>"
    _cases: pd.DataFrame | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.calendar = resolve(self.calendar)

    # ------------------------------------------------------------------ basic views
    @property
    def n_events(self) -> int:
        return len(self.events)

    @property
    def n_cases(self) -> int:
        return int(self.events[S.CASE].nunique())

    @property
    def has_start(self) -> bool:
        return S.START in self.events.columns and self.events[S.START].notna().any()

    @property
    def cases(self) -> pd.DataFrame:
        """One row per dossier: first/last event, counts, case attributes."""
        if self._cases is None:
            self._cases = build_cases(self.events)
        return self._cases

    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """Integer codes of a column (cached): ``(codes, uniques)``; -1 for missing."""
        key = ("codes", column)
        if key not in self._cache:
            col = self.events[column]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = col.array.codes.astype(np.int64)
                uniques = pd.Index(col.cat.categories)
            else:
                codes, uniques = pd.factorize(col, sort=False)
                codes = codes.astype(np.int64)
            self._cache[key] = (codes, uniques)
        return self._cache[key]

    def codes_view(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """:meth:`codes` without the int64 copy: a categorical column's own codes (int8 /
        int16 / int32, -1 for missing; a read-only view of the column's codes, nothing cached),
        else :meth:`codes`. For grouping and comparisons; widen before arithmetic that could
        overflow the narrow type."""
        key = ("codes", column)
        if key in self._cache:
            return self._cache[key]
        col = self.events[column]
        if isinstance(col.dtype, pd.CategoricalDtype):
            return col.array.codes, pd.Index(col.cat.categories)
        return self.codes(column)

    def codes32(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """The column's integer codes as int32 (-1 for missing): the categorical column's own
        codes when they are int32 (a read-only view: nothing copied), else a cached int32 copy
        of :meth:`codes_view`. The dossier and activity codes the compiled kernels read (half
        the memory of :meth:`codes`; kernels widen to int64 in their arithmetic)."""
        key = ("codes32", column)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        codes, uniques = self.codes_view(column)
        if codes.dtype == np.int32:
            return codes, uniques
        if len(uniques) > np.iinfo(np.int32).max:   # (not reachable with pandas' categoricals)
            raise OverflowError(f"{column}: too many distinct values for int32 codes")
        out = (codes.astype(np.int32), uniques)
        self._cache[key] = out
        return out

    def working(self, column: str = S.TIMESTAMP) -> np.ndarray:
        """A timestamp column on the working-time axis (seconds), cached."""
        key = ("working", column)
        if key not in self._cache:
            ns_key = ("working_ns", column)
            if ns_key not in self._cache and hasattr(self.calendar, "to_working_ns_and_seconds"):
                # one calendar pass gives both views (the same values as below)
                w_ns, out = self.calendar.to_working_ns_and_seconds(self.events[column])
                self._cache[ns_key] = w_ns
                self._cache[key] = out
                return out
            if hasattr(self.calendar, "to_working_ns"):  # one calendar pass for both views
                w_ns = self.working_ns(column)
                L = self.calendar.seconds_per_day
                L_ns = int(round(L * 1e9))
                # days * L + intra_ns / 1e9 (the parts of to_working_parts), NaN for NaT
                days, intra = np.divmod(w_ns, L_ns)
                out = days.astype(np.float64)
                del days
                out *= L
                out += intra / 1e9
                del intra
                nat = w_ns == np.iinfo(np.int64).min
                if nat.any():
                    out[nat] = np.nan
                self._cache[key] = out
            elif hasattr(self.calendar, "to_working_parts"):
                days, intra_ns = self.working_parts(column)
                self._cache[key] = days * self.calendar.seconds_per_day + intra_ns / 1e9
            else:
                self._cache[key] = self.calendar.to_working(self.events[column])
        return self._cache[key]

    def working_ns(self, column: str = S.TIMESTAMP) -> np.ndarray:
        """A timestamp column on the exact int64 working-ns axis (int64 min for NaT), cached;
        see :meth:`WorkingCalendar.to_working_ns`. Differences are exact durations."""
        key = ("working_ns", column)
        if key not in self._cache:
            self._cache[key] = self.calendar.to_working_ns(self.events[column])
        return self._cache[key]

    def working_parts(self, column: str = S.TIMESTAMP) -> tuple[np.ndarray, np.ndarray]:
        """``(days, intra_ns)`` of a timestamp column on the working-time axis (cached); see
        :meth:`WorkingCalendar.to_working_parts`. Durations from these are exact to the ns."""
        key = ("working_parts", column)
        if key not in self._cache:
            self._cache[key] = self.calendar.to_working_parts(self.events[column])
        return self._cache[key]

    def with_events(self, events: pd.DataFrame) -> "DossierLog":
        """A new log over a subset/transformation of the events, same calendar and catalog."""
        return DossierLog(events=events, quality=self.quality, calendar=self.calendar,
                          catalog=self.catalog, source=self.source)

    def filter(self, *, procedure: str | None = None) -> "DossierLog":
        if procedure is None:
            return self
        if S.PROCEDURE not in self.events.columns:
            from .errors import ConfigError
            raise ConfigError("the log has no procedure column (case:procedure)")
        mask = self.events[S.PROCEDURE] == procedure
        if not mask.any():
            from .errors import ConfigError
            known = sorted(map(str, self.events[S.PROCEDURE].dropna().unique()))[:30]
            raise ConfigError(f"unknown procedure {procedure!r}; known: {', '.join(known)}")
        return self.with_events(self.events.loc[mask].reset_index(drop=True))

    def to_pm4py(self) -> pd.DataFrame:
        """The events as pm4py expects them (XES keys, aware timestamps); pm4py's own functions
        accept the result unchanged. Library-internal ``tm:`` columns are left out."""
        cols = [c for c in self.events.columns if not c.startswith("tm:")]
        df = self.events[cols].copy()
        for c in (S.CASE, S.ACTIVITY):
            df[c] = df[c].astype(str)
        df.attrs = {}
        return df

    def __repr__(self) -> str:
        return (f"DossierLog({self.source}: {self.n_cases:,} dossiers, {self.n_events:,} events, "
                f"{self.quality.rows_dropped:,} rows dropped)")

    def _repr_html_(self) -> str:
        return (f"<p><b>DossierLog</b> {html.escape(str(self.source))}: {self.n_cases:,} dossiers, "
                f"{self.n_events:,} events</p>" + self.events.head(10).to_html(escape=True))


def build_cases(events: pd.DataFrame) -> pd.DataFrame:
    """One row per dossier from a canonical event table (vectorised).

    Columns: the case id, ``first_time`` / ``last_time`` (min / max of the timestamps, NaT
    skipped), ``n_events``, ``first_activity`` / ``last_activity`` and the case attributes (first
    / last non-missing value of the dossier's rows), ``first_start`` (min of the start times).
    Dossiers in order of first appearance. When every dossier's rows are one contiguous block (the
    canonical table: sorted by case) the blocks are reduced directly (``np.minimum.reduceat`` and
    gathers at the first rows, no hashing or groupby); otherwise pandas' groupby gives the same
    table."""
    if events.empty:
        return pd.DataFrame(columns=[S.CASE, "first_time", "last_time", "n_events"])
    fast = _build_cases_blocks(events)
    if fast is not None:
        return fast
    g = events.groupby(S.CASE, sort=False, observed=True)
    out = pd.DataFrame({
        "first_time": g[S.TIMESTAMP].min(),
        "last_time": g[S.TIMESTAMP].max(),
        "n_events": g.size(),
        "first_activity": g[S.ACTIVITY].first(),
        "last_activity": g[S.ACTIVITY].last(),
    })
    attrs = [c for c in S.CASE_ATTRIBUTES if c in events.columns]
    if attrs:
        out = out.join(g[attrs].first())
    if S.START in events.columns:
        out["first_start"] = g[S.START].min()
    return out.reset_index()


_BIG = np.iinfo(np.int64).max
_NAT = np.iinfo(np.int64).min


def _build_cases_blocks(events: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`build_cases` for a table whose dossiers are contiguous blocks of rows with a
    categorical case column and no missing case id (None otherwise: the groupby path)."""
    case_col = events[S.CASE]
    if not isinstance(case_col.dtype, pd.CategoricalDtype):
        return None
    codes = case_col.array.codes                      # (a read-only view)
    n = codes.size
    if codes.min() < 0:
        return None                                   # groupby drops missing ids
    is_first = np.ones(n, dtype=bool)
    np.not_equal(codes[1:], codes[:-1], out=is_first[1:])
    starts = np.flatnonzero(is_first)
    k = starts.size
    seen = np.zeros(len(case_col.cat.categories), dtype=bool)
    seen[codes[starts]] = True
    if int(seen.sum()) != k:                          # a dossier in two blocks
        return None
    ends = np.append(starts[1:], n) - 1

    def times(col: str, how: str) -> pd.Series | None:
        s = events[col]
        if not isinstance(s.dtype, pd.DatetimeTZDtype):
            return None
        v = s.array.asi8
        nat = v == _NAT
        if how == "min":
            r = np.minimum.reduceat(np.where(nat, _BIG, v) if nat.any() else v, starts)
            r[r == _BIG] = _NAT
        else:
            r = np.maximum.reduceat(v, starts)        # NaT is the int64 minimum
        # (public API only: naive UTC values of the column's unit, then its zone)
        naive = pd.Series(r.view(f"M8[{s.dtype.unit}]"), copy=False)
        return naive.dt.tz_localize("UTC").dt.tz_convert(s.dtype.tz)

    def notna(s: pd.Series) -> np.ndarray:
        if isinstance(s.dtype, pd.CategoricalDtype):
            return s.array.codes >= 0
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.array.asi8 != _NAT
        return s.notna().to_numpy()

    def pick(col: str, last: bool) -> pd.Series:
        s = events[col]
        ok = notna(s)
        if ok.all():
            pos = ends if last else starts
            return s.take(pos).reset_index(drop=True)
        nz = np.flatnonzero(ok)               # the rows with a value, ascending
        if last:     # the last such row at or before each block's end, if inside the block
            j = np.searchsorted(nz, ends, side="right") - 1
            pos = nz[np.maximum(j, 0)] if nz.size else ends
            missing = (j < 0) | (pos < starts)
        else:        # the first such row at or after each block's start, if inside the block
            j = np.searchsorted(nz, starts, side="left")
            pos = nz[np.minimum(j, nz.size - 1)] if nz.size else starts
            missing = (j >= nz.size) | (pos > ends)
        out = s.take(np.where(missing, starts, pos)).reset_index(drop=True)
        return out.where(~missing) if missing.any() else out

    cols = {}
    for name, col, how in (("first_time", S.TIMESTAMP, "min"), ("last_time", S.TIMESTAMP, "max")):
        t = times(col, how)
        if t is None:
            return None
        cols[name] = t
    cols["n_events"] = pd.Series(np.diff(np.append(starts, n)).astype(np.int64))
    cols["first_activity"] = pick(S.ACTIVITY, last=False)
    cols["last_activity"] = pick(S.ACTIVITY, last=True)
    for c in S.CASE_ATTRIBUTES:
        if c in events.columns:
            cols[c] = pick(c, last=False)
    if S.START in events.columns:
        t = times(S.START, "min")
        if t is None:
            return None
        cols["first_start"] = t
    ids = case_col.take(starts).reset_index(drop=True)
    out = pd.DataFrame({S.CASE: ids, **cols}, copy=False)
    return out
