"""Bottleneck ranking: where do dossiers wait, how much does it cost, and what kind of wait is it.

``tm.bottlenecks(log, by="activity")`` returns one row per step (or transition, unit, officer)
with the waiting time the agency spent there, sorted by the dossier-hours lost (what fixing the
row would give back).

Rules (stated once, used everywhere in this module)
---------------------------------------------------
* A row's events are the events whose *segment* (``tthc_mining.segments``: from the previous
  event's end to this event's end, split into waiting and processing when start times exist) is
  **owned by the agency**. Time the citizen holds the dossier (between a supplement request and the
  receipt of the supplement) and time a third party holds it (tax, posting, councils: between a
  suspension and the resumption) is not the agency's bottleneck and is left out. A dossier's first
  event closes no segment and is left out.
* ``wait`` of an event = ``segments.wait_s`` (previous end -> start when a start time exists, else
  previous end -> end), in working hours; a negative wait (the step started before the previous one
  ended: parallel work) counts as 0 (the number clipped is in ``attrs``). ``proc`` = start -> end.
  ``held`` = ``segments.seg_s`` = wait + processing: the time the step held the dossier.
* ``by="activity"`` groups by the event's step, ``"transition"`` by (previous step, step),
  ``"unit"`` by the event's unit (``org:group``), ``"resource"`` by its officer
  (``org:resource``). Events with no unit/officer are counted in ``attrs["events_without_key"]``.

Columns
-------
``count`` events, ``cases`` dossiers; ``wait_mean_h`` with ``wait_mean_ci_low/high`` (percentile
bootstrap over **dossiers**, :func:`tthc_mining.stats.bootstrap_mean_ci`: Poisson weights per
dossier, random groups of dossiers on very large logs; rows with at least
``NORMAL_MIN_DOSSIERS`` dossiers get the dossier-clustered normal interval, the delta-method
standard error of the ratio of sums from per-dossier sums, which is what that bootstrap
converges to with thousands of dossiers; ``attrs["bootstrap_method"]`` says which were used),
``wait_median_h``, ``wait_p90_h``,
``proc_mean_h`` (NaN without start times), ``total_wait_h`` (dossier-hours lost there),
``excess_wait_h`` (time held above the step's allotment in the internal procedure when a catalogue
gives one for the event's procedure and step; otherwise waiting above the row's median wait;
``excess_basis`` says which), ``share_of_agency_time`` (the row's held time over all agency time
in scope), ``share_in_overdue`` (the row's held time in overdue dossiers over all agency time of
overdue dossiers; NaN when the log has no due dates), ``trend_per_month`` (slope of the monthly
mean wait in hours per month — months by when the step received the dossier —, ordinary least
squares over the months with at least ``MIN_EVENTS_PER_MONTH`` events and at least a quarter of
the row's median monthly count, so that partial months at the edges do not weigh; ``trend_p`` its
two-sided p-value, as ``scipy.stats.linregress``; ``trend_months`` the number of months used), and
the kind hint.

Kind hint (data-driven; every rule has a threshold; ``kind_evidence`` spells out every rule
that fired, strongest first)
--------------------------------------------------------------------------------------------
* ``queue``: waiting grows with the backlog. Spearman correlation between an event's wait and the
  backlog it found when it arrived — the number of dossiers of the same row already waiting for
  the same officer (same unit when the log has no officers): a dossier assigned to an officer
  waits in that officer's queue — is at least ``QUEUE_MIN_RHO`` with p < ``ALPHA`` (computed on
  at most ``KIND_SAMPLE`` random events per row and ``KIND_SAMPLE_TOTAL`` in all; the backlog
  itself counts every event). Score = rho / QUEUE_MIN_RHO.
* ``slow_work``: processing dominates: processing is more than half of held time (needs start
  times). Score = processing share / 0.5.
* ``batching``: completions clumped at the same times: the share of the row's completions that
  fall in a clock minute with at least two other completions of the same row at the same unit is
  at least ``BATCH_MIN_SHARE`` and at least ``BATCH_MIN_RATIO`` times the same share computed on
  the row's *arrivals* (the ends of the previous events: same volume, same units, same daily
  rhythm, so the same chance of coincidences when nothing is batched). Rows whose timestamps are
  dates only (most at 00:00:00) are not assessed. Score = min(share / BATCH_MIN_SHARE,
  ratio / BATCH_MIN_RATIO).
* ``handover``: most of the row's waiting (> ``HANDOVER_MIN_SHARE``) happens on segments that
  cross a unit boundary (``segments.handover``) and those boundary waits are long: their mean is
  at least ``HANDOVER_MIN_RATIO`` times the mean wait of the agency segments in scope that stay
  inside one unit. Score = min(share / 0.5, ratio / 2).
A score >= 1 means the rule fired. The mechanisms (queue, slow work, batching) say *why* dossiers
wait and win over hand-over, which says *where*: ``kind`` is the fired mechanism with the highest
score, else ``"handover"`` when that rule fired, else None.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema as S
from .errors import ConfigError
from .memory import releases_memory
from .parallel import PARALLEL_MIN_EVENTS, Tasks
from .segments import OWNER_AGENCY, segments
from .kernels import readonly as _ro

__all__ = ["bottlenecks", "LABELS_VI", "BY", "KINDS"]

BY = ("activity", "transition", "unit", "resource")
KINDS = ("queue", "slow_work", "handover", "batching")

ALPHA = 0.01
QUEUE_MIN_RHO = 0.3
SLOW_MIN_SHARE = 0.5
HANDOVER_MIN_SHARE = 0.5
HANDOVER_MIN_RATIO = 2.0
BATCH_MIN_SHARE = 0.3
BATCH_MIN_RATIO = 3.0
KIND_SAMPLE = 20_000
KIND_SAMPLE_TOTAL = 1_000_000
#: the batching evidence sorts the clock minutes of the rows in bands of at most this many events
BATCH_BAND = 1 << 20
MIN_EVENTS_PER_MONTH = 5
#: rows with at least this many dossiers get the dossier-clustered normal interval of the mean
#: wait (``stats.bootstrap_mean_ci(normal_min_units=...)``), the others the dossier bootstrap
NORMAL_MIN_DOSSIERS = 5_000
H = 3600.0

#: Vietnamese labels of the result columns (the report issue adds the English ones beside them)
LABELS_VI = {
    "activity": "Bước xử lý",
    "source": "Bước trước",
    "target": "Bước sau",
    "unit": "Đơn vị xử lý",
    "resource": "Cán bộ xử lý",
    "count": "Số lượt",
    "cases": "Số hồ sơ",
    "wait_mean_h": "Thời gian chờ trung bình (giờ làm việc)",
    "wait_mean_ci_low": "Cận dưới khoảng tin cậy (giờ)",
    "wait_mean_ci_high": "Cận trên khoảng tin cậy (giờ)",
    "wait_median_h": "Trung vị thời gian chờ (giờ)",
    "wait_p90_h": "Phân vị 90 thời gian chờ (giờ)",
    "proc_mean_h": "Thời gian xử lý trung bình (giờ)",
    "total_wait_h": "Tổng giờ chờ (hồ sơ × giờ)",
    "excess_wait_h": "Giờ vượt định mức",
    "excess_basis": "Căn cứ định mức",
    "share_of_agency_time": "Tỷ trọng trong thời gian của cơ quan",
    "share_in_overdue": "Tỷ trọng trong thời gian hồ sơ quá hạn",
    "trend_per_month": "Xu hướng (giờ/tháng)",
    "trend_p": "Giá trị p của xu hướng",
    "trend_months": "Số tháng",
    "handover_share": "Tỷ lệ chờ tại điểm chuyển giao",
    "proc_share": "Tỷ lệ thời gian xử lý",
    "queue_rho": "Tương quan chờ – tồn đọng (Spearman)",
    "queue_p": "Giá trị p (tồn đọng)",
    "batch_share": "Tỷ lệ hoàn thành dồn cục",
    "kind": "Loại điểm nghẽn",
    "kind_evidence": "Căn cứ",
}

KIND_LABELS_VI = {"queue": "hàng đợi (tồn đọng)", "slow_work": "xử lý chậm",
                  "handover": "chuyển giao giữa đơn vị", "batching": "xử lý dồn cục"}


# ====================================================================== shared helpers
def procedure_mask(log, procedure) -> np.ndarray | None:
    """Boolean mask of the events of ``procedure`` (a code or a list of codes); None = all."""
    if procedure is None:
        return None
    if S.PROCEDURE not in log.events.columns:
        raise ConfigError("the log has no procedure column (case:procedure); "
                          "pass procedure=None or read the log with a procedure column")
    codes, uniques = log.codes(S.PROCEDURE)
    wanted = [procedure] if isinstance(procedure, str) or np.ndim(procedure) == 0 else list(procedure)
    idx = pd.Index(uniques.astype(str)).get_indexer([str(w) for w in wanted])
    if (idx < 0).any():
        missing = [w for w, i in zip(wanted, idx) if i < 0]
        known = sorted(map(str, uniques))[:30]
        raise ConfigError(f"unknown procedure {missing[0]!r}; known: {', '.join(known)}")
    return np.isin(codes, idx)


def _codes_view(log, column: str):
    """The column's integer codes without an int64 copy when the log can give them
    (``DossierLog.codes_view``), else ``log.codes``."""
    return log.codes_view(column) if hasattr(log, "codes_view") else log.codes(column)


def local_ns(log, column: str = S.TIMESTAMP, *, cache: bool = True) -> np.ndarray:
    """Local wall-clock time (calendar zone) of a timestamp column as int64 ns (cached; with
    ``cache=False`` a cached array is still used, but a new one is not kept)."""
    key = ("d2_local_ns", column)
    if key in log._cache:
        return log._cache[key]
    s = log.events[column]
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        from .calendar import ns_view, utc_to_local_ns
        out = utc_to_local_ns(ns_view(s.array), log.calendar.tz or "UTC")
    else:
        out = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if cache:
        log._cache[key] = out
    return out


def _none(dtype) -> np.ndarray:
    """An empty read-only array: "not given" for a kernel argument of that type."""
    return _ro(np.zeros(0, dtype=dtype), dtype)


def _local_source(log, column: str = S.TIMESTAMP) -> tuple[np.ndarray, int]:
    """The instants of a timestamp column as ``(int64 ns, offset)`` such that the local
    wall-clock time (:func:`local_ns`) of a valid instant is ``ns + offset``: the cached local
    times, or the UTC instants and the zone's UTC offset when it is constant over the data
    (what :func:`tthc_mining.calendar.utc_to_local_ns` then adds), so that no local copy of the
    column is made; otherwise :func:`local_ns` itself."""
    cached = log._cache.get(("d2_local_ns", column))
    if cached is not None:
        return _ro(cached, np.int64), 0
    s = log.events[column]
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        from .calendar import _constant_offset, ns_view
        from .kernels import bottlenecks as K
        utc = _ro(ns_view(s.array), np.int64)
        lo, hi, n_nat = K.minmax_valid(utc)
        if n_nat == utc.size:
            return utc, 0
        off = _constant_offset(int(lo), int(hi), log.calendar.tz or "UTC")
        if off is not None:
            return utc, int(off)
    elif s.dtype == np.dtype("datetime64[ns]"):
        return _ro(s.to_numpy().view(np.int64), np.int64), 0
    return _ro(local_ns(log, column, cache=False), np.int64), 0


def overdue_flags(log) -> dict | None:
    """Which dossiers are overdue, for ``share_in_overdue``: ``{"overdue", "basis"}`` as
    :func:`tthc_mining.overdue.case_overdue` gives them, from ``tm.timing``'s per-dossier
    arrays (``Timing.case_arrays``, aligned with the segment case codes) computed by the lean
    :func:`tthc_mining.timing.overdue_arrays` (the same values without the cases table or the
    per-event arrays); the other rules (exported due dates) through ``case_overdue`` itself."""
    try:
        from .timing import overdue_arrays
        arrays = overdue_arrays(log, catalog=resolve_catalog(log, None))
    except (ImportError, ConfigError):
        arrays = {}
    budget = arrays.get("budget_days")
    if budget is not None and len(budget) == segments(log).n_cases and len(budget) \
            and np.isfinite(budget).any():
        return {"overdue": np.asarray(arrays["overdue_actual"], dtype=bool),
                "basis": "timing: agency working days over the statutory budget"}
    from .overdue import case_overdue
    return case_overdue(log)


def resolve_catalog(log, catalog):
    return catalog if catalog is not None else getattr(log, "catalog", None)


def event_allotment_s(log, catalog, idx: np.ndarray | None = None) -> np.ndarray:
    """Per event (or per event of ``idx``): the allotment (working seconds) of its step in the
    internal procedure of its dossier's procedure (the catalogue version in force when the
    dossier was received); NaN when the catalogue gives none (or there is no
    catalogue/procedure). See :func:`catalog_plan`."""
    n = len(log.events) if idx is None else len(idx)
    plan = catalog_plan(log, catalog)
    if plan is None or n == 0:
        return np.full(n, np.nan)
    seg = segments(log)
    case = seg.case32 if idx is None else seg.case32[idx]
    act = seg.act32 if idx is None else seg.act32[idx]
    A = plan["lut_allot"].shape[1]
    flat = np.append(plan["lut_allot"].ravel() * log.calendar.seconds_per_day, np.nan)
    v = plan["case_version"][case]
    pos = np.where((v >= 0) & (act >= 0), v * A + act, flat.size - 1)
    return flat[pos]


def case_received_day(log) -> np.ndarray:
    """Local day number (since 1970-01-01) of each dossier's receipt: ``case:received`` when
    given, else its first event. Aligned with the segment case codes."""
    seg = segments(log)
    first = seg.case_start[:-1]
    ns = local_ns(log, S.TIMESTAMP)[first]
    if S.RECEIVED in log.events.columns:
        rec = log.events[S.RECEIVED].iloc[first]          # one value per dossier only
        if not pd.api.types.is_datetime64_any_dtype(rec.dtype):
            rec = pd.to_datetime(rec)
        if getattr(rec.dt, "tz", None) is not None:
            rec = rec.dt.tz_convert(log.calendar.tz or "UTC").dt.tz_localize(None)
        rec = rec.to_numpy(dtype="datetime64[ns]").view(np.int64)
        ns = np.where(rec != np.iinfo(np.int64).min, rec, ns)
    return np.floor_divide(ns, 86_400 * 1_000_000_000)


def catalog_plan(log, catalog) -> dict | None:
    """The catalogue's internal procedures mapped onto the log's integer codes (cached).

    Keys: ``case_version`` (per case code: row of ``catalog.procedures`` in force when the dossier
    was received, via ``ProcedureCatalog.lookup``; -1 = not in the catalogue), ``lut_allot``
    (versions x activities: allotment in days, NaN = none/not counted), ``lut_order``
    (versions x activities: step order, NaN = not a prescribed step), ``steps`` (per version: the
    prescribed steps in order, a DataFrame with ``step_order, activity, unit, allotment_days,
    act_code``; act_code -1 = never seen in the log). Steps are matched on the step name folded
    (case, diacritics and spacing ignored, :func:`tthc_mining.roles.fold`); a step listed twice in
    one version has its allotments added up and keeps its first order.
    """
    if catalog is None or S.PROCEDURE not in log.events.columns or len(log.events) == 0:
        return None
    key = ("d2_catalog_plan", id(catalog))
    if key in log._cache:
        return log._cache[key]
    from .roles import fold
    steps = catalog_steps(catalog)
    procs = getattr(catalog, "procedures", None)
    seg = segments(log)
    pcodes, puniq = log.codes(S.PROCEDURE)
    case_proc = pcodes[seg.case_start[:-1]]
    case_code = np.append(puniq.to_numpy(dtype=object), None)[np.where(case_proc < 0, len(puniq), case_proc)]
    if procs is not None and hasattr(catalog, "lookup") and "valid_from" in steps.columns:
        case_version = catalog.lookup(case_code, case_received_day(log)).astype(np.int64)
        vkeys = list(zip(procs["code"].astype(str), procs["valid_from"].astype(str)))
        steps = steps.assign(_v=list(zip(steps["code"].astype(str), steps["valid_from"].astype(str))))
    else:  # a plain steps table: one version per code
        codes = list(dict.fromkeys(steps["code"].astype(str)))
        vkeys = [(c, "") for c in codes]
        pos = {c: i for i, c in enumerate(codes)}
        case_version = np.array([pos.get(str(c), -1) if c is not None else -1 for c in
                                 pd.unique(case_code)], dtype=np.int64)
        case_version = case_version[pd.Index(pd.unique(case_code)).get_indexer(case_code)]
        steps = steps.assign(_v=[(str(c), "") for c in steps["code"]])
    auniq = segments(log).activities
    A = max(len(auniq), 1)
    afold = {}
    for j, a in enumerate(auniq.astype(str)):             # once per distinct activity
        afold.setdefault(fold(a), j)
    V = len(vkeys)
    lut_allot = np.full((V, A), np.nan)
    lut_order = np.full((V, A), np.nan)
    per_version = []
    by_v = {k: g for k, g in steps.groupby("_v", sort=False)}
    for v, vk in enumerate(vkeys):                         # loop over catalogue versions (few)
        g = by_v.get(vk)
        if g is None or g.empty:
            per_version.append(pd.DataFrame(columns=["step_order", "activity", "unit",
                                                     "allotment_days", "act_code"]))
            continue
        g = g.sort_values("step_order", kind="stable")
        g = g[g["activity"].notna()]
        f = g["activity"].astype(str).map(fold)
        agg = pd.DataFrame({"fold": f, "step_order": g["step_order"].to_numpy(),
                            "activity": g["activity"].to_numpy(), "unit": g["unit"].to_numpy(),
                            "allotment_days": g["allotment_days"].to_numpy(dtype=np.float64)})
        agg = agg.groupby("fold", sort=False).agg(
            step_order=("step_order", "first"), activity=("activity", "first"),
            unit=("unit", "first"), allotment_days=("allotment_days", lambda x: x.sum(min_count=1)))
        agg["act_code"] = [afold.get(k, -1) for k in agg.index]
        agg = agg.sort_values("step_order", kind="stable").reset_index(drop=True)
        seen = agg["act_code"].to_numpy() >= 0
        lut_allot[v, agg["act_code"].to_numpy()[seen]] = agg["allotment_days"].to_numpy()[seen]
        lut_order[v, agg["act_code"].to_numpy()[seen]] = np.arange(len(agg))[seen]
        per_version.append(agg)
    plan = {"case_version": case_version, "lut_allot": lut_allot, "lut_order": lut_order,
            "steps": per_version, "version_keys": vkeys}
    log._cache[key] = plan
    return plan


def catalog_steps(catalog) -> pd.DataFrame | None:
    """``catalog.steps`` with at least code, activity, step_order, unit, allotment_days."""
    if catalog is None:
        return None
    steps = getattr(catalog, "steps", None)
    if callable(steps):
        steps = steps()
    if steps is None and hasattr(catalog, "to_frame"):
        steps = catalog.to_frame()
    if steps is None:
        raise ConfigError("the catalogue has no steps table (ProcedureCatalog.steps)")
    steps = pd.DataFrame(steps).copy()
    for c in ("code", "activity"):
        if c not in steps.columns:
            raise ConfigError(f"the catalogue's steps table has no {c!r} column; "
                              f"columns: {list(steps.columns)}")
    if "allotment_days" not in steps.columns:
        steps["allotment_days"] = np.nan
    if "step_order" not in steps.columns:
        steps["step_order"] = steps.groupby("code").cumcount() + 1
    if "unit" not in steps.columns:
        steps["unit"] = None
    steps["allotment_days"] = pd.to_numeric(steps["allotment_days"], errors="coerce")
    steps["code"] = steps["code"].astype(str)
    return steps


def n_distinct_sorted(codes: np.ndarray) -> int:
    """Number of distinct values of a sorted (non-decreasing) integer array."""
    if codes.size == 0:
        return 0
    return int(np.count_nonzero(codes[1:] != codes[:-1]) + 1)


def group_quantiles(values: np.ndarray, groups: np.ndarray, n_groups: int,
                    qs: tuple[float, ...]) -> np.ndarray:
    """Quantiles (linear interpolation, as numpy) of ``values`` within integer ``groups``
    (``0..n_groups-1``; other codes are left out), exact. ``values`` should be finite (NaN count
    as the largest values). Returns an ``(n_groups, len(qs))`` array (NaN for empty).

    One compiled pass: a stable counting sort of the values by group, then each group's order
    statistics around every quantile's position by selection (no sort)."""
    from .kernels import bottlenecks as K
    qs = tuple(qs)
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or n_groups <= 0:
        return np.full((max(n_groups, 0), len(qs)), np.nan)
    return K.group_quantiles(_ro(values.ravel(), np.float64), _ro(np.ravel(groups), np.int64),
                             int(n_groups), _ro(np.array(qs, dtype=np.float64), np.float64))


def linear_trend(y_sum: np.ndarray, y_cnt: np.ndarray, min_count: int = MIN_EVENTS_PER_MONTH,
                 min_share_of_median: float = 0.25):
    """Row-wise OLS of the period means ``y_sum / y_cnt`` (rows x periods) on the period index,
    over the periods with at least ``min_count`` observations and at least
    ``min_share_of_median`` of the row's median count per active period (partial months at the
    edges of the log are left out). Returns slope, two-sided p-value (t test, as
    scipy.stats.linregress) and the number of periods used; NaN with < 3 periods."""
    from scipy import special
    R, M = y_sum.shape
    active = np.where(y_cnt > 0, y_cnt.astype(np.float64), np.nan)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(active, axis=1) if M else np.zeros(R)
    med = np.nan_to_num(med, nan=0.0)
    ok = (y_cnt >= max(min_count, 1)) & (y_cnt >= min_share_of_median * med[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(ok, y_sum / np.where(ok, y_cnt, 1), 0.0)
    x = np.broadcast_to(np.arange(M, dtype=np.float64), (R, M))
    w = ok.astype(np.float64)
    n = w.sum(1)
    sx, sy = (w * x).sum(1), (w * y).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        dx = np.where(ok, x - mx[:, None], 0.0)
        dy = np.where(ok, y - my[:, None], 0.0)
        sxx, syy, sxy = (dx * dx).sum(1), (dy * dy).sum(1), (dx * dy).sum(1)
        slope = sxy / sxx
        r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
        df = n - 2
        t = r * np.sqrt(df / np.maximum((1.0 - r) * (1.0 + r), 1e-300))
        p = 2.0 * special.stdtr(np.maximum(df, 1), -np.abs(t))   # = 2 * scipy.stats.t.sf(|t|, df)
    p = np.where(syy == 0, 1.0, p)           # flat series: no trend
    slope = np.where(n >= 3, slope, np.nan)
    p = np.where(n >= 3, p, np.nan)
    return slope, p, n.astype(np.int64)


def _group_ranks(v: np.ndarray, g: np.ndarray, n_groups: int) -> np.ndarray:
    """Average ranks (1-based, ties share the mean of their positions, as
    ``groupby(g).rank(method="average")``) of the finite values ``v`` within integer groups
    ``g``: one argsort of the values, then a stable counting sort of that order by group
    (compiled), so each group's values come out contiguous and ordered; tie runs are found by
    comparing neighbours."""
    from .kernels import bottlenecks as K
    if v.size == 0:
        return np.empty(0, dtype=np.float64)
    v = _ro(v, np.float64)
    return K.group_ranks(v, _ro(g, np.int64), int(n_groups), _ro(np.argsort(v), np.int64))


def _spearman_by_group(x: np.ndarray, y: np.ndarray, g: np.ndarray, n_groups: int):
    """Spearman rho and two-sided p (t approximation) of x vs y within each group (average ranks
    for ties, :func:`_group_ranks`), vectorised."""
    from scipy import special

    from .kernels import bottlenecks as K
    rho = np.full(n_groups, np.nan)
    pval = np.full(n_groups, np.nan)
    if x.size == 0:
        return rho, pval
    g = _ro(g, np.int64)
    rx = _group_ranks(np.asarray(x, dtype=np.float64), g, n_groups)
    ry = _group_ranks(np.asarray(y, dtype=np.float64), g, n_groups)
    n, sx, sy, sxx, syy, sxy = K.rank_sums(_ro(rx, np.float64), _ro(ry, np.float64), g,
                                           int(n_groups))
    del rx, ry
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        r = cov / np.sqrt(vx * vy)
        dfree = n - 2
        t = r * np.sqrt(dfree / np.maximum((1 - r) * (1 + r), 1e-300))
        p = 2.0 * special.stdtr(np.maximum(dfree, 1), -np.abs(t))  # = 2 * t.sf(|t|, df)
    ok = (n >= 10) & (vx > 0) & (vy > 0)
    rho[ok], pval[ok] = r[ok], p[ok]
    return rho, pval


def wip_at_arrival(row: np.ndarray, arrive: np.ndarray, depart: np.ndarray,
                   query: np.ndarray | None = None) -> np.ndarray:
    """For each item (row, arrival, departure) — or only the items ``query`` (indices) — the
    number of *other* items of the same row present when it arrived (arrived at or before, not
    yet departed). Two in-place sorts and two searchsorted calls on composite keys; no loop."""
    return _wip_consuming(row, np.array(arrive, dtype=np.float64, copy=True),
                          np.array(depart, dtype=np.float64, copy=True), query)


def _wip_consuming(row: np.ndarray, arrive: np.ndarray, depart: np.ndarray,
                   query: np.ndarray | None = None) -> np.ndarray:
    """:func:`wip_at_arrival` that builds its sort keys in the buffers of ``arrive`` and
    ``depart`` (float64 arrays the caller gives up; the same keys and counts)."""
    if query is None:
        query = np.arange(row.size)
    if row.size == 0 or query.size == 0:
        return np.zeros(query.size, dtype=np.int64)
    t0 = float(min(np.nanmin(arrive), np.nanmin(depart)))
    span = float(max(np.nanmax(arrive), np.nanmax(depart)) - t0) + 1.0
    off = row.astype(np.float64)
    off *= span
    off -= t0
    kd = np.maximum(depart, arrive, out=depart)
    kd += off
    ka = arrive
    ka += off
    del off
    kq = ka[query]
    ka.sort()
    kd.sort()
    order = np.argsort(kq)            # sorted queries: cache-friendly binary searches
    kqs = kq[order]
    del kq
    out = np.empty(query.size, dtype=np.int64)
    out[order] = (np.searchsorted(ka, kqs, side="right")
                  - np.searchsorted(kd, kqs, side="right") - 1)
    return np.maximum(out, 0)


# ====================================================================== the ranking
def _row_keys(log, seg, by: str):
    """How the kernels find an event's row: ``(mode, codes, transition table, A, labels)``;
    mode 2 = the step code (``seg.activity``), 1 = the (previous step, step) pair through the
    table of :func:`tthc_mining.kernels.bottlenecks.transition_lut` (dense codes in order of
    first appearance, as ``pd.factorize``), 0 = the unit / officer codes (int32)."""
    from .kernels import bottlenecks as K
    none = _none(np.int64)
    if by == "activity":
        return 2, _none(np.int32), none, 0, pd.DataFrame(
            {"activity": seg.activities.to_numpy(dtype=object)})
    if by == "transition":
        A = max(len(seg.activities), 1)
        lut, uniq = K.transition_lut(_ro(seg.is_first, np.bool_), _ro(seg.act32, np.int32), A)
        valid = uniq >= 0
        # the code of the raw value -1 (first events) keeps its place; its label is None
        names = seg.activities.to_numpy(dtype=object)
        src = np.where(valid, names[np.maximum(uniq // A, 0)], None)
        dst = np.where(valid, names[np.maximum(uniq % A, 0)], None)
        return 1, _none(np.int32), _ro(lut, np.int64), A, pd.DataFrame({"source": src,
                                                                          "target": dst})
    column = {"unit": S.GROUP, "resource": S.RESOURCE}[by]
    if column not in log.events.columns:
        raise ConfigError(f"by={by!r} needs the column {column!r}, which the log does not have")
    codes, uniq = _codes_view(log, column)
    return 0, _ro(codes, np.int32), none, 0, pd.DataFrame({by: uniq.to_numpy(dtype=object)})


def _keys(log, seg, by: str):
    """Integer row key per event (-1 = no key) and the label frame of the rows."""
    from .kernels import bottlenecks as K
    mode, codes, lut, A, labels = _row_keys(log, seg, by)
    if mode == 2:
        return seg.activity, labels
    if mode == 1:
        return K.transition_codes(_ro(seg.is_first, np.bool_), _ro(seg.act32, np.int32), A,
                                  lut), labels
    return log.codes({"unit": S.GROUP, "resource": S.RESOURCE}[by])[0], labels


def _modal(keys: np.ndarray, vals: np.ndarray, n_keys: int, labels: pd.Index) -> np.ndarray:
    """Most frequent value label per key (None when the key has no valid value)."""
    out = np.full(n_keys, None, dtype=object)
    ok = (keys >= 0) & (vals >= 0)
    if not ok.any():
        return out
    V = int(vals[ok].max()) + 1
    if n_keys * V <= 1 << 22:
        # a dense (key, value) count table (no hashing of all events); ties go to the value
        # whose (key, value) pair appears first, as in the hashed path below
        cells = keys[ok] * V + vals[ok]
        mat = np.bincount(cells, minlength=n_keys * V).reshape(n_keys, V)
        mx = mat.max(axis=1)
        has = mx > 0
        at_max = mat == mx[:, None]
        best = at_max.argmax(axis=1)
        tied = has & (at_max.sum(axis=1) > 1)
        if tied.any():
            first = np.full(n_keys * V, np.iinfo(np.int64).max, dtype=np.int64)
            first[cells[::-1]] = np.arange(cells.size - 1, -1, -1)   # first appearance
            first = np.where(at_max, first.reshape(n_keys, V), np.iinfo(np.int64).max)
            best[tied] = first[tied].argmin(axis=1)
        out[has] = labels.to_numpy(dtype=object)[best[has]]
        return out
    inv, pair = pd.factorize(keys[ok] * V + vals[ok])    # hash-based, no sort of all events
    cnt = np.bincount(inv)
    pair = np.asarray(pair)
    k, v = pair // V, pair % V
    order = np.lexsort((-cnt, k))
    first = np.ones(order.size, dtype=bool)
    first[1:] = k[order][1:] != k[order][:-1]
    sel = order[first]
    out[k[sel]] = labels.to_numpy(dtype=object)[v[sel]]
    return out


@releases_memory
def bottlenecks(log, by: str = "activity", *, procedure=None, ci: float = 0.95,
                n_boot: int = 1000, seed: int | None = 0, catalog=None,
                sort_by: str = "total_wait_h", ascending: bool = False) -> pd.DataFrame:
    """Rank the steps (``by="activity"``), transitions, units or officers by the waiting they
    cause. See the module docstring for every rule; results are in working hours.

    Parameters
    ----------
    log: a :class:`tthc_mining.DossierLog`, or a :class:`tthc_mining.engines.RelationalLog`
        (DuckDB / Spark: :func:`tthc_mining.engines.bottlenecks.bottlenecks`, the same columns
        with a cluster-robust normal interval instead of the bootstrap).
    by: ``"activity" | "transition" | "unit" | "resource"``.
    procedure: restrict to one procedure code (or a list of codes).
    ci, n_boot, seed: the bootstrap over dossiers of the mean wait (``n_boot=0`` skips it).
    catalog: a :class:`tthc_mining.ProcedureCatalog` (default: ``log.catalog``) for the
        allotments behind ``excess_wait_h``.
    sort_by, ascending: ordering of the rows (default: dossier-hours lost, largest first).

    Returns a DataFrame; ``attrs`` carries ``n_dossiers``, ``n_events``, ``by``, ``procedure``,
    ``calendar`` (its description), ``ci``, ``n_boot``, ``bootstrap_method`` and the counts of
    events left out.
    """
    from .engines.core import RelationalLog
    if isinstance(log, RelationalLog):   # DuckDB / Spark: the relational definitions
        from .engines.bottlenecks import bottlenecks as relational_bottlenecks
        return relational_bottlenecks(log, by=by, procedure=procedure, ci=ci, n_boot=n_boot,
                                      seed=seed, catalog=catalog, sort_by=sort_by,
                                      ascending=ascending)
    if by not in BY:
        raise ConfigError(f"by must be one of {', '.join(BY)}; got {by!r}")
    from .kernels import bottlenecks as K
    seg = segments(log)
    pmask = procedure_mask(log, procedure)
    mode, kcode, tlut, A, labels = _row_keys(log, seg, by)
    R0 = len(labels)
    is_first = _ro(seg.is_first, np.bool_)
    owner = _ro(seg.owner, np.int8)
    pm = _none(np.bool_) if pmask is None else _ro(pmask, np.bool_)
    act = _ro(seg.act32, np.int32)
    case_all = _ro(seg.case32, np.int32)
    with_unit = by in ("activity", "transition") and S.GROUP in log.events.columns
    if S.GROUP in log.events.columns:   # the unit codes' bytes at their own width (no copy)
        gcodes = np.ascontiguousarray(_codes_view(log, S.GROUP)[0])
        grp, gw = _ro(gcodes.view(np.uint8), np.uint8), int(gcodes.dtype.itemsize)
        del gcodes
    else:
        grp, gw = _none(np.uint8), 1
    n_units = len(_codes_view(log, S.GROUP)[1]) if S.GROUP in log.events.columns else 0
    ts, off = _local_source(log)                 # local clock times = ts + off (months, batching)
    # the independent heavy parts run on a second core while this one does the rest (the
    # kernels release the GIL): first the deadlines behind the share in overdue and the agency
    # time in scope, then (once the rows are known) the queue evidence
    tasks = Tasks(parallel=len(is_first) >= PARALLEL_MIN_EVENTS)
    overdue_args = (_overdue_and_totals, log, seg, is_first, owner, pm, case_all)
    if tasks.parallel:
        tasks.submit("overdue", *overdue_args)

    # ------------------------------------------------------------ one pass: rows and sums
    # (the events of the rows, their compact row codes, dossiers and waits; per row the sums
    # of wait / held / processing, hand-over sums, dossiers, (row, month) sums, modal unit)
    modal_V = n_units if with_unit and n_units and R0 * n_units <= 1 << 22 else 0
    (idx, key, case, wait, keep_rows, count, sums, n_cases, in_scope, ys, yc, m0, M, modal,
     neg, n_not_agency, n_no_key, _, midnight, mn_lo, mn_hi) = K.select_rows(
        is_first, owner, pm, OWNER_AGENCY, mode, kcode, act, tlut, A, R0, case_all,
        seg.n_cases, _ro(seg.wait_s, np.float64), _ro(seg.seg_s, np.float64),
        _ro(seg.proc_s, np.float64), _ro(seg.handover, np.bool_), ts, off, grp, gw, modal_V)
    labels = labels.iloc[keep_rows].reset_index(drop=True)
    R = keep_rows.size

    cal = log.calendar
    attrs = {"by": by, "procedure": procedure, "n_events": int(idx.size),
             "n_dossiers": int(np.count_nonzero(in_scope)),
             "calendar": cal.to_dict(), "ci": float(ci), "n_boot": int(n_boot),
             "negative_waits_clipped": int(neg),
             "events_without_key": int(n_no_key),
             "events_not_agency": int(n_not_agency),
             "rules": "agency-owned segments only; wait = previous end -> start (or end)"}
    out = labels.copy()
    if R == 0:
        for c in ("count", "cases", "wait_mean_h", "wait_mean_ci_low", "wait_mean_ci_high",
                  "wait_median_h", "wait_p90_h", "proc_mean_h", "total_wait_h", "excess_wait_h",
                  "excess_basis", "share_of_agency_time", "share_in_overdue", "trend_per_month",
                  "trend_p", "trend_months", "handover_share", "proc_share", "queue_rho",
                  "queue_p", "batch_share", "kind", "kind_evidence"):
            out[c] = pd.Series(dtype=object if c in ("kind", "kind_evidence", "excess_basis") else float)
        if tasks.parallel:
            try:                                 # (not needed: only let the worker finish)
                tasks.result("overdue")
            except Exception:  # noqa: BLE001 - nothing of it is used
                pass
        out.attrs.update(attrs)
        return out
    del kcode
    if not tasks.parallel:
        tasks.submit("overdue", *overdue_args)
    tasks.submit("queue", _queue_evidence, log, seg, idx, key, R, seed)

    sum_wait, sum_held, n_proc, sum_proc, wait_with_proc, ho_w, ho_n = sums[:7]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_wait = sum_wait / count
        proc_mean = np.where(n_proc > 0, sum_proc / np.maximum(n_proc, 1), np.nan)
        proc_share = np.where(n_proc > 0, sum_proc / (sum_proc + wait_with_proc), np.nan)

    # dossiers per row and the bootstrap interval of the mean wait (resampling dossiers)
    if n_boot and n_boot > 0:
        from .stats import bootstrap_mean_ci
        boot = bootstrap_mean_ci(wait, groups=(case, seg.case_ids), by=(key, pd.RangeIndex(R)),
                                 n_boot=n_boot, ci=ci, seed=seed,
                                 normal_min_units=NORMAL_MIN_DOSSIERS)
        cases = boot["n"].to_numpy()
        ci_low, ci_high = boot["ci_low"].to_numpy(), boot["ci_high"].to_numpy()
        attrs["bootstrap_method"] = boot.attrs.get("method")
        del boot
    else:
        cases = n_cases
        ci_low = ci_high = np.full(R, np.nan)
        attrs["bootstrap_method"] = None
    del case
    batch_share, batch_ratio, batch_ok = _batch_evidence(idx, key, R, ts, off, grp, gw, n_units,
                                                         count, midnight, mn_lo, mn_hi)
    del grp

    # ------------------------------------------------------------ excess and shares
    # excess over the allotment (held time above the step's allotment in the catalogue), else
    # over the row's median wait; the held time in overdue dossiers; the agency time in scope
    plan = catalog_plan(log, resolve_catalog(log, catalog))
    if plan is not None:
        A_lut = plan["lut_allot"].shape[1]
        allot_h = np.append(plan["lut_allot"].ravel() * cal.seconds_per_day, np.nan) / H
        case_version = _ro(plan["case_version"], np.int64)
    else:
        A_lut, allot_h, case_version = 0, np.full(1, np.nan), _none(np.int64)
    q = group_quantiles(wait, key, R, (0.5, 0.9))
    od, od_case, (total_agency, tot_od, ref_sum, n_inside) = tasks.result("overdue")
    excess_sum, n_allot, held_od = K.excess_sums(
        idx, key, wait, case_all, R, _ro(q[:, 0], np.float64), _ro(seg.seg_s, np.float64), act,
        case_version, _ro(allot_h, np.float64), A_lut, od_case)
    basis = np.where(n_allot == count, "allotment", np.where(n_allot == 0, "median", "mixed"))
    share_agency = sum_held / total_agency if total_agency > 0 else np.full(R, np.nan)
    share_overdue = np.full(R, np.nan)
    if od is not None:
        attrs["n_overdue_dossiers"] = int(np.count_nonzero(od["overdue"] & in_scope))
        attrs["overdue_basis"] = od["basis"]
        share_overdue = held_od / tot_od if tot_od > 0 else np.zeros(R)

    # ------------------------------------------------------------ trend per month
    if M > 0:
        slope, trend_p, trend_n = linear_trend(ys.reshape(R, M), yc.reshape(R, M))
    else:
        slope = trend_p = np.full(R, np.nan)
        trend_n = np.zeros(R, dtype=np.int64)

    # ------------------------------------------------------------ kind hint
    with np.errstate(invalid="ignore", divide="ignore"):
        handover_share = np.where(sum_wait > 0, ho_w / sum_wait, 0.0)
        ho_mean = np.where(ho_n > 0, ho_w / np.maximum(ho_n, 1), np.nan)
    # reference: mean wait of the agency segments in scope that stay inside a unit
    ref_wait = float(ref_sum) / H / n_inside if n_inside else float(wait.mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        ho_ratio = ho_mean / ref_wait if ref_wait > 0 else np.where(ho_mean > 0, np.inf, np.nan)
    rho, rho_p = tasks.result("queue")
    kind, evidence = _kind_hint(rho, rho_p, proc_share, handover_share, ho_ratio, batch_share,
                                batch_ratio, batch_ok)
    attrs["handover_reference_wait_h"] = ref_wait

    out["count"] = count.astype(np.int64)
    out["cases"] = cases.astype(np.int64)
    out["wait_mean_h"] = mean_wait
    out["wait_mean_ci_low"] = ci_low
    out["wait_mean_ci_high"] = ci_high
    out["wait_median_h"] = q[:, 0]
    out["wait_p90_h"] = q[:, 1]
    out["proc_mean_h"] = proc_mean
    out["total_wait_h"] = sum_wait
    out["excess_wait_h"] = excess_sum
    out["excess_basis"] = basis
    out["share_of_agency_time"] = share_agency
    out["share_in_overdue"] = share_overdue
    out["trend_per_month"] = slope
    out["trend_p"] = trend_p
    out["trend_months"] = trend_n
    out["handover_share"] = handover_share
    out["proc_share"] = proc_share
    out["queue_rho"] = rho
    out["queue_p"] = rho_p
    out["batch_share"] = batch_share
    out["kind"] = kind
    out["kind_evidence"] = evidence
    if with_unit:
        guniq = _codes_view(log, S.GROUP)[1]
        if modal_V:
            unit = np.full(R, None, dtype=object)
            has = modal >= 0
            unit[has] = guniq.to_numpy(dtype=object)[modal[has]]
        else:
            unit = _modal(key, _codes_view(log, S.GROUP)[0][idx], R, guniq)
        out.insert(len(labels.columns), "unit", unit)
    if sort_by not in out.columns:
        raise ConfigError(f"sort_by must be a column of the result; got {sort_by!r}")
    out = out.sort_values(sort_by, ascending=ascending, kind="stable",
                          na_position="last").reset_index(drop=True)
    out.attrs.update(attrs)
    return out


@releases_memory
def _overdue_and_totals(log, seg, is_first, owner, pm, case_all):
    """:func:`overdue_flags`, then the agency time in scope (all of it and that of the overdue
    dossiers) and the wait inside units (:func:`tthc_mining.kernels.bottlenecks.agency_totals`):
    ``(flags, per-dossier overdue mask for the kernels, (total, overdue total, inside wait sum,
    inside events))``."""
    from .kernels import bottlenecks as K
    od = overdue_flags(log)
    od_case = _ro(od["overdue"], np.bool_) if od is not None else _none(np.bool_)
    totals = K.agency_totals(is_first, owner, pm, OWNER_AGENCY, case_all,
                             _ro(seg.seg_s, np.float64), _ro(seg.wait_s, np.float64),
                             _ro(seg.handover, np.bool_), od_case)
    return od, od_case, totals[:4]


def _queue_evidence(log, seg, idx, key, R, seed):
    """Spearman rho/p per row of an event's wait vs the backlog it found when it arrived: the
    number of dossiers of the same row waiting for the same officer (the same unit when the log
    has no officers) — a dossier assigned to an officer waits in that officer's queue. Computed
    on at most KIND_SAMPLE sampled events per row; the backlog counts every event
    (:func:`wip_at_arrival`'s composite keys, built and searched by compiled passes). The
    composite keys keep every queue in its own stretch of the axis, so the backlogs are counted
    over bands of queues (consecutive queue codes, at most ``QUEUE_BAND`` events each, or
    1/``QUEUE_MAX_BANDS`` of the events: :mod:`tthc_mining.kernels.bottlenecks`), each with the
    sorted keys of its own events only: the same counts as over every event at once (checked:
    should rounding let two bands' keys touch, one band of every queue)."""
    from .kernels import bottlenecks as K
    rho = np.full(R, np.nan)
    p = np.full(R, np.nan)
    column = S.RESOURCE if S.RESOURCE in log.events.columns else S.GROUP
    if column in log.events.columns:
        sub, uniq = _codes_view(log, column)
        sub, V = _ro(sub, np.int32), len(uniq)
    else:
        sub, V = _none(np.int32), 0
    w_end = _ro(seg.w_end, np.float64)
    dep = _departures(log, seg)
    # qj: the queue code of every event of the rows (-1: no arrival or no departure)
    cnt, n_ok, lo, hi, qj, nq = K.queue_prepare(idx, key, R, w_end, dep, sub, V,
                                                int(K.QUEUE_LUT))
    del sub
    if n_ok == 0:
        return rho, p
    frac = np.minimum(1.0, KIND_SAMPLE / np.maximum(cnt, 1))
    total = float((frac * cnt).sum())
    if total > KIND_SAMPLE_TOTAL:       # many rows (officers): cap the total sample as well
        frac *= KIND_SAMPLE_TOTAL / total
    take_all = bool((frac >= 1.0).all())
    if take_all:
        u = _none(np.float32)
    else:
        u = _ro(np.random.default_rng(seed).random(n_ok, dtype=np.float32), np.float32)
    take, n_take, per = K.queue_take(key, qj, int(n_ok), u,
                                     _ro(frac.astype(np.float32), np.float32), take_all, int(nq))
    del u
    band = max(K.QUEUE_BAND, -(-int(n_ok) // K.QUEUE_MAX_BANDS))
    b_start, b_size, band_of = K.queue_bands(per, int(band))
    t0 = float(lo)
    span = float(hi - t0) + 1.0
    # the sampled items in event order (the order of the Spearman sums): key, wait, row
    kq, wait, ks, b_queries = K.queue_sample(idx, key, w_end, dep, qj, t0, span, take,
                                             take_all, int(n_take), band_of, int(b_size.size))
    order = np.argsort(kq)
    kq = kq[order]          # the queries' keys sorted: the queries of a band are a range of them

    def count(b_start, b_size, b_queries):
        """Every band's keys, sorted, merged with its queries (replaced with their counts);
        False if two bands touch."""
        s, top = 0, -np.inf
        for b in range(b_size.size):
            if b_size[b] == 0:
                continue
            ka, kd, k_lo, k_hi = K.queue_band(idx, w_end, dep, qj, int(b_start[b]),
                                              int(b_start[b + 1]), int(b_size[b]), t0, span)
            if not k_lo > top:          # rounding let the bands touch: no exact separation
                return False
            top = k_hi
            ka.sort()
            kd.sort()
            e = s + int(b_queries[b])
            K.wip_band(ka, kd, kq, s, e)
            s = e
        return True

    if not count(b_start, b_size, b_queries):   # one band: every queue's keys together
        kq = K.queue_sample(idx, key, w_end, dep, qj, t0, span, take, take_all,
                            int(n_take), band_of, int(b_size.size))[0][order]
        count(np.array([0, nq], np.int64), np.array([n_ok], np.int64),
              np.array([kq.size], np.int64))
    del take, band_of
    wip = np.empty(kq.size)
    wip[order] = kq
    del qj, kq, order
    return _spearman_by_group(wip, wait, ks, R)


def _departures(log, seg) -> tuple:
    """The events' departures for the queue kernels (``_depart`` in
    :mod:`tthc_mining.kernels.bottlenecks`): ``(mode, w_start, s_raw, s_off, *day table)``.
    The start column's float axis when the log already holds it (mode 0); else, for a
    :class:`~tthc_mining.WorkingCalendar`, the raw start instants and the day table, mapped
    event by event inside the kernels to the same floats (mode 1: the 48 MB axis array of 6 M
    events is not built); without start times mode 2 (the end is the departure)."""
    no_f, no_i = _none(np.float64), _none(np.int64)
    dummy = (0, np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.float64),
             np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 0.0)
    if S.START not in log.events.columns:
        return (2, no_f, no_i, 0) + dummy
    have = log._cache.get(("working", S.START))
    if have is None and getattr(seg, "_w_start_fn", None) is None \
            and getattr(seg, "_start_fn", None) is None:
        have = seg.w_start                      # (already built: no cost)
    cal = log.calendar
    if have is None and hasattr(cal, "_kernel_table") and hasattr(cal, "_local_source"):
        from .calendar import NS_PER_DAY
        raw, off, lo, hi, n_nat = cal._local_source(log.events[S.START])
        if n_nat == raw.size:
            return (2, no_f, no_i, 0) + dummy
        tab = cal._kernel_table(int(lo) // NS_PER_DAY, int(hi) // NS_PER_DAY)
        return (1, no_f, _ro(raw, np.int64), int(off)) + tuple(tab)
    if have is None:
        have = seg.w_start
    return (0, _ro(have, np.float64), no_i, 0) + dummy


def _clump_share(minute_ns: np.ndarray, ck: np.ndarray, key: np.ndarray, R: int) -> np.ndarray:
    """Per row: share of the instants that fall in a clock minute holding at least 3 instants
    of the same (row, unit) key ``ck`` (the row of a ``ck`` is the ``key`` of its instants). One
    sort of the composite (ck, minute) codes; runs of at least 3 equal codes are clumps."""
    from .kernels import bottlenecks as K
    minute_ns = _ro(minute_ns, np.int64)
    cnt = np.bincount(key, minlength=R)
    n = minute_ns.size
    lo, hi, n_nat = K.minmax_valid(minute_ns)
    if n_nat == n or n < 3:
        return np.zeros(R)
    mmin = int(lo) // (60 * 1_000_000_000)
    span = int(hi) // (60 * 1_000_000_000) - mmin + 1
    ck = np.asarray(ck, dtype=np.int64)
    row_of_ck = np.zeros(int(ck.max()) + 1, dtype=np.int64)
    row_of_ck[ck] = key
    buf = np.empty(n, dtype=np.int64)
    m = K.clump_fill(minute_ns, np.arange(n, dtype=np.int32), 0, 0, np.array(key, dtype=np.int64),
                     _none(np.uint8), 1, 1, _ro(ck, np.int64), mmin, span, 0, R, buf)
    comp = buf[:m]
    comp.sort()
    clumped = K.clump_count(comp, span, 1, _ro(row_of_ck, np.int64), R)
    return clumped / np.maximum(cnt, 1)


def _batch_evidence(idx, key, R, ts, off, grp, gw, n_units, count, midnight, lo, hi):
    """Share of a row's completions in clumps (>= 3 completions of the same step at the same
    unit in one clock minute), its ratio to the same share for the row's *arrivals* (the end of
    the previous event: same volume and daily rhythm, so the same chance of coincidences when
    nothing is batched), and whether the row's timestamps are fine enough to tell (not dates
    only). ``ts + off`` are the local clock times of the log's events (:func:`_local_source`),
    ``grp`` their unit codes' bytes (``gw`` bytes per code; empty without a unit column;
    ``n_units`` units); per row
    the events and those at midnight or without a time, and the range of the clock minutes of
    the completions and arrivals (:func:`tthc_mining.kernels.bottlenecks.select_rows`)."""
    from .kernels import bottlenecks as K
    cnt = count.astype(np.float64)
    fine = midnight <= 0.5 * cnt
    share = np.zeros(R)
    share_arr = np.zeros(R)
    if lo <= hi:
        G1 = n_units + 1 if grp.size else 1
        span = int(hi) - int(lo) + 1
        # the rows in bands of at most BATCH_BAND events (a row of more is a band of its own):
        # a clump is within one row, so each band's codes are sorted and counted apart (the
        # same counts) and the buffer holds one band, not every event
        cum = np.cumsum(count)
        bands, r0 = [], 0
        while r0 < R:
            r1 = max(int(np.searchsorted(cum, (cum[r0 - 1] if r0 else 0) + BATCH_BAND,
                                         side="right")), r0 + 1)
            bands.append((r0, min(r1, R)))
            r0 = min(r1, R)
        buf = np.empty(int(max(cum[b - 1] - (cum[a - 1] if a else 0) for a, b in bands)),
                       dtype=np.int64)
        for shift, res in ((0, share), (-1, share_arr)):  # completions, arrivals (same dossier)
            clumped = np.zeros(R, np.int64)
            for r_lo, r_hi in bands:
                m = K.clump_fill(ts, idx, shift, off, key, grp, gw, G1, _none(np.int64), int(lo),
                                 span, r_lo, r_hi, buf)
                comp = buf[:m]
                comp.sort()
                if m >= 3:
                    clumped += K.clump_count(comp, span, G1, _none(np.int64), R)
            res[:] = clumped / np.maximum(cnt, 1)
        del buf
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = share / np.maximum(share_arr, 1.0 / np.maximum(cnt, 1))
    return share, ratio, fine & (cnt >= 10)


def _kind_hint(rho, rho_p, proc_share, handover_share, ho_ratio, batch_share, batch_ratio,
               batch_ok):
    """The kind of each row (see the module docstring) and the evidence text.

    Scores are each rule's statistic relative to its threshold (>= 1: the rule fired). The
    mechanisms (queue, batching, slow work) say *why* dossiers wait and win over hand-over, which
    says *where* they wait: ``kind`` is the fired mechanism with the highest score, else
    ``handover`` when it fired, else None. ``kind_evidence`` lists every fired rule, strongest
    first."""
    R = len(rho)
    scores = np.zeros((R, 4))
    with np.errstate(invalid="ignore"):
        q_fire = (rho >= QUEUE_MIN_RHO) & (rho_p < ALPHA)
        scores[:, 0] = np.where(q_fire, rho / QUEUE_MIN_RHO, 0.0)
        s_fire = proc_share > SLOW_MIN_SHARE
        scores[:, 1] = np.where(s_fire, proc_share / SLOW_MIN_SHARE, 0.0)
        h_fire = (handover_share > HANDOVER_MIN_SHARE) & (ho_ratio >= HANDOVER_MIN_RATIO)
        scores[:, 2] = np.where(h_fire, np.minimum(handover_share / HANDOVER_MIN_SHARE,
                                                   ho_ratio / HANDOVER_MIN_RATIO), 0.0)
        b_fire = batch_ok & (batch_share >= BATCH_MIN_SHARE) & (batch_ratio >= BATCH_MIN_RATIO)
        scores[:, 3] = np.where(b_fire, np.minimum(batch_share / BATCH_MIN_SHARE,
                                                   batch_ratio / BATCH_MIN_RATIO), 0.0)
    scores = np.nan_to_num(scores, nan=0.0, posinf=1e9)
    mech = scores[:, [0, 1, 3]]
    mech_kinds = np.array(["queue", "slow_work", "batching"], dtype=object)
    kind = np.full(R, None, dtype=object)
    has_mech = mech.max(1) > 0
    kind[has_mech] = mech_kinds[mech.argmax(1)[has_mech]]
    kind[~has_mech & (scores[:, 2] > 0)] = "handover"
    evidence = np.full(R, "", dtype=object)
    for i in np.flatnonzero(scores.max(1) > 0):    # text for the rows where a rule fired
        texts = {
            0: f"queue: wait vs backlog at arrival Spearman rho={rho[i]:.2f} (p={rho_p[i]:.1e})",
            1: f"slow work: processing {proc_share[i]:.0%} of the time held",
            2: (f"hand-over: {handover_share[i]:.0%} of waiting at a unit boundary, "
                f"{ho_ratio[i]:.1f}x the wait inside units"),
            3: (f"batching: {batch_share[i]:.0%} of completions in clumps "
                f"({batch_ratio[i]:.1f}x chance)"),
        }
        fired = [j for j in np.argsort(-scores[i], kind="stable") if scores[i, j] > 0]
        evidence[i] = "; ".join(texts[j] for j in fired)
    return kind, evidence


# ====================================================================== tm.bottlenecks(...)
def make_module_callable(module_name: str, func_name: str) -> None:
    """Let ``tm.<name>(...)`` work when a submodule and its main function share a name.

    Importing ``tthc_mining.bottlenecks`` binds the *module* to ``tthc_mining.bottlenecks``
    (the import system does that), which would shadow the lazily exported function of the same
    name. Making the module callable (delegating to the function) keeps both spellings working:
    ``tm.bottlenecks(log)`` and ``tm.bottlenecks.LABELS_VI``."""
    import sys
    import types

    mod = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(self, func_name)(*args, **kwargs)

    mod.__class__ = _CallableModule


make_module_callable(__name__, "bottlenecks")
