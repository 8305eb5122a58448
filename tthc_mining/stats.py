"""Honest uncertainty: Wilson intervals for rates and a vectorised dossier bootstrap for means.

``../shared/docs/methods.md`` §4: the unit of resampling is the *dossier* (events of one dossier
are not independent). :func:`bootstrap_mean_ci` draws Poisson(1) weights per dossier (the
"Poisson bootstrap", equivalent to the multinomial bootstrap for large samples) and evaluates
every replicate as a matrix product on per-(stratum, dossier) sums, so one call gives the
intervals of many strata (activities, units, procedures) at once, with dossiers resampled jointly
across strata.

No per-row or per-dossier Python: the work is ``n_pairs x n_boot`` multiply-adds done by
scipy.sparse in chunks. When that product would be too large (hundreds of thousands of
dossiers), dossiers are first assigned at random to ``n_groups`` buckets and the buckets are
resampled (the *random-group* bootstrap). For a ratio-of-sums statistic the linearised
contributions sum to zero, so the bucket bootstrap keeps the variance up to a factor
``1 - 1/n_groups``; strata with fewer dossiers than buckets are resampled almost dossier by
dossier. The method used is reported in the result (``method`` column / attribute).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import ConfigError
from .kernels import readonly as _ro

__all__ = ["wilson", "z_value", "bootstrap_mean_ci", "MeanCI"]


def z_value(ci: float = 0.95) -> float:
    """Two-sided standard-normal quantile for a confidence level (0.95 -> 1.959964)."""
    if not 0.0 < float(ci) < 1.0:
        raise ConfigError(f"confidence level must be between 0 and 1, got {ci!r}")
    from statistics import NormalDist  # stdlib: no scipy.stats import cost
    return float(NormalDist().inv_cdf(0.5 + float(ci) / 2.0))


def wilson(k: Any, n: Any, ci: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a proportion ``k / n`` (vectorised).

    ``k`` and ``n`` may be scalars or arrays (broadcast). Returns ``(low, high)``, scalars for
    scalar input; NaN where ``n == 0`` or either is missing. Raises :class:`ConfigError` when
    ``k < 0`` or ``k > n``.

    >>> [round(x, 4) for x in wilson(5, 10)]
    [0.2366, 0.7634]
    """
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    k, n = np.broadcast_arrays(k, n)
    ok = np.isfinite(k) & np.isfinite(n) & (n > 0)
    if np.any(ok & ((k < 0) | (k > n + 1e-9))):
        bad = np.flatnonzero((ok & ((k < 0) | (k > n + 1e-9))).ravel())[0]
        raise ConfigError(f"wilson: k={k.ravel()[bad]!r} is outside 0..n={n.ravel()[bad]!r}")
    z = z_value(ci)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        nn = np.where(ok, n, 1.0)
        p = np.where(ok, k, 0.0) / nn
        denom = 1.0 + z2 / nn
        centre = (p + z2 / (2.0 * nn)) / denom
        half = z * np.sqrt(np.maximum(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn), 0.0)) / denom
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    # exact ends: k == 0 -> low 0, k == n -> high 1 (avoid 1e-17 rounding)
    low = np.where(ok & (k <= 0), 0.0, low)
    high = np.where(ok & (k >= n), 1.0, high)
    low = np.where(ok, low, np.nan)
    high = np.where(ok, high, np.nan)
    if scalar:
        return float(low), float(high)
    return low, high


class MeanCI(NamedTuple):
    """A mean with its bootstrap percentile interval and sample sizes."""

    mean: float
    low: float
    high: float
    n: int        # resampling units (dossiers) with at least one value
    n_obs: int    # observations (e.g. events) behind the mean
    method: str   # "exact" | "groups" | "none"


# default work budget: n_pairs * n_boot multiply-adds in the exact Poisson bootstrap
_EXACT_BUDGET = 4e8
_CHUNK_CELLS = 2e7  # weights drawn per chunk (n_boot_chunk * n_units)


def _codes(labels: Any, n: int, what: str) -> tuple[np.ndarray, pd.Index | None]:
    if labels is None:
        return np.zeros(n, dtype=np.int64), None
    if isinstance(labels, tuple) and len(labels) == 2 and isinstance(labels[1], pd.Index):
        codes, uniques = labels  # already factorised (codes, uniques)
        codes = np.asarray(codes, dtype=np.int64)
    else:
        arr = labels.to_numpy() if isinstance(labels, (pd.Series, pd.Index)) else np.asarray(labels)
        codes, uniques = pd.factorize(arr.ravel(), sort=False)
        codes = np.asarray(codes, dtype=np.int64)
        uniques = pd.Index(uniques)
    if len(codes) != n:
        raise ConfigError(f"bootstrap_mean_ci: {what} has {len(codes)} entries, values has {n}")
    return codes, uniques


def _dense_ranks(codes: np.ndarray):
    """Ranks of the values among the distinct values (``np.unique(codes, return_inverse=True)``
    without the sort when the codes are small non-negative integers: a presence table).

    When every code ``0..max`` occurs the codes are their own ranks and are returned as they
    are (no copy: callers must not write into them)."""
    if codes.size == 0:
        return codes.astype(np.int64), 0
    lo, hi = int(codes.min()), int(codes.max())
    if lo >= 0 and hi < max(4 * codes.size, 1 << 20):
        present = np.bincount(codes, minlength=hi + 1) > 0
        if lo == 0 and bool(present.all()):
            return codes.astype(np.int64, copy=False), hi + 1      # already dense
        lut = np.cumsum(present, dtype=np.int64)
        lut -= 1
        return lut[codes], int(lut[-1]) + 1
    uniq, inv = np.unique(codes, return_inverse=True)
    return inv.astype(np.int64), len(uniq)


def bootstrap_mean_ci(values: Any, groups: Any = None, *, by: Any = None, n_boot: int = 1000,
                      ci: float = 0.95, seed: int | None = 0, method: str = "auto",
                      n_groups: int = 2000, budget: float = _EXACT_BUDGET,
                      normal_min_units: int | None = None) -> MeanCI | pd.DataFrame:
    """Mean of ``values`` with a percentile bootstrap interval, resampling whole dossiers.

    Parameters
    ----------
    values:
        Observations (e.g. waiting hours of events, or one value per dossier). NaN are ignored.
    groups:
        Resampling unit of each observation (dossier id or integer code). ``None``: every
        observation is its own unit (ordinary bootstrap).
    by:
        Optional stratum of each observation (activity, unit, procedure ...). With ``by`` the
        result is a DataFrame with one row per stratum; dossiers are resampled jointly across
        strata (the same weights for a dossier in every stratum).
        Either array-like labels or a pre-factorised ``(codes, uniques)`` pair (codes -1 = drop).
    n_boot, ci, seed:
        Number of replicates, confidence level, random seed (reproducible by default).
    method:
        ``"exact"`` (Poisson weight per dossier), ``"groups"`` (random-group bootstrap over
        ``n_groups`` buckets of dossiers), or ``"auto"`` (exact while
        ``n_pairs * n_boot <= budget``).
    normal_min_units:
        Strata with at least this many resampling units (dossiers) get the **dossier-clustered
        normal interval** instead of the bootstrap: ``mean ± z · se`` with the linearised
        (delta-method, cluster-robust) standard error of the ratio of sums,
        ``se² = k/(k-1) · Σ_i (s_i - mean · c_i)² / C²`` over the ``k`` dossiers of the stratum
        (``s_i`` / ``c_i`` their sum / count of observations, ``C`` the stratum's count). With
        thousands of dossiers this is what the bootstrap of the same ratio converges to, at the
        cost of a few passes over the data instead of ``n_boot`` resamples. Strata with fewer
        dossiers keep the bootstrap (resampling only their own dossiers). ``None`` (default):
        the bootstrap everywhere. The result's ``method`` then reads ``"normal"``, or
        ``"normal+exact"`` / ``"normal+groups"`` when both were used.

    Returns
    -------
    :class:`MeanCI` without ``by``; with ``by`` a DataFrame indexed by stratum with columns
    ``mean, ci_low, ci_high, n, n_obs`` and ``attrs`` ``{"method", "n_boot", "ci"}``. The mean is
    the ratio of sums over all observations of the stratum (each event weighs the same). Strata
    with a single dossier get NaN bounds (no honest interval from one dossier).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    n = v.size
    g, _ = _codes(groups, n, "groups") if groups is not None else (np.arange(n, dtype=np.int64), None)
    p, p_uniques = _codes(by, n, "by")
    if method not in ("auto", "exact", "groups"):
        raise ConfigError(f"method must be 'auto', 'exact' or 'groups', not {method!r}")
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ConfigError("n_boot must be at least 1")
    if normal_min_units is not None and n and (p_uniques is not None or by is None):
        # observations in unit blocks (a log's events): two compiled passes over the rows as
        # they are (None: not in blocks, the per-pair path below)
        n_strata = len(p_uniques) if p_uniques is not None else 1
        out = _sorted_clustered_ci(v, g, p, n_strata, p_uniques, by is None, n_boot=n_boot,
                                   ci=ci, rng=np.random.default_rng(seed), method=method,
                                   n_groups=n_groups, budget=budget,
                                   normal_min_units=int(normal_min_units)) if n_strata else None
        if out is not None:
            return out
    # drop NaN values and negative codes (the mask only when there may be something to drop:
    # a finite total means finite values, a NaN or infinity would make it NaN or infinite)
    with np.errstate(over="ignore", invalid="ignore"):
        clean = n == 0 or (int(g.min()) >= 0 and int(p.min()) >= 0 and bool(np.isfinite(v.sum())))
    if not clean:
        keep = np.isfinite(v)
        keep &= g >= 0
        keep &= p >= 0
        v, g, p = v[keep], g[keep], p[keep]
        del keep
    n_strata = (len(p_uniques) if p_uniques is not None else 1)
    if by is not None and p_uniques is None:
        n_strata = int(p.max()) + 1 if p.size else 0

    # resampling units as dense ranks 0..n_units-1 (sorted order, as np.unique gives)
    g, n_units = _dense_ranks(g)
    rng = np.random.default_rng(seed)
    if normal_min_units is not None:
        return _clustered_ci(v, g, p, n_units, n_strata, p_uniques, by is None, n_boot=n_boot,
                             ci=ci, rng=rng, method=method, n_groups=n_groups, budget=budget,
                             normal_min_units=int(normal_min_units))
    key = p * max(n_units, 1)
    key += g
    # distinct (stratum, unit) pairs: one sort of the composite keys (no argsort)
    skey = np.sort(key)
    firsts = np.ones(skey.size, dtype=bool)
    if skey.size:
        np.not_equal(skey[1:], skey[:-1], out=firsts[1:])
    ukey = skey[firsts]
    del skey, firsts
    n_pairs = len(ukey)
    units_per = np.bincount(ukey // max(n_units, 1), minlength=n_strata)[:max(n_strata, 0)]
    tot_s = np.bincount(p, weights=v, minlength=n_strata)[:max(n_strata, 0)]
    tot_c = np.bincount(p, minlength=n_strata)[:max(n_strata, 0)].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(tot_c > 0, tot_s / np.where(tot_c > 0, tot_c, 1), np.nan)

    if method == "auto":
        method = "exact" if n_pairs * n_boot <= budget else "groups"
    if method == "groups" and n_units > n_groups:
        # random groups of dossiers: (stratum, bucket) sums straight from the observations
        bucket = rng.integers(0, n_groups, size=n_units)
        k2 = bucket[g]
        del bucket
        k2 += p * n_groups
        cells = n_strata * n_groups
        if cells <= max(4 * k2.size, 1 << 22):
            cs = np.bincount(k2, weights=v, minlength=cells)
            cc = np.bincount(k2, minlength=cells)
            uk2 = np.flatnonzero(cc)
            pair_s, pair_c = cs[uk2], cc[uk2].astype(np.float64)
            del cs, cc
        else:
            uk2, inv2 = np.unique(k2, return_inverse=True)
            pair_s = np.bincount(inv2, weights=v, minlength=len(uk2))
            pair_c = np.bincount(inv2, minlength=len(uk2)).astype(np.float64)
            del inv2
        del k2
        pair_p = uk2 // n_groups
        pair_g = uk2 % n_groups
        n_res = n_groups
    else:
        if method == "groups":
            method = "exact"  # fewer units than buckets: the exact bootstrap is cheaper
        inv = np.searchsorted(ukey, key)
        pair_s = np.bincount(inv, weights=v, minlength=n_pairs)
        pair_c = np.bincount(inv, minlength=n_pairs).astype(np.float64)
        del inv
        pair_p = ukey // max(n_units, 1)
        pair_g = ukey % max(n_units, 1)
        n_res = n_units
    del key

    low = np.full(n_strata, np.nan)
    high = np.full(n_strata, np.nan)
    if n_strata and n_res:
        low, high = _percentile_ci(pair_p, pair_g, pair_s, pair_c, n_res, n_strata, n_boot, ci,
                                   rng, units_per, mean)
    return _result(mean, low, high, units_per, tot_c, method, by is None, p_uniques, n_strata,
                   n_boot, ci)


def _percentile_ci(pair_p, pair_g, pair_s, pair_c, n_res, n_strata, n_boot, ci, rng, units_per,
                   mean):
    """Percentile interval of the ratio of sums per stratum from ``n_boot`` Poisson-weighted
    replicates of the resampling units ``0..n_res-1`` (per-(unit, stratum) sums and counts)."""
    low = np.full(n_strata, np.nan)
    high = np.full(n_strata, np.nan)
    from scipy import sparse
    # sums and counts side by side: one sparse product per chunk gives both (each entry the
    # same products summed in the same order as two separate products)
    msc = sparse.csr_matrix((np.concatenate([pair_s, pair_c]),
                             (np.concatenate([pair_g, pair_g]),
                              np.concatenate([pair_p, pair_p + n_strata]))),
                            shape=(n_res, 2 * n_strata))
    reps = np.empty((n_boot, n_strata), dtype=np.float64)
    chunk = int(max(1, min(n_boot, _CHUNK_CELLS // max(n_res, 1))))
    for b0 in range(0, n_boot, chunk):  # loop over chunks of replicates, not over dossiers
        b1 = min(n_boot, b0 + chunk)
        # (Poisson counts are small integers: float64 holds them exactly, as float32 did)
        w = rng.poisson(1.0, size=(b1 - b0, n_res)).astype(np.float64)
        both = np.asarray((msc.T @ w.T).T, dtype=np.float64)
        del w
        num, den = both[:, :n_strata], both[:, n_strata:]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[b0:b1] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    alpha = (1.0 - float(ci)) / 2.0
    enough = units_per >= 2
    if enough.any():
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q = np.nanquantile(reps[:, enough], [alpha, 1.0 - alpha], axis=0)
        low[enough], high[enough] = q[0], q[1]
    # the percentile interval of a skewed statistic can miss the point estimate by rounding
    low = np.where(np.isfinite(low), np.minimum(low, mean), low)
    high = np.where(np.isfinite(high), np.maximum(high, mean), high)
    return low, high


def _result(mean, low, high, units_per, tot_c, method, single, p_uniques, n_strata, n_boot, ci):
    by = None if single else True
    n_obs = np.round(tot_c).astype(np.int64)
    if by is None:
        if n_strata == 0 or tot_c[0] == 0:
            return MeanCI(float("nan"), float("nan"), float("nan"), 0, 0, "none")
        return MeanCI(float(mean[0]), float(low[0]), float(high[0]), int(units_per[0]),
                      int(n_obs[0]), method)
    index = p_uniques if p_uniques is not None else pd.RangeIndex(n_strata)
    out = pd.DataFrame({"mean": mean, "ci_low": low, "ci_high": high,
                        "n": units_per.astype(np.int64), "n_obs": n_obs}, index=index)
    out.attrs.update({"method": method, "n_boot": n_boot, "ci": float(ci)})
    return out


def _pair_sums(v: np.ndarray, g: np.ndarray, p: np.ndarray, n_units: int):
    """Distinct (stratum, unit) pairs sorted by (stratum, unit) with the sum and count of their
    observations: ``(pair_p, pair_g, pair_s, pair_c)``.

    When the units are non-decreasing (observations sorted by dossier, as a log's events are),
    the composite keys are nearly sorted (one stable sort, cheap on such data, and sequential
    gathers); otherwise one sort of the composite keys. The pairs come sorted by their key."""
    m = v.size
    if m == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0), np.zeros(0)
    n_strata = int(p.max()) + 1
    if bool(np.all(g[1:] >= g[:-1])):
        if n_strata <= 64 and hasattr(np, "bitwise_count"):
            return _pair_sums_bitset(v, g, p, n_strata)
        # keys unit * n_strata + stratum are sorted up to the order inside each unit's (short)
        # block: a stable sort of nearly sorted keys is cheap and its gathers stay sequential
        key = g * n_strata
        key += p
        perm = np.argsort(key, kind="stable")
        ks = key[perm]
        del key
        new = np.empty(m, dtype=bool)
        new[0] = True
        np.not_equal(ks[1:], ks[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        del new
        pair_s = np.add.reduceat(v[perm], starts)
        del perm
        pair_c = np.diff(np.append(starts, m)).astype(np.float64)
        pk = ks[starts]
        return pk % n_strata, pk // n_strata, pair_s, pair_c
    key = p * max(n_units, 1)
    key += g
    ukey = np.unique(key)
    inv = np.searchsorted(ukey, key)
    pair_s = np.bincount(inv, weights=v, minlength=ukey.size)
    pair_c = np.bincount(inv, minlength=ukey.size).astype(np.float64)
    return ukey // max(n_units, 1), ukey % max(n_units, 1), pair_s, pair_c


def _pair_sums_bitset(v: np.ndarray, g: np.ndarray, p: np.ndarray, n_strata: int):
    """:func:`_pair_sums` for units in non-decreasing order and at most 64 strata: the same
    pairs, sorted by unit (within a unit in order of first appearance instead of by stratum:
    every per-stratum sum over pairs then runs over the units in the same order).

    A unit whose observations all have different strata (a 64-bit set per unit: OR of one bit
    per observation; its bit count equals the unit's count) is already its own pairs; only the
    units with a repeated stratum go through the stable sort of :func:`_pair_sums`, whose pairs
    are written at their first observation's row before the other rows are dropped."""
    m = v.size
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(g[1:], g[:-1], out=new[1:])
    ustart = np.flatnonzero(new)
    del new
    length = np.diff(np.append(ustart, m))
    one = np.left_shift(np.uint64(1), p.astype(np.uint64))
    bits = np.bitwise_or.reduceat(one, ustart)
    del one
    dup_unit = np.bitwise_count(bits).astype(np.int64) != length
    del bits
    if not dup_unit.any():
        return (p.astype(np.int64, copy=False), g.astype(np.int64, copy=False),
                v.astype(np.float64, copy=True), np.ones(m, dtype=np.float64))
    rows = np.flatnonzero(np.repeat(dup_unit, length))
    key = g[rows] * n_strata
    key += p[rows]
    perm = np.argsort(key, kind="stable")
    ks = key[perm]
    del key
    first = np.empty(ks.size, dtype=bool)
    first[0] = True
    np.not_equal(ks[1:], ks[:-1], out=first[1:])
    dstarts = np.flatnonzero(first)
    del first, ks
    ordered = rows[perm]
    del perm
    d_s = np.add.reduceat(v[ordered], dstarts)
    d_c = np.diff(np.append(dstarts, ordered.size)).astype(np.float64)
    head = ordered[dstarts]                     # first observation of every repeated pair
    del ordered
    keep = np.ones(m, dtype=bool)
    keep[rows] = False
    keep[head] = True
    del rows
    at = np.cumsum(keep[:int(head.max()) + 1])[head] - 1 if head.size else head  # after compress
    del head
    out_s = v[keep].astype(np.float64, copy=False)
    out_s[at] = d_s
    out_c = np.ones(out_s.size, dtype=np.float64)
    out_c[at] = d_c
    return (p[keep].astype(np.int64, copy=False), g[keep].astype(np.int64, copy=False),
            out_s, out_c)


def _sorted_clustered_ci(v, g, p, n_strata, p_uniques, single, *, n_boot, ci, rng, method,
                         n_groups, budget, normal_min_units):
    """:func:`_clustered_ci` for observations in unit blocks (a log's events: units
    non-decreasing over the kept rows), from two passes of compiled kernels over the unfiltered
    rows (:mod:`tthc_mining.kernels.stats`; rows with a non-finite value or a negative code are
    skipped as the filter would drop them) instead of dense ranks and per-pair arrays. ``None``
    when the units are not sorted or a stratum code is out of range (the caller then takes the
    per-pair path).

    The same sums in the same order as the path it replaces, so the same intervals bit for
    bit: per stratum the values in row order, and the clustered term over the pairs in unit
    order, each pair's sum added in row order (at most 64 strata and unit codes that fit the
    rank table, the former sorted path) or as ``np.add.reduceat`` adds it (the per-pair path);
    the small strata's pairs come from their own rows as before."""
    from .kernels.stats import normal_ss, normal_sums
    v, g, p = _ro(v, np.float64), _ro(g, np.int64), _ro(p, np.int64)
    status, tot_s, n_obs, units_per, n_units, g_max, n_valid, _, max_len = \
        normal_sums(v, g, p, int(n_strata))
    if status != 0 or n_valid == 0:
        return None
    pairwise = not (n_strata <= 64 and g_max < max(4 * n_valid, 1 << 20))
    tot_c = n_obs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(tot_c > 0, tot_s / np.where(tot_c > 0, tot_c, 1), np.nan)
    big = units_per >= max(normal_min_units, 2)
    small = ~big & (units_per > 0)
    ss, srows, srank = normal_ss(v, g, p, mean, small, int(n_obs[small].sum()), int(max_len),
                                 bool(pairwise))

    def small_pairs():
        return _pair_sums(v[srows], srank, p[srows], int(n_units))

    return _clustered_tail(mean, tot_c, units_per, big, small, lambda: ss, small_pairs,
                           n_strata, p_uniques, single, n_boot=n_boot, ci=ci, rng=rng,
                           method=method, n_groups=n_groups, budget=budget)


def _clustered_ci(v, g, p, n_units, n_strata, p_uniques, single, *, n_boot, ci, rng, method,
                  n_groups, budget, normal_min_units):
    """:func:`bootstrap_mean_ci` with ``normal_min_units``: the dossier-clustered normal
    interval for strata with at least that many dossiers, the bootstrap for the others, from
    the distinct (stratum, unit) pairs (:func:`_pair_sums`; observations in any order).
    Observations in unit blocks take :func:`_sorted_clustered_ci` instead."""
    tot_s = np.bincount(p, weights=v, minlength=n_strata)[:max(n_strata, 0)]
    n_obs = np.bincount(p, minlength=n_strata)[:max(n_strata, 0)]
    pair_p, pair_g, pair_s, pair_c = _pair_sums(v, g, p, n_units)
    units_per = np.bincount(pair_p, minlength=n_strata)[:max(n_strata, 0)]
    tot_c = n_obs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(tot_c > 0, tot_s / np.where(tot_c > 0, tot_c, 1), np.nan)
    big = units_per >= max(normal_min_units, 2)
    small = ~big & (units_per > 0)

    def clustered_ss():
        z = mean[pair_p]
        z *= pair_c
        np.subtract(pair_s, z, out=z)           # pair_s - mean * pair_c
        z *= z
        return np.bincount(pair_p, weights=z, minlength=n_strata)[:n_strata]

    def small_pairs():
        sel = small[pair_p]
        return pair_p[sel], pair_g[sel], pair_s[sel], pair_c[sel]

    return _clustered_tail(mean, tot_c, units_per, big, small, clustered_ss, small_pairs,
                           n_strata, p_uniques, single, n_boot=n_boot, ci=ci, rng=rng,
                           method=method, n_groups=n_groups, budget=budget)


def _clustered_tail(mean, tot_c, units_per, big, small, clustered_ss, small_pairs, n_strata,
                    p_uniques, single, *, n_boot, ci, rng, method, n_groups, budget):
    """The intervals of :func:`_clustered_ci` from the per-stratum sums: the normal interval
    where ``big`` (``clustered_ss()``: per stratum ``Σ (s_i - mean · c_i)²`` over its
    dossiers), the bootstrap where ``small`` (``small_pairs()``: their (stratum, unit, sum,
    count) pairs, units in non-decreasing order)."""
    low = np.full(n_strata, np.nan)
    high = np.full(n_strata, np.nan)
    used = []
    if big.any():
        # linearised ratio estimator: z_i = s_i - mean * c_i per (stratum, dossier)
        ss = clustered_ss()
        k = units_per.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(k / np.maximum(k - 1.0, 1.0) * ss) / tot_c
        half = z_value(ci) * se
        low[big] = (mean - half)[big]
        high[big] = (mean + half)[big]
        used.append("normal")
    if small.any():
        sp, sg, s_s, s_c = small_pairs()
        sg, n_res = _dense_ranks(sg)                # only the small strata's dossiers
        m = method
        if m == "auto":
            m = "exact" if sp.size * n_boot <= budget else "groups"
        m = "groups" if m == "groups" and n_res > n_groups else "exact"
        units_small = np.where(small, units_per, 0)
        # a stratum whose dossier sums are all zero has every replicate 0 / den = 0 (NaN only
        # when all its dossiers draw weight 0 in all replicates, p = exp(-n_boot * units));
        # when no stratum with >= 2 dossiers is otherwise, no draw can change the result
        live = np.zeros(n_strata, dtype=bool)
        live[sp[s_s != 0]] = True
        live &= units_small >= 2
        if live.any():
            if m == "groups":
                bucket = rng.integers(0, n_groups, size=n_res)
                k2 = sp * n_groups + bucket[sg]
                uk2, inv2 = np.unique(k2, return_inverse=True)
                s_s = np.bincount(inv2, weights=s_s, minlength=uk2.size)
                s_c = np.bincount(inv2, weights=s_c, minlength=uk2.size)
                sp, sg, n_res = uk2 // n_groups, uk2 % n_groups, n_groups
            lo_s, hi_s = _percentile_ci(sp, sg, s_s, s_c, n_res, n_strata, n_boot, ci, rng,
                                        units_small, mean)
        else:
            lo_s = np.where(units_small >= 2, 0.0, np.nan)
            hi_s = np.where(np.isfinite(lo_s), np.maximum(lo_s, mean), lo_s)
            lo_s = np.where(np.isfinite(lo_s), np.minimum(lo_s, mean), lo_s)
        low[small], high[small] = lo_s[small], hi_s[small]
        used.append(m)
    name = "+".join(used) if used else "normal"
    return _result(mean, low, high, units_per, tot_c, name, single, p_uniques, n_strata,
                   n_boot, ci)
