"""suggest_cuts' shared tables (session 5): the per-unit internal-transfer medians computed once
equal the per-call definition; the roles per activity and the whole log's utilisation are
computed once per context; the dossier intervals follow tm.bottlenecks' rule (clustered normal
from NORMAL_MIN_DOSSIERS dossiers)."""
from __future__ import annotations

import numpy as np

import tthc_mining as tm
from tthc_mining.bottlenecks import NORMAL_MIN_DOSSIERS
from tthc_mining.cuts.replay import context
from tthc_mining.segments import OWNER_AGENCY


def _reference_internal_wait(ctx, unit_code):
    base = (~ctx.first) & (ctx.owner == OWNER_AGENCY) & (ctx.unit >= 0) & \
           (ctx.prev_unit == ctx.unit) & (ctx.w0 >= 0)
    m = base & (ctx.unit == unit_code)
    if m.sum() >= 5:
        return float(np.median(ctx.w0[m])), int(m.sum()), "receiving unit's internal transfers"
    if base.any():
        return float(np.median(ctx.w0[base])), int(base.sum()), "all internal transfers of the log"
    return 0.0, 0, "no internal transfers in the log (residual 0)"


def test_internal_wait_table_equals_the_per_unit_definition():
    log = tm.synth.province(1200, seed=4).log
    ctx = context(log)
    for u in range(-1, len(ctx.units) + 1):
        assert ctx.internal_wait(u) == _reference_internal_wait(ctx, u)
    sub = ctx.restrict(ctx.proc_case == 0)
    assert sub.internal_wait(0) == _reference_internal_wait(ctx, 0)


def test_suggest_cuts_reuses_its_tables_and_bottlenecks_interval_rule(monkeypatch):
    import tthc_mining.cuts.suggest as sug
    assert sug.NORMAL_MIN_DOSSIERS == NORMAL_MIN_DOSSIERS
    log = tm.synth.province(1500, seed=6).log
    a = tm.suggest_cuts(log)
    ctx = context(log)
    assert "_role_per_activity" in ctx.__dict__
    b = tm.suggest_cuts(log)                     # the same context and tables: same rows
    assert a.drop(columns="cut").equals(b.drop(columns="cut"))

    def half_widths(frame):
        rows = frame[(frame["source"] == "bottleneck") & frame["ci_low"].notna()]
        assert len(rows)
        return (rows["value"] - rows["ci_low"]).to_numpy(), (rows["ci_high"] - rows["value"]).to_numpy()

    # every stratum over the threshold: the clustered normal interval (symmetric) ...
    monkeypatch.setattr(sug, "NORMAL_MIN_DOSSIERS", 2)
    lo, hi = half_widths(tm.suggest_cuts(tm.synth.province(1500, seed=6).log))
    np.testing.assert_allclose(lo, hi, rtol=1e-9)
    # ... none: the percentile bootstrap (skewed holding times: not symmetric)
    monkeypatch.setattr(sug, "NORMAL_MIN_DOSSIERS", 10 ** 9)
    lo, hi = half_widths(tm.suggest_cuts(tm.synth.province(1500, seed=6).log))
    assert not np.allclose(lo, hi, rtol=1e-3)
