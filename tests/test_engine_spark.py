"""The relational engine on Spark (local mode): the working-time axis, segments and the process
map equal the pandas engine on the synthetic province and on one small real log (one
SparkSession for the module; skipped when pyspark or Java is missing)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import weekdays
from tthc_mining.segments import segments as pd_segments

pytest.importorskip("ibis")
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'tthc_mining[spark]')")
if shutil.which("java") is None:
    pytest.skip("Java is not installed (the Spark engine needs a JVM; .ci/run installs one)",
                allow_module_level=True)

from test_engine_core import (_axis_log, assert_frames_equal,  # noqa: E402
                              assert_maps_equal)
from tthc_mining.engines import RelationalLog, connect, from_log, local_spark  # noqa: E402
from tthc_mining.engines.axis import with_working_ns  # noqa: E402
from tthc_mining.engines.segments import segments_frame  # noqa: E402


@pytest.fixture(scope="module")
def spark_con():
    session = local_spark()
    session.sparkContext.setLogLevel("ERROR")
    con = connect("spark", spark=session)
    yield con
    session.stop()


@pytest.fixture(scope="module")
def province(tmp_path_factory, spark_con):
    """The synthetic province as canonical Parquet: its pandas read and its Spark read."""
    log, _ = tm.synth.province(600, seed=7)
    path = tmp_path_factory.mktemp("spark") / "province.parquet"
    tm.write_log(log, path)
    return tm.read_log(path), tm.read_log(path, engine="spark", con=spark_con)


def test_spark_reads_parquet_and_counts(province, spark_con):
    plog, rlog = province
    assert isinstance(rlog, RelationalLog) and rlog.backend == "spark"
    assert rlog.n_events() == plog.n_events and rlog.n_cases() == plog.n_cases
    assert rlog.quality.rows_read == plog.quality.rows_read
    assert spark_con._session.conf.get("spark.sql.session.timeZone") == "UTC"


def test_spark_axis_dst_equals_to_working_ns(spark_con):
    cal = weekdays(tz="Europe/Amsterdam")
    log = _axis_log(cal, "Europe/Amsterdam", seed=2, n=1500)
    rlog = from_log(log, "spark", con=spark_con)
    t = with_working_ns(rlog, rlog.events, {"we": S.TIMESTAMP, "ws": S.START})
    # Spark hands nullable int64 columns to pandas as float64: fill the NULLs in the engine
    nat_val = int(np.iinfo(np.int64).min)
    got = t.order_by(S.ROW).select("we", ws=t["ws"].fill_null(nat_val),
                                   no_ws=t["ws"].isnull()).to_pandas()
    exp_e = cal.to_working_ns(log.events[S.TIMESTAMP])
    exp_s = cal.to_working_ns(log.events[S.START])
    assert np.array_equal(got["we"].to_numpy(np.int64), exp_e)
    assert np.array_equal(got["ws"].to_numpy(np.int64), exp_s)
    assert got["no_ws"].sum() == (exp_s == nat_val).sum() > 0


def test_spark_segments_and_map_equal_pandas(province, spark_con):
    plog, rlog = province
    assert_frames_equal(pd_segments(plog).to_frame(), segments_frame(rlog), exact_float=True,
                        label="spark segments")
    assert_maps_equal(tm.discover(plog), tm.discover(rlog), label="spark map")
    kw = {"top_variants": 3, "min_share": 0.02}
    pm = tm.discover(rlog, **kw)
    assert_maps_equal(tm.discover(plog, **kw), pm, label="spark map kw")
    # the map's variants: the dossier sequences as sorted arrays of (position, step) structs
    assert_frames_equal(tm.variants(plog, top=3), pm.variants, label="variants")


@pytest.mark.real
def test_spark_small_real_log(real_dir, tmp_path, spark_con):
    from conftest import real_log
    src = real_log(real_dir / "wabo_receipt_phase_coselog.xes.gz", calendar="VN")
    path = tmp_path / "wabo.parquet"
    tm.write_log(src, path)
    rlog = tm.read_log(path, engine="spark", con=spark_con)
    assert_frames_equal(pd_segments(src).to_frame(), segments_frame(rlog), exact_float=True,
                        label="spark wabo")
    assert_maps_equal(tm.discover(src), tm.discover(rlog), label="spark wabo map")
