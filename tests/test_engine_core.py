"""Relational engine core (issue 7) on DuckDB: reading Parquet, the working-time axis, segments
and the process map, each equal to the pandas engine (counts exactly, durations within 1e-9
relative; the axis and the segments' durations exactly)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import WorkingCalendar, continuous, weekdays
from tthc_mining.errors import ConfigError, InputError, MissingColumnError
from tthc_mining.segments import segments as pd_segments

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from tthc_mining.engines import RelationalLog, from_log, read_parquet  # noqa: E402
from tthc_mining.engines.axis import calendar_frame, with_working_ns  # noqa: E402
from tthc_mining.engines.segments import FRAME_COLUMNS, segments_frame  # noqa: E402

RTOL = 1e-9


# ---------------------------------------------------------------- helpers
def assert_frames_equal(exp: pd.DataFrame, got: pd.DataFrame, *, exact_float: bool = False,
                        label: str = "") -> None:
    """Same columns, same rows in the same order: integers / text / booleans equal, floats
    within RTOL relative (or bit-identical with ``exact_float``), NaN where NaN."""
    assert list(got.columns) == list(exp.columns), label
    assert len(got) == len(exp), (label, len(got), len(exp))
    for c in exp.columns:
        a, b = exp[c], got[c]
        if pd.api.types.is_float_dtype(a.dtype) or pd.api.types.is_float_dtype(b.dtype):
            x = a.to_numpy(dtype=np.float64, na_value=np.nan)
            y = b.to_numpy(dtype=np.float64, na_value=np.nan)
            assert np.array_equal(np.isnan(x), np.isnan(y)), (label, c)
            ok = ~np.isnan(x)
            if exact_float:
                assert np.array_equal(x[ok], y[ok]), (label, c)
            else:
                np.testing.assert_allclose(y[ok], x[ok], rtol=RTOL, atol=0, err_msg=f"{label} {c}")
        else:
            xa = [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                  else v for v in a.astype(object).tolist()]
            xb = [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                  else v for v in b.astype(object).tolist()]
            if pd.api.types.is_integer_dtype(a.dtype) or pd.api.types.is_bool_dtype(a.dtype):
                xa = [None if v is None else int(v) for v in xa]
                xb = [None if v is None else int(v) for v in xb]
            assert xa == xb, (label, c, next(((i, p, q) for i, (p, q) in enumerate(zip(xa, xb))
                                              if p != q), None))


def _random_times(rng: np.random.Generator, n: int, tz: str | None) -> pd.Series:
    """Random instants 2023-2026 (µs resolution) plus awkward ones: office-slot edges, lunch,
    midnight, VN holidays, a make-up Saturday, both Amsterdam DST changes."""
    lo = pd.Timestamp("2023-01-01").value // 1000
    hi = pd.Timestamp("2026-12-31").value // 1000
    us = rng.integers(lo, hi, size=n)
    us[: n // 3] -= us[: n // 3] % 1_000_000       # a third on whole seconds
    special = pd.to_datetime([
        "2025-01-28 10:00", "2025-01-29 07:00", "2025-04-30 11:30", "2025-05-01 12:00",
        "2025-09-02 16:59:59.999999", "2026-08-22 09:00", "2026-08-22 17:00", "2024-03-31 01:59:59",
        "2024-03-31 03:00:00", "2024-10-27 02:30:00", "2024-10-27 01:59:59.5", "2025-03-30 02:00",
        "2025-10-26 02:00", "2025-10-26 03:00", "2026-01-01 00:00", "2025-12-31 23:59:59",
        "2025-06-02 07:00", "2025-06-02 13:30", "2025-06-02 17:00", "2025-06-07 10:00"],
        format="ISO8601")
    vals = pd.to_datetime(us * 1000).as_unit("ns")
    vals = pd.DatetimeIndex(np.concatenate([vals.to_numpy(), special.as_unit("ns").to_numpy()]))
    if tz is not None:
        # wall clock -> aware; non-existent / ambiguous local times shift / take the DST side
        vals = vals.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    return pd.Series(vals)


def _axis_log(cal: WorkingCalendar, tz: str | None, seed: int, n: int = 3000) -> tm.DossierLog:
    rng = np.random.default_rng(seed)
    end = _random_times(rng, n, tz)
    start = _random_times(rng, n, tz).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    start[rng.random(len(start)) < 0.1] = pd.NaT
    ev = pd.DataFrame({S.CASE: [f"c{i % 97:03d}" for i in range(len(end))],
                       S.ACTIVITY: "step", S.TIMESTAMP: end, S.START: start})
    return tm.DossierLog(events=ev, calendar=cal)


CALENDARS = {
    "vn": (lambda: tm.VietnamCalendar(makeup_workdays=["2026-08-22"]), "Asia/Ho_Chi_Minh"),
    "amsterdam_dst": (lambda: weekdays(tz="Europe/Amsterdam"), "Europe/Amsterdam"),
    "amsterdam_vn_hours": (lambda: WorkingCalendar(tz="Europe/Amsterdam", holidays=None,
                                                   extra_days_off=["2025-06-04"]), "UTC"),
    "24x7": (continuous, "UTC"),
    "naive_vn": (tm.VietnamCalendar, None),
}


@pytest.fixture(scope="module")
def duck():
    from tthc_mining.engines import connect
    return connect("duckdb")


# ---------------------------------------------------------------- the working-time axis
@pytest.mark.parametrize("name", list(CALENDARS))
@pytest.mark.parametrize("seed", [0, 1])
def test_axis_equals_to_working_ns(name, seed, duck):
    make, tz = CALENDARS[name]
    cal = make()
    log = _axis_log(cal, tz, seed)
    rlog = from_log(log, "duckdb", con=duck)
    if tz is None:
        assert {S.TIMESTAMP, S.START} <= rlog.naive_columns
    t = with_working_ns(rlog, rlog.events, {"we": S.TIMESTAMP, "ws": S.START})
    got = t.order_by(S.ROW).select(S.ROW, "we", "ws").to_pyarrow().to_pandas(
        types_mapper={__import__("pyarrow").int64(): pd.Int64Dtype()}.get)
    ev = log.events
    exp_e = cal.to_working_ns(ev[S.TIMESTAMP])
    exp_s = cal.to_working_ns(ev[S.START])
    assert np.array_equal(got[S.ROW].to_numpy(), np.arange(1, len(ev) + 1))
    assert np.array_equal(got["we"].to_numpy(np.int64), exp_e)
    nat = exp_s == np.iinfo(np.int64).min
    assert nat.sum() > 0 and got["ws"].isna().to_numpy().tolist() == nat.tolist()
    assert np.array_equal(got["ws"][~nat].to_numpy(np.int64), exp_s[~nat])
    assert got["we"].notna().all()


def test_axis_hypothesis(duck):
    """Hypothesis: any instants (µs) between 1990 and 2040, on the Vietnamese calendar with a
    make-up Saturday and on an Amsterdam (DST) calendar, equal ``to_working_ns``."""
    from hypothesis import given, settings, strategies as st

    lo = pd.Timestamp("1990-01-01").value // 1000
    hi = pd.Timestamp("2040-12-31").value // 1000
    cals = [tm.VietnamCalendar(makeup_workdays=["2026-08-22"]),
            WorkingCalendar(tz="Europe/Amsterdam", holidays=None)]

    @settings(max_examples=12, deadline=None, derandomize=True)
    @given(st.lists(st.integers(lo, hi), min_size=1, max_size=40), st.sampled_from([0, 1]))
    def check(us, which):
        cal = cals[which]
        ts = pd.Series(pd.to_datetime(np.array(us, dtype=np.int64) * 1000, utc=True))
        ev = pd.DataFrame({S.CASE: "c", S.ACTIVITY: "a", S.TIMESTAMP: ts})
        rlog = from_log(tm.DossierLog(events=ev, calendar=cal), "duckdb", con=duck)
        got = with_working_ns(rlog, rlog.events, {"w": S.TIMESTAMP}).order_by(S.ROW)
        got = got.select("w").to_pyarrow().column("w").to_numpy()
        assert np.array_equal(got, cal.to_working_ns(ts))

    check()


def test_calendar_frame_is_the_day_table():
    cal = tm.VietnamCalendar()
    d0 = pd.Timestamp("2025-01-01").value // 86_400_000_000_000
    f = calendar_frame(cal, d0, d0 + 400)
    L = 8 * 3600 * 10**9
    # 2025-01-01 is a holiday, 2025-01-02 a Thursday: one working day between them
    assert f["tm:working"].iloc[0] == 0 and f["tm:working"].iloc[1] == 1
    assert f["tm:base_ns"].iloc[2] - f["tm:base_ns"].iloc[1] == L
    assert (np.diff(f["tm:base_ns"].to_numpy()) == L * f["tm:working"].to_numpy()[:-1]).all()


# ---------------------------------------------------------------- reading
@pytest.fixture(scope="module")
def province_parquet(tmp_path_factory):
    """Synthetic provinces written as canonical Parquet, and their pandas-engine reads."""
    out = {}
    d = tmp_path_factory.mktemp("prov")
    for seed in (3, 11):
        log, _ = tm.synth.province(2000, seed=seed)
        path = d / f"province_{seed}.parquet"
        tm.write_log(log, path)
        out[seed] = (path, tm.read_log(path))
    return out


def test_read_log_engine_duckdb(province_parquet):
    path, plog = province_parquet[3]
    rlog = tm.read_log(str(path), engine="duckdb")
    assert isinstance(rlog, RelationalLog) and rlog.backend == "duckdb"
    assert rlog.n_events() == plog.n_events and rlog.n_cases() == plog.n_cases
    assert rlog.quality.rows_read == plog.quality.rows_read and rlog.quality.rows_dropped == 0
    assert set(rlog.roles["role"]) <= set(S.ROLES)
    # roles on the distinct activities equal the pandas reader's
    exp = plog.events.drop_duplicates(S.ACTIVITY)[[S.ACTIVITY, S.ROLE]].astype(str)
    got = dict(zip(rlog.roles["activity"], rlog.roles["role"]))
    assert all(got[a] == r for a, r in zip(exp[S.ACTIVITY], exp[S.ROLE]))
    # tm:row is the pandas reader's source row number
    head = rlog.to_pandas(limit=50)
    assert head[S.ROW].tolist() == plog.events[S.ROW].head(50).tolist()
    assert "duckdb" in repr(rlog) and "RelationalLog" in rlog._repr_html_()


def test_read_errors(tmp_path, province_parquet):
    with pytest.raises(InputError, match="file not found"):
        read_parquet(tmp_path / "nope.parquet")
    with pytest.raises(InputError, match="no file matches"):
        read_parquet(str(tmp_path / "nope*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .parquet file"):
        read_parquet(tmp_path / "empty")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="bad.parquet"):
        read_parquet(bad)
    path, plog = province_parquet[3]
    df = pd.read_parquet(path).drop(columns=[S.ACTIVITY])
    df.to_parquet(tmp_path / "noact.parquet")
    with pytest.raises(MissingColumnError) as ei:
        read_parquet(tmp_path / "noact.parquet")
    assert "noact.parquet" in str(ei.value) and S.ACTIVITY in str(ei.value)
    df = pd.read_parquet(path)
    df[S.TIMESTAMP] = df[S.TIMESTAMP].astype(str)
    df.to_parquet(tmp_path / "textts.parquet")
    with pytest.raises(InputError) as ei:
        read_parquet(tmp_path / "textts.parquet")
    assert ei.value.column == S.TIMESTAMP and "textts.parquet" in str(ei.value)
    with pytest.raises(ConfigError, match="engine"):
        tm.read_log(path, engine="sqlite")
    with pytest.raises(ConfigError, match="pandas. only"):
        tm.read_log(path, engine="duckdb", columns={"case": "x"})


def test_dropped_rows_are_counted(tmp_path, province_parquet):
    path, plog = province_parquet[3]
    df = pd.read_parquet(path)
    df[S.CASE] = df[S.CASE].astype(object)
    df[S.ACTIVITY] = df[S.ACTIVITY].astype(object)
    df.loc[[5, 9], S.CASE] = None
    df.loc[[7], S.ACTIVITY] = "  "
    df.loc[[11, 12, 13], S.TIMESTAMP] = pd.NaT
    df.to_parquet(tmp_path / "holes.parquet")
    exp = tm.read_log(tmp_path / "holes.parquet")
    rlog = read_parquet(tmp_path / "holes.parquet")
    q = rlog.quality
    assert q.rows_read == len(df) and q.rows_dropped == 6
    assert q.count("missing_case_id") == 2 and q.count("missing_activity") == 1
    assert q.count("missing_timestamp") == 3
    for reason in ("missing_case_id", "missing_activity", "missing_timestamp"):
        assert q.count(reason) == exp.quality.count(reason)
        ex = next(i for i in q.issues if i.reason == reason).examples
        assert ex == next(i for i in exp.quality.issues if i.reason == reason).examples
    assert rlog.n_events() == exp.n_events


# ---------------------------------------------------------------- segments
@pytest.mark.parametrize("seed", [3, 11])
def test_segments_equal_pandas(seed, province_parquet):
    path, plog = province_parquet[seed]
    exp = pd_segments(plog).to_frame()
    got = segments_frame(read_parquet(path))
    assert list(got.columns) == FRAME_COLUMNS
    assert_frames_equal(exp, got, exact_float=True, label=f"segments seed {seed}")
    assert set(got["owner"]) == {"agency", "citizen", "third_party"}


def test_segments_from_log_equal_pandas(duck):
    log, _ = tm.synth.province(600, seed=5)
    exp = pd_segments(log).to_frame()
    got = segments_frame(from_log(log, "duckdb", con=duck))
    assert_frames_equal(exp, got, exact_float=True, label="from_log")


def test_partitions_in_file_order(tmp_path, province_parquet):
    """A directory of partitions (unsorted rows, ties in time) equals the pandas engine on the
    concatenation of the files in path order."""
    path, _ = province_parquet[11]
    df = pd.read_parquet(path)
    rng = np.random.default_rng(0)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    # ties: some events of a dossier at the same end time as their predecessor
    tie = rng.random(len(df)) < 0.05
    df.loc[tie, S.TIMESTAMP] = df[S.TIMESTAMP].dt.floor("D")[tie]
    d = tmp_path / "parts"
    d.mkdir()
    bounds = np.linspace(0, len(df), 5).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        df.iloc[a:b].to_parquet(d / f"part-{i:03d}.parquet")
    whole = tmp_path / "whole.parquet"
    df.to_parquet(whole)
    plog = tm.read_log(whole)
    assert plog.quality.count("out_of_order") > 0
    for src in (d, str(d / "*.parquet"), sorted(d.glob("*.parquet"))):
        rlog = tm.read_log(src, engine="duckdb")
        assert rlog.n_events() == plog.n_events
        assert_frames_equal(pd_segments(plog).to_frame(), segments_frame(rlog), exact_float=True,
                            label=f"partitions {type(src).__name__}")


# ---------------------------------------------------------------- the process map
def assert_maps_equal(exp, got, label: str = "") -> None:
    for name in ("dfg", "activities", "start_activities", "end_activities"):
        assert_frames_equal(getattr(exp, name), getattr(got, name), label=f"{label} {name}")
    assert (got.n_cases, got.n_events, got.n_transitions) == \
        (exp.n_cases, exp.n_events, exp.n_transitions), label
    assert got.hidden == exp.hidden and list(got.hidden) == list(exp.hidden), label
    assert got.filters == exp.filters and got.calendar == exp.calendar, label


@pytest.mark.parametrize("seed", [3, 11])
def test_discover_equals_pandas(seed, province_parquet):
    path, plog = province_parquet[seed]
    rlog = tm.read_log(path, engine="duckdb")
    proc = str(plog.events[S.PROCEDURE].iloc[0])
    for kw in ({}, {"min_share": 0.01}, {"top_variants": 4}, {"procedure": proc},
               {"procedure": proc, "top_variants": 2, "min_share": 0.05}):
        exp, got = tm.discover(plog, **kw), tm.discover(rlog, **kw)
        assert_maps_equal(exp, got, label=f"seed {seed} {kw}")
        assert "dfg" in got.to_json() and got.dfg_dict() == exp.dfg_dict()
    pm = tm.discover(rlog, top_variants=3)
    assert_frames_equal(tm.variants(plog, top=3), pm.variants, label="map variants")
    for kw in ({}, {"top": 7, "case_ids": True}, {"procedure": proc}):
        exp, got = tm.variants(plog, **kw), tm.variants(rlog, **kw)
        assert_frames_equal(exp, got, label=f"variants {kw}")
        assert got.attrs == exp.attrs
    with pytest.raises(ConfigError, match="unknown procedure"):
        tm.discover(rlog, procedure="no-such-procedure")
    with pytest.raises(ConfigError, match="min_share"):
        tm.discover(rlog, min_share=1.5)


def test_discover_unit_ties_and_no_start(duck):
    """Tied dominant units break by first appearance; a log without start times."""
    ev = pd.DataFrame({
        S.CASE: ["a", "a", "a", "b", "b", "c"],
        S.ACTIVITY: ["x", "y", "x", "x", "y", "y"],
        S.TIMESTAMP: pd.to_datetime(["2025-03-03 08:00", "2025-03-03 09:00", "2025-03-04 10:00",
                                     "2025-03-03 08:30", "2025-03-05 16:00",
                                     "2025-03-06 08:00"]).tz_localize("Asia/Ho_Chi_Minh"),
        S.GROUP: ["U2", "U1", "U1", "U2", "U2", "U1"],
    })
    log = tm.DossierLog(events=ev)
    got = tm.discover(from_log(log, "duckdb", con=duck))
    exp = tm.discover(log)
    assert_maps_equal(exp, got, label="ties")
    assert got.activities.set_index("activity")["unit"].to_dict() == {"x": "U2", "y": "U1"}
    assert got.activities["n_proc"].eq(0).all() and got.activities["proc_sum_h"].eq(0).all()


# ---------------------------------------------------------------- real logs
def _real_files():
    from conftest import find_real_dir
    real = find_real_dir()
    if real is None:
        return [pytest.param("absent", marks=pytest.mark.skip(reason="real logs not found"))]
    names = [str(p.relative_to(real)) for p in sorted(real.rglob("*"))
             if p.name.endswith((".xes.gz", ".csv.gz"))]
    big = {"road_traffic_fine_management_process.xes.gz", "bpic2012_loan_application.xes.gz",
           "bpic2020_bptlab_cleaned/InternationalDeclarations.xes.gz",
           "bpic2020_bptlab_cleaned/PermitLog.xes.gz"}
    return [pytest.param(n, marks=[pytest.mark.real] + ([pytest.mark.slow] if n in big else []))
            for n in names]


@pytest.mark.parametrize("name", _real_files())
def test_real_logs_equal_pandas(name, real_dir, tmp_path):
    """Each real log, read by the pandas reader and written as canonical Parquet: the DuckDB
    engine's segments, map and variants on that file equal the pandas engine's on the log."""
    from conftest import real_log
    plog = real_log(real_dir / name, calendar="VN")
    path = tmp_path / "real.parquet"
    tm.write_log(plog, path)
    rlog = tm.read_log(path, engine="duckdb")
    assert rlog.n_events() == plog.n_events and rlog.n_cases() == plog.n_cases
    assert_frames_equal(pd_segments(plog).to_frame(), segments_frame(rlog), exact_float=True,
                        label=name)
    assert_maps_equal(tm.discover(plog), tm.discover(rlog), label=name)
    assert_frames_equal(tm.variants(plog, top=20), tm.variants(rlog, top=20), label=name)


@pytest.mark.real
def test_real_log_dst_calendar(real_dir, tmp_path):
    """A Dutch log on an Amsterdam office calendar: offsets from the per-hour table (two DST
    changes a year inside the data range) give the pandas engine's segments exactly."""
    from conftest import real_log
    src = real_log(real_dir / "wabo_receipt_phase_coselog.xes.gz", calendar="VN")
    path = tmp_path / "wabo.parquet"
    tm.write_log(src, path)
    cal = weekdays(tz="Europe/Amsterdam")
    plog = tm.DossierLog(events=src.events, quality=src.quality, calendar=cal, source=src.source)
    rlog = tm.read_log(path, engine="duckdb", calendar=cal)
    assert_frames_equal(pd_segments(plog).to_frame(), segments_frame(rlog), exact_float=True,
                        label="wabo DST")
    assert_maps_equal(tm.discover(plog), tm.discover(rlog), label="wabo DST")


def test_naive_timestamps_are_local_wall_clock(tmp_path, province_parquet):
    """Parquet timestamps without a time zone are the calendar's wall clock (as the pandas
    reader takes them): same segments."""
    path, _ = province_parquet[3]
    df = pd.read_parquet(path)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_localize(None)
    df = df.iloc[:3000]
    df.to_parquet(tmp_path / "naive.parquet")
    plog = tm.read_log(tmp_path / "naive.parquet")
    rlog = tm.read_log(tmp_path / "naive.parquet", engine="duckdb")
    assert {S.TIMESTAMP, S.START} <= rlog.naive_columns
    assert_frames_equal(pd_segments(plog).to_frame(), segments_frame(rlog), exact_float=True,
                        label="naive")
