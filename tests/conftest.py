"""Shared test fixtures.

``real_dir`` finds the real public logs (``../shared/datasets/real``) through the environment
variable ``TTHC_REAL_DATA`` or by walking up from this file to a ``shared`` folder, and skips the
test with a clear reason when they are absent (a user's clone).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def find_real_dir() -> Path | None:
    env = os.environ.get("TTHC_REAL_DATA")
    if env:
        p = Path(env)
        return p if p.is_dir() else None
    for parent in [ROOT, *ROOT.parents]:
        cand = parent / "shared" / "datasets" / "real"
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def real_dir() -> Path:
    p = find_real_dir()
    if p is None:
        pytest.skip("real public logs not found: set TTHC_REAL_DATA or place them in ../shared/datasets/real")
    return p


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return ROOT / "datasets"


# ---------------------------------------------------------------- one read per real file
# The real logs are read by several test modules (reader counts, DFG equality, rework equality).
# These per-process caches read each file once per test worker (`make test` runs
# ``--dist loadfile``: modules on the same worker share the cache).
_REAL_LOGS: dict = {}
_PM4PY_LOGS: dict = {}


def real_log(path, *, calendar: str = "24x7"):
    """``tm.read_log`` of a real file, read once per process; ``calendar`` '24x7' or 'VN'
    (both views share one events table: treat it as read-only)."""
    import tthc_mining as tm
    from tthc_mining.calendar import continuous

    key = (str(path), calendar)
    if key not in _REAL_LOGS:
        base_key = (str(path), "VN")
        if base_key not in _REAL_LOGS:
            _REAL_LOGS[base_key] = tm.read_log(path)
        base = _REAL_LOGS[base_key]
        if calendar != "VN":
            _REAL_LOGS[key] = tm.DossierLog(events=base.events, quality=base.quality,
                                            calendar=continuous(), catalog=base.catalog,
                                            source=base.source)
    return _REAL_LOGS[key]


def pm4py_log(path):
    """``pm4py.read_xes`` of a real XES file as a DataFrame (cached per process)."""
    key = str(path)
    if key not in _PM4PY_LOGS:
        import pm4py

        _PM4PY_LOGS[key] = pm4py.read_xes(str(path), show_progress_bar=False)
    return _PM4PY_LOGS[key].copy()

