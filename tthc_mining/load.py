"""Queues and load: work in progress, arrivals vs completions, officer utilisation, Little's law.

``tm.load.wip(log)``, ``tm.load.arrivals_completions(log)``, ``tm.load.utilisation(log)``,
``tm.load.littles_law(log)`` and ``tm.load.plot_backlog(log)``.

Rules
-----
* A dossier is **at a step** (or a unit) from the end of its previous event (the step received
  it) to the end of the step's event (the step completed it) — the event's segment
  (:mod:`tthc_mining.segments`). With ``agency_only=True`` (default) segments held by the citizen
  (after a supplement request) or a third party (suspension) are left out: the backlog is the
  agency's. A dossier is **in the system** from its first event to its last event; dossiers still in
  progress at the end of the log (per :func:`tthc_mining.timing` when available) stay in the
  system to the end of the log.
* **Daily work in progress** (``wip``) is counted at the close of each calendar day (local time):
  dossiers that arrived on or before that day and were not completed by its end. It is computed by
  event counting (+1 on the arrival day, -1 on the completion day, cumulative sum per key), never
  by looping over days or dossiers.
* **Utilisation** of an officer = busy working time / available working time. Busy time is the
  *union* of the officer's processing intervals (start -> end on the working-time axis, so
  overlapping work is not counted twice); available time = the working time from the officer's
  first start to last end in the log (so utilisation is at most 1). ``days_active`` = working days
  on which the officer started or finished something; ``multitasking`` = summed processing time /
  busy time (how many dossiers the officer had open at once, on average). Needs start
  timestamps.
* **Little's law** (L = λW) is checked on the working-time axis over a window that trims
  ``trim`` of the observed span at each end (warm-up and cool-down): L = time-average number in the
  system over the window (dossiers still open count until the end of the log), λ = arrivals in the
  window per working day, W = mean time in the system (working days) of the dossiers that arrived
  in the window and completed. A relative gap far from 0 means the log is not in a steady state
  or dossiers are stuck / missing their completion events (``n_open`` counts them).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema as S
from .bottlenecks import _modal, local_ns, procedure_mask
from .errors import ConfigError
from .segments import OWNER_AGENCY, segments

__all__ = ["wip", "arrivals_completions", "utilisation", "littles_law", "plot_backlog",
           "LABELS_VI"]

NS_PER_DAY = 86_400 * 1_000_000_000
NAT = np.iinfo(np.int64).min

LABELS_VI = {
    "period": "Kỳ",
    "key": "Bước / đơn vị",
    "arrivals": "Số hồ sơ đến",
    "completions": "Số hồ sơ hoàn thành",
    "wip_end": "Tồn cuối kỳ",
    "wip": "Hồ sơ đang xử lý (tồn)",
    "resource": "Cán bộ xử lý",
    "unit": "Đơn vị xử lý",
    "events": "Số lượt xử lý",
    "busy_h": "Giờ bận (giờ làm việc)",
    "proc_sum_h": "Tổng giờ xử lý",
    "multitasking": "Hệ số xử lý song song",
    "days_active": "Số ngày làm việc có hoạt động",
    "available_h": "Giờ làm việc sẵn có",
    "utilisation": "Hiệu suất sử dụng",
    "L": "Tồn trung bình (L)",
    "lambda_per_day": "Tốc độ đến (hồ sơ/ngày làm việc)",
    "W_days": "Thời gian trong hệ thống (ngày làm việc)",
    "lambda_W": "λ × W",
    "rel_gap": "Chênh lệch tương đối",
}

_BY = {"activity", "unit", "case", None}


def _intervals(log, by, procedure, agency_only):
    """Arrival/departure of every item: (key codes, key labels, arrive_ns, depart_ns, arrive_w,
    depart_w, key name, open). ns are local wall-clock int64; w on the working axis; ``open``
    marks dossiers still in progress (their departure is the end of the log)."""
    if by not in _BY:
        raise ConfigError(f"by must be 'activity', 'unit' or None (dossiers); got {by!r}")
    seg = segments(log)
    ns_end = local_ns(log, S.TIMESTAMP)
    pmask = procedure_mask(log, procedure)
    if by in (None, "case"):
        first = seg.case_start[:-1]
        last = seg.case_start[1:] - 1
        if pmask is not None:
            keep = pmask[first]
            first, last = first[keep], last[keep]
        a_ns, d_ns = ns_end[first], ns_end[last].copy()
        a_w, d_w = seg.w_end[first], seg.w_end[last].copy()
        open_ = _open_cases(log, seg)
        o = np.zeros(first.size, dtype=bool)
        if open_ is not None and first.size:
            o = open_[seg.case[first]]
            d_ns[o] = ns_end.max()
            d_w[o] = np.nanmax(seg.w_end)
        key = np.zeros(first.size, dtype=np.int64)
        return key, pd.Index(["all"]), a_ns, d_ns, a_w, d_w, "all", o
    sel = ~seg.is_first
    if pmask is not None:
        sel &= pmask
    if agency_only:
        sel &= seg.owner == OWNER_AGENCY
    idx = np.flatnonzero(sel)
    if by == "activity":
        key, labels = seg.activity[idx], seg.activities
    else:
        if S.GROUP not in log.events.columns:
            raise ConfigError("by='unit' needs the column 'org:group', which the log does not have")
        codes, labels = log.codes(S.GROUP)
        key = codes[idx]
        ok = key >= 0
        idx, key = idx[ok], key[ok]
    prev = idx - 1                     # not first: the previous row is the same dossier
    return (key, labels, ns_end[prev], ns_end[idx], seg.w_end[prev], seg.w_end[idx], by,
            np.zeros(idx.size, dtype=bool))


def _open_cases(log, seg):
    """Per case code: still in progress at the end of the log (from tm.timing), or None."""
    try:
        from .timing import timing
        tc = timing(log).cases
    except (ImportError, ConfigError):  # timing not available or not applicable to this log
        return None
    if "finished" not in tc.columns or S.CASE not in tc.columns:
        return None
    pos = pd.Index(seg.case_ids).get_indexer(tc[S.CASE])
    out = np.zeros(seg.n_cases, dtype=bool)
    ok = pos >= 0
    open_ = pd.isna(tc["finished"]).to_numpy()
    if "closed" in tc.columns:
        open_ = open_ & pd.isna(tc["closed"]).to_numpy()
    out[pos[ok]] = open_[ok]
    return out


def _daily(key, K, a_ns, d_ns, open_):
    """(K x D) daily arrivals, completions and end-of-day WIP, and the first day number. Open
    items arrive but never complete (they are still there at the close of the last day)."""
    ok = (a_ns != NAT) & (d_ns != NAT)
    key, a_ns, d_ns, open_ = key[ok], a_ns[ok], d_ns[ok], open_[ok]
    if key.size == 0:
        z = np.zeros((K, 0), dtype=np.int64)
        return z, z, z, 0
    ad = np.floor_divide(a_ns, NS_PER_DAY)
    dd = np.floor_divide(np.maximum(d_ns, a_ns), NS_PER_DAY)
    d0 = int(ad.min())
    D = int(max(dd.max(), ad.max()) - d0 + 1)
    arr = np.bincount(key * D + (ad - d0), minlength=K * D).reshape(K, D)
    dep = np.bincount(key[~open_] * D + (dd[~open_] - d0), minlength=K * D).reshape(K, D)
    wip_ = np.cumsum(arr - dep, axis=1)
    return arr, dep, wip_, d0


def _day_index(d0, D):
    return pd.DatetimeIndex((np.arange(D, dtype=np.int64) + d0) * NS_PER_DAY).as_unit("ns")


def wip(log, by: str | None = "activity", freq: str = "D", *, procedure=None,
        agency_only: bool = True) -> pd.DataFrame:
    """Work in progress at the close of each day per step (``by="activity"``), unit
    (``"unit"``) or for the whole system (``None``). Wide DataFrame: index = local dates,
    one column per key. With ``freq`` other than ``"D"`` (e.g. ``"W"``, ``"MS"``) the daily values
    are averaged over the period."""
    key, labels, a_ns, d_ns, _, _, name, open_ = _intervals(log, by, procedure, agency_only)
    K = len(labels)
    _, _, w, d0 = _daily(key, K, a_ns, d_ns, open_)
    out = pd.DataFrame(w.T, index=_day_index(d0, w.shape[1]),
                       columns=pd.Index(labels.to_numpy(dtype=object), name=by))
    out = out.loc[:, (w != 0).any(axis=1)] if K > 1 else out
    out.index.name = "date"
    if freq and freq != "D":
        out = out.resample(freq).mean()
    out.attrs.update({"by": by, "procedure": procedure, "agency_only": agency_only,
                      "freq": freq, "rule": "dossiers present at the close of each day"})
    return out


def arrivals_completions(log, by: str | None = "activity", freq: str = "D", *, procedure=None,
                         agency_only: bool = True) -> pd.DataFrame:
    """Arrivals, completions and the work in progress at the end of each period, per key:
    long DataFrame with columns ``period``, ``key``, ``arrivals``, ``completions``, ``net``,
    ``wip_end``."""
    key, labels, a_ns, d_ns, _, _, name, open_ = _intervals(log, by, procedure, agency_only)
    K = len(labels)
    arr, dep, w, d0 = _daily(key, K, a_ns, d_ns, open_)
    idx = _day_index(d0, arr.shape[1])
    cols = pd.Index(labels.to_numpy(dtype=object), name="key")
    fa = pd.DataFrame(arr.T, index=idx, columns=cols)
    fc = pd.DataFrame(dep.T, index=idx, columns=cols)
    fw = pd.DataFrame(w.T, index=idx, columns=cols)
    if freq and freq != "D":
        fa, fc, fw = fa.resample(freq).sum(), fc.resample(freq).sum(), fw.resample(freq).last()
    active = (fa.to_numpy().sum(0) + fc.to_numpy().sum(0)) > 0
    fa, fc, fw = fa.loc[:, active], fc.loc[:, active], fw.loc[:, active]
    for f in (fa, fc, fw):
        f.index.name = "period"
    out = pd.DataFrame({"arrivals": fa.stack(), "completions": fc.stack(),
                        "wip_end": fw.stack()}).reset_index()
    out["net"] = out["arrivals"] - out["completions"]
    out = out[["period", "key", "arrivals", "completions", "net", "wip_end"]]
    out = out.sort_values(["key", "period"], kind="stable").reset_index(drop=True)
    out.attrs.update({"by": by, "procedure": procedure, "freq": freq, "agency_only": agency_only})
    return out


def utilisation(log, *, procedure=None) -> pd.DataFrame:
    """Per officer: busy working hours (union of processing intervals), available working hours
    (working time from the officer's first start to last end) and their ratio. Needs start
    timestamps."""
    if not log.has_start:
        raise ConfigError("utilisation needs start timestamps (start_timestamp); this log has "
                          "only completion times")
    if S.RESOURCE not in log.events.columns:
        raise ConfigError("utilisation needs the officer column (org:resource)")
    seg = segments(log)
    res, rlabels = log.codes(S.RESOURCE)
    pmask = procedure_mask(log, procedure)
    sel = (res >= 0) & np.isfinite(seg.w_start) & np.isfinite(seg.w_end)
    if pmask is not None:
        sel &= pmask
    idx = np.flatnonzero(sel)
    R = len(rlabels)
    r = res[idx]
    s = seg.w_start[idx]
    e = np.maximum(seg.w_end[idx], s)
    L = log.calendar.seconds_per_day
    cols = ["resource", "unit", "events", "busy_h", "proc_sum_h", "multitasking", "days_active",
            "available_h", "utilisation"]
    if idx.size == 0:
        return pd.DataFrame(columns=cols)
    # union of intervals per officer: one sort on (officer, start), running max of end
    t0 = float(s.min())
    span = float(e.max() - t0) + 1.0
    ks = r * span + (s - t0)
    ke = r * span + (e - t0)
    order = np.argsort(ks, kind="stable")
    ks, ke, ro = ks[order], ke[order], r[order]
    runmax = np.maximum.accumulate(ke)
    prev = np.empty_like(runmax)
    prev[0] = -np.inf
    prev[1:] = runmax[:-1]
    new_group = np.ones(ro.size, dtype=bool)
    new_group[1:] = ro[1:] != ro[:-1]
    prev[new_group] = -np.inf
    contrib = np.maximum(runmax - np.maximum(ks, prev), 0.0)
    busy = np.bincount(ro, weights=contrib, minlength=R)
    proc_sum = np.bincount(r, weights=e - s, minlength=R)
    events = np.bincount(r, minlength=R)
    # available: working time from the officer's first start to last end (the span in which
    # the officer was at work on dossiers); days_active: working days with an event or a start
    first = np.full(R, np.inf)
    lastt = np.full(R, -np.inf)
    f = pd.DataFrame({"r": r, "s": s, "e": e}).groupby("r").agg(s=("s", "min"), e=("e", "max"))
    first[f.index.to_numpy()] = f["s"].to_numpy()
    lastt[f.index.to_numpy()] = f["e"].to_numpy()
    available = np.where(np.isfinite(first), np.maximum(lastt - first, 0.0), 0.0)
    days = np.concatenate([np.floor(s / L), np.floor(np.maximum(e - 1e-9, s) / L)]).astype(np.int64)
    pair = pd.unique(np.concatenate([r, r]) * (2 ** 31) + (days - days.min()))
    days_active = np.bincount((pair // (2 ** 31)).astype(np.int64), minlength=R)
    if S.GROUP in log.events.columns:
        g, gl = log.codes(S.GROUP)
        unit = _modal(r, g[idx], R, gl)
    else:
        unit = np.full(R, None, dtype=object)
    keep = events > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "resource": rlabels.to_numpy(dtype=object)[keep], "unit": unit[keep],
            "events": events[keep], "busy_h": busy[keep] / 3600, "proc_sum_h": proc_sum[keep] / 3600,
            "multitasking": np.where(busy[keep] > 0, proc_sum[keep] / busy[keep], np.nan),
            "days_active": days_active[keep], "available_h": available[keep] / 3600,
            "utilisation": np.where(available[keep] > 0, busy[keep] / available[keep], np.nan),
        })
    out = out.sort_values("utilisation", ascending=False, kind="stable").reset_index(drop=True)
    out.attrs.update({"procedure": procedure, "hours_per_day": L / 3600,
                      "rule": "busy = union of processing intervals; available = working time "
                              "from the officer's first start to last end"})
    return out


def littles_law(log, by: str | None = None, *, procedure=None, trim: float = 0.1,
                agency_only: bool = True) -> pd.DataFrame:
    """Little's-law consistency check (L ≈ λW) on the working-time axis, for the whole system
    (``by=None``) or per step/unit. One row per key with ``n`` (arrivals in the window), ``L``,
    ``lambda_per_day``, ``W_days``, ``lambda_W`` and ``rel_gap = (L - λW) / L``."""
    if not 0 <= trim < 0.5:
        raise ConfigError("trim must be in [0, 0.5)")
    key, labels, _, _, a_w, d_w, name, open_ = _intervals(log, by, procedure, agency_only)
    ok = np.isfinite(a_w) & np.isfinite(d_w)
    key, a, d, open_ = key[ok], a_w[ok], np.maximum(d_w[ok], a_w[ok]), open_[ok]
    K = len(labels)
    Ld = log.calendar.seconds_per_day
    cols = [name if name != "all" else "scope", "n", "n_open", "L", "lambda_per_day", "W_days",
            "lambda_W", "rel_gap", "window_start", "window_end"]
    if key.size == 0:
        return pd.DataFrame(columns=cols)
    lo, hi = float(a.min()), float(d.max())
    T0, T1 = lo + trim * (hi - lo), hi - trim * (hi - lo)
    T = max(T1 - T0, 1e-9)
    overlap = np.clip(np.minimum(d, T1) - np.maximum(a, T0), 0.0, None)
    Lk = np.bincount(key, weights=overlap, minlength=K) / T
    inwin = (a >= T0) & (a < T1)
    done = inwin & ~open_
    n = np.bincount(key, weights=inwin.astype(np.float64), minlength=K)
    n_done = np.bincount(key, weights=done.astype(np.float64), minlength=K)
    n_open = np.bincount(key, weights=(inwin & open_).astype(np.float64), minlength=K)
    lam = n / (T / Ld)
    with np.errstate(invalid="ignore", divide="ignore"):
        W = np.bincount(key, weights=np.where(done, d - a, 0.0), minlength=K) / n_done / Ld
    lw = lam * W
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(Lk > 0, (Lk - lw) / Lk, np.nan)
    cal = log.calendar
    ws, we = cal.from_working(np.array([T0, T1]))
    out = pd.DataFrame({cols[0]: labels.to_numpy(dtype=object), "n": n.astype(np.int64),
                        "n_open": n_open.astype(np.int64), "L": Lk,
                        "lambda_per_day": lam, "W_days": W, "lambda_W": lw, "rel_gap": gap,
                        "window_start": ws, "window_end": we})
    out = out[out["n"] > 0].sort_values("L", ascending=False, kind="stable").reset_index(drop=True)
    out.attrs.update({"trim": trim, "axis": "working time", "procedure": procedure,
                      "rule": "L = time-average in system over the trimmed window (open dossiers "
                              "count until the end of the log); λ = arrivals in the window per "
                              "working day; W = mean working days in the system of those "
                              "arrivals that completed"})
    return out


def plot_backlog(log=None, *, wip_frame: pd.DataFrame | None = None, by: str | None = "activity",
                 top: int = 8, freq: str = "D", procedure=None, lang: str = "vi", ax=None,
                 title: str | None = None):
    """Backlog (work in progress) over time as a matplotlib Figure: the ``top`` keys by mean
    backlog, one line each. Pass a log, or a frame from :func:`wip`. Uses the Agg canvas, never
    pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if wip_frame is None:
        if log is None:
            raise ConfigError("plot_backlog needs a log or wip_frame=")
        wip_frame = wip(log, by=by, freq=freq, procedure=procedure)
    f = wip_frame
    if f.shape[1] > top:
        f = f[f.mean().sort_values(ascending=False).index[:top]]
    if ax is None:
        fig = Figure(figsize=(10, 4.5), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for c in f.columns:
        ax.plot(f.index, f[c].to_numpy(), label=str(c), linewidth=1.2)
    vi = lang == "vi"
    ax.set_ylabel("Hồ sơ đang xử lý (tồn)" if vi else "Dossiers in progress (backlog)")
    ax.set_xlabel("Ngày" if vi else "Date")
    if title is None:
        title = ("Tồn hồ sơ theo thời gian" if vi else "Backlog over time")
    ax.set_title(title)
    if f.shape[1] > 1 or str(f.columns[0]) != "all":
        ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    return fig
