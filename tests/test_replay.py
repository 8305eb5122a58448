"""The replay engine: hand-computed savings for every cut type, the identities of the issue
(empty cut, never slower, bundles of independent cuts), and exactness against a queue-free world
re-simulated with common random numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import continuous
from tthc_mining.cuts import (AddStaff, Bundle, MergeSteps, Parallelize, ReduceLoopRate,
                              RemoveHandover, RemoveLoop, RemoveStep, ShortenStep, replay)
from tthc_mining.cuts.replay import _erlang_c_wq, context
from tthc_mining.errors import ConfigError

from test_cuts_world import ONESTOP, TNMT, MiniWorld

T0 = pd.Timestamp("2025-03-03 01:00", tz="UTC")
U1, U2, U3 = "Bộ phận Một cửa", "Phòng Chuyên môn", "Lãnh đạo"
# (case, activity, unit, start h, end h)
ROWS = [
    ("A", "Tiếp nhận hồ sơ", U1, 0, 0),
    ("A", "Chuyển hồ sơ", U1, 1, 2),            # seg 2 = wait 1 + proc 1
    ("A", "Thẩm định hồ sơ", U2, 5, 8),          # seg 6 = wait 3 + proc 3 (hand-over U1 -> U2)
    ("A", "Yêu cầu bổ sung hồ sơ", U2, 8, 9),    # seg 1 = wait 0 + proc 1
    ("A", "Nhận hồ sơ bổ sung", U1, 20, 21),     # seg 12, citizen
    ("A", "Thẩm định hồ sơ", U2, 22, 24),        # seg 3 = wait 1 + proc 2 (hand-over U1 -> U2)
    ("A", "Phê duyệt", U3, 26, 27),              # seg 3 = wait 2 + proc 1
    ("A", "Kết thúc xử lý", U1, 27, 28),         # seg 1
    ("B", "Tiếp nhận hồ sơ", U1, 0, 0),
    ("B", "Chuyển hồ sơ", U1, 0.5, 1),           # seg 1
    ("B", "Thẩm định hồ sơ", U2, 2, 4),          # seg 3 = wait 1 + proc 2
    ("B", "Phê duyệt", U3, 10, 11),              # seg 7 = wait 6 + proc 1
    ("B", "Kết thúc xử lý", U1, 11, 12),         # seg 1
]
DUE_H = {"A": 30, "B": 10}


def hand_log(with_start: bool = True) -> tm.DossierLog:
    df = pd.DataFrame(ROWS, columns=[S.CASE, S.ACTIVITY, S.GROUP, "s", "e"])
    df[S.TIMESTAMP] = T0 + pd.to_timedelta(df["e"], unit="h")
    if with_start:
        df[S.START] = T0 + pd.to_timedelta(df["s"], unit="h")
    df[S.RESOURCE] = "cb1"
    df[S.PROCEDURE] = "P1"
    df[S.RECEIVED] = T0
    df[S.DUE] = T0 + pd.to_timedelta(df[S.CASE].map(DUE_H), unit="h")
    df = df.drop(columns=["s", "e"])
    return tm.DossierLog(events=df, calendar=continuous())


def saved_h(log, cut, **kw):
    out = replay(log, cut, **kw)
    ctx = context(log)
    ids = list(ctx.seg.case_ids)
    return {c: round(out.saved_s[ids.index(c)] / 3600, 9) for c in ("A", "B")}, out


@pytest.fixture(scope="module")
def log():
    return hand_log()


def test_hand_log_timing(log):
    cases = tm.timing(log).cases.set_index(S.CASE)
    assert cases.loc["A", "agency_days"] * 24 == pytest.approx(16)
    assert cases.loc["A", "citizen_days"] * 24 == pytest.approx(12)
    assert cases.loc["B", "agency_days"] * 24 == pytest.approx(12)


@pytest.mark.parametrize("cut, expected", [
    (RemoveStep("Chuyển hồ sơ"), {"A": 2, "B": 1}),
    (RemoveStep("Phê duyệt"), {"A": 3, "B": 7}),
    (ShortenStep("Thẩm định hồ sơ", factor=0.5), {"A": 2.5, "B": 1}),
    (ShortenStep("Thẩm định hồ sơ", factor=0.0), {"A": 5, "B": 2}),
    (ShortenStep("Thẩm định hồ sơ", to_hours=1, part="segment"), {"A": 7, "B": 2}),
    (ShortenStep("Thẩm định hồ sơ", to_hours=1.5), {"A": 2, "B": 0.5}),
    (MergeSteps("Chuyển hồ sơ", "Thẩm định hồ sơ"), {"A": 3, "B": 1}),
    (Parallelize("Thẩm định hồ sơ", "Phê duyệt"), {"A": 3, "B": 3}),
    (Parallelize("Phê duyệt", "Thẩm định hồ sơ"), {"A": 3, "B": 3}),
    (RemoveLoop("supplement"), {"A": 4, "B": 0}),
    (RemoveLoop(activity="Thẩm định hồ sơ"), {"A": 4, "B": 0}),
    (RemoveLoop("any"), {"A": 4, "B": 0}),
    (RemoveLoop("selfloop"), {"A": 0, "B": 0}),
    (RemoveHandover(U1, U2, residual_hours=0.5), {"A": 3, "B": 0.5}),
    (RemoveHandover(U1, U2), {"A": 3, "B": 0.5}),     # residual = median internal wait 0.5 h
    (RemoveHandover(U2, U3, residual_hours=0), {"A": 2, "B": 6}),
    (Bundle([RemoveStep("Chuyển hồ sơ"), RemoveLoop("supplement")]), {"A": 6, "B": 1}),
    (Bundle([RemoveStep("Phê duyệt"), RemoveStep("Phê duyệt")]), {"A": 3, "B": 7}),
    (Bundle([ShortenStep("Thẩm định hồ sơ", factor=0.5), RemoveStep("Thẩm định hồ sơ")]), {"A": 9, "B": 3}),
    (Bundle([]), {"A": 0, "B": 0}),
])
def test_hand_computed_savings(log, cut, expected):
    got, _ = saved_h(log, cut)
    assert got == pytest.approx(expected, abs=1e-6)


def test_citizen_time_and_visits(log):
    out = replay(log, RemoveLoop("supplement"))
    ctx = context(log)
    a = list(ctx.seg.case_ids).index("A")
    assert out.citizen_saved_s[a] / 3600 == pytest.approx(12)
    assert out.visits_avoided[a] == 1
    assert out.visits_avoided.sum() == 1
    assert out.affected.tolist() == [1.0, 0.0] or out.affected[a] == 1


def test_on_time_after(log):
    ctx = context(log)
    b = list(ctx.seg.case_ids).index("B")
    out = replay(log, RemoveStep("Phê duyệt"))
    # B: 12 h of agency time against a 10 h budget -> late; without the 7 h step -> on time
    assert ctx.agency_s[b] > ctx.budget_s[b]
    assert out.on_time_after[b] == 1.0
    out2 = replay(log, RemoveStep("Chuyển hồ sơ"))
    assert out2.on_time_after[b] == 0.0


def test_without_start_times_segments_are_scaled():
    log = hand_log(with_start=False)
    got, _ = saved_h(log, ShortenStep("Thẩm định hồ sơ", factor=0.5))
    # no starts: the whole segment is halved (A: 6 + 3, B: 3)
    assert got == pytest.approx({"A": 4.5, "B": 1.5})
    got, _ = saved_h(log, RemoveStep("Chuyển hồ sơ"))
    assert got == pytest.approx({"A": 2, "B": 1})
    with pytest.raises(ConfigError, match="start"):
        ShortenStep("Thẩm định hồ sơ", factor=0.5, part="processing").validate(log)
    # MergeSteps without starts: b keeps the 5% quantile of its segments as processing
    got, out = saved_h(log, MergeSteps("Chuyển hồ sơ", "Thẩm định hồ sơ"))
    q = np.quantile([6, 3, 3], 0.05)
    assert got == pytest.approx({"A": 6 - q, "B": 3 - q})
    assert any("quantile" in n for n in out.notes)


def test_time_before_the_window_still_moves_the_finish():
    """Dossier B received (case:received) after its first two events: the removed step lies
    before the counting window, yet every later event and the finish move one hour earlier."""
    df = hand_log().events.copy()
    df[S.RECEIVED] = np.where(df[S.CASE] == "B", T0 + pd.Timedelta(hours=1.5), df[S.RECEIVED])
    df[S.RECEIVED] = pd.to_datetime(df[S.RECEIVED], utc=True)
    log = tm.DossierLog(events=df.drop(columns=[S.ROLE], errors="ignore"), calendar=continuous())
    ctx = context(log)
    b = list(ctx.seg.case_ids).index("B")
    assert ctx.agency_s[b] / 3600 == pytest.approx(12 - 1.5)
    got, _ = saved_h(log, RemoveStep("Chuyển hồ sơ"))
    assert got["B"] == pytest.approx(1.0)


def test_late_receipts_match_the_resimulated_world():
    w = MiniWorld(300, seed=11)
    log = w.log()
    base = tm.timing(log).cases.set_index(S.CASE)
    truth = base["agency_days"] - tm.timing(w.log(remove=["Chuyển hồ sơ"])).cases.set_index(S.CASE)["agency_days"]
    out = replay(log, RemoveStep("Chuyển hồ sơ"))
    ctx = context(log)
    pred = pd.Series(out.saved_s / ctx.L, index=ctx.seg.case_ids)
    late = base.index[base["received"].dt.hour >= 15]
    assert len(late) > 10
    np.testing.assert_allclose(pred.loc[late], truth.loc[late], atol=1e-6)


# ---------------------------------------------------------------------------------- identities
@pytest.fixture(scope="module")
def world_log():
    return MiniWorld(500, seed=5).log()


def test_window_count_equals_timing(world_log):
    ctx = context(world_log)
    np.testing.assert_allclose(ctx.agency_window_s[ctx.pop], ctx.agency_s[ctx.pop], atol=1e-3)


@pytest.mark.parametrize("cut", [Bundle([]), ShortenStep("Phê duyệt", factor=1.0),
                                 ShortenStep("Phê duyệt", to_hours=1e6, part="segment"),
                                 ReduceLoopRate("supplement", 1.0), RemoveLoop("selfloop"),
                                 RemoveHandover(TNMT, ONESTOP, residual_hours=1e6)])
def test_empty_cut_changes_nothing_exactly(world_log, cut):
    out = replay(world_log, cut)
    ctx = context(world_log)
    assert np.all(out.saved_s == 0.0)
    assert np.all(out.citizen_saved_s == 0.0)
    assert np.all(out.agency_after_s[ctx.pop] == ctx.agency_s[ctx.pop])
    ok_before = ctx.agency_s <= ctx.budget_s + 1e-3
    assert np.array_equal(out.on_time_after[ctx.pop] == 1.0, ok_before[ctx.pop])
    assert out.affected.sum() == 0


def test_removing_any_step_never_makes_a_dossier_slower(world_log):
    acts = [a for a in world_log.events[S.ACTIVITY].unique()
            if a not in ("Yêu cầu bổ sung hồ sơ", "Nhận hồ sơ bổ sung")]
    for a in acts:  # one replay per step of the procedure
        out = replay(world_log, RemoveStep(a))
        assert out.saved_s.min() >= 0.0, a
        assert out.citizen_saved_s.min() >= 0.0, a
        assert np.all(out.agency_after_s <= context(world_log).agency_s + 1e-9), a


def test_bundle_of_independent_cuts_is_the_sum_of_its_parts(world_log):
    # the supplement loop and the tax consultation never occur in the same dossier of this world
    a, b = RemoveLoop("supplement"), RemoveStep("Xin ý kiến")
    oa, ob, oab = replay(world_log, a), replay(world_log, b), replay(world_log, Bundle([a, b]))
    touched_a, touched_b = oa.affected > 0, ob.affected > 0
    assert touched_a.any() and touched_b.any() and not (touched_a & touched_b).any()
    np.testing.assert_allclose(oab.saved_s, oa.saved_s + ob.saved_s, rtol=0, atol=1e-6)
    np.testing.assert_allclose(oab.citizen_saved_s, oa.citizen_saved_s + ob.citizen_saved_s, atol=1e-6)
    assert oab.saved_s.mean() == pytest.approx(oa.saved_s.mean() + ob.saved_s.mean())


def test_reduce_loop_rate_between_nothing_and_removal(world_log):
    full = replay(world_log, RemoveLoop("supplement"))
    none = replay(world_log, ReduceLoopRate("supplement", 1.0))
    allr = replay(world_log, ReduceLoopRate("supplement", 0.0))
    np.testing.assert_array_equal(allr.saved_s, full.saved_s)
    assert none.saved_s.sum() == 0
    half = replay(world_log, ReduceLoopRate("supplement", 0.5), draws=40, seed=3)
    assert half.draws == 40
    # each loop removed with probability 1/2: the mean saving is about half of the full one
    ratio = half.saved_s.sum() / full.saved_s.sum()
    assert 0.35 < ratio < 0.65
    # per dossier the expected saving never exceeds the full removal
    assert np.all(half.saved_s <= full.saved_s + 1e-6)
    # reproducible by seed, different with another seed
    again = replay(world_log, ReduceLoopRate("supplement", 0.5), draws=40, seed=3)
    np.testing.assert_array_equal(half.saved_s, again.saved_s)
    other = replay(world_log, ReduceLoopRate("supplement", 0.5), draws=40, seed=4)
    assert not np.array_equal(half.saved_s, other.saved_s)


def test_scope_limits_the_cut(world_log):
    ctx = context(world_log)
    mask = np.zeros(ctx.C, dtype=bool)
    mask[::2] = True
    full = replay(world_log, RemoveStep("Phê duyệt"))
    part = replay(world_log, RemoveStep("Phê duyệt"), cases=mask)
    np.testing.assert_allclose(part.saved_s[mask], full.saved_s[mask])
    assert np.all(part.saved_s[~mask] == 0)
    assert part.pop.sum() == (ctx.pop & mask).sum()
    with pytest.raises(ConfigError, match="unknown procedure"):
        replay(world_log, RemoveStep("Phê duyệt"), procedure="9.999999")


# ---------------------------------------------------------------------------------- truth
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_replay_equals_the_resimulated_queue_free_world(seed):
    """No queues in this world: the replay must give the re-simulated effect dossier by dossier."""
    w = MiniWorld(400, seed=seed)
    log = w.log()
    ctx = context(log)
    base = tm.timing(w.log()).cases.set_index(S.CASE)["agency_days"]
    ids = ctx.seg.case_ids
    cases = [
        (RemoveStep("Chuyển hồ sơ"), dict(remove=["Chuyển hồ sơ"])),
        (RemoveStep("Xin ý kiến"), dict(remove=["Xin ý kiến"])),
        (RemoveStep("Trả kết quả"), dict(remove=["Trả kết quả"])),
        (ShortenStep("Thẩm định hồ sơ", factor=0.5), dict(shorten={"Thẩm định hồ sơ": 0.5})),
        (RemoveLoop("supplement"), dict(remove_loop=True)),
        (RemoveHandover(ONESTOP, TNMT, residual_hours=1.0), dict(handover_cap_h=1.0)),
    ]
    for cut, kw in cases:  # six cuts
        truth = base - tm.timing(w.log(**kw)).cases.set_index(S.CASE)["agency_days"].reindex(base.index)
        pred = pd.Series(replay(ctx, cut).saved_s / ctx.L, index=ids).reindex(base.index)
        np.testing.assert_allclose(pred.to_numpy(), truth.to_numpy(), atol=1e-6, err_msg=str(cut))


# ---------------------------------------------------------------------------------- add staff
def test_erlang_c():
    # M/M/1: Wq / E[S] = rho / (1 - rho)
    assert _erlang_c_wq(1, 0.5) == pytest.approx(1.0)
    assert _erlang_c_wq(1, 0.8) == pytest.approx(4.0)
    # M/M/2 with a = 1 (rho = 0.5): P(wait) = 1/3, Wq/E[S] = P(wait) / (c - a) = 1/3
    assert _erlang_c_wq(2, 1.0) == pytest.approx(1 / 3)
    assert _erlang_c_wq(2, 2.5) == float("inf")


def test_addstaff_replay_approximation(world_log):
    out = replay(world_log, AddStaff(step="Thẩm định hồ sơ", n=2))
    assert out.saved_s.min() >= 0 and out.saved_s.sum() > 0
    assert any("M/M/c" in n for n in out.notes)
    more = replay(world_log, AddStaff(step="Thẩm định hồ sơ", n=4))
    assert more.saved_s.sum() >= out.saved_s.sum()
    with pytest.raises(ConfigError, match="start times"):
        replay(hand_log(with_start=False), AddStaff(step="Thẩm định hồ sơ"))


@pytest.mark.real
def test_replay_on_a_real_log(real_dir):
    log = tm.read_log(real_dir / "helpdesk.xes.gz")
    acts = log.events[S.ACTIVITY].value_counts()
    cut = RemoveStep(str(acts.index[1]))
    out = replay(log, cut)
    ctx = context(log)
    assert ctx.pop.sum() > 1000
    assert out.saved_s.min() >= 0 and out.saved_s.sum() > 0
    np.testing.assert_allclose(ctx.agency_window_s[ctx.pop], ctx.agency_s[ctx.pop], atol=1e-3)
    empty = replay(log, Bundle([]))
    assert np.all(empty.saved_s == 0)
