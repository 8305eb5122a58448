"""Hand-overs between units (tm.handovers): independent recomputation, budget shares by hand,
graph, escaped DOT/SVG, pm4py's handover-of-work network, citizen-held boundaries."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.errors import ConfigError

from test_bottlenecks import P1, P2, agency_frame, make_planted_log
from test_overdue import _hand_log


@pytest.fixture(scope="module")
def planted():
    return make_planted_log(n=400, seed=4, procedures=(P1, P2))


def test_table_equals_independent_pandas(planted):
    log, _ = planted
    rep = tm.handovers(log, n_boot=300)
    f = agency_frame(log)
    prev_unit = log.events[S.GROUP].shift(1)
    f["from_unit"] = prev_unit.loc[f.index].to_numpy()
    f = f[f["handover"]]
    g = f.groupby(["from_unit", S.GROUP])
    ref = pd.DataFrame({"transfers": g.size(), "cases": g[S.CASE].nunique(),
                        "wait_total_h": g["wait_h"].sum(), "wait_mean_h": g["wait_h"].mean(),
                        "wait_median_h": g["wait_h"].median()}).reset_index()
    ref = ref.rename(columns={S.GROUP: "to_unit"})
    m = rep.table.merge(ref, on=["from_unit", "to_unit"], suffixes=("", "_ref"), validate="one_to_one")
    assert len(m) == len(rep.table) == len(ref)
    for c in ("transfers", "cases", "wait_total_h", "wait_mean_h", "wait_median_h"):
        np.testing.assert_allclose(m[c], m[c + "_ref"], rtol=1e-9, err_msg=c)
    assert (rep.table["wait_mean_ci_low"] <= rep.table["wait_mean_h"]).all()
    assert (rep.table["wait_mean_h"] <= rep.table["wait_mean_ci_high"]).all()
    assert rep.table["wait_total_h"].is_monotonic_decreasing
    # the boundary into the planted approval unit carries the long waits
    top = rep.table.iloc[0]
    assert top["to_unit"] == "UBND huyện"
    assert rep.summary["transfers"] == len(f)


def test_citizen_held_boundary_is_not_an_agency_transfer(planted):
    log, truth = planted
    rep = tm.handovers(log, n_boot=0)
    # request (appraising unit) -> supplement received at the one-stop: citizen held it
    assert rep.summary["transfers_not_agency"] == len(truth["supplement_cases"])


def test_share_of_budget_by_hand():
    rep = tm.handovers(_hand_log(True), n_boot=0)
    t = rep.table.set_index(["from_unit", "to_unit"])
    # U1 -> U2 waits 4 h, 4 h, 20 h against a 16-hour budget
    assert t.loc[("U1", "U2"), "transfers"] == 3
    assert t.loc[("U1", "U2"), "wait_mean_h"] == pytest.approx(28 / 3)
    assert t.loc[("U1", "U2"), "share_of_budget"] == pytest.approx((0.25 + 0.25 + 1.25) / 3)
    assert t.loc[("U1", "U2"), "budget_n"] == 3
    assert t.loc[("Một cửa", "U1"), "share_of_budget"] == pytest.approx(2 / 16)
    assert t.loc[("U2", "U1"), "wait_total_h"] == pytest.approx(6.0)
    assert list(rep.table["from_unit"])[0] == "U1"


def test_graph_and_json(planted):
    log, _ = planted
    rep = tm.handovers(log, procedure=P1, n_boot=0)
    g = rep.graph
    assert g.number_of_edges() == len(rep.table)
    for r in rep.table.itertuples():
        assert g.edges[r.from_unit, r.to_unit]["transfers"] == r.transfers
    n = "UBND huyện"
    assert g.nodes[n]["transfers_in"] == rep.table.loc[rep.table["to_unit"] == n, "transfers"].sum()
    d = json.loads(rep.to_json())
    assert d["summary"]["procedure"] == P1 and len(d["table"]) == len(rep.table)
    assert rep.to_frame() is rep.table and "HandoverReport" in repr(rep)


def test_dot_escapes_hostile_unit_names():
    log = _hand_log(True)
    bad = 'U2" -> "evil"; x [label="<script>'
    log.events[S.GROUP] = log.events[S.GROUP].replace({"U2": bad})
    log._cache.clear()
    rep = tm.handovers(log, n_boot=0)
    dot = rep.to_dot(lang="en")
    assert '"U2\\" -> \\"evil\\"; x [label=\\"<script>"' in dot
    # every " -> " is either an edge of the table or inside the quoted hostile name
    assert dot.count(" -> ") == len(rep.table) + dot.count('U2\\" -> ')
    assert "lượt" in rep.to_dot(lang="vi")
    html = rep._repr_html_()
    assert "<script>" not in html
    if shutil.which("dot"):
        svg = rep.render("svg", lang="en")
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        assert svg.count('class="edge"') == len(rep.table)
        assert svg.count('class="node"') == 3


def test_pm4py_handover_network_agrees_on_unit_pairs():
    log, _ = make_planted_log(n=150, seed=1, supplement_share=0.0)
    rep = tm.handovers(log, n_boot=0)
    sna = rep.pm4py_network()
    pm_pairs = {k for k, v in sna.connections.items() if k[0] != k[1] and v > 0}
    ours = set(zip(rep.table["from_unit"], rep.table["to_unit"]))
    assert pm_pairs == ours
    # officers as well
    assert len(rep.pm4py_network(resource_key=S.RESOURCE).connections) > 0


def test_errors():
    log = _hand_log(True)
    with pytest.raises(ConfigError, match="org:group"):
        tm.handovers(log.with_events(log.events.drop(columns=[S.GROUP])))
    with pytest.raises(ConfigError, match="unknown procedure"):
        tm.handovers(log, procedure="nope")
    with pytest.raises(ConfigError):
        tm.handovers(log).pm4py_network(resource_key="org:nothing")


@pytest.mark.parametrize("seed", [0, 3])
def test_synthetic_province_handover_bottlenecks(seed):
    """Where the generator planted a hand-over bottleneck into a single unit, that boundary
    carries the most waiting of the procedure."""
    synth = pytest.importorskip("tthc_mining.synth", reason="synthetic generator not available")
    log, truth = synth.province(8000, seed=seed)
    tb = truth.bottlenecks
    rows = tb[(tb["kind"] == "handover") & (tb["n_units"] == 1)]
    assert len(rows) >= 1
    for row in rows.itertuples():
        rep = tm.handovers(log, procedure=row.procedure, n_boot=200, seed=seed)
        top = rep.table.iloc[0]
        assert top["to_unit"] == row.unit, (row.procedure, rep.table.head(3))
        assert top["wait_mean_ci_low"] <= row.true_wait_mean_h <= top["wait_mean_ci_high"]
        assert 0 < top["share_of_budget"] < 1 and top["budget_n"] == top["transfers"]
