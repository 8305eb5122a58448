"""Giving freed memory back to the operating system after large transient work.

Reading a log and computing its segments or timing allocates and frees many arrays of a few
megabytes each (one or two bytes per event). glibc serves such blocks from its heap and keeps
the freed ones mapped (fragmentation), and Arrow's memory pool caches freed buffers: after
reading 6 million events about 400 MB of freed memory still counted against the process.
:func:`release_memory` hands both back (``malloc_trim(0)`` on glibc, the Arrow pool's
``release_unused``); it costs a few milliseconds and changes no data. Elsewhere (another libc,
no pyarrow) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["release_memory", "releases_memory"]

_TRIM = None


def _malloc_trim():
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                trim = libc.malloc_trim
                trim.argtypes = [ctypes.c_size_t]
                trim.restype = ctypes.c_int
                _TRIM = trim
            except (OSError, AttributeError):  # musl and others: nothing to do
                _TRIM = False
    return _TRIM


def release_memory() -> None:
    """Return cached free memory (glibc heap, Arrow pool) to the operating system."""
    try:
        import pyarrow as pa
        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - no pyarrow or an old one
        pass
    trim = _malloc_trim()
    if trim:
        trim(0)


def releases_memory(func):
    """Decorator: :func:`release_memory` once ``func`` has returned (its local arrays are only
    freed at the return, so the call has to come after it)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            release_memory()
    return wrapper
