import openpyxl
import pandas as pd

from tthc_mining.export import neutralise_formulas, write_table, write_workbook


def test_neutralise_formulas_keeps_numbers_and_plain_text():
    df = pd.DataFrame({"a": ["=1+1", "+SUM(A1)", "-3.5", "@cmd", "\tx", "Thẩm định", None],
                       "n": [1, 2, 3, 4, 5, 6, 7]})
    out = neutralise_formulas(df)
    assert out["a"].tolist()[:6] == ["'=1+1", "'+SUM(A1)", "-3.5", "'@cmd", "'\tx", "Thẩm định"]
    assert out["a"].isna().iloc[6]
    assert out["n"].tolist() == df["n"].tolist()


def test_excel_cells_starting_with_equals_are_text(tmp_path):
    df = pd.DataFrame({"Bước": ["=HYPERLINK(\"http://x\")", "Phê duyệt"],
                       "t": pd.to_datetime(["2025-01-02 08:00", "2025-01-03 09:00"]).tz_localize("Asia/Ho_Chi_Minh")})
    p = write_table(df, tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(p).active
    assert ws["A2"].value.startswith("'=")
    assert ws["A2"].data_type == "s"
    p2 = write_workbook({"one": df, "two": df}, tmp_path / "y.xlsx")
    assert openpyxl.load_workbook(p2).sheetnames == ["one", "two"]


def test_csv_has_bom_and_is_safe(tmp_path):
    p = write_table(pd.DataFrame({"x": ["=cmd|' /C calc'!A0"]}), tmp_path / "x.csv")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "'=cmd" in raw.decode("utf-8-sig")
