"""Segments in relational form: :func:`tthc_mining.segments.segments` as one Ibis expression.

Read :mod:`tthc_mining.segments` for the definitions (each event after a dossier's first closes
a segment from the previous event's end to its own end; waiting = previous end -> start,
processing = start -> end; the owner is the clock state after the previous event: ``citizen``
after a supplement request until the supplement is received, ``third_party`` during a
suspension, ``agency`` otherwise; ``citizen`` for every segment that starts at or after the
dossier's finish, the pick-up wait). Here they are window functions over each dossier's events
ordered by ``(time:timestamp, tm:row)`` (the pandas engine's stable order, see
:mod:`tthc_mining.engines.core`):

* ``pos = row_number()``, ``is_first = pos == 0``, ``is_last`` = no next event (``lead``);
* working-axis values in int64 ns (:func:`tthc_mining.engines.axis.with_working_ns`),
  ``w_prev_end_ns = lag(w_end_ns)``; ``seg_s``, ``wait_s``, ``proc_s`` = int64 differences cast
  to float64 and divided by 1e9 (the pandas engine's exact arithmetic);
* the owner: events whose role sets the clock (supplement request -> citizen, suspension -> third
  party, supplement received / resumed -> agency) carry a struct ``(end time, tm:row, state)``;
  its maximum over the dossier's *earlier* events (frame ``ROWS UNBOUNDED PRECEDING AND 1
  PRECEDING``) is the last state set before the event (no forward fill needed), agency when
  none; every window function shares one partition and order (one sort);
* the pick-up wait: the dossier's finish = the minimum end time of its processing-finished
  events (whole-partition frame), else ``case:finished`` at its first event; a segment whose
  previous event ended at or after it is the citizen's;
* ``handover``: the unit differs from the previous event's unit (both known).

Columns: every event column (on DuckDB those of :data:`KEEP_EVENT_COLUMNS`), plus ``prev_activity, pos, is_first, is_last, w_end_ns,
w_start_ns, w_prev_end_ns, seg_s, wait_s, proc_s, owner`` (int: 0 agency, 1 citizen,
2 third party, as :data:`tthc_mining.segments.OWNER_AGENCY` ...), ``owner_name`` (``agency`` /
``citizen`` / ``third_party``) and ``handover``. NULL where the pandas engine has NaN / None.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .. import schema as S
from ..segments import OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD
from .axis import with_working_ns
from .core import RelationalLog, _ibis

__all__ = ["segments", "segments_frame", "event_window", "FRAME_COLUMNS", "CASE_KEY", "case_key"]

#: an integer dossier key in the materialised DuckDB segments: a 63-bit hash of the dossier id,
#: kept only when it is checked to be one-to-one on the log (else the column is left out and
#: the statistics key by the text id); see :func:`case_key`
CASE_KEY = "tm:cid"

#: the columns of :meth:`tthc_mining.segments.Segments.to_frame`, in order
FRAME_COLUMNS = [S.CASE, S.ACTIVITY, "prev_activity", "pos", "seg_s", "wait_s", "proc_s",
                 "owner", "handover"]

_SETTERS = {S.ROLE_SUPPLEMENT_REQUEST: OWNER_CITIZEN, S.ROLE_SUSPENDED: OWNER_THIRD,
            S.ROLE_SUPPLEMENT_RECEIVED: OWNER_AGENCY, S.ROLE_RESUMED: OWNER_AGENCY}


def event_window(t: Any, **kw: Any):
    """The window over a dossier's events in the log's order: partition by dossier, order by
    (end time, global row number)."""
    ibis = _ibis()
    return ibis.window(group_by=t[S.CASE], order_by=[t[S.TIMESTAMP], t[S.ROW]], **kw)


#: event columns the statistics read from the segments (the materialised DuckDB table keeps
#: these and every computed column; other event columns, e.g. the owner's contact data, stay in
#: the Parquet files)
KEEP_EVENT_COLUMNS = (S.CASE, S.ACTIVITY, S.TIMESTAMP, S.START, S.RESOURCE, S.GROUP, S.ROLE,
                      S.ROW, S.PROCEDURE, S.PROCEDURE_NAME, S.RECEIVED, S.DUE, S.DUE_BEFORE,
                      S.DUE_AFTER, S.FINISHED_REPORTED, S.CHANNEL)


def segments(rlog: RelationalLog) -> Any:
    """The segments of a :class:`RelationalLog` as an Ibis table, cached on the log.

    DuckDB: computed **once** per log, on first use, into a temporary table (``Table.cache()``;
    it lives in DuckDB's buffer pool, spills to the temporary directory beyond
    ``memory_limit`` and is dropped with the log), with the columns the statistics read
    (:data:`KEEP_EVENT_COLUMNS` and the computed ones, including the local wall-clock columns
    ``local_ns``, ``prev_local_ns``, ``received_day`` of
    :func:`tthc_mining.engines.bottlenecks._build_segments`, in the same window pass), so that
    ``tm.bottlenecks``, ``tm.rework``, ``tm.timing`` and ``tm.discover`` do not repeat the per-dossier window
    functions and the calendar join from the files in every query. Spark: lazy (the
    statistics checkpoint what they read, :func:`tthc_mining.engines.bottlenecks.spark_checkpoint`)."""
    cached = rlog._cache.get("segments")
    if cached is not None:
        return cached
    if rlog.backend == "duckdb":
        t = _segments_expr(rlog, local=True)
        event_cols = set(rlog.events.columns)
        t = t.select(*[c for c in t.columns
                       if c not in event_cols or c in KEEP_EVENT_COLUMNS])
        t = t.cache()
        t = _checked_case_key(t)
    else:
        t = _segments_expr(rlog)
    rlog._cache["segments"] = t
    return t


def case_key(t: Any) -> Any:
    """The dossier key to group, count and partition by: the integer :data:`CASE_KEY` when the
    table has it (DuckDB segments: 8 bytes instead of a text id in every hash table and sort
    run that spills), else the text dossier id. Only for grouping / counting / equality within
    a log; orders and outputs use the text id."""
    return t[CASE_KEY] if CASE_KEY in t.columns else t[S.CASE]


def _hash63(col: Any) -> Any:
    """DuckDB ``hash()`` (UBIGINT) folded into int64 (modulo 2**63 - 1)."""
    ibis = _ibis()

    def _h(x):  # pragma: no cover - a DuckDB builtin, never called in Python
        ...

    _h = ibis.udf.scalar.builtin(_h, name="hash", signature=(("string",), "uint64"))
    return (_h(col) % ibis.literal(9223372036854775807, "uint64")).cast("int64")


def _checked_case_key(t: Any) -> Any:
    """Keep :data:`CASE_KEY` only if it is one-to-one on the dossiers (distinct keys over the
    first events == first events, one per dossier); otherwise the text id (exact either way)."""
    if CASE_KEY not in t.columns:
        return t
    f = t.filter(t["is_first"])
    chk = f.aggregate(n=f.count(), k=f[CASE_KEY].nunique()).to_pandas().iloc[0]
    if int(chk["n"]) != int(chk["k"]):  # a hash collision (about 1e-5 at 15 M dossiers)
        return t.drop(CASE_KEY)
    return t


def _segments_expr(rlog: RelationalLog, local: bool = False) -> Any:
    """The segments as a lazy Ibis expression over the log's events (module docstring).
    ``local``: also ``local_ns``, ``prev_local_ns`` and ``received_day``
    (:func:`tthc_mining.engines.bottlenecks._build_segments`), in the same window pass."""
    ibis = _ibis()
    ev = rlog.events
    has_start = S.START in ev.columns
    cols = {"w_end_ns": S.TIMESTAMP}
    if has_start:
        cols["w_start_ns"] = S.START
    t = with_working_ns(rlog, ev, cols)
    if not has_start:
        t = t.mutate(w_start_ns=ibis.null("int64"))
    if local:
        from .bottlenecks import _local_day_columns
        t = _local_day_columns(rlog, t)
        if rlog.backend == "duckdb":
            t = t.mutate(**{CASE_KEY: _hash63(t[S.CASE])})
    role = t[S.ROLE]
    setter = ibis.null("int64")
    for r, state in _SETTERS.items():
        setter = (role == r).ifelse(state, setter)
    # the last clock state set before each event: the maximum, over the dossier's earlier
    # events, of (end time, row, state) structs of the events that set a state (one window
    # pass for every column below: same partition and order)
    st = ibis.struct({"t": t[S.TIMESTAMP], "r": t[S.ROW], "s": setter.cast("int64")})
    st = role.isin(list(_SETTERS)).ifelse(st, ibis.null(st.type()))
    w = event_window(t)
    before = event_window(t, rows=(None, -1))
    whole = event_window(t, rows=(None, None))
    # the dossier's finish (tm.timing's: first processing-finished event, else the exported
    # case:finished at its first row): segments starting at or after it are the citizen's
    # pick-up wait
    fin_ev = (role == S.ROLE_FINISHED).ifelse(t[S.TIMESTAMP], ibis.null(t[S.TIMESTAMP].type()))
    fin = fin_ev.min().over(whole)
    if S.FINISHED_REPORTED in t.columns and t[S.FINISHED_REPORTED].type().is_timestamp():
        fin = fin.coalesce(t[S.FINISHED_REPORTED].first().over(w))
    t = t.mutate(pos=ibis.row_number().over(w).cast("int64"),
                 prev_activity=t[S.ACTIVITY].lag().over(w),
                 w_prev_end_ns=t["w_end_ns"].lag().over(w),
                 _next_row=t[S.ROW].lead().over(w),
                 _state_before=st.max().over(before),
                 _after_fin=(t[S.TIMESTAMP].lag().over(w) >= fin).fill_null(False),
                 _prev_group=(t[S.GROUP].lag().over(w) if S.GROUP in t.columns
                              else ibis.null("string")),
                 # the receipt day = the first event's candidate (whole-partition frame)
                 **({"prev_local_ns": t["local_ns"].lag().over(w),
                     "received_day": t["tm:_rday"].first().over(w)} if local else {}))
    seg = (t["w_end_ns"] - t["w_prev_end_ns"]).cast("float64") / 1e9
    wait = t["w_start_ns"].isnull().ifelse(seg, (t["w_start_ns"] - t["w_prev_end_ns"]).cast("float64") / 1e9)
    proc = (t["w_end_ns"] - t["w_start_ns"]).cast("float64") / 1e9
    owner = t["_after_fin"].ifelse(OWNER_CITIZEN, t["_state_before"]["s"].fill_null(OWNER_AGENCY)
                                   ).cast("int8")
    if S.GROUP in t.columns:
        g, pg = t[S.GROUP], t["_prev_group"]
        handover = (g.notnull() & pg.notnull() & (g != pg)).fill_null(False)
    else:
        handover = ibis.literal(False)
    t = t.mutate(is_first=t["pos"] == 0, is_last=t["_next_row"].isnull(),
                 seg_s=seg, wait_s=wait, proc_s=proc, owner=owner, handover=handover)
    t = t.mutate(owner_name=t["owner"].cases((OWNER_AGENCY, "agency"), (OWNER_CITIZEN, "citizen"),
                                             (OWNER_THIRD, "third_party")))
    return t.drop("_next_row", "_prev_group", "_state_before", "_after_fin", *(["tm:_rday"] if local else []))


def segments_frame(rlog: RelationalLog) -> pd.DataFrame:
    """The segments as :meth:`tthc_mining.segments.Segments.to_frame` gives them (same
    columns, rows in the log's order). Brings one row per event to pandas: for tests and small
    logs only."""
    t = segments(rlog)
    out = (t.order_by([S.CASE, S.TIMESTAMP, S.ROW])
           .select(*[c for c in FRAME_COLUMNS if c != "owner"], owner=t["owner_name"])
           .to_pandas())
    return out[FRAME_COLUMNS]
