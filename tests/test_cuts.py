"""The catalogue of cuts: construction checks, validation against a log, descriptions, data."""
from __future__ import annotations

import json
import unicodedata

import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.cuts import (CUT_TYPES, AddStaff, Bundle, CostParams, Cut, MergeSteps,
                              Parallelize, ReduceLoopRate, RemoveHandover, RemoveLoop, RemoveStep,
                              ShortenStep, cut_from_dict)
from tthc_mining.errors import ConfigError

from test_replay import U1, U2, U3, hand_log

ALL = [
    RemoveStep("Chuyển hồ sơ"), MergeSteps("Chuyển hồ sơ", "Thẩm định hồ sơ"),
    Parallelize("Thẩm định hồ sơ", "Phê duyệt"), RemoveLoop("supplement"),
    RemoveLoop(activity="Thẩm định hồ sơ"), ReduceLoopRate("supplement", 0.5),
    ShortenStep("Thẩm định hồ sơ", factor=0.5), ShortenStep("Phê duyệt", to_hours=2, part="segment"),
    AddStaff(step="Thẩm định hồ sơ", unit=U2, n=2), AddStaff(unit=U2),
    RemoveHandover(U1, U2), RemoveHandover(U1, U2, residual_hours=0.5),
    Bundle([RemoveStep("Chuyển hồ sơ"), RemoveLoop("supplement")], name="Gói 1"), Bundle([]),
]


@pytest.fixture(scope="module")
def log():
    return hand_log()


def test_public_names():
    for name in ("cuts", "suggest_cuts", "score_cuts", "explain_cut", "CostParams"):
        assert name in tm._LAZY
    assert tm.cuts.RemoveStep is RemoveStep
    assert tm.CostParams is CostParams
    assert callable(tm.score_cuts) and callable(tm.suggest_cuts) and callable(tm.explain_cut)
    assert set(CUT_TYPES) == {"RemoveStep", "MergeSteps", "Parallelize", "RemoveLoop",
                              "ReduceLoopRate", "ShortenStep", "AddStaff", "RemoveHandover", "Bundle"}


@pytest.mark.parametrize("cut", ALL, ids=str)
def test_every_cut_validates_describes_and_round_trips(log, cut):
    assert cut.validate(log) is cut
    vi, en = cut.describe("vi"), cut.describe("en")
    assert vi and en and vi != en
    assert cut.label_vi == vi and cut.label_en == en and cut.label == f"{vi} / {en}"
    assert unicodedata.is_normalized("NFC", vi)
    d = json.loads(cut.to_json())
    back = cut_from_dict(d)
    assert back == cut and hash(back) == hash(cut)
    assert str(back) == str(cut)
    with pytest.raises(ConfigError):
        cut.describe("fr")


def test_descriptions_name_the_steps():
    c = RemoveStep("Chuyển hồ sơ")
    assert "Chuyển hồ sơ" in c.label_vi and "Chuyển hồ sơ" in c.label_en
    assert c.label_vi.startswith("Bỏ bước") and c.label_en.startswith("Remove step")
    assert "50%" in ShortenStep("X", factor=0.5).label_en
    assert "50%" in ReduceLoopRate("supplement", 0.5).label_vi
    assert "2 officers" in AddStaff(step="X", n=2).label_en
    assert "vòng bổ sung hồ sơ" in RemoveLoop("supplement").label_vi
    assert "Không thay đổi" in Bundle([]).label_vi
    b = Bundle([RemoveStep("A"), RemoveStep("B")])
    assert "Bỏ bước «A»" in b.label_vi and "Remove step «B»" in b.label_en


def test_unknown_names_list_the_known_ones(log):
    with pytest.raises(ConfigError) as e:
        RemoveStep("Thẩm tra hồ sơ").validate(log)
    msg = str(e.value)
    assert "unknown activity 'Thẩm tra hồ sơ'" in msg
    for known in ("Chuyển hồ sơ", "Thẩm định hồ sơ", "Phê duyệt"):
        assert known in msg
    with pytest.raises(ConfigError, match="unknown unit 'Phòng X'.*Lãnh đạo"):
        RemoveHandover("Phòng X", U2).validate(log)
    with pytest.raises(ConfigError, match="unknown unit"):
        AddStaff(unit="Nowhere").validate(log)
    with pytest.raises(ConfigError, match="unknown activity"):
        Bundle([RemoveStep("Chuyển hồ sơ"), MergeSteps("Chuyển hồ sơ", "Nope")]).validate(log)


def test_names_match_without_case_and_diacritics(log):
    # folded match: the same step written without diacritics and in upper case
    RemoveStep("CHUYEN HO SO").validate(log)
    out = tm.cuts.replay(log, RemoveStep("chuyen ho so"))
    assert out.saved_s.sum() / 3600 == pytest.approx(3.0)
    # decomposed (NFD) input is normalised to NFC
    nfd = unicodedata.normalize("NFD", "Phê duyệt")
    assert RemoveStep(nfd).activity == "Phê duyệt"


def test_clock_steps_cannot_be_removed_as_steps(log):
    with pytest.raises(ConfigError, match="RemoveLoop"):
        RemoveStep("Yêu cầu bổ sung hồ sơ").validate(log)
    with pytest.raises(ConfigError, match="clock"):
        RemoveStep("Nhận hồ sơ bổ sung").validate(log)


@pytest.mark.parametrize("make, match", [
    (lambda: ShortenStep("X"), "exactly one"),
    (lambda: ShortenStep("X", factor=0.5, to_hours=1), "exactly one"),
    (lambda: ShortenStep("X", factor=1.5), r"\[0, 1\]"),
    (lambda: ShortenStep("X", factor=-0.1), r"\[0, 1\]"),
    (lambda: ShortenStep("X", to_hours=-1), "to_hours"),
    (lambda: ShortenStep("X", factor=0.5, part="all"), "part"),
    (lambda: AddStaff(), "step= or unit="),
    (lambda: AddStaff(step="X", n=0), "whole number"),
    (lambda: AddStaff(step="X", n=1.5), "whole number"),
    (lambda: RemoveLoop(kind="pingpong"), "unknown loop kind"),
    (lambda: RemoveLoop(kind=None), "kind="),
    (lambda: ReduceLoopRate("supplement", 2), r"\[0, 1\]"),
    (lambda: RemoveHandover("A", "B", residual_hours=-2), "residual_hours"),
    (lambda: Bundle([RemoveStep("A"), "B"]), "cut objects"),
    (lambda: cut_from_dict({"type": "Teleport"}), "unknown cut type"),
])
def test_bad_parameters(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_same_step_twice_is_refused(log):
    with pytest.raises(ConfigError, match="two different"):
        MergeSteps("Phê duyệt", "Phê duyệt").validate(log)
    with pytest.raises(ConfigError, match="two different"):
        Parallelize("Phê duyệt", "phe duyet").validate(log)
    with pytest.raises(ConfigError, match="two different"):
        RemoveHandover(U3, U3).validate(log)


def test_bundle_parts_and_queue_flags():
    inner = Bundle([RemoveStep("A"), AddStaff(step="B")])
    b = Bundle([inner, RemoveLoop("supplement")])
    assert [type(c).__name__ for c in b.parts()] == ["RemoveStep", "AddStaff", "RemoveLoop"]
    assert b.queue_changing and not RemoveStep("A").queue_changing
    assert ReduceLoopRate("supplement", 0.5).queue_changing
    assert b.steps() == ("A", "B")
    assert isinstance(b, Cut)
    with pytest.raises(Exception):
        RemoveStep("A").activity = "B"  # frozen


def test_loop_cut_needs_supplement_steps():
    ev = hand_log().events
    ev = ev[~ev[S.ACTIVITY].isin(["Yêu cầu bổ sung hồ sơ", "Nhận hồ sơ bổ sung"])].drop(columns=[S.ROLE], errors="ignore")
    log = tm.DossierLog(events=ev.reset_index(drop=True), calendar=hand_log().calendar)
    tm.timing(log)
    with pytest.raises(ConfigError, match="no supplement-request step"):
        RemoveLoop("supplement").validate(log)
    RemoveLoop("any").validate(log)


def test_needs_units():
    ev = hand_log().events.drop(columns=[S.GROUP])
    log = tm.DossierLog(events=ev, calendar=hand_log().calendar)
    with pytest.raises(ConfigError, match="unit column"):
        RemoveHandover("A", "B").validate(log)


def test_cost_params():
    c = CostParams()
    assert (c.hourly_income_vnd, c.hours_per_day, c.annual_volume, c.visit_hours) == (40_000, 8, None, 4)
    # Đồng Nai QĐ 2816/QĐ-UBND: (10 ngày làm việc = 80 giờ x 40.000 đồng/giờ) x 10 hồ sơ/năm
    assert c.statutory_cost_vnd(10, 10) == 32_000_000
    assert c.statutory_cost_vnd(9, 10) == 28_800_000
    assert json.loads(c.to_json())["hourly_income_vnd"] == 40_000
    for bad in (dict(hourly_income_vnd=-1), dict(hours_per_day=0), dict(annual_volume=-5),
                dict(time_target=0), dict(cost_target=1.5), dict(visit_hours="x")):
        with pytest.raises(ConfigError):
            CostParams(**bad)
