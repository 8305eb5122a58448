"""suggest_cuts and the replay on the synthetic province: every planted bottleneck gets a cut
aimed at it, the replay counts agency time exactly as tm.timing does on a multi-procedure log,
and scoring the suggestions works end to end."""
from __future__ import annotations

import numpy as np
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.cuts import AddStaff, Bundle, RemoveHandover, ShortenStep, replay
from tthc_mining.cuts.replay import context


@pytest.fixture(scope="module", params=[3, 4])
def prov(request):
    return tm.synth.province(6000, seed=request.param)


@pytest.fixture(scope="module")
def suggestions(prov):
    return tm.suggest_cuts(prov.log)


def test_window_count_equals_timing_on_the_province(prov):
    ctx = context(prov.log)
    assert ctx.pop.sum() > 5000
    np.testing.assert_allclose(ctx.agency_window_s[ctx.pop], ctx.agency_s[ctx.pop], atol=1e-3)
    out = replay(prov.log, Bundle([]))
    assert np.all(out.saved_s == 0)


def test_every_planted_bottleneck_gets_a_cut(prov, suggestions):
    log = prov.log
    for _, b in prov.truth.bottlenecks.iterrows():  # one planted bottleneck per procedure
        s = suggestions[suggestions["procedure"] == b["procedure"]]
        cuts = list(s["cut"])
        assert cuts, b["procedure"]
        if b["kind"] == "queue":
            hit = [c for c in cuts if isinstance(c, AddStaff) and c.step == b["activity"]]
            assert hit, (b["procedure"], b["activity"])
            # the queue comes first in its procedure: the most dossier-hours to win
            assert isinstance(cuts[0], AddStaff)
            row = s[s["cut"] == hit[0]].iloc[0]
            assert "backlog" in row["evidence_en"] and "tồn đọng" in row["evidence_vi"]
        elif b["kind"] == "handover":
            ev = log.events
            units = set(ev.loc[(ev[S.PROCEDURE] == b["procedure"]) & (ev[S.ACTIVITY] == b["activity"]),
                               S.GROUP].astype(str))
            hit = [c for c in cuts if isinstance(c, RemoveHandover) and c.to_unit in units]
            assert hit, (b["procedure"], b["activity"])
        else:  # slow work and batching: the step is capped
            hit = [c for c in cuts if isinstance(c, ShortenStep) and c.activity == b["activity"]]
            assert hit, (b["procedure"], b["activity"], b["kind"])


def test_scoring_the_suggestions(prov, suggestions):
    df = tm.score_cuts(prov.log, suggestions, n_boot=200, method="replay")
    assert len(df) == len(suggestions)
    assert (df["method"] == "replay").all()
    rep = df
    # the planted queue is flagged where the suggestions touch it
    q = df[df["cut"].map(lambda c: isinstance(c, AddStaff))]
    assert q["queue_flag"].all()
    assert (rep["saved_mean_days"] >= 0).all()
    assert (rep["saved_ci_low"] <= rep["saved_mean_days"]).all()
    assert (rep["on_time_after"] >= rep["on_time_before"] - 1e-12).all()
    assert df["procedure"].notna().all()
    # each suggestion is scored within its own procedure
    sizes = prov.log.events.groupby(S.PROCEDURE)[S.CASE].nunique()
    for _, r in rep.iterrows():  # a few dozen rows
        assert r["n_dossiers"] <= sizes[r["procedure"]]
