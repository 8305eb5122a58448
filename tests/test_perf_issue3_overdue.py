"""Issue 3 performance: the lean deadline path behind share_in_overdue
(``tm.timing.overdue_arrays``) gives exactly ``tm.timing``'s per-dossier arrays."""
from __future__ import annotations

import numpy as np
import pytest

import tthc_mining as tm
from tthc_mining.timing import overdue_arrays

from test_bottlenecks import P1, P2, make_planted_log


def _fresh(log):
    """The same events, nothing cached."""
    return log.with_events(log.events.copy())


def _same(lean: dict, full: dict) -> None:
    assert set(lean) == set(full)
    for k in full:
        a, b = np.asarray(lean[k]), np.asarray(full[k])
        assert a.dtype == b.dtype, k
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), k


@pytest.mark.parametrize("kw", [{}, {"third_party_paused": False}, {"as_of": "2025-06-15"},
                                {"cutoff": None}])
@pytest.mark.parametrize("seed", [0, 4])
def test_lean_overdue_equals_timing_on_the_synthetic_province(seed, kw):
    log = tm.synth.province(3000, seed=seed).log
    lean = overdue_arrays(_fresh(log), catalog=log.catalog, **kw)
    full = tm.timing(_fresh(log), catalog=log.catalog, **kw).case_arrays
    _same(lean, full)
    assert lean["overdue_actual"].any() and not lean["overdue_actual"].all()


@pytest.mark.parametrize("with_catalog", [True, False])
def test_lean_overdue_equals_timing_on_the_planted_log(with_catalog):
    log, truth = make_planted_log(n=300, seed=3, procedures=(P1, P2), with_catalog=with_catalog)
    lean = overdue_arrays(_fresh(log), catalog=log.catalog)
    full = tm.timing(_fresh(log), catalog=log.catalog).case_arrays
    _same(lean, full)
    if with_catalog:   # the planted overdue dossiers are found
        ids = np.asarray(tm.timing(log).cases[tm.schema.CASE].astype(str))
        flagged = set(ids[lean["overdue_actual"]])
        assert truth["overdue_cases"] <= flagged


def test_lean_overdue_reuses_a_computed_timing_and_caches_only_case_arrays():
    log = tm.synth.province(1000, seed=2).log
    t = tm.timing(log, catalog=log.catalog)
    got = overdue_arrays(log, catalog=log.catalog)
    _same(got, t.case_arrays)
    fresh = _fresh(log)
    overdue_arrays(fresh, catalog=log.catalog)
    assert not any(isinstance(k, tuple) and k and k[0] == "timing" for k in fresh._cache)
    n_cases = len(t.cases)
    for k, v in fresh._cache.items():
        if isinstance(k, tuple) and k and k[0] == "overdue_arrays":
            assert all(len(a) == n_cases for a in v[1].values())
