"""The hidden clock: how the statutory clock is gamed or bent (domain-vn.md §1.3-1.5, §3).

Per dossier, vectorised:

* **late supplement request** — a supplement request made when the agency had already used at
  least ``late_request_share`` (0.8 by default) of the statutory budget (agency working time since
  receipt, clock paused while the citizen held the dossier). A request then restarts or pauses
  the clock and hides the agency's delay.
* **double request** — more supplement requests than the rules allow (one).
* **due date moved** — ``NgayHenTraTruoc`` differs from ``NgayHenTraMoi`` (``case:due_before`` /
  ``case:due_after``), a re-appointment (apology + new date) event, or the dossier was received
  more than once (repeated receipts re-issue the appointment slip).
* **re-appointed too often** — more re-appointments than the rules allow (one).
* **clock restarted** — the exported due date lies after the statutory one (the system restarted
  the count at the supplement), so the reported on-time rate is computed against a later date.
* **online dossier entered at the desk** — channel ``online`` with ``case:submitted`` and a
  receipt within ``desk_entry_minutes`` of the submission; when the log has an event at the
  submission with an officer, that officer must also be the receiving one.

The rules follow the date the dossier was received: NĐ 61/2018 and NĐ 107/2021 until 30/6/2025,
NĐ 118/2025 from 1/7/2025 (``RULES``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..roles import fold
from ..segments import OWNER_AGENCY, OWNER_THIRD, Segments
from . import ci
from .detect import EventCodes

#: the rules as data; a dossier follows the rules in force on the day it was received
RULES: dict[str, dict] = {
    "nd61_107": {
        "label": "NĐ 61/2018/NĐ-CP & NĐ 107/2021/NĐ-CP",
        "valid_from": None, "valid_to": "2025-06-30",
        "max_supplement_requests": 1,   # "chỉ được yêu cầu sửa đổi, bổ sung một lần"
        "max_reappointments": 1,        # "hẹn lại ngày trả kết quả không quá một lần"
        "late_request_share": 0.8,      # request in the last 20% of the statutory budget
        "desk_entry_minutes": 10.0,     # online submission received within minutes
    },
    "nd118": {
        "label": "NĐ 118/2025/NĐ-CP",
        "valid_from": "2025-07-01", "valid_to": None,
        "max_supplement_requests": 1,
        "max_reappointments": 1,
        "late_request_share": 0.8,
        "desk_entry_minutes": 10.0,
    },
}
ERA_SWITCH = pd.Timestamp("2025-07-01")
_ONLINE = {"online", "truc tuyen", "2", "dvc truc tuyen", "qua mang", "internet"}


def rules_era_of(received: pd.Series, tz: str | None) -> np.ndarray:
    """'nd61_107' or 'nd118' per dossier from the received time (local date)."""
    r = pd.to_datetime(received)
    if getattr(r.dt, "tz", None) is not None:
        r = r.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
    new = (r >= ERA_SWITCH).to_numpy()
    out = np.where(new, "nd118", "nd61_107").astype(object)
    out[r.isna().to_numpy()] = None
    return out


def _rule_array(era: np.ndarray, key: str, overrides: dict) -> np.ndarray:
    """A rule's value per dossier (era labels -> one comparison per era, not per dossier)."""
    if key in overrides and overrides[key] is not None:
        return np.full(era.size, float(overrides[key]))
    codes, labels = pd.factorize(era)  # a couple of labels
    per_label = np.array([float(RULES.get(lab, RULES["nd118"])[key]) for lab in labels]
                         + [float(RULES["nd118"][key])])
    return per_label[np.where(codes >= 0, codes, len(labels))]


def case_first_rows(seg: Segments) -> np.ndarray:
    return seg.case_start[:-1]


def clock_cases(log, seg: Segments, codes: EventCodes, tcases: pd.DataFrame, *,
                overrides: dict | None = None, counted_s: np.ndarray | None = None) -> pd.DataFrame:
    """One row per dossier (in ``seg.case_ids`` order) with the hidden-clock flags.

    ``tcases`` is ``tm.timing(log).cases`` aligned with the dossier codes (may lack columns);
    ``counted_s`` the working seconds of every segment inside the dossier's statutory-clock window
    (``timing.events.counted_h``), so the budget used at a request is measured exactly as the
    budget itself (from the clock start after the 15:00 cut-off).
    """
    overrides = overrides or {}
    ev = log.events
    C = seg.n_cases
    first = case_first_rows(seg)
    cal = log.calendar
    L = cal.seconds_per_day

    received = (tcases["received"] if "received" in tcases.columns
                else ev[S.TIMESTAMP].iloc[first]).reset_index(drop=True)
    era = None
    if "rules_era" in tcases.columns and tcases["rules_era"].notna().any():
        # normalise the era labels of timing (e.g. "ND61" / "ND118"), once per distinct label
        ec, eu = pd.factorize(tcases["rules_era"])
        lab = np.array(["nd118" if "118" in fold(u) else "nd61_107" for u in eu] + [None], dtype=object)
        era = lab[np.where(ec >= 0, ec, len(eu))]
        missing = pd.isna(era)
        if missing.any():
            era[missing] = rules_era_of(received, cal.tz)[missing]
    if era is None:
        era = rules_era_of(received, cal.tz)
    max_req = _rule_array(era, "max_supplement_requests", overrides)
    max_reap = _rule_array(era, "max_reappointments", overrides)
    late_share = _rule_array(era, "late_request_share", overrides)
    desk_min = _rule_array(era, "desk_entry_minutes", overrides)

    n_req = np.bincount(seg.case[codes.is_request], minlength=C)
    n_reap = np.bincount(seg.case[codes.is_reappointed], minlength=C)
    n_rcpt = np.bincount(seg.case[codes.is_receipt], minlength=C)

    # agency working time used before each request (clock paused while the citizen holds it)
    w_recv = cal.to_working(received)
    if counted_s is not None:
        agency_seg = np.where(seg.owner == OWNER_AGENCY, np.nan_to_num(counted_s, nan=0.0), 0.0)
        lead_in = np.zeros(C)
    else:
        agency_seg = np.where(seg.owner == OWNER_AGENCY, np.nan_to_num(seg.seg_s, nan=0.0), 0.0)
        lead_in = np.nan_to_num(np.clip(seg.w_end[first] - w_recv, 0.0, None), nan=0.0)
    cum = np.cumsum(agency_seg)
    req_rows = np.flatnonzero(codes.is_request)
    rc = seg.case[req_rows]
    used_s = cum[req_rows] - (cum[first] - agency_seg[first])[rc] + lead_in[rc]
    budget_days = (tcases["budget_days"].to_numpy(dtype=np.float64)
                   if "budget_days" in tcases.columns else np.full(C, np.nan))
    budget_s = budget_days * L  # timing's budget: same-day procedures = the rest of the day
    share_used = used_s / np.where(budget_s[rc] > 0, budget_s[rc], np.nan)
    late_evt = share_used >= late_share[rc]
    known = np.isfinite(share_used)
    late_n = np.bincount(rc[late_evt & known], minlength=C)
    known_n = np.bincount(rc[known], minlength=C)
    late = pd.array(late_n > 0, dtype="boolean")
    late[(known_n == 0) & (n_req > 0)] = pd.NA  # requests made, but no budget to judge them by
    first_req_share = np.full(C, np.nan)
    req_unit = np.full(C, -1, dtype=np.int64)  # unit of the first request
    if req_rows.size:
        fr = np.r_[True, rc[1:] != rc[:-1]]
        first_req_share[rc[fr]] = share_used[fr]
        req_unit[rc[fr]] = codes.unit[req_rows[fr]]

    # due date moved
    def case_col(col):
        return ev[col].iloc[first].reset_index(drop=True) if col in ev.columns else None

    db, da = case_col(S.DUE_BEFORE), case_col(S.DUE_AFTER)
    moved_cols = np.zeros(C, dtype=bool)
    if db is not None and da is not None:
        dbs, das = _aware_col(db, cal.tz), _aware_col(da, cal.tz)
        moved_cols = (dbs.notna() & das.notna() & (dbs != das)).to_numpy(dtype=bool)
    due_moved = moved_cols | (n_reap > 0) | (n_rcpt > 1)
    n_reappointments = np.maximum(n_reap, moved_cols.astype(np.int64))

    # clock restarted: which model explains the exported due date better — the statutory due
    # pushed back by the time the citizen / a third party held the dossier (the clock paused),
    # or the full deadline counted again from the last supplement receipt (the clock restarted)?
    restarted = np.zeros(C, dtype=bool)
    if {"reported_due", "actual_due", "deadline_days", "deadline_unit"} <= set(tcases.columns):
        recv_rows = np.flatnonzero(codes.is_received)
        last_recv = np.full(C, -1, dtype=np.int64)
        if recv_rows.size:
            rcc = seg.case[recv_rows]
            lastm = np.r_[rcc[1:] != rcc[:-1], True]
            last_recv[rcc[lastm]] = recv_rows[lastm]
        cand = (n_req > 0) & (last_recv >= 0)
        if cand.any():
            idx = np.flatnonzero(cand)
            t_rx = ev[S.TIMESTAMP].iloc[last_recv[idx]].reset_index(drop=True)
            days = tcases["deadline_days"].to_numpy(dtype=np.float64)[idx]
            unit = tcases["deadline_unit"].to_numpy(dtype=object)[idx]
            rst = _deadline_w(cal, t_rx, days, unit)
            # plus the time a third party held it afterwards (tax, verification: also paused)
            third_seg = np.where(seg.owner == OWNER_THIRD, np.nan_to_num(seg.seg_s, nan=0.0), 0.0)
            cum3 = np.r_[0.0, np.cumsum(third_seg)]
            case_end = seg.case_start[1:][idx]
            rst = rst + (cum3[case_end] - cum3[last_recv[idx] + 1])
            # a re-appointment replaced the exported due: judge the one it replaced
            rep_src = tcases["reported_due"].iloc[idx].reset_index(drop=True)
            if db is not None:
                dbi = _aware_col(db.iloc[idx], cal.tz)
                rep_src = _aware_col(rep_src, cal.tz).where(dbi.isna(), dbi)
            rep = cal.to_working(_aware_col(rep_src, cal.tz))
            act = cal.to_working(_aware_col(tcases["actual_due"].iloc[idx], cal.tz))
            ok = np.isfinite(rst) & np.isfinite(rep) & np.isfinite(act)
            closer = np.abs(rep - rst) < np.abs(rep - act)
            restarted[idx] = ok & closer & (np.abs(rep - act) > 60.0)

    # online dossiers that look entered at the desk
    desk = np.zeros(C, dtype=bool)
    desk_known = False
    ch = case_col(S.CHANNEL)
    sub = case_col(S.SUBMITTED)
    if ch is not None and sub is not None:
        desk_known = True
        cc_, cu = pd.factorize(ch)
        is_on = np.array([fold(u) in _ONLINE for u in cu] + [False], dtype=bool)
        online = is_on[np.where(cc_ >= 0, cc_, len(cu))]
        subt = sub
        # receipt time: first receipt-role event, else the received time
        rcpt_rows = np.flatnonzero(codes.is_receipt)
        rcpt_first = np.full(C, -1, dtype=np.int64)
        if rcpt_rows.size:
            rcc = seg.case[rcpt_rows]
            fr = np.r_[True, rcc[1:] != rcc[:-1]]
            rcpt_first[rcc[fr]] = rcpt_rows[fr]
        has_r = rcpt_first >= 0
        rt = _utc_ns(received, cal.tz)
        if has_r.any():
            # the receipt *started* (start_timestamp) when the log has start times
            col = S.START if S.START in ev.columns else S.TIMESTAMP
            rt[has_r] = _utc_ns(ev[col].iloc[rcpt_first[has_r]], cal.tz)
            if col == S.START:
                miss = has_r & np.isnan(rt)
                if miss.any():
                    rt[miss] = _utc_ns(ev[S.TIMESTAMP].iloc[rcpt_first[miss]], cal.tz)
        gap_min = (rt - _utc_ns(subt, cal.tz)) / 60e9
        quick = online & np.isfinite(gap_min) & (gap_min >= 0) & (gap_min <= desk_min)
        # same officer where the log shows who submitted: an event before the receipt
        same_off = np.ones(C, dtype=bool)
        if S.RESOURCE in ev.columns and has_r.any():
            sub_row = np.where(has_r & (rcpt_first > first), first, -1)
            both = sub_row >= 0
            r_sub = codes.resource[np.where(both, sub_row, 0)]
            r_rcp = codes.resource[np.where(has_r, rcpt_first, 0)]
            same_off = np.where(both, (r_sub == r_rcp) & (r_sub >= 0), True)
        desk = quick & same_off

    on_rep = tcases["on_time_reported"] if "on_time_reported" in tcases.columns else None
    on_act = tcases["on_time_actual"] if "on_time_actual" in tcases.columns else None
    out = pd.DataFrame({
        S.CASE: seg.case_ids,
        "rules_era": era,
        "received": received,
        "budget_days": budget_days,
        "n_supplement_requests": n_req,
        "first_request_budget_share": first_req_share,
        "late_request": late,
        "double_request": n_req > max_req,
        "n_reappointments": n_reappointments,
        "reappointed_over_limit": n_reappointments > max_reap,
        "due_moved": due_moved,
        "clock_restarted": restarted,
        "desk_entered_online": desk if desk_known else pd.array([pd.NA] * C, dtype="boolean"),
        "requesting_unit_code": req_unit,
    })
    if on_rep is not None:
        out["on_time_reported"] = pd.array(on_rep.reset_index(drop=True), dtype="boolean")
    if on_act is not None:
        out["on_time_actual"] = pd.array(on_act.reset_index(drop=True), dtype="boolean")
    return out


def _aware_col(s, tz: str | None) -> pd.Series:
    s = pd.to_datetime(pd.Series(s).reset_index(drop=True))
    if getattr(s.dt, "tz", None) is None and tz:
        s = s.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return s


def _deadline_w(cal, start: pd.Series, days: np.ndarray, unit: np.ndarray,
                cutoff: str = "15:00") -> np.ndarray:
    """Working-axis due instant of a deadline counted from ``start`` (the one-stop rules: working
    days with the 15:00 cut-off, same day = close of the working day, calendar days)."""
    out = np.full(len(start), np.nan)
    start = _aware_col(start, cal.tz)
    work = (unit == "working") & (days > 0)
    same = days == 0
    caln = (unit == "calendar") & (days > 0)
    if work.any():
        out[work] = cal.to_working(cal.add_working_days(start[work], days[work], cutoff=cutoff))
    if same.any():
        out[same] = cal.to_working(cal.end_of_working_day(start[same], cutoff=cutoff))
    if caln.any():
        out[caln] = cal.to_working(cal.add_calendar_days(start[caln], days[caln]))
    return out


def _local_dates(s, tz: str | None) -> pd.Series:
    """Local calendar dates (normalised timestamps, naive) of a timestamp column."""
    s = pd.to_datetime(pd.Series(s).reset_index(drop=True))
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
    return s.dt.normalize()


def _utc_ns(s, tz: str | None = None) -> np.ndarray:
    """Timestamps -> float ns since epoch in UTC (naive values are local time in ``tz``), NaN
    for NaT."""
    s = pd.to_datetime(pd.Series(s).reset_index(drop=True))
    if getattr(s.dt, "tz", None) is None and tz:
        s = s.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    v = s.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(np.float64)
    v[s.isna().to_numpy()] = np.nan
    return v


FLAGS = ("late_request", "double_request", "due_moved", "reappointed_over_limit",
         "clock_restarted", "desk_entered_online")


def clock_by_unit(cc: pd.DataFrame, unit_codes: np.ndarray, units: pd.Index) -> pd.DataFrame:
    """Per responsible unit: counts and Wilson-interval rates of every flag, and the on-time
    rate as reported next to the rate recomputed without clock restarts."""
    C = len(cc)
    U = len(units)
    g = np.where(unit_codes >= 0, unit_codes, U)  # U = unknown unit
    names = list(units.astype(str)) + ["(unknown)"]
    rows = {"unit": names + ["(all)"]}
    n_doss = np.bincount(g, minlength=U + 1)
    rows["dossiers"] = np.r_[n_doss, C]

    def add(name, flag):
        v = pd.array(flag, dtype="boolean")
        known = ~np.asarray(v.isna(), dtype=bool)
        hit = v.fillna(False).to_numpy(dtype=bool)
        k = np.bincount(g[hit], minlength=U + 1)
        nn = np.bincount(g[known], minlength=U + 1)
        k, nn = np.r_[k, k.sum()], np.r_[nn, nn.sum()]
        p, lo, hi = ci.rate(k, nn)
        rows[f"{name}_n"] = k
        rows[f"{name}_rate"], rows[f"{name}_ci_low"], rows[f"{name}_ci_high"] = p, lo, hi
        rows[f"{name}_of"] = nn

    for f in FLAGS:
        if f in cc.columns:
            add(f, cc[f])
    for f in ("on_time_reported", "on_time_actual"):
        if f in cc.columns:
            add(f, cc[f])
    out = pd.DataFrame(rows)
    if {"on_time_reported_rate", "on_time_actual_rate"} <= set(out.columns):
        out["on_time_gap"] = out["on_time_reported_rate"] - out["on_time_actual_rate"]
    keep = (out["dossiers"] > 0).to_numpy()
    return out.loc[keep].reset_index(drop=True)
