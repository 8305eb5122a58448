"""Issue 7 benchmark suite: every statistic, our time and peak memory next to pm4py's, on
synthetic provinces of 100,000, 860,000 and 3,000,000 dossiers, with a linear fit of the cost.

    .venv/bin/python benchmarks/bench_scale.py                          # 100k, 860k, 3M
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 --json out.json
    .venv/bin/python benchmarks/bench_scale.py --pm4py-cases 50000      # pm4py business hours
    .venv/bin/python benchmarks/bench_scale.py --skip-pm4py --no-report

Data: ``tm.synth.province(n, seed=1)`` written once as Parquet under ``benchmarks/data/``
(``benchmarks/common.py``; the 3M file is about 1 GB). For every size, each side runs in **one
fresh process** on that same file (imports before the clocks):

* **tthc_mining**: ``tm.read_log(parquet)`` (load), then every statistic on a *fresh* log (the
  loaded events in a new ``DossierLog``: no cached codes, segments, working-time axis or timing),
  so each call pays for everything it needs:

  ==================  ================================================================
  dfg                 ``tm.discover(log)`` (it computes frequencies and working-time
                      statistics in one call: the same call is timed for both DFG rows)
  performance_dfg     ``tm.discover(log).to_frame()`` (edge table with the statistics)
  variants            ``tm.variants(log)``
  rework              ``tm.rework.cases_per_activity(log)`` (the count-only path; the
                      full loop report is in ``diagnosis``)
  durations_24x7      ``log.cases`` (first / last event per dossier) -> last - first
  durations_business  ``tm.timing(log).cases["elapsed_working_days"]`` (the Vietnamese
                      calendar: holidays, make-up Saturdays, clock stops; more than pm4py)
  diagnosis           ``tm.summary`` + ``tm.discover`` + ``tm.bottlenecks`` + ``tm.rework``
                      on one fresh log (the calls share the log's caches, as in use)
  report              ``tm.report(log)`` (every section, charts, HTML page)
  ==================  ================================================================

* **pm4py**: ``pandas.read_parquet`` of the three columns it uses + ``pm4py.format_dataframe``
  (load), then ``discover_dfg``, ``discover_performance_dfg``, ``get_variants``,
  ``stats.get_rework_cases_per_activity``, ``get_all_case_durations`` (24x7) and
  ``get_all_case_durations(business_hours=True)`` with the Vietnamese office slots (07:00-11:30,
  13:30-17:00, Monday-Friday; no holidays). That last path goes row by row in Python: it runs on
  the first ``--pm4py-cases`` dossiers (default 100,000) and its time is scaled linearly to all
  dossiers; the table says so.

**Peak memory per statistic**: before each call the process frees what it can (``gc``,
``malloc_trim``, Arrow's pool) and resets its peak counter (``/proc/self/clear_refs``); the peak
printed is ``VmHWM`` at the end of the call: the highest resident memory of the process during it,
the loaded data included (both sides hold their loaded table). ``tm.report`` computes some
sections in a forked child process: while a child exists the parent also polls the proportional
set size of the whole process tree, and the larger value is printed (with a note). Each side runs under a resident
memory guard (``--mem-limit-gb``, default 80% of the memory available at start, at most 16 GB):
a side that grows over it is killed and the table says ``killed`` (with the phase) instead of
taking the machine down; the phases finished before are kept.

**Checks**: the directly-follows counts, the variants (sequence -> count), the rework counts per
activity and the 24x7 case durations (sorted, to 1 microsecond) must equal pm4py's; the table
prints ``=`` when they do and ``DIFF`` otherwise. Business-hours durations differ by design (the
calendars differ).

**Fit**: for each statistic and side, cost = a + b x events by least squares over the sizes run,
printed with R² (R² is trivially 1 with two sizes; three or more are needed for it to mean
anything). The load average is printed per size and ``HIGH LOAD`` marks a size measured while
other jobs shared the CPUs (every time is then pessimistic, pm4py's as much as ours).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (describe_machine, ensure_data, machine, mem_available_mb,  # noqa: E402
                    run_side_watched, versions)

#: (key, label, pm4py phase or None, comparable)
STATS = [
    ("load", "load (read Parquet)", "load", False),
    ("dfg", "DFG", "dfg", True),
    ("performance_dfg", "performance DFG", "performance_dfg", True),
    ("variants", "variants", "variants", True),
    ("rework", "rework per activity", "rework", True),
    ("durations_24x7", "case durations 24x7", "durations_24x7", True),
    ("durations_business", "case durations business hours", "durations_business", True),
    ("diagnosis", "full diagnosis (summary+discover+bottlenecks+rework)", None, False),
    ("report", "tm.report", None, False),
]
DIAG_PARTS = ("summary", "discover", "bottlenecks", "rework")  # phases diag_<part>


def _legacy_fix(ours: dict) -> None:
    """Runs recorded before 2026-11-26 15:20 named the diagnosis's parts ``summary`` ...
    ``rework``: their ``rework`` phase summed the rework statistic and the diagnosis's
    ``tm.rework`` (same name) and its peak was the diagnosis's. Split them again: the diagnosis's
    rework = diagnosis - its other three parts; the statistic = the sum - that; its peak is
    unknown."""
    t, c, pk = ours.get("times", {}), ours.get("cpu", {}), ours.get("peaks", {})
    if "diagnosis" not in t or "diag_rework" in t or "rework" not in t:
        return
    for d in (t, c):
        if "diagnosis" in d and all(k in d for k in ("summary", "discover", "bottlenecks", "rework")):
            diag_rw = d["diagnosis"] - d["summary"] - d["discover"] - d["bottlenecks"]
            d["diag_rework"] = diag_rw
            d["rework"] = d["rework"] - diag_rw
            for k in ("summary", "discover", "bottlenecks"):
                d["diag_" + k] = d.pop(k)
    pk.pop("rework", None)
    ours.setdefault("notes", []).append("rework peak not recorded (legacy run)")

OURS = r'''
import gc, json, math
import numpy as np
import tthc_mining as tm
from tthc_mining.log import DossierLog
import scipy.sparse, scipy.special, scipy.stats  # noqa: F401  (imports outside the clocks)
import tthc_mining.discovery, tthc_mining.bottlenecks, tthc_mining.rework, tthc_mining.summary
import tthc_mining.timing  # noqa: F401
tm.VietnamCalendar()._ensure(20000, 20500)  # the holidays package's import, outside the clocks
import tthc_mining.kernels
tthc_mining.kernels.warm()   # numba's start-up and the compiled kernels, outside the clocks
out = {out!r}
with phase("load", reset=True):
    log = tm.read_log({path!r}, max_bytes=math.inf)  # a trusted file (3M dossiers: 4.5 GiB)
report(events=log.n_events, dossiers=log.n_cases)

def fresh():
    """The loaded events in a new DossierLog: nothing cached."""
    return DossierLog(events=log.events.copy(deep=False), quality=log.quality,
                      calendar=log.calendar, catalog=log.catalog, source=log.source)

L = fresh()
with phase("dfg", reset=True):
    pmap = tm.discover(L)
with open(out + "/dfg.json", "w") as fh:
    json.dump([[s, t, int(c)] for (s, t), c in pmap.dfg_dict().items()], fh)
del L, pmap

L = fresh()
with phase("performance_dfg", reset=True):
    edges = tm.discover(L).to_frame()
report(edges=len(edges))
del L, edges

L = fresh()
with phase("variants", reset=True):
    var = tm.variants(L)
with open(out + "/variants.json", "w") as fh:
    json.dump([[list(map(str, s)), int(c)] for s, c in zip(var["sequence"], var["count"])], fh)
report(n_variants=len(var))
del L, var

L = fresh()
with phase("rework", reset=True):
    rw = tm.rework.cases_per_activity(L)
with open(out + "/rework.json", "w") as fh:
    json.dump(rw, fh)
del L, rw

L = fresh()
with phase("durations_24x7", reset=True):
    c = L.cases
    d24 = (c["last_time"] - c["first_time"]).dt.total_seconds().to_numpy()
np.save(out + "/d24.npy", np.sort(d24))
del L, c, d24

L = fresh()
with phase("durations_business", reset=True):
    dbh = tm.timing(L).cases["elapsed_working_days"].to_numpy()
report(bh_cases=int(len(dbh)))
del L, dbh

L = fresh()
with phase("diagnosis", reset=True):
    with phase("diag_summary"):
        tm.summary(L)
    with phase("diag_discover"):
        tm.discover(L)
    with phase("diag_bottlenecks"):
        tm.bottlenecks(L, by="activity")
    with phase("diag_rework"):
        tm.rework(L)
del L

if {with_report!r}:
    import matplotlib, graphviz  # noqa: F401  (imports outside the clocks)
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    L = fresh()
    with phase("report", reset=True):
        rep = tm.report(L)
    report(report_errors=rep.errors)
'''

PM4PY = r'''
import json, warnings
warnings.simplefilter("ignore")
import numpy as np
import pandas as pd
import pm4py
out = {out!r}
limit = {limit!r}
with phase("load", reset=True):
    df = pd.read_parquet({path!r}, columns=["case:concept:name", "concept:name", "time:timestamp"])
    df = pm4py.format_dataframe(df, case_id="case:concept:name", activity_key="concept:name",
                                timestamp_key="time:timestamp")
    df.attrs = {{}}  # pm4py 2.7.23 KeyError workaround (peers.md)
report(version=pm4py.__version__, events=len(df))

with phase("dfg", reset=True):
    dfg, _, _ = pm4py.discover_dfg(df)
with open(out + "/dfg.json", "w") as fh:
    json.dump([[s, t, int(c)] for (s, t), c in dfg.items()], fh)
del dfg

with phase("performance_dfg", reset=True):
    perf, _, _ = pm4py.discover_performance_dfg(df)
del perf

with phase("variants", reset=True):
    var = pm4py.get_variants(df)
with open(out + "/variants.json", "w") as fh:
    json.dump([[list(map(str, s)), int(c)] for s, c in var.items()], fh)
del var

with phase("rework", reset=True):
    rw = pm4py.stats.get_rework_cases_per_activity(df)
with open(out + "/rework.json", "w") as fh:
    json.dump({{str(k): int(v) for k, v in rw.items()}}, fh)
del rw

with phase("durations_24x7", reset=True):
    d24 = pm4py.get_all_case_durations(df)
np.save(out + "/d24.npy", np.sort(np.asarray(d24, dtype=float)))
n_cases = len(d24)
report(dossiers=n_cases)
del d24

sub = df
if limit and limit < n_cases:
    keep = df["case:concept:name"].drop_duplicates().iloc[:limit]
    sub = df[df["case:concept:name"].isin(keep)].copy()
    sub.attrs = {{}}
    del keep
slots = [((d * 24 + 7) * 3600, (d * 24 + 11) * 3600 + 1800) for d in range(5)] + \
        [((d * 24 + 13) * 3600 + 1800, (d * 24 + 17) * 3600) for d in range(5)]
with phase("durations_business", reset=True):
    dbh = pm4py.get_all_case_durations(sub, business_hours=True, business_hour_slots=slots)
report(bh_cases=len(dbh))
'''


def _fmt_s(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.2f}"


def _fmt_mb(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def compare(tmp_ours: Path, tmp_pm: Path) -> dict[str, bool | None]:
    """Equal results? (None when one side did not produce the file)."""
    res: dict[str, bool | None] = {}

    def load(p: Path):
        return json.loads(p.read_text()) if p.exists() else None

    a, b = load(tmp_ours / "dfg.json"), load(tmp_pm / "dfg.json")
    res["dfg"] = None if a is None or b is None else \
        {(s, t): c for s, t, c in a} == {(s, t): c for s, t, c in b}
    res["performance_dfg"] = res["dfg"]
    a, b = load(tmp_ours / "variants.json"), load(tmp_pm / "variants.json")
    res["variants"] = None if a is None or b is None else \
        {tuple(s): c for s, c in a} == {tuple(s): c for s, c in b}
    a, b = load(tmp_ours / "rework.json"), load(tmp_pm / "rework.json")
    res["rework"] = None if a is None or b is None else \
        {k: v for k, v in a.items() if v} == {k: v for k, v in b.items() if v}
    pa, pb = tmp_ours / "d24.npy", tmp_pm / "d24.npy"
    if pa.exists() and pb.exists():
        x, y = np.load(pa), np.load(pb)
        res["durations_24x7"] = bool(x.shape == y.shape and np.allclose(x, y, rtol=0, atol=1e-6))
    else:
        res["durations_24x7"] = None
    return res


def fit(xs: list[float], ys: list[float]) -> dict | None:
    """Least squares ys = a + b * xs; R² (None with fewer than two distinct sizes)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2:
        return None
    b, a = np.polyfit(x, y, 1)
    pred = a + b * x
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"a_s": float(a), "b_s_per_million_events": float(b) * 1e6, "r2": r2,
            "points": int(len(x))}


def run_size(n: int, args, mem_limit_mb: float) -> dict:
    path = ensure_data(n, args.seed, parquet=True)["parquet"]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_scale_{n}_"))
    (tmp / "ours").mkdir()
    (tmp / "pm4py").mkdir()
    m0 = machine()
    try:
        ours = run_side_watched(OURS.format(path=str(path), out=str(tmp / "ours"),
                                            with_report=not args.no_report),
                                mem_limit_mb=mem_limit_mb, label="tthc_mining", root=args.library)
    except RuntimeError as exc:  # a failing call: say so, keep the other side and sizes
        print(f"  tthc_mining side FAILED: {str(exc)[-600:]}", flush=True)
        ours = {"times": {}, "cpu": {}, "peaks": {}, "extra": {}, "error": str(exc)[-2000:]}
    res: dict = {"dossiers": n, "file": path.name, "file_mb": path.stat().st_size / 1e6,
                 "ours": ours}
    if ours.get("killed"):
        print(f"  tthc_mining side stopped: {ours['killed']}", flush=True)
    if not args.skip_pm4py:
        try:
            pm = run_side_watched(PM4PY.format(path=str(path), out=str(tmp / "pm4py"),
                                               limit=args.pm4py_cases),
                                  mem_limit_mb=mem_limit_mb, label="pm4py")
        except RuntimeError as exc:
            print(f"  pm4py side FAILED: {str(exc)[-600:]}", flush=True)
            pm = {"times": {}, "cpu": {}, "peaks": {}, "extra": {}, "error": str(exc)[-2000:]}
        res["pm4py"] = pm
        if pm.get("killed"):
            print(f"  pm4py side stopped: {pm['killed']}", flush=True)
        res["equal"] = compare(tmp / "ours", tmp / "pm4py")
    m1 = machine()
    res["machine_start"], res["machine_end"] = m0, m1
    res["high_load"] = bool(m0["busy"] or m1["busy"])
    res["events"] = ours["extra"].get("events") or (res.get("pm4py") or {}).get("extra", {}).get("events")
    return res


def rows_of(res: dict) -> list[dict]:
    """One row per statistic: our time/peak, pm4py's (scaled for a prefix), ratio, notes."""
    ours, pm = res["ours"], res.get("pm4py")
    _legacy_fix(ours)
    out = []
    for key, label, pm_key, comparable in STATS:
        row = {"stat": key, "label": label, "ours_s": ours["times"].get(key),
               "ours_cpu_s": ours.get("cpu", {}).get(key),
               "ours_peak_mb": ours["peaks"].get(key), "pm4py_s": None, "pm4py_cpu_s": None,
               "pm4py_peak_mb": None, "ratio": None, "cpu_ratio": None, "notes": []}
        tree = (ours.get("tree_peaks") or {}).get(key)
        if tree and row["ours_peak_mb"] and tree > 1.05 * row["ours_peak_mb"]:
            row["notes"].append(f"peak incl. a forked child process (main process "
                                f"{row['ours_peak_mb']:,.0f} MB)")
            row["ours_peak_mb"] = tree
        if ours.get("killed_phase") == key:
            row["notes"].append("ours killed: " + ours["killed"])
        if key == "diagnosis" and row["ours_s"] is not None:
            row["parts"] = {p: ours["times"].get("diag_" + p) for p in DIAG_PARTS}
        if pm is not None and pm_key is not None:
            t = pm["times"].get(pm_key)
            tc = pm.get("cpu", {}).get(pm_key)
            if t is not None and key == "durations_business":
                done = pm["extra"].get("bh_cases") or 0
                total = pm["extra"].get("dossiers") or res["dossiers"]
                if done and done < total:
                    row["notes"].append(f"pm4py on the first {done:,} dossiers, time x"
                                        f"{total / done:.2f}; its peak is the prefix's")
                    row["pm4py_measured_s"] = t
                    t = t * total / done
                    tc = tc * total / done if tc is not None else None
            row["pm4py_s"] = t
            row["pm4py_cpu_s"] = tc
            row["pm4py_peak_mb"] = pm["peaks"].get(pm_key)
            if pm.get("killed_phase") == pm_key:
                row["notes"].append("pm4py killed: " + pm["killed"])
            elif t is None and pm.get("killed"):
                row["notes"].append("pm4py not run (killed earlier)")
            if t is not None and row["ours_s"]:
                row["ratio"] = t / row["ours_s"]
            if tc is not None and row["ours_cpu_s"]:
                row["cpu_ratio"] = tc / row["ours_cpu_s"]
            eq = (res.get("equal") or {}).get(key)
            if eq is not None:
                row["equal"] = eq
        if key in ("dfg", "performance_dfg"):
            row["notes"].append("tm.discover: both in one call")
        if key == "durations_business":
            row["notes"].append("ours: VN calendar, holidays, clock stops")
        out.append(row)
    return out


def print_table(all_res: list[dict]) -> None:
    head = (f"{'dossiers':>9} {'events':>11}  {'statistic':<30} {'ours s':>7} {'cpu s':>7} "
            f"{'MB':>6} {'pm4py s':>8} {'cpu s':>8} {'MB':>6} {'ratio':>6} {'cpu':>6} {'eq':>4}"
            f"  notes")
    print(head)
    print("-" * len(head))
    for res in all_res:
        ev = res.get("events") or 0
        for r in res["rows"]:
            eq = {True: "=", False: "DIFF"}.get(r.get("equal"), "")
            ratio = f"{r['ratio']:.1f}x" if r["ratio"] else "-"
            cratio = f"{r['cpu_ratio']:.1f}x" if r.get("cpu_ratio") else "-"
            label = r["label"] if len(r["label"]) <= 30 else r["label"].split(" (")[0][:30]
            print(f"{res['dossiers']:>9,} {ev:>11,}  {label:<30} {_fmt_s(r['ours_s']):>7} "
                  f"{_fmt_s(r.get('ours_cpu_s')):>7} {_fmt_mb(r['ours_peak_mb']):>6} "
                  f"{_fmt_s(r['pm4py_s']):>8} {_fmt_s(r.get('pm4py_cpu_s')):>8} "
                  f"{_fmt_mb(r['pm4py_peak_mb']):>6} {ratio:>6} {cratio:>6} {eq:>4}  "
                  f"{'; '.join(r['notes'])}")
        m0, m1 = res["machine_start"], res["machine_end"]
        parts = next((r.get("parts") for r in res["rows"] if r["stat"] == "diagnosis"), None)
        if parts:
            print("          diagnosis parts: " + ", ".join(
                f"{k} {_fmt_s(v)} s" for k, v in parts.items()))
        for side in ("ours", "pm4py"):
            err = (res.get(side) or {}).get("error")
            if err:
                print(f"          {side} FAILED: {err.strip().splitlines()[-1][:300]}")
        print(f"          load average {m0['load'][0]:.2f} -> {m1['load'][0]:.2f}"
              + (" HIGH LOAD (times pessimistic)" if res["high_load"] else ""))
    print("  (s = wall seconds; cpu s = CPU seconds of the process, all threads: less sensitive "
          "to other jobs; MB = peak resident memory during the call, loaded data included)")
    print()


def markdown(all_res: list[dict]) -> str:
    """The table as Markdown (for README.md / docs/scale.md)."""
    out = ["| dossiers / events | statistic | tthc_mining s (CPU s) | peak MB | pm4py s (CPU s) "
           "| peak MB | ratio (CPU ratio) | equal |",
           "|---|---|---:|---:|---:|---:|---:|:-:|"]
    for res in all_res:
        ev = res.get("events") or 0
        size = f"{res['dossiers']:,} / {ev / 1e6:.1f} M" + (" (HIGH LOAD)" if res["high_load"] else "")
        for r in res["rows"]:
            def both(t, c):
                return "-" if t is None else f"{t:,.2f}" + (f" ({c:,.2f})" if c is not None else "")
            ratio = "-" if not r["ratio"] else f"{r['ratio']:.1f}x" + (
                f" ({r['cpu_ratio']:.1f}x)" if r.get("cpu_ratio") else "")
            label = r["label"]
            if r["stat"] == "durations_business" and r.get("pm4py_measured_s") is not None:
                label += " (pm4py: prefix, scaled)"
            eq = {True: "yes", False: "NO"}.get(r.get("equal"), "")
            ours_cell = both(r["ours_s"], r.get("ours_cpu_s"))
            if r["ours_s"] is None and any(n.startswith("ours killed") for n in r["notes"]):
                ours_cell = "killed by the memory guard"
            pm_cell = both(r["pm4py_s"], r.get("pm4py_cpu_s"))
            if r["pm4py_s"] is None and any(n.startswith("pm4py killed") for n in r["notes"]):
                pm_cell = "killed by the memory guard"
            out.append(f"| {size} | {label} | {ours_cell} | "
                       f"{_fmt_mb(r['ours_peak_mb'])} | {pm_cell} | "
                       f"{_fmt_mb(r['pm4py_peak_mb'])} | {ratio} | {eq} |")
    return "\n".join(out)


def targets(all_res: list[dict]) -> list[str]:
    lines = []
    for res in all_res:
        comp = [r for r in res["rows"] if r["ratio"] is not None
                and next(s[3] for s in STATS if s[0] == r["stat"])]
        if comp:
            low = [f"{r['label']} {r['ratio']:.1f}x" + (f" (CPU {r['cpu_ratio']:.1f}x)"
                                                       if r.get("cpu_ratio") else "")
                   for r in comp if r["ratio"] < 10]
            lines.append(f"{res['dossiers']:,} dossiers: every comparable statistic > 10x pm4py: "
                         + ("PASS" if not low else "FAIL (" + ", ".join(low) + ")"))
        if res["dossiers"] == 860_000:
            d = next(r for r in res["rows"] if r["stat"] == "diagnosis")
            if d["ours_s"] is not None and d["ours_peak_mb"] is not None:
                ok = d["ours_s"] < 10 and d["ours_peak_mb"] < 1536
                lines.append(f"860,000 dossiers: full diagnosis {d['ours_s']:.2f} s (target < 10 s), "
                             f"peak {d['ours_peak_mb']:,.0f} MB (target < 1,536 MB): "
                             + ("PASS" if ok else "FAIL"))
    return lines


def fits(all_res: list[dict]) -> dict:
    out: dict = {}
    for key, label, pm_key, _ in STATS:
        for side in ("ours", "pm4py", "ours_cpu", "pm4py_cpu"):
            xs, ys = [], []
            for res in all_res:
                r = next(r for r in res["rows"] if r["stat"] == key)
                t = r.get(side + "_s")
                if t is not None and res.get("events"):
                    xs.append(res["events"])
                    ys.append(t)
            f = fit(xs, ys)
            if f is not None:
                out.setdefault(key, {})[side] = f
    return out


def print_fits(f: dict) -> None:
    if not f:
        return
    print("\nlinear fit, cost = a + b x events (least squares over the sizes; "
          "R² is trivially 1 with two sizes):")
    for key, label, _, _ in STATS:
        for side, v in f.get(key, {}).items():
            print(f"  {label[:40]:<40} {side.replace('_cpu', ' cpu'):<10} a = {v['a_s']:8.2f} s, "
                  f"b = {v['b_s_per_million_events']:8.3f} s per million events, R² = "
                  f"{v['r2']:.4f} ({v['points']} sizes)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,860000,3000000",
                    help="comma-separated numbers of dossiers (default 100000,860000,3000000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pm4py-cases", type=int, default=100_000,
                    help="pm4py's business-hours durations on the first N dossiers, time scaled "
                         "linearly (0: every dossier)")
    ap.add_argument("--mem-limit-gb", type=float, default=None,
                    help="kill a side whose resident memory exceeds this (default: 80%% of the "
                         "memory available at start, at most 16 GB)")
    ap.add_argument("--skip-pm4py", action="store_true", help="run our side only")
    ap.add_argument("--no-report", action="store_true", help="do not time tm.report")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--library", help="run our side with tthc_mining from this directory")
    ap.add_argument("--from-json", nargs="+", metavar="JSON",
                    help="run nothing: print the table, targets and fit of earlier --json files")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = ap.parse_args()
    if args.from_json:
        all_res = []
        for f in args.from_json:
            for res in json.loads(Path(f).read_text())["sizes"]:
                res["rows"] = rows_of(res)  # recomputed from the raw side results
                all_res.append(res)
        all_res.sort(key=lambda r: r["dossiers"])
        print_table(all_res)
        for line in targets(all_res):
            print(line)
        print_fits(fits(all_res))
        if args.markdown:
            print(markdown(all_res))
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    limit_mb = (args.mem_limit_gb * 1024 if args.mem_limit_gb
                else min(16 * 1024, 0.8 * mem_available_mb()))
    m0 = machine()
    print(f"bench_scale: sizes {', '.join(f'{n:,}' for n in sizes)} dossiers; memory guard "
          f"{limit_mb:,.0f} MB per side; {describe_machine(m0)}", flush=True)
    all_res = []
    for n in sizes:
        print(f"== {n:,} dossiers", flush=True)
        res = run_size(n, args, limit_mb)
        res["rows"] = rows_of(res)
        all_res.append(res)
        print_table([res])
        if args.json:  # after every size, so a later failure keeps what was measured
            Path(args.json).write_text(json.dumps({"sizes": all_res, "partial": True},
                                                  indent=1, default=str))
    print("== all sizes")
    print_table(all_res)
    for line in targets(all_res):
        print(line)
    f = fits(all_res)
    print_fits(f)
    if args.markdown:
        print(markdown(all_res))
    m1 = machine()
    print(describe_machine(m0, m1) + "; " + versions())
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": all_res, "fits": f, "targets": targets(all_res),
                                               "machine_start": m0, "machine_end": m1,
                                               "versions": versions(),
                                               "pm4py_cases": args.pm4py_cases},
                                              indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
