"""``tm.rework`` on a :class:`~tthc_mining.engines.RelationalLog` (DuckDB, Spark).

The rework counts and loops of :func:`tthc_mining.rework.rework` (definitions in
:mod:`tthc_mining.rework.detect`) written once with Ibis over the relational segments table
(:mod:`tthc_mining.engines.segments`), executed by the log's backend:

* edeaR self-loops and repetitions, split into *repeat* (one resource) and *redo* (several);
* re-executions (every execution of a step after its first in the dossier) by the same / another
  / an unknown officer, and immediate re-executions (self-loop events) by the same / another
  officer — window functions over each dossier's runs and each step's occurrences;
* supplement requests (citizen supplement rounds);
* back-edges: transitions against the procedure's normal order (learned from the log: median,
  then mean, of each step's first position, per procedure; or the catalogue's ``step_order``);
* ping-pong between units (returns to a unit after a detour that is rework and holds no
  supplement event, counted without overlap) on the sequence of unit visits;
* the **loops** (loops back to an earlier step and supplement loops): the chronological loop
  erasure by the pandas engine's fixed-point iteration, one materialised round at a time on the
  executions of steps done more than once (see :func:`_loops`), priced in working time by who
  held the dossier, with their kind, trigger and closing step.

Counts equal the pandas engine's exactly and hours within 1e-9 relative. Tables: ``by_case`` (one
row per dossier, every column of the pandas engine's, materialised on first access;
``by_case_table`` is the Ibis expression, for logs whose dossiers do not fit in memory),
``by_activity`` (every column, same row order), ``back_edges``, ``order``, ``summary`` (the rates
with their Wilson intervals exactly as the pandas engine; the means per dossier with a **normal**
interval from the per-scope n, sum and sum of squares instead of the pandas engine's dossier
bootstrap) and :meth:`RelationalReworkReport.rework_cases_per_activity` (pm4py's
``get_rework_cases_per_activity``).

Not computed relationally (``params["not_computed"]``): the per-loop ``loops`` table and the
``patterns`` (fragment texts), ``triggers``, the hidden clock (``clock``, ``clock_cases``, the
summary's overdue attribution and hidden-clock rates), ``cycles`` / ``sccs`` and the ping-pong
unit-pair table.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..stats import z_value
from .bottlenecks import _as_view, _segments
from .quantiles import exact_quantiles
from .segments import CASE_KEY, case_key

__all__ = ["rework", "RelationalReworkReport"]

NONE = "\u0000<none>"          # stands for a missing officer / unit in equality tests
UNKNOWN_PROC = "(unknown)"

#: integer columns of ``by_case`` (after the dossier id and procedure), the pandas engine's order
BY_CASE_COLUMNS = ["n_events", "n_loops", "loops_supplement", "loops_selfloop",
                   "loops_cross_unit", "loops_same_unit", "selfloops_repeat", "selfloops_redo",
                   "repetitions_repeat", "repetitions_redo", "reexec_same_officer",
                   "reexec_other_officer", "reexec_unknown_officer", "selfloop_same_officer",
                   "selfloop_other_officer", "n_supplement", "n_pingpong", "n_back_edges",
                   "extra_steps", "extra_handovers"]
#: working hours inside loops per dossier
BY_CASE_HOURS = ["rework_agency_h", "rework_citizen_h", "rework_third_party_h"]
BY_ACTIVITY_COLUMNS = ["activity", "n_events", "n_cases", "cases_with_repeat",
                       "selfloops_repeat", "selfloops_redo", "repetitions_repeat",
                       "repetitions_redo", "reexec_events", "reexec_same_officer",
                       "reexec_other_officer", "loops_closed", "loops_triggered",
                       "rework_agency_h_triggered", "rework_citizen_h_triggered",
                       "back_edges_out", "back_edges_in", "repeat_case_share"]
_BY_ACTIVITY_FLOAT = ("rework_agency_h_triggered", "rework_citizen_h_triggered",
                      "repeat_case_share")
NOT_COMPUTED = ("loops", "patterns", "triggers", "clock", "clock_cases", "cycles", "sccs",
                "pingpong", "summary: share_overdue_actual and the overdue attribution, the "
                "hidden-clock rates")


def _has(t, c) -> bool:
    return c in t.columns


# ====================================================================== event-level flags
#: text columns that the coded path of :func:`_events` carries as integer codes, and the
#: dictionary each one uses
_CODED = {S.ACTIVITY: S.ACTIVITY, "prev_activity": S.ACTIVITY, S.GROUP: S.GROUP,
          S.RESOURCE: S.RESOURCE, S.ROLE: S.ROLE, S.PROCEDURE: S.PROCEDURE}


def _text_dims(rlog, t) -> dict:
    """DuckDB: one small table per text column (``_v`` value, ``_k`` code 0.., plus
    ``(NONE, -1)``) from the column's distinct values."""
    from .core import _register as reg
    dims = {}
    for c in set(_CODED.values()):
        vals = [v for v in t.select(v=t[c].cast("string")).distinct().to_pyarrow()
                .column("v").to_pylist() if v is not None]
        df = pd.DataFrame({"_v": pd.Series(vals + [NONE], dtype=object),
                           "_k": np.r_[np.arange(len(vals)), -1].astype(np.int64)})
        dims[c] = reg(rlog.con, rlog.backend, df, "tthc_rw_codes")
    return dims


def _coded_windows(rlog, t):
    """The window columns of :func:`_events` computed on integer codes of the text columns
    (DuckDB): both window sorts (by dossier, by dossier and step) then carry a few numbers per
    event instead of every text column (the largest spill of ``tm.rework`` at 100 M events);
    the text comes back by joins with the small dictionaries afterwards. Same values as the
    text path: codes are one-to-one, NULL stays NULL, -1 stands for :data:`NONE`."""
    import ibis

    dims = _text_dims(rlog, t)
    for c, dc in _CODED.items():
        d = dims[dc].filter(dims[dc]["_k"] >= 0)
        d = d.select(**{"_ev": d["_v"], "_ek": d["_k"]})
        t = t.left_join(d, t[c].cast("string") == d["_ev"])
        t = t.mutate(**{c: t["_ek"]}).drop("_ev", "_ek")
    w_case = ibis.window(group_by=S.CASE, order_by="pos")
    w_cum = ibis.cumulative_window(group_by=S.CASE, order_by="pos")
    w_pair = ibis.window(group_by=[S.CASE, S.ACTIVITY], order_by="pos")
    e = t.mutate(
        _run_start=(t["is_first"] | (t[S.ACTIVITY] != t["prev_activity"])).fill_null(True))
    e = e.mutate(
        _res_prev=e[S.RESOURCE].fill_null(-1).lag().over(w_case),
        _res_raw_prev=e[S.RESOURCE].lag().over(w_case),
        _unit_prev=e[S.GROUP].fill_null(-1).lag().over(w_case),
        _occ=ibis.row_number().over(w_pair),
        _exec_res_prev=e[S.RESOURCE].lag().over(w_pair),
        _run_id=e["_run_start"].cast("int64").sum().over(w_cum))
    back = {**_CODED, "_res_prev": S.RESOURCE, "_res_raw_prev": S.RESOURCE,
            "_unit_prev": S.GROUP, "_exec_res_prev": S.RESOURCE}
    for c, dc in back.items():
        d = dims[dc].select(**{"_dk": dims[dc]["_k"], "_dv": dims[dc]["_v"]})
        e = e.left_join(d, e[c] == d["_dk"])
        e = e.mutate(**{c: e["_dv"]}).drop("_dk", "_dv")
    res_raw = e[S.RESOURCE]
    proc = e[S.PROCEDURE].fill_null(UNKNOWN_PROC)
    return e.mutate(
        _res_raw=res_raw, _res=res_raw.fill_null(NONE), _unit_raw=e[S.GROUP], _role=e[S.ROLE],
        _proc=proc,
        _is_request=(e[S.ROLE] == S.ROLE_SUPPLEMENT_REQUEST).fill_null(False),
        _is_received=(e[S.ROLE] == S.ROLE_SUPPLEMENT_RECEIVED).fill_null(False))


def _events(t, order_tbl, rlog=None):
    """Per-event flags (one Ibis expression; window functions by dossier and by step)."""
    import ibis

    if (rlog is not None and getattr(rlog, "backend", None) == "duckdb"
            and all(_has(t, c) for c in _CODED)):
        return _flags(_coded_windows(rlog, t), order_tbl)
    w_case = ibis.window(group_by=S.CASE, order_by="pos")
    w_cum = ibis.cumulative_window(group_by=S.CASE, order_by="pos")
    w_pair = ibis.window(group_by=[S.CASE, S.ACTIVITY], order_by="pos")
    has_res = _has(t, S.RESOURCE)
    res_raw = t[S.RESOURCE] if has_res else ibis.null("string")
    res = res_raw.fill_null(NONE) if has_res else ibis.literal(NONE)
    unit_raw = t[S.GROUP] if _has(t, S.GROUP) else ibis.null("string")
    role = t[S.ROLE] if _has(t, S.ROLE) else ibis.null("string")
    proc = (t[S.PROCEDURE].cast("string").fill_null(UNKNOWN_PROC) if _has(t, S.PROCEDURE)
            else ibis.literal("(all)"))
    e = t.mutate(
        _res_raw=res_raw, _res=res, _unit_raw=unit_raw, _role=role, _proc=proc,
        _run_start=(t["is_first"] | (t[S.ACTIVITY] != t["prev_activity"])).fill_null(True),
    )
    e = e.mutate(
        _res_prev=e["_res"].lag().over(w_case),
        _res_raw_prev=e["_res_raw"].lag().over(w_case),
        _unit_prev=e["_unit_raw"].fill_null(NONE).lag().over(w_case),
        _occ=ibis.row_number().over(w_pair),
        _exec_res_prev=e["_res_raw"].lag().over(w_pair),
        _run_id=e["_run_start"].cast("int64").sum().over(w_cum),
        _is_request=(e["_role"] == S.ROLE_SUPPLEMENT_REQUEST).fill_null(False),
        _is_received=(e["_role"] == S.ROLE_SUPPLEMENT_RECEIVED).fill_null(False),
    )
    return _flags(e, order_tbl)


def _flags(e, order_tbl):
    """The flags of :func:`_events` computed from its window columns (no window)."""
    both = e["_res_raw"].notnull() & e["_exec_res_prev"].notnull()
    sl = ~e["is_first"] & (e[S.ACTIVITY] == e["prev_activity"]).fill_null(False)
    known = e["_res_raw"].notnull() & e["_res_raw_prev"].notnull()
    e = e.mutate(
        _reexec=e["_occ"] > 0,
        _reexec_same=(e["_occ"] > 0) & both & (e["_res_raw"] == e["_exec_res_prev"]).fill_null(False),
        _reexec_other=(e["_occ"] > 0) & both & (e["_res_raw"] != e["_exec_res_prev"]).fill_null(False),
        _reexec_unknown=(e["_occ"] > 0) & ~both,
        _sl_same=sl & known & (e["_res_raw"] == e["_res_raw_prev"]).fill_null(False),
        _sl_other=sl & known & (e["_res_raw"] != e["_res_raw_prev"]).fill_null(False),
        # a continuation of a run whose officer differs from the event before (missing = a value)
        _cont_diff=~e["_run_start"] & (e["_res"] != e["_res_prev"]).fill_null(False),
    )
    # back-edges: the order of the step against the order of the previous step (same procedure)
    o_dst = order_tbl.select(_od_p=order_tbl["procedure"], _od_a=order_tbl["activity"],
                             _o_dst=order_tbl["order"])
    o_src = order_tbl.select(_os_p=order_tbl["procedure"], _os_a=order_tbl["activity"],
                             _o_src=order_tbl["order"])
    e = e.left_join(o_dst, [e["_proc"] == o_dst["_od_p"], e[S.ACTIVITY] == o_dst["_od_a"]])
    e = e.left_join(o_src, [e["_proc"] == o_src["_os_p"], e["prev_activity"] == o_src["_os_a"]])
    e = e.drop("_od_p", "_od_a", "_os_p", "_os_a")
    e = e.mutate(_back=(~e["is_first"] & (e["_o_dst"] < e["_o_src"])).fill_null(False))
    return e


def _runs(e):
    """edeaR self-loops: runs of one step; *redo* when the officer changes inside the run."""
    import ibis
    r = e.group_by([S.CASE, "_run_id"]).aggregate(
        _act=e[S.ACTIVITY].arbitrary(), _len=e.count(),
        _several=e.count(where=e["_cont_diff"]) > 0)
    r = r.filter(r["_len"] > 1)
    return r.mutate(_repeat=ibis.ifelse(r["_several"], 0, 1), _redo=ibis.ifelse(r["_several"], 1, 0))


def _pairs(e):
    """(dossier, step) pairs: executions, runs, and whether several officers did them."""
    import ibis
    p = e.group_by([S.CASE, S.ACTIVITY]).aggregate(
        _n=e.count(), _runs=e.count(where=e["_run_start"]), _nres=e["_res"].nunique())
    multi = p["_runs"] > 1
    several = p["_nres"] > 1
    return p.mutate(_rep_repeat=ibis.ifelse(multi & ~several, 1, 0),
                    _rep_redo=ibis.ifelse(multi & several, 1, 0))


def _pingpong(e):
    """Ping-pong returns per dossier on the sequence of unit visits (see
    :func:`tthc_mining.rework.detect.pingpong`)."""
    import ibis

    if not _has(e, S.GROUP):
        return None
    w_case = ibis.window(group_by=S.CASE, order_by="pos")
    w_cum = ibis.cumulative_window(group_by=S.CASE, order_by="pos")
    u = e["_unit_raw"].fill_null(NONE)
    v = e.mutate(_vstart=(e["is_first"] | (u != e["_unit_prev"])).fill_null(True), _u=u)
    v = v.mutate(_vid=v["_vstart"].cast("int64").sum().over(w_cum))
    vis = v.group_by([S.CASE, "_vid"]).aggregate(
        _V=v["_u"].arbitrary(),
        _sup=v.count(where=v["_is_request"] | v["_is_received"]) > 0,
        _rw=v.count(where=v["_vstart"] & (v["_reexec"] | v["_back"])) > 0)
    wv = ibis.window(group_by=S.CASE, order_by="_vid")
    vis = vis.mutate(_V1=vis["_V"].lag(1).over(wv), _V2=vis["_V"].lag(2).over(wv),
                     _sup1=vis["_sup"].lag(1).over(wv))
    alt = ((vis["_V"] == vis["_V2"]) & (vis["_V"] != NONE) & (vis["_V1"] != NONE)
           & vis["_rw"] & ~vis["_sup1"]).fill_null(False)
    vis = vis.mutate(_alt=alt)
    w_vcum = ibis.cumulative_window(group_by=S.CASE, order_by="_vid")
    vis = vis.mutate(_brk=(~vis["_alt"]).cast("int64").sum().over(w_vcum))
    w_run = ibis.window(group_by=[S.CASE, "_brk"])
    vis = vis.mutate(_k=vis["_vid"] - vis["_vid"].min().over(w_run) - 1)
    keep = vis.filter(vis["_alt"] & ((vis["_k"] % 2) == 0))
    return keep.group_by(S.CASE).aggregate(n_pingpong=keep.count())


def _first_seen_dims(t, dims: dict) -> dict:
    """``{name: labels in order of first appearance}`` (dossiers in id order, then position)
    of several label columns in one query (see :func:`tthc_mining.engines.bottlenecks.first_seen`)."""
    import ibis
    parts = []
    for name, expr in dims.items():
        d = t.select(_dim=ibis.literal(name), _v=expr.cast("string"), _c=t[S.CASE], _p=t["pos"])
        parts.append(d.filter(d["_v"].notnull()))
    u = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    a1 = u.group_by(["_dim", "_v"]).aggregate(_c0=u["_c"].min())
    j = u.join(a1, ["_dim", "_v", u["_c"] == a1["_c0"]])
    fs = j.group_by(["_dim", "_v", "_c0"]).aggregate(_p0=j["_p"].min()).to_pandas()
    fs = fs.sort_values(["_c0", "_p0"], kind="stable")
    return {name: fs.loc[fs["_dim"] == name, "_v"].astype(str).to_numpy(dtype=object)
            for name in dims}


# ====================================================================== loops
KIND_NAMES = ("supplement", "selfloop", "cross_unit", "same_unit")
KIND_COLUMNS = {0: "loops_supplement", 1: "loops_selfloop", 2: "loops_cross_unit",
                3: "loops_same_unit"}
_BIG = 1 << 62


def _materialize(rlog, expr, prefix: str):
    """A small intermediate result as a table of the engine (DuckDB: a temporary table; Spark:
    a local checkpoint, which also cuts the lineage), so that the next round of an iteration
    does not recompute it."""
    import uuid
    if getattr(rlog, "backend", None) == "spark":
        from .bottlenecks import spark_checkpoint
        return spark_checkpoint(rlog, expr, prefix)
    return rlog.con.create_table(f"{prefix}_{uuid.uuid4().hex[:10]}", expr, temp=True)


def _loops(rlog, e, max_rounds: int = 100):
    """The priced loops of :func:`tthc_mining.rework.detect.price_loops`, relationally.

    Chronological loop erasure by the same fixed-point iteration as the pandas engine, on the
    executions of steps done more than once in a dossier (a small share of the events),
    materialised once per round: ``anchor(t)`` = the latest non-closing execution of t's step
    before t (a window maximum), ``closing(t)`` = t re-executes a step and no closing s with
    ``anchor(t) < s < t`` has ``anchor(s) < anchor(t)`` (an anti-join of the re-executions with
    themselves within the dossier); rounds stop when the closings repeat. A non-closing event is
    erased by the first closing after it whose anchor is before it. Supplement requests outside
    every erased loop form their own loop up to the receipt of the supplement (or the dossier's
    last event, or the event before the next erased one); a request before the previous one's
    end belongs to it. Returns an Ibis table, one row per loop: ``case, end_pos, kind,
    closing_activity, trigger_activity, n_events, handovers, agency_s, citizen_s, third_s``."""
    import ibis

    C = S.CASE
    pc = e.group_by([C, S.ACTIVITY]).aggregate(_npair=e.count())
    pc = pc.filter(pc["_npair"] > 1)
    m = e.join(pc, [C, S.ACTIVITY]).select(C, S.ACTIVITY, "pos", "_occ")
    m = m.mutate(_re=m["_occ"] > 0, _cl=m["_occ"] > 0)
    m = _materialize(rlog, m, "tthc_h2_erase")
    wp = ibis.window(group_by=[m[C], m[S.ACTIVITY]], order_by=m["pos"], rows=(None, -1))
    final = None
    for _ in range(max_rounds):
        wp = ibis.window(group_by=[m[C], m[S.ACTIVITY]], order_by=m["pos"], rows=(None, -1))
        a = m.mutate(_anc=ibis.ifelse(m["_cl"], ibis.null("int64"), m["pos"].cast("int64"))
                     .max().over(wp))
        r = a.filter(a["_re"])
        s_ = r.filter(r["_cl"]).select(_sc=r[C], _sp=r["pos"], _sa=r["_anc"])
        blk = r.join(s_, [r[C] == s_["_sc"], s_["_sp"] > r["_anc"], s_["_sp"] < r["pos"],
                          s_["_sa"] < r["_anc"]]).select(_bc=r[C], _bp=r["pos"]).distinct()
        nx = a.left_join(blk, [a[C] == blk["_bc"], a["pos"] == blk["_bp"]])
        nx = nx.mutate(_new=nx["_re"] & nx["_bc"].isnull()).drop("_bc", "_bp")
        nx = _materialize(rlog, nx, "tthc_h2_erase")
        changed = nx.filter(nx["_new"] != nx["_cl"]).count().to_pyarrow().as_py()
        if not changed:
            final = nx
            break
        m = _materialize(rlog, nx.select(C, S.ACTIVITY, "pos", "_occ", "_re", _cl=nx["_new"]),
                         "tthc_h2_erase")
    if final is None:  # pragma: no cover - the recursion is well founded
        raise RuntimeError("loop erasure did not converge")
    cl = final.filter(final["_cl"]).select(_lc=final[C], _lend=final["pos"],
                                           _lanc=final["_anc"])
    # erased events: the first closing after the event whose anchor is before it
    x = e.select(_xc=e[C], _xp=e["pos"])
    clv = cl.view()
    x = x.anti_join(clv, [x["_xc"] == clv["_lc"], x["_xp"] == clv["_lend"]])   # non-closings
    er = x.join(cl, [x["_xc"] == cl["_lc"], cl["_lend"] > x["_xp"], cl["_lanc"] < x["_xp"]])
    er = er.group_by(["_xc", "_xp"]).aggregate(_lend=er["_lend"].min())
    er = er.select(_mc=er["_xc"], _mp=er["_xp"], _mend=er["_lend"])
    er = ibis.union(er, cl.select(_mc=cl["_lc"], _mp=cl["_lend"], _mend=cl["_lend"]),
                    distinct=False)
    er = _materialize(rlog, er, "tthc_h2_erased")
    # supplement requests outside every erased loop: their own (desk) loop
    ee = e.left_join(er, [e[C] == er["_mc"], e["pos"] == er["_mp"]])
    ee = ee.mutate(_erased=ee["_mend"].notnull())
    fw = ibis.window(group_by=ee[C], order_by=ee["pos"], rows=(1, None))
    ee = ee.mutate(
        _nrecv=ibis.ifelse(ee["_is_received"], ee["pos"].cast("int64"), ibis.null("int64"))
        .min().over(fw),
        _nerased=ibis.ifelse(ee["_erased"], ee["pos"].cast("int64"), ibis.null("int64"))
        .min().over(fw),
        _last=ee["pos"].cast("int64").max().over(ibis.window(group_by=ee[C])))
    rq = ee.filter(ee["_is_request"] & ~ee["_erased"])
    rend = ibis.least(rq["_nrecv"].fill_null(_BIG), rq["_last"],
                      rq["_nerased"].fill_null(_BIG) - 1)
    rq = rq.mutate(_rend=ibis.greatest(rend, rq["pos"].cast("int64")))
    pw = ibis.window(group_by=rq[C], order_by=rq["pos"], rows=(None, -1))
    rq = rq.mutate(_prev_end=rq["_rend"].max().over(pw).fill_null(-1))
    desk = rq.filter(rq["pos"] > rq["_prev_end"]).select(
        _dc=rq[C], _dreq=rq["pos"].cast("int64"), _dend=rq["_rend"])
    desk = _materialize(rlog, desk, "tthc_h2_desk")
    dm = e.select(_xc=e[C], _xp=e["pos"])
    dm = dm.join(desk, [dm["_xc"] == desk["_dc"], dm["_xp"] >= desk["_dreq"],
                        dm["_xp"] <= desk["_dend"]])
    members = ibis.union(
        er.select(_mc=er["_mc"], _mp=er["_mp"].cast("int64"), _mend=er["_mend"].cast("int64"),
                  _desk=ibis.literal(False)),
        dm.select(_mc=dm["_xc"], _mp=dm["_xp"].cast("int64"), _mend=dm["_dend"],
                  _desk=ibis.literal(True)), distinct=False)
    ev = e.select(_ec=e[C], _ep=e["pos"].cast("int64"), _eact=e[S.ACTIVITY],
                  _seg=e["seg_s"].fill_null(0.0), _own=e["owner"].cast("int64"),
                  _ho=e["handover"], _req=e["_is_request"])
    mm = members.join(ev, [members["_mc"] == ev["_ec"], members["_mp"] == ev["_ep"]])
    lp = mm.group_by(["_mc", "_mend", "_desk"]).aggregate(
        agency_s=mm["_seg"].sum(where=mm["_own"] == 0),
        citizen_s=mm["_seg"].sum(where=mm["_own"] == 1),
        third_s=mm["_seg"].sum(where=mm["_own"] == 2),
        handovers=mm.count(where=mm["_ho"]), n_events=mm.count(),
        _first_req=mm["_mp"].min(where=mm["_req"]))
    # anchor / start of the fragment: the closing's anchor, or the desk request
    ca = cl.select(_ac=cl["_lc"], _aend=cl["_lend"].cast("int64"), _aanc=cl["_lanc"].cast("int64"))
    lp = lp.left_join(ca, [lp["_mc"] == ca["_ac"], lp["_mend"] == ca["_aend"], ~lp["_desk"]])
    dk = desk.select(_kc=desk["_dc"], _kend=desk["_dend"], _kreq=desk["_dreq"])
    lp = lp.left_join(dk, [lp["_mc"] == dk["_kc"], lp["_mend"] == dk["_kend"], lp["_desk"]])
    frag = ibis.ifelse(lp["_desk"], lp["_kreq"], lp["_aanc"])
    has_req = lp["_first_req"].notnull()
    trig = ibis.ifelse(has_req, lp["_first_req"], ibis.greatest(lp["_mend"] - 1, frag))
    kind = ibis.cases(
        (has_req | lp["_desk"], 0),
        (~lp["_desk"] & (lp["n_events"] == 1) & (lp["_aanc"] == lp["_mend"] - 1), 1),
        (lp["handovers"] > 0, 2), else_=3)
    lp = lp.mutate(_trig=trig, kind=kind)
    a1 = ev.select(_tc=ev["_ec"], _tp=ev["_ep"], trigger_activity=ev["_eact"])
    a2 = ev.select(_zc=ev["_ec"], _zp=ev["_ep"], _zact=ev["_eact"])
    lp = lp.left_join(a1, [lp["_mc"] == a1["_tc"], lp["_trig"] == a1["_tp"]])
    lp = lp.left_join(a2, [lp["_mc"] == a2["_zc"], lp["_mend"] == a2["_zp"]])
    lp = lp.select(**{C: lp["_mc"]}, end_pos=lp["_mend"], kind=lp["kind"],
                   closing_activity=ibis.ifelse(lp["_desk"], ibis.null("string"), lp["_zact"]),
                   trigger_activity=lp["trigger_activity"], n_events=lp["n_events"],
                   handovers=lp["handovers"], agency_s=lp["agency_s"].fill_null(0.0),
                   citizen_s=lp["citizen_s"].fill_null(0.0), third_s=lp["third_s"].fill_null(0.0))
    return _materialize(rlog, lp, "tthc_h2_loops")


# ====================================================================== learned order
def _order(rlog, t, catalog, acts: pd.Index, procs: pd.Index):
    """Normal order per (procedure, step): dense rank by (median, mean) of the step's first
    position in the dossiers (the pandas engine's :func:`learned_order`), or the catalogue's
    ``step_order`` (:func:`catalog_order`). Returns (matrix, procedure names)."""
    import ibis
    from ..rework.detect import catalog_order

    proc = (t[S.PROCEDURE].cast("string").fill_null(UNKNOWN_PROC) if _has(t, S.PROCEDURE)
            else ibis.literal("(all)"))
    # each step's first position in each dossier: a GROUP BY (dossier, procedure, step) min
    # (a hash aggregate, which spills; the procedure is a dossier attribute), then the mean and
    # the exact median per (procedure, step) (quantiles.exact_quantiles)
    f = t.group_by([case_key(t).name("_c"), proc.name("_proc"), t[S.ACTIVITY]]).aggregate(
        _p=t["pos"].cast("float64").min())
    with f.cache() as fc:
        agg = fc.group_by(["_proc", S.ACTIVITY]).aggregate(mean=fc["_p"].mean()).to_pandas()
        md = exact_quantiles(fc, ["_proc", S.ACTIVITY], fc["_p"], (0.5,))
    agg = agg.merge(md.rename(columns={"q0": "med"}), on=["_proc", S.ACTIVITY], how="left",
                    sort=False)
    proc_names = pd.Index(list(procs.astype(str)) + [UNKNOWN_PROC])
    A = len(acts)
    out = np.full((len(proc_names), A), np.nan)
    if len(agg):
        pi = proc_names.get_indexer(agg["_proc"].astype(str))
        ai = acts.get_indexer(agg[S.ACTIVITY].astype(str))
        md, mn = agg["med"].to_numpy(np.float64), agg["mean"].to_numpy(np.float64)
        o = np.lexsort((mn, md, pi))
        pr_o, md_o, mn_o = pi[o], md[o], mn[o]
        newp = np.r_[True, pr_o[1:] != pr_o[:-1]]
        newv = newp | np.r_[True, (md_o[1:] != md_o[:-1]) | (mn_o[1:] != mn_o[:-1])]
        dense = np.cumsum(newv)
        gstart = np.maximum.accumulate(np.where(newp, np.arange(o.size), 0))
        out[pr_o, ai[o]] = (dense - dense[gstart]).astype(np.float64)
    if catalog is not None:
        out = catalog_order(catalog, proc_names, acts, out)
    return out, proc_names


def _register(rlog, df: pd.DataFrame):
    from .bottlenecks import _register as reg
    return reg(rlog.con, df)


# ====================================================================== report
@dataclass
class RelationalReworkReport:
    """Rework counts of a relational log (``tm.rework(rlog)``). Column names, definitions and
    exact counts as :class:`tthc_mining.ReworkReport` for the tables and columns computed (see
    :mod:`tthc_mining.engines.rework` for what is left out and why)."""

    by_activity: pd.DataFrame
    back_edges: pd.DataFrame
    order: pd.DataFrame
    by_case_table: Any = field(repr=False)
    params: dict = field(default_factory=dict)
    source: str = "<data>"
    _scopes: Any = field(default=None, repr=False)
    _proc_order: Any = field(default=None, repr=False)
    _ci: float = 0.95
    _seconds_per_day: float = 28_800.0

    @cached_property
    def by_case(self) -> pd.DataFrame:
        """One row per dossier (materialised from ``by_case_table``), in dossier id order."""
        df = self.by_case_table.order_by(S.CASE).to_pandas()
        for c in BY_CASE_COLUMNS:
            if c in df.columns:
                df[c] = df[c].fillna(0).astype(np.int64)
        for c in BY_CASE_HOURS:
            if c in df.columns:
                df[c] = df[c].fillna(0.0).astype(np.float64)
        return df.reset_index(drop=True)

    @cached_property
    def summary(self) -> pd.DataFrame:
        return _summary(self)

    def rework_cases_per_activity(self) -> dict[str, int]:
        """``{activity: dossiers where it occurs more than once}`` as
        ``pm4py.get_rework_cases_per_activity`` returns it."""
        d = self.by_activity
        d = d.loc[d["cases_with_repeat"] > 0]
        return dict(zip(d["activity"].astype(str), d["cases_with_repeat"].astype(int).tolist()))

    def to_frame(self) -> pd.DataFrame:
        return self.by_case

    def to_dict(self, max_rows: int | None = 1000) -> dict:
        def rec(df):
            d = df if max_rows is None else df.head(max_rows)
            return json.loads(d.to_json(orient="records", force_ascii=False, default_handler=str))
        return {"source": self.source, "params": self.params, "summary": rec(self.summary),
                "by_activity": rec(self.by_activity), "back_edges": rec(self.back_edges),
                "order": rec(self.order)}

    def to_json(self, max_rows: int | None = 1000, **kw) -> str:
        return json.dumps(self.to_dict(max_rows), ensure_ascii=False, default=str, **kw)

    def __repr__(self) -> str:
        s = self.summary
        n = int(s.loc[s["scope"] == "(all)", "n"].max()) if len(s) else 0
        return (f"RelationalReworkReport({self.source}: {n:,} dossiers, "
                f"{int(self.by_activity['reexec_events'].sum()):,} re-executions, "
                f"{int(self.back_edges['transitions'].sum()) if len(self.back_edges) else 0:,} "
                f"back-edges; engine={self.params.get('engine')})")

    def _repr_html_(self) -> str:
        e = html.escape
        s = self.summary
        main = s.loc[s["scope"] == "(all)", ["metric", "label_vi", "label_en", "value", "ci_low",
                                              "ci_high", "n"]]
        return (f"<h4>Làm lại (tính trên {e(str(self.params.get('engine')))}) / Rework "
                f"(relational) — {e(str(self.source))}</h4>"
                + main.to_html(escape=True, index=False, float_format=lambda x: f"{x:,.4g}")
                + "<p><b>Theo bước / By step</b></p>"
                + self.by_activity.head(20).to_html(escape=True, index=False))


def rework(rlog, *, procedure: str | None = None, catalog: Any = None, ci: float = 0.95,
           **_ignored) -> RelationalReworkReport:
    """Rework counts of a :class:`~tthc_mining.engines.RelationalLog`, relationally.

    ``procedure`` restricts to one procedure's (or a list of procedures') dossiers; ``catalog``
    (default ``rlog.catalog``) gives the normal order for back-edges. The pandas engine's other
    keywords (``n_boot``, ``seed``, ``rules``, ``timing``, ``length_bound`` ...) are accepted and
    recorded but do not apply here.
    """
    import ibis

    t = _segments(rlog)
    if procedure is not None:   # whole dossiers (the procedure is a dossier attribute)
        from .bottlenecks import _procedure_filter
        t = t.filter(_procedure_filter(rlog, t, procedure))   # ConfigError when unknown
    cat = catalog if catalog is not None else getattr(rlog, "catalog", None)
    dims = {"activity": t[S.ACTIVITY]}
    if _has(t, S.PROCEDURE):
        dims["procedure"] = t[S.PROCEDURE].cast("string")
    fs = _first_seen_dims(t, dims)
    acts = pd.Index(fs.get("activity", []), dtype=object)
    procs = pd.Index(fs["procedure"], dtype=object) if "procedure" in fs else pd.Index(["(all)"])
    order, proc_names = _order(rlog, t, cat, acts, procs)
    pi, ai = np.nonzero(np.isfinite(order))
    order_df = pd.DataFrame({"procedure": np.asarray(proc_names, dtype=object)[pi],
                             "activity": np.asarray(acts, dtype=object)[ai],
                             "order": order[pi, ai]})
    order_out = order_df.sort_values(["procedure", "order"], kind="stable").reset_index(drop=True)
    if order_df.empty:
        order_df = pd.DataFrame({"procedure": pd.Series(["\u0000"], dtype=object),
                                 "activity": pd.Series(["\u0000"], dtype=object),
                                 "order": [np.nan]})
    order_tbl = _register(rlog, order_df)

    # only the segment columns read below (the window functions of _events carry every input
    # column through their sorts)
    need = [c for c in (S.CASE, S.ACTIVITY, S.PROCEDURE, S.GROUP, S.ROLE, S.RESOURCE, "pos",
                        "is_first", "prev_activity", "seg_s", "owner", "handover")
            if c in t.columns]
    # the dossier's integer key (segments.case_key) stands in for the text id in every window
    # sort, hash table and join below (equality only, never an order); the by-dossier table
    # gets the text id back by one join with the dossiers' first events
    ck = CASE_KEY in t.columns
    src = t.select(*need)
    if ck:
        src = t.select(*[t[CASE_KEY].name(S.CASE) if c == S.CASE else t[c] for c in need])
    e = _events(src, order_tbl, rlog)
    if getattr(rlog.con, "_tthc_file_cache", False):
        # a DuckDB database file (logs beyond memory): the per-event flags are computed once
        # into a compressed table of the file instead of being recomputed (window functions
        # over every event) by each of the queries below
        from .timing import deep_expressions
        with deep_expressions():
            e = e.cache()
    else:
        e = _as_view(rlog, e, "tthc_h2_rework_events")
    runs = _runs(e)
    pairs = _pairs(e)

    # ------------------------------------------------------------------ per dossier (lazy)
    ev_case = e.group_by(S.CASE).aggregate(
        n_events=e.count(),
        reexec_same_officer=e.count(where=e["_reexec_same"]),
        reexec_other_officer=e.count(where=e["_reexec_other"]),
        reexec_unknown_officer=e.count(where=e["_reexec_unknown"]),
        selfloop_same_officer=e.count(where=e["_sl_same"]),
        selfloop_other_officer=e.count(where=e["_sl_other"]),
        n_supplement=e.count(where=e["_is_request"]),
        n_back_edges=e.count(where=e["_back"]))
    first = e.filter(e["is_first"])
    if _has(t, S.PROCEDURE):
        fp_ = first.select(_pc=first[S.CASE], procedure=first[S.PROCEDURE].cast("string"))
        ev_case = ev_case.left_join(fp_, ev_case[S.CASE] == fp_["_pc"]).drop("_pc")
    rc = runs.group_by(S.CASE).aggregate(selfloops_repeat=runs["_repeat"].sum(),
                                         selfloops_redo=runs["_redo"].sum())
    pcs = pairs.group_by(S.CASE).aggregate(repetitions_repeat=pairs["_rep_repeat"].sum(),
                                           repetitions_redo=pairs["_rep_redo"].sum())
    bc = ev_case
    for part in (rc, pcs):
        part = part.rename({"_jc": S.CASE})
        bc = bc.left_join(part, bc[S.CASE] == part["_jc"]).drop("_jc")
    pp = _pingpong(e)
    if pp is not None:
        pp = pp.rename({"_jc": S.CASE})
        bc = bc.left_join(pp, bc[S.CASE] == pp["_jc"]).drop("_jc")
    else:
        bc = bc.mutate(n_pingpong=ibis.literal(0).cast("int64"))
    # loops (chronological erasure and desk supplement loops), per dossier
    lp = _loops(rlog, e)
    lk = {KIND_COLUMNS[k]: lp.count(where=lp["kind"] == k) for k in KIND_COLUMNS}
    lc = lp.group_by(lp[S.CASE].name("_jc")).aggregate(
        n_loops=lp.count(), **lk, extra_steps=lp["n_events"].sum(),
        extra_handovers=lp["handovers"].sum(), rework_agency_h=lp["agency_s"].sum() / 3600.0,
        rework_citizen_h=lp["citizen_s"].sum() / 3600.0,
        rework_third_party_h=lp["third_s"].sum() / 3600.0)
    bc = bc.left_join(lc, bc[S.CASE] == lc["_jc"]).drop("_jc")
    bc = bc.mutate(**{c: bc[c].fill_null(0).cast("int64") for c in
                      ("selfloops_repeat", "selfloops_redo", "repetitions_repeat",
                       "repetitions_redo", "n_pingpong", "n_loops", *KIND_COLUMNS.values(),
                       "extra_steps", "extra_handovers")},
                   **{c: bc[c].fill_null(0.0) for c in BY_CASE_HOURS})
    head = [S.CASE] + (["procedure"] if _has(t, S.PROCEDURE) else [])
    by_case_table = bc.select(*head, *BY_CASE_COLUMNS, *BY_CASE_HOURS)
    if ck:
        f0 = t.filter(t["is_first"])
        ids = f0.select(_ck=f0[CASE_KEY], _id=f0[S.CASE])
        jb = by_case_table.join(ids, by_case_table[S.CASE] == ids["_ck"])
        by_case_table = jb.select(jb["_id"].name(S.CASE),
                                  *[jb[c] for c in by_case_table.columns if c != S.CASE])

    # ------------------------------------------------------------------ per step (small)
    ea = e.group_by(e[S.ACTIVITY].name("activity")).aggregate(
        n_events=e.count(), reexec_events=e.count(where=e["_reexec"]),
        reexec_same_officer=e.count(where=e["_reexec_same"]),
        reexec_other_officer=e.count(where=e["_reexec_other"]),
        back_edges_in=e.count(where=e["_back"]))
    bo = e.filter(e["_back"])
    bo_out = bo.group_by(bo["prev_activity"].name("_a_bo")).aggregate(back_edges_out=bo.count())
    ra = runs.group_by(runs["_act"].name("_a_ra")).aggregate(
        selfloops_repeat=runs["_repeat"].sum(), selfloops_redo=runs["_redo"].sum())
    pa = pairs.group_by(pairs[S.ACTIVITY].name("_a_pa")).aggregate(
        n_cases=pairs.count(), cases_with_repeat=pairs.count(where=pairs["_n"] > 1),
        repetitions_repeat=pairs["_rep_repeat"].sum(),
        repetitions_redo=pairs["_rep_redo"].sum())
    lcl = lp.filter(lp["closing_activity"].notnull())
    lcl = lcl.group_by(lcl["closing_activity"].name("_a_lc")).aggregate(loops_closed=lcl.count())
    ltr = lp.group_by(lp["trigger_activity"].name("_a_lt")).aggregate(
        loops_triggered=lp.count(), rework_agency_h_triggered=lp["agency_s"].sum() / 3600.0,
        rework_citizen_h_triggered=lp["citizen_s"].sum() / 3600.0)
    j = ea
    for part, kc in ((pa, "_a_pa"), (ra, "_a_ra"), (lcl, "_a_lc"), (ltr, "_a_lt"),
                     (bo_out, "_a_bo")):
        j = j.left_join(part, j["activity"] == part[kc]).drop(kc)
    ea = j.to_pandas()                                  # one query for the step table
    ba = pd.DataFrame({"activity": acts.astype(str)})
    ba = ba.merge(ea.assign(activity=ea["activity"].astype(str)), on="activity", how="left",
                  sort=False)
    for c in BY_ACTIVITY_COLUMNS[1:-1]:
        if c in _BY_ACTIVITY_FLOAT:
            ba[c] = ba[c].fillna(0.0).astype(np.float64)
        else:
            ba[c] = ba[c].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ba["repeat_case_share"] = ba["cases_with_repeat"] / ba["n_cases"]
    ba = ba[BY_ACTIVITY_COLUMNS].sort_values(["loops_triggered", "cases_with_repeat", "n_events"],
                                             ascending=False, kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ back-edges table
    be = bo.group_by([bo["prev_activity"].name("source"), bo[S.ACTIVITY].name("target")]).aggregate(
        transitions=bo.count(), dossiers=bo[S.CASE].nunique()).to_pandas()
    if len(be):
        be["_s"] = acts.get_indexer(be["source"].astype(str))
        be["_t"] = acts.get_indexer(be["target"].astype(str))
        be = be.sort_values(["_s", "_t"], kind="stable").drop(columns=["_s", "_t"])
        be = be.sort_values("transitions", ascending=False, kind="stable").reset_index(drop=True)
        be["transitions"] = be["transitions"].astype(np.int64)
        be["dossiers"] = be["dossiers"].astype(np.int64)
    else:
        be = pd.DataFrame(columns=["source", "target", "transitions", "dossiers"])

    return RelationalReworkReport(
        by_activity=ba, back_edges=be[["source", "target", "transitions", "dossiers"]],
        order=order_out, by_case_table=by_case_table,
        params={"procedure": procedure, "catalog": bool(cat is not None),
                "order_source": "catalog" if cat is not None else "learned",
                "engine": getattr(rlog, "backend", None), "ci": float(ci),
                "interval_method": "means: normal interval from n, sum, sum of squares per "
                                   "scope (pandas engine: dossier bootstrap); rates: Wilson",
                "not_computed": list(NOT_COMPUTED), "ignored": sorted(_ignored)},
        source=str(getattr(rlog, "source", "<data>")), _proc_order=procs, _ci=float(ci),
        _seconds_per_day=float(rlog.calendar.seconds_per_day))


# ====================================================================== summary
_RATES = (
    ("share_with_loop", lambda b: b.n_loops > 0, ""),
    ("share_with_supplement", lambda b: b.n_supplement > 0, ""),
    ("share_with_selfloop", lambda b: (b.selfloops_repeat + b.selfloops_redo) > 0, ""),
    ("share_with_repetition", lambda b: (b.repetitions_repeat + b.repetitions_redo) > 0, ""),
    ("share_with_repeat", lambda b: (b.selfloops_repeat + b.repetitions_repeat) > 0,
     "edeaR repeat: same resource"),
    ("share_with_redo", lambda b: (b.selfloops_redo + b.repetitions_redo) > 0,
     "edeaR redo: different resource"),
    ("share_with_reexec_same_officer", lambda b: b.reexec_same_officer > 0, ""),
    ("share_with_reexec_other_officer", lambda b: b.reexec_other_officer > 0, ""),
    ("share_with_selfloop_same_officer", lambda b: b.selfloop_same_officer > 0, ""),
    ("share_with_selfloop_other_officer", lambda b: b.selfloop_other_officer > 0, ""),
    ("share_with_pingpong", lambda b: b.n_pingpong > 0, ""),
    ("share_with_back_edge", lambda b: b.n_back_edges > 0, ""),
)
_MEANS = (
    ("loops_per_dossier", "n_loops"),
    ("supplement_requests_per_dossier", "n_supplement"),
    ("reexec_same_officer_per_dossier", "reexec_same_officer"),
    ("reexec_other_officer_per_dossier", "reexec_other_officer"),
    ("selfloop_same_officer_per_dossier", "selfloop_same_officer"),
    ("selfloop_other_officer_per_dossier", "selfloop_other_officer"),
    ("pingpong_per_dossier", "n_pingpong"),
    ("extra_steps_per_dossier", "extra_steps"),
    ("extra_handovers_per_dossier", "extra_handovers"),
    ("rework_agency_days_per_dossier", "rework_agency_h"),
    ("rework_citizen_days_per_dossier", "rework_citizen_h"),
)
#: means given in working days (the column holds hours)
_DAYS = ("rework_agency_days_per_dossier", "rework_citizen_days_per_dossier")


def _summary(rep: RelationalReworkReport) -> pd.DataFrame:
    """Rates (Wilson) and means per dossier (normal interval) for all dossiers and per procedure,
    from one aggregation of ``by_case_table`` per scope in the database."""
    import ibis
    from ..rework import ci as rci
    from ..rework.report import LABELS

    b = rep.by_case_table
    has_proc = "procedure" in b.columns

    days_per_h = 3600.0 / rep._seconds_per_day

    def aggs(b):
        out = {"n": b.count()}
        for name, flag, _ in _RATES:
            out[f"k_{name}"] = b.count(where=flag(b))
        for name, col in _MEANS:
            x = b[col].cast("float64") * (days_per_h if name in _DAYS else 1.0)
            out[f"s_{name}"] = x.sum()
            out[f"q_{name}"] = (x * x).sum()
        return out

    tot = b.aggregate(**aggs(b)).mutate(scope=ibis.literal("(all)"))
    if has_proc:
        bp = b.filter(b["procedure"].notnull())
        per = bp.group_by(bp["procedure"].name("scope")).aggregate(**aggs(bp))
        tot = ibis.union(tot.select(*per.columns), per, distinct=False)
    allsc = tot.to_pandas()                              # one query for every scope
    frames = [allsc[allsc["scope"] == "(all)"]]
    if has_proc:
        per = allsc[allsc["scope"] != "(all)"].copy()
        order = pd.Index(rep._proc_order.astype(str)) if rep._proc_order is not None else None
        if order is not None:
            per["_o"] = order.get_indexer(per["scope"].astype(str))
            per = per.sort_values("_o", kind="stable").drop(columns="_o")
        frames.append(per)
    sc = pd.concat(frames, ignore_index=True)
    sc = sc[sc["n"] > 0].reset_index(drop=True)
    n = sc["n"].to_numpy(dtype=np.float64)
    z = z_value(rep._ci)
    rows = []

    def add(metric, value, lo, hi, nn, scope, note):
        lv, le = LABELS.get(metric, (metric, metric))
        rows.append({"scope": scope, "metric": metric, "label_vi": lv, "label_en": le,
                     "value": float(value), "ci_low": float(lo), "ci_high": float(hi),
                     "n": int(nn), "note": note})

    for name, _, note in _RATES:
        p, lo, hi = rci.rate(sc[f"k_{name}"].to_numpy(dtype=np.float64), n)
        for i, scope in enumerate(sc["scope"]):
            add(name, p[i], lo[i], hi[i], n[i], str(scope), note)
    for name, _ in _MEANS:
        s_ = sc[f"s_{name}"].to_numpy(dtype=np.float64)
        q_ = sc[f"q_{name}"].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = s_ / n
            var = np.maximum(q_ - n * m * m, 0.0) / (n - 1.0)
            half = z * np.sqrt(var / n)
        few = n < 2
        lo = np.where(few, np.nan, m - half)
        hi = np.where(few, np.nan, m + half)
        for i, scope in enumerate(sc["scope"]):
            add(name, m[i], lo[i], hi[i], n[i], str(scope), "mean per dossier, normal interval")
    for i, scope in enumerate(sc["scope"]):
        for name, col in (("rework_agency_days_total", "rework_agency_days_per_dossier"),
                          ("rework_citizen_days_total", "rework_citizen_days_per_dossier"),
                          ("loops_total", "loops_per_dossier")):
            add(name, float(sc[f"s_{col}"].iloc[i]), np.nan, np.nan, n[i], str(scope),
                "sum over dossiers")
    return pd.DataFrame(rows)
