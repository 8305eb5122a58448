"""The bad-input set (tests/data/bad): each file gives a clear error or a counted repair, and
every row read is either used or reported (rows_read == rows_used + rows_dropped)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import tthc_mining as tm
from tthc_mining import schema as S

BAD = Path(__file__).resolve().parent / "data" / "bad"
EXPECTED = yaml.safe_load((BAD / "expected.yaml").read_text(encoding="utf-8"))


def test_the_set_is_complete():
    files = {p.name for p in BAD.iterdir() if p.suffix not in (".py", ".yaml")}
    covered = {spec.get("file", name) for name, spec in EXPECTED.items()}
    assert files == covered, f"files without expectation: {files - covered}; " \
                             f"expectations without file: {covered - files}"
    assert len(files) >= 15


def _local(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input(name):
    spec = EXPECTED[name]
    path = BAD / spec.get("file", name)
    options = spec.get("options", {})
    if "error" in spec:
        cls = getattr(tm, spec["error"])
        with pytest.raises(cls) as info:
            tm.read_log(path, **options)
        assert isinstance(info.value, tm.TthcMiningError)
        msg = str(info.value)
        for fragment in spec.get("message", []):
            assert fragment in msg, f"{fragment!r} not in {msg!r}"
        for fragment in spec.get("not_in_message", []):
            assert fragment not in msg
        return
    log = tm.read_log(path, **options)
    q = log.quality
    assert q.rows_read == spec["rows_read"]
    assert q.rows_dropped == spec["rows_dropped"]
    # nothing silently lost: every row read is used or reported
    assert q.rows_read == q.rows_used + q.rows_dropped
    assert q.rows_used == len(log.events)
    assert log.n_cases == spec["n_cases"]
    got = {}
    for issue in q.issues:
        got[issue.reason] = got.get(issue.reason, 0) + issue.count
    assert got == spec["issues"], str(q)
    for reason, rows in spec.get("examples", {}).items():
        ex = sorted({r for i in q.issues if i.reason == reason for r in i.examples})
        assert ex == rows, (reason, ex)
    if "activities" in spec:
        assert sorted(log.events[S.ACTIVITY].unique()) == sorted(spec["activities"])
    if "events" in spec:
        got_events = [[c, a, _local(t)] for c, a, t in
                      log.events[[S.CASE, S.ACTIVITY, S.TIMESTAMP]].itertuples(index=False)]
        assert got_events == spec["events"]
    for col, values in spec.get("columns", {}).items():
        s = log.events[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            vals = [None if pd.isna(v) else _local(v) for v in s]
        else:
            vals = [None if (not isinstance(v, (list, tuple)) and pd.isna(v)) else
                    (v.item() if hasattr(v, "item") else v) for v in s]
        assert vals == values, col
    # timestamps are tz-aware in the log's zone, rows numbered from 1
    assert str(log.events[S.TIMESTAMP].dt.tz) == S.DEFAULT_TZ
    assert log.events[S.ROW].min() >= 1


def test_xxe_file_is_never_opened(tmp_path):
    """The external entity points at a file we control: refused before it could be read."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER", encoding="utf-8")
    xes = tmp_path / "evil.xes"
    xes.write_text(
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE log [<!ENTITY s SYSTEM "file://{secret}">]>\n'
        '<log><trace><string key="concept:name" value="&s;"/><event>'
        '<string key="concept:name" value="&s;"/>'
        '<date key="time:timestamp" value="2024-01-02T08:00:00"/></event></trace></log>',
        encoding="utf-8")
    import os
    before = os.stat(secret).st_atime_ns
    with pytest.raises(tm.InputError) as info:
        tm.read_log(xes)
    assert "TOP-SECRET-MARKER" not in str(info.value)
    assert os.stat(secret).st_atime_ns == before


def test_undeclared_entity_is_an_error(tmp_path):
    xes = tmp_path / "undeclared.xes"
    xes.write_text('<log><trace><string key="concept:name" value="&xxe;"/></trace></log>',
                   encoding="utf-8")
    with pytest.raises(tm.InputError, match="undeclared.xes"):
        tm.read_log(xes)
