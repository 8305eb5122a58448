"""H7 diagnosis: per-call and per-query time / CPU / spill at 12M events with a scaled limit."""
import os, sys, time, threading, shutil, tempfile, traceback, resource, json
lib = os.environ.get("LIB", "/work/main")
sys.path.insert(0, lib)
from pathlib import Path
parts = int(os.environ.get("PARTS", "2")); mem = os.environ.get("MEM", "400MB")
calls = os.environ.get("CALLS", "summary,discover,bottlenecks,rework").split(",")
data = Path("/work/main/benchmarks/data") / f"national_{parts}"
import ibis, tthc_mining as tm, tthc_mining.engines  # noqa
tm.VietnamCalendar()._ensure(20000, 20500)
tmp = Path(tempfile.mkdtemp(prefix="h7diag_", dir="/work/main/benchmarks/data"))
spill = tmp / "spill"
cur = {"max": 0.0, "db": 0.0}
stop = threading.Event()
def dsize(p):
    t = 0
    for f in p.rglob("*"):
        try:
            if f.is_file(): t += f.stat().st_size
        except OSError: pass
    return t / 1e9
def watch():
    while not stop.wait(0.5):
        cur["max"] = max(cur["max"], dsize(spill) if spill.exists() else 0.0)
        cur["db"] = max(cur["db"], sum(f.stat().st_size for f in tmp.glob("tthc.duckdb*")) / 1e9)
threading.Thread(target=watch, daemon=True).start()
def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
def hwm():
    for l in open("/proc/self/status"):
        if l.startswith("VmHWM"): return int(l.split()[1]) / 1024
def reset_hwm():
    try: open("/proc/self/clear_refs", "w").write("5")
    except OSError: pass
from ibis.backends.duckdb import Backend
def wrap(name):
    orig = getattr(Backend, name)
    def f(self, *a, **k):
        cur["max"] = 0.0; t0 = time.perf_counter(); c0 = cpu(); err = None
        try:
            return orig(self, *a, **k)
        except Exception as e:
            err = repr(e)[:120]; raise
        finally:
            dt = time.perf_counter() - t0
            if dt > 0.5 or cur["max"] > 0.05 or err:
                st = [f"{Path(fr.filename).stem}:{fr.lineno}" for fr in traceback.extract_stack()
                      if "tthc_mining/engines" in fr.filename][-4:]
                print(f"  {name:<12}{dt:7.1f}s cpu {cpu()-c0:6.1f} spill {cur['max']:5.2f} GB {'FAILED '+err if err else ''} {st}", flush=True)
    setattr(Backend, name, f)
for n in ("execute", "to_pyarrow", "create_table"):
    wrap(n)
con = ibis.duckdb.connect(database=str(tmp / "tthc.duckdb"), memory_limit=mem, threads=2,
                          temp_directory=str(spill), preserve_insertion_order=False)
con.raw_sql("SET enable_progress_bar = false")
con.raw_sql("SET max_temp_directory_size = '60GB'")
res = {}
try:
    t0 = time.perf_counter()
    rlog = tm.read_log(str(data / "*.parquet"), engine="duckdb", con=con)
    print("read_log", time.perf_counter() - t0, flush=True)
    fns = {"summary": lambda: tm.summary(rlog), "discover": lambda: tm.discover(rlog),
           "bottlenecks": lambda: tm.bottlenecks(rlog, by="activity"), "rework": lambda: tm.rework(rlog).by_activity}
    for c in calls:
        reset_hwm(); t0 = time.perf_counter(); c0 = cpu(); cur["max"] = 0
        try:
            out = fns[c](); ok = "ok"
            if c == "discover": ok += f" edges={len(out.dfg)}"
        except Exception as e:
            ok = "FAILED " + repr(e)[:300]
        res[c] = (time.perf_counter() - t0, cpu() - c0, hwm())
        print(f"===== {c} {ok} wall {res[c][0]:.1f} cpu {res[c][1]:.1f} hwm {res[c][2]:.0f} MB db {cur['db']:.2f} GB", flush=True)
finally:
    stop.set(); shutil.rmtree(tmp, ignore_errors=True)
    print("load", os.getloadavg(), time.strftime("%H:%M:%S"))
