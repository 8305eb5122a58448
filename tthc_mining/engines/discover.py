"""``tm.discover`` and ``tm.variants`` on a :class:`~tthc_mining.engines.RelationalLog`.

The same :class:`~tthc_mining.discovery.ProcessMap` tables as the pandas engine (read the
definitions in :mod:`tthc_mining.discovery`), written once with Ibis over the relational segments
(:mod:`tthc_mining.engines.segments`) and executed by DuckDB or Spark; only the aggregates (one
row per transition, step, start/end step, variant) come back to pandas.

* Counts (``count``, ``cases``, ``n_timed``, ``n_wait``, ``n_proc``, start/end counts, variant
  counts) are equal to the pandas engine's; sums and means are float64 sums of the same exact
  per-event durations (equal within ~1e-12 relative: only the order of the additions differs).
* Quantiles are exact with linear interpolation on both backends (numpy's / pandas' default;
  :func:`tthc_mining.engines.quantiles.exact_quantiles`, which spills beyond memory; variants'
  medians too); the pandas engine's are exact to 1.5e-11
  relative (:func:`tthc_mining.discovery.group_stats`).
* ``unit`` (a step's most frequent unit) breaks ties by the unit's first appearance in the
  log's order, as the pandas engine's factorised codes do.
* Variants: each dossier's sequence is the array of ``(pos, activity)`` structs collected,
  sorted and mapped to the names (``collect().sort().map()``: one expression both engines accept;
  ordered aggregates are not available on Spark through Ibis). Ties in the variant ranking go to
  the variant whose first dossier comes first (dossier ids as text), as in the pandas engine.

The segment columns the statistics need are cached by the engine (``Table.cache()``: a
temporary table on DuckDB, a persisted DataFrame on Spark) for the few queries of one call, then
released.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..discovery import check_options
from ..errors import ConfigError
from ..segments import OWNER_AGENCY
from .core import RelationalLog, _ibis, _register
from .quantiles import exact_quantiles
from .segments import case_key, segments

__all__ = ["discover", "variants"]

HOUR = 3600.0


def _quantiles(values: Any) -> Any:
    """[median, p90] of a column, exact with linear interpolation (one sort per group)."""
    return values.quantile([0.5, 0.9])


def _edge_value(seg: Any) -> Any:
    """The duration of a transition: the wait when the event has a start time (clipped at 0),
    else the whole segment."""
    ibis = _ibis()
    return seg["w_start_ns"].notnull().ifelse(ibis.greatest(seg["wait_s"], 0.0), seg["seg_s"])


def _with_quantiles(df: pd.DataFrame, t: Any, keys: list[str], names: list[str], value: Any,
                    out: str) -> pd.DataFrame:
    """``df`` (keyed by ``names``) with column ``out`` = ``(median, p90)`` of ``value`` per
    ``keys`` of ``t`` (:func:`tthc_mining.engines.quantiles.exact_quantiles`: exact, and
    spillable where DuckDB's ``quantile_cont`` holds every value of a group in memory); None
    for groups without a value."""
    q = exact_quantiles(t, keys, value, (0.5, 0.9)).rename(columns=dict(zip(keys, names)))
    q[out] = list(zip(q["q0"], q["q1"]))
    q = q.drop(columns=["q0", "q1"])
    for k in names:   # the same key dtype as df's (integer codes, NULL for none)
        q[k] = q[k].astype(df[k].dtype) if not df[k].isna().any() else q[k]
    m = df.merge(q, on=names, how="left", sort=False)
    m[out] = [v if isinstance(v, tuple) else None for v in m[out]]
    return m


def _q(series: pd.Series, j: int) -> np.ndarray:
    return np.array([np.nan if v is None or (isinstance(v, float) and np.isnan(v))
                     else float(v[j]) for v in series], dtype=np.float64)


def _num(series: pd.Series, fill: float = np.nan) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=fill)


def _group_order(rlog: RelationalLog) -> list[str]:
    """Units in order of first appearance in the log's event order (the pandas engine's
    codes): per unit, the events of its first dossier, sorted in pandas."""
    cached = rlog._cache.get("group_order")
    if cached is not None:
        return cached
    ev = rlog.events
    g = ev.filter(ev[S.GROUP].notnull())
    first = g.group_by(_g=g[S.GROUP]).aggregate(_c0=g[S.CASE].min())
    j = g.join(first, [g[S.GROUP] == first["_g"], g[S.CASE] == first["_c0"]])
    df = j.select(g=j[S.GROUP], c=j[S.CASE], t=j[S.TIMESTAMP], r=j[S.ROW]).to_pandas()
    df = df.sort_values(["c", "t", "r"], kind="stable")
    order = [str(u) for u in pd.unique(df["g"])]
    rlog._cache["group_order"] = order
    return order


def _dominant_units(rlog: RelationalLog, seg: Any, root: RelationalLog) -> dict[str, Any]:
    """activity -> most frequent unit (ties: the unit that appears first in the log)."""
    f = seg.filter(seg[S.GROUP].notnull())
    pairs = f.group_by(a=f[S.ACTIVITY], g=f[S.GROUP]).aggregate(n=f.count()).to_pandas()
    if pairs.empty:
        return {}
    pairs["top"] = pairs.groupby("a")["n"].transform("max")
    best = pairs.loc[pairs["n"] == pairs["top"]]
    if best.duplicated("a").any():  # a tie: the first unit in the log's order wins
        rank = {u: i for i, u in enumerate(_group_order(root))}
        best = best.assign(_r=best["g"].map(lambda u: rank.get(str(u), len(rank))))
        best = best.sort_values(["a", "_r"], kind="stable").drop_duplicates("a")
    return dict(zip(best["a"], best["g"]))


# ====================================================================== variants
def _activity_codes(rlog: RelationalLog) -> tuple[Any, list[str]]:
    """A small table activity -> int code (``_an``, ``_ac``) and the names by code."""
    names = [str(a) for a in rlog.roles["activity"]]
    key = ("activity_codes", len(names))
    if key not in rlog._cache:
        rlog._cache[key] = _register(rlog.con, rlog.backend,
                                     pd.DataFrame({"_an": names, "_ac": np.arange(len(names), dtype=np.int64)}),
                                     "tthc_activity_codes")
    return rlog._cache[key], names


def _case_sequences(rlog: RelationalLog, seg: Any) -> Any:
    """One row per dossier: ``seq`` (array of activity codes in the log's order), ``n``
    (events), ``agency_s`` / ``total_s`` (working seconds held by the agency / in all)."""
    ibis = _ibis()
    dim, _ = _activity_codes(rlog)
    j = seg.join(dim, seg[S.ACTIVITY] == dim["_an"])
    agency = (j["owner"] == OWNER_AGENCY).ifelse(j["seg_s"].fill_null(0.0), 0.0)
    return j.group_by(j[S.CASE]).aggregate(
        seq=ibis.struct({"p": j["pos"], "a": j["_ac"]}).collect().sort().map(lambda s: s.a),
        n=j.count(),
        agency_s=agency.sum(),
        total_s=j["seg_s"].fill_null(0.0).sum())


def _variant_table(cases: Any) -> Any:
    """One row per variant: ``seq``, ``count``, ``first`` (first dossier id), ``rank``
    (0 = most frequent; ties: first dossier first). The medians come from
    :func:`_variant_medians`."""
    ibis = _ibis()
    v = cases.group_by("seq").aggregate(count=cases.count(), first=cases[S.CASE].min())
    w = ibis.window(order_by=[ibis.desc(v["count"]), v["first"]])
    return v.mutate(rank=ibis.row_number().over(w))


def _variant_medians(cases: Any, vt: Any, top: int | None) -> pd.DataFrame:
    """``rank``, ``med_agency``, ``med_total``: the medians of the dossiers' agency / total
    seconds per variant (of the ``top`` first when given), exact with linear interpolation
    (:func:`tthc_mining.engines.quantiles.exact_quantiles`: a GROUP BY that spills, where
    ``quantile`` keeps every value of a variant in memory)."""
    sel = vt.select("seq", "rank")
    if top is not None:
        sel = sel.filter(sel["rank"] < int(top))
    j = cases.join(sel, "seq")
    a = exact_quantiles(j, ["rank"], j["agency_s"], (0.5,)).rename(columns={"q0": "med_agency"})
    t = exact_quantiles(j, ["rank"], j["total_s"], (0.5,)).rename(columns={"q0": "med_total"})
    return a.merge(t, on="rank", how="outer")


def variants(rlog: RelationalLog, *, procedure: str | None = None, top: int | None = None,
             case_ids: bool = False) -> pd.DataFrame:
    """:func:`tthc_mining.discovery.variants` on a relational log (same columns and order)."""
    if procedure is not None:
        rlog = rlog.filter(procedure=procedure)
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer))
                            or top < 1):
        raise ConfigError(f"top must be a positive integer, got {top!r}")
    seg = segments(rlog)
    _, names = _activity_codes(rlog)
    with _case_sequences(rlog, seg).cache() as cases:
        vt = _variant_table(cases)
        # the totals ride along as window aggregates over all variants (one query)
        vt = vt.mutate(_n_cases=vt["count"].sum().over(), _n_var=vt.count().over())
        sel = vt if top is None else vt.filter(vt["rank"] < int(top))
        if case_ids:
            ids = cases.group_by("seq").aggregate(ids=cases[S.CASE].collect().sort())
            sel = sel.join(ids, "seq")
        df = sel.order_by("rank").to_pandas()
        if len(df):
            med = _variant_medians(cases, vt, top)
            med["rank"] = med["rank"].astype(np.int64)
            df = df.merge(med, on="rank", how="left")
            n_cases, n_var = int(df["_n_cases"].iloc[0]), int(df["_n_var"].iloc[0])
        else:
            n_cases = n_var = 0
            df["med_agency"] = df["med_total"] = pd.Series(dtype=np.float64)
    spd = rlog.calendar.seconds_per_day
    seqs = [tuple(names[int(a)] for a in s) for s in df["seq"]]
    counts = df["count"].to_numpy(np.int64)
    share = counts / n_cases if n_cases else np.zeros(len(df))
    out = pd.DataFrame({
        "variant": np.arange(1, len(df) + 1, dtype=np.int64),
        "sequence": pd.Series(seqs, dtype=object),
        "label": pd.Series([" → ".join(s) for s in seqs], dtype=object),
        "length": np.array([len(s) for s in seqs], dtype=np.int64),
        "count": counts,
        "share": share,
        "cum_share": np.cumsum(share),
        "median_agency_days": _num(df["med_agency"]) / spd,
        "median_total_days": _num(df["med_total"]) / spd,
    })
    if case_ids:
        out["case_ids"] = pd.Series([[str(c) for c in x] for x in df["ids"]], dtype=object)
    out.attrs.update({"n_cases": n_cases, "n_variants": n_var})
    return out


# ====================================================================== the process map
def discover(rlog: RelationalLog, *, procedure: str | None = None, min_share: float = 0.0,
             top_variants: int | None = None):
    """:func:`tthc_mining.discovery.discover` on a relational log: the same
    :class:`~tthc_mining.discovery.ProcessMap` (module docstring for the exactness)."""
    min_share = check_options(min_share, top_variants)
    root = rlog
    if procedure is not None:
        rlog = rlog.filter(procedure=procedure)
    seg = segments(rlog)
    hidden: dict[str, Any] = {}
    filters = {"procedure": procedure, "min_share": min_share, "top_variants": top_variants}
    released = []   # engine-side caches of this call, released at the end
    try:
        return _discover(rlog, root, seg, procedure, min_share, top_variants, hidden, filters,
                         released)
    finally:
        for c in released:
            c.release()


def _discover(rlog, root, seg, procedure, min_share, top_variants, hidden, filters, released):
    ibis = _ibis()
    from ..discovery import ProcessMap
    if top_variants is not None:
        cases = _case_sequences(rlog, seg).cache()
        released.append(cases)
        vt = _variant_table(cases)
        kept = cases.join(vt.filter(vt["rank"] < int(top_variants)).select("seq"), "seq")
        kept = kept.select(_kc=kept[S.CASE])
        tot = cases.aggregate(n_cases=cases.count(), n_events=cases["n"].sum(),
                              n_var=cases["seq"].nunique()).to_pandas().iloc[0]
        n_var = int(tot["n_var"])
        seg = seg.semi_join(kept, seg[S.CASE] == kept["_kc"])
    has_group = S.GROUP in seg.columns
    # integer keys in the slim table (the only columns read below): activity codes from a small
    # table (joined), the dossier's integer key when the segments have one (segments.case_key);
    # names come back in pandas. Every hash table and sort run that spills is then a few
    # numbers per event instead of text.
    dim, code_names = _activity_codes(root)
    da = dim.select(_an_a=dim["_an"], _ac_a=dim["_ac"])
    dp = dim.select(_an_p=dim["_an"], _ac_p=dim["_ac"])
    j = seg.left_join(da, seg[S.ACTIVITY] == da["_an_a"])
    j = j.left_join(dp, j["prev_activity"] == dp["_an_p"])
    slim = j.select(
        c=case_key(j), a=j["_ac_a"], p=j["_ac_p"], first=j["is_first"],
        last=j["is_last"], e=_edge_value(j), w=j["wait_s"], pr=j["proc_s"])
    with slim.cache() as t:
        tr = t.filter(~t["first"])
        edges = tr.group_by(source=tr["p"], target=tr["a"]).aggregate(
            count=tr.count(), cases=tr["c"].nunique(), n_timed=tr["e"].count(),
            sum_s=tr["e"].sum()).to_pandas()
        edges = _with_quantiles(edges, tr, ["p", "a"], ["source", "target"], tr["e"], "q")
        acts = t.group_by(activity=t["a"]).aggregate(
            count=t.count(), cases=t["c"].nunique(),
            n_wait=t["w"].count(), wait_sum=t["w"].sum(),
            n_proc=t["pr"].count(), proc_sum=t["pr"].sum(),
            n_first=t["first"].cast("int64").sum(),
            n_last=t["last"].cast("int64").sum()).to_pandas()
        acts = _with_quantiles(acts, t, ["a"], ["activity"], t["w"], "wait_q")
        acts = _with_quantiles(acts, t, ["a"], ["activity"], t["pr"], "proc_q")
    names_arr = np.asarray(code_names + [None], dtype=object)

    def decode(col: pd.Series) -> np.ndarray:
        c = col.to_numpy(dtype=np.float64, na_value=np.nan)
        idx = np.where(np.isnan(c), len(code_names), c).astype(np.int64)
        return names_arr[idx]

    edges["source"], edges["target"] = decode(edges["source"]), decode(edges["target"])
    acts["activity"] = decode(acts["activity"])
    ends = acts[["activity", "n_first", "n_last"]]
    units = _dominant_units(rlog, seg, root) if has_group else None

    # ---------------------------------------------------------------- edges
    counts = edges["count"].to_numpy(np.int64)
    n_trans = int(counts.sum())
    n_timed = edges["n_timed"].to_numpy(np.int64)
    sum_s = _num(edges["sum_s"], 0.0)
    mean = np.full(len(edges), np.nan)
    ok = n_timed > 0
    mean[ok] = sum_s[ok] / n_timed[ok]
    dfg = pd.DataFrame({
        "source": pd.Series(edges["source"].astype(object).to_numpy(), dtype=object),
        "target": pd.Series(edges["target"].astype(object).to_numpy(), dtype=object),
        "count": counts,
        "cases": edges["cases"].to_numpy(np.int64),
        "share": counts / n_trans if n_trans else np.zeros(len(edges)),
        "n_timed": n_timed,
        "mean_h": mean / HOUR,
        "median_h": _q(edges["q"], 0) / HOUR,
        "p90_h": _q(edges["q"], 1) / HOUR,
        "sum_h": sum_s / HOUR,
    })
    dfg = dfg.sort_values(["source", "target"], kind="stable").reset_index(drop=True)
    if min_share > 0 and len(dfg):
        low = dfg["share"].to_numpy() < min_share
        hidden.update(min_share=min_share, edges=int(low.sum()),
                      transitions=int(dfg["count"].to_numpy()[low].sum()),
                      transition_share=float(dfg["count"].to_numpy()[low].sum() / n_trans)
                      if n_trans else 0.0)
        dfg = dfg.loc[~low]
    elif min_share > 0:
        hidden.update(min_share=min_share, edges=0, transitions=0, transition_share=0.0)
    dfg = dfg.sort_values(["count", "source", "target"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- activities
    def stats(n_col: str, sum_col: str, q_col: str) -> dict[str, np.ndarray]:
        n = acts[n_col].to_numpy(np.int64)
        s = _num(acts[sum_col], 0.0)
        m = np.full(len(acts), np.nan)
        has = n > 0
        m[has] = s[has] / n[has]
        return {"n": n, "sum": s, "mean": m, "q50": _q(acts[q_col], 0), "q90": _q(acts[q_col], 1)}

    w, p = stats("n_wait", "wait_sum", "wait_q"), stats("n_proc", "proc_sum", "proc_q")
    names = acts["activity"].astype(object).to_numpy()
    act_df = pd.DataFrame({
        "activity": pd.Series(names, dtype=object),
        "count": acts["count"].to_numpy(np.int64), "cases": acts["cases"].to_numpy(np.int64),
        "n_wait": w["n"], "wait_mean_h": w["mean"] / HOUR, "wait_median_h": w["q50"] / HOUR,
        "wait_p90_h": w["q90"] / HOUR, "wait_sum_h": w["sum"] / HOUR,
        "n_proc": p["n"], "proc_mean_h": p["mean"] / HOUR, "proc_median_h": p["q50"] / HOUR,
        "proc_p90_h": p["q90"] / HOUR, "proc_sum_h": p["sum"] / HOUR,
    })
    if units is not None:
        act_df["unit"] = pd.Series([units.get(a) for a in names], dtype=object)
    act_df = act_df.sort_values(["count", "activity"], ascending=[False, True],
                                kind="stable").reset_index(drop=True)
    n_events = int(act_df["count"].sum())

    # ---------------------------------------------------------------- start / end
    n_cases = int(ends["n_first"].sum())

    def end_frame(col: str) -> pd.DataFrame:
        sub = ends.loc[ends[col] > 0]
        c = sub[col].to_numpy(np.int64)
        df = pd.DataFrame({"activity": pd.Series(sub["activity"].astype(object).to_numpy(), dtype=object),
                           "count": c, "share": c / n_cases if n_cases else np.zeros(len(c))})
        return df.sort_values(["count", "activity"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)

    if top_variants is not None:  # first in the dict, as the pandas engine writes it
        hidden = {"top_variants": int(top_variants),
                  "variants": int(max(n_var - int(top_variants), 0)),
                  "cases": int(tot["n_cases"]) - n_cases,
                  "events": int(tot["n_events"]) - n_events, **hidden}
    return ProcessMap(dfg=dfg, activities=act_df, start_activities=end_frame("n_first"),
                      end_activities=end_frame("n_last"), hidden=hidden,
                      calendar=rlog.calendar.to_dict(), n_cases=n_cases, n_events=n_events,
                      n_transitions=n_trans, procedure=procedure, source=str(rlog.source),
                      filters=filters, _log=rlog)
