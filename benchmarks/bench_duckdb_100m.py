"""Issue 7: the DuckDB engine on about 100 million events (Parquet partitions), beyond memory.

    .venv/bin/python benchmarks/bench_duckdb_100m.py                    # 17 partitions, 102.6M events
    .venv/bin/python benchmarks/bench_duckdb_100m.py --partitions 2     # a quick check (12M events)
    .venv/bin/python benchmarks/bench_duckdb_100m.py --generate-only
    .venv/bin/python benchmarks/bench_duckdb_100m.py --memory-limit 3GB --threads 2 --json out.json

**Data** (``benchmarks/data/national_<k>/part-<i>.parquet``, git-ignored, generated once):
partition ``i`` is a copy of the 860,000-dossier province
(``benchmarks/data/province_860000_1.parquet``, 6,035,152 events; generated first if missing)
with every dossier id prefixed ``P<ii>-`` and every timestamp column moved ``i x 52`` weeks
later (364 days: weekdays and office hours stay, the copies follow one another like the
years of a multi-year national review). The copies are streamed with pyarrow one row group at a
time (about a million events) into one ``ParquetWriter`` per partition: 100 million rows are
never in memory. Only dictionaries (dossier ids) and int64 timestamps are touched; every other
column is written as read.

**Run**: in a fresh process (``benchmarks/common.py``: imports before the clocks, ``VmHWM`` peak
of the whole process, DuckDB's memory included, under a resident-memory guard), a DuckDB
connection on a **database file** (``tthc.duckdb`` in a temporary directory under
``benchmarks/data/``, deleted afterwards; the tables the engine materialises are stored
compressed there, see docs/engines.md; ``--in-memory`` for an in-memory database, whose
temporary tables spill uncompressed), with ``memory_limit`` (default 3 GB), ``threads``
(default 2) and a ``temp_directory`` for spilling (in the same directory, at most
``--max-spill``, default 40GB) is handed to
``tm.read_log("<dir>/*.parquet", engine="duckdb", con=...)``; then ``tm.summary``,
``tm.discover``, ``tm.bottlenecks`` and ``tm.rework`` are timed one by one. Only their (small)
results come back to pandas. Printed: events, dossiers, each call's time, the process peak, the
largest disk use (database file + spill) and the database file's largest size, and the load
average (``HIGH LOAD`` when other jobs shared the
CPUs).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DATA, describe_machine, ensure_data, machine, mem_available_mb,  # noqa: E402
                    run_side_watched, versions)

WEEK_NS = 7 * 86_400 * 1_000_000_000
SOURCE_DOSSIERS = 860_000


def partition_dir(partitions: int) -> Path:
    return DATA / f"national_{partitions}"


def generate(source: Path, out_dir: Path, partitions: int, *, weeks_per_copy: int = 52,
             quiet: bool = False) -> dict:
    """Write ``partitions`` shifted copies of ``source`` into ``out_dir`` (skipped when complete).

    Streams one source row group at a time and appends its shifted copy to every partition's
    writer, so memory stays at about two row groups whatever the number of partitions."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    done = out_dir / "_complete.json"
    if done.exists():
        info = json.loads(done.read_text())
        if info.get("partitions") == partitions and info.get("source") == source.name:
            return info
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    src = pq.ParquetFile(source)
    schema = src.schema_arrow
    ts_cols = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    case_col = "case:concept:name"
    t0 = time.perf_counter()
    writers = [pq.ParquetWriter(out_dir / f"part-{i:03d}.parquet", schema, compression="snappy")
               for i in range(partitions)]
    n_rows = 0
    try:
        for g in range(src.metadata.num_row_groups):
            tbl = src.read_row_group(g)
            n_rows += tbl.num_rows
            for i, w in enumerate(writers):
                cols = {}
                prefix = f"P{i:02d}-"
                chunks = []
                for ch in tbl.column(case_col).chunks:
                    if pa.types.is_dictionary(ch.type):
                        d = pc.binary_join_element_wise(prefix, ch.dictionary, "")
                        chunks.append(pa.DictionaryArray.from_arrays(ch.indices, d))
                    else:
                        chunks.append(pc.binary_join_element_wise(prefix, ch, ""))
                cols[case_col] = pa.chunked_array(chunks, type=tbl.schema.field(case_col).type)
                shift = pa.scalar(i * weeks_per_copy * WEEK_NS, type=pa.duration("ns"))
                for c in ts_cols:
                    cols[c] = pc.add(tbl.column(c), shift) if i else tbl.column(c)
                out = pa.table([cols.get(name, tbl.column(name)) for name in tbl.column_names],
                               schema=schema)
                w.write_table(out)
            del tbl
            if not quiet:
                print(f"  row group {g + 1}/{src.metadata.num_row_groups}: {n_rows * partitions:,} "
                      f"events written ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        for w in writers:
            w.close()
    info = {"partitions": partitions, "source": source.name, "events": n_rows * partitions,
            "dossiers": SOURCE_DOSSIERS * partitions, "weeks_per_copy": weeks_per_copy,
            "bytes": sum(p.stat().st_size for p in out_dir.glob("part-*.parquet")),
            "seconds": time.perf_counter() - t0, "date": time.strftime("%Y-%m-%d %H:%M")}
    done.write_text(json.dumps(info, indent=1))
    return info


RUN = r'''
import json
import ibis
import tthc_mining as tm
import tthc_mining.engines  # noqa: F401  (imports outside the clocks)
tm.VietnamCalendar()._ensure(20000, 20500)  # the holidays package's import, outside the clocks
con = ibis.duckdb.connect(**({{"database": {database!r}}} if {database!r} else {{}}),
                          memory_limit={memory_limit!r}, threads={threads!r},
                          temp_directory={temp!r}, preserve_insertion_order=False)
con.raw_sql("SET enable_progress_bar = false")
con.raw_sql("SET max_temp_directory_size = '{max_spill}'")  # a shared disk: bound the spill
with phase("read_log"):
    rlog = tm.read_log({pattern!r}, engine="duckdb", con=con)
info = {{}}
with phase("counts"):  # n_events / n_cases: one scan each, timed apart from the four calls
    for name in ("n_events", "n_cases"):
        try:
            v = getattr(rlog, name)
            info[name] = int(v() if callable(v) else v)
        except Exception as exc:
            info[name + "_error"] = repr(exc)[:200]
report(**info, rss_after_read=rss_mb(), rows_read=rlog.quality.rows_read)
import traceback
def call(name, fn):
    """Time one engine call; a call the engine does not support yet is reported, not fatal."""
    try:
        with phase(name, reset=True):  # peak counter restarted: the call's own peak
            out = fn()
    except Exception as exc:
        report(**{{name + "_error": "".join(traceback.format_exception_only(exc)).strip()[-400:]}})
        return None
    report(**{{"rss_after_" + name: rss_mb()}})
    return out
CALLS = {calls!r}
s = call("summary", lambda: tm.summary(rlog)) if "summary" in CALLS else None
if s is not None:
    report(summary_rows=len(s.to_frame()))
pmap = call("discover", lambda: tm.discover(rlog)) if "discover" in CALLS else None
if pmap is not None:
    report(edges=len(pmap.to_frame()))
b = (call("bottlenecks", lambda: tm.bottlenecks(rlog, by="activity"))
     if "bottlenecks" in CALLS else None)
if b is not None:
    report(bottleneck_rows=len(b))
rw = call("rework", lambda: tm.rework(rlog)) if "rework" in CALLS else None
if rw is not None:
    try:
        report(rework_by_activity_rows=len(rw.by_activity))
    except Exception as exc:
        report(rework_note=repr(exc)[:200])
try:
    report(duckdb_version=con.raw_sql("select version()").fetchone()[0])
except Exception:
    pass
'''


def _dir_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=17,
                    help="copies of the 860k-dossier province (17 -> 102,597,584 events)")
    ap.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit (default 3GB)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--max-spill", default="40GB",
                    help="DuckDB max_temp_directory_size (default 40GB; DuckDB's own default is "
                         "90%% of the free disk)")
    ap.add_argument("--guard-gb", type=float, default=8.0,
                    help="kill the run if the process's resident memory exceeds this (GB)")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--calls", default="summary,discover,bottlenecks,rework",
                    help="which calls to time after read_log (comma-separated; default all four)")
    ap.add_argument("--in-memory", action="store_true",
                    help="an in-memory DuckDB database (the materialised segments are temporary, "
                         "uncompressed tables that spill to the temporary directory); default: a "
                         "database file in the spill directory, where they are stored compressed")
    ap.add_argument("--timeout", type=float, default=6 * 3600.0,
                    help="stop the run after this many seconds (the finished calls are reported)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--library", help="run with tthc_mining from this directory")
    args = ap.parse_args()

    m0 = machine()
    source = ensure_data(SOURCE_DOSSIERS, 1, parquet=True)["parquet"]
    out_dir = partition_dir(args.partitions)
    print(f"data: {out_dir} ({args.partitions} partitions of {source.name})", flush=True)
    info = generate(source, out_dir, args.partitions)
    print(f"  {info['events']:,} events, {info['dossiers']:,} dossiers, "
          f"{info['bytes'] / 1e9:.2f} GB Parquet (generated {info['date']} in "
          f"{info['seconds']:.0f} s)", flush=True)
    if args.generate_only:
        return 0

    temp = Path(tempfile.mkdtemp(prefix="duckdb_spill_", dir=DATA))
    spill = {"max_mb": 0.0, "db_max_mb": 0.0}
    database = "" if args.in_memory else str(temp / "tthc.duckdb")
    stop = threading.Event()

    def watch_spill():
        while not stop.wait(1.0):
            spill["max_mb"] = max(spill["max_mb"], _dir_mb(temp))
            try:
                spill["db_max_mb"] = max(spill["db_max_mb"], sum(
                    p.stat().st_size for p in temp.glob("tthc.duckdb*")) / 1e6)
            except OSError:
                pass

    th = threading.Thread(target=watch_spill, daemon=True)
    th.start()
    guard = min(args.guard_gb * 1024, 0.9 * mem_available_mb())
    try:
        res = run_side_watched(RUN.format(memory_limit=args.memory_limit, threads=args.threads,
                                          max_spill=args.max_spill,
                                          calls=[c.strip() for c in args.calls.split(",")],
                                          temp=str(temp / "spill"), database=database,
                                          pattern=str(out_dir / "*.parquet")),
                               mem_limit_mb=guard, label="duckdb", root=args.library,
                               timeout=args.timeout)
    finally:
        stop.set()
        th.join()
        shutil.rmtree(temp, ignore_errors=True)
    m1 = machine()
    t, e = res["times"], res["extra"]
    calls = [k for k in ("read_log", "summary", "discover", "bottlenecks", "rework")
             if k in t and not e.get(k + "_error")]
    total = sum(t[k] for k in calls)
    if "counts" in t:
        print(f"  (n_events + n_cases: {t['counts']:.1f} s, not in the total)")
    # the peak counter is restarted before each call: the process peak is the largest of them
    peak = max([v for v in res["peaks"].values()] + [res.get("max_rss_mb") or 0.0])
    print(f"DuckDB engine, memory_limit {args.memory_limit}, {args.threads} threads, "
          f"{'in-memory database' if args.in_memory else 'database file'}, disk used in "
          f"{temp.name} (database file + spill) largest {spill['max_mb']:,.0f} MB "
          f"(database file alone largest {spill['db_max_mb']:,.0f} MB):")
    cpu = res.get("cpu", {})
    for k in calls:
        print(f"  {k:<12} {t[k]:8.1f} s (CPU {cpu.get(k, float('nan')):7.1f} s) | peak during "
              f"the call {res['peaks'].get(k, float('nan')):,.0f} MB")
    print(f"  {'total':<12} {total:8.1f} s | peak RSS (VmHWM) {peak:,.0f} MB "
          f"(target < 4,096 MB: {'PASS' if peak < 4096 else 'FAIL'}; the largest per-call "
          f"VmHWM and the parent's own RSS polls)")
    if res.get("killed"):
        print(f"  STOPPED: {res['killed']}")
    for k in ("summary", "discover", "bottlenecks", "rework"):
        if e.get(k + "_error"):
            print(f"  {k}: FAILED: {e[k + '_error']}")
    ev = e.get("n_events") or info["events"]
    print(f"  events {ev:,}; dossiers {e.get('n_cases', info['dossiers']):,}; "
          f"rows: summary {e.get('summary_rows')}, edges {e.get('edges')}, "
          f"bottlenecks {e.get('bottleneck_rows')}")
    print(describe_machine(m0, m1) + "; " + versions()
          + (f", duckdb {e['duckdb_version']}" if e.get("duckdb_version") else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"data": info, "run": res, "spill_max_mb": spill["max_mb"],
             "database_file_max_mb": spill["db_max_mb"], "in_memory": args.in_memory,
             "timeout_s": args.timeout, "total_s": total,
             "peak_mb": peak,
             "memory_limit": args.memory_limit, "threads": args.threads,
             "machine_start": m0, "machine_end": m1, "versions": versions()},
            indent=1, default=str))
    failed = res.get("killed") or any(e.get(k + "_error") for k in
                                      ("summary", "discover", "bottlenecks", "rework"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
