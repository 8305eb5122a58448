"""tm.rework on every real public log in ../shared/datasets/real (skipped when absent).

* ``by_activity.cases_with_repeat`` equals ``pm4py.get_rework_cases_per_activity`` on the same
  events, for every file (and on pm4py's own reading of one file, independent of our reader);
* on the smaller logs, edeaR's self-loop / repetition counts and the loop erasure agree dossier by
  dossier with the plain-Python reference implementations of tests/test_rework.py;
* the whole report (lazy tables included) builds on generic logs without roles or deadlines.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tthc_mining as tm
from conftest import real_log
from tthc_mining import schema as S
from tthc_mining.calendar import continuous

from test_rework import ref_edear, ref_loop_erasure

pytestmark = pytest.mark.real

FILES = {
    "wabo": ("wabo_receipt_phase_coselog.xes.gz", False),
    "helpdesk": ("helpdesk.xes.gz", False),
    "sepsis": ("sepsis_cases.csv.gz", False),
    "bpic2015": ("bpic2015_municipality1.csv.gz", False),
    "bpic2013_closed": ("bpic2013_closed_problems.xes.gz", False),
    "bpic2013_incidents": ("bpic2013_incidents.xes.gz", False),
    "domestic": ("bpic2020_bptlab_cleaned/DomesticDeclarations.xes.gz", False),
    "prepaid": ("bpic2020_bptlab_cleaned/PrepaidTravelCost.xes.gz", False),
    "payment": ("bpic2020_bptlab_cleaned/RequestForPayment.xes.gz", False),
    "permit_variants": ("variant_samples/bpic2020_permitlog_1t_per_variant.xes.gz", False),
    "billing_variants": ("variant_samples/hospital_billing_1t_per_variant.xes.gz", False),
    # larger files (several seconds to read each)
    "international": ("bpic2020_bptlab_cleaned/InternationalDeclarations.xes.gz", True),
    "permit": ("bpic2020_bptlab_cleaned/PermitLog.xes.gz", True),
    "bpic2012": ("bpic2012_loan_application.xes.gz", True),
    "road": ("road_traffic_fine_management_process.xes.gz", True),
}
SMALL_REFERENCE = ("wabo", "helpdesk", "sepsis", "bpic2015", "bpic2013_closed", "prepaid")
_CACHE: dict = {}


def load(real_dir, name):
    if name not in _CACHE:
        path = real_dir / FILES[name][0]
        if not path.exists():
            pytest.skip(f"{path} not found")
        _CACHE[name] = real_log(path, calendar="24x7")
    return _CACHE[name]


def params():
    out = []
    for name, (_, slow) in FILES.items():
        marks = [pytest.mark.slow] if slow else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def test_every_real_log_is_covered(real_dir):
    """Every log file shipped in the real-data folder is in FILES (the .rda is the R copy of
    bpic2015_municipality1.csv.gz)."""
    shipped = {str(p.relative_to(real_dir)) for p in real_dir.rglob("*")
               if p.is_file() and p.name.endswith((".xes.gz", ".csv.gz", ".xes", ".csv"))}
    assert shipped <= {f for f, _ in FILES.values()}


@pytest.mark.parametrize("name", params())
def test_cases_with_repeat_equals_pm4py(real_dir, name):
    import pm4py
    log = load(real_dir, name)
    r = tm.rework(log, n_boot=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pm4py.get_rework_cases_per_activity(log.to_pm4py())
    assert r.rework_cases_per_activity() == expected
    ba = r.by_activity
    assert int(ba["n_events"].sum()) == log.n_events
    # the report is whole and consistent on a generic log
    bc = r.by_case
    assert len(bc) == log.n_cases
    assert int(bc["extra_steps"].sum()) == int(r.loops["extra_steps"].sum())
    assert int(bc["n_loops"].sum()) == len(r.loops)
    assert ((bc["n_events"] - bc["extra_steps"]) >= 1).all()
    assert np.isclose(bc["rework_agency_h"].sum(), r.loops["agency_h"].sum())
    s = r.summary
    assert {"share_with_loop", "loops_per_dossier"} <= set(s["metric"])
    assert len(r.patterns) <= 50 and len(r.triggers) > 0 and len(r.clock) >= 1
    r.to_json(max_rows=5)


@pytest.mark.parametrize("name", SMALL_REFERENCE)
def test_edear_and_loop_erasure_against_reference_on_real_logs(real_dir, name):
    log = load(real_dir, name)
    r = tm.rework(log, n_boot=20, timing=False)
    ev = log.events
    res = ev[S.RESOURCE].astype(object).where(ev[S.RESOURCE].notna(), None).to_numpy() \
        if S.RESOURCE in ev.columns else np.full(len(ev), None, dtype=object)
    acts = ev[S.ACTIVITY].astype(str).to_numpy()
    case = ev[S.CASE].to_numpy()
    starts = np.flatnonzero(np.r_[True, case[1:] != case[:-1]])
    ends = np.r_[starts[1:], len(ev)]
    bc = r.by_case.set_index(S.CASE)
    for a, b in zip(starts, ends):  # reference implementations walk every dossier in Python
        c = case[a]
        tr = list(zip(acts[a:b], res[a:b]))
        got = tuple(int(bc.loc[c, k]) for k in ("selfloops_repeat", "selfloops_redo",
                                                 "repetitions_repeat", "repetitions_redo"))
        assert got == ref_edear(tr), c
        loops = ref_loop_erasure(list(acts[a:b]))
        assert int(bc.loc[c, "n_loops"]) == len(loops), c
        assert int(bc.loc[c, "extra_steps"]) == sum(len(v) for v in loops.values()), c


def test_wabo_equals_pm4py_on_its_own_reading(real_dir):
    """Independent of our reader: pm4py reads the file itself."""
    import pm4py
    from tthc_mining.log import DossierLog
    path = real_dir / FILES["wabo"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = pm4py.read_xes(str(path), variant="line_by_line")
        expected = pm4py.get_rework_cases_per_activity(df)
    log = DossierLog(events=df.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True),
                     calendar=continuous(), source=str(path))
    assert tm.rework(log, n_boot=20).rework_cases_per_activity() == expected
