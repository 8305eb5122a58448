"""Kernels of :func:`tthc_mining.discover` and :func:`tthc_mining.discovery.group_stats`.

Per-group statistics without a global sort: one pass counts and sums every group (in row order,
so the sums equal ``np.bincount(weights=)``'s), a counting sort scatters the values' order
keys into one buffer where each group's keys are contiguous (allocated by the caller with numpy,
whose large allocations get huge pages: a kernel's own would fault 4 kB page by page), and a
selection per group finds the keys at the quantiles' ranks (a histogram of the keys' top 16 bits,
then a quickselect among the keys of the few buckets that hold those ranks). The keys are
:func:`sort_key` ``float64 -> uint64`` keys with their lowest bits cleared by ``mask``, the
precision of the packed sort that this replaces (see ``group_stats``), so the quantiles are
bit-identical to it.

The discover kernels walk the events dossier by dossier (``case_start``: the rows are in
dossier blocks), so a dossier's first and last events, the previous event's activity and the
kept dossiers (``keep``: one flag per dossier) need no per-event array, and the number of
dossiers per activity or per edge is counted with the last dossier seen per group.

Argument types are fixed (the wrappers in :mod:`tthc_mining.discovery` cast, and pass the inputs
as read-only views): activity codes ``int64`` (``-1`` = missing, counted as code ``extra``),
``case_start`` ``int64``, ``keep`` ``bool``, durations ``float64``, a categorical column's codes
as their bytes (``uint8``) with their width in bytes (1, 2, 4 or 8), so no code array is
widened.
"""
from __future__ import annotations

import numpy as np

from . import kernel
from .codes import code_at, width_views

_SIGN = np.uint64(1 << 63)
_ZERO = np.uint64(0)


#: NaT as int64 nanoseconds
NAT = np.iinfo(np.int64).min


# ====================================================================== order keys and selection
@kernel(inline="always")
def sort_key(u, allpos, mask):
    """The order key of the float64 with bits ``u`` (not NaN), ``& mask``: ``allpos`` = every
    value of the call is >= 0 (then -0.0 counts as +0.0), else the general sign-flip map."""
    if allpos:
        if u == _SIGN:                      # -0.0 + 0.0 = +0.0
            u = _ZERO
        k = u | _SIGN
    elif u & _SIGN:
        k = ~u
    else:
        k = u | _SIGN
    return k & mask


@kernel
def _select(a, lo, hi, k):
    """Reorder ``a[lo:hi]`` in place so that ``a[k]`` holds the value of rank ``k - lo``, every
    value before it is <= and every value after it is >= (quickselect, Hoare partition around a
    median of three; an insertion sort on short ranges; after many rounds the three candidates
    are drawn at pseudo-random positions, so no input order stays quadratic)."""
    rounds = 0
    state = np.uint64(0x9E3779B97F4A7C15)
    while hi - lo > 16:
        rounds += 1
        mid = (lo + hi) >> 1
        if rounds > 32:                      # an unlucky input: random candidates
            for t in (lo, mid, hi - 1):
                state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
                r = lo + np.int64((state >> np.uint64(33)) % np.uint64(hi - lo))
                a[t], a[r] = a[r], a[t]
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi - 1] < a[lo]:
            a[hi - 1], a[lo] = a[lo], a[hi - 1]
        if a[hi - 1] < a[mid]:
            a[hi - 1], a[mid] = a[mid], a[hi - 1]
        pivot = a[mid]
        i = lo - 1
        j = hi
        while True:
            i += 1
            while a[i] < pivot:
                i += 1
            j -= 1
            while a[j] > pivot:
                j -= 1
            if i >= j:
                break
            a[i], a[j] = a[j], a[i]
        if k <= j:                           # a[lo:j+1] <= pivot <= a[j+1:hi]
            hi = j + 1
        else:
            lo = j + 1
    for i in range(lo + 1, hi):              # insertion sort of the short rest
        x = a[i]
        j = i - 1
        while j >= lo and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@kernel
def _ranks_in_place(a, s, m, want, nw, val):
    """``val[t]`` = the value of rank ``want[t]`` of ``a[s:s + m]`` (``want[:nw]`` increasing
    and distinct), by reordering that part in place: each rank is selected in the part after
    the previous one; a rank right after the previous one is the minimum of the rest."""
    left = 0                                  # ranks < left are in place
    for t in range(nw):
        r = want[t]
        if r == left:
            best = s + left
            for i in range(s + left + 1, s + m):
                if a[i] < a[best]:
                    best = i
            a[s + left], a[best] = a[best], a[s + left]
        else:
            _select(a, s + left, s + m, s + r)
        val[t] = a[s + r]
        left = r + 1


#: groups larger than this are selected through a histogram of their keys' top 16 bits
_RADIX_MIN = 1 << 14
_TOP = np.uint64(48)


@kernel
def select_quantile_keys(buf, starts, lo, hi):
    """For each group ``g`` (keys ``buf[starts[g]:starts[g + 1]]``, reordered in place) and
    each quantile ``j``: the keys of ranks ``lo[g, j]`` and ``hi[g, j]`` (``(klo, khi)``,
    shape of ``lo``; empty groups are skipped).

    A small group is selected in place (:func:`_ranks_in_place`). A large one is counted by the
    keys' top 16 bits first; only the keys of the buckets that hold a wanted rank are copied
    out and selected there (two light passes over the group instead of a quickselect)."""
    G, Q = lo.shape
    klo = np.zeros((G, Q), dtype=np.uint64)
    khi = np.zeros((G, Q), dtype=np.uint64)
    W = 2 * Q
    want = np.empty(W, dtype=np.int64)
    val = np.empty(W, dtype=np.uint64)
    nbytes = 0
    for g in range(G):
        if starts[g + 1] - starts[g] > _RADIX_MIN:
            nbytes = 1
            break
    hist = np.zeros(65536 if nbytes else 0, dtype=np.int64)
    mark = np.zeros(65536 if nbytes else 0, dtype=np.int64)   # bucket -> target + 1
    tb = np.empty(W, dtype=np.int64)          # target buckets
    tbase = np.empty(W, dtype=np.int64)       # ranks below each target bucket
    tsize = np.empty(W, dtype=np.int64)
    toff = np.empty(W + 1, dtype=np.int64)
    fill = np.empty(W, dtype=np.int64)
    wb = np.empty(W, dtype=np.int64)          # target of each wanted rank
    lw = np.empty(W, dtype=np.int64)
    lv = np.empty(W, dtype=np.uint64)
    for g in range(G):
        s = starts[g]
        m = starts[g + 1] - s
        if m <= 0:
            continue
        for j in range(Q):
            want[2 * j] = lo[g, j]
            want[2 * j + 1] = hi[g, j]
        for t in range(1, W):                 # (insertion sort of the few ranks)
            x = want[t]
            j = t - 1
            while j >= 0 and want[j] > x:
                want[j + 1] = want[j]
                j -= 1
            want[j + 1] = x
        nw = 0                                # distinct ranks
        for t in range(W):
            if nw == 0 or want[t] != want[nw - 1]:
                want[nw] = want[t]
                nw += 1
        if m <= _RADIX_MIN:
            _ranks_in_place(buf, s, m, want, nw, val)
        else:
            hist[:] = 0
            for i in range(s, s + m):
                hist[np.int64(buf[i] >> _TOP)] += 1
            nb = 0
            t = 0
            cum = 0
            for b in range(65536):
                c = hist[b]
                if c == 0:
                    continue
                while t < nw and want[t] < cum + c:
                    if nb == 0 or tb[nb - 1] != b:
                        tb[nb] = b
                        tbase[nb] = cum
                        tsize[nb] = c
                        nb += 1
                    wb[t] = nb - 1
                    t += 1
                cum += c
                if t == nw:
                    break
            toff[0] = 0
            for u in range(nb):
                toff[u + 1] = toff[u] + tsize[u]
                fill[u] = toff[u]
                mark[tb[u]] = u + 1
            tmp = np.empty(toff[nb], dtype=np.uint64)
            for i in range(s, s + m):
                k = buf[i]
                u = mark[np.int64(k >> _TOP)]
                if u:
                    tmp[fill[u - 1]] = k
                    fill[u - 1] += 1
            for u in range(nb):
                mark[tb[u]] = 0
                k = 0
                for t in range(nw):
                    if wb[t] == u:
                        lw[k] = want[t] - tbase[u]
                        k += 1
                _ranks_in_place(tmp, toff[u], tsize[u], lw, k, lv)
                k = 0
                for t in range(nw):
                    if wb[t] == u:
                        val[t] = lv[k]
                        k += 1
        for j in range(Q):
            for t in range(nw):
                if want[t] == lo[g, j]:
                    klo[g, j] = val[t]
                if want[t] == hi[g, j]:
                    khi[g, j] = val[t]
    return klo, khi


@kernel
def exclusive_starts(n):
    """``[0, n[0], n[0] + n[1], ...]`` (length ``len(n) + 1``)."""
    out = np.empty(n.size + 1, dtype=np.int64)
    t = 0
    for g in range(n.size):
        out[g] = t
        t += n[g]
    out[n.size] = t
    return out


# ====================================================================== generic group statistics
@kernel
def group_sums(group, values, n_groups):
    """Per group: number and sum (row order) of the non-NaN ``values`` of rows with ``0 <=
    group < n_groups``; also the smallest such value (``inf`` if none)."""
    n = np.zeros(n_groups, dtype=np.int64)
    s = np.zeros(n_groups, dtype=np.float64)
    vmin = np.inf
    for i in range(group.size):
        g = group[i]
        v = values[i]
        if g < 0 or g >= n_groups or np.isnan(v):
            continue
        n[g] += 1
        s[g] += v
        if v < vmin:
            vmin = v
    return n, s, vmin


@kernel
def group_scatter(group, values, starts, allpos, mask, buf):
    """The order keys of the rows counted by :func:`group_sums`, grouped into ``buf`` (counting
    sort by group, row order within a group)."""
    G = starts.size - 1
    fill = starts[:G].copy()
    bits = values.view(np.uint64)
    for i in range(group.size):
        g = group[i]
        v = values[i]
        if g < 0 or g >= G or np.isnan(v):
            continue
        buf[fill[g]] = sort_key(bits[i], allpos, mask)
        fill[g] += 1


# ====================================================================== discover: activities
@kernel
def activity_pass(act, case_start, keep, extra, A, wait, proc, use_proc, unit_bytes, unit_width,
                  G):
    """One pass over the kept dossiers' events: per activity the events, dossiers, first and
    last events of a dossier, ``wait`` and (``use_proc``) ``proc`` counts/sums/minimum (non-NaN
    values, row order) and, with ``G > 0``, the ``A x G`` event counts by unit (the codes'
    bytes ``unit_bytes``, ``unit_width`` bytes each, -1 = no unit). Also the kept events."""
    uv = width_views(unit_bytes)   # the unit codes at their own width (one compiled body)
    n_cases = case_start.size - 1
    count = np.zeros(A, dtype=np.int64)
    cases = np.zeros(A, dtype=np.int64)
    last = np.full(A, -1, dtype=np.int64)
    first_ct = np.zeros(A, dtype=np.int64)
    last_ct = np.zeros(A, dtype=np.int64)
    wn = np.zeros(A, dtype=np.int64)
    ws = np.zeros(A, dtype=np.float64)
    pn = np.zeros(A, dtype=np.int64)
    ps = np.zeros(A, dtype=np.float64)
    units = np.zeros(A * G, dtype=np.int64)
    wmin = np.inf
    pmin = np.inf
    n_events = 0
    for c in range(n_cases):
        if not keep[c]:
            continue
        s = case_start[c]
        e = case_start[c + 1]
        n_events += e - s
        for i in range(s, e):
            a = act[i]
            if a < 0:
                a = extra
            count[a] += 1
            if last[a] != c:
                last[a] = c
                cases[a] += 1
            w = wait[i]
            if not np.isnan(w):
                wn[a] += 1
                ws[a] += w
                if w < wmin:
                    wmin = w
            if use_proc:
                p = proc[i]
                if not np.isnan(p):
                    pn[a] += 1
                    ps[a] += p
                    if p < pmin:
                        pmin = p
            if G > 0:
                u = code_at(uv, unit_width, i)
                if u >= 0:
                    units[a * G + u] += 1
        if e > s:
            a = act[s]
            first_ct[a if a >= 0 else extra] += 1
            a = act[e - 1]
            last_ct[a if a >= 0 else extra] += 1
    return (count, cases, first_ct, last_ct, wn, ws, wmin, pn, ps, pmin, units, n_events)


@kernel
def activity_scatter(act, case_start, keep, all_kept, extra, values, starts, allpos, mask, buf):
    """The order keys of the kept events' non-NaN ``values``, grouped by activity into
    ``buf``."""
    G = starts.size - 1
    fill = starts[:G].copy()
    bits = values.view(np.uint64)
    if all_kept:
        for i in range(act.size):
            if np.isnan(values[i]):
                continue
            a = act[i]
            if a < 0:
                a = extra
            buf[fill[a]] = sort_key(bits[i], allpos, mask)
            fill[a] += 1
        return
    for c in range(case_start.size - 1):
        if not keep[c]:
            continue
        for i in range(case_start[c], case_start[c + 1]):
            if np.isnan(values[i]):
                continue
            a = act[i]
            if a < 0:
                a = extra
            buf[fill[a]] = sort_key(bits[i], allpos, mask)
            fill[a] += 1


# ====================================================================== discover: edges
@kernel
def edge_stats(act, case_start, keep, extra, A, seg, wait, s_raw, use_start):
    """Per edge code ``A * source + target`` (a transition: an event after another of the same
    kept dossier): transitions, dossiers with one, and the number, sum (row order) and minimum
    of the transitions' non-NaN working seconds (the discovery module's definition: end ->
    start clipped at 0 as ``np.maximum(wait, 0.0)`` when the event has a start time (``s_raw``,
    the start instants as int64 ns, not NaT) and ``use_start``, else end -> end ``seg``).
    Returns ``(count, cases, n, sum, vmin)``."""
    AA = A * A
    count = np.zeros(AA, dtype=np.int64)
    cases = np.zeros(AA, dtype=np.int64)
    last = np.full(AA, -1, dtype=np.int64)
    n = np.zeros(AA, dtype=np.int64)
    sm = np.zeros(AA, dtype=np.float64)
    vmin = np.inf
    for c in range(case_start.size - 1):
        if not keep[c]:
            continue
        s = case_start[c]
        e = case_start[c + 1]
        if e <= s:
            continue
        prev = act[s]
        if prev < 0:
            prev = extra
        for i in range(s + 1, e):
            a = act[i]
            if a < 0:
                a = extra
            k = prev * A + a
            prev = a
            count[k] += 1
            if last[k] != c:
                last[k] = c
                cases[k] += 1
            v = seg[i]
            if use_start and s_raw[i] != NAT:
                v = wait[i]
                if not (v > 0.0 or np.isnan(v)):
                    v = 0.0
            if not np.isnan(v):
                n[k] += 1
                sm[k] += v
                if v < vmin:
                    vmin = v
    return count, cases, n, sm, vmin


@kernel
def edge_scatter(act, case_start, keep, extra, A, lut, seg, wait, s_raw, use_start, starts,
                 allpos, mask, buf):
    """The order keys of the transitions' non-NaN durations, grouped by edge id into ``buf``."""
    E = starts.size - 1
    fill = starts[:E].copy()
    seg_bits = seg.view(np.uint64)
    wait_bits = wait.view(np.uint64)
    for c in range(case_start.size - 1):
        if not keep[c]:
            continue
        s = case_start[c]
        e = case_start[c + 1]
        if e <= s:
            continue
        prev = act[s]
        if prev < 0:
            prev = extra
        for i in range(s + 1, e):
            a = act[i]
            if a < 0:
                a = extra
            k = lut[prev * A + a]
            prev = a
            # edge_stats' value (and its bits)
            v = seg[i]
            u = seg_bits[i]
            if use_start and s_raw[i] != NAT:
                v = wait[i]
                u = wait_bits[i]
                if not (v > 0.0 or np.isnan(v)):
                    v = 0.0
                    u = _ZERO
            if np.isnan(v):
                continue
            buf[fill[k]] = sort_key(u, allpos, mask)
            fill[k] += 1


@kernel
def any_not_nat(x):
    """Whether the int64 instants ``x`` have one that is not NaT (stops at the first)."""
    for i in range(x.size):
        if x[i] != NAT:
            return True
    return False
