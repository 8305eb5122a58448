"""A second core for independent array work.

numpy releases the GIL inside its loops (sorting, ufuncs, gathers), so two independent
computations on large arrays run side by side on two threads. :class:`Tasks` runs the
functions submitted to it on one worker thread, or right away in the calling thread (small
inputs, one CPU, or ``here=True`` for the caller's own share of the work); results are read with
:meth:`Tasks.result`, which re-raises a worker's exception. Results do not depend on the
threading: every function gets its own inputs and random seed.
"""
from __future__ import annotations

import os
from typing import Any, Callable

__all__ = ["Tasks", "PARALLEL_MIN_EVENTS"]

#: arrays at least this long are worth a second thread
PARALLEL_MIN_EVENTS = 500_000


class Tasks:
    def __init__(self, parallel: bool):
        self._pool = None
        if parallel and (os.cpu_count() or 1) > 1:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tthc_mining")
        self._done: dict = {}

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def submit(self, name: str, fn: Callable, *args: Any, here: bool = False, **kwargs: Any) -> None:
        """Start ``fn`` on the worker, or run it now in this thread (``here=True``, or no
        worker): the calling thread then works while the worker does."""
        if self._pool is None or here:
            self._done[name] = (False, fn(*args, **kwargs))
        else:
            self._done[name] = (True, self._pool.submit(fn, *args, **kwargs))

    def result(self, name: str) -> Any:
        pending, out = self._done.pop(name)
        if pending:
            out = out.result()
        if self._pool is not None and not any(p for p, _ in self._done.values()):
            self._pool.shutdown(wait=True)
        return out
