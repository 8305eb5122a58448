"""The loaded log's memory: narrow derived columns, codes shared with the source, Parquet
dictionary columns read row group by row group (values unchanged throughout)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.io.arrowio import read_parquet_frame
from tthc_mining.io.text import make_categorical, normalize_categorical


def _write_row_groups(tmp_path, same_dictionary: bool):
    """A Parquet file of 3 row groups whose dictionary columns hold either one shared
    dictionary (written from a categorical) or a dictionary of their own per row group."""
    ids = [f"HS{i % 7:03d}" for i in range(30)]
    acts = ["Tiếp nhận", "Thẩm định", None, "Trả kết quả", "Thẩm định"] * 6
    if same_dictionary:
        table = pa.Table.from_pandas(pd.DataFrame({
            "case": pd.Categorical(ids), "act": pd.Categorical(acts),
            "t": pd.date_range("2024-01-01", periods=30, freq="h", tz="Asia/Ho_Chi_Minh")}),
            preserve_index=False)
    else:
        batches = []
        for k in range(3):  # each row group its own dictionary (values in a different order)
            sl = slice(10 * k, 10 * k + 10)
            batches.append(pa.record_batch({
                "case": pa.array(ids[sl][::-1]).dictionary_encode(),
                "act": pa.array(acts[sl]).dictionary_encode(),
                "t": pa.array(pd.date_range("2024-01-01", periods=10, freq="h",
                                            tz="Asia/Ho_Chi_Minh"))}))
        table = pa.Table.from_batches(batches)
    path = tmp_path / f"rg_{same_dictionary}.parquet"
    pq.write_table(table, path, row_group_size=10)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    return path


def test_parquet_row_groups_read_equal_pandas(tmp_path):
    for same in (True, False):
        path = _write_row_groups(tmp_path, same)
        got = read_parquet_frame(path)
        pd.testing.assert_frame_equal(got, pd.read_parquet(path).reset_index(drop=True))
        # the timestamps live in NumPy memory, not in an Arrow buffer
        a = got["t"].array.asi8
        while isinstance(a.base, np.ndarray):
            a = a.base
        assert a.flags.owndata
        assert got["case"].cat.codes.dtype == np.int8


def test_reason_categorical_and_row_int32(tmp_path):
    log, _ = tm.synth.province(300, seed=5)
    path = tm.write_log(log, tmp_path / "p.parquet")
    back = tm.read_log(path)
    ev = back.events
    assert isinstance(ev[S.REASON].dtype, pd.CategoricalDtype)
    assert ev[S.ROW].dtype == np.int32
    # the reason text is the one written, row by row
    src = pd.read_parquet(path)
    order = ev[S.ROW].to_numpy() - 1
    want = src[S.REASON].astype(object).to_numpy()[order]
    got = ev[S.REASON].astype(object).to_numpy()
    assert ((got == want) | (pd.isna(got) & pd.isna(want))).all()
    # categories in order of first appearance (the codes pd.factorize gives)
    codes, uniques = pd.factorize(ev[S.REASON].astype(object))
    np.testing.assert_array_equal(ev[S.REASON].cat.codes.to_numpy(), codes)
    assert list(ev[S.REASON].cat.categories) == list(uniques)
    # the same from CSV
    csv = tm.write_log(log, tmp_path / "p.csv")
    ev2 = tm.read_log(csv).events
    assert isinstance(ev2[S.REASON].dtype, pd.CategoricalDtype) and ev2[S.ROW].dtype == np.int32
    pd.testing.assert_series_equal(ev2[S.REASON].astype(object), ev[S.REASON].astype(object))


def test_clean_categorical_keeps_its_codes():
    cats = pd.Index(pd.array(["a", "b", "c"], dtype="str"))
    clean = make_categorical(np.array([2, 0, -1, 1], dtype=np.int8), cats, name="x")
    ctrl = []
    out, changed = normalize_categorical(clean, sort=True, controls=ctrl)
    assert np.shares_memory(out.array.codes, clean.array.codes)
    assert not changed.any() and not ctrl[0].any()
    # text to clean (NFD, untrimmed, empty, unsorted for sort=True) is still rebuilt
    for values in (["b", "a"], [" a", "b"], ["a", ""], ["e\u0301", "a"]):
        col = make_categorical(np.array([0, 1, 1], dtype=np.int8),
                               pd.Index(pd.array(values, dtype="str")), name="x")
        out, _ = normalize_categorical(col, sort=True)
        assert not np.shares_memory(out.array.codes, col.array.codes)
    out, changed = normalize_categorical(
        make_categorical(np.array([0, 1], dtype=np.int8),
                         pd.Index(pd.array(["e\u0301", " a "], dtype="str"))), sort=False)
    assert list(out.astype(object)) == ["\u00e9", "a"] and changed.tolist() == [True, False]


def test_rework_reason_text_from_categorical():
    from tthc_mining.log import DossierLog
    from tthc_mining.roles import add_role_column
    t0 = pd.Timestamp("2024-03-04 08:00", tz="UTC")
    rows = [("S", "Tiếp nhận hồ sơ", "o1", "U", 0, None),
            ("S", "Thẩm định hồ sơ", "o2", "U", 1, None),
            ("S", "Yêu cầu bổ sung hồ sơ", "o2", "U", 2, "Thiếu giấy tờ"),
            ("S", "Tiếp nhận hồ sơ bổ sung", "o1", "U", 30, None),
            ("S", "Thẩm định hồ sơ", "o2", "U", 31, None),
            ("S", "Trả kết quả", "o1", "U", 32, None)]
    df = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.RESOURCE, S.GROUP, "h", S.REASON])
    df[S.TIMESTAMP] = t0 + pd.to_timedelta(df.pop("h"), unit="h")
    add_role_column(df)
    as_text = tm.rework(DossierLog(events=df.copy())).loops
    df[S.REASON] = df[S.REASON].astype("category")
    as_cat = tm.rework(DossierLog(events=df)).loops
    assert len(as_text) and as_text["reason"].dtype == as_cat["reason"].dtype
    pd.testing.assert_frame_equal(as_text, as_cat)
