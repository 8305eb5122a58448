"""Kernels of the working-time axis (:mod:`tthc_mining.calendar`) and of the segment durations
(:mod:`tthc_mining.segments`) read from it.

An instant's place on the axis is computed in registers from its raw int64 nanoseconds: local
wall clock ``raw + off`` (``off`` the zone's constant UTC offset, 0 for local input), the day
``floor(local / day)``, the office nanoseconds elapsed that day (a clip per slot, 0 on a
non-working day), ``base[day] + intra`` with ``base`` the working nanoseconds before each day of
the calendar's day table. The float seconds are ``days * L + intra / 1e9`` with
``days, intra = divmod(w_ns, L_ns)`` (the close of a full day is ``(days + 1, 0)``): the
operations the numpy code did, in the same order, so the values are bit-identical.

Argument types (the wrappers in :mod:`tthc_mining.calendar` and :mod:`tthc_mining.segments`
cast to them): instants ``int64`` ns (NaT = int64 min), offsets and slot bounds ``int64`` ns,
the day table ``int64`` / ``bool`` / ``float64``, ``is_first`` ``bool``, outputs ``int64`` or
``float64``. Every kernel works on a row range ``[lo, hi)`` so that two threads can share a
column (they release the GIL).

The segment kernel lives here rather than in ``kernels/segments.py`` because it calls the axis
helper: numba's on-disk cache does not notice a change in a function of another file.
"""
from __future__ import annotations

import numpy as np

from . import kernel

NAT = np.iinfo(np.int64).min
NS_PER_DAY = 86_400 * 1_000_000_000


@kernel
def minmax_valid(x, lo, hi):
    """``(min, max, n_nat)`` of ``x[lo:hi]`` over the values that are not NaT (int64 min);
    ``(int64 max, int64 min, n)`` when all are NaT. (Branch-free: NaT is the least int64, so
    it never wins the max, and it is swapped for the greatest before the min.)"""
    big = np.int64(9223372036854775807)
    mn = big
    mx = np.int64(NAT)
    n_nat = 0
    for i in range(lo, hi):
        v = x[i]
        isnat = v == NAT
        n_nat += isnat
        mx = max(mx, v)
        mn = min(mn, big if isnat else v)
    return mn, mx, n_nat


@kernel(inline="always")
def _axis(v, off, d0, base, wmask, slot_a, slot_len):
    """Working ns (int64), intra-day office ns and day-table index of raw instant ``v`` (not
    NaT). Branch-free (the time of day is unpredictable): the clips are sign-mask arithmetic and
    ``wmask`` is -1 on working days, 0 on the others."""
    x = v + off
    if x >= 0:                                # (after 1970: unsigned division, faster)
        day = np.int64(np.uint64(x) // np.uint64(NS_PER_DAY))
    else:
        day = x // NS_PER_DAY                 # floor division (numba follows Python)
    nid = x - day * NS_PER_DAY
    k = day - d0
    intra = np.int64(0)
    for j in range(slot_a.size):
        t = nid - slot_a[j]
        t &= ~(t >> 63)                       # max(t, 0)
        d = t - slot_len[j]
        intra += slot_len[j] + (d & (d >> 63))   # min(t, len)
    intra &= wmask[k]
    return base[k] + intra, intra, k


@kernel(inline="always")
def _seconds(intra, k, cum_f, L_ns, L_s):
    """The float axis of an instant from its intra-day ns and day index (see module doc)."""
    dd = cum_f[k]
    if intra == L_ns:
        dd += 1.0
        intra = 0
    return dd * L_s + intra / 1e9


@kernel
def working_ns(x, off, d0, base, wmask, cum_f, slot_a, slot_len, L_ns, L_s,
               out, out_s, seconds, lo, hi):
    """The axis of ``x[lo:hi]``: ``out`` int64 ns (NaT kept), and with ``seconds`` ``out_s``
    float seconds (NaN for NaT)."""
    for i in range(lo, hi):
        v = x[i]
        if v == NAT:
            out[i] = NAT
            if seconds:
                out_s[i] = np.nan
            continue
        w, intra, k = _axis(v, off, d0, base, wmask, slot_a, slot_len)
        out[i] = w
        if seconds:
            out_s[i] = _seconds(intra, k, cum_f, L_ns, L_s)


@kernel
def segment_times(e, e_off, s, s_off, is_first, d0, base, wmask, cum_f, slot_a, slot_len,
                  L_ns, L_s, w_end, seg, w_start, wait, proc, do_end, write_end, do_start,
                  write_start, lo, hi):
    """Segment durations of rows ``[lo, hi)`` straight from the raw end (``e``) and start
    (``s``) instants, without the int64 axis arrays:

    - ``write_end``: ``w_end`` = float axis of the end;
    - ``do_end``: ``seg = (E[i] - E[i-1]) / 1e9`` (NaN for a first row or a missing end),
    - ``write_start``: ``w_start`` = float axis of the start;
    - ``do_start``: ``wait = (S[i] - E[i-1]) / 1e9`` (NaN on a first row or a missing previous
      end; ``seg`` where the start is missing) and ``proc = (E[i] - S[i]) / 1e9``,

    with ``E``, ``S`` the exact int64 working ns (differences are exact, then converted to
    float64 and divided, as numpy's ``subtract(out=float64)``, ``/= 1e9``). (Mostly memory
    bound: written in blocks with vectorised float loops it was no faster.)"""
    prev = NAT
    if lo > 0:
        v = e[lo - 1]
        if v != NAT:
            prev, _i, _k = _axis(v, e_off, d0, base, wmask, slot_a, slot_len)
    for i in range(lo, hi):
        v = e[i]
        if v == NAT:
            ew = NAT
            if write_end:
                w_end[i] = np.nan
        else:
            ew, intra, k = _axis(v, e_off, d0, base, wmask, slot_a, slot_len)
            if write_end:
                w_end[i] = _seconds(intra, k, cum_f, L_ns, L_s)
        first = is_first[i]
        if first or ew == NAT or prev == NAT:
            sg = np.nan
        else:
            sg = (ew - prev) / 1e9
        if do_end:
            seg[i] = sg
        if do_start:
            v = s[i]
            if v == NAT:
                if write_start:
                    w_start[i] = np.nan
                wait[i] = sg
                proc[i] = np.nan
            else:
                sw, intra, k = _axis(v, s_off, d0, base, wmask, slot_a, slot_len)
                if write_start:
                    w_start[i] = _seconds(intra, k, cum_f, L_ns, L_s)
                if first or prev == NAT:
                    wait[i] = np.nan
                else:
                    wait[i] = (sw - prev) / 1e9
                if ew == NAT:
                    proc[i] = np.nan
                else:
                    proc[i] = (ew - sw) / 1e9
        prev = ew


def warm_types() -> None:
    """Compile (or load) the kernels with the library's argument types on tiny inputs."""
    x = np.array([NAT, 0, 86_400 * 10**9 * 10_958 + 8 * 3600 * 10**9], dtype=np.int64)
    ro = x.view()
    ro.flags.writeable = False                 # (the wrappers pass read-only views)
    minmax_valid(ro, 0, ro.size)
    from ..calendar import VietnamCalendar
    cal = VietnamCalendar(holidays=None)
    cal.to_working_ns_and_seconds(x.view("datetime64[ns]"))
    cal.to_working_ns(x.view("datetime64[ns]"))
