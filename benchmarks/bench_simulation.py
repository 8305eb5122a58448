"""Issue 5 benchmark: the queue-aware simulation (target: a 50,000-dossier procedure-year with 30
replications in under 60 s on 2 cores) and the engine comparison (vectorised passes vs a
textbook heap event loop vs SimPy, on the same model, draws and scenario).

    .venv/bin/python benchmarks/bench_simulation.py                 # all parts
    .venv/bin/python benchmarks/bench_simulation.py --skip-engines  # only the 50k run

The procedure is the synthetic land-registration procedure 1.004227 (about 12.6 events per
dossier: receipt, assignment, an officer queue at the appraisal, tax hand-over with a
suspension, supplements, ping-pong, redo loops). Timed separately: generating the log, the
replay context shared with tm.score_cuts (tm.timing + segments + clock windows), fitting the
model (stations, time-of-day tests, queue detection, hidden-load calibration), and simulating
30 replications of the baseline alone and of the baseline plus one cut (AddStaff at the queue),
with 1 and 2 processes. The engine comparison runs one replication of the baseline on a
smaller log (``--engine-dossiers``) with each engine and checks they agree.

SimPy is optional (``pip install simpy``); the comparison says so when it is missing.

Prosimos (``--prosimos-python PATH``: an interpreter where ``pip install prosimos`` worked; it
pins old numpy/pandas, so a separate virtual environment): the fitted model of the same
procedure is exported as a BPMN process (the modal route of the procedure, each visit a timer
event for its waiting and a task for its processing, lognormal with the station's mean and
variance; the queue step a pool of its officers, the other steps pools large enough never to
queue; a 24/7 calendar because both engines run on the working-time axis) and Prosimos runs
the observed arrivals (``fixed_arrival_times``) once. Prosimos's model is not identical to
ours (one route instead of every variant, parametric durations, no hidden work), so the
numbers compare the engines' speed on a model of the same size, and the mean agency-like cycle
time is shown side by side only as a sanity check.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tthc_mining as tm  # noqa: E402
from tthc_mining import simulation as sim  # noqa: E402
from tthc_mining.cuts import AddStaff  # noqa: E402
from tthc_mining.simulation import engine as E  # noqa: E402

PROC = "1.004227"


def run_simpy(pm, D, sc):
    """The same model as :func:`tthc_mining.simulation.engine.run_events` written with SimPy:
    one process per dossier, a ``Resource(capacity=1)`` per officer in-tray, hidden jobs as
    processes requesting the in-tray at their arrival times. Same draws, same rules."""
    import simpy
    evc, valid, st, skip, queue, par = E._statics(pm, D, sc)
    if par.any():
        raise ValueError("the SimPy comparison does not model parallel steps")
    svc = E._queue_services(pm, D, sc, evc, st, queue)
    off, cnt, cdf = E._tray_cdf(pm, sc.extra)
    qs = np.flatnonzero(pm.st_kind == 1)
    rank = np.full(len(pm.st_kind), -1)
    rank[qs] = np.arange(qs.size)
    t0 = float(min(pm.arrival.min(), pm.t0))
    env = simpy.Environment(initial_time=t0)
    trays = {}
    K, n = D.K, D.n
    E_ = np.zeros((K, n))
    waits = np.zeros((K, n))

    def hold(res, s):
        with res.request() as req:
            yield req
            yield env.timeout(s)

    def hidden(res, times, svcs):
        for t, s in zip(times, svcs):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(hold(res, s))

    for s in qs:
        for j in range(int(cnt[s])):
            g = int(off[s] + j)
            trays[g] = simpy.Resource(env, capacity=1)
            ht, hs = E.hidden_jobs(pm, D, s, j)
            env.process(hidden(trays[g], ht, hs))
    m_len = valid.sum(axis=0)

    def dossier(i):
        yield env.timeout(pm.arrival[i] - env.now)
        for k in range(int(m_len[i])):
            t = env.now
            if skip[k, i]:
                E_[k, i] = t
                continue
            if queue[k, i]:
                g = int(np.searchsorted(cdf, rank[st[k, i]] + D.Ut[k, i], side="right"))
                s_ = st[k, i]
                g = min(max(g, int(off[s_])), int(off[s_] + cnt[s_] - 1))
                with trays[g].request() as req:
                    yield req
                    waits[k, i] = env.now - t
                    yield env.timeout(svc[k, i])
            else:
                w, p = E.delay_visit(pm, D, sc, st[k, i:i + 1], evc[k, i:i + 1], np.array([t]),
                                     D.Us[k, i:i + 1])
                waits[k, i] = w[0]
                yield env.timeout(float(w[0] + p[0]))
            E_[k, i] = env.now

    for i in range(n):
        env.process(dossier(i))
    env.run()
    return E._finish(pm, D, sc, E_, waits, valid, skip, st, evc, 1)


def prosimos_export(pm, folder: Path) -> tuple[Path, Path, int]:
    """BPMN + JSON of the procedure's modal route for Prosimos; returns (bpmn, json, visits)."""
    from collections import Counter
    routes = Counter(tuple(pm.station[pm.ev_off[t]:pm.ev_off[t + 1]]) for t in range(pm.n_templates))
    route = list(routes.most_common(1)[0][0])
    st = pm.stations
    nodes, flows, elements, dists, events = [], [], [], [], []
    profiles = []
    prev = "start"
    fid = 0

    def flow(a, b):
        nonlocal fid
        fid += 1
        flows.append((f"f{fid}", a, b))

    for k, s in enumerate(route):
        m = pm.station == s
        w = np.maximum(pm.w[m], 1.0)
        p = np.maximum(pm.p[m], 1.0)
        ev_id, task_id = f"wait{k}", f"task{k}"
        nodes.append(("timer", ev_id, f"wait {k}"))
        nodes.append(("task", task_id, str(st.iloc[s]["activity"])))
        flow(prev, ev_id)
        flow(ev_id, task_id)
        prev = task_id
        events.append({"event_id": ev_id, "distribution_name": "lognorm", "distribution_params": [
            {"value": float(w.mean())}, {"value": float(w.var() + 1.0)}, {"value": 0.0},
            {"value": float(w.max() * 2)}]})
        queue = pm.st_kind[s] == 1
        n_res = int(pm.tray_n[s]) if queue else 200
        res = [{"id": f"r{k}_{j}", "name": f"r{k}_{j}", "cost_per_hour": 1, "amount": 1,
                "calendar": "247", "assigned_tasks": [task_id]} for j in range(n_res)]
        profiles.append({"id": f"pool{k}", "name": f"pool{k}", "resource_list": res})
        dists.append({"task_id": task_id, "resources": [
            {"resource_id": r["id"], "distribution_name": "lognorm", "distribution_params": [
                {"value": float(p.mean())}, {"value": float(p.var() + 1.0)}, {"value": 0.0},
                {"value": float(p.max() * 2)}]} for r in res]})
    flow(prev, "end")
    xml = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'id="d" targetNamespace="http://bpmn.io/schema/bpmn">',
           '<bpmn:process id="p" isExecutable="false">',
           '<bpmn:startEvent id="start" name="start"/>', '<bpmn:endEvent id="end" name="end"/>']
    for kind, i, name in nodes:
        if kind == "timer":
            xml.append(f'<bpmn:intermediateCatchEvent id="{i}" name="{i}">'
                       f'<bpmn:timerEventDefinition id="{i}_def"/></bpmn:intermediateCatchEvent>')
        else:
            xml.append(f'<bpmn:task id="{i}" name="{i}"/>')
    for i, a, b in flows:
        xml.append(f'<bpmn:sequenceFlow id="{i}" sourceRef="{a}" targetRef="{b}"/>')
    xml += ["</bpmn:process>", "</bpmn:definitions>"]
    allweek = [{"from": "MONDAY", "to": "SUNDAY", "beginTime": "00:00:00", "endTime": "23:59:59.999"}]
    params = {"resource_profiles": profiles,
              "arrival_time_distribution": {"distribution_name": "expon", "distribution_params": [
                  {"value": 600.0}, {"value": 0.0}, {"value": 100000.0}]},
              "arrival_time_calendar": allweek, "gateway_branching_probabilities": [],
              "task_resource_distribution": dists,
              "resource_calendars": [{"id": "247", "name": "247", "time_periods": allweek}],
              "event_distribution": events}
    folder.mkdir(parents=True, exist_ok=True)
    bp, js = folder / "model.bpmn", folder / "model.json"
    bp.write_text("\n".join(xml), encoding="utf-8")
    js.write_text(json.dumps(params), encoding="utf-8")
    return bp, js, len(route)


PROSIMOS_RUNNER = """
import sys, json, time, datetime
import pandas as pd
from prosimos.simulation_engine import run_simulation
bpmn, js, arr, out = sys.argv[1:5]
offs = json.load(open(arr))
t0 = pd.Timestamp("2025-01-01", tz="UTC")
fixed = [float(o) for o in offs]  # seconds after the start
t = time.perf_counter()
run_simulation(bpmn, js, len(fixed), stat_out_path=None, log_out_path=out,
               starting_at=str(t0), fixed_arrival_times=fixed)
el = time.perf_counter() - t
log = pd.read_csv(out)
c = log.groupby("case_id").agg(s=("enable_time", "min"), e=("end_time", "max"))
ct = (pd.to_datetime(c["e"], format="ISO8601") - pd.to_datetime(c["s"], format="ISO8601")).dt.total_seconds()
print(json.dumps({"seconds": el, "events": int(len(log)), "cases": int(len(c)), "cycle_mean_s": float(ct.mean())}))
"""


def run_prosimos(python: str, pm, dossiers: int) -> dict:
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        bp, js, visits = prosimos_export(pm, folder)
        arr = np.sort(pm.arrival)[:dossiers] - pm.arrival.min()
        (folder / "arr.json").write_text(json.dumps([float(x) for x in arr]))
        (folder / "run.py").write_text(PROSIMOS_RUNNER)
        out = subprocess.run([python, str(folder / "run.py"), str(bp), str(js),
                              str(folder / "arr.json"), str(folder / "log.csv")],
                             capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            return {"error": out.stderr[-2000:]}
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["route_visits"] = visits
        return r


def timed(f, *a, **k):
    t = time.perf_counter()
    out = f(*a, **k)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dossiers", type=int, default=50_000)
    ap.add_argument("--replications", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine-dossiers", type=int, default=5_000)
    ap.add_argument("--skip-engines", action="store_true")
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    ap.add_argument("--prosimos-python", default=None,
                    help="python of an environment with prosimos installed")
    ap.add_argument("--prosimos-dossiers", type=int, default=10_000)
    a = ap.parse_args()
    res: dict = {"cpus": os.cpu_count(), "procedure": PROC}
    prov, t = timed(tm.synth.province, a.dossiers, seed=a.seed, procedures=[PROC])
    log = prov.log
    res.update(dossiers=log.n_cases, events=log.n_events, generate_s=round(t, 2))
    from tthc_mining.cuts.replay import context
    _, t = timed(context, log)
    res["context_s"] = round(t, 2)
    model, t = timed(sim.fit, log)
    res["fit_s"] = round(t, 2)
    q = model.queues
    res["queues"] = [f"{r['activity']} @ {r['unit']}: {int(r['officers'])} officers, "
                     f"utilisation {r['utilisation']:.2f}" for _, r in q.iterrows()]
    R = a.replications
    n_ev = sum(int(pm.row.size) for pm in model.procs)
    for jobs in (1, 2):
        run, t = timed(model.simulate, [], replications=R, n_jobs=jobs)
        res[f"baseline_{R}reps_{jobs}proc_s"] = round(t, 2)
        res[f"baseline_{R}reps_{jobs}proc_visits_per_s"] = round(n_ev * R / t)
        run, t = timed(model.simulate, [AddStaff(step="Thẩm định hồ sơ")], replications=R, n_jobs=jobs)
        res[f"baseline+cut_{R}reps_{jobs}proc_s"] = round(t, 2)
    bt = sim.backtest_from_run(run)
    res["backtest"] = bt.summary()
    total = res["context_s"] + res["fit_s"] + res[f"baseline+cut_{R}reps_2proc_s"]
    res["fit_plus_baseline_and_cut_2proc_s"] = round(total, 2)
    res["target_met"] = bool(total < 60)
    print(json.dumps(res, ensure_ascii=False, indent=1))
    if not a.skip_engines:
        small = tm.synth.province(a.engine_dossiers, seed=a.seed, procedures=[PROC])
        m = sim.fit(small.log)
        pm = m.procs[0]
        sc = E.scenario(pm, m, None)
        eng = {"dossiers": small.log.n_cases, "visits": int(pm.row.size)}
        out_p, t = timed(E.run_passes, pm, E.make_draws(pm, 0, 0), sc)
        eng["passes_s"] = round(t, 4)
        out_e, t = timed(E.run_events, pm, E.make_draws(pm, 0, 0), sc)
        eng["event_loop_s"] = round(t, 3)
        eng["event_loop_max_diff_s"] = float(np.abs(out_p.agency - out_e.agency).max())
        try:
            import simpy  # noqa: F401
            out_s, t = timed(run_simpy, pm, E.make_draws(pm, 0, 0), sc)
            eng["simpy_s"] = round(t, 3)
            eng["simpy_max_diff_s"] = float(np.abs(out_p.agency - out_s.agency).max())
            eng["simpy_version"] = __import__("simpy").__version__
        except ImportError:
            eng["simpy_s"] = "simpy not installed"
        for k in ("passes_s", "event_loop_s", "simpy_s"):
            if isinstance(eng.get(k), float):
                eng[k.replace("_s", "_visits_per_s")] = round(eng["visits"] / eng[k])
        res["engines"] = eng
        print(json.dumps(eng, indent=1))
    if a.prosimos_python:
        pm = model.procs[0]
        pr = run_prosimos(a.prosimos_python, pm, a.prosimos_dossiers)
        if "seconds" in pr:
            # our engine on the same modal-route volume: one replication of the whole model
            D = E.make_draws(pm, 0, 0)
            _, t1 = timed(E.run_passes, pm, D, E.scenario(pm, model, None))
            pr["ours_one_replication_s"] = round(t1, 3)
            pr["ours_visits"] = int(pm.row.size)
            pr["prosimos_events_per_s"] = round(pr["events"] / pr["seconds"])
            pr["ours_visits_per_s"] = round(pm.row.size / t1)
        res["prosimos"] = pr
        print(json.dumps(pr, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
