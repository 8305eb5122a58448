"""Confidence intervals for the rework report: thin adapters over :mod:`tthc_mining.stats`.

* Rates: Wilson score interval (:func:`tthc_mining.stats.wilson`).
* Times and counts: bootstrap over **dossiers** with Poisson(1) weights, or the random-group
  bootstrap of :func:`tthc_mining.stats.bootstrap_mean_ci` for large logs, computed for many
  metrics and strata (procedures, units, officers, months ...) with one shared weight matrix.
"""
from __future__ import annotations

import numpy as np

from ..stats import wilson

N_BOOT = 200


def rate(k, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rate, lower, upper) arrays of ``k / n`` with the Wilson interval; NaN where ``n == 0``."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    lo, hi = wilson(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    return p, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def nan_quantiles(reps: np.ndarray, qs) -> list[np.ndarray]:
    """Column-wise quantiles of ``reps`` (replicates x columns) ignoring NaN, vectorised (numpy's
    linear interpolation); NaN for columns without values."""
    r = np.sort(reps, axis=0)  # NaN sort last
    v = np.isfinite(r).sum(axis=0)
    out = []
    cols = np.arange(r.shape[1])
    for q in qs:
        pos = q * np.maximum(v - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(v - 1, 0))
        frac = pos - lo
        a = r[lo, cols]
        b = r[hi, cols]
        val = a + (b - a) * frac
        out.append(np.where(v > 0, val, np.nan))
    return out


def dossier_means(values: dict, partition: np.ndarray, n_part: int, *, n_boot: int = N_BOOT,
                  seed: int = 0, exact_max: int = 4000, n_groups: int = 2000,
                  level: float = 0.95) -> dict:
    """Means of many per-dossier values, for all dossiers and per part of a partition
    (procedures), with percentile intervals from one shared dossier bootstrap.

    ``values``: ``{metric: array of one value per dossier}`` (NaN = no value). ``partition``:
    part code per dossier (-1 = in no part). Strata are ``0`` = all dossiers and ``1 + part``.
    Resampling: Poisson(1) weights per dossier when there are at most ``exact_max`` dossiers;
    otherwise dossiers are dealt at random into ``n_groups`` buckets and the buckets are resampled
    (the random-group bootstrap of :func:`tthc_mining.stats.bootstrap_mean_ci`: the variance of a
    mean is kept up to a factor ``1 - 1/n_groups``). One weight matrix serves every metric and
    stratum (no loop over dossiers). Returns ``{metric: (mean, low, high, n)}`` with arrays of
    length ``1 + n_part``; strata with fewer than 2 dossiers get NaN bounds.
    """
    C = int(np.asarray(partition).size)
    S_ = 1 + int(n_part)
    rng = np.random.default_rng(seed)
    part = np.asarray(partition, dtype=np.int64)
    if C <= exact_max:
        unit = np.arange(C, dtype=np.int64)
        U = C
    else:
        unit = rng.integers(0, n_groups, size=C)
        U = int(n_groups)
    in_part = part >= 0
    names = list(values)
    nums, dens = [], []
    for name in names:
        v = np.asarray(values[name], dtype=np.float64)
        ok = np.isfinite(v)
        x = np.where(ok, v, 0.0)
        # stratum 0 (all) and the parts, reduced to (stratum, unit) sums
        num = np.zeros((S_, U))
        den = np.zeros((S_, U))
        num[0] = np.bincount(unit, weights=x, minlength=U)
        den[0] = np.bincount(unit, weights=ok.astype(np.float64), minlength=U)
        if n_part:
            key = part[in_part] * U + unit[in_part]
            num[1:] = np.bincount(key, weights=x[in_part], minlength=n_part * U).reshape(n_part, U)
            den[1:] = np.bincount(key, weights=ok[in_part].astype(np.float64),
                                  minlength=n_part * U).reshape(n_part, U)
        nums.append(num)
        dens.append(den)
    out: dict = {}
    if not names:
        return out
    NUM = np.concatenate(nums)  # (M*S, U)
    DEN = np.concatenate(dens)
    w = rng.poisson(1.0, size=(int(n_boot), U)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = NUM.sum(axis=1) / DEN.sum(axis=1)
        reps = (w @ NUM.T) / (w @ DEN.T)  # (B, M*S)
    reps = np.where(np.isfinite(reps), reps, np.nan)
    a = (1.0 - level) / 2.0
    lo, hi = nan_quantiles(reps, (a, 1.0 - a))
    # dossiers per stratum with a value (for every metric)
    for k, name in enumerate(names):
        v = np.asarray(values[name], dtype=np.float64)
        ok = np.isfinite(v)
        n = np.r_[ok.sum(), np.bincount(part[in_part & ok], minlength=n_part)] if n_part else np.array([ok.sum()])
        sl = slice(k * S_, (k + 1) * S_)
        e, l_, h_ = est[sl], lo[sl], hi[sl]
        few = n < 2
        l_ = np.where(few, np.nan, np.minimum(l_, e))
        h_ = np.where(few, np.nan, np.maximum(h_, e))
        out[name] = (e, l_, h_, n.astype(np.int64))
    return out


def means_by_key(values: dict, dossier: np.ndarray, key: np.ndarray, n_keys: int, *,
                 n_boot: int = N_BOOT, seed: int = 0, exact_max: int = 4000,
                 n_groups: int = 2000, level: float = 0.95) -> dict:
    """Per key, the mean of observation-level values (e.g. hours per loop, the loops triggered
    by each officer) with a bootstrap over the dossiers the observations belong to.

    Same resampling as :func:`dossier_means` (Poisson weights per dossier, or per random bucket
    of dossiers when there are more than ``exact_max``), shared by every metric. Returns
    ``{metric: (mean, low, high, n_dossiers)}`` arrays of length ``n_keys``.
    """
    dossier = np.asarray(dossier, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    K = int(n_keys)
    out: dict = {}
    if K == 0:
        return {m: (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.int64)) for m in values}
    rng = np.random.default_rng(seed)
    ud, dcode = np.unique(dossier, return_inverse=True) if dossier.size else (np.zeros(0, np.int64), dossier)
    D = ud.size
    if D <= exact_max:
        unit, U = dcode, max(D, 1)
    else:
        unit, U = rng.integers(0, n_groups, size=D)[dcode], int(n_groups)
    # dossiers behind each key
    pk = np.unique(key * max(D, 1) + dcode) if key.size else np.zeros(0, np.int64)
    n_doss = np.bincount(pk // max(D, 1), minlength=K).astype(np.int64)
    from scipy import sparse
    cnt = sparse.csr_matrix((np.ones(key.size), (key, unit)), shape=(K, U))
    w = rng.poisson(1.0, size=(U, int(n_boot))).astype(np.float64)
    den_rep = np.asarray(cnt @ w)  # (K, B)
    den_tot = np.asarray(cnt.sum(axis=1)).ravel()
    a = (1.0 - level) / 2.0
    for name, v in values.items():
        v = np.nan_to_num(np.asarray(v, dtype=np.float64))
        num = sparse.csr_matrix((v, (key, unit)), shape=(K, U))
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.asarray(num.sum(axis=1)).ravel() / den_tot
            reps = np.asarray(num @ w) / den_rep  # (K, B)
        reps = np.where(np.isfinite(reps), reps, np.nan).T
        lo, hi = nan_quantiles(reps, (a, 1.0 - a))
        few = n_doss < 2
        out[name] = (est, np.where(few, np.nan, np.minimum(lo, est)),
                     np.where(few, np.nan, np.maximum(hi, est)), n_doss)
    return out
