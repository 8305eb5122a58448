"""Shared parts of the reader fuzz targets (see docs/fuzzing.md).

Every target turns one fuzzer input into a file, reads it with :func:`tthc_mining.read_log`
under small resource limits and checks the outcome:

* a :class:`tthc_mining.TthcMiningError` (a clear, intended error) is fine;
* any other exception is a crash (the fuzzer saves the input);
* a log must account for every row (``rows_read == rows_used + rows_dropped``, one event per
  used row), keep its rows sorted by dossier and time with unique source row numbers, hold
  time-zone-aware times and NFC text, and the directly-follows graph must count
  ``events - dossiers`` transitions.

An input is used in one of two ways, chosen by its first byte: *raw* (the remaining bytes are
the file, so the fuzzer mutates real files of ``tests/data/bad`` seeded into its corpus) or
*structured* (the bytes drive a generator that writes a well-formed but hostile file: random
separators, encodings, quotes, dates, merged cells, XML nesting, entities ...).
"""
from __future__ import annotations

import codecs
import io
import os
import random
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "bad"
LIMITS = dict(max_bytes=16 << 20, max_rows=200_000)
_TMP = Path(tempfile.mkdtemp(prefix="tthc-fuzz-"))


class Source:
    """A byte source with the FuzzedDataProvider methods the generators use (so the same
    generators run under atheris and under the hypothesis fallback)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int(self, lo: int, hi: int) -> int:
        span = hi - lo + 1
        v = 0
        for _ in range(4 if span > 1 << 16 else 2 if span > 256 else 1):
            v = (v << 8) | self.byte()
        return lo + v % span

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def bool(self) -> bool:
        return bool(self.byte() & 1)

    def text(self, n: int) -> str:
        out = []
        for _ in range(self.int(0, n)):
            k = self.byte()
            if k < 150:
                out.append(chr(32 + k % 95))
            elif k < 220:
                out.append(self.choice(VI_CHARS))
            else:
                out.append(self.choice(NASTY))
        return "".join(out)

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


VI_CHARS = list("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđĐ")
NASTY = ["\"", "'", ",", ";", "\t", "\n", "\r", "\r\n", "\x00", "\x1b[31m", "\u202e", "\ufeff",
         "\u200b", "=", "+", "-", "@", "<", ">", "&", "&amp;", "]]>", "<!--", "\\", "%", "{{",
         "e\u0301", "\ud7ff", "\U0001f600", "\u0300", "NULL", "NaN", "#N/A", "  ", "\x0b",
         "\xa0", "¶", "Õ", "\u2028"]
STEPS = ["Tiếp nhận hồ sơ", "Thẩm định", "Phê duyệt", "Trả kết quả", "Yêu cầu bổ sung hồ sơ",
         "Nhận hồ sơ bổ sung", "Tạm dừng", "Tiếp tục xử lý", "Kết thúc xử lý", "Rút hồ sơ"]
HEADERS = ["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Thời điểm bắt đầu", "Cán bộ xử lý",
           "Đơn vị xử lý", "Ngày tiếp nhận", "Ngày hẹn trả", "Kênh nộp", "Trạng thái", "Lý do",
           "Mã TTHC", "Chủ hồ sơ", "Số CCCD", "MaHoSo", "ThoiDiemXuLy", "case:concept:name",
           "concept:name", "time:timestamp", "org:resource", "Case ID", "Activity", "Timestamp"]


def a_time(src: Source) -> str:
    y, mo, d = src.int(1890, 2210), src.int(0, 13), src.int(0, 32)
    h, mi, s = src.int(0, 25), src.int(0, 61), src.int(0, 61)
    return src.choice([
        f"{d:02d}/{mo:02d}/{y} {h:02d}:{mi:02d}:{s:02d}", f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}",
        f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}+07:00", f"{y}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}",
        f"{mo}/{d}/{y} {h % 13}:{mi:02d} {src.choice(['AM', 'PM', 'SA', 'CH'])}",
        f"{d}/{mo}/{y % 100:02d}", f"{src.int(0, 80000)}.{src.int(0, 99999)}", f"{d}.{mo}.{y}",
        f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{src.int(0, 999999999)}Z", "",
        src.text(12)])


def a_cell(src: Source, header: str) -> str:
    k = src.byte() % 8
    if k == 0:
        return src.text(30)
    if "hời" in header or "Ngày" in header or "time" in header.lower() or "ThoiDiem" in header:
        return a_time(src)
    if header in ("Bước xử lý", "concept:name", "Activity"):
        return src.choice(STEPS) if k < 6 else src.text(15)
    return src.choice([f"HS{src.int(0, 30)}", src.text(10), str(src.int(-10, 10**12)), ""])


def table_rows(src: Source) -> tuple[list[str], list[list[str]]]:
    base = ["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc"] if src.byte() < 200 else []
    headers = base + [src.choice(HEADERS) if src.byte() < 230 else src.text(12)
                      for _ in range(src.int(0 if base else 1, 6))]
    if src.bool():
        random.Random(src.byte()).shuffle(headers)
    rows = []
    for _ in range(src.int(0, 40)):
        width = len(headers) + (src.int(-2, 2) if src.byte() > 240 else 0)
        rows.append([a_cell(src, headers[i % len(headers)]) for i in range(max(width, 0))])
    return headers, rows


# --------------------------------------------------------------------------- builders
def build_csv(src: Source) -> tuple[bytes, str]:
    headers, rows = table_rows(src)
    sep = src.choice([",", ";", "\t", "|"])
    buf = io.StringIO()
    import csv
    w = csv.writer(buf, delimiter=sep, lineterminator=src.choice(["\n", "\r\n", "\r"]),
                   quoting=src.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    for _ in range(src.int(0, 2)):
        buf.write(src.choice(["", "\n", "BÁO CÁO\n", "   \n"]))
    w.writerow(headers)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if src.byte() > 200:
        text = unicodedata.normalize(src.choice(["NFD", "NFKD", "NFC"]), text)
    enc = src.choice(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1258",
                      "tcvn3", "latin-1", "mixed"])
    import tthc_mining.io.legacy  # noqa: F401  (tcvn3 codec)
    if enc == "mixed":
        lines = text.split("\n")
        data = b"\n".join(ln.encode("cp1258" if i % 3 == 1 else "utf-8", errors="replace")
                          for i, ln in enumerate(lines))
    else:
        data = text.encode(enc, errors="replace")
    if src.byte() > 230:
        import gzip
        data = gzip.compress(data)
        if src.bool():
            data = data[: src.int(0, len(data))]
    suffix = src.choice([".csv", ".csv", ".txt", ".tsv", ".csv.gz", ".dat"])
    return data, suffix


def build_xes(src: Source) -> tuple[bytes, str]:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    if src.byte() > 235:
        parts.append(src.choice([
            '<!DOCTYPE log [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
            '<!DOCTYPE log SYSTEM "http://127.0.0.1:9/x.dtd">',
            '<!DOCTYPE log [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "<!-- c -->"]))
    parts.append('<log xes.version="1.0" xmlns="http://www.xes-standard.org/">')
    depth = 0
    for _ in range(src.int(0, 30)):
        k = src.byte() % 10
        key = src.choice(["concept:name", "time:timestamp", "org:resource", "lifecycle:transition",
                          "org:group", "amount", src.text(8)])
        val = src.choice([src.choice(STEPS), a_time(src), src.text(20), str(src.int(-99, 99))])
        val = val.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;") \
            if src.byte() < 240 else val
        typ = src.choice(["string", "date", "int", "float", "boolean", "id", "list", "container"])
        if k < 2:
            parts.append("<trace>")
            depth += 1
        elif k < 5:
            parts.append("<event>")
            depth += 1
        elif k < 8:
            parts.append(f'<{typ} key="{key}" value="{val}"/>')
        elif depth:
            parts.append(src.choice(["</event>", "</trace>", "</list>"]))
            depth -= 1
    parts += ["</event>", "</trace>"][: src.int(0, 2)] + ["</log>"]
    data = "".join(parts).encode(src.choice(["utf-8", "utf-16"]) if src.byte() > 240 else "utf-8")
    if src.byte() > 220:
        import gzip
        data = gzip.compress(data)
        return data, ".xes.gz"
    return data, ".xes"


def build_xlsx(src: Source) -> tuple[bytes, str]:
    import openpyxl
    wb = openpyxl.Workbook()
    for s in range(src.int(1, 3)):
        ws = wb.active if s == 0 else wb.create_sheet()
        ws.title = (src.text(10) or f"S{s}").translate({ord(c): "_" for c in "[]:*?/\\"})[:31] \
            or f"S{s}"
        for _ in range(src.int(0, 3)):
            ws.append([src.text(8)])
        headers, rows = table_rows(src)
        ws.append(headers)
        for r in rows:
            cells: list[Any] = []
            for v in r:
                k = src.byte() % 6
                if k == 0:
                    cells.append(src.int(-10**6, 10**6) + src.int(0, 999) / 1000)
                elif k == 1:
                    import datetime as dt
                    cells.append(dt.datetime(src.int(1900, 2200), src.int(1, 12), src.int(1, 28),
                                             src.int(0, 23), src.int(0, 59)))
                else:
                    cells.append("".join(ch for ch in v if ch >= " " or ch in "\t\n\r"))
            try:
                ws.append(cells)
            except Exception:  # openpyxl refuses some control characters: that is not ours
                ws.append([str(c).encode("ascii", "replace").decode() for c in cells])
        for _ in range(src.int(0, 3)):
            r1, c1 = src.int(1, 12), src.int(1, 6)
            try:
                ws.merge_cells(start_row=r1, start_column=c1, end_row=r1 + src.int(0, 4),
                               end_column=c1 + src.int(0, 2))
            except Exception:
                pass
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if src.byte() > 235:  # flip a few bytes of the archive
        b = bytearray(data)
        for _ in range(src.int(1, 8)):
            b[src.int(0, len(b) - 1)] = src.byte()
        data = bytes(b)
    return data, ".xlsx"


def build_parquet(src: Source) -> tuple[bytes, str]:
    import numpy as np
    import pandas as pd
    headers, rows = table_rows(src)
    n = len(rows)
    cols: dict[str, Any] = {}
    for i, h in enumerate(dict.fromkeys(headers)):
        kind = src.byte() % 6
        vals = [r[i] if i < len(r) else None for r in rows]
        if kind == 0:
            cols[h] = pd.array([src.int(-10**9, 10**9) for _ in range(n)], dtype="Int64")
        elif kind == 1:
            cols[h] = np.array([src.int(0, 10**6) / 7 for _ in range(n)])
        elif kind == 2:
            cols[h] = pd.to_datetime([src.int(0, 4_000_000_000) for _ in range(n)], unit="s",
                                     utc=src.bool())
        elif kind == 3:
            cols[h] = pd.Categorical(vals)
        else:
            cols[h] = pd.array(vals, dtype="string")
    buf = io.BytesIO()
    pd.DataFrame(cols).to_parquet(buf)
    data = buf.getvalue()
    if src.byte() > 235:
        b = bytearray(data)
        for _ in range(src.int(1, 8)):
            b[src.int(0, len(b) - 1)] = src.byte()
        data = bytes(b)
    return data, ".parquet"


BUILDERS: dict[str, Callable[[Source], tuple[bytes, str]]] = {
    "csv": build_csv, "xes": build_xes, "excel": build_xlsx, "parquet": build_parquet}
RAW_SUFFIX = {"csv": ".csv", "xes": ".xes", "excel": ".xlsx", "parquet": ".parquet"}
SEED_SUFFIXES = {"csv": (".csv", ".txt", ".tsv", ".gz"), "xes": (".xes",),
                 "excel": (".xlsx",), "parquet": (".parquet",)}


# --------------------------------------------------------------------------- the check
def check_file(path: Path) -> str:
    """Read one file and check the invariants; returns ``"error"`` or ``"log"``; raises on a
    crash (any exception that is not a TthcMiningError) or a broken invariant."""
    import numpy as np
    import pandas as pd
    import tthc_mining as tm
    from tthc_mining import schema as S
    try:
        log = tm.read_log(path, **LIMITS)
    except tm.TthcMiningError as exc:
        assert str(exc), "an error without a message"
        return "error"
    q = log.quality
    ev = log.events
    assert q.rows_read == q.rows_used + q.rows_dropped, str(q)
    assert q.rows_used == len(ev), (q.rows_used, len(ev))
    rows = ev[S.ROW].to_numpy()
    assert len(np.unique(rows)) == len(rows) and (rows >= 1).all()
    assert isinstance(ev[S.TIMESTAMP].dtype, pd.DatetimeTZDtype)
    assert ev[S.TIMESTAMP].notna().all() and ev[S.CASE].notna().all()
    case = ev[S.CASE].astype(str).to_numpy()
    assert (case[1:] >= case[:-1]).all(), "not sorted by dossier"
    t = ev[S.TIMESTAMP].to_numpy()
    same = case[1:] == case[:-1]
    assert (t[1:][same] >= t[:-1][same]).all(), "not sorted by time within a dossier"
    for c in (S.CASE, S.ACTIVITY, S.RESOURCE):
        if c in ev.columns:
            vals = ev[c].dropna().astype(str).unique()
            assert all(unicodedata.is_normalized("NFC", v) for v in vals), c
    try:  # the analysis of what the reader accepted: a clear error is fine, a crash is not
        pm = tm.discover(log)
    except tm.TthcMiningError:
        return "log, analysis error"
    assert int(pm.dfg["count"].sum()) == log.n_events - log.n_cases
    return "log"


def run_one(kind: str, data: bytes) -> str:
    """One fuzzer input for reader ``kind``."""
    if not data:
        return "empty"
    src = Source(data[1:])
    if data[0] & 1:
        content, suffix = data[1:], RAW_SUFFIX[kind]
        if kind == "csv" and data[0] & 2:
            suffix = ".csv.gz" if content[:2] == b"\x1f\x8b" else ".txt"
    else:
        try:
            content, suffix = BUILDERS[kind](src)
        except Exception:  # the generator could not write this one (e.g. openpyxl refuses a
            return "skip"  # control character): not a finding about the reader
    path = _TMP / f"input{suffix}"
    path.write_bytes(content)
    return check_file(path)


def seeds(kind: str) -> list[bytes]:
    """Initial corpus: the bad-input files of that kind (raw mode) and a few structured seeds."""
    out = []
    for p in sorted(BAD.iterdir()):
        if p.name.endswith(SEED_SUFFIXES[kind]):
            out.append(b"\x01" + p.read_bytes())
    rnd = random.Random(0)
    for _ in range(8):
        out.append(b"\x00" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(16, 400))))
    return out


# --------------------------------------------------------------------------- entry points
def instrumented_imports() -> None:
    """Import the library's reading and mapping code (inside atheris.instrument_imports)."""
    import tthc_mining  # noqa: F401
    import tthc_mining.discovery  # noqa: F401
    import tthc_mining.io  # noqa: F401
    import tthc_mining.io.canonical  # noqa: F401
    import tthc_mining.io.guards  # noqa: F401
    import tthc_mining.io.headers  # noqa: F401
    import tthc_mining.io.legacy  # noqa: F401
    import tthc_mining.io.tabular  # noqa: F401
    import tthc_mining.io.text  # noqa: F401
    import tthc_mining.io.timeparse  # noqa: F401
    import tthc_mining.io.xes  # noqa: F401
    import tthc_mining.limits  # noqa: F401
    import tthc_mining.segments  # noqa: F401


def atheris_main(kind: str) -> None:
    """``python fuzz/fuzz_<kind>.py [corpus dir] [libFuzzer options]``."""
    import sys
    import atheris
    with atheris.instrument_imports(include=["tthc_mining"]):
        instrumented_imports()
    atheris.Setup(sys.argv, lambda data: run_one(kind, data))
    atheris.Fuzz()
