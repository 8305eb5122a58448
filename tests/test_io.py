"""Readers and writers: header recognition, timestamps, text, sorting, data quality, formats."""
from __future__ import annotations

import gzip
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.io import parse_times, resolve_columns
from tthc_mining.io.headers import PROCEDURE_NAME

TZ = S.DEFAULT_TZ


def _frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols)


def _basic(n_rows: int = 3, **extra) -> pd.DataFrame:
    data = {"Mã hồ sơ": ["HS1"] * n_rows,
            "Bước xử lý": [f"Bước {i}" for i in range(n_rows)],
            "Thời điểm kết thúc": [f"0{i + 1}/03/2024 08:00:00" for i in range(n_rows)]}
    data.update(extra)
    return pd.DataFrame(data)


def _write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------- headers
HEADER_CASES = {
    S.CASE: ["Mã hồ sơ", "Số hồ sơ", "MaHoSo", "ma_ho_so", "MÃ HỒ SƠ", " Mã  hồ sơ ",
             unicodedata.normalize("NFD", "Mã hồ sơ"), "SoHoSo", "case:concept:name", "Case ID"],
    S.ACTIVITY: ["Bước xử lý", "Tên bước", "Thao tác", "NodeQuyTrinh", "concept:name",
                 "Activity"],
    S.TIMESTAMP: ["Thời điểm kết thúc", "Thời điểm xử lý", "ThoiDiemXuLy", "Thời gian",
                  "time:timestamp", "Complete Timestamp"],
    S.START: ["Thời điểm bắt đầu", "NgayBatDau", "start_timestamp"],
    S.RESOURCE: ["Cán bộ xử lý", "Người xử lý", "NguoiXuLy", "org:resource"],
    S.GROUP: ["Đơn vị xử lý", "Phòng ban xử lý", "PhongBanXuLy", "DonViXuLy", "org:group"],
    S.PROCEDURE: ["Mã TTHC", "MaTTHC", "Tên thủ tục"],
    S.RECEIVED: ["Ngày tiếp nhận", "NgayTiepNhan"],
    S.DUE: ["Ngày hẹn trả", "NgayHenTra"],
    S.CHANNEL: ["Kênh nộp", "KenhThucHien"],
    S.STATUS: ["Trạng thái", "TrangThaiHoSo"],
    S.DUE_BEFORE: ["NgayHenTraTruoc", "Ngày hẹn trả trước"],
    S.DUE_AFTER: ["NgayHenTraMoi", "Ngày hẹn trả mới"],
    S.SUBMITTED: ["NgayNopHoSo", "Ngày nộp hồ sơ"],
    S.FINISHED_REPORTED: ["NgayKetThucXuLy", "Ngày kết thúc xử lý"],
    S.REASON: ["Lý do", "Nội dung xử lý", "NoiDungXuLy"],
}
_BASE = {S.CASE: "Mã hồ sơ", S.ACTIVITY: "Bước xử lý", S.TIMESTAMP: "Thời điểm kết thúc"}


@pytest.mark.parametrize("canon,header", [(c, h) for c, hs in HEADER_CASES.items() for h in hs])
def test_header_recognised(canon, header):
    found = [h for c, h in _BASE.items() if c != canon] + [header, "Ghi chú nội bộ khác"]
    mapping = resolve_columns(found)
    assert mapping[canon] == header
    assert "Ghi chú nội bộ khác" not in mapping.values()


def test_procedure_code_and_name():
    m = resolve_columns(["Mã hồ sơ", "Bước xử lý", "Thời gian", "Tên thủ tục", "Mã TTHC"])
    assert m[S.PROCEDURE] == "Mã TTHC" and m[PROCEDURE_NAME] == "Tên thủ tục"
    m = resolve_columns(["Mã hồ sơ", "Bước xử lý", "Thời gian", "Tên thủ tục"])
    assert m[S.PROCEDURE] == "Tên thủ tục" and PROCEDURE_NAME not in m


def test_first_alias_wins_and_the_other_column_is_kept():
    df = _basic(2, **{"ThaoTac": ["x", "y"]})
    log = tm.read_log(df)
    assert list(log.events[S.ACTIVITY]) == ["Bước 0", "Bước 1"]  # Bước xử lý before Thao tác
    assert list(log.events["ThaoTac"]) == ["x", "y"]


def test_columns_override_by_role_and_canonical_key():
    df = _frame(ID=["a", "a"], Step=["s1", "s2"], When=["2024-03-01 08:00", "2024-03-02 08:00"],
                Who=["u", "v"])
    log = tm.read_log(df, columns={"case": "ID", "activity": "Step", "timestamp": "when",
                                   S.RESOURCE: "Who"})
    assert list(log.events[S.CASE]) == ["a", "a"]
    assert list(log.events[S.RESOURCE]) == ["u", "v"]
    assert log.quality.meta["columns"][S.TIMESTAMP] == "When"


def test_columns_override_errors():
    df = _basic()
    with pytest.raises(tm.ConfigError, match="unknown column role"):
        tm.read_log(df, columns={"dossier_number": "Mã hồ sơ"})
    with pytest.raises(tm.MissingColumnError) as info:
        tm.read_log(df, columns={"resource": "Cán bộ"})
    assert "'Mã hồ sơ'" in str(info.value) and "Cán bộ" in str(info.value)


def test_missing_required_column_lists_found_headers():
    df = _frame(**{"Mã hồ sơ": ["a"], "Ghi chú": ["x"]})
    with pytest.raises(tm.MissingColumnError) as info:
        tm.read_log(df)
    msg = str(info.value)
    assert "concept:name" in msg and "time:timestamp" in msg
    assert "'Mã hồ sơ'" in msg and "'Ghi chú'" in msg
    assert info.value.found == ["Mã hồ sơ", "Ghi chú"]


def test_schema_restricts_recognition():
    df = _basic()
    assert tm.read_log(df, schema="onestop").n_events == 3
    with pytest.raises(tm.MissingColumnError):
        tm.read_log(df, schema="xes")
    xes = df.rename(columns={"Mã hồ sơ": S.CASE, "Bước xử lý": S.ACTIVITY,
                             "Thời điểm kết thúc": S.TIMESTAMP})
    assert tm.read_log(xes, schema="xes").n_events == 3
    with pytest.raises(tm.MissingColumnError):
        tm.read_log(xes, schema="onestop")
    with pytest.raises(tm.ConfigError):
        tm.read_log(df, schema="excel")


def test_extra_columns_kept_unchanged():
    df = _basic(2, **{"Chủ hồ sơ": ["Nguyễn A", "Nguyễn A"], "Số tiền": [1.5, 2.0]})
    ev = tm.read_log(df).events
    assert list(ev["Chủ hồ sơ"]) == ["Nguyễn A", "Nguyễn A"]
    assert ev["Số tiền"].tolist() == [1.5, 2.0] and ev["Số tiền"].dtype == np.float64


# --------------------------------------------------------------------------- timestamps
FORMATS = [
    ("01/03/2024 08:05:09", "2024-03-01 08:05:09"),
    ("1/3/2024 8:05", "2024-03-01 08:05:00"),
    ("01/03/2024", "2024-03-01 00:00:00"),
    ("01-03-2024 08:05", "2024-03-01 08:05:00"),
    ("01.03.2024 08:05:09", "2024-03-01 08:05:09"),
    ("01/03/2024 08:05:09.250", "2024-03-01 08:05:09.250000"),
    ("2024-03-01T08:05:09", "2024-03-01 08:05:09"),
    ("2024-03-01 08:05", "2024-03-01 08:05:00"),
    ("2024-03-01", "2024-03-01 00:00:00"),
    ("2024-03-01T01:05:09Z", "2024-03-01 08:05:09"),
    ("2024-03-01T03:05:09+02:00", "2024-03-01 08:05:09"),
    ("2024-03-01 08:05:09+0700", "2024-03-01 08:05:09"),
    ("2024-03-01T08:05:09.123456789", "2024-03-01 08:05:09.123456789"),
    ("2024/03/01 08:05:09.000", "2024-03-01 08:05:09"),
    ("20240301080509", "2024-03-01 08:05:09"),
    ("202403010805", "2024-03-01 08:05:00"),
    ("20240301", "2024-03-01 00:00:00"),
    ("45352", "2024-03-01 00:00:00"),
    ("45352.336909722", "2024-03-01 08:05:09"),
    ("01/03/2024 08:05:09 PM", "2024-03-01 20:05:09"),
    ("01/03/2024 12:05 AM", "2024-03-01 00:05:00"),
    ("01/03/2024 08:05 CH", "2024-03-01 20:05:00"),
    ("01/03/2024 08:05 SA", "2024-03-01 08:05:00"),
]


def _fmt(ts: pd.Timestamp) -> str:
    out = ts.strftime("%Y-%m-%d %H:%M:%S")
    frac = ts.microsecond * 1000 + ts.nanosecond
    if frac:
        digits = f"{frac:09d}"
        out += "." + (digits if ts.nanosecond else digits[:6])
    return out


@pytest.mark.parametrize("text,expected", FORMATS)
def test_timestamp_formats(text, expected):
    r = parse_times(pd.Series([text, None]), TZ)
    assert str(r.values.dtype) == f"datetime64[ns, {TZ}]"
    assert not r.invalid.any()
    assert _fmt(r.values.iloc[0]) == expected
    assert pd.isna(r.values.iloc[1])


@pytest.mark.parametrize("text", ["31/02/2024", "29/02/2023 10:00", "2024-13-01", "abc",
                                  "01/03/2024 25:00", "2024-03-01 23:60", "0001-01-01",
                                  "01/03/1850", "99999", "12345", "01/03/2024 13:00 PM"])
def test_invalid_timestamps(text):
    r = parse_times(pd.Series([text, "", None]), TZ)
    assert r.invalid.tolist() == [True, False, False]
    assert r.values.isna().all()


def test_month_first_decided_per_column():
    r = parse_times(pd.Series(["02/01/2024", "12/25/2024"]), TZ)
    assert r.month_first and [_fmt(t)[:10] for t in r.values] == ["2024-02-01", "2024-12-25"]
    r = parse_times(pd.Series(["02/01/2024", "25/12/2024"]), TZ)
    assert not r.month_first and [_fmt(t)[:10] for t in r.values] == ["2024-01-02", "2024-12-25"]
    # mixed evidence: ambiguous values stay day-first
    r = parse_times(pd.Series(["02/01/2024", "25/12/2024", "12/25/2024"]), TZ)
    assert [_fmt(t)[:10] for t in r.values] == ["2024-01-02", "2024-12-25", "2024-12-25"]
    assert r.formats == {"dmy": 2, "mdy": 1}
    r = parse_times(pd.Series(["02/01/2024"]), TZ, month_first=True)
    assert _fmt(r.values.iloc[0])[:10] == "2024-02-01"


def test_typed_inputs_and_time_zones():
    naive = pd.Series(pd.to_datetime(["2024-03-01 08:00", None]))
    r = parse_times(naive, TZ)
    assert r.values.iloc[0] == pd.Timestamp("2024-03-01 08:00", tz=TZ)
    aware = naive.dt.tz_localize("UTC")
    assert parse_times(aware, TZ).values.iloc[0] == pd.Timestamp("2024-03-01 15:00", tz=TZ)
    nums = pd.Series([45352.5, np.nan, 20240301080509])
    got = parse_times(nums, TZ).values
    assert _fmt(got.iloc[0]) == "2024-03-01 12:00:00" and pd.isna(got.iloc[1])
    assert _fmt(got.iloc[2]) == "2024-03-01 08:05:09"
    utc = parse_times(pd.Series(["2024-03-01 08:00"]), "UTC").values.iloc[0]
    assert utc == pd.Timestamp("2024-03-01 08:00", tz="UTC")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.datetimes(min_value=pd.Timestamp("1950-01-01").to_pydatetime(),
                             max_value=pd.Timestamp("2150-12-31").to_pydatetime()),
                min_size=1, max_size=30),
       st.sampled_from(["%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d%H%M%S",
                        "%Y/%m/%d %H:%M:%S", "%d-%m-%Y %H:%M:%S"]))
def test_written_then_parsed_gives_the_same_instant(values, fmt):
    truth = pd.Series(pd.to_datetime(values)).dt.floor("s")
    text = truth.dt.strftime(fmt)
    got = parse_times(text, TZ).values
    assert (got.dt.tz_localize(None) == truth).all()


# --------------------------------------------------------------------------- text
def test_nfc_and_trim_make_one_activity():
    nfd = unicodedata.normalize("NFD", "Thẩm định")
    df = _basic(3)
    df["Bước xử lý"] = [nfd, "Thẩm định", "  Thẩm định  "]
    log = tm.read_log(df)
    assert log.events[S.ACTIVITY].nunique() == 1
    assert log.events[S.ACTIVITY].iloc[0] == unicodedata.normalize("NFC", "Thẩm định")
    assert log.quality.count("non_nfc_text") == 1


def test_numeric_case_ids_become_text():
    df = pd.DataFrame({S.CASE: [10.0, 10.0, 9.0], S.ACTIVITY: ["a", "b", "a"],
                       S.TIMESTAMP: pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    ev = tm.read_log(df).events
    assert list(ev[S.CASE]) == ["10", "10", "9"]  # string order, like pm4py


# --------------------------------------------------------------------------- order
def test_stable_sort_keeps_file_order_on_ties():
    df = pd.DataFrame({S.CASE: ["b", "a", "b", "a", "a"], S.ACTIVITY: ["x", "p", "y", "q", "r"],
                       S.TIMESTAMP: ["2024-01-02", "2024-01-01", "2024-01-02", "2024-01-01",
                                     "2023-12-31"]})
    ev = tm.read_log(df).events
    assert list(zip(ev[S.CASE], ev[S.ACTIVITY])) == [("a", "r"), ("a", "p"), ("a", "q"),
                                                     ("b", "x"), ("b", "y")]
    assert list(ev[S.ROW]) == [5, 2, 4, 1, 3]
    assert tm.read_log(df).quality.count("out_of_order") == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["c1", "c2", "c10", "c3"]),
                          st.sampled_from(["A", "B", "C", "Thẩm định"]),
                          st.integers(0, 5)), min_size=2, max_size=40))
def test_dfg_equals_pm4py_on_random_logs_with_ties(rows):
    import pm4py
    df = pd.DataFrame(rows, columns=["case", "act", "day"])
    df["ts"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(df["day"], unit="D")
    ours = pm4py.discover_dfg(tm.read_log(df, columns={"case": "case", "activity": "act",
                                                       "timestamp": "ts"}).to_pm4py())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pm4py.discover_dfg(pm4py.format_dataframe(
            df.copy(), case_id="case", activity_key="act", timestamp_key="ts"))
    assert ours[0] == ref[0] and ours[1] == ref[1] and ours[2] == ref[2]


# --------------------------------------------------------------------------- quality
def test_case_attributes_first_value_in_time_order():
    df = _basic(3, **{"Ngày hẹn trả": ["10/03/2024", "", "12/03/2024"],
                      "Mã TTHC": ["1.1", "1.1", "2.2"], "Kênh nộp": ["2", "Trực tuyến", "online"]})
    log = tm.read_log(df)
    ev = log.events
    assert ev[S.DUE].nunique() == 1 and ev[S.DUE].notna().all()
    assert list(ev[S.PROCEDURE]) == ["1.1"] * 3
    assert list(ev[S.CHANNEL]) == [S.CHANNEL_ONLINE] * 3
    issues = {(i.reason, i.column): i.count for i in log.quality.issues}
    assert issues[("inconsistent_case_attribute", "Ngày hẹn trả")] == 1
    assert issues[("inconsistent_case_attribute", "Mã TTHC")] == 1
    assert ("inconsistent_case_attribute", "Kênh nộp") not in issues


@pytest.mark.parametrize("raw,canon", [
    ("1", S.CHANNEL_DIRECT), ("Trực tiếp", S.CHANNEL_DIRECT), ("direct", S.CHANNEL_DIRECT),
    ("2", S.CHANNEL_ONLINE), ("trực tuyến", S.CHANNEL_ONLINE), ("Online", S.CHANNEL_ONLINE),
    ("3", S.CHANNEL_POST), ("Bưu chính công ích", S.CHANNEL_POST), ("post", S.CHANNEL_POST),
    (3.0, S.CHANNEL_POST)])
def test_channels(raw, canon):
    df = _basic(1, **{"Kênh nộp": [raw]})
    assert tm.read_log(df).events[S.CHANNEL].iloc[0] == canon


def test_roles_overrides_and_unknown_activity():
    df = _basic(2)
    log = tm.read_log(df, roles={"Bước 1": S.ROLE_RESULT, "Không có": S.ROLE_WORK})
    assert list(log.events[S.ROLE].astype(str)) == [S.ROLE_WORK, S.ROLE_RESULT]
    issue = [i for i in log.quality.issues if i.reason == "unknown_activity_in_role_mapping"]
    assert issue and issue[0].count == 0 and "Không có" in issue[0].detail
    with pytest.raises(tm.ConfigError):
        tm.read_log(df, roles={"Không có": S.ROLE_WORK}, strict=True)
    with pytest.raises(tm.ConfigError):
        tm.read_log(df, roles={"Bước 1": "finished_maybe"})


def test_injected_rows_rules():
    df = pd.DataFrame({
        "Mã hồ sơ": ["A", "A", "B", "C", "D"],
        "Bước xử lý": ["Tiếp nhận hồ sơ", "Thẩm định", "Tiếp nhận hồ sơ", "Tiếp nhận hồ sơ",
                       "Tiếp nhận hồ sơ"],
        "Thời điểm kết thúc": ["01/03/2024 08:00:00", "02/03/2024", "01/03/2024 00:00:00",
                               "01/03/2024 08:00:01", "01/03/2024 08:00:00"],
        "Cán bộ xử lý": ["CÁN BỘ MỘT CỬA", "Cán bộ một cửa", "Chuyên viên", "Cán bộ một cửa",
                         "Nguyễn Văn A"],
        "Ngày tiếp nhận": ["01/03/2024 08:00:00", "01/03/2024 08:00:00", "01/03/2024 10:30:00",
                           "01/03/2024 08:00:00", "01/03/2024 08:00:00"]})
    log = tm.read_log(df)
    assert list(log.events[S.INJECTED]) == [True, False, True, False, False]
    assert log.quality.count("injected_sync_row") == 2


def test_after_close_is_flagged_not_dropped():
    df = _basic(3)
    df["Bước xử lý"] = ["Tiếp nhận hồ sơ", "Công dân rút hồ sơ", "Thẩm định"]
    log = tm.read_log(df)
    assert log.n_events == 3 and log.quality.count("event_after_close") == 1


def test_strict_names_file_row_column_value():
    df = _basic(3, **{"Thời điểm bắt đầu": ["", "09/03/2024 08:00", ""]})
    with pytest.raises(tm.InputError) as info:
        tm.read_log(df, strict=True)
    e = info.value
    assert (e.row, e.column, e.value) == (2, "Thời điểm bắt đầu", "09/03/2024 08:00")
    assert "row 2" in str(e) and "'Thời điểm bắt đầu'" in str(e)
    log = tm.read_log(df)
    assert log.quality.count("end_before_start") == 1 and log.events[S.START].isna().all()


def test_derived_columns_are_recomputed():
    log = tm.read_log(_basic(3))
    again = tm.read_log(log.events.iloc[::-1])
    assert list(again.events[S.ROW]) == [3, 2, 1]
    pd.testing.assert_frame_equal(again.events.drop(columns=S.ROW),
                                  log.events.drop(columns=S.ROW))


def test_quality_report_json_has_meta():
    import json
    log = tm.read_log(_basic(2))
    d = json.loads(log.quality.to_json())
    assert d["rows_read"] == 2 and d["meta"]["tz"] == TZ
    assert d["meta"]["columns"][S.CASE] == "Mã hồ sơ"


def test_calendar_time_zone_is_used():
    from tthc_mining.calendar import continuous
    log = tm.read_log(_basic(1), calendar=continuous("UTC"))
    assert str(log.events[S.TIMESTAMP].dt.tz) == "UTC"
    assert log.events[S.TIMESTAMP].iloc[0] == pd.Timestamp("2024-03-01 08:00", tz="UTC")
    log = tm.read_log(_basic(1), tz="Europe/Amsterdam")
    assert str(log.events[S.TIMESTAMP].dt.tz) == "Europe/Amsterdam"


# --------------------------------------------------------------------------- sources
def test_pm4py_dataframe_passes_through():
    import pm4py
    df = pd.DataFrame({"case": ["1", "1", "2"], "act": ["a", "b", "a"],
                       "ts": pd.to_datetime(["2024-01-01 08:00", "2024-01-02 08:00", "2024-01-01 09:00"])})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt = pm4py.format_dataframe(df, case_id="case", activity_key="act", timestamp_key="ts")
    log = tm.read_log(fmt)
    assert not [c for c in log.events.columns if c.startswith("@@")]
    assert log.n_events == 3 and log.n_cases == 2
    assert pm4py.discover_dfg(log.to_pm4py())[0] == pm4py.discover_dfg(fmt)[0]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1258"])
def test_csv_separators_and_encodings(tmp_path, sep, encoding):
    rows = [["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Cán bộ xử lý"],
            ["HS1", "Tiếp nhận", "01/03/2024 08:00", "Lê Thị Hoa"],
            ["HS1", "Thẩm định", "02/03/2024 08:00", "Trần Đức"]]
    text = "\r\n".join(sep.join(r) for r in rows) + "\r\n"
    data = _cp1258(text) if encoding == "cp1258" else text.encode(encoding)
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    log = tm.read_log(p)
    assert log.quality.meta["separator"] == sep
    assert list(log.events[S.RESOURCE]) == ["Lê Thị Hoa", "Trần Đức"]
    assert list(log.events[S.ACTIVITY]) == ["Tiếp nhận", "Thẩm định"]


def _cp1258(text: str) -> bytes:
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "make_bad", Path(__file__).parent / "data" / "bad" / "make_bad_inputs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.cp1258(text)


def test_csv_forced_encoding_and_separator(tmp_path):
    # as many commas as semicolons in the header: detection picks ',' and finds no columns
    p = _write_csv(tmp_path / "x.txt", "Mã hồ sơ;Bước xử lý;Thời gian;Ghi chú (a, b, c, d)\n"
                                       "A;b;01/03/2024;x, y, z\n")
    with pytest.raises(tm.MissingColumnError):
        tm.read_log(p)
    log = tm.read_log(p, sep=";")
    assert log.quality.meta["separator"] == ";"
    assert list(log.events["Ghi chú (a, b, c, d)"]) == ["x, y, z"]
    p2 = _write_csv(tmp_path / "y.csv", "MaHoSo,NodeQuyTrinh,ThoiGian\nA,é,01/03/2024\n",
                    encoding="latin-1")
    assert tm.read_log(p2, encoding="latin-1").events[S.ACTIVITY].iloc[0] == "é"


def test_csv_invalid_utf8_late_in_file_falls_back_to_cp1258(tmp_path):
    head = "MaHoSo,NodeQuyTrinh,ThoiGian\n"
    body = "".join(f"HS{i},Buoc,01/03/2024\n" for i in range(70_000))  # > 1 MB of ASCII
    data = (head + body).encode("ascii") + _cp1258("HS9,Thẩm định,02/03/2024\n")
    p = tmp_path / "late.csv"
    p.write_bytes(data)
    log = tm.read_log(p)
    assert log.n_events == 70_001
    assert "Thẩm định" in set(log.events[S.ACTIVITY])


def test_gzip_and_unknown_suffix(tmp_path):
    text = "Mã hồ sơ,Bước xử lý,Thời gian\nA,x,01/03/2024\n"
    p = tmp_path / "log.csv.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(text.encode())
    assert tm.read_log(p).n_events == 1
    q = tmp_path / "export.dat"
    q.write_text(text, encoding="utf-8")
    assert tm.read_log(q).n_events == 1


def test_source_errors(tmp_path):
    with pytest.raises(tm.InputError, match="file not found"):
        tm.read_log(tmp_path / "nope.csv")
    with pytest.raises(tm.InputError, match="directory"):
        tm.read_log(tmp_path)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0 not really")
    with pytest.raises(tm.InputError, match="xls"):
        tm.read_log(tmp_path / "old.xls")
    with pytest.raises(tm.InputError):
        tm.read_log(12345)
    with pytest.raises(tm.InputError, match="no data rows"):
        tm.read_log(pd.DataFrame({S.CASE: [], S.ACTIVITY: [], S.TIMESTAMP: []}))
    blank = _write_csv(tmp_path / "blank.csv", "\n \n")
    with pytest.raises(tm.InputError, match="empty"):
        tm.read_log(blank)
    p = _write_csv(tmp_path / "allbad.csv", "Mã hồ sơ,Bước xử lý,Thời gian\n,x,01/03/2024\n")
    with pytest.raises(tm.InputError, match="every row was dropped"):
        tm.read_log(p)


def test_excel_sheet_and_header_row(tmp_path):
    import openpyxl
    wb = openpyxl.Workbook()
    wb.active.append(["nothing here"])
    wb.active.append(["still nothing"])
    ws = wb.create_sheet("Nhật ký")
    ws.append(["Sở Tư pháp"])
    ws.append(["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Ngày hẹn trả"])
    ws.append(["HS1", "Tiếp nhận", pd.Timestamp("2024-03-01 08:00").to_pydatetime(), 45361])
    p = tmp_path / "book.xlsx"
    wb.save(p)
    log = tm.read_log(p, sheet="Nhật ký")
    assert log.events[S.TIMESTAMP].iloc[0] == pd.Timestamp("2024-03-01 08:00", tz=TZ)
    assert log.events[S.DUE].iloc[0] == pd.Timestamp("2024-03-10", tz=TZ)
    assert log.quality.meta["header_row"] == 2
    with pytest.raises(tm.MissingColumnError):
        tm.read_log(p)  # the first sheet has no log


# --------------------------------------------------------------------------- XES
XES = """<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by a test -->
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event"><string key="concept:name" value="__INVALID__"/></global>
  <string key="concept:name" value="the log"/>
  <trace>
    <string key="concept:name" value="c1"/>
    <int key="priority" value="2"/>
    <event>
      <string key="concept:name" value="Tiếp nhận &amp; kiểm tra"/>
      <string key="org:resource" value="Lê Hoa"><string key="meta" value="nested"/></string>
      <date key="time:timestamp" value="2024-03-01T08:00:00.123+07:00"/>
      <int key="n" value="5"/>
      <float key="cost" value="1.5"/>
      <boolean key="ok" value="true"/>
      <id key="uid" value="e-1"/>
      <list key="items"><string key="x" value="1"/></list>
    </event>
    <event>
      <string key="concept:name" value="Thẩm định"/>
      <date key="time:timestamp" value="2024-03-01T03:00:00Z"/>
      <int key="n" value="x7"/>
      <boolean key="ok" value="false"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="c0"/>
    <event>
      <string key="concept:name" value="A"/>
      <date key="time:timestamp" value="2024-02-01T08:00:00"/>
    </event>
  </trace>
  <trace><string key="concept:name" value="empty"/></trace>
</log>
"""


@pytest.mark.parametrize("gz", [False, True])
def test_xes_reader(tmp_path, gz):
    p = tmp_path / ("t.xes.gz" if gz else "t.xes")
    data = XES.encode("utf-8")
    p.write_bytes(gzip.compress(data) if gz else data)
    log = tm.read_log(p, progress=True)
    ev = log.events
    assert log.n_events == 3 and log.n_cases == 2 and log.quality.rows_read == 3
    assert list(ev[S.CASE]) == ["c0", "c1", "c1"]
    assert list(ev[S.ACTIVITY]) == ["A", "Tiếp nhận & kiểm tra", "Thẩm định"]
    assert ev[S.TIMESTAMP].iloc[1] == pd.Timestamp("2024-03-01T08:00:00.123+07:00")
    assert ev[S.TIMESTAMP].iloc[2] == pd.Timestamp("2024-03-01T10:00:00+07:00")
    assert ev[S.TIMESTAMP].iloc[0] == pd.Timestamp("2024-02-01 08:00", tz=TZ)  # naive -> local
    assert ev["case:priority"].iloc[1] == 2
    assert ev["cost"].dtype == np.float64 and ev["cost"].iloc[1] == 1.5
    assert str(ev["ok"].dtype) == "boolean" and list(ev["ok"].iloc[1:]) == [True, False]
    assert list(ev["n"].iloc[1:]) == ["5", "x7"]  # one value is not an int: kept as text
    assert ev["uid"].iloc[1] == "e-1" and "items" not in ev.columns and "meta" not in ev.columns
    assert ev[S.RESOURCE].iloc[1] == "Lê Hoa"
    assert list(ev[S.ROW]) == [3, 1, 2]
    assert log.quality.meta["traces"] == 3 and log.quality.meta["traces_without_events"] == 1


def test_xes_sniffed_without_suffix(tmp_path):
    p = tmp_path / "events.log"
    p.write_text(XES, encoding="utf-8")
    assert tm.read_log(p).n_events == 3


def test_xes_without_events(tmp_path):
    p = tmp_path / "none.xes"
    p.write_text('<log><trace><string key="concept:name" value="c"/></trace></log>')
    with pytest.raises(tm.InputError, match="no events"):
        tm.read_log(p)


# --------------------------------------------------------------------------- writers
def _province() -> pd.DataFrame:
    ts = pd.to_datetime(["2024-03-01 08:00:00", "2024-03-04 09:30:15.5", "2024-03-05 16:00",
                         "2024-03-02 07:45"], format="ISO8601").tz_localize(TZ)
    return pd.DataFrame({
        S.CASE: ["H1", "H1", "H1", "H2"],
        S.ACTIVITY: ["Tiếp nhận hồ sơ", "=HYPERLINK(\"x\")", "Trả kết quả", "Tiếp nhận hồ sơ"],
        S.TIMESTAMP: ts,
        S.START: [pd.NaT, ts[0] + pd.Timedelta("1h"), pd.NaT, pd.NaT],
        S.RESOURCE: ["Lê Hoa", "+Trần", "Lê Hoa", "-5"],
        S.GROUP: ["Một cửa", "Phòng TN&MT", "Một cửa", "Một cửa"],
        S.PROCEDURE: ["1.001", "1.001", "1.001", "2.002"],
        PROCEDURE_NAME: ["Cấp GCN", "Cấp GCN", "Cấp GCN", "Chứng thực"],
        S.RECEIVED: [ts[0]] * 3 + [ts[3]],
        S.DUE: [pd.Timestamp("2024-03-15 17:00", tz=TZ)] * 3 + [pd.NaT],
        S.CHANNEL: [S.CHANNEL_ONLINE] * 3 + [S.CHANNEL_POST],
        S.STATUS: ["10", "10", "10", "4"],
        S.REASON: [None, "@thiếu giấy tờ", None, None],
        "Chủ hồ sơ": ["Nguyễn Văn A"] * 3 + ["Phạm B"],
    })


@pytest.mark.parametrize("name,layout", [("o.csv", "onestop"), ("o.xlsx", "onestop"),
                                         ("o.parquet", "onestop"), ("x.csv", "xes"),
                                         ("x.csv.gz", "xes"), ("x.xlsx", "xes"),
                                         ("x.parquet", "xes")])
def test_write_then_read_gives_the_same_events(tmp_path, name, layout):
    log = tm.read_log(_province())
    path = tm.write_log(log, tmp_path / name, layout=layout)
    back = tm.read_log(path)
    a = log.events.drop(columns=S.ROW)
    b = back.events.drop(columns=S.ROW)
    if name.endswith((".csv", ".xlsx", ".gz")):
        # formula-looking text comes back with the protective quote, nothing else changes
        for col in (S.ACTIVITY, S.RESOURCE, S.REASON):
            a[col], b[col] = a[col].astype("str"), b[col].astype("str")  # categorical -> text
            a[col] = a[col].where(~a[col].fillna("").str.match(r"^[=+@]"), "'" + a[col])
    pd.testing.assert_frame_equal(a, b)


def test_onestop_headers_and_cells(tmp_path):
    p = tm.write_log(_province(), tmp_path / "o.csv", layout="onestop")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(p, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(df.columns) == ["Mã hồ sơ", "Mã TTHC", "Tên thủ tục", "Bước xử lý",
                                "Thời điểm bắt đầu", "Thời điểm kết thúc", "Cán bộ xử lý",
                                "Đơn vị xử lý", "Ngày tiếp nhận", "Ngày hẹn trả", "Kênh nộp",
                                "Trạng thái", "Lý do", "Chủ hồ sơ"]
    assert df["Thời điểm kết thúc"].tolist() == ["01/03/2024 08:00:00", "04/03/2024 09:30:15.500000",
                                                 "05/03/2024 16:00:00", "02/03/2024 07:45:00"]
    assert df["Kênh nộp"].tolist() == ["Trực tuyến"] * 3 + ["Bưu chính công ích"]
    assert df["Bước xử lý"].iloc[1] == "'=HYPERLINK(\"x\")"
    assert df["Cán bộ xử lý"].tolist() == ["Lê Hoa", "'+Trần", "Lê Hoa", "-5"]  # -5 is a number
    assert df["Lý do"].iloc[1] == "'@thiếu giấy tờ"
    assert df["Ngày hẹn trả"].iloc[3] == ""


def test_xes_layout_dates_carry_offsets(tmp_path):
    p = tm.write_log(_province(), tmp_path / "x.csv", layout="xes")
    df = pd.read_csv(p, dtype=str, encoding="utf-8-sig")
    assert df[S.TIMESTAMP].iloc[0] == "2024-03-01T08:00:00+07:00"


def test_writer_errors(tmp_path):
    with pytest.raises(tm.ConfigError):
        tm.write_log(_province(), tmp_path / "a.csv", layout="pm4py")
    with pytest.raises(tm.ConfigError):
        tm.write_log(_province(), tmp_path / "a.json")
    with pytest.raises(tm.ConfigError):
        tm.write_log([1, 2], tmp_path / "a.csv")


def test_blank_lines_are_not_records(tmp_path):
    p = _write_csv(tmp_path / "b.csv", "\n\nMã hồ sơ,Bước xử lý,Thời gian\nA,x,01/03/2024\n\n"
                                       "A,y,02/03/2024\n")
    log = tm.read_log(p)
    assert list(log.events[S.ACTIVITY]) == ["x", "y"]
    assert list(log.events[S.ROW]) == [1, 2] and log.quality.rows_read == 2
