"""Conformance to the internal procedure (tm.conformance): hand-made dossiers with answers by
hand, fitness equal to pm4py's token replay on a net pm4py builds itself, catalogue versions,
the planted log, the per-step summary."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar
from tthc_mining.errors import ConfigError
from tthc_mining.roles import add_role_column

from test_bottlenecks import P1, P2, make_planted_log

CAL = VietnamCalendar()
STEPS = ["Tiếp nhận hồ sơ", "Phân công thụ lý", "Thẩm định hồ sơ", "Phê duyệt", "Trả kết quả"]
ALLOT = [0.5, 0.5, 2.0, 1.0, None]
# dossier -> (sequence, hours each event after the first takes on the working axis)
HAND = {
    "ok": STEPS,
    "skip": ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "Phê duyệt", "Trả kết quả"],
    "loop": ["Tiếp nhận hồ sơ", "Phân công thụ lý", "Thẩm định hồ sơ", "Yêu cầu bổ sung hồ sơ",
             "Nhận hồ sơ bổ sung", "Thẩm định hồ sơ", "Phê duyệt", "Trả kết quả"],
    "swap": ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "Phân công thụ lý", "Phê duyệt", "Xin ý kiến",
             "Trả kết quả"],
    "open": ["Tiếp nhận hồ sơ", "Phân công thụ lý"],
    "slow": STEPS,
}
EXPECTED = {  # skipped, extra, repeated, out_of_order, clock_events, complete
    "ok": (0, 0, 0, 0, 0, True), "skip": (1, 0, 0, 0, 0, True), "loop": (0, 0, 1, 0, 2, True),
    "swap": (0, 1, 0, 1, 0, True), "open": (0, 0, 0, 0, 0, False), "slow": (0, 0, 0, 0, 0, True),
}


def catalog(code="1.9", steps=STEPS, allot=ALLOT, **extra):
    df = pd.DataFrame({"code": code, "name": "Thủ tục thử", "level": "xa", "deadline_days": 5,
                       "deadline_unit": "working", "step_order": range(1, len(steps) + 1),
                       "activity": steps, "unit": "U", "allotment_days": allot, **extra})
    return df


def hand_log():
    t0 = float(CAL.to_working(pd.Timestamp("2025-03-03 07:30")))
    rows = []
    for c, seq in HAND.items():
        w = t0
        for i, a in enumerate(seq):
            # 'slow' spends 3 working days on the approval (allotment 1 day); others 1 h a step
            w += (0 if i == 0 else (3 * CAL.seconds_per_day if (c == "slow" and a == "Phê duyệt")
                                    else 3600.0))
            rows.append((c, a, w))
    ev = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, "w"])
    ev[S.TIMESTAMP] = CAL.from_working(ev["w"].to_numpy(), tz_aware=True)
    ev[S.PROCEDURE] = "1.9"
    ev[S.GROUP] = "U"
    ev = add_role_column(ev.drop(columns="w"))
    return tm.DossierLog(events=ev, calendar=CAL,
                         catalog=tm.ProcedureCatalog.from_frame(catalog()))


def test_hand_made_dossiers():
    r = tm.conformance(hand_log())
    assert isinstance(r, pd.DataFrame) and len(r) == len(HAND)
    got = r.set_index(S.CASE)
    for c, (sk, ex, rep, ooo, clk, comp) in EXPECTED.items():
        row = got.loc[c]
        assert (row["skipped"], row["extra"], row["repeated"], row["out_of_order"],
                row["clock_events"], bool(row["complete"])) == (sk, ex, rep, ooo, clk, comp), c
    assert got.loc["slow", "over_allotment"] == 1
    assert got.loc["slow", "over_allotment_days"] == pytest.approx(2.0)
    assert got.loc["ok", "over_allotment"] == 0
    assert got.loc["ok", "fitness"] == 1.0 and got.loc["slow", "fitness"] == 1.0
    assert (got.drop(index=["ok", "slow"])["fitness"] < 1.0).all()
    # no deviation: ok, slow (over its allotment, but in order) and open (in order so far)
    assert r.summary["perfect"] == 3 and r.summary["n_dossiers"] == 6
    lo, hi = r.summary["perfect_share_ci"]
    assert lo < 3 / 6 < hi
    es = r.extra_steps
    assert list(es["activity"]) == ["Xin ý kiến"] and es.iloc[0]["dossiers"] == 1


def test_by_step_summary_by_hand():
    bs = tm.conformance(hand_log()).by_step.set_index("activity")
    # 'open' reached step 2 only: eligible for steps 1-2 (6 dossiers), 5 dossiers after that
    assert list(bs["eligible"]) == [6, 6, 5, 5, 5]
    assert bs.loc["Phân công thụ lý", "skipped"] == 1 and bs.loc["Phân công thụ lý", "out_of_order"] == 1
    assert bs.loc["Thẩm định hồ sơ", "executed"] == 5
    assert bs.loc["Phê duyệt", "over_allotment"] == 1
    assert bs.loc["Phê duyệt", "over_rate"] == pytest.approx(1 / 5)
    assert bs.loc["Phê duyệt", "excess_days_total"] == pytest.approx(2.0)
    assert bs.loc["Phân công thụ lý", "skip_rate"] == pytest.approx(1 / 6)
    assert (bs["skip_rate_ci_low"] <= bs["skip_rate"]).all() and (bs["skip_rate"] <= bs["skip_rate_ci_high"]).all()
    # 1 h in four dossiers, 2 h (appraised twice) in 'loop': 6 h / 5 dossiers
    assert bs.loc["Thẩm định hồ sơ", "spent_mean_days"] == pytest.approx(6 / 5 / 8)


def test_fitness_equals_pm4py_on_its_own_net():
    """pm4py builds the net from the process tree ->(steps) and replays the dossiers itself."""
    import pm4py
    from pm4py.objects.process_tree.utils.generic import parse
    log = hand_log()
    r = tm.conformance(log).set_index(S.CASE)
    tree = parse("->(" + ", ".join(f"'{a}'" for a in STEPS) + ")")
    net, im, fm = pm4py.convert_to_petri_net(tree)
    df = log.to_pm4py()
    diag = pm4py.conformance_diagnostics_token_based_replay(df, net, im, fm,
                                                            return_diagnostics_dataframe=True)
    assert len(diag) == len(HAND)
    for c, f in zip(diag["case_id"], diag["trace_fitness"]):
        assert r.loc[c, "fitness"] == pytest.approx(f, abs=1e-12), c


def test_catalogue_versions_by_received_date():
    """Version 2 (from 2025-07-01) adds a step: older dossiers are judged by version 1."""
    v1 = catalog(steps=STEPS, allot=ALLOT, valid_from=pd.NaT, valid_to="2025-07-01")
    steps2 = STEPS[:3] + ["Trình lãnh đạo phòng"] + STEPS[3:]
    v2 = catalog(steps=steps2, allot=[0.5, 0.5, 2.0, 0.5, 1.0, None], valid_from="2025-07-01",
                 valid_to=pd.NaT)
    cat = tm.ProcedureCatalog.from_frame(pd.concat([v1, v2], ignore_index=True))
    t_old = pd.Timestamp("2025-03-03 08:00", tz="Asia/Ho_Chi_Minh")
    t_new = pd.Timestamp("2025-08-04 08:00", tz="Asia/Ho_Chi_Minh")
    rows = [(c, a, t + pd.Timedelta(minutes=10 * i)) for c, t in (("old", t_old), ("new", t_new))
            for i, a in enumerate(STEPS)]
    ev = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.TIMESTAMP])
    ev[S.PROCEDURE] = "1.9"
    log = tm.DossierLog(events=add_role_column(ev), calendar=CAL, catalog=cat)
    r = tm.conformance(log).set_index(S.CASE)
    assert r.loc["old", "skipped"] == 0 and r.loc["old", "fitness"] == 1.0
    assert r.loc["new", "skipped"] == 1 and r.loc["new", "fitness"] < 1.0
    assert set(tm.conformance(log).by_step["version"].dropna().astype(str)) == {"2025-07-01"}


def test_step_names_match_without_diacritics_or_case():
    cat = tm.ProcedureCatalog.from_frame(catalog(steps=[s.upper() for s in STEPS]))
    log = hand_log()
    r = tm.conformance(log, cat).set_index(S.CASE)
    assert r.loc["ok", "fitness"] == 1.0 and r.loc["ok", "skipped"] == 0


def test_planted_log():
    log, truth = make_planted_log(n=400, seed=8, procedures=(P1, P2))
    r = tm.conformance(log)
    assert len(r) == 800 and r.summary["not_in_catalog"] == 0
    sup = r[S.CASE].isin(truth["supplement_cases"])
    assert (r.loc[sup, "repeated"] == 1).all() and (r.loc[sup, "clock_events"] == 2).all()
    assert (r.loc[sup, "fitness"] < 1).all() and (r.loc[~sup, "fitness"] == 1).all()
    assert (r["skipped"] == 0).all() and (r["extra"] == 0).all() and r["complete"].all()
    od = r[S.CASE].isin(truth["overdue_cases"])
    assert (r.loc[od, "over_allotment"] >= 1).all()
    bs = r.by_step
    p1 = bs[(bs["procedure"] == P1)].set_index("activity")
    assert p1["over_rate"].idxmax() == "Phê duyệt"  # the planted 16-hour wait vs 2 days: often over
    only = tm.conformance(log, procedure=P2)
    assert set(only["procedure"]) == {P2} and len(only) == 400
    no_fit = tm.conformance(log, procedure=P2, fitness=False)
    assert no_fit["fitness"].isna().all()
    pd.testing.assert_series_equal(no_fit["skipped"], only["skipped"])


def test_dataframe_behaviour_and_outputs():
    r = tm.conformance(hand_log())
    sub = r[r["skipped"] > 0]
    assert isinstance(sub, type(r)) and sub.by_step is r.by_step
    d = json.loads(r.to_json())
    assert d["summary"]["n_dossiers"] == 6 and len(d["cases"]) == 6 and d["by_step"]
    assert type(r.to_frame()) is pd.DataFrame
    assert "Conformance" in r._repr_html_()


def test_errors_and_procedures_outside_the_catalogue():
    log = hand_log()
    with pytest.raises(ConfigError, match="catalogue"):
        tm.conformance(log.with_events(log.events).__class__(events=log.events, calendar=CAL))
    ev = log.events.copy()
    ev.loc[ev[S.CASE] == "ok", S.PROCEDURE] = "7.7"
    other = log.with_events(ev)
    r = tm.conformance(other)
    assert r.summary["not_in_catalog"] == 1 and "ok" not in set(r[S.CASE])
    with pytest.raises(ConfigError, match="procedure"):
        tm.conformance(log.with_events(log.events.drop(columns=[S.PROCEDURE])))


def test_variants_make_fitness_cheap():
    """Fitness runs once per distinct step sequence: 20,000 dossiers in a few seconds."""
    import time
    log, _ = make_planted_log(n=10_000, seed=2, procedures=(P1, P2))
    t0 = time.perf_counter()
    r = tm.conformance(log)
    assert len(r) == 20_000 and r["fitness"].notna().all()
    assert time.perf_counter() - t0 < 20


@pytest.mark.parametrize("seed", [1, 2])
def test_synthetic_province_against_its_truth(seed):
    """Dossiers without planted loops follow the internal procedure exactly (fitness 1); every
    looped dossier repeats a prescribed step (fitness < 1); every planted overdue dossier has a
    step over its allotment."""
    synth = pytest.importorskip("tthc_mining.synth", reason="synthetic generator not available")
    log, truth = synth.province(5000, seed=seed)
    r = tm.conformance(log).set_index(S.CASE)
    tc = truth.cases.set_index(S.CASE)
    assert len(r) == len(tc) and r.summary["not_in_catalog"] == 0
    j = r.join(tc[["n_loops", "overdue_planted"]])
    clean = j[j["n_loops"] == 0]
    assert (clean["fitness"] == 1.0).all() and (clean["repeated"] == 0).all()
    assert (clean["extra"] == 0).all() and (clean["skipped"] == 0).all()
    looped = j[j["n_loops"] > 0]
    assert len(looped) > 50 and (looped["fitness"] < 1.0).all() and (looped["repeated"] >= 1).all()
    assert (j.loc[j["overdue_planted"], "over_allotment"] >= 1).all()
    assert r.summary["perfect"] == len(clean)
