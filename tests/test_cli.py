"""The command line: every subcommand, output formats, exit codes and one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tthc_mining.cli import (EXIT_DROPPED, EXIT_INPUT, EXIT_OK, EXIT_PROGRAM, EXIT_USAGE,
                             build_parser, main)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "datasets" / "sample_province.csv"
CATALOG = ROOT / "datasets" / "sample_catalog.csv"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """The first 300 dossiers of the bundled sample (fast)."""
    df = pd.read_csv(SAMPLE, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    keep = df["Mã hồ sơ"].drop_duplicates().iloc[:300]
    p = tmp_path_factory.mktemp("cli") / "small.csv"
    df[df["Mã hồ sơ"].isin(keep)].to_csv(p, index=False, encoding="utf-8-sig")
    return p


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def validate(doc):
    from tthc_mining.report.tables import validate as v
    v(doc)


def test_help_version_and_usage(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for cmd in ("summary", "validate", "map", "bottlenecks", "rework", "cuts", "report", "synth"):
        assert cmd in out
    assert "exit codes" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("tthc-mining ")
    code, _, err = run(capsys, "summary")            # LOG missing
    assert code == EXIT_USAGE and "required" in err
    code, _, err = run(capsys, "bottlenecks", SAMPLE, "--by", "dossier")
    assert code == EXIT_USAGE
    code, out, _ = run(capsys)
    assert code == EXIT_USAGE and "COMMAND" in out


def test_consistent_options():
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command").choices
    for cmd in ("summary", "map", "bottlenecks", "rework", "cuts", "report"):
        opts = {o for a in sub[cmd]._actions for o in a.option_strings}
        for o in ("--catalog", "--procedure", "--as-of", "--lang", "--output", "--format", "--quiet",
                  "--debug", "--top", "--ci", "--n-boot", "--seed", "--column", "--calendar"):
            assert o in opts, (cmd, o)


def test_summary_text_and_quiet(capsys, small):
    code, out, _ = run(capsys, "summary", small, "--catalog", CATALOG)
    assert code == EXIT_OK and "hồ sơ tiếp nhận" in out and "QĐ 766" in out
    code, out, _ = run(capsys, "summary", small, "--catalog", CATALOG, "--lang", "en")
    assert code == EXIT_OK and "dossiers received" in out
    code, out, err = run(capsys, "summary", small, "--quiet")
    assert code == EXIT_OK and out == "" and err == ""


def test_summary_outputs(capsys, small, tmp_path):
    code, _, _ = run(capsys, "summary", small, "--catalog", CATALOG, "-o", tmp_path / "s.json", "-q")
    doc = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    validate(doc)
    assert doc["summary"]["overall"]["received"] == 300
    assert {s["id"] for s in doc["sections"]} == {"summary", "quality", "methods"}
    code, _, _ = run(capsys, "summary", small, "-o", tmp_path / "s.csv", "-q")
    df = pd.read_csv(tmp_path / "s.csv", encoding="utf-8-sig")
    assert code == EXIT_OK and df.loc[df["level"] == "overall", "received"].iloc[0] == 300
    code, _, _ = run(capsys, "summary", small, "-o", tmp_path / "s.html", "-q")
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert code == EXIT_OK and "Chỉ tiêu giải quyết hồ sơ" in page
    code, _, _ = run(capsys, "summary", small, "-o", tmp_path / "s.xlsx", "-q")
    from openpyxl import load_workbook
    assert "Chỉ tiêu tổng hợp" in load_workbook(tmp_path / "s.xlsx").sheetnames
    # JSON on stdout without -o (printed even with --quiet: it is the output)
    code, out, _ = run(capsys, "summary", small, "--format", "json", "-q")
    assert code == EXIT_OK and json.loads(out)["schema_version"] == "1.0"
    code, _, err = run(capsys, "summary", small, "--format", "xlsx")
    assert code == EXIT_USAGE and "needs -o" in err


def test_validate_and_fail_on_dropped(capsys, small, tmp_path):
    code, out, _ = run(capsys, "validate", small, "-o", tmp_path / "q.json")
    doc = json.loads((tmp_path / "q.json").read_text(encoding="utf-8"))
    assert code == EXIT_OK and doc["quality"]["rows_read"] == doc["quality"]["rows_used"]
    validate(doc)
    assert "rows read" in out
    bad = tmp_path / "bad.csv"
    df = pd.read_csv(small, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    df.loc[df.index[:3], "Mã hồ sơ"] = ""
    df.to_csv(bad, index=False, encoding="utf-8-sig")
    code, out, _ = run(capsys, "validate", bad, "--fail-on-dropped")
    assert code == EXIT_DROPPED and "dropped" in out
    code, _, _ = run(capsys, "validate", bad)
    assert code == EXIT_OK


def test_map(capsys, small, tmp_path):
    from tthc_mining.render import has_dot
    code, out, _ = run(capsys, "map", small, "--top", "3")
    assert code == EXIT_OK and "transitions" in out and "Tiếp nhận hồ sơ" in out
    code, _, _ = run(capsys, "map", small, "-o", tmp_path / "m.dot", "-q")
    assert code == EXIT_OK and (tmp_path / "m.dot").read_text(encoding="utf-8").startswith("digraph")
    code, _, _ = run(capsys, "map", small, "-o", tmp_path / "m.json", "-q")
    doc = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    validate(doc)
    assert sum(t["count"] for t in doc["process_map"]["transitions"]) == doc["process_map"]["n_transitions"]
    if has_dot():
        code, _, _ = run(capsys, "map", small, "--kind", "performance", "-o", tmp_path / "m.svg", "-q")
        assert code == EXIT_OK and "<svg" in (tmp_path / "m.svg").read_text(encoding="utf-8")
    code, _, err = run(capsys, "map", small, "--format", "png")
    assert code == EXIT_USAGE and "needs -o" in err
    code, _, err = run(capsys, "map", small, "-o", tmp_path / "m.pdf")
    assert code == EXIT_USAGE and err.count("\n") == 1


def test_missing_graphviz_is_exit_4(capsys, small, tmp_path, monkeypatch):
    import tthc_mining.render as render
    monkeypatch.setattr(render, "has_dot", lambda: False)
    code, _, err = run(capsys, "map", small, "-o", tmp_path / "m.svg")
    assert code == EXIT_PROGRAM and "dot" in err and err.count("\n") == 1


def test_bottlenecks(capsys, small, tmp_path):
    code, out, _ = run(capsys, "bottlenecks", small, "--catalog", CATALOG, "--top", "4")
    assert code == EXIT_OK and "wait_mean_ci_low" in out and "more rows" in out
    code, out, _ = run(capsys, "bottlenecks", small, "--by", "unit", "--format", "json", "-q",
                       "--n-boot", "200")
    doc = json.loads(out)
    validate(doc)
    assert "by_unit" in doc["bottlenecks"] and "by_activity" not in doc["bottlenecks"]
    assert doc["bottlenecks"]["attrs"]["n_boot"] == 200
    code, _, _ = run(capsys, "bottlenecks", small, "--by", "resource", "-o", tmp_path / "b.csv", "-q")
    df = pd.read_csv(tmp_path / "b.csv", encoding="utf-8-sig")
    assert code == EXIT_OK and "resource" in df.columns and len(df) > 0


def test_rework(capsys, small, tmp_path):
    code, out, _ = run(capsys, "rework", small, "--catalog", CATALOG)
    assert code == EXIT_OK and "Tỷ lệ hồ sơ có vòng lặp" in out
    code, _, _ = run(capsys, "rework", small, "-o", tmp_path / "r.xlsx", "-q")
    from openpyxl import load_workbook
    wb = load_workbook(tmp_path / "r.xlsx")
    assert code == EXIT_OK and "Vòng lặp - tổng hợp" in wb.sheetnames and "Đồng hồ ẩn" in wb.sheetnames


CUTS_YAML = """\
# candidate cuts for the review
cost:
  hourly_income_vnd: 40000
cuts:
  - type: RemoveLoop
    kind: supplement
  - type: ShortenStep
    activity: Thẩm định hồ sơ
    factor: 0.5
"""


def test_cuts_from_yaml(capsys, small, tmp_path):
    y = tmp_path / "cuts.yaml"
    y.write_text(CUTS_YAML, encoding="utf-8")
    code, out, _ = run(capsys, "cuts", small, "--catalog", CATALOG, "--cuts", y, "--lang", "en")
    assert code == EXIT_OK
    assert "Remove supplement loops" in out and "saved_ci_low" in out
    code, _, _ = run(capsys, "cuts", small, "--catalog", CATALOG, "--cuts", y, "-o", tmp_path / "c.json",
                     "-q", "--hourly-income", "50000")
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    validate(doc)
    ranked = doc["cuts"]["ranked"]
    assert [r["rank"] for r in ranked] == [1, 2]
    assert {r["cut_spec"]["type"] for r in ranked} == {"RemoveLoop", "ShortenStep"}
    assert doc["cuts"]["cost"]["hourly_income_vnd"] == 50000 and doc["cuts"]["source"] == "given"
    # a bad cuts file: one clear line naming the file and the cut, exit 3
    y.write_text("cuts:\n  - type: RemoveStep\n    activity: Bước không có\n", encoding="utf-8")
    code, _, err = run(capsys, "cuts", small, "--cuts", y)
    assert code == EXIT_INPUT and "cuts.yaml" in err and "cut #1" in err and err.count("\n") == 1
    y.write_text("cuts: [\n", encoding="utf-8")
    code, _, err = run(capsys, "cuts", small, "--cuts", y)
    assert code == EXIT_INPUT and "cannot parse" in err
    code, _, err = run(capsys, "cuts", small, "--cuts", tmp_path / "none.yaml")
    assert code == EXIT_INPUT and "not found" in err


def test_report_formats(capsys, small, tmp_path):
    code, out, _ = run(capsys, "report", small, "--catalog", CATALOG, "--no-cuts", "-o", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert code == EXIT_OK and "Báo cáo khai phá quy trình thủ tục hành chính" in page
    assert "sections" in out
    code, _, _ = run(capsys, "report", small, "--no-cuts", "--lang", "en", "-o", tmp_path / "r.json", "-q")
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    validate(doc)
    assert doc["lang"] == "en" and "cuts" not in doc and len(doc["sections"]) == 8
    code, _, _ = run(capsys, "report", small, "--no-cuts", "-o", tmp_path / "r.xlsx", "-q")
    assert code == EXIT_OK and (tmp_path / "r.xlsx").stat().st_size > 0
    code, out, _ = run(capsys, "report", small, "--no-cuts", "-o", tmp_path / "a.html", "-o",
                       tmp_path / "a.json", "-o", tmp_path / "a.xlsx")
    assert code == EXIT_OK and out.count("→") == 3
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["log"]["n_dossiers"] == 300
    assert (tmp_path / "a.html").is_file() and (tmp_path / "a.xlsx").is_file()
    code, _, err = run(capsys, "report", small)
    assert code == EXIT_USAGE and "-o" in err
    code, _, err = run(capsys, "report", small, "-o", tmp_path / "r.csv")
    assert code == EXIT_USAGE


def test_report_with_failed_section_exits_1(capsys, small, tmp_path, monkeypatch):
    from tthc_mining.report import build

    def boom(log, sec, opt):
        raise RuntimeError("boom")

    monkeypatch.setitem(build.RUNNERS, "rework", boom)
    code, _, err = run(capsys, "report", small, "--no-cuts", "-o", tmp_path / "r.html", "-q")
    assert code == 1 and "section 'rework' failed" in err and (tmp_path / "r.html").exists()
    with pytest.raises(RuntimeError, match="boom"):  # --debug: the traceback
        main(["report", str(small), "--no-cuts", "-o", str(tmp_path / "r2.html"), "--debug", "-q"])


def test_errors_are_one_line(capsys, small, tmp_path):
    code, out, err = run(capsys, "summary", tmp_path / "missing.csv")
    assert code == EXIT_INPUT and out == ""
    assert err.startswith("tthc-mining: error: ") and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(capsys, "summary", small, "--procedure", "9.999999")
    assert code == EXIT_USAGE and "unknown procedure" in err and err.count("\n") == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "summary", bad)
    assert code == EXIT_INPUT and "missing required column" in err and err.count("\n") == 1
    code, _, err = run(capsys, "summary", small, "--catalog", tmp_path / "missing_catalog.csv")
    assert code == EXIT_INPUT and err.count("\n") == 1
    code, _, err = run(capsys, "summary", small, "--column", "nonsense")
    assert code == EXIT_USAGE and "ROLE=HEADER" in err


def test_console_script_and_synth(tmp_path):
    exe = Path(sys.executable).parent / "tthc-mining"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tthc_mining.cli"]
    r = subprocess.run(cmd + ["synth", "-n", "120", "--seed", "3", "-o", str(tmp_path / "p.csv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "120 dossiers" in r.stdout
    r = subprocess.run(cmd + ["summary", str(tmp_path / "p.csv"), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["overall"]["received"] == 120
    r = subprocess.run(cmd + ["summary", str(tmp_path / "nope.csv")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == EXIT_INPUT and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
