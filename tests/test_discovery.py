"""Directly-follows model and variants (tm.discover, tm.variants).

Hand-computed values on small logs (working time, starts, citizen time), an independent pandas /
pure-Python reference on random logs (hypothesis), pm4py equality on random logs and on the real
public logs (counts exact, 24x7 means within 1e-9 relative), filters, and the ProcessMap API.
"""
from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tthc_mining as tm
from conftest import real_log
from tthc_mining import DossierLog
from tthc_mining import discovery as D
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar, continuous
from tthc_mining.errors import ConfigError
from tthc_mining.roles import add_role_column

TZ = "Asia/Ho_Chi_Minh"
H = 3600.0


def make_log(rows, calendar=None, **extra) -> DossierLog:
    """rows: (case, activity, local time string[, start string]) -> a sorted DossierLog."""
    cols = [S.CASE, S.ACTIVITY, S.TIMESTAMP] + ([S.START] if len(rows[0]) > 3 else [])
    df = pd.DataFrame(rows, columns=cols)
    for c in (S.TIMESTAMP, S.START):
        if c in df:
            df[c] = pd.to_datetime(df[c]).dt.tz_localize(TZ)
    for k, v in extra.items():
        df[k] = v
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    return DossierLog(events=df, calendar=calendar if calendar is not None else VietnamCalendar())


def edge(pm, a, b) -> pd.Series:
    m = pm.dfg[(pm.dfg["source"] == a) & (pm.dfg["target"] == b)]
    assert len(m) == 1, (a, b, pm.dfg)
    return m.iloc[0]


def act_row(pm, a) -> pd.Series:
    m = pm.activities[pm.activities["activity"] == a]
    assert len(m) == 1
    return m.iloc[0]


# ====================================================================== hand-computed values
@pytest.fixture()
def small():
    # 2025-03-07 is a Friday; 2025-03-10 a Monday (no holidays in between)
    return make_log([
        ("c1", "Tiếp nhận", "2025-03-07 16:00"),
        ("c1", "Thẩm định", "2025-03-10 08:00"),   # 1 h Friday + 1 h Monday = 2 working hours
        ("c1", "Thẩm định", "2025-03-10 10:00"),   # 2 h (self loop)
        ("c1", "Trả kết quả", "2025-03-10 14:30"),  # 08:30-11:30 = 1.5 h + 13:30-14:30 = 1 h -> 2.5 h
        ("c2", "Tiếp nhận", "2025-03-11 07:00"),
        ("c2", "Thẩm định", "2025-03-11 11:00"),   # 4 h
        ("c2", "Trả kết quả", "2025-03-11 15:00"),  # 0.5 h + 1.5 h = 2 h
        ("c3", "Tiếp nhận", "2025-03-12 09:00"),
        ("c3", "Trả kết quả", "2025-03-12 09:00"),  # 0 h
    ])


def test_counts_cases_and_working_hours_by_hand(small):
    pm = tm.discover(small)
    assert pm.n_cases == 3 and pm.n_events == 9 and pm.n_transitions == 6
    e = edge(pm, "Tiếp nhận", "Thẩm định")
    assert (e["count"], e["cases"], e["n_timed"]) == (2, 2, 2)
    assert e["mean_h"] == pytest.approx(3.0)          # (2 + 4) / 2
    assert e["median_h"] == pytest.approx(3.0)
    assert e["p90_h"] == pytest.approx(2 + 0.9 * 2)   # linear interpolation
    assert e["sum_h"] == pytest.approx(6.0)
    loop = edge(pm, "Thẩm định", "Thẩm định")
    assert (loop["count"], loop["cases"]) == (1, 1) and loop["mean_h"] == pytest.approx(2.0)
    e = edge(pm, "Thẩm định", "Trả kết quả")
    assert e["count"] == 2 and e["mean_h"] == pytest.approx((2.5 + 2.0) / 2)
    e = edge(pm, "Tiếp nhận", "Trả kết quả")
    assert e["count"] == 1 and e["mean_h"] == 0.0
    assert pm.dfg["share"].sum() == pytest.approx(1.0)
    assert list(pm.dfg["count"]) == sorted(pm.dfg["count"], reverse=True)
    # activities: waiting = previous end -> this end (no start times)
    t = act_row(pm, "Thẩm định")
    assert (t["count"], t["cases"], t["n_wait"]) == (3, 2, 3)
    assert t["wait_sum_h"] == pytest.approx(2 + 2 + 4)
    assert t["wait_median_h"] == pytest.approx(2.0)
    first = act_row(pm, "Tiếp nhận")
    assert first["n_wait"] == 0 and np.isnan(first["wait_mean_h"])
    assert act_row(pm, "Trả kết quả")["n_proc"] == 0
    assert np.isnan(act_row(pm, "Trả kết quả")["proc_mean_h"])
    assert dict(zip(pm.start_activities["activity"], pm.start_activities["count"])) == {"Tiếp nhận": 3}
    assert dict(zip(pm.end_activities["activity"], pm.end_activities["count"])) == {"Trả kết quả": 3}
    assert pm.start_activities["share"].sum() == pytest.approx(1.0)
    assert pm.calendar["name"] == "VN"


def test_start_timestamps_split_waiting_and_processing():
    log = make_log([
        ("c1", "A", "2025-03-10 08:00", "2025-03-10 07:30"),
        ("c1", "B", "2025-03-10 10:00", "2025-03-10 09:00"),  # wait A.end->B.start = 1 h, proc 1 h
        ("c1", "C", "2025-03-10 10:30", "2025-03-10 09:30"),  # started before B ended: wait -> 0
        ("c2", "A", "2025-03-10 08:00", "2025-03-10 08:00"),
        ("c2", "B", "2025-03-10 11:00", "2025-03-10 09:00"),  # wait 1 h, proc 2 h
    ])
    assert log.has_start
    pm = tm.discover(log)
    e = edge(pm, "A", "B")
    assert e["mean_h"] == pytest.approx(1.0)  # end(A) -> start(B)
    e = edge(pm, "B", "C")
    assert e["mean_h"] == 0.0                  # clipped: max(start(C), end(B)) - end(B)
    b = act_row(pm, "B")
    assert b["n_proc"] == 2 and b["proc_mean_h"] == pytest.approx(1.5)
    assert b["wait_mean_h"] == pytest.approx(1.0)
    c = act_row(pm, "C")
    assert c["wait_mean_h"] == pytest.approx(-0.5)  # the activity table keeps the raw waiting time
    assert act_row(pm, "A")["proc_mean_h"] == pytest.approx(0.25)


def test_working_time_not_clock_time_over_a_holiday():
    # Friday 29/8/2025 16:00 -> Wednesday 3/9 08:00: weekend + National Day (1/9, 2/9) off
    rows = [("c", "A", "2025-08-29 16:00"), ("c", "B", "2025-09-03 08:00")]
    assert edge(tm.discover(make_log(rows)), "A", "B")["mean_h"] == pytest.approx(2.0)
    log24 = make_log(rows, calendar=continuous())
    assert edge(tm.discover(log24), "A", "B")["mean_h"] == pytest.approx(4 * 24 + 16.0)


def test_sub_millisecond_precision_of_durations():
    base = pd.Timestamp("2012-01-01 00:00:00", tz="UTC")
    ev = pd.DataFrame({S.CASE: ["c"] * 3, S.ACTIVITY: ["A", "B", "C"],
                       S.TIMESTAMP: [base, base + pd.Timedelta(microseconds=1),
                                     base + pd.Timedelta(milliseconds=3, microseconds=1)]})
    pm = tm.discover(DossierLog(events=ev, calendar=continuous()))
    assert edge(pm, "A", "B")["mean_h"] * H == pytest.approx(1e-6, rel=1e-12)
    assert edge(pm, "B", "C")["mean_h"] * H == pytest.approx(3e-3, rel=1e-12)


# ====================================================================== references on random logs
def random_log(seed: int, n_cases: int = 200, n_acts: int = 6, calendar=None,
               ties: bool = True) -> DossierLog:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 9, n_cases)
    case = np.repeat(np.arange(n_cases), k)
    acts = np.array([f"Bước {i}" for i in range(n_acts)], dtype=object)
    a = acts[rng.integers(0, n_acts, case.size)]
    base = pd.Timestamp("2024-01-02 08:00", tz=TZ).value
    step = rng.integers(0, 3 * 86400, case.size) * 1_000_000_000
    if ties:
        step[rng.random(case.size) < 0.2] = 0  # equal timestamps: file order must decide
    start_of = np.repeat(rng.integers(0, 300 * 86400, n_cases) * 1_000_000_000, k)
    t = start_of + base + pd.Series(step).groupby(case).cumsum().to_numpy()
    ev = pd.DataFrame({S.CASE: np.char.add("HS", case.astype(str)).astype(object),
                       S.ACTIVITY: a, S.TIMESTAMP: pd.to_datetime(t, utc=True).tz_convert(TZ)})
    ev = ev.sample(frac=1.0, random_state=seed)  # file order shuffled; the stable sort restores
    ev = ev.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    return DossierLog(events=ev, calendar=calendar if calendar is not None else continuous())


def python_reference(log: DossierLog):
    """Plain-Python DFG, start/end and variants (loops over dossiers: test oracle only)."""
    ev = log.events
    dfg, cases, start, end, var = Counter(), {}, Counter(), Counter(), Counter()
    w = log.working(S.TIMESTAMP)
    durs: dict = {}
    for cid, idx in ev.groupby(S.CASE, sort=False).indices.items():
        acts = ev[S.ACTIVITY].to_numpy()[idx].tolist()
        start[acts[0]] += 1
        end[acts[-1]] += 1
        var[tuple(acts)] += 1
        for i in range(1, len(acts)):
            key = (acts[i - 1], acts[i])
            dfg[key] += 1
            cases.setdefault(key, set()).add(cid)
            durs.setdefault(key, []).append(w[idx[i]] - w[idx[i - 1]])
    return dfg, {k: len(v) for k, v in cases.items()}, start, end, var, durs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_a_plain_python_reference(seed):
    log = random_log(seed, calendar=VietnamCalendar())
    dfg, cases, start, end, var, durs = python_reference(log)
    pm = tm.discover(log)
    assert pm.dfg_dict() == dict(dfg)
    got_cases = dict(zip(zip(pm.dfg["source"], pm.dfg["target"]), pm.dfg["cases"]))
    assert got_cases == cases
    assert dict(zip(pm.start_activities["activity"], pm.start_activities["count"])) == start
    assert dict(zip(pm.end_activities["activity"], pm.end_activities["count"])) == end
    for r in pm.dfg.itertuples(index=False):
        d = np.array(durs[(r.source, r.target)]) / H
        assert r.mean_h == pytest.approx(d.mean(), rel=1e-6, abs=1e-9)
        assert r.median_h == pytest.approx(np.median(d), rel=1e-9, abs=1e-9)
        assert r.p90_h == pytest.approx(np.quantile(d, 0.9), rel=1e-9, abs=1e-9)
        assert r.sum_h == pytest.approx(d.sum(), rel=1e-6, abs=1e-9)
    v = tm.variants(log)
    assert dict(zip(v["sequence"], v["count"])) == dict(var)
    assert v["count"].sum() == log.n_cases and v["share"].sum() == pytest.approx(1.0)


def test_activity_statistics_equal_pandas_groupby():
    log = random_log(5, calendar=VietnamCalendar())
    pm = tm.discover(log)
    ev = log.events.copy()
    w = log.working(S.TIMESTAMP)
    first = ev[S.CASE].ne(ev[S.CASE].shift())
    ev["wait_h"] = np.where(first, np.nan, (w - np.roll(w, 1)) / H)
    g = ev.groupby(S.ACTIVITY)
    ref = pd.DataFrame({"count": g.size(), "cases": g[S.CASE].nunique(),
                        "n_wait": g["wait_h"].count(), "wait_mean_h": g["wait_h"].mean(),
                        "wait_median_h": g["wait_h"].median(),
                        "wait_p90_h": g["wait_h"].quantile(0.9),
                        "wait_sum_h": g["wait_h"].sum()})
    got = pm.activities.set_index("activity").loc[ref.index, ref.columns]
    pd.testing.assert_frame_equal(got, ref, check_dtype=False, check_names=False,
                                  check_index_type=False, rtol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(["A", "B", "C", "Đ", "<x&y>"]), min_size=1, max_size=7),
                min_size=1, max_size=25),
       st.lists(st.integers(0, 5), min_size=1, max_size=200))
def test_counts_and_variants_equal_pm4py_on_random_logs(traces, gaps):
    import pm4py

    rows, t = [], pd.Timestamp("2024-01-01", tz="UTC")
    i = 0
    for c, tr in enumerate(traces):
        for a in tr:
            t = t + pd.Timedelta(minutes=gaps[i % len(gaps)])  # zero gaps make ties
            rows.append((f"case{c:03d}", a, t))
            i += 1
    ev = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.TIMESTAMP])
    log = DossierLog(events=ev.sort_values([S.CASE, S.TIMESTAMP], kind="stable")
                     .reset_index(drop=True), calendar=continuous())
    pm = tm.discover(log)
    df = log.to_pm4py()
    dfg, sa, ea = pm4py.discover_dfg(df.copy())
    assert pm.dfg_dict() == {k: int(v) for k, v in dfg.items()}
    assert dict(zip(pm.start_activities["activity"], pm.start_activities["count"])) == sa
    assert dict(zip(pm.end_activities["activity"], pm.end_activities["count"])) == ea
    pv = pm4py.get_variants(df.copy())
    v = tm.variants(log)
    assert dict(zip(v["sequence"], v["count"])) == {k: int(c) for k, c in pv.items()}
    if len(dfg):
        perf, _, _ = pm4py.discover_performance_dfg(df.copy())
        m = pm.dfg.set_index(["source", "target"])
        for k, stats in perf.items():
            assert m.loc[k, "mean_h"] * H == pytest.approx(stats["mean"], rel=1e-9, abs=1e-9)


# ====================================================================== group_stats kernel
@pytest.mark.parametrize("force_exact", [False, True])
def test_group_stats_against_numpy(monkeypatch, force_exact):
    rng = np.random.default_rng(3)
    n, G = 20_000, 37
    g = rng.integers(-1, G, n)
    v = rng.normal(0, 1e5, n) * rng.exponential(1, n)
    v[rng.random(n) < 0.05] = np.nan
    v[:50] = -0.0
    if force_exact:
        monkeypatch.setattr(D, "_KEY_BITS_MAX", 0)
    out = D.group_stats(g, v, G + 3, (0.5, 0.9, 0.0, 1.0))
    for k in range(G + 3):
        x = v[(g == k) & ~np.isnan(v)]
        assert out["n"][k] == x.size
        if x.size == 0:
            assert np.isnan(out["mean"][k]) and np.isnan(out["q50"][k]) and out["sum"][k] == 0
            continue
        assert out["sum"][k] == pytest.approx(x.sum(), rel=1e-12, abs=1e-6)
        assert out["mean"][k] == pytest.approx(x.mean(), rel=1e-12, abs=1e-9)
        for q, key in ((0.5, "q50"), (0.9, "q90"), (0.0, "q0"), (1.0, "q100")):
            assert out[key][k] == pytest.approx(np.quantile(x, q), rel=1e-10, abs=1e-12)


def test_group_stats_many_groups_and_edge_cases():
    g = np.array([5, 5, 5, 70_000, 70_000], dtype=np.int64)
    v = np.array([3.0, 1.0, 2.0, 1e-300, 1e300])
    out = D.group_stats(g, v, 70_001)
    assert out["q50"][5] == 2.0 and out["q90"][5] == pytest.approx(2.8)
    assert out["q50"][70_000] == pytest.approx(5e299, rel=1e-9)
    assert out["n"].sum() == 5 and np.isnan(out["q50"][0])
    empty = D.group_stats(np.zeros(0, np.int64), np.zeros(0), 0)
    assert empty["n"].size == 0 and empty["q50"].size == 0


# ====================================================================== variants
def test_variants_columns_order_and_agency_days():
    rows = []
    for c, day in enumerate([10, 11, 12, 13, 14, 17]):  # 4 x A-B-C, 2 x A-C (weekdays)
        seq = ["Tiếp nhận hồ sơ", "Thẩm định", "Trả kết quả"] if c < 4 else ["Tiếp nhận hồ sơ", "Trả kết quả"]
        for j, a in enumerate(seq):
            rows.append((f"c{c}", a, f"2025-03-{day:02d} {8 + 2 * j:02d}:00"))
    # a dossier with a supplement loop: the citizen holds it for 3 working days
    rows += [("s", "Tiếp nhận hồ sơ", "2025-03-03 08:00"),
             ("s", "Yêu cầu bổ sung hồ sơ", "2025-03-03 10:00"),   # agency 2 h
             ("s", "Nhận hồ sơ bổ sung", "2025-03-06 10:00"),      # citizen 3 days
             ("s", "Trả kết quả", "2025-03-06 14:00")]              # agency 1.5 + 0.5 = 2 h
    log = make_log(rows)
    add_role_column(log.events)
    v = tm.variants(log, case_ids=True)
    assert list(v.columns[:9]) == ["variant", "sequence", "label", "length", "count", "share",
                                   "cum_share", "median_agency_days", "median_total_days"]
    assert list(v["variant"]) == [1, 2, 3] and list(v["count"]) == [4, 2, 1]
    assert v.loc[0, "sequence"] == ("Tiếp nhận hồ sơ", "Thẩm định", "Trả kết quả")
    assert v.loc[0, "label"] == "Tiếp nhận hồ sơ → Thẩm định → Trả kết quả"
    assert v.loc[0, "median_agency_days"] == pytest.approx(3.5 / 8)  # 08:00-12:00, lunch from 11:30
    assert v.loc[1, "median_agency_days"] == pytest.approx(2 / 8)
    sup = v.loc[2]
    assert sup["median_agency_days"] == pytest.approx((2 + 2) / 8)  # citizen time excluded
    assert sup["median_total_days"] == pytest.approx((2 + 24 + 2) / 8)
    assert sorted(v.loc[1, "case_ids"]) == ["c4", "c5"] and v.loc[2, "case_ids"] == ["s"]
    assert v["cum_share"].iloc[-1] == pytest.approx(1.0)
    assert v.attrs == {"n_cases": 7, "n_variants": 3}
    top = tm.variants(log, top=1)
    assert len(top) == 1 and top.loc[0, "share"] == pytest.approx(4 / 7)
    with pytest.raises(ConfigError):
        tm.variants(log, top=0)


def test_variant_hash_collisions_are_detected(monkeypatch):
    log = random_log(11, n_cases=300, n_acts=4)
    ref = tm.variants(log)
    # base 1 makes the hash a plain sum of codes: permutations collide and must be re-hashed
    monkeypatch.setattr(D, "_BASES", ((1, 1),) + D._BASES)
    log2 = random_log(11, n_cases=300, n_acts=4)
    got = tm.variants(log2)
    assert dict(zip(got["sequence"], got["count"])) == dict(zip(ref["sequence"], ref["count"]))
    # and with only colliding bases the exact pandas fallback still gives the right answer
    monkeypatch.setattr(D, "_BASES", ((1, 1), (1, 1)))
    log3 = random_log(11, n_cases=300, n_acts=4)
    got = tm.variants(log3)
    assert dict(zip(got["sequence"], got["count"])) == dict(zip(ref["sequence"], ref["count"]))


# ====================================================================== filters and options
def test_min_share_hides_edges_and_says_so():
    log = random_log(7, n_cases=400, n_acts=8)
    full = tm.discover(log)
    pm = tm.discover(log, min_share=0.02)
    low = full.dfg[full.dfg["share"] < 0.02]
    assert len(pm.dfg) == len(full.dfg) - len(low) > 0
    assert (pm.dfg["share"] >= 0.02).all()
    assert pm.hidden["edges"] == len(low) and pm.hidden["transitions"] == low["count"].sum()
    assert pm.hidden["transition_share"] == pytest.approx(low["count"].sum() / full.n_transitions)
    assert pm.n_transitions == full.n_transitions and len(pm.activities) == len(full.activities)
    for bad in (1.0, -0.1, "x"):
        with pytest.raises(ConfigError):
            tm.discover(log, min_share=bad)


def test_top_variants_keeps_the_dossiers_of_the_most_frequent_variants():
    rows = []
    for c in range(10):
        seq = ["A", "B", "C"] if c < 6 else (["A", "C"] if c < 9 else ["A", "B", "B", "C"])
        for j, a in enumerate(seq):
            rows.append((f"c{c}", a, f"2025-03-10 {8 + j:02d}:00"))
    log = make_log(rows)
    pm = tm.discover(log, top_variants=2)
    assert pm.n_cases == 9 and pm.n_events == 6 * 3 + 3 * 2
    assert pm.hidden == {"top_variants": 2, "variants": 1, "cases": 1, "events": 4}
    assert ("B", "B") not in pm.dfg_dict()
    assert pm.dfg_dict() == {("A", "B"): 6, ("B", "C"): 6, ("A", "C"): 3}
    assert act_row(pm, "B")["count"] == 6
    assert list(pm.variants["count"]) == [6, 3]
    assert pm.variants["share"].tolist() == pytest.approx([0.6, 0.3])
    assert tm.discover(log, top_variants=50).hidden["variants"] == 0
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError):
            tm.discover(log, top_variants=bad)


def test_procedure_filter():
    rows = [("a1", "Nhận", "2025-03-10 08:00"), ("a1", "Duyệt", "2025-03-10 09:00"),
            ("b1", "Nhận", "2025-03-10 08:00"), ("b1", "Từ chối", "2025-03-10 10:00")]
    log = make_log(rows, **{S.PROCEDURE: ["P1", "P1", "P2", "P2"]})
    pm = tm.discover(log, procedure="P2")
    assert pm.dfg_dict() == {("Nhận", "Từ chối"): 1} and pm.procedure == "P2"
    assert pm.filters["procedure"] == "P2"
    assert dict(zip(tm.variants(log, procedure="P1")["sequence"], [1])) == {("Nhận", "Duyệt"): 1}
    with pytest.raises(ConfigError):
        tm.discover(log, procedure="P9")


def test_units_missing_names_and_empty_log():
    rows = [("c1", "A", "2025-03-10 08:00"), ("c1", None, "2025-03-10 09:00"),
            ("c1", "B", "2025-03-10 10:00"), ("c2", "A", "2025-03-10 08:00")]
    log = make_log(rows, **{S.GROUP: ["Một cửa", "Phòng X", "Phòng X", "Phòng Y"]})
    pm = tm.discover(log)
    unknown = D._MISSING_ACTIVITY
    assert pm.dfg_dict() == {("A", unknown): 1, (unknown, "B"): 1}  # nothing silently lost
    assert pm.activities["count"].sum() == 4
    assert act_row(pm, "A")["unit"] in ("Một cửa", "Phòng Y")
    assert act_row(pm, "B")["unit"] == "Phòng X"
    empty = DossierLog(events=pd.DataFrame({S.CASE: pd.Series([], dtype=object),
                                            S.ACTIVITY: pd.Series([], dtype=object),
                                            S.TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]")}))
    pe = tm.discover(empty)
    assert pe.n_cases == 0 and pe.dfg.empty and pe.activities.empty
    assert tm.variants(empty).empty
    assert "graphviz" in pe.to_dot() or "digraph" in pe.to_dot()


def test_process_map_api(small, monkeypatch):
    pm = tm.discover(small)
    d = json.loads(pm.to_json())
    assert d["n_cases"] == 3 and len(d["dfg"]) == len(pm.dfg)
    assert d["activities"][0]["activity"] == pm.activities["activity"].iloc[0]
    assert any(r["wait_mean_h"] is None for r in d["activities"])  # NaN -> null
    f = pm.to_frame()
    assert f.equals(pm.dfg) and f is not pm.dfg
    assert "ProcessMap" in repr(pm) and "3 dossiers" in repr(pm)
    assert isinstance(pm, tm.ProcessMap)
    v = pm.variants
    assert v is pm.variants and v["count"].sum() == 3
    monkeypatch.setenv("PATH", "/nonexistent")
    html = pm._repr_html_()
    assert "<table" in html and "dot" in html
    assert pm._repr_svg_() is None


def test_segments_are_shared_and_cached(small):
    from tthc_mining.segments import segments
    tm.discover(small)
    s = segments(small)
    tm.discover(small)
    tm.variants(small)
    assert segments(small) is s and "variant_index" in small._cache


def test_kernel_is_fast_on_a_large_log():
    """One million events: the kernel (segments already cached) well under a few seconds."""
    rng = np.random.default_rng(0)
    n_cases = 100_000
    k = 2 + rng.poisson(8, n_cases)
    case = np.repeat(np.arange(n_cases), k)
    t = pd.Series(rng.integers(0, 3600 * 40, case.size)).groupby(case).cumsum().to_numpy()
    ev = pd.DataFrame({S.CASE: case, S.ACTIVITY: rng.integers(0, 30, case.size).astype(str),
                       S.TIMESTAMP: pd.to_datetime(t * 1_000_000_000 + 1_700_000_000_000_000_000,
                                                   utc=True)})
    log = DossierLog(events=ev, calendar=continuous())
    from tthc_mining.segments import segments
    segments(log)
    t0 = time.perf_counter()
    pm = tm.discover(log)
    elapsed = time.perf_counter() - t0
    assert pm.n_events == case.size and pm.dfg["count"].sum() == case.size - n_cases
    assert elapsed < 6.0, elapsed


# ====================================================================== real logs vs pm4py
def load_real(path):
    """A DossierLog of a real XES file on the 24x7 calendar (read once per test process)."""
    return real_log(path, calendar="24x7")


REAL = {"road": "road_traffic_fine_management_process.xes.gz",
        "wabo": "wabo_receipt_phase_coselog.xes.gz",
        "bpic2012": "bpic2012_loan_application.xes.gz"}
EXPECTED = {"road": (150_370, 561_470, 231), "wabo": (1_434, 8_577, 116),
            "bpic2012": (13_087, 262_200, 4_366)}


@pytest.fixture(scope="module", params=sorted(REAL))
def real_case(request, real_dir):
    import pm4py
    name = request.param
    log = load_real(real_dir / REAL[name])
    assert not log.has_start  # the 1e-9 comparison is defined on logs read without a start key
    df = log.to_pm4py()
    dfg, sa, ea = pm4py.discover_dfg(df.copy())
    perf, _, _ = pm4py.discover_performance_dfg(df.copy())
    variants = pm4py.get_variants(df.copy())
    return name, log, dfg, sa, ea, perf, variants


@pytest.mark.real
def test_real_logs_equal_pm4py(real_case):
    name, log, dfg, sa, ea, perf, pvariants = real_case
    pm = tm.discover(log)
    n_cases, n_events, n_variants = EXPECTED[name]
    assert (pm.n_cases, pm.n_events) == (n_cases, n_events)
    assert pm.dfg_dict() == {k: int(v) for k, v in dfg.items()}  # counts exact
    assert dict(zip(pm.start_activities["activity"], pm.start_activities["count"])) == \
        {k: int(v) for k, v in sa.items()}
    assert dict(zip(pm.end_activities["activity"], pm.end_activities["count"])) == \
        {k: int(v) for k, v in ea.items()}
    m = pm.dfg.set_index(["source", "target"])
    assert set(perf) == set(m.index)
    worst = 0.0
    for k, s in perf.items():
        ours = m.loc[k, "mean_h"] * H
        if s["mean"] == 0:
            assert ours == 0.0, k
        else:
            worst = max(worst, abs(ours - s["mean"]) / abs(s["mean"]))
        assert m.loc[k, "sum_h"] * H == pytest.approx(s["sum"], rel=1e-9, abs=1e-9)
        assert m.loc[k, "median_h"] * H == pytest.approx(s["median"], rel=1e-9, abs=1e-9)
    assert worst <= 1e-9, (name, worst)
    v = tm.variants(log)
    assert len(v) == n_variants == len(pvariants)
    assert dict(zip(v["sequence"], v["count"])) == {k: int(c) for k, c in pvariants.items()}


@pytest.mark.real
def test_wabo_equals_pm4py_on_pm4py_own_reading(real_dir):
    """Independent of our reader: pm4py reads the file itself, we read it with ours."""
    import pm4py
    path = real_dir / REAL["wabo"]
    df = pm4py.read_xes(str(path), variant="line_by_line")
    dfg, sa, ea = pm4py.discover_dfg(df.copy())
    perf, _, _ = pm4py.discover_performance_dfg(df.copy())
    pm = tm.discover(load_real(path))
    assert pm.dfg_dict() == {k: int(v) for k, v in dfg.items()}
    m = pm.dfg.set_index(["source", "target"])
    for k, s in perf.items():
        assert m.loc[k, "mean_h"] * H == pytest.approx(s["mean"], rel=1e-9, abs=1e-12)
    assert dict(zip(pm.start_activities["activity"], pm.start_activities["count"])) == sa
    assert dict(zip(pm.end_activities["activity"], pm.end_activities["count"])) == ea


def test_powmod_table():
    e = np.array([0, 1, 2, 3, 5, 17, 100, 1023, 1024, 4097, 3], dtype=np.int64)
    for base, mod in ((911_382_323, D._M1), (998_244_353, D._M2), (1, 7), (3, 7)):
        assert D._powmod(base, e, mod).tolist() == [pow(base, int(x), mod) for x in e]
    assert D._powmod(5, np.zeros(0, np.int64), 7).size == 0


def test_with_start_times_equals_pm4py_explicit_start_rule():
    """Non-overlapping steps (so sorting by start or by end gives the same order): the edge
    time equals pm4py's get_dfg_graph with an explicit start key, max(start(B), end(A)) - end(A)."""
    from pm4py.algo.discovery.dfg.adapters.pandas.df_statistics import get_dfg_graph

    rng = np.random.default_rng(4)
    n_cases = 150
    k = rng.integers(2, 7, n_cases)
    case = np.repeat(np.arange(n_cases), k)
    gap = rng.integers(0, 5 * 3600, case.size)
    dur = rng.integers(60, 4 * 3600, case.size)
    end = pd.Series(gap + dur).groupby(case).cumsum().to_numpy() + 1_700_000_000
    start = end - dur
    ev = pd.DataFrame({S.CASE: np.char.add("c", case.astype(str)).astype(object),
                       S.ACTIVITY: np.array(list("ABCDE"), dtype=object)[rng.integers(0, 5, case.size)],
                       S.START: pd.to_datetime(start, unit="s", utc=True),
                       S.TIMESTAMP: pd.to_datetime(end, unit="s", utc=True)})
    log = DossierLog(events=ev.sort_values([S.CASE, S.TIMESTAMP], kind="stable")
                     .reset_index(drop=True), calendar=continuous())
    pm = tm.discover(log)
    ref = get_dfg_graph(log.to_pm4py(), measure="performance", start_timestamp_key=S.START,
                        timestamp_key=S.TIMESTAMP, perf_aggregation_key="mean")
    m = pm.dfg.set_index(["source", "target"])
    assert set(ref) == set(m.index)
    for key, mean_s in ref.items():
        assert m.loc[key, "mean_h"] * H == pytest.approx(mean_s, rel=1e-9, abs=1e-9)
    acts = pm.activities.set_index("activity")
    proc = (ev[S.TIMESTAMP] - ev[S.START]).dt.total_seconds().groupby(ev[S.ACTIVITY]).mean() / H
    assert acts.loc[proc.index, "proc_mean_h"].to_numpy() == pytest.approx(proc.to_numpy(), rel=1e-9)
