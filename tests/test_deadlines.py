"""Deadline arithmetic through tm.timing: the 15:00 cut-off, holidays and make-up days inside the
interval, same-day and calendar-day procedures, and supplement pause vs restart.

Every expected value below was worked out by hand from the official schedules
(domain notes §1.7, §5) and is written in the comment next to it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.catalog import ProcedureCatalog
from tthc_mining.roles import add_role_column
from tthc_mining.timing import _deadlines, timing

TZ = S.DEFAULT_TZ


def mklog(rows, attrs=None, catalog=None, calendar=None):
    """rows: (case, activity, 'YYYY-MM-DD HH:MM', unit); attrs: {column: {case: value}}."""
    df = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.TIMESTAMP, S.GROUP])
    df[S.TIMESTAMP] = pd.to_datetime(df[S.TIMESTAMP]).dt.tz_localize(TZ)
    for col, m in (attrs or {}).items():
        v = df[S.CASE].map(m)
        if col in S.TIME_COLUMNS:
            v = pd.to_datetime(v, format="mixed").dt.tz_localize(TZ)
        df[col] = v
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable", ignore_index=True)
    add_role_column(df)
    return tm.DossierLog(events=df, catalog=catalog, calendar=calendar)


def ts(text):
    return pd.Timestamp(text, tz=TZ)


def catalog(**procs):
    """catalog(P1=(days, unit[, cutoff]))"""
    rows = []
    for code, spec in procs.items():
        days, unit = spec[0], spec[1]
        row = {"code": code, "name": code, "deadline_days": days, "deadline_unit": unit}
        if len(spec) > 2:
            row["cutoff"] = spec[2]
        rows.append(row)
    return ProcedureCatalog.from_frame(pd.DataFrame(rows))


def due_for(received: str, code: str, cat, finish: str | None = None) -> pd.Series:
    """Timing row of a one-dossier log received at ``received`` for procedure ``code``."""
    rows = [("X", "Tiếp nhận hồ sơ", received, "Một cửa")]
    if finish:
        rows.append(("X", "Kết thúc xử lý", finish, "Phòng"))
    log = mklog(rows, {S.PROCEDURE: {"X": code}}, catalog=cat)
    return timing(log).cases.iloc[0]


# ----------------------------------------------------------------------------- 15:00 cut-off
CAT = catalog(SAME=(0, "working"), ONE=(1, "working"), THREE=(3, "working"),
              TWO=(2, "working"), CAL10=(10, "calendar"), CAL9=(9, "calendar"),
              NOCUT=(0, "working", "none"), CUT16=(0, "working", "16:00"))


@pytest.mark.parametrize("received, code, due", [
    # same-day (0 days): before the cut-off -> close of that day; after -> close of the next day
    ("2025-03-03 14:59", "SAME", "2025-03-03 17:00"),
    ("2025-03-03 15:00", "SAME", "2025-03-03 17:00"),   # exactly 15:00 is not *after* 15:00
    ("2025-03-03 15:01", "SAME", "2025-03-04 17:00"),
    ("2025-03-07 16:30", "SAME", "2025-03-10 17:00"),   # Friday after 15:00 -> Monday
    ("2025-03-08 10:00", "SAME", "2025-03-10 17:00"),   # Saturday (online) -> Monday
    # one working day: 14:00 Mon -> 14:00 Tue; 15:30 Mon counts from Tue 07:00 -> Tue 17:00
    ("2025-03-03 14:00", "ONE", "2025-03-04 14:00"),
    ("2025-03-03 15:30", "ONE", "2025-03-04 17:00"),
    ("2025-03-03 12:00", "ONE", "2025-03-04 11:30"),    # lunch: counts from 13:30 -> 11:30 next day
    # per-procedure cut-off from the catalogue
    ("2025-03-03 16:30", "NOCUT", "2025-03-03 17:00"),  # cutoff "none": same day even at 16:30
    ("2025-03-03 15:30", "CUT16", "2025-03-03 17:00"),  # cutoff 16:00
    ("2025-03-03 16:30", "CUT16", "2025-03-04 17:00"),
])
def test_cutoff(received, code, due):
    row = due_for(received, code, CAT)
    assert row["statutory_due"] == ts(due)
    assert row["reported_due"] == ts(due)  # no supplement, no exported due: same date


def test_clock_start_and_budget_after_cutoff():
    # received Mon 15:30 with a same-day procedure: the clock starts Tue 07:00 and the due is
    # Tue 17:00, so the agency has 15:30-17:00 (1.5 h) + a full day (8 h) = 9.5 h of budget
    row = due_for("2025-03-03 15:30", "SAME", CAT, finish="2025-03-04 16:00")
    assert row["clock_start"] == ts("2025-03-04 07:00")
    assert row["budget_days"] == pytest.approx(9.5 / 8)
    # agency time from the receipt: 1.5 h + 7 h = 8.5 h = elapsed (no citizen time)
    assert row["agency_days"] == pytest.approx(8.5 / 8)
    assert row["elapsed_working_days"] == pytest.approx(8.5 / 8)
    assert row["status"] == "on_time" and bool(row["on_time_actual"])
    # finishing at 17:00 sharp is still on time on both clocks
    row = due_for("2025-03-03 15:30", "SAME", CAT, finish="2025-03-04 17:00")
    assert bool(row["on_time_actual"]) and row["days_late_actual"] == 0
    # received 09:00, same day: budget is the rest of the office day = 2.5 + 3.5 = 6 h
    row = due_for("2025-03-03 09:00", "SAME", CAT, finish="2025-03-03 16:59")
    assert row["budget_days"] == pytest.approx(6 / 8)
    assert bool(row["on_time_actual"]) and row["status"] == "on_time"


# ----------------------------------------------------------------------------- holidays
@pytest.mark.parametrize("received, code, due", [
    # Tết 2025: 25/1 (Sat) .. 2/2 (Sun) off; Fri 24/1 10:00 + 3 working days -> Wed 5/2 10:00
    ("2025-01-24 10:00", "THREE", "2025-02-05 10:00"),
    # same-day received Fri 24/1 after 15:00 -> the next working day is Mon 3/2
    ("2025-01-24 16:00", "SAME", "2025-02-03 17:00"),
    # 30/4-1/5/2025 with the swap: Sat 26/4 is a working (make-up) day, Fri 2/5 is off.
    # Fri 25/4 16:00 + 2 days: clock starts Sat 26/4 07:00 -> end of Mon 28/4
    ("2025-04-25 16:00", "TWO", "2025-04-28 17:00"),
    # Fri 25/4 10:00 + 1 day -> Sat 26/4 10:00 (the make-up Saturday)
    ("2025-04-25 10:00", "ONE", "2025-04-26 10:00"),
    # Tue 29/4 10:00 + 1 day: 30/4, 1/5, 2/5 off, 3-4/5 weekend -> Mon 5/5 10:00
    ("2025-04-29 10:00", "ONE", "2025-05-05 10:00"),
    # 2/9/2026: make-up Saturday 22/8/2026, days off Mon 31/8, 1/9, 2/9
    ("2026-08-21 10:00", "ONE", "2026-08-22 10:00"),
    ("2026-08-28 10:00", "ONE", "2026-09-03 10:00"),
    ("2026-08-28 15:30", "SAME", "2026-09-03 17:00"),
])
def test_holidays_inside_interval(received, code, due):
    assert due_for(received, code, CAT)["statutory_due"] == ts(due)


def test_budget_is_working_time_across_tet():
    # 3 working days across Tết: the budget is still 3 working days, not 12 calendar days
    row = due_for("2025-01-24 10:00", "THREE", CAT, finish="2025-02-05 10:00")
    assert row["budget_days"] == pytest.approx(3.0)
    assert row["agency_days"] == pytest.approx(3.0)
    assert bool(row["on_time_actual"]) and row["status"] == "on_time"
    row = due_for("2025-01-24 10:00", "THREE", CAT, finish="2025-02-05 10:30")
    assert not bool(row["on_time_actual"])          # 30 minutes over on the agency clock
    assert row["status"] == "on_time"                # the same date: on time as reported
    assert row["days_late_actual"] == pytest.approx(0.5 / 8)


# ----------------------------------------------------------------------------- calendar days
@pytest.mark.parametrize("received, code, due", [
    # Wed 5/3/2025 + 10 days = Sat 15/3 -> next working day Mon 17/3, close of office
    ("2025-03-05 10:00", "CAL10", "2025-03-17 17:00"),
    # Mon 21/4/2025 + 9 days = Wed 30/4 (holiday); 1/5, 2/5 off, 3-4/5 weekend -> Mon 5/5
    ("2025-04-21 10:00", "CAL9", "2025-05-05 17:00"),
    # days are counted from the date of receipt (that day not counted), so a receipt after
    # 15:00 does not shift it: Fri 7/3 16:00 + 10 days = Mon 17/3
    ("2025-03-07 16:00", "CAL10", "2025-03-17 17:00"),
    # received on a Saturday (online): Sat 8/3 + 10 = Tue 18/3
    ("2025-03-08 10:00", "CAL10", "2025-03-18 17:00"),
    # an ordinary weekday end: Mon 3/3 + 10 = Thu 13/3
    ("2025-03-03 09:00", "CAL10", "2025-03-13 17:00"),
])
def test_calendar_day_deadlines(received, code, due):
    assert due_for(received, code, CAT)["statutory_due"] == ts(due)


def test_calendar_day_budget_in_working_days():
    # Wed 5/3 10:00 -> Mon 17/3 17:00: 5 h on 5/3 + 8 full working days = 8.625 working days
    row = due_for("2025-03-05 10:00", "CAL10", CAT, finish="2025-03-17 16:00")
    assert row["budget_days"] == pytest.approx(8.625)
    assert bool(row["on_time_actual"]) and row["status"] == "on_time"


def test_deadlines_equal_calendar_functions():
    """The one-pass deadline computation equals the calendar's own add_working_days /
    end_of_working_day / add_calendar_days on random instants (nights, weekends, Tết, lunch)."""
    cal = tm.VietnamCalendar()
    rng = np.random.default_rng(7)
    base = pd.Timestamp("2024-12-20", tz=TZ).value
    t = pd.DatetimeIndex(base + rng.integers(0, 400 * 86_400, size=600) * 10**9, tz="UTC").tz_convert(TZ)
    t = t.floor("min")
    days = rng.choice([0.0, 0.5, 1.0, 3.0, 7.0, 20.0], size=600)
    cut = np.array(["15:00"] * 600, dtype=object)
    due_ns, due_w, clock_w = _deadlines(cal, t, days, np.zeros(600, bool), cut)
    got = pd.DatetimeIndex(due_ns, tz="UTC").tz_convert(TZ)
    exp_work = cal.add_working_days(t, days, cutoff="15:00", tz_aware=True)
    exp_same = cal.end_of_working_day(t, cutoff="15:00", tz_aware=True)
    exp = np.where(days > 0, exp_work.asi8, exp_same.asi8)
    assert np.array_equal(got.asi8, exp)
    assert np.allclose(due_w, cal.to_working(got))
    # calendar days
    n = rng.integers(1, 40, size=600).astype(float)
    due_ns, due_w, clock_w = _deadlines(cal, t, n, np.ones(600, bool), cut)
    exp = cal.add_calendar_days(t, n.astype(np.int64), tz_aware=True)
    assert np.array_equal(due_ns, exp.asi8)
    assert np.allclose(clock_w, cal.to_working(t)) and np.allclose(due_w, cal.to_working(exp))
    assert cal.is_working_day(pd.DatetimeIndex(due_ns, tz="UTC").tz_convert(TZ)).all()


# ----------------------------------------------------------------------------- supplements
SUPP_ROWS = [
    # P5: 5 working days. Received Mon 3/3/2025 09:00.
    ("A", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("A", "Thẩm định hồ sơ", "2025-03-05 09:00", "Phòng"),         # 2 days of agency time
    ("A", "Yêu cầu bổ sung hồ sơ", "2025-03-06 09:00", "Phòng"),   # +1 day -> 3 agency days
    ("A", "Nhận hồ sơ bổ sung", "2025-03-13 09:00", "Một cửa"),    # citizen held 5 working days
    ("A", "Phê duyệt", "2025-03-17 09:00", "Lãnh đạo"),            # +2
    ("A", "Kết thúc xử lý", "2025-03-18 09:00", "Lãnh đạo"),       # +1 -> 6 agency days
    ("A", "Trả kết quả", "2025-03-19 09:00", "Một cửa"),
    # B: same path but the agency is quick after the supplement: 3 + 1 = 4 agency days
    ("B", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("B", "Yêu cầu bổ sung hồ sơ", "2025-03-06 09:00", "Phòng"),
    ("B", "Nhận hồ sơ bổ sung", "2025-03-13 09:00", "Một cửa"),
    ("B", "Kết thúc xử lý", "2025-03-14 09:00", "Phòng"),
    # C: no supplement, 6 agency days -> late both ways
    ("C", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("C", "Kết thúc xử lý", "2025-03-11 09:00", "Phòng"),
]


def test_supplement_pause_vs_restart():
    cat = catalog(P5=(5, "working"))
    log = mklog(SUPP_ROWS, {S.PROCEDURE: {"A": "P5", "B": "P5", "C": "P5"}}, catalog=cat)
    c = timing(log).cases.set_index(S.CASE)
    a = c.loc["A"]
    # statutory: Mon 3/3 09:00 + 5 working days = Mon 10/3 09:00
    assert a["statutory_due"] == ts("2025-03-10 09:00")
    # restart (what one-stop systems report): 13/3 09:00 + 5 = Thu 20/3 09:00
    assert a["reported_due"] == ts("2025-03-20 09:00")
    # pause (the honest clock): statutory due + 5 citizen days = Mon 17/3 09:00
    assert a["actual_due"] == ts("2025-03-17 09:00")
    assert a["agency_days"] == pytest.approx(6.0)
    assert a["citizen_days"] == pytest.approx(5.0)
    assert a["budget_days"] == pytest.approx(5.0)
    assert a["elapsed_working_days"] == pytest.approx(11.0)
    # finished 18/3 < 20/3: early as reported; 6 > 5 agency days: late as actually spent
    assert bool(a["on_time_reported"]) and bool(a["early_reported"]) and a["status"] == "early"
    assert not bool(a["on_time_actual"]) and a["status_actual"] == "overdue"
    assert a["days_late_actual"] == pytest.approx(1.0)
    assert a["n_supplement_requests"] == 1 and a["n_supplement_received"] == 1
    b = c.loc["B"]
    # B: 3 + 1 = 4 agency days <= 5 -> on time both ways; reported due 20/3 -> early
    assert b["agency_days"] == pytest.approx(4.0)
    assert bool(b["on_time_actual"]) and b["status"] == "early"
    # actual due = 17/3 09:00, finished 14/3 -> early on the actual clock too
    assert b["status_actual"] == "early"
    cc = c.loc["C"]
    # C: 3/3 09:00 -> 11/3 09:00 = 6 working days; due 10/3 -> overdue both ways
    assert cc["agency_days"] == pytest.approx(6.0)
    assert cc["status"] == "overdue" and cc["status_actual"] == "overdue"
    assert not bool(cc["on_time_reported"]) and not bool(cc["on_time_actual"])
    assert cc["days_late_reported"] == pytest.approx(1.0)


def test_exported_due_wins_for_reported_clock():
    # the system exported a due date of 17/3 (date only -> close of office 17:00)
    cat = catalog(P5=(5, "working"))
    log = mklog(SUPP_ROWS, {S.PROCEDURE: {"A": "P5", "B": "P5", "C": "P5"},
                            S.DUE: {"A": "2025-03-17", "B": "2025-03-20", "C": "2025-03-10 09:00"}},
                catalog=cat)
    c = timing(log).cases.set_index(S.CASE)
    assert c.loc["A", "reported_due"] == ts("2025-03-17 17:00")
    assert c.loc["A", "status"] == "overdue"           # finished 18/3 > 17/3
    assert c.loc["A", "statutory_due"] == ts("2025-03-10 09:00")  # catalogue still wins
    assert c.loc["C", "status"] == "overdue"


def test_exported_due_without_catalogue_is_the_statutory_due():
    log = mklog(SUPP_ROWS[-2:], {S.DUE: {"C": "2025-03-12"}})
    row = timing(log).cases.iloc[0]
    assert row["due_source"] == "case:due"
    assert row["statutory_due"] == ts("2025-03-12 17:00")
    # 3/3 09:00 -> 12/3 17:00 = 6 h on 3/3 + 6 full days (4-7/3, 10-11/3) + 8 h on 12/3
    # = 7.75 working days of budget; 6 used
    assert row["budget_days"] == pytest.approx(7.75)
    assert bool(row["on_time_actual"]) and row["status"] == "early"


def test_third_party_suspension_pause_is_configurable():
    rows = [("T", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
            ("T", "Chuyển cơ quan thuế xác định nghĩa vụ tài chính", "2025-03-04 09:00", "Phòng"),
            ("T", "Tiếp tục xử lý", "2025-03-11 09:00", "Phòng"),
            ("T", "Kết thúc xử lý", "2025-03-13 09:00", "Phòng")]
    log = mklog(rows, {S.PROCEDURE: {"T": "P5"}}, catalog=catalog(P5=(5, "working")))
    row = timing(log).cases.iloc[0]
    # 1 agency day, 5 days at the tax office, 2 more agency days
    assert row["agency_days"] == pytest.approx(3.0)
    assert row["third_party_days"] == pytest.approx(5.0)
    assert bool(row["on_time_actual"])
    assert row["n_suspensions"] == 1
    row = timing(log, third_party_paused=False).cases.iloc[0]
    assert not bool(row["on_time_actual"])             # 3 + 5 = 8 > 5 when tax time is charged
    assert row["days_late_actual"] == pytest.approx(3.0)


def test_rules_era_versions():
    cat = ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["DD", "DD"], "deadline_days": [10, 7], "deadline_unit": ["working", "working"],
        "era": ["ND61", "ND118"]}))
    rows = [("OLD", "Tiếp nhận hồ sơ", "2025-06-30 10:00", "Một cửa"),
            ("NEW", "Tiếp nhận hồ sơ", "2025-07-01 10:00", "Một cửa")]
    log = mklog(rows, {S.PROCEDURE: {"OLD": "DD", "NEW": "DD"}}, catalog=cat)
    c = timing(log).cases.set_index(S.CASE)
    assert c.loc["OLD", "rules_era"] == "ND61" and c.loc["NEW", "rules_era"] == "ND118"
    assert c.loc["OLD", "deadline_days"] == 10 and c.loc["NEW", "deadline_days"] == 7
    # 30/6 10:00 + 10 working days = 14/7 10:00; 1/7 10:00 + 7 = 10/7 10:00
    assert c.loc["OLD", "statutory_due"] == ts("2025-07-14 10:00")
    assert c.loc["NEW", "statutory_due"] == ts("2025-07-10 10:00")
    assert tm.timing.rules_era("2025-06-30 23:59") == "ND61"
    assert tm.timing.rules_era(pd.Timestamp("2025-07-01 00:00", tz=TZ)) == "ND118"
    # an aware UTC instant on 30/6 17:30 UTC is 1/7 00:30 in Vietnam
    assert tm.timing.rules_era(pd.Timestamp("2025-06-30 17:30", tz="UTC")) == "ND118"
    arr = tm.timing.rules_era(pd.Series(pd.to_datetime(["2024-01-01", None, "2026-01-01"])))
    assert list(arr) == ["ND61", None, "ND118"]
