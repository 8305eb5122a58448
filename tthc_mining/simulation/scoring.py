"""``tm.simulation.score``: score cuts with the simulation, in the columns of ``tm.score_cuts``.

Interface with :func:`tthc_mining.cuts.score_cuts` (``method="simulate"``, or ``"auto"`` for
queue-changing and random cuts): ``score(log, cuts, *, procedure, ci, replications, seed,
cost) -> DataFrame`` with one row per cut, in order, and at least the columns of
:data:`tthc_mining.cuts.score.COLUMNS` (``score_cuts`` fills ``cut`` and ``procedure``).

How the columns are computed (``R`` replications, each with a dossier-bootstrap refit of the
model's empirical distributions and fresh draws, baseline and cut sharing every random number):

* ``saved_mean_days``: the mean saving per dossier (baseline minus cut agency working days)
  *in the observed period*. Per procedure, each replication gives a mean saving ``y_r`` and a
  mean simulated baseline ``x_r``; a replication's saving varies with how congested its
  simulated year was (a queue cut saves more in a busy year), and the observed year's baseline
  ``x0`` is known, so the saving is the regression ``y = a + b x`` evaluated at ``x0`` (a control
  variate) when the baseline explains at least :data:`CV_MIN_R2` of the variance and ``x0`` lies
  within :data:`CV_RANGE` standard deviations of the simulated ``x``; otherwise the mean of
  ``y_r``. Procedures are combined with their shares of dossiers. ``saved_ci_low`` /
  ``saved_ci_high``: ``estimate +- t(R-2) x sd`` with the prediction variance
  ``s^2 (1 + 1/R + (x0 - mean x)^2 / Sxx)`` (plain: ``sd_y^2 (1 + 1/R)``), i.e. where the saving
  of a period like the observed one falls (model uncertainty from the bootstrap plus the
  process noise of one period); ``saved_sd_days`` = that ``sd``; ``saved_mean_sim_days`` = the
  plain mean over replications.
* ``*_before`` columns are the observed log (as for replay); ``median_after_days`` /
  ``p90_after_days`` = observed + the simulated change (cut minus baseline, mean over
  replications); ``on_time_after`` = observed + the simulated change of the on-time rate, with
  its replication interval (``on_time_diff*``).
* ``dossiers_affected`` / ``share_affected``: mean over replications of the simulated dossiers
  whose route the cut changed or whose times moved (a queue cut moves dossiers it does not
  touch); ``saved_median_days`` / ``saved_p90_days`` among the simulated dossiers that gain.
* citizen and statutory columns: as ``tm.score_cuts`` (:mod:`tthc_mining.cuts.score`), from the
  simulated savings.
* extra columns: ``backtest_pass`` and ``backtest`` (the fitted model's backtest on the same
  baseline replications: ``score_cuts`` warns when it failed), ``saved_sd_days``,
  ``replications``, ``queues`` (the officer queues the model found in scope).
"""
from __future__ import annotations

import types
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..stats import wilson
from .backtest import backtest_from_run
from .engine import simulate
from .model import fit_model

__all__ = ["score", "ASSUMPTION_SIMULATE", "interval"]

ASSUMPTION_SIMULATE = (
    "simulation: queue-aware discrete-event model learned from the log (empirical arrivals, "
    "variant routes, empirical durations by station and time of day, FIFO in-trays of the "
    "officers at queue steps with calibrated hidden work); baseline and cut share common random "
    "numbers; interval from the replications (bootstrap refit + fresh draws)")


def interval(x: np.ndarray, ci: float) -> tuple[float, float, float, float]:
    """``(mean, low, high, sd)`` of replication values: ``mean +- t x sd x sqrt(1 + 1/R)``."""
    x = np.asarray(x, dtype=np.float64)
    R = x.size
    m = float(x.mean()) if R else float("nan")
    if R < 2:
        return m, float("nan"), float("nan"), float("nan")
    from scipy.special import stdtrit
    sd = float(x.std(ddof=1))
    h = float(stdtrit(R - 1, 0.5 + ci / 2.0)) * sd * np.sqrt(1.0 + 1.0 / R)
    return m, m - h, m + h, sd


#: control variate: used for a procedure when the replications explain at least this share of
#: the saving's variance by the baseline level, and the observed level is within CV_RANGE
#: standard deviations of the simulated ones
CV_MIN_R2 = 0.25
CV_RANGE = 3.0
CV_MIN_REPLICATIONS = 8


def controlled(y: np.ndarray, x: np.ndarray, x0: float) -> tuple[float, float, bool]:
    """Saving conditioned on the observed baseline: ``(estimate, prediction variance, used)``.

    ``y``: the replications' mean saving, ``x``: their mean simulated baseline agency time,
    ``x0``: the observed mean agency time. When the baseline level explains the saving (a queue
    cut saves more in a congested year) the regression ``y = a + b x`` is evaluated at ``x0``
    with the variance of a regression prediction, ``s^2 (1 + 1/R + (x0 - mean x)^2 / Sxx)``;
    otherwise the plain mean with ``sd^2 (1 + 1/R)``."""
    R = y.size
    ybar = float(y.mean())
    plain_var = float(y.var(ddof=1)) * (1.0 + 1.0 / R) if R > 1 else float("nan")
    if R < CV_MIN_REPLICATIONS:
        return ybar, plain_var, False
    xbar = float(x.mean())
    sxx = float(np.sum((x - xbar) ** 2))
    syy = float(np.sum((y - ybar) ** 2))
    if sxx <= 0 or syy <= 0:
        return ybar, plain_var, False
    sxy = float(np.sum((x - xbar) * (y - ybar)))
    r2 = sxy * sxy / (sxx * syy)
    sd_x = np.sqrt(sxx / (R - 1))
    if r2 < CV_MIN_R2 or abs(x0 - xbar) > CV_RANGE * sd_x:
        return ybar, plain_var, False
    b = sxy / sxx
    s2 = max(syy - b * sxy, 0.0) / (R - 2)
    return ybar + b * (x0 - xbar), s2 * (1.0 + 1.0 / R + (x0 - xbar) ** 2 / sxx), True


def saving_estimate(run, c: int, ci: float) -> tuple[float, float, float, float, list[str]]:
    """Mean saving per dossier with its interval, per procedure conditioned on the observed
    baseline (:func:`controlled`) and combined with the procedures' shares of dossiers:
    ``(mean, low, high, sd, procedures that used the control variate)``."""
    from scipy.special import stdtrit
    L = run.L
    R = run.replications
    N = run.agency.shape[2]
    est, var, used = 0.0, 0.0, []
    for code in dict.fromkeys(run.procedure):  # procedures in scope (a handful)
        m = run.procedure == code
        w = m.sum() / N
        x = run.agency[0][:, m].mean(axis=1) / L
        y = (run.agency[0][:, m] - run.agency[c][:, m]).mean(axis=1) / L
        if not np.any(y):
            continue
        e, v, u = controlled(y, x, float(run.agency_obs[m].mean() / L))
        est += w * e
        var += w * w * v
        if u:
            used.append(str(code))
    if R < 2 or not np.isfinite(var):
        return est, float("nan"), float("nan"), float("nan"), used
    sd = float(np.sqrt(var))
    h = float(stdtrit(max(R - 2, 1), 0.5 + ci / 2.0)) * sd
    return est, est - h, est + h, sd, used


def _queue_text(model) -> str:
    q = model.queues
    if not len(q):
        return ""
    parts = []
    for _, r in q.iterrows():  # one row per queue station (a few)
        parts.append(f"{r['procedure']} {r['activity']} @ {r['unit']}: {int(r['officers'])} "
                     f"officer(s), utilisation {r['utilisation']:.2f} "
                     f"(visible {r['visible_utilisation']:.2f})")
    return "; ".join(parts)


def score(log, cuts, *, procedure: Any = None, ci: float = 0.95, replications: int = 30,
          seed: int = 0, cost=None, n_jobs: int | None = None, catalog: Any = None,
          model=None) -> pd.DataFrame:
    """Score ``cuts`` with the simulation (see the module docstring); one row per cut."""
    from ..cuts.catalogue import Cut
    from ..cuts.cost import CostParams
    from ..cuts.score import COLUMNS, _deadline_days, fill_cost_rows, volumes
    cost = CostParams() if cost is None else cost
    if not 0.0 < float(ci) < 1.0:
        raise ConfigError(f"ci must be between 0 and 1, got {ci!r}")
    cuts = [cuts] if isinstance(cuts, Cut) else list(cuts)
    for c in cuts:
        if not isinstance(c, Cut):
            raise ConfigError(f"score takes cut objects (tm.cuts.RemoveStep(...), ...), got {c!r}")
    model = fit_model(log, procedure=procedure, catalog=catalog, seed=seed) if model is None else model
    run = simulate(model, cuts, replications=replications, seed=seed, n_jobs=n_jobs)
    bt = backtest_from_run(run)
    ctx = model.ctx
    L = model.L
    R = run.replications
    N = run.agency.shape[2]
    pop = np.zeros(ctx.C, dtype=bool)
    pop[run.case] = True
    vol_p, vol, vol_basis = volumes(ctx, cost, pop)
    deadline_p = _deadline_days(ctx, pop)
    obs = run.agency_obs / L
    budget = run.budget
    hb = np.isfinite(budget)
    nb = int(hb.sum())
    ok_obs = (run.agency_obs <= budget + 1e-3)[hb]
    base = run.agency[0]
    base_ot = (base[:, hb] <= budget[hb] + 1e-3).mean(axis=1) if nb else np.full(R, np.nan)
    base_med = np.median(base, axis=1) / L
    base_p90 = np.quantile(base, 0.9, axis=1) / L
    queues = _queue_text(model)
    rows = []
    for c, cut in enumerate(cuts, 1):
        ag = run.agency[c]
        saved = (base - ag) / L                          # (R, N) working days
        cit = (run.citizen[0] - run.citizen[c]) / 3600.0
        visits = run.visits[c]
        moved = (np.abs(saved) * L > 1e-3) | (np.abs(cit) > 1e-6) | (visits > 0) | run.changed[c]
        row: dict = {col: np.nan for col in COLUMNS}
        row.update({"cut": cut, "label_vi": cut.label_vi, "label_en": cut.label_en,
                    "method": "simulate", "assumption": ASSUMPTION_SIMULATE, "n_dossiers": N,
                    "draws": R, "queue_flag": False, "queue_evidence": ""})
        m, lo, hi, sd, cv_used = saving_estimate(run, c, ci)
        row.update({"saved_mean_days": m, "saved_ci_low": lo, "saved_ci_high": hi})
        row["saved_mean_sim_days"] = float(saved.mean())
        aff = moved.sum(axis=1).astype(np.float64)
        row["dossiers_affected"] = float(aff.mean())
        row["share_affected"] = float(aff.mean() / N) if N else np.nan
        gain = saved[moved & (saved > 1e-9)]
        row["saved_median_days"] = float(np.median(gain)) if gain.size else np.nan
        row["saved_p90_days"] = float(np.quantile(gain, 0.9)) if gain.size else np.nan
        row["agency_mean_before_days"] = float(obs.mean())
        row["median_before_days"] = float(np.median(obs))
        row["p90_before_days"] = float(np.quantile(obs, 0.9))
        row["median_after_days"] = row["median_before_days"] + float(
            (np.median(ag, axis=1) / L - base_med).mean())
        row["p90_after_days"] = row["p90_before_days"] + float(
            (np.quantile(ag, 0.9, axis=1) / L - base_p90).mean())
        row["annual_volume"] = vol
        row["dossier_days_saved_per_year"] = m * vol
        row["n_with_budget"] = nb
        if nb:
            kb = float(ok_obs.sum())
            row["on_time_before"] = kb / nb
            row["on_time_before_low"], row["on_time_before_high"] = wilson(kb, nb, ci)
            cut_ot = (ag[:, hb] <= budget[hb] + 1e-3).mean(axis=1)
            d, dlo, dhi, _ = interval(cut_ot - base_ot, ci)
            row["on_time_diff"], row["on_time_diff_low"], row["on_time_diff_high"] = d, dlo, dhi
            before = row["on_time_before"]
            row["on_time_after"] = float(np.clip(before + d, 0.0, 1.0))
            row["on_time_after_low"] = float(np.clip(before + dlo, 0.0, 1.0)) if np.isfinite(dlo) else np.nan
            row["on_time_after_high"] = float(np.clip(before + dhi, 0.0, 1.0)) if np.isfinite(dhi) else np.nan
        # statutory (provincial formula): per procedure from the simulated mean savings
        saved_case = np.zeros(ctx.C)
        saved_case[run.case] = saved.mean(axis=0) * L
        out = types.SimpleNamespace(saved_s=saved_case, pop=pop)
        basis = fill_cost_rows(row, ctx=ctx, cut=cut, out=out, cost=cost, vol=vol, vol_p=vol_p,
                               deadline_p=deadline_p, citizen_h=cit, visits=visits, mean_saved=m)
        notes = [f"{R} replications, {int(run.passes.max())} engine pass(es)"]
        if cv_used:
            notes.append("saving conditioned on the observed baseline (control variate) in "
                         + ", ".join(cv_used))
        notes += [x for x in run.notes]
        notes += [f"statutory days: {basis}", f"volume: {vol_basis}", bt.summary()]
        if not bt.passed:
            notes.append("BACKTEST FAILED: the simulated savings are not reliable")
        if N < 30:
            notes.append(f"only {N} finished dossiers: intervals are rough")
        row["notes"] = "; ".join(dict.fromkeys(notes))
        row.update({"backtest_pass": bool(bt.passed), "backtest": bt.summary(),
                    "saved_sd_days": sd, "replications": R, "queues": queues})
        rows.append(row)
    extra = ["backtest_pass", "backtest", "saved_sd_days", "saved_mean_sim_days", "replications",
             "queues"]
    df = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    df.attrs.update({"backtest": bt, "model": model})
    return df
