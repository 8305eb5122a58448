"""`--pseudonymize --pseudonymize-officers` on the CLI: no original personal identifier of the synthetic province appears
in any output (report HTML, JSON, Excel workbook, summary, validation, bottleneck tables)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tthc_mining import schema as S
from tthc_mining.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "datasets" / "sample_province.csv"
KEY = "test-key-0123456789abcdef"


def _originals() -> set[str]:
    df = pd.read_csv(SAMPLE, dtype=str, encoding="utf-8-sig")
    # officers too: the fake citizens and officers share name lists, and the runs below ask
    # for officers' names to be replaced as well
    cols = ["Chủ hồ sơ", "Số CCCD", "Số điện thoại", "Email", "Cán bộ xử lý"]
    values = set()
    for c in cols:
        values |= {v for v in df[c].dropna().unique() if len(v) >= 6}
    assert len(values) > 1000  # realistic fake people are there to be hidden
    return values


def _text(path: Path) -> str:
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                             if n.endswith(".xml"))
    return path.read_text(encoding="utf-8-sig")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("pseudo")
    common = [str(SAMPLE), "--pseudonymize", "--pseudonymize-officers", "--pseudonym-key", KEY,
              "-q"]
    assert main(["report", *common, "-o", str(out / "r.html"), "-o", str(out / "r.json"),
                 "-o", str(out / "r.xlsx")]) == 0
    assert main(["summary", *common, "-o", str(out / "s.xlsx")]) == 0
    assert main(["validate", *common, "-o", str(out / "q.json")]) == 0
    assert main(["bottlenecks", *common, "--by", "resource", "-o", str(out / "b.csv")]) == 0
    return sorted(out.iterdir())


def test_no_original_identifier_in_any_output(outputs):
    originals = _originals()
    assert len(outputs) == 6
    for path in outputs:
        text = _text(path)
        leaked = [v for v in originals if v in text]
        assert not leaked, (path.name, leaked[:5])


def test_without_the_flag_identifiers_would_be_there(tmp_path):
    """The check above can fail: the same scan finds identifiers when the flag is off."""
    from tthc_mining.io import read_log
    from tthc_mining.io import write_log
    log = read_log(SAMPLE)
    p = write_log(log, tmp_path / "plain.csv", layout="onestop")
    text = _text(Path(p))
    assert any(v in text for v in list(_originals())[:200])
    assert S.OWNER_ID in log.events.columns or "Số CCCD" in text
