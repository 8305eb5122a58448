"""Kernels of the per-dossier deadline arrays (:func:`tthc_mining.timing.overdue_arrays`, the
clock behind ``tm.bottlenecks``' ``share_in_overdue``): single passes over the events, which
come in dossier blocks (``case_start``), with the same operations, element by element, as the
numpy code they replace (so the same values, bit for bit).

Argument types (fixed): row numbers and block bounds ``int64``, instants ``int64`` UTC
nanoseconds (NaT = int64 min), role codes ``int8`` (-1 unknown), owners ``int8``, working-axis
values ``float64``; ``counted_clock`` reads the outcomes as ``int8`` (``case_close`` returns them
as ``int64``).
"""
from __future__ import annotations

import numpy as np

from . import kernel
from . import readonly as _ro

__all__ = ["case_close", "first_valid", "counted_clock", "take_rows", "any_midnight",
           "min_max_valid", "to_working", "warm_types"]

_NAT = np.iinfo(np.int64).min
_NS_PER_DAY = 86_400 * 1_000_000_000
_NS_PER_S = 1_000_000_000


@kernel
def case_close(case_start, ts, role, as_of, all_known, roles, fr_ns, has_fr, life_mask):
    """The closing rules of ``tm.timing`` per dossier, from one pass over the events.

    ``roles`` = the codes of receipt, finished, result, withdrawn, refused; ``fr_ns`` per
    dossier the exported finish (``case:finished``, used when ``has_fr``); ``life_mask`` the
    bits ``role + 1`` of the closing and clock roles. An event is *known* when its timestamp is
    not NaT and ``<= as_of`` (``all_known``: every event is, the timestamps are then not read
    in the pass over the events).

    Per dossier: finished = the first known finished event, else the exported finish (unless
    after ``as_of``), else the first known result event; for a log without the exported finish
    and without any event of the ``life_mask`` roles, the last event when it is known. Closed =
    the earliest of finished / withdrawn / refused (a later candidate wins only when strictly
    earlier), with its row when it is an event's (-1 otherwise) and the outcome 0 finished, 1
    withdrawn, 2 refused, -1 open.

    Returns ``(rec_row, closed_ns, closed_row, outcome, last_known, roleless)``: the first
    receipt event (any time; -1 when none), the closing, the last known event (-1 when none)
    and whether the log is a generic one (no exported finish, no ``life_mask`` role)."""
    n_cases = case_start.size - 1
    big = np.iinfo(np.int64).max
    r_rec, r_fin, r_res, r_wd, r_rf = roles[0], roles[1], roles[2], roles[3], roles[4]
    rec_row = np.empty(n_cases, dtype=np.int64)
    last_known = np.empty(n_cases, dtype=np.int64)
    closed_ns = np.empty(n_cases, dtype=np.int64)
    closed_row = np.empty(n_cases, dtype=np.int64)
    outcome = np.empty(n_cases, dtype=np.int64)
    present = 0
    for c in range(n_cases):
        r0 = case_start[c]
        f_rec = -1
        f_fin = -1
        f_res = -1
        f_wd = -1
        f_rf = -1
        lk = -1
        for r in range(r0, case_start[c + 1]):
            ro = role[r]
            present |= 1 << (ro + 1)
            if ro == r_rec and f_rec < 0:
                f_rec = r
            if all_known or (ts[r] != _NAT and ts[r] <= as_of):
                lk = r
                if ro == r_fin:
                    if f_fin < 0:
                        f_fin = r
                elif ro == r_res:
                    if f_res < 0:
                        f_res = r
                elif ro == r_wd:
                    if f_wd < 0:
                        f_wd = r
                elif ro == r_rf:
                    if f_rf < 0:
                        f_rf = r
        rec_row[c] = f_rec
        last_known[c] = lk
        # finished: the finished event, else the exported finish, else the result event
        f_row = f_fin
        f_ns = ts[f_row] if f_row >= 0 else _NAT
        if has_fr and f_ns == _NAT:
            x = fr_ns[c]
            f_ns = x if x <= as_of else _NAT
        if f_ns == _NAT and f_res >= 0:
            f_row = f_res
            f_ns = ts[f_row]
        cl = f_ns if f_ns != _NAT else big
        row = f_row if f_ns == (ts[f_row] if f_row >= 0 else _NAT) else -1
        out = 0
        for k in range(1, 3):
            idx = f_wd if k == 1 else f_rf
            if idx >= 0:
                x = ts[idx]
                if x == _NAT:
                    x = big
                if x < cl:
                    out = k
                    cl = x
                    row = idx
        if cl == big:
            out = -1
            cl = _NAT
        closed_ns[c] = cl
        closed_row[c] = row if out >= 0 else -1
        outcome[c] = out
    roleless = not has_fr and (present & life_mask) == 0
    if roleless:
        # no finished / result / withdrawn / refused event anywhere: finished at the last
        # event when it is known
        for c in range(n_cases):
            lr = case_start[c + 1] - 1
            if last_known[c] == lr and lr >= 0 and ts[lr] != _NAT:
                closed_ns[c] = ts[lr]
                closed_row[c] = lr
                outcome[c] = 0
            else:
                closed_ns[c] = _NAT
                closed_row[c] = -1
                outcome[c] = -1
    return rec_row, closed_ns, closed_row, outcome, last_known, roleless


@kernel
def first_valid(case_start, a):
    """Per dossier the first value of ``a`` over its rows that is not NaT (NaT when none)."""
    n_cases = case_start.size - 1
    out = np.empty(n_cases, dtype=np.int64)
    for c in range(n_cases):
        v = _NAT
        for r in range(case_start[c], case_start[c + 1]):
            if a[r] != _NAT:
                v = a[r]
                break
        out[c] = v
    return out


@kernel
def counted_clock(w_end, case_start, owner, owners, win_start, win_end, counted, with_clock,
                  role, ts, as_of, all_known, state_lut, paused, L, eps_l, budget_days,
                  has_deadline, outcome, is_received, agency, third):
    """Per dossier, one pass over its events: for each owner in ``owners`` (one to three) the
    sum over the dossier's events of that owner, in row order from 0.0, of the counted time
    ``fmax(min(w_end, win_end) - max(w_prev_end, win_start), 0)`` (``win_start`` for the
    dossier's first event; ``maximum`` / ``minimum`` propagate NaN, ``fmax`` turns it into 0),
    as ``np.bincount(case, weights=np.where(owner == o, counted, 0.0))`` gives it (adding the
    0.0 of the other rows changes no sum): ``sums`` ``(len(owners), n_cases)``; when
    ``counted`` has one entry per event, every event's counted time is written into it.

    With ``with_clock`` (``owners`` = agency, then third party when not ``paused``), the agency
    clock of ``overdue_arrays`` instead of ``sums`` (then ``(len(owners), 0)``): the last known
    event of the dossier (the last one whose timestamp ``ts`` is not NaT and ``<= as_of``, as
    ``case_close`` finds it; with ``all_known`` its last event, ``ts`` not read), the open tail
    after it (``win_end -
    maximum(w_end[lk], win_start)``, negative -> 0, NaN kept; 0 when a later event exists or
    none is known) charged to who holds the dossier after that event (``state_lut[role + 1]``
    when >= 0, else the event's owner; the agency when no event is known), then
    ``agency_days``, ``days_late_actual`` and ``overdue_actual`` with the same operations as
    the numpy expressions they replace (``charged / L <= budget + eps_l`` on time; days late
    clipped below at 0, NaN kept, only for finished or open dossiers with a deadline; overdue:
    finished over the budget, or open, held by the agency and over it). Without it those three
    are empty. Returns ``(sums, agency_days, days_late_actual, overdue_actual)``."""
    n_cases = case_start.size - 1
    n_o = owners.size
    o0 = owners[0]
    o1 = owners[1] if n_o > 1 else owners[0]
    o2 = owners[2] if n_o > 2 else owners[0]
    rows = counted.size > 0
    sums = np.zeros((n_o, 0 if with_clock else n_cases), dtype=np.float64)
    n_c = n_cases if with_clock else 0
    agency_days = np.empty(n_c, dtype=np.float64)
    late = np.empty(n_c, dtype=np.float64)
    overdue = np.empty(n_c, dtype=np.bool_)
    for c in range(n_cases):
        ws = win_start[c]
        we = win_end[c]
        r0 = case_start[c]
        r1 = case_start[c + 1]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        prev = ws
        lk = -1
        for r in range(r0, r1):
            e = w_end[r]
            o = owner[r]
            if with_clock and (all_known or (ts[r] != _NAT and ts[r] <= as_of)):
                lk = r
            if rows or o == o0 or o == o1 or o == o2:
                if r == r0:
                    lo = ws
                else:
                    lo = prev if (prev >= ws or np.isnan(prev)) else ws       # np.maximum
                hi = e if (e <= we or np.isnan(e)) else we                    # np.minimum
                d = hi - lo
                if not d >= 0.0:                                              # np.fmax(d, 0)
                    d = 0.0
                if rows:
                    counted[r] = d
                if o == o0:
                    a0 += d
                elif o == o1:
                    a1 += d
                elif o == o2:
                    a2 += d
            prev = e
        if not with_clock:
            sums[0, c] = a0
            if n_o > 1:
                sums[1, c] = a1
            if n_o > 2:
                sums[2, c] = a2
            continue
        if lk >= 0:
            st = state_lut[role[lk] + 1]
            if st < 0:
                st = owner[lk]
            e = w_end[lk]
            m = e if (e >= ws or np.isnan(e)) else ws                       # np.maximum
            t = we - m
            if not (t >= 0.0 or np.isnan(t)):                                # np.maximum(t, 0)
                t = 0.0
            if lk < r1 - 1:                         # a later event covers it
                t = 0.0
        else:
            st = agency
            t = 0.0
        a_s = a0 + (t if st == agency else 0.0)
        if paused:
            charged = a_s + 0.0
        else:
            charged = a_s + (a1 + (t if st == third else 0.0))
        out = outcome[c]
        fin = out == 0
        open_ = out < 0 and is_received[c]
        cd = charged / L
        b = budget_days[c]
        ok = cd <= b + eps_l
        hd = has_deadline[c]
        x = np.nan
        if hd and (fin or open_):
            x = cd - b
            if not (x >= 0.0 or np.isnan(x)):                                # np.clip(x, 0, None)
                x = 0.0
        late[c] = x
        agency_days[c] = a_s / L
        overdue[c] = (fin and hd and not ok) or (open_ and st == agency and hd and not ok)
    return sums, agency_days, late, overdue


@kernel
def take_rows(values, rows):
    """``np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)`` (float64) without the
    temporaries."""
    n = rows.size
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        r = rows[i]
        out[i] = values[r] if r >= 0 else np.nan
    return out


@kernel
def any_midnight(a, off):
    """Whether some value of ``a`` that is not NaT falls on a local midnight (``(a + off) %
    day == 0``, ``off`` the zone's constant UTC offset in ns)."""
    for i in range(a.size):
        x = a[i]
        if x != _NAT and (x + off) % _NS_PER_DAY == 0:
            return True
    return False


@kernel
def min_max_valid(a):
    """``(min, max, n_nat)`` of the values of ``a`` that are not NaT (``(0, 0, n)`` when all
    are)."""
    lo = np.iinfo(np.int64).max
    hi = _NAT
    n_nat = 0
    for i in range(a.size):
        x = a[i]
        if x == _NAT:
            n_nat += 1
            continue
        if x < lo:
            lo = x
        if x > hi:
            hi = x
    if n_nat == a.size:
        return 0, 0, n_nat
    return lo, hi, n_nat


@kernel
def to_working(ns, off, d0, cum_l, working, slot_a, slot_len):
    """``WorkingCalendar.to_working`` of the local wall-clock ns ``ns + off`` (NaT -> NaN;
    ``off`` the zone's constant UTC offset, or 0 for local input) with the day table
    (``d0`` its first day, ``cum_l`` = ``cum * L`` per day, ``working`` per day) and the office
    slots (starts and lengths in seconds of the day): per element the day and the seconds of
    the day, the sum of ``clip(sec - a, 0, len)`` over the slots (from the first slot's term),
    and ``cum_l[day] + intra * working[day]``."""
    n = ns.size
    out = np.empty(n, dtype=np.float64)
    n_slots = slot_a.size
    for i in range(n):
        x = ns[i]
        if x == _NAT:
            out[i] = np.nan
            continue
        x += off
        day = x // _NS_PER_DAY
        rem = x - day * _NS_PER_DAY
        sec = rem / _NS_PER_S
        intra = 0.0
        for s in range(n_slots):
            t = sec - slot_a[s]
            if not t >= 0.0:
                t = 0.0
            ln = slot_len[s]
            if not t <= ln:
                t = ln
            intra = t if s == 0 else intra + t
        d = day - d0
        out[i] = cum_l[d] + (intra if working[d] else 0.0)
    return out


def warm_types() -> None:
    """Compile (or load) every kernel with the library's argument types (read-only arrays, as
    ``tthc_mining.timing`` passes them)."""
    cs = _ro(np.array([0, 2, 3], dtype=np.int64))
    ts = _ro(np.array([0, 10, _NAT], dtype=np.int64))
    role = _ro(np.array([0, -1, 1], dtype=np.int8))
    roles = np.array([0, 1, 2, 3, 4], dtype=np.int64)
    for has_fr in (False, True):
        for known in (False, True):
            case_close(cs, ts, role, 5, known, roles, _ro(np.array([1, _NAT], dtype=np.int64)),
                       has_fr, 6)
    first_valid(cs, ts)
    min_max_valid(ts)
    w = _ro(np.array([1.0, 2.0, np.nan]))
    z = _ro(np.zeros(2))
    i8 = _ro(np.array([0, 2, 1], dtype=np.int8))
    for owners in (i8[:1], i8[:2], i8):
        for with_clock in (False, True):
            counted_clock(w, cs, role, owners, z, _ro(np.ones(2)), np.empty(3 * with_clock),
                          with_clock, role, ts, 5, with_clock, _ro(np.array([-1, 0, 1], np.int8)),
                          owners.size == 1, 1.0, 1e-3, z, _ro(np.ones(2, np.bool_)),
                          _ro(np.array([0, -1], np.int8)), _ro(np.ones(2, np.bool_)), 0, 2)
    take_rows(w, _ro(np.array([2, -1, 0], np.int64)))
    any_midnight(ts, 0)
    to_working(ts, 0, 0, _ro(np.zeros(2)), _ro(np.ones(2, dtype=np.bool_)), _ro(np.array([0.0])),
               _ro(np.array([3600.0])))
