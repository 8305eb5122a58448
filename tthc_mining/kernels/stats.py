"""Kernels of :func:`tthc_mining.stats.bootstrap_mean_ci` with ``normal_min_units`` (the
dossier-clustered normal interval) on observations in dossier blocks (a log's events).

Two passes over the rows, no per-row or per-pair temporaries:

* :func:`normal_sums`: per stratum the sum of the values (added in row order from 0.0, as
  ``np.bincount(p, weights=v)``), the number of observations and of distinct units (dossiers);
  rows with a non-finite value or a negative code are skipped (what the library's filter would
  drop); it stops early when the units are not in non-decreasing order or a stratum code is out
  of range (the caller then takes the general path).
* :func:`normal_ss`: per stratum the clustered variance term ``Σ (s - mean · c)²`` over its
  (unit, stratum) pairs in unit order (``s`` / ``c`` the pair's sum and count), and the rows of
  the small strata (those that keep the bootstrap) with their unit's dense rank.

A pair's sum is added either in row order from 0.0 (``pairwise=False``: what ``np.bincount``
gives, the library's historical sorted path) or as ``np.add.reduceat`` adds it
(``pairwise=True``: the first value plus numpy's pairwise sum of the others, as the per-pair path
computes it): the caller picks the order of the path it replaces, so the intervals are the same
bit for bit.

Argument types (fixed): values ``float64``, unit and stratum codes ``int64``, per-stratum
arrays ``float64`` / ``bool``.
"""
from __future__ import annotations

import numpy as np

from . import kernel
from . import readonly as _ro

__all__ = ["normal_sums", "normal_ss", "warm_types"]


@kernel
def _pairwise(a, lo, n):
    """``a[lo]`` ... ``a[lo + n - 1]`` summed as numpy's ``pairwise_sum`` (the inner loop of an
    ``np.add`` reduction): sequentially from -0.0 below 8 values, eight accumulators up to 128,
    halves (multiples of 8) above."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        end = n - (n % 8)
        while i < end:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


@kernel
def normal_sums(v, g, p, n_strata):
    """Pass 1 over the rows: ``(status, tot_s, n_obs, units, n_units, g_max, n_valid,
    n_invalid, max_len)``.

    ``status`` 0: done; 1: the units (``g`` of the kept rows) are not non-decreasing; 2: a kept
    row's stratum is ``>= n_strata`` (the other outputs are then incomplete). Kept rows: finite
    value, ``g >= 0``, ``p >= 0``. ``tot_s`` per stratum the values added in row order from 0.0,
    ``n_obs`` the kept rows, ``units`` the distinct units; ``n_units`` distinct units over all,
    ``g_max`` the largest unit code (-1 if none), ``max_len`` the most kept rows of a unit."""
    m = v.size
    tot_s = np.zeros(n_strata, dtype=np.float64)
    n_obs = np.zeros(n_strata, dtype=np.int64)
    units = np.zeros(n_strata, dtype=np.int64)
    mark = np.full(n_strata, -1, dtype=np.int64)     # the last unit seen in each stratum
    prev = -1
    unit = -1
    n_valid = 0
    cur_len = 0
    max_len = 0
    for i in range(m):
        x = v[i]
        gi = g[i]
        pi = p[i]
        if not np.isfinite(x) or gi < 0 or pi < 0:
            continue
        if pi >= n_strata:
            return 2, tot_s, n_obs, units, 0, -1, 0, 0, 0
        if gi != prev:
            if gi < prev:
                return 1, tot_s, n_obs, units, 0, -1, 0, 0, 0
            prev = gi
            unit += 1
            if cur_len > max_len:
                max_len = cur_len
            cur_len = 0
        cur_len += 1
        n_valid += 1
        tot_s[pi] += x
        n_obs[pi] += 1
        if mark[pi] != unit:
            mark[pi] = unit
            units[pi] += 1
    if cur_len > max_len:
        max_len = cur_len
    return 0, tot_s, n_obs, units, unit + 1, prev, n_valid, m - n_valid, max_len


@kernel
def normal_ss(v, g, p, mean, small, n_small, max_len, pairwise):
    """Pass 2 (after a :func:`normal_sums` with status 0, on the same arrays): ``(ss, rows,
    rank)``.

    ``ss`` per stratum ``Σ (s - mean · c)²`` over its (unit, stratum) pairs, added in unit
    order from 0.0 (``s`` added in row order from 0.0, or as ``np.add.reduceat`` when
    ``pairwise``); ``rows`` the kept rows of the strata where ``small`` holds (``n_small`` of
    them, increasing) and ``rank`` their unit's dense rank among the kept rows' units."""
    m = v.size
    n_strata = mean.size
    ss = np.zeros(n_strata, dtype=np.float64)
    rows = np.empty(n_small, dtype=np.int64)
    rank = np.empty(n_small, dtype=np.int64)
    acc = np.zeros(n_strata, dtype=np.float64)      # the open pair of each stratum: its sum,
    cnt = np.zeros(n_strata, dtype=np.int64)        # its rows,
    mark = np.full(n_strata, -1, dtype=np.int64)    # its unit
    k = 0
    prev = -1
    unit = -1
    if not pairwise:
        # a stratum's pair is closed when the stratum reappears in a later unit (or at the
        # end): per stratum its pairs in unit order, each summed in row order
        for i in range(m):
            x = v[i]
            gi = g[i]
            pi = p[i]
            if not np.isfinite(x) or gi < 0 or pi < 0:
                continue
            if gi != prev:
                prev = gi
                unit += 1
            if mark[pi] != unit:
                c = cnt[pi]
                if c:
                    z = acc[pi] - mean[pi] * np.float64(c)
                    ss[pi] += z * z
                mark[pi] = unit
                acc[pi] = 0.0 + x
                cnt[pi] = 1
            else:
                acc[pi] += x
                cnt[pi] += 1
            if small[pi]:
                rows[k] = i
                rank[k] = unit
                k += 1
        for s in range(n_strata):
            c = cnt[s]
            if c:
                z = acc[s] - mean[s] * np.float64(c)
                ss[s] += z * z
        return ss, rows, rank
    # np.add.reduceat's order: the unit's rows grouped by stratum (row order kept), each pair
    # its first value plus numpy's pairwise sum of the others
    touched = np.empty(n_strata, dtype=np.int64)    # the unit's strata, in order of appearance
    ubuf = np.empty(max_len, dtype=np.int64)        # its kept rows
    vbuf = np.empty(max_len, dtype=np.float64)      # their values grouped by stratum
    n_t = 0
    n_u = 0
    x = 0.0
    gi = 0
    pi = 0
    for i in range(m + 1):
        last = i == m
        if not last:
            x = v[i]
            gi = g[i]
            pi = p[i]
            if not np.isfinite(x) or gi < 0 or pi < 0:
                continue
        if last or gi != prev:
            pos = 0                             # close the previous unit
            for t in range(n_t):
                s = touched[t]
                mark[s] = pos                   # (here: the stratum's offset in vbuf)
                pos += cnt[s]
            for j in range(n_u):
                s = p[ubuf[j]]
                vbuf[mark[s]] = v[ubuf[j]]
                mark[s] += 1
            for t in range(n_t):
                s = touched[t]
                c = cnt[s]
                lo = mark[s] - c
                tot = vbuf[lo]
                if c > 1:
                    tot += _pairwise(vbuf, lo + 1, c - 1)
                z = tot - mean[s] * np.float64(c)
                ss[s] += z * z
                cnt[s] = 0
            n_t = 0
            n_u = 0
            if last:
                break
            prev = gi
            unit += 1
        if cnt[pi] == 0:
            touched[n_t] = pi
            n_t += 1
        cnt[pi] += 1
        ubuf[n_u] = i
        n_u += 1
        if small[pi]:
            rows[k] = i
            rank[k] = unit
            k += 1
    return ss, rows, rank


def warm_types() -> None:
    """Compile (or load) both kernels, both sum orders, with the library's argument types
    (read-only arrays, as ``tthc_mining.stats`` passes them)."""
    v = _ro(np.array([1.0, 2.0, 3.0, np.nan] + [0.5] * 10, dtype=np.float64))
    g = _ro(np.array([0, 0, 0, 1] + [2] * 10, dtype=np.int64))
    p = _ro(np.array([0, 1, 0, 0] + [1] * 10, dtype=np.int64))
    out = normal_sums(v, g, p, 2)
    mean = out[1] / np.maximum(out[2], 1)
    small = np.array([False, True])
    for pw in (False, True):
        normal_ss(v, g, p, mean, small, int(out[2][1]), int(out[8]), pw)
