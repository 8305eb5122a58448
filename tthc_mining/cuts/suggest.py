"""``tm.suggest_cuts``: candidate cuts worth scoring, each with the evidence behind it.

Candidates come from the bottleneck and rework diagnosis (Reijers & Liman Mansar's redesign
heuristics: task elimination, composition, parallelism, extra resources; the one-stop's own
levers: intake checklists, electronic transfer):

``bottleneck``
    the ``top`` steps holding the most agency time inside the statutory-clock window: shorten
    them to their allotment in the internal procedure (``ShortenStep(X, to_hours=allotment,
    part="segment")``, when the catalogue gives one and the mean exceeds it), else cap them at
    their median holding time; and ``AddStaff(step=X)`` when the step behaves like a queue
    (:func:`tthc_mining.bottlenecks` kind ``queue``, or utilisation / wait-vs-backlog evidence).
``loop``
    each loop kind ``tm.rework`` prices (its kernels, reused): supplement loops and loops across
    units (ping-pong) -> ``RemoveLoop`` and ``ReduceLoopRate(factor=0.5)``; self-loops and loops
    within a unit -> ``RemoveLoop``.
``near_zero``
    steps whose work is near zero (median processing, or without start times the 5 % quantile of
    the segment, under ``near_zero_h``) but whose waiting is long (median over ``long_wait_h``):
    ``RemoveStep`` and ``MergeSteps(previous step, X)``.
``parallel``
    steps that directly follow each other, done by different units (a hand-over on most
    occurrences), with no data dependency declared (``dependencies=[(a, b), ...]``):
    ``Parallelize(a, b)``.
``handover``
    unit-to-unit hand-overs whose waiting is well above the receiving unit's internal transfers
    (likely paper): ``RemoveHandover(from, to)``.

Every row carries ``potential_h`` = an upper bound of the agency dossier-hours in the log the cut
could give back (the hours it acts on), the evidence in Vietnamese and English, the number of
dossiers behind it and, where it is an estimate, a confidence interval (of a mean over dossiers:
the dossier bootstrap, or with at least ``NORMAL_MIN_DOSSIERS`` = 5,000 dossiers the
dossier-clustered normal interval, as :func:`tthc_mining.bottlenecks` gives them). Rows are sorted by
``potential_h``; pass the frame (or its ``cut`` column) to :func:`tthc_mining.score_cuts`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from ..bottlenecks import NORMAL_MIN_DOSSIERS
from ..segments import OWNER_AGENCY
from ..stats import bootstrap_mean_ci, wilson
from .catalogue import (AddStaff, Cut, MergeSteps, Parallelize, ReduceLoopRate, RemoveHandover,
                        RemoveLoop, RemoveStep, ShortenStep)
from .replay import NO_START_PROCESSING_QUANTILE, context

__all__ = ["suggest_cuts", "SUGGEST_COLUMNS"]

SUGGEST_COLUMNS = ("cut", "label_vi", "label_en", "source", "potential_h", "n_dossiers",
                   "metric", "value", "ci_low", "ci_high", "evidence_vi", "evidence_en")
H = 3600.0


def _role_per_activity(ctx) -> np.ndarray:
    """The role of each activity's first event (the same for every scope: cached on ``ctx``)."""
    cached = ctx.__dict__.get("_role_per_activity")
    if cached is None:
        cached = ctx.__dict__["_role_per_activity"] = _roles_of_activities(ctx)
    return cached.copy()


def _roles_of_activities(ctx) -> np.ndarray:
    A = len(ctx.acts)
    ev = ctx.log.events
    out = np.full(A, S.ROLE_WORK, dtype=object)
    if S.ROLE not in ev.columns or not ctx.n:
        return out
    first = np.full(A, -1, dtype=np.int64)
    order = np.argsort(ctx.act, kind="stable")
    a_sorted = ctx.act[order]
    starts = np.r_[True, a_sorted[1:] != a_sorted[:-1]]
    first[a_sorted[starts]] = order[starts]
    ok = first >= 0
    out[ok] = ev[S.ROLE].astype(object).to_numpy()[first[ok]]
    return out


def _modal(keys: np.ndarray, vals: np.ndarray, K: int) -> np.ndarray:
    """Most frequent value per key (-1 when none)."""
    out = np.full(K, -1, dtype=np.int64)
    ok = (keys >= 0) & (vals >= 0)
    if not ok.any():
        return out
    V = int(vals[ok].max()) + 1
    inv, pair = pd.factorize(keys[ok] * V + vals[ok])
    cnt = np.bincount(inv)
    pair = np.asarray(pair)
    k, v = pair // V, pair % V
    order = np.lexsort((-cnt, k))
    first = np.r_[True, k[order][1:] != k[order][:-1]]
    out[k[order][first]] = v[order][first]
    return out


def _row(cut: Cut, source: str, potential_h: float, n: int, metric: str, value: float,
         lo: float, hi: float, ev_vi: str, ev_en: str) -> dict:
    return {"cut": cut, "label_vi": cut.label_vi, "label_en": cut.label_en, "source": source,
            "potential_h": float(potential_h), "n_dossiers": int(n), "metric": metric,
            "value": float(value), "ci_low": float(lo), "ci_high": float(hi),
            "evidence_vi": ev_vi, "evidence_en": ev_en}


def suggest_cuts(log, *, procedure: str | None = None, by_procedure: bool = True, top: int = 3,
                 catalog=None, dependencies=(), min_dossiers: int = 10, near_zero_h: float = 0.25,
                 long_wait_h: float = 4.0, reduce_factor: float = 0.5, ci: float = 0.95,
                 n_boot: int = 300, seed: int = 0) -> pd.DataFrame:
    """Candidate cuts with their evidence (see the module docstring); one row per cut.

    Steps with the same name mean different work in different procedures, so a log with several
    procedures is diagnosed procedure by procedure (``by_procedure=True``, procedures with at
    least ``min_dossiers`` finished dossiers); the ``procedure`` column says where each cut
    applies and :func:`tthc_mining.score_cuts` scores it there. ``procedure=`` restricts to one.
    """
    from ..log import DossierLog
    from .replay import scope_cases
    if not isinstance(log, DossierLog):
        raise ConfigError(f"suggest_cuts expects a DossierLog, not {type(log).__name__}")
    if top < 1:
        raise ConfigError("top must be at least 1")
    ctx = context(log, catalog=catalog)
    deps = set()
    for pair in dependencies or ():
        a, b = pair
        deps.add((str(a), str(b)))
        deps.add((str(b), str(a)))
    if procedure is not None:
        scopes = [(procedure, scope_cases(ctx, procedure))]
    elif by_procedure and len(ctx.procs) > 1:
        scopes = []
        for i, pname in enumerate(ctx.procs):  # one diagnosis per procedure (a handful)
            m = ctx.proc_case == i
            if int((ctx.pop & m).sum()) >= min_dossiers:
                scopes.append((pname, m))
    else:
        scopes = [(None, np.ones(ctx.C, dtype=bool))]
    rows: list[dict] = []
    for pname, mask in scopes:
        for r in _suggest_scope(ctx, mask, top=top, deps=deps, min_dossiers=min_dossiers,
                                near_zero_h=near_zero_h, long_wait_h=long_wait_h,
                                reduce_factor=reduce_factor, ci=ci, n_boot=n_boot, seed=seed):
            r["procedure"] = pname
            rows.append(r)
    out = pd.DataFrame(rows, columns=["procedure", *SUGGEST_COLUMNS])
    if len(out):
        out = out.drop_duplicates(subset=["procedure", "label_en"], keep="first")
        out = out.sort_values("potential_h", ascending=False, kind="stable").reset_index(drop=True)
    out.attrs.update({"procedure": procedure, "n_dossiers": int(ctx.pop.sum()), "top": top,
                      "dependencies": sorted(deps), "by_procedure": by_procedure})
    return out


def _suggest_scope(ctx, mask: np.ndarray, *, top: int, deps: set, min_dossiers: int,
                   near_zero_h: float, long_wait_h: float, reduce_factor: float, ci: float,
                   n_boot: int, seed: int) -> list[dict]:
    """The candidates of one scope (a boolean mask over dossiers)."""
    A = len(ctx.acts)
    names = ctx.acts.to_numpy(dtype=object).astype(str)
    roles = _role_per_activity(ctx)
    work = np.isin(roles, [S.ROLE_WORK])
    rows: list[dict] = []
    agency = (~ctx.first) & (ctx.owner == OWNER_AGENCY)
    pop = ctx.pop & mask
    popev = pop[ctx.case]
    piece = ctx.piece0
    n_pop = int(pop.sum())
    if n_pop == 0:
        return rows

    # ------------------------------------------------------------------ bottleneck steps
    idx = np.flatnonzero(agency & popev)
    key = ctx.act[idx]
    held = np.maximum(ctx.seg0[idx], 0.0)
    counted_h = np.bincount(key, weights=piece[idx], minlength=A) / H
    ncases = np.bincount(pd.unique(key.astype(np.int64) * ctx.C + ctx.case[idx]) // ctx.C,
                         minlength=A) if idx.size else np.zeros(A, np.int64)
    if idx.size:
        boot = bootstrap_mean_ci(held / H, groups=(ctx.case[idx], ctx.seg.case_ids),
                                 by=(key, pd.RangeIndex(A)), n_boot=n_boot, ci=ci, seed=seed,
                                 normal_min_units=NORMAL_MIN_DOSSIERS)
        mean_h = boot["mean"].reindex(pd.RangeIndex(A)).to_numpy()
        lo_h = boot["ci_low"].reindex(pd.RangeIndex(A)).to_numpy()
        hi_h = boot["ci_high"].reindex(pd.RangeIndex(A)).to_numpy()
    else:
        mean_h = lo_h = hi_h = np.full(A, np.nan)
    order_k = np.argsort(-counted_h, kind="stable")
    from ..bottlenecks import event_allotment_s
    allot_ev = event_allotment_s(ctx.log, ctx.catalog) if ctx.catalog is not None else np.full(ctx.n, np.nan)
    unit_names = ctx.units.to_numpy(dtype=object)
    picked = 0
    for k in order_k:  # walk the ranked steps until `top` are picked (a handful)
        if picked >= top or counted_h[k] <= 0:
            break
        if not work[k] or ncases[k] < min_dossiers:
            continue
        picked += 1
        sel = key == k
        hk = held[sel]
        al = allot_ev[idx][sel]
        al = al[np.isfinite(al)]
        allot_h = float(np.median(al)) / H if al.size else np.nan
        name = names[k]
        pk = piece[idx][sel] / H  # the part of each segment inside the statutory clock
        if np.isfinite(allot_h) and allot_h > 0 and mean_h[k] > allot_h:
            over = float(np.mean(hk / H > allot_h))
            pot = float(np.sum(np.minimum(np.maximum(hk / H - allot_h, 0.0), pk)))
            rows.append(_row(ShortenStep(name, to_hours=round(allot_h, 3), part="segment"), "bottleneck",
                             pot, ncases[k], "held_mean_h", mean_h[k], lo_h[k], hi_h[k],
                             f"bước giữ hồ sơ trung bình {mean_h[k]:.1f} giờ (KTC {lo_h[k]:.1f}–{hi_h[k]:.1f}), "
                             f"định mức {allot_h:.1f} giờ; {over:.0%} lượt vượt định mức; "
                             f"{counted_h[k]:,.0f} giờ trong thời hạn",
                             f"held {mean_h[k]:.1f} h on average (CI {lo_h[k]:.1f}-{hi_h[k]:.1f}) against "
                             f"an allotment of {allot_h:.1f} h; {over:.0%} of the segments exceed it; "
                             f"{counted_h[k]:,.0f} h inside the statutory clock"))
        else:
            med = float(np.median(hk)) / H
            if np.isfinite(allot_h):
                why_vi = f"trong định mức {allot_h:.1f} giờ: đề xuất giới hạn ở trung vị (rút định mức)"
                why_en = f"within its allotment of {allot_h:.1f} h: cap at the median (cut the allotment)"
            else:
                why_vi, why_en = "không có định mức: đề xuất giới hạn ở trung vị", \
                    "no allotment in a catalogue: cap at the median"
            pot = float(np.sum(np.minimum(np.maximum(hk / H - med, 0.0), pk)))
            if med >= 1.0 / 60.0 and pot > 0:  # a cap under a minute is a removal (near_zero)
                rows.append(_row(ShortenStep(name, to_hours=round(med, 3), part="segment"), "bottleneck",
                                 pot, ncases[k], "held_mean_h", mean_h[k], lo_h[k], hi_h[k],
                                 f"bước giữ hồ sơ trung bình {mean_h[k]:.1f} giờ (KTC {lo_h[k]:.1f}–"
                                 f"{hi_h[k]:.1f}), trung vị {med:.1f} giờ; {why_vi}",
                                 f"held {mean_h[k]:.1f} h on average (CI {lo_h[k]:.1f}-{hi_h[k]:.1f}), "
                                 f"median {med:.1f} h; {why_en}"))
        # queue evidence of the step at each of its units (in scope)
        lp_rows = ctx.pair_load(np.unique(ctx.pair_key[idx][sel]))
        flagged = lp_rows[lp_rows["queue"].to_numpy(dtype=bool)]
        if len(flagged):
            best = flagged.sort_values(["queue_rho", "utilisation"], ascending=False,
                                       na_position="last").iloc[0]
            ev_parts = []
            if np.isfinite(best["utilisation"]):
                ev_parts.append(f"utilisation {best['utilisation']:.2f}")
            if np.isfinite(best["queue_rho"]):
                ev_parts.append(f"wait vs backlog rho {best['queue_rho']:.2f} (p {best['queue_p']:.2g})")
            ev = ", ".join(ev_parts)
            unit = best["unit"]
            at_unit = sel & (ctx.unit[idx] == (ctx.unit_code(unit) if unit is not None else -1))
            wait_h = float(np.sum(np.minimum(np.maximum(ctx.w0[idx][at_unit], 0.0), piece[idx][at_unit]))) / H
            rows.append(_row(AddStaff(step=name, unit=unit, n=1), "bottleneck", wait_h,
                             int(np.unique(ctx.case[idx][at_unit]).size), "queue_rho",
                             best["queue_rho"], np.nan, np.nan,
                             f"thời gian chờ tăng theo tồn đọng ({ev}): bổ sung cán bộ",
                             f"waiting grows with the backlog ({ev}): add an officer"))

    # ------------------------------------------------------------------ loops (tm.rework kernels)
    lp, _ = ctx.loops
    from ..rework.detect import LOOP_KINDS as RK
    if lp.size:
        lpop = pop[lp.case]
        for kc, kname in enumerate(RK):  # four loop kinds
            m = (lp.kind == kc) & lpop
            if not m.any():
                continue
            dossiers = np.unique(lp.case[m]).size
            if dossiers < min_dossiers:
                continue
            lo, hi = wilson(dossiers, n_pop, ci)
            ag_h = float(lp.agency_s[m].sum()) / H
            ci_h = float(lp.citizen_s[m].sum()) / H
            ev_vi = (f"{int(m.sum()):,} vòng ở {dossiers:,}/{n_pop:,} hồ sơ ({dossiers / n_pop:.1%}, "
                     f"KTC {lo:.1%}–{hi:.1%}); {ag_h:,.0f} giờ cơ quan và {ci_h:,.0f} giờ công dân trong vòng lặp")
            ev_en = (f"{int(m.sum()):,} loops in {dossiers:,}/{n_pop:,} dossiers ({dossiers / n_pop:.1%}, "
                     f"CI {lo:.1%}-{hi:.1%}); {ag_h:,.0f} agency and {ci_h:,.0f} citizen hours inside")
            rows.append(_row(RemoveLoop(kname), "loop", ag_h, dossiers, "loop_rate",
                             dossiers / n_pop, lo, hi, ev_vi, ev_en))
            if kname in ("supplement", "cross_unit"):
                rows.append(_row(ReduceLoopRate(kname, reduce_factor), "loop",
                                 ag_h * (1 - reduce_factor), dossiers, "loop_rate", dossiers / n_pop,
                                 lo, hi, ev_vi, ev_en))

    # ------------------------------------------------------------------ near-zero work, long waits
    if idx.size:
        hs = ctx.has_start[idx]
        grp = pd.DataFrame({"k": key, "w": np.maximum(ctx.w0[idx], 0.0) / H, "p": ctx.p0[idx] / H,
                            "s": held / H, "hs": hs})
        g = grp.groupby("k")
        med_w = g["w"].median()
        med_s = g["s"].median()
        med_p = grp[grp["hs"]].groupby("k")["p"].median()
        q_s = g["s"].quantile(NO_START_PROCESSING_QUANTILE)
        prev_modal = _modal(ctx.act[idx], ctx.prev_act[idx], A)
        for k in med_w.index:  # one iteration per step
            if not work[k] or ncases[k] < min_dossiers:
                continue
            if k in med_p.index:
                work_h, waited = float(med_p[k]), float(med_w[k])
                basis_vi, basis_en = "trung vị thời gian xử lý", "median processing"
            else:
                work_h, waited = float(q_s[k]), float(med_s[k])
                basis_vi = f"phân vị {NO_START_PROCESSING_QUANTILE:.0%} thời gian giữ hồ sơ (không có giờ bắt đầu)"
                basis_en = f"{NO_START_PROCESSING_QUANTILE:.0%} quantile of the holding time (no start times)"
            if work_h >= near_zero_h or waited <= long_wait_h:
                continue
            sel = key == k
            pot = float(np.sum(piece[idx][sel])) / H
            if pot <= 0:
                continue
            name = names[k]
            ev_vi = f"{basis_vi} {work_h * 60:.0f} phút nhưng chờ trung vị {waited:.1f} giờ"
            ev_en = f"{basis_en} {work_h * 60:.0f} min but a median wait of {waited:.1f} h"
            rows.append(_row(RemoveStep(name), "near_zero", pot, ncases[k], "work_h", work_h,
                             np.nan, np.nan, ev_vi, ev_en))
            pm = prev_modal[k]
            if pm >= 0 and pm != k and work[pm]:
                pot_w = float(np.sum(np.maximum(ctx.w0[idx][sel & (ctx.prev_act[idx] == pm)], 0.0))) / H
                rows.append(_row(MergeSteps(names[pm], name), "near_zero", pot_w, ncases[k], "work_h",
                                 work_h, np.nan, np.nan, ev_vi, ev_en))

    # ------------------------------------------------------------------ parallel candidates
    if ctx.n > 1 and len(ctx.units):
        both = agency.copy()
        both[1:] &= agency[:-1] | ctx.first[:-1]
        cand = np.flatnonzero(both & popev & (ctx.prev_act >= 0))
        cand = cand[~ctx.first[cand - 1]]
        a_prev, a_cur = ctx.prev_act[cand], ctx.act[cand]
        okw = work[a_prev] & work[a_cur] & (a_prev != a_cur)
        cand, a_prev, a_cur = cand[okw], a_prev[okw], a_cur[okw]
        if cand.size:
            pk = a_prev * A + a_cur
            codes, uniq = pd.factorize(pk)
            uniq = np.asarray(uniq)
            P = len(uniq)
            s_now = np.maximum(ctx.seg0, 0.0)
            ov = np.minimum(np.minimum(s_now[cand - 1], s_now[cand]), piece[cand])
            pot = np.bincount(codes, weights=ov, minlength=P) / H
            ho = np.bincount(codes, weights=ctx.handover[cand].astype(np.float64), minlength=P)
            cntp = np.bincount(codes, minlength=P)
            ncp = np.bincount(pd.unique(codes.astype(np.int64) * ctx.C + ctx.case[cand]) // ctx.C, minlength=P)
            good = np.flatnonzero((ho > 0.5 * cntp) & (ncp >= min_dossiers) & (pot > 0))
            good = good[np.argsort(-pot[good], kind="stable")]
            taken = 0
            for j in good:  # at most `top` pairs
                a, b = names[uniq[j] // A], names[uniq[j] % A]
                if (a, b) in deps:
                    continue
                taken += 1
                if taken > top:
                    break
                rows.append(_row(Parallelize(a, b), "parallel", pot[j], ncp[j], "overlap_mean_h",
                                 pot[j] / max(cntp[j], 1), np.nan, np.nan,
                                 f"«{b}» nối tiếp «{a}» ở đơn vị khác trong {ncp[j]:,} hồ sơ; chạy song "
                                 f"song bớt trung bình {pot[j] / max(cntp[j], 1):.1f} giờ (chưa khai báo "
                                 f"phụ thuộc dữ liệu)",
                                 f"«{b}» follows «{a}» in another unit in {ncp[j]:,} dossiers; running them "
                                 f"together saves {pot[j] / max(cntp[j], 1):.1f} h on average (no data "
                                 f"dependency declared)"))

    # ------------------------------------------------------------------ hand-overs
    if len(ctx.units):
        hidx = np.flatnonzero(agency & popev & ctx.handover & (ctx.unit >= 0) & (ctx.prev_unit >= 0))
        if hidx.size:
            U = len(ctx.units)
            pk = ctx.prev_unit[hidx] * U + ctx.unit[hidx]
            codes, uniq = pd.factorize(pk)
            uniq = np.asarray(uniq)
            P = len(uniq)
            w = np.maximum(ctx.w0[hidx], 0.0)
            cntp = np.bincount(codes, minlength=P)
            ncp = np.bincount(pd.unique(codes.astype(np.int64) * ctx.C + ctx.case[hidx]) // ctx.C, minlength=P)
            mean_w = np.bincount(codes, weights=w, minlength=P) / np.maximum(cntp, 1)
            boot = bootstrap_mean_ci(w / H, groups=(ctx.case[hidx], ctx.seg.case_ids),
                                     by=(codes, pd.RangeIndex(P)), n_boot=n_boot, ci=ci, seed=seed,
                                     normal_min_units=NORMAL_MIN_DOSSIERS)
            cand_rows = []
            for j in range(P):  # unit pairs (few)
                to_u = int(uniq[j] % U)
                res, n_basis, _ = ctx.internal_wait(to_u)
                sel = codes == j
                pot = float(np.sum(np.minimum(np.maximum(w[sel] - res, 0.0), piece[hidx][sel]))) / H
                if ncp[j] < min_dossiers or mean_w[j] < 2 * res or (mean_w[j] - res) < H or pot <= 0:
                    continue
                cand_rows.append((pot, j, res))
            cand_rows.sort(key=lambda t: -t[0])
            for pot, j, res in cand_rows[:top]:
                fu, tu = unit_names[uniq[j] // U], unit_names[uniq[j] % U]
                b = boot.iloc[j]
                rows.append(_row(RemoveHandover(fu, tu), "handover", pot, ncp[j], "wait_mean_h",
                                 b["mean"], b["ci_low"], b["ci_high"],
                                 f"chờ khi chuyển từ «{fu}» sang «{tu}» trung bình {b['mean']:.1f} giờ "
                                 f"(KTC {b['ci_low']:.1f}–{b['ci_high']:.1f}), chuyển nội bộ {res / H:.1f} giờ",
                                 f"waiting at the hand-over from «{fu}» to «{tu}» {b['mean']:.1f} h on "
                                 f"average (CI {b['ci_low']:.1f}-{b['ci_high']:.1f}) against "
                                 f"{res / H:.1f} h for internal transfers"))

    return rows
