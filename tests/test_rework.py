"""tm.rework: loop detection, edeaR definitions, pricing, attribution, report outputs.

Hand-made logs carry their expected answers in the test; random logs are checked against plain
per-dossier Python reference implementations (edeaR's algorithm, chronological loop erasure,
pm4py's rework count).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import continuous
from tthc_mining.errors import ConfigError, InputError
from tthc_mining.log import DossierLog
from tthc_mining.roles import add_role_column

T0 = pd.Timestamp("2024-03-04 08:00", tz="UTC")


def make_log(rows, *, roles=True, calendar=None, extra=None) -> DossierLog:
    """rows: (case, activity, resource, unit, hours since T0[, reason])."""
    cols = [S.CASE, S.ACTIVITY, S.RESOURCE, S.GROUP, "h"]
    if rows and len(rows[0]) == 6:
        cols.append(S.REASON)
    df = pd.DataFrame(rows, columns=cols)
    df[S.TIMESTAMP] = T0 + pd.to_timedelta(df.pop("h"), unit="h")
    if extra:
        for k, v in extra.items():
            df[k] = v
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    if roles:
        add_role_column(df)
    return DossierLog(events=df, calendar=calendar or continuous())


def case_row(report, case):
    bc = report.by_case
    return bc.loc[bc[S.CASE] == case].iloc[0]


# ---------------------------------------------------------------------------------- edeaR
EDEAR_ROWS = [
    # case 1: A A B A C by r1 r1 r2 r1 r3
    ("1", "A", "r1", "U", 0), ("1", "A", "r1", "U", 1), ("1", "B", "r2", "U", 2),
    ("1", "A", "r1", "U", 3), ("1", "C", "r3", "U", 4),
    # case 2: A A A B B A by r1 r2 r2 r2 r2 r3
    ("2", "A", "r1", "U", 0), ("2", "A", "r2", "U", 1), ("2", "A", "r2", "U", 2),
    ("2", "B", "r2", "U", 3), ("2", "B", "r2", "U", 4), ("2", "A", "r3", "U", 5),
    # case 3: A B A B A by r1 r1 r1 r2 r1
    ("3", "A", "r1", "U", 0), ("3", "B", "r1", "U", 1), ("3", "A", "r1", "U", 2),
    ("3", "B", "r2", "U", 3), ("3", "A", "r1", "U", 4),
    # case 4: no rework
    ("4", "A", "r1", "U", 0), ("4", "B", "r2", "U", 1), ("4", "C", "r3", "U", 2),
    # case 5: A B A without resources (NA counts as one value, as n_distinct/uniqueN do)
    ("5", "A", None, "U", 0), ("5", "B", None, "U", 1), ("5", "A", None, "U", 2),
]

# edeaR number_of_selfloops / number_of_repetitions, level = "case", column "absolute":
#   repeat = all instances by one resource, redo = by more than one resource
EDEAR_CASE = {  # case: (selfloops repeat, selfloops redo, repetitions repeat, repetitions redo)
    "1": (1, 0, 1, 0),   # [A A] by r1; A in 2 runs, only r1
    "2": (1, 1, 0, 1),   # [B B] by r2 / [A A A] by r1,r2; A in 2 runs by r1,r2,r3
    "3": (0, 0, 1, 1),   # A in 3 runs only r1 / B in 2 runs by r1,r2
    "4": (0, 0, 0, 0),
    "5": (0, 0, 1, 0),
}
# level = "activity", column "absolute"
EDEAR_ACTIVITY = {  # activity: (sl repeat, sl redo, rep repeat, rep redo)
    "A": (1, 1, 3, 1),
    "B": (1, 0, 0, 1),
    "C": (0, 0, 0, 0),
}


def test_edear_repeat_redo_hand_made():
    r = tm.rework(make_log(EDEAR_ROWS, roles=False), timing=False)
    for case, exp in EDEAR_CASE.items():
        row = case_row(r, case)
        got = (row["selfloops_repeat"], row["selfloops_redo"], row["repetitions_repeat"],
               row["repetitions_redo"])
        assert got == exp, (case, got, exp)
    ba = r.by_activity.set_index("activity")
    for act, exp in EDEAR_ACTIVITY.items():
        got = tuple(int(ba.loc[act, c]) for c in ("selfloops_repeat", "selfloops_redo",
                                                   "repetitions_repeat", "repetitions_redo"))
        assert got == exp, (act, got, exp)


def test_reexecutions_same_and_other_officer():
    r = tm.rework(make_log(EDEAR_ROWS, roles=False), timing=False)
    # case 1: A(r1)->A(r1) same, A(r1)->A(r1) same
    assert tuple(case_row(r, "1")[["reexec_same_officer", "reexec_other_officer"]]) == (2, 0)
    # case 2: A r1->r2 other, r2->r2 same, B r2->r2 same, A r2->r3 other
    assert tuple(case_row(r, "2")[["reexec_same_officer", "reexec_other_officer"]]) == (2, 2)
    # case 3: A r1->r1 same, B r1->r2 other, A r1->r1 same
    assert tuple(case_row(r, "3")[["reexec_same_officer", "reexec_other_officer"]]) == (2, 1)
    # case 5: officers unknown
    assert tuple(case_row(r, "5")[["reexec_same_officer", "reexec_other_officer",
                                   "reexec_unknown_officer"]]) == (0, 0, 1)


def test_cases_with_repeat_equals_pm4py_hand_made():
    import pm4py
    log = make_log(EDEAR_ROWS, roles=False)
    r = tm.rework(log, timing=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pm4py.get_rework_cases_per_activity(log.to_pm4py())
    assert r.rework_cases_per_activity() == expected == {"A": 4, "B": 2}


# ---------------------------------------------------------------------------------- pricing
TTHC_ROWS = [
    # S: supplement loop after appraisal; citizen holds it 24 h
    ("S", "Tiếp nhận hồ sơ", "o1", "Một cửa", 0), ("S", "Thẩm định hồ sơ", "o2", "Phòng A", 1),
    ("S", "Yêu cầu bổ sung hồ sơ", "o2", "Phòng A", 3, "Thiếu giấy tờ"),
    ("S", "Nhận hồ sơ bổ sung", "o1", "Một cửa", 27), ("S", "Thẩm định hồ sơ", "o2", "Phòng A", 29),
    ("S", "Phê duyệt", "o3", "Phòng A", 30),
    # D: supplement requested at the desk, no step repeated
    ("D", "Tiếp nhận hồ sơ", "o1", "Một cửa", 0),
    ("D", "Yêu cầu bổ sung hồ sơ", "o1", "Một cửa", 1, "Sai mẫu đơn"),
    ("D", "Nhận hồ sơ bổ sung", "o1", "Một cửa", 5), ("D", "Thẩm định hồ sơ", "o2", "Phòng A", 6),
    ("D", "Phê duyệt", "o3", "Phòng A", 7),
    # P: ping-pong Phòng A -> Phòng B -> Phòng A
    ("P", "Thẩm định hồ sơ", "o2", "Phòng A", 0), ("P", "Xin ý kiến", "o4", "Phòng B", 2),
    ("P", "Thẩm định hồ sơ", "o2", "Phòng A", 5), ("P", "Phê duyệt", "o3", "Phòng A", 6),
    # R: the leader sends it back: appraisal and submission repeated within one unit
    ("R", "Thẩm định hồ sơ", "o2", "Phòng A", 0), ("R", "Trình lãnh đạo", "o2", "Phòng A", 1),
    ("R", "Lãnh đạo xem xét", "o3", "Phòng A", 2, "Sai căn cứ pháp lý"),
    ("R", "Thẩm định hồ sơ", "o2", "Phòng A", 4), ("R", "Trình lãnh đạo", "o2", "Phòng A", 5),
    ("R", "Phê duyệt", "o3", "Phòng A", 6),
    # N: clean dossier
    ("N", "Tiếp nhận hồ sơ", "o1", "Một cửa", 0), ("N", "Thẩm định hồ sơ", "o2", "Phòng A", 2),
    ("N", "Phê duyệt", "o3", "Phòng A", 3),
]


def tthc_rows():
    return [r if len(r) == 6 else (*r, None) for r in TTHC_ROWS]


@pytest.fixture(scope="module")
def tthc_report():
    log = make_log(tthc_rows())
    roles = dict(zip(log.events[S.ACTIVITY], log.events[S.ROLE].astype(str)))
    assert roles["Yêu cầu bổ sung hồ sơ"] == S.ROLE_SUPPLEMENT_REQUEST
    assert roles["Nhận hồ sơ bổ sung"] == S.ROLE_SUPPLEMENT_RECEIVED
    assert roles["Lãnh đạo xem xét"] == S.ROLE_WORK
    return tm.rework(log, timing=False, n_boot=200)


def test_supplement_loop_priced(tthc_report):
    r = tthc_report
    row = case_row(r, "S")
    assert row["n_loops"] == 1 and row["loops_supplement"] == 1 and row["n_supplement"] == 1
    # loop = (first appraisal, second appraisal]: request (2 h agency), citizen 24 h, re-appraisal 2 h
    assert row["extra_steps"] == 3
    assert row["rework_agency_h"] == pytest.approx(4.0)
    assert row["rework_citizen_h"] == pytest.approx(24.0)
    assert row["extra_handovers"] == 2  # Phòng A -> Một cửa -> Phòng A
    # unit visits Một cửa, Phòng A, Một cửa, Phòng A: the trip to the desk holds the supplement,
    # so it is a supplement loop and not a ping-pong
    assert row["n_pingpong"] == 0
    lp = r.loops.loc[r.loops[S.CASE] == "S"].iloc[0]
    assert lp["kind"] == "supplement"
    assert (lp["trigger_activity"], lp["trigger_officer"], lp["trigger_unit"], lp["reason"]) == \
        ("Yêu cầu bổ sung hồ sơ", "o2", "Phòng A", "Thiếu giấy tờ")
    assert lp["closing_activity"] == "Thẩm định hồ sơ"


def test_desk_supplement_without_repetition(tthc_report):
    row = case_row(tthc_report, "D")
    assert (row["n_loops"], row["loops_supplement"], row["extra_steps"]) == (1, 1, 2)
    assert row["rework_agency_h"] == pytest.approx(1.0)   # writing the request
    assert row["rework_citizen_h"] == pytest.approx(4.0)  # until the supplement arrived
    lp = tthc_report.loops.loc[tthc_report.loops[S.CASE] == "D"].iloc[0]
    assert lp["trigger_officer"] == "o1" and lp["reason"] == "Sai mẫu đơn"
    assert pd.isna(lp["closing_activity"])


def test_pingpong_and_cross_unit_loop(tthc_report):
    row = case_row(tthc_report, "P")
    assert row["n_pingpong"] == 1 and row["loops_cross_unit"] == 1
    assert row["extra_steps"] == 2 and row["extra_handovers"] == 2
    assert row["rework_agency_h"] == pytest.approx(5.0)
    pp = tthc_report.pingpong
    got = pp.loc[(pp["unit_x"] == "Phòng A") & (pp["unit_y"] == "Phòng B")].iloc[0]
    assert got["pingpongs"] == 1 and got["dossiers"] == 1
    assert got["detour_h_mean"] == pytest.approx(2.0)  # the Xin ý kiến segment
    lp = tthc_report.loops.loc[tthc_report.loops[S.CASE] == "P"].iloc[0]
    assert lp["trigger_unit"] == "Phòng B"  # the unit that sent it back


def test_return_by_leader_same_unit(tthc_report):
    row = case_row(tthc_report, "R")
    # loop erasure: (first appraisal, second appraisal] = submission, review, re-appraisal
    assert (row["n_loops"], row["loops_same_unit"], row["extra_steps"], row["extra_handovers"]) == (1, 1, 3, 0)
    assert row["rework_agency_h"] == pytest.approx(4.0)
    lp = tthc_report.loops.loc[tthc_report.loops[S.CASE] == "R"].iloc[0]
    assert (lp["trigger_activity"], lp["trigger_officer"], lp["reason"]) == \
        ("Lãnh đạo xem xét", "o3", "Sai căn cứ pháp lý")


def test_clean_dossier_has_nothing(tthc_report):
    row = case_row(tthc_report, "N")
    cols = ["n_loops", "n_supplement", "n_pingpong", "extra_steps", "selfloops_repeat",
            "selfloops_redo", "repetitions_repeat", "repetitions_redo"]
    assert (row[cols] == 0).all()
    assert row["rework_agency_h"] == 0 and row["rework_citizen_h"] == 0


def test_patterns(tthc_report):
    p = tthc_report.patterns
    assert p["loops"].sum() == len(tthc_report.loops) == 4
    frag = dict(zip(p["fragment"], p["loops"]))
    assert frag["Thẩm định hồ sơ → Yêu cầu bổ sung hồ sơ → Nhận hồ sơ bổ sung → Thẩm định hồ sơ"] == 1
    assert frag["Yêu cầu bổ sung hồ sơ → Nhận hồ sơ bổ sung"] == 1
    assert frag["Thẩm định hồ sơ → Xin ý kiến → Thẩm định hồ sơ"] == 1
    sup = p.loc[p["fragment"].str.startswith("Thẩm định hồ sơ → Yêu cầu")].iloc[0]
    assert sup["citizen_h_total"] == pytest.approx(24.0) and sup["kind"] == "supplement"
    assert set(tthc_report.loops["pattern"]) <= set(p["pattern"])


def test_triggers_rates_with_intervals(tthc_report):
    t = tthc_report.triggers
    assert set(t["dimension"]) >= {"unit", "officer", "step", "month", "reason"}
    off = t.loc[t["dimension"] == "officer"].set_index("key")
    # o2 appears in S, D, P, R, N and triggered loops in S and P? (S: request by o2)
    assert off.loc["o2", "dossiers"] == 5
    assert off.loc["o2", "dossiers_with_loop"] == 1 and off.loc["o2", "loops"] == 1
    assert off.loc["o3", "dossiers_with_loop"] == 1  # R: the leader's review
    lo, hi = off.loc["o2", "rate_ci_low"], off.loc["o2", "rate_ci_high"]
    assert lo <= off.loc["o2", "rate"] <= hi and 0 <= lo and hi <= 1
    unit = t.loc[t["dimension"] == "unit"].set_index("key")
    assert unit.loc["Phòng B", "dossiers"] == 1 and unit.loc["Phòng B", "rate"] == 1.0
    month = t.loc[t["dimension"] == "month"].iloc[0]
    assert month["dossiers"] == 5 and month["dossiers_with_loop"] == 4
    reason = t.loc[t["dimension"] == "reason"].set_index("key")
    assert reason.loc["Thiếu giấy tờ", "loops"] == 1


def test_summary_rates_and_means(tthc_report):
    s = tthc_report.summary
    a = s.loc[s["scope"] == "(all)"].set_index("metric")
    assert a.loc["share_with_loop", "value"] == pytest.approx(4 / 5)
    assert a.loc["share_with_loop", "n"] == 5
    assert a.loc["share_with_supplement", "value"] == pytest.approx(2 / 5)
    assert a.loc["loops_per_dossier", "value"] == pytest.approx(4 / 5)
    assert a.loc["share_with_pingpong", "value"] == pytest.approx(1 / 5)  # P only
    L = 24.0  # continuous calendar: a working day is 24 h
    assert a.loc["rework_citizen_days_total", "value"] == pytest.approx(28.0 / L)
    assert a.loc["rework_agency_days_per_dossier", "value"] == pytest.approx((4 + 1 + 5 + 4) / 5 / L)
    m = a.loc["loops_per_dossier"]
    assert m["ci_low"] <= m["value"] <= m["ci_high"]
    assert {"label_vi", "label_en", "note"} <= set(s.columns)


def test_back_edges_with_catalog():
    rows = [
        ("a", "Tiếp nhận hồ sơ", "o1", "MC", 0), ("a", "Thẩm định hồ sơ", "o2", "P", 1),
        ("a", "Phê duyệt", "o3", "P", 2), ("a", "Thẩm định hồ sơ", "o2", "P", 3),
        ("a", "Phê duyệt", "o3", "P", 4), ("a", "Trả kết quả", "o1", "MC", 5),
        ("b", "Tiếp nhận hồ sơ", "o1", "MC", 0), ("b", "Thẩm định hồ sơ", "o2", "P", 1),
        ("b", "Phê duyệt", "o3", "P", 2), ("b", "Trả kết quả", "o1", "MC", 3),
    ]
    log = make_log(rows, extra=None)
    log.events[S.PROCEDURE] = "1.001806"
    log._cache.clear()
    cat = tm.ProcedureCatalog.from_frame(pd.DataFrame({
        "code": "1.001806", "name": "Thủ tục thử", "level": "tinh", "deadline_days": 10,
        "deadline_unit": "working", "step_order": [1, 2, 3, 4],
        "activity": ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "Phê duyệt", "Trả kết quả"],
        "unit": ["MC", "P", "P", "MC"], "allotment_days": [0.5, 7, 2, None]}))
    r = tm.rework(log, catalog=cat, timing=False)
    assert r.params["order_source"] == "catalog"
    be = r.back_edges
    assert list(zip(be["source"], be["target"], be["transitions"])) == [("Phê duyệt", "Thẩm định hồ sơ", 1)]
    assert case_row(r, "a")["n_back_edges"] == 1 and case_row(r, "b")["n_back_edges"] == 0
    o = r.order.set_index("activity")["order"]
    assert o["Tiếp nhận hồ sơ"] < o["Thẩm định hồ sơ"] < o["Phê duyệt"] < o["Trả kết quả"]


def test_learned_order_back_edges():
    # 5 dossiers A B C, 1 dossier A B C B C: back-edge C -> B learned from the log
    rows = []
    for i in range(5):
        rows += [(f"c{i}", "A", "x", "U", 0), (f"c{i}", "B", "x", "U", 1), (f"c{i}", "C", "x", "U", 2)]
    rows += [("z", "A", "x", "U", 0), ("z", "B", "x", "U", 1), ("z", "C", "x", "U", 2),
             ("z", "B", "y", "U", 3), ("z", "C", "x", "U", 4)]
    r = tm.rework(make_log(rows, roles=False), timing=False)
    assert r.params["order_source"] == "learned"
    assert list(zip(r.back_edges["source"], r.back_edges["target"])) == [("C", "B")]
    assert case_row(r, "z")["n_back_edges"] == 1


def test_dfg_cycles_and_sccs():
    r = tm.rework(make_log(EDEAR_ROWS, roles=False), timing=False)
    cyc = set(r.cycles["cycle"])
    assert {"A → A", "B → B", "A → B → A"} <= cyc
    assert r.sccs.iloc[0]["activities"] == ["A", "B"]
    # the weight is the smallest directly-follows count on the cycle
    w = r.cycles.set_index("cycle")["weight"]
    assert w["A → A"] == 3  # A->A transitions: case1 once, case2 twice


# ---------------------------------------------------------------------------------- reports
def test_report_outputs_json_html_frame(tthc_report):
    d = json.loads(tthc_report.to_json())
    assert {"summary", "by_activity", "patterns", "triggers", "clock", "by_case", "loops"} <= set(d)
    assert tthc_report.to_frame() is tthc_report.by_case
    h = tthc_report._repr_html_()
    assert "Rework loops" in h and "Vòng lặp" in h
    assert "ReworkReport(" in repr(tthc_report)


def test_html_escapes_untrusted_names():
    rows = [("x", "<script>alert(1)</script>", "o", "U", 0), ("x", "B", "o", "U", 1),
            ("x", "<script>alert(1)</script>", "o", "U", 2)]
    r = tm.rework(make_log(rows, roles=False), timing=False)
    h = r._repr_html_()
    assert "<script>" not in h and "&lt;script&gt;" in h


def test_render_highlights_back_edges():
    pytest.importorskip("graphviz")
    rows = []
    for i in range(4):
        rows += [(f"c{i}", "A", "x", "U", 0), (f"c{i}", "B", "x", "U", 1), (f"c{i}", "C", "x", "U", 2)]
    rows += [("z", "A", "x", "U", 0), ("z", "B", "x", "U", 1), ("z", "C", "x", "U", 2),
             ("z", "B", "y", "U", 3), ("z", "C", "x", "U", 4)]
    r = tm.rework(make_log(rows, roles=False), timing=False)
    dot = r.render(format="dot", lang="en")
    assert isinstance(dot, str) and "digraph" in dot
    from tthc_mining.render import DEFAULT_HIGHLIGHT
    hl = [ln for ln in dot.splitlines() if "->" in ln and DEFAULT_HIGHLIGHT in ln]
    assert len(hl) == len(r.back_edges) == 1  # only the back-edge C -> B is highlighted
    assert "loop back-edge" in dot  # legend line


def test_callable_module_and_lazy_name():
    import importlib
    mod = importlib.import_module("tthc_mining.rework")
    log = make_log(EDEAR_ROWS, roles=False)
    assert isinstance(mod(log, timing=False), tm.ReworkReport)
    assert isinstance(tm.rework(log, timing=False), tm.ReworkReport)


def test_procedure_filter():
    rows = [("a", "A", "x", "U", 0), ("a", "A", "x", "U", 1), ("b", "A", "x", "U", 0), ("b", "B", "x", "U", 1)]
    log = make_log(rows, roles=False, extra={S.PROCEDURE: ["p1", "p1", "p2", "p2"]})
    r = tm.rework(log, procedure="p1", timing=False)
    assert list(r.by_case[S.CASE]) == ["a"]
    with pytest.raises(ConfigError):
        tm.rework(log, procedure="nope", timing=False)


def test_bad_input_raises():
    df = pd.DataFrame({S.CASE: ["a", "a", "b"], S.ACTIVITY: ["A", None, "B"],
                       S.TIMESTAMP: T0 + pd.to_timedelta([0, 1, 2], unit="h")})
    with pytest.raises(InputError) as e:
        tm.rework(DossierLog(events=df, calendar=continuous()), timing=False)
    assert "concept:name" in str(e.value) and "row 2" in str(e.value)
    df2 = pd.DataFrame({S.CASE: ["a", "b", "a"], S.ACTIVITY: ["A", "B", "C"],
                        S.TIMESTAMP: T0 + pd.to_timedelta([0, 1, 2], unit="h")})
    with pytest.raises(InputError, match="grouped by dossier"):
        tm.rework(DossierLog(events=df2, calendar=continuous()), timing=False)
    with pytest.raises(ConfigError):
        tm.rework(df2)
    with pytest.raises(ConfigError):
        tm.rework(make_log(EDEAR_ROWS, roles=False), rules={"no_such_rule": 1})


def test_empty_log():
    df = pd.DataFrame({S.CASE: pd.Series([], dtype=object), S.ACTIVITY: pd.Series([], dtype=object),
                       S.TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]")})
    r = tm.rework(DossierLog(events=df, calendar=continuous()), timing=False)
    assert len(r.by_case) == 0 and len(r.loops) == 0 and len(r.patterns) == 0


# ---------------------------------------------------------------------------------- references
def ref_edear(trace):
    """edeaR's case-level absolute counts for one dossier: [(activity, resource), ...]."""
    runs = []
    for a, res in trace:
        if runs and runs[-1][0] == a:
            runs[-1][1].append(res)
        else:
            runs.append((a, [res]))
    sl_rep = sum(1 for _, rs in runs if len(rs) > 1 and len(set(rs)) == 1)
    sl_redo = sum(1 for _, rs in runs if len(rs) > 1 and len(set(rs)) > 1)
    by_act: dict = {}
    for a, rs in runs:
        by_act.setdefault(a, []).append(rs)
    rep = sum(1 for lst in by_act.values() if len(lst) > 1 and len({r for rs in lst for r in rs}) == 1)
    redo = sum(1 for lst in by_act.values() if len(lst) > 1 and len({r for rs in lst for r in rs}) > 1)
    return sl_rep, sl_redo, rep, redo


def ref_loop_erasure(acts):
    """Chronological loop erasure, step by step: {closing index: erased indices}."""
    path: list[tuple[str, int]] = []
    loops: dict[int, list[int]] = {}
    for i, a in enumerate(acts):
        pos = next((k for k, (b, _) in enumerate(path) if b == a), None)
        if pos is None:
            path.append((a, i))
        else:
            loops[i] = sorted([j for _, j in path[pos + 1:]] + [i])
            del path[pos + 1:]
    return loops


def ref_pingpong(units, acts=None, order=None):
    """Returns X -> Y -> X on the unit visits whose first event back at X is rework (a step
    executed before, or a step earlier in ``order`` than the previous one); an alternation is
    counted without overlap."""
    n = len(units)
    acts = acts or [str(k) for k in range(n)]
    rework = [k > 0 and (acts[k] in acts[:k] or (order is not None and order[acts[k]] < order[acts[k - 1]]))
              for k in range(n)]
    starts = [k for k in range(n) if k == 0 or units[k - 1] != units[k]]
    v = [units[k] for k in starts]
    count, k = 0, 2
    while k < len(v):
        if v[k] == v[k - 2] and rework[starts[k]]:
            count += 1
            k += 2  # the next return of the same alternation continues this bounce
        else:
            k += 1
    return count


trace_st = st.lists(st.tuples(st.sampled_from("ABCD"), st.sampled_from(["r1", "r2", "r3"]),
                              st.sampled_from(["X", "Y", "Z"])), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trace_st, min_size=1, max_size=8))
def test_against_reference_implementations(traces):
    import pm4py
    rows = []
    for ci_, tr in enumerate(traces):
        for k, (a, res, u) in enumerate(tr):
            rows.append((f"c{ci_:02d}", a, res, u, k))
    log = make_log(rows, roles=False)
    r = tm.rework(log, timing=False, n_boot=20)
    bc = r.by_case.set_index(S.CASE)
    seg_s_total = 0.0
    for ci_, tr in enumerate(traces):
        c = f"c{ci_:02d}"
        got = tuple(int(bc.loc[c, k]) for k in ("selfloops_repeat", "selfloops_redo",
                                                 "repetitions_repeat", "repetitions_redo"))
        assert got == ref_edear([(a, res) for a, res, _ in tr])
        loops = ref_loop_erasure([a for a, _, _ in tr])
        erased = [j for v in loops.values() for j in v]
        assert bc.loc[c, "n_loops"] == len(loops)
        assert bc.loc[c, "extra_steps"] == len(erased)
        # events are 1 h apart: the loop time is one hour per erased event
        assert bc.loc[c, "rework_agency_h"] == pytest.approx(float(len(erased)))
        got_sizes = sorted(r.loops.loc[r.loops[S.CASE] == c, "extra_steps"].tolist())
        assert got_sizes == sorted(len(v) for v in loops.values())
        order = r.order.set_index("activity")["order"].to_dict()
        assert bc.loc[c, "n_pingpong"] == ref_pingpong([u for _, _, u in tr], [a for a, _, _ in tr], order)
        seg_s_total += len(erased)
    assert r.loops["extra_steps"].sum() == bc["extra_steps"].sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert r.rework_cases_per_activity() == pm4py.get_rework_cases_per_activity(log.to_pm4py())


def test_random_log_against_pm4py_and_variants_size():
    import pm4py
    rng = np.random.default_rng(7)
    C = 3000
    lens = rng.integers(1, 15, C)
    case = np.repeat(np.arange(C), lens)
    acts = np.array(list("ABCDEFGHIJ"))[rng.integers(0, 10, case.size)]
    pos = np.concatenate([np.arange(k) for k in lens])
    df = pd.DataFrame({S.CASE: np.char.add("k", case.astype(str)), S.ACTIVITY: acts,
                       S.RESOURCE: np.array(["u1", "u2", "u3"])[rng.integers(0, 3, case.size)],
                       S.TIMESTAMP: T0 + pd.to_timedelta(pos, unit="min")})
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    log = DossierLog(events=df, calendar=continuous())
    r = tm.rework(log, timing=False, n_boot=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert r.rework_cases_per_activity() == pm4py.get_rework_cases_per_activity(log.to_pm4py())
    # loop erasure leaves a path without repeated activities (at most the distinct ones) and
    # erased loops never overlap (their extra steps add up to at most the dossier's events - 1)
    distinct = df.groupby(S.CASE, sort=False)[S.ACTIVITY].nunique()
    bc = r.by_case.set_index(S.CASE)
    kept = bc["n_events"] - bc["extra_steps"]
    assert (kept <= distinct.reindex(bc.index)).all() and (kept >= 1).all()
    assert ((bc["extra_steps"] > 0) == (bc["n_events"] > distinct.reindex(bc.index))).all()


# ---------------------------------------------------------------------------------- synthetic
SYNTH_METRICS = [  # (summary metric, truth.loop_rates column)
    ("share_with_loop", "loop_rate"),
    ("share_with_supplement", "supplement_rate"),
    ("share_with_selfloop_same_officer", "redo_rate"),       # the generator's redo: same officer
    ("share_with_selfloop_other_officer", "repeat_rate"),    # the generator's repeat: another officer
    ("share_with_pingpong", "pingpong_rate"),
    ("loops_per_dossier", "loops_per_dossier"),
    ("supplement_requests_per_dossier", "supplements_per_dossier"),
    ("pingpong_per_dossier", "pingpongs_per_dossier"),
    ("rework_agency_days_per_dossier", "rework_agency_days_mean"),
    ("rework_citizen_days_per_dossier", "rework_citizen_days_mean"),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_province_loops_match_truth(seed):
    log, truth = tm.synth.province(6000, seed=seed)
    r = tm.rework(log)
    tc = truth.cases.set_index(S.CASE)
    bc = r.by_case.set_index(S.CASE).reindex(tc.index)
    # dossier by dossier: every planted loop is found and priced exactly
    for mine, planted in (("n_supplement", "n_supplement"), ("selfloop_same_officer", "n_redo"),
                          ("selfloop_other_officer", "n_repeat"), ("n_pingpong", "n_pingpong"),
                          ("n_loops", "n_loops")):
        assert (bc[mine].to_numpy() == tc[planted].to_numpy()).all(), mine
    assert np.allclose(bc["rework_agency_h"] * 3600, tc["rework_agency_working_s"], atol=1.0)
    assert np.allclose(bc["rework_citizen_h"] * 3600, tc["rework_citizen_working_s"], atol=1.0)
    # per procedure: the estimate equals the realised truth and its interval contains it
    s = r.summary.set_index(["scope", "metric"])
    lr = truth.loop_rates.set_index("procedure")
    checked = 0
    for proc, row in lr.iterrows():
        if row["n_dossiers"] < 2:
            continue
        for metric, col in SYNTH_METRICS:
            est = s.loc[(str(proc), metric)]
            assert est["n"] == row["n_dossiers"]
            assert est["value"] == pytest.approx(row[col], rel=1e-9, abs=1e-12), (proc, metric)
            if row[col] > 0:
                assert est["ci_low"] <= row[col] <= est["ci_high"], (proc, metric)
                assert est["ci_low"] < est["ci_high"]
                checked += 1
    assert checked >= 20


def test_synthetic_intervals_cover_planted_probabilities():
    """The Wilson intervals of the loop rates cover the generator's planted probabilities about
    95% of the time (each procedure, loop type and seed is one trial)."""
    trials, covered = 0, 0
    pairs = [("share_with_supplement", "p_supplement"), ("share_with_selfloop_same_officer", "p_redo"),
             ("share_with_selfloop_other_officer", "p_repeat"), ("share_with_pingpong", "p_pingpong")]
    for seed in (21, 22, 23, 24):
        log, truth = tm.synth.province(5000, seed=seed)
        s = tm.rework(log, n_boot=20).summary.set_index(["scope", "metric"])
        for proc, row in truth.loop_rates.set_index("procedure").iterrows():
            if row["n_dossiers"] < 50:
                continue
            for metric, p in pairs:
                if row[p] <= 0:
                    continue
                est = s.loc[(str(proc), metric)]
                trials += 1
                covered += int(est["ci_low"] <= row[p] <= est["ci_high"])
    assert trials >= 40
    assert covered / trials >= 0.85, (covered, trials)


def test_filtered_categorical_log():
    """A procedure filter on a log whose columns are categoricals (unused categories kept)."""
    log, truth = tm.synth.province(1500, seed=5)
    proc = str(truth.loop_rates.sort_values("supplement_rate").iloc[-1]["procedure"])
    r = tm.rework(log, procedure=proc, n_boot=50)
    tc = truth.cases.loc[truth.cases["procedure"] == proc].set_index(S.CASE)
    bc = r.by_case.set_index(S.CASE)
    assert set(bc.index) == set(tc.index)
    bc = bc.reindex(tc.index)
    assert (bc["n_supplement"].to_numpy() == tc["n_supplement"].to_numpy()).all()
    assert (bc["n_loops"].to_numpy() == tc["n_loops"].to_numpy()).all()
    assert set(r.summary["scope"]) == {"(all)", proc}
