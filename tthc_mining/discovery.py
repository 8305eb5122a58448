"""Fast directly-follows model (process map) and variants, on integer codes.

``tm.discover(log)`` builds a :class:`ProcessMap`: the directly-follows graph with frequencies
and working-time statistics of every transition, per-activity waiting and processing statistics,
start/end activities, and (lazily) the variants. ``tm.variants(log)`` lists the distinct step
sequences of the dossiers.

Everything is computed from :func:`tthc_mining.segments.segments` (per-event working-time
segments, cached on the log) on integer codes: the map by a few compiled passes over the
dossiers' blocks of events (:mod:`tthc_mining.kernels.discovery`: counts, sums, dossiers per step
and per transition, quantiles by a counting sort per group and a selection, no global sort and
no per-event temporary besides the quantiles' key buffer), the variants with numpy: no pm4py,
no per-row or per-dossier Python.

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
from .segments import OWNER_AGENCY, Segments, segments, utc_ns
from .kernels import readonly as _ro

__all__ = ["discover", "variants", "ProcessMap", "group_stats", "sorted_group_quantiles",
           "variant_index"]

HOUR = 3600.0
#: group_stats' quantile keys drop ceil(log2(n_groups)) low bits up to this many (the precision of
#: the former sort of packed ``group | value`` keys, kept so the quantiles do not change)
_KEY_BITS_MAX = 24
_MISSING_ACTIVITY = "(không rõ / unknown)"

# two Mersenne-like primes below 2**31 and fixed bases for the variant hash
_M1, _M2 = 2_147_483_647, 2_147_483_629
_BASES = ((911_382_323, 972_663_749), (1_000_000_007 % _M1, 998_244_353),
          (1_234_567_891 % _M1, 1_987_654_321 % _M2), (305_175_781, 244_140_625))


# ====================================================================== per-group statistics
def _kernels():
    """The numba kernels (imported on first use: ``import tthc_mining`` does not start numba)."""
    from .kernels import discovery
    return discovery


def _unsortable(keys: np.ndarray) -> np.ndarray:
    """Float64 values of order keys (``kernels.discovery.sort_key``; cleared low bits stay
    cleared)."""
    bits = (keys ^ np.uint64(1 << 63)).view(np.int64)
    return (bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))).view(np.float64)


def _key_mask(n_groups: int) -> np.uint64:
    """The order keys' mask for ``n_groups`` groups: the lowest ``b = ceil(log2(n_groups))``
    bits cleared when ``b <= _KEY_BITS_MAX`` (the precision of the former packed sort, whose
    results this keeps bit for bit), else every bit kept (exact)."""
    bits = max(int(n_groups - 1).bit_length(), 1)
    trunc = bits if bits <= _KEY_BITS_MAX else 0
    return np.uint64(((1 << 64) - 1) ^ ((1 << trunc) - 1))


def _group_quantiles(n: np.ndarray, quantiles: tuple[float, ...], scatter,
                     work: np.ndarray | None = None) -> np.ndarray:
    """Linear-interpolated quantiles per group, ``(len(n), len(quantiles))``, NaN for empty
    groups: ``scatter(starts, buf)`` writes the groups' order keys into ``buf`` (group ``g`` at
    ``starts[g]:starts[g + 1]``; the front of ``work`` when it is long enough, else a new
    array: numpy's large allocations get huge pages, the kernels' own would not), the kernel
    selects the keys at each quantile's two ranks, and ``a + (b - a) * frac`` interpolates
    (numpy's / pandas' default)."""
    K = _kernels()
    G, Q = len(n), len(quantiles)
    res = np.full((G, Q), np.nan)
    idx = np.flatnonzero(n > 0)
    if idx.size == 0 or Q == 0:
        return res
    starts = K.exclusive_starts(_ro(n, np.int64))
    total = int(starts[-1])
    buf = work[:total] if work is not None and work.size >= total else np.empty(total, np.uint64)
    scatter(starts, buf)
    lo = np.zeros((G, Q), dtype=np.int64)
    hi = np.zeros((G, Q), dtype=np.int64)
    frac = np.empty((idx.size, Q))
    m = n[idx]
    for j, q in enumerate(quantiles):
        pos = q * (m - 1).astype(np.float64)
        lo_j = np.floor(pos).astype(np.int64)
        lo[idx, j] = lo_j
        hi[idx, j] = np.minimum(lo_j + 1, m - 1)
        frac[:, j] = pos - lo_j
    klo, khi = K.select_quantile_keys(buf, starts, lo, hi)
    del buf
    for j in range(Q):
        a, b = _unsortable(klo[idx, j]), _unsortable(khi[idx, j])
        res[idx, j] = a + (b - a) * frac[:, j]
    return res


def _stats(n: np.ndarray, s: np.ndarray, vmin: float, quantiles: tuple[float, ...],
           scatter, work: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`group_stats`' result from the groups' counts ``n``, sums ``s``, the smallest
    value ``vmin`` and ``scatter(starts, allpos, mask, buf)`` (the order keys, grouped into
    ``buf``; see :func:`_group_quantiles` for ``work``)."""
    G = len(n)
    mean = np.full(G, np.nan)
    has = n > 0
    mean[has] = s[has] / n[has]
    out: dict[str, np.ndarray] = {"n": n, "sum": s, "mean": mean}
    if not quantiles:
        return out
    allpos = bool(vmin >= 0)            # every value >= 0: -0.0 counts as +0.0 (as before)
    mask = _key_mask(G)
    qv = _group_quantiles(n, quantiles, lambda starts, buf: scatter(starts, allpos, mask, buf),
                          work)
    for j, q in enumerate(quantiles):
        out[f"q{int(round(q * 100))}"] = qv[:, j]
    return out


def group_stats(group: np.ndarray, values: np.ndarray, n_groups: int,
                quantiles: tuple[float, ...] = (0.5, 0.9)) -> dict[str, np.ndarray]:
    """Per-group ``n``, ``sum``, ``mean`` and linear-interpolated quantiles (NaN values ignored).

    ``group`` holds integer codes in ``[0, n_groups)``, or ``-1`` for rows to leave out. Counts,
    sums and means are exact (sums in row order, as ``np.bincount(weights=)``). Quantiles: no
    global sort; a counting sort by group puts each group's order keys (the value's
    order-preserving IEEE bits) in one buffer and a selection per group (quickselect) finds the
    keys at the quantile's two ranks, interpolated linearly (numpy's / pandas' default). With
    ``b = ceil(log2(n_groups)) <= 24`` the keys drop their lowest ``b`` mantissa bits (the
    precision of the former packed ``group | value`` sort, kept so results do not change):
    exact to a relative ``2**-(52 - b)`` (1.5e-11 with 65,536 groups); with more groups exact.
    Compiled kernels (``tthc_mining.kernels.discovery``), no Python loop over groups or rows.
    Groups with no value get ``n = 0``, ``sum = 0`` and NaN mean/quantiles. Quantile keys are
    ``"q50"``, ``"q90"``, ... (``round(100 * q)``).
    """
    K = _kernels()
    group = _ro(group, np.int64)
    values = _ro(values, np.float64)
    n_groups = int(n_groups)
    n, s, vmin = K.group_sums(group, values, n_groups)
    return _stats(n, s, vmin, tuple(quantiles),
                  lambda starts, allpos, mask, buf: K.group_scatter(group, values, starts, allpos,
                                                                    mask, buf))


def sorted_group_quantiles(group: np.ndarray, values: np.ndarray, counts: np.ndarray,
                           quantiles: tuple[float, ...]) -> np.ndarray:
    """Linear-interpolated quantiles of finite ``values`` within integer ``group`` codes in
    ``[0, len(counts))`` (``counts`` = the number of values of each group), as in
    :func:`group_stats` (same precision). Returns an array ``(len(counts), len(quantiles))``,
    NaN for empty groups."""
    K = _kernels()
    group = _ro(group, np.int64)
    values = _ro(values, np.float64)
    counts = np.asarray(counts, dtype=np.int64)
    allpos = bool(values.size and values.min() >= 0)
    mask = _key_mask(len(counts))
    return _group_quantiles(counts, tuple(quantiles),
                            lambda starts, buf: K.group_scatter(group, values, starts, allpos,
                                                                mask, buf))


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
    act = seg.act32                       # (int32: no int64 copy of the codes is made)
    prev = seg.prev_activity if with_prev else None
    if act.size and act.min() < 0:  # a missing activity name gets its own node, never dropped
        extra = len(names)
        names = np.append(names, _MISSING_ACTIVITY)
        act = np.where(act < 0, extra, act)
        if with_prev:
            prev = np.where(seg.is_first, -1, np.where(prev < 0, extra, prev))
    return act, prev, names


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
            ref = act[seg.case_start[rep_of_case][seg.case32] + seg.pos]
            if np.array_equal(ref, act):
                break
    else:  # every base collided (never seen; tested by forcing it): exact grouping of tuples
        seq = pd.Series(act).groupby(seg.case32).agg(tuple)
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
    total = np.bincount(seg.case32, weights=held, minlength=n_cases) / spd
    held[seg.owner != OWNER_AGENCY] = 0.0
    agency = np.bincount(seg.case32, weights=held, minlength=n_cases) / spd
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
    """Directly-follows process map of a :class:`~tthc_mining.DossierLog` (compiled kernels
    over the dossiers' blocks of integer codes; counts equal ``pm4py.discover_dfg``).

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
    K = _kernels()
    # the kernels' fixed argument types (no copy when the arrays already have them)
    act = _ro(seg.act32, np.int32)
    case_start = _ro(seg.case_start, np.int64)
    n = len(act)
    names = np.asarray(seg.activities.astype(object), dtype=object)
    extra = len(names)                    # the code of a missing activity name (own node)
    if n and act.min() < 0:
        names = np.append(names, _MISSING_ACTIVITY)
    A = len(names)
    hidden: dict[str, Any] = {}
    filters = {"procedure": procedure, "min_share": min_share, "top_variants": top_variants}

    if top_variants is not None:          # the kept dossiers
        var_of_case, _, vcounts = variant_index(log)
        keep = _ro(var_of_case < top_variants, bool)
        hidden.update(top_variants=int(top_variants),
                      variants=int(max(len(vcounts) - top_variants, 0)),
                      cases=int((~keep).sum()), events=0)
        n_cases = int(keep.sum())
    else:
        keep = _ro(np.ones(seg.n_cases, dtype=bool), bool)
        n_cases = int(seg.n_cases)

    f64 = lambda a: _ro(a, np.float64)   # noqa: E731
    # which events have a start time: from the start column's own int64 instants (a view; the
    # float axis of the starts is NaN exactly where they are NaT, and is not needed here)
    s_raw = _ro(utc_ns(log.events[S.START]), np.int64) if S.START in log.events.columns \
        else None
    has_start = s_raw is not None and len(s_raw) == n and bool(K.any_not_nat(s_raw))
    seg_s = f64(seg.seg_s)
    wait = f64(seg.wait_s)
    if not has_start:                    # (not read without start times: any int64 view)
        s_raw = _ro(utc_ns(log.events[S.TIMESTAMP]), np.int64)
    proc = f64(seg.proc_s) if has_start else seg_s     # (not read without start times)

    # ---------------------------------------------------------------- edges
    def edges():
        """Edges, counts, dossiers and the transitions' statistics (second thread on large
        logs): counted by edge code ``source * A + target``, then numbered in sorted order."""
        cnt, ecases, nt, st_sum, vmin = K.edge_stats(act, case_start, keep, extra, A, seg_s,
                                                     wait, s_raw, has_start)
        ekeys = np.flatnonzero(cnt)
        E = ekeys.size
        counts, ecases, nt, st_sum = cnt[ekeys], ecases[ekeys], nt[ekeys], st_sum[ekeys]
        del cnt
        lut = np.full(A * A, -1, dtype=np.int64)
        lut[ekeys] = np.arange(E, dtype=np.int64)
        st = _stats(nt, st_sum, vmin, (0.5, 0.9), lambda starts, allpos, mask, buf: K.edge_scatter(
            act, case_start, keep, extra, A, lut, seg_s, wait, s_raw, has_start, starts,
            allpos, mask, buf))
        return ekeys, counts, st, ecases

    tasks = Tasks(parallel=n >= PARALLEL_MIN_EVENTS)
    tasks.submit("edges", edges)

    # ---------------------------------------------------------------- activities (this thread)
    units = None
    G = 0
    u_bytes, u_width = _ro(np.zeros(0, dtype=np.uint8), np.uint8), 1
    if S.GROUP in log.events.columns:
        g, units = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
        if len(units) and A * len(units) <= 1 << 24:   # (else _dominant's sparse count)
            G = len(units)
            g = np.ascontiguousarray(g)
            u_bytes, u_width = _ro(g.view(np.uint8), np.uint8), g.dtype.itemsize
    (a_count, a_cases, first_ct, last_ct, wn, wsum, wmin, pn, psum, pmin, u_count,
     n_events) = K.activity_pass(act, case_start, keep, extra, A, wait, proc, has_start,
                                 u_bytes, u_width, G)
    if top_variants is not None:
        hidden["events"] = int(n - n_events)
    all_kept = top_variants is None
    work = np.empty(max(int(wn.sum()), int(pn.sum())), dtype=np.uint64)  # (wait's, then proc's)
    w = _stats(wn, wsum, wmin, (0.5, 0.9), lambda starts, allpos, mask, buf: K.activity_scatter(
        act, case_start, keep, all_kept, extra, wait, starts, allpos, mask, buf), work)
    if has_start:
        p = _stats(pn, psum, pmin, (0.5, 0.9), lambda starts, allpos, mask, buf: K.activity_scatter(
            act, case_start, keep, all_kept, extra, proc, starts, allpos, mask, buf), work)
    else:
        nan = np.full(A, np.nan)
        p = {"n": np.zeros(A, np.int64), "sum": np.zeros(A), "mean": nan, "q50": nan, "q90": nan}
    del work
    acts = pd.DataFrame({
        "activity": pd.Series(names, dtype=object),
        "count": a_count, "cases": a_cases,
        "n_wait": w["n"], "wait_mean_h": w["mean"] / HOUR, "wait_median_h": w["q50"] / HOUR,
        "wait_p90_h": w["q90"] / HOUR, "wait_sum_h": w["sum"] / HOUR,
        "n_proc": p["n"], "proc_mean_h": p["mean"] / HOUR, "proc_median_h": p["q50"] / HOUR,
        "proc_p90_h": p["q90"] / HOUR, "proc_sum_h": p["sum"] / HOUR,
    })
    if units is not None:
        acts["unit"] = (_dominant_of(u_count.reshape(A, G), units) if G
                        else _dominant(log, act, keep, case_start, extra, A))
    acts = acts.loc[a_count > 0].sort_values(["count", "activity"], ascending=[False, True],
                                             kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- the edges' frame
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

    # ---------------------------------------------------------------- start / end
    def ends(c: np.ndarray) -> pd.DataFrame:
        idx = np.flatnonzero(c)
        df = pd.DataFrame({"activity": pd.Series(names[idx], dtype=object),
                           "count": c[idx].astype(np.int64),
                           "share": c[idx] / n_cases if n_cases else np.zeros(len(idx))})
        return df.sort_values(["count", "activity"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)

    pm = ProcessMap(dfg=dfg, activities=acts, start_activities=ends(first_ct),
                    end_activities=ends(last_ct), hidden=hidden,
                    calendar=log.calendar.to_dict(), n_cases=n_cases, n_events=int(n_events),
                    n_transitions=n_trans, procedure=procedure, source=str(log.source),
                    filters=filters, _log=log)
    return pm


def _dominant_of(count: np.ndarray, units: pd.Index) -> pd.Series:
    """Most frequent unit of each activity from the ``(A, G)`` event counts (ties: first unit
    code; None without any unit)."""
    out = np.full(count.shape[0], None, dtype=object)
    if count.size:
        best = count.argmax(axis=1)
        has = count.max(axis=1) > 0
        uvals = np.asarray(units.astype(object), dtype=object)
        out[has] = uvals[best[has]]
    return pd.Series(out, dtype=object)


def _dominant(log, act: np.ndarray, keep: np.ndarray, case_start: np.ndarray, extra: int,
              A: int) -> pd.Series:
    """:func:`_dominant_of` when ``A x G`` counts would be too many (over 2**24): the distinct
    (activity, unit) pairs of the kept dossiers' events are counted instead."""
    g, units = log.codes_view(S.GROUP) if hasattr(log, "codes_view") else log.codes(S.GROUP)
    ev = np.repeat(keep, np.diff(case_start))
    ok = (g >= 0) & ev
    out = np.full(A, None, dtype=object)
    G = len(units)
    if G == 0 or not ok.any():
        return pd.Series(out, dtype=object)
    a = np.where(act[ok] < 0, extra, act[ok])
    pair, cnt = np.unique(a * np.int64(G) + g[ok], return_counts=True)
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
