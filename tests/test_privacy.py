"""Personal data (issue 8): keyed stable pseudonyms, detection, free-text scrubbing, and a scan of
every output for the original identifiers of the synthetic province."""
from __future__ import annotations

import html
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.privacy import (KIND_PREFIX, Pseudonymizer, detect_identifier_columns,
                                 normalise, pseudonym)

KEY = "k" * 16 + "-test-key-not-secret"
OTHER_KEY = "another-key-of-sufficient-length"
PERSONAL = (S.OWNER_NAME, S.OWNER_ID, S.OWNER_PHONE, S.OWNER_EMAIL)


@pytest.fixture(scope="module")
def province():
    return tm.synth.province(300, seed=7)


# --------------------------------------------------------------------------- pseudonyms
def test_pseudonym_format_keyed_and_stable():
    a = pseudonym(KEY, "id", "030088642478")
    assert re.fullmatch(r"CD-[0-9a-f]{12}", a)
    assert pseudonym(KEY, "id", "030088642478") == a                 # stable
    assert pseudonym(OTHER_KEY, "id", "030088642478") != a           # keyed
    assert pseudonym(KEY, "id", "030088642479") != a
    # the kind is part of the message: the same digits as a phone are another pseudonym
    assert pseudonym(KEY, "phone", "030088642478")[3:] != a[3:]
    assert set(KIND_PREFIX) == {"name", "id", "phone", "email", "address", "officer", "other"}


def test_pseudonym_is_hmac_sha256_of_the_normalised_value():
    import hashlib
    import hmac
    want = hmac.new(KEY.encode(), b"phone\x1f0912345678", hashlib.sha256).hexdigest()[:12]
    assert pseudonym(KEY, "phone", "0912345678") == "DT-" + want


@pytest.mark.parametrize("kind,a,b", [
    ("phone", "0912 345 678", "+84 912.345.678"),
    ("phone", "84912345678", "0912-345-678"),
    ("name", "Nguyễn  Văn An", "NGUYỄN VĂN AN"),
    ("name", "Nguye\u0302\u0303n Văn An", "Nguyễn Văn An"),     # NFD vs NFC
    ("email", " An.Nguyen@Gmail.com", "an.nguyen@gmail.com"),
    ("id", 30088642478, "030088642478"),                           # CCCD stored as a number
    ("id", "030 088 642 478", "030088642478"),
])
def test_equal_people_get_equal_pseudonyms(kind, a, b):
    assert normalise(kind, a) == normalise(kind, b)
    assert pseudonym(KEY, kind, a) == pseudonym(KEY, kind, b)


def test_key_is_required_and_long_enough(monkeypatch, province):
    monkeypatch.delenv("TTHC_MINING_PSEUDONYM_KEY", raising=False)
    with pytest.raises(tm.ConfigError, match="key"):
        tm.pseudonymize(province.log)
    with pytest.raises(tm.ConfigError, match="too short"):
        tm.pseudonymize(province.log, key="secret")
    with pytest.raises(tm.ConfigError):
        tm.pseudonymize(province.log, key=12345678901234567890)
    monkeypatch.setenv("TTHC_MINING_PSEUDONYM_KEY", KEY)
    a = tm.pseudonymize(province.log)
    b = tm.pseudonymize(province.log, key=KEY)
    assert a.events[S.OWNER_ID].astype(str).tolist() == b.events[S.OWNER_ID].astype(str).tolist()


# --------------------------------------------------------------------------- detection
def test_detect_by_header_name():
    df = pd.DataFrame({
        "Mã hồ sơ": ["HS1"] * 3, "Bước xử lý": ["a", "b", "c"],
        "Thời điểm kết thúc": ["02/01/2024 08:00"] * 3,
        "Chủ hồ sơ": ["A", "B", "C"], "Họ và tên": ["A", "B", "C"], "SoCCCD": ["1", "2", "3"],
        "Số CMND": ["1", "2", "3"], "Số điện thoại": ["x", "y", "z"], "E-mail": ["p", "q", "r"],
        "Địa chỉ thường trú": ["x", "y", "z"], "case:owner_name": ["A", "B", "C"],
        "Ghi chú": ["x", "y", "z"]})
    got = detect_identifier_columns(df)
    assert got == {"Chủ hồ sơ": "name", "Họ và tên": "name", "SoCCCD": "id", "Số CMND": "id",
                   "Số điện thoại": "phone", "E-mail": "email", "Địa chỉ thường trú": "address",
                   "case:owner_name": "name"}


def test_detect_by_content_but_never_process_columns():
    n = 20
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        S.CASE: [f"{x:012d}" for x in rng.integers(10**11, 10**12, n)],  # 12-digit dossier ids
        S.ACTIVITY: ["Tiếp nhận"] * n,
        S.RESOURCE: [f"09{x:08d}" for x in rng.integers(0, 10**8, n)],  # officer = phone-like
        "Cột 7": [f"09{x:08d}" for x in rng.integers(0, 10**8, n)],
        "Cột 8": [f"user{i}@mail.vn" for i in range(n)],
        "Cột 9": [f"{x:012d}" for x in rng.integers(10**10, 10**12, n)],
        "Cột 10": rng.integers(10**10, 10**12, n),                         # CCCD as numbers
        "Số tiền": rng.integers(10_000, 900_000, n),                       # fees: not ids
        "Mô tả": ["bình thường"] * n})
    got = detect_identifier_columns(df)
    assert got == {"Cột 7": "phone", "Cột 8": "email", "Cột 9": "id", "Cột 10": "id"}


# --------------------------------------------------------------------------- the log
def test_pseudonymize_keeps_the_process_and_replaces_identifiers(province):
    log = province.log
    before = log.events.copy()
    p = tm.pseudonymize(log, key=KEY)
    assert log.events.equals(before)                                  # input unchanged
    assert p.n_events == log.n_events and p.n_cases == log.n_cases
    pd.testing.assert_frame_equal(p.events[[S.CASE, S.ACTIVITY, S.TIMESTAMP, S.RESOURCE]],
                                  log.events[[S.CASE, S.ACTIVITY, S.TIMESTAMP, S.RESOURCE]])
    # the directly-follows graph is unchanged
    d0, d1 = tm.discover(log), tm.discover(p)
    pd.testing.assert_frame_equal(d0.dfg.reset_index(drop=True), d1.dfg.reset_index(drop=True))
    for col, prefix in zip(PERSONAL, ("HT", "CD", "DT", "EM")):
        orig = log.events[col].astype(object)
        new = p.events[col].astype(object)
        assert (orig.isna() == new.isna()).all()
        vals = new.dropna()
        assert vals.map(lambda v: bool(re.fullmatch(prefix + r"-[0-9a-f]{12}", v))).all(), col
        # one pseudonym per person and one person per pseudonym
        pairs = pd.DataFrame({"o": orig.map(lambda v: normalise("name", v) if pd.notna(v) else v),
                              "n": new}).dropna().drop_duplicates()
        assert pairs["o"].is_unique and pairs["n"].is_unique
    assert isinstance(p.events[S.OWNER_NAME].dtype, pd.CategoricalDtype)
    assert p.quality.meta["pseudonymized"] == {S.OWNER_NAME: "name", S.OWNER_ID: "id",
                                               S.OWNER_PHONE: "phone", S.OWNER_EMAIL: "email"}
    assert "k" * 16 not in json.dumps(p.quality.meta)


def test_same_person_same_pseudonym_across_formats(province, tmp_path):
    """The one-stop CSV (Vietnamese headers) read back gives the pseudonyms of the log itself."""
    path = province.to_onestop(tmp_path / "p.csv")
    back = tm.read_log(path)
    assert detect_identifier_columns(back) == {"Chủ hồ sơ": "name", "Số CCCD": "id",
                                               "Số điện thoại": "phone", "Email": "email"}
    a = tm.pseudonymize(province.log, key=KEY).events
    b = tm.pseudonymize(back, key=KEY).events
    ka = a.drop_duplicates(S.CASE).set_index(S.CASE)[S.OWNER_ID].astype(str)
    kb = b.drop_duplicates(S.CASE).set_index(S.CASE)["Số CCCD"].astype(str)
    assert ka.sort_index().tolist() == kb.reindex(ka.index).sort_index().tolist()


def test_officers_optional(province):
    log = province.log
    keep = tm.pseudonymize(log, key=KEY)
    assert keep.events[S.RESOURCE].astype(str).tolist() == log.events[S.RESOURCE].astype(str).tolist()
    off = tm.pseudonymize(log, key=KEY, officers=True)
    res = off.events[S.RESOURCE].dropna().astype(str)
    assert res.str.fullmatch(r"CB-[0-9a-f]{12}").all()
    # hand-overs between officers are the same hand-overs
    assert (off.events[S.RESOURCE].astype(str).ne(off.events[S.RESOURCE].astype(str).shift())
            .tolist() == log.events[S.RESOURCE].astype(str).ne(
                log.events[S.RESOURCE].astype(str).shift()).tolist())


def test_free_text_and_quality_details_are_scrubbed():
    df = pd.DataFrame({
        "Mã hồ sơ": ["HS1", "HS1", "HS2"],
        "Bước xử lý": ["Tiếp nhận hồ sơ", "Yêu cầu bổ sung", "Tiếp nhận hồ sơ"],
        "Thời điểm kết thúc": ["02/01/2024 08:00", "03/01/2024 08:00", "04/01/2024 08:00"],
        "Chủ hồ sơ": ["Nguyễn Văn An", "Nguyễn Văn An", "Trần Thị Bình"],
        "Số CCCD": ["030088642478", "030088642478", "001190000123"],
        "Lý do": ["Gọi 0912 345 678 không được; gửi an.nguyen@gmail.com",
                  "Ông NGUYỄN VĂN AN thiếu bản sao CCCD 030088642478",
                  None],
        "Kênh nộp": ["Trực tiếp", "Trực tiếp", "Qua 0987654321"]})  # bad channel: in a detail
    log = tm.read_log(df)
    assert any("0987654321" in (i.detail or "") for i in log.quality.issues)
    p = tm.pseudonymize(log, key=KEY)
    pz = Pseudonymizer(KEY)
    reasons = p.events[S.REASON].tolist()
    assert reasons[0] == (f"Gọi {pz('phone', '0912345678')} không được; gửi "
                          f"{pz('email', 'an.nguyen@gmail.com')}")
    # the name found in free text gets the pseudonym of the name column, the CCCD too
    assert reasons[1] == (f"Ông {pz('name', 'Nguyễn Văn An')} thiếu bản sao CCCD "
                          f"{pz('id', '030088642478')}")
    assert p.events["Chủ hồ sơ"].iloc[0] == pz("name", "Nguyễn Văn An")
    assert p.events["Số CCCD"].iloc[0] == pz("id", "030088642478")
    text = " ".join(i.detail or "" for i in p.quality.issues)
    assert "0987654321" not in text and pz("phone", "0987654321") in text
    assert p.quality.meta["scrubbed_free_text"]


def test_explicit_columns_and_errors(province):
    log = province.log
    p = tm.pseudonymize(log, key=KEY, columns={S.GROUP: "other"}, scrub=False)
    assert p.events[S.GROUP].astype(str).str.fullmatch(r"PD-[0-9a-f]{12}").all()
    assert p.events[S.OWNER_ID].astype(str).tolist() == log.events[S.OWNER_ID].astype(str).tolist()
    with pytest.raises(tm.ConfigError, match="not in the log"):
        tm.pseudonymize(log, key=KEY, columns=["Không có"])
    with pytest.raises(tm.ConfigError, match="unknown identifier kind"):
        tm.pseudonymize(log, key=KEY, columns={S.GROUP: "dna"})
    df = tm.pseudonymize(log.events, key=KEY)          # a bare DataFrame works too
    assert isinstance(df, pd.DataFrame)
    assert df[S.OWNER_ID].astype(str).str.startswith("CD-").all()


# --------------------------------------------------------------------------- acceptance scan
def _scanner(values, kind):
    vals = sorted({str(v) for v in values if v is not None and pd.notna(v) and str(v).strip()},
                  key=len, reverse=True)
    if not vals:
        return None
    alt = "|".join(re.escape(v) for v in vals)
    if kind == "digits":
        return re.compile(rf"(?<!\d)(?:{alt})(?!\d)")
    if kind == "email":
        return re.compile(rf"(?<![\w.+-])(?:{alt})(?![\w-])", re.IGNORECASE)
    return re.compile(rf"(?<!\w)(?:{alt})(?!\w)", re.IGNORECASE)


def _texts_of_file(path: Path) -> str:
    """Readable text of an output file: zip members (xlsx), Parquet rows, or the bytes."""
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "\n".join(html.unescape(zf.read(n).decode("utf-8", "replace"))
                             for n in zf.namelist())
    if data[:4] == b"PAR1":
        return pd.read_parquet(path).astype(str).to_csv()
    text = data.decode("utf-8-sig", "replace")
    if path.suffix == ".json":
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return html.unescape(text)


def _outputs(log, catalog, out: Path) -> dict[str, str]:
    """Every output the library makes of a log: files, HTML, JSON, SVG, DOT, text."""
    from tthc_mining.export import write_table, write_workbook
    texts: dict[str, str] = {}
    files = [tm.write_log(log, out / "log.csv"), tm.write_log(log, out / "log1.csv", layout="onestop"),
             tm.write_log(log, out / "log.xlsx", layout="onestop"), tm.write_log(log, out / "log.parquet"),
             write_table(log.events.head(500), out / "t.json"),
             write_workbook({"events": log.events.head(500)}, out / "w.xlsx")]
    rep = tm.report(log, catalog=catalog, n_boot=100)
    files += [rep.save(out / "report.html"), rep.save(out / "report.json"),
              rep.save(out / "report.xlsx")]
    for f in files:
        texts[f.name] = _texts_of_file(Path(f))
    summ = tm.summary(log, catalog=catalog)
    pm = tm.discover(log)
    texts["summary.html"] = html.unescape(summ._repr_html_())
    texts["summary.json"] = json.dumps(json.loads(summ.to_json()), ensure_ascii=False)
    texts["quality.json"] = json.dumps(json.loads(log.quality.to_json()), ensure_ascii=False)
    texts["quality.html"] = html.unescape(log.quality._repr_html_())
    texts["quality.txt"] = str(log.quality)
    texts["log.html"] = html.unescape(log._repr_html_())
    texts["log.repr"] = repr(log)
    texts["map.dot"] = pm.to_dot()
    texts["map.html"] = html.unescape(pm._repr_html_())
    texts["pm4py.csv"] = log.to_pm4py().to_csv()
    ho = tm.handovers(log)
    texts["handovers.dot"] = ho.to_dot()
    texts["handovers.json"] = json.dumps(json.loads(ho.to_json()), ensure_ascii=False)
    rw = tm.rework(log)
    texts["rework.html"] = html.unescape(rw._repr_html_())
    return texts


@pytest.mark.slow
def test_no_original_identifier_in_any_output(province, tmp_path):
    """Acceptance: with pseudonymisation on, no original name, CCCD, phone or e-mail of the
    synthetic province appears in any output (report HTML/JSON/Excel, written logs, JSON, SVG,
    DOT, HTML reprs). The same scan finds them in the un-pseudonymised export (it can fail)."""
    log = province.log
    ev = log.events
    assert ev[S.OWNER_ID].astype(str).str.fullmatch(r"\d{12}").all()           # realistic data
    assert ev[S.OWNER_PHONE].astype(str).str.fullmatch(r"0[35789]\d{8}").all()
    assert ev[S.OWNER_NAME].astype(str).str.count(" ").ge(1).all()
    scans = {"name": _scanner(ev[S.OWNER_NAME].unique(), "name"),
             "id": _scanner(ev[S.OWNER_ID].unique(), "digits"),
             "phone": _scanner(ev[S.OWNER_PHONE].unique(), "digits"),
             "email": _scanner(ev[S.OWNER_EMAIL].dropna().unique(), "email")}
    # control: the plain export carries them
    plain = _texts_of_file(tm.write_log(log, tmp_path / "plain.csv"))
    for kind, rx in scans.items():
        assert rx.search(plain), f"control: no {kind} found in the plain export"
    p = tm.pseudonymize(log, key=KEY, officers=True)
    out = tmp_path / "out"
    out.mkdir()
    texts = _outputs(p, province.catalog, out)
    assert len(texts) >= 20
    leaks = {}
    for name, text in texts.items():
        for kind, rx in scans.items():
            m = rx.search(text)
            if m:
                leaks[(name, kind)] = m.group(0)
    assert not leaks, f"identifiers found in outputs: {leaks}"
    # the report and the written log do carry the pseudonyms
    pz = Pseudonymizer(KEY)
    first_id = pz("id", ev[S.OWNER_ID].iloc[0])
    assert first_id in texts["log.csv"] and first_id in texts["log.xlsx"]


def test_officers_kept_but_citizens_removed(province, tmp_path):
    """officers=False: officer names stay (analysis by officer), citizens' identifiers go; a
    citizen whose name equals an officer's is not counted as a leak."""
    log = province.log
    officers = set(log.events[S.RESOURCE].dropna().astype(str))
    ids = _scanner(log.events[S.OWNER_ID].unique(), "digits")
    names = _scanner([n for n in log.events[S.OWNER_NAME].unique() if str(n) not in officers],
                     "name")
    p = tm.pseudonymize(log, key=KEY)
    text = _texts_of_file(tm.write_log(p, tmp_path / "p.csv", layout="onestop"))
    assert not ids.search(text) and not names.search(text)
    assert any(o in text for o in list(officers)[:5])
