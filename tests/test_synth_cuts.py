"""tm.synth.true_effect: cuts applied to the synthetic world itself, re-simulated with common
random numbers. Each cut's effect is checked against what the world's events show (recomputed
here from the logs, independently of the truth code) and against the replay engine where the
replay is exact (no queue on the path)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.cuts import (AddStaff, Bundle, MergeSteps, Parallelize, ReduceLoopRate,
                              RemoveHandover, RemoveLoop, RemoveStep, ShortenStep)
from tthc_mining.errors import ConfigError
from tthc_mining.segments import segments
from tthc_mining.synth import Changes, World, build, default_params, true_effect, world_changes

H = 3600.0
LAND = "1.004227"
QUEUE_UNIT = "Văn phòng Đăng ký đất đai tỉnh"
APPRAISE = "Thẩm định hồ sơ"


@pytest.fixture(scope="module")
def prov():
    return tm.synth.province(2500, seed=5)


def _log_of(world, params, changes):
    return build(world.simulate(params, changes=changes)).log


def _step_rows(log, code, act):
    ev = log.events
    return ((ev[S.PROCEDURE] == code) & (ev[S.ACTIVITY] == act)).to_numpy()


def prev_act(log):
    a = log.events[S.ACTIVITY].astype(str).to_numpy()
    return np.r_[[""], a[:-1]]


def after_supplement(log):
    return prev_act(log) == "Nhận hồ sơ bổ sung"


def test_empty_changes_leave_the_world_unchanged(prov):
    W = prov.world
    a = W.simulate()
    b = W.simulate(W.params, changes=Changes())
    for k in a.events:
        np.testing.assert_array_equal(a.events[k], b.events[k])
    for k in a.cases:
        np.testing.assert_array_equal(a.cases[k], b.cases[k])
    assert not Changes() and Changes(merge=(("x", "a", "b"),))
    te = true_effect(prov, Bundle([]))
    assert te.summary["n_dossiers"] == 2500
    assert (te.cases["saved_days"] == 0).all() and te.summary["dossiers_affected"] == 0
    assert te.summary["on_time_before"] == te.summary["on_time_after"]


def test_truth_before_equals_timing(prov):
    """The truth's 'before' is tm.timing's agency time and on-time flag on the world's log."""
    te = true_effect(prov, RemoveStep("Phân công thụ lý"))
    c = tm.timing(prov.log).cases.set_index(S.CASE)
    t = te.cases.set_index(S.CASE).loc[c.index]
    np.testing.assert_allclose(t["agency_before_days"], c["agency_days"], atol=1e-9)
    np.testing.assert_array_equal(t["on_time_before"].to_numpy(), c["on_time_actual"].to_numpy())


def test_remove_step_saves_exactly_its_segment(prov):
    code, act = "1.009994", "Kiểm tra thực địa"
    te = true_effect(prov, RemoveStep(act), procedure=code)
    seg = segments(prov.log)
    m = _step_rows(prov.log, code, act)
    held = pd.Series(seg.seg_s[m] / prov.world.L,
                     index=pd.Index(seg.case_ids)[seg.case[m]].astype(str))
    t = te.cases.set_index(S.CASE)
    assert (t["procedure"] == code).all() and len(t) == (prov.truth.cases["procedure"] == code).sum()
    np.testing.assert_allclose(t.loc[held.index, "saved_days"], held, atol=1e-9)
    assert te.summary["share_slower"] == 0
    # the replay engine (exact without queues) agrees dossier by dossier
    from tthc_mining.cuts.replay import context, replay
    out = replay(context(prov.log), RemoveStep(act), procedure=code)
    ids = pd.Index(context(prov.log).seg.case_ids).astype(str)
    rp = pd.Series(out.saved_s / prov.world.L, index=ids)
    np.testing.assert_allclose(t["saved_days"], rp.loc[t.index], atol=1e-9)


def test_shorten_step_scales_processing_and_caps(prov):
    W = prov.world
    code, act = "1.001193", "Ghi sổ hộ tịch, in Giấy khai sinh"
    P, ch, _ = world_changes(W, ShortenStep(act, factor=0.25), procedure=code)
    assert ch.proc_factor == ((code, act, 0.25),)
    a, b = prov.log, _log_of(W, P, ch)

    def proc(log):
        k = _step_rows(log, code, act)
        return (log.working(S.TIMESTAMP) - log.working(S.START))[k]

    np.testing.assert_allclose(proc(b), 0.25 * proc(a), atol=1e-3)
    P, ch, _ = world_changes(W, ShortenStep(act, to_hours=0.5), procedure=code)
    c = _log_of(W, P, ch)
    np.testing.assert_allclose(proc(c), np.minimum(proc(a), 0.5 * H), atol=1e-3)
    te = true_effect(prov, ShortenStep(act, factor=0.25), procedure=code)
    assert te.summary["saved_mean_days"] > 0 and te.summary["share_slower"] == 0
    # segment part: waiting is scaled too (the step's iid wait)
    P, ch, _ = world_changes(W, ShortenStep(act, factor=0.5, part="segment"), procedure=code)
    seg_a, seg_b = segments(a), segments(_log_of(W, P, ch))
    ka, kb = _step_rows(a, code, act), _step_rows(_log_of(W, P, ch), code, act)
    np.testing.assert_allclose(seg_b.seg_s[kb], 0.5 * seg_a.seg_s[ka], atol=1e-3)


def test_loop_cuts_map_to_the_worlds_loops(prov):
    W = prov.world
    tc = prov.truth.cases
    for kind, cols in (("supplement", ["n_supplement"]), ("selfloop", ["n_redo", "n_repeat"]),
                       ("cross_unit", ["n_pingpong"])):
        te = true_effect(prov, RemoveLoop(kind))
        after = build(W.simulate(*world_changes(W, RemoveLoop(kind))[:2])).truth.cases
        assert tc[cols].to_numpy().sum() > 0 and after[cols].to_numpy().sum() == 0, kind
        had = (tc[cols].sum(axis=1) > 0).to_numpy()
        s = te.cases["saved_days"].to_numpy()
        # dossiers without such a loop are untouched (the planted queue comes before the
        # loops); with one they gain, except before a batched signing, where the new time of
        # day may wait longer for the signing (the citizen's time no longer shifts it)
        assert (s[~had] == 0).all() and s[had].mean() > 0.01, kind
        nobatch = had & ~tc["procedure"].isin(["2.000815", "2.001610"]).to_numpy()
        assert (s[nobatch] > 0).mean() > 0.9 and (s[nobatch] >= -1e-9).all(), kind
    # supplements: the citizen's time and the visits to the desk go too
    te = true_effect(prov, RemoveLoop("supplement"))
    had = (tc["n_supplement"] > 0).to_numpy()
    np.testing.assert_array_equal(te.cases["visits_avoided"].to_numpy(), tc["n_supplement"].to_numpy())
    assert (te.cases["citizen_hours_saved"].to_numpy()[had] > 0).all()
    # no same-unit loops in the default world: nothing changes, and the note says so
    te = true_effect(prov, RemoveLoop("same_unit"))
    assert te.summary["saved_mean_days"] == 0 and "no such loop" in te.notes[0]
    # activity=: only the loops that repeat that step
    P, _, _ = world_changes(W, RemoveLoop(activity="Đăng ký khai sinh"))
    p = P.procedure("1.004399")
    assert p.p_supplement == 0 and p.p_redo == 0 and p.p_pingpong == 0
    assert P.procedure(LAND).p_supplement == W.params.procedure(LAND).p_supplement


def test_reduce_loop_rate_keeps_a_subset(prov):
    W = prov.world
    P, _, _ = world_changes(W, ReduceLoopRate("supplement", 0.5))
    assert P.procedure(LAND).p_supplement == pytest.approx(0.5 * W.params.procedure(LAND).p_supplement)
    after = build(W.simulate(P)).truth.cases
    before = prov.truth.cases
    kept = after["n_supplement"] > 0
    assert (before.loc[kept, "n_supplement"] > 0).all()  # common random numbers: a subset
    ratio = kept.sum() / (before["n_supplement"] > 0).sum()
    assert 0.35 < ratio < 0.65
    full = true_effect(prov, RemoveLoop("supplement")).saved_mean_days
    half = true_effect(prov, ReduceLoopRate("supplement", 0.5)).saved_mean_days
    assert 0.3 * full < half < 0.7 * full


def test_add_staff_at_the_planted_queue(prov):
    W = prov.world
    cut = AddStaff(step=APPRAISE, unit=QUEUE_UNIT)
    P, ch, notes = world_changes(W, cut)
    assert ch.extra_officers == ((LAND, APPRAISE, QUEUE_UNIT, 1),) and not notes
    b = _log_of(W, P, ch)
    seg_a, seg_b = segments(prov.log), segments(b)
    ka, kb = _step_rows(prov.log, LAND, APPRAISE), _step_rows(b, LAND, APPRAISE)
    # first executions (rework bypasses the queue): the queue wait drops; the new officer has
    # the same background duties as the others, so it does not vanish
    fa = ka & (prev_act(prov.log) != APPRAISE) & ~after_supplement(prov.log)
    fb = kb & (prev_act(b) != APPRAISE) & ~after_supplement(b)
    assert fa.sum() == fb.sum() > 100
    assert seg_b.wait_s[fb].mean() < 0.75 * seg_a.wait_s[fa].mean()
    # the new officer works there (a new name on the step)
    offs = lambda log, k: set(log.events.loc[k, S.RESOURCE].astype(str))  # noqa: E731
    assert len(offs(b, fb)) == len(offs(prov.log, fa)) + 1
    te = true_effect(prov, cut, procedure=LAND)
    te2 = true_effect(prov, AddStaff(step=APPRAISE, unit=QUEUE_UNIT, n=2), procedure=LAND)
    assert 0 < te.saved_mean_days < te2.saved_mean_days
    assert te2.saved_mean_days - te.saved_mean_days < te.saved_mean_days  # diminishing returns
    # other procedures are untouched
    other = true_effect(prov, cut)
    assert (other.cases.loc[other.cases["procedure"] != LAND, "saved_days"] == 0).all()
    # a step without a queue has no officer limit in the world
    te = true_effect(prov, AddStaff(step="Phê duyệt"))
    assert te.saved_mean_days == 0 and "no queued step" in te.notes[0]


def test_remove_handover_caps_the_transfer_wait(prov):
    W = prov.world
    code, fu, tu = "2.001417", "Sở Tư pháp", "Công an tỉnh"
    P, ch, _ = world_changes(W, RemoveHandover(fu, tu, residual_hours=0.5))
    assert (code, fu, tu, 0.5 * H) in ch.handover_caps
    b = _log_of(W, P, ch)
    sb = segments(b)
    ev = b.events
    u, _ = b.codes(S.GROUP)
    names = np.asarray(b.codes(S.GROUP)[1], dtype=object)
    prev = np.r_[-1, u[:-1]]
    hand = ~sb.is_first & (names[u] == tu) & (names[np.maximum(prev, 0)] == fu) & (prev >= 0)
    assert hand.sum() > 50
    assert sb.wait_s[hand].max() <= 0.5 * H + 1e-6
    te = true_effect(prov, RemoveHandover(fu, tu, residual_hours=0.5), procedure=code)
    from tthc_mining.cuts.replay import context, replay
    ctx = context(prov.log)
    out = replay(ctx, RemoveHandover(fu, tu, residual_hours=0.5), procedure=code)
    rp = pd.Series(out.saved_s / W.L, index=pd.Index(ctx.seg.case_ids).astype(str))
    t = te.cases.set_index(S.CASE)
    np.testing.assert_allclose(t["saved_days"], rp.loc[t.index], atol=1e-6)
    # default residual: the replay's definition, measured on the world's own events
    te = true_effect(prov, RemoveHandover(fu, tu))
    res_h = float(te.notes[0].split("residual wait ")[1].split(" h")[0])
    res_rp, _, _ = ctx.internal_wait(ctx.unit_code(tu))
    assert res_h == pytest.approx(res_rp / H, abs=0.006)


def test_merge_and_parallel(prov):
    W = prov.world
    code = "1.004399"
    a, b = "Đăng ký thường trú", "Cấp thẻ BHYT"
    te = true_effect(prov, Parallelize(a, b), procedure=code)
    # the pair takes the longer of the two segments: saving = the shorter one
    seg = segments(prov.log)
    ids = pd.Index(seg.case_ids).astype(str)
    ka, kb = _step_rows(prov.log, code, a), _step_rows(prov.log, code, b)
    sa = pd.Series(seg.seg_s[ka], index=ids[seg.case[ka]])
    sbb = pd.Series(seg.seg_s[kb], index=ids[seg.case[kb]])
    # where b directly follows a (no supplement or send-back in between) the replay rule holds
    nxt = pd.Series(np.r_[seg.activity[1:], -1], index=range(len(seg.activity)))
    direct = pd.Series(nxt.to_numpy()[ka] == np.flatnonzero(seg.activities == b)[0],
                       index=ids[seg.case[ka]])
    t = te.cases.set_index(S.CASE)
    d = direct[direct].index
    np.testing.assert_allclose(t.loc[d, "saved_days"], np.minimum(sa.loc[d], sbb.loc[d]) / W.L,
                               atol=1e-6)
    assert (t["saved_days"] >= -1e-9).all()
    # merge: the second step's own wait disappears right after the first
    te = true_effect(prov, MergeSteps("Phân công thụ lý", "Tra cứu, xác minh thông tin lý lịch"),
                     procedure="2.001417")
    k = _step_rows(prov.log, "2.001417", "Tra cứu, xác minh thông tin lý lịch")
    w = pd.Series(seg.wait_s[k], index=ids[seg.case[k]])
    first = ~w.index.duplicated()
    t = te.cases.set_index(S.CASE)
    np.testing.assert_allclose(t.loc[w.index[first], "saved_days"], w[first] / W.L, atol=1e-6)
    # not consecutive: nothing to run in parallel
    te = true_effect(prov, Parallelize("Tiếp nhận hồ sơ", "Phê duyệt"))
    assert te.saved_mean_days == 0 and "not consecutive" in te.notes[0]


def test_bundle_and_scope(prov):
    c1 = RemoveStep("Kiểm tra thực địa")
    c2 = RemoveHandover("Sở Tư pháp", "Công an tỉnh", residual_hours=0.5)
    t1, t2 = true_effect(prov, c1), true_effect(prov, c2)
    tb = true_effect(prov, Bundle([c1, c2]))
    # different procedures, no queues: the bundle is the sum of its parts dossier by dossier
    np.testing.assert_allclose(tb.cases["saved_days"], t1.cases["saved_days"] + t2.cases["saved_days"],
                               atol=1e-9)
    one = true_effect(prov, c1, procedure=["1.009994", "2.001417"])
    assert set(one.cases["procedure"]) == {"1.009994", "2.001417"}
    none = true_effect(prov, c1, procedure="2.001417")
    assert none.saved_mean_days == 0


def test_errors_and_outputs(prov):
    with pytest.raises(ConfigError, match="cannot remove"):
        true_effect(prov, RemoveStep("Tiếp nhận hồ sơ"))
    with pytest.raises(ConfigError, match="loop or clock event"):
        true_effect(prov, ShortenStep("Trả lại hồ sơ", factor=0.5))
    with pytest.raises(ConfigError, match="unknown activity"):
        true_effect(prov, RemoveStep("Bước không có"))
    with pytest.raises(ConfigError, match="unknown unit"):
        true_effect(prov, AddStaff(unit="Sở Không Có"))
    with pytest.raises(ConfigError, match="unknown procedure"):
        true_effect(prov, RemoveStep("Phê duyệt"), procedure="9.999")
    with pytest.raises(ConfigError, match="SynthProvince"):
        true_effect(prov.log, RemoveStep("Phê duyệt"))
    with pytest.raises(ConfigError, match="cut object"):
        true_effect(prov, "RemoveStep")
    # names match without diacritics/case, as the cut catalogue does
    te = true_effect(prov, RemoveStep("kiem tra thuc dia"))
    assert te.saved_mean_days == pytest.approx(true_effect(prov, RemoveStep("Kiểm tra thực địa")).saved_mean_days)
    te = true_effect(prov.world, RemoveStep("Phê duyệt"), procedure="1.009994")
    d = json.loads(te.to_json())
    assert d["cut"]["type"] == "RemoveStep" and d["summary"]["n_dossiers"] == len(te.to_frame())
    assert "TrueEffect(" in repr(te)
    bad = true_effect(prov, RemoveStep("Phê duyệt"), procedure="1.009994")
    bad.notes.append("<script>")
    assert "<script>" not in bad._repr_html_() and "&lt;script&gt;" in bad._repr_html_()


def test_world_changes_on_a_fresh_world():
    """world_changes works on any World (not only a generated province)."""
    W = World(default_params(), seed=3, n_dossiers=400, start="2025-03-01", months=2)
    P, ch, notes = world_changes(W, Bundle([AddStaff(step=APPRAISE), RemoveLoop("supplement")]))
    assert ch.extra_officers and P.procedure(LAND).p_supplement == 0
    sim = W.simulate(P, changes=ch)
    assert len(sim.cases["pi"]) == 400
