"""Fast directly-follows model (process map) and variants, on integer codes.

``tm.discover(log)`` builds a :class:`ProcessMap`: the directly-follows graph with frequencies
and working-time statistics of every transition, per-activity waiting and processing statistics,
start/end activities, and (lazily) the variants. ``tm.variants(log)`` lists the distinct step
sequences of the dossiers.

Everything is computed from :func:`tthc_mining.segments.segments` (per-event working-time
segments, cached on the log) with ``np.bincount`` / sorting on integer codes: no pm4py, no
per-row or per-dossier Python.

Definitions (stated once)
-------------------------
* **Transition / edge** ``A -> B``: two consecutive events of one dossier in the log's order
  (``log.events`` is sorted stably by dossier and end time, ties keep file order, as pm4py
  does). ``count`` = number of such pairs, ``cases`` = number of dossiers with at least one,
  ``share`` = ``count`` / number of all transitions in the map (events that follow another event
  of the same dossier).
* **Transition time** (``mean_h``, ``median_h``, ``p90_h``, ``sum_h``, working hours):

  - without start times: end(A) -> end(B) on the working-time axis (``segments.seg_s``). With the
    24x7 calendar (``tthc_mining.calendar.continuous()``) this is elapsed time and the mean
    equals ``pm4py.discover_performance_dfg``'s ``mean``.
  - with start times: end(A) -> start(B), clipped at 0 when B started before A ended
    (``max(start(B), end(A)) - end(A)``: the rule pm4py's ``get_dfg_graph`` applies when a start
    timestamp key is given). Events without a start time fall back to end(A) -> end(B). The
    order of the events stays the log's order (by end time), which is also the order the
    segments, bottlenecks and rework use. (pm4py sorts by start time instead and, when the start
    column is only picked up by its default name, does not clip; we chose the clipped waiting
    time because a negative waiting time has no meaning on a map.)

  ``n_timed`` = number of transitions with a duration (both times present).
* **Activity statistics**: ``count`` events, ``cases`` dossiers; ``wait_*`` = working time from
  the previous event's end to this event's start (or end without start times) =
  ``segments.wait_s``, over the events that have a previous event (``n_wait`` of them);
  ``proc_*`` = start -> end (``n_proc`` events with a start time; NaN without starts). Quantiles
  use linear interpolation (as ``numpy.quantile`` / pandas' default) and are exact to a relative
  1.5e-11 (see :func:`group_stats`); counts, sums and means are exact. Durations come from
  ``segments`` (exact to the nanosecond, ``calendar.to_working_ns``).
* **Variants**: the sequence of step names of a dossier in the log's order. ``sequence`` is the
  tuple of names (exactly pm4py's variant key), ``label`` the same joined with ``" → "``.
  ``median_agency_days`` = median over the variant's dossiers of the agency working time
  (sum of the dossier's segments owned by the agency, i.e. not held by the citizen after a
  supplement request nor by a third party during a suspension) in working days
  (seconds / ``calendar.seconds_per_day``). ``count`` is the sample size behind the median.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import schema as S
from .errors import ConfigError
from .memory import releases_memory
from .parallel import PARALLEL_MIN_EVENTS, Tasks
from .segments import OWNER_AGENCY, Segments, segments

__all__ = ["discover", "variants", "ProcessMap", "group_stats", "sorted_group_quantiles",
           "variant_index"]

HOUR = 3600.0
#: group_stats packs the group code into the top bits of a 64-bit sort key up to this many bits
_KEY_BITS_MAX = 24
_MISSING_ACTIVITY = "(không rõ / unknown)"

# two Mersenne-like primes below 2**31 and fixed bases for the variant hash
_M1, _M2 = 2_147_483_647, 2_147_483_629
_BASES = ((911_382_323, 972_663_749), (1_000_000_007 % _M1, 998_244_353),
          (1_234_567_891 % _M1, 1_987_654_321 % _M2), (305_175_781, 244_140_625))


# ====================================================================== small vectorised helpers
def _sortable(values: np.ndarray) -> np.ndarray:
    """Float64 -> uint64 keys with the same order (IEEE-754 bits, sign handled); a new array."""
    if values.size and values.min() >= 0:  # durations: the bits of x >= 0 already sort
        out = values + 0.0                  # (-0.0 + 0.0 = +0.0)
        out = out.view(np.uint64)
        out |= np.uint64(1 << 63)
        return out
    bits = values.view(np.int64)
    return (bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))).view(np.uint64) \
        ^ np.uint64(1 << 63)


def _unsortable(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_sortable`."""
    bits = (keys ^ np.uint64(1 << 63)).view(np.int64)
    return (bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))).view(np.float64)


def group_stats(group: np.ndarray, values: np.ndarray, n_groups: int,
                quantiles: tuple[float, ...] = (0.5, 0.9)) -> dict[str, np.ndarray]:
    """Per-group ``n``, ``sum``, ``mean`` and linear-interpolated quantiles (NaN values ignored).

    ``group`` holds integer codes in ``[0, n_groups)``, or ``-1`` for rows to leave out. Counts,
    sums and means are exact (``np.bincount``). Quantiles come from **one sort** of 64-bit keys
    ``group | value`` (the group in the top ``b = ceil(log2(n_groups))`` bits, the value's
    order-preserving IEEE bits below, without their lowest ``b`` mantissa bits), so a group's
    values are contiguous and ordered; a quantile is then read at its position and interpolated
    linearly (numpy's / pandas' default). Dropping ``b`` mantissa bits makes the quantiles exact
    to a relative ``2**-(52 - b)`` (1.5e-11 with 65,536 groups). No Python loop over groups.
    Groups with no value get ``n = 0``, ``sum = 0`` and NaN mean/quantiles. Quantile keys are
    ``"q50"``, ``"q90"``, ... (``round(100 * q)``).
    """
    group = np.asarray(group, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    use = group >= 0
    use &= ~np.isnan(values)
    if use.all():
        g_use, v_use = group, values
    else:
        g_use, v_use = group[use], values[use]
    del use
    if n_groups:
        n = np.bincount(g_use, minlength=n_groups)[:n_groups].astype(np.int64)
        s = np.bincount(g_use, weights=v_use, minlength=n_groups)[:n_groups]
    else:
        n, s = np.zeros(0, np.int64), np.zeros(0)
    mean = np.full(n_groups, np.nan)
    has = n > 0
    mean[has] = s[has] / n[has]
    out: dict[str, np.ndarray] = {"n": n, "sum": s, "mean": mean}
    if not quantiles:
        return out
    bits = max(int(n_groups - 1).bit_length(), 1)
    if bits <= _KEY_BITS_MAX and np.any(n > 0):
        # the keys of _pack_keys, with each input dropped as soon as it is used
        keys = _sortable(v_use)
        del v_use
        keys >>= np.uint64(bits)
        _or_shifted(keys, g_use, 64 - bits)
        del g_use
        qv = _packed_quantiles(keys, n, quantiles, bits)
        del keys
    else:
        qv = sorted_group_quantiles(g_use, v_use, n, quantiles)
    for j, q in enumerate(quantiles):
        out[f"q{int(round(q * 100))}"] = qv[:, j]
    return out


def sorted_group_quantiles(group: np.ndarray, values: np.ndarray, counts: np.ndarray,
                           quantiles: tuple[float, ...]) -> np.ndarray:
    """Linear-interpolated quantiles of finite ``values`` within integer ``group`` codes in
    ``[0, len(counts))`` (``counts`` = the number of values of each group), by one sort of
    packed 64-bit keys (see :func:`group_stats` for the precision). Returns an array
    ``(len(counts), len(quantiles))``, NaN for empty groups."""
    n_groups = len(counts)
    if not np.any(counts > 0):
        return np.full((n_groups, len(quantiles)), np.nan)
    bits = max(int(n_groups - 1).bit_length(), 1)
    if bits <= _KEY_BITS_MAX:
        return _packed_quantiles(_pack_keys(group, values, bits), counts, quantiles, bits)
    # very many groups: exact two-pass sort
    order = np.argsort(values)
    order = order[np.argsort(group[order], kind="stable")]
    sorted_v = values[order]
    return _read_quantiles(lambda pos: sorted_v[pos], counts, quantiles)


def _pack_keys(group: np.ndarray, values: np.ndarray, bits: int) -> np.ndarray:
    """The unsorted 64-bit keys ``group | value`` of :func:`sorted_group_quantiles`."""
    keys = _sortable(values)
    keys >>= np.uint64(bits)
    _or_shifted(keys, group, 64 - bits)
    return keys


def _or_shifted(keys: np.ndarray, group: np.ndarray, shift: int, block: int = 1 << 20) -> None:
    """``keys |= group << shift`` for non-negative integer codes, in blocks (no full-length
    temporary)."""
    s = np.uint64(shift)
    for b0 in range(0, keys.size, block):
        keys[b0:b0 + block] |= group[b0:b0 + block].astype(np.uint64) << s


def _packed_quantiles(keys: np.ndarray, counts: np.ndarray, quantiles: tuple[float, ...],
                      bits: int) -> np.ndarray:
    """Quantiles from the keys of :func:`_pack_keys` (sorted here, in place)."""
    keys.sort()
    shift = np.uint64(bits)
    mask = np.uint64((1 << (64 - bits)) - 1)
    return _read_quantiles(lambda pos: _unsortable((keys[pos] & mask) << shift), counts, quantiles)


def _read_quantiles(at, counts: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    n_groups = len(counts)
    n = counts
    res = np.full((n_groups, len(quantiles)), np.nan)
    idx = np.flatnonzero(n > 0)
    starts = np.zeros(n_groups, dtype=np.int64)
    if n_groups > 1:
        starts[1:] = np.cumsum(n)[:-1]
    for j, q in enumerate(quantiles):
        pos = q * (n[idx] - 1).astype(np.float64)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n[idx] - 1)
        frac = pos - lo
        a, b = at(starts[idx] + lo), at(starts[idx] + hi)
        res[idx, j] = a + (b - a) * frac
    return res


def _compact(keys: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids for integer keys in ``[0, space)``: ``(ids, distinct keys in id order)``.

    Ids follow the sorted order of the keys (so edges come out sorted by source, target).
    """
    if space <= 1 << 24:
        present = np.bincount(keys, minlength=space) > 0
        lut = np.cumsum(present) - 1
        return lut[keys].astype(np.int64), np.flatnonzero(present)
    uniq, inv = np.unique(keys, return_inverse=True)
    return inv.astype(np.int64), uniq


def _distinct_pairs_count(seg: Segments, key: np.ndarray, n_keys: int) -> np.ndarray:
    """For each key, the number of distinct dossiers in which it occurs (``key`` -1 = skip).

    Up to 64 keys: a per-dossier bit set (``np.bitwise_or.reduceat`` over the dossiers'
    contiguous blocks), then a bit count. More keys: one sort of ``case * n_keys + key``.
    """
    use = key >= 0
    if n_keys == 0 or not use.any():
        return np.zeros(n_keys, dtype=np.int64)
    if n_keys <= 64:
        one = np.left_shift(np.uint64(1), np.maximum(key, 0).astype(np.uint64))
        if not use.all():
            one[~use] = 0
        per_case = np.bitwise_or.reduceat(one, seg.case_start[:-1])
        del one
        out = np.empty(n_keys, dtype=np.int64)
        bit = np.empty_like(per_case)
        for k in range(n_keys):                # one pass over the dossiers per key (<= 64)
            np.bitwise_and(per_case, np.uint64(1 << k), out=bit)
            out[k] = np.count_nonzero(bit)
        return out
    everything = bool(use.all())
    pair = (seg.case.astype(np.int64, copy=True) if everything
            else seg.case[use].astype(np.int64, copy=False))
    pair *= np.int64(n_keys)
    pair += key if everything else key[use]
    pair.sort()
    first = np.ones(pair.size, dtype=bool)
    np.not_equal(pair[1:], pair[:-1], out=first[1:])
    pair = pair[first]
    pair %= n_keys
    return np.bincount(pair, minlength=n_keys).astype(np.int64)


def _powmod(base: int, exps: np.ndarray, mod: int) -> np.ndarray:
    """``base ** exps % mod`` elementwise (mod < 2**31): a table of the powers up to
    ``max(exps)`` built by doubling (log2 vector steps), then one gather."""
    exps = np.asarray(exps, dtype=np.int64)
    if exps.size == 0:
        return np.ones(0, dtype=np.int64)
    top = int(exps.max()) + 1
    table = np.ones(top, dtype=np.int64)
    if top > 1:
        table[1] = base % mod
    k = 2
    while k < top:  # table[k:2k] = table[0:k] * base**k
        m = min(k, top - k)
        bk = int(table[k - 1]) * (base % mod) % mod
        table[k:k + m] = (table[:m] * bk) % mod
        k *= 2
    return table[exps]


def _activity_codes(seg: Segments, with_prev: bool = True
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Activity codes with missing names mapped to an extra code; ``(act, prev, names)``
    (``prev`` is None with ``with_prev=False``: ``seg.prev_activity`` is then not built)."""
    names = np.asarray(seg.activities.astype(object), dtype=object)
    act = seg.activity
    prev = seg.prev_activity if with_prev else None
    if act.size and act.min() < 0:  # a missing activity name gets its own node, never dropped
        extra = len(names)
        names = np.append(names, _MISSING_ACTIVITY)
        act = np.where(act < 0, extra, act)
        if with_prev:
            prev = np.where(seg.is_first, -1, np.where(prev < 0, extra, prev))
    return act, prev, names


def _edge_ids(act: np.ndarray, tr: np.ndarray, A: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge id of every event that ends a transition (``tr``; -1 elsewhere), with the edges'
    keys ``source * A + target`` in sorted order and their counts: the codes
    ``act[i - 1] * A + act[i]`` counted in one ``np.bincount`` (an extra bin for the rest), so
    neither ``prev_activity`` nor a compressed copy of the transitions is built."""
    n = act.size
    none = A * A
    code = np.empty(n, dtype=np.int64)
    if n:
        code[0] = none
        np.multiply(act[:-1], A, out=code[1:])
        code[1:] += act[1:]
        code[~tr] = none
    cnt = np.bincount(code, minlength=none + 1)
    ekeys = np.flatnonzero(cnt[:none])
    lut = np.full(none + 1, -1, dtype=np.int64)
    lut[ekeys] = np.arange(ekeys.size, dtype=np.int64)
    eid = lut[code]
    return eid, ekeys, cnt[ekeys].astype(np.int64)


# ====================================================================== variants
def variant_index(log) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variant of every dossier (cached on the log).

    Returns ``(variant_of_case, representative_case, counts)``: variants are ranked by count
    (descending; ties by first appearance), ``variant_of_case[c]`` is the rank of dossier ``c``
    (case codes of :func:`segments`), ``representative_case[v]`` the first dossier of variant
    ``v`` and ``counts[v]`` its number of dossiers.

    Each dossier's code sequence is hashed with two polynomial hashes (moduli 2**31-1 and
    2**31-19) plus its length, summed per dossier with ``np.add.reduceat``; the grouping is then
    *verified exactly* (every event must equal the event at the same position of its variant's
    representative), and re-hashed with other bases in the astronomically unlikely case of a
    collision, so the result is exact.
    """
    cached = log._cache.get("variant_index")
    if cached is not None:
        return cached
    seg = segments(log, lazy_start=True)  # (no start times read)
    act, _, _ = _activity_codes(seg, with_prev=False)
    n_cases = seg.n_cases
    if n_cases == 0:
        out = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        log._cache["variant_index"] = out
        return out
    starts = seg.case_start[:-1]
    length = np.diff(seg.case_start)
    code = act.astype(np.int64) + 1
    for b1, b2 in _BASES:
        h1 = np.add.reduceat((code * _powmod(b1, seg.pos, _M1)) % _M1, starts) % _M1
        h2 = np.add.reduceat((code * _powmod(b2, seg.pos, _M2)) % _M2, starts) % _M2
        h1 = (h1 + (length % _M1) * 1_000_003) % _M1
        key = h1 * np.int64(_M2) + h2
        gid, uniq = pd.factorize(key, sort=False)
        gid = gid.astype(np.int64)
        n_var = len(uniq)
        rep = np.empty(n_var, dtype=np.int64)
        rep[gid[::-1]] = np.arange(n_cases - 1, -1, -1)  # first dossier of each group
        rep_of_case = rep[gid]
        same_len = np.array_equal(length[rep_of_case], length)
        if same_len:
            ref = act[seg.case_start[rep_of_case][seg.case] + seg.pos]
            if np.array_equal(ref, act):
                break
    else:  # every base collided (never seen; tested by forcing it): exact grouping of tuples
        seq = pd.Series(act).groupby(seg.case).agg(tuple)
        gid, _ = pd.factorize(seq.to_numpy(), sort=False)
        gid = gid.astype(np.int64)
        n_var = int(gid.max()) + 1
        rep = np.empty(n_var, dtype=np.int64)
        rep[gid[::-1]] = np.arange(n_cases - 1, -1, -1)
    counts = np.bincount(gid, minlength=n_var)
    order = np.argsort(-counts, kind="stable")  # by count, ties by first appearance
    rank = np.empty(n_var, dtype=np.int64)
    rank[order] = np.arange(n_var)
    out = (rank[gid], rep[order], counts[order].astype(np.int64))
    log._cache["variant_index"] = out
    return out


def variants(log, *, procedure: str | None = None, top: int | None = None,
             case_ids: bool = False) -> pd.DataFrame:
    """Distinct step sequences of the dossiers, most frequent first.

    Columns: ``variant`` (rank, 1 = most frequent), ``sequence`` (tuple of step names, pm4py's
    variant key), ``label`` (names joined with ``" → "``), ``length`` (steps), ``count``
    (dossiers), ``share`` (of all dossiers of the log after the procedure filter),
    ``cum_share``, ``median_agency_days`` (median agency working days of its dossiers),
    ``median_total_days`` (median working days from first to last event); with
    ``case_ids=True`` also ``case_ids`` (list of the dossier ids). ``top`` keeps the ``top``
    most frequent variants (shares stay relative to all dossiers). The frame's ``attrs`` hold
    ``n_cases`` and ``n_variants`` of the whole log.
    """
    from .engines.core import RelationalLog
    if isinstance(log, RelationalLog):
        from .engines.discover import variants as _relational_variants
        return _relational_variants(log, procedure=procedure, top=top, case_ids=case_ids)
    if procedure is not None:
        log = log.filter(procedure=procedure)
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer))
                            or top < 1):
        raise ConfigError(f"top must be a positive integer, got {top!r}")
    seg = segments(log, lazy_start=True)  # (no start times read)
    var_of_case, rep, counts = variant_index(log)
    n_cases = seg.n_cases
    n_var = len(counts)
    k = n_var if top is None else min(int(top), n_var)
    act, _, names = _activity_codes(seg)
    length = np.diff(seg.case_start)
    # names of the representatives' events, split per variant (one split, no per-dossier loop)
    rep_k = rep[:k]
    rep_len = length[rep_k]
    if k:
        offs = np.repeat(seg.case_start[rep_k] - np.concatenate([[0], np.cumsum(rep_len)[:-1]]),
                         rep_len)
        ev = np.arange(int(rep_len.sum()), dtype=np.int64) + offs
        parts = np.split(names[act[ev]], np.cumsum(rep_len)[:-1])
        seqs = [tuple(p.tolist()) for p in parts]
    else:
        seqs = []
    spd = log.calendar.seconds_per_day
    held = np.nan_to_num(seg.seg_s, nan=0.0)        # (case_sums' arithmetic, one copy)
    total = np.bincount(seg.case, weights=held, minlength=n_cases) / spd
    held[seg.owner != OWNER_AGENCY] = 0.0
    agency = np.bincount(seg.case, weights=held, minlength=n_cases) / spd
    del held
    med_a = group_stats(var_of_case, agency, n_var, (0.5,))["q50"][:k]
    med_t = group_stats(var_of_case, total, n_var, (0.5,))["q50"][:k]
    share = counts[:k] / n_cases if n_cases else np.zeros(k)
    out = pd.DataFrame({
        "variant": np.arange(1, k + 1, dtype=np.int64),
        "sequence": pd.Series(seqs, dtype=object),
        "label": pd.Series([" → ".join(map(str, s)) for s in seqs], dtype=object),
        "length": rep_len.astype(np.int64),
        "count": counts[:k],
        "share": share,
        "cum_share": np.cumsum(share),
        "median_agency_days": med_a,
        "median_total_days": med_t,
    })
    if case_ids:
        ids = seg.case_ids.to_numpy()
        order = np.argsort(var_of_case, kind="stable")
        chunks = np.split(ids[order], np.cumsum(counts)[:-1]) if n_var else []
        out["case_ids"] = pd.Series([c.tolist() for c in chunks[:k]], dtype=object)
    out.attrs.update({"n_cases": int(n_cases), "n_variants": int(n_var)})
    return out


# ====================================================================== the process map
@dataclass
class ProcessMap:
    """A directly-follows process map with working-time statistics.

    Attributes
    ----------
    dfg:
        One row per transition: ``source, target, count, cases, share, n_timed, mean_h,
        median_h, p90_h, sum_h`` (working hours), most frequent first.
    activities:
        One row per step: ``activity, count, cases, n_wait, wait_mean_h, wait_median_h,
        wait_p90_h, wait_sum_h, n_proc, proc_mean_h, proc_median_h, proc_p90_h, proc_sum_h``
        and ``unit`` (the step's most frequent unit) when the log has units.
    start_activities, end_activities:
        ``activity, count, share`` (share of the map's dossiers).
    hidden:
        What the filters removed: ``top_variants``, ``variants``, ``cases``, ``events``
        (dossiers outside the kept variants) and ``min_share``, ``edges``, ``transitions``,
        ``transition_share`` (edges below the minimum share; their counts are not in ``dfg``).
    calendar:
        The calendar's description (``WorkingCalendar.to_dict()``).
    """

    dfg: pd.DataFrame
    activities: pd.DataFrame
    start_activities: pd.DataFrame
    end_activities: pd.DataFrame
    hidden: dict = field(default_factory=dict)
    calendar: dict = field(default_factory=dict)
    n_cases: int = 0
    n_events: int = 0
    n_transitions: int = 0
    procedure: str | None = None
    source: str = "<data>"
    filters: dict = field(default_factory=dict)
    _log: Any = field(default=None, repr=False, compare=False)
    _variants: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ variants (lazy)
    @property
    def variants(self) -> pd.DataFrame:
        """Variants of the map's log (``tm.variants``); with ``top_variants`` only the kept
        ones (shares stay relative to all dossiers before that filter)."""
        if self._variants is None:
            if self._log is None:
                raise ConfigError("this ProcessMap was built without its log; call tm.variants(log)")
            self._variants = variants(self._log, top=self.filters.get("top_variants"))
        return self._variants

    # ------------------------------------------------------------------ rendering
    def to_dot(self, kind: str = "frequency", lang: str = "vi", **kw) -> str:
        """DOT source of the map (works without the graphviz program); see :meth:`render`."""
        from .render import to_dot
        return to_dot(self, kind=kind, lang=lang, **kw)

    def render(self, kind: str = "frequency", format: str = "svg", lang: str = "vi", *,
               path: Any = None, **kw) -> str | bytes:
        """Draw the map with graphviz.

        ``kind="frequency"`` labels edges with counts, ``"performance"`` with the mean working
        time of the transition; nodes are filled by mean waiting time (with a legend); edge
        width follows frequency. ``format="svg"`` (str), ``"png"`` (bytes) or ``"dot"`` (DOT
        source, no graphviz program needed). ``lang="vi"`` or ``"en"``. Options:
        ``clusters="unit"``, ``min_share`` (hide more edges), ``highlight_edges`` (a set of
        ``(source, target)`` names drawn in ``highlight_color``), ``highlight_label``,
        ``title``. ``path`` also writes the result to a file. Without the ``dot`` program SVG
        and PNG raise :class:`~tthc_mining.errors.MissingProgramError`.
        """
        from .render import render
        return render(self, kind=kind, format=format, lang=lang, path=path, **kw)

    def _repr_svg_(self) -> str | None:
        from .errors import MissingProgramError
        try:
            return self.render(format="svg")
        except MissingProgramError:
            return None

    def _repr_html_(self) -> str:
        svg = self._repr_svg_()
        if svg is not None:
            start = svg.find("<svg")
            return svg[start:] if start >= 0 else svg
        head = (f"<p><b>ProcessMap</b> {html.escape(str(self.source))}: {self.n_cases:,} dossiers, "
                f"{self.n_events:,} events, {len(self.activities):,} steps, "
                f"{len(self.dfg):,} transitions (graphviz 'dot' not found: table view)</p>")
        return head + self.dfg.head(30).to_html(escape=True, index=False)

    def __repr__(self) -> str:
        return (f"ProcessMap({self.source}: {self.n_cases:,} dossiers, {self.n_events:,} events, "
                f"{len(self.activities):,} steps, {len(self.dfg):,} edges"
                + (f", hidden {self.hidden}" if self.hidden else "") + ")")

    # ------------------------------------------------------------------ export
    def to_frame(self) -> pd.DataFrame:
        """The transitions (``dfg``) as a DataFrame (a copy)."""
        return self.dfg.copy()

    def to_dict(self) -> dict:
        def records(df: pd.DataFrame) -> list:
            return json.loads(df.to_json(orient="records", force_ascii=False))
        return {"source": self.source, "procedure": self.procedure, "n_cases": self.n_cases,
                "n_events": self.n_events, "n_transitions": self.n_transitions,
                "filters": self.filters, "hidden": self.hidden, "calendar": self.calendar,
                "dfg": records(self.dfg), "activities": records(self.activities),
                "start_activities": records(self.start_activities),
                "end_activities": records(self.end_activities)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=_json_default, **kw)

    # ------------------------------------------------------------------ pm4py-style views
    def dfg_dict(self) -> dict[tuple[str, str], int]:
        """``{(source, target): count}`` as ``pm4py.discover_dfg`` returns it."""
        return dict(zip(zip(self.dfg["source"], self.dfg["target"]), self.dfg["count"].tolist()))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    return str(o)


def check_options(min_share: Any, top_variants: Any) -> float:
    """Validate ``discover``'s ``min_share`` / ``top_variants`` (both engines); the share as float."""
    try:
        min_share = float(min_share)
    except (TypeError, ValueError):
        raise ConfigError(f"min_share must be a number between 0 and 1, got {min_share!r}") from None
    if not 0.0 <= min_share < 1.0:
        raise ConfigError(f"min_share must be between 0 (inclusive) and 1, got {min_share!r}")
    if top_variants is not None and (isinstance(top_variants, bool)
                                     or not isinstance(top_variants, (int, np.integer))
                                     or top_variants < 1):
        raise ConfigError(f"top_variants must be a positive integer, got {top_variants!r}")
    return min_share


@releases_memory
def discover(log, *, procedure: str | None = None, min_share: float = 0.0,
             top_variants: int | None = None) -> ProcessMap:
    """Directly-follows process map of a :class:`~tthc_mining.DossierLog` (own vectorised
    kernel on integer codes; counts equal ``pm4py.discover_dfg``).

    Parameters
    ----------
    procedure:
        Keep only the dossiers of this procedure (``log.filter(procedure=...)``).
    min_share:
        Hide transitions whose ``count`` is below this share of all transitions (0 <= x < 1);
        what was hidden is recorded in ``map.hidden``.
    top_variants:
        Keep only the dossiers of the ``top_variants`` most frequent variants; the statistics
        are computed on those dossiers, and the rest is counted in ``map.hidden``.
    """
    from .engines.core import RelationalLog
    if isinstance(log, RelationalLog):   # DuckDB / Spark: tthc_mining.engines.discover
        from .engines.discover import discover as _relational_discover
        return _relational_discover(log, procedure=procedure, min_share=min_share,
                                    top_variants=top_variants)
    min_share = check_options(min_share, top_variants)
    if procedure is not None:
        log = log.filter(procedure=procedure)
    seg = segments(log)
    act, _, names = _activity_codes(seg, with_prev=False)
    A = len(names)
    n = len(act)
    hidden: dict[str, Any] = {}
    filters = {"procedure": procedure, "min_share": min_share, "top_variants": top_variants}

    case = seg.case
    keep = None  # event mask of the kept dossiers (top_variants)
    if top_variants is not None:
        var_of_case, _, vcounts = variant_index(log)
        keep_case = var_of_case < top_variants
        keep = keep_case[case] if n else np.zeros(0, bool)
        hidden.update(top_variants=int(top_variants),
                      variants=int(max(len(vcounts) - top_variants, 0)),
                      cases=int((~keep_case).sum()), events=int((~keep).sum()))
        n_cases = int(keep_case.sum())
    else:
        n_cases = int(seg.n_cases)

    def sel(mask: np.ndarray) -> np.ndarray:
        return mask if keep is None else (mask & keep)

    ev = sel(np.ones(n, dtype=bool))
    n_events = int(ev.sum())
    has_start = bool(np.any(~np.isnan(seg.w_start)))

    # ---------------------------------------------------------------- edges
    tr = sel(~seg.is_first)

    def edges():
        """Edge ids, counts and the transitions' statistics (second thread on large logs)."""
        eid, ekeys, counts = _edge_ids(act, tr, A)
        E = len(ekeys)
        st = group_stats(eid, _edge_seconds(seg) if has_start else seg.seg_s, E)
        return ekeys, counts, st, _distinct_pairs_count(seg, eid, E)

    # the transitions' statistics on a second thread (large logs) while this one does the
    # activities' (independent inputs, so the same results either way)
    a_key = act if keep is None else np.where(keep, act, -1)
    tasks = Tasks(parallel=n >= PARALLEL_MIN_EVENTS)
    tasks.submit("edges", edges)
    tasks.submit("wait", group_stats, a_key, seg.wait_s, A, here=True)
    if has_start:
        tasks.submit("proc", group_stats, a_key, seg.proc_s, A, here=True)
    tasks.submit("a_cases", _distinct_pairs_count, seg, a_key, A, here=True)
    ekeys, counts, st, ecases = tasks.result("edges")
    E = len(ekeys)
    n_trans = int(counts.sum())
    dfg = pd.DataFrame({
        "source": pd.Series(names[ekeys // A] if E else [], dtype=object),
        "target": pd.Series(names[ekeys % A] if E else [], dtype=object),
        "count": counts,
        "cases": ecases,
        "share": counts / n_trans if n_trans else np.zeros(E),
        "n_timed": st["n"],
        "mean_h": st["mean"] / HOUR,
        "median_h": st["q50"] / HOUR,
        "p90_h": st["q90"] / HOUR,
        "sum_h": st["sum"] / HOUR,
    })
    if min_share > 0 and E:
        low = dfg["share"].to_numpy() < min_share
        hidden.update(min_share=min_share, edges=int(low.sum()),
                      transitions=int(counts[low].sum()),
                      transition_share=float(counts[low].sum() / n_trans) if n_trans else 0.0)
        dfg = dfg.loc[~low]
    elif min_share > 0:
        hidden.update(min_share=min_share, edges=0, transitions=0, transition_share=0.0)
    dfg = dfg.sort_values(["count", "source", "target"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- activities
    a_ev = act if keep is None else act[ev]      # (no copy of every event without a filter)
    a_count = np.bincount(a_ev, minlength=A).astype(np.int64)
    a_cases = tasks.result("a_cases")
    w = tasks.result("wait")
    if has_start:
        p = tasks.result("proc")
    else:
        nan = np.full(A, np.nan)
        p = {"n": np.zeros(A, np.int64), "sum": np.zeros(A), "mean": nan, "q50": nan, "q90": nan}
    acts = pd.DataFrame({
        "activity": pd.Series(names, dtype=object),
        "count": a_count, "cases": a_cases,
        "n_wait": w["n"], "wait_mean_h": w["mean"] / HOUR, "wait_median_h": w["q50"] / HOUR,
        "wait_p90_h": w["q90"] / HOUR, "wait_sum_h": w["sum"] / HOUR,
        "n_proc": p["n"], "proc_mean_h": p["mean"] / HOUR, "proc_median_h": p["q50"] / HOUR,
        "proc_p90_h": p["q90"] / HOUR, "proc_sum_h": p["sum"] / HOUR,
    })
    if S.GROUP in log.events.columns:
        acts["unit"] = _dominant(log, a_ev, None if keep is None else ev, A)
    acts = acts.loc[a_count > 0].sort_values(["count", "activity"], ascending=[False, True],
                                             kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- start / end
    def ends(mask: np.ndarray) -> pd.DataFrame:
        c = np.bincount(act[sel(mask)], minlength=A)
        idx = np.flatnonzero(c)
        df = pd.DataFrame({"activity": pd.Series(names[idx], dtype=object),
                           "count": c[idx].astype(np.int64),
                           "share": c[idx] / n_cases if n_cases else np.zeros(len(idx))})
        return df.sort_values(["count", "activity"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)

    is_last = np.ones(n, dtype=bool)          # (not seg.is_last: nothing more is cached)
    if n:
        is_last[:-1] = seg.is_first[1:]
    pm = ProcessMap(dfg=dfg, activities=acts, start_activities=ends(seg.is_first),
                    end_activities=ends(is_last), hidden=hidden,
                    calendar=log.calendar.to_dict(), n_cases=n_cases, n_events=n_events,
                    n_transitions=n_trans, procedure=procedure, source=str(log.source),
                    filters=filters, _log=log)
    return pm


def _edge_seconds(seg: Segments) -> np.ndarray:
    """Working seconds of the transition that ends at each event (see the module docstring)."""
    no_start = np.isnan(seg.w_start)
    if no_start.all():
        return seg.seg_s
    out = np.maximum(seg.wait_s, 0.0)        # = where(has start, max(wait, 0), seg), in place
    if no_start.any():
        out[no_start] = seg.seg_s[no_start]
    return out


def _dominant(log, a_ev: np.ndarray, ev: np.ndarray | None, A: int) -> pd.Series:
    """Most frequent unit (``org:group``) of each activity's events (ties: first unit code);
    ``ev`` = mask of the events kept (None: all)."""
    g, units = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
    if ev is not None:
        g = g[ev]
    ok = g >= 0
    G = len(units)
    out = np.full(A, None, dtype=object)
    if G == 0 or not ok.any():
        return pd.Series(out, dtype=object)
    a, gg = (a_ev, g) if ok.all() else (a_ev[ok], g[ok])
    if A * G <= 1 << 24:
        mat = np.bincount(a * G + gg, minlength=A * G).reshape(A, G)
        best = mat.argmax(axis=1)
        has = mat.max(axis=1) > 0
    else:
        pair, cnt = np.unique(a * np.int64(G) + gg, return_counts=True)
        pa, pg = pair // G, pair % G
        order = np.lexsort((pg, -cnt, pa))  # per activity: highest count, then lowest code
        first = np.ones(order.size, bool)
        first[1:] = pa[order][1:] != pa[order][:-1]
        best = np.zeros(A, np.int64)
        has = np.zeros(A, bool)
        best[pa[order][first]] = pg[order][first]
        has[pa[order][first]] = True
    uvals = np.asarray(units.astype(object), dtype=object)
    out[has] = uvals[best[has]]
    return pd.Series(out, dtype=object)
