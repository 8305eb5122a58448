"""The hidden clock (tm.rework(...).clock / .clock_cases): late and double supplement requests,
moved due dates, re-appointments, clock restarts, online dossiers entered at the desk, and the
rules by date of receipt. Hand-made dossiers on the Vietnamese calendar, then the synthetic
province's planted truth (precision and recall)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar
from tthc_mining.log import DossierLog
from tthc_mining.rework import RULES
from tthc_mining.roles import add_role_column

TZ = "Asia/Ho_Chi_Minh"
CODE = "1.000010"


def ts(s):
    return pd.Timestamp(s, tz=TZ)


def catalog():
    return tm.ProcedureCatalog.from_frame(pd.DataFrame({
        "code": CODE, "name": "Thủ tục thử 10 ngày", "level": "tinh", "deadline_days": 10,
        "deadline_unit": "working", "step_order": [1, 2, 3, 4],
        "activity": ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "Phê duyệt", "Trả kết quả"],
        "unit": ["Một cửa", "Phòng A", "Phòng A", "Một cửa"], "allotment_days": [0.5, 7, 2, None]}))


def dossier(case, steps, **attrs):
    """steps: (activity, officer, unit, end time[, start time])."""
    rows = []
    for st in steps:
        act, off, unit, end = st[:4]
        start = st[4] if len(st) > 4 else None
        rows.append({S.CASE: case, S.ACTIVITY: act, S.RESOURCE: off, S.GROUP: unit,
                     S.TIMESTAMP: ts(end), S.START: ts(start) if start else pd.NaT, **attrs})
    return rows


RCV = ("Tiếp nhận hồ sơ", "o1", "Một cửa")
APP = ("Thẩm định hồ sơ", "o2", "Phòng A")
REQ = ("Yêu cầu bổ sung hồ sơ", "o2", "Phòng A")
SUP = ("Nhận hồ sơ bổ sung", "o1", "Một cửa")
OK = ("Phê duyệt", "o3", "Phòng A")
RET = ("Trả kết quả", "o1", "Một cửa")
APO = ("Xin lỗi và hẹn lại ngày trả kết quả", "o3", "Phòng A")


def build_log():
    cal = VietnamCalendar()
    rows = []
    base = {S.PROCEDURE: CODE, S.CHANNEL: "direct"}
    # L: supplement requested with 8.5 of 10 working days used; the system restarted the clock
    rows += dossier("L", [(*RCV, "2024-03-04 08:00"), (*APP, "2024-03-14 10:00"),
                          (*REQ, "2024-03-14 11:00"), (*SUP, "2024-03-20 09:00"),
                          (*APP, "2024-03-20 10:00"), (*OK, "2024-03-22 15:00"),
                          (*RET, "2024-03-22 16:00")],
                    **base, **{S.DUE: cal.add_working_days(ts("2024-03-20 09:00"), 10, tz_aware=True)})
    # E: supplement requested early (about 1 day used)
    rows += dossier("E", [(*RCV, "2024-03-04 08:00"), (*APP, "2024-03-05 09:00"),
                          (*REQ, "2024-03-05 10:00"), (*SUP, "2024-03-07 09:00"),
                          (*APP, "2024-03-07 10:00"), (*OK, "2024-03-08 09:00"),
                          (*RET, "2024-03-08 10:00")], **base)
    # D: two supplement requests (against the once-only rule)
    rows += dossier("D", [(*RCV, "2024-03-04 08:00"), (*APP, "2024-03-04 10:00"),
                          (*REQ, "2024-03-04 11:00"), (*SUP, "2024-03-06 09:00"),
                          (*APP, "2024-03-06 10:00"), (*REQ, "2024-03-06 11:00"),
                          (*SUP, "2024-03-08 09:00"), (*APP, "2024-03-08 10:00"),
                          (*OK, "2024-03-11 09:00"), (*RET, "2024-03-11 10:00")], **base)
    # M: re-appointed once (due before -> due after, an apology event)
    rows += dossier("M", [(*RCV, "2024-03-04 08:00"), (*APP, "2024-03-12 10:00"), (*APO, "2024-03-15 09:00"),
                          (*OK, "2024-03-20 09:00"), (*RET, "2024-03-20 10:00")], **base,
                    **{S.DUE_BEFORE: ts("2024-03-18 08:00"), S.DUE_AFTER: ts("2024-03-21 17:00")})
    # M2: re-appointed twice
    rows += dossier("M2", [(*RCV, "2024-03-04 08:00"), (*APP, "2024-03-12 10:00"), (*APO, "2024-03-15 09:00"),
                           (*APO, "2024-03-20 09:00"), (*OK, "2024-03-25 09:00"), (*RET, "2024-03-25 10:00")],
                    **base)
    # W: online, submitted at 07:58 and received at the desk 3 minutes later by the desk officer
    rows += dossier("W", [(*RCV, "2024-03-04 08:10", "2024-03-04 08:01"), (*APP, "2024-03-05 10:00"),
                          (*OK, "2024-03-06 09:00"), (*RET, "2024-03-06 10:00")],
                    **{S.PROCEDURE: CODE, S.CHANNEL: "online", S.SUBMITTED: ts("2024-03-04 07:58")})
    # G: genuine online dossier submitted on Friday evening, received Monday morning
    rows += dossier("G", [(*RCV, "2024-03-04 08:10", "2024-03-04 08:01"), (*APP, "2024-03-05 10:00"),
                          (*OK, "2024-03-06 09:00"), (*RET, "2024-03-06 10:00")],
                    **{S.PROCEDURE: CODE, S.CHANNEL: "online", S.SUBMITTED: ts("2024-03-01 20:00")})
    # N: received after 1/7/2025 (NĐ 118/2025), one early request
    rows += dossier("N", [(*RCV, "2025-07-02 08:00"), (*APP, "2025-07-02 10:00"),
                          (*REQ, "2025-07-02 11:00"), (*SUP, "2025-07-04 09:00"),
                          (*APP, "2025-07-04 10:00"), (*OK, "2025-07-07 09:00"),
                          (*RET, "2025-07-07 10:00")], **base)
    df = pd.DataFrame(rows)
    for c in (S.DUE, S.DUE_BEFORE, S.DUE_AFTER, S.SUBMITTED):
        if c not in df.columns:
            df[c] = pd.NaT
        df[c] = pd.to_datetime(df[c]).dt.tz_convert(TZ) if df[c].notna().any() else \
            pd.Series(pd.NaT, index=df.index, dtype=f"datetime64[ns, {TZ}]")
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    add_role_column(df)
    return DossierLog(events=df, calendar=cal, catalog=catalog(), source="hand-made clock log")


@pytest.fixture(scope="module")
def report():
    log = build_log()
    roles = dict(zip(log.events[S.ACTIVITY], log.events[S.ROLE].astype(str)))
    assert roles[APO[0]] == S.ROLE_REAPPOINTED and roles[REQ[0]] == S.ROLE_SUPPLEMENT_REQUEST
    return tm.rework(log, n_boot=100)


def flags(report, case):
    cc = report.clock_cases
    return cc.loc[cc[S.CASE] == case].iloc[0]


def test_late_request(report):
    L, E = flags(report, "L"), flags(report, "E")
    assert L["budget_days"] == pytest.approx(10.0)
    # 08:00-17:00 on Mon 4/3 (7 h), 7 full days (56 h), 07:00-11:00 on Thu 14/3 (4 h) of 80 h
    assert L["first_request_budget_share"] == pytest.approx(67 / 80)
    assert bool(L["late_request"]) is True
    assert E["first_request_budget_share"] == pytest.approx(10 / 80)  # 7 h on Mon + 3 h on Tue
    assert bool(E["late_request"]) is False
    assert bool(flags(report, "M")["late_request"]) is False  # no request at all


def test_rule_override_changes_the_threshold():
    r = tm.rework(build_log(), rules={"late_request_share": 0.1}, n_boot=50)
    cc = r.clock_cases.set_index(S.CASE)
    assert bool(cc.loc["E", "late_request"]) is True
    assert r.params["rule_overrides"] == {"late_request_share": 0.1}


def test_double_request(report):
    assert bool(flags(report, "D")["double_request"]) is True
    assert int(flags(report, "D")["n_supplement_requests"]) == 2
    for c in ("L", "E", "N"):
        assert bool(flags(report, c)["double_request"]) is False


def test_due_moved_and_reappointments(report):
    M, M2 = flags(report, "M"), flags(report, "M2")
    assert bool(M["due_moved"]) and int(M["n_reappointments"]) == 1
    assert not bool(M["reappointed_over_limit"])
    assert bool(M2["due_moved"]) and int(M2["n_reappointments"]) == 2
    assert bool(M2["reappointed_over_limit"])
    assert not bool(flags(report, "E")["due_moved"])


def test_clock_restart_and_on_time_two_ways(report):
    L = flags(report, "L")
    assert bool(L["clock_restarted"]) is True
    # exported due counted again from the resubmission: on time as reported, not in agency time
    assert bool(L["on_time_reported"]) is True
    assert bool(L["on_time_actual"]) is False
    assert L["agency_days"] > L["budget_days"]
    # the agency time inside the supplement loop (request 1 h + re-appraisal 1 h) is not enough
    # to explain the overdue: 8.5 + 2.625 working days were used
    assert L["rework_agency_days"] == pytest.approx(2 / 8)
    assert bool(L["overdue_explained_by_loops"]) is False
    assert L["late_days_explained_by_loops"] == pytest.approx(0.25)
    for c in ("M", "W", "G"):  # no supplement: nothing to restart
        assert not bool(flags(report, c)["clock_restarted"])


def test_desk_entered_online(report):
    assert bool(flags(report, "W")["desk_entered_online"]) is True
    assert bool(flags(report, "G")["desk_entered_online"]) is False
    assert not bool(flags(report, "L")["desk_entered_online"])  # direct channel


def test_rules_follow_the_date_of_receipt(report):
    assert flags(report, "N")["rules_era"] == "nd118"
    assert flags(report, "L")["rules_era"] == "nd61_107"
    assert RULES["nd118"]["valid_from"] == "2025-07-01" and RULES["nd61_107"]["valid_to"] == "2025-06-30"
    for rule in RULES.values():
        assert rule["max_supplement_requests"] == 1 and rule["max_reappointments"] == 1
        assert rule["late_request_share"] == 0.8


def test_clock_table_per_unit(report):
    t = report.clock
    assert "(all)" in set(t["unit"])
    allrow = t.loc[t["unit"] == "(all)"].iloc[0]
    assert allrow["dossiers"] == 8
    assert allrow["double_request_n"] == 1 and allrow["late_request_n"] == 1
    assert allrow["reappointed_over_limit_n"] == 1
    assert allrow["desk_entered_online_n"] == 1 and allrow["desk_entered_online_of"] == 8
    p, lo, hi = allrow[["late_request_rate", "late_request_ci_low", "late_request_ci_high"]]
    assert lo <= p <= hi
    assert {"on_time_reported_rate", "on_time_actual_rate", "on_time_gap"} <= set(t.columns)
    s = report.summary
    a = s.loc[s["scope"] == "(all)"].set_index("metric")
    assert a.loc["double_request", "value"] == pytest.approx(1 / 8)


# ---------------------------------------------------------------------------------- synthetic
def precision_recall(found, truth):
    found = np.asarray(found, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = (found & truth).sum()
    precision = tp / found.sum() if found.sum() else 1.0
    recall = tp / truth.sum() if truth.sum() else 1.0
    return precision, recall, int(truth.sum())


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_synthetic_planted_clock_found(seed):
    log, truth = tm.synth.province(6000, seed=seed)
    r = tm.rework(log, n_boot=50)
    tc = truth.cases.set_index(S.CASE)
    cc = r.clock_cases.set_index(S.CASE).reindex(tc.index)
    for flag in ("late_request", "double_request", "due_moved", "desk_entered_online",
                 "clock_restarted"):
        p, rc, n_true = precision_recall(cc[flag].fillna(False), tc[flag])
        assert n_true > 0, flag
        assert p > 0.95 and rc > 0.95, (flag, seed, p, rc, n_true)
