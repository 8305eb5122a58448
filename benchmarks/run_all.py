"""`make bench`: run every benchmark script in turn, each in its own process (so peak memory is
per script), and print their output. Each script prints its own ratios against pm4py (or its
target) measured in one run; see benchmarks/README.md.

    .venv/bin/python benchmarks/run_all.py [--quick]

``--quick`` runs on 100,000 dossiers instead of 860,000 (minutes instead of tens of minutes).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, arguments for the full run, arguments for --quick)
SCRIPTS = [
    ("bench_synth.py", [], ["100000"]),
    ("bench_foundation.py", [], ["--dossiers", "100000"]),
    ("bench_discovery.py", [], ["--dossiers", "100000"]),
    ("bench_rework.py", [], ["100000"]),
    ("bench_replay.py", [], ["--dossiers", "100000"]),
    ("bench_simulation.py", [], []),
    ("bench_report.py", [], ["--dossiers", "100000"]),
    # issue 7: every statistic vs pm4py at 100k / 860k / 3M dossiers, and the DuckDB engine on
    # ~100 million events (17 Parquet partitions; --quick: 2 partitions, 12 million events)
    ("bench_scale.py", ["--json", str(HERE / "results" / "scale.json")], ["--sizes", "100000"]),
    ("bench_duckdb_100m.py", ["--json", str(HERE / "results" / "duckdb_100m.json")],
     ["--partitions", "2"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    failed = []
    (HERE / "results").mkdir(exist_ok=True)
    for script, full, quick in SCRIPTS:
        path = HERE / script
        if not path.exists():
            print(f"== {script}: not present, skipped")
            continue
        cmd = [sys.executable, str(path), *(quick if args.quick else full)]
        print(f"== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"== {script}: exit {rc}, {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
