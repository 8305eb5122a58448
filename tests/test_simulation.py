"""tm.simulation: the learned model, the engines, common random numbers, backtest and scores."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining import simulation as sim
from tthc_mining.cuts import (AddStaff, Bundle, MergeSteps, Parallelize, ReduceLoopRate,
                              RemoveHandover, RemoveLoop, RemoveStep, ShortenStep)
from tthc_mining.cuts.score import COLUMNS
from tthc_mining.errors import ConfigError
from tthc_mining.simulation import engine as E
from tthc_mining.simulation.model import calibrate_hidden, fifo_single_server

LAND = "1.004227"
APPRAISE = "Thẩm định hồ sơ"
QUEUE_UNIT = "Văn phòng Đăng ký đất đai tỉnh"


@pytest.fixture(scope="module")
def prov():
    return tm.synth.province(3000, seed=2)


@pytest.fixture(scope="module")
def model(prov):
    return sim.fit(prov.log)


# ----------------------------------------------------------------------------- kernels
def test_fifo_kernel_matches_a_loop():
    rng = np.random.default_rng(1)
    n = 3000
    g = np.sort(rng.integers(0, 7, n))
    a = np.empty(n)
    for k in range(7):  # sorted arrivals within each group
        m = g == k
        a[m] = np.sort(rng.random(m.sum()) * 1e5) + 1e9
    s = rng.exponential(100.0, n)
    st, en = fifo_single_server(g, a, s)
    ref_st = np.empty(n)
    free = {}
    for i in range(n):  # the textbook recursion
        f = free.get(g[i], -np.inf)
        ref_st[i] = max(a[i], f)
        free[g[i]] = ref_st[i] + s[i]
    np.testing.assert_allclose(st, ref_st, atol=1e-4)
    np.testing.assert_allclose(en - st, s, atol=1e-4)
    assert fifo_single_server(np.zeros(0, int), np.zeros(0), np.zeros(0))[0].size == 0


def test_kruskal_and_wasserstein_match_scipy():
    from scipy.stats import kruskal, wasserstein_distance
    from tthc_mining.simulation.backtest import wasserstein
    from tthc_mining.simulation.model import _kruskal_p
    rng = np.random.default_rng(0)
    v = np.round(rng.exponential(size=600), 1)
    g = rng.integers(0, 8, 600)
    v[g == 3] += 0.4
    assert _kruskal_p(v, g) == pytest.approx(kruskal(*[v[g == k] for k in range(8)]).pvalue, rel=1e-9)
    a, b = rng.normal(size=300), rng.exponential(size=500)
    assert wasserstein(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-9)


def test_calibration_recovers_hidden_work():
    """One officer, visible dossiers + unlogged work at a known rate: the calibrated rate gives
    the observed mean wait and is close to the rate used."""
    rng = np.random.default_rng(3)
    span = 2000 * 3600.0
    lam_vis, lam_hid = 0.3 / 3600, 0.08 / 3600
    pool = rng.lognormal(np.log(2 * 3600) - 0.32 / 2, np.sqrt(0.32), 5000)
    nv, nh = rng.poisson(lam_vis * span), rng.poisson(lam_hid * span)
    a = np.sort(rng.random(nv) * span)
    s = rng.choice(pool, nv)
    ha = np.sort(rng.random(nh) * span)
    hs = rng.choice(pool, nh)
    G = np.zeros(nv + nh, int)
    A = np.r_[a, ha]
    Sv = np.r_[s, hs]
    vis = np.r_[np.ones(nv, bool), np.zeros(nh, bool)]
    o = np.lexsort((~vis, A))
    st, _ = fifo_single_server(G, A[o], Sv[o])
    wait = (st - A[o])[vis[o]]
    lam, w0, wfit = calibrate_hidden(a, s, np.zeros(nv, int), 1, pool, float(wait.mean()), 0.0, span)
    assert w0 < wait.mean()
    assert wfit == pytest.approx(wait.mean(), rel=0.02)
    assert lam == pytest.approx(lam_hid, rel=0.45)


# ----------------------------------------------------------------------------- the model
def test_fit_finds_the_planted_queue_and_batches(model, prov):
    q = model.queues
    assert len(q) == 1
    r = q.iloc[0]
    assert (r["procedure"], r["activity"], r["unit"]) == (LAND, APPRAISE, QUEUE_UNIT)
    assert r["officers"] == 1 and 0.5 < r["utilisation"] < 0.9
    assert r["fitted_wait_h"] == pytest.approx(r["mean_wait_h"], rel=0.02)
    st = model.stations
    # bulk signing at fixed times (planted batching) depends on the time of day
    batch = st[(st["procedure"] == "2.001610") & (st["activity"] == "Phê duyệt") & ~st["repeat"]]
    assert batch["time_of_day"].all()
    plain = st[(st["procedure"] == "2.001417") & (st["activity"] == "Xác minh tại Công an tỉnh")]
    assert not plain["time_of_day"].any()
    # rework executions are stations of their own, keyed by what they follow
    rep = st[(st["procedure"] == LAND) & (st["activity"] == APPRAISE) & st["repeat"]]
    assert set(rep["after"]) >= {APPRAISE, "Nhận hồ sơ bổ sung"}
    assert model.n_dossiers == 3000 and "queues" in model.to_dict()
    assert "Văn phòng" in model._repr_html_() and "SimulationModel(" in repr(model)
    json.loads(model.to_json())
    assert sim.fit(prov.log) is model  # cached on the log


def test_trace_mode_reproduces_timing_and_replay(model):
    """Every dossier replaying its own visits gives tm.timing's agency time, and a cut then
    gives exactly the replay engine's saving (the engines share their definitions)."""
    from tthc_mining.cuts.replay import replay
    for pm in model.procs:
        out = E.run_passes(pm, E.trace_draws(pm), E.scenario(pm, model, None))
        np.testing.assert_allclose(out.agency, pm.agency_obs, atol=1e-6)
    for cut in (RemoveStep("Phân công thụ lý"), RemoveLoop("supplement"),
                ShortenStep(APPRAISE, factor=0.4), RemoveHandover("Sở Tư pháp", "Công an tỉnh"),
                Parallelize("Đăng ký thường trú", "Cấp thẻ BHYT"),
                MergeSteps("Phân công thụ lý", APPRAISE)):
        rp = replay(model.ctx, cut)
        for pm in model.procs:
            D = E.trace_draws(pm)
            b = E.run_passes(pm, D, E.scenario(pm, model, None))
            a = E.run_passes(pm, D, E.scenario(pm, model, cut))
            np.testing.assert_allclose(b.agency - a.agency, rp.saved_s[pm.case], atol=1e-6,
                                       err_msg=str(cut))


@pytest.mark.parametrize("cut", [None, AddStaff(step=APPRAISE), RemoveLoop("supplement"),
                                 ReduceLoopRate("supplement", 0.5), ShortenStep(APPRAISE, factor=0.5),
                                 Parallelize("Gửi thông tin địa chính sang cơ quan thuế",
                                             "Tính thuế, ra thông báo thuế"),
                                 RemoveStep("Phân công thụ lý")])
def test_vectorised_engine_equals_the_event_loop(model, cut):
    for pm in model.procs:
        if pm.code not in (LAND, "2.001610", "1.004399"):
            continue
        sc = E.scenario(pm, model, cut)
        a = E.run_passes(pm, E.make_draws(pm, 7, 2), sc)
        b = E.run_events(pm, E.make_draws(pm, 7, 2), sc)
        np.testing.assert_allclose(a.agency, b.agency, atol=1e-6)
        np.testing.assert_allclose(a.citizen, b.citizen, atol=1e-6)
        np.testing.assert_array_equal(a.visits, b.visits)
        if pm.code == LAND:
            assert a.passes == 2  # one queue on every route: exact after the second pass


# ----------------------------------------------------------------------------- CRN, identities
def test_empty_cut_changes_nothing_and_draws_are_common(model):
    run = model.simulate([Bundle([]), AddStaff(step="Phê duyệt")], replications=3, seed=4)
    assert run.agency.shape == (3, 3, 3000)
    np.testing.assert_array_equal(run.agency[1], run.agency[0])
    np.testing.assert_array_equal(run.agency[2], run.agency[0])  # no queue there: nothing moves
    assert "no officer queue" in " ".join(run.notes)
    again = model.simulate([], replications=3, seed=4)
    np.testing.assert_array_equal(again.agency[0], run.agency[0])
    other = model.simulate([], replications=3, seed=5)
    assert not np.array_equal(other.agency[0], run.agency[0])
    par = model.simulate([Bundle([])], replications=3, seed=4, n_jobs=2)
    np.testing.assert_array_equal(par.agency, run.agency[:2])
    ev = model.simulate([], replications=1, seed=4, engine="events")
    np.testing.assert_allclose(ev.agency[0, 0], run.agency[0, 0], atol=1e-6)


def test_queue_cuts_move_dossiers_they_do_not_touch(model):
    """Adding an officer shortens the waits of the whole queue; with a shorter service some
    dossiers may still be slower (others overtake them), the mean improves."""
    run = model.simulate([AddStaff(step=APPRAISE), AddStaff(step=APPRAISE, n=2),
                          ShortenStep(APPRAISE, factor=0.5)], replications=4, seed=1)
    land = run.procedure == LAND
    s1 = (run.agency[0] - run.agency[1])[:, land].mean()
    s2 = (run.agency[0] - run.agency[2])[:, land].mean()
    assert 0 < s1 < s2 < 2 * s1
    np.testing.assert_array_equal(run.agency[1][:, ~land], run.agency[0][:, ~land])
    moved = (run.agency[0] != run.agency[1])[:, land].mean()
    assert moved > 0.5  # most dossiers of the procedure gain, not only some
    s3 = (run.agency[0] - run.agency[3])[:, land].mean()
    assert s3 > 0


# ----------------------------------------------------------------------------- backtest
def test_backtest_reproduces_the_synthetic_province(model):
    """Acceptance: median agency days within 10 % and the on-time rate within 2 points."""
    bt = model.backtest(replications=10)
    assert bt.passed, bt.summary()
    a = bt.procedures.set_index("procedure").loc["(all)"]
    assert abs(a["median_sim"] - a["median_obs"]) <= 0.10 * a["median_obs"]
    assert abs(a["on_time_sim"] - a["on_time_obs"]) <= 0.02
    assert len(bt.procedures) == 9 and bt.steps["checked"].sum() > 20
    assert "PASSED" in bt.summary() and "ĐẠT" in bt.summary("vi")
    d = json.loads(bt.to_json())
    assert d["passed"] and d["tolerances"]["median_rel"] == 0.10
    assert "<table" in bt._repr_html_() and bt.to_frame() is bt.procedures


def test_backtest_fails_and_score_cuts_warns_when_the_model_is_wrong(monkeypatch):
    prov = tm.synth.province(1200, seed=8)
    bad = sim.fit(prov.log)
    for pm in bad.procs:  # a model whose durations are 60 % too long
        pm.w *= 1.6
        pm.p *= 1.6
    bt = bad.backtest(replications=3)
    assert not bt.passed and "FAILED" in bt.summary()
    df = sim.score(prov.log, [AddStaff(step=APPRAISE)], replications=3, model=bad)
    assert not df.iloc[0]["backtest_pass"] and "BACKTEST FAILED" in df.iloc[0]["notes"]
    import tthc_mining.simulation.scoring as score_mod
    monkeypatch.setattr(score_mod, "fit_model", lambda *a, **k: bad)
    with pytest.warns(RuntimeWarning, match="backtest FAILED"):
        tm.score_cuts(prov.log, [AddStaff(step=APPRAISE)], replications=3, n_boot=50)


# ----------------------------------------------------------------------------- scores
def test_score_columns_and_values(prov, model):
    cuts = [AddStaff(step=APPRAISE, unit=QUEUE_UNIT), AddStaff(step=APPRAISE, unit=QUEUE_UNIT, n=2),
            RemoveLoop("supplement"), Bundle([])]
    df = sim.score(prov.log, cuts, replications=8, seed=3)
    assert list(df.columns[:len(COLUMNS)]) == list(COLUMNS) and len(df) == 4
    assert (df["method"] == "simulate").all() and df["backtest_pass"].all()
    r1, r2, rl, r0 = (df.iloc[i] for i in range(4))
    assert 0 < r1["saved_mean_days"] < r2["saved_mean_days"]
    for r in (r1, r2, rl):
        assert r["saved_ci_low"] < r["saved_mean_days"] < r["saved_ci_high"]
        assert 0 <= r["on_time_after_low"] <= r["on_time_after"] <= r["on_time_after_high"] <= 1
        assert 0 < r["dossiers_affected"] <= r["n_dossiers"] == 3000
        assert r["replications"] == 8 and r["draws"] == 8
    assert r0["saved_mean_days"] == 0 and r0["saved_ci_low"] == 0 and r0["dossiers_affected"] == 0
    assert r0["on_time_after"] == r0["on_time_before"]
    # supplements removed: the citizen's time and visits go, the statutory arithmetic runs
    assert rl["visits_avoided_mean"] > 0 and rl["citizen_hours_saved_mean"] > 0
    assert rl["citizen_cost_saved_vnd_per_year"] > 0
    assert r1["dossier_days_saved_per_year"] == pytest.approx(r1["saved_mean_days"] * r1["annual_volume"])
    assert r1["agency_mean_before_days"] == pytest.approx(tm.timing(prov.log).cases["agency_days"].mean())
    assert "Thẩm định hồ sơ" in r1["queues"] and "PASSED" in r1["backtest"]
    assert isinstance(df.attrs["backtest"], sim.Backtest)


def test_score_cuts_auto_sends_queue_cuts_to_the_simulation(prov):
    df = tm.score_cuts(prov.log, [AddStaff(step=APPRAISE), RemoveStep("Phân công thụ lý"),
                                  ShortenStep("Ghi sổ hộ tịch, in Giấy khai sinh", factor=0.5)],
                       replications=4, n_boot=100, sort_by=None)
    # AddStaff changes a queue; removing the step just before the queue moves the queue's
    # arrivals (simulation.exposure); shortening a commune step far from any queue is replayed
    assert list(df["method"]) == ["simulate", "simulate", "replay"]
    assert "simulated" in df.iloc[1]["notes"] and bool(df.iloc[1]["queue_flag"])
    assert df.iloc[0]["saved_mean_days"] > 0 and bool(df.iloc[0]["backtest_pass"])
    one = tm.score_cuts(prov.log, [AddStaff(step=APPRAISE)], procedure=LAND, replications=4,
                        n_boot=100)
    assert one.iloc[0]["n_dossiers"] == (prov.truth.cases["procedure"] == LAND).sum()
    # the saving within the procedure is the province-wide saving concentrated on its dossiers
    share = one.iloc[0]["n_dossiers"] / 3000
    assert one.iloc[0]["saved_mean_days"] * share == pytest.approx(df.iloc[0]["saved_mean_days"], rel=0.35)


def test_log_without_start_times_has_no_queues():
    prov = tm.synth.province(800, seed=3)
    ev = prov.log.events.drop(columns=[S.START])
    log = tm.DossierLog(events=ev, calendar=prov.log.calendar, catalog=prov.log.catalog)
    m = sim.fit(log)
    assert len(m.queues) == 0 and any("no start times" in n for n in m.notes)
    df = sim.score(log, [AddStaff(step=APPRAISE), RemoveStep("Phân công thụ lý")], replications=3)
    assert df.iloc[0]["saved_mean_days"] == 0 and "no officer queue" in df.iloc[0]["notes"]
    assert df.iloc[1]["saved_mean_days"] > 0


def test_errors(prov, model):
    with pytest.raises(ConfigError, match="DossierLog"):
        sim.fit(prov.log.events)
    with pytest.raises(ConfigError, match="replications"):
        model.simulate([], replications=0)
    with pytest.raises(ConfigError, match="engine"):
        model.simulate([], replications=1, engine="simpy")
    with pytest.raises(ConfigError, match="unknown activity"):
        sim.score(prov.log, [RemoveStep("Không có bước này")], replications=2)
    with pytest.raises(ConfigError, match="cut objects"):
        sim.score(prov.log, ["RemoveStep"], replications=2)
    with pytest.raises(ConfigError, match="ci"):
        sim.score(prov.log, [Bundle([])], replications=2, ci=95)
    with pytest.raises(ConfigError, match="unknown procedure"):
        sim.fit(prov.log, procedure="0.000")


def test_queue_exposure(prov, model):
    """Cuts that reach the planted queue (at it, before it, or adding officers) are named; cuts
    after it or elsewhere are not."""
    q = f"{LAND} {APPRAISE} @ {QUEUE_UNIT}"
    for cut in (RemoveStep("Phân công thụ lý"), AddStaff(step=APPRAISE),
                ShortenStep(APPRAISE, factor=0.5), Bundle([RemoveStep("Kiểm tra thực địa"),
                                                           RemoveStep("Phân công thụ lý")])):
        assert sim.queue_exposure(prov.log, cut) == q, cut
    for cut in (RemoveStep("Kiểm tra thực địa"), RemoveLoop("supplement"), Bundle([]),
                RemoveStep("Văn thư phát hành"), AddStaff(step="Phê duyệt")):
        assert sim.queue_exposure(prov.log, cut) == "", cut


def test_exposure_names_queues_and_time_of_day_stations(prov):
    """Cuts whose changed visits come before a bulk signing reach a time-of-day station; a
    cut after it, or in a procedure without one, does not."""
    e = sim.exposure(prov.log, RemoveLoop("supplement"))
    assert "time of day: 2.001610 Phê duyệt" in e and "queue:" not in e
    e = sim.exposure(prov.log, RemoveStep("Phân công thụ lý"))
    assert f"queue: {LAND} {APPRAISE} @ {QUEUE_UNIT}" in e
    assert sim.exposure(prov.log, RemoveStep("Văn thư phát hành"), procedure="2.000815") == ""
    assert sim.exposure(prov.log, ShortenStep("Ghi sổ hộ tịch, in Giấy khai sinh", factor=0.5)) == ""


@pytest.mark.real
def test_real_log_without_procedures_or_start_times(real_dir):
    """A real help-desk log (no procedure column, no start times, no roles): the model fits,
    replaying every dossier's own visits gives tm.timing's agency time exactly, and the
    backtest reports a verdict with its reasons (it need not pass: the model is judged)."""
    log = tm.read_log(real_dir / "helpdesk.xes.gz")
    m = sim.fit(log)
    assert len(m.procs) == 1 and len(m.queues) == 0
    pm = m.procs[0]
    out = E.run_passes(pm, E.trace_draws(pm), E.scenario(pm, m, None))
    np.testing.assert_allclose(out.agency, pm.agency_obs, atol=1e-5)
    bt = m.backtest(replications=3)
    a = bt.procedures.set_index("procedure").loc["(all)"]
    assert a["n_dossiers"] == log.n_cases
    assert abs(a["median_sim"] - a["median_obs"]) < 0.25 * a["median_obs"]
    assert isinstance(bt.passed, bool) and bt.summary()
