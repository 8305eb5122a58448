"""pm4py models (tm.models): inductive miner -> process tree, Petri net, BPMN; heuristics net;
export to .bpmn / .pnml and reading back with pm4py; escaped drawings; a real log."""
from __future__ import annotations

import json
import shutil

import defusedxml.ElementTree as ET
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import DossierLog
from tthc_mining import schema as S
from tthc_mining.calendar import continuous
from tthc_mining.errors import ConfigError

TZ = "Asia/Ho_Chi_Minh"
A, B, C, D, X = "Tiếp nhận hồ sơ", "Thẩm định", "Phê duyệt", "Trả kết quả", "<script>Ký số</script>"


def make_log(traces, procedures=None) -> DossierLog:
    rows = []
    t0 = pd.Timestamp("2025-03-03 08:00", tz=TZ)
    for c, tr in enumerate(traces):
        for j, a in enumerate(tr):
            rows.append({S.CASE: f"HS{c:03d}", S.ACTIVITY: a,
                         S.TIMESTAMP: t0 + pd.Timedelta(hours=c * 5 + j),
                         S.PROCEDURE: (procedures or ["P1"] * len(traces))[c]})
    ev = pd.DataFrame(rows).sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    return DossierLog(events=ev)


@pytest.fixture(scope="module")
def clean():
    return make_log([[A, B, C, D]] * 20 + [[A, C, B, D]] * 10 + [[A, B, X, C, D]] * 5)


def test_inductive_perfect_fitness_without_noise(clean):
    m = tm.models.inductive(clean, noise_threshold=0.0)
    assert m.n_cases == 35 and m.n_events == 20 * 4 + 10 * 4 + 5 * 5 and m.n_activities == 5
    labels = {t.label for t in m.net.transitions if t.label is not None}
    assert labels == {A, B, C, D, X}
    fit = m.fitness()
    assert fit["log_fitness"] == pytest.approx(1.0) and fit["n_cases"] == 35
    d = json.loads(m.to_json())
    assert d["model"] == "inductive" and d["visible_transitions"] == 5
    assert A in d["process_tree"]
    f = m.to_frame()
    assert set(f.loc[~f["silent"], "label"]) == labels
    assert "InductiveModel" in repr(m)


def test_noise_threshold_drops_rare_behaviour():
    log = make_log([[A, B, C, D]] * 40 + [[A, D, B]] * 1)
    strict = tm.models.inductive(log, noise_threshold=0.0)
    noisy = tm.models.inductive(log, noise_threshold=0.3)
    assert noisy.noise_threshold == 0.3
    assert noisy.fitness()["log_fitness"] < 1.0 <= strict.fitness()["log_fitness"] + 1e-12
    assert len(noisy.net.transitions) <= len(strict.net.transitions)
    for bad in (-0.1, 1.5, "x"):
        with pytest.raises(ConfigError):
            tm.models.inductive(log, noise_threshold=bad)


def test_bpmn_and_pnml_export_round_trip(clean, tmp_path):
    import pm4py

    m = tm.models.inductive(clean, noise_threshold=0.2)
    pb = m.save_bpmn(tmp_path / "model.bpmn")
    pp = m.save_pnml(tmp_path / "model.pnml")
    root = ET.parse(str(pb)).getroot()
    names = {el.get("name") for el in root.iter() if el.tag.endswith("task")}
    assert {A, B, C, D, X} <= names  # Vietnamese names survive, as XML text (escaped on disk)
    raw = pb.read_text(encoding="utf-8")
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    assert raw.count("BPMNShape") >= 2 * 5 and "Bounds" in raw  # laid out (diagram section)
    bpmn = pm4py.read_bpmn(str(pb))
    assert {n.get_name() for n in bpmn.get_nodes()} >= {A, B, C, D, X}
    net, im, fm = pm4py.read_pnml(str(pp))
    assert len(net.transitions) == len(m.net.transitions)
    assert {t.label for t in net.transitions} == {t.label for t in m.net.transitions}
    assert sum(im.values()) == 1 and sum(fm.values()) == 1


def test_heuristics_net(clean, tmp_path):
    import pm4py

    h = tm.models.heuristics(clean, dependency_threshold=0.5)
    f = h.to_frame()
    assert list(f.columns) == ["source", "target", "dependency", "count"]
    assert ((A, B) in set(zip(f["source"], f["target"])))
    assert (f["dependency"] >= 0.5).all() and (f["count"] > 0).all()
    ab = f[(f["source"] == A) & (f["target"] == B)].iloc[0]
    assert ab["count"] == 25
    fit = h.fitness()
    assert 0 < fit["log_fitness"] <= 1.0
    net, im, fm = pm4py.read_pnml(str(h.save_pnml(tmp_path / "h.pnml")))
    assert len(net.transitions) == len(h.net.transitions)
    d = json.loads(h.to_json())
    assert d["model"] == "heuristics" and d["dependencies"]
    with pytest.raises(ConfigError):
        tm.models.heuristics(clean, dependency_threshold=2)


def test_procedure_and_empty_log():
    log = make_log([[A, B, D]] * 5 + [[A, C, D]] * 5, procedures=["P1"] * 5 + ["P2"] * 5)
    m = tm.models.inductive(log, procedure="P2")
    assert m.n_cases == 5 and m.procedure == "P2"
    assert {t.label for t in m.net.transitions if t.label} == {A, C, D}
    empty = DossierLog(events=pd.DataFrame({S.CASE: pd.Series([], dtype=object),
                                            S.ACTIVITY: pd.Series([], dtype=object),
                                            S.TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]")}))
    with pytest.raises(ConfigError):
        tm.models.inductive(empty)


def test_drawings_escape_labels(clean, monkeypatch, tmp_path):
    m = tm.models.inductive(clean)
    dot = m.render(format="dot")
    assert dot == m.to_dot() and "<script>" not in dot and "&lt;script&gt;Ký số" in dot
    assert "hồ sơ" in dot
    if shutil.which("dot"):
        svg = m.render(format="svg")
        assert "<script" not in svg and "&lt;script&gt;" in svg
        assert "<svg" in m._repr_html_()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tm.MissingProgramError, match="'dot'"):
        m.render(format="png")
    assert m._repr_svg_() is None and "<pre>" in m._repr_html_()
    with pytest.raises(ConfigError):
        m.render(format="gif")


@pytest.mark.real
def test_inductive_and_heuristics_on_the_wabo_log(real_dir, tmp_path):
    import pm4py

    df = pm4py.read_xes(str(real_dir / "wabo_receipt_phase_coselog.xes.gz"), variant="line_by_line")
    log = DossierLog(events=df.sort_values([S.CASE, S.TIMESTAMP], kind="stable")
                     .reset_index(drop=True), calendar=continuous())
    m = tm.models.inductive(log, noise_threshold=0.2)
    assert m.n_cases == 1_434 and m.n_activities == 27
    # same model as pm4py's own call on the same frame
    tree = pm4py.discover_process_tree_inductive(log.to_pm4py()[[S.CASE, S.ACTIVITY, S.TIMESTAMP]],
                                                 noise_threshold=0.2)
    assert str(tree) == str(m.tree)
    assert 0.8 < m.fitness()["log_fitness"] <= 1.0
    m.save_bpmn(tmp_path / "wabo.bpmn")
    assert pm4py.read_bpmn(str(tmp_path / "wabo.bpmn")).get_nodes()
    h = tm.models.heuristics(log, dependency_threshold=0.9)
    assert len(h.to_frame()) > 10
