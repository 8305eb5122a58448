"""Rich objects (issue 6): every analysis result displays in Jupyter (``_repr_html_`` or a
DataFrame), serialises with ``to_json()`` (valid JSON) and gives ``to_frame()``."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import tthc_mining as tm

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def log():
    return tm.read_log(ROOT / "datasets" / "sample_province.csv",
                       catalog=tm.ProcedureCatalog.load(ROOT / "datasets" / "sample_catalog.csv"))


def results(log):
    cut = tm.cuts.RemoveLoop(kind="supplement")
    return {
        "quality": log.quality,
        "summary": tm.summary(log),
        "timing": tm.timing(log),
        "process_map": tm.discover(log),
        "handovers": tm.handovers(log, n_boot=100),
        "overdue": tm.overdue_attribution(log),
        "rework": tm.rework(log, n_boot=100),
        "conformance": tm.conformance(log, fitness=False),
        "explain_cut": tm.explain_cut(log, cut),
        "report": tm.report(log, sections=["summary"]),
    }


def test_rich_results(log):
    for name, obj in results(log).items():
        html = obj._repr_html_()
        assert isinstance(html, str) and "<" in html and len(html) > 50, name
        assert "<script" not in html.lower(), name
        frame = obj.to_frame()
        assert isinstance(frame, pd.DataFrame) and len(frame.columns) > 0, name
        doc = json.loads(obj.to_json())
        assert isinstance(doc, (dict, list)) and doc, name


def test_frames_are_results_too(log):
    """bottlenecks and score_cuts return DataFrames: they display and serialise as such."""
    b = tm.bottlenecks(log, n_boot=100)
    s = tm.score_cuts(log, [tm.cuts.RemoveLoop(kind="supplement")], n_boot=100, method="replay")
    for df in (b, s):
        assert isinstance(df, pd.DataFrame) and df._repr_html_()
        assert json.loads(df.drop(columns=["cut"], errors="ignore").to_json(orient="records"))


def test_process_map_svg_in_jupyter(log):
    from tthc_mining.render import has_dot
    pm = tm.discover(log)
    svg = pm._repr_svg_()
    if has_dot():
        assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    else:
        assert svg is None and "<table" in pm._repr_html_()
