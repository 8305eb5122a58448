"""tm.report: the self-contained HTML report, its JSON document (schema report-1.0) and the
Excel workbook, on the bundled sample with hostile names planted in the data."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "datasets" / "sample_province.csv"
CATALOG = ROOT / "datasets" / "sample_catalog.csv"

HOSTILE_STEP = "<script>alert(1)</script>"
HOSTILE_UNIT = '=HYPERLINK("http://evil.example/?x=1","bấm vào đây")'
HOSTILE_OFFICER = "<img src=x onerror=window.__xss=1>"
RENAMED_STEP = "Phân công thụ lý"
RENAMED_UNIT = "Sở Tư pháp"

VI_HEADINGS = ("Chỉ tiêu giải quyết hồ sơ", "Bản đồ quy trình", "Điểm nghẽn",
               "Chuyển giao giữa các đơn vị", "Trễ hạn theo đơn vị",
               "Vòng lặp xử lý lại và đồng hồ ẩn", "Phương án cắt giảm", "Chất lượng dữ liệu",
               "Phương pháp, định nghĩa và giả định")


def write_hostile_sample(path: Path, n_dossiers: int | None = None) -> Path:
    """The bundled sample with a step named ``<script>alert(1)</script>``, another step and some
    officers named like an HTML event handler, and a unit whose name is an Excel formula
    (optionally only the first ``n_dossiers`` dossiers)."""
    df = pd.read_csv(SAMPLE, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    if n_dossiers is not None:
        keep = df["Mã hồ sơ"].drop_duplicates().iloc[:n_dossiers]
        df = df[df["Mã hồ sơ"].isin(keep)]
    assert (df["Bước xử lý"] == RENAMED_STEP).any() and (df["Đơn vị xử lý"] == RENAMED_UNIT).any()
    df.loc[df["Bước xử lý"] == RENAMED_STEP, "Bước xử lý"] = HOSTILE_STEP
    df.loc[df["Đơn vị xử lý"] == RENAMED_UNIT, "Đơn vị xử lý"] = HOSTILE_UNIT
    df.loc[df.index[::7], "Cán bộ xử lý"] = HOSTILE_OFFICER
    df.loc[df["Bước xử lý"] == "Văn thư phát hành", "Bước xử lý"] = HOSTILE_OFFICER
    df.to_csv(path, index=False, encoding="utf-8-sig")
    return path


_CACHE: dict = {}  # per process: xdist may tear module fixtures down between tests


@pytest.fixture(scope="module")
def hostile_log(tmp_path_factory):
    if "log" not in _CACHE:
        p = write_hostile_sample(tmp_path_factory.mktemp("hostile") / "hostile.csv")
        _CACHE["log"] = tm.read_log(p, catalog=tm.ProcedureCatalog.load(CATALOG))
    return _CACHE["log"]


@pytest.fixture(scope="module")
def rep(hostile_log):
    if "rep" not in _CACHE:
        _CACHE["rep"] = tm.report(hostile_log)
    return _CACHE["rep"]


@pytest.fixture(scope="module")
def sample_log():
    return tm.read_log(SAMPLE, catalog=tm.ProcedureCatalog.load(CATALOG))


# ====================================================================== content
def test_every_section_computed(rep):
    f = rep.to_frame()
    assert list(f["section"]) == list(tm.report.SECTIONS)
    assert (f["status"] == "ok").all(), f[["section", "status", "note"]]
    assert rep.errors == {}
    assert (f.loc[f["section"] != "quality", "rows"] > 0).all()


def test_headings_and_self_contained(rep):
    page = rep.html
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="vi">' in page
    for h in VI_HEADINGS:
        assert re.search(r"<h2>\d+\. " + re.escape(h), page), h
    # nothing from outside: no script, no stylesheet link, no image or font URL, no import
    low = page.lower()
    assert "<script" not in low
    assert "<link" not in low and "@import" not in low and "<iframe" not in low
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", low)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", low)
    assert "@media print" in page
    # two process maps drawn by graphviz (when installed) and the charts, inline
    from tthc_mining.render import has_dot
    n_svg = page.count("<svg")
    assert n_svg >= (6 if has_dot() else 4)
    assert 'id="process_map-map_frequency-graph0"' in page or not has_dot()


def test_hostile_names_are_text(rep):
    page = rep.html
    assert HOSTILE_STEP not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page.lower()
    assert HOSTILE_OFFICER not in page
    assert "&lt;img src=x onerror=window.__xss=1&gt;" in page   # a step, as text
    # the hostile step is in the tables (escaped), the maps and the JSON (verbatim)
    doc = rep.to_dict()
    acts = [a["activity"] for a in doc["process_map"]["activities"]]
    assert HOSTILE_STEP in acts
    units = [u["unit"] for u in doc["bottlenecks"]["by_unit"]]
    assert HOSTILE_UNIT in units


def test_figures_agree_with_the_analyses(rep, hostile_log):
    s = tm.summary(hostile_log)
    kpi = rep.tables["kpi"].set_index("indicator")["value"]
    assert kpi["received"] == s.overall["received"] == hostile_log.n_cases
    assert kpi["on_time_rate_actual"] == pytest.approx(s.overall["on_time_rate_actual"])
    doc = rep.to_dict()
    assert doc["summary"]["overall"]["resolved"] == s.overall["resolved"]
    b = tm.bottlenecks(hostile_log)
    mine = rep.tables["bottlenecks_activity"]
    assert list(mine["activity"]) == list(b["activity"])
    np.testing.assert_allclose(mine["total_wait_h"], b["total_wait_h"])
    np.testing.assert_allclose(mine["wait_mean_ci_low"], b["wait_mean_ci_low"])
    pm = tm.discover(hostile_log)
    got = {(t["source"], t["target"]): t["count"] for t in doc["process_map"]["transitions"]}
    assert got == pm.dfg_dict()
    o = tm.overdue_attribution(hostile_log)
    assert doc["overdue"]["summary"]["n_overdue"] == o.summary["n_overdue"]
    # the figures shown are the computed ones, formatted the Vietnamese way
    n = f"{hostile_log.n_cases:,}".replace(",", ".")
    assert f">{n}<" in rep.html
    top = b.iloc[0]
    assert rep.findings and any(str(top["activity"]).replace("<", "&lt;")[:10] in f.replace("<", "&lt;")
                                for f in rep.findings)


def test_methods_state_definitions_and_parameters(rep):
    items = rep.to_dict()["methods"]["items"]
    ids = [i["id"] for i in items]
    for need in ("calendar", "kpi", "bottlenecks", "handovers", "overdue", "rework", "cuts",
                 "intervals", "data"):
        assert need in ids
    text = " ".join(" ".join(i["text"]) for i in items)
    assert "07:00–11:30" in text and "13:30–17:00" in text
    assert "40.000" in text            # the provinces' hourly income, Vietnamese format
    assert "Wilson" in text and "bootstrap" in text
    assert "15 giờ" in text            # the 15:00 cut-off


def test_cuts_section_ranked_with_intervals_and_vnd(rep):
    ranked = rep.tables["cuts_ranked"]
    assert len(ranked) > 0
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    d = ranked["dossier_days_saved_per_year"].to_numpy(float)
    assert np.all(np.diff(d[np.isfinite(d)]) <= 1e-9)  # ranked as score_cuts sorts
    ok = ranked["saved_ci_low"].notna()
    assert ok.any()
    assert (ranked.loc[ok, "saved_ci_low"] <= ranked.loc[ok, "saved_mean_days"] + 1e-12).all()
    assert (ranked.loc[ok, "saved_ci_high"] >= ranked.loc[ok, "saved_mean_days"] - 1e-12).all()
    np.testing.assert_allclose(ranked["dossier_days_saved_per_year_low"],
                               ranked["saved_ci_low"] * ranked["annual_volume"])
    assert ranked["statutory_cost_saved_vnd_per_year"].notna().any()
    spec = rep.to_dict()["cuts"]["ranked"][0]["cut_spec"]
    from tthc_mining.cuts import cut_from_dict
    assert str(cut_from_dict(spec)) == ranked["cut"].iloc[0]
    assert "đồng/năm" in rep.html


def test_json_validates_against_the_schema(rep):
    from jsonschema import ValidationError
    from tthc_mining.report.tables import load_schema, validate
    doc = json.loads(rep.to_json())
    assert doc["schema_version"] == "1.0" == load_schema()["properties"]["schema_version"]["const"]
    validate(doc)
    rep.validate()
    bad = json.loads(rep.to_json())
    bad["summary"]["overall"]["on_time_rate_actual"] = 1.7   # a rate above 1
    with pytest.raises(ValidationError):
        validate(bad)
    bad = json.loads(rep.to_json())
    del bad["bottlenecks"]["by_activity"][0]["wait_mean_ci_low"]
    with pytest.raises(ValidationError):
        validate(bad)
    bad = json.loads(rep.to_json())
    bad["sections"][0]["status"] = "fine"
    with pytest.raises(ValidationError):
        validate(bad)


def test_schema_is_packaged_and_valid():
    import jsonschema
    from tthc_mining.report.tables import load_schema, schema_path
    assert schema_path().is_file()
    s = load_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$schema"].endswith("2020-12/schema")


def test_excel_workbook(rep, tmp_path):
    from openpyxl import load_workbook
    path = rep.save(tmp_path / "report.xlsx")
    wb = load_workbook(path)
    names = wb.sheetnames
    for sheet in ("Thông tin", "Chỉ tiêu tổng hợp", "Điểm nghẽn theo bước", "Chuyển giao giữa đơn vị",
                  "Trễ hạn theo đơn vị", "Vòng lặp - tổng hợp", "Phương án cắt giảm",
                  "Chất lượng dữ liệu", "Phương pháp"):
        assert sheet in names
    ws = wb["Điểm nghẽn theo bước"]
    header = [c.value for c in ws[1]]
    assert "Bước xử lý" in header and "Thời gian chờ trung bình (giờ làm việc)" in header
    assert ws.max_row == len(rep.tables["bottlenecks_activity"]) + 1
    # the unit named like a formula is stored as text, never as a formula
    found = 0
    for wsn in names:
        for row in wb[wsn].iter_rows():
            for c in row:
                if isinstance(c.value, str) and "HYPERLINK" in c.value:
                    assert c.data_type == "s" and not c.value.startswith("=")
                    found += c.value == "'" + HOSTILE_UNIT
    assert found > 0
    # a step named <script> is plain text in Excel
    acts = [c.value for c in ws["A"]]
    assert HOSTILE_STEP in acts


def test_english_report(sample_log):
    r = tm.report(sample_log, lang="en", cuts=False, sections=["summary", "bottlenecks"])
    assert '<html lang="en">' in r.html
    assert "Dossier KPIs: as reported and recomputed" in r.html
    assert "Bottlenecks" in r.html and "Methods, definitions and assumptions" in r.html
    assert "Điểm nghẽn" not in r.html and "Phương pháp" not in r.html
    n = f"{sample_log.n_cases:,}"
    assert f">{n}<" in r.html
    assert list(r.sections) == ["summary", "bottlenecks", "methods"]
    doc = r.to_dict()
    assert doc["lang"] == "en" and "cuts" not in doc
    r.validate()


def test_procedure_filter(sample_log):
    code = "2.001417"
    r = tm.report(sample_log, procedure=code, sections=["summary", "process_map"])
    n = int((sample_log.cases[S.PROCEDURE] == code).sum())
    assert r.meta["n_dossiers"] == n
    doc = r.to_dict()
    assert doc["procedure"] == code and doc["summary"]["overall"]["received"] == n
    assert code in r.html
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log, procedure="no-such-code")


def test_bad_arguments(sample_log):
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log, lang="fr")
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log, sections=["nope"])
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log, top=0)
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log, bottlenecks_by=("dossier",))
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log.events)
    with pytest.raises(tm.ConfigError):
        tm.report(sample_log, sections=["summary"]).save("x.pdf")


def test_cuts_not_available_note(sample_log, monkeypatch):
    from tthc_mining.report import build
    monkeypatch.setattr(build, "cuts_available", lambda: (False, "tthc_mining.cuts missing (test)"))
    r = tm.report(sample_log, sections=["cuts"])
    sec = r.sections["cuts"]
    assert sec.status == "unavailable"
    assert "chưa có trong phiên bản này" in r.html
    doc = r.to_dict()
    assert doc["cuts"] == {"available": False, "reason": "tthc_mining.cuts missing (test)"}
    r.validate()


def test_failing_section_is_reported_not_hidden(sample_log, monkeypatch):
    from tthc_mining.report import build

    def boom(log, sec, opt):
        raise RuntimeError("handover engine exploded")

    monkeypatch.setitem(build.RUNNERS, "handovers", boom)
    r = tm.report(sample_log, sections=["handovers", "overdue"])
    assert r.sections["handovers"].status == "error"
    assert r.sections["overdue"].status == "ok"
    assert "handover engine exploded" in r.errors["handovers"]
    assert "handover engine exploded" in r.html
    r.validate()
    with pytest.raises(RuntimeError, match="exploded"):
        tm.report(sample_log, sections=["handovers"], on_error="raise")


def test_without_graphviz_the_map_is_a_table(sample_log, monkeypatch):
    import tthc_mining.render as render
    monkeypatch.setattr(render, "has_dot", lambda: False)
    r = tm.report(sample_log, sections=["process_map"])
    sec = r.sections["process_map"]
    assert sec.status == "ok" and "Graphviz" in sec.note
    assert "map_frequency" not in sec.charts and "transitions" in sec.views
    assert "Tiếp nhận hồ sơ" in r.html


def test_log_without_units(sample_log):
    ev = sample_log.events.drop(columns=[S.GROUP])
    log = sample_log.with_events(ev)
    r = tm.report(log, sections=["handovers", "bottlenecks"])
    assert r.sections["handovers"].status == "unavailable"
    assert "org:group" in r.sections["handovers"].note
    assert r.sections["bottlenecks"].status == "ok"
    assert "bottlenecks_unit" not in r.tables
    r.validate()


def test_progress_callback_and_path(sample_log, tmp_path):
    seen = []
    r = tm.report(sample_log, sections=["summary", "quality"], path=tmp_path / "r.json",
                  progress=lambda sid, i, n: seen.append((sid, i, n)))
    assert seen == [("summary", 0, 2), ("quality", 1, 2)]
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == "1.0" and doc["log"]["n_dossiers"] == sample_log.n_cases
    assert r.meta["seconds"] > 0


def test_rich_display(rep):
    h = rep._repr_html_()
    assert h.count("<iframe") == 1 and "srcdoc=" in h
    assert "<script" not in h.lower()
    assert "&lt;!DOCTYPE html&gt;" in h  # the whole page, escaped into the attribute
    assert repr(rep).startswith("Report(")
    f = rep.to_frame()
    assert list(f.columns) == ["section", "title", "status", "tables", "rows", "seconds", "note"]
    assert isinstance(rep.sections["process_map"].objects["map"], tm.ProcessMap)


# ====================================================================== building blocks
def test_number_formats():
    from tthc_mining.report.text import fmt_ci, fmt_num, fmt_pct
    assert fmt_num(1234.56, 1, "vi") == "1.234,6"
    assert fmt_num(1234.56, 1, "en") == "1,234.6"
    assert fmt_pct(0.1234, "vi") == "12,3%"
    assert fmt_ci(0.1, 0.2, "vi", pct=True) == "[10,0%; 20,0%]"
    assert fmt_ci(1.5, 2.25, "en", digits=2) == "[1.50, 2.25]"
    assert fmt_num(float("nan")) == "—" and fmt_ci(None, 1.0) == "—"


def test_chart_svg_escapes_and_prefixes():
    from tthc_mining.report.charts import inline_svg, ranked_ci
    svg = ranked_ci([HOSTILE_STEP, "$\\frac{1}{0", "Thẩm định hồ sơ"], [3.0, 1.0, np.nan],
                    [2.0, 0.5, np.nan], [4.0, 1.5, np.nan], xlabel="giờ", title="Tiêu đề")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "Thẩm định hồ sơ" in svg
    s = inline_svg(svg, "k1")
    assert s.startswith("<svg") and "<?xml" not in s and "<!DOCTYPE" not in s
    ids = re.findall(r'\bid="([^"]+)"', s)
    assert ids and all(i.startswith("k1-") for i in ids)
    refs = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', s)
    assert all((a or b).startswith("k1-") for a, b in refs)


def test_safe_svg_refuses_active_content():
    from tthc_mining.report.page import UnsafeSvgError, safe_svg
    ok = ('<svg xmlns="http://www.w3.org/2000/svg"><text id="t1">&lt;script&gt;</text>'
          '<use xlink:href="#t1"/></svg>')
    assert str(safe_svg(ok, "k")) == ('<svg xmlns="http://www.w3.org/2000/svg"><text id="k-t1">'
                                      '&lt;script&gt;</text><use xlink:href="#k-t1"/></svg>')
    for bad in ('<svg><script>alert(1)</script></svg>', '<svg onload="alert(1)"></svg>',
                '<svg><image href="http://x/y.png"/></svg>',
                '<svg><a xlink:href="javascript:alert(1)">x</a></svg>',
                '<svg><foreignObject><div/></foreignObject></svg>'):
        with pytest.raises(UnsafeSvgError):
            safe_svg(bad, "k")


def test_cuts_file(tmp_path, sample_log):
    from tthc_mining.report import load_cuts
    p = tmp_path / "cuts.yaml"
    p.write_text("cost:\n  hourly_income_vnd: 50000\ncuts:\n"
                 "  - type: RemoveLoop\n    kind: supplement\n"
                 "  - {type: ShortenStep, activity: Thẩm định hồ sơ, factor: 0.5, procedure: '1.004227'}\n",
                 encoding="utf-8")
    cf = load_cuts(p)
    assert [type(c).__name__ for c in cf.cuts] == ["RemoveLoop", "ShortenStep"]
    assert cf.procedures == [None, "1.004227"] and cf.cost.hourly_income_vnd == 50000
    r = tm.report(sample_log, sections=["cuts"], cuts=p)
    ranked = r.tables["cuts_ranked"]
    assert sorted(ranked["label_en"]) == sorted(c.label_en for c in cf.cuts)
    assert r.to_dict()["cuts"]["cost"]["hourly_income_vnd"] == 50000
    assert r.to_dict()["cuts"]["source"] == "given"
    r.validate()
    for text, match in (("- type: NoSuchCut\n", "cut #1"), ("cuts: []\n", "non-empty"),
                        ("other: 1\n", "unknown top-level"), ("- [1, 2\n", "cannot parse"),
                        ("- type: RemoveStep\n  wrong_field: 1\n", "cut #1")):
        p.write_text(text, encoding="utf-8")
        with pytest.raises(tm.ConfigError, match=match):
            load_cuts(p)
    with pytest.raises(tm.ConfigError, match="not found"):
        load_cuts(tmp_path / "missing.yaml")


def test_parallel_cuts_equal_serial(sample_log):
    """parallel=True computes the cuts in a forked process: same tables as in-process."""
    from tthc_mining.report.build import parallel_ok
    if not parallel_ok(sample_log, ["summary", "cuts"], True):
        pytest.skip("no fork start method or a single core")
    cuts = [tm.cuts.RemoveLoop(kind="supplement"), tm.cuts.ShortenStep("Thẩm định hồ sơ", factor=0.5)]
    kw = dict(sections=["summary", "cuts", "overdue"], cuts=cuts, cuts_method="replay", n_boot=200)
    a = tm.report(sample_log, parallel=True, **kw)
    b = tm.report(sample_log, parallel=False, **kw)
    assert list(a.sections) == list(b.sections) == ["summary", "overdue", "cuts", "methods"]
    assert a.sections["cuts"].status == "ok"
    pd.testing.assert_frame_equal(a.tables["cuts_ranked"], b.tables["cuts_ranked"])
    assert a.sections["cuts"].objects == {}  # objects stay in the child
    assert a.sections["cuts"].charts.keys() == b.sections["cuts"].charts.keys()


def test_parallel_child_failure_is_reported(sample_log, monkeypatch):
    from tthc_mining.report import build
    from tthc_mining.report.build import parallel_ok
    if not parallel_ok(sample_log, ["summary", "cuts"], True):
        pytest.skip("no fork start method or a single core")

    def boom(log, sec, opt):
        raise ValueError("cut engine exploded")

    monkeypatch.setitem(build.RUNNERS, "cuts", boom)  # inherited by the forked child
    r = tm.report(sample_log, sections=["summary", "cuts"], parallel=True)
    assert r.sections["cuts"].status == "error" and "cut engine exploded" in r.errors["cuts"]
    with pytest.raises(RuntimeError, match="cut engine exploded"):
        tm.report(sample_log, sections=["summary", "cuts"], parallel=True, on_error="raise")


def test_quality_section_counts_dropped_rows(tmp_path):
    df = pd.read_csv(SAMPLE, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    keep = df["Mã hồ sơ"].drop_duplicates().iloc[:80]
    df = df[df["Mã hồ sơ"].isin(keep)].reset_index(drop=True)
    df.loc[[3, 10, 20], "Mã hồ sơ"] = ""
    p = tmp_path / "dropped.csv"
    df.to_csv(p, index=False, encoding="utf-8-sig")
    log = tm.read_log(p)
    r = tm.report(log, sections=["quality"])
    q = r.to_dict()["quality"]
    assert q["rows_dropped"] == 3 and q["rows_read"] == len(df) == q["rows_used"] + 3
    issue = next(i for i in q["issues"] if i["action"] == "dropped")
    assert issue["count"] == 3 and issue["examples"] == [4, 11, 21]   # 1-based data rows
    assert issue["reason"] in r.html and "4, 11, 21" in r.html
    r.validate()


def test_large_logs_score_cuts_by_replay(sample_log, monkeypatch):
    from tthc_mining.report import build
    monkeypatch.setattr(build, "AUTO_REPLAY_ABOVE", 1000)  # the sample has 1,650 dossiers
    r = tm.report(sample_log, sections=["cuts"], cuts=[tm.cuts.RemoveLoop(kind="supplement")])
    assert r.to_dict()["cuts"]["method"] == "replay"
    assert set(r.tables["cuts_ranked"]["method"]) == {"replay"}
    assert "phát lại (replay)" in r.html
    r.validate()


def test_cut_finding_says_why_the_provincial_formula_gives_zero():
    """A cut that leaves the statutory deadline alone (e.g. one more officer) is worth 0 VND under
    the provincial formula (days cut from the deadline): the key finding says so instead of a
    bare "0 đồng/năm"; a cut that shortens the deadline keeps the amount."""
    import pandas as pd
    from tthc_mining.report import _findings
    from tthc_mining.report.build import Section

    def finding(days_cut, vnd, lang):
        ranked = pd.DataFrame({"label_vi": ["Bổ sung 1 cán bộ"], "label_en": ["Add one officer"],
                               "procedure": ["1.004227"], "saved_mean_days": [0.71],
                               "saved_ci_low": [0.48], "saved_ci_high": [0.94],
                               "statutory_days_saved": [days_cut],
                               "statutory_cost_saved_vnd_per_year": [vnd]})
        return _findings({"cuts": Section(id="cuts", tables={"cuts_ranked": ranked})}, lang)[-1]

    vi = finding(0.0, 0.0, "vi")
    assert "thời hạn giải quyết không đổi" in vi and "0 đồng/năm" in vi
    en = finding(0.0, 0.0, "en")
    assert "deadline is unchanged" in en and "0 VND per year" in en
    kept = finding(2.0, 1_500_000.0, "vi")
    assert "không đổi" not in kept and "1.500.000 đồng/năm" in kept
