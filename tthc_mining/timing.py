"""Timing and deadlines: working time per event, agency vs citizen time, statutory and reported
due dates, on time computed two ways, and the status of every dossier as of a date.

``tm.timing(log)`` returns a :class:`Timing` with

``events`` (row-aligned with ``log.events``)
    ``seg_h`` working hours since the previous event of the dossier, ``wait_h`` / ``proc_h``
    (waiting before the start and processing start -> end, where start times exist; without
    starts ``wait_h == seg_h`` and ``proc_h`` is NaN), ``owner`` of the segment (agency /
    citizen / third_party, from :mod:`tthc_mining.segments`; the pick-up wait after the finish
    is the citizen's), ``counted_h`` the part of the
    segment between the dossier's receipt and its close (or ``as_of``), i.e. what the case
    columns ``agency_days`` / ``citizen_days`` / ``third_party_days`` add up.

``cases`` (one row per dossier)
    see :data:`CASE_COLUMNS` for the list and the rules below.

Rules (``../shared/docs/domain-vn.md`` §1.3, §1.5, §1.7, §3):

* **received** = ``case:received``, else the first receipt-role event, else the first event.
* **finished** = the first *processing finished* event (Kết thúc xử lý: the result is ready at
  the one-stop, which is what one-stop systems compare with the due date), else the exported
  ``case:finished`` (NgayKetThucXuLy), else the first *result returned* event (Trả kết quả —
  then the citizen's pick-up time counts as agency time: map the step that ends processing to
  ``processing_finished`` with ``roles=`` / the catalogue to avoid it); for a log with no
  closing roles and no supplement/suspension roles at all (generic logs such as road fines)
  every dossier is finished at its last event (its status is ``resolved`` when no deadline is
  known). ``finished`` is empty while the dossier is in progress as of ``as_of``. Withdrawn and
  refused dossiers are *closed* (``closed`` = time of that event) but not finished.
* **statutory_due**: from the catalogue (``ProcedureCatalog``: days + unit + cut-off, the
  version in force on the day of receipt), else ``case:due_before`` / ``case:due`` as exported.
  Working-day deadlines: ``calendar.add_working_days(received, n, cutoff)`` (received after
  the cut-off, 15:00 by default, the count starts at the next working day's opening: that is
  ``clock_start``); same-day deadlines (0 days): ``calendar.end_of_working_day(received,
  cutoff)``; calendar-day deadlines (ngày): ``calendar.add_calendar_days(received, n)`` = the
  close of office hours on ``date(received) + n`` (the day of receipt is not counted, as for any
  period in days, so the cut-off does not shift it), moved to the next working day when that
  date is a weekend or holiday. An exported due date without a time (00:00) means the close of
  office hours of that date.
* **reported_due**: the exported ``case:due`` (else ``case:due_after``); when the log has none,
  recomputed the way one-stop systems do: the full deadline restarted from the last supplement
  receipt (``SuDungYeuCauBoSungTheoNghiDinh``, domain notes §1.3).
* **agency_days**, **citizen_days**, **third_party_days**: working time from ``received`` to
  the close (finished / withdrawn / refused), or to ``as_of`` for open dossiers, by segment
  owner (the open segment after the last event up to ``as_of`` belongs to whoever holds the
  dossier). For finished dossiers they add up to ``elapsed_working_days``.
* **budget_days** = working days from ``received`` to the statutory due instant: the working
  time the rules leave the agency (a receipt after 15:00 gets the rest of that day on top; a
  calendar-day deadline is converted into the working time it actually leaves; a same-day
  deadline leaves the rest of the office day).
* **on_time_reported** (as one-stop systems report): ``date(finished) <= date(reported_due)``;
  a missing due counts as on time; withdrawn counts as on time; refused dossiers compare the
  refusal date. **early_reported**: finished on an earlier date.
* **on_time_actual** (as the agency actually spent it): ``agency_days <= budget_days`` — the
  clock is paused only while the citizen holds the dossier (supplement requested -> supplement
  received) and while it is suspended for a third party (tax, verification, posting: time that
  sector rules exclude, §1.5; pass ``third_party_paused=False`` to charge it to the agency).
  ``actual_due`` = the statutory due pushed back by the paused time; ``days_late_actual`` =
  ``max(0, agency_days - budget_days)`` (so far, for open dossiers).
* **status** as of ``as_of`` (default: the log's last timestamp; a date without a time means
  the end of that day), reported clock: ``early`` / ``on_time`` / ``overdue`` (finished, by
  date), ``resolved`` (finished, no deadline known at all), ``in_progress``,
  ``in_progress_overdue`` (open, held by the agency, today's date after the reported due
  date), ``suspended`` (open and held by the citizen or a third party — supplement requested,
  tax, verification), ``withdrawn``, ``refused``; empty for dossiers received after ``as_of``.
  ``status_actual`` uses the same words on the agency clock.

Everything is vectorised on integer case codes (bincount, first/last index per case) or done
in compiled single passes over the events in dossier blocks (``tthc_mining.kernels.timing``:
the closing rules, shared by :func:`timing` and :func:`overdue_arrays`); no Python loop over
dossiers. The result is cached on the log (``log._cache``).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping as _AbcMapping
import html
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import schema as S
from .catalog import ERAS, ProcedureCatalog
from .errors import ConfigError
from .memory import releases_memory
from .roles import add_role_column, fold
from .segments import OWNER_AGENCY, OWNER_CITIZEN, OWNER_NAMES, OWNER_THIRD, segments

__all__ = ["timing", "overdue_arrays", "Timing", "rules_era", "STATUSES", "CASE_COLUMNS", "LABELS"]

NS_PER_DAY = 86_400 * 1_000_000_000
_NAT = np.iinfo(np.int64).min
_EPS_S = 1e-3  # working seconds of tolerance in time comparisons
_DENSE_LIMIT = 4_000_000  # cells of the dense (dossier x unit) table for the responsible unit

STATUSES = ("early", "on_time", "overdue", "resolved", "in_progress", "in_progress_overdue",
            "suspended", "withdrawn", "refused")
RESOLVED_STATUSES = ("early", "on_time", "overdue", "resolved")
HOLDERS = OWNER_LABELS = tuple(str(x) for x in OWNER_NAMES)  # agency, citizen, third_party

#: columns of ``Timing.cases``
CASE_COLUMNS = (
    S.CASE, "procedure", "procedure_name", "unit", "receiving_unit", "channel", "received",
    "clock_start", "finished", "closed", "outcome", "statutory_due", "reported_due",
    "actual_due", "due_source", "deadline_days", "deadline_unit", "budget_days", "agency_days",
    "citizen_days", "third_party_days", "elapsed_working_days", "n_events",
    "n_supplement_requests", "n_supplement_received", "n_suspensions", "on_time_reported",
    "early_reported", "days_late_reported", "on_time_actual", "days_late_actual", "holder",
    "status", "status_actual", "rules_era")

#: Vietnamese / English labels of the case columns (for reports)
LABELS = {
    S.CASE: ("Mã hồ sơ", "Dossier"), "procedure": ("Mã TTHC", "Procedure"),
    "procedure_name": ("Tên thủ tục", "Procedure name"),
    "unit": ("Đơn vị chịu trách nhiệm", "Responsible unit"),
    "receiving_unit": ("Đơn vị tiếp nhận", "Receiving unit"), "channel": ("Kênh nộp", "Channel"),
    "received": ("Ngày tiếp nhận", "Received"), "clock_start": ("Bắt đầu tính hạn", "Clock start"),
    "finished": ("Ngày kết thúc xử lý", "Finished"), "closed": ("Ngày đóng hồ sơ", "Closed"),
    "outcome": ("Kết quả", "Outcome"), "statutory_due": ("Hạn theo quy định", "Statutory due"),
    "reported_due": ("Ngày hẹn trả (hệ thống)", "Reported due"),
    "actual_due": ("Hạn thực (dừng đồng hồ khi chờ công dân)", "Actual due (clock paused)"),
    "due_source": ("Nguồn thời hạn", "Due source"), "deadline_days": ("Thời hạn (ngày)", "Deadline (days)"),
    "deadline_unit": ("Đơn vị thời hạn", "Deadline unit"),
    "budget_days": ("Thời gian cho phép (ngày làm việc)", "Budget (working days)"),
    "agency_days": ("Thời gian cơ quan xử lý (ngày làm việc)", "Agency time (working days)"),
    "citizen_days": ("Thời gian chờ công dân bổ sung", "Citizen time (working days)"),
    "third_party_days": ("Thời gian tạm dừng (bên thứ ba)", "Third-party time (working days)"),
    "elapsed_working_days": ("Tổng thời gian (ngày làm việc)", "Elapsed (working days)"),
    "n_events": ("Số bước", "Events"), "n_supplement_requests": ("Số lần yêu cầu bổ sung", "Supplement requests"),
    "n_supplement_received": ("Số lần nhận bổ sung", "Supplements received"),
    "n_suspensions": ("Số lần tạm dừng", "Suspensions"),
    "on_time_reported": ("Đúng hạn (theo hệ thống)", "On time (as reported)"),
    "early_reported": ("Trước hạn (theo hệ thống)", "Early (as reported)"),
    "days_late_reported": ("Số ngày trễ (theo hệ thống)", "Days late (reported)"),
    "on_time_actual": ("Đúng hạn (thời gian thực)", "On time (actual agency time)"),
    "days_late_actual": ("Số ngày trễ thực tế", "Days late (actual)"),
    "holder": ("Đang giữ hồ sơ", "Holder"), "status": ("Trạng thái", "Status"),
    "status_actual": ("Trạng thái (thời gian thực)", "Status (actual)"),
    "rules_era": ("Quy định áp dụng", "Rules era"),
}

STATUS_LABELS = {
    "early": ("Trước hạn", "Early"), "on_time": ("Đúng hạn", "On time"),
    "overdue": ("Quá hạn", "Overdue"), "resolved": ("Đã giải quyết (không có hạn)", "Resolved (no deadline)"),
    "in_progress": ("Đang xử lý trong hạn", "In progress"),
    "in_progress_overdue": ("Đang xử lý quá hạn", "In progress, overdue"),
    "suspended": ("Tạm dừng / chờ bổ sung", "Suspended / awaiting supplement"),
    "withdrawn": ("Rút hồ sơ", "Withdrawn"), "refused": ("Từ chối", "Refused"),
}

_ERA_SWITCH = ERAS["ND118"][0]
_ERA_SWITCH_DAY = int(_ERA_SWITCH.value // (86_400 * 1_000_000_000))


# ----------------------------------------------------------------------------- small helpers
def rules_era(received: Any) -> Any:
    """The rules in force when a dossier was received: ``"ND61"`` (NĐ 61/2018 as amended by
    NĐ 107/2021, until 30/6/2025) or ``"ND118"`` (NĐ 118/2025, from 1/7/2025), by the local
    (Vietnam) date of receipt. Vectorised: a scalar gives a str (None for NaT), an array-like
    an object array. Labels: ``tthc_mining.catalog.ERAS[key][2]``."""
    scalar = isinstance(received, (str, _dt.date, pd.Timestamp, np.datetime64))
    idx = pd.DatetimeIndex(pd.to_datetime([received] if scalar else pd.Series(received)))
    if idx.tz is not None:
        idx = idx.tz_convert(S.DEFAULT_TZ).tz_localize(None)
    new = idx >= _ERA_SWITCH
    out = np.where(idx.isna(), None, np.where(new, "ND118", "ND61")).astype(object)
    return out[0] if scalar else out


def _aware(values: Any, tz: str | None) -> pd.DatetimeIndex:
    """A tz-aware DatetimeIndex (ns) in the calendar's zone; naive input is local time."""
    idx = pd.DatetimeIndex(values) if not isinstance(values, pd.DatetimeIndex) else values
    if not isinstance(idx.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_any_dtype(idx.dtype):
        idx = pd.DatetimeIndex(pd.to_datetime(values))
    tz = tz or "UTC"
    idx = idx.tz_localize(tz) if idx.tz is None else idx.tz_convert(tz)
    return idx.as_unit("ns")


def _col_aware(ev: pd.DataFrame, col: str, tz: str | None) -> pd.DatetimeIndex:
    s = ev[col]
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce")
    return _aware(s, tz)


def _local_day(idx: pd.DatetimeIndex) -> np.ndarray:
    """Local calendar day number (days since 1970-01-01) of aware timestamps; NaT -> int64 min."""
    idx = idx.as_unit("ns")
    ns = idx.tz_localize(None).asi8 if idx.tz is not None else idx.asi8
    out = np.floor_divide(ns, NS_PER_DAY)
    return np.where(ns == _NAT, _NAT, out)


def _local_day_ns(utc_ns: np.ndarray, tz: str | None) -> np.ndarray:
    """:func:`_local_day` of UTC int64 ns (``calendar.utc_to_local_ns``: one addition when the
    zone's offset does not change over the data)."""
    from .calendar import utc_to_local_ns
    utc_ns = np.asarray(utc_ns, dtype=np.int64)
    out = np.floor_divide(utc_to_local_ns(utc_ns, tz or "UTC"), NS_PER_DAY)
    return np.where(utc_ns == _NAT, _NAT, out)


def _first_where(mask: np.ndarray, case: np.ndarray, n_cases: int,
                 case_start: np.ndarray | None = None) -> np.ndarray:
    """Row index of the first event of each case where ``mask`` holds (-1 when none).
    Rows are sorted by case, so the first hit per case is the first occurrence.
    ``case_start`` (first row of every case, plus n) makes an all-true mask free."""
    if case_start is not None and len(case_start) == n_cases + 1 and mask.all():
        return case_start[:-1].astype(np.int64, copy=True)
    idx = np.flatnonzero(mask)
    out = np.full(n_cases, -1, dtype=np.int64)
    if idx.size:
        c = case[idx]
        first = np.ones(idx.size, dtype=bool)
        first[1:] = c[1:] != c[:-1]
        out[c[first]] = idx[first]
    return out


def _last_where(mask: np.ndarray, case: np.ndarray, n_cases: int,
                case_start: np.ndarray | None = None) -> np.ndarray:
    if case_start is not None and len(case_start) == n_cases + 1 and mask.all():
        return case_start[1:] - 1
    idx = np.flatnonzero(mask)
    out = np.full(n_cases, -1, dtype=np.int64)
    if idx.size:
        c = case[idx]
        last = np.ones(idx.size, dtype=bool)
        last[:-1] = c[:-1] != c[1:]
        out[c[last]] = idx[last]
    return out


def _take_ns(ns: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.where(idx >= 0, ns[np.maximum(idx, 0)], _NAT)


DUE_SOURCES = np.array(["catalog", "case:due_before", "case:due"], dtype=object)


def _catalog_rows(catalog, codes: np.ndarray, uniq: np.ndarray, recv_day: np.ndarray) -> np.ndarray:
    """``catalog.lookup`` for every dossier, asked once per distinct (procedure, day of receipt)."""
    day = np.where(recv_day == _NAT, -1, recv_day)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    d0 = int(day.min())
    combo = (codes + 1) * (int(day.max()) - d0 + 1) + (day - d0)
    inv, first = pd.factorize(combo, sort=False)
    rep = np.empty(len(first), dtype=np.int64)
    rep[inv[::-1]] = np.arange(len(inv) - 1, -1, -1)          # a dossier of every combination
    rc = codes[rep]
    ucodes = np.where(rc >= 0, uniq[np.maximum(rc, 0)] if len(uniq) else None, None)
    udays = np.where(recv_day[rep] == _NAT, np.nan, recv_day[rep])
    return np.asarray(catalog.lookup(ucodes, udays), dtype=np.int64)[inv]


def _codes_of(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(int64 codes with -1 for missing, object array of the distinct values)`` of a column
    (the categorical codes when it is categorical: no per-row strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return (values.cat.codes.to_numpy(np.int64),
                np.asarray(values.cat.categories.astype(object), dtype=object))
    codes, uniq = pd.factorize(values, sort=False)
    return codes.astype(np.int64), np.asarray(uniq, dtype=object)


def _text_col(codes: np.ndarray, uniques: Any) -> Any:
    """A text column of the cases table from integer codes (-1 = missing).

    What pandas makes of an object array of strings and None (its ``str`` dtype, NaN for
    missing), built by one pyarrow ``take`` over the distinct values instead of per-row Python
    strings; the object array itself when the values are not all text or all are missing (then
    pandas infers another dtype)."""
    codes = np.asarray(codes, dtype=np.int64)
    uniq = np.asarray(uniques, dtype=object)
    valid = codes >= 0
    if len(uniq) == 0 or not valid.any() or not all(isinstance(u, str) for u in uniq):
        out = np.full(len(codes), None, dtype=object)
        if valid.any():
            out[valid] = uniq[codes[valid]]
        return out
    arr = pc.take(pa.array(list(uniq), type=pa.string()),
                  pa.array(codes, mask=~valid) if not valid.all() else pa.array(codes))
    return pd.array(arr, dtype="str")


def _text_col_obj(values: np.ndarray) -> Any:
    """:func:`_text_col` for an object array (factorised on its few distinct values)."""
    codes, uniq = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    if not all(isinstance(u, str) for u in uniq):
        return values
    return _text_col(codes, uniq)


def _best_unit(case: np.ndarray, gcode: np.ndarray, val: np.ndarray, n_cases: int, G: int
               ) -> np.ndarray | None:
    """Per case: the unit with the largest total ``val`` over the case's events with a unit
    (ties: the smaller unit code), -1 for cases without such events; ``None`` when the packed
    key does not fit 64 bits. One sort of 64-bit keys ``case | unit | row`` (the row bits make it
    an argsort without ``argsort``); the sums run in row order, as ``np.bincount`` does."""
    ok = gcode >= 0
    if ok.all():
        rows = None
        c, g, v = case, gcode, val
    else:
        rows = np.flatnonzero(ok)
        c, g, v = case[rows], gcode[rows], val[rows]
    m = len(c)
    best = np.full(n_cases, -1, dtype=np.int64)
    if m == 0:
        return best
    gb = max(int(G - 1).bit_length(), 1)
    ib = max(int(m - 1).bit_length(), 1)
    cb = max(int(n_cases - 1).bit_length(), 1)
    if cb + gb + ib > 63:
        return None
    key = np.left_shift(c, gb + ib)                            # int64, non-negative
    key |= np.left_shift(g, ib)
    key |= np.arange(m, dtype=np.int64)
    key.sort()
    perm = key & ((1 << ib) - 1)
    key >>= ib                                                 # (case, unit), sorted
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    sums = np.add.reduceat(v[perm], starts)
    pair = key[starts]
    del key, perm
    pc_ = pair >> gb
    pg = pair & ((1 << gb) - 1)
    cst = np.flatnonzero(np.concatenate(([True], pc_[1:] != pc_[:-1])))
    mx = np.maximum.reduceat(sums, cst)
    grp = np.cumsum(np.concatenate(([True], pc_[1:] != pc_[:-1]))) - 1
    cand = np.flatnonzero(sums == mx[grp])                     # units at the case's maximum
    first = np.concatenate(([True], pc_[cand][1:] != pc_[cand][:-1]))
    sel = cand[first]                                          # smallest unit code among them
    best[pc_[sel]] = pg[sel]
    return best


def _idx_from_ns(ns: np.ndarray, tz: str | None) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz or "UTC")


def _case_first(ev: pd.DataFrame, col: str, case: np.ndarray, n_cases: int,
                first_row: np.ndarray | None = None) -> pd.Series:
    """First non-null value of a column per case (index 0..n_cases-1).

    Case attributes are normally repeated on every row, so the value on each case's first row
    is taken; only the cases where it is missing are looked up further (groupby on their rows).
    """
    s = ev[col]
    if first_row is None or len(first_row) != n_cases:
        return s.groupby(case, sort=True).first().reindex(pd.RangeIndex(n_cases))
    out = pd.Series(s.array.take(first_row), name=s.name)
    miss = out.isna().to_numpy()
    if miss.any():
        # rows of those cases that hold a value: the first of them per case (rows are in case
        # order, so the first hit of a case is its first non-empty value)
        rows = np.flatnonzero(miss[case] & s.notna().to_numpy())
        if rows.size:
            c = case[rows]
            first = np.concatenate(([True], c[1:] != c[:-1]))
            out = out.copy()
            out.iloc[c[first]] = s.array.take(rows[first])
    return out


def _resolve_as_of(as_of: Any, ts_ns: np.ndarray, tz: str | None) -> pd.Timestamp:
    if as_of is None:
        valid = ts_ns[ts_ns != _NAT]
        if not valid.size:
            return pd.Timestamp.now(tz=tz or "UTC")
        return pd.Timestamp(int(valid.max()), tz="UTC").tz_convert(tz or "UTC")
    date_only = (isinstance(as_of, _dt.date) and not isinstance(as_of, _dt.datetime)) or \
        (isinstance(as_of, str) and ":" not in as_of and "T" not in as_of)
    try:
        t = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        raise ConfigError(f"cannot read as_of={as_of!r}; give a date or a timestamp") from None
    if t is pd.NaT:
        raise ConfigError(f"as_of={as_of!r} is not a date")
    t = t.tz_localize(tz or "UTC") if t.tzinfo is None else t.tz_convert(tz or "UTC")
    if date_only:
        t = t.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return t


# ----------------------------------------------------------------------------- roles
def _ensure_roles(log, overrides: Mapping[str, str] | None) -> None:
    """Add ``tm:role`` when missing; apply an ``{activity: role}`` mapping (per distinct
    activity, matched exactly or after fold()). Invalidates cached segments when roles change."""
    ev = log.events
    if S.ROLE not in ev.columns:
        add_role_column(ev, overrides or None)
        log._cache.pop("segments", None)
        return
    if not overrides:
        return
    bad = {r for r in overrides.values() if r not in S.ROLES}
    if bad:
        raise ConfigError(f"unknown role(s) {sorted(bad)}; known roles: {', '.join(S.ROLES)}")
    act, acts = log.codes(S.ACTIVITY)
    folded = {fold(k): v for k, v in overrides.items()}
    mapped = np.array([overrides.get(str(a), folded.get(fold(a))) for a in acts], dtype=object)
    if not any(m is not None for m in mapped):
        return
    cur = _role_codes(ev)
    new_per_act = np.array([S.ROLES.index(m) if m is not None else -1 for m in mapped], dtype=np.int64)
    new = np.where(act >= 0, new_per_act[np.maximum(act, 0)], -1)
    new = np.where(new >= 0, new, cur)
    if np.array_equal(new, cur):
        return
    ev[S.ROLE] = pd.Categorical.from_codes(new, categories=list(S.ROLES))
    log._cache.pop("segments", None)
    for k in [k for k in log._cache if isinstance(k, tuple) and k and k[0] == "timing"]:
        log._cache.pop(k, None)


def _role_codes(ev: pd.DataFrame) -> np.ndarray:
    """Index into ``schema.ROLES`` of every event's role (int8, -1 unknown)."""
    col = ev[S.ROLE]
    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == list(S.ROLES):
        return col.cat.codes.to_numpy(np.int8)
    return pd.Categorical(col.astype(object), categories=list(S.ROLES)).codes.astype(np.int8)


class _RoleRows:
    """The rows of every role in row order, from one stable sort of the int8 role codes
    (radix sort) instead of a comparison pass per role; ``known`` restricts to the events
    known by ``as_of`` (None: all)."""

    def __init__(self, role: np.ndarray, known: np.ndarray | None):
        k = len(S.ROLES) + 1
        shifted = role.astype(np.int8) + np.int8(1)          # -1 (unknown) -> 0
        self._order = np.argsort(shifted, kind="stable")
        counts = np.bincount(shifted, minlength=k)
        self._bounds = np.concatenate([[0], np.cumsum(counts)])
        self._known = known

    def rows(self, name: str, *, known: bool = True) -> np.ndarray:
        r = S.ROLES.index(name) + 1
        idx = self._order[self._bounds[r]:self._bounds[r + 1]]
        if known and self._known is not None:
            idx = idx[self._known[idx]]
        return idx


def _last_of(rows: np.ndarray, case: np.ndarray, n_cases: int) -> np.ndarray:
    out = np.full(n_cases, -1, dtype=np.int64)
    if rows.size:
        c = case[rows]
        last = np.ones(rows.size, dtype=bool)
        last[:-1] = c[:-1] != c[1:]
        out[c[last]] = rows[last]
    return out


# ----------------------------------------------------------------------------- deadlines
def _deadlines(cal, start: pd.DatetimeIndex, days: np.ndarray, calendar_unit: np.ndarray,
               cutoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Statutory due for each row: ``(due UTC ns, due on the working axis, clock start on the
    working axis)``.

    ``start`` aware timestamps, ``days`` float (NaN = no deadline), ``calendar_unit`` bool,
    ``cutoffs`` object array of 'HH:MM' or None, or ``(codes, values)`` of such cut-offs. Loops
    over the few distinct cut-off values only.

    Working-day and same-day deadlines: the clock start is ``calendar.add_working_days(start,
    0, cutoff)`` (the cut-off rule) and the due instant is exactly what the calendar's deadline
    functions return — ``add_working_days(start, n, cutoff)`` = ``from_working(clock + n·L,
    side="prev")`` and ``end_of_working_day(start, cutoff)`` = ``from_working((⌊clock/L⌋ + 1)·L,
    side="prev")`` — evaluated once on the axis instead of re-mapping the start for each
    function (the tests check the equality with the calendar's functions). Calendar-day
    deadlines (ngày): ``add_calendar_days(start, n)``: the close of office hours on
    ``date(start) + n`` (the day of receipt is not counted, so no cut-off shift), moved to the
    next working day when that date is not one; their clock start is the receipt itself.
    """
    n = len(start)
    due_ns = np.full(n, _NAT, dtype=np.int64)
    due_w = np.full(n, np.nan)
    clock_w = np.full(n, np.nan)
    has = np.isfinite(days) & (start.asi8 != _NAT)
    if not has.any():
        return due_ns, due_w, clock_w
    L = cal.seconds_per_day
    if isinstance(cutoffs, tuple):
        kcodes, kvalues = np.asarray(cutoffs[0], dtype=np.int64), np.asarray(cutoffs[1], dtype=object)
        missing_k = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in kvalues],
                             dtype=bool)
        if missing_k.any():
            kcodes = np.where(np.append(missing_k, True)[np.where(kcodes < 0, len(kvalues), kcodes)],
                              -1, kcodes)
    else:
        kcodes, kvalues = pd.factorize(pd.Series(cutoffs, dtype=object), use_na_sentinel=True)
    for k in np.unique(kcodes[has]):
        sel = np.flatnonzero(has & (kcodes == k))
        cut = None if k < 0 else str(kvalues[k])
        cw = np.atleast_1d(cal.to_working(cal.add_working_days(start[sel], 0.0, cutoff=cut)))
        d = days[sel]
        cald = (d > 0) & calendar_unit[sel]
        w = np.where(d <= 0, (np.floor(cw / L) + 1.0) * L, cw + d * L)
        out = _aware(cal.from_working(w, side="prev", tz_aware=True), cal.tz).asi8
        if cald.any():
            cdue = _aware(cal.add_calendar_days(start[sel[cald]], np.ceil(d[cald]).astype(np.int64),
                                                tz_aware=True), cal.tz)
            out[cald] = cdue.asi8
            w[cald] = cal.to_working(cdue)
            cw[cald] = cal.to_working(start[sel[cald]])
        clock_w[sel] = cw
        due_w[sel] = w
        due_ns[sel] = out
    return due_ns, due_w, clock_w


def _end_of_office_if_date(idx: pd.DatetimeIndex, cal) -> pd.DatetimeIndex:
    """Exported due dates without a time (local midnight) mean the close of office hours."""
    local = idx.tz_localize(None)
    midnight = (local.asi8 != _NAT) & ((local.asi8 % NS_PER_DAY) == 0)
    if not midnight.any():
        return idx
    close_s = float(np.max(cal._b)) if hasattr(cal, "_b") else 17 * 3600.0
    ns = local.asi8.copy()
    ns[midnight] += int(close_s * 1e9)
    return _aware(pd.DatetimeIndex(ns.view("datetime64[ns]")), cal.tz)


def _cases_frame(columns: dict, case_ids: pd.Index, as_of: pd.Timestamp, L: float) -> pd.DataFrame:
    """The ``Timing.cases`` table from its columns (the case ids first)."""
    str_dtype = pd.Series([], dtype="str").dtype
    ids = case_ids.array if case_ids.dtype == str_dtype else case_ids.to_numpy()
    cases = pd.DataFrame({S.CASE: ids, **columns})
    cases.attrs.update({"as_of": as_of, "hours_per_day": L / 3600.0})
    return cases


# ----------------------------------------------------------------------------- result
class EventArrays(_AbcMapping):
    """``Timing.event_arrays``: ``seg_h``, ``wait_h``, ``proc_h`` (the segments in hours),
    ``owner`` and ``counted_h``, each built on first access (48 MB apiece on 6 million events)
    and then kept."""

    _KEYS = ("seg_h", "wait_h", "proc_h", "owner", "counted_h")

    def __init__(self, seg, owner: np.ndarray, counted_s: np.ndarray):
        self._seg = seg
        self._counted_s = counted_s
        self._done = {"owner": owner}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._done:
            if key not in self._KEYS:
                raise KeyError(key)
            if key == "counted_h":
                self._done[key] = self._counted_s / 3600.0
            else:
                src = {"seg_h": "seg_s", "wait_h": "wait_s", "proc_h": "proc_s"}[key]
                self._done[key] = getattr(self._seg, src) / 3600.0
        return self._done[key]

    def __iter__(self):
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


@dataclass
class Timing:
    """Per-event and per-dossier timing of a log (see the module docstring for the rules).

    ``events`` is built on first access (it is as long as the log); ``event_arrays`` holds the
    same columns as numpy arrays for modules that only need one of them.
    """

    event_arrays: Mapping
    as_of: pd.Timestamp
    cutoff: str | None = "15:00"
    third_party_paused: bool = True
    hours_per_day: float = 8.0
    catalog_source: str | None = None
    notes: list = field(default_factory=list)
    event_index: Any = None
    #: per-dossier arrays available without building the table: ``budget_days``,
    #: ``agency_days``, ``days_late_actual`` and ``overdue_actual`` (finished over the budget or
    #: in progress past it: ``status_actual`` overdue / in_progress_overdue)
    case_arrays: dict = field(default_factory=dict, repr=False)
    _cases: pd.DataFrame | None = field(default=None, repr=False)
    _build: Any = field(default=None, repr=False, compare=False)
    _events: pd.DataFrame | None = field(default=None, repr=False)
    _catalog: Any = field(default=None, repr=False)

    @property
    def cases(self) -> pd.DataFrame:
        """One row per dossier (:data:`CASE_COLUMNS`), built on first access."""
        if self._cases is None:
            self._cases = self._build()
            self._build = None
        return self._cases

    @property
    def events(self) -> pd.DataFrame:
        if self._events is None:
            a = self.event_arrays
            self._events = pd.DataFrame({
                "seg_h": a["seg_h"], "wait_h": a["wait_h"], "proc_h": a["proc_h"],
                "owner": pd.Categorical.from_codes(a["owner"].astype(np.int64),
                                                   categories=list(OWNER_LABELS)),
                "counted_h": a["counted_h"]}, index=self.event_index)
        return self._events

    def to_frame(self) -> pd.DataFrame:
        return self.cases

    def status_counts(self, column: str = "status") -> pd.Series:
        return self.cases[column].value_counts().reindex(list(STATUSES), fill_value=0)

    def to_dict(self, max_rows: int | None = None) -> dict:
        cases = self.cases if max_rows is None else self.cases.head(max_rows)
        return {"as_of": self.as_of.isoformat(), "cutoff": self.cutoff,
                "third_party_paused": self.third_party_paused, "hours_per_day": self.hours_per_day,
                "catalog": self.catalog_source, "notes": list(self.notes),
                "n_cases": int(len(self.cases)), "n_events": int(len(self.event_arrays["seg_h"])),
                "status_counts": {k: int(v) for k, v in self.status_counts().items()},
                "cases": json.loads(cases.to_json(orient="records", date_format="iso",
                                                  force_ascii=False))}

    def to_json(self, max_rows: int | None = None, **kw) -> str:
        return json.dumps(self.to_dict(max_rows), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.status_counts().items() if v)
        return (f"Timing({len(self.cases):,} dossiers, {len(self.event_arrays['seg_h']):,} events as of "
                f"{self.as_of:%Y-%m-%d %H:%M}: {counts})")

    def _repr_html_(self) -> str:
        counts = self.status_counts()
        rows = "".join(f"<tr><td>{html.escape(STATUS_LABELS[k][0])} / {html.escape(STATUS_LABELS[k][1])}"
                       f"</td><td style='text-align:right'>{v:,}</td></tr>" for k, v in counts.items())
        head = (f"<p><b>Timing</b>: {len(self.cases):,} hồ sơ / dossiers, {len(self.event_arrays['seg_h']):,} "
                f"events, as of {html.escape(str(self.as_of))}</p>")
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (head + notes + f"<table><tr><th>Trạng thái / Status</th><th>n</th></tr>{rows}</table>"
                + self.cases.head(10).to_html(escape=True, index=False))


# ----------------------------------------------------------------------------- main entry
def catalog_and_roles(log, catalog, roles) -> tuple[ProcedureCatalog | None, dict[str, str]]:
    """The catalogue in force (``catalog`` or the log's) and the role overrides (the
    catalogue's, then ``roles``), checked; shared by both engines' ``timing``."""
    if catalog is None:
        catalog = getattr(log, "catalog", None)
    if catalog is not None and not isinstance(catalog, ProcedureCatalog):
        raise ConfigError(f"catalog must be a ProcedureCatalog, not {type(catalog).__name__}")
    overrides: dict[str, str] = {}
    if catalog is not None and catalog.roles:
        overrides.update(catalog.roles)
    if roles:
        overrides.update(roles)
    return catalog, overrides


@releases_memory
def timing(log, *, catalog: ProcedureCatalog | None = None, as_of: Any = None,
           cutoff: str | None = "15:00", roles: Mapping[str, str] | None = None,
           third_party_paused: bool = True) -> Timing:
    """Timing and deadlines of a :class:`~tthc_mining.DossierLog` (cached on the log).

    ``catalog`` defaults to ``log.catalog``; ``cutoff`` is used for dossiers whose procedure is
    not in the catalogue (the catalogue's per-procedure cut-off wins otherwise); ``roles`` is an
    extra ``{activity: role}`` mapping (applied to ``log.events['tm:role']``, like the
    catalogue's ``roles``). See the module docstring for every rule.
    """
    from .engines.core import RelationalLog
    if isinstance(log, RelationalLog):   # DuckDB / Spark: the relational definitions
        from .engines.timing import timing as relational_timing
        return relational_timing(log, catalog=catalog, as_of=as_of, cutoff=cutoff, roles=roles,
                                 third_party_paused=third_party_paused)
    catalog, overrides = catalog_and_roles(log, catalog, roles)
    _ensure_roles(log, overrides)

    cal = log.calendar
    tz = cal.tz or "UTC"
    ev = log.events
    ts = _col_aware(ev, S.TIMESTAMP, tz)
    ts_ns = ts.asi8
    as_of_t = _resolve_as_of(as_of, ts_ns, tz)
    key = ("timing", id(catalog), as_of_t.value, cutoff, tuple(sorted((roles or {}).items())),
           bool(third_party_paused))
    cached = log._cache.get(key)
    if cached is not None and cached._catalog is catalog:  # id() alone could be reused
        return cached

    seg = segments(log)
    n = len(ev)
    n_cases = seg.n_cases
    case = seg.case32.astype(np.int64)      # (this call's own int64 codes: not kept on the segments)
    L = cal.seconds_per_day
    first_row = seg.case_start[:-1]
    role = _role_codes(ev)
    R = {name: i for i, name in enumerate(S.ROLES)}
    in_asof = (ts_ns != _NAT) & (ts_ns <= as_of_t.value)
    rr = _RoleRows(role, None if in_asof.all() else in_asof)
    w_asof = float(cal.to_working(as_of_t))
    notes: list[str] = []

    # ---------------------------------------------------------------- per-case attributes
    def first_attr(col: str) -> pd.Series | None:
        return _case_first(ev, col, case, n_cases, first_row) if col in ev.columns else None

    def _case_time(col: str) -> pd.DatetimeIndex:
        v = _case_first(ev, col, case, n_cases, first_row)
        if not pd.api.types.is_datetime64_any_dtype(v.dtype):
            v = pd.to_datetime(v, errors="coerce")
        return _aware(v, tz)

    procedure = first_attr(S.PROCEDURE)
    channel = first_attr(S.CHANNEL)

    # closing events (known by as_of), the first receipt and the last known event per dossier:
    # the rules of _closing, shared with overdue_arrays
    fr_ns = _case_time(S.FINISHED_REPORTED).asi8 if S.FINISHED_REPORTED in ev.columns else None
    rec_idx, closed_ns, closed_row, outcome, last_known, roleless = _closing(
        seg, ts_ns, role, as_of_t.value, bool(in_asof.all()), fr_ns)
    del fr_ns
    if roleless:
        notes.append("No closing activity (processing finished / result returned / withdrawn / "
                     "refused) was recognised in this log: every dossier is treated as finished "
                     "at its last event.")

    # received
    w_end = seg.w_end
    rec_row = np.where(rec_idx >= 0, rec_idx, first_row) if n_cases else np.zeros(0, np.int64)
    recv_ns = ts_ns[rec_row] if n_cases else np.zeros(0, np.int64)
    recv_w = w_end[rec_row] if n_cases else np.zeros(0)
    if S.RECEIVED in ev.columns:
        r_ns = _case_time(S.RECEIVED).asi8
        given = r_ns != _NAT
        recv_ns = np.where(given, r_ns, recv_ns)
        if given.any():
            recv_w = recv_w.copy()
            recv_w[given] = cal.to_working(_idx_from_ns(r_ns[given], tz))
    received = _idx_from_ns(recv_ns, tz)
    recv_day = _local_day_ns(recv_ns, tz)

    is_received = recv_ns <= as_of_t.value

    # ---------------------------------------------------------------- deadlines
    # per-dossier text values are kept as (codes, distinct values): no per-dossier strings
    dl_days = np.full(n_cases, np.nan)
    dl_calendar = np.zeros(n_cases, dtype=bool)
    dl_cutoff = (np.zeros(n_cases, dtype=np.int64), np.array([cutoff], dtype=object))
    dl_unit = (np.full(n_cases, -1, dtype=np.int64), np.zeros(0, dtype=object))
    pn = first_attr("case:procedure_name")
    pn_codes, pn_uniq = _codes_of(pn) if pn is not None else (
        np.full(n_cases, -1, dtype=np.int64), np.zeros(0, dtype=object))
    in_cat = np.zeros(n_cases, dtype=bool)
    if catalog is not None and procedure is not None and n_cases:
        row = _catalog_rows(catalog, *_codes_of(procedure), recv_day)
        in_cat = row >= 0
        pr = catalog.procedures
        take = np.maximum(row, 0)
        dl_days = np.where(in_cat, pr["deadline_days"].to_numpy(np.float64)[take], np.nan)
        pr_units = pr["deadline_unit"].to_numpy(dtype=object)
        dl_calendar = in_cat & (pr_units == "calendar")[take]
        dl_unit = (np.where(in_cat, take, -1), pr_units)
        dl_cutoff = (np.where(in_cat, take + 1, 0),
                     np.concatenate([[cutoff], pr["cutoff"].to_numpy(dtype=object)]))
        pr_names = pr["name"].to_numpy(dtype=object)
        over = in_cat & pd.notna(pr_names)[take]
        pn_codes = np.where(over, len(pn_uniq) + take, pn_codes)
        pn_uniq = np.concatenate([pn_uniq, pr_names])
        missing = int((~in_cat & procedure.notna().to_numpy()).sum())
        if missing:
            notes.append(f"{missing:,} dossiers have a procedure code that is not in the catalogue "
                         "(deadline taken from the exported due date when there is one).")
    stat_ns, stat_w, clock_w = _deadlines(cal, received, dl_days, dl_calendar, dl_cutoff)
    due_source = np.where(in_cat, 0, -1)           # codes into DUE_SOURCES

    def exported(col: str) -> np.ndarray:
        if col not in ev.columns:
            return np.full(n_cases, _NAT, dtype=np.int64)
        return _end_of_office_if_date(_case_time(col), cal).asi8

    due_ns = exported(S.DUE)
    due_before_ns = exported(S.DUE_BEFORE)
    # statutory due from the export when the catalogue does not know the procedure
    from_export = (stat_ns == _NAT) & ((due_before_ns != _NAT) | (due_ns != _NAT))
    if from_export.any():
        exp_ns = np.where(due_before_ns != _NAT, due_before_ns, due_ns)
        stat_ns = np.where(from_export, exp_ns, stat_ns)
        due_source = np.where(from_export & (due_before_ns != _NAT), 1,
                              np.where(from_export, 2, due_source))
        sel = np.flatnonzero(from_export)
        stat_w[sel] = cal.to_working(_idx_from_ns(stat_ns[sel], tz))

    def clock_start_w() -> np.ndarray:
        """The clock start on the working axis (for the cases table only): the catalogue's,
        and for the dossiers whose deadline comes from the export, received with the default
        cut-off (computed when the table is built)."""
        if from_export.any():
            sel = np.flatnonzero(from_export)
            _, _, cw = _deadlines(cal, received[sel], np.ones(len(sel)), np.zeros(len(sel), bool),
                                  (np.zeros(len(sel), dtype=np.int64),
                                   np.array([cutoff], dtype=object)))
            clock_w[sel] = cw
        return clock_w

    has_deadline = stat_ns != _NAT
    budget_days = np.where(has_deadline, (stat_w - recv_w) / L, np.nan)

    # reported due: exported, else recomputed with a restart at the last supplement receipt
    # (for the cases table only: computed when it is built)
    sup_rx_rows = rr.rows(S.ROLE_SUPPLEMENT_RECEIVED)

    def reported_due() -> tuple[np.ndarray, np.ndarray]:
        due_after_ns = exported(S.DUE_AFTER)
        last_sup_idx = _last_of(sup_rx_rows, case, n_cases)
        restart_ns = np.where(last_sup_idx >= 0, _take_ns(ts_ns, last_sup_idx), recv_ns)
        restart_ns = np.maximum(restart_ns, recv_ns)
        # only dossiers with a supplement receipt and no exported due need a new computation
        rep_calc_ns = np.where(in_cat, stat_ns, _NAT)
        rep_calc_w = np.where(in_cat, stat_w, np.nan)
        redo = np.flatnonzero(in_cat & (last_sup_idx >= 0) & (due_ns == _NAT) & (due_after_ns == _NAT))
        if redo.size:
            r_ns, r_w, _ = _deadlines(cal, _idx_from_ns(restart_ns[redo], tz), dl_days[redo],
                                      dl_calendar[redo], (dl_cutoff[0][redo], dl_cutoff[1]))
            rep_calc_ns[redo], rep_calc_w[redo] = r_ns, r_w
        rep_ns = np.where(due_ns != _NAT, due_ns,
                          np.where(due_after_ns != _NAT, due_after_ns,
                                   np.where(rep_calc_ns != _NAT, rep_calc_ns, stat_ns)))
        rep_w = np.where(rep_ns == rep_calc_ns, rep_calc_w, np.where(rep_ns == stat_ns, stat_w, np.nan))
        fix = np.flatnonzero((rep_ns != _NAT) & np.isnan(rep_w))
        if fix.size:
            rep_w[fix] = cal.to_working(_idx_from_ns(rep_ns[fix], tz))
        return rep_ns, rep_w

    if S.DUE not in ev.columns and S.DUE_AFTER not in ev.columns and in_cat.any():
        notes.append("The log has no exported due date: the reported due date is recomputed as "
                     "one-stop systems do (full deadline restarted at the last supplement receipt).")

    # ---------------------------------------------------------------- clock window and owners
    win_start = recv_w
    cl = closed_ns != _NAT
    closed_w = np.where(closed_row >= 0, w_end[np.maximum(closed_row, 0)], np.nan) if n else \
        np.full(n_cases, np.nan)
    other = np.flatnonzero(cl & (closed_row < 0))  # closed at an exported time, not an event
    if other.size:
        closed_w[other] = cal.to_working(_idx_from_ns(closed_ns[other], tz))
    win_end = np.where(cl, closed_w, w_asof)
    win_end = np.where(is_received, win_end, win_start)  # not received yet: empty window
    # counted = the part of each segment [previous end, end] inside [win_start, win_end], and
    # its sums per (case, owner): one compiled pass (the rule of overdue_arrays)
    owner = seg.owner
    counted = np.empty(n)
    if n:
        by_owner = np.stack(_counted_sums(w_end, case, seg.case_start, owner, win_start, win_end,
                                          (OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD), counted),
                            axis=1)
    else:
        by_owner = np.zeros((n_cases, 3))
    # open tail after the last event known by as_of (or after the last event before the close)
    has_last = last_known >= 0
    lk = np.maximum(last_known, 0)
    # state after each event (who holds the dossier once the event is done): needed at lk only
    state_lut = np.full(len(S.ROLES) + 1, -1, dtype=np.int8)
    state_lut[R[S.ROLE_SUPPLEMENT_REQUEST]] = OWNER_CITIZEN
    state_lut[R[S.ROLE_SUSPENDED]] = OWNER_THIRD
    state_lut[R[S.ROLE_SUPPLEMENT_RECEIVED]] = OWNER_AGENCY
    state_lut[R[S.ROLE_RESUMED]] = OWNER_AGENCY
    if n:
        set_lk = state_lut[np.where(role[lk] < 0, len(S.ROLES), role[lk])]
        state_after_lk = np.where(set_lk >= 0, set_lk, owner[lk]).astype(np.int8)
    else:
        state_after_lk = np.zeros(n_cases, dtype=np.int8)
    tail = np.where(has_last, np.clip(win_end - np.maximum(w_end[lk], win_start), 0.0, None), 0.0)
    # events after the last known one already cover [its end, win_end] through their segment
    after = np.zeros(n_cases, dtype=bool)
    nxt = lk + 1
    after[has_last] = (nxt[has_last] < n) & (case[np.minimum(nxt[has_last], n - 1)] == np.arange(n_cases)[has_last])
    tail = np.where(after, 0.0, tail)
    tail_owner = np.where(has_last, state_after_lk, OWNER_AGENCY)
    if n_cases:
        holder = np.where(has_last, state_after_lk, OWNER_AGENCY).astype(np.int8)
    else:
        holder = np.zeros(0, np.int8)

    def owner_sum(o: int) -> np.ndarray:
        return by_owner[:, o] + np.where(tail_owner == o, tail, 0.0)

    agency_s, citizen_s, third_s = owner_sum(OWNER_AGENCY), owner_sum(OWNER_CITIZEN), owner_sum(OWNER_THIRD)
    charged_s = agency_s + (0.0 if third_party_paused else third_s)
    paused_s = citizen_s + (third_s if third_party_paused else 0.0)

    # responsible unit: the unit with the largest agency working time; receiving unit
    # (computed when the cases table is built: Timing.cases)
    def units() -> tuple[Any, Any]:
        unit = np.full(n_cases, None, dtype=object)
        receiving_unit = np.full(n_cases, None, dtype=object)
        if S.GROUP in ev.columns and n and len(log.codes(S.GROUP)[1]):
            gcode, gnames = log.codes(S.GROUP)
            gnames_arr = np.asarray(gnames, dtype=object)
            val = np.where((owner == OWNER_AGENCY) & (gcode >= 0), counted, 0.0)
            # the open tail is spent at the unit of the last known event
            tmask = has_last & (tail_owner == OWNER_AGENCY) & (tail > 0)
            if tmask.any():
                val = val + np.bincount(lk[tmask], weights=tail[tmask], minlength=n)
            G = max(len(gnames), 1)
            ok = gcode >= 0
            best = _best_unit(case, gcode, val, n_cases, G)
            if best is not None:
                pass
            elif n_cases * G <= _DENSE_LIMIT:  # dense (case, unit) table
                tot = np.bincount(case[ok] * G + gcode[ok], weights=val[ok],
                                  minlength=n_cases * G).reshape(n_cases, G)
                best = np.argmax(tot, axis=1)  # ties: the smaller unit code
            else:  # hashed (case, unit) pairs, then the largest per case
                best = np.full(n_cases, -1, dtype=np.int64)
                pairs = pd.DataFrame({"c": case[ok], "g": gcode[ok], "v": val[ok]})
                tot = pairs.groupby(["c", "g"], sort=False)["v"].sum()
                tot = tot.reset_index().sort_values(["c", "v", "g"], ascending=[True, False, True],
                                                    kind="stable")
                firsts = tot.drop_duplicates("c", keep="first")
                best[firsts["c"].to_numpy()] = firsts["g"].to_numpy()
            # dossiers with no agency time: the unit of their last event with a unit
            last_g = _last_where(ok & in_asof, case, n_cases, seg.case_start)
            last_g = np.where(last_g >= 0, last_g, _last_where(ok, case, n_cases, seg.case_start))
            zero = np.bincount(case, weights=val, minlength=n_cases) <= 0
            fallback = np.where(last_g >= 0, gcode[np.maximum(last_g, 0)], -1)
            best = np.where(zero, fallback, best)
            unit = _text_col(best, gnames_arr)
            rec_g = np.where(rec_idx >= 0, rec_idx, _first_where(ok, case, n_cases, seg.case_start))
            rg = np.where(rec_g >= 0, gcode[np.maximum(rec_g, 0)], -1)
            receiving_unit = _text_col(rg, gnames_arr)
        return unit, receiving_unit

    # counts (events known by as_of)
    def count(rows: np.ndarray) -> np.ndarray:
        return np.bincount(case[rows], minlength=n_cases).astype(np.int64) if n else np.zeros(n_cases, np.int64)

    n_sup_req = count(rr.rows(S.ROLE_SUPPLEMENT_REQUEST))
    n_sup_rx = count(sup_rx_rows)
    n_susp = count(rr.rows(S.ROLE_SUSPENDED))
    n_events = np.diff(seg.case_start).astype(np.int64)

    # ---------------------------------------------------------------- on time, two ways
    fin = outcome == 0
    withdrawn = outcome == 1
    refused = outcome == 2
    open_ = (outcome < 0) & is_received
    close_day = _local_day_ns(closed_ns, tz)

    def reported_columns():
        """On time as reported, days late and the status on the reported clock (for the
        cases table only)."""
        rep_ns, rep_w = reported_due()
        rep_day = _local_day_ns(rep_ns, tz)
        has_rep = rep_ns != _NAT
        on_time_rep = np.where(has_rep, close_day <= rep_day, True)
        early_rep = has_rep & (close_day < rep_day)
        on_time_reported = pd.array(np.where(fin | refused, on_time_rep, withdrawn), dtype="boolean")
        on_time_reported[~(fin | refused | withdrawn)] = pd.NA
        early_reported = pd.array(early_rep & (fin | refused), dtype="boolean")
        early_reported[~(fin | refused | withdrawn)] = pd.NA
        days_late_rep = np.where((fin | refused) & has_rep, np.clip((closed_w - rep_w) / L, 0.0, None),
                                 np.nan)
        days_late_rep = np.where((fin | refused) & has_rep & (close_day <= rep_day), 0.0, days_late_rep)
        status = np.full(n_cases, -1, dtype=np.int8)    # category codes; -1 = not received yet
        status[fin & ~has_rep] = SC["resolved"]
        status[fin & has_rep & (close_day < rep_day)] = SC["early"]
        status[fin & has_rep & (close_day == rep_day)] = SC["on_time"]
        status[fin & has_rep & (close_day > rep_day)] = SC["overdue"]
        status[open_ & held_by_other] = SC["suspended"]
        status[open_ & ~held_by_other] = SC["in_progress"]
        status[open_ & ~held_by_other & has_rep & (asof_day > rep_day)] = SC["in_progress_overdue"]
        status[withdrawn] = SC["withdrawn"]
        status[refused] = SC["refused"]
        status[~is_received] = -1
        return rep_ns, on_time_reported, early_reported, days_late_rep, status

    charged_days = charged_s / L
    ok_actual = charged_days <= budget_days + _EPS_S / L
    on_time_actual = pd.array(ok_actual, dtype="boolean")
    on_time_actual[~(fin & has_deadline)] = pd.NA
    days_late_actual = np.where(has_deadline & (fin | open_), np.clip(charged_days - budget_days, 0.0, None),
                                np.nan)
    actual_due_w = stat_w + paused_s

    # ---------------------------------------------------------------- statuses
    asof_day = int(_local_day(pd.DatetimeIndex([as_of_t]))[0])
    SC = {name: i for i, name in enumerate(STATUSES)}
    status_act = np.full(n_cases, -1, dtype=np.int8)  # category codes; -1 = not received yet
    held_by_other = holder != OWNER_AGENCY
    # finished
    status_act[fin & ~has_deadline] = SC["resolved"]
    status_act[fin & has_deadline & ~ok_actual] = SC["overdue"]
    in_time_act = fin & has_deadline & ok_actual    # early or on time: by date, in the table
    status_act[in_time_act] = SC["on_time"]
    # open
    status_act[open_ & held_by_other] = SC["suspended"]
    status_act[open_ & ~held_by_other] = SC["in_progress"]
    status_act[open_ & ~held_by_other & has_deadline & ~ok_actual] = SC["in_progress_overdue"]
    status_act[withdrawn] = SC["withdrawn"]
    status_act[refused] = SC["refused"]
    status_act[~is_received] = -1
    holder_names = np.where(is_received & (outcome < 0), OWNER_NAMES[holder], None)

    # per-dossier arrays needed without the table (tthc_mining.bottlenecks' share in overdue)
    case_arrays = {"budget_days": budget_days, "agency_days": agency_s / L,
                   "days_late_actual": days_late_actual,
                   "overdue_actual": np.isin(status_act, [SC["overdue"], SC["in_progress_overdue"]])
                   | (fin & has_deadline & ~ok_actual)}

    # ---------------------------------------------------------------- assemble (on demand)
    def dt(ns: np.ndarray) -> pd.Series:
        return pd.Series(_idx_from_ns(ns, tz))

    not_fin = ~fin
    elapsed = np.where(fin, (closed_w - recv_w) / L, np.nan)
    outcome_name = np.array(["finished", "withdrawn", "refused"], dtype=object)

    def _assemble() -> pd.DataFrame:
        actual_due = cal.from_working(np.where(has_deadline, actual_due_w, np.nan), side="prev",
                                      tz_aware=True) if n_cases else pd.DatetimeIndex([], tz=tz)
        actual_due = _aware(actual_due, tz)
        actual_day = _local_day_ns(actual_due.asi8, tz)
        st_act = status_act.copy()
        st_act[in_time_act & (close_day < actual_day)] = SC["early"]
        st_act[~is_received] = -1
        unit, receiving_unit = units()
        return _frame(actual_due, st_act, unit, receiving_unit, reported_columns())

    def text(col: pd.Series | None) -> Any:
        if col is None:
            return np.full(n_cases, None, object)
        if isinstance(col.dtype, pd.CategoricalDtype):
            return _text_col(*_codes_of(col))
        return col.to_numpy(dtype=object)

    def _frame(actual_due, status_act, unit, receiving_unit, reported) -> pd.DataFrame:
        rep_ns, on_time_reported, early_reported, days_late_rep, status = reported
        return _cases_frame({
            "procedure": text(procedure),
            "procedure_name": _text_col(pn_codes, pn_uniq),
            "unit": unit, "receiving_unit": receiving_unit,
            "channel": text(channel),
            "received": dt(recv_ns),
            "clock_start": pd.Series(cal.from_working(np.where(has_deadline, clock_start_w(), np.nan),
                                                      side="next",
                                                      tz_aware=True) if n_cases else pd.DatetimeIndex([], tz=tz)),
            "finished": dt(np.where(not_fin, _NAT, closed_ns)),
            "closed": dt(closed_ns),
            "outcome": _text_col(outcome, outcome_name),
            "statutory_due": dt(stat_ns), "reported_due": dt(rep_ns),
            "actual_due": pd.Series(actual_due),
            "due_source": _text_col(due_source, DUE_SOURCES),
            "deadline_days": dl_days, "deadline_unit": _text_col(*dl_unit),
            "budget_days": budget_days,
            "agency_days": agency_s / L, "citizen_days": citizen_s / L, "third_party_days": third_s / L,
            "elapsed_working_days": elapsed,
            "n_events": n_events, "n_supplement_requests": n_sup_req, "n_supplement_received": n_sup_rx,
            "n_suspensions": n_susp,
            "on_time_reported": on_time_reported, "early_reported": early_reported,
            "days_late_reported": days_late_rep,
            "on_time_actual": on_time_actual, "days_late_actual": days_late_actual,
            "holder": holder_names,
            "status": pd.Categorical.from_codes(status, categories=list(STATUSES)),
            "status_actual": pd.Categorical.from_codes(status_act, categories=list(STATUSES)),
            "rules_era": pd.Categorical.from_codes(
                np.where(recv_day == _NAT, -1, (recv_day >= _ERA_SWITCH_DAY).astype(np.int8)),
                categories=["ND61", "ND118"]),
        }, seg.case_ids, as_of_t, L)

    arrays = EventArrays(seg, owner, counted)
    out = Timing(event_arrays=arrays, event_index=ev.index, as_of=as_of_t, cutoff=cutoff,
                 third_party_paused=bool(third_party_paused), hours_per_day=L / 3600.0,
                 catalog_source=getattr(catalog, "source", None), notes=notes, _catalog=catalog,
                 _build=_assemble, case_arrays=case_arrays)
    log._cache[key] = out
    return out



def _closing(seg, ts_ns: np.ndarray, role: np.ndarray, as_of_ns: int, all_known: bool,
             fr_ns: np.ndarray | None) -> tuple:
    """The closing rules of :func:`timing` (module docstring), per dossier, from one compiled
    pass over the events (``kernels.timing.case_close``), shared by :func:`timing` and
    :func:`overdue_arrays`: finished = the first *processing finished* event known by ``as_of``
    (timestamp not NaT and ``<= as_of``), else the exported finish ``fr_ns`` (per dossier;
    None when the log has no ``case:finished``) unless after ``as_of``, else the first known
    *result returned* event; for a log without ``case:finished`` and without any closing or
    clock role (generic logs) the last event when it is known. Closed = the earliest of
    finished / withdrawn / refused (a later candidate wins only when strictly earlier).

    Returns ``(rec_idx, closed_ns, closed_row, outcome, last_known, roleless)``: the first
    receipt event (any time, -1 when none), the closing instant (NaT when open), its event row
    (-1 when none, e.g. an exported finish), the outcome (0 finished, 1 withdrawn, 2 refused,
    -1 open), the last known event (-1 when none) and whether the log is a generic one.
    ``all_known``: every event is known by ``as_of`` (the timestamps are then not read)."""
    from .kernels.timing import case_close
    R = {name: i for i, name in enumerate(S.ROLES)}
    life_mask = 0
    for r in (S.ROLE_FINISHED, S.ROLE_RESULT, S.ROLE_WITHDRAWN, S.ROLE_REFUSED,
              S.ROLE_SUPPLEMENT_REQUEST, S.ROLE_SUPPLEMENT_RECEIVED, S.ROLE_SUSPENDED,
              S.ROLE_RESUMED):
        life_mask |= 1 << (R[r] + 1)
    roles = np.array([R[r] for r in (S.ROLE_RECEIPT, S.ROLE_FINISHED, S.ROLE_RESULT,
                                     S.ROLE_WITHDRAWN, S.ROLE_REFUSED)], dtype=np.int64)
    has_fr = fr_ns is not None
    return case_close(_ro(seg.case_start), _ro(ts_ns), _ro(role, np.int8), int(as_of_ns),
                      bool(all_known), roles, _ro(fr_ns if has_fr else np.zeros(0, np.int64)),
                      has_fr, life_mask)


# ----------------------------------------------------------------------------- lean path


def _utc_ns_col(ev: pd.DataFrame, col: str, tz: str | None) -> np.ndarray:
    """``_col_aware(ev, col, tz).asi8`` (UTC int64 ns, read only): the column's own values,
    without an index or a conversion, when it is already tz-aware (``_aware`` then only
    changes the zone and the unit, which leave the UTC instants as they are)."""
    s = ev[col]
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return _tz_ns_view(s)
    return _col_aware(ev, col, tz).asi8


def _tz_ns_view(s: pd.Series) -> np.ndarray:
    """The UTC int64 ns of a tz-aware column (a view when it is in ns: read only)."""
    arr = s.array
    return arr.asi8 if arr.unit == "ns" else arr.as_unit("ns").asi8


def _case_first_ns(ev: pd.DataFrame, col: str, case: np.ndarray, n_cases: int,
                   first_row: np.ndarray, tz: str | None,
                   case_start: np.ndarray | None = None) -> np.ndarray:
    """``_aware(_case_first(ev, col, ...), tz).asi8``: the first non-missing instant of a
    timestamp column per case, as UTC int64 ns (NaT = int64 min). For a tz-aware column, on
    its int64 values: one compiled pass over each case's rows (``first_row`` the first row of
    every case, the rows of a case contiguous and in case order, as the segments give them) up
    to the first non-missing one. ``case_start`` (optional: ``first_row`` plus the number of
    rows, the segments' bounds) saves building those bounds."""
    s = ev[col]
    if not isinstance(s.dtype, pd.DatetimeTZDtype) or len(first_row) != n_cases:
        v = _case_first(ev, col, case, n_cases, first_row)
        if not pd.api.types.is_datetime64_any_dtype(v.dtype):
            v = pd.to_datetime(v, errors="coerce")
        return _aware(v, tz).asi8
    from .kernels.timing import first_valid
    a = _tz_ns_view(s)
    if case_start is not None and len(case_start) == n_cases + 1 and \
            (n_cases == 0 or int(case_start[-1]) == len(a)):
        bounds = case_start
    else:
        bounds = np.empty(n_cases + 1, dtype=np.int64)
        bounds[:-1] = first_row
        bounds[-1] = len(a)
    return first_valid(_ro(bounds), _ro(a))


def _ro(a: np.ndarray, dtype=np.int64) -> np.ndarray:
    """:func:`tthc_mining.kernels.readonly`, int64 unless told."""
    from .kernels import readonly
    return readonly(a, dtype)


def _end_of_office_ns(utc_ns: np.ndarray, cal, tz: str | None) -> np.ndarray:
    """``_end_of_office_if_date(_idx_from_ns(utc_ns, tz), cal).asi8``: the local wall clock of
    the given values as ``calendar.utc_to_local_ns`` makes it (one addition when the zone's
    offset is constant over their span, else pandas' conversion); the pandas path only when
    some due date is at local midnight."""
    from .calendar import _constant_offset, utc_to_local_ns
    from .kernels.timing import any_midnight, min_max_valid
    a = _ro(utc_ns)
    lo, hi, n_nat = min_max_valid(a)
    if n_nat == len(a):
        return utc_ns
    off = _constant_offset(int(lo), int(hi), tz or "UTC")
    if off is not None:       # (one compiled pass, no temporaries)
        midnight = any_midnight(a, int(off))
    else:
        v = utc_ns if n_nat == 0 else utc_ns[utc_ns != _NAT]
        midnight = bool(((utc_to_local_ns(v, tz or "UTC") % NS_PER_DAY) == 0).any())
    if not midnight:
        return utc_ns
    return _end_of_office_if_date(_idx_from_ns(utc_ns, tz), cal).asi8




def _to_working_utc(cal, utc_ns: np.ndarray, tz: str | None) -> np.ndarray:
    """``cal.to_working(_idx_from_ns(utc_ns, tz))`` for UTC int64 ns.

    For a :class:`~tthc_mining.calendar.WorkingCalendar` whose conversion is not overridden
    and an input long enough for its constant-offset local-time path, the same operations as
    ``WorkingCalendar.to_working`` (local ns, day and seconds of the day, a clip per office
    slot added to zeros, ``cum[day] * L + where(working, intra, 0)``) element by element in
    one compiled pass (``kernels.timing.to_working``, the zone's offset added on the fly when
    it is constant over the data, as ``calendar.utc_to_local_ns`` does: the same values, bit
    for bit; the tests compare them); otherwise the calendar's own method."""
    from .calendar import _FAST_LOCAL_MIN, NS_PER_S, WorkingCalendar, utc_to_local_ns
    utc_ns = np.asarray(utc_ns, dtype=np.int64)
    n = len(utc_ns)
    kind = type(cal)
    plain = (isinstance(cal, WorkingCalendar)
             and kind.to_working is WorkingCalendar.to_working
             and kind._local_ns is WorkingCalendar._local_ns
             and kind._day_and_seconds is WorkingCalendar._day_and_seconds
             and kind._ensure is WorkingCalendar._ensure)
    if not plain or n < _FAST_LOCAL_MIN:
        return np.asarray(cal.to_working(_idx_from_ns(utc_ns, tz)), dtype=np.float64)
    from .calendar import _constant_offset
    from .kernels.timing import min_max_valid, to_working
    ns = _ro(utc_ns)
    lo, hi, n_nat = min_max_valid(ns)
    if n_nat == n:
        return np.asarray(cal.to_working(_idx_from_ns(utc_ns, tz)), dtype=np.float64)
    # local time = UTC + the zone's offset when it is constant over the span (added in the
    # kernel), else pandas' conversion (utc_to_local_ns)
    off = _constant_offset(int(lo), int(hi), cal.tz or "UTC")
    if off is None:
        ns = _ro(utc_to_local_ns(utc_ns, cal.tz or "UTC"))
        lo, hi, _ = min_max_valid(ns)
        off = 0
    cal._ensure((int(lo) + off) // NS_PER_DAY, (int(hi) + off) // NS_PER_DAY)
    return to_working(ns, int(off), int(cal._d0), _ro(cal._cum * cal.seconds_per_day, np.float64),
                      _ro(cal._working, np.bool_), _ro(cal._a, np.float64),
                      _ro(cal._len, np.float64))


def _counted_sums(w_end: np.ndarray, case: np.ndarray, case_start: np.ndarray,
                  owner: np.ndarray, win_start: np.ndarray, win_end: np.ndarray,
                  owners: tuple[int, ...], counted: np.ndarray | None = None) -> list[np.ndarray]:
    """Per case, for each owner in ``owners``: the sum over its events of that owner of the
    counted time ``fmax(min(w_end, win_end) - max(w_prev_end, win_start), 0)`` (``win_start``
    on the case's first event), in row order from 0.0 — what ``np.bincount(case,
    weights=np.where(owner == o, counted, 0.0))`` gives over the full arrays (the rows of a case
    contiguous, ``case_start`` their bounds). One compiled pass over the rows
    (``kernels.timing.counted_clock``: each case's sum one sequential sum over its rows, so
    the same values bit for bit); ``case`` is not read. ``counted`` (float64, one per event):
    filled with every event's counted time."""
    from .kernels.timing import counted_clock
    n_cases = len(case_start) - 1
    if len(w_end) == 0 or n_cases <= 0:
        return [np.zeros(max(n_cases, 0)) for _ in owners]
    i8, i64, f64, b1 = (_ro(np.zeros(0, t)) for t in (np.int8, np.int64, np.float64, np.bool_))
    sums, _, _, _ = counted_clock(
        _ro(w_end, np.float64), _ro(case_start), _ro(owner, np.int8),
        _ro(np.asarray(owners), np.int8), _ro(win_start, np.float64), _ro(win_end, np.float64),
        np.empty(0) if counted is None else counted, False, i8, i64, 0, True, i8, True, 1.0, 0.0,
        f64, b1, i8, b1, 0, 0)
    return list(sums)


def overdue_arrays(log, *, catalog: ProcedureCatalog | None = None, as_of: Any = None,
                   cutoff: str | None = "15:00", third_party_paused: bool = True) -> dict:
    """``Timing.case_arrays`` (``budget_days``, ``agency_days``, ``days_late_actual``,
    ``overdue_actual``) without the rest of :func:`timing`: the same rules and the same
    operations on the same inputs (so the same values, bit for bit), but none of the cases
    table's columns, no per-event arrays kept and nothing cached on the log except these
    per-dossier arrays. When ``tm.timing`` already ran with the same options its arrays are
    returned. Used by ``tm.bottlenecks`` (``share_in_overdue``)."""
    from .engines.core import RelationalLog
    if isinstance(log, RelationalLog):
        return dict(timing(log, catalog=catalog, as_of=as_of, cutoff=cutoff,
                           third_party_paused=third_party_paused).case_arrays)
    catalog, overrides = catalog_and_roles(log, catalog, None)
    _ensure_roles(log, overrides)
    cal = log.calendar
    tz = cal.tz or "UTC"
    ev = log.events
    ts_ns = _utc_ns_col(ev, S.TIMESTAMP, tz)
    from .kernels.timing import counted_clock, min_max_valid
    ts_ns = _ro(ts_ns)
    _, top, n_nat = min_max_valid(ts_ns)
    if as_of is None and n_nat < ts_ns.size:   # _resolve_as_of's default: the latest instant
        as_of_t = pd.Timestamp(top, tz="UTC").tz_convert(tz or "UTC")
    else:
        as_of_t = _resolve_as_of(as_of, ts_ns, tz)
    key = ("timing", id(catalog), as_of_t.value, cutoff, (), bool(third_party_paused))
    cached = log._cache.get(key)
    if cached is not None and cached._catalog is catalog:
        return dict(cached.case_arrays)
    lean_key = ("overdue_arrays",) + key[1:]
    hit = log._cache.get(lean_key)
    if hit is not None and hit[0] is catalog:
        return dict(hit[1])

    seg = segments(log)
    n = len(ev)
    n_cases = seg.n_cases
    case = seg.case32                       # (indexing only: the int32 codes, no int64 copy)
    L = cal.seconds_per_day
    first_row = seg.case_start[:-1]
    col = ev[S.ROLE]
    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == list(S.ROLES):
        role = _ro(col.array.codes, np.int8)     # (_role_codes without its copy: read only)
    else:
        role = _ro(_role_codes(ev), np.int8)
    del col
    R = {name: i for i, name in enumerate(S.ROLES)}
    case_start = _ro(seg.case_start)
    # (memory: every per-dossier array is 8 bytes x n_cases; each is dropped as soon as it has
    # been used and the masks are built only where few dossiers differ, so that few are alive
    # at once: this runs beside the caller's own work, e.g. on a thread of tm.bottlenecks)

    def case_ns(col: str) -> np.ndarray:
        return _case_first_ns(ev, col, case, n_cases, first_row, tz, case_start)

    # closing events (known by as_of), the first receipt and the last known event per dossier
    # (found again by counted_clock, not kept here)
    fr_ns = case_ns(S.FINISHED_REPORTED) if S.FINISHED_REPORTED in ev.columns else None
    all_known = n_nat == 0 and (n == 0 or top <= as_of_t.value)   # every event by as_of
    rec_idx, closed_ns, closed_row, outcome, last_known, _ = _closing(
        seg, ts_ns, role, as_of_t.value, all_known, fr_ns)
    del fr_ns, last_known
    outcome = _ro(outcome, np.int8)          # (-1..2)
    w_asof = float(cal.to_working(as_of_t))

    # the clock window's end: the close (its event's working time, else the exported finish
    # on the working axis), else as_of (before the receipt: see below)
    w_end = seg.w_end
    cl = closed_ns != _NAT
    other = cl & (closed_row < 0)
    if n_cases and other.all():   # (no closing row: all from case:finished)
        win_end = _to_working_utc(cal, closed_ns, tz)
    else:
        from .kernels.timing import take_rows
        win_end = take_rows(_ro(w_end, np.float64), _ro(closed_row)) if n else \
            np.full(n_cases, np.nan)
        if other.any():
            sel = np.flatnonzero(other)
            win_end[sel] = _to_working_utc(cal, closed_ns[sel], tz)
            del sel
    del other, closed_row, closed_ns
    if not win_end.flags.writeable:
        win_end = win_end.copy()
    np.logical_not(cl, out=cl)
    win_end[cl] = w_asof                     # np.where(closed, closed_w, w_asof)
    del cl

    # received: case:received where given, else the first receipt event, else the first event
    r_ns = case_ns(S.RECEIVED) if S.RECEIVED in ev.columns else None
    if r_ns is not None and n_cases and (r_ns != _NAT).all():
        recv_ns = r_ns
        recv_w = _to_working_utc(cal, r_ns, tz)
    elif n_cases:
        rec_row = rec_idx if rec_idx.flags.writeable else rec_idx.copy()
        miss = rec_row < 0
        rec_row[miss] = first_row[miss]      # np.where(rec_idx >= 0, rec_idx, first_row)
        del miss
        recv_ns = ts_ns[rec_row]
        recv_w = w_end[rec_row]
        del rec_row
        if r_ns is not None:
            given = np.flatnonzero(r_ns != _NAT)
            if given.size:
                recv_ns[given] = r_ns[given]
                recv_w[given] = _to_working_utc(cal, r_ns[given], tz)
            del given
    else:
        recv_ns = np.zeros(0, np.int64)
        recv_w = np.zeros(0)
    del r_ns, rec_idx
    is_received = recv_ns <= as_of_t.value
    win_start = recv_w
    if not is_received.all():                # np.where(is_received, win_end, win_start)
        before = np.flatnonzero(~is_received)
        win_end[before] = win_start[before]
        del before

    # deadlines
    if catalog is not None and S.PROCEDURE in ev.columns and n_cases:
        received = _idx_from_ns(recv_ns, tz)
        del recv_ns
        recv_day = _local_day_ns(received.asi8, tz)
        procedure = _case_first(ev, S.PROCEDURE, case, n_cases, first_row)
        row = _catalog_rows(catalog, *_codes_of(procedure), recv_day)
        del procedure, recv_day
        in_cat = row >= 0
        pr = catalog.procedures
        take = np.maximum(row, 0)
        del row
        dl_days = np.where(in_cat, pr["deadline_days"].to_numpy(np.float64)[take], np.nan)
        pr_units = pr["deadline_unit"].to_numpy(dtype=object)
        dl_calendar = in_cat & (pr_units == "calendar")[take]
        dl_cutoff = (np.where(in_cat, take + 1, 0),
                     np.concatenate([[cutoff], pr["cutoff"].to_numpy(dtype=object)]))
        del take, in_cat
        stat_ns, stat_w, _ = _deadlines(cal, received, dl_days, dl_calendar, dl_cutoff)
        del received, dl_days, dl_calendar, dl_cutoff
    else:   # (what _deadlines gives when no dossier has a deadline)
        del recv_ns
        stat_ns = stat_w = None

    def exported(col: str) -> np.ndarray | None:
        if col not in ev.columns:
            return None
        return _end_of_office_ns(case_ns(col), cal, tz)

    # the exported due: case:due_before where given, else case:due
    exp_ns = exported(S.DUE_BEFORE)
    if exp_ns is None:
        exp_ns = exported(S.DUE)
    elif S.DUE in ev.columns:
        gap = exp_ns == _NAT
        if gap.any():
            due_ns = exported(S.DUE)
            if not exp_ns.flags.writeable:
                exp_ns = exp_ns.copy()
            np.copyto(exp_ns, due_ns, where=gap)  # np.where(due_before != NaT, due_before, due)
            del due_ns
        del gap
    if stat_ns is None:                      # no statutory due: all from the export
        if exp_ns is None:
            has_deadline = np.zeros(n_cases, dtype=bool)
            budget_days = np.full(n_cases, np.nan)
        else:
            has_deadline = exp_ns != _NAT
            if n_cases and has_deadline.all():
                budget_days = _to_working_utc(cal, exp_ns, tz)
            else:
                budget_days = np.full(n_cases, np.nan)
                if has_deadline.any():
                    sel = np.flatnonzero(has_deadline)
                    budget_days[sel] = _to_working_utc(cal, exp_ns[sel], tz)
                    del sel
    else:
        if exp_ns is not None:
            from_export = (stat_ns == _NAT) & (exp_ns != _NAT)
            if from_export.any():
                stat_ns[from_export] = exp_ns[from_export]
                if from_export.all():
                    stat_w = _to_working_utc(cal, stat_ns, tz)
                else:
                    sel = np.flatnonzero(from_export)
                    stat_w[sel] = _to_working_utc(cal, stat_ns[sel], tz)
                    del sel
            del from_export
        has_deadline = stat_ns != _NAT
        budget_days = stat_w
    del exp_ns, stat_ns, stat_w
    # np.where(has_deadline, (stat_w - recv_w) / L, np.nan), in place
    if not budget_days.flags.writeable or budget_days.dtype != np.float64:
        budget_days = np.array(budget_days, dtype=np.float64)
    np.subtract(budget_days, recv_w, out=budget_days)
    np.divide(budget_days, L, out=budget_days)
    if not has_deadline.all():
        budget_days[~has_deadline] = np.nan

    # the owners' counted time per dossier, the holder after the last known event (its role's
    # state, else its owner) and the open tail from there to the window's end, the agency
    # clock against the budget: one compiled pass over the events
    owner = _ro(seg.owner, np.int8)
    owners = (OWNER_AGENCY,) if third_party_paused else (OWNER_AGENCY, OWNER_THIRD)
    state_lut = np.full(len(S.ROLES) + 1, -1, dtype=np.int8)    # by role code + 1 (-1: unknown)
    state_lut[R[S.ROLE_SUPPLEMENT_REQUEST] + 1] = OWNER_CITIZEN
    state_lut[R[S.ROLE_SUSPENDED] + 1] = OWNER_THIRD
    state_lut[R[S.ROLE_SUPPLEMENT_RECEIVED] + 1] = OWNER_AGENCY
    state_lut[R[S.ROLE_RESUMED] + 1] = OWNER_AGENCY
    _, agency_days, days_late_actual, overdue = counted_clock(
        _ro(w_end, np.float64), case_start, owner, _ro(np.asarray(owners), np.int8),
        _ro(win_start, np.float64), _ro(win_end, np.float64), np.empty(0), True, role,
        ts_ns, int(as_of_t.value), bool(all_known),
        _ro(state_lut, np.int8), bool(third_party_paused), float(L), _EPS_S / L,
        _ro(budget_days, np.float64), _ro(has_deadline, np.bool_), outcome,
        _ro(is_received, np.bool_), int(OWNER_AGENCY), int(OWNER_THIRD))
    out = {"budget_days": budget_days, "agency_days": agency_days,
           "days_late_actual": days_late_actual, "overdue_actual": overdue}
    log._cache[lean_key] = (catalog, out)
    return dict(out)


# ``tm.timing`` is both this module and the function: importing the submodule binds the
# package attribute to the module, so the module itself is made callable.
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return timing(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
