"""The four notebooks run top to bottom on the bundled sample (nbclient, the venv's kernel) and
are committed without outputs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["01_quickstart", "02_bottlenecks", "03_rework", "04_cuts"]
CELL_TIMEOUT = 300

nbformat = pytest.importorskip("nbformat")


def _load(name: str):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = _load(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for c in code:
        assert c.outputs == [] and c.execution_count is None, f"{name}: outputs committed"
    text = "".join(c.source for c in nb.cells)
    assert "sample_province.csv" in text  # runs on the bundled sample


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = _load(name)
    monkeypatch.setenv("TTHC_OUT", str(tmp_path))   # files the notebook writes go here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert shown, "the notebook showed nothing"
    if name == "01_quickstart":
        assert (tmp_path / "report.html").is_file() and (tmp_path / "report.xlsx").is_file()
    # nothing written into the repository
    assert not any(p.suffix in (".html", ".xlsx") for p in (ROOT / "notebooks").iterdir())
    assert os.environ["TTHC_OUT"] == str(tmp_path)
