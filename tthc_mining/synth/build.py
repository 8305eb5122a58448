"""From a simulation to a :class:`~tthc_mining.DossierLog` and its ground truth.

Definitions used by the truth (``SynthTruth.cases``, one row per dossier); all durations are
working seconds on the calendar's axis:

- ``received`` = end of *Tiếp nhận hồ sơ* (``case:received``); ``finished`` = end of the last
  agency step before *Trả kết quả* (``case:finished``, NgayKetThucXuLy); ``returned`` = end of
  *Trả kết quả*.
- segments (``tthc_mining.segments``): every event after the first closes the segment from the
  previous event's end to its own end. ``citizen_working_s`` = segments ending at *Nhận hồ sơ
  bổ sung* (request -> resubmission); ``third_party_working_s`` = segments ending at *Tiếp tục
  xử lý* (tax payment after *Chờ thực hiện nghĩa vụ tài chính*); ``agency_working_s`` = the other
  segments from ``received`` to ``finished`` = ``W(finished) - W(received) - citizen - third``.
  ``pickup_working_s`` = ``finished`` -> ``returned`` (the citizen collects the result; not agency
  time, although a plain segment walk would give it to the desk).
- ``budget_working_s`` = ``W(base due) - W(clock start)``: base due from ``received`` by the
  procedure's rule (same day: close of the working day, next day after 15:00; working days with
  the 15:00 cut-off; calendar days: date + n, moved to the next working day, at 17:00); clock start
  = ``received`` (after 15:00: next working day 07:00; calendar-day procedures: ``received``).
- ``statutory_due`` = base due pushed by the paused time (citizen + third party):
  ``overdue`` (true) = ``finished`` > ``statutory_due``. ``reported_due`` = the exported
  ``case:due``: the statutory due, except that systems that restart the clock on a supplement
  recompute it from the last resubmission (full deadline again, ``clock_restarted``), and a
  re-appointment replaces it by ``due_after`` (``due_moved``; ``due_before`` = the due it
  replaced). ``overdue_reported`` = ``finished`` > ``reported_due`` (timestamps);
  ``overdue_reported_date`` = the date of ``finished`` after the date of ``reported_due`` (how
  one-stop systems count "đúng hạn": dates, not times).
- rework: ``n_supplement`` supplement requests (``double_request`` = 2 or more, against the
  once-only rule), ``n_redo`` (the step done again right away by the same officer), ``n_repeat``
  (right away by another officer of the unit), ``n_pingpong`` (*Trả lại hồ sơ* bounces: unit Y
  sends the dossier back to unit X, X does its step again, then Y), ``n_loops`` = their sum.
  ``rework_agency_working_s`` = agency-owned segments ending at rework events: *Yêu cầu bổ sung
  hồ sơ*, *Trả lại hồ sơ*, and every execution of a step after its first in the dossier (redo,
  repeat, the appraisal after a supplement, the step re-done after a bounce);
  ``rework_citizen_working_s`` = ``citizen_working_s``.
- ``request_frac`` = share of the budget used when the first supplement request was issued
  (agency time from the clock start to the request's end over ``budget_working_s``);
  ``late_request`` = some request was issued with at least 80% of the budget used.
- ``desk_entered_online``: channel online but submitted at the desk a few minutes (1-6) before
  the receipt started, inside one office slot; genuine online dossiers wait at least 15 working
  minutes between ``case:submitted`` and the receipt.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..log import DossierLog
from ..quality import QualityReport
from ..roles import add_role_column
from .world import (K_APOLOGY, K_RESULT, K_RESUME, K_SUPP_RECV, KIND_NAMES, OWNER_AGENCY,
                    REWORK_KINDS, SimResult)

H = 3600.0
PROCEDURE_NAME = getattr(S, "PROCEDURE_NAME", "case:procedure_name")
OWNER_NAME = getattr(S, "OWNER_NAME", "case:owner_name")
OWNER_ID = getattr(S, "OWNER_ID", "case:owner_id")
OWNER_PHONE = getattr(S, "OWNER_PHONE", "case:owner_phone")
OWNER_EMAIL = getattr(S, "OWNER_EMAIL", "case:owner_email")
LEVEL = "case:level"
STATUS_RETURNED = "Đã trả kết quả"
CHANNELS = np.array([S.CHANNEL_DIRECT, S.CHANNEL_ONLINE, S.CHANNEL_POST], dtype=object)


def _ts(cal, w: np.ndarray, side: str = "next") -> pd.DatetimeIndex:
    return cal.from_working(np.asarray(w, dtype=float), side=side, tz_aware=True)


def case_ids(sim: SimResult) -> np.ndarray:
    """Dossier ids in the one-stop style ``<agency>-<yymmdd>-<seq>`` (agency = receiving desk
    code, seq = order of receipt at that desk on that day)."""
    W = sim.world
    geo = W.params.geography
    cs = sim.cases
    n = len(cs["pi"])
    levels = np.array([p.level for p in sim.params.procedures], dtype=object)[cs["pi"]]
    dist = geo.commune_district[cs["commune"]]
    # commune c of district d -> 000.<20+c>.<10+d>.H30 ; district d -> 000.00.<10+d> ; province
    agency = np.where(levels == "xa", 1000 + 100 * dist + cs["commune"],
                      np.where(levels == "huyen", 100 * dist, 99_999))
    recv = _ts(W.cal, cs["received_w"]).tz_localize(None)
    day = recv.as_unit("ns").asi8 // 86_400_000_000_000
    frame = pd.DataFrame({"agency": agency, "day": day, "w": cs["received_w"], "i": np.arange(n)})
    frame = frame.sort_values(["agency", "day", "w", "i"], kind="stable")
    seq = frame.groupby(["agency", "day"], sort=False).cumcount().to_numpy() + 1
    seq_all = np.empty(n, dtype=np.int64)
    seq_all[frame["i"].to_numpy()] = seq
    codes = {}
    for a in np.unique(agency):
        if a == 99_999:
            codes[a] = f"000.00.00.{geo.province_code}"
        elif a >= 1000:
            d, c = divmod(a - 1000, 100)
            codes[a] = f"000.{21 + c:02d}.{11 + d:02d}.{geo.province_code}"
        else:
            codes[a] = f"000.00.{11 + a // 100:02d}.{geo.province_code}"
    keys, inv = np.unique(agency, return_inverse=True)
    prefix = np.array([codes[k] for k in keys], dtype=object)[inv]
    udays, dinv = np.unique(day, return_inverse=True)  # format each calendar day once
    ymd = np.asarray(pd.DatetimeIndex(udays * 86_400_000_000_000).strftime("%y%m%d"),
                     dtype=object)[dinv]
    out = np.char.add(np.char.add(np.char.add(prefix.astype(str), "-"), ymd.astype(str)),
                      np.char.add("-", np.char.zfill(seq_all.astype(str), 4)))
    return out.astype(object)


def _per_case(values: np.ndarray, c: np.ndarray) -> pd.Categorical:
    """A per-dossier string attribute repeated on its events, as a categorical (factorised once
    per dossier, not per event)."""
    codes, uniques = pd.factorize(values)
    return pd.Categorical.from_codes(codes[c], categories=uniques)


def _cat(codes: np.ndarray, names, fill=None) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=list(names))


def build_events(sim: SimResult, ids: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """The canonical event table (sorted by dossier id then time) and aligned helper arrays."""
    W = sim.world
    cal = W.cal
    ev = sim.events
    cs = sim.cases
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids.astype(str), kind="stable")] = np.arange(len(ids))
    o = np.lexsort((ev["order"], ev["we"], rank[ev["case"]]))
    ev = {k: v[o] for k, v in ev.items()}
    sim.events = ev  # keep only the sorted copy (the same events, in log order)
    c = ev["case"]
    sorted_ids = ids[np.argsort(rank)]
    procs = sim.params.procedures
    proc_code = np.array([p.code for p in procs], dtype=object)
    proc_name = np.array([p.name for p in procs], dtype=object)
    pi = cs["pi"][c]
    people = W.people
    received = _ts(cal, cs["received_w"])
    finished = _ts(cal, cs["finish_w"])
    due = _ts(cal, cs["reported_due_w"], side="prev")
    due_before = _ts(cal, cs["due_before_w"], side="prev")
    due_after = _ts(cal, cs["due_after_w"], side="prev")
    sub_ns = cs["submitted_ns"]
    submitted = pd.DatetimeIndex(sub_ns.view("datetime64[ns]")).tz_localize(cal.tz)
    reason_codes = ev["reason"]
    events = pd.DataFrame({
        S.CASE: pd.Categorical.from_codes(rank[c], categories=list(sorted_ids)),
        S.ACTIVITY: _cat(ev["act"], W.activities),
        S.START: _ts(cal, ev["ws"]),
        S.TIMESTAMP: _ts(cal, ev["we"]),
        S.RESOURCE: _cat(ev["off"], W.officer_names),
        S.GROUP: _cat(ev["unit"], W.unit_names),
        S.PROCEDURE: _cat(pi, proc_code),
        PROCEDURE_NAME: _cat(pi, proc_name),
        S.RECEIVED: received[c],
        S.DUE: due[c],
        S.CHANNEL: pd.Categorical.from_codes(cs["channel"][c].astype(np.int64),
                                             categories=list(CHANNELS)),
        S.STATUS: pd.Categorical.from_codes(np.zeros(len(c), dtype=np.int64),
                                            categories=[STATUS_RETURNED]),
        S.DUE_BEFORE: due_before[c],
        S.DUE_AFTER: due_after[c],
        S.SUBMITTED: submitted[c],
        S.FINISHED_REPORTED: finished[c],
        S.REASON: pd.Categorical.from_codes(reason_codes, categories=list(W.reasons)),
        OWNER_NAME: _per_case(people["name"], c),
        OWNER_ID: _per_case(people["cccd"], c),
        OWNER_PHONE: _per_case(people["phone"], c),
        OWNER_EMAIL: _per_case(people["email"], c),
    })
    add_role_column(events)
    events[S.ROW] = np.arange(1, len(events) + 1, dtype=np.int64)
    return events, ev


def _first_in_case(case: np.ndarray) -> np.ndarray:
    first = np.ones(len(case), dtype=bool)
    first[1:] = case[1:] != case[:-1]
    return first


def event_segments(ev: dict) -> dict:
    """Per sorted event: previous end, wait, held time (segment) and the owner (as segments.py:
    citizen up to a supplement's receipt, third party up to a resumption)."""
    c = ev["case"]
    first = _first_in_case(c)
    prev = np.empty(len(c))
    prev[1:] = ev["we"][:-1]
    prev[first] = np.nan
    owner = ev["owner"].copy()
    return {"first": first, "prev_end": prev, "wait": ev["ws"] - prev, "held": ev["we"] - prev,
            "proc": ev["we"] - ev["ws"], "owner": owner}


def truth_cases(sim: SimResult, ids: np.ndarray, ev: dict, seg: dict) -> pd.DataFrame:
    W = sim.world
    cal = W.cal
    cs = sim.cases
    procs = sim.params.procedures
    n = len(ids)
    L = W.L
    rework = np.isin(ev["kind"], REWORK_KINDS) & (seg["owner"] == OWNER_AGENCY) & ~seg["first"]
    rework_s = np.bincount(ev["case"], weights=np.where(rework, seg["held"], 0.0), minlength=n)
    geo = W.params.geography
    late = (cs["request_frac1"] >= 0.8) | (cs["request_frac2"] >= 0.8)
    overdue = cs["finish_w"] > cs["statutory_due_w"]
    overdue_rep = cs["finish_w"] > cs["reported_due_w"]
    n_loops = cs["n_supplement"] + cs["n_redo"] + cs["n_repeat"] + cs["n_pingpong"]
    n_events = np.bincount(ev["case"], minlength=n)
    agency = cs["finish_w"] - cs["received_w"] - cs["citizen_s"] - cs["third_s"]
    sub = pd.DatetimeIndex(cs["submitted_ns"].view("datetime64[ns]")).tz_localize(cal.tz)
    df = pd.DataFrame({
        S.CASE: ids,
        "procedure": np.array([p.code for p in procs], dtype=object)[cs["pi"]],
        "level": np.array([p.level for p in procs], dtype=object)[cs["pi"]],
        "sector": np.array([p.sector for p in procs], dtype=object)[cs["pi"]],
        "commune": np.array(geo.communes, dtype=object)[cs["commune"]],
        "district": np.array(geo.district_names, dtype=object)[geo.commune_district[cs["commune"]]],
        "channel": CHANNELS[cs["channel"]],
        "submitted": sub,
        "receipt_start": _ts(cal, cs["receipt_start_w"]),
        "received": _ts(cal, cs["received_w"]),
        "clock_start": _ts(cal, cs["clock_start_w"]),
        "finished": _ts(cal, cs["finish_w"]),
        "returned": _ts(cal, cs["returned_w"]),
        "base_due": _ts(cal, cs["base_due_w"], side="prev"),
        "statutory_due": _ts(cal, cs["statutory_due_w"], side="prev"),
        "reported_due": _ts(cal, cs["reported_due_w"], side="prev"),
        "due_before": _ts(cal, cs["due_before_w"], side="prev"),
        "due_after": _ts(cal, cs["due_after_w"], side="prev"),
        "budget_working_s": cs["budget_s"],
        "agency_working_s": agency,
        "citizen_working_s": cs["citizen_s"],
        "third_party_working_s": cs["third_s"],
        "pickup_working_s": cs["pickup_s"],
        "rework_agency_working_s": rework_s,
        "rework_citizen_working_s": cs["citizen_s"],
        "n_supplement": cs["n_supplement"],
        "n_redo": cs["n_redo"],
        "n_repeat": cs["n_repeat"],
        "n_pingpong": cs["n_pingpong"],
        "n_loops": n_loops,
        "request_frac": cs["request_frac1"],
        "request_frac2": cs["request_frac2"],
        "late_request": late,
        "late_request_planted": cs["late_planted"],
        "double_request": cs["n_supplement"] >= 2,
        "suspended": cs["suspended"],
        "clock_restarted": cs["restarted"],
        "due_moved": cs["moved"],
        "desk_entered_online": cs["desk_entered"],
        "overdue": overdue,
        "overdue_reported": overdue_rep,
        "overdue_reported_date": _local_day(cal, cs["finish_w"], "next")
        > _local_day(cal, cs["reported_due_w"], "prev"),
        "days_late": np.where(overdue, (cs["finish_w"] - cs["statutory_due_w"]) / L, 0.0),
        "overdue_planted": cs["overdue_planted"],
        "n_events": n_events,
    })
    df["overdue_cause_unit"] = _overdue_causes(sim, ev, seg, overdue)
    return df


def _local_day(cal, w: np.ndarray, side: str) -> np.ndarray:
    """Local calendar day number of axis values (NaN -> a very large day)."""
    ts = cal.from_working(np.asarray(w, dtype=float), side=side)
    ns = ts.as_unit("ns").asi8
    return np.where(ts.isna(), np.iinfo(np.int64).max, ns // 86_400_000_000_000)


def _overdue_causes(sim: SimResult, ev: dict, seg: dict, overdue: np.ndarray) -> np.ndarray:
    """For each truly overdue dossier: the unit whose steps most exceeded their allotments
    (agency-owned segments per (dossier, step, unit) minus the step's allotment)."""
    W = sim.world
    n = len(overdue)
    out = np.full(n, None, dtype=object)
    sel = overdue[ev["case"]] & (seg["owner"] == OWNER_AGENCY) & ~seg["first"] \
        & (ev["kind"] != K_RESULT) & (ev["kind"] != K_APOLOGY)
    if not sel.any():
        return out
    f = pd.DataFrame({"case": ev["case"][sel], "act": ev["act"][sel], "unit": ev["unit"][sel],
                      "held": seg["held"][sel], "pi": sim.cases["pi"][ev["case"][sel]]})
    allot = {}
    for pi, p in enumerate(sim.params.procedures):
        for s in p.steps:
            if s.allotment_days is not None:
                allot[(pi, W.act_index[s.activity])] = s.allotment_days * W.L
    g = f.groupby(["case", "pi", "act", "unit"], sort=False)["held"].sum().reset_index()
    al = np.array([allot.get((a, b), np.nan) for a, b in zip(g["pi"], g["act"])], dtype=float)
    g["excess"] = np.where(np.isnan(al), 0.0, np.maximum(g["held"] - np.nan_to_num(al), 0.0))
    u = g.groupby(["case", "unit"], sort=False)["excess"].sum().reset_index()
    u = u[u["excess"] > 0].sort_values(["case", "excess"], ascending=[True, False], kind="stable")
    top = u.drop_duplicates("case")
    out[top["case"].to_numpy()] = np.array(W.unit_names, dtype=object)[top["unit"].to_numpy()]
    return out


def step_stats(sim: SimResult, ev: dict, seg: dict) -> pd.DataFrame:
    """Per (procedure, activity): executions, waiting and processing as the events show them
    (agency-owned segments, first events excluded)."""
    W = sim.world
    ok = ~seg["first"] & (seg["owner"] == OWNER_AGENCY)
    pi = sim.cases["pi"][ev["case"]]
    f = pd.DataFrame({"pi": pi[ok], "act": ev["act"][ok], "wait": seg["wait"][ok] / H,
                      "proc": seg["proc"][ok] / H, "kind": ev["kind"][ok],
                      "case": ev["case"][ok]})
    g = f.groupby(["pi", "act"], sort=True)
    out = pd.DataFrame({"count": g.size(), "cases": g["case"].nunique(),
                        "total_wait_h": g["wait"].sum(), "wait_mean_h": g["wait"].mean(),
                        "proc_mean_h": g["proc"].mean(),
                        "is_result": g["kind"].first() == K_RESULT}).reset_index()
    out["procedure"] = np.array([p.code for p in sim.params.procedures], dtype=object)[out["pi"]]
    out["activity"] = np.array(W.activities, dtype=object)[out["act"]]
    return out


def _model_wait_h(step, world, pi) -> float:
    """Expected waiting of the planted step from its parameters when a formula exists."""
    if step.batch is None and step.queue is None:
        return float(step.wait.mean_h)
    if step.queue is not None:
        # Allen-Cunneen approximation for M/G/c at the planted utilisation
        c, rho = step.queue.servers, step.queue.utilisation
        a = rho * c
        from math import factorial
        s = sum(a ** k / factorial(k) for k in range(c))
        last = a ** c / (factorial(c) * (1 - rho))
        pw = last / (s + last)
        cv2 = step.proc.cv ** 2
        return float(pw / (c * (1 - rho)) * step.proc.mean_h * (1 + cv2) / 2)
    return float("nan")


def truth_tables(sim: SimResult, cases: pd.DataFrame, stats: pd.DataFrame
                 ) -> tuple[pd.DataFrame, dict, pd.DataFrame, pd.DataFrame]:
    """(bottlenecks, overdue_units, overdue table, loop rates)."""
    from .procedures import unit_label
    W = sim.world
    rows = []
    for pi, p in enumerate(sim.params.procedures):
        st = stats[(stats["pi"] == pi) & ~stats["is_result"]].sort_values(
            "total_wait_h", ascending=False, kind="stable")
        step = p.step(p.bottleneck)
        names = sorted({W.unit_names[u] for u in W.template_codes(step.unit)[W.groups[pi].commune]}) \
            if W.groups[pi].n else []
        unit = names[0] if len(names) == 1 else unit_label(step.unit)
        me = st[st["activity"] == p.bottleneck]
        others = st[st["activity"] != p.bottleneck]
        rank = int(np.flatnonzero(st["activity"].to_numpy() == p.bottleneck)[0]) + 1 if len(me) else None
        row = {"procedure": p.code, "activity": p.bottleneck, "unit": unit,
               "n_units": len(names), "kind": p.bottleneck_kind,
               "true_wait_mean_h": float(me["wait_mean_h"].iloc[0]) if len(me) else np.nan,
               "true_wait_total_h": float(me["total_wait_h"].iloc[0]) if len(me) else np.nan,
               "true_proc_mean_h": float(me["proc_mean_h"].iloc[0]) if len(me) else np.nan,
               "n_executions": int(me["count"].iloc[0]) if len(me) else 0,
               "n_dossiers": int(me["cases"].iloc[0]) if len(me) else 0,
               "model_wait_mean_h": _model_wait_h(step, W, pi),
               "rank_total_wait": rank,
               "runner_up": others["activity"].iloc[0] if len(others) else None,
               "runner_up_total_wait_h": float(others["total_wait_h"].iloc[0]) if len(others) else np.nan,
               "servers": step.queue.servers if step.queue else None,
               "utilisation": step.queue.utilisation if step.queue else None,
               "batch_times": ",".join(step.batch.times) if step.batch else None}
        rows.append(row)
    bottlenecks = pd.DataFrame(rows)
    overdue_units = {p.code: p.overdue_unit for p in sim.params.procedures}
    orows = []
    for p in sim.params.procedures:
        sub = cases[cases["procedure"] == p.code]
        od = sub[sub["overdue"]]
        causes = od["overdue_cause_unit"].value_counts()
        orows.append({"procedure": p.code, "unit": p.overdue_unit, "activity": p.overdue_activity,
                      "p_planted": p.p_overdue, "excess_days_low": p.overdue_excess_days[0],
                      "excess_days_high": p.overdue_excess_days[1],
                      "n_dossiers": len(sub), "n_planted": int(sub["overdue_planted"].sum()),
                      "n_overdue": len(od), "overdue_rate": len(od) / len(sub) if len(sub) else np.nan,
                      "n_overdue_reported": int(sub["overdue_reported"].sum()),
                      "n_overdue_planted": int(od["overdue_planted"].sum()),
                      "n_caused_by_unit": int(causes.get(p.overdue_unit, 0)),
                      "top_cause_unit": causes.index[0] if len(causes) else None})
    overdue = pd.DataFrame(orows)
    lrows = []
    for p in sim.params.procedures:
        sub = cases[cases["procedure"] == p.code]
        k = len(sub)
        m = (lambda s: float(s.mean()) if k else np.nan)
        lrows.append({
            "procedure": p.code, "n_dossiers": k,
            "p_supplement": p.p_supplement if p.appraisal else 0.0,
            "supplement_rate": m(sub["n_supplement"] > 0),
            "supplements_per_dossier": m(sub["n_supplement"]),
            "p_double_given_supplement": p.p_double,
            "double_request_rate": m(sub["double_request"]),
            "p_late_given_supplement": p.p_late,
            "late_request_rate": m(sub["late_request"]),
            "p_redo": p.p_redo if p.redo_activity else 0.0, "redo_rate": m(sub["n_redo"] > 0),
            "p_repeat": p.p_repeat if p.redo_activity else 0.0,
            "repeat_rate": m(sub["n_repeat"] > 0),
            "p_pingpong": p.p_pingpong if p.pingpong else 0.0,
            "pingpong_rate": m(sub["n_pingpong"] > 0),
            "pingpongs_per_dossier": m(sub["n_pingpong"]),
            "loops_per_dossier": m(sub["n_loops"]),
            "loop_rate": m(sub["n_loops"] > 0),
            "rework_agency_days_mean": m(sub["rework_agency_working_s"]) / W.L if k else np.nan,
            "rework_citizen_days_mean": m(sub["rework_citizen_working_s"]) / W.L if k else np.nan,
            "desk_entered_online_rate": m(sub["desk_entered_online"]),
            "due_moved_rate": m(sub["due_moved"]),
            "clock_restart": p.restart_on_supplement,
        })
    loops = pd.DataFrame(lrows)
    return bottlenecks, overdue_units, overdue, loops


def make_log(sim: SimResult, events: pd.DataFrame, catalog, seed: int) -> DossierLog:
    source = f"synth:seed={seed}"
    q = QualityReport(source=source, rows_read=len(events))
    return DossierLog(events=events, quality=q, calendar=sim.world.cal, catalog=catalog,
                      source=source)


__all__ = ["build_events", "truth_cases", "truth_tables", "step_stats", "event_segments",
           "case_ids", "make_log", "KIND_NAMES"]
