"""The numba kernels: one set of compiled argument types serves logs of any size.

``tthc_mining.kernels.warm()`` compiles (or loads) the kernels on a small province; a log with
more than 32,767 dossiers has int32 instead of int16 category codes, and a Parquet file gives
read-only Arrow buffers where a DataFrame gives writable arrays. The wrappers cast to fixed types,
so nothing may be compiled again: the benchmarks rely on it (they warm before their clocks).
"""
from __future__ import annotations

import pytest

import tthc_mining as tm
import tthc_mining.kernels as kernels
from tthc_mining.io import write_log


@pytest.fixture(scope="module")
def warmed():
    return kernels.warm(n_dossiers=1500, seed=1)


def test_warm_compiles_kernels(warmed):
    assert warmed > 0
    assert kernels.n_compiled() == warmed


def test_no_new_specialisation_on_a_larger_log(warmed, tmp_path):
    log = tm.synth.province(34_000, seed=2, months=2).log
    assert log.events["case:concept:name"].cat.codes.dtype.itemsize >= 4   # int32 codes
    path = tmp_path / "big.parquet"
    write_log(log.events, path)
    before = kernels.n_compiled()
    for lg in (tm.read_log(path), log):
        tm.discover(lg)
        for by in ("activity", "transition", "unit", "resource"):
            tm.bottlenecks(lg, by=by)
        tm.timing(lg)
        tm.variants(lg)
        tm.rework(lg)
    assert kernels.n_compiled() == before, [
        (d.py_func.__name__, d.signatures) for d in kernels._REGISTRY if len(d.signatures) > 1]


def test_import_does_not_import_numba():
    import subprocess
    import sys
    code = "import sys, tthc_mining; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
