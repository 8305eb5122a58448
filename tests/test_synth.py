"""The synthetic province (tm.synth): determinism, realism, working-time placement, and a truth
that agrees with what the events show (recomputed here independently from the log)."""
from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.errors import ConfigError, InputError
from tthc_mining.segments import OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD, segments
from tthc_mining.synth import (SAMPLE, QueueSpec, SynthTruth, World, build, catalog_frame,
                               default_params, province)

H = 3600.0
PROCEDURE_NAME = S.PROCEDURE_NAME
CODES = [p.code for p in default_params().procedures]
LAND = {"1.004227", "1.012756"}


@pytest.fixture(scope="module")
def year():
    """12 months, Tết included."""
    return province(3000, seed=3)


@pytest.fixture(scope="module")
def dense():
    """A busy month (≈140 dossiers per working day): batches and queues are visible."""
    return province(3000, seed=11, start="2025-03-01", months=1)


def _per_case(log):
    seg = segments(log)
    return seg, pd.Index(seg.case_ids)


def _truth_aligned(prov):
    seg, ids = _per_case(prov.log)
    t = prov.truth.cases.set_index(S.CASE).loc[ids.astype(str)]
    return seg, t


# ----------------------------------------------------------------------------- basics
def test_shape_and_canonical_columns(year):
    log, truth = year                       # unpacking works
    ev = log.events
    assert isinstance(log, tm.DossierLog) and log.n_cases == 3000 == len(truth.cases)
    for c in (S.CASE, S.ACTIVITY, S.START, S.TIMESTAMP, S.RESOURCE, S.GROUP, S.PROCEDURE,
              S.RECEIVED, S.DUE, S.CHANNEL, S.STATUS, S.DUE_BEFORE, S.DUE_AFTER, S.SUBMITTED,
              S.FINISHED_REPORTED, S.REASON, S.ROLE, S.ROW, S.OWNER_NAME, S.OWNER_ID,
              S.OWNER_PHONE, S.OWNER_EMAIL):
        assert c in ev.columns, c
    for c in (S.START, S.TIMESTAMP, S.RECEIVED, S.DUE, S.SUBMITTED):
        assert str(ev[c].dt.tz) == S.DEFAULT_TZ
    assert (ev[S.START] <= ev[S.TIMESTAMP]).all()
    # sorted by dossier then time, rows numbered
    case = ev[S.CASE].astype(str).to_numpy()
    assert (case[1:] >= case[:-1]).all()
    same = case[1:] == case[:-1]
    t = ev[S.TIMESTAMP].to_numpy()
    assert (t[1:][same] >= t[:-1][same]).all()
    assert (ev[S.ROW].to_numpy() == np.arange(1, len(ev) + 1)).all()
    # every dossier: receipt first, result last; roles assigned
    first = ev.groupby(S.CASE, observed=True)[S.ROLE].first()
    last = ev.groupby(S.CASE, observed=True)[S.ROLE].last()
    assert (first == S.ROLE_RECEIPT).all() and (last == S.ROLE_RESULT).all()
    assert set(ev[S.PROCEDURE].unique()) == set(CODES)
    assert log.quality.rows_read == len(ev) and log.quality.rows_dropped == 0
    # text is NFC
    for c in (S.ACTIVITY, S.GROUP, S.RESOURCE, PROCEDURE_NAME, S.REASON, S.OWNER_NAME):
        cats = ev[c].cat.categories
        assert all(unicodedata.normalize("NFC", v) == v for v in cats), c
    # every event is integral seconds (exports and re-reads are exact)
    for c in (S.START, S.TIMESTAMP):
        assert (ev[c].dt.as_unit("ns").astype("int64") % 1_000_000_000 == 0).all()


def test_catalogue(year):
    cat = year.catalog
    assert isinstance(cat, tm.ProcedureCatalog)
    assert set(cat.codes) == set(CODES) and not cat.warnings
    f = catalog_frame(year.params)
    assert list(f.columns) == ["code", "name", "level", "deadline_days", "deadline_unit",
                               "step_order", "activity", "unit", "allotment_days"]
    sums = f.groupby("code")["allotment_days"].sum()
    dl = f.groupby("code")["deadline_days"].first()
    multi = dl > 0
    assert np.allclose(sums[multi], dl[multi])
    assert np.allclose(sums[~multi], 1.0)  # same day: fractions of the working day
    # Trả kết quả is not counted
    assert f.loc[f["activity"] == "Trả kết quả", "allotment_days"].isna().all()
    assert cat.deadline("2.001417")[1] == "calendar" and cat.deadline("1.004227") == (8.0, "working")


def test_determinism_by_seed():
    a = province(800, seed=5, start="2025-05-01", months=2)
    b = province(800, seed=5, start="2025-05-01", months=2)
    c = province(800, seed=6, start="2025-05-01", months=2)
    pd.testing.assert_frame_equal(a.log.events, b.log.events)
    pd.testing.assert_frame_equal(a.truth.cases, b.truth.cases)
    pd.testing.assert_frame_equal(a.truth.bottlenecks, b.truth.bottlenecks)
    assert a.truth.to_json() == b.truth.to_json()
    assert not a.log.events[S.TIMESTAMP].equals(c.log.events[S.TIMESTAMP])


def test_personal_data(year):
    c = year.log.cases
    ev = year.log.events
    per = ev.groupby(S.CASE, observed=True)[[S.OWNER_NAME, S.OWNER_ID, S.OWNER_PHONE]].nunique()
    assert (per == 1).all().all()  # one applicant per dossier
    ids = ev[S.OWNER_ID].astype(str)
    assert ids.str.fullmatch(r"\d{12}").all()
    assert ids.str.slice(0, 3).astype(int).between(1, 96).all()
    assert ev[S.OWNER_PHONE].astype(str).str.fullmatch(r"0[35789]\d{8}").all()
    names = ev[S.OWNER_NAME].astype(str).unique()
    assert all(len(n.split()) >= 3 and unicodedata.normalize("NFC", n) == n for n in names)
    mail = ev[S.OWNER_EMAIL].dropna().astype(str)
    assert 0.15 < ev.drop_duplicates(S.CASE)[S.OWNER_EMAIL].notna().mean() < 0.45
    assert mail.str.fullmatch(r"[a-z]+\d+@[a-z]+\.com").all()
    # officers are named people, unique per unit assignment
    off = ev.drop_duplicates(S.RESOURCE)[S.RESOURCE].astype(str)
    assert off.str.split().str.len().min() >= 3
    assert (ev.groupby(S.RESOURCE, observed=True)[S.GROUP].nunique() == 1).all()
    assert len(c) == 3000


# ----------------------------------------------------------------------------- calendar
def test_events_inside_office_hours_and_working_days(year):
    cal = year.log.calendar
    ev = year.log.events
    for col in (S.START, S.TIMESTAMP):
        assert cal.is_working_time(ev[col]).all(), col
    days = ev[S.TIMESTAMP].dt.tz_localize(None).dt.normalize()
    assert not (days.dt.day_of_week == 6).any()                      # no Sundays
    tet = pd.date_range("2025-01-27", "2025-01-31")
    assert not days.isin(tet).any()                                # nothing during Tết 2025
    sat = days[days.dt.day_of_week == 5].unique()
    assert all(cal.is_working_day(d) for d in sat)                 # only make-up Saturdays


def test_makeup_saturday_is_used():
    prov = province(1500, seed=1, start="2025-04-21", months=1)
    days = prov.log.events[S.TIMESTAMP].dt.tz_localize(None).dt.normalize()
    assert (days == pd.Timestamp("2025-04-26")).any()              # decreed make-up Saturday
    assert not (days == pd.Timestamp("2025-05-02")).any()          # its swapped day off


# ----------------------------------------------------------------------------- realism
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_realism(seed):
    t = province(3000, seed=seed).truth.cases
    assert 1 - t["overdue"].mean() >= 0.98                         # on time overall
    assert t["overdue_reported"].mean() <= t["overdue"].mean()     # reports look better
    land = t[t["procedure"].isin(LAND)]["overdue"].mean()
    other = t[~t["procedure"].isin(LAND)]["overdue"].mean()
    assert land > 2 * other and 0.02 < land < 0.12                 # overdue concentrates in land
    same_day = t["procedure"].isin(["2.000815", "1.001193"]).mean()
    assert same_day > 0.5                                          # commune same-day dominates
    multi = t[~t["procedure"].isin(["2.000815", "1.001193"])]
    assert ((multi["statutory_due"] - multi["finished"]).dt.days >= 1).mean() > 0.6  # most early


# ----------------------------------------------------------------------------- truth vs events
def test_times_agency_citizen_third_party(year):
    seg, t = _truth_aligned(year)
    ev = year.log.events
    fin = year.log.working(S.FINISHED_REPORTED)
    upto = ~seg.is_first & (seg.w_end <= fin + 1e-6)
    def by_owner(o):
        return np.bincount(seg.case, weights=np.where(upto & (seg.owner == o), seg.seg_s, 0.0),
                           minlength=seg.n_cases)
    np.testing.assert_allclose(by_owner(OWNER_AGENCY), t["agency_working_s"], atol=1e-6)
    np.testing.assert_allclose(by_owner(OWNER_CITIZEN), t["citizen_working_s"], atol=1e-6)
    np.testing.assert_allclose(by_owner(OWNER_THIRD), t["third_party_working_s"], atol=1e-6)
    cal = year.log.calendar
    recv = cal.to_working(t["received"]); done = cal.to_working(t["finished"])
    np.testing.assert_allclose(done - recv, t["agency_working_s"] + t["citizen_working_s"]
                               + t["third_party_working_s"], atol=1e-6)
    # finished = end of the last event before Trả kết quả; received = end of the receipt
    res = (ev[S.ROLE] == S.ROLE_RESULT).to_numpy()
    last_before = pd.Series(np.where(res, -np.inf, seg.w_end)).groupby(seg.case).max().to_numpy()
    np.testing.assert_allclose(last_before, done)
    pick = cal.to_working(t["returned"]) - done
    np.testing.assert_allclose(pick, t["pickup_working_s"], atol=1e-6)


def test_loop_counts_match_events(year):
    seg, t = _truth_aligned(year)
    ev = year.log.events
    role = ev[S.ROLE].astype(str).to_numpy()
    act = seg.activity
    n = seg.n_cases
    cnt = lambda m: np.bincount(seg.case, weights=m.astype(float), minlength=n)  # noqa: E731
    assert (cnt(role == S.ROLE_SUPPLEMENT_REQUEST) == t["n_supplement"]).all()
    assert (cnt(role == S.ROLE_SUPPLEMENT_RECEIVED) == t["n_supplement"]).all()
    assert ((t["n_supplement"] >= 2) == t["double_request"]).all()
    # redo: a step right after itself by the same officer; repeat: by another officer
    res, _ = year.log.codes(S.RESOURCE)
    again = ~seg.is_first & (act == seg.prev_activity)
    same_off = np.r_[False, res[1:] == res[:-1]]
    assert (cnt(again & same_off) == t["n_redo"]).all()
    assert (cnt(again & ~same_off) == t["n_repeat"]).all()
    # ping-pong: "Trả lại hồ sơ" by unit Y between two events of unit X
    back = ev[S.ACTIVITY].astype(str).to_numpy() == "Trả lại hồ sơ"
    assert (cnt(back) == t["n_pingpong"]).all()
    g, _ = year.log.codes(S.GROUP)
    i = np.flatnonzero(back)
    assert (g[i - 1] == g[i + 1]).all() and (g[i] != g[i - 1]).all()
    assert (t["n_loops"] == t[["n_supplement", "n_redo", "n_repeat", "n_pingpong"]].sum(axis=1)).all()
    # every planted kind occurs
    for c in ("n_supplement", "n_redo", "n_repeat", "n_pingpong"):
        assert t[c].sum() > 0, c
    for c in ("double_request", "late_request", "due_moved", "clock_restarted",
              "desk_entered_online", "suspended", "overdue"):
        assert t[c].any(), c


def test_rework_time(year):
    seg, t = _truth_aligned(year)
    ev = year.log.events
    act = seg.activity
    # occurrence number of each activity within the dossier
    occ = pd.DataFrame({"c": seg.case, "a": act}).groupby(["c", "a"]).cumcount().to_numpy()
    name = ev[S.ACTIVITY].astype(str).to_numpy()
    role = ev[S.ROLE].astype(str).to_numpy()
    rework = (occ > 0) | (role == S.ROLE_SUPPLEMENT_REQUEST) | (name == "Trả lại hồ sơ")
    rework &= (seg.owner == OWNER_AGENCY) & ~seg.is_first & (role != S.ROLE_RESULT)
    rework &= role != S.ROLE_REAPPOINTED
    got = np.bincount(seg.case, weights=np.where(rework, seg.seg_s, 0.0), minlength=seg.n_cases)
    np.testing.assert_allclose(got, t["rework_agency_working_s"], atol=1e-6)
    np.testing.assert_allclose(t["rework_citizen_working_s"], t["citizen_working_s"])


def _budget(prov, t):
    """Statutory base due and clock start recomputed from the catalogue (not the generator)."""
    cal = prov.log.calendar
    cat = prov.catalog
    due = np.full(len(t), np.nan)
    start = np.full(len(t), np.nan)
    recv = t["received"]
    for code in CODES:
        m = (t["procedure"] == code).to_numpy()
        days, unit = cat.deadline(code)
        r = pd.DatetimeIndex(recv[m])
        if days == 0:
            d = cal.end_of_working_day(r, cutoff="15:00")
        elif unit == "working":
            d = cal.add_working_days(r, days, cutoff="15:00")
        else:
            d = cal.add_calendar_days(r, int(days))
        due[m] = cal.to_working(d)
        start[m] = cal.to_working(r) if (unit == "calendar" and days > 0) else \
            cal.to_working(cal.add_working_days(r, 0, cutoff="15:00"))
    return due, start


def test_deadlines_overdue_and_reported_due(year):
    seg, t = _truth_aligned(year)
    cal = year.log.calendar
    base_due, start = _budget(year, t)
    np.testing.assert_allclose(cal.to_working(t["base_due"]), base_due)
    np.testing.assert_allclose(t["budget_working_s"], base_due - start)
    stat = base_due + t["citizen_working_s"] + t["third_party_working_s"]
    np.testing.assert_allclose(cal.to_working(t["statutory_due"]), stat)
    done = cal.to_working(t["finished"])
    assert ((done > stat) == t["overdue"]).all()
    # the exported due is the reported due; overdue_reported compares with it
    ev = year.log.events
    due_exp = ev.groupby(S.CASE, observed=True)[S.DUE].first().loc[t.index]
    assert (due_exp.to_numpy() == t["reported_due"].to_numpy()).all()
    assert ((done > cal.to_working(t["reported_due"])) == t["overdue_reported"]).all()
    assert ((ev[S.FINISHED_REPORTED].to_numpy().reshape(-1)[seg.case_start[:-1]])
            == t["finished"].to_numpy()).all()
    # clock restart: due recomputed from the last resubmission with the full deadline
    recv_sup = (ev[S.ROLE] == S.ROLE_SUPPLEMENT_RECEIVED).to_numpy()
    last_sup = pd.Series(np.where(recv_sup, seg.w_end, np.nan)).groupby(seg.case).max().to_numpy()
    r = (t["clock_restarted"] & ~t["due_moved"]).to_numpy()
    assert r.sum() > 5
    restart_procs = {p.code for p in year.params.procedures if p.restart_on_supplement}
    assert set(t.loc[t["clock_restarted"], "procedure"]) <= restart_procs
    cat = year.catalog
    for code in restart_procs:
        m = r & (t["procedure"] == code).to_numpy()
        days, _ = cat.deadline(code)
        ts = cal.from_working(last_sup[m])
        if cat.deadline(code)[1] == "working":
            d = cal.to_working(cal.add_working_days(ts, days, cutoff="15:00"))
        else:
            d = cal.to_working(cal.add_calendar_days(ts, int(days)))
        np.testing.assert_allclose(d + t["third_party_working_s"].to_numpy()[m],
                                   cal.to_working(t["reported_due"][m]))
    # re-appointments: apology event, due before/after columns, at most once, new due later
    apo = (ev[S.ROLE] == S.ROLE_REAPPOINTED).to_numpy()
    assert (np.bincount(seg.case, weights=apo.astype(float), minlength=seg.n_cases)
            == t["due_moved"].astype(int)).all()
    mv = t[t["due_moved"]]
    assert (mv["due_after"] > mv["due_before"]).all() and mv["due_before"].notna().all()
    assert (mv["reported_due"] == mv["due_after"]).all()
    assert t.loc[~t["due_moved"], "due_after"].isna().all()
    # the apology is issued at least one working day before the due it replaces when possible
    i = np.flatnonzero(apo)
    w_apo = seg.w_end[i]
    due_b = cal.to_working(t["due_before"].to_numpy()[seg.case[i]])
    assert np.mean(w_apo <= due_b - cal.seconds_per_day) > 0.8
    assert np.all(seg.wait_s[i] == 0) and np.all(seg.proc_s[i] == 0)  # splits no waiting time


def test_late_request_recomputed_from_log(year):
    seg, t = _truth_aligned(year)
    ev = year.log.events
    base_due, start = _budget(year, t)
    req = (ev[S.ROLE] == S.ROLE_SUPPLEMENT_REQUEST).to_numpy()
    # paused time before each request = citizen segments that ended earlier in the dossier
    cit = np.where(seg.owner == OWNER_CITIZEN, np.nan_to_num(seg.seg_s), 0.0)
    cum = pd.Series(cit).groupby(seg.case).cumsum().to_numpy()
    budget = (base_due - start)[seg.case]
    frac = (seg.w_end - start[seg.case] - cum) / budget
    late = np.zeros(seg.n_cases, bool)
    np.logical_or.at(late, seg.case[req], frac[req] >= 0.8)
    truth = t["late_request"].to_numpy()
    assert truth.sum() >= 3
    assert (late == truth).all()                          # precision and recall 1
    first = pd.Series(np.where(req, frac, np.nan)).groupby(seg.case).first().to_numpy()
    np.testing.assert_allclose(first, t["request_frac"], atol=1e-9)
    # planted late requests are the late ones (a few natural ones may add)
    planted = t["late_request_planted"].to_numpy()
    assert planted.sum() > 0 and (late[planted]).all()
    assert late.sum() - planted.sum() <= max(2, 0.2 * planted.sum())


def test_desk_entered_online_detectable(year):
    seg, t = _truth_aligned(year)
    ev = year.log.events
    first = seg.case_start[:-1]
    start = ev[S.START].to_numpy()[first]
    sub = ev[S.SUBMITTED].to_numpy()[first]
    online = (ev[S.CHANNEL].astype(str).to_numpy()[first] == S.CHANNEL_ONLINE)
    gap = np.where(online, (start - sub) / np.timedelta64(1, "s"), np.inf)
    found = online & (gap >= 0) & (gap <= 600)
    truth = t["desk_entered_online"].to_numpy()
    assert truth.sum() >= 3 and (found == truth).all()
    assert pd.isna(sub[~online]).all() and not pd.isna(sub[online]).any()
    assert (gap[online & ~truth] >= 900).all()  # genuine online dossiers wait ≥ 15 minutes


def test_bottleneck_truth_matches_events_and_ranks_first(dense):
    seg, t = _truth_aligned(dense)
    ev = dense.log.events
    proc = ev[S.PROCEDURE].astype(str).to_numpy()
    role = ev[S.ROLE].astype(str).to_numpy()
    ok = ~seg.is_first & (seg.owner == OWNER_AGENCY) & (role != S.ROLE_RESULT)
    f = pd.DataFrame({"p": proc[ok], "a": ev[S.ACTIVITY].astype(str).to_numpy()[ok],
                      "w": seg.wait_s[ok] / H})
    tot = f.groupby(["p", "a"])["w"].agg(["sum", "mean", "size"])
    b = dense.truth.bottlenecks.set_index("procedure")
    for code in CODES:
        top = tot.loc[code]["sum"].sort_values(ascending=False)
        assert top.index[0] == b.loc[code, "activity"], code
        assert top.iloc[0] > 1.25 * top.iloc[1], code
        assert b.loc[code, "rank_total_wait"] == 1
        np.testing.assert_allclose(tot.loc[(code, b.loc[code, "activity"]), "mean"],
                                   b.loc[code, "true_wait_mean_h"], rtol=1e-9)
        assert tot.loc[(code, b.loc[code, "activity"]), "size"] == b.loc[code, "n_executions"]
    assert set(b["kind"]) == {"queue", "slow_work", "handover", "batching"}


@pytest.mark.parametrize("seed", [4, 8])
def test_planted_bottleneck_ranks_first_several_seeds(seed):
    b = province(3000, seed=seed).truth.bottlenecks
    assert (b["rank_total_wait"] == 1).all()
    assert (b["true_wait_total_h"] > 1.25 * b["runner_up_total_wait_h"]).all()


def test_bottleneck_kind_signatures(dense):
    """Each planted kind shows its own signature in the events (what issue 3 detects)."""
    from scipy.stats import spearmanr
    seg, _ = _truth_aligned(dense)
    ev = dense.log.events
    b = dense.truth.bottlenecks.set_index("procedure")
    proc = ev[S.PROCEDURE].astype(str).to_numpy()
    act = ev[S.ACTIVITY].astype(str).to_numpy()
    for code, row in b.iterrows():
        m = (proc == code) & (act == row["activity"]) & ~seg.is_first
        wait, prc = seg.wait_s[m], seg.proc_s[m]
        proc_share = prc.sum() / (wait.sum() + prc.sum())
        hand_share = wait[seg.handover[m]].sum() / wait.sum()
        if row["kind"] == "slow_work":
            assert proc_share > 0.6, code
        else:
            assert proc_share < 0.5, code
        if row["kind"] == "handover":
            assert hand_share > 0.9, code
        elif row["kind"] in ("queue", "batching"):
            assert hand_share < 0.2, code
        if row["kind"] == "queue":
            arr, st = seg.w_prev_end[m], seg.w_start[m]
            wip = np.searchsorted(np.sort(arr), arr, "left") - np.searchsorted(np.sort(st), arr, "right")
            rho, p = spearmanr(wip, wait)
            assert rho > 0.3 and p < 0.01, (code, rho)
        if row["kind"] == "batching":
            minute = ev[S.TIMESTAMP][m].dt.floor("min")
            share = (minute.map(minute.value_counts()) >= 3).mean()
            assert share > 0.5, (code, share)
        else:
            minute = ev[S.TIMESTAMP][m].dt.floor("min")
            assert (minute.map(minute.value_counts()) >= 3).mean() < 0.1, code


def test_iid_wait_matches_model():
    b = province(20000, seed=2).truth.bottlenecks.set_index("procedure")
    for code in ("1.004399", "2.001417", "1.009994", "1.012756", "1.001193"):
        assert abs(b.loc[code, "true_wait_mean_h"] / b.loc[code, "model_wait_mean_h"] - 1) < 0.12


@pytest.mark.parametrize("seed", [0, 1])
def test_overdue_attribution_names_planted_unit(seed):
    prov = province(20000, seed=seed)
    o = prov.truth.overdue.set_index("procedure")
    t = prov.truth.cases
    for code in CODES:
        sub = t[(t["procedure"] == code) & t["overdue"]]
        counts = sub["overdue_cause_unit"].value_counts()
        assert counts.index[0] == prov.truth.overdue_units[code] == o.loc[code, "unit"], code
        assert o.loc[code, "n_caused_by_unit"] == counts.iloc[0]
    # a planted delay really exceeds the step's allotment
    planted = t[t["overdue_planted"]]
    assert len(planted) > 50 and planted["overdue"].mean() > 0.6


def test_loop_rates_match_parameters():
    prov = province(20000, seed=7)
    lr = prov.truth.loop_rates.set_index("procedure")
    for code, r in lr.iterrows():
        n = r["n_dossiers"]
        for p_col, rate_col in (("p_supplement", "supplement_rate"), ("p_redo", "redo_rate"),
                                ("p_repeat", "repeat_rate"), ("p_pingpong", "pingpong_rate")):
            p = r[p_col]
            sd = np.sqrt(max(p * (1 - p), 1e-12) / n)
            assert abs(r[rate_col] - p) <= 4.5 * sd + 1e-9, (code, rate_col)
        ps = r["p_supplement"]
        assert abs(r["double_request_rate"] - ps * r["p_double_given_supplement"]) \
            <= 4.5 * np.sqrt(ps * r["p_double_given_supplement"] / n) + 1e-9
    assert (lr["loops_per_dossier"] >= lr["loop_rate"]).all()


# ----------------------------------------------------------------------------- common random numbers
def test_world_common_random_numbers():
    params = default_params()
    world = World(params, seed=9, n_dossiers=2500, start="2025-03-01", months=1)
    base = world.simulate()
    again = world.simulate()
    for k in base.events:
        np.testing.assert_array_equal(base.events[k], again.events[k])
    # add an officer to every pool of the planted queue: same arrivals, shorter waits
    code = "1.004227"
    more = params.with_step(code, "Thẩm định hồ sơ", queue=QueueSpec(servers=2, utilisation=0.75))
    alt = world.simulate(more)
    np.testing.assert_array_equal(base.cases["received_w"], alt.cases["received_w"])
    pb, pa = build(base), build(alt)
    wb = pb.truth.bottlenecks.set_index("procedure").loc[code, "true_wait_mean_h"]
    wa = pa.truth.bottlenecks.set_index("procedure").loc[code, "true_wait_mean_h"]
    assert wa < 0.6 * wb
    other = pb.truth.cases["procedure"] != code
    pd.testing.assert_frame_equal(pb.truth.cases[other].reset_index(drop=True),
                                  pa.truth.cases[other].reset_index(drop=True))
    # remove the ping-pong of a procedure without queues: untouched dossiers are identical
    code = "1.004399"
    nopp = params.with_procedure(code, p_pingpong=0.0)
    pn = build(world.simulate(nopp))
    tb, tn = pb.truth.cases, pn.truth.cases
    m = (tb["procedure"] == code) & (tb["n_pingpong"] == 0)
    pd.testing.assert_frame_equal(tb[m].reset_index(drop=True), tn[m].reset_index(drop=True))
    hit = (tb["procedure"] == code) & (tb["n_pingpong"] > 0)
    assert hit.any() and (tn.loc[hit, "n_pingpong"] == 0).all()
    assert (tn.loc[hit, "agency_working_s"] < tb.loc[hit, "agency_working_s"]).all()
    # parameters must describe the same world
    with pytest.raises(ConfigError):
        world.simulate(dataclasses.replace(params, procedures=params.procedures[:3]))


def test_parameter_changes_are_pure_functions_of_the_draws():
    """The structure issue 5's cuts need: a changed parameter re-simulates the same dossiers
    with the same random numbers, so effects are exact dossier by dossier."""
    from tthc_mining.synth import Dist
    params = default_params()
    world = World(params, seed=21, n_dossiers=4000)
    base = build(world.simulate())
    tb = base.truth.cases
    L = world.L
    seg = segments(base.log)
    ev = base.log.events
    # remove a step (GPXD site inspection): every later event of the dossier moves earlier by
    # exactly the time the step held the dossier
    code, act = "1.009994", "Kiểm tra thực địa"
    cut = build(world.simulate(params.with_step(code, act, p_active=0.0)))
    tc = cut.truth.cases
    m = (ev[S.PROCEDURE] == code).to_numpy() & (ev[S.ACTIVITY] == act).to_numpy()
    held = pd.Series(seg.seg_s[m], index=pd.Index(seg.case_ids)[seg.case[m]].astype(str))
    sel = (tb["procedure"] == code).to_numpy()
    ids = tb.loc[sel, S.CASE]
    saved = (tb.loc[sel, "agency_working_s"] - tc.loc[sel, "agency_working_s"]).to_numpy()
    np.testing.assert_allclose(saved, held.loc[ids].to_numpy(), atol=1e-6)
    assert not (cut.log.events[S.ACTIVITY] == act).any()
    assert tc.loc[sel, "overdue"].sum() <= tb.loc[sel, "overdue"].sum()
    pd.testing.assert_frame_equal(tb[~sel].reset_index(drop=True), tc[~sel].reset_index(drop=True))
    # shorten a step: every processing time of that step halves (to the second)
    code, act = "1.001193", "Ghi sổ hộ tịch, in Giấy khai sinh"
    step = params.procedure(code).step(act)
    short = build(world.simulate(params.with_step(code, act, proc=Dist(step.proc.mean_h / 2,
                                                                          step.proc.cv))))
    def proc_of(prov):
        e = prov.log.events
        k = (e[S.PROCEDURE] == code) & (e[S.ACTIVITY] == act)
        w = prov.log.working(S.TIMESTAMP) - prov.log.working(S.START)
        return w[k.to_numpy()]
    a, b = proc_of(base), proc_of(short)
    assert len(a) == len(b) and np.all(np.abs(b - np.maximum(a / 2, 30)) <= 1.0)
    # remove a loop: the supplement loop of GPXD; dossiers without one are untouched
    code = "1.009994"
    noloop = build(world.simulate(params.with_procedure(code, p_supplement=0.0)))
    tn = noloop.truth.cases
    sel = (tb["procedure"] == code).to_numpy()
    had = sel & (tb["n_supplement"] > 0).to_numpy()
    assert had.any() and (tn.loc[sel, "n_supplement"] == 0).all()
    pd.testing.assert_frame_equal(tb[sel & ~had].reset_index(drop=True),
                                  tn[sel & ~had].reset_index(drop=True))
    assert (tn.loc[had, "rework_agency_working_s"] < tb.loc[had, "rework_agency_working_s"]).all()
    assert (tn.loc[had, "citizen_working_s"] == 0).all()
    # remove a hand-over: the police registration done by the commune's own staff
    code, act = "1.004399", "Đăng ký thường trú"
    moved = build(world.simulate(params.with_step(code, act, unit="UBND {xa}",
                                                  wait=Dist(0.5))))
    e = moved.log.events
    k = ((e[S.PROCEDURE] == code) & (e[S.ACTIVITY] == act)).to_numpy()
    assert e.loc[k, S.GROUP].astype(str).str.startswith("UBND ").all()
    assert e.loc[k, S.RESOURCE].notna().all()
    tm_ = moved.truth.cases
    sel = (tb["procedure"] == code).to_numpy()
    assert tm_.loc[sel, "agency_working_s"].mean() < tb.loc[sel, "agency_working_s"].mean() - 2 * H
    assert tm_.loc[sel, "overdue"].sum() <= tb.loc[sel, "overdue"].sum()


# ----------------------------------------------------------------------------- export, truth file, CLI
def test_onestop_roundtrip(tmp_path, dense):
    path = dense.to_onestop(tmp_path / "p.csv")
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    for h in ("Mã hồ sơ", "Mã TTHC", "Tên thủ tục", "Bước xử lý", "Thời điểm bắt đầu",
              "Thời điểm kết thúc", "Cán bộ xử lý", "Đơn vị xử lý", "Ngày tiếp nhận",
              "Ngày hẹn trả", "Kênh nộp", "Trạng thái", "Ngày hẹn trả trước", "Ngày hẹn trả mới",
              "Ngày nộp hồ sơ", "Lý do", "Chủ hồ sơ", "Số CCCD", "Số điện thoại"):
        assert h in header, h
    text = path.read_text(encoding="utf-8-sig")
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", text)
    back = tm.read_log(path)
    o = dense.log.events
    assert back.n_events == len(o) and back.quality.rows_dropped == 0
    for c in (S.TIMESTAMP, S.START, S.RECEIVED, S.DUE, S.DUE_BEFORE, S.DUE_AFTER, S.SUBMITTED):
        a, b = back.events[c], o[c]
        assert ((a == b) | (a.isna() & b.isna())).all(), c
    assert (back.events[S.CASE].astype(str).to_numpy() == o[S.CASE].astype(str).to_numpy()).all()
    assert (back.events[S.ACTIVITY].astype(str).to_numpy() == o[S.ACTIVITY].astype(str).to_numpy()).all()
    assert (back.events["Số CCCD"].astype(str).to_numpy() == o[S.OWNER_ID].astype(str).to_numpy()).all()


def test_truth_save_load(tmp_path, year):
    p = year.truth.save(tmp_path / "t.json")
    t2 = SynthTruth.load(p)
    a, b = year.truth.cases, t2.cases
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in ("received", "finished", "statutory_due", "reported_due", "due_after", "submitted"):
        assert ((a[c] == b[c]) | (a[c].isna() & b[c].isna())).all(), c
    for c in ("overdue", "late_request", "n_supplement", "overdue_cause_unit"):
        assert (a[c].fillna("∅").astype(str) == b[c].fillna("∅").astype(str)).all(), c
    np.testing.assert_allclose(a["agency_working_s"], b["agency_working_s"], atol=1e-3)
    assert t2.overdue_units == year.truth.overdue_units
    assert t2.meta["seed"] == 3 and "procedures" in t2.params
    assert "<table" in year.truth._repr_html_()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(InputError):
        SynthTruth.load(bad)
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError):
        SynthTruth.load(bad)


def test_cli_synth(tmp_path):
    from tthc_mining.synth import cli_synth
    out = cli_synth(300, 4, tmp_path / "x.csv", truth_path=tmp_path / "t.json",
                    catalog_path=tmp_path / "c.csv", start="2025-06-01", months=1)
    assert out["dossiers"] == 300 and Path(out["written"]["log"]).exists()
    assert SynthTruth.load(out["written"]["truth"]).meta["n_dossiers"] == 300
    assert tm.ProcedureCatalog.load(out["written"]["catalog"]).codes
    assert tm.read_log(out["written"]["log"]).n_cases == 300
    with pytest.raises(ConfigError):
        cli_synth(10, 0, tmp_path / "x.txt", fmt="txt")


def test_bad_arguments():
    with pytest.raises(ConfigError):
        province(0)
    with pytest.raises(ConfigError):
        province(10, months=0)
    with pytest.raises(ConfigError):
        province(10, not_a_parameter=1)
    with pytest.raises(ConfigError):
        province(10, procedures=["9.999999"])
    with pytest.raises(ConfigError):
        default_params().with_step("1.004227", "No such step", proc=None)
    only = province(200, seed=1, procedures=["2.000815", "1.004227"])
    assert set(only.truth.cases["procedure"]) == {"2.000815", "1.004227"}


# ----------------------------------------------------------------------------- bundled sample
def test_bundled_sample_is_reproducible(tmp_path, datasets_dir):
    from tthc_mining.synth import write_sample
    shipped = datasets_dir / "sample_province.csv"
    if not shipped.exists():
        pytest.skip("datasets/sample_province.csv not generated yet")
    out = write_sample(tmp_path, xlsx=False)
    for name in ("sample_province.csv", "sample_truth.json", "sample_catalog.csv"):
        assert (tmp_path / name).read_bytes() == (datasets_dir / name).read_bytes(), name
    assert shipped.stat().st_size < 5.5e6
    log = tm.read_log(shipped, catalog=tm.ProcedureCatalog.load(datasets_dir / "sample_catalog.csv"))
    truth = SynthTruth.load(datasets_dir / "sample_truth.json")
    assert log.n_cases == SAMPLE["n_dossiers"] == len(truth.cases)
    assert set(log.events[S.CASE].astype(str)) == set(truth.cases[S.CASE])
    x = datasets_dir / "sample_province.xlsx"
    if x.exists():
        assert tm.read_log(x).n_events == log.n_events
    assert out["log"].exists()
