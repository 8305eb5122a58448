"""Shared helpers of the benchmark scripts: data generated once, each side in its own process.

* :func:`ensure_data` builds the synthetic province once (``tm.synth.province``) and writes it to
  ``benchmarks/data/`` (git-ignored): ``province_<n>_<seed>.parquet`` (the canonical event table,
  XES keys, what pm4py reads as is) and ``province_<n>_<seed>.csv`` (the one-stop export with
  Vietnamese headers and ``dd/mm/yyyy`` dates). Later runs reuse the files.
* :func:`run_side` runs one side of a comparison in a fresh Python process (``python -c``) and
  returns what it reported: its phase times and its peak resident memory (``VmHWM`` from
  ``/proc/self/status``, else ``ru_maxrss``). Both sides start from the same file, in processes
  that hold nothing else, so the peaks are comparable. The environment is passed unchanged.
* :func:`machine` describes the machine and its load (``os.getloadavg``): numbers measured
  while the load average is above the core count are flagged as such in the output.
* :func:`run_side_watched` is :func:`run_side` with a guard: the parent polls the child's
  ``VmRSS`` and kills it above a limit (so a pm4py run that would not fit cannot take the machine
  down); the phases finished before that are still returned, with ``killed`` saying why.
  ``phase(name, reset=True)`` starts a phase with freed memory returned (``gc``, ``malloc_trim``,
  Arrow's pool) and the peak counter reset (``/proc/self/clear_refs``), so the peak recorded for
  that phase (``peaks[name]``, ``VmHWM`` at its end) is the process's highest resident memory
  *during* it, data already loaded included.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
PYTHON = sys.executable

#: prologue of every side: timing and peak-memory helpers, available as ``phase`` / ``report``
_PROLOGUE = r'''
import json, os, sys, time, resource
sys.path.insert(0, {root!r})
_T = {{}}
_T0 = time.perf_counter()
def peak_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def rss_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
_P = {{}}
_C = {{}}  # CPU seconds of the process (all threads) per phase
def reset_peak():
    """Free what can be freed, then restart the VmHWM counter at the current RSS."""
    import gc, ctypes
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass
    try:
        import pyarrow
        pyarrow.default_memory_pool().release_unused()
    except Exception:
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
class phase:
    def __init__(self, name, reset=False):
        self.name = name
        self.reset = reset
    def __enter__(self):
        if self.reset:
            reset_peak()
        print("@@START@@" + self.name, flush=True)
        self.c = time.process_time()
        self.t = time.perf_counter()
    def __exit__(self, *exc):
        dt = time.perf_counter() - self.t
        dc = time.process_time() - self.c
        _T[self.name] = _T.get(self.name, 0.0) + dt
        _C[self.name] = _C.get(self.name, 0.0) + dc
        _P[self.name] = peak_mb()
        print("@@PHASE@@" + json.dumps({{"name": self.name, "s": dt, "cpu_s": dc,
                                        "peak_mb": _P[self.name]}}), flush=True)
_EXTRA = {{}}
def report(**kw):
    _EXTRA.update(kw)
    print("@@EXTRA@@" + json.dumps(kw, default=str), flush=True)
'''

_EPILOGUE = r'''
print("@@RESULT@@" + json.dumps({"times": _T, "cpu": _C, "peaks": _P, "peak_mb": peak_mb(),
                                 "rss_mb": rss_mb(), "extra": _EXTRA}, default=str))
'''

#: the pm4py side's load phase (formatted with ``path=``): read the Parquet file and
#: ``format_dataframe``, as every comparison script starts it
PM4PY_LOAD = r'''
import json, warnings
warnings.simplefilter("ignore")
import pandas as pd
import pm4py
with phase("load"):
    df = pd.read_parquet({path!r})
    df = pm4py.format_dataframe(df, case_id="case:concept:name", activity_key="concept:name",
                                timestamp_key="time:timestamp")
    df.attrs = {{}}  # pm4py 2.7.23 KeyError workaround (peers.md)
report(rss_after_load=rss_mb(), peak_after_load=peak_mb())
'''


def run_side(code: str, *, timeout: float = 3600.0, label: str = "",
             root: str | Path | None = None) -> dict:
    """Run ``code`` (Python source using ``phase(name)`` context managers and ``report(**kw)``)
    in a fresh interpreter; return ``{"times": {phase: s}, "peak_mb", "rss_mb", "extra"}``.
    ``root``: import ``tthc_mining`` from another checkout (e.g. an older commit, for a
    before/after comparison) instead of this one."""
    src = _PROLOGUE.format(root=str(root or ROOT)) + textwrap.dedent(code) + _EPILOGUE
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", src], capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark side {label or '?'} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("@@RESULT@@"):
            out = json.loads(line[len("@@RESULT@@"):])
            out["wall_s"] = wall
            return out
    raise RuntimeError(f"benchmark side {label or '?'} printed no result:\n{proc.stdout[-2000:]}"
                       f"\n{proc.stderr[-2000:]}")


def mem_available_mb() -> float:
    """``MemAvailable`` of the machine (MB), NaN when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover
        pass
    return float("nan")


def _rss_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _tree_mb(pid: int) -> float:
    """Proportional set size (MB) of a process and all its descendants (``smaps_rollup``: shared
    copy-on-write pages of a forked child are split, not counted twice); RSS where unavailable."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) / 1024
                        break
        except OSError:
            total += _rss_of(p)
        todo.extend(_children(p))
    return total


def run_side_watched(code: str, *, mem_limit_mb: float, timeout: float = 6 * 3600.0,
                     label: str = "", root: str | Path | None = None,
                     poll_s: float = 0.2) -> dict:
    """:func:`run_side` under a resident-memory guard: the child is killed when its ``VmRSS``
    (or, while it has child processes of its own, the proportional set size of the whole process
    tree) exceeds ``mem_limit_mb`` (or after ``timeout`` s). ``tree_peaks`` holds the largest
    such value the parent saw during each phase (polled every ``poll_s``: a shorter spike can
    be missed; ``peaks`` are the exact ``VmHWM`` of the main process). Never raises for those two: returns what
    the finished phases reported (``times``, ``peaks``, ``extra``) plus ``killed`` (``None``, or
    the reason and the phase that was running) and ``max_rss_mb`` seen by the parent. A child
    that fails for another reason raises ``RuntimeError`` as :func:`run_side` does."""
    import tempfile
    src = _PROLOGUE.format(root=str(root or ROOT)) + textwrap.dedent(code) + _EPILOGUE
    with tempfile.TemporaryDirectory(prefix="bench_side_") as tmp:
        out_p, err_p = Path(tmp) / "out", Path(tmp) / "err"
        t0 = time.perf_counter()
        with open(out_p, "w") as out, open(err_p, "w") as err:
            proc = subprocess.Popen([PYTHON, "-c", src], stdout=out, stderr=err, cwd=str(ROOT))
            killed = None
            max_rss = 0.0
            tree_peaks: dict[str, float] = {}
            phase_now, seen = "", 0
            while proc.poll() is None:
                rss = _rss_of(proc.pid)
                if _children(proc.pid):  # e.g. tm.report forks a section: count the whole tree
                    rss = max(rss, _tree_mb(proc.pid))
                max_rss = max(max_rss, rss)
                try:  # the phase running now, from the lines printed so far
                    with open(out_p, "rb") as fh:
                        fh.seek(seen)
                        chunk = fh.read()
                    cut = chunk.rfind(b"\n") + 1
                    seen += cut
                    for line in chunk[:cut].decode(errors="replace").splitlines():
                        if line.startswith("@@START@@"):
                            phase_now = line[len("@@START@@"):]
                except OSError:
                    pass
                if phase_now:
                    tree_peaks[phase_now] = max(tree_peaks.get(phase_now, 0.0), rss)
                if rss > mem_limit_mb:
                    killed = f"memory (process tree) over the {mem_limit_mb:,.0f} MB guard"
                elif time.perf_counter() - t0 > timeout:
                    killed = f"over the {timeout:,.0f} s time limit"
                if killed:
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(poll_s)
        wall = time.perf_counter() - t0
        stdout = out_p.read_text(errors="replace")
        stderr = err_p.read_text(errors="replace")
    res: dict = {"times": {}, "cpu": {}, "peaks": {}, "extra": {}, "killed": killed,
                 "max_rss_mb": max_rss, "tree_peaks": tree_peaks, "wall_s": wall}
    running = None
    for line in stdout.splitlines():
        if line.startswith("@@START@@"):
            running = line[len("@@START@@"):]
        elif line.startswith("@@PHASE@@"):
            ph = json.loads(line[len("@@PHASE@@"):])
            res["times"][ph["name"]] = res["times"].get(ph["name"], 0.0) + ph["s"]
            res["cpu"][ph["name"]] = res["cpu"].get(ph["name"], 0.0) + ph.get("cpu_s", 0.0)
            res["peaks"][ph["name"]] = ph["peak_mb"]
            running = None
        elif line.startswith("@@EXTRA@@"):
            res["extra"].update(json.loads(line[len("@@EXTRA@@"):]))
        elif line.startswith("@@RESULT@@"):
            final = json.loads(line[len("@@RESULT@@"):])
            res.update({k: v for k, v in final.items() if k in ("peak_mb", "rss_mb")})
    if not killed and proc.returncode is not None and proc.returncode < 0:
        killed = f"stopped by signal {-proc.returncode} from outside"  # e.g. a disk guard
    if killed:
        res["killed"] = killed + (f" during {running}" if running else "")
        res["killed_phase"] = running
        return res
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark side {label or '?'} failed (exit {proc.returncode}):\n"
                           f"{stderr[-4000:]}")
    if "peak_mb" not in res:
        raise RuntimeError(f"benchmark side {label or '?'} printed no result:\n{stdout[-2000:]}"
                           f"\n{stderr[-2000:]}")
    return res


def data_paths(n: int, seed: int) -> dict[str, Path]:
    stem = f"province_{n}_{seed}"
    return {"parquet": DATA / f"{stem}.parquet", "csv": DATA / f"{stem}.csv"}


def ensure_data(n: int, seed: int, *, csv: bool = False, parquet: bool = True,
                quiet: bool = False) -> dict[str, Path]:
    """Generate the synthetic province once (in a subprocess, so its memory is returned) and
    write the files that are missing."""
    paths = data_paths(n, seed)
    need_pq = parquet and not paths["parquet"].exists()
    need_csv = csv and not paths["csv"].exists()
    if not (need_pq or need_csv):
        return paths
    DATA.mkdir(parents=True, exist_ok=True)
    code = f'''
    import tthc_mining as tm
    from tthc_mining.io import write_log
    with phase("generate"):
        prov = tm.synth.province(n_dossiers={n}, seed={seed})
    ev = prov.log.events
    report(events=len(ev), dossiers=prov.log.n_cases)
    if {need_pq!r}:
        with phase("parquet"):
            write_log(ev, {str(paths["parquet"])!r})
    if {need_csv!r}:
        with phase("csv"):
            prov.to_onestop({str(paths["csv"])!r})
    '''
    res = run_side(code, label="generate")
    if not quiet:
        t = res["times"]
        print(f"generated {n:,} dossiers / {res['extra']['events']:,} events in "
              f"{t['generate']:.1f} s (files: " + ", ".join(
                  f"{k} {v:.1f} s" for k, v in t.items() if k != "generate") + ")", flush=True)
    return paths


def machine() -> dict:
    """Cores, load averages and a flag when the machine is busy."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (float("nan"),) * 3
    return {"cores": cores, "load": load, "busy": load[0] > 0.75 * cores,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}


def describe_machine(before: dict, after: dict | None = None) -> str:
    m = before
    text = (f"machine: {m['cores']} cores, Python {m['python']}, {m['date']}; load average "
            f"{m['load'][0]:.2f} at start")
    if after is not None:
        text += f", {after['load'][0]:.2f} at end"
    if m["busy"] or (after is not None and after["busy"]):
        text += " -- HIGH LOAD: other processes shared the CPUs, times are pessimistic"
    return text


def versions() -> str:
    import numpy
    import pandas
    try:
        from importlib.metadata import version
        pm = version("pm4py")
    except Exception:  # pragma: no cover
        pm = "?"
    return f"numpy {numpy.__version__}, pandas {pandas.__version__}, pm4py {pm}"


def dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1, default=str)


def finish(result: dict, m0: dict, json_path: str | None) -> int:
    """End a comparison script: print the machine and its load (start and end) and the
    versions, add them to ``result`` and write it to ``json_path`` when given; exit code 0."""
    m1 = machine()
    print(describe_machine(m0, m1) + "; " + versions())
    result.update(machine_start=m0, machine_end=m1)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1, default=str))
    return 0
