"""Relational bottlenecks and rework (issue 7): DuckDB and Spark give the pandas engine's numbers.

Equality: counts exactly, durations within 1e-9 relative, rows in the same order, on the
synthetic province (two seeds, DuckDB), a hand-made log with the edge cases of the rework
definitions, the real public logs (DuckDB, through ``real_dir``) and a small province on Spark
(one local session for the module's Spark tests; skipped when pyspark or Java is missing).

The pandas side reads the same canonical Parquet file (``tm.write_log`` then ``tm.read_log``),
as a user who moves a log to DuckDB would.
"""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from tthc_mining.engines.bottlenecks import cluster_normal_ci  # noqa: E402
from tthc_mining.engines.rework import (BY_ACTIVITY_COLUMNS, BY_CASE_COLUMNS,  # noqa: E402
                                        BY_CASE_HOURS, RelationalReworkReport)

NOT_RELATIONAL: set = set()        # every column of the pandas engine is computed
LABELS = ("activity", "source", "target", "unit", "resource")


# ====================================================================== helpers
def _pair(log, tmp_path, name, engine="duckdb", **kw):
    """(pandas log, relational log) of the same canonical Parquet file."""
    path = tmp_path / f"{name}.parquet"
    tm.write_log(log, path)
    plog = tm.read_log(path)
    rlog = tm.read_log(path, engine=engine, **kw)
    plog.catalog = rlog.catalog = log.catalog
    return plog, rlog


def assert_frame_close(p: pd.DataFrame, r: pd.DataFrame, columns, what=""):
    """Same rows in the same order: exact for text / integers, 1e-9 relative for floats."""
    assert len(p) == len(r), f"{what}: {len(p)} vs {len(r)} rows"
    for c in columns:
        a, b = p[c], r[c]
        if pd.api.types.is_float_dtype(a.dtype) or pd.api.types.is_float_dtype(b.dtype):
            x, y = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{what} {c}: NaN differ"
            ok = ~np.isnan(x)
            np.testing.assert_allclose(y[ok], x[ok], rtol=1e-9, atol=1e-12, err_msg=f"{what} {c}")
        elif pd.api.types.is_integer_dtype(a.dtype):
            np.testing.assert_array_equal(b.to_numpy(dtype=np.int64), a.to_numpy(dtype=np.int64),
                                          err_msg=f"{what} {c}")
        else:
            x = a.astype(object).where(a.notna(), None).map(lambda v: None if v is None else str(v))
            y = b.astype(object).where(b.notna(), None).map(lambda v: None if v is None else str(v))
            assert x.tolist() == y.tolist(), f"{what} {c}"


def check_bottlenecks(plog, rlog, by, **kw):
    p = tm.bottlenecks(plog, by=by, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # the relational timing must not fail
        r = tm.bottlenecks(rlog, by=by, **kw)
    # the relational result has the pandas columns, in order, minus the documented ones
    assert list(r.columns) == [c for c in p.columns if c not in NOT_RELATIONAL], by
    same = [c for c in r.columns if c not in ("wait_mean_ci_low", "wait_mean_ci_high")]
    assert_frame_close(p, r, same, f"bottlenecks by={by}")
    for k in ("n_events", "n_dossiers", "negative_waits_clipped", "events_without_key",
              "events_not_agency", "n_overdue_dossiers"):
        assert r.attrs.get(k) == p.attrs.get(k), k
    return p, r


def check_rework(plog, rlog, **kw):
    p = tm.rework(plog, **kw)
    r = tm.rework(rlog, **kw)
    assert isinstance(r, RelationalReworkReport)
    bc = r.by_case
    assert_frame_close(p.by_case, bc, [S.CASE, *BY_CASE_COLUMNS, *BY_CASE_HOURS]
                       + (["procedure"] if "procedure" in bc.columns else []), "by_case")
    # by_activity: the pandas table's columns and row order (steps without events left out)
    pa = p.by_activity.loc[p.by_activity["n_events"] > 0].reset_index(drop=True)
    assert list(r.by_activity.columns) == list(p.by_activity.columns)
    assert_frame_close(pa, r.by_activity, BY_ACTIVITY_COLUMNS, "by_activity")
    assert_frame_close(p.back_edges, r.back_edges, ["source", "target", "transitions", "dossiers"],
                       "back_edges")
    assert_frame_close(p.order, r.order, ["procedure", "activity", "order"], "order")
    assert r.rework_cases_per_activity() == p.rework_cases_per_activity()
    # summary: same rows (scope, metric) in the pandas order; rates and their Wilson intervals
    # equal; means equal with a normal interval close to the bootstrap one
    ps = p.summary.set_index(["scope", "metric"])
    rs = r.summary.set_index(["scope", "metric"])
    assert rs.index.isin(ps.index).all()
    sub = ps.loc[ps.index.isin(rs.index)]
    assert list(sub.index) == list(rs.index)
    assert (sub["n"].to_numpy() == rs["n"].to_numpy()).all()
    np.testing.assert_allclose(rs["value"], sub["value"], rtol=1e-12, equal_nan=True)
    rate = np.array([m.startswith("share_") for _, m in rs.index])
    np.testing.assert_allclose(rs["ci_low"][rate], sub["ci_low"][rate], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rs["ci_high"][rate], sub["ci_high"][rate], rtol=1e-12, equal_nan=True)
    return p, r


# ====================================================================== synthetic province
_PAIRS: dict = {}


def _province(seed, tmp_path_factory):
    """(pandas, DuckDB) logs of ``tm.synth.province(2000, seed)``, built once per module (the
    DuckDB log caches its segments view and overdue flags)."""
    if seed not in _PAIRS:
        log = tm.synth.province(2000, seed=seed).log
        _PAIRS[seed] = _pair(log, tmp_path_factory.mktemp(f"prov{seed}"), "province")
    return _PAIRS[seed]


@pytest.fixture(scope="module")
def province3(tmp_path_factory):
    return _province(3, tmp_path_factory)


# seed 3: every ``by``; seed 17: by="activity" (test time)
@pytest.mark.parametrize("seed,by", [(3, "activity"), (3, "transition"), (3, "unit"),
                                     (3, "resource"), (17, "activity")])
def test_bottlenecks_equal_duckdb(tmp_path_factory, seed, by):
    plog, rlog = _province(seed, tmp_path_factory)
    p, r = check_bottlenecks(plog, rlog, by)
    assert len(r) > 5
    assert (r["excess_basis"] == "allotment").any()          # the catalogue's allotments used
    assert r["share_in_overdue"].notna().all()               # overdue flags from the timing
    assert r.attrs["n_overdue_dossiers"] > 0
    assert r["trend_months"].max() >= 6                      # a year of months
    assert r["queue_rho"].notna().any()


def test_bottlenecks_interval_close_to_bootstrap(province3):
    """The cluster-robust normal interval covers the mean and is close to the dossier
    bootstrap's: on rows with >= 100 dossiers both bounds within 20% of the bootstrap's width."""
    plog, rlog = province3
    p = tm.bottlenecks(plog, by="unit", n_boot=2000)
    r = tm.bottlenecks(rlog, by="unit")
    assert r.attrs["interval_method"].startswith("cluster-robust")
    assert ((r["wait_mean_ci_low"] <= r["wait_mean_h"]) | r["wait_mean_ci_low"].isna()).all()
    assert ((r["wait_mean_ci_high"] >= r["wait_mean_h"]) | r["wait_mean_ci_high"].isna()).all()
    assert r.loc[r["cases"] < 2, "wait_mean_ci_low"].isna().all()
    big = (p["cases"] >= 100).to_numpy()
    assert big.sum() >= 5
    width = (p["wait_mean_ci_high"] - p["wait_mean_ci_low"]).to_numpy()[big]
    for c in ("wait_mean_ci_low", "wait_mean_ci_high"):
        d = np.abs(r[c].to_numpy()[big] - p[c].to_numpy()[big])
        assert (d <= 0.2 * width).all(), (c, d / width)


def test_bottlenecks_options_duckdb(province3):
    plog, rlog = province3
    code = str(plog.events[S.PROCEDURE].iloc[0])
    check_bottlenecks(plog, rlog, "activity", procedure=code)
    check_bottlenecks(plog, rlog, "unit", sort_by="count", ascending=True)
    with pytest.raises(tm.errors.ConfigError):
        tm.bottlenecks(rlog, by="officer")
    with pytest.raises(tm.errors.ConfigError):
        tm.bottlenecks(rlog, procedure="no-such-procedure")
    with pytest.raises(tm.errors.ConfigError):
        tm.bottlenecks(rlog, sort_by="no_such_column")


@pytest.mark.parametrize("seed", [3, 17])
def test_rework_equal_duckdb(tmp_path_factory, seed):
    plog, rlog = _province(seed, tmp_path_factory)
    p, r = check_rework(plog, rlog)
    bc = r.by_case
    # the synthetic province has every kind of rework counted here
    for c in ("selfloops_repeat", "repetitions_repeat", "reexec_same_officer",
              "reexec_other_officer", "n_supplement", "n_back_edges", "n_pingpong",
              "loops_supplement", "loops_selfloop", "loops_cross_unit", "extra_steps"):
        assert bc[c].sum() > 0, c
    assert bc["rework_citizen_h"].sum() > 0
    assert list(bc.columns) == list(p.by_case.columns)
    # the per-dossier table stays in the engine until asked for
    assert r.by_case_table.count().to_pyarrow().as_py() == plog.n_cases
    assert "RelationalReworkReport" in repr(r) and "<h4>" in r._repr_html_()
    assert '"by_activity"' in r.to_json()


def test_rework_procedure_duckdb(province3):
    plog, rlog = province3
    code = str(plog.events[S.PROCEDURE].iloc[0])
    p = tm.rework(plog, procedure=code)
    r = tm.rework(rlog, procedure=code)
    assert len(r.by_case) < plog.n_cases
    with pytest.raises(tm.errors.ConfigError):
        tm.rework(rlog, procedure="no-such-procedure")
    assert_frame_close(p.by_case, r.by_case, [S.CASE, *BY_CASE_COLUMNS, *BY_CASE_HOURS],
                       "by_case")


# ====================================================================== hand-made edge cases
def _events(rows):
    df = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.TIMESTAMP, S.RESOURCE, S.GROUP])
    df[S.TIMESTAMP] = pd.to_datetime(df[S.TIMESTAMP]).dt.tz_localize("Asia/Ho_Chi_Minh")
    return df


def test_rework_edge_cases_duckdb(tmp_path):
    """Runs with a missing officer, repetitions by one / several officers (a missing officer
    is one value), ping-pong X-Y-X-Y-X (two bounces), a supplement detour (no ping-pong),
    back-edges, ties in time (file order)."""
    rows = [
        # a: self-loop A A by one officer, then A again later by another (repetition, redo)
        ("a", "Tiếp nhận hồ sơ", "2025-03-03 08:00", "o1", "U1"),
        ("a", "Thẩm định", "2025-03-03 09:00", "o2", "U2"),
        ("a", "Thẩm định", "2025-03-03 10:00", "o2", "U2"),
        ("a", "Phê duyệt", "2025-03-03 11:00", "o3", "U3"),
        ("a", "Thẩm định", "2025-03-04 08:00", "o4", "U2"),
        ("a", "Trả kết quả", "2025-03-04 09:00", "o1", "U1"),
        # b: ping-pong U2 <-> U3 with re-executions: X Y X Y X
        ("b", "Tiếp nhận hồ sơ", "2025-03-03 08:00", "o1", "U1"),
        ("b", "Thẩm định", "2025-03-03 09:00", "o2", "U2"),
        ("b", "Phê duyệt", "2025-03-03 10:00", "o3", "U3"),
        ("b", "Thẩm định", "2025-03-03 11:00", "o2", "U2"),
        ("b", "Phê duyệt", "2025-03-03 13:30", "o3", "U3"),
        ("b", "Thẩm định", "2025-03-03 14:00", "o2", "U2"),
        ("b", "Trả kết quả", "2025-03-03 15:00", "o1", "U1"),
        # c: self-loop with a missing officer (redo: missing counts as a value), equal times
        ("c", "Tiếp nhận hồ sơ", "2025-03-05 08:00", "o1", "U1"),
        ("c", "Thẩm định", "2025-03-05 09:00", None, "U2"),
        ("c", "Thẩm định", "2025-03-05 09:00", "o2", "U2"),
        ("c", "Thẩm định", "2025-03-05 09:30", "o2", None),
        ("c", "Trả kết quả", "2025-03-05 10:00", "o1", "U1"),
        # d: supplement detour to the desk and back (a supplement loop, not a ping-pong)
        ("d", "Tiếp nhận hồ sơ", "2025-03-06 08:00", "o1", "U1"),
        ("d", "Thẩm định", "2025-03-06 09:00", "o2", "U2"),
        ("d", "Yêu cầu bổ sung hồ sơ", "2025-03-06 10:00", "o1", "U1"),
        ("d", "Nhận hồ sơ bổ sung", "2025-03-07 10:00", "o1", "U1"),
        ("d", "Thẩm định", "2025-03-07 11:00", "o2", "U2"),
        ("d", "Trả kết quả", "2025-03-07 15:00", "o1", "U1"),
    ]
    path = tmp_path / "edge.csv"
    _events(rows).to_csv(path, index=False)
    log = tm.read_log(path)
    plog, rlog = _pair(log, tmp_path, "edge")
    p, r = check_rework(plog, rlog)
    bc = r.by_case.set_index(S.CASE)
    assert bc.loc["b", "n_pingpong"] == 2
    assert bc.loc["d", "n_pingpong"] == 0 and bc.loc["d", "n_supplement"] == 1
    assert bc.loc["a", "selfloops_repeat"] == 1 and bc.loc["a", "repetitions_redo"] == 1
    assert bc.loc["c", "selfloops_redo"] == 1
    assert bc.loc["d", "loops_supplement"] == 1 and bc.loc["b", "n_loops"] >= 2
    assert bc["n_back_edges"].sum() > 0
    check_bottlenecks(plog, rlog, "transition")


def test_cluster_normal_ci_formula():
    """The interval against a direct computation of the sandwich variance."""
    rng = np.random.default_rng(0)
    n_c = rng.integers(1, 4, size=50).astype(float)
    s_c = rng.gamma(2.0, 3.0, size=50) * n_c
    N, S_, G = n_c.sum(), s_c.sum(), 50
    lo, hi = cluster_normal_ci([N], [S_], [G], [(s_c ** 2).sum()], [(s_c * n_c).sum()],
                               [(n_c ** 2).sum()])
    m = S_ / N
    se = np.sqrt(G / (G - 1) * ((s_c - m * n_c) ** 2).sum() / N ** 2)
    np.testing.assert_allclose([lo[0], hi[0]], [m - 1.959963984540054 * se,
                                                m + 1.959963984540054 * se], rtol=1e-10)
    lo1, _ = cluster_normal_ci([3], [6.0], [1], [36.0], [18.0], [9.0])
    assert np.isnan(lo1[0])


# ====================================================================== real logs (DuckDB)
REAL = ["helpdesk.xes.gz", "sepsis_cases.csv.gz",
        "variant_samples/hospital_billing_1t_per_variant.xes.gz"]


@pytest.mark.parametrize("name", REAL)
def test_real_logs_equal_duckdb(real_dir, tmp_path, name):
    from conftest import real_log
    path = real_dir / name
    if not path.exists():
        pytest.skip(f"{name} not in {real_dir}")
    plog, rlog = _pair(real_log(path), tmp_path, path.name.split(".")[0])
    check_bottlenecks(plog, rlog, "activity")
    if S.GROUP in plog.events.columns:
        check_bottlenecks(plog, rlog, "unit")
    check_rework(plog, rlog)


# ====================================================================== Spark
def _spark_or_skip():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'tthc_mining[spark]')")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (Spark needs a JVM)")
    from tthc_mining.engines import local_spark
    return local_spark()


@pytest.fixture(scope="module")
def spark_pair(tmp_path_factory):
    session = _spark_or_skip()
    log = tm.synth.province(300, seed=5).log
    yield _pair(log, tmp_path_factory.mktemp("spark"), "province", engine="spark", spark=session)
    session.stop()  # the next module starts a fresh session (cached stages freed)


def test_spark_rework(spark_pair):
    plog, rlog = spark_pair
    assert rlog.backend == "spark"
    check_rework(plog, rlog)


@pytest.mark.slow
def test_spark_bottlenecks(spark_pair):
    """Slow: with the relational timing behind the share in overdue, 35-90 s in local mode
    on this machine (the per-query overhead of Spark dominates on a small log)."""
    plog, rlog = spark_pair
    check_bottlenecks(plog, rlog, "activity")


# ====================================================================== database file
def test_database_file_equals_pandas(tmp_path):
    """A DuckDB connection on a database *file* (what the 100M benchmark uses): the segments and
    the timing stages become ordinary, compressed tables of the file (not temporary tables),
    dropped again with their expressions, and every statistic still equals the pandas engine."""
    import gc

    from tthc_mining.engines import connect
    from tthc_mining.engines.core import duckdb_database_file
    from tthc_mining.engines.segments import segments
    log = tm.synth.province(800, seed=23).log
    db = tmp_path / "store.duckdb"
    plog, rlog = _pair(log, tmp_path, "filedb", con=connect("duckdb", database=str(db)))
    assert duckdb_database_file(rlog.con) == str(db)
    seg = segments(rlog)
    name = seg.op().name
    tables = rlog.con.raw_sql("SELECT table_name, temporary FROM duckdb_tables()").fetchall()
    assert (name, False) in tables                    # a table of the file, not a temporary one
    # (a large table's row groups are written compressed at once; a small one at the checkpoint)
    rlog.con.raw_sql("CHECKPOINT").fetchall()
    info = rlog.con.raw_sql(f"SELECT DISTINCT compression FROM pragma_storage_info('{name}')"
                            ).fetchall()
    assert {c for (c,) in info} - {"Uncompressed"}    # stored compressed
    check_bottlenecks(plog, rlog, "activity")
    check_rework(plog, rlog)
    for exp, got in ((tm.discover(plog), tm.discover(rlog)),):
        assert got.dfg_dict() == exp.dfg_dict() and got.n_events == exp.n_events
    exp, got = tm.summary(plog), tm.summary(rlog)
    for part in ("overall", "by_procedure", "by_unit", "by_month"):
        e, g = getattr(exp, part), getattr(got, part)
        if isinstance(e, pd.Series):
            e, g = e.to_frame().T, g.to_frame().T
        assert_frame_close(e.reset_index(), g.reset_index(),
                           [c for c in e.reset_index().columns], f"summary {part}")
    # a cached table of the file is dropped when its expression is released
    from tthc_mining.engines import from_log
    small = from_log(tm.synth.province(50, seed=1).log, "duckdb", con=rlog.con)
    t = segments(small)
    tname = t.op().name
    del small, t
    gc.collect()
    left = {n for (n, _) in rlog.con.raw_sql("SELECT table_name, temporary FROM duckdb_tables()"
                                             ).fetchall()}
    assert tname not in left and name in left
