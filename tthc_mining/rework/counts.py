"""Count-only rework statistics: how many dossiers execute each step more than once.

:func:`rework` detects, prices and attributes every kind of loop; when only the counts are
wanted (a dashboard tile, a comparison with pm4py's ``get_rework_cases_per_activity``), these
functions answer from the integer codes of the log in one pass, without building the report.
The numbers are the same as ``tm.rework(log).by_activity`` (``cases``, ``cases_with_repeat``)
and as pm4py's function.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S

__all__ = ["rework_counts", "cases_per_activity"]

#: use a dense (dossier x step) count table up to this many cells per event; a sort otherwise
_DENSE_CELLS_PER_EVENT = 8


def _step_counts(case: np.ndarray, act: np.ndarray, n_case: int, n_act: int):
    """Per step: dossiers where it occurs, dossiers where it occurs more than once.

    Dossier-major logs (the reader's order) are counted in blocks of dossiers on a dense,
    cache-sized (dossier x step) table; other orders and very sparse tables by one sort."""
    occurs = np.zeros(n_act, dtype=np.int64)
    repeat = np.zeros(n_act, dtype=np.int64)
    n = len(case)
    if n == 0:
        return occurs, repeat
    dense = n_case * n_act <= _DENSE_CELLS_PER_EVENT * n
    if dense and bool(np.all(case[1:] >= case[:-1])):
        per_block = max(1, (1 << 18) // max(n_act, 1))     # ~2 MB of counts per block
        bounds = np.searchsorted(case, np.arange(0, n_case + per_block, per_block))
        for i in range(len(bounds) - 1):
            lo, hi = bounds[i], bounds[i + 1]
            if lo == hi:
                continue
            c0 = case[lo]
            key = (case[lo:hi] - c0) * n_act + act[lo:hi]
            cnt = np.bincount(key, minlength=(int(case[hi - 1] - c0) + 1) * n_act).reshape(-1, n_act)
            occurs += np.count_nonzero(cnt, axis=0)
            repeat += np.count_nonzero(cnt > 1, axis=0)
        return occurs, repeat
    key = case * n_act + act
    uniq, cnt = np.unique(key, return_counts=True)
    step = uniq % n_act
    return np.bincount(step, minlength=n_act), np.bincount(step[cnt > 1], minlength=n_act)


def rework_counts(log, *, procedure: str | None = None) -> pd.DataFrame:
    """Per step: ``cases`` (dossiers where it occurs), ``cases_with_repeat`` (dossiers where it
    occurs more than once), ``share_repeat`` (= cases_with_repeat / cases, with ``cases`` its
    sample size), ``events`` and ``extra_executions`` (events beyond the first per dossier).

    Sorted by ``cases_with_repeat`` (descending), then step name. Rows whose dossier id or step
    is missing are not in the log's events (the reader counts them in ``log.quality``).
    """
    if procedure is not None:
        log = log.filter(procedure=procedure)
    case, _ = log.codes(S.CASE)
    act, acts = log.codes(S.ACTIVITY)
    ok = (case >= 0) & (act >= 0)
    if not ok.all():
        case, act = case[ok], act[ok]
    n_act = len(acts)
    n_case = int(case.max()) + 1 if len(case) else 0
    cases, repeat = _step_counts(case, act, n_case, n_act)
    events = np.bincount(act, minlength=n_act).astype(np.int64)
    out = pd.DataFrame({
        "activity": pd.Index(acts).astype(str),
        "cases": cases, "cases_with_repeat": repeat,
        "share_repeat": np.divide(repeat, cases, out=np.full(n_act, np.nan), where=cases > 0),
        "events": events, "extra_executions": events - cases,
    })
    out = out.loc[out["cases"] > 0]
    return out.sort_values(["cases_with_repeat", "activity"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)


def cases_per_activity(log, *, procedure: str | None = None) -> dict[str, int]:
    """``{step: dossiers where it occurs more than once}``, as pm4py's
    ``get_rework_cases_per_activity`` returns it (steps without rework are left out)."""
    t = rework_counts(log, procedure=procedure)
    t = t.loc[t["cases_with_repeat"] > 0]
    return dict(zip(t["activity"], t["cases_with_repeat"].astype(int).tolist()))
