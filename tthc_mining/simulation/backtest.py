"""Trust before numbers: the fitted simulation's baseline compared with the observed log.

``model.backtest()`` simulates the observed period (the observed arrivals, routes and durations
drawn from the fitted model, ``replications`` times) and compares it with the log
(``../shared/docs/methods.md`` §6), per procedure and for all dossiers together:

* median and 90th percentile of agency working days per dossier,
* on-time rate (agency time within the statutory budget, as ``tm.timing``'s
  ``on_time_actual``),
* the Wasserstein distance between the observed and simulated distributions of agency days,
* mean waiting per step (procedure, activity).

Tolerances (:data:`TOLERANCES`): median within 10 %, on-time rate within 2 percentage points,
90th percentile within 20 %, Wasserstein distance at most 20 % of the observed mean. For a
single procedure the tolerance is widened to the sampling noise of the observed figure (2
standard errors: order-statistic interval of a quantile, binomial error of a rate), because a
procedure with 150 dossiers cannot pin its median to 10 %; the all-dossier row keeps the plain
tolerances. Mean waiting per step: within 25 % or 0.25 working hours, widened the same way,
for steps with at least :data:`MIN_STEP_N` visits. The backtest **passes** when the all-dossier
row and every procedure with at least :data:`MIN_PROC_N` dossiers pass, and at least 90 % of
the steps checked do.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..segments import OWNER_AGENCY

__all__ = ["Backtest", "run_backtest", "backtest_from_run", "TOLERANCES", "MIN_PROC_N",
           "MIN_STEP_N"]

TOLERANCES = {"median_rel": 0.10, "on_time_pp": 0.02, "p90_rel": 0.20, "wasserstein_rel": 0.20,
              "step_wait_rel": 0.25, "step_wait_h": 0.25, "steps_share": 0.90}
MIN_PROC_N = 100
MIN_STEP_N = 100
_Z = 1.959963984540054


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """First Wasserstein distance between two samples: the area between their empirical
    distribution functions."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if a.size == 0 or b.size == 0:
        return float("nan")
    x = np.concatenate([a, b])
    x.sort(kind="mergesort")
    dx = np.diff(x)
    fa = np.searchsorted(a, x[:-1], side="right") / a.size
    fb = np.searchsorted(b, x[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * dx))


def _quantile_se(x: np.ndarray, q: float) -> float:
    """Standard error of a sample quantile from its order-statistic interval."""
    n = x.size
    if n < 5:
        return float("nan")
    d = _Z * np.sqrt(q * (1 - q) / n)
    lo, hi = np.quantile(x, [max(q - d, 0.0), min(q + d, 1.0)])
    return float(hi - lo) / (2 * _Z)


@dataclass
class Backtest:
    """Result of a backtest: ``procedures`` (one row per procedure and ``(all)``), ``steps``
    (mean waiting per step), ``passed``, ``tolerances``, ``replications``."""

    procedures: pd.DataFrame
    steps: pd.DataFrame
    passed: bool
    tolerances: dict
    replications: int
    notes: list = field(default_factory=list)

    def summary(self, lang: str = "en") -> str:
        a = self.procedures[self.procedures["procedure"] == "(all)"].iloc[0]
        failed = self.procedures.loc[~self.procedures["pass"], "procedure"].tolist()
        st = self.steps[self.steps["checked"]]
        sp = f"{int(st['pass'].sum())}/{len(st)}"
        if lang == "vi":
            verdict = "ĐẠT" if self.passed else "KHÔNG ĐẠT"
            return (f"Kiểm định ngược {verdict}: trung vị {a['median_obs']:.2f} / mô phỏng "
                    f"{a['median_sim']:.2f} ngày làm việc, tỷ lệ đúng hạn {a['on_time_obs']:.1%} / "
                    f"{a['on_time_sim']:.1%}; bước đạt {sp}"
                    + (f"; không đạt: {', '.join(map(str, failed))}" if failed else ""))
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"backtest {verdict}: median {a['median_obs']:.2f} observed / {a['median_sim']:.2f} "
                f"simulated working days, on time {a['on_time_obs']:.1%} / {a['on_time_sim']:.1%}; "
                f"steps within tolerance {sp}"
                + (f"; failing: {', '.join(map(str, failed))}" if failed else ""))

    def to_frame(self) -> pd.DataFrame:
        return self.procedures

    def to_dict(self) -> dict:
        return {"passed": self.passed, "tolerances": self.tolerances,
                "replications": self.replications, "summary": self.summary(),
                "procedures": json.loads(self.procedures.to_json(orient="records", force_ascii=False)),
                "steps": json.loads(self.steps.to_json(orient="records", force_ascii=False)),
                "notes": list(self.notes)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        return f"Backtest({self.summary()})"

    def _repr_html_(self) -> str:
        colour = "green" if self.passed else "red"
        cols = ["procedure", "n_dossiers", "median_obs", "median_sim", "p90_obs", "p90_sim",
                "on_time_obs", "on_time_sim", "wasserstein_days", "pass"]
        return (f"<p style='color:{colour}'><b>{html.escape(self.summary('vi'))}</b><br>"
                f"{html.escape(self.summary('en'))}</p>"
                + self.procedures[cols].to_html(index=False, escape=True, float_format="%.3f"))


def _row(name: str, obs: np.ndarray, sim: np.ndarray, b_obs: np.ndarray, b_sim: np.ndarray,
         L: float, strict: bool) -> dict:
    T = TOLERANCES
    o, s = obs / L, sim / L
    n = o.size
    med_o, med_s = float(np.median(o)), float(np.median(s))
    p90_o, p90_s = float(np.quantile(o, 0.9)), float(np.quantile(s, 0.9))
    hb = np.isfinite(b_obs)
    ot_o = float(np.mean(obs[hb] <= b_obs[hb] + 1e-3)) if hb.any() else np.nan
    hs = np.isfinite(b_sim)
    ot_s = float(np.mean(sim[hs] <= b_sim[hs] + 1e-3)) if hs.any() else np.nan
    w1 = wasserstein(o, s) if n else np.nan
    mean_o = float(o.mean()) if n else np.nan
    if strict:
        tol_med, tol_p90 = T["median_rel"] * med_o, T["p90_rel"] * p90_o
        tol_ot = T["on_time_pp"]
    else:
        tol_med = max(T["median_rel"] * med_o, 2 * _quantile_se(o, 0.5))
        tol_p90 = max(T["p90_rel"] * p90_o, 2 * _quantile_se(o, 0.9))
        nb = int(hb.sum())
        tol_ot = max(T["on_time_pp"], 2 * np.sqrt(max(ot_o * (1 - ot_o), 1.0 / max(nb, 1)) / max(nb, 1)))
    tol_w1 = T["wasserstein_rel"] * mean_o
    ok_med = abs(med_s - med_o) <= tol_med + 1e-12
    ok_p90 = abs(p90_s - p90_o) <= tol_p90 + 1e-12
    ok_ot = (not np.isfinite(ot_o)) or abs(ot_s - ot_o) <= tol_ot + 1e-12
    ok_w1 = w1 <= tol_w1 + 1e-12 or (not strict and w1 <= 2 * tol_w1 and n < 4 * MIN_PROC_N)
    return {"procedure": name, "n_dossiers": n, "mean_obs": mean_o, "mean_sim": float(s.mean()),
            "median_obs": med_o, "median_sim": med_s,
            "median_diff_rel": (med_s - med_o) / med_o if med_o > 0 else np.nan,
            "median_tol": tol_med, "median_ok": bool(ok_med),
            "p90_obs": p90_o, "p90_sim": p90_s, "p90_tol": tol_p90, "p90_ok": bool(ok_p90),
            "on_time_obs": ot_o, "on_time_sim": ot_s, "on_time_diff": ot_s - ot_o,
            "on_time_tol": tol_ot, "on_time_ok": bool(ok_ot),
            "wasserstein_days": w1, "wasserstein_tol": tol_w1, "wasserstein_ok": bool(ok_w1),
            "pass": bool(ok_med and ok_p90 and ok_ot and ok_w1)}


def backtest_from_run(run) -> Backtest:
    """The backtest of a :class:`~tthc_mining.simulation.engine.SimulationRun`'s baseline."""
    model = run.model
    L = model.L
    R = run.replications
    base = run.agency[0]  # (R, N)
    rows = []
    for pm in model.procs:
        m = run.procedure == pm.code
        rows.append(_row(pm.code, run.agency_obs[m], base[:, m].ravel(), run.budget[m],
                         np.tile(run.budget[m], R), L, strict=False))
    rows.append(_row("(all)", run.agency_obs, base.ravel(), run.budget,
                     np.tile(run.budget, R), L, strict=True))
    procs = pd.DataFrame(rows)
    big = (procs["procedure"] == "(all)") | (procs["n_dossiers"] >= MIN_PROC_N)
    procs["checked"] = big
    # mean waiting per step (agency-held visits), observed vs simulated
    srows = []
    off = 0
    ws = run.wait_sum.sum(axis=0)
    wn = run.wait_n.sum(axis=0)
    for pm in model.procs:
        S = len(pm.st_kind)
        st = pm.stations
        ag = st["owner_code"].to_numpy() == OWNER_AGENCY
        obs_sum = np.bincount(pm.station, weights=pm.w, minlength=S)
        obs_sq = np.bincount(pm.station, weights=pm.w ** 2, minlength=S)
        obs_n = np.bincount(pm.station, minlength=S).astype(np.float64)
        f = pd.DataFrame({"activity": st["activity"].to_numpy(), "ag": ag, "obs_sum": obs_sum,
                          "obs_sq": obs_sq, "obs_n": obs_n, "sim_sum": ws[off:off + S],
                          "sim_n": wn[off:off + S]})
        f = f[f["ag"]].groupby("activity", sort=False)[["obs_sum", "obs_sq", "obs_n", "sim_sum",
                                                        "sim_n"]].sum()
        for act, r in f.iterrows():  # one row per step of the procedure (a dozen)
            n = r["obs_n"]
            mo = r["obs_sum"] / n / 3600.0 if n else np.nan
            ms = r["sim_sum"] / r["sim_n"] / 3600.0 if r["sim_n"] else np.nan
            sd = np.sqrt(max(r["obs_sq"] / n - (r["obs_sum"] / n) ** 2, 0.0)) / 3600.0 if n else np.nan
            tol = max(TOLERANCES["step_wait_rel"] * abs(mo), TOLERANCES["step_wait_h"],
                      2 * sd / np.sqrt(max(n, 1)))
            srows.append({"procedure": pm.code, "activity": act, "n_obs": int(n),
                          "wait_obs_h": mo, "wait_sim_h": ms, "wait_tol_h": tol,
                          "checked": bool(n >= MIN_STEP_N),
                          "pass": bool(np.isfinite(ms) and abs(ms - mo) <= tol)})
        off += S
    steps = pd.DataFrame(srows, columns=["procedure", "activity", "n_obs", "wait_obs_h",
                                         "wait_sim_h", "wait_tol_h", "checked", "pass"])
    chk = steps[steps["checked"]]
    steps_ok = (chk["pass"].mean() >= TOLERANCES["steps_share"]) if len(chk) else True
    passed = bool(procs.loc[big, "pass"].all() and steps_ok)
    notes = []
    if not steps_ok:
        bad = chk[~chk["pass"]]
        notes.append("steps whose simulated mean waiting is off: "
                     + "; ".join(f"{p} / {a}" for p, a in zip(bad["procedure"], bad["activity"])))
    return Backtest(procedures=procs, steps=steps, passed=passed, tolerances=dict(TOLERANCES),
                    replications=R, notes=notes)


def run_backtest(model, *, replications: int = 10, seed: int = 0, n_jobs: int | None = None
                 ) -> Backtest:
    """Simulate the fitted model's baseline and compare it with the log."""
    from .engine import simulate
    run = simulate(model, [], replications=replications, seed=seed, n_jobs=n_jobs)
    return backtest_from_run(run)
