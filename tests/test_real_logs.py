"""Real public logs (../shared/datasets/real): read with schema="auto", the counts of the folder's
README (cases, events, activities, variants after a stable time sort) must come out exactly, and
pm4py's own functions must accept ``log.to_pm4py()`` with the same directly-follows counts as on
pm4py's own reading of the file. The expected numbers are parsed from the README's summary table,
so they are the measurements of whoever wrote it, not ours. Skipped when the folder is absent.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from conftest import pm4py_log, real_log
from tthc_mining import schema as S

pytestmark = pytest.mark.real

# the largest files also carry the "slow" mark (a few seconds each)
SLOW = {"road_traffic_fine_management_process.xes.gz", "bpic2012_loan_application.xes.gz",
        "bpic2020_bptlab_cleaned/InternationalDeclarations.xes.gz",
        "bpic2020_bptlab_cleaned/PermitLog.xes.gz"}


def _int(cell: str) -> int:
    m = re.match(r"\s*([\d,]+)", cell)
    assert m, cell
    return int(m.group(1).replace(",", ""))


def readme_table(real_dir: Path) -> dict[str, dict[str, int]]:
    """The README summary table: file -> cases, events, activities, variants."""
    text = (real_dir / "README.md").read_text(encoding="utf-8")
    section = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.match(r"`([^`]+)`", cells[0]).group(1)
        rows[name] = {"cases": _int(cells[2]), "events": _int(cells[3]),
                      "activities": _int(cells[4]), "variants": _int(cells[5])}
    return rows


def _files() -> list:
    from conftest import find_real_dir
    real = find_real_dir()
    if real is None:
        return [pytest.param("absent", marks=pytest.mark.skip(reason="real logs not found"))]
    names = sorted(readme_table(real))
    return [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in names]


_CACHE: dict[str, tm.DossierLog] = {}


def n_variants(events: pd.DataFrame) -> int:
    """Distinct activity sequences of the (already sorted) log: two independent 64-bit
    position-weighted hashes plus the length identify a sequence."""
    codes, _ = pd.factorize(events[S.ACTIVITY])
    case_codes, _ = pd.factorize(events[S.CASE])
    starts = np.flatnonzero(np.r_[True, case_codes[1:] != case_codes[:-1]])
    pos = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    rng = np.random.default_rng(12345)
    keys = [np.diff(np.r_[starts, len(codes)])]
    for _ in range(2):
        weight = rng.integers(1, 2**63, size=int(pos.max()) + 1, dtype=np.uint64) | np.uint64(1)
        with np.errstate(over="ignore"):
            term = (codes.astype(np.uint64) + np.uint64(1)) * weight[pos]
        keys.append(np.add.reduceat(term, starts))
    return len(pd.DataFrame({i: k for i, k in enumerate(keys)}).drop_duplicates())


def read(real_dir: Path, name: str) -> tm.DossierLog:
    """Each file is read once per test session."""
    return real_log(real_dir / name, calendar="VN")


def test_readme_table_parsed(real_dir):
    table = readme_table(real_dir)
    assert len(table) == 15  # the 15 rows of the summary table
    assert table["road_traffic_fine_management_process.xes.gz"] == {
        "cases": 150370, "events": 561470, "activities": 11, "variants": 231}


@pytest.mark.parametrize("name", _files())
def test_counts_match_readme(real_dir, name):
    want = readme_table(real_dir)[name]
    log = read(real_dir, name)
    q = log.quality
    assert q.rows_read == want["events"]
    assert q.rows_dropped == 0
    assert q.rows_read == q.rows_used + q.rows_dropped
    assert log.n_events == want["events"]
    assert log.n_cases == want["cases"]
    assert log.events[S.ACTIVITY].nunique() == want["activities"]
    # variants after a stable sort by time (ties keep file order), as the README measured them
    assert n_variants(log.events) == want["variants"]
    # canonical shape
    ev = log.events
    assert isinstance(ev[S.TIMESTAMP].dtype, pd.DatetimeTZDtype)
    assert ev[S.TIMESTAMP].notna().all()
    # sorted by case, then time
    cc, _ = pd.factorize(ev[S.CASE], sort=True)
    assert (np.diff(cc) >= 0).all()
    t = ev[S.TIMESTAMP].to_numpy(dtype="datetime64[ns]").view(np.int64)
    same = np.diff(cc) == 0
    assert (np.diff(t)[same] >= 0).all()
    # the rows are the source's rows, each exactly once
    assert sorted(ev[S.ROW]) == list(range(1, want["events"] + 1))
    assert len(log.cases) == want["cases"]


def _dfg_equal(ours, ref):
    assert ours[0] == ref[0]  # edge -> count
    assert ours[1] == ref[1]  # start activities
    assert ours[2] == ref[2]  # end activities


@pytest.mark.parametrize("name", ["wabo_receipt_phase_coselog.xes.gz", "helpdesk.xes.gz",
                                  "bpic2013_closed_problems.xes.gz",
                                  "variant_samples/hospital_billing_1t_per_variant.xes.gz"])
def test_dfg_equals_pm4py_on_xes(real_dir, name):
    import pm4py
    log = read(real_dir, name)
    before = log.events.copy()
    ours = pm4py.discover_dfg(log.to_pm4py())  # accepted as is: no renaming, no conversion
    pd.testing.assert_frame_equal(log.events, before)  # and the log itself is untouched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pm4py.discover_dfg(pm4py_log(real_dir / name))
    _dfg_equal(ours, ref)


@pytest.mark.parametrize("name,sep,keys", [
    ("sepsis_cases.csv.gz", ";", dict(case_id="Case ID", activity_key="Activity",
                                      timestamp_key="Complete Timestamp")),
    ("bpic2015_municipality1.csv.gz", ",", None),
])
def test_dfg_equals_pm4py_on_csv(real_dir, name, sep, keys):
    import pm4py
    log = read(real_dir, name)
    ours = pm4py.discover_dfg(log.to_pm4py())
    # pm4py's route: pandas + format_dataframe. keep_default_na=False: sepsis has a case whose
    # id is the text "NA", which pandas would otherwise turn into a missing value.
    df = pd.read_csv(real_dir / name, sep=sep, keep_default_na=False, na_values=[""])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if keys:
            df = pm4py.format_dataframe(df, **keys)
        else:
            df[S.TIMESTAMP] = pd.to_datetime(df[S.TIMESTAMP], utc=True, format="ISO8601")
            df = pm4py.format_dataframe(df)
    _dfg_equal(ours, pm4py.discover_dfg(df))


def test_sepsis_reads_yyyy_mm_dd_and_semicolons(real_dir):
    log = read(real_dir, "sepsis_cases.csv.gz")
    assert log.quality.meta["separator"] == ";"
    assert log.quality.meta["time_formats"]["Complete Timestamp"] == {"ymd_slash": 15214}
    first = log.events[S.TIMESTAMP].min()
    last = log.events[S.TIMESTAMP].max()
    # README: 2013-11-07 08:18:29 ... 2015-06-05 12:25:11 (naive local times)
    assert first.strftime("%Y-%m-%d %H:%M:%S") == "2013-11-07 08:18:29"
    assert last.strftime("%Y-%m-%d %H:%M:%S") == "2015-06-05 12:25:11"
    assert "NA" in set(log.events[S.CASE])  # a real case id, not a missing value


def test_offsets_are_converted_not_dropped(real_dir):
    """WABO timestamps carry +01:00/+02:00 offsets: instants are kept exactly."""
    log = read(real_dir, "wabo_receipt_phase_coselog.xes.gz")
    first = log.events[S.TIMESTAMP].min()
    assert first == pd.Timestamp("2010-10-02T09:20:39.266+02:00")  # README's first timestamp
    assert str(first.tz) == S.DEFAULT_TZ
    # trace attributes become case:* columns; the WABO channel is recognised
    assert {"case:department", "case:responsible"} <= set(log.events.columns)
    assert set(log.events[S.CHANNEL].dropna().unique()) >= {S.CHANNEL_ONLINE, S.CHANNEL_DIRECT}
