"""Rework loops and the hidden clock: ``tm.rework(log) -> ReworkReport``.

Loop detection at dossier level (self-loops, repetitions split into edeaR's *repeat* and *redo*,
re-executions by the same or another officer, ping-pong between units, supplement loops from the
activity roles, back-edges against the procedure's normal order, cycles of the process map), the
price of every loop in working time (agency / citizen / third party, extra steps, extra
hand-overs), attribution to the step, officer and unit that triggered it, and the hidden clock
(late supplement requests, double requests, moved due dates, re-appointments, clock restarts,
online dossiers entered at the desk). See :mod:`tthc_mining.rework.detect` and
:mod:`tthc_mining.rework.clock` for the exact definitions.

Naming follows bupaR's edeaR (``number_of_selfloops`` / ``number_of_repetitions``): a **repeat**
is a repetition by the **same** resource, a **redo** one by a **different** resource (edeaR's
documentation: "Repeat self-loops ... by the same resource ... Redo self-loops ... by a different
resource"). The officer-level view of every single re-execution is in ``reexec_same_officer`` /
``reexec_other_officer``.
"""
from __future__ import annotations

import sys
import types

from .clock import RULES
from .counts import cases_per_activity, rework_counts
from .report import ReworkReport, rework

__all__ = ["rework", "ReworkReport", "RULES", "rework_counts", "cases_per_activity"]


class _CallableModule(types.ModuleType):
    """``tm.rework`` may resolve to this module (lazy import / ``import tthc_mining.rework``);
    calling it runs :func:`rework`, so ``tm.rework(log)`` works either way."""

    def __call__(self, *args, **kwargs):
        return rework(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
