"""``tm.explain_cut``: which dossiers gain from a cut, by how much, and from which segments.

The explanation is built from the replay (:mod:`tthc_mining.cuts.replay`):

``by_case``
    one row per dossier that gains (agency or citizen time saved, or a segment changed):
    dossier id, procedure, agency working days before and after, days saved, citizen hours
    saved, visits avoided, number of segments changed, on time before / after.
``by_segment``
    the segments the cut shortened, grouped by step (previous step -> step, the step's unit and
    who held the dossier): segments changed, dossiers, hours removed in total and per segment.
``summary``
    the score row of :func:`tthc_mining.score_cuts` for the cut (replay engine).

``plot()`` draws the distributions of agency working days before and after (and of the
savings among the dossiers that gain) for the report; labels in Vietnamese and English.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from ..segments import OWNER_NAMES
from .catalogue import Cut
from .cost import CostParams
from .replay import context, replay
from .score import summarise

__all__ = ["explain_cut", "CutExplanation"]

_LABELS = {
    "before": ("Hiện nay", "Now"), "after": ("Sau cắt giảm", "After the cut"),
    "days": ("Thời gian cơ quan xử lý (ngày làm việc)", "Agency time (working days)"),
    "saved": ("Thời gian tiết kiệm mỗi hồ sơ được hưởng lợi (ngày làm việc)",
              "Saving per dossier affected (working days)"),
    "dossiers": ("Số hồ sơ", "Dossiers"),
}


@dataclass
class CutExplanation:
    """The explanation of one cut (see the module docstring)."""

    cut: Cut
    by_case: pd.DataFrame
    by_segment: pd.DataFrame
    summary: dict
    before_days: np.ndarray = field(repr=False)
    after_days: np.ndarray = field(repr=False)
    notes: list = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return self.by_case

    def to_dict(self, max_rows: int | None = 1000) -> dict:
        def rec(df):
            d = df if max_rows is None else df.head(max_rows)
            return json.loads(d.to_json(orient="records", date_format="iso", force_ascii=False,
                                        default_handler=str))
        summ = {k: (v.to_dict() if isinstance(v, Cut) else v) for k, v in self.summary.items()}
        return {"cut": self.cut.to_dict(), "label_vi": self.cut.label_vi, "label_en": self.cut.label_en,
                "summary": json.loads(json.dumps(summ, default=_json_default)),
                "by_segment": rec(self.by_segment), "by_case": rec(self.by_case),
                "notes": list(self.notes)}

    def to_json(self, max_rows: int | None = 1000, **kw) -> str:
        return json.dumps(self.to_dict(max_rows), ensure_ascii=False, default=_json_default, **kw)

    def plot(self, path: Any = None, *, lang: str = "vi+en", bins: int = 40):
        """Histograms of agency working days before and after the cut, and of the savings of the
        dossiers that gain. Returns the matplotlib figure (saved to ``path`` when given)."""
        import matplotlib.pyplot as plt

        def lab(k):
            vi, en = _LABELS[k]
            return vi if lang == "vi" else en if lang == "en" else f"{vi} / {en}"

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        b, a = self.before_days, self.after_days
        if b.size:
            hi = float(np.nanquantile(b, 0.995)) if b.size > 10 else float(np.nanmax(b))
            hi = hi if hi > 0 else 1.0
            edges = np.linspace(0.0, hi, bins + 1)
            axes[0].hist(np.clip(b, 0, hi), bins=edges, alpha=0.55, label=lab("before"))
            axes[0].hist(np.clip(a, 0, hi), bins=edges, alpha=0.55, label=lab("after"))
            axes[0].axvline(np.median(b), ls="--", lw=1, color="C0")
            axes[0].axvline(np.median(a), ls="--", lw=1, color="C1")
        axes[0].set_xlabel(lab("days"))
        axes[0].set_ylabel(lab("dossiers"))
        axes[0].legend()
        gain = self.by_case["saved_days"].to_numpy() if len(self.by_case) else np.zeros(0)
        gain = gain[gain > 0]
        if gain.size:
            axes[1].hist(gain, bins=bins, color="C2")
        axes[1].set_xlabel(lab("saved"))
        axes[1].set_ylabel(lab("dossiers"))
        title = self.cut.label_vi if lang == "vi" else self.cut.label_en if lang == "en" else \
            f"{self.cut.label_vi}\n{self.cut.label_en}"
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig

    def __repr__(self) -> str:
        s = self.summary
        return (f"CutExplanation({self.cut}: {len(self.by_case):,} dossiers gain, mean saving "
                f"{s.get('saved_mean_days', float('nan')):.3f} working days per dossier)")

    def _repr_html_(self) -> str:
        e = html.escape
        s = self.summary
        head = (f"<h4>{e(self.cut.label_vi)}<br><small>{e(self.cut.label_en)}</small></h4>"
                f"<p>{len(self.by_case):,} hồ sơ hưởng lợi / dossiers gain; tiết kiệm trung bình / "
                f"mean saving {s.get('saved_mean_days', float('nan')):.3f} ngày làm việc / working days "
                f"[{s.get('saved_ci_low', float('nan')):.3f}, {s.get('saved_ci_high', float('nan')):.3f}]"
                f" — {e(str(s.get('assumption', '')))}</p>")
        notes = "".join(f"<p><i>{e(str(n))}</i></p>" for n in self.notes)
        return (head + notes + "<p><b>Theo đoạn / By segment</b></p>"
                + self.by_segment.head(20).to_html(escape=True, index=False)
                + "<p><b>Hồ sơ hưởng lợi nhiều nhất / Dossiers that gain most</b></p>"
                + self.by_case.head(20).to_html(escape=True, index=False))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Cut):
        return o.to_dict()
    return str(o)


def explain_cut(log, cut: Cut, *, procedure: str | None = None, ci: float = 0.95,
                n_boot: int = 1000, seed: int = 0, draws: int | None = None,
                cost: CostParams | None = None, catalog: Any = None) -> CutExplanation:
    """Explain the replay score of one cut: which dossiers gain, by how much, from which
    segments (see the module docstring)."""
    from ..log import DossierLog
    if not isinstance(log, DossierLog):
        raise ConfigError(f"explain_cut expects a DossierLog, not {type(log).__name__}")
    if not isinstance(cut, Cut):
        raise ConfigError(f"explain_cut takes a cut object (tm.cuts.RemoveStep(...), ...), got {cut!r}")
    cut.validate(log)
    from .replay import scope_cases
    full = context(log, catalog=catalog)
    ctx = full.restrict(scope_cases(full, procedure))
    out = replay(ctx, cut, seed=seed, draws=draws, validate=False)
    cost = CostParams() if cost is None else cost
    summary = summarise(ctx, out, ci=ci, n_boot=n_boot, seed=seed, cost=cost)
    L = ctx.L
    pop = out.pop
    # ---------------------------------------------------------------- per dossier
    changed_ev = out.reduction_s > 1e-3
    n_changed = np.bincount(ctx.case[changed_ev], minlength=ctx.C)
    gains = pop & ((out.saved_s > 1e-3) | (out.citizen_saved_s > 1e-3) | (out.affected > 0))
    idx = np.flatnonzero(gains)
    hb = np.isfinite(ctx.budget_s)
    ok_before = np.where(hb, ctx.agency_s <= ctx.budget_s + 1e-3, np.nan)
    procs = ctx.cases["procedure"].to_numpy(dtype=object)
    by_case = pd.DataFrame({
        S.CASE: ctx.seg.case_ids.to_numpy()[idx],
        "procedure": procs[idx],
        "agency_days_before": ctx.agency_s[idx] / L,
        "agency_days_after": out.agency_after_s[idx] / L,
        "saved_days": out.saved_s[idx] / L,
        "citizen_hours_saved": out.citizen_saved_s[idx] / 3600.0,
        "visits_avoided": out.visits_avoided[idx],
        "segments_changed": n_changed[idx],
        "on_time_before": ok_before[idx],
        "on_time_after": out.on_time_after[idx],
    }).sort_values("saved_days", ascending=False, kind="stable").reset_index(drop=True)
    # ---------------------------------------------------------------- per segment
    ev = np.flatnonzero(changed_ev & pop[ctx.case])
    names = ctx.acts.to_numpy(dtype=object).astype(str)
    A = len(names)
    prev = ctx.prev_act[ev]
    key = (np.where(prev >= 0, prev, A) * (A + 1) + ctx.act[ev]) * 3 + ctx.owner[ev]
    if ev.size:
        codes, uniq = pd.factorize(key)
        uniq = np.asarray(uniq)
        K = len(uniq)
        red_h = out.reduction_s[ev] / 3600.0
        tot = np.bincount(codes, weights=red_h, minlength=K)
        cnt = np.bincount(codes, minlength=K)
        cases_k = np.bincount(pd.unique(codes.astype(np.int64) * ctx.C + ctx.case[ev]) // ctx.C,
                              minlength=K)
        unit_names = np.append(ctx.units.to_numpy(dtype=object), None) if len(ctx.units) else np.array([None])
        u = np.where(ctx.unit[ev] >= 0, ctx.unit[ev], len(unit_names) - 1)
        # modal unit per group: first event's unit is enough for the label (steps have one unit
        # in most logs); computed without a loop
        first_of = np.full(K, -1, dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        starts = np.r_[True, codes[order][1:] != codes[order][:-1]]
        first_of[codes[order][starts]] = order[starts]
        owner = uniq % 3
        pair = uniq // 3
        src = pair // (A + 1)
        dst = pair % (A + 1)
        prev_names = np.append(names, None)
        by_segment = pd.DataFrame({
            "prev_activity": prev_names[src], "activity": names[dst],
            "unit": unit_names[u[first_of]], "owner": OWNER_NAMES[owner],
            "segments_changed": cnt, "dossiers": cases_k,
            "hours_removed": tot, "hours_removed_mean": tot / np.maximum(cnt, 1),
        }).sort_values("hours_removed", ascending=False, kind="stable").reset_index(drop=True)
    else:
        by_segment = pd.DataFrame(columns=["prev_activity", "activity", "unit", "owner",
                                           "segments_changed", "dossiers", "hours_removed",
                                           "hours_removed_mean"])
    notes = list(out.notes)
    notes.append("hours_removed counts every shortened segment (also outside the statutory-clock "
                 "window and citizen time); saved_days is the change of the agency's counted time")
    return CutExplanation(cut=cut, by_case=by_case, by_segment=by_segment, summary=summary,
                          before_days=ctx.agency_s[pop] / L, after_days=out.agency_after_s[pop] / L,
                          notes=notes)
