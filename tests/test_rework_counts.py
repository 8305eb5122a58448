"""Count-only rework statistics (tm.rework.rework_counts / cases_per_activity): equal to pm4py's
get_rework_cases_per_activity and to the full report's per-step counts, on both counting paths
(blocks of a dossier-major log, and the sort for any other order)."""
import warnings

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import continuous
from tthc_mining.log import DossierLog
from tthc_mining.rework import counts as rc

from conftest import real_log


def _brute(case, act, n_act):
    pairs = pd.DataFrame({"c": case, "a": act}).value_counts()
    a = pairs.index.get_level_values("a").to_numpy()
    occ = np.bincount(a, minlength=n_act)
    rep = np.bincount(a[pairs.to_numpy() > 1], minlength=n_act)
    return occ, rep


@pytest.mark.parametrize("sort", [True, False])
def test_both_counting_paths_equal_a_brute_force_count(sort):
    rng = np.random.default_rng(3)
    n_case, n_act = 5000, 13
    case = rng.integers(0, n_case, 40_000)
    act = rng.integers(0, n_act, case.size)
    if sort:
        order = np.argsort(case, kind="stable")
        case, act = case[order], act[order]
    occ, rep = rc._step_counts(case, act, n_case, n_act)
    b_occ, b_rep = _brute(case, act, n_act)
    assert np.array_equal(occ, b_occ) and np.array_equal(rep, b_rep)
    assert rep.sum() > 0 and (occ >= rep).all()


def test_sparse_table_takes_the_sort_path():
    case = np.array([0, 0, 5_000_000, 5_000_000, 5_000_000])
    act = np.array([1, 1, 2, 0, 2])
    occ, rep = rc._step_counts(case, act, 5_000_001, 3)
    assert occ.tolist() == [1, 1, 1] and rep.tolist() == [0, 1, 1]


def test_equal_to_pm4py_and_to_the_full_report_on_the_province():
    import pm4py
    log = tm.synth.province(1500, seed=4).log
    t = tm.rework.rework_counts(log)
    full = tm.rework(log, timing=False, n_boot=50).by_activity.set_index("activity")
    mine = t.set_index("activity")
    assert mine["cases"].to_dict() == full.loc[mine.index, "n_cases"].astype(int).to_dict()
    assert mine["cases_with_repeat"].to_dict() == \
        full.loc[mine.index, "cases_with_repeat"].astype(int).to_dict()
    assert mine["events"].to_dict() == full.loc[mine.index, "n_events"].astype(int).to_dict()
    assert (mine["extra_executions"] == mine["events"] - mine["cases"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pm4py.get_rework_cases_per_activity(log.to_pm4py())
    assert tm.rework.cases_per_activity(log) == expected and expected
    # sorted by dossiers with a repeat, the share has its sample size next to it
    assert t["cases_with_repeat"].is_monotonic_decreasing
    assert np.allclose(t["share_repeat"], t["cases_with_repeat"] / t["cases"])


def test_unsorted_in_memory_log_and_procedure_filter():
    import pm4py
    rng = np.random.default_rng(9)
    C = 800
    lens = rng.integers(1, 12, C)
    case = np.repeat(np.arange(C), lens)
    df = pd.DataFrame({S.CASE: np.char.add("k", case.astype(str)),
                       S.ACTIVITY: np.array(list("ABCDEFG"))[rng.integers(0, 7, case.size)],
                       S.TIMESTAMP: pd.Timestamp("2025-01-02 08:00")
                       + pd.to_timedelta(np.concatenate([np.arange(k) for k in lens]), unit="min"),
                       S.PROCEDURE: np.where(case % 2 == 0, "P1", "P2")})
    df = df.sample(frac=1.0, random_state=1).reset_index(drop=True)   # not dossier-major
    log = DossierLog(events=df, calendar=continuous())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert tm.rework.cases_per_activity(log) == pm4py.get_rework_cases_per_activity(log.to_pm4py())
        p1 = log.filter(procedure="P1")
        assert tm.rework.cases_per_activity(log, procedure="P1") == \
            pm4py.get_rework_cases_per_activity(p1.to_pm4py())


@pytest.mark.real
def test_real_logs_equal_pm4py(real_dir):
    import pm4py
    for name in ("helpdesk.xes.gz", "sepsis_cases.csv.gz"):
        path = real_dir / name
        if not path.exists():
            continue
        log = real_log(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = pm4py.get_rework_cases_per_activity(log.to_pm4py())
        assert tm.rework.cases_per_activity(log) == expected, name
