"""Run the reader fuzz targets for a bounded time each (``make fuzz``; see docs/fuzzing.md).

    python fuzz/run.py [--seconds 60] [--readers csv,xes,excel,parquet] [--engine auto]

``atheris`` (coverage-guided, libFuzzer) when it is installed (``pip install -e .[fuzz]``),
otherwise a hypothesis-driven random search over the same targets. Each reader's corpus starts
from the files of ``tests/data/bad`` (``fuzz/corpus/<reader>``, kept between runs, not committed);
a crash is saved under ``fuzz/crashes/<reader>/`` and makes the run fail. Turn a crash into a
regression file under ``fuzz/regressions/`` (replayed by ``tests/test_hardening_fuzz.py``) once
it is fixed. The run writes a summary to ``fuzz/last_run.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
READERS = ("csv", "xes", "excel", "parquet")


def _seed_corpus(kind: str) -> Path:
    import common
    d = HERE / "corpus" / kind
    d.mkdir(parents=True, exist_ok=True)
    for data in common.seeds(kind):
        (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)
    return d


def run_atheris(kind: str, seconds: int, rss_mb: int) -> dict:
    corpus = _seed_corpus(kind)
    crashes = HERE / "crashes" / kind
    crashes.mkdir(parents=True, exist_ok=True)
    before = set(crashes.iterdir())
    cmd = [sys.executable, str(HERE / f"fuzz_{kind}.py"), str(corpus),
           f"-max_total_time={seconds}", "-timeout=60", f"-rss_limit_mb={rss_mb}",
           "-max_len=65536", f"-artifact_prefix={crashes}/", "-print_final_stats=1"]
    t = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout + proc.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
    cov = re.findall(r"\bcov: (\d+)", out)
    new = sorted(set(crashes.iterdir()) - before)
    return {"reader": kind, "engine": "atheris", "seconds": round(time.time() - t, 1),
            "executions": int(runs[-1]) if runs else None,
            "coverage_edges": int(cov[-1]) if cov else None,
            "corpus_files": len(list(corpus.iterdir())), "returncode": proc.returncode,
            "crashes": [str(p.relative_to(ROOT)) for p in new],
            "tail": out[-3000:] if proc.returncode else ""}


def run_hypothesis(kind: str, seconds: int) -> dict:
    """Random search with hypothesis (no coverage guidance): byte strings in both the raw and
    the structured mode, plus every seed."""
    import common
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    crashes = HERE / "crashes" / kind
    crashes.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, int] = {}
    found: list[str] = []

    def one(data: bytes) -> None:
        try:
            r = common.run_one(kind, data)
        except Exception as exc:  # a crash: keep the input, stop
            p = crashes / ("crash-" + hashlib.sha1(data).hexdigest())
            p.write_bytes(data)
            found.append(f"{p.relative_to(ROOT)}: {type(exc).__name__}: {exc}"[:500])
            raise
        outcomes[r] = outcomes.get(r, 0) + 1

    for data in common.seeds(kind):
        one(data)
    t0 = time.time()

    @settings(max_examples=200, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(min_size=1, max_size=4096),
                     st.tuples(st.integers(0, 255), st.binary(max_size=4096)).map(
                         lambda x: bytes([x[0]]) + x[1])))
    def batch(data: bytes) -> None:
        one(data)

    while time.time() - t0 < seconds and not found:
        try:
            batch()
        except Exception:
            break
    return {"reader": kind, "engine": "hypothesis", "seconds": round(time.time() - t0, 1),
            "executions": sum(outcomes.values()), "outcomes": outcomes, "crashes": found,
            "returncode": 1 if found else 0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 60)))
    ap.add_argument("--readers", default=",".join(READERS))
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("--rss-mb", type=int, default=3072)
    args = ap.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    results = []
    for kind in [r.strip() for r in args.readers.split(",") if r.strip()]:
        if kind not in READERS:
            ap.error(f"unknown reader {kind!r}; known: {', '.join(READERS)}")
        print(f"fuzzing the {kind} reader for {args.seconds} s with {engine} ...", flush=True)
        res = (run_atheris(kind, args.seconds, args.rss_mb) if engine == "atheris"
               else run_hypothesis(kind, args.seconds))
        results.append(res)
        status = "CRASH" if res["crashes"] or res["returncode"] else "ok"
        print(f"  {status}: {res['executions']} inputs in {res['seconds']} s"
              + (f", {res.get('coverage_edges')} coverage edges" if res.get("coverage_edges") else "")
              + (f"; crashes: {res['crashes']}" if res["crashes"] else ""), flush=True)
        if res.get("tail"):
            print(res["tail"], flush=True)
    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "engine": engine,
               "seconds_per_reader": args.seconds, "python": platform.python_version(),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
               "results": results}
    (HERE / "last_run.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False),
                                        encoding="utf-8")
    return 1 if any(r["crashes"] or r["returncode"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
