"""Fused array kernels compiled with numba.

The hot paths of the in-memory engine (the working-time axis, the segments, the directly-follows
statistics and the bottleneck evidence) are single passes over integer codes and int64
nanoseconds. Written as numpy chains they make one full pass and one temporary array per
operation; compiled with numba they make one pass and no temporaries, release the GIL (so the
second core of :class:`tthc_mining.parallel.Tasks` really runs them side by side) and give the same
numbers: every kernel adds in the same order as the numpy code it replaced, so sums, means and
quantiles are bit-identical (the tests compare them with plain references).

Compilation is cached on disk (``cache=True``: ``__pycache__`` next to the module, or
``NUMBA_CACHE_DIR``): the first call of a kernel on a machine compiles it (about a second), later
processes load it (milliseconds, after about half a second to start numba once per process).
:func:`warm` does that start-up and loads or compiles every kernel with the argument types the
library passes, by running the main statistics on a small synthetic log; the benchmarks call it
before their clocks start, as they import pm4py before its clocks start, and
:func:`n_compiled` lets them check that nothing was compiled inside the clocks.

Kernel arguments have fixed types (the Python wrapper next to each kernel casts them), so that the
types compiled by :func:`warm` are the ones used on any log: dossier and row codes ``int64`` or
``int32`` as each kernel documents, durations ``float64``, instants ``int64`` nanoseconds.

Set ``NUMBA_DISABLE_JIT=1`` to run the kernels as plain Python (slow; for debugging).
"""
from __future__ import annotations

from typing import Callable

__all__ = ["kernel", "warm", "n_compiled", "readonly"]

#: every compiled kernel (their dispatchers), for :func:`n_compiled`
_REGISTRY: list = []
#: kernel modules whose ``warm_types()`` (if any) :func:`warm` calls after the small-log run
_MODULES = ("calendar", "segments", "discovery", "bottlenecks", "stats", "timing")


def kernel(fn: Callable | None = None, **options) -> Callable:
    """``numba.njit`` with the library's defaults (``cache=True, nogil=True``; no fastmath:
    results must equal the numpy references). Use as ``@kernel`` or ``@kernel(parallel=True)``."""
    def wrap(f: Callable) -> Callable:
        from numba import njit
        options.setdefault("cache", True)
        options.setdefault("nogil", True)
        d = njit(**options)(f)
        _REGISTRY.append(d)
        return d
    return wrap(fn) if fn is not None else wrap


def readonly(a, dtype=None):
    """``a`` as a C-contiguous read-only array of ``dtype`` (no copy when it already is one):
    kernels then see one array type whether their input came writable (computed in memory) or
    read-only (Arrow buffers from Parquet, pandas' copy-on-write views), so their compiled
    signatures are the ones :func:`warm` loads. (No numba import: wrappers call it freely.)"""
    import numpy as np
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def n_compiled() -> int:
    """How many (kernel, argument types) specialisations this process has compiled or loaded
    so far: a benchmark reads it before and after its timed calls."""
    return sum(len(getattr(d, "signatures", ())) for d in _REGISTRY)


def warm(n_dossiers: int = 3000, seed: int = 0) -> int:
    """Start numba and load (or, the first time on a machine, compile) the kernels with the
    argument types the library uses, by running ``tm.discover``, ``tm.bottlenecks`` (every ``by``),
    ``tm.timing``, ``tm.variants``, ``tm.rework`` and ``tm.summary`` on a small synthetic province
    read from Parquet, then each kernel module's ``warm_types()`` (paths a small log does not
    reach). Returns :func:`n_compiled`."""
    import tempfile
    from pathlib import Path

    import tthc_mining as tm
    from ..io import write_log
    events = tm.synth.province(n_dossiers, seed=seed).log.events
    with tempfile.TemporaryDirectory(prefix="tthc_warm_") as tmp:   # the Parquet reader's types
        path = Path(tmp) / "warm.parquet"
        write_log(events, path)
        log = tm.read_log(path)
    tm.discover(log)
    for by in ("activity", "transition", "unit", "resource"):
        tm.bottlenecks(log, by=by)
    tm.timing(log)
    tm.variants(log)
    tm.rework(log)
    tm.summary(log)
    import importlib
    for name in _MODULES:     # paths a small log does not reach (e.g. large-row intervals)
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            continue
        if hasattr(mod, "warm_types"):
            mod.warm_types()
    del log, events
    from ..memory import release_memory
    release_memory()        # the small run's freed memory back to the system before real work
    return n_compiled()
