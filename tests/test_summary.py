"""tm.summary: counts, both on-time rates with Wilson intervals, the 766 progress score, period
filtering, groupings, the report sentence (Vietnamese number formatting) and exports. Every
expected number is counted by hand from the small log below."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.catalog import ProcedureCatalog
from tthc_mining.roles import add_role_column
from tthc_mining.stats import wilson
from tthc_mining.summary import KPI_COLUMNS, Summary, _kpis, summary

TZ = S.DEFAULT_TZ


def mklog(rows, attrs=None, catalog=None):
    df = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.TIMESTAMP, S.GROUP])
    df[S.TIMESTAMP] = pd.to_datetime(df[S.TIMESTAMP]).dt.tz_localize(TZ)
    for col, m in (attrs or {}).items():
        df[col] = df[S.CASE].map(m)
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable", ignore_index=True)
    add_role_column(df)
    return tm.DossierLog(events=df, catalog=catalog)


CAT = ProcedureCatalog.from_frame(pd.DataFrame({
    "code": ["P2", "P5"], "name": ["Thủ tục hai ngày", "Thủ tục năm ngày"],
    "deadline_days": [2, 5], "deadline_unit": ["working", "working"]}))

ROWS = [
    # E early (1 agency day of 2), online
    ("E", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("E", "Kết thúc xử lý", "2025-03-04 09:00", "Phòng A"),
    # O finished on the due date (5/3) but after 09:00: on time as reported, late in fact
    ("O", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("O", "Kết thúc xử lý", "2025-03-05 16:00", "Phòng A"),
    # L late both ways, online, Phòng B
    ("L", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("L", "Kết thúc xử lý", "2025-03-06 09:00", "Phòng B"),
    # P in progress as of 7/3 (due 7/3 09:00: same date -> not overdue as reported)
    ("P", "Tiếp nhận hồ sơ", "2025-03-05 09:00", "Một cửa"),
    ("P", "Thẩm định", "2025-03-06 09:00", "Phòng A"),
    ("P", "Kết thúc xử lý", "2025-03-12 09:00", "Phòng A"),
    # S awaiting a supplement on 7/3, online
    ("S", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("S", "Yêu cầu bổ sung hồ sơ", "2025-03-04 09:00", "Phòng A"),
    ("S", "Nhận hồ sơ bổ sung", "2025-03-10 09:00", "Một cửa"),
    ("S", "Kết thúc xử lý", "2025-03-11 09:00", "Phòng A"),
    # W withdrawn at the desk
    ("W", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("W", "Công dân rút hồ sơ", "2025-03-04 09:00", "Một cửa"),
    # F refused (on 4/3, before its due date)
    ("F", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("F", "Từ chối giải quyết hồ sơ", "2025-03-04 09:00", "Phòng A"),
    # N received after the as_of date
    ("N", "Tiếp nhận hồ sơ", "2025-03-10 09:00", "Một cửa"),
    ("N", "Kết thúc xử lý", "2025-03-10 10:00", "Phòng A"),
    # M received in February, procedure P5, early, online
    ("M", "Tiếp nhận hồ sơ", "2025-02-27 09:00", "Một cửa"),
    ("M", "Kết thúc xử lý", "2025-02-28 09:00", "Phòng A"),
    # X in progress, channel unknown
    ("X", "Tiếp nhận hồ sơ", "2025-03-06 09:00", "Một cửa"),
    ("X", "Thẩm định", "2025-03-06 10:00", "Phòng A"),
]
CHANNEL = {"E": "online", "O": "direct", "L": "online", "P": "direct", "S": "online",
           "W": "direct", "F": "direct", "N": "online", "M": "online", "X": None}
PROC = {c: "P2" for c in CHANNEL} | {"M": "P5"}


@pytest.fixture()
def log():
    return mklog(ROWS, {S.PROCEDURE: PROC, S.CHANNEL: CHANNEL}, catalog=CAT)


def test_counts_rates_and_766(log):
    s = summary(log, as_of="2025-03-07")
    o = s.overall
    expected = {"received": 9, "resolved": 4, "resolved_on_time_reported": 3,
                "resolved_on_time_actual": 2, "resolved_early_reported": 2, "overdue": 1,
                "overdue_actual": 2, "in_progress": 2, "in_progress_overdue": 0, "suspended": 1,
                "withdrawn": 1, "refused": 1}
    assert {k: int(o[k]) for k in expected} == expected
    # reported: (3 resolved on time + 1 withdrawn) / (4 resolved + 1 withdrawn)
    assert o["on_time_rate_reported"] == pytest.approx(0.8) and o["on_time_rate_reported_n"] == 5
    lo, hi = wilson(4, 5)
    assert (o["on_time_rate_reported_low"], o["on_time_rate_reported_high"]) == pytest.approx((lo, hi))
    # actual: 2 of the 4 resolved dossiers with a deadline
    assert o["on_time_rate_actual"] == pytest.approx(0.5) and o["on_time_rate_actual_n"] == 4
    assert o["gap"] == pytest.approx(0.3) and s.gap == pytest.approx(0.3)
    # online: E, L, S, M of the 8 with a known channel
    assert o["online_share"] == pytest.approx(0.5) and o["online_share_n"] == 8
    # 766: in progress within time (P, X) + suspended (S) + resolved on time (E, O, M)
    #      + withdrawn (W) + refused on time (F) = 8 of 9 received
    assert o["score_766_progress"] == pytest.approx(20 * 8 / 9)
    lo, hi = wilson(8, 9)
    assert o["score_766_progress_low"] == pytest.approx(20 * lo)
    assert bool(o["small_sample"])


def test_groupings(log):
    s = summary(log, as_of="2025-03-07")
    bp = s.by_procedure
    assert bp.loc["P2", "received"] == 8 and bp.loc["P5", "received"] == 1
    assert bp.loc["P5", "procedure_name"] == "Thủ tục năm ngày"
    assert bp.loc["P2", "resolved"] == 3 and bp.loc["P2", "on_time_rate_reported"] == pytest.approx(3 / 4)
    bu = s.by_unit
    # responsible unit = largest agency time: W's time ends at its withdrawal at the desk
    assert bu["received"].to_dict() == {"Một cửa": 1, "Phòng A": 7, "Phòng B": 1}
    assert bu.loc["Phòng B", "overdue"] == 1 and bu.loc["Phòng B", "score_766_progress"] == 0
    bm = s.by_month
    assert list(bm.index) == ["2025-02", "2025-03"]
    assert bm.loc["2025-02", "received"] == 1 and bm.loc["2025-03", "received"] == 8
    # the groups add up to the overall counts
    for df in (bp, bu, bm):
        assert df["received"].sum() == s.overall["received"]
        assert df["resolved_on_time_actual"].sum() == s.overall["resolved_on_time_actual"]


def test_period_and_as_of(log):
    s = summary(log, as_of="2025-03-07", period=("2025-03-01", "2025-03-31"))
    assert s.overall["received"] == 8 and "2025-02" not in s.by_month.index
    s = summary(log, as_of="2025-03-07", period=(None, "2025-02-28"))
    assert s.overall["received"] == 1 and s.overall["resolved_early_reported"] == 1
    # as of the last event (12/3): N now counts, and X (due 10/3 09:00) is still open: overdue
    final = summary(log)
    assert final.overall["received"] == 10 and final.overall["in_progress"] == 0
    assert final.overall["in_progress_overdue"] == 1
    with pytest.raises(tm.ConfigError):
        summary(log, period=("2025-03-31", "2025-03-01"))
    with pytest.raises(tm.ConfigError):
        summary(log, period="2025")


def test_text_vietnamese_and_english(log):
    s = summary(log, as_of="2025-03-07", period=("2025-03-01", "2025-03-31"))
    vi = s.text()
    assert vi.startswith("Tính đến 23:59 ngày 07/03/2025 (hồ sơ tiếp nhận từ 01/03/2025 đến 31/03/2025): "
                         "8 hồ sơ tiếp nhận, 3 đã giải quyết, 75,0% đúng hạn")
    assert "QĐ 766" in vi and "chênh lệch" in vi
    en = s.text("en")
    assert "8 dossiers received, 3 resolved, 75.0% on time" in en
    with pytest.raises(tm.ConfigError):
        s.text("fr")


def test_text_formats_provincial_figures():
    # Hải Dương, 10 months 2023: 860,246 received, 844,567 resolved, 98.8% on time
    sums = pd.DataFrame([{
        "received": 860_246, "resolved": 844_567, "resolved_on_time_reported": 834_432,
        "resolved_on_time_actual": 820_000, "resolved_early_reported": 700_000, "overdue": 10_135,
        "overdue_actual": 24_567, "in_progress": 14_000, "in_progress_overdue": 679,
        "suspended": 1_000, "withdrawn": 0, "refused": 0, "_rep_num": 834_432,
        "_rep_den": 844_567, "_act_den": 844_567, "_online": 400_000, "_ch_known": 860_246,
        "_progress_ok": 849_432}])
    overall = _kpis(sums, 0.95).iloc[0]
    s = Summary(overall=overall, by_procedure=pd.DataFrame(columns=KPI_COLUMNS),
                by_unit=pd.DataFrame(columns=KPI_COLUMNS), by_month=pd.DataFrame(columns=KPI_COLUMNS),
                as_of=pd.Timestamp("2023-10-31 23:59", tz=TZ))
    vi = s.text("vi")
    assert "860.246 hồ sơ tiếp nhận, 844.567 đã giải quyết, 98,8% đúng hạn" in vi
    assert "(97,1% nếu tính theo thời gian" in vi
    assert "14.679 đang giải quyết (trong đó 679 đã quá hạn)" in vi
    assert "19,75/20" in vi            # 849,432 / 860,246 x 20
    en = s.text("en")
    assert "860,246 dossiers received, 844,567 resolved, 98.8% on time" in en


def test_no_deadline_log():
    rows = [("A", "Create Fine", "2025-01-06 08:00", None), ("A", "Payment", "2025-01-08 08:00", None),
            ("B", "Create Fine", "2025-01-07 08:00", None), ("B", "Send Fine", "2025-01-09 08:00", None)]
    s = summary(mklog(rows))
    o = s.overall
    assert o["received"] == 2 and o["resolved"] == 2 and o["resolved_on_time_reported"] == 2
    assert np.isnan(o["on_time_rate_actual"]) and o["on_time_rate_actual_n"] == 0
    assert np.isnan(s.gap)
    assert any("cannot be computed" in n for n in s.notes)
    assert "nếu tính theo thời gian" not in s.text()
    assert o["score_766_progress"] == pytest.approx(20.0)
    assert o["online_share_n"] == 0 and "trực tuyến" not in s.text()


def test_exports(log):
    s = summary(log, as_of="2025-03-07")
    fr = s.to_frame()
    assert list(fr.columns[:2]) == ["level", "key"] and list(fr.columns[2:]) == list(KPI_COLUMNS)
    assert fr["level"].value_counts().to_dict() == {"overall": 1, "procedure": 2, "unit": 3, "month": 2}
    d = json.loads(s.to_json())
    assert d["overall"]["received"] == 9 and len(d["by_unit"]) == 3
    assert d["text_vi"].startswith("Tính đến") and d["as_of"].startswith("2025-03-07T23:59")
    html = s._repr_html_()
    assert "Tiến độ giải quyết" in html and "766 progress score" in html
    assert "Summary(As of 2025-03-07" in repr(s)
    # the module is callable as tm.summary and accepts timing keywords
    s2 = tm.summary(log, as_of="2025-03-07", third_party_paused=False)
    assert s2.overall["received"] == 9


def test_html_escapes_untrusted_text():
    rows = [("A", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "<img src=x onerror=alert(1)>"),
            ("A", "Kết thúc xử lý", "2025-03-03 10:00", "<img src=x onerror=alert(1)>")]
    html = summary(mklog(rows, {S.PROCEDURE: {"A": "<script>"}}))._repr_html_()
    assert "<img" not in html and "<script>" not in html and "&lt;img" in html


def test_summary_on_the_synthetic_province():
    synth = pytest.importorskip("tthc_mining.synth")
    if not hasattr(synth, "province"):
        pytest.skip("tthc_mining.synth.province not available yet")
    prov = synth.province(n_dossiers=1200, seed=9)
    s = tm.summary(prov.log)
    truth = prov.truth.cases
    o = s.overall
    assert o["received"] == len(truth)
    finished = truth["finished"].notna()
    assert o["resolved"] == int(finished.sum())
    assert o["resolved_on_time_actual"] == int((finished & ~truth["overdue"].astype(bool)).sum())
    # the hidden clock can only flatter: reported >= actual
    assert o["on_time_rate_reported"] >= o["on_time_rate_actual"] - 1e-12
    assert 0 <= o["score_766_progress"] <= 20


def test_empty_log():
    df = pd.DataFrame({S.CASE: pd.Series([], dtype=object), S.ACTIVITY: pd.Series([], dtype=object),
                       S.TIMESTAMP: pd.Series([], dtype="datetime64[ns, Asia/Ho_Chi_Minh]")})
    s = summary(tm.DossierLog(events=df), as_of="2025-01-01")
    assert s.overall["received"] == 0 and np.isnan(s.overall["score_766_progress"])
    assert "0 hồ sơ tiếp nhận" in s.text() and len(s.by_unit) == 0
