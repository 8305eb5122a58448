"""Property tests across modules (issue 8, point 5), with hypothesis.

* calendar: random calendars (office hours, weekends, time zones with daylight saving) - the
  mapping to the working-time axis is monotone, its inverse returns working instants, durations
  are additive, and the exact ``(days, intra_ns)`` parts agree with the float axis;
* discovery: directly-follows counts sum to events minus dossiers; variants partition the
  dossiers;
* replay: a cut that changes nothing is the identity, and removing a step never slows a dossier
  (nor does shortening it, and removing saves at least as much as shortening);
* statistics: bootstrap intervals contain their point estimate, Wilson intervals contain k/n;
* io: reading then writing then reading a log is lossless (CSV, gzip CSV, Excel, Parquet;
  canonical and one-stop layouts).

Random logs are built from a small vocabulary of Vietnamese step names with receipt, result,
supplement and suspension roles, ties, missing start times, weekends and holidays.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import WorkingCalendar
from tthc_mining.stats import bootstrap_mean_ci, wilson

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.function_scoped_fixture])

STEPS = ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "Phê duyệt", "Trả kết quả", "Yêu cầu bổ sung hồ sơ",
         "Nhận hồ sơ bổ sung", "Chờ thực hiện nghĩa vụ tài chính", "Tiếp tục xử lý",
         "Kết thúc xử lý hồ sơ", "Văn thư phát hành"]
UNITS = ["Bộ phận một cửa", "Phòng Tư pháp", "UBND xã Hòa Bình"]
OFFICERS = ["Lê Hoa", "Phạm Nam", "Trần Văn Đức", "Nguyễn Thị Hồng"]
BASE = pd.Timestamp("2024-12-26 07:30")       # spans New Year, weekends and (later) Tết 2025


@st.composite
def raw_logs(draw, max_cases: int = 8, max_events: int = 8, starts: bool = True) -> pd.DataFrame:
    """A one-stop style event table: dossiers with receipt first (usually), random steps,
    minute gaps (0 = ties) up to several days, optional start times and officers."""
    n_cases = draw(st.integers(1, max_cases))
    rows = []
    for c in range(n_cases):
        t = BASE + pd.Timedelta(minutes=draw(st.integers(0, 60 * 24 * 40)))
        n = draw(st.integers(1, max_events))
        acts = [STEPS[0]] if draw(st.booleans()) or n == 1 else []
        acts += draw(st.lists(st.sampled_from(STEPS), min_size=n - len(acts), max_size=n - len(acts)))
        for a in acts:
            t = t + pd.Timedelta(minutes=draw(st.sampled_from([0, 0, 5, 37, 90, 600, 1440, 4000])))
            start = None
            if starts and draw(st.booleans()):
                start = t - pd.Timedelta(minutes=draw(st.integers(0, 300)))
            rows.append({"Mã hồ sơ": f"HS{c:03d}", "Bước xử lý": a,
                         "Thời điểm bắt đầu": start, "Thời điểm kết thúc": t,
                         "Cán bộ xử lý": draw(st.sampled_from(OFFICERS)),
                         "Đơn vị xử lý": draw(st.sampled_from(UNITS))})
    return pd.DataFrame(rows)


def _log(df: pd.DataFrame) -> tm.DossierLog:
    return tm.read_log(df)


# --------------------------------------------------------------------------- calendar
@st.composite
def calendars(draw) -> WorkingCalendar:
    slots, h = [], draw(st.integers(5 * 60, 9 * 60))
    for _ in range(draw(st.integers(1, 3))):
        length = draw(st.integers(30, 5 * 60))
        if h + length > 23 * 60:
            break
        slots.append((f"{h // 60:02d}:{h % 60:02d}", f"{(h + length) // 60:02d}:{(h + length) % 60:02d}"))
        h += length + draw(st.integers(0, 120))
    assume(slots)
    weekend = draw(st.sampled_from([(5, 6), (6,), (4, 5), ()]))
    tz = draw(st.sampled_from(["Asia/Ho_Chi_Minh", "Europe/Amsterdam", "America/New_York", "UTC"]))
    holidays = draw(st.sampled_from(["VN", None]))
    return WorkingCalendar(slots, weekend=weekend, holidays=holidays, tz=tz)


instants = st.datetimes(min_value=dt.datetime(2018, 1, 1), max_value=dt.datetime(2028, 12, 31),
                        timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=7)),
                                                   dt.timezone(dt.timedelta(hours=-5))]))


@settings(max_examples=60, **SETTINGS)
@given(calendars(), st.lists(instants, min_size=1, max_size=40))
def test_calendar_monotone_inverse_additive_on_arrays(cal, times):
    ts = pd.Series(pd.to_datetime([t.astimezone(dt.timezone.utc) for t in times], utc=True))
    ts = ts.sort_values(ignore_index=True)
    w = cal.to_working(ts)
    assert np.all(np.diff(w) >= 0)                                   # monotone
    # inverse: the axis value of the instant the inverse gives back is the same value
    back = cal.from_working(w, tz_aware=True)
    assert np.allclose(cal.to_working(pd.Series(back)), w, atol=1e-6)
    assert np.allclose(cal.to_working(pd.Series(cal.from_working(w, side="prev", tz_aware=True))),
                       w, atol=1e-6)
    # working instants are their own inverse
    working = cal.is_working_time(ts)
    if working.any():
        local = ts[working].dt.tz_convert(cal.tz).dt.floor("s")
        again = cal.from_working(cal.to_working(local), tz_aware=True)
        assert (pd.DatetimeIndex(again) == pd.DatetimeIndex(local)).all()
    # additive: a..b plus b..c is a..c, for consecutive instants
    d = np.diff(w)
    assert np.isclose(d.sum(), w[-1] - w[0], atol=1e-6) and (d >= 0).all()
    # exact parts agree with the float axis
    days, intra = cal.to_working_parts(ts)
    assert np.allclose(days * cal.seconds_per_day + intra / 1e9, w, atol=1e-3)
    assert np.all(intra >= 0) and np.all(intra <= cal.seconds_per_day * 1e9)


@settings(max_examples=40, **SETTINGS)
@given(calendars(), instants, st.floats(0, 30 * 86400, allow_nan=False))
def test_calendar_shift_by_working_seconds(cal, t, dw):
    """Moving ``dw`` working seconds along the axis and back lands on the same axis value."""
    w0 = cal.to_working(pd.Timestamp(t))
    t1 = cal.from_working(w0 + dw, tz_aware=True)
    assert abs(cal.to_working(t1) - (w0 + dw)) < 1e-6
    assert cal.to_working(t1) >= w0


# --------------------------------------------------------------------------- discovery
@settings(max_examples=60, **SETTINGS)
@given(raw_logs())
def test_dfg_counts_sum_to_events_minus_dossiers(df):
    log = _log(df)
    pm = tm.discover(log)
    assert int(pm.dfg["count"].sum()) == log.n_events - log.n_cases
    assert int(pm.activities["count"].sum()) == log.n_events
    assert int(pm.start_activities["count"].sum()) == log.n_cases
    assert int(pm.end_activities["count"].sum()) == log.n_cases
    # and they are the directly-follows pairs of the sorted table, counted by hand
    ev = log.events
    same = ev[S.CASE].to_numpy()[1:] == ev[S.CASE].to_numpy()[:-1]
    pairs = pd.Series(list(zip(ev[S.ACTIVITY].to_numpy()[:-1][same],
                               ev[S.ACTIVITY].to_numpy()[1:][same]))).value_counts()
    got = {(r.source, r.target): r.count for r in pm.dfg.itertuples()}
    assert got == {k: int(v) for k, v in pairs.items()}


@settings(max_examples=60, **SETTINGS)
@given(raw_logs())
def test_variants_partition_the_dossiers(df):
    log = _log(df)
    v = tm.variants(log, case_ids=True)
    assert int(v["count"].sum()) == log.n_cases
    ids = [c for lst in v["case_ids"] for c in lst]
    assert len(ids) == len(set(ids)) == log.n_cases                  # each dossier once
    assert set(map(str, ids)) == set(map(str, log.events[S.CASE].unique()))
    assert v["sequence"].is_unique
    assert (v["count"] == v["case_ids"].map(len)).all()
    assert np.isclose(v["share"].sum(), 1.0)
    # every dossier's own sequence is its variant's sequence
    seq = log.events.groupby(S.CASE, sort=False, observed=True)[S.ACTIVITY].agg(tuple)
    for s, lst in zip(v["sequence"], v["case_ids"]):
        assert all(seq[c] == tuple(s) for c in lst)


# --------------------------------------------------------------------------- replay
@pytest.fixture(scope="module")
def provinces():
    return [tm.synth.province(120, seed=s) for s in (11, 12)]


@settings(max_examples=25, **SETTINGS)
@given(st.data())
def test_replay_identity_and_removing_a_step_never_slows(provinces, data):
    from tthc_mining.cuts import RemoveStep, ShortenStep, replay
    from tthc_mining.cuts.replay import context
    prov = provinces[data.draw(st.integers(0, len(provinces) - 1), label="province")]
    ctx = context(prov.log, catalog=prov.catalog)
    ev = prov.log.events
    work = sorted(ev.loc[ev[S.ROLE] == S.ROLE_WORK, S.ACTIVITY].astype(str).unique())
    step = data.draw(st.sampled_from(work), label="step")
    # no cut: a step shortened by factor 1 changes nothing
    same = replay(ctx, ShortenStep(step, factor=1.0))
    assert np.all(same.saved_s == 0) and np.all(same.citizen_saved_s == 0)
    assert np.all(same.reduction_s == 0)
    base_after = same.agency_after_s
    rm = replay(ctx, RemoveStep(step))
    pop = rm.pop
    assert np.all(rm.saved_s >= 0) and np.all(rm.citizen_saved_s >= 0)   # never slower
    assert np.all(rm.agency_after_s[pop] <= base_after[pop] + 1e-6)
    assert np.all(rm.reduction_s >= 0)
    assert np.allclose(rm.agency_after_s[pop] + rm.saved_s[pop], base_after[pop], atol=1e-6)
    factor = data.draw(st.sampled_from([0.0, 0.25, 0.5, 0.9]))
    sh = replay(ctx, ShortenStep(step, factor=factor))
    assert np.all(sh.saved_s >= 0)
    assert np.all(sh.saved_s <= rm.saved_s + 1e-6)                     # removing saves most


@settings(max_examples=20, **SETTINGS)
@given(raw_logs(max_cases=6, max_events=7))
def test_replay_on_random_logs_never_slows(df):
    from tthc_mining.cuts import RemoveStep, ShortenStep, replay
    log = _log(df)
    ev = log.events
    present = sorted(ev.loc[ev[S.ROLE] == S.ROLE_WORK, S.ACTIVITY].astype(str).unique())
    assume(present)
    same = replay(log, ShortenStep(present[0], factor=1.0))
    assert np.all(same.saved_s == 0) and np.all(same.reduction_s == 0)
    for s in present:
        out = replay(log, RemoveStep(s))
        assert np.all(out.saved_s >= 0) and np.all(out.citizen_saved_s >= 0)
        assert np.all(out.agency_after_s[out.pop] <= same.agency_after_s[out.pop] + 1e-6)


# --------------------------------------------------------------------------- statistics
values = st.lists(st.floats(0, 1e4, allow_nan=False, allow_infinity=False), min_size=2, max_size=60)


@settings(max_examples=80, **SETTINGS)
@given(values, st.integers(1, 6), st.sampled_from(["exact", "groups"]), st.integers(0, 10**6))
def test_bootstrap_interval_contains_the_point_estimate(vals, n_groups, method, seed):
    v = np.asarray(vals)
    groups = np.arange(len(v)) % n_groups
    res = bootstrap_mean_ci(v, groups, n_boot=200, seed=seed, method=method)
    assert np.isclose(res.mean, v.mean())
    if res.n >= 2 and np.isfinite(res.low):
        assert res.low <= res.mean + 1e-9 * max(1.0, abs(res.mean)) <= res.high + 2e-9 * max(1.0, abs(res.mean))
    assert res.n == min(n_groups, len(v)) and res.n_obs == len(v)


@settings(max_examples=60, **SETTINGS)
@given(values, st.lists(st.sampled_from(list("abc")), min_size=60, max_size=60), st.integers(0, 999))
def test_bootstrap_by_stratum_contains_each_mean(vals, labels, seed):
    v = np.asarray(vals)
    by = np.asarray(labels[:len(v)])
    groups = np.arange(len(v)) // 2
    out = bootstrap_mean_ci(v, groups, by=by, n_boot=200, seed=seed)
    for key, row in out.iterrows():
        assert np.isclose(row["mean"], v[by == key].mean())
        if np.isfinite(row["ci_low"]):
            assert row["ci_low"] - 1e-9 <= row["mean"] <= row["ci_high"] + 1e-9


@settings(max_examples=100, **SETTINGS)
@given(st.integers(0, 10**6), st.integers(1, 10**6), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_contains_the_proportion(k, n, ci):
    k = min(k, n)
    lo, hi = wilson(k, n, ci)
    assert 0 <= lo <= k / n <= hi <= 1


@settings(max_examples=8, **SETTINGS)
@given(st.sampled_from([21, 22, 23, 24]))
def test_bottleneck_intervals_contain_their_means(seed):
    prov = tm.synth.province(150, seed=seed)
    b = tm.bottlenecks(prov.log)
    ok = b["wait_mean_ci_low"].notna()
    assert ok.any()
    assert (b.loc[ok, "wait_mean_ci_low"] <= b.loc[ok, "wait_mean_h"] + 1e-9).all()
    assert (b.loc[ok, "wait_mean_h"] <= b.loc[ok, "wait_mean_ci_high"] + 1e-9).all()


# --------------------------------------------------------------------------- round trip
# Latin-1 symbols and non-Vietnamese Latin-1 letters next to letters are how TCVN3 text looks
# when shown in another encoding: the reader refuses such text (tests/test_hardening.py)
from tthc_mining.io.legacy import VIETNAMESE_LETTERS  # noqa: E402

_LATIN1 = "".join(c for c in map(chr, range(0xA0, 0x100)) if c not in VIETNAMESE_LETTERS)
_ALPHABET = st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "S"),
                          exclude_characters="\u2028\u2029\x85" + _LATIN1)
_text = st.text(_ALPHABET | st.sampled_from(list("ăâêôơưđÀẢÃÁẠờớởỡợ,;\"'\n\t ")),
                min_size=1, max_size=20)


def _clean(s: str) -> str | None:
    """What a cell can hold losslessly: NFC, trimmed, not empty, and not starting with a
    spreadsheet formula trigger (written with a protecting quote, see test_hardening_outputs)."""
    s = unicodedata.normalize("NFC", s).strip()
    if not s or s[0] in "=+-@'" or s in ("NULL", "null", "NaN", "nan", "#N/A", "N/A"):
        return None
    return s


@st.composite
def canonical_logs(draw):
    df = draw(raw_logs(max_cases=5, max_events=5))
    n = len(df)
    names = [draw(_text) for _ in range(4)]
    names = [c for c in (_clean(x) for x in names) if c]
    assume(names)
    df["Cán bộ xử lý"] = [draw(st.sampled_from(names)) for _ in range(n)]
    df["Lý do"] = [draw(st.one_of(st.none(), st.sampled_from(names))) for _ in range(n)]
    # sub-second times and a later due date per dossier
    df["Thời điểm kết thúc"] = df["Thời điểm kết thúc"] + pd.to_timedelta(
        [draw(st.sampled_from([0, 0, 500_000, 1])) for _ in range(n)], unit="us")
    due = {c: BASE + pd.Timedelta(days=draw(st.integers(30, 90))) for c in df["Mã hồ sơ"].unique()}
    df["Ngày hẹn trả"] = df["Mã hồ sơ"].map(due)
    return df


_COMPARE = [S.CASE, S.ACTIVITY, S.TIMESTAMP, S.START, S.RESOURCE, S.GROUP, S.REASON, S.DUE,
            S.ROLE]


def _same(a: tm.DossierLog, b: tm.DossierLog) -> None:
    cols = [c for c in _COMPARE if c in a.events.columns]
    assert [c for c in _COMPARE if c in b.events.columns] == cols
    for c in cols:
        x, y = a.events[c], b.events[c]
        if isinstance(x.dtype, pd.DatetimeTZDtype):
            assert (x.isna() == y.isna()).all(), c
            assert (x.dropna().dt.tz_convert("UTC").to_numpy()
                    == y.dropna().dt.tz_convert("UTC").to_numpy()).all(), c
        else:
            xs = [None if pd.isna(v) else str(v) for v in x]
            ys = [None if pd.isna(v) else str(v) for v in y]
            assert xs == ys, c
    assert len(a.events) == len(b.events)


@settings(max_examples=20, **SETTINGS)
@given(canonical_logs(), st.sampled_from(["log.csv", "log.csv.gz", "log.xlsx", "log.parquet"]),
       st.sampled_from(["xes", "onestop"]))
def test_read_write_read_is_lossless(tmp_path_factory, df, name, layout):
    first = _log(df)
    path = tmp_path_factory.mktemp("rt") / name
    tm.write_log(first, path, layout=layout)
    second = tm.read_log(path)
    _same(first, second)
    assert second.quality.rows_dropped == 0
    # and once more: the written file of the re-read log reads the same
    path2 = path.with_name("again_" + name)
    tm.write_log(second, path2, layout=layout)
    _same(second, tm.read_log(path2))
