"""Overdue attribution (tm.overdue_attribution): the planted unit is named for several seeds,
hand-computed allotment and median-share cases, accounting identities, fallbacks, errors."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar
from tthc_mining.errors import ConfigError
from tthc_mining.roles import add_role_column

from test_bottlenecks import P1, P2, make_planted_log

CAL = VietnamCalendar()
H = 3600.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_planted_overdue_unit_is_named(seed):
    log, truth = make_planted_log(n=500, seed=seed, procedures=(P1, P2))
    for p in (P1, P2):
        r = tm.overdue_attribution(log, procedure=p)
        assert r.by_unit.iloc[0]["unit"] == truth["overdue_unit"][p]
        assert r.by_unit.iloc[0]["share"] > 0.5
        pu = r.by_procedure_unit
        assert pu[pu["procedure"] == p].iloc[0]["unit"] == truth["overdue_unit"][p]
    full = tm.overdue_attribution(log)
    # every planted overdue dossier is found, with its planted step over the allotment
    found = full.by_case
    planted = truth["overdue_cases"]
    assert planted <= set(found[S.CASE])
    hit = found[found[S.CASE].isin(planted)]
    steps = hit.groupby(S.CASE)["unit"].agg(set)
    for case, units in steps.items():
        assert truth["overdue_unit"][case.split("-")[0]] in units


def test_accounting_identities():
    log, _ = make_planted_log(n=400, seed=9, procedures=(P1, P2))
    r = tm.overdue_attribution(log)
    bc = r.by_case
    assert (bc["excess_days"] > 0).all()
    np.testing.assert_allclose(bc["excess_days"], bc["spent_days"] - bc["allotted_days"], rtol=1e-12)
    per_case = bc.groupby(S.CASE).agg(caused=("overdue_days_caused", "sum"), late=("days_late", "first"))
    np.testing.assert_allclose(per_case["caused"], per_case["late"], rtol=1e-9)
    assert r.by_unit["overdue_days_caused"].sum() == pytest.approx(r.summary["explained_overdue_days"])
    assert r.by_unit["share"].sum() == pytest.approx(1.0)
    assert r.by_step["overdue_days_caused"].sum() == pytest.approx(r.summary["explained_overdue_days"])
    tc = tm.timing(log).cases
    n_od = int(tc["status_actual"].isin(["overdue", "in_progress_overdue"]).sum())
    assert r.summary["n_overdue"] == n_od
    assert r.summary["n_overdue"] - r.summary["unexplained"] == bc[S.CASE].nunique()
    assert (r.by_unit["dossier_share_ci_low"] <= r.by_unit["dossier_share"]).all()
    assert (r.by_unit["dossier_share"] <= r.by_unit["dossier_share_ci_high"]).all()
    # round trips
    d = json.loads(r.to_json())
    assert d["summary"]["n_overdue"] == r.summary["n_overdue"] and d["by_unit"]
    assert "<table" in r._repr_html_() and r.to_frame() is r.by_unit


def _hand_log(allotments: bool, *, with_catalog: bool = True):
    """Three dossiers received Monday 07:30 (deadline 2 working days = 16 h):
    x1, x2: A 2 h, B 4 h, C 2 h (8 h, on time); x3: A 2 h, B 20 h, C 2 h (24 h: 1 day late)."""
    t0 = float(CAL.to_working(pd.Timestamp("2025-03-03 07:30")))
    plan = {"x1": [2, 4, 2], "x2": [2, 4, 2], "x3": [2, 20, 2]}
    rows = []
    for c, hours in plan.items():
        w = t0
        rows.append((c, "Tiếp nhận hồ sơ", "Một cửa", w))
        for act, unit, h in zip(["A", "B", "C"], ["U1", "U2", "U1"], hours):
            w += h * H
            rows.append((c, act, unit, w))
    ev = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.GROUP, "w"])
    ev[S.TIMESTAMP] = CAL.from_working(ev["w"].to_numpy(), tz_aware=True)
    ev[S.PROCEDURE] = "9.1"
    ev = add_role_column(ev.drop(columns="w"))
    cat = pd.DataFrame({"code": "9.1", "name": "Thử", "level": "xa", "deadline_days": 2,
                        "deadline_unit": "working", "step_order": [1, 2, 3, 4],
                        "activity": ["Tiếp nhận hồ sơ", "A", "B", "C"],
                        "unit": ["Một cửa", "U1", "U2", "U1"],
                        "allotment_days": [np.nan, 0.5, 1.0, 0.5] if allotments else np.nan})
    catalog = tm.ProcedureCatalog.from_frame(cat) if with_catalog else None
    return tm.DossierLog(events=ev, calendar=CAL, catalog=catalog)


@pytest.mark.parametrize("allotments", [True, False])
def test_hand_computed_attribution(allotments):
    r = tm.overdue_attribution(_hand_log(allotments))
    assert r.summary["n_overdue"] == 1 and r.summary["overdue_days"] == pytest.approx(1.0)
    bc = r.by_case
    assert list(bc[S.CASE]) == ["x3"] and list(bc["step"]) == ["B"] and list(bc["unit"]) == ["U2"]
    row = bc.iloc[0]
    assert row["spent_days"] == pytest.approx(2.5)
    # allotment: 1 day; median share: B's median share 4/8 = 0.5 of the 2-day budget = 1 day
    assert row["allotted_days"] == pytest.approx(1.0)
    assert row["excess_days"] == pytest.approx(1.5)
    assert row["overdue_days_caused"] == pytest.approx(1.0)
    assert row["basis"] == ("allotment" if allotments else "median_share")
    u = r.by_unit.iloc[0]
    assert (u["unit"], u["overdue_dossiers"], u["share"]) == ("U2", 1, pytest.approx(1.0))


def test_fallback_to_exported_due_date(monkeypatch):
    log = _hand_log(True, with_catalog=False)
    due = CAL.add_working_days(pd.Timestamp("2025-03-03 07:30"), 2, tz_aware=True)
    log.events[S.DUE] = due
    import tthc_mining.overdue as od
    monkeypatch.setattr(od, "_timing_cases", lambda log, catalog: None)
    r = tm.overdue_attribution(log)
    assert r.summary["basis"].startswith("case:due")
    assert r.summary["n_overdue"] == 1 and r.summary["overdue_days"] == pytest.approx(1.0)
    assert list(r.by_case["step"]) == ["B"]
    assert r.by_case.iloc[0]["basis"] == "median_share"


def test_no_deadline_information_is_an_error():
    log = _hand_log(True, with_catalog=False)
    with pytest.raises(ConfigError, match="overdue"):
        tm.overdue_attribution(log)


def test_html_escapes_unit_names():
    log = _hand_log(True)
    log.events[S.GROUP] = log.events[S.GROUP].replace({"U2": "<script>alert(1)</script>"})
    log._cache.clear()
    html = tm.overdue_attribution(log)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.fixture(scope="module", params=[0, 1, 2])
def province(request):
    synth = pytest.importorskip("tthc_mining.synth", reason="synthetic generator not available")
    log, truth = synth.province(20_000, seed=request.param)
    return request.param, log, truth


def test_synthetic_province_names_the_planted_unit(province):
    """Acceptance (issue 3): overdue attribution names the planted unit of every procedure in
    which that unit really made dossiers overdue (at least 5 planted overdue dossiers)."""
    seed, log, truth = province
    od = truth.overdue.set_index("procedure")
    checked = 0
    for p, unit in truth.overdue_units.items():
        if od.loc[p, "n_overdue_planted"] < 5:
            continue
        r = tm.overdue_attribution(log, procedure=p)
        assert r.by_unit.iloc[0]["unit"] == unit, (p, r.by_unit.head(3))
        checked += 1
    assert checked >= 6
    full = tm.overdue_attribution(log)
    pu = full.by_procedure_unit
    for p, unit in truth.overdue_units.items():
        if od.loc[p, "n_overdue_planted"] >= 5:
            assert pu[pu["procedure"] == p].iloc[0]["unit"] == unit
    # the truly overdue dossiers are the ones found overdue (same statutory clock)
    tc = truth.cases
    true_od = set(tc.loc[tc["overdue"], S.CASE])
    assert full.summary["n_overdue"] == len(true_od)
    assert set(full.by_case[S.CASE]) <= true_od
