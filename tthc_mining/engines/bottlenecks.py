"""``tm.bottlenecks`` on a :class:`~tthc_mining.engines.RelationalLog` (DuckDB, Spark).

The same ranking as :func:`tthc_mining.bottlenecks.bottlenecks` (read its module docstring for
every rule), written once with Ibis over the relational segments table
(:mod:`tthc_mining.engines.segments`) and executed by the log's backend. Only aggregates come
back to pandas: one row per result row, per (row, dossier) sums reduced again in the database,
per (row, local day) sums for the monthly trend and per (row, unit, clock minute) counts for the
batching evidence.

Every column of the pandas engine is computed, exactly as there (counts equal, durations
within 1e-9 relative), except the interval of the mean wait: ``count``, ``cases``,
``wait_mean_h``, ``wait_median_h`` and ``wait_p90_h`` (exact quantiles with linear
interpolation, :func:`tthc_mining.engines.quantiles.exact_quantiles`), ``proc_mean_h``,
``total_wait_h``, ``excess_wait_h`` and ``excess_basis`` (the catalogue's allotments are mapped
on the distinct (procedure, day of receipt, step) triples in Python, then joined),
``share_of_agency_time``, ``share_in_overdue`` (overdue flags from the relational timing,
:func:`tthc_mining.engines.timing.overdue_cases`), ``trend_per_month`` / ``trend_p`` /
``trend_months`` (per (row, local day) sums, months and the regression in Python),
``handover_share``, ``proc_share``, ``queue_rho`` / ``queue_p`` (backlog at arrival from
running counts over a union of arrivals and departures, average ranks by window functions),
``batch_share`` (per (row, unit, clock minute) counts), ``kind`` / ``kind_evidence`` (the
pandas engine's rules applied to these statistics) and the ``unit`` column (modal unit) of
``by="activity"`` / ``"transition"``. Ties of the sort key keep the pandas engine's row order
(labels in order of first appearance: dossiers in id order, then time).

Differences from the pandas engine (also in ``attrs["relational_notes"]``):

* ``wait_mean_ci_low`` / ``wait_mean_ci_high``: the pandas engine uses a percentile bootstrap
  over dossiers. Here the interval is the **cluster-robust normal interval** of the mean wait,
  clustered by dossier, from the per (row, dossier) aggregates ``n_c`` (events) and ``s_c``
  (summed wait): with ``m = S / N``, ``G`` dossiers,
  ``var(m) = G / (G - 1) * sum_c (s_c - m n_c)^2 / N^2`` and ``m ± z sqrt(var)``
  (NaN with one dossier, as the bootstrap). It is close to the bootstrap interval on rows with
  many dossiers and symmetric by construction (the bootstrap one follows skewed waits).
  ``n_boot`` and ``seed`` are accepted and unused.
* ``queue_rho`` / ``queue_p`` use every event; the pandas engine samples
  ``KIND_SAMPLE`` (20,000) events of a larger row (and 1,000,000 in all), so on such rows the two
  differ by the sampling error (and ``kind`` may follow). Below that they are equal.
* ``share_in_overdue``: when the relational timing gives no dossier a statutory budget the
  column is NaN; the pandas engine then falls back to exported due dates
  (:func:`tthc_mining.overdue.case_overdue`).
* Timestamps are microseconds on both backends (the pandas engine keeps nanoseconds).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..bottlenecks import BY, H, _kind_hint, linear_trend
from ..errors import ConfigError
from ..stats import z_value
from .quantiles import exact_quantiles
from .segments import case_key

__all__ = ["bottlenecks", "cluster_normal_ci", "first_seen"]


def floor_div(x, d: int):
    """Exact ``floor(x / d)`` of an int64 expression by a positive literal (Ibis divides in
    float64; :func:`tthc_mining.engines.axis.floor_div` corrects the quotient)."""
    from .axis import floor_div as fd
    return fd(x, d)

OWNER_AGENCY = 0
NS_DAY = 86_400 * 1_000_000_000
NS_MIN = 60 * 1_000_000_000
NONE = "\u0000<none>"          # a missing officer / unit as one value

RELATIONAL_NOTES = (
    "wait_mean_ci: cluster-robust normal interval clustered by dossier (the pandas engine: "
    "dossier bootstrap); queue_rho/queue_p on every event (the pandas engine samples rows of "
    "more than 20,000 events); share_in_overdue: no fallback to exported due dates")


def cluster_normal_ci(N, S_, G, ss, sn, nn, ci: float = 0.95):
    """Cluster-robust normal interval of the mean ``S / N`` from per-cluster aggregates.

    ``N`` observations and ``S_`` their sum, ``G`` clusters (dossiers), ``ss = sum_c s_c**2``,
    ``sn = sum_c s_c n_c``, ``nn = sum_c n_c**2`` (``s_c``, ``n_c``: the cluster's sum and count).
    Returns ``(low, high)`` arrays; NaN where ``G < 2``. The variance is the CR1-style sandwich
    ``G / (G - 1) * sum_c (s_c - m n_c)**2 / N**2``, clipped at 0 (rounding)."""
    N, S_, G, ss, sn, nn = (np.asarray(x, dtype=np.float64) for x in (N, S_, G, ss, sn, nn))
    with np.errstate(invalid="ignore", divide="ignore"):
        m = S_ / N
        resid = ss - 2.0 * m * sn + m * m * nn
        var = G / (G - 1.0) * np.maximum(resid, 0.0) / (N * N)
        half = z_value(ci) * np.sqrt(var)
    ok = (G >= 2) & (N > 0)
    return np.where(ok, m - half, np.nan), np.where(ok, m + half, np.nan)


# ====================================================================== segments contract
#: columns this module and :mod:`tthc_mining.engines.rework` read from the segments table
SEGMENT_COLUMNS = ("pos", "is_first", "prev_activity", "seg_s", "wait_s", "proc_s", "owner",
                   "handover", "local_ns", "prev_local_ns", "received_day")


def _segments(rlog):
    """The relational segments table with :data:`SEGMENT_COLUMNS`, as a view on the log's
    connection (cached on the log): :func:`tthc_mining.engines.segments.segments` completed
    with the local wall-clock columns (:func:`_build_segments`)."""
    key = "h2_segments"
    if key in rlog._cache:
        return rlog._cache[key]
    if getattr(rlog, "backend", None) == "duckdb":
        # the segments are materialised once per log with these columns (segments.segments)
        from .segments import segments
        t = segments(rlog)
        if all(c in t.columns for c in SEGMENT_COLUMNS):
            rlog._cache[key] = t
            return t
    t = _as_view(rlog, _build_segments(rlog), "tthc_h2_segments")
    rlog._cache[key] = t
    return t


def _as_view(rlog, expr, prefix: str):
    """``expr`` as a named table on the log's connection, so that the queries built on it stay
    small (compiling a deep Ibis expression again for every query costs more than running it
    on a small log). DuckDB: an unmaterialised view (the engine streams it from the files for
    every query, beyond memory). Spark: computed once (:func:`spark_checkpoint`), as Spark would
    otherwise recompute the window functions for every aggregate."""
    import uuid
    con = rlog.con
    if getattr(rlog, "backend", None) == "spark":
        return spark_checkpoint(rlog, expr, prefix)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return con.create_view(name, expr, overwrite=True)


def spark_checkpoint(rlog, expr, prefix: str):
    """``expr`` computed now by Spark as a ``localCheckpoint`` (memory, then the executors'
    disks) registered as a temporary view: later queries read it instead of recomputing it, and
    its lineage is cut (a cached DataFrame keeps its whole plan, which Spark analyses again on
    every use and which doubles with every stage built on it)."""
    import uuid
    con = rlog.con
    view = f"{prefix}_{uuid.uuid4().hex[:10]}"
    df = con._session.sql(con.compile(expr)).localCheckpoint(eager=True)
    df.createOrReplaceTempView(view)
    return con.table(view)


def _local_us(rlog, t, col: str):
    """Local wall-clock microseconds since 1970 of a timestamp column (the calendar's zone;
    naive columns are wall clock already): ``t`` with ``tm:_lus`` added."""
    import ibis
    from .axis import _offsets, epoch_us, floor_div, time_range
    from .core import _register as reg

    us = epoch_us(t[col])
    if col in rlog.naive_columns:
        return t.mutate(**{"tm:_lus": us})
    rng = time_range(rlog, [col])[col]
    if rng is None:
        return t.mutate(**{"tm:_lus": ibis.null("int64")})
    const, table_off, bucket = _offsets(rlog, *rng)
    if const is not None:
        return t.mutate(**{"tm:_lus": us + const})
    off = reg(rlog.con, rlog.backend, table_off, "tthc_h2_offsets").rename(
        {"tm:_hb": "tm:bucket", "tm:_ho": "tm:off_us"})
    t = t.mutate(**{"tm:_b": floor_div(us, bucket)})
    t = t.left_join(off, t["tm:_b"] == off["tm:_hb"])
    t = t.mutate(**{"tm:_lus": us + t["tm:_ho"]})
    return t.drop("tm:_b", "tm:_hb", "tm:_ho")


def _build_segments(rlog):
    """H1's segments (:func:`tthc_mining.engines.segments.segments`: position, previous step,
    working-time segment / wait / processing in seconds from exact int64 ns differences, owner,
    hand-over) plus the local wall-clock ns of this and the previous event's end and the local
    day of the dossier's receipt (``case:received`` of its first event, else its first event),
    as :func:`tthc_mining.bottlenecks.local_ns` and :func:`~tthc_mining.bottlenecks.case_received_day`."""
    from .segments import _segments_expr
    return _add_local_columns(rlog, _segments_expr(rlog))


def _local_day_columns(rlog, t):
    """``t`` with ``local_ns`` (local wall-clock ns of the end time) and ``tm:_rday`` (the
    event's candidate receipt day: the local day of ``case:received``, else of the end time);
    the receipt day of a dossier is its first event's ``tm:_rday`` (:func:`_build_segments`).
    Row-wise only: the window columns are added in the segments' own window pass."""
    import ibis
    from .axis import floor_div

    t = _local_us(rlog, t, S.TIMESTAMP)
    t = t.mutate(local_ns=t["tm:_lus"] * 1000,
                 **{"tm:_eday": floor_div(t["tm:_lus"], 86_400_000_000)})
    t = t.drop("tm:_lus")
    if S.RECEIVED in t.columns:
        t = _local_us(rlog, t, S.RECEIVED)
        day = ibis.ifelse(t["tm:_lus"].isnull(), t["tm:_eday"],
                          floor_div(t["tm:_lus"], 86_400_000_000))
    else:
        day = t["tm:_eday"]
    t = t.mutate(**{"tm:_rday": day})
    return t.drop(*[c for c in t.columns if c.startswith("tm:_") and c != "tm:_rday"])


def _add_local_columns(rlog, t):
    """``t`` (segments) with ``local_ns``, ``prev_local_ns`` and ``received_day``
    (:func:`_build_segments`)."""
    import ibis
    from .axis import floor_div
    from .segments import event_window

    t = _local_us(rlog, t, S.TIMESTAMP)
    t = t.mutate(local_ns=t["tm:_lus"] * 1000,
                 **{"tm:_eday": floor_div(t["tm:_lus"], 86_400_000_000)})
    t = t.drop("tm:_lus")
    t = t.mutate(prev_local_ns=t["local_ns"].lag().over(event_window(t)))
    day = t["tm:_eday"]
    if S.RECEIVED in t.columns:
        t = _local_us(rlog, t, S.RECEIVED)
        day = ibis.ifelse(t["tm:_lus"].isnull(), day, floor_div(t["tm:_lus"], 86_400_000_000))
    t = t.mutate(**{"tm:_d0": ibis.ifelse(t["is_first"], day, ibis.null("int64"))})
    t = t.mutate(received_day=t["tm:_d0"].max().over(ibis.window(group_by=t[S.CASE])))
    drop = [c for c in t.columns if c.startswith("tm:_")]
    return t.drop(*drop)


def _has(t, col) -> bool:
    return col in t.columns


def _key_columns(t, by: str):
    """(key expressions {name: expr}, label column names) of a ``by`` value."""
    if by == "activity":
        return {"activity": t[S.ACTIVITY]}
    if by == "transition":
        return {"source": t["prev_activity"], "target": t[S.ACTIVITY]}
    column = {"unit": S.GROUP, "resource": S.RESOURCE}[by]
    if not _has(t, column):
        raise ConfigError(f"by={by!r} needs the column {column!r}, which the log does not have")
    return {by: t[column]}


def _procedure_filter(rlog, t, procedure):
    if procedure is None:
        return None
    if not _has(t, S.PROCEDURE):
        raise ConfigError("the log has no procedure column (case:procedure); "
                          "pass procedure=None or read the log with a procedure column")
    wanted = [procedure] if isinstance(procedure, str) or np.ndim(procedure) == 0 else list(procedure)
    wanted = [str(w) for w in wanted]
    known = t.select(p=t[S.PROCEDURE].cast("string")).distinct().to_pandas()["p"].dropna()
    missing = [w for w in wanted if w not in set(known)]
    if missing:
        raise ConfigError(f"unknown procedure {missing[0]!r}; known: "
                          f"{', '.join(sorted(known)[:30])}")
    return t[S.PROCEDURE].cast("string").isin(wanted)


def first_seen(t, keys: dict, where=None) -> pd.DataFrame:
    """Per key (``{name: expr}`` over ``t``): where it first appears in event order (dossiers in
    id order, then position in the dossier), as ``(name..., _c0, _p0)``. The pandas engine's
    categories and factorised codes are in this order, so it breaks ties the same way."""
    d = t.mutate(**{f"_f_{k}": v for k, v in keys.items()})
    cond = None
    for k in keys:
        c = d[f"_f_{k}"].notnull()
        cond = c if cond is None else cond & c
    if where is not None:
        cond = cond & where
    d = d.filter(cond)
    kc = [f"_f_{k}" for k in keys]
    a1 = d.group_by(kc).aggregate(_c0=d[S.CASE].min())
    j = d.join(a1, kc + [d[S.CASE] == a1["_c0"]])
    out = j.group_by(kc + ["_c0"]).aggregate(_p0=j["pos"].min()).to_pandas()
    return out.rename(columns={f"_f_{k}": k for k in keys})


def _label_order(t, by: str, keys: dict, res: pd.DataFrame) -> np.ndarray:
    """Positions that put ``res``'s rows in first-appearance order of their labels."""
    where = ~t["is_first"] if by == "transition" else None
    fs = first_seen(t, keys, where)
    fs = fs.sort_values(["_c0", "_p0"], kind="stable")
    rank = np.full(len(res), len(fs), dtype=np.int64)
    labels = list(keys)
    pos = _align(fs, labels, res)
    ok = pos >= 0
    rank[pos[ok]] = np.flatnonzero(ok)
    return np.argsort(rank, kind="stable")


# ====================================================================== the ranking
def bottlenecks(rlog, by: str = "activity", *, procedure=None, ci: float = 0.95,
                n_boot: int = 1000, seed: int | None = 0, catalog=None,
                sort_by: str = "total_wait_h", ascending: bool = False) -> pd.DataFrame:
    """Rank steps / transitions / units / officers by the waiting they cause, relationally.

    Same parameters and rules as :func:`tthc_mining.bottlenecks.bottlenecks`; ``n_boot`` and
    ``seed`` are accepted for the same call signature but unused: the interval of the mean wait
    is the cluster-robust normal interval (module docstring). Returns the pandas engine's
    columns, in the same order.
    """
    import ibis

    if by not in BY:
        raise ConfigError(f"by must be one of {', '.join(BY)}; got {by!r}")
    t = _segments(rlog)
    cal = rlog.calendar
    pmask = _procedure_filter(rlog, t, procedure)
    scope = ~t["is_first"]
    if pmask is not None:
        scope = scope & pmask
    agency = scope & (t["owner"] == OWNER_AGENCY)
    keys = _key_columns(t, by)
    labels = list(keys)
    has_key = ibis.and_(*[k.notnull() for k in keys.values()])

    # ---------------------------------------------------------------- per-event values
    wait_raw = t["wait_s"]
    wait_h = ibis.greatest(wait_raw.fill_null(0.0), 0.0) / H
    held_h = ibis.greatest(t["seg_s"].fill_null(0.0), 0.0) / H
    proc_h = t["proc_s"] / H
    has_proc = proc_h.notnull()
    unit = t[S.GROUP] if _has(t, S.GROUP) else ibis.null("string")
    ev = t.mutate(_scope=scope, _agency=agency, _key_ok=has_key, _wait=wait_h, _held=held_h,
                  _proc=proc_h, _has_proc=has_proc, _ho=t["handover"], _unit=unit,
                  _neg=(wait_raw < 0).fill_null(False),
                  **{f"_k_{k}": v for k, v in keys.items()})
    kcols = [f"_k_{k}" for k in labels]

    # ---------------------------------------------------------------- scalars (one row)
    inside = ev["_agency"] & ~ev["_ho"]
    sc = ev.aggregate(
        n_dossiers=case_key(ev).nunique(where=ev["_scope"]),
        n_events=ev.count(where=ev["_agency"] & ev["_key_ok"]),
        neg=ev.count(where=ev["_agency"] & ev["_key_ok"] & ev["_neg"]),
        no_key=ev.count(where=ev["_agency"] & ~ev["_key_ok"]),
        not_agency=ev.count(where=ev["_scope"] & ~ev["_agency"]),
        total_agency=ev["_held"].sum(where=ev["_agency"]),
        inside_sum=ev["_wait"].sum(where=inside),
        inside_n=ev.count(where=inside),
        wait_sum_all=ev["_wait"].sum(where=ev["_agency"] & ev["_key_ok"]),
    ).to_pandas().iloc[0]
    attrs = {"by": by, "procedure": procedure, "n_events": int(sc["n_events"]),
             "n_dossiers": int(sc["n_dossiers"]),
             "calendar": cal.to_dict(), "ci": float(ci), "n_boot": int(n_boot),
             "negative_waits_clipped": int(sc["neg"]),
             "events_without_key": int(sc["no_key"]),
             "events_not_agency": int(sc["not_agency"]),
             "rules": "agency-owned segments only; wait = previous end -> start (or end)",
             "bootstrap_method": None, "interval_method": "cluster-robust normal (dossier)",
             "engine": getattr(rlog, "backend", None), "relational_notes": RELATIONAL_NOTES}
    cols_out = ["count", "cases", "wait_mean_h", "wait_mean_ci_low", "wait_mean_ci_high",
                "wait_median_h", "wait_p90_h", "proc_mean_h", "total_wait_h", "excess_wait_h",
                "excess_basis", "share_of_agency_time", "share_in_overdue", "trend_per_month",
                "trend_p", "trend_months", "handover_share", "proc_share", "queue_rho", "queue_p",
                "batch_share", "kind", "kind_evidence"]
    if attrs["n_events"] == 0:
        out = pd.DataFrame({lab: pd.Series(dtype=object) for lab in labels})
        for c in cols_out:
            out[c] = pd.Series(dtype=object if c in ("excess_basis", "kind", "kind_evidence")
                               else float)
        out.attrs.update(attrs)
        return out

    sel = ev.filter(ev["_agency"] & ev["_key_ok"])
    # allotment of the step (catalogue) per event, joined from a small Python-built table
    sel, has_allot_col = _with_allotment(rlog, sel, catalog)

    # ---------------------------------------------------------------- per row
    g = sel.group_by(kcols)
    rows = g.aggregate(
        count=sel.count(),
        sum_wait=sel["_wait"].sum(),
        sum_held=sel["_held"].sum(),
        n_proc=sel.count(where=sel["_has_proc"]),
        sum_proc=ibis.greatest(sel["_proc"], 0.0).sum(where=sel["_has_proc"]),
        wait_with_proc=sel["_wait"].sum(where=sel["_has_proc"]),
        ho_w=sel["_wait"].sum(where=sel["_ho"]),
        ho_n=sel.count(where=sel["_ho"]),
        n_allot=(sel.count(where=sel["_allot_h"].notnull()) if has_allot_col else ibis.literal(0)),
        mid=sel.count(where=_dates_only(sel["local_ns"])),
    )
    # dossier clusters: per (row, dossier) count and sum, reduced per row in the database
    pc = sel.group_by(kcols + [case_key(sel).name("_ck")]).aggregate(n_c=sel.count(),
                                                                      s_c=sel["_wait"].sum())
    clus = pc.group_by(kcols).aggregate(
        cases=pc.count(), ss=(pc["s_c"] * pc["s_c"]).sum(),
        sn=(pc["s_c"] * pc["n_c"].cast("float64")).sum(),
        nn=(pc["n_c"].cast("float64") * pc["n_c"].cast("float64")).sum())
    # exact median and p90 per row (quantiles.exact_quantiles: DuckDB's quantile_cont holds
    # every value of a row in memory it cannot spill, "Out of Memory" at 100 M events)
    qdf = exact_quantiles(sel, kcols, sel["_wait"], (0.5, 0.9))
    qdf = qdf.rename(columns={"q0": "median", "q1": "p90"})
    # excess over the allotment (when the catalogue gives one), else over the row's median
    med = _register(rlog.con, qdf[kcols].assign(_med=qdf["median"].to_numpy(np.float64)))
    med = med.select(*[med[k].cast(sel[k].type()).name(k) for k in kcols], med["_med"])
    sx = sel.join(med, kcols)
    if has_allot_col:
        exc = ibis.cases(
            (sx["_allot_h"].notnull(), ibis.greatest(sx["_held"] - sx["_allot_h"], 0.0)),
            else_=ibis.greatest(sx["_wait"] - sx["_med"], 0.0))
    else:
        exc = ibis.greatest(sx["_wait"] - sx["_med"], 0.0)
    excess = sx.group_by(kcols).aggregate(excess=exc.sum())
    res = rows.join(clus, kcols).join(excess, kcols)
    res = res.to_pandas()
    res = res.merge(qdf, on=kcols, how="left", sort=False)
    res = res.rename(columns={f"_k_{k}": k for k in labels})
    R = len(res)

    count = res["count"].to_numpy(dtype=np.int64)
    sum_wait = res["sum_wait"].to_numpy(dtype=np.float64)
    sum_held = res["sum_held"].to_numpy(dtype=np.float64)
    n_proc = res["n_proc"].to_numpy(dtype=np.float64)
    sum_proc = res["sum_proc"].fillna(0.0).to_numpy(dtype=np.float64)
    wwp = res["wait_with_proc"].fillna(0.0).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_wait = sum_wait / count
        proc_mean = np.where(n_proc > 0, sum_proc / np.maximum(n_proc, 1), np.nan)
        proc_share = np.where(n_proc > 0, sum_proc / (sum_proc + wwp), np.nan)
        ho_w = res["ho_w"].fillna(0.0).to_numpy(dtype=np.float64)
        handover_share = np.where(sum_wait > 0, ho_w / sum_wait, 0.0)
    cases = res["cases"].to_numpy(dtype=np.int64)
    lo, hi = cluster_normal_ci(count, sum_wait, cases, res["ss"], res["sn"], res["nn"], ci)
    n_allot = res["n_allot"].to_numpy(dtype=np.int64)
    basis = np.where(n_allot == count, "allotment", np.where(n_allot == 0, "median", "mixed"))
    total_agency = float(sc["total_agency"] or 0.0)
    share_agency = sum_held / total_agency if total_agency > 0 else np.full(R, np.nan)
    inside_n = int(sc["inside_n"])
    ref_wait = (float(sc["inside_sum"] or 0.0) / inside_n if inside_n
                else float(sc["wait_sum_all"] or 0.0) / max(attrs["n_events"], 1))
    attrs["handover_reference_wait_h"] = ref_wait

    out = res[labels].copy()
    out["count"] = count
    out["cases"] = cases
    out["wait_mean_h"] = mean_wait
    out["wait_mean_ci_low"] = lo
    out["wait_mean_ci_high"] = hi
    out["wait_median_h"] = res["median"].to_numpy(dtype=np.float64)
    out["wait_p90_h"] = res["p90"].to_numpy(dtype=np.float64)
    out["proc_mean_h"] = proc_mean
    out["total_wait_h"] = sum_wait
    out["excess_wait_h"] = res["excess"].fillna(0.0).to_numpy(dtype=np.float64)
    out["excess_basis"] = basis
    out["share_of_agency_time"] = share_agency
    out["share_in_overdue"] = _share_in_overdue(rlog, ev, sel, kcols, labels, out, attrs, catalog)
    slope, trend_p, trend_n = _trend(sel, kcols, labels, out)
    out["trend_per_month"] = slope
    out["trend_p"] = trend_p
    out["trend_months"] = trend_n
    out["handover_share"] = handover_share
    out["proc_share"] = proc_share
    qcol = S.RESOURCE if _has(t, S.RESOURCE) else (S.GROUP if _has(t, S.GROUP) else None)
    rho, rho_p = _queue(sel, kcols, labels, out, qcol)
    out["queue_rho"] = rho
    out["queue_p"] = rho_p
    share, ratio, batch_ok = _batch(sel, kcols, labels, out, res["mid"].to_numpy(dtype=np.float64))
    out["batch_share"] = share
    ho_n = res["ho_n"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ho_mean = np.where(ho_n > 0, ho_w / np.maximum(ho_n, 1), np.nan)
        ho_ratio = (ho_mean / ref_wait if ref_wait > 0
                    else np.where(ho_mean > 0, np.inf, np.nan))
    kind, evidence = _kind_hint(rho, rho_p, proc_share, handover_share, ho_ratio, share, ratio,
                                batch_ok)
    out["kind"] = kind
    out["kind_evidence"] = evidence
    if by in ("activity", "transition") and _has(t, S.GROUP):
        out.insert(len(labels), "unit", _modal_unit(sel, kcols, labels, out))
    if sort_by not in out.columns:
        raise ConfigError(f"sort_by must be a column of the result; got {sort_by!r}")
    # ties keep the label order (the pandas engine: its categories' order); one more query,
    # needed only when the sort key has ties
    if out[sort_by].duplicated(keep=False).any():
        base = _label_order(t, by, keys, out)
        out = out.iloc[base].reset_index(drop=True)
    out = out.sort_values(sort_by, ascending=ascending, kind="stable",
                          na_position="last").reset_index(drop=True)
    out.attrs.clear()
    out.attrs.update(attrs)
    return out


def _key_frame(df: pd.DataFrame, labels) -> pd.MultiIndex | pd.Index:
    if len(labels) == 1:
        return pd.Index(df[labels[0]].to_numpy(dtype=object))
    return pd.MultiIndex.from_arrays([df[c].to_numpy(dtype=object) for c in labels])


def _align(small: pd.DataFrame, labels, out: pd.DataFrame) -> np.ndarray:
    """Row position in ``out`` of each row of ``small`` (both carry the label columns)."""
    return _key_frame(out, labels).get_indexer(_key_frame(small, labels))


def _trend(sel, kcols, labels, out):
    """Monthly trend: per (row, local day of the previous event's end) wait sums and counts
    from the database, months from the days in Python, then :func:`linear_trend`."""
    R = len(out)
    d = sel.filter(sel["prev_local_ns"].notnull())
    d = d.mutate(_day=floor_div(d["prev_local_ns"], NS_DAY))
    agg = d.group_by(kcols + ["_day"]).aggregate(ys=d["_wait"].sum(), yc=d.count()).to_pandas()
    if agg.empty:
        return np.full(R, np.nan), np.full(R, np.nan), np.zeros(R, dtype=np.int64)
    agg = agg.rename(columns={f"_k_{k}": k for k in labels})
    r = _align(agg, labels, out)
    month = (agg["_day"].to_numpy(dtype=np.int64).astype("datetime64[D]")
             .astype("datetime64[M]").astype(np.int64))
    m0, m1 = int(month.min()), int(month.max())
    M = m1 - m0 + 1
    mk = r * M + (month - m0)
    ys = np.bincount(mk, weights=agg["ys"].to_numpy(dtype=np.float64), minlength=R * M).reshape(R, M)
    yc = np.bincount(mk, weights=agg["yc"].to_numpy(dtype=np.float64),
                     minlength=R * M).reshape(R, M).astype(np.int64)
    return linear_trend(ys, yc)


def _clumped(sel, kcols, labels, out):
    """Per row: completions (``local_ns``) and arrivals (``prev_local_ns``) in clock minutes
    (local) holding >= 3 of them for the same (row, unit); one query for both."""
    import ibis
    parts = []
    for tag, col in ((0, "local_ns"), (1, "prev_local_ns")):
        d = sel.filter(sel[col].notnull())
        d = d.mutate(_min=floor_div(d[col], NS_MIN))
        m = d.group_by(kcols + ["_unit", "_min"]).aggregate(n=d.count())
        parts.append(m.filter(m["n"] >= 3).mutate(_tag=ibis.literal(tag)))
    m = ibis.union(*parts)
    agg = m.group_by(kcols + ["_tag"]).aggregate(clumped=m["n"].sum()).to_pandas()
    agg = agg.rename(columns={f"_k_{k}": k for k in labels})
    v = np.zeros((2, len(out)))
    for tag in (0, 1):
        a = agg[agg["_tag"] == tag]
        if len(a):
            v[tag, _align(a, labels, out)] = a["clumped"].to_numpy(dtype=np.float64)
    return v[0], v[1]


def _queue(sel, kcols, labels, out, queue_col):
    """Spearman rho / p per row of an event's wait vs the backlog it found when it arrived
    (:func:`tthc_mining.bottlenecks._queue_evidence`), on every event (the pandas engine samples
    rows of more than ``KIND_SAMPLE`` events; below that both use every event).

    Backlog: the number of *other* events of the same (row, officer) — the unit without
    officers — that arrived at or before this one's arrival (the previous event's end) and had
    not yet departed (started, else ended): with a union of arrivals and departures ordered by
    time, ``#arrivals <= t - #departures <= t - 1`` from two running counts over a RANGE frame.
    Ranks are average ranks (``rank() + (ties + 1) / 2``); rho is Pearson on the ranks from
    per-row sums, the p-value the t approximation."""
    import ibis
    from scipy import special

    R = len(out)
    q = sel.mutate(_q=(sel[queue_col].fill_null(NONE) if queue_col else ibis.literal(NONE)),
                   _arr=sel["w_prev_end_ns"],
                   _dep=sel["w_start_ns"].fill_null(sel["w_end_ns"]))
    q = q.filter(q["_arr"].notnull() & q["_dep"].notnull())
    q = q.mutate(_kd=ibis.greatest(q["_dep"], q["_arr"]),
                 _wt=ibis.greatest(q["_dep"] - q["_arr"], 0), _id=q[S.ROW])
    qk = kcols + ["_q"]
    arr = q.select(*qk, _t=q["_arr"], _isa=ibis.literal(1), _id=q["_id"], _wt=q["_wt"])
    dep = q.select(*qk, _t=q["_kd"], _isa=ibis.literal(0), _id=q["_id"],
                   _wt=ibis.null("int64"))
    u = ibis.union(arr, dep, distinct=False)
    w = ibis.range_window(group_by=[u[c] for c in qk], order_by=u["_t"], preceding=None,
                          following=0)
    u = u.mutate(_ca=u["_isa"].sum().over(w), _cd=(1 - u["_isa"]).sum().over(w))
    a = u.filter(u["_isa"] == 1)
    a = a.mutate(_wip=ibis.greatest(a["_ca"] - a["_cd"] - 1, 0))
    kw = [a[c] for c in kcols]
    ties_x = a.count().over(ibis.window(group_by=kw + [a["_wip"]]))
    ties_y = a.count().over(ibis.window(group_by=kw + [a["_wt"]]))
    rx = ibis.rank().over(ibis.window(group_by=kw, order_by=a["_wip"])).cast("float64") \
        + (ties_x.cast("float64") + 1.0) / 2.0
    ry = ibis.rank().over(ibis.window(group_by=kw, order_by=a["_wt"])).cast("float64") \
        + (ties_y.cast("float64") + 1.0) / 2.0
    a = a.mutate(_rx=rx, _ry=ry)
    agg = a.group_by(kcols).aggregate(
        n=a.count(), sx=a["_rx"].sum(), sy=a["_ry"].sum(), sxx=(a["_rx"] * a["_rx"]).sum(),
        syy=(a["_ry"] * a["_ry"]).sum(), sxy=(a["_rx"] * a["_ry"]).sum()).to_pandas()
    agg = agg.rename(columns={f"_k_{k}": k for k in labels})
    rho = np.full(R, np.nan)
    pval = np.full(R, np.nan)
    if agg.empty:
        return rho, pval
    pos = _align(agg, labels, out)
    n = agg["n"].to_numpy(dtype=np.float64)
    sx, sy = agg["sx"].to_numpy(np.float64), agg["sy"].to_numpy(np.float64)
    sxx, syy = agg["sxx"].to_numpy(np.float64), agg["syy"].to_numpy(np.float64)
    sxy = agg["sxy"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        r = cov / np.sqrt(vx * vy)
        dfree = n - 2
        tt = r * np.sqrt(dfree / np.maximum((1 - r) * (1 + r), 1e-300))
        p = 2.0 * special.stdtr(np.maximum(dfree, 1), -np.abs(tt))
    ok = (n >= 10) & (vx > 0) & (vy > 0)
    rho[pos[ok]] = r[ok]
    pval[pos[ok]] = p[ok]
    return rho, pval


def _dates_only(ln):
    """The local time is missing or exactly midnight (a date without a time)."""
    return (ln.isnull() | ((ln - floor_div(ln, NS_DAY) * NS_DAY) == 0)).fill_null(True)


def _batch(sel, kcols, labels, out, midnight_counts):
    """Batching evidence as the pandas engine: share of completions in clumps, its ratio to the
    same share of the arrivals, and whether the row's times are finer than dates."""
    cnt = out["count"].to_numpy(dtype=np.float64)
    midnight = midnight_counts
    done, arrived = _clumped(sel, kcols, labels, out)
    share = done / np.maximum(cnt, 1)
    share_arr = arrived / np.maximum(cnt, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = share / np.maximum(share_arr, 1.0 / np.maximum(cnt, 1))
    ok = (midnight <= 0.5 * cnt) & (cnt >= 10)
    return share, ratio, ok


def _modal_unit(sel, kcols, labels, out):
    """Most frequent unit per row; ties go to the unit seen first in event order (as the
    pandas engine's factorisation)."""
    d = sel.filter(sel["_unit"].notnull())
    a1 = d.group_by(kcols + ["_unit"]).aggregate(n=d.count(), _c0=d[S.CASE].min())
    # first appearance in event order (dossiers in id order, then position in the dossier)
    j = d.join(a1, kcols + ["_unit", d[S.CASE] == a1["_c0"]])
    agg = j.group_by(kcols + ["_unit", "n", "_c0"]).aggregate(first=j["pos"].min())
    agg = agg.to_pandas().rename(columns={f"_k_{k}": k for k in labels})
    res = np.full(len(out), None, dtype=object)
    if agg.empty:
        return res
    agg = agg.sort_values(["n", "_c0", "first"], ascending=[False, True, True], kind="stable")
    agg = agg.drop_duplicates(labels, keep="first")
    res[_align(agg, labels, out)] = agg["_unit"].to_numpy(dtype=object)
    return res


def _share_in_overdue(rlog, ev, sel, kcols, labels, out, attrs, catalog=None):
    """Held time in overdue dossiers over all agency time of overdue dossiers, with the overdue
    flags of the relational timing (:func:`tthc_mining.engines.timing.overdue_cases`) when that
    module provides them; NaN otherwise (``attrs["share_in_overdue"]`` says why)."""
    R = len(out)
    try:
        from .timing import overdue_cases       # H3: an Ibis table (CASE, overdue bool)
    except ImportError:
        attrs["share_in_overdue"] = "not computed: relational timing not available"
        return np.full(R, np.nan)
    ckey = ("h2_overdue", id(catalog) if catalog is not None else id(getattr(rlog, "catalog", None)))
    try:
        od = rlog._cache[ckey] if ckey in rlog._cache else overdue_cases(rlog, catalog=catalog)
    except Exception as exc:  # noqa: BLE001 - the ranking stays usable; the reason is kept
        import warnings
        msg = f"not computed: the relational timing failed ({type(exc).__name__}: {exc})"
        attrs["share_in_overdue"] = msg[:500]
        warnings.warn(f"tm.bottlenecks: share_in_overdue {msg[:200]}", RuntimeWarning,
                      stacklevel=3)
        return np.full(R, np.nan)
    if od is None:
        attrs["share_in_overdue"] = "not computed: no dossier has a statutory budget"
        return np.full(R, np.nan)
    basis = getattr(od, "basis", None)
    odt = od.table if hasattr(od, "table") else od
    odt = odt.select(**{"_od_case": odt[S.CASE], "_od": odt["overdue"]})
    odt = _as_view(rlog, odt, "tthc_h2_overdue")
    rlog._cache[ckey] = od
    e2 = ev.left_join(odt, ev[S.CASE] == odt["_od_case"])
    e2 = e2.mutate(_od=e2["_od"].fill_null(False))
    tot = e2.aggregate(
        tot=e2["_held"].sum(where=e2["_agency"] & e2["_od"]),
        n=e2[S.CASE].nunique(where=e2["_scope"] & e2["_od"])).to_pandas().iloc[0]
    attrs["n_overdue_dossiers"] = int(tot["n"])
    attrs["overdue_basis"] = basis
    s2 = e2.filter(e2["_agency"] & e2["_key_ok"] & e2["_od"])
    agg = s2.group_by(kcols).aggregate(h=s2["_held"].sum()).to_pandas()
    agg = agg.rename(columns={f"_k_{k}": k for k in labels})
    v = np.zeros(R)
    tot_od = float(tot["tot"] or 0.0)
    if tot_od > 0 and len(agg):
        v[_align(agg, labels, out)] = agg["h"].to_numpy(dtype=np.float64) / tot_od
    return v


# ====================================================================== allotments
def _with_allotment(rlog, sel, catalog):
    """Join the allotment (hours) of each event's step in its dossier's internal procedure.

    The catalogue version in force depends on the procedure and the local day of receipt; the
    distinct (procedure, day, step) triples of the selected events (a few thousand) are looked
    up in Python with :meth:`ProcedureCatalog.lookup` and the step names folded as the pandas
    engine does (:func:`tthc_mining.bottlenecks.catalog_plan`), then joined back."""
    import ibis

    cat = catalog if catalog is not None else getattr(rlog, "catalog", None)
    if cat is None or not _has(sel, S.PROCEDURE) or not _has(sel, "received_day"):
        return sel.mutate(_allot_h=ibis.null("float64")), False
    from ..bottlenecks import catalog_steps
    from ..roles import fold
    steps = catalog_steps(cat)
    trip = sel.select(_p=sel[S.PROCEDURE].cast("string"), _d=sel["received_day"],
                      _a=sel[S.ACTIVITY]).distinct().to_pandas()
    if trip.empty:
        return sel.mutate(_allot_h=ibis.null("float64")), False
    procs = getattr(cat, "procedures", None)
    codes = trip["_p"].to_numpy(dtype=object)
    days = trip["_d"].to_numpy(dtype=np.float64)
    if procs is not None and hasattr(cat, "lookup") and "valid_from" in steps.columns:
        version = cat.lookup(codes, days).astype(np.int64)
        vkeys = list(zip(procs["code"].astype(str), procs["valid_from"].astype(str)))
        skey = list(zip(steps["code"].astype(str), steps["valid_from"].astype(str)))
    else:
        uniq = list(dict.fromkeys(steps["code"].astype(str)))
        pos = {c: i for i, c in enumerate(uniq)}
        version = np.array([pos.get(str(c), -1) if c is not None else -1 for c in codes])
        vkeys = [(c, "") for c in uniq]
        skey = [(str(c), "") for c in steps["code"]]
    # allotment per (version, folded step): added up over duplicates, as catalog_plan
    st = pd.DataFrame({"_v": skey, "fold": steps["activity"].map(
        lambda a: fold(str(a)) if pd.notna(a) else None),
        "allot": pd.to_numeric(steps["allotment_days"], errors="coerce")})
    st = st[st["fold"].notna()]
    allot = st.groupby(["_v", "fold"], sort=False)["allot"].sum(min_count=1)
    allot = dict(zip(allot.index.tolist(), allot.to_numpy(dtype=np.float64)))
    afold = trip["_a"].astype(str).map(fold).tolist()
    val = np.array([allot.get((vkeys[v], f), np.nan) if v >= 0 else np.nan
                    for v, f in zip(version.tolist(), afold)], dtype=np.float64)
    val = val * rlog.calendar.seconds_per_day / H
    trip["_allot_h"] = val
    trip = trip[np.isfinite(val)]
    if trip.empty:
        return sel.mutate(_allot_h=ibis.null("float64")), True
    mt = _register(rlog.con, trip[["_p", "_d", "_a", "_allot_h"]].reset_index(drop=True))
    j = sel.left_join(mt, [sel[S.PROCEDURE].cast("string") == mt["_p"],
                           sel["received_day"] == mt["_d"], sel[S.ACTIVITY] == mt["_a"]])
    return j.drop("_p", "_d", "_a"), True


def _register(con, df: pd.DataFrame):
    """A small pandas frame as a temporary table (DuckDB) / temporary view (Spark) of the log's
    connection (:func:`tthc_mining.engines.core._register`)."""
    from .core import _backend_of, _register as reg
    return reg(con, _backend_of(con), df, "tthc_h2_dim")
