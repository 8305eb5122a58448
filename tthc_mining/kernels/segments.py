"""Kernels of :mod:`tthc_mining.segments`: segment owners and hand-overs, one pass each.

(The segment durations are read off the working-time axis in the same pass that computes it:
``tthc_mining.kernels.calendar.segment_times``.)

Argument types (the wrappers in :mod:`tthc_mining.segments` cast to them): role codes ``int8``
(a categorical column's own codes, -1 for missing) with ``int8`` / ``bool`` lookup tables indexed
by code (the last entry for -1), ``is_first`` ``bool``, instants ``int64`` ns (NaT = int64 min),
outputs ``int8`` / ``bool``. Unit codes for the hand-overs are a categorical column's own codes,
``int8``, ``int16``, ``int32`` or ``int64`` (:func:`warm_types` compiles each).
"""
from __future__ import annotations

import numpy as np

from . import kernel
from . import readonly as _ro

NAT = np.iinfo(np.int64).min
AGENCY, CITIZEN = 0, 1


@kernel
def case_blocks(case, is_first):
    """Dossier blocks of the row-ordered case codes ``case`` (int32): ``is_first[i]`` (output)
    where the code changes (and at row 0); returns ``(case_start, contiguous)``: the first row
    of each block and ``n`` at the end (int64, length ``n_blocks + 1``), and whether the block
    codes are ``0, 1, 2, ...`` in row order."""
    n = case.size
    n_blocks = 0
    contiguous = True
    prev = np.int64(0)
    for i in range(n):
        c = case[i]
        f = i == 0 or c != prev
        is_first[i] = f
        if f:
            if c != n_blocks:
                contiguous = False
            n_blocks += 1
        prev = c
    case_start = np.empty(n_blocks + 1, dtype=np.int64)
    j = 0
    for i in range(n):
        if is_first[i]:
            case_start[j] = i
            j += 1
    case_start[n_blocks] = n
    return case_start, contiguous


@kernel
def owners(codes, state_lut, fin_lut, is_first, ts, rep, has_rep, owner):
    """Owner of the segment ending at each row (``owner``, int8), dossier by dossier (a
    dossier: a row with ``is_first`` and the rows up to the next one; row 0 starts one):

    - the clock state after the previous row: ``state_lut[code]`` >= 0 sets it (a supplement
      request -> citizen, a suspension -> third party, a receipt or resumption -> agency), other
      rows carry it; a dossier starts with the agency, its first row's owner is the agency;
    - then the citizen where the segment starts at or after the dossier's finish: the end time
      ``ts`` of its first row with ``fin_lut[code]``, else (NaT there, or none) its reported
      finish ``rep`` at its first row (with ``has_rep``); a segment starts at the previous row's
      ``ts``.

    Returns the number of dossiers with a finish."""
    n = codes.size
    last = state_lut.size - 1
    n_fin = 0
    a = 0
    while a < n:
        b = a + 1
        while b < n and not is_first[b]:
            b += 1
        fin = NAT
        for j in range(a, b):
            c = codes[j]
            if fin_lut[c if c >= 0 else last]:
                fin = ts[j]
                break
        if fin == NAT and has_rep:
            fin = rep[a]
        if fin != NAT:
            n_fin += 1
        state = AGENCY
        for j in range(a, b):
            if j == a:
                owner[j] = AGENCY
            elif fin != NAT and ts[j - 1] >= fin:
                owner[j] = CITIZEN
            else:
                owner[j] = state
            c = codes[j]
            s = state_lut[c if c >= 0 else last]
            if s >= 0:
                state = s
        a = b
    return n_fin


@kernel
def handover(g, is_first, out):
    """``out[i]``: row ``i`` is not a dossier's first and its unit code ``g[i]`` differs from
    the previous row's, both known (>= 0)."""
    n = g.size
    if n:
        out[0] = False
    for i in range(1, n):
        a = g[i]
        b = g[i - 1]
        out[i] = (not is_first[i]) and a != b and a >= 0 and b >= 0


def warm_types() -> None:
    """Compile (or load) the kernels with every argument type the wrappers pass."""
    is_first = _ro(np.array([True, False, True], dtype=bool))
    codes = _ro(np.array([0, -1, 1], dtype=np.int8))
    lut8 = _ro(np.array([-1, 1, -1], dtype=np.int8))
    fin = _ro(np.array([True, False, False], dtype=bool))
    ts = _ro(np.array([0, 1, NAT], dtype=np.int64))
    owners(codes, lut8, fin, is_first, ts, ts, True, np.empty(3, dtype=np.int8))
    case_blocks(_ro(np.array([0, 0, 1], dtype=np.int32)), np.empty(3, dtype=bool))
    out = np.empty(3, dtype=bool)
    for dt in (np.int8, np.int16, np.int32, np.int64):
        handover(_ro(np.array([0, 1, -1], dtype=dt)), is_first, out)
