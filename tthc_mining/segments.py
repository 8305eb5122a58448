"""Segments: who holds the dossier, and for how long (``../shared/docs/methods.md`` §2).

Each event after a dossier's first closes a *segment* that runs from the previous event's end to
this event's end. When start times exist the segment splits into *waiting* (previous end ->
start) and *processing* (start -> end). Every segment has an *owner*:

- ``citizen`` between a supplement request and the receipt of the supplement (clock stopped),
- ``third_party`` between a suspension (tax, verification, public posting ...) and its resumption,
- ``agency`` otherwise, attributed to the unit/officer of the event that ends the segment.

Bottlenecks, rework cost, overdue attribution and the replay of cuts are sums over segments, so
they are computed once here, vectorised on integer codes, and cached on the log.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import schema as S

OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD = 0, 1, 2
OWNER_NAMES = np.array(["agency", "citizen", "third_party"], dtype=object)


@dataclass
class Segments:
    """Per-event arrays aligned with ``log.events`` rows (which are sorted by case, then time).

    Times are on the working-time axis (seconds); durations are working seconds. For a dossier's
    first event the segment fields are NaN and ``is_first`` is True.
    """

    case: np.ndarray          # int64 case code (0..n_cases-1, contiguous blocks)
    activity: np.ndarray      # int64 activity code
    prev_activity: np.ndarray # int64 activity code of the previous event in the dossier, -1 first
    pos: np.ndarray           # 0-based position of the event within its dossier
    is_first: np.ndarray      # bool
    is_last: np.ndarray       # bool
    w_end: np.ndarray         # working-axis time of the event's end (time:timestamp)
    w_start: np.ndarray       # working-axis start time (NaN without start_timestamp)
    w_prev_end: np.ndarray    # working-axis end of the previous event (NaN for the first)
    seg_s: np.ndarray         # w_end - w_prev_end: working time since the previous event
    wait_s: np.ndarray        # w_start - w_prev_end when a start exists, else seg_s
    proc_s: np.ndarray        # w_end - w_start (NaN without start)
    owner: np.ndarray         # int8: OWNER_AGENCY / OWNER_CITIZEN / OWNER_THIRD
    handover: np.ndarray      # bool: the unit differs from the previous event's unit
    activities: pd.Index      # activity names for the codes
    case_ids: pd.Index        # case ids for the codes
    case_start: np.ndarray    # row index of each case's first event (len n_cases + 1, last = n)

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            S.CASE: self.case_ids.to_numpy()[self.case],
            S.ACTIVITY: self.activities.to_numpy()[self.activity],
            "prev_activity": np.where(self.prev_activity >= 0,
                                      self.activities.to_numpy()[np.maximum(self.prev_activity, 0)], None),
            "pos": self.pos, "seg_s": self.seg_s, "wait_s": self.wait_s, "proc_s": self.proc_s,
            "owner": OWNER_NAMES[self.owner], "handover": self.handover,
        })


def _owner_states(events: pd.DataFrame, case: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """Owner of the segment that ends at each event = clock state after the previous event."""
    n = len(events)
    if S.ROLE not in events.columns or n == 0:
        return np.zeros(n, dtype=np.int8)
    role = events[S.ROLE].astype(object).to_numpy()
    # clock-changing events set a state; others carry the last state forward within the case
    state = np.full(n, np.nan)
    state[role == S.ROLE_SUPPLEMENT_REQUEST] = OWNER_CITIZEN
    state[role == S.ROLE_SUSPENDED] = OWNER_THIRD
    state[(role == S.ROLE_SUPPLEMENT_RECEIVED) | (role == S.ROLE_RESUMED)] = OWNER_AGENCY
    # a new dossier starts with the agency
    state[is_first & np.isnan(state)] = OWNER_AGENCY
    after = pd.Series(state).ffill().to_numpy()  # state after event i (cases start with a value)
    owner = np.empty(n, dtype=np.int8)
    owner[0] = OWNER_AGENCY
    owner[1:] = after[:-1].astype(np.int8)
    owner[is_first] = OWNER_AGENCY
    return owner


def segments(log) -> Segments:
    """The segments of a :class:`~tthc_mining.DossierLog` (cached on the log)."""
    cached = log._cache.get("segments")
    if cached is not None:
        return cached
    ev = log.events
    n = len(ev)
    raw_case, raw_ids = log.codes(S.CASE)
    act, acts = log.codes(S.ACTIVITY)
    is_first = np.ones(n, dtype=bool)
    if n:
        is_first[1:] = raw_case[1:] != raw_case[:-1]
    # contiguous dossier codes 0..n_cases-1 in block order: categorical codes may have gaps or
    # another order (e.g. a filtered log keeps every category)
    case = (np.cumsum(is_first) - 1).astype(np.int64)
    case_ids = raw_ids.take(raw_case[is_first]) if n else raw_ids[:0]
    is_last = np.ones(n, dtype=bool)
    if n:
        is_last[:-1] = is_first[1:]
    starts = np.flatnonzero(is_first)
    case_start = np.append(starts, n).astype(np.int64)
    pos = np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(case_start)) if n else np.zeros(0, np.int64)
    w_end = log.working(S.TIMESTAMP)
    if S.START in ev.columns:
        w_start = log.working(S.START)
    else:
        w_start = np.full(n, np.nan)
    w_prev_end = np.full(n, np.nan)
    prev_act = np.full(n, -1, dtype=np.int64)
    if n:
        w_prev_end[1:] = w_end[:-1]
        prev_act[1:] = act[:-1]
    w_prev_end[is_first] = np.nan
    prev_act[is_first] = -1
    if n and hasattr(log, "working_parts") and hasattr(log.calendar, "to_working_parts"):
        # durations from (working days, office ns within the day): the axis values are ~1e9 s
        # (ulp ~1e-7 s), the parts are exact integers, so durations are exact to the ns. The
        # parts are dropped from the log's cache afterwards (log.working keeps the axis).
        L = log.calendar.seconds_per_day
        d_end, i_end = log.working_parts(S.TIMESTAMP)
        seg = np.full(n, np.nan)
        seg[1:] = (d_end[1:] - d_end[:-1]) * L + (i_end[1:] - i_end[:-1]) / 1e9
        seg[is_first] = np.nan
        if S.START in ev.columns:
            d_st, i_st = log.working_parts(S.START)
            wait = np.full(n, np.nan)
            wait[1:] = (d_st[1:] - d_end[:-1]) * L + (i_st[1:] - i_end[:-1]) / 1e9
            wait[is_first] = np.nan
            wait = np.where(np.isnan(w_start), seg, wait)
            proc = (d_end - d_st) * L + (i_end - i_st) / 1e9
            del d_st, i_st
            log._cache.pop(("working_parts", S.START), None)
        else:
            wait = seg.copy()
            proc = np.full(n, np.nan)
        del d_end, i_end
        log._cache.pop(("working_parts", S.TIMESTAMP), None)
    else:
        seg = w_end - w_prev_end
        wait = np.where(np.isnan(w_start), seg, w_start - w_prev_end)
        proc = w_end - w_start
    owner = _owner_states(ev, case, is_first)
    if S.GROUP in ev.columns:
        g, _ = log.codes(S.GROUP)
        handover = np.zeros(n, dtype=bool)
        if n:
            handover[1:] = (g[1:] != g[:-1]) & (g[1:] >= 0) & (g[:-1] >= 0)
        handover[is_first] = False
    else:
        handover = np.zeros(n, dtype=bool)
    out = Segments(case=case, activity=act, prev_activity=prev_act, pos=pos, is_first=is_first,
                   is_last=is_last, w_end=w_end, w_start=w_start, w_prev_end=w_prev_end,
                   seg_s=seg, wait_s=wait, proc_s=proc, owner=owner, handover=handover,
                   activities=acts, case_ids=case_ids, case_start=case_start)
    log._cache["segments"] = out
    return out


def case_sums(seg: Segments, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-case sum of ``values`` (NaN treated as 0) over events where ``mask`` holds."""
    v = np.nan_to_num(values, nan=0.0)
    if mask is not None:
        v = np.where(mask, v, 0.0)
    return np.bincount(seg.case, weights=v, minlength=seg.n_cases)
