"""``tm.timing`` on a :class:`~tthc_mining.engines.RelationalLog` (DuckDB, Spark).

The per-dossier timing of :mod:`tthc_mining.timing` (read its module docstring for every rule)
written once with Ibis and executed by the log's backend. The per-dossier table stays in the
engine (:attr:`RelationalTiming.table`, an Ibis expression); ``to_pandas()`` runs it and returns
the same columns as ``tm.timing(log).cases`` for what is computed here, in the same dossier order.

How it is computed (all in int64 nanoseconds, no floating point on the time axis):

* **per event**: the UTC epoch ns of ``time:timestamp``, its working-axis value (the calendar
  table join of :mod:`tthc_mining.engines.axis`), the segment owner (agency / citizen /
  third party, :mod:`tthc_mining.engines.segments`), the role of the activity (a small
  Python-side dimension over the distinct activities, the catalogue's and the caller's role
  mappings applied as the pandas engine applies them) and the position in the dossier;
* **per dossier**, one ``GROUP BY`` over the events: the receipt, the first *processing
  finished* / *result returned* / *withdrawn* / *refused* event known by ``as_of``, the last
  supplement receipt, the counts, the holder after the last known event, the case attributes
  (first non-empty value in event order, ``min_by``);
* **deadlines**: the catalogue version in force is a range join with a Python-built table of
  (procedure, first day, last day) intervals; the working-day arithmetic is a join with the
  calendar table: ``W = cum * L + intra`` for an instant, the 15:00 cut-off moves the start to
  ``⌈W / L⌉ · L`` (the next opening), "n working days later" is ``W + n · L``, and the inverse
  (:meth:`WorkingCalendar.from_working`) joins the working day whose index equals
  ``⌈W / L⌉ - 1`` (``side="prev"``) or ``⌊W / L⌋`` (``"next"``) and places the remainder in
  the office slots (a ``CASE`` over the slots); calendar-day deadlines join the day
  ``date(received) + n`` and take the first working day from its index;
* **working time by owner**: the events joined back to their dossier's clock window
  ``[received, closed or as_of]``, each segment clipped to it and summed per owner; the open
  tail after the last event goes to its holder; the responsible unit is the unit with the
  largest agency time (ties: the unit that appears first in the log).

Integer floor division: Ibis compiles ``a // b`` to ``FLOOR(a / b)`` over doubles, which is
not exact for epoch nanoseconds; :func:`fdiv` divides ``a - pmod(a, b)`` instead, an exact
multiple of ``b`` whose quotient is exactly representable for the divisors used here.

Differences from the pandas engine: the pandas engine keeps the working axis in float seconds
(ulp ~1e-7 s), so due instants agree within a microsecond and durations within 1e-9 relative
(plus ~1e-7 s absolute); Spark stores timestamps in microseconds. The ``holder`` after as_of,
statuses, counts and on-time flags are exact.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import schema as S
from ..calendar import NS_PER_DAY, NS_PER_S, _parse_clock
from ..errors import ConfigError

__all__ = ["timing", "RelationalTiming", "overdue_cases", "fdiv", "pmod"]

OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD = 0, 1, 2
OWNER_NAMES = ("agency", "citizen", "third_party")
_BIG = 1 << 62            # "no value" in least() of epoch ns
_NULL_UNIT = "\x00"       # sentinel: the first receipt event has no unit
_EPS_NS = 1_000_000       # 1e-3 working seconds (the pandas engine's tolerance)


# ====================================================================== exact integer helpers
def pmod(a, b: int):
    """``a mod b`` in [0, b) for a positive literal ``b`` (SQL ``%`` keeps the dividend's sign)."""
    return ((a % b) + b) % b


def fdiv(a, b: int):
    """Exact ``floor(a / b)`` of int64 expressions for a positive literal ``b`` (see the module
    docstring: ``a - pmod(a, b)`` is a multiple of ``b``, so the double division is exact)."""
    return ((a - pmod(a, b)) // b).cast("int64")


# ====================================================================== calendar side tables
class _Cal:
    """The calendar as small tables and literals for the relational deadline arithmetic."""

    def __init__(self, rlog, lo_day: int, hi_day: int):
        from .core import _register

        def table(frame, name):   # a temporary view (Spark's cached tables need named ones)
            return _register(rlog.con, rlog.backend, frame, name)

        cal = rlog.calendar
        self.cal = cal
        self.tz = cal.tz or "UTC"
        self.L = int(round(cal.seconds_per_day * NS_PER_S))
        self.slots = [(int(round(a * NS_PER_S)), int(round(ln * NS_PER_S)))
                      for a, ln in zip(cal._a, cal._len)]
        self.cumlen = [0]
        for _, ln in self.slots:
            self.cumlen.append(self.cumlen[-1] + ln)
        self.close = int(round(float(np.max(cal._b)) * NS_PER_S))
        cal._ensure(lo_day, hi_day)
        d = np.arange(cal._d0, cal._d1, dtype=np.int64)
        self.d0, self.d1 = int(cal._d0), int(cal._d1)
        days = pd.DataFrame({"d": d, "cum": cal._cum.astype(np.int64),
                             "wk": cal._working.astype(np.int64)})
        self.days = table(days, "tthc_days")
        wd = days.loc[days["wk"] == 1, ["cum", "d"]].reset_index(drop=True)
        self.wdays = table(wd, "tthc_wdays")
        # the zone's UTC offset: one literal when it never changes over the span, else the
        # transitions (instant, offset before, offset after) found by bisection on the hours
        hour = 3_600 * NS_PER_S
        grid = np.arange((lo_day - 2) * 24, (hi_day + 3) * 24, dtype=np.int64) * hour
        offs = self._off(grid)
        self.offset = int(offs[0]) if (offs == offs[0]).all() else None
        self.transitions: list[tuple[int, int, int]] = []
        self.first_offset = int(offs[0])
        for i in np.flatnonzero(offs[1:] != offs[:-1]) + 1:
            lo, hi = int(grid[i - 1]), int(grid[i])       # offset(lo) old, offset(hi) new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._off(np.array([mid], dtype=np.int64))[0] == offs[i - 1]:
                    lo = mid
                else:
                    hi = mid
            self.transitions.append((hi, int(offs[i - 1]), int(offs[i])))

    def _off(self, utc_ns: np.ndarray) -> np.ndarray:
        idx = pd.DatetimeIndex(utc_ns.view("datetime64[ns]")).tz_localize("UTC")
        return idx.tz_convert(self.tz).tz_localize(None).as_unit("ns").asi8 - utc_ns

    # ------------------------------------------------------------------ instants <-> local
    def local_of(self, utc):
        """Local wall-clock ns of a UTC ns expression: one literal addition for a constant
        offset, else a ``CASE`` over the zone's transitions in the span (two a year)."""
        import ibis
        if self.offset is not None:
            return utc + self.offset
        branches = [(utc < t, before) for t, before, _ in self.transitions]
        return utc + ibis.cases(*branches, else_=self.transitions[-1][2])

    def utc_of(self, local):
        """UTC ns of a local wall-clock ns expression (a time in a fall-back hour is taken in
        the earlier offset; office hours never fall in a change)."""
        import ibis
        if self.offset is not None:
            return local - self.offset
        branches = [(local < t + before, before) for t, before, _ in self.transitions]
        return local - ibis.cases(*branches, else_=self.transitions[-1][2])

    def local_expr(self, t, col: str):
        return t, self.local_of(t[col])

    def to_local(self, t, col: str, out: str):
        """Add ``out`` = local wall-clock ns of the UTC ns column ``col``."""
        return t.mutate(**{out: self.local_of(t[col])})

    def to_utc(self, t, col: str, out: str):
        """Add ``out`` = UTC ns of the local wall-clock ns column ``col``."""
        return t.mutate(**{out: self.utc_of(t[col])})

    def intra(self, nid):
        """Office ns elapsed at ``nid`` ns after local midnight."""
        import ibis
        out = None
        for a, ln in self.slots:
            if a == 0 and ln == NS_PER_DAY:
                v = nid
            else:
                v = ibis.greatest(ibis.least(nid - a, ln), 0)
            out = v if out is None else out + v
        return out

    def axis(self, t, col: str, p: str):
        """Add ``{p}_w`` (working ns), ``{p}_day`` (local day), ``{p}_nid`` (ns after local
        midnight), ``{p}_wk`` (1 on a working day) and ``{p}_cum`` for the UTC ns column
        ``col`` (null stays null). Same arithmetic as ``WorkingCalendar.to_working_ns``: one
        join with the day table and one projection."""
        t2, loc = self.local_expr(t, col)
        t2 = t2.mutate(**{f"{p}_day": fdiv(loc, NS_PER_DAY)})
        dd = self.days.select(**{f"{p}_jd": self.days.d, f"{p}_cum": self.days.cum,
                                 f"{p}_wk": self.days.wk})
        j = t2.left_join(dd, t2[f"{p}_day"] == dd[f"{p}_jd"])
        loc = self.local_of(j[col])
        nid = loc - j[f"{p}_day"] * NS_PER_DAY
        keep = [j[c] for c in t.columns]
        return j.select(*keep, **{
            f"{p}_day": j[f"{p}_day"], f"{p}_nid": nid, f"{p}_cum": j[f"{p}_cum"],
            f"{p}_wk": j[f"{p}_wk"],
            f"{p}_w": j[f"{p}_cum"] * self.L + j[f"{p}_wk"] * self.intra(nid)})

    def from_working(self, t, col: str, p: str, side: str):
        """Add ``{p}_loc`` (local ns) and ``{p}_utc`` for the working-axis ns column ``col``
        (:meth:`WorkingCalendar.from_working`, ``side`` "prev" or "next"): the working day
        whose index is ``⌈W/L⌉ - 1`` ("prev") or ``⌊W/L⌋`` ("next"), then the remainder placed
        in the office slots."""
        import ibis
        w = t[col]
        k = fdiv(w - 1, self.L) if side == "prev" else fdiv(w, self.L)
        t2 = t.mutate(**{f"{p}_k": k})
        wd = self.wdays.select(**{f"{p}_jc": self.wdays.cum, f"{p}_jd": self.wdays.d})
        j = t2.left_join(wd, t2[f"{p}_k"] == wd[f"{p}_jc"])
        r = j[col] - j[f"{p}_k"] * self.L
        branches = []
        n = len(self.slots)
        for i, (a, _) in enumerate(self.slots[:-1]):
            hi = self.cumlen[i + 1]
            cond = (r <= hi) if side == "prev" else (r < hi)
            branches.append((cond, a + r - self.cumlen[i]))
        a_last = self.slots[-1][0]
        sec = ibis.cases(*branches, else_=a_last + r - self.cumlen[n - 1]) if branches else \
            a_last + r - self.cumlen[n - 1]
        loc = j[f"{p}_jd"] * NS_PER_DAY + sec
        keep = [j[c] for c in t.columns]
        return j.select(*keep, **{f"{p}_loc": loc, f"{p}_utc": self.utc_of(loc)})

    def calendar_due(self, t, day_col: str, n_col: str, p: str):
        """Calendar-day deadline: first working day on or after ``day + n``; adds ``{p}_loc``
        (close of office hours that day), ``{p}_utc`` and ``{p}_w`` (its working-axis value)."""
        dd = self.days.select(**{f"{p}_jd": self.days.d, f"{p}_c": self.days.cum})
        j = t.left_join(dd, (t[day_col] + t[n_col]) == dd[f"{p}_jd"])
        wd = self.wdays.select(**{f"{p}_jc": self.wdays.cum, f"{p}_wd": self.wdays.d})
        j = j.left_join(wd, dd[f"{p}_c"] == wd[f"{p}_jc"])
        loc = j[f"{p}_wd"] * NS_PER_DAY + self.close
        keep = [j[c] for c in t.columns]
        return j.select(*keep, **{f"{p}_loc": loc, f"{p}_w": (j[f"{p}_c"] + 1) * self.L,
                                  f"{p}_utc": self.utc_of(loc)})


# ====================================================================== events
def _epoch_ns(rlog, col: str):
    """UTC epoch ns of a timestamp column of the events (int64; a naive column gives the wall
    clock, converted by the caller): :func:`tthc_mining.engines.axis.epoch_ns`."""
    from .axis import epoch_ns
    return epoch_ns(rlog, rlog.events[col])


def _roles_dim(rlog, overrides: Mapping[str, str]) -> pd.DataFrame | None:
    """activity -> role with the overrides applied as :func:`tthc_mining.timing._ensure_roles`
    does (per distinct activity, exact name or after fold()); None when nothing changes."""
    if not overrides:
        return None
    from ..roles import fold
    bad = {r for r in overrides.values() if r not in S.ROLES}
    if bad:
        raise ConfigError(f"unknown role(s) {sorted(bad)}; known roles: {', '.join(S.ROLES)}")
    dim = rlog.roles
    if dim is None:
        ev = rlog.events
        dim = ev.select(activity=ev[S.ACTIVITY], role=ev[S.ROLE]).distinct().to_pandas()
    folded = {fold(k): v for k, v in overrides.items()}
    new = [overrides.get(str(a), folded.get(fold(a))) for a in dim["activity"]]
    if all(n is None for n in new):
        return None
    out = dim[["activity", "role"]].copy()
    out["role"] = [n if n is not None else r for n, r in zip(new, out["role"])]
    return out


_TEXT_ATTRS = ("_a_proc", "_a_pname", "_a_chan")


def _text_codes(rlog, E, names):
    """DuckDB: ``{name: (code column added to E, dim table _tv -> _tc)}`` for the text columns
    ``names`` of ``E`` (codes 0.. over the distinct values, -1 -> the no-unit sentinel); ``E``
    is extended in place of the caller through the returned column names. Spark: ``{}``."""
    if getattr(rlog, "backend", None) != "duckdb":
        return {}
    from .core import _register
    out = {}
    for n in names:
        if n not in E.columns or not E[n].type().is_string():
            continue
        vals = [v for v in E.select(v=E[n]).distinct().to_pyarrow().column("v").to_pylist()
                if v is not None]
        if not vals:
            continue
        df = pd.DataFrame({"_tv": pd.Series(vals + [_NULL_UNIT], dtype=object),
                           "_tc": np.r_[np.arange(len(vals)), -1].astype(np.int64)})
        out[n] = ("_code" + n, _register(rlog.con, rlog.backend, df, "tthc_t_codes"))
    return out


def _events(rlog, overrides: Mapping[str, str], as_of_ns: int, cal: _Cal):
    """The event columns the timing needs, from the relational segments
    (:func:`tthc_mining.engines.segments.segments`, with the role mappings applied first):
    ``_c`` (dossier), ``_pos`` (position in event order), ``_ts`` (UTC ns), ``_w`` (working
    ns), ``_wp`` (previous event's working ns, null first), ``_owner`` (segment owner),
    ``_role``, ``_g`` (unit), ``_k`` (known by as_of), ``_st`` (clock state the event sets,
    null when none) and the case attributes (``_a_*``)."""
    import ibis
    from .axis import epoch_ns
    from .segments import segments
    ev = rlog.events
    dim = _roles_dim(rlog, overrides)
    sub = rlog
    if dim is not None:
        from .core import _register
        d = _register(rlog.con, rlog.backend,
                      pd.DataFrame({"_ra": dim["activity"].astype(str),
                                    "_rr": dim["role"].astype(str)}), "tthc_roles_t")
        ev = ev.left_join(d, ev[S.ACTIVITY] == d["_ra"])
        ev = ev.mutate(**{S.ROLE: ev["_rr"]}).drop("_ra", "_rr")
        sub = rlog.with_events(ev)
    seg = segments(sub)
    naive = getattr(rlog, "naive_columns", frozenset())
    cols = {"_c": seg[S.CASE], "_row": seg[S.ROW], "_role": seg[S.ROLE].cast("string"),
            "_pos": seg["pos"].cast("int64"), "_w": seg["w_end_ns"].cast("int64"),
            "_wp": seg["w_prev_end_ns"].cast("int64"), "_owner": seg["owner"].cast("int64"),
            "_ts": epoch_ns(sub, seg[S.TIMESTAMP])}
    cols["_g"] = seg[S.GROUP].cast("string") if S.GROUP in seg.columns else ibis.null("string")
    attr_time = {S.RECEIVED: "_a_recv", S.DUE: "_a_due", S.DUE_AFTER: "_a_due_after",
                 S.DUE_BEFORE: "_a_due_before", S.FINISHED_REPORTED: "_a_fin"}
    attr_text = {S.PROCEDURE: "_a_proc", S.PROCEDURE_NAME: "_a_pname", S.CHANNEL: "_a_chan"}
    present = {}
    for c, name in attr_time.items():
        if c in seg.columns and seg[c].type().is_timestamp():
            cols[name] = epoch_ns(sub, seg[c])
            present[name] = c in naive
    for c, name in attr_text.items():
        if c in seg.columns:
            cols[name] = seg[c].cast("string")
            present[name] = False
    t = seg.select(**cols)
    if S.TIMESTAMP in naive:
        t = cal.to_utc(t.rename(_ts_loc="_ts"), "_ts_loc", "_ts").drop("_ts_loc")
    for name, is_naive in present.items():
        if is_naive:
            t = cal.to_utc(t.rename(**{name + "_l": name}), name + "_l", name).drop(name + "_l")
    role = t["_role"]
    st = ibis.cases((role == S.ROLE_SUPPLEMENT_REQUEST, OWNER_CITIZEN),
                    (role == S.ROLE_SUSPENDED, OWNER_THIRD),
                    (role == S.ROLE_SUPPLEMENT_RECEIVED, OWNER_AGENCY),
                    (role == S.ROLE_RESUMED, OWNER_AGENCY), else_=ibis.null("int64"))
    t = t.mutate(_st=st, _k=t["_ts"] <= as_of_ns)
    return t, present


# ====================================================================== catalogue dimension
def _catalog_dim(rlog, t, catalog, cutoff):
    """The catalogue as a table of (procedure value, [first day, end day)) intervals: the
    version :meth:`ProcedureCatalog.lookup` picks for a receipt day (the latest ``valid_from``
    not after the day, valid while the day is before its ``valid_to``), with its deadline,
    unit, cut-off (ns after midnight, null = no rule) and name. Built in Python from the
    distinct procedure values of the log and the catalogue (both small)."""
    import unicodedata
    ev = rlog.events
    procs = (ev.select(p=ev[S.PROCEDURE].cast("string")).distinct().to_pyarrow()
             .column("p").to_pylist())
    procs = [p for p in procs if p is not None]
    pr = catalog.procedures.reset_index(drop=True)
    codes = pd.Index(pd.unique(pr["code"]), dtype=object)
    LOW, HIGH = -(10 ** 9), 10 ** 9 + 1
    vf = pd.to_datetime(pr["valid_from"]).to_numpy("datetime64[ns]").view(np.int64)
    vt = pd.to_datetime(pr["valid_to"]).to_numpy("datetime64[ns]").view(np.int64)
    nat = np.iinfo(np.int64).min
    vf = np.where(vf == nat, LOW, np.floor_divide(vf, NS_PER_DAY))
    vt = np.where(vt == nat, HIGH, np.floor_divide(vt, NS_PER_DAY))
    rows = []
    for code in codes:
        idx = np.flatnonzero((pr["code"] == code).to_numpy())
        order = idx[np.argsort(vf[idx], kind="stable")]
        for i, r in enumerate(order):
            nxt = [vf[o] for o in order[i + 1:] if vf[o] > vf[r]]
            if i + 1 < len(order) and vf[order[i + 1]] == vf[r]:
                continue                       # a later row with the same start wins
            hi = min(int(vt[r]), int(nxt[0]) if nxt else HIGH)
            if hi > vf[r]:
                rows.append((code, int(vf[r]), hi, int(r)))
    iv = pd.DataFrame(rows, columns=["code", "lo", "hi", "row"])
    m = pd.DataFrame({"proc": pd.Series(procs, dtype=object)})
    m["code"] = [unicodedata.normalize("NFC", str(p)).strip() for p in m["proc"]]
    out = m.merge(iv, on="code", how="inner")
    p = pr.iloc[out["row"].to_numpy()] if len(out) else pr.iloc[:0]
    days = p["deadline_days"].to_numpy(np.float64)
    unit = p["deadline_unit"].astype(object).to_numpy()

    def cut_ns(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        return int(round(_parse_clock(v) * NS_PER_S))

    dim = pd.DataFrame({
        "_k_proc": out["proc"].astype(str).to_numpy(dtype=object),
        "_k_lo": out["lo"].to_numpy(np.int64), "_k_hi": out["hi"].to_numpy(np.int64),
        "_k_days": days,
        "_k_cal": (unit == "calendar").astype(np.int64),
        "_k_unit": pd.Series(unit, dtype=object).where(pd.notna(unit), None).to_numpy(dtype=object),
        "_k_cut": pd.array([cut_ns(v) for v in p["cutoff"].astype(object)], dtype="Int64"),
        "_k_name": pd.Series(p["name"].astype(object).to_numpy(), dtype=object)
                   .where(p["name"].notna().to_numpy(), None).to_numpy(dtype=object),
        "_k_ceil": np.ceil(np.nan_to_num(days, nan=0.0)).astype(np.int64),
        "_k_dl_ns": np.round(np.nan_to_num(days, nan=0.0) * float(round(
            rlog.calendar.seconds_per_day * NS_PER_S))).astype(np.int64),
    })
    if dim.empty:             # no procedure of the log is in the catalogue
        return None
    from .core import _register
    return _register(rlog.con, rlog.backend, dim, "tthc_catalog")


# ====================================================================== the per-dossier table
def _deadline(cal: _Cal, t, start: str, p: str, cut_col):
    """Statutory due from the UTC ns column ``start`` with the catalogue columns ``_k_days``,
    ``_k_cal``, ``_k_ceil``, ``_k_dl_ns`` and the cut-off ``cut_col`` (ns, null = no rule):
    adds ``{p}_due`` (UTC ns), ``{p}_dw`` (its working ns) and ``{p}_cw`` (clock start, working
    ns), null without a deadline. As ``tthc_mining.timing._deadlines``."""
    import ibis
    t = cal.axis(t, start, f"{p}_s")
    w0, nid, wk = t[f"{p}_s_w"], t[f"{p}_s_nid"], t[f"{p}_s_wk"]
    late = cut_col.notnull() & (wk == 1) & (nid > cut_col) if cut_col is not None else ibis.literal(False)
    cw = ibis.cases((late, fdiv(w0 + (cal.L - 1), cal.L) * cal.L), else_=w0)  # ceil
    has = t["_k_days"].notnull() & ~t["_k_days"].isnan() & t[start].notnull()
    d = t["_k_days"]
    cald = has & (d > 0) & (t["_k_cal"] == 1)
    wdue = ibis.cases((d <= 0, (fdiv(cw, cal.L) + 1) * cal.L), else_=cw + t["_k_dl_ns"])
    t = t.mutate(**{f"{p}_has": has, f"{p}_cald": cald, f"{p}_cw0": cw,
                    f"{p}_wd": ibis.cases((has & ~cald, wdue), else_=ibis.null("int64"))})
    t = cal.from_working(t, f"{p}_wd", f"{p}_fw", "prev")
    t = cal.calendar_due(t, f"{p}_s_day", "_k_ceil", f"{p}_cd")
    cald = t[f"{p}_cald"]
    has = t[f"{p}_has"]
    t = t.mutate(**{
        f"{p}_due": ibis.cases((cald, t[f"{p}_cd_utc"]), (has, t[f"{p}_fw_utc"]),
                               else_=ibis.null("int64")),
        f"{p}_dw": ibis.cases((cald, t[f"{p}_cd_w"]), (has, t[f"{p}_wd"]),
                              else_=ibis.null("int64")),
        f"{p}_cw": ibis.cases((cald, t[f"{p}_s_w"]), (has, t[f"{p}_cw0"]),
                              else_=ibis.null("int64")),
    })
    drop = [c for c in t.columns if c.startswith(f"{p}_") and c not in
            (f"{p}_due", f"{p}_dw", f"{p}_cw", f"{p}_s_w", f"{p}_s_day")]
    return t.drop(*drop)


def _end_of_office(cal: _Cal, t, col: str):
    """Exported due dates at local midnight mean the close of office hours (in place)."""
    import ibis
    t = cal.to_local(t, col, col + "_l")
    loc = t[col + "_l"]
    t = t.mutate(**{col + "_l": ibis.cases((pmod(loc, NS_PER_DAY) == 0, loc + cal.close),
                                           else_=loc)})
    t = cal.to_utc(t.drop(col), col + "_l", col)
    return t.drop(col + "_l")


def _working_of(cal: _Cal, t, col: str, out: str):
    t = cal.axis(t, col, f"_x{out}")
    t = t.mutate(**{out: t[f"_x{out}_w"]})
    return t.drop(*[c for c in t.columns if c.startswith(f"_x{out}_")])


def _unit_rank(rlog, u0):
    """Tie-break order of the units (the pandas engine's unit codes): the log's own order when
    it came from a DossierLog, else first appearance (dossiers in id order, then position),
    read from the staged per (dossier, unit) table ``u0`` (``_uc``, ``_ug``, ``_p0`` = first
    position of the unit in the dossier)."""
    order = getattr(rlog, "_cache", {}).get("group_order")
    if order is None:
        e = u0.filter(u0["_ug"].notnull())
        first = e.group_by(_fu=e["_ug"]).aggregate(_fc=e["_uc"].min())
        j = e.join(first, (e["_ug"] == first["_fu"]) & (e["_uc"] == first["_fc"]))
        fs = j.group_by(u=j["_fu"]).aggregate(c0=j["_fc"].min(), p0=j["_p0"].min()).to_pandas()
        fs = fs.sort_values(["c0", "p0"], kind="stable")
        order = [str(u) for u in fs["u"]]
    from .core import _register
    if not order:   # no unit at all: a row that matches nothing keeps the column types
        order = [_NULL_UNIT]
    return _register(rlog.con, rlog.backend,
                     pd.DataFrame({"_u_name": pd.Series(order, dtype=object),
                                   "_u_rank": np.arange(len(order), dtype=np.int64)}),
                     "tthc_units")


def _stage(t, name: str, rlog=None):
    """Materialise a per-dossier intermediate in the engine: a temporary table in DuckDB
    (``cache()``); in Spark an eagerly computed ``localCheckpoint`` registered as a temporary
    view, which also cuts the lineage (Spark re-analyses a cached view's whole plan on every
    use, which grows with each stage). It keeps the compiled queries small (Ibis' rewrites slow
    down sharply on deep expression graphs) and is computed once for every later query."""
    if rlog is not None and getattr(rlog, "backend", None) == "spark":
        from .core import _gen_name
        con = rlog.con
        with deep_expressions():
            sql = con.compile(t)
        df = con._session.sql(sql).localCheckpoint(eager=True)
        view = _gen_name(name)
        df.createOrReplaceTempView(view)
        out = con.table(view)
        _SPARK_VIEWS[id(out.op())] = view
        return out
    with deep_expressions():
        return t.cache()


_SPARK_VIEWS: dict[int, str] = {}


def _release(rlog, *tables) -> None:
    """Free intermediate stages now (DuckDB drops a cached table when its expression is
    garbage-collected; Spark's checkpointed views are dropped here)."""
    if getattr(rlog, "backend", None) != "spark":
        return
    session = rlog.con._session
    for t in tables:
        view = _SPARK_VIEWS.pop(id(t.op()), None)
        if view is not None:
            session.catalog.dropTempView(view)


class deep_expressions:
    """Context manager: a higher Python recursion limit while Ibis/sqlglot compile the nested
    subqueries of these definitions (pure-Python recursion; restored on exit)."""

    def __init__(self, limit: int = 20_000):
        self.limit = limit

    def __enter__(self):
        import sys
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, self.limit))
        return self

    def __exit__(self, *exc):
        import sys
        sys.setrecursionlimit(self.old)
        return False


_STATUS = {name: i for i, name in enumerate(
    ("early", "on_time", "overdue", "resolved", "in_progress", "in_progress_overdue",
     "suspended", "withdrawn", "refused"))}


def _build(rlog, catalog, as_of_ns: int, as_of_t, cutoff, overrides, third_party_paused: bool):
    """The per-dossier Ibis table (internal column names; see :meth:`RelationalTiming.to_pandas`)."""
    import ibis
    from ..timing import _ERA_SWITCH_DAY

    ev = rlog.events
    cal0 = rlog.calendar
    L = int(round(cal0.seconds_per_day * NS_PER_S))
    # ---------------------------------------------------------------- span -> calendar tables
    from .axis import time_range
    spans = [c for c in (S.TIMESTAMP, S.RECEIVED, S.DUE, S.DUE_AFTER, S.DUE_BEFORE,
                         S.FINISHED_REPORTED) if c in ev.columns and ev[c].type().is_timestamp()]
    rngs = [v for v in time_range(rlog, spans).values() if v is not None]
    # (µs; a naive column is a wall clock: a day of margin covers any offset)
    lo_day = min([v[0] * 1000 for v in rngs] + [as_of_ns]) // NS_PER_DAY - 1
    hi_day = max([v[1] * 1000 for v in rngs] + [as_of_ns]) // NS_PER_DAY + 1
    max_dl = 0
    if catalog is not None and len(catalog.procedures):
        max_dl = int(np.nan_to_num(catalog.procedures["deadline_days"].to_numpy(np.float64),
                                   nan=0.0).max())
    # deadlines reach past the data: restart + deadline, statutory due + paused time
    hi_day = hi_day + (hi_day - lo_day) + 3 * max_dl + 800
    cal = _Cal(rlog, lo_day - 400, hi_day)

    E, present = _events(rlog, overrides, as_of_ns, cal)
    # the text values taken per dossier (unit, procedure, its name, channel) as integer codes
    # on DuckDB: arg_min / arg_max states holding text are memory DuckDB cannot spill (the
    # stage ran out of memory at 12 M events with a 400 MB limit); decoded after the GROUP BY
    coded = _text_codes(rlog, E, ["_g"] + [n for n in present if n in _TEXT_ATTRS])
    for n, (cname, dimt) in coded.items():
        d = dimt.filter(dimt["_tc"] >= 0)
        d = d.select(**{"_jv" + n: d["_tv"], cname: d["_tc"]})
        E = E.left_join(d, E[n] == d["_jv" + n]).drop("_jv" + n)
    k = E["_k"]
    role = E["_role"]

    def isr(name):
        return role == name

    aggs = dict(
        n_events=E.count(), n_known=E.count(where=k),
        ts_first=E["_ts"].min(), ts_last=E["_ts"].max(),
        w_lk=E["_w"].max(where=k),
        rec_ts=E["_ts"].min(where=isr(S.ROLE_RECEIPT)),
        fin_ts=E["_ts"].min(where=isr(S.ROLE_FINISHED) & k),
        res_ts=E["_ts"].min(where=isr(S.ROLE_RESULT) & k),
        wd_ts=E["_ts"].min(where=isr(S.ROLE_WITHDRAWN) & k),
        rf_ts=E["_ts"].min(where=isr(S.ROLE_REFUSED) & k),
        sup_last=E["_ts"].max(where=isr(S.ROLE_SUPPLEMENT_RECEIVED) & k),
        n_sup_req=E.count(where=isr(S.ROLE_SUPPLEMENT_REQUEST) & k),
        n_sup_rx=E.count(where=isr(S.ROLE_SUPPLEMENT_RECEIVED) & k),
        n_susp=E.count(where=isr(S.ROLE_SUSPENDED) & k),
        holder_st=E["_st"].argmax(E["_pos"], where=E["_st"].notnull() & k),
    )
    G = E[coded["_g"][0]] if "_g" in coded else E["_g"]
    gnull = -1 if "_g" in coded else _NULL_UNIT
    aggs.update(
        g_rec=G.fill_null(gnull).argmin(E["_pos"], where=isr(S.ROLE_RECEIPT)),
        g_first=G.argmin(E["_pos"], where=G.notnull()),
        g_last_known=G.argmax(E["_pos"], where=G.notnull() & k),
        g_last=G.argmax(E["_pos"], where=G.notnull()),
        g_lk=G.fill_null(gnull).argmax(E["_pos"], where=k),
    )
    for name in present:
        col = E[coded[name][0]] if name in coded else E[name]
        aggs[name] = col.argmin(E["_pos"], where=col.notnull())
    A = E.group_by("_c").aggregate(**aggs)
    for name, (_, dimt) in coded.items():
        outs = ["g_rec", "g_first", "g_last_known", "g_last", "g_lk"] if name == "_g" else [name]
        for o in outs:
            d = dimt.select(**{"_dc" + o: dimt["_tc"], "_dv" + o: dimt["_tv"]})
            A = A.left_join(d, A[o] == d["_dc" + o])
            A = A.mutate(**{o: A["_dv" + o]}).drop("_dc" + o, "_dv" + o)
    for name in ("_a_recv", "_a_due", "_a_due_after", "_a_due_before", "_a_fin", "_a_proc",
                 "_a_pname", "_a_chan"):
        if name not in A.columns:
            A = A.mutate(**{name: ibis.null("string" if name in ("_a_proc", "_a_pname", "_a_chan")
                                            else "int64")})

    # ---------------------------------------------------------------- received, closed
    life = {S.ROLE_FINISHED, S.ROLE_RESULT, S.ROLE_WITHDRAWN, S.ROLE_REFUSED,
            S.ROLE_SUPPLEMENT_REQUEST, S.ROLE_SUPPLEMENT_RECEIVED, S.ROLE_SUSPENDED,
            S.ROLE_RESUMED}
    dim = _roles_dim(rlog, overrides)
    if dim is None:
        dim = rlog.roles if rlog.roles is not None else \
            ev.select(role=ev[S.ROLE]).distinct().to_pandas()
    roleless = not (set(map(str, dim["role"])) & life) and S.FINISHED_REPORTED not in ev.columns

    A = A.mutate(recv=ibis.coalesce(A["_a_recv"], A["rec_ts"], A["ts_first"]))
    fin_x = ibis.cases((A["_a_fin"] <= as_of_ns, A["_a_fin"]), else_=ibis.null("int64"))
    if roleless:
        fin = ibis.cases(((A["n_known"] == A["n_events"]) & (A["n_known"] > 0), A["ts_last"]),
                         else_=ibis.null("int64"))
    else:
        fin = ibis.coalesce(A["fin_ts"], fin_x, A["res_ts"])
    A = A.mutate(_f=fin.fill_null(_BIG), _wd=A["wd_ts"].fill_null(_BIG),
                 _rf=A["rf_ts"].fill_null(_BIG))
    m = ibis.least(A["_f"], A["_wd"], A["_rf"])
    A = A.mutate(outcome=ibis.cases((m == _BIG, -1), (A["_f"] == m, 0), (A["_wd"] == m, 1),
                                    else_=2).cast("int64"),
                 closed=m.nullif(_BIG))
    A = A.drop("_f", "_wd", "_rf")
    A = cal.axis(A, "recv", "_r")          # _r_w, _r_day, _r_nid, _r_wk
    A = cal.axis(A, "closed", "_cl")       # _cl_w, _cl_day

    # ---------------------------------------------------------------- catalogue deadlines
    kd = _catalog_dim(rlog, E, catalog, cutoff) if catalog is not None and "_a_proc" in present \
        else None
    if kd is not None:
        kd = kd.mutate(_k_cut=kd["_k_cut"].cast("int64"), _k_days=kd["_k_days"].cast("float64"),
                       _k_unit=kd["_k_unit"].cast("string"), _k_name=kd["_k_name"].cast("string"),
                       _k_cal=kd["_k_cal"].cast("int64"), _k_ceil=kd["_k_ceil"].cast("int64"),
                       _k_dl_ns=kd["_k_dl_ns"].cast("int64"))
        rday = A["_r_day"].fill_null(10 ** 9)
        A = A.left_join(kd, (A["_a_proc"] == kd["_k_proc"]) & (rday >= kd["_k_lo"])
                        & (rday < kd["_k_hi"]))
        A = A.drop("_k_lo", "_k_hi")
    else:
        A = A.mutate(_k_proc=ibis.null("string"), _k_days=ibis.null("float64"),
                     _k_cal=ibis.null("int64"), _k_unit=ibis.null("string"),
                     _k_cut=ibis.null("int64"), _k_name=ibis.null("string"),
                     _k_ceil=ibis.null("int64"), _k_dl_ns=ibis.null("int64"))
    A = A.mutate(in_cat=A["_k_proc"].notnull())
    # only what the later steps read (the staged tables hold one row per dossier)
    A = _stage(A.drop(*[c for c in ("ts_first", "ts_last", "fin_ts", "res_ts", "wd_ts", "rf_ts",
                                    "_a_recv", "_a_fin", "_r_cum", "_cl_nid", "_cl_wk",
                                    "_cl_cum", "_k_proc") if c in A.columns]), "tthc_t_a0", rlog)
    staged = [A]
    A = _deadline(cal, A, "recv", "st", A["_k_cut"])
    A = _stage(A.drop("st_s_w", "st_s_day"), "tthc_t_a1", rlog)
    staged.append(A)
    for col in ("_a_due", "_a_due_after", "_a_due_before"):
        A = _end_of_office(cal, A, col)
    from_export = A["st_due"].isnull() & (A["_a_due_before"].notnull() | A["_a_due"].notnull())
    default_cut = None if cutoff is None else int(round(_parse_clock(cutoff) * NS_PER_S))
    w0 = A["_r_w"]
    if default_cut is None:
        cw_def = w0
    else:
        late = (A["_r_wk"] == 1) & (A["_r_nid"] > default_cut)
        cw_def = ibis.cases((late, fdiv(w0 + (L - 1), L) * L), else_=w0)  # ceil
    A = A.mutate(
        stat=ibis.cases((from_export, ibis.coalesce(A["_a_due_before"], A["_a_due"])),
                        else_=A["st_due"]),
        clock_w=ibis.cases((from_export, cw_def), else_=A["st_cw"]),
        due_source=ibis.cases((from_export & A["_a_due_before"].notnull(), "case:due_before"),
                              (from_export, "case:due"), (A["in_cat"], "catalog"),
                              else_=ibis.null("string")))
    A = _stage(_working_of(cal, A, "stat", "stat_w"), "tthc_t_a2", rlog)
    staged.append(A)
    # reported due: exported, else restarted at the last supplement receipt
    A = A.mutate(restart=ibis.greatest(A["sup_last"].fill_null(A["recv"]), A["recv"]))
    A = _deadline(cal, A, "restart", "rd", A["_k_cut"])
    A = A.drop("rd_s_w", "rd_s_day")
    redo = A["in_cat"] & A["sup_last"].notnull() & A["_a_due"].isnull() & A["_a_due_after"].isnull()
    rep_calc = ibis.cases((A["in_cat"] & redo, A["rd_due"]), (A["in_cat"], A["stat"]),
                          else_=ibis.null("int64"))
    A = A.mutate(rep=ibis.coalesce(A["_a_due"], A["_a_due_after"], rep_calc, A["stat"]))
    A = cal.axis(A, "rep", "_rp")          # _rp_w, _rp_day

    A = _stage(A, "tthc_t_cases", rlog)
    staged.append(A)
    # ---------------------------------------------------------------- clock window, owners
    w_asof = int(cal0.to_working_ns(pd.DatetimeIndex([as_of_t]))[0])
    is_rec = A["recv"] <= as_of_ns
    win_end = ibis.cases((~is_rec, A["_r_w"]), (A["closed"].notnull(), A["_cl_w"]), else_=w_asof)
    A = A.mutate(is_rec=is_rec, win_s=A["_r_w"], win_e=win_end)
    has_last = A["n_known"] > 0
    after = A["n_known"] < A["n_events"]
    tail = ibis.cases((has_last & ~after,
                       ibis.greatest(A["win_e"] - ibis.greatest(A["w_lk"], A["win_s"]), 0)),
                      else_=0)
    holder = ibis.cases((has_last, A["holder_st"].fill_null(OWNER_AGENCY)), else_=OWNER_AGENCY)
    A = A.mutate(tail=tail.cast("int64"), holder=holder.cast("int64"))

    W = A.select(_wc=A["_c"], _ws=A["win_s"], _we=A["win_e"])
    EW = E.join(W, E["_c"] == W["_wc"])
    lo = ibis.greatest(EW["_wp"].fill_null(EW["_ws"]), EW["_ws"])
    hi = ibis.least(EW["_w"], EW["_we"])
    EW = EW.mutate(_cnt=ibis.greatest(hi - lo, 0).fill_null(0))
    # one pass over the events: per (dossier, unit or null) the counted time of each owner
    own = EW["_owner"]
    U0 = EW.group_by(_uc=EW["_c"], _ug=EW["_g"]).aggregate(
        _a0=EW["_cnt"].sum(where=own == OWNER_AGENCY),
        _a1=EW["_cnt"].sum(where=own == OWNER_CITIZEN),
        _a2=EW["_cnt"].sum(where=own == OWNER_THIRD),
        _p0=EW["_pos"].min())
    U0 = _stage(U0.mutate(_a0=U0["_a0"].fill_null(0), _a1=U0["_a1"].fill_null(0),
                          _a2=U0["_a2"].fill_null(0)), "tthc_t_units", rlog)
    staged.append(U0)
    O = U0.group_by(_oc=U0["_uc"]).aggregate(
        s0=U0["_a0"].sum(), s1=U0["_a1"].sum(), s2=U0["_a2"].sum(),
        su=U0["_a0"].sum(where=U0["_ug"].notnull()))
    # units: agency time per (dossier, unit) over the units met in the dossier, plus the tail
    U1 = U0.filter(U0["_ug"].notnull()).select("_uc", "_ug", _uv=U0["_a0"])
    tl = A.filter((A["holder"] == OWNER_AGENCY) & (A["tail"] > 0) & (A["g_lk"] != _NULL_UNIT)
                  & A["g_lk"].notnull())
    U2 = tl.select(_uc=tl["_c"], _ug=tl["g_lk"], _uv=tl["tail"])
    U = U1.union(U2, distinct=False)
    U = U.group_by("_uc", "_ug").aggregate(_uv=U["_uv"].sum())
    rank = _unit_rank(rlog, U0)
    U = U.left_join(rank, U["_ug"] == rank["_u_name"])
    mx = U.group_by(_mc=U["_uc"]).aggregate(_mv=U["_uv"].max())
    U = U.join(mx, (U["_uc"] == mx["_mc"]) & (U["_uv"] == mx["_mv"]))
    B = U.group_by(_bc=U["_uc"]).aggregate(best=U["_ug"].argmin(U["_u_rank"].fill_null(1 << 40)))

    A = A.left_join(O, A["_c"] == O["_oc"]).drop("_oc")
    A = A.left_join(B, A["_c"] == B["_bc"]).drop("_bc")
    s0 = A["s0"].fill_null(0)
    s1 = A["s1"].fill_null(0)
    s2 = A["s2"].fill_null(0)
    ag = s0 + ibis.cases((A["holder"] == OWNER_AGENCY, A["tail"]), else_=0)
    ci = s1 + ibis.cases((A["holder"] == OWNER_CITIZEN, A["tail"]), else_=0)
    tp = s2 + ibis.cases((A["holder"] == OWNER_THIRD, A["tail"]), else_=0)
    A = A.mutate(agency_ns=ag, citizen_ns=ci, third_ns=tp)
    zero = (A["su"].fill_null(0)
            + ibis.cases((A["holder"] == OWNER_AGENCY, A["tail"]), else_=0)) <= 0
    A = A.mutate(unit=ibis.cases((zero, ibis.coalesce(A["g_last_known"], A["g_last"])),
                                 else_=A["best"]),
                 receiving_unit=ibis.cases(
                     (A["rec_ts"].notnull(), A["g_rec"].nullif(_NULL_UNIT)), else_=A["g_first"]))

    # ---------------------------------------------------------------- on time, two ways
    charged = A["agency_ns"] + (0 if third_party_paused else A["third_ns"])
    paused = A["citizen_ns"] + (A["third_ns"] if third_party_paused else 0)
    has_dl = A["stat"].notnull()
    A = A.mutate(charged=charged, paused=paused, has_dl=has_dl,
                 budget_ns=ibis.cases((has_dl, A["stat_w"] - A["_r_w"]), else_=ibis.null("int64")),
                 actual_w=ibis.cases((has_dl, A["stat_w"] + paused), else_=ibis.null("int64")))
    A = cal.from_working(A, "actual_w", "_ad", "prev")       # _ad_loc, _ad_utc
    A = cal.from_working(A, "clock_w", "_cs", "next")        # _cs_utc
    o = A["outcome"]
    fin_, wd_, rf_ = o == 0, o == 1, o == 2
    open_ = (o < 0) & A["is_rec"]
    has_rep = A["rep"].notnull()
    cday, rday_ = A["_cl_day"], A["_rp_day"]
    ok_act = A["charged"] <= A["budget_ns"] + _EPS_NS
    ok_act_f = ok_act.fill_null(False)
    on_rep = ibis.cases((has_rep, cday <= rday_), else_=True)
    early_rep = has_rep & (cday < rday_)
    on_time_reported = ibis.cases((fin_ | rf_, on_rep), (wd_, True), else_=ibis.null("boolean"))
    early_reported = ibis.cases((fin_ | rf_, early_rep.fill_null(False)), (wd_, False),
                                else_=ibis.null("boolean"))
    Lf = float(L)
    late_rep = ibis.cases(((fin_ | rf_) & has_rep & (cday <= rday_), 0.0),
                          ((fin_ | rf_) & has_rep,
                           ibis.greatest((A["_cl_w"] - A["_rp_w"]).cast("float64") / Lf, 0.0)),
                          else_=ibis.null("float64"))
    on_time_actual = ibis.cases((fin_ & has_dl, ok_act_f), else_=ibis.null("boolean"))
    late_act = ibis.cases((has_dl & (fin_ | open_),
                           ibis.greatest((A["charged"] - A["budget_ns"]).cast("float64") / Lf, 0.0)),
                          else_=ibis.null("float64"))
    asof_day = int(cal0._local_ns(pd.DatetimeIndex([as_of_t]))[0] // NS_PER_DAY)
    held_other = A["holder"] != OWNER_AGENCY
    ST = _STATUS
    status = ibis.cases(
        (~A["is_rec"], ibis.null("int64")),
        (wd_, ST["withdrawn"]), (rf_, ST["refused"]),
        (fin_ & ~has_rep, ST["resolved"]),
        (fin_ & (cday < rday_), ST["early"]), (fin_ & (cday == rday_), ST["on_time"]),
        (fin_, ST["overdue"]),
        (open_ & held_other, ST["suspended"]),
        (open_ & has_rep & (asof_day > rday_), ST["in_progress_overdue"]),
        (open_, ST["in_progress"]), else_=ibis.null("int64"))
    actual_day = fdiv(A["_ad_loc"], NS_PER_DAY)
    status_act = ibis.cases(
        (~A["is_rec"], ibis.null("int64")),
        (wd_, ST["withdrawn"]), (rf_, ST["refused"]),
        (fin_ & ~has_dl, ST["resolved"]),
        (fin_ & ~ok_act_f, ST["overdue"]),
        (fin_ & (cday < actual_day), ST["early"]),
        (fin_, ST["on_time"]),
        (open_ & held_other, ST["suspended"]),
        (open_ & has_dl & ~ok_act_f, ST["in_progress_overdue"]),
        (open_, ST["in_progress"]), else_=ibis.null("int64"))
    pname = ibis.cases((A["in_cat"] & A["_k_name"].notnull(), A["_k_name"]), else_=A["_a_pname"])
    out = A.select(
        case=A["_c"], procedure=A["_a_proc"], procedure_name=pname, unit=A["unit"],
        receiving_unit=A["receiving_unit"], channel=A["_a_chan"], received=A["recv"],
        clock_start=ibis.cases((has_dl, A["_cs_utc"]), else_=ibis.null("int64")),
        finished=ibis.cases((fin_, A["closed"]), else_=ibis.null("int64")), closed=A["closed"],
        outcome=ibis.cases((fin_, "finished"), (wd_, "withdrawn"), (rf_, "refused"),
                           else_=ibis.null("string")),
        statutory_due=A["stat"], reported_due=A["rep"],
        actual_due=ibis.cases((has_dl, A["_ad_utc"]), else_=ibis.null("int64")),
        due_source=A["due_source"],
        deadline_days=ibis.cases((A["in_cat"], A["_k_days"]), else_=ibis.null("float64")),
        deadline_unit=ibis.cases((A["in_cat"], A["_k_unit"]), else_=ibis.null("string")),
        budget_ns=A["budget_ns"], agency_ns=A["agency_ns"], citizen_ns=A["citizen_ns"],
        third_ns=A["third_ns"],
        elapsed_ns=ibis.cases((fin_, A["_cl_w"] - A["_r_w"]), else_=ibis.null("int64")),
        n_events=A["n_events"], n_supplement_requests=A["n_sup_req"],
        n_supplement_received=A["n_sup_rx"], n_suspensions=A["n_susp"],
        on_time_reported=on_time_reported, early_reported=early_reported,
        days_late_reported=late_rep, on_time_actual=on_time_actual,
        days_late_actual=late_act,
        holder=ibis.cases((A["is_rec"] & (o < 0), A["holder"]), else_=ibis.null("int64")),
        status=status, status_actual=status_act,
        rules_era=ibis.cases((A["_r_day"].isnull(), ibis.null("string")),
                             (A["_r_day"] >= _ERA_SWITCH_DAY, "ND118"), else_="ND61"),
        overdue_actual=(((status_act == ST["overdue"]) | (status_act == ST["in_progress_overdue"]))
                        .fill_null(False) | (fin_ & has_dl & ~ok_act_f)),
        recv_day=A["_r_day"], in_cat=A["in_cat"])
    final = _stage(out, "tthc_t_timing", rlog)
    _release(rlog, *staged)
    return final, L, roleless


# ====================================================================== result
_TIME_OUT = ("received", "clock_start", "finished", "closed", "statutory_due", "reported_due",
             "actual_due")
_DAYS_OUT = {"budget_days": "budget_ns", "agency_days": "agency_ns",
             "citizen_days": "citizen_ns", "third_party_days": "third_ns",
             "elapsed_working_days": "elapsed_ns"}


@dataclass
class RelationalTiming:
    """Per-dossier timing held by the engine: :attr:`table` is an Ibis expression with one row
    per dossier (internal int64 ns columns: times are UTC epoch ns, durations working ns);
    :meth:`to_pandas` runs it and returns the columns of ``tm.timing(log).cases`` that are
    computed relationally (all of :data:`tthc_mining.timing.CASE_COLUMNS`), in dossier-id
    order. Aggregates (:meth:`status_counts`) run in the engine."""

    table: Any
    as_of: pd.Timestamp
    tz: str
    hours_per_day: float
    cutoff: str | None = "15:00"
    third_party_paused: bool = True
    catalog_source: str | None = None
    notes: list = field(default_factory=list)
    engine: str | None = None
    _L: int = field(default=0, repr=False)

    @property
    def cases(self):
        """The per-dossier Ibis table (alias of :attr:`table`)."""
        return self.table

    def to_pandas(self, limit: int | None = None) -> pd.DataFrame:
        """The per-dossier table as ``tm.timing(log).cases`` gives it (same columns and order)."""
        from ..timing import CASE_COLUMNS, STATUSES, _text_col_obj
        t = self.table.order_by("case")
        if limit is not None:
            t = t.limit(limit)
        raw = t.to_pandas()
        L = float(self._L)
        out = {S.CASE: raw["case"].astype(object).to_numpy()}
        for c in CASE_COLUMNS[1:]:
            if c in _TIME_OUT:
                v = pd.to_numeric(raw[c], errors="coerce")
                ns = v.fillna(np.iinfo(np.int64).min).to_numpy(np.int64) if len(v) else \
                    np.zeros(0, np.int64)
                ns = np.where(v.isna().to_numpy(), np.iinfo(np.int64).min, ns)
                out[c] = pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]"))
                                   .tz_localize("UTC").tz_convert(self.tz))
            elif c in _DAYS_OUT:
                out[c] = pd.to_numeric(raw[_DAYS_OUT[c]], errors="coerce").to_numpy(np.float64) / L
            elif c in ("on_time_reported", "early_reported", "on_time_actual"):
                out[c] = pd.array(raw[c].astype(object).where(raw[c].notna(), None), dtype="boolean")
            elif c in ("status", "status_actual"):
                codes = pd.to_numeric(raw[c], errors="coerce").fillna(-1).to_numpy(np.int64)
                out[c] = pd.Categorical.from_codes(codes, categories=list(STATUSES))
            elif c == "rules_era":
                out[c] = pd.Categorical(raw[c].astype(object), categories=["ND61", "ND118"])
            elif c == "holder":
                h = pd.to_numeric(raw[c], errors="coerce")
                out[c] = np.where(h.isna(), None, np.asarray(OWNER_NAMES, dtype=object)[
                    h.fillna(0).to_numpy(np.int64)]).astype(object)
            elif c.startswith("n_"):
                out[c] = raw[c].to_numpy(np.int64)
            elif c in ("deadline_days", "days_late_reported", "days_late_actual"):
                out[c] = pd.to_numeric(raw[c], errors="coerce").to_numpy(np.float64)
            else:   # text
                out[c] = _text_col_obj(raw[c].astype(object).where(raw[c].notna(), None)
                                       .to_numpy(dtype=object))
        df = pd.DataFrame(out)
        df.attrs.update({"as_of": self.as_of, "hours_per_day": self.hours_per_day,
                         "engine": self.engine})
        return df

    def to_frame(self) -> pd.DataFrame:
        return self.to_pandas()

    def status_counts(self, column: str = "status") -> pd.Series:
        """Dossiers per status (counted in the engine)."""
        from ..timing import STATUSES
        if column not in ("status", "status_actual"):
            raise ConfigError("column must be 'status' or 'status_actual'")
        t = self.table
        r = t.group_by(s=t[column]).aggregate(n=t.count()).to_pandas()
        r = r.dropna(subset=["s"])
        s = pd.Series(r["n"].to_numpy(np.int64), index=[STATUSES[int(x)] for x in r["s"]])
        return s.reindex(list(STATUSES), fill_value=0)

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "cutoff": self.cutoff,
                "third_party_paused": self.third_party_paused,
                "hours_per_day": self.hours_per_day, "catalog": self.catalog_source,
                "notes": list(self.notes), "engine": self.engine,
                "status_counts": {k: int(v) for k, v in self.status_counts().items()}}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        return (f"RelationalTiming({self.engine}: as of {self.as_of:%Y-%m-%d %H:%M}; "
                "per-dossier table in the engine, .to_pandas() to fetch it)")

    def _repr_html_(self) -> str:
        from ..timing import STATUS_LABELS
        counts = self.status_counts()
        rows = "".join(f"<tr><td>{html.escape(STATUS_LABELS[k][0])} / "
                       f"{html.escape(STATUS_LABELS[k][1])}</td><td style='text-align:right'>"
                       f"{v:,}</td></tr>" for k, v in counts.items())
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<p><b>Timing</b> ({html.escape(str(self.engine))}), as of "
                f"{html.escape(str(self.as_of))}</p>{notes}"
                f"<table><tr><th>Trạng thái / Status</th><th>n</th></tr>{rows}</table>")


# ====================================================================== entry points
def _as_of(rlog, as_of: Any) -> pd.Timestamp:
    from ..timing import _resolve_as_of
    tz = rlog.calendar.tz or "UTC"
    if as_of is not None:
        return _resolve_as_of(as_of, np.zeros(0, np.int64), tz)
    if "max_ts_ns" not in rlog._cache:
        from .axis import time_range
        rng = time_range(rlog, [S.TIMESTAMP])[S.TIMESTAMP]
        r = None if rng is None else rng[1] * 1000
        if S.TIMESTAMP in getattr(rlog, "naive_columns", frozenset()) and r is not None:
            # a wall-clock column: the instant in the calendar's zone
            r = pd.Timestamp(int(r)).tz_localize(tz).value
        rlog._cache["max_ts_ns"] = None if r is None else int(r)
    m = rlog._cache["max_ts_ns"]
    if m is None:
        return pd.Timestamp.now(tz=tz)
    return pd.Timestamp(m, tz="UTC").tz_convert(tz)


def timing(rlog, *, catalog=None, as_of: Any = None, cutoff: str | None = "15:00",
           roles: Mapping[str, str] | None = None,
           third_party_paused: bool = True) -> RelationalTiming:
    """:func:`tthc_mining.timing.timing` for a relational log: same parameters and rules; the
    per-dossier table stays in the engine (:class:`RelationalTiming`)."""
    from ..timing import catalog_and_roles
    catalog, overrides = catalog_and_roles(rlog, catalog, roles)
    as_of_t = _as_of(rlog, as_of)
    key = ("rtiming", id(catalog), as_of_t.value, cutoff, tuple(sorted(overrides.items())),
           bool(third_party_paused))
    hit = rlog._cache.get(key)
    if hit is not None:
        return hit
    table, L, roleless = _build(rlog, catalog, int(as_of_t.value), as_of_t, cutoff, overrides,
                                bool(third_party_paused))
    notes = _notes(rlog, table, roleless)
    out = RelationalTiming(table=table, as_of=as_of_t, tz=rlog.calendar.tz or "UTC",
                           hours_per_day=rlog.calendar.seconds_per_day / 3600.0, cutoff=cutoff,
                           third_party_paused=bool(third_party_paused),
                           catalog_source=getattr(catalog, "source", None), notes=notes,
                           engine=getattr(rlog, "backend", None), _L=L)
    rlog._cache[key] = out
    return out


def _notes(rlog, table, roleless: bool) -> list[str]:
    """The pandas engine's notes on the data (same words), from one small aggregate."""
    notes = []
    if roleless:
        notes.append("No closing activity (processing finished / result returned / withdrawn / "
                     "refused) was recognised in this log: every dossier is treated as finished "
                     "at its last event.")
    r = table.aggregate(miss=table.count(where=~table["in_cat"] & table["procedure"].notnull()),
                        cat=table.count(where=table["in_cat"])).to_pandas().iloc[0]
    missing = int(r["miss"] or 0)
    if missing:
        notes.append(f"{missing:,} dossiers have a procedure code that is not in the catalogue "
                     "(deadline taken from the exported due date when there is one).")
    cols = rlog.events.columns
    if S.DUE not in cols and S.DUE_AFTER not in cols and int(r["cat"] or 0):
        notes.append("The log has no exported due date: the reported due date is recomputed as "
                     "one-stop systems do (full deadline restarted at the last supplement receipt).")
    return notes


@dataclass
class OverdueCases:
    """Overdue flags per dossier for :func:`tthc_mining.engines.bottlenecks` (``table``: Ibis
    table with ``case:concept:name`` and ``overdue``; ``basis``: the rule)."""

    table: Any
    basis: str = "timing: agency working days over the statutory budget"


def overdue_cases(rlog, catalog=None) -> OverdueCases | None:
    """Which dossiers are overdue on the agency clock (``status_actual`` overdue /
    in_progress_overdue, or finished over the budget), as the pandas engine's
    ``Timing.case_arrays["overdue_actual"]``; None when no dossier has a budget."""
    if catalog is None:
        catalog = getattr(rlog, "catalog", None)
    tim = timing(rlog, catalog=catalog)
    t = tim.table
    n = t.aggregate(n=t.count(where=t["budget_ns"].notnull())).to_pandas().iloc[0]["n"]
    if not n:
        return None
    return OverdueCases(t.select(**{S.CASE: t["case"], "overdue": t["overdue_actual"]}))
