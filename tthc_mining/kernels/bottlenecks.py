"""Kernels of :func:`tthc_mining.bottlenecks.bottlenecks`: the selection of the agency events of
every row and all per-row sums in one pass, exact per-row quantiles (counting sort by row, then
selection), the queue and batching evidence and the agency-time totals.

Every sum adds in the order of the numpy code it replaced: per-row sums in event order from 0.0
(what ``np.bincount(key, weights=...)`` does; adding ``0.0`` for the events a ``np.where`` zeroed
is skipped, which changes nothing), and the totals numpy computed with ``ndarray.sum()`` as
numpy's pairwise summation of the same values in the same order (:func:`_pw_done`, a streaming
form of numpy's ``pairwise_sum``); ``np.nansum(x, where=mask)`` as numpy evaluates it: the
pairwise sum of every maximal run of selected positions, the runs added in order.

Argument types (fixed; the wrappers in :mod:`tthc_mining.bottlenecks` cast and pass read-only
C-contiguous arrays): event flags ``bool``, owners ``int8``, category codes ``int32``,
activity / case / row codes and positions ``int64`` (the positions of the selected events,
``idx``, ``int32``: a log has fewer than 2**31 events), durations and working-axis times
``float64``, instants ``int64`` nanoseconds (``NAT`` = int64 min) with an ``int64`` offset
added to the valid ones (a constant UTC offset of the calendar zone, or 0).
"""
from __future__ import annotations

import numpy as np

from . import kernel
from .calendar import _axis, _seconds
from .codes import code_at, width_views

NAT = np.iinfo(np.int64).min
DAY_NS = 86_400 * 1_000_000_000
MINUTE_NS = 60 * 1_000_000_000
H = 3600.0


# ====================================================================== numpy's pairwise sum
@kernel
def pw_program(n):
    """The shape of numpy's ``pairwise_sum`` of ``n`` values in post-order: ``k > 0`` = a leaf
    of ``k`` consecutive values, ``-1`` = add the two last results (left + right)."""
    cap = 2 * (n // 64 + 2) + 8
    ops = np.empty(cap, np.int64)
    k = 0
    if n == 0:
        return ops[:0]
    st_n = np.empty(128, np.int64)
    st_s = np.zeros(128, np.int64)
    sp = 1
    st_n[0] = n
    st_s[0] = 0
    while sp > 0:
        s = st_n[sp - 1]
        if s <= 128:
            ops[k] = s
            k += 1
            sp -= 1
            continue
        n2 = s // 2
        n2 -= n2 % 8
        state = st_s[sp - 1]
        if state == 0:
            st_s[sp - 1] = 1
            st_n[sp] = n2
            st_s[sp] = 0
            sp += 1
        elif state == 1:
            st_s[sp - 1] = 2
            st_n[sp] = s - n2
            st_s[sp] = 0
            sp += 1
        else:
            ops[k] = -1
            k += 1
            sp -= 1
    return ops[:k]


@kernel
def _pw_leaf(buf, s):
    """numpy's pairwise sum of ``buf[:s]`` for ``s <= 128`` (one leaf: sequentially from -0.0
    below 8 values, else eight accumulators and the rest)."""
    if s < 8:
        res = -0.0
        for t in range(s):
            res += buf[t]
        return res
    r0 = buf[0]
    r1 = buf[1]
    r2 = buf[2]
    r3 = buf[3]
    r4 = buf[4]
    r5 = buf[5]
    r6 = buf[6]
    r7 = buf[7]
    end = s - s % 8
    k = 8
    while k < end:
        r0 += buf[k]
        r1 += buf[k + 1]
        r2 += buf[k + 2]
        r3 += buf[k + 3]
        r4 += buf[k + 4]
        r5 += buf[k + 5]
        r6 += buf[k + 6]
        r7 += buf[k + 7]
        k += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < s:
        res += buf[k]
        k += 1
    return res


@kernel
def _pw_done(buf, prog, pc, st, sp):
    """A leaf of a streamed pairwise sum is complete (its values in ``buf``): push its sum,
    add up the finished halves; returns the next (program position, stack size, leaf size)."""
    st[sp] = _pw_leaf(buf, prog[pc])
    sp += 1
    pc += 1
    while pc < prog.size and prog[pc] == -1:
        st[sp - 2] = st[sp - 2] + st[sp - 1]
        sp -= 1
        pc += 1
    return pc, sp, (prog[pc] if pc < prog.size else 0)


@kernel
def pairwise_sum(a):
    """``a.sum()`` of a float64 array as numpy computes it, streamed (for the tests)."""
    prog = pw_program(a.size)
    buf = np.empty(128)
    st = np.zeros(128)
    pc, sp, size, c = 0, 0, (prog[0] if prog.size else 0), 0
    for i in range(a.size):
        buf[c] = a[i]
        c += 1
        if c == size:
            pc, sp, size = _pw_done(buf, prog, pc, st, sp)
            c = 0
    return st[0] if sp > 0 else 0.0


# ====================================================================== helpers
@kernel
def _month_of_day(d):
    """Months since 1970-01 of a day number since 1970-01-01 (proleptic Gregorian, as
    ``datetime64[D] -> datetime64[M]``)."""
    z = d + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return (y - 1970) * 12 + (m - 1)


@kernel
def _local(ts, i, off):
    t = ts[i]
    if t != NAT:
        t += off
    return t


@kernel
def minmax_valid(ts):
    """(min, max, number of NaT) of int64 ns."""
    lo = np.iinfo(np.int64).max
    hi = np.iinfo(np.int64).min
    nn = 0
    for i in range(ts.size):
        t = ts[i]
        if t == NAT:
            nn += 1
            continue
        if t < lo:
            lo = t
        if t > hi:
            hi = t
    return lo, hi, nn


@kernel
def transition_lut(is_first, act, A):
    """Dense codes of the (previous step, step) pairs in order of first appearance over all
    events, as ``pd.factorize(np.where(prev >= 0, prev * A + act, -1))``: a look-up table
    indexed by ``raw + 1`` and the raw values in code order (``-1`` included when it occurs)."""
    n = act.size
    lut = np.full(A * A + 1, -1, np.int64)
    uniq = np.empty(A * A + 1, np.int64)
    k = 0
    for i in range(n):
        raw = -1
        if i > 0 and not is_first[i]:
            p = act[i - 1]
            if p >= 0:
                raw = p * A + act[i]
        if lut[raw + 1] < 0:
            lut[raw + 1] = k
            uniq[k] = raw
            k += 1
    return lut, uniq[:k].copy()


@kernel
def transition_codes(is_first, act, A, lut):
    """Per event the dense transition code of :func:`transition_lut` (-1 for first events)."""
    n = act.size
    out = np.empty(n, np.int64)
    for i in range(n):
        raw = -1
        if i > 0 and not is_first[i]:
            p = act[i - 1]
            if p >= 0:
                raw = p * A + act[i]
        out[i] = lut[raw + 1] if raw >= 0 else -1
    return out


# ====================================================================== selection and sums
@kernel
def select_rows(is_first, owner, pmask, agency_code, mode, kcode, act, tlut, A, R0, case,
                n_cases, wait_s, seg_s, proc_s, handover, ts, off, grp, gw, modal_V):
    """One pass to count, one to fill: the agency events in scope with a row key (``idx``),
    their compact row (``key``, rows without events dropped), dossier and wait (hours, clipped
    at 0), and per row: the sums of wait / held / processing (event order), counts, hand-over
    sums, dossiers, (row, month) sums of the wait by the month of the previous event, the
    (row, unit) counts and first appearances behind the modal unit, and for the batching
    evidence the completions at midnight or without a time and the range of the clock minutes
    of the completions and arrivals. ``grp``: the unit codes' bytes, ``gw`` bytes each (the
    codes at their own width: no widened copy)."""
    gv = width_views(grp)                   # the unit codes at their own width
    n = is_first.size
    use_p = pmask.size > 0
    raw_cnt = np.zeros(R0, np.int64)
    in_scope = np.zeros(n_cases, np.bool_)
    n_not_agency = 0
    n_no_key = 0
    n_agency = 0
    mlo = np.iinfo(np.int64).max
    mhi = -1
    for i in range(n):
        if is_first[i]:
            continue
        if use_p and not pmask[i]:
            continue
        in_scope[case[i]] = True
        if owner[i] != agency_code:
            n_not_agency += 1
            continue
        n_agency += 1
        if mode == 2:
            k = act[i]
        elif mode == 1:
            p = act[i - 1] if i > 0 else -1
            k = tlut[p * A + act[i] + 1] if p >= 0 and p * A + act[i] >= 0 else -1
        else:
            k = np.int64(kcode[i])
        if k < 0:
            n_no_key += 1
            continue
        raw_cnt[k] += 1
        t = _local(ts, i - 1, off)
        if t >= 0:
            if t < mlo:
                mlo = t
            if t > mhi:
                mhi = t
    remap = np.full(R0, -1, np.int64)
    R = 0
    n_sel = 0
    for k in range(R0):
        if raw_cnt[k] > 0:
            remap[k] = R
            R += 1
            n_sel += raw_cnt[k]
    keep = np.empty(R, np.int64)
    count = np.empty(R, np.int64)
    for k in range(R0):
        if remap[k] >= 0:
            keep[remap[k]] = k
            count[remap[k]] = raw_cnt[k]
    # the month of every day of the span (a log spans a few hundred days), looked up
    if mhi >= 0:
        d0 = mlo // DAY_NS
        d1 = mhi // DAY_NS
        m0 = _month_of_day(d0)
        M = _month_of_day(d1) - m0 + 1
        mlut = np.empty(d1 - d0 + 1, np.int64)
        for d in range(d0, d1 + 1):
            mlut[d - d0] = _month_of_day(d) - m0
    else:
        d0 = 0
        m0 = 0
        M = 0
        mlut = np.zeros(0, np.int64)
    idx = np.empty(n_sel, np.int32)
    key = np.empty(n_sel, np.int64)
    csel = np.empty(n_sel, np.int64)
    wsel = np.empty(n_sel, np.float64)
    sums = np.zeros((8, R))     # wait, held, n_proc, proc, wait with proc, ho wait, ho n, -
    cases = np.zeros(R, np.int64)
    last_case = np.full(R, -1, np.int64)
    ys = np.zeros(R * M)
    yc = np.zeros(R * M, np.int64)
    V = modal_V
    mcnt = np.zeros(R * V, np.int64)
    mfirst = np.full(R * V, -1, np.int64)
    midnight = np.zeros(R)
    mn_lo = np.iinfo(np.int64).max
    mn_hi = np.iinfo(np.int64).min
    neg = 0
    j = 0
    for i in range(n):
        if is_first[i]:
            continue
        if use_p and not pmask[i]:
            continue
        if owner[i] != agency_code:
            continue
        if mode == 2:
            k = act[i]
        elif mode == 1:
            p = act[i - 1] if i > 0 else -1
            k = tlut[p * A + act[i] + 1] if p >= 0 and p * A + act[i] >= 0 else -1
        else:
            k = np.int64(kcode[i])
        if k < 0:
            continue
        r = remap[k]
        idx[j] = np.int32(i)
        key[j] = r
        c = case[i]
        csel[j] = c
        w = wait_s[i]
        if w < 0.0:
            neg += 1
        if not (w >= 0.0):
            w = 0.0
        w /= H
        wsel[j] = w
        sums[0, r] += w
        h = seg_s[i]
        if not (h >= 0.0):
            h = 0.0
        h /= H
        sums[1, r] += h
        p = proc_s[i] / H
        if np.isfinite(p):
            sums[2, r] += 1.0
            if p >= 0.0:
                sums[3, r] += p
            sums[4, r] += w
        if handover[i]:
            sums[5, r] += w
            sums[6, r] += 1.0
        if last_case[r] != c:
            cases[r] += 1
            last_case[r] = c
        t = _local(ts, i - 1, off)
        if t >= 0:
            m = mlut[t // DAY_NS - d0]
            ys[r * M + m] += w
            yc[r * M + m] += 1
        # batching: the clock minutes of the arrival (previous event) and the completion, the
        # completions at midnight or without a time (dates only)
        if t != NAT:
            mn = t // MINUTE_NS
            if mn < mn_lo:
                mn_lo = mn
            if mn > mn_hi:
                mn_hi = mn
        t = ts[i]
        if t == NAT:
            midnight[r] += 1.0
        else:
            t += off
            if t % DAY_NS == 0:
                midnight[r] += 1.0
            mn = t // MINUTE_NS
            if mn < mn_lo:
                mn_lo = mn
            if mn > mn_hi:
                mn_hi = mn
        if V > 0:
            g = code_at(gv, gw, i)
            if g >= 0:
                cell = r * V + g
                mcnt[cell] += 1
                if mfirst[cell] < 0:
                    mfirst[cell] = j
        j += 1
    # modal unit per row: the most frequent, ties to the first appearing
    modal = np.full(R, -1, np.int64)
    if V > 0:
        for r in range(R):
            best = -1
            bc = 0
            bf = 0
            for g in range(V):
                c = mcnt[r * V + g]
                if c <= 0:
                    continue
                f = mfirst[r * V + g]
                if c > bc or (c == bc and f < bf):
                    best = g
                    bc = c
                    bf = f
            modal[r] = best
    return (idx, key, csel, wsel, keep, count, sums, cases, in_scope, ys, yc, m0, M, modal,
            neg, n_not_agency, n_no_key, n_agency, midnight, mn_lo, mn_hi)


# ====================================================================== quantiles
@kernel
def _select(a, lo, hi, k):
    """Rearrange ``a[lo:hi+1]`` so that ``a[k]`` is its order statistic, smaller (or equal)
    values before it and larger (or equal) after (Floyd-Rivest: large ranges are first
    narrowed around ``k`` by selecting within a sample, then one partition)."""
    left = lo
    right = hi
    while right > left:
        if right - left > 600:
            n = right - left + 1
            i = k - left + 1
            z = np.log(n)
            s = 0.5 * np.exp(2.0 * z / 3.0)
            sd = 0.5 * np.sqrt(z * s * (n - s) / n)
            if i < n / 2.0:
                sd = -sd
            nl = max(left, np.int64(k - i * s / n + sd))
            nr = min(right, np.int64(k + (n - i) * s / n + sd))
            _select_small(a, nl, nr, k)
        t = a[k]
        i = left
        j = right
        a[left], a[k] = a[k], a[left]
        if a[right] > t:
            a[right], a[left] = a[left], a[right]
        while i < j:
            a[i], a[j] = a[j], a[i]
            i += 1
            j -= 1
            while a[i] < t:
                i += 1
            while a[j] > t:
                j -= 1
        if a[left] == t:
            a[left], a[j] = a[j], a[left]
        else:
            j += 1
            a[j], a[right] = a[right], a[j]
        if j <= k:
            left = j + 1
        if k <= j:
            right = j - 1


@kernel
def _select_small(a, lo, hi, k):
    """Quickselect with median-of-three pivots (the sample step of :func:`_select`)."""
    l = lo
    ir = hi
    while True:
        if ir <= l + 1:
            if ir == l + 1 and a[ir] < a[l]:
                t = a[l]
                a[l] = a[ir]
                a[ir] = t
            return
        mid = (l + ir) >> 1
        t = a[mid]
        a[mid] = a[l + 1]
        a[l + 1] = t
        if a[l] > a[ir]:
            t = a[l]
            a[l] = a[ir]
            a[ir] = t
        if a[l + 1] > a[ir]:
            t = a[l + 1]
            a[l + 1] = a[ir]
            a[ir] = t
        if a[l] > a[l + 1]:
            t = a[l]
            a[l] = a[l + 1]
            a[l + 1] = t
        i = l + 1
        j = ir
        piv = a[l + 1]
        while True:
            i += 1
            while a[i] < piv:
                i += 1
            j -= 1
            while a[j] > piv:
                j -= 1
            if j < i:
                break
            t = a[i]
            a[i] = a[j]
            a[j] = t
        a[l + 1] = a[j]
        a[j] = piv
        if j >= k:
            ir = j - 1
        if j <= k:
            l = i


@kernel
def group_quantiles(values, groups, n_groups, qs):
    """Exact quantiles (linear interpolation, as numpy) of ``values`` per group
    ``0..n_groups-1`` (other codes are left out): a stable counting sort by group, then per
    group and quantile the two order statistics around the position (selection, not a sort).
    NaN values count as the largest (as in ``np.partition``), so a position among them gives
    NaN."""
    m = values.size
    nq = qs.size
    out = np.full((n_groups, nq), np.nan)
    counts = np.zeros(n_groups + 1, np.int64)
    for i in range(m):
        g = groups[i]
        if 0 <= g < n_groups:
            counts[g + 1] += 1
    for g in range(n_groups):
        counts[g + 1] += counts[g]
    front = counts[:n_groups].copy()         # finite values from the front of the group
    back = counts[1:].copy()                 # NaN from its back
    buf = np.empty(counts[n_groups])
    for i in range(m):
        g = groups[i]
        if 0 <= g < n_groups:
            v = values[i]
            if v != v:
                back[g] -= 1
                buf[back[g]] = v
            else:
                buf[front[g]] = v
                front[g] += 1
    for g in range(n_groups):
        a = counts[g]
        c = counts[g + 1] - a
        if c == 0:
            continue
        e = front[g]            # buf[a:e] finite, buf[e:a + c] NaN
        L = a                   # buf[L:Hh+1] holds the order statistics not yet placed
        Hh = e - 1
        for jq in range(nq):
            p = qs[jq] * (c - 1)
            lo = np.int64(np.floor(p))
            hi = min(lo + 1, c - 1)
            k = a + lo
            if k < e:
                if not (L <= k <= Hh):   # (quantiles not in increasing order: the whole group)
                    L = a
                    Hh = e - 1
                _select(buf, L, Hh, k)
                if jq + 1 < nq and qs[jq + 1] >= qs[jq]:
                    L = k                # the next quantile lies at or above this one
                else:
                    Hh = k
                x = buf[k]
            else:
                x = np.nan
            if a + hi >= e:
                y = np.nan
            elif hi > lo:
                y = buf[a + hi]
                for t in range(a + hi + 1, e):         # the next order statistic: min above
                    if buf[t] < y:
                        y = buf[t]
            else:
                y = buf[a + hi]
            f = p - lo
            out[g, jq] = x * (1.0 - f) + y * f
    return out


# ====================================================================== excess and shares
@kernel
def excess_sums(idx, key, wsel, case, R, med, seg_s, act, case_version, allot_h, A,
                od_case):
    """Per row: the waiting above the allotment (held time above the step's allotment when the
    catalogue gives one, else the wait above the row's median), the number of events with an
    allotment, and the held time in overdue dossiers."""
    ex = np.zeros(R)
    n_allot = np.zeros(R)
    s_od = np.zeros(R)
    use_cat = case_version.size > 0
    use_od = od_case.size > 0
    last = allot_h.size - 1
    for j in range(idx.size):
        i = idx[j]
        r = key[j]
        h = seg_s[i]
        if not (h >= 0.0):
            h = 0.0
        h /= H
        al = np.nan
        if use_cat:
            v = case_version[case[i]]
            a = act[i]
            al = allot_h[v * A + a] if (v >= 0 and a >= 0) else allot_h[last]
        if np.isfinite(al):
            e = h - al
            n_allot[r] += 1.0
        else:
            e = wsel[j] - med[r]
        if e >= 0.0:
            ex[r] += e
        if use_od and od_case[case[i]]:
            s_od[r] += h
    return ex, n_allot, s_od


@kernel
def agency_totals(is_first, owner, pmask, agency_code, case, seg_s, wait_s, handover,
                  od_case):
    """Over the agency events in scope (every key): the total held time (hours) as
    ``seg_s[agency]`` clipped, divided by 3600 and summed by numpy; the same over the events of
    overdue dossiers; the wait of the events that stay inside a unit (working seconds) as
    ``np.nansum(np.maximum(wait_s, 0), where=inside)``, and their number."""
    n = is_first.size
    use_p = pmask.size > 0
    use_od = od_case.size > 0
    n_agency = 0
    n_od = 0
    for i in range(n):
        if is_first[i] or (use_p and not pmask[i]) or owner[i] != agency_code:
            continue
        n_agency += 1
        if use_od and od_case[case[i]]:
            n_od += 1
    prog_a = pw_program(n_agency)
    buf_a = np.empty(128)
    st_a = np.zeros(128)
    pc_a, sp_a, size_a, c_a = 0, 0, (prog_a[0] if prog_a.size else 0), 0
    prog_o = pw_program(n_od)
    buf_o = np.empty(128)
    st_o = np.zeros(128)
    pc_o, sp_o, size_o, c_o = 0, 0, (prog_o[0] if prog_o.size else 0), 0
    buf_r = np.empty(128)
    st_r = np.zeros(128)
    ref = 0.0
    n_inside = 0
    run = 0                    # length of the current run of inside events (ending at i - 1)
    for i in range(n + 1):
        inside = False
        if i < n and not (is_first[i] or (use_p and not pmask[i]) or owner[i] != agency_code):
            h = seg_s[i]
            if not (h >= 0.0):
                h = 0.0
            h /= H
            buf_a[c_a] = h
            c_a += 1
            if c_a == size_a:
                pc_a, sp_a, size_a = _pw_done(buf_a, prog_a, pc_a, st_a, sp_a)
                c_a = 0
            if use_od and od_case[case[i]]:
                buf_o[c_o] = h
                c_o += 1
                if c_o == size_o:
                    pc_o, sp_o, size_o = _pw_done(buf_o, prog_o, pc_o, st_o, sp_o)
                    c_o = 0
            inside = not handover[i]
        if inside:
            run += 1
            continue
        if run > 0:            # a run of inside events ended: its pairwise sum
            lo = i - run
            n_inside += run
            prog = pw_program(run) if run > 128 else prog_a[:0]
            pc, sp, size, c = 0, 0, (prog[0] if prog.size else run), 0
            for t in range(lo, i):
                w = wait_s[t]
                if w != w or w < 0.0:           # np.maximum(w, 0), NaN -> 0 (np.nansum)
                    w = 0.0
                buf_r[c] = w
                c += 1
                if c == size:
                    if prog.size:
                        pc, sp, size = _pw_done(buf_r, prog, pc, st_r, sp)
                    else:
                        st_r[0] = _pw_leaf(buf_r, run)
                        sp = 1
                    c = 0
            ref += st_r[0]
            run = 0
    tot_a = st_a[0] if sp_a > 0 else 0.0
    tot_o = st_o[0] if sp_o > 0 else 0.0
    return tot_a, tot_o, ref, n_inside, n_od


# ====================================================================== queue evidence
@kernel
def _hash_slot(keys, k, bits):
    """Slot of code ``k`` (>= 0) in an open-addressing table of ``2**bits`` slots (-1 = free):
    Fibonacci hashing (the high bits of the product), linear probing."""
    mask = keys.size - 1
    h = np.int64((np.uint64(k) * np.uint64(11400714819323198485)) >> np.uint64(64 - bits))
    while keys[h] != -1 and keys[h] != k:
        h = (h + 1) & mask
    return h


@kernel
def _hash_grow(hk, hv, bits):
    """The table re-inserted into one 4 times larger."""
    nk = np.full(1 << bits, -1, np.int64)
    nv = np.empty(1 << bits, np.int64)
    for t in range(hk.size):
        if hk[t] != -1:
            h = _hash_slot(nk, hk[t], bits)
            nk[h] = hk[t]
            nv[h] = hv[t]
    return nk, nv


#: The queue kernels' ``dep`` argument (:func:`tthc_mining.bottlenecks._departures`): how an
#: event's departure (its start, else its end) is read: ``(mode, w_start, s_raw, s_off, d0,
#: base, wmask, cum_f, slot_a, slot_len, L_ns, L_s)``; mode 0 reads the start column's float
#: axis ``w_start``; mode 1 maps the raw start instant ``s_raw[i]`` (int64 ns, zone offset
#: ``s_off``) with the calendar's day table by the segment kernel's own inline code
#: (:mod:`tthc_mining.kernels.calendar`: the same float, without the 48 MB axis array); mode 2:
#: no start times. (Written out in each loop: an inline helper around the calendar's inline
#: ``_axis`` is not inlined two levels deep and cost ~10x, measured.)
_DEP = "mode, w_start, s_raw, s_off, d0, base, wmask, cum_f, slot_a, slot_len, L_ns, L_s"
#: the queue evidence's backlogs are counted over bands of queues (ranges of queue codes) of at
#: most this many events each, or ``1/QUEUE_MAX_BANDS`` of the events if that is more: the sort
#: keys of one band at a time (8 MB at 2**19 events), not those of every event at once
QUEUE_BAND = 1 << 19
QUEUE_MAX_BANDS = 16
#: at most this many (row, officer) pairs: the queue codes come from a direct table (else from
#: a hash table)
QUEUE_LUT = 1 << 20


@kernel
def _queue_run(idx, key, sub, V, lut, j, o, hk, hv, bits, nq, w_end, dep, qj, cnt, lohi):
    """:func:`queue_prepare` from event ``j`` on (``o`` events with an arrival and a departure
    so far): the (row, officer) codes from the direct table ``lut`` (-1: not seen yet) when it
    is given, else from the hash table ``hk``/``hv``, until that is half full; returns (next
    event, next ``o``, number of codes)."""
    mode, w_start, s_raw, s_off, d0, base, wmask, cum_f, slot_a, slot_len, L_ns, L_s = dep
    m = idx.size
    cap = hk.size
    use_sub = sub.size > 0
    use_lut = lut.size > 0
    while j < m:
        i = idx[j]
        q = key[j]
        if use_sub:
            code = key[j] * (V + 1) + np.int64(sub[i]) + 1
            if use_lut:
                q = lut[code]
                if q == -1:
                    q = nq
                    lut[code] = q
                    nq += 1
            else:
                h = _hash_slot(hk, code, bits)
                if hk[h] == -1:
                    hk[h] = code
                    hv[h] = nq
                    nq += 1
                q = hv[h]
        a = w_end[i - 1]
        d = np.nan                          # the departure: start, else end (see _DEP)
        if mode == 0:
            d = w_start[i]
        elif mode == 1:
            v = s_raw[i]
            if v != NAT:
                _w, intra, k = _axis(v, s_off, d0, base, wmask, slot_a, slot_len)
                d = _seconds(intra, k, cum_f, L_ns, L_s)
        if not np.isfinite(d):
            d = w_end[i]
        if np.isfinite(a) and np.isfinite(d):
            qj[j] = q
            o += 1
            cnt[key[j]] += 1
            if a < lohi[0]:
                lohi[0] = a
            if d < lohi[0]:
                lohi[0] = d
            if a > lohi[1]:
                lohi[1] = a
            if d > lohi[1]:
                lohi[1] = d
        else:
            qj[j] = -1
        j += 1
        if not use_lut and 2 * nq > cap:
            break
    return j, o, nq


@kernel
def queue_prepare(idx, key, R, w_end, dep, sub, V, lut_max):
    """The queue evidence's first pass over the events of the rows: which have both an arrival
    (end of the previous event) and a departure (start, else end) on the working axis (the
    items), their number per row, the span of those times, and for each event the dense code
    of its queue, the (row, officer) pair (order of first appearance over every event of the
    rows, as ``pd.factorize``; found through a direct table of the pairs when there are at
    most ``lut_max`` (:data:`QUEUE_LUT`), else through a hash table; the row itself without an
    officer column), ``-1`` for the events that are not items. Returns (items per row, number
    of items, lowest and highest time, the codes, number of queue codes)."""
    m = idx.size
    cnt = np.zeros(R, np.int64)
    lohi = np.empty(2)
    lohi[0] = np.inf
    lohi[1] = -np.inf
    qj = np.empty(m, np.int32)
    if sub.size > 0 and R * (V + 1) <= lut_max:        # few pairs: a direct table, no hashing
        lut = np.full(R * (V + 1), -1, np.int32)
        no = np.zeros(0, np.int64)
        _, o, nq = _queue_run(idx, key, sub, V, lut, 0, 0, no, no, 0, 0, w_end, dep, qj, cnt,
                              lohi)
        return cnt, o, lohi[0], lohi[1], qj, nq
    bits = 10
    hk = np.full(1 << bits, -1, np.int64)
    hv = np.empty(1 << bits, np.int64)
    lut = np.zeros(0, np.int32)
    j = 0
    o = 0
    nq = 0
    while j < m:
        j, o, nq = _queue_run(idx, key, sub, V, lut, j, o, hk, hv, bits, nq, w_end, dep, qj,
                              cnt, lohi)
        if 2 * nq > hk.size:
            bits += 2
            hk, hv = _hash_grow(hk, hv, bits)
    if sub.size == 0:
        nq = R
    return cnt, o, lohi[0], lohi[1], qj, nq


@kernel
def queue_take(key, qj, n_ok, u, frac32, take_all, nq):
    """Which items are sampled (``u[o] < frac32[row]`` for the ``o``-th item in event order, or
    all): one bit per item, their number, and the number of items of every queue code."""
    take = np.zeros((n_ok + 7) >> 3, np.uint8)
    per = np.zeros(nq, np.int64)
    o = 0
    n = 0
    for j in range(qj.size):
        c = qj[j]
        if c >= 0:
            per[c] += 1
            if not take_all and u[o] < frac32[key[j]]:
                take[o >> 3] |= np.uint8(1 << (o & 7))
                n += 1
            o += 1
    return take, (n_ok if take_all else n), per


@kernel
def queue_bands(per, band):
    """Cut the queue codes ``0..per.size-1`` (``per``: items of each) into consecutive ranges
    (bands) of at most ``band`` items each (a queue of more items is a band of its own):
    (first code of every band and the number of codes, items per band, band of every code)."""
    nq = per.size
    start = np.empty(nq + 1, np.int64)
    size = np.empty(nq + 1, np.int64)
    band_of = np.empty(nq, np.int32)
    nb = 0
    cur = 0
    start[0] = 0
    for c in range(nq):
        k = per[c]
        if cur > 0 and cur + k > band:
            size[nb] = cur
            nb += 1
            start[nb] = c
            cur = 0
        cur += k
        band_of[c] = nb
    size[nb] = cur
    nb += 1
    start[nb] = nq
    return start[:nb + 1].copy(), size[:nb].copy(), band_of


@kernel
def queue_sample(idx, key, w_end, dep, qj, t0, span, take, take_all, n_take, band_of, nb):
    """The sampled items (:func:`queue_take`), in event order: their arrival's composite sort
    key (arrival + ``qcode * span - t0``, :func:`tthc_mining.bottlenecks.wip_at_arrival`'s
    keys), wait (departure - arrival, clipped at 0) and row; and their number per band."""
    mode, w_start, s_raw, s_off, d0, base, wmask, cum_f, slot_a, slot_len, L_ns, L_s = dep
    kq = np.empty(n_take)
    ws = np.empty(n_take)
    ks = np.empty(n_take, np.int64)
    per_band = np.zeros(nb, np.int64)
    o = 0
    t = 0
    for j in range(qj.size):
        c = qj[j]
        if c < 0:
            continue
        if take_all or (take[o >> 3] >> (o & 7)) & 1:
            i = idx[j]
            a = w_end[i - 1]
            d = np.nan                          # the departure: start, else end (see _DEP)
            if mode == 0:
                d = w_start[i]
            elif mode == 1:
                v = s_raw[i]
                if v != NAT:
                    _w, intra, k = _axis(v, s_off, d0, base, wmask, slot_a, slot_len)
                    d = _seconds(intra, k, cum_f, L_ns, L_s)
            if not np.isfinite(d):
                d = w_end[i]
            offv = np.float64(c) * span
            offv -= t0
            kq[t] = a + offv
            wv = d - a
            ws[t] = wv if wv >= 0.0 else 0.0
            ks[t] = key[j]
            per_band[band_of[c]] += 1
            t += 1
        o += 1
    return kq, ws, ks, per_band


@kernel
def queue_band(idx, w_end, dep, qj, c_lo, c_hi, size, t0, span):
    """The composite sort keys of the ``size`` items of the queues ``c_lo..c_hi-1`` (``ka``:
    arrival, ``kd``: the later of arrival and departure, both plus ``qcode * span - t0``; in
    event order, unsorted), the lowest ``ka`` and the highest ``kd``. (First the positions of
    the band's events, written without a branch into ``kd``, then their keys.)"""
    mode, w_start, s_raw, s_off, d0, base, wmask, cum_f, slot_a, slot_len, L_ns, L_s = dep
    ka = np.empty(size)
    kd = np.empty(size)
    lo = np.inf
    hi = -np.inf
    if size == 0:
        return ka, kd, lo, hi
    width = np.uint32(c_hi - c_lo)
    o = 0
    for j in range(qj.size):
        kd[o] = j
        o += np.uint32(qj[j] - c_lo) < width      # (-1: not an item, above any band)
        if o == size:
            break
    for o in range(size):
        j = np.int64(kd[o])
        c = qj[j]
        i = idx[j]
        a = w_end[i - 1]
        d = np.nan                          # the departure: start, else end (see _DEP)
        if mode == 0:
            d = w_start[i]
        elif mode == 1:
            v = s_raw[i]
            if v != NAT:
                _w, intra, k = _axis(v, s_off, d0, base, wmask, slot_a, slot_len)
                d = _seconds(intra, k, cum_f, L_ns, L_s)
        if not np.isfinite(d):
            d = w_end[i]
        offv = np.float64(c) * span
        offv -= t0
        x = a + offv
        y = (d if d >= a else a) + offv
        ka[o] = x
        kd[o] = y
        if x < lo:
            lo = x
        if y > hi:
            hi = y
    return ka, kd, lo, hi


@kernel
def wip_band(ka, kd, kqs, s, e):
    """For the queries ``kqs[s:e]`` (keys, sorted): items arrived at or before the key minus
    items departed at or before it, minus the query itself, at least 0, written over the key
    (``ka`` and ``kd`` sorted: one merge instead of binary searches)."""
    ia = 0
    id_ = 0
    for t in range(s, e):
        q = kqs[t]
        while ia < ka.size and ka[ia] <= q:
            ia += 1
        while id_ < kd.size and kd[id_] <= q:
            id_ += 1
        c = ia - id_ - 1
        kqs[t] = np.float64(c if c > 0 else 0)


@kernel
def group_ranks(v, g, n_groups, order):
    """Average ranks (1-based) of ``v`` within integer groups ``g`` (ties share the mean of
    their positions), from ``order = np.argsort(v)``: a stable counting sort of that order by
    group puts every group's values in order; tie runs are found by comparing neighbours."""
    m = v.size
    out = np.empty(m)
    start = np.zeros(n_groups + 1, np.int64)
    for i in range(m):
        start[g[i] + 1] += 1
    for k in range(n_groups):
        start[k + 1] += start[k]
    pos = start[:n_groups].copy()
    srt = np.empty(m, np.int64)
    for t in range(m):
        i = order[t]
        k = g[i]
        srt[pos[k]] = i
        pos[k] += 1
    for k in range(n_groups):
        a = start[k]
        b = start[k + 1]
        p = a
        while p < b:
            x = v[srt[p]]
            e = p + 1
            while e < b and v[srt[e]] == x:
                e += 1
            r = np.float64((p - a + 1) + (e - a)) / 2.0
            for t in range(p, e):
                out[srt[t]] = r
            p = e
    return out


@kernel
def rank_sums(rx, ry, g, n_groups):
    """Per group: n, sum rx, sum ry, sum rx², sum ry², sum rx·ry (in index order)."""
    s = np.zeros((6, n_groups))
    for i in range(g.size):
        k = g[i]
        x = rx[i]
        y = ry[i]
        s[0, k] += 1.0
        s[1, k] += x
        s[2, k] += y
        s[3, k] += x * x
        s[4, k] += y * y
        s[5, k] += x * y
    return s


# ====================================================================== batching evidence
@kernel
def clump_fill(ts, idx, shift, off, key, grp, gw, G1, ck, mmin, span, r_lo, r_hi, buf):
    """Composite codes ``(row, unit) * span + minute`` of the valid instants ``ts[idx + shift]``
    (+ ``off``) of the rows ``r_lo <= key[j] < r_hi`` into ``buf``; returns their number. The
    (row, unit) code is ``ck[j]`` when given, else ``key[j] * G1 + unit + 1`` (unit -1 when
    missing; ``key[j]`` alone without a unit column, ``G1 = 1``); ``grp`` holds the unit codes'
    bytes, ``gw`` bytes each (the codes at their own width: no widened copy)."""
    gv = width_views(grp)                   # the unit codes at their own width
    m = 0
    use_ck = ck.size > 0
    use_g = grp.size > 0
    for j in range(idx.size):
        r = key[j]
        if r < r_lo or r >= r_hi:
            continue
        t = ts[idx[j] + shift]
        if t == NAT:
            continue
        mn = (t + off) // MINUTE_NS - mmin
        if use_ck:
            c = ck[j]
        else:
            c = key[j] * G1
            if use_g:
                c += code_at(gv, gw, idx[j]) + 1
        buf[m] = c * span + mn
        m += 1
    return m


@kernel
def clump_count(comp, span, G1, row_of_ck, R):
    """Per row, the number of sorted composite codes in runs of at least 3 equal codes (a
    clock minute with at least 3 instants of the same (row, unit)); the row of a code is
    ``row_of_ck[ck]`` when given, else ``ck // G1``."""
    out = np.zeros(R, np.int64)
    n = comp.size
    use_lut = row_of_ck.size > 0
    p = 0
    while p < n:
        e = p + 1
        while e < n and comp[e] == comp[p]:
            e += 1
        if e - p >= 3:
            c = comp[p] // span
            r = row_of_ck[c] if use_lut else c // G1
            out[r] += e - p
        p = e
    return out
