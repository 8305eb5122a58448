"""Fuzzing (issue 8, point 6): every input that once crashed a reader (fuzz/regressions) and a
short random search through the same fuzz targets as ``make fuzz`` (fuzz/common.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
import common  # noqa: E402

REGRESSIONS = sorted(p for p in (ROOT / "fuzz" / "regressions").rglob("*") if p.is_file())


def test_there_are_regressions_for_the_crashes_found():
    assert len(REGRESSIONS) >= 4


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regression(path, capfd):
    """A file (replayed as it is) or a fuzzer input (``*.bin``, replayed through the target of
    its folder): a clear error or a log whose invariants hold, and nothing printed."""
    if path.suffix == ".bin":
        outcome = common.run_one(path.parent.name, path.read_bytes())
    else:
        outcome = common.check_file(path)
    assert outcome in ("error", "log", "log, analysis error", "skip", "empty")
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)


@pytest.mark.parametrize("name,outcome,issues", [
    ("gz_name_not_gzip.csv.gz", "log", {}),
    ("bad_utf8_in_malformed_row.csv", "log", {"malformed_record": 1, "mixed_encoding": 1}),
    ("midnight_1900.csv", "log", {"unparsable_timestamp": 2}),
    ("dates_outside_calendar.parquet", "log", {"unparsable_timestamp": 1}),
])
def test_regression_outcomes(name, outcome, issues):
    import tthc_mining as tm
    path = next(p for p in REGRESSIONS if p.name == name)
    log = tm.read_log(path)
    assert {i.reason: i.count for i in log.quality.issues} == issues
    tm.discover(log)
    tm.timing(log)               # every time the reader accepts fits the working calendar


@pytest.mark.parametrize("kind", ["csv", "xes", "excel", "parquet"])
def test_seeds_of_every_reader(kind):
    for data in common.seeds(kind):
        assert common.run_one(kind, data) in ("error", "log", "log, analysis error", "skip")


@pytest.mark.parametrize("kind", ["csv", "xes", "excel", "parquet"])
def test_short_random_search(kind):
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(min_size=1, max_size=2048))
    def one(data):
        common.run_one(kind, data)

    one()
