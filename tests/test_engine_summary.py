"""The relational timing and summary (DuckDB, Spark) equal the pandas engine: every column of
``tm.timing(log).cases`` and every table of ``tm.summary`` — counts exactly, durations within
1e-9 relative (the pandas engine keeps the working axis in float seconds, the relational one in
int64 ns), instants within a microsecond — on the synthetic province (deadlines from the
catalogue, receipts after 15:00, Tết and other holidays, make-up Saturdays, supplements with the
reported due restarted, open dossiers as of a date, a DST-zone calendar) and on real logs."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar, WorkingCalendar

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from tthc_mining.engines import connect, from_log  # noqa: E402
from tthc_mining.engines.timing import RelationalTiming, fdiv, overdue_cases  # noqa: E402

AS_OF = "2025-06-16 10:30"


# ---------------------------------------------------------------- comparison helpers
def assert_cases_equal(exp: pd.DataFrame, got: pd.DataFrame, label: str = "") -> None:
    """``Timing.cases`` of both engines: same dossiers (in id order), same columns; text,
    flags, statuses and counts exactly; instants within 1 µs; working days within 1e-9
    relative (1e-10 days absolute)."""
    assert list(got.columns) == list(exp.columns), label
    exp = exp.sort_values(S.CASE, kind="stable").reset_index(drop=True)
    assert got[S.CASE].astype(str).tolist() == exp[S.CASE].astype(str).tolist(), label
    for c in exp.columns:
        a, b = exp[c], got[c]
        if pd.api.types.is_datetime64_any_dtype(a.dtype):
            assert str(a.dt.tz) == str(b.dt.tz), (label, c)
            na, nb = a.isna().to_numpy(), b.isna().to_numpy()
            assert (na == nb).all(), (label, c, int((na != nb).sum()))
            ai = a.dt.tz_convert("UTC").array.as_unit("ns").asi8[~na]
            bi = b.dt.tz_convert("UTC").array.as_unit("ns").asi8[~nb]
            diff = np.abs(ai - bi)
            assert (diff <= 1_000).all(), (label, c, a[~na][diff > 1_000].head(3).tolist(),
                                            b[~nb][diff > 1_000].head(3).tolist())
        elif a.dtype.kind == "f":
            x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
            ok = np.isclose(x, y, rtol=1e-9, atol=1e-10) | (np.isnan(x) & np.isnan(y))
            assert ok.all(), (label, c, x[~ok][:3], y[~ok][:3])
        else:
            x = a.astype(object).where(a.notna(), None).tolist()
            y = b.astype(object).where(b.notna(), None).tolist()
            bad = [i for i, (u, v) in enumerate(zip(x, y)) if u != v]
            assert not bad, (label, c, [(x[i], y[i]) for i in bad[:3]])


def assert_kpis_equal(exp: pd.DataFrame | pd.Series, got: pd.DataFrame | pd.Series,
                      label: str = "") -> None:
    if isinstance(exp, pd.Series):
        exp, got = exp.to_frame().T, got.to_frame().T
    assert list(got.columns) == list(exp.columns), label
    assert [None if pd.isna(k) else k for k in got.index] == \
        [None if pd.isna(k) else k for k in exp.index], label
    for c in exp.columns:
        x, y = exp[c].to_numpy(), got[c].to_numpy()
        if x.dtype.kind in "iu":
            assert y.dtype.kind in "iu" and (x == y).all(), (label, c)
        elif x.dtype.kind == "f":
            x, y = x.astype(np.float64), y.astype(np.float64)
            ok = np.isclose(x, y, rtol=1e-9, atol=0) | (np.isnan(x) & np.isnan(y))
            assert ok.all(), (label, c, x[~ok][:3], y[~ok][:3])
        else:
            assert [None if pd.isna(v) else v for v in x] == \
                [None if pd.isna(v) else v for v in y], (label, c)


def assert_summaries_equal(exp, got, label: str = "") -> None:
    for name in ("overall", "by_procedure", "by_unit", "by_month"):
        assert_kpis_equal(getattr(exp, name), getattr(got, name), f"{label} {name}")
    assert got.as_of == exp.as_of and got.period == exp.period
    assert got.notes == exp.notes, label
    assert got.text("vi") == exp.text("vi") and got.text("en") == exp.text("en")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def duck():
    return connect("duckdb")


@pytest.fixture(scope="module", params=[1, 2])
def province(request, tmp_path_factory, duck):
    """The synthetic province (2,000 dossiers) as canonical Parquet: its pandas read and its
    DuckDB read, plus the bundled catalogue of the synthetic procedures."""
    prov = tm.synth.province(2000, seed=request.param)
    path = tmp_path_factory.mktemp("h3") / "province.parquet"
    tm.write_log(prov.log, path)
    return (tm.read_log(path), tm.read_log(path, engine="duckdb", con=duck), prov.catalog,
            request.param)


# ---------------------------------------------------------------- the synthetic province
def test_timing_equals_pandas_as_of(province):
    plog, rlog, catalog, seed = province
    exp = tm.timing(plog, catalog=catalog, as_of=AS_OF).cases
    rt = tm.timing(rlog, catalog=catalog, as_of=AS_OF)
    assert isinstance(rt, RelationalTiming)
    got = rt.to_pandas()
    assert_cases_equal(exp, got, f"seed {seed}")
    # the data exercise the rules: open dossiers of every kind, receipts after the cut-off,
    # supplements, both deadline units, received after as_of
    st = exp["status"].value_counts()
    assert st["in_progress"] > 0 and st["suspended"] > 0 and st["early"] > 0
    assert (st["overdue"] + st["in_progress_overdue"]) > 0
    assert exp["status"].isna().sum() > 0
    assert (exp["clock_start"] > exp["received"]).sum() > 50
    assert exp["n_supplement_received"].gt(0).sum() > 20
    assert set(exp["deadline_unit"].dropna()) == {"working", "calendar"}
    # counts in the engine
    assert rt.status_counts().equals(
        exp["status"].value_counts().reindex(list(tm.timing.STATUSES), fill_value=0))
    assert rt.status_counts("status_actual").sum() == exp["status_actual"].notna().sum()


def test_default_as_of_equals_pandas(province):
    """As of the log's last event (one seed: every dossier closed), timing, summary and the
    overdue flags of engines.bottlenecks."""
    plog, rlog, catalog, seed = province
    if seed != 1:
        pytest.skip("the default as_of is checked on seed 1 only (test time)")
    exp = tm.timing(plog, catalog=catalog).cases
    got = tm.timing(rlog, catalog=catalog).to_pandas()
    assert_cases_equal(exp, got, f"seed {seed} default as_of")
    assert_summaries_equal(tm.summary(plog, catalog=catalog), tm.summary(rlog, catalog=catalog),
                           f"seed {seed} all")
    tim = tm.timing(plog, catalog=catalog)
    flags = pd.Series(tim.case_arrays["overdue_actual"], index=tim.cases[S.CASE].astype(str))
    od = overdue_cases(rlog, catalog=catalog)
    got_flags = od.table.to_pandas().set_index(S.CASE)["overdue"]
    got_flags.index = got_flags.index.astype(str)
    assert got_flags.sort_index().astype(bool).equals(flags.sort_index().astype(bool))
    assert flags.sum() > 0


def test_summary_equals_pandas(province):
    plog, rlog, catalog, seed = province
    exp = tm.summary(plog, AS_OF, catalog=catalog, period=("2025-04-01", "2025-06-16"))
    got = tm.summary(rlog, AS_OF, catalog=catalog, period=("2025-04-01", "2025-06-16"))
    assert_summaries_equal(exp, got, f"seed {seed}")
    assert exp.overall["received"] > 300
    assert exp.overall["in_progress"] + exp.overall["suspended"] + exp.overall["in_progress_overdue"] > 0
    assert "procedure_name" in got.by_procedure.columns
    json.loads(got.to_json())


def _hand_log() -> tm.DossierLog:
    """Dossiers chosen at the edges of the rules: receipts before/after 15:00 on the eve of Tết
    2025, on a make-up Saturday and a decreed day off, a supplement loop without an exported due
    date (reported due restarted), a suspension, a withdrawal, a refusal, an open dossier held
    by the citizen, a same-day and a calendar-day deadline."""
    rows = []

    def d(case, proc, *steps):
        for act, ts in steps:
            rows.append({S.CASE: case, S.ACTIVITY: act, S.TIMESTAMP: pd.Timestamp(ts),
                         S.GROUP: "Một cửa" if "nhận" in act or "Trả" in act else "Phòng A",
                         S.PROCEDURE: proc, S.CHANNEL: "online" if case.endswith("1") else "direct"})

    d("A1", "P10", ("Tiếp nhận hồ sơ", "2025-01-24 14:59"), ("Thẩm định", "2025-02-04 09:00"),
      ("Kết thúc xử lý", "2025-02-06 10:00"), ("Trả kết quả", "2025-02-07 08:00"))
    d("A2", "P10", ("Tiếp nhận hồ sơ", "2025-01-24 15:01"), ("Thẩm định", "2025-02-05 09:00"),
      ("Kết thúc xử lý", "2025-02-12 16:00"))
    d("B1", "P3", ("Tiếp nhận hồ sơ", "2025-03-15 16:30"), ("Yêu cầu bổ sung hồ sơ", "2025-03-17 08:00"),
      ("Nhận hồ sơ bổ sung", "2025-03-24 10:00"), ("Yêu cầu bổ sung hồ sơ", "2025-03-25 10:00"),
      ("Nhận hồ sơ bổ sung", "2025-03-27 11:15"), ("Kết thúc xử lý", "2025-03-31 09:00"))
    d("B2", "P0", ("Tiếp nhận hồ sơ", "2025-03-14 15:30"), ("Kết thúc xử lý", "2025-03-17 07:30"))
    d("C1", "PC", ("Tiếp nhận hồ sơ", "2025-04-28 10:00"), ("Tạm dừng xử lý", "2025-04-29 10:00"),
      ("Tiếp tục xử lý", "2025-05-06 10:00"), ("Kết thúc xử lý", "2025-05-20 10:00"))
    d("D1", "P10", ("Tiếp nhận hồ sơ", "2025-05-05 08:00"), ("Công dân rút hồ sơ", "2025-05-06 09:00"))
    d("D2", "P3", ("Tiếp nhận hồ sơ", "2025-05-05 08:00"), ("Từ chối giải quyết", "2025-05-12 09:00"))
    d("E1", "P10", ("Tiếp nhận hồ sơ", "2025-05-26 11:00"), ("Yêu cầu bổ sung hồ sơ", "2025-05-27 09:00"))
    d("E2", "PX", ("Tiếp nhận hồ sơ", "2025-05-26 11:00"), ("Thẩm định", "2025-05-28 09:00"))
    d("F1", "P10", ("Tiếp nhận hồ sơ", "2025-05-07 08:00"), ("Thẩm định", "2025-05-07 09:00"),
      ("Trả kết quả", "2025-05-07 10:00"))              # 1 h at each unit: a tie
    ev = pd.DataFrame(rows)
    ev[S.TIMESTAMP] = ev[S.TIMESTAMP].dt.tz_localize("Asia/Ho_Chi_Minh")
    ev = ev.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    cal = VietnamCalendar(extra_days_off=["2025-03-17"], makeup_workdays=["2025-03-15"])
    cat = tm.ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["P10", "P3", "P0", "PC"], "name": ["Mười ngày", "Ba ngày", "Trong ngày", "Lịch"],
        "level": "tinh", "deadline_days": [10, 3, 0, 15],
        "deadline_unit": ["working", "working", "working", "calendar"]}))
    return tm.DossierLog(events=ev, calendar=cal, catalog=cat, source="edges")


def test_edge_rules_equal_pandas(duck, tmp_path):
    log = _hand_log()
    rlog = from_log(log, "duckdb", con=duck)
    for as_of in (None, "2025-05-27 12:00"):
        exp = tm.timing(log, as_of=as_of).cases
        got = tm.timing(rlog, as_of=as_of).to_pandas()
        assert_cases_equal(exp, got, f"edges as of {as_of}")
        assert_summaries_equal(tm.summary(log, as_of), tm.summary(rlog, as_of), "edges")
    # the same log through Parquet (unit ties broken by first appearance, not the pandas codes)
    path = tmp_path / "edges.parquet"
    tm.write_log(log, path)
    plog = tm.read_log(path, calendar=log.calendar, catalog=log.catalog)
    rlog2 = tm.read_log(path, engine="duckdb", con=duck, calendar=log.calendar,
                        catalog=log.catalog)
    assert_cases_equal(tm.timing(plog).cases, tm.timing(rlog2).to_pandas(), "edges parquet")
    exp = tm.timing(log, as_of="2025-05-27 12:00").cases.set_index(S.CASE)
    assert exp.loc["F1", "unit"] == "Một cửa"                                 # tie -> first unit
    # the rules really were exercised
    assert exp.loc["A2", "clock_start"] > exp.loc["A1", "clock_start"]        # 15:00 cut-off
    assert exp.loc["B1", "reported_due"] > exp.loc["B1", "statutory_due"]      # restart
    assert exp.loc["E1", "status"] == "suspended" and exp.loc["E2", "status"] == "in_progress"
    assert exp.loc["D1", "status"] == "withdrawn" and exp.loc["D2", "status"] == "refused"
    assert exp.loc["C1", "third_party_days"] > 0 and exp.loc["C1", "deadline_unit"] == "calendar"


def test_role_overrides_and_dst_calendar(duck, tmp_path):
    """Role mappings passed to tm.timing and a calendar in a DST zone (offsets per hour)."""
    prov = tm.synth.province(600, seed=5)
    cal = WorkingCalendar(tz="Europe/Amsterdam", holidays="NL")
    path = tmp_path / "p.parquet"
    tm.write_log(prov.log, path)
    plog = tm.read_log(path, calendar=cal)
    rlog = tm.read_log(path, engine="duckdb", con=duck, calendar=cal)
    roles = {"Thẩm định hồ sơ": "suspended", "Phê duyệt": "resumed"}
    exp = tm.timing(plog, catalog=prov.catalog, as_of="2025-04-01", roles=roles).cases
    got = tm.timing(rlog, catalog=prov.catalog, as_of="2025-04-01", roles=roles).to_pandas()
    assert_cases_equal(exp, got, "DST + roles")
    assert exp["n_suspensions"].sum() > 0


def test_catalog_without_the_log_procedures(duck):
    """A catalogue that knows none of the log's procedures: deadlines from the exported due
    dates, the same note as the pandas engine."""
    prov = tm.synth.province(300, seed=6)
    other = tm.ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["9.999"], "name": ["Khác"], "level": "tinh", "deadline_days": [5],
        "deadline_unit": ["working"]}))
    rlog = from_log(prov.log, "duckdb", con=duck)
    exp = tm.timing(prov.log, catalog=other)
    got = tm.timing(rlog, catalog=other)
    assert_cases_equal(exp.cases, got.to_pandas(), "foreign catalogue")
    assert got.notes == exp.notes and any("not in the catalogue" in n for n in got.notes)
    assert set(exp.cases["due_source"].dropna()) == {"case:due", "case:due_before"}


def test_fdiv_is_exact(duck):
    import ibis
    vals = np.array([-(1 << 62) + 7, -86_400_000_000_001, -1, 0, 1, 86_399_999_999_999,
                     86_400_000_000_000, 1_772_010_057_123_456_789, (1 << 62) - 3], dtype=np.int64)
    t = ibis.memtable(pd.DataFrame({"x": vals}))
    got = duck.execute(t.select(q=fdiv(t.x, 86_400_000_000_000), r=fdiv(t.x, 28_800_000_000_000)))
    assert got["q"].tolist() == (vals // 86_400_000_000_000).tolist()
    assert got["r"].tolist() == (vals // 28_800_000_000_000).tolist()


def test_result_object(province):
    plog, rlog, catalog, _ = province
    rt = tm.timing(rlog, catalog=catalog, as_of=AS_OF)
    assert "RelationalTiming" in repr(rt)
    html_ = rt._repr_html_()
    assert "<table>" in html_ and "Trạng thái" in html_
    d = json.loads(rt.to_json())
    assert sum(d["status_counts"].values()) == int(rt.status_counts().sum())
    assert len(rt.to_pandas(limit=5)) == 5
    assert tm.timing(rlog, catalog=catalog, as_of=AS_OF) is rt          # cached on the log


# ---------------------------------------------------------------- real logs
REAL = ["wabo_receipt_phase_coselog.xes.gz",
        pytest.param("sepsis_cases.csv.gz", marks=pytest.mark.slow)]


@pytest.mark.real
@pytest.mark.parametrize("name", REAL)
def test_real_logs_equal_pandas(name, real_dir, tmp_path, duck):
    from conftest import real_log
    src = real_log(real_dir / name, calendar="VN")
    path = tmp_path / "real.parquet"
    tm.write_log(src, path)
    plog = tm.read_log(path)
    rlog = tm.read_log(path, engine="duckdb", con=duck)
    exp = tm.timing(plog).cases
    assert_cases_equal(exp, tm.timing(rlog).to_pandas(), name)
    assert_summaries_equal(tm.summary(plog), tm.summary(rlog), name)
    # as of the middle of the log: open dossiers, events after as_of
    as_of = exp["received"].sort_values().iloc[len(exp) // 2].strftime("%Y-%m-%d %H:%M")
    exp = tm.timing(plog, as_of=as_of).cases
    assert_cases_equal(exp, tm.timing(rlog, as_of=as_of).to_pandas(), f"{name} mid")
    assert exp["status"].isna().sum() > 0


# ---------------------------------------------------------------- Spark
@pytest.fixture(scope="module")
def spark_con():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'tthc_mining[spark]')")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (the Spark engine needs a JVM; .ci/run installs one)")
    from tthc_mining.engines import local_spark
    session = local_spark(**{"spark.sql.shuffle.partitions": "1"})
    session.sparkContext.setLogLevel("ERROR")
    yield connect("spark", spark=session)
    session.stop()


@pytest.mark.slow
def test_spark_equals_pandas(spark_con):
    """One local Spark session: the synthetic province's timing (open dossiers as of a date)
    and summary equal the pandas engine."""
    prov = tm.synth.province(300, seed=3)
    rlog = from_log(prov.log, "spark", con=spark_con)
    as_of = "2025-05-20"
    exp = tm.timing(prov.log, as_of=as_of).cases
    assert_cases_equal(exp, tm.timing(rlog, as_of=as_of).to_pandas(), "spark")
    assert_summaries_equal(tm.summary(prov.log, as_of), tm.summary(rlog, as_of), "spark")
    assert exp["status"].isin(["in_progress", "suspended"]).sum() > 0
