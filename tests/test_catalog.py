"""ProcedureCatalog: interchange CSV, Vietnamese headers and values, YAML, Excel, versions by
rules era, lookups, round trips and error messages naming file, row, column and value."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import CatalogError
from tthc_mining.catalog import ProcedureCatalog

INTERCHANGE = """code,name,level,deadline_days,deadline_unit,step_order,activity,unit,allotment_days
1.001806,Cấp giấy phép,tinh,10,working,1,Tiếp nhận hồ sơ,Một cửa,0.5
1.001806,Cấp giấy phép,tinh,10,working,2,Phân công thụ lý,Lãnh đạo phòng,0.5
1.001806,Cấp giấy phép,tinh,10,working,3,Thụ lý giải quyết,Chuyên viên,7
1.001806,Cấp giấy phép,tinh,10,working,4,Xem xét trình ký,Lãnh đạo phòng,0.5
1.001806,Cấp giấy phép,tinh,10,working,5,Phê duyệt,Lãnh đạo Sở,1
1.001806,Cấp giấy phép,tinh,10,working,6,Vào sổ đóng dấu,Văn thư,0.5
1.001806,Cấp giấy phép,tinh,10,working,7,Trả kết quả,Một cửa,
2.000635,Chứng thực bản sao,xa,0,working,,,,
GPXD,Giấy phép xây dựng,huyen,20,calendar,,,,
"""

VIETNAMESE = """Mã TTHC;Tên thủ tục;Cấp;Thời hạn giải quyết;don_vi_thoi_han;Bước;Tên bước;Đơn vị;Thời gian
1.001806;Cấp giấy phép;Tỉnh;10;ngày làm việc;1;Tiếp nhận hồ sơ;Một cửa;0,5
1.001806;Cấp giấy phép;Tỉnh;10;ngày làm việc;2;Thụ lý;Phòng chuyên môn;9,5
1.001806;Cấp giấy phép;Tỉnh;10;ngày làm việc;3;Trả kết quả;Một cửa;Không tính thời gian
LLTP;Lý lịch tư pháp;Tỉnh;10;ngày;;;;
HT;Đăng ký khai sinh;Xã;Trong ngày;;;;;
DN;Đăng ký doanh nghiệp;Tỉnh;24 giờ làm việc;;;;;
GP;Giấy phép kinh doanh;Tỉnh;15 ngày làm việc;;;;;
"""


@pytest.fixture()
def csv_path(tmp_path):
    p = tmp_path / "catalog.csv"
    p.write_text(INTERCHANGE, encoding="utf-8")
    return p


def test_interchange_csv(csv_path):
    cat = ProcedureCatalog.load(csv_path)
    assert len(cat) == 3 and cat.codes == ["1.001806", "2.000635", "GPXD"]
    assert cat.deadline("1.001806") == (10.0, "working")
    assert cat.deadline("2.000635") == (0.0, "working")
    assert cat.deadline("GPXD") == (20.0, "calendar")
    assert cat.cutoff("GPXD") == "15:00"
    al = cat.allotments("1.001806")
    assert list(al.index) == ["Tiếp nhận hồ sơ", "Phân công thụ lý", "Thụ lý giải quyết",
                              "Xem xét trình ký", "Phê duyệt", "Vào sổ đóng dấu", "Trả kết quả"]
    assert al.iloc[:6].tolist() == [0.5, 0.5, 7.0, 0.5, 1.0, 0.5] and math.isnan(al.iloc[6])
    assert al.iloc[:6].sum() == 10.0 and cat.warnings == []
    assert len(cat.steps) == 7 and list(cat.steps["step_order"]) == list(range(1, 8))
    assert cat.procedures.set_index("code").loc["GPXD", "name"] == "Giấy phép xây dựng"
    assert "1.001806" in cat and "nope" not in cat
    assert cat.name("1.001806") == "Cấp giấy phép"
    # codes stay text ('1.001806' is not a float) and the frame round-trips
    fr = cat.to_frame()
    assert list(fr.columns) == list(tm.catalog.COLUMNS)
    back = ProcedureCatalog.from_frame(fr)
    pd.testing.assert_frame_equal(back.procedures, cat.procedures)
    pd.testing.assert_frame_equal(back.steps, cat.steps)


def test_vietnamese_headers_and_values(tmp_path):
    p = tmp_path / "vn.csv"
    p.write_text(VIETNAMESE, encoding="utf-8-sig")  # with BOM
    cat = ProcedureCatalog.load(p)
    assert cat.deadline("1.001806") == (10.0, "working")
    assert cat.deadline("LLTP") == (10.0, "calendar")            # "ngày" = calendar days
    assert cat.deadline("HT") == (0.0, "working")                # "Trong ngày" = same day
    assert cat.deadline("DN") == (3.0, "working")                # 24 working hours = 3 days
    assert cat.deadline("GP") == (15.0, "working")               # unit inside the text
    al = cat.allotments("1.001806")
    assert al["Tiếp nhận hồ sơ"] == 0.5 and al["Thụ lý"] == 9.5 and math.isnan(al["Trả kết quả"])
    assert cat.procedures.set_index("code").loc["HT", "level"] == "Xã"


def cp1258(text: str) -> bytes:
    """Encode like a Windows-1258 export: precomposed letters where the code page has them,
    otherwise the base letter followed by a combining tone mark."""
    import unicodedata
    out = b""
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", ch)
            for i in range(1, len(d)):  # keep one mark separate (the tone), compose the rest
                try:
                    out += (unicodedata.normalize("NFC", d[:i] + d[i + 1:]).encode("cp1258")
                            + d[i].encode("cp1258"))
                    break
                except UnicodeEncodeError:
                    continue
            else:
                raise
    return out


def test_windows_1258_csv(tmp_path):
    p = tmp_path / "cp.csv"
    p.write_bytes(cp1258(VIETNAMESE))
    cat = ProcedureCatalog.load(p)
    assert cat.name("LLTP") == "Lý lịch tư pháp"


def test_nfc_normalisation():
    nfd = "Ti\u1ebfp nh\u1eadn h\u1ed3 s\u01a1"  # composed
    decomposed = __import__("unicodedata").normalize("NFD", nfd)
    cat = ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["A"], "deadline_days": [1], "activity": [decomposed], "allotment_days": [1]}))
    assert cat.steps["activity"].iloc[0] == nfd


def test_yaml_round_trip_and_roles(tmp_path, csv_path):
    cat = ProcedureCatalog.load(csv_path)
    text = cat.to_yaml()
    back = ProcedureCatalog.from_yaml(text)
    pd.testing.assert_frame_equal(back.to_frame(), cat.to_frame())
    y = tmp_path / "c.yaml"
    y.write_text("""
roles:
  Chờ công dân bổ sung: supplement_request
procedures:
  - Mã TTHC: "1.004"
    Tên thủ tục: Cấp phép
    thoi_han: "7 ngày làm việc"
    cutoff: "16:30"
    valid_from: 2025-07-01
    steps:
      - {buoc: 1, ten_buoc: Tiếp nhận, don_vi: Một cửa, thoi_gian_buoc: "0,5", role: receipt}
      - {buoc: 2, ten_buoc: Thẩm định, don_vi: Phòng, thoi_gian_buoc: 6.5}
      - {buoc: 3, ten_buoc: Trả kết quả, don_vi: Một cửa, role: result_returned}
  - code: "1.004"
    name: Cấp phép
    deadline_days: 10
    deadline_unit: working
    era: ND61
""", encoding="utf-8")
    cat2 = ProcedureCatalog.load(y)
    assert cat2.roles == {"Chờ công dân bổ sung": "supplement_request", "Tiếp nhận": "receipt",
                          "Trả kết quả": "result_returned"}
    assert cat2.deadline("1.004", at="2025-06-30") == (10.0, "working")
    assert cat2.deadline("1.004", at="2025-07-01") == (7.0, "working")
    assert cat2.cutoff("1.004", at="2025-08-01") == "16:30"
    assert cat2.allotments("1.004", at="2025-08-01").tolist()[:2] == [0.5, 6.5]
    assert cat2.allotments("1.004", at="2025-01-01").empty
    again = ProcedureCatalog.from_yaml(cat2.to_yaml())
    pd.testing.assert_frame_equal(again.procedures, cat2.procedures)
    pd.testing.assert_frame_equal(again.steps, cat2.steps)
    assert again.roles == cat2.roles
    d = json.loads(cat2.to_json())
    assert {p["deadline_days"] for p in d["procedures"]} == {7, 10}


def test_excel_and_json(tmp_path, csv_path):
    cat = ProcedureCatalog.load(csv_path)
    x = tmp_path / "c.xlsx"
    cat.to_frame().to_excel(x, index=False)
    pd.testing.assert_frame_equal(ProcedureCatalog.load(x).procedures, cat.procedures)
    j = tmp_path / "c.json"
    j.write_text(cat.to_json(), encoding="utf-8")
    pd.testing.assert_frame_equal(ProcedureCatalog.load(j).steps, cat.steps)
    with pytest.raises(CatalogError, match="unknown catalogue format"):
        ProcedureCatalog.load(tmp_path / "c.docx")
    with pytest.raises(CatalogError, match="file not found"):
        ProcedureCatalog.load(tmp_path / "missing.csv")


def test_allotment_sum_warning():
    cat = ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["A", "A"], "deadline_days": [5, 5], "activity": ["x", "y"],
        "allotment_days": [1, 2]}))
    assert cat.warnings and "add up to 3" in cat.warnings[0]


def test_vectorised_lookup_with_versions():
    cat = ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["A", "A", "B"], "deadline_days": [10, 7, 3],
        "valid_from": [None, "2025-07-01", None], "valid_to": ["2025-07-01", None, None]}))
    day = lambda s: pd.Timestamp(s).value // 86_400_000_000_000  # noqa: E731
    codes = np.array(["A", "A", "B", "C", None, "A"], dtype=object)
    days = np.array([day("2025-06-30"), day("2025-07-01"), day("2020-01-01"), day("2025-01-01"),
                     day("2025-01-01"), np.nan])
    rows = cat.lookup(codes, days)
    got = [None if r < 0 else cat.procedures["deadline_days"].iloc[r] for r in rows]
    assert got == [10.0, 7.0, 3.0, None, None, 7.0]   # unknown receipt date: the latest version


@pytest.mark.parametrize("text, column, value, fragment", [
    ("code,deadline_days,deadline_unit\nA,5,weeks\n", "deadline_unit", "weeks", "unknown deadline unit"),
    ("code,deadline_days\nA,-1\n", "deadline_days", "-1", "non-negative"),
    ("code,deadline_days\nA,five\n", "deadline_days", "five", "cannot read the deadline"),
    ("code,deadline_days\nA,\n", "deadline_days", "", "deadline is empty"),
    ("code,deadline_days\n,5\n", "code", "", "procedure code is empty"),
    ("code,deadline_days,activity,allotment_days\nA,5,x,abc\n", "allotment_days", "abc",
     "allotment"),
    ("code,deadline_days,activity,role\nA,5,x,boss\n", "role", "boss", "unknown role"),
    ("code,deadline_days,cutoff\nA,5,25:99\n", "cutoff", "25:99", "cut-off"),
    ("code,deadline_days,step_order,activity\nA,5,x1,y\n", "step_order", "x1", "step order"),
    ("code,deadline_days,era\nA,5,ND999\n", "era", "ND999", "rules era"),
])
def test_bad_rows_name_file_row_column_value(tmp_path, text, column, value, fragment):
    p = tmp_path / "bad.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as ei:
        ProcedureCatalog.load(p)
    err = ei.value
    msg = str(err)
    assert str(p) in msg and "row 1" in msg and repr(column) in msg and fragment in msg
    assert err.file == str(p) and err.row == 1 and err.column == column
    if value:
        assert repr(value) in msg


def test_conflicts_and_duplicates(tmp_path):
    p = tmp_path / "conflict.csv"
    p.write_text("Mã TTHC,Thời hạn giải quyết,Tên bước\nA,5,x\nA,6,y\n", encoding="utf-8")
    with pytest.raises(CatalogError) as ei:
        ProcedureCatalog.load(p)
    assert "row 2" in str(ei.value) and "'Thời hạn giải quyết'" in str(ei.value)
    assert "disagrees" in str(ei.value)
    p.write_text("code,deadline_days,step_order,activity\nA,5,1,x\nA,5,1,y\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="row 2.*given twice"):
        ProcedureCatalog.load(p)
    p.write_text("code,deadline_days,valid_from,valid_to\nA,5,2025-01-01,2025-12-31\n"
                 "A,6,2025-06-01,\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="overlap"):
        ProcedureCatalog.load(p)


def test_missing_columns_and_empty_files(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("ten,foo\nx,1\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="no procedure-code column.*'ten', 'foo'"):
        ProcedureCatalog.load(p)
    p.write_text("code,name\nA,x\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="no deadline column"):
        ProcedureCatalog.load(p)
    p.write_text("code,deadline_days\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="no data rows"):
        ProcedureCatalog.load(p)
    y = tmp_path / "c.yaml"
    y.write_text("procedures: [\n  - code: A\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="invalid YAML"):
        ProcedureCatalog.load(y)
    y.write_text("just: a mapping\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="list of procedures"):
        ProcedureCatalog.load(y)


def test_unknown_code_lists_known_codes(csv_path):
    cat = ProcedureCatalog.load(csv_path)
    with pytest.raises(CatalogError, match="unknown procedure code; known: 1.001806, 2.000635, GPXD"):
        cat.deadline("XYZ")


def test_repr_and_html_escape():
    cat = ProcedureCatalog.from_frame(pd.DataFrame({
        "code": ["<b>A</b>"], "name": ["<script>alert(1)</script>"], "deadline_days": [1]}),
        source="<x>")
    html = cat._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;x&gt;" in html
    assert "1 procedures" in repr(cat)


def test_sample_catalog_from_the_generator(datasets_dir):
    p = datasets_dir / "sample_catalog.csv"
    if not p.exists():
        pytest.skip("datasets/sample_catalog.csv not generated yet")
    cat = ProcedureCatalog.load(p)
    assert len(cat) >= 3 and len(cat.steps) >= len(cat)
    for code in cat.codes:
        days, unit = cat.deadline(code)
        assert unit in ("working", "calendar") and days >= 0
