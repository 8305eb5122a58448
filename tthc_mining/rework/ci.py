"""Confidence intervals for the rework report: thin adapters over :mod:`tthc_mining.stats`.

* Rates: Wilson score interval (:func:`tthc_mining.stats.wilson`).
* Times and counts: bootstrap over **dossiers** (:func:`tthc_mining.stats.bootstrap_mean_ci`),
  many strata (units, officers, months ...) at once with the same dossier weights.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import bootstrap_mean_ci, wilson

N_BOOT = 400


def rate(k, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rate, lower, upper) arrays of ``k / n`` with the Wilson interval; NaN where ``n == 0``."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    lo, hi = wilson(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    return p, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def mean_by(values, dossier, stratum_codes, strata: pd.Index, *, n_boot: int = N_BOOT,
            seed: int = 0) -> pd.DataFrame:
    """Mean of ``values`` per stratum (ratio of sums over observations) with a dossier bootstrap
    interval; columns ``mean, ci_low, ci_high, n`` (dossiers), indexed like ``strata``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return pd.DataFrame({"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0},
                            index=strata)
    out = bootstrap_mean_ci(values, groups=np.asarray(dossier, dtype=np.int64),
                            by=(np.asarray(stratum_codes, dtype=np.int64), strata),
                            n_boot=n_boot, seed=seed)
    return out[["mean", "ci_low", "ci_high", "n"]]


def mean(values, dossier=None, *, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float, int]:
    """(mean, lower, upper, n dossiers) of one value per observation, dossier bootstrap."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).any():
        return float("nan"), float("nan"), float("nan"), 0
    r = bootstrap_mean_ci(values, groups=None if dossier is None else np.asarray(dossier),
                          n_boot=n_boot, seed=seed)
    return r.mean, r.low, r.high, r.n
