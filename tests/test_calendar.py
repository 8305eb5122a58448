"""The working calendar and its working-time axis.

Official schedules come from ../shared/docs/domain-vn.md §5 (notices TB 6150/TB-BLĐTBXH for Tết
2025, CV 8726/VPCP-KGVX for 30/4-1/5/2025, the 2026 Tết and Quốc khánh notices).
"""
from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tthc_mining import CalendarError, VietnamCalendar, WorkingCalendar
from tthc_mining.calendar import continuous, resolve

TZ = "Asia/Ho_Chi_Minh"
CAL = VietnamCalendar()


def days_off(start: str, end: str) -> list[str]:
    days = pd.date_range(start, end)
    return [d.strftime("%Y-%m-%d") for d in days[~CAL.is_working_day(days)]]


# ---------------------------------------------------------------- official schedules
def test_tet_2025_official_schedule():
    # "từ thứ Bảy ngày 25/01/2025 … đến hết Chủ nhật ngày 02/02/2025": 9 days off in a row
    assert days_off("2025-01-23", "2025-02-04") == [d.strftime("%Y-%m-%d") for d in
                                                    pd.date_range("2025-01-25", "2025-02-02")]
    assert CAL.is_working_day(pd.Timestamp("2025-01-24"))
    assert CAL.is_working_day(pd.Timestamp("2025-02-03"))


def test_tet_2024_official_schedule():
    # Tết Giáp Thìn: Thursday 8/2/2024 to Wednesday 14/2/2024
    assert days_off("2024-02-06", "2024-02-16") == [d.strftime("%Y-%m-%d") for d in
                                                    pd.date_range("2024-02-08", "2024-02-14")]


def test_30_4_2025_swap_with_makeup_saturday():
    # off 30/4-4/5/2025; Friday 2/5 swapped with Saturday 26/4, which is a working day
    assert days_off("2025-04-26", "2025-05-05") == ["2025-04-27", "2025-04-30", "2025-05-01",
                                                    "2025-05-02", "2025-05-03", "2025-05-04"]
    assert CAL.is_working_day(pd.Timestamp("2025-04-26"))


def test_2_9_2026_with_makeup_saturday():
    # off 31/8 (Mon), 1/9, 2/9/2026; make-up working Saturday 22/8/2026
    assert CAL.is_working_day(pd.Timestamp("2026-08-22"))
    assert days_off("2026-08-28", "2026-09-03") == ["2026-08-29", "2026-08-30", "2026-08-31",
                                                    "2026-09-01", "2026-09-02"]


def test_tet_2026_official_schedule():
    assert days_off("2026-02-13", "2026-02-23") == [d.strftime("%Y-%m-%d") for d in
                                                    pd.date_range("2026-02-14", "2026-02-22")]


def test_holiday_names_and_province_overrides():
    assert CAL.holiday_name("2025-09-02") is not None
    local = VietnamCalendar(extra_days_off=["2025-03-05"], makeup_workdays=["2025-03-08"])
    assert not local.is_working_day(pd.Timestamp("2025-03-05"))
    assert local.is_working_day(pd.Timestamp("2025-03-08"))  # a Saturday made working
    # a province's own table of days off replaces the national one
    own = VietnamCalendar(holidays=["2025-03-06"])
    assert not own.is_working_day(pd.Timestamp("2025-03-06"))
    assert own.is_working_day(pd.Timestamp("2025-09-02"))


# ---------------------------------------------------------------- axis basics
def test_office_day_is_eight_hours_with_lunch_break():
    assert CAL.seconds_per_day == 8 * 3600
    a, b = pd.Timestamp("2025-03-03 07:00"), pd.Timestamp("2025-03-03 17:00")
    assert CAL.working_seconds_between(a, b) == 8 * 3600
    # lunch 11:30-13:30 does not count
    assert CAL.working_seconds_between(pd.Timestamp("2025-03-03 11:00"),
                                       pd.Timestamp("2025-03-03 14:00")) == 3600
    assert CAL.working_days_between(a, pd.Timestamp("2025-03-07 17:00")) == 5


def test_weekend_and_tet_collapse():
    # Friday 24/1/2025 16:00 -> Monday 3/2/2025 08:00 across Tết: 1 h + 1 h
    assert CAL.working_seconds_between(pd.Timestamp("2025-01-24 16:00"),
                                       pd.Timestamp("2025-02-03 08:00")) == 7200


def test_tz_aware_inputs_are_converted_to_local_time():
    utc = pd.Series(pd.to_datetime(["2025-03-03 01:00", "2025-03-03 02:00"]).tz_localize("UTC"))
    w = CAL.to_working(utc)  # 08:00 and 09:00 in Hanoi
    assert w[1] - w[0] == 3600
    assert CAL.to_working(pd.Timestamp("2025-03-03 08:00", tz=TZ)) == \
        CAL.to_working(pd.Timestamp("2025-03-03 08:00"))


def test_missing_timestamps_give_nan():
    w = CAL.to_working(pd.Series(pd.to_datetime(["2025-03-03 08:00", None])))
    assert np.isfinite(w[0]) and np.isnan(w[1])


def test_from_working_conventions():
    t = pd.Timestamp("2025-03-03 11:30")
    w = CAL.to_working(t)
    assert CAL.from_working(w) == pd.Timestamp("2025-03-03 13:30")
    assert CAL.from_working(w, side="prev") == t
    evening = CAL.to_working(pd.Timestamp("2025-03-07 17:00"))  # Friday close
    assert CAL.from_working(evening) == pd.Timestamp("2025-03-10 07:00")
    assert CAL.from_working(evening, side="prev") == pd.Timestamp("2025-03-07 17:00")


def test_reference_and_negative_axis():
    assert CAL.to_working(pd.Timestamp("1999-12-31 12:00")) == -3.5 * 3600
    old = pd.Timestamp("1995-06-01 09:00")
    assert CAL.from_working(CAL.to_working(old)) == old


def test_continuous_calendar_equals_elapsed_time():
    c = continuous()
    a = pd.Timestamp("2020-03-28 22:00", tz="Europe/Amsterdam")
    b = pd.Timestamp("2020-03-29 05:00", tz="Europe/Amsterdam")  # across a DST change
    assert c.working_seconds_between(a, b) == (b - a).total_seconds()


def test_bad_configuration_errors():
    with pytest.raises(CalendarError):
        WorkingCalendar([("11:00", "10:00")])
    with pytest.raises(CalendarError):
        WorkingCalendar([("07:00", "12:00"), ("11:00", "17:00")])
    with pytest.raises(CalendarError):
        resolve("mars")


def test_vectorised_speed_is_millions_per_second():
    ts = pd.Series(pd.date_range("2020-01-01", periods=1_000_000, freq="97s", tz=TZ))
    CAL.to_working(ts[:10])
    import time
    t0 = time.perf_counter()
    w = CAL.to_working(ts)
    elapsed = time.perf_counter() - t0
    assert np.all(np.diff(w) >= 0)
    assert elapsed < 2.0  # generous: ~0.1 s on the CI machine


# ---------------------------------------------------------------- deadlines on the calendar
def test_add_working_days_and_cutoff():
    # received Tuesday 10:00, 3 working days -> Friday 10:00
    assert CAL.add_working_days(pd.Timestamp("2025-03-04 10:00"), 3) == pd.Timestamp("2025-03-07 10:00")
    # after 15:00 the count starts the next working day at 07:00 -> ends at 17:00 of day 3
    assert CAL.add_working_days(pd.Timestamp("2025-03-04 15:30"), 3) == pd.Timestamp("2025-03-07 17:00")
    assert CAL.add_working_days(pd.Timestamp("2025-03-04 15:30"), 3, cutoff=None) == \
        pd.Timestamp("2025-03-07 15:30")
    # exactly 15:00 is not "after 15:00"
    assert CAL.add_working_days(pd.Timestamp("2025-03-04 15:00"), 1) == pd.Timestamp("2025-03-05 15:00")
    # across Tết 2025
    assert CAL.add_working_days(pd.Timestamp("2025-01-23 09:00"), 2) == pd.Timestamp("2025-02-03 09:00")
    # same-day rule
    assert CAL.end_of_working_day(pd.Timestamp("2025-03-04 14:00")) == pd.Timestamp("2025-03-04 17:00")
    assert CAL.end_of_working_day(pd.Timestamp("2025-03-07 16:00")) == pd.Timestamp("2025-03-10 17:00")
    # received after closing time (on the axis already at the close of the day): the count
    # still starts at the next opening, it does not skip a day
    assert CAL.add_working_days(pd.Timestamp("2025-03-06 17:30"), 1) == pd.Timestamp("2025-03-07 17:00")
    assert CAL.add_working_days(pd.Timestamp("2025-03-06 17:00"), 1) == pd.Timestamp("2025-03-07 17:00")
    assert CAL.add_working_days(pd.Timestamp("2025-03-06 16:00"), 1) == pd.Timestamp("2025-03-07 17:00")
    assert CAL.add_working_days(pd.Timestamp("2025-03-06 23:59"), 2) == pd.Timestamp("2025-03-10 17:00")
    assert CAL.end_of_working_day(pd.Timestamp("2025-03-06 18:00")) == pd.Timestamp("2025-03-07 17:00")


def test_add_calendar_days_moves_off_non_working_days():
    # 10 days from Wed 22/1/2025 = Sat 1/2 (Tết) -> next working day Mon 3/2, close of office
    assert CAL.add_calendar_days(pd.Timestamp("2025-01-22 09:00"), 10) == pd.Timestamp("2025-02-03 17:00")
    assert CAL.add_calendar_days(pd.Timestamp("2025-01-22 09:00"), 10, skip_holidays=False) == \
        pd.Timestamp("2025-02-01 17:00")


# ---------------------------------------------------------------- slow minute-by-minute reference
def _reference_working_minutes(a: pd.Timestamp, b: pd.Timestamp) -> int:
    """Count working minutes in [a, b) one minute at a time, straight from the holidays package."""
    vn = holidays.country_holidays("VN", years=range(a.year - 1, b.year + 2))
    makeup = set(getattr(vn, "weekend_workdays", ()))
    slots = [(7 * 60, 11 * 60 + 30), (13 * 60 + 30, 17 * 60)]
    n, t = 0, a
    one = pd.Timedelta(minutes=1)
    while t < b:
        d = t.date()
        working_day = (d in makeup) or (t.weekday() < 5 and d not in vn)
        m = t.hour * 60 + t.minute
        if working_day and any(s <= m < e for s, e in slots):
            n += 1
        t += one
    return n


@pytest.mark.parametrize("seed", range(6))
def test_against_minute_by_minute_reference(seed):
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2024-01-01")
    for _ in range(8):
        start = base + pd.Timedelta(minutes=int(rng.integers(0, 3 * 365 * 1440)))
        length = pd.Timedelta(minutes=int(rng.integers(0, 12 * 1440)))
        end = start + length
        expected = _reference_working_minutes(start, end) * 60
        assert CAL.working_seconds_between(start, end) == expected, (start, end)


# ---------------------------------------------------------------- properties
instants = st.datetimes(min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2030, 12, 31))


@settings(max_examples=200, deadline=None)
@given(instants, instants)
def test_monotone(a, b):
    a, b = sorted([a, b])
    wa, wb = CAL.to_working(pd.Timestamp(a)), CAL.to_working(pd.Timestamp(b))
    assert wa <= wb


@settings(max_examples=200, deadline=None)
@given(instants)
def test_inverse_on_the_axis(t):
    w = CAL.to_working(pd.Timestamp(t))
    assert abs(CAL.to_working(CAL.from_working(w)) - w) < 1e-6
    assert abs(CAL.to_working(CAL.from_working(w, side="prev")) - w) < 1e-6


@settings(max_examples=200, deadline=None)
@given(instants)
def test_inverse_for_working_instants(t):
    t = pd.Timestamp(t).floor("s")
    if CAL.is_working_time(t):
        assert CAL.from_working(CAL.to_working(t)) == t


@settings(max_examples=200, deadline=None)
@given(instants, instants, instants)
def test_additive(a, b, c):
    a, b, c = (pd.Timestamp(x) for x in sorted([a, b, c]))
    ab = CAL.working_seconds_between(a, b)
    bc = CAL.working_seconds_between(b, c)
    assert ab >= 0 and bc >= 0
    assert abs(ab + bc - CAL.working_seconds_between(a, c)) < 1e-6


@settings(max_examples=100, deadline=None)
@given(instants, st.floats(min_value=0, max_value=60, allow_nan=False))
def test_add_working_days_inverts_working_days_between(t, n):
    t = pd.Timestamp(t)
    due = CAL.add_working_days(t, n, cutoff=None)
    got = CAL.working_days_between(t, due)
    assert abs(got - n) < 1e-6
