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
class phase:
    def __init__(self, name):
        self.name = name
    def __enter__(self):
        self.t = time.perf_counter()
    def __exit__(self, *exc):
        _T[self.name] = _T.get(self.name, 0.0) + time.perf_counter() - self.t
_EXTRA = {{}}
def report(**kw):
    _EXTRA.update(kw)
'''

_EPILOGUE = r'''
print("@@RESULT@@" + json.dumps({"times": _T, "peak_mb": peak_mb(), "rss_mb": rss_mb(),
                                 "extra": _EXTRA}, default=str))
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
