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
