"""``tm.score_cuts``: score procedure cuts with the replay or the simulation engine, one row per cut.

Columns (agency time in working days of the log's calendar, per dossier unless stated):

``cut`` (the cut object), ``label_vi`` / ``label_en``, ``method`` (``replay`` / ``simulate``),
``assumption``, ``n_dossiers`` (finished dossiers scored), ``dossiers_affected`` /
``share_affected`` (dossiers with a segment changed; expected counts for random cuts),
``saved_mean_days`` with ``saved_ci_low`` / ``saved_ci_high`` (percentile bootstrap over
dossiers, :func:`tthc_mining.stats.bootstrap_mean_ci`), ``saved_median_days`` /
``saved_p90_days`` (median and 90th percentile of the saving **among the dossiers affected**),
``median_before_days`` / ``median_after_days`` / ``p90_before_days`` / ``p90_after_days`` (the
distribution of agency time before and after), ``agency_mean_before_days``,
``annual_volume`` (dossiers per year: ``CostParams.annual_volume`` or measured from the observed
span of receipts), ``dossier_days_saved_per_year`` (= mean saving x annual volume),
``on_time_before`` / ``on_time_after`` (agency time within the statutory budget, finished dossiers
with a budget; Wilson intervals ``*_low`` / ``*_high``), ``on_time_diff`` with a paired
dossier-bootstrap interval, ``n_with_budget``, ``citizen_hours_saved_mean``,
``visits_avoided_mean``, ``citizen_cost_saved_vnd_per_year`` (measured: (citizen working hours
saved + visits avoided x ``visit_hours``) x ``hourly_income_vnd`` x volume),
``statutory_days_saved`` (volume-weighted mean over procedures), ``statutory_cost_saved_vnd_per_year``
(days x ``hours_per_day`` x ``hourly_income_vnd`` x volume per procedure, the provinces' formula),
``statutory_cost_before_vnd_per_year``, ``pct_time_cut`` (mean saving / mean agency time before),
``pct_cost_cut`` (statutory cost saved / before), ``meets_time_target`` / ``meets_cost_target``
(against ``CostParams.time_target`` = 50 % and ``cost_target`` = 30 %), ``queue_flag`` /
``queue_evidence`` (replay only: the cut changes segments at a step whose utilisation or
wait-vs-backlog correlation makes the no-queue assumption doubtful), ``draws``, ``notes``.

Statutory days saved (how a province would rewrite its internal procedure), per procedure:

* ``RemoveStep(X)``: the allotment of X in the catalogue's internal procedure;
  ``ShortenStep(X, factor)``: the allotment minus the new allotment ``allotment x factor``;
  ``ShortenStep(X, to_hours=h)``: minus ``min(allotment, h / hours_per_day)`` — the new
  allotment rounded up to half a working day, as internal procedures write them — when the
  catalogue gives an allotment for X;
* otherwise (other cuts, bundles with such parts, no catalogue): the measured mean saving of the
  procedure's dossiers **rounded down to half working days** (allotments are written in steps of
  0,5 ngày), never more than the procedure's deadline.

Method ``auto``: ``AddStaff`` and ``ReduceLoopRate`` (and bundles containing them) change queues
or are random: they go to the simulation (:mod:`tthc_mining.simulation`, called as
``simulation.score(log, cuts, procedure=, ci=, replications=, seed=, cost=)``) when it is
installed, else to the replay with a note; every other cut is replayed first, and when the
replay's queue check raises ``queue_flag`` (the cut shortens a step whose utilisation or
wait-vs-backlog correlation says it is a queue), or when the fitted simulation model says the cut
reaches an officer queue or a time-of-day station (bulk signing) downstream
(:func:`tthc_mining.simulation.exposure`), it is simulated instead, with a note saying why.
The ``method`` column says which engine produced the row.
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import ConfigError, TthcMiningError
from ..stats import wilson
from .catalogue import AddStaff, Cut, RemoveStep, ShortenStep
from .cost import CostParams
from .replay import ReplayContext, ReplayOutcome, context, replay

__all__ = ["score_cuts", "COLUMNS", "LABELS", "summarise", "statutory_days_saved", "METHODS"]

METHODS = ("auto", "replay", "simulate")
ASSUMPTION_REPLAY = ("replay: no queue effects — other dossiers neither speed up nor slow down; "
                     "exact for cuts that do not change queues")

COLUMNS = (
    "cut", "label_vi", "label_en", "method", "assumption", "n_dossiers", "dossiers_affected",
    "share_affected", "saved_mean_days", "saved_ci_low", "saved_ci_high", "saved_median_days",
    "saved_p90_days", "agency_mean_before_days", "median_before_days", "median_after_days",
    "p90_before_days", "p90_after_days", "annual_volume", "dossier_days_saved_per_year",
    "n_with_budget", "on_time_before", "on_time_before_low", "on_time_before_high",
    "on_time_after", "on_time_after_low", "on_time_after_high", "on_time_diff",
    "on_time_diff_low", "on_time_diff_high", "citizen_hours_saved_mean", "visits_avoided_mean",
    "citizen_cost_saved_vnd_per_year", "statutory_days_saved", "statutory_cost_saved_vnd_per_year",
    "statutory_cost_before_vnd_per_year", "pct_time_cut", "pct_cost_cut", "meets_time_target",
    "meets_cost_target", "queue_flag", "queue_evidence", "draws", "notes")

#: Vietnamese / English labels of the columns (for reports)
LABELS = {
    "cut": ("Phương án cắt giảm", "Cut"), "method": ("Phương pháp", "Method"),
    "assumption": ("Giả định", "Assumption"),
    "n_dossiers": ("Số hồ sơ đã xử lý", "Finished dossiers"),
    "dossiers_affected": ("Số hồ sơ được hưởng lợi", "Dossiers affected"),
    "share_affected": ("Tỷ lệ hồ sơ được hưởng lợi", "Share affected"),
    "saved_mean_days": ("Thời gian tiết kiệm trung bình (ngày làm việc/hồ sơ)", "Mean saving (working days per dossier)"),
    "saved_ci_low": ("Cận dưới khoảng tin cậy", "CI low"), "saved_ci_high": ("Cận trên khoảng tin cậy", "CI high"),
    "saved_median_days": ("Trung vị tiết kiệm (hồ sơ hưởng lợi)", "Median saving (dossiers affected)"),
    "saved_p90_days": ("Phân vị 90 tiết kiệm (hồ sơ hưởng lợi)", "90th percentile saving (dossiers affected)"),
    "agency_mean_before_days": ("Thời gian xử lý trung bình hiện nay", "Mean agency time now"),
    "median_before_days": ("Trung vị thời gian xử lý hiện nay", "Median agency time now"),
    "median_after_days": ("Trung vị thời gian xử lý sau cắt giảm", "Median agency time after"),
    "p90_before_days": ("Phân vị 90 hiện nay", "90th percentile now"),
    "p90_after_days": ("Phân vị 90 sau cắt giảm", "90th percentile after"),
    "annual_volume": ("Số hồ sơ/năm", "Dossiers per year"),
    "dossier_days_saved_per_year": ("Tổng ngày-hồ sơ tiết kiệm/năm", "Dossier-days saved per year"),
    "n_with_budget": ("Số hồ sơ có thời hạn", "Dossiers with a deadline"),
    "on_time_before": ("Tỷ lệ đúng hạn hiện nay", "On time now"),
    "on_time_after": ("Tỷ lệ đúng hạn sau cắt giảm", "On time after"),
    "on_time_diff": ("Thay đổi tỷ lệ đúng hạn", "Change in on-time rate"),
    "citizen_hours_saved_mean": ("Giờ công dân tiết kiệm/hồ sơ", "Citizen hours saved per dossier"),
    "visits_avoided_mean": ("Số lần đi lại tránh được/hồ sơ", "Visits avoided per dossier"),
    "citizen_cost_saved_vnd_per_year": ("Chi phí công dân tiết kiệm (đồng/năm, đo được)", "Citizen cost saved (VND/year, measured)"),
    "statutory_days_saved": ("Số ngày cắt giảm trong thời hạn giải quyết", "Statutory days cut"),
    "statutory_cost_saved_vnd_per_year": ("Chi phí tuân thủ tiết kiệm (đồng/năm, theo cách tính của tỉnh)", "Compliance cost saved (VND/year, provincial formula)"),
    "statutory_cost_before_vnd_per_year": ("Chi phí tuân thủ hiện nay (đồng/năm)", "Compliance cost now (VND/year)"),
    "pct_time_cut": ("Tỷ lệ cắt giảm thời gian", "Time cut (share)"),
    "pct_cost_cut": ("Tỷ lệ cắt giảm chi phí", "Cost cut (share)"),
    "meets_time_target": ("Đạt mục tiêu cắt giảm 50% thời gian", "Meets the 50% time target"),
    "meets_cost_target": ("Đạt mục tiêu cắt giảm 30% chi phí", "Meets the 30% cost target"),
    "queue_flag": ("Cảnh báo hàng đợi", "Queue warning"),
    "queue_evidence": ("Căn cứ cảnh báo", "Queue evidence"),
    "notes": ("Ghi chú", "Notes"),
}


# ====================================================================== helpers
def volumes(ctx: ReplayContext, cost: CostParams, pop: np.ndarray | None = None
            ) -> tuple[np.ndarray, float, str]:
    """Dossiers per year of each procedure (index = ``ctx.procs`` codes, last = unknown) and
    in total, for the dossiers ``pop`` (default: all finished); the basis of the figure. The
    observed span is that of all finished dossiers of the log."""
    P = len(ctx.procs)
    pop = ctx.pop if pop is None else pop
    pc = np.where(ctx.proc_case >= 0, ctx.proc_case, P)[pop]
    n_p = np.bincount(pc, minlength=P + 1).astype(np.float64)
    n = n_p.sum()
    if cost.annual_volume is not None:
        share = n_p / n if n else n_p
        return share * cost.annual_volume, float(cost.annual_volume), "CostParams.annual_volume"
    yrs = ctx.span_years  # the observation period of the whole log
    if not np.isfinite(yrs):
        return np.full(P + 1, np.nan), float("nan"), "span of receipts under a day: volume unknown"
    return n_p / yrs, float(n / yrs), f"measured: {int(n):,} dossiers over {yrs:.2f} years"


def _allotment_days(ctx: ReplayContext, activity: str) -> np.ndarray:
    """Allotment (days) of a step in each procedure's internal procedure (NaN: none)."""
    P = len(ctx.procs)
    out = np.full(P + 1, np.nan)
    cat = ctx.catalog
    if cat is None or not hasattr(cat, "steps"):
        return out
    from ..roles import fold
    steps = cat.steps
    if steps is None or not len(steps):
        return out
    f = fold(activity)
    st = steps[steps["activity"].astype(str).map(fold) == f]
    if st.empty:
        return out
    per = st.groupby(st["code"].astype(str))["allotment_days"].first()
    codes = pd.Index(ctx.procs.astype(str))
    hit = codes.get_indexer(per.index)
    ok = hit >= 0
    out[hit[ok]] = pd.to_numeric(per.to_numpy()[ok], errors="coerce")
    return out


def _deadline_days(ctx: ReplayContext, pop: np.ndarray | None = None) -> np.ndarray:
    """Statutory deadline of each procedure in days (catalogue/timing's ``deadline_days``;
    same-day or unknown: the median budget of its dossiers); cached per population."""
    pop = ctx.pop if pop is None else pop
    cache = ctx.__dict__.setdefault("_deadline_cache", {})
    key = (hash(np.packbits(pop).tobytes()), int(pop.sum()))
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        cache[key] = _deadline_days_uncached(ctx, pop)
    return cache[key]


def _deadline_days_uncached(ctx: ReplayContext, pop: np.ndarray) -> np.ndarray:
    P = len(ctx.procs)
    pc = np.where(ctx.proc_case >= 0, ctx.proc_case, P)
    dd = ctx.cases["deadline_days"].to_numpy(dtype=np.float64)
    bd = ctx.budget_s / ctx.L
    out = np.full(P + 1, np.nan)
    df = pd.DataFrame({"p": pc[pop], "dd": dd[pop], "bd": bd[pop]})
    if len(df):
        g = df.groupby("p")
        med_dd = g["dd"].median()
        med_bd = g["bd"].median()
        val = np.where(med_dd.to_numpy() > 0, med_dd.to_numpy(), med_bd.reindex(med_dd.index).to_numpy())
        out[med_dd.index.to_numpy()] = val
    return out


def _catalog_days(ctx: ReplayContext, cut: Cut, cost: CostParams) -> np.ndarray | None:
    """Per procedure: statutory days saved by the cut from the catalogue's allotments, or None
    when some part of the cut cannot be priced that way."""
    parts = cut.parts()
    if not parts:
        return np.zeros(len(ctx.procs) + 1)
    total = np.zeros(len(ctx.procs) + 1)
    for c in parts:
        if isinstance(c, RemoveStep):
            a = _allotment_days(ctx, c.activity)
            d = a
        elif isinstance(c, ShortenStep):
            a = _allotment_days(ctx, c.activity)
            new = a * c.factor if c.factor is not None else np.minimum(a, c.to_hours / cost.hours_per_day)
            # the new allotment is published in steps of half a working day (rounded up)
            d = np.maximum(0.0, a - np.ceil(new * 2.0 - 1e-9) / 2.0)
        else:
            return None
        if not np.isfinite(d).any():
            return None
        total = total + d
    return total


def statutory_days_saved(ctx: ReplayContext, cut: Cut, out: ReplayOutcome, cost: CostParams
                         ) -> tuple[np.ndarray, str]:
    """Per procedure (``ctx.procs`` codes, last = unknown): working days the cut would remove
    from the statutory deadline; and the basis (see the module docstring)."""
    P = len(ctx.procs)
    pc = np.where(ctx.proc_case >= 0, ctx.proc_case, P)[out.pop]
    saved = out.saved_s[out.pop] / ctx.L
    n_p = np.bincount(pc, minlength=P + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(pc, weights=saved, minlength=P + 1) / n_p
    measured = np.floor(np.maximum(mean_p, 0.0) * 2.0 + 1e-9) / 2.0
    cat = _catalog_days(ctx, cut, cost)
    deadline = _deadline_days(ctx, out.pop)
    if cat is not None:
        days = np.where(np.isfinite(cat), cat, measured)
        basis = "catalogue allotments (measured saving rounded down to 0.5 day where none)"
    else:
        days = measured
        basis = "measured mean saving rounded down to 0.5 working day"
    days = np.where(np.isfinite(deadline), np.minimum(days, np.maximum(deadline, 0.0)), days)
    days = np.where(n_p > 0, days, np.nan)
    return days, basis


#: resampling units of the dossier bootstrap: dossiers themselves up to this many, else this
#: many random groups of dossiers (the random-group bootstrap of tthc_mining.stats)
BOOT_GROUPS = 1000


class DossierBootstrap:
    """The Poisson dossier bootstrap of :func:`tthc_mining.stats.bootstrap_mean_ci` for means of
    per-dossier values, with the replicate weights drawn once and shared by every cut scored in
    one call (common random numbers: differences between cuts are not blurred by different
    resamples). Dossiers are the resampling units when there are at most ``groups`` of them;
    beyond that they are assigned at random to ``groups`` buckets and the buckets are resampled
    (the random-group bootstrap, which keeps the variance of a mean up to ``1 - 1/groups``).
    Cost: ``O(n + n_boot x groups)`` per mean, no sort."""

    def __init__(self, n: int, n_boot: int, seed: int, groups: int = BOOT_GROUPS):
        rng = np.random.default_rng([int(seed), 424242, int(n)])
        self.n = int(n)
        if n <= groups:
            self.bucket = np.arange(n, dtype=np.int64)
            self.G = max(int(n), 1)
            self.method = "exact"
        else:
            self.bucket = rng.integers(0, groups, size=n)
            self.G = int(groups)
            self.method = "groups"
        self.W = rng.poisson(1.0, size=(int(n_boot), self.G)).astype(np.float64)
        self.den = self.W @ np.bincount(self.bucket, minlength=self.G).astype(np.float64)

    def mean_ci(self, values: np.ndarray, ci: float,
                weights: np.ndarray | None = None) -> tuple[float, float, float]:
        """Mean (``sum(values) / sum(weights)``, weights default 1) with its percentile
        interval; a dossier with weight 0 is resampled but adds nothing to either sum."""
        v = np.asarray(values, dtype=np.float64)
        if v.size != self.n:
            raise ConfigError("bootstrap: values do not match the dossiers")  # pragma: no cover
        wsum = float(v.size) if weights is None else float(np.sum(weights))
        if self.n == 0 or wsum <= 0:
            return float("nan"), float("nan"), float("nan")
        mean = float(v.sum() / wsum)
        if self.n < 2 or wsum < 2:
            return mean, float("nan"), float("nan")
        num = self.W @ np.bincount(self.bucket, weights=v, minlength=self.G)
        den = self.den if weights is None else \
            self.W @ np.bincount(self.bucket, weights=np.asarray(weights, np.float64), minlength=self.G)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        a = (1.0 - float(ci)) / 2.0
        lo, hi = np.nanquantile(reps, [a, 1.0 - a])
        return mean, float(min(lo, mean)), float(max(hi, mean))


def _bootstrap(ctx: ReplayContext, pop: np.ndarray, n_boot: int, seed: int) -> DossierBootstrap:
    """The shared bootstrap of a population (cached on the context)."""
    cache = ctx.__dict__.setdefault("_boot_cache", {})
    key = (hash(np.packbits(pop).tobytes()), int(pop.sum()), int(n_boot), int(seed))
    b = cache.get(key)
    if b is None:
        if len(cache) > 64:
            cache.clear()
        b = DossierBootstrap(int(pop.sum()), n_boot, seed)
        cache[key] = b
    return b


def _quantiles(x: np.ndarray, qs=(0.5, 0.9)) -> tuple[float, ...]:
    if not x.size:
        return tuple(float("nan") for _ in qs)
    return tuple(float(v) for v in np.quantile(x, qs))


def _before_quantiles(ctx: ReplayContext, pop: np.ndarray) -> tuple[float, float]:
    cache = ctx.__dict__.setdefault("_before_q", {})
    key = (hash(np.packbits(pop).tobytes()), int(pop.sum()))
    if key not in cache:
        cache[key] = _quantiles(ctx.agency_s[pop] / ctx.L)
    return cache[key]


def queue_check(ctx: ReplayContext, out: ReplayOutcome) -> tuple[bool, str]:
    """Does the cut change segments at a step (activity at a unit) where queues make the replay
    doubtful? ``(flag, evidence)``: the flag is raised for the steps the cut shortens; queue
    steps further down the dossiers' paths (their events only move earlier, so the dossiers
    reach those queues sooner and may wait longer there) are named in the evidence without
    raising the flag."""
    pairs = out.touched_pairs if out.touched_pairs is not None else \
        np.unique(ctx.pair_key[out.reduction_s > 0])
    down = out.downstream_pairs if out.downstream_pairs is not None else np.zeros(0, np.int64)
    if not len(pairs) and not len(down):
        return False, ""

    def describe(load: pd.DataFrame) -> list[str]:
        parts = []
        for _, r in load[load["queue"].to_numpy(dtype=bool)].iterrows():  # flagged steps (few)
            ev = []
            if np.isfinite(r["utilisation"]):
                ev.append(f"utilisation {r['utilisation']:.2f}")
            if np.isfinite(r["queue_rho"]):
                ev.append(f"wait vs backlog rho {r['queue_rho']:.2f} (p {r['queue_p']:.2g})")
            where = f"{r['activity']} @ {r['unit']}" if r["unit"] is not None else str(r["activity"])
            parts.append(f"{where}: {', '.join(ev)}")
        return parts

    direct = describe(ctx.pair_load(pairs)) if len(pairs) else []
    later = describe(ctx.pair_load(down)) if len(down) else []
    text = "; ".join(direct)
    if later:
        text = "; ".join(x for x in (text, "downstream (dossiers reach it sooner): " + "; ".join(later)) if x)
    return bool(direct), text


def fill_cost_rows(row: dict, *, ctx: ReplayContext, cut: Cut, out: Any, cost: CostParams,
                   vol: float, vol_p: np.ndarray, deadline_p: np.ndarray, citizen_h: np.ndarray,
                   visits: np.ndarray, mean_saved: float) -> str:
    """Fill a score row's citizen, statutory and target columns (shared by replay and
    simulation scoring); returns the basis of the statutory days."""
    row["citizen_hours_saved_mean"] = float(citizen_h.mean())
    row["visits_avoided_mean"] = float(visits.mean())
    per_dossier_h = row["citizen_hours_saved_mean"] + row["visits_avoided_mean"] * cost.visit_hours
    row["citizen_cost_saved_vnd_per_year"] = per_dossier_h * cost.hourly_income_vnd * vol
    days_p, basis = statutory_days_saved(ctx, cut, out, cost)
    hour_cost = cost.hours_per_day * cost.hourly_income_vnd
    okp = np.isfinite(days_p) & np.isfinite(vol_p)
    saved_cost = float(np.sum(days_p[okp] * vol_p[okp])) * hour_cost
    okd = np.isfinite(deadline_p) & np.isfinite(vol_p)
    before_cost = float(np.sum(deadline_p[okd] * vol_p[okd])) * hour_cost
    if okp.any():
        w = vol_p[okp]
        row["statutory_days_saved"] = float(np.sum(days_p[okp] * w) / w.sum()) if w.sum() > 0 else np.nan
        row["statutory_cost_saved_vnd_per_year"] = saved_cost
    row["statutory_cost_before_vnd_per_year"] = before_cost if okd.any() else np.nan
    mb = row["agency_mean_before_days"]
    row["pct_time_cut"] = mean_saved / mb if mb > 0 else np.nan
    row["pct_cost_cut"] = saved_cost / before_cost if okd.any() and before_cost > 0 else np.nan
    row["meets_time_target"] = bool(np.isfinite(row["pct_time_cut"])
                                    and row["pct_time_cut"] >= cost.time_target)
    row["meets_cost_target"] = bool(np.isfinite(row["pct_cost_cut"])
                                    and row["pct_cost_cut"] >= cost.cost_target)
    return basis


def summarise(ctx: ReplayContext, out: ReplayOutcome, *, ci: float = 0.95, n_boot: int = 1000,
              seed: int = 0, cost: CostParams = CostParams(), method: str = "replay",
              assumption: str = ASSUMPTION_REPLAY, extra_notes: Iterable[str] = ()) -> dict:
    """One score row from a replay outcome (see the module docstring for the columns)."""
    L = ctx.L
    pop = out.pop
    n = int(pop.sum())
    cut = out.cut
    row: dict[str, Any] = {c: np.nan for c in COLUMNS}
    row.update({"cut": cut, "label_vi": cut.label_vi, "label_en": cut.label_en, "method": method,
                "assumption": assumption, "n_dossiers": n, "draws": out.draws})
    notes = list(out.notes) + list(extra_notes)
    if n == 0:
        row["notes"] = "; ".join(notes + ["no finished dossier in scope"])
        row.update({"dossiers_affected": 0, "queue_flag": False, "queue_evidence": ""})
        return row
    saved = out.saved_s[pop] / L
    before = ctx.agency_s[pop] / L
    after = before - saved
    aff = out.affected[pop]
    row["dossiers_affected"] = float(aff.sum()) if out.draws > 1 else int(aff.sum())
    row["share_affected"] = float(aff.mean())
    boot = _bootstrap(ctx, pop, n_boot, seed)
    m_mean, m_lo, m_hi = boot.mean_ci(saved, ci)
    row["saved_mean_days"], row["saved_ci_low"], row["saved_ci_high"] = m_mean, m_lo, m_hi
    gain = saved[aff > 0]
    gain = gain[gain > 0] if gain.size else gain
    row["saved_median_days"], row["saved_p90_days"] = _quantiles(gain)
    row["agency_mean_before_days"] = float(before.mean())
    row["median_before_days"], row["p90_before_days"] = _before_quantiles(ctx, pop)
    row["median_after_days"], row["p90_after_days"] = _quantiles(after)
    vol_p, vol, vol_basis = volumes(ctx, cost, pop)
    row["annual_volume"] = vol
    row["dossier_days_saved_per_year"] = m_mean * vol
    # on time, before and after (finished dossiers with a statutory budget)
    hb = np.isfinite(ctx.budget_s[pop])
    nb = int(hb.sum())
    row["n_with_budget"] = nb
    if nb:
        ok_before = (ctx.agency_s[pop][hb] <= ctx.budget_s[pop][hb] + 1e-3).astype(np.float64)
        ok_after = out.on_time_after[pop][hb]
        kb, ka = ok_before.sum(), ok_after.sum()
        row["on_time_before"] = kb / nb
        row["on_time_before_low"], row["on_time_before_high"] = wilson(kb, nb, ci)
        row["on_time_after"] = ka / nb
        row["on_time_after_low"], row["on_time_after_high"] = wilson(min(ka, nb), nb, ci)
        diff = np.zeros(n)
        diff[hb] = ok_after - ok_before
        # paired: the same resampled dossiers before and after (dossiers without a budget have
        # weight 0)
        d_mean, d_lo, d_hi = boot.mean_ci(diff, ci, weights=hb.astype(np.float64))
        row["on_time_diff"], row["on_time_diff_low"], row["on_time_diff_high"] = d_mean, d_lo, d_hi
    # citizen side, measured; statutory (provincial formula), per procedure
    basis = fill_cost_rows(row, ctx=ctx, cut=cut, out=out, cost=cost, vol=vol, vol_p=vol_p,
                           deadline_p=_deadline_days(ctx, pop),
                           citizen_h=out.citizen_saved_s[pop] / 3600.0,
                           visits=out.visits_avoided[pop], mean_saved=m_mean)
    if method == "replay":
        flag, ev = queue_check(ctx, out)
    else:
        flag, ev = False, ""
    row["queue_flag"], row["queue_evidence"] = flag, ev
    notes.append(f"statutory days: {basis}")
    notes.append(f"volume: {vol_basis}")
    if n < 30:
        notes.append(f"only {n} finished dossiers: intervals are rough")
    if flag:
        notes.append("the no-queue assumption is doubtful at a step this cut changes; "
                     "prefer method='simulate'")
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


def _simulation():
    try:
        from .. import simulation  # helper F2's engine (optional)
    except ImportError:
        return None
    return simulation if hasattr(simulation, "score") else None


def _as_cut_list(log, cuts, procedure) -> tuple[list[Cut], list]:
    """(cuts, procedure of each cut): a suggestions frame keeps its per-row procedure."""
    if cuts is None:
        from .suggest import suggest_cuts
        cuts = suggest_cuts(log, procedure=procedure)
    if isinstance(cuts, Cut):
        return [cuts], [procedure]
    if isinstance(cuts, pd.DataFrame):
        if "cut" not in cuts.columns:
            raise ConfigError("a frame of cuts needs a 'cut' column (as suggest_cuts returns)")
        cl = list(cuts["cut"])
        if "procedure" in cuts.columns and procedure is None:
            procs = [None if (p is None or (isinstance(p, float) and np.isnan(p))) else p
                     for p in cuts["procedure"].tolist()]
        else:
            procs = [procedure] * len(cl)
    else:
        cl = list(cuts)
        procs = [procedure] * len(cl)
    for c in cl:
        if not isinstance(c, Cut):
            raise ConfigError(f"score_cuts takes cut objects (tm.cuts.RemoveStep(...), ...), got {c!r}")
    return cl, procs


def score_cuts(log, cuts=None, *, method: str = "auto", procedure: str | None = None,
               ci: float = 0.95, n_boot: int = 1000, replications: int = 30, seed: int = 0,
               cost: CostParams | None = None, sort_by: str | None = "dossier_days_saved_per_year",
               ascending: bool = False, draws: int | None = None, catalog: Any = None) -> pd.DataFrame:
    """Score procedure cuts, one row per cut (columns: see :data:`COLUMNS` and the module
    docstring).

    ``cuts``: cut objects (a list, one cut, or the frame :func:`suggest_cuts` returns, whose
    ``procedure`` column scores each suggestion within its procedure); ``None`` scores the
    suggestions of :func:`suggest_cuts`. ``method``: ``"auto"`` (per cut: simulation for
    queue-changing or random cuts when :mod:`tthc_mining.simulation` is installed, replay
    otherwise), ``"replay"`` or ``"simulate"``. ``procedure``: score within one procedure's
    dossiers (the cut changes only them). ``ci`` / ``n_boot``: interval level and bootstrap
    replicates; ``replications``: simulation runs; ``draws``: random draws for
    ``ReduceLoopRate`` under replay (default 20); ``seed`` makes everything reproducible.
    ``cost``: :class:`CostParams`. ``sort_by``: a column to sort on, largest first unless
    ``ascending`` (``None`` keeps the input order).
    """
    from ..log import DossierLog
    from .replay import scope_cases
    if not isinstance(log, DossierLog):
        raise ConfigError(f"score_cuts expects a DossierLog (tm.read_log(...)), not {type(log).__name__}")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    cost = CostParams() if cost is None else cost
    if not isinstance(cost, CostParams):
        raise ConfigError(f"cost must be tm.CostParams(...), not {type(cost).__name__}")
    if n_boot < 1:
        raise ConfigError("n_boot must be at least 1")
    if sort_by is not None and sort_by not in COLUMNS + ("procedure",):
        raise ConfigError(f"sort_by must be a score column ({', '.join(COLUMNS)}), not {sort_by!r}")
    cut_list, procs = _as_cut_list(log, cuts, procedure)
    for c in cut_list:
        c.validate(log)
    sim = _simulation()
    engines = []
    for c in cut_list:
        if method == "replay":
            engines.append("replay")
        elif method == "simulate":
            if sim is None:
                raise ConfigError("method='simulate' needs tthc_mining.simulation, which is not "
                                  "installed in this version; use method='replay'")
            engines.append("simulate")
        else:
            engines.append("simulate" if (c.queue_changing and sim is not None) else "replay")
    rows: list[dict | None] = [None] * len(cut_list)
    flagged: dict[int, str] = {}
    if any(e == "replay" for e in engines):
        ctx = context(log, catalog=catalog)
        masks: dict = {}
        outs: dict = {}
        for i, (c, e, pr) in enumerate(zip(cut_list, engines, procs)):
            if e != "replay":
                continue
            key = str(pr) if pr is not None else None
            if key not in masks:
                masks[key] = ctx.restrict(scope_cases(ctx, pr))
            extra = []
            if method == "auto" and c.queue_changing:
                extra.append("auto: the simulation engine is not installed; replay approximation "
                             "used for a queue-changing or random cut")
            sub = masks[key]
            try:
                out = replay(sub, c, seed=seed, draws=draws, validate=False)
            except ConfigError as e:  # this cut cannot be replayed on this log: say so in its row
                r = {col: np.nan for col in COLUMNS}
                r.update({"cut": c, "label_vi": c.label_vi, "label_en": c.label_en, "method": "replay",
                          "assumption": ASSUMPTION_REPLAY, "n_dossiers": int(sub.pop.sum()),
                          "queue_flag": False, "queue_evidence": "",
                          "notes": f"not scored: {e}"})
                rows[i] = r
                continue
            outs[i] = (sub, out, extra)
        # queue evidence for every (step, unit) any cut changed, computed in one pass
        touched = [np.concatenate([o.touched_pairs, o.downstream_pairs]) for _, o, _ in outs.values()]
        if touched:
            ctx.pair_load(np.unique(np.concatenate(touched)))
        for i, (sub, out, extra) in outs.items():
            assumption = ASSUMPTION_REPLAY
            if any(isinstance(p, AddStaff) for p in cut_list[i].parts()):
                assumption = ("replay approximation: waits at the target scaled by the M/M/c ratio "
                              "of queue waits with and without the new officers; no knock-on effects")
            rows[i] = summarise(sub, out, ci=ci, n_boot=n_boot, seed=seed, cost=cost,
                                assumption=assumption, extra_notes=extra)
    if method == "auto" and sim is not None:
        for i, r in enumerate(rows):
            if r is None or engines[i] != "replay":
                continue
            if bool(r.get("queue_flag")):
                engines[i] = "simulate"  # the replay's no-queue assumption is doubtful there
                flagged[i] = r["queue_evidence"]
                continue
            # a cut before an officer queue or a bulk signing at fixed times moves their
            # arrivals: the replay keeps every other segment as observed, so its interval is too
            # narrow there (docs/accuracy.md); the fitted model says which cuts reach one
            exposure = getattr(sim, "exposure", None)
            try:
                reach = exposure(log, cut_list[i], procedure=procs[i], catalog=catalog) if exposure else ""
            except TthcMiningError:
                reach = ""
            if reach:
                engines[i] = "simulate"
                flagged[i] = reach
    sim_idx = [i for i, e in enumerate(engines) if e == "simulate"]
    groups: dict = {}
    for i in sim_idx:
        groups.setdefault(procs[i], []).append(i)
    for pr, idxs in groups.items():  # one simulation call per procedure scope
        sim_cuts = [cut_list[i] for i in idxs]
        try:
            sdf = sim.score(log, sim_cuts, procedure=pr, ci=ci, replications=replications,
                            seed=seed, cost=cost)
        except TthcMiningError as e:
            if method == "simulate":
                raise
            for i in idxs:  # auto: keep the replay row when there is one, else say why
                if rows[i] is not None:
                    rows[i]["notes"] = f"{rows[i]['notes']}; the simulation could not run: {e}"
                else:
                    c = cut_list[i]
                    rows[i] = {col: np.nan for col in COLUMNS}
                    rows[i].update({"cut": c, "label_vi": c.label_vi, "label_en": c.label_en,
                                    "method": "simulate", "queue_flag": False, "queue_evidence": "",
                                    "notes": f"not scored: the simulation could not run: {e}"})
                engines[i] = rows[i]["method"]
            continue
        if len(sdf) != len(sim_cuts):
            raise ConfigError(f"the simulation returned {len(sdf)} rows for {len(sim_cuts)} cuts")
        sim_attrs, sdf.attrs = sdf.attrs, {}  # the fitted model lives in attrs: pandas would
        records = sdf.to_dict("records")       # deep-copy it once per column in to_dict
        sdf.attrs = sim_attrs
        for i, rec in zip(idxs, records):
            d = {col: np.nan for col in COLUMNS}
            d.update(rec)
            d["cut"] = cut_list[i]
            if not isinstance(d.get("method"), str):
                d["method"] = "simulate"
            if i in flagged:
                d["queue_flag"], d["queue_evidence"] = True, flagged[i]
                d["notes"] = "; ".join(x for x in (
                    f"auto: simulated because the replay's no-queue assumption is doubtful at "
                    f"{flagged[i]}", d.get("notes") if isinstance(d.get("notes"), str) else "") if x)
            rows[i] = d
    for r, pr in zip(rows, procs):
        r["procedure"] = pr
    extra_cols = [k for r in rows for k in r if k not in COLUMNS and k != "procedure"]
    cols = ["procedure", *COLUMNS, *dict.fromkeys(extra_cols)]
    df = pd.DataFrame([{c: r.get(c, np.nan) for c in cols} for r in rows], columns=cols)
    if sort_by is not None and len(df):
        df = df.sort_values(sort_by, ascending=ascending, kind="stable",
                            na_position="last").reset_index(drop=True)
    if sim_idx and "backtest_pass" in df.columns:
        sim_rows = df[df["method"] == "simulate"]
        if (sim_rows["backtest_pass"] == False).any():  # noqa: E712
            warnings.warn("the simulation's backtest FAILED: simulated savings are not reliable "
                          "(see the backtest columns)", RuntimeWarning, stacklevel=2)
    df.attrs.update({"procedure": procedure, "method": method, "ci": ci, "n_boot": n_boot,
                     "replications": replications, "seed": seed, "cost": cost.to_dict(),
                     "assumption_replay": ASSUMPTION_REPLAY})
    return df
