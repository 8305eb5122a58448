"""``segments(log, lazy_start=True)`` (what ``tm.rework`` asks for): the start-time arrays are
built on first access and equal the eagerly built ones; results of the modules that read them
afterwards are unchanged."""
from __future__ import annotations

import numpy as np
import pytest

import tthc_mining as tm
from tthc_mining.log import DossierLog
from tthc_mining.segments import segments


@pytest.fixture(scope="module")
def province_log():
    synth = pytest.importorskip("tthc_mining.synth")
    log, _ = synth.province(3_000, seed=5)
    return log


def fresh(log):
    return DossierLog(events=log.events, calendar=log.calendar, catalog=log.catalog,
                      source=log.source)


def test_lazy_start_arrays_equal_eager(province_log):
    eager = segments(fresh(province_log))
    lazy_log = fresh(province_log)
    lazy = segments(lazy_log, lazy_start=True)
    assert lazy._start_fn is not None                  # nothing built yet
    for name in ("seg_s", "w_end", "case", "activity", "owner", "handover"):
        np.testing.assert_array_equal(getattr(lazy, name), getattr(eager, name))
    for name in ("w_start", "wait_s", "proc_s"):        # built on first access, same values
        np.testing.assert_array_equal(getattr(lazy, name), getattr(eager, name))
    assert lazy._start_fn is None
    assert ("working_ns", "start_timestamp") not in lazy_log._cache
    # an already cached result is returned as it is
    assert segments(lazy_log, lazy_start=True) is lazy


def test_rework_first_then_bottlenecks_unchanged(province_log):
    a = fresh(province_log)
    ref = tm.bottlenecks(a, n_boot=100)
    b = fresh(province_log)
    tm.rework(b)          # reads the loop subset's working time only (rework/blocks.py)
    assert "segments" not in b._cache
    got = tm.bottlenecks(b, n_boot=100)
    cols = [c for c in ref.columns if c != "kind_evidence"]
    assert got[cols].equals(ref[cols])
    assert (got["kind_evidence"] == ref["kind_evidence"]).all()


def test_lazy_segments_copy_and_pickle(province_log):
    """Results carry segments through ``DataFrame.attrs`` (deep-copied by pandas on every
    column access): the lock guarding the lazy arrays must not make them uncopyable."""
    import copy
    import pickle

    eager = segments(fresh(province_log))
    lazy = segments(fresh(province_log), lazy_start=True)
    for clone in (copy.deepcopy(lazy), pickle.loads(pickle.dumps(lazy))):
        np.testing.assert_array_equal(clone.wait_s, eager.wait_s)
        np.testing.assert_array_equal(clone.w_start, eager.w_start)
        clone._fill_start()                              # the clone has a working lock
