"""Benchmark: generate the synthetic province at Hải Dương scale (860,000 dossiers a year).

Prints the generation time (World + simulation + DossierLog and truth; writing files excluded).
Target: under 60 s. Run: ``.venv/bin/python benchmarks/bench_synth.py [n_dossiers] [seed]``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

from tthc_mining.synth import World, build, default_params


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 860_000
    seed = int(argv[2]) if len(argv) > 2 else 0
    t0 = time.perf_counter()
    world = World(default_params(), seed, n)
    t1 = time.perf_counter()
    sim = world.simulate()
    t2 = time.perf_counter()
    prov = build(sim)
    t3 = time.perf_counter()
    c = prov.truth.cases
    print(f"synth: {n:,} dossiers, {prov.log.n_events:,} events, seed {seed}")
    print(f"  world   {t1 - t0:6.2f} s")
    print(f"  simulate{t2 - t1:6.2f} s")
    print(f"  build   {t3 - t2:6.2f} s  (DossierLog + truth + catalogue)")
    print(f"  total   {t3 - t0:6.2f} s  (target < 60 s)")
    print(f"  on time {1 - c['overdue'].mean():.4f} (reported {1 - c['overdue_reported'].mean():.4f})")
    return 0 if t3 - t0 < 60 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
