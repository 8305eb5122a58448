"""Exact quantiles per group that spill: a GROUP BY of (group, value) counts plus a running sum.

DuckDB's ``quantile_cont`` keeps every value of a group in its aggregate state, in memory that
the buffer manager cannot spill: with few groups over 100 million events (per step, per
transition) that is gigabytes, and the query fails with "Out of Memory" under a 3 GB limit.
Here the same exact quantiles (linear interpolation between the order statistics, numpy's
default and ``quantile_cont``'s) come from

1. ``GROUP BY key, value`` -> ``n`` (a hash aggregate, which spills; one row per *distinct*
   value of a group: durations of whole-second logs repeat a lot);
2. per key, the running sum of ``n`` in value order (a window over the distinct values only)
   -> each distinct value covers the 0-based ranks ``[hi - n, hi)`` of its group, and the group
   size ``N``;
3. only the rows covering the ranks ``floor((N-1) q)`` and ``ceil((N-1) q)`` of each wanted
   ``q`` come back to pandas (at most two per quantile and group), where
   ``v_lo + (v_hi - v_lo) * ((N-1) q - floor((N-1) q))`` is computed as DuckDB does.

Both backends run it (Spark too), the values are exact (the same order statistics), NULL values
are ignored, and a group without values gets NaN.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .core import _ibis

__all__ = ["exact_quantiles"]


def exact_quantiles(t: Any, keys: Sequence[str], value: Any,
                    qs: Sequence[float] = (0.5, 0.9)) -> pd.DataFrame:
    """Exact quantiles ``qs`` of ``value`` (an expression of ``t``) per ``keys`` (columns of
    ``t``). Returns a pandas frame: the key columns and ``q0, q1, ...`` (float64), one row per
    group that has at least one non-NULL value."""
    ibis = _ibis()
    keys = list(keys)
    v = t.select(*keys, _v=value.cast("float64"))
    v = v.filter(v["_v"].notnull())
    h = v.group_by([*keys, "_v"]).aggregate(_n=v.count())
    part = [h[k] for k in keys]
    run = ibis.window(group_by=part, order_by=h["_v"], rows=(None, 0))
    h = h.mutate(_hi=h["_n"].sum().over(run), _tot=h["_n"].sum().over(ibis.window(group_by=part)))
    lo = h["_hi"] - h["_n"]
    conds = []
    for q in qs:
        pos = (h["_tot"] - 1).cast("float64") * float(q)
        for r in (pos.floor().cast("int64"), pos.ceil().cast("int64")):
            conds.append((lo <= r) & (r < h["_hi"]))
    sel = h.filter(ibis.or_(*conds)).select(*keys, "_v", "_n", "_hi", "_tot")
    df = sel.to_pandas()
    cols = [f"q{j}" for j in range(len(qs))]
    if df.empty:
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys},
                             **{c: pd.Series(dtype=np.float64) for c in cols}})
    df["_lo"] = df["_hi"].astype(np.int64) - df["_n"].astype(np.int64)
    df = df.sort_values("_lo", kind="stable")
    rows = []
    for key, g in df.groupby(keys, dropna=False, sort=False):
        tot = int(g["_tot"].iloc[0])
        los = g["_lo"].to_numpy(np.int64)
        vals = g["_v"].to_numpy(np.float64)

        def at(r: int) -> float:
            i = int(np.searchsorted(los, r, side="right")) - 1
            return float(vals[i])

        out = []
        for q in qs:
            pos = float(tot - 1) * float(q)
            f, c = math.floor(pos), math.ceil(pos)
            a = at(f)
            if c == f:
                out.append(a)
            else:
                b = at(c)
                out.append(a + (b - a) * (pos - f))
        rows.append((*(key if isinstance(key, tuple) else (key,)), *out))
    res = pd.DataFrame(rows, columns=[*keys, *cols])
    for c in cols:
        res[c] = res[c].astype(np.float64)
    return res
