"""The fast paths of the performance work give the same results as the plain computations
they replace (each compared with a reference written the obvious way), on inputs large enough
to take the fast path, including DST time zones, missing values and ties."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import (WorkingCalendar, continuous, localize_ns, utc_to_local_ns,
                                  weekdays)

NAT = np.iinfo(np.int64).min
ZONES = ["Asia/Ho_Chi_Minh", "Europe/Amsterdam", "America/New_York", "UTC"]


def _instants(n: int, seed: int, start="2024-01-01", days=760, nat_every=0) -> pd.Series:
    rng = np.random.default_rng(seed)
    base = pd.Timestamp(start, tz="UTC").value
    ns = base + rng.integers(0, days * 86_400, n) * 1_000_000_000 + rng.integers(0, 10**9, n)
    if nat_every:
        ns[::nat_every] = NAT
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))


# ---------------------------------------------------------------------------- calendar
@pytest.mark.parametrize("tz", ZONES)
def test_utc_to_local_equals_pandas_across_dst(tz):
    s = _instants(30_000, 1, nat_every=97)
    got = utc_to_local_ns(s.array.asi8, tz)
    ref = s.dt.tz_convert(tz).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("tz", ZONES)
def test_localize_equals_pandas_where_unambiguous(tz):
    # a span without DST change takes the one-subtraction path, one across it pandas' path
    for start, days in (("2025-06-01", 60), ("2024-01-01", 700)):
        s = _instants(20_000, 2, start=start, days=days)
        local = s.dt.tz_convert(tz).dt.tz_localize(None)
        ns = local.to_numpy(dtype="datetime64[ns]").view(np.int64).copy()
        idx = pd.DatetimeIndex(ns.view("datetime64[ns]"))
        try:
            ref = idx.tz_localize(tz)
        except Exception:  # ambiguous wall times across a DST change: both must raise
            with pytest.raises(Exception):
                localize_ns(ns, tz)
            continue
        assert localize_ns(ns, tz).equals(ref)


@pytest.mark.parametrize("cal", [tm.VietnamCalendar(), continuous(), weekdays(),
                                 WorkingCalendar(tz="Europe/Amsterdam"),
                                 WorkingCalendar([("08:00", "12:00")], tz="America/New_York")],
                         ids=["VN", "24x7", "weekdays", "Amsterdam", "NewYork"])
def test_working_ns_equals_working_parts(cal):
    s = _instants(40_000, 3, nat_every=101)
    w = cal.to_working_ns(s)
    days, intra = cal.to_working_parts(s)
    L_ns = int(round(cal.seconds_per_day * 1e9))
    ok = np.isfinite(days)
    np.testing.assert_array_equal(w[ok], days[ok].astype(np.int64) * L_ns + intra[ok].astype(np.int64))
    assert (w[~ok] == NAT).all()
    # the float axis of log.working equals the parts' formula bit for bit
    log = tm.DossierLog(events=pd.DataFrame({S.TIMESTAMP: s}), calendar=cal)
    np.testing.assert_array_equal(log.working(S.TIMESTAMP),
                                  days * cal.seconds_per_day + intra / 1e9)


# ---------------------------------------------------------------------------- segments
def _reference_segments(log):
    ev = log.events
    case = pd.factorize(ev[S.CASE].astype(str))[0]
    first = np.r_[True, case[1:] != case[:-1]]
    days, intra = log.calendar.to_working_parts(ev[S.TIMESTAMP])
    d_s, i_s = log.calendar.to_working_parts(ev[S.START])
    L = log.calendar.seconds_per_day
    e_ns = days.astype(object) * int(L * 1e9) + intra.astype(object)  # exact integers
    seg = np.array([np.nan] + [float(e_ns[i] - e_ns[i - 1]) / 1e9 for i in range(1, len(ev))])
    seg[first] = np.nan
    role = ev[S.ROLE].astype(object).to_numpy()
    t = list(ev[S.TIMESTAMP])
    rep = list(ev[S.FINISHED_REPORTED]) if S.FINISHED_REPORTED in ev.columns else [pd.NaT] * len(ev)
    state, owner, fin = 0, np.zeros(len(ev), np.int8), pd.NaT
    for i in range(len(ev)):                       # the plain loop the vectorised code replaces
        if first[i]:
            state = 0
            # the dossier's finish: its first processing-finished event, else case:finished
            j = i
            fin = pd.NaT
            while j < len(ev) and (j == i or not first[j]):
                if role[j] == S.ROLE_FINISHED:
                    fin = t[j]
                    break
                j += 1
            if pd.isna(fin):
                fin = rep[i]
        owner[i] = 0 if first[i] else state
        if not first[i] and not pd.isna(fin) and t[i - 1] >= fin:
            owner[i] = 1                           # the citizen's pick-up wait
        r = role[i]
        state = {S.ROLE_SUPPLEMENT_REQUEST: 1, S.ROLE_SUSPENDED: 2,
                 S.ROLE_SUPPLEMENT_RECEIVED: 0, S.ROLE_RESUMED: 0}.get(r, state)
    return first, seg, owner


def test_segments_equal_a_plain_loop():
    log, _ = tm.synth.province(400, seed=11)
    from tthc_mining.segments import segments
    seg = segments(log)
    first, ref_seg, ref_owner = _reference_segments(log)
    np.testing.assert_array_equal(seg.is_first, first)
    np.testing.assert_allclose(seg.seg_s, ref_seg, rtol=0, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(seg.owner, ref_owner)
    # derived arrays built on demand
    np.testing.assert_array_equal(seg.prev_activity, np.where(first, -1, np.r_[-1, seg.activity[:-1]]))
    np.testing.assert_array_equal(seg.pos, pd.Series(seg.case).groupby(seg.case).cumcount().to_numpy())
    np.testing.assert_array_equal(seg.is_last, np.r_[first[1:], True])
    np.testing.assert_array_equal(seg.w_prev_end, np.where(first, np.nan, np.r_[np.nan, seg.w_end[:-1]]))


# ---------------------------------------------------------------------------- statistics
def test_exact_group_quantiles_equal_pandas():
    from tthc_mining.bottlenecks import group_quantiles
    rng = np.random.default_rng(5)
    g = rng.integers(0, 300, 60_000)
    v = np.round(rng.exponential(10, 60_000), 1)       # many ties
    q = group_quantiles(v, g, 301, (0.5, 0.9))
    ref = pd.Series(v).groupby(g).quantile([0.5, 0.9]).unstack().reindex(range(301)).to_numpy()
    np.testing.assert_array_equal(np.isnan(q), np.isnan(ref))
    np.testing.assert_allclose(q, ref, rtol=1e-15, atol=0)


def test_bootstrap_groups_path_uses_the_sums_per_stratum_and_bucket():
    from tthc_mining.stats import bootstrap_mean_ci
    rng = np.random.default_rng(6)
    n_units, n = 5_000, 40_000
    unit = np.sort(rng.integers(0, n_units, n))
    by = rng.integers(0, 7, n)
    v = rng.gamma(2.0, 3.0, n)
    r = bootstrap_mean_ci(v, groups=unit, by=by, n_boot=200, method="groups", n_groups=500)
    r = r.sort_index()                                  # strata come in order of appearance
    ref = pd.DataFrame({"v": v, "u": unit, "b": by}).groupby("b")
    np.testing.assert_allclose(r["mean"].to_numpy(), ref["v"].mean().to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(r["n"].to_numpy(), ref["u"].nunique().to_numpy())
    np.testing.assert_array_equal(r["n_obs"].to_numpy(), ref.size().to_numpy())
    assert r.attrs["method"] == "groups"
    assert ((r["ci_low"] <= r["mean"]) & (r["mean"] <= r["ci_high"])).all()
    # reproducible, and the exact path agrees on the point estimates
    r2 = bootstrap_mean_ci(v, groups=unit, by=by, n_boot=200, method="groups", n_groups=500)
    pd.testing.assert_frame_equal(r, r2.sort_index())
    e = bootstrap_mean_ci(v, groups=unit, by=by, n_boot=50, method="exact").sort_index()
    np.testing.assert_allclose(e["mean"], r["mean"], rtol=1e-12)


def test_best_unit_equals_the_dense_table():
    from tthc_mining.timing import _best_unit
    rng = np.random.default_rng(7)
    n_cases, G = 3_000, 40
    case = np.sort(rng.integers(0, n_cases, 50_000))
    g = rng.integers(-1, G, case.size)
    val = rng.choice([0.0, 1.0, 2.5, 3.0], case.size)          # exact ties
    best = _best_unit(case, g, val, n_cases, G)
    ok = g >= 0
    tot = np.bincount(case[ok] * G + g[ok], weights=val[ok], minlength=n_cases * G).reshape(n_cases, G)
    ref = np.argmax(tot, axis=1)
    has = np.bincount(case[ok], minlength=n_cases) > 0
    pos = tot.max(axis=1) > 0
    np.testing.assert_array_equal(best[has & pos], ref[has & pos])
    assert (best[~has] == -1).all()


def test_clump_share_equals_a_groupby():
    from tthc_mining.bottlenecks import _clump_share
    rng = np.random.default_rng(8)
    n, R = 30_000, 9
    key = rng.integers(0, R, n)
    unit = rng.integers(0, 4, n)
    ck = pd.factorize(key * 10 + unit)[0].astype(np.int64)
    minute_ns = (rng.integers(0, 400, n) * 60 + rng.integers(0, 60, n)) * 1_000_000_000
    minute_ns[::50] = NAT
    got = _clump_share(minute_ns, ck, key, R)
    df = pd.DataFrame({"k": key, "ck": ck, "m": minute_ns // 60_000_000_000, "ok": minute_ns != NAT})
    size = df[df.ok].groupby(["ck", "m"])["k"].transform("size")
    clumped = pd.Series(False, index=df.index)
    clumped[df.ok] = size >= 3
    ref = clumped.groupby(df.k).sum().reindex(range(R), fill_value=0) / np.bincount(key, minlength=R)
    np.testing.assert_allclose(got, ref.to_numpy(), rtol=1e-12)


# ---------------------------------------------------------------------------- reading
def test_fixed_width_dates_equal_the_general_parser(monkeypatch):
    from tthc_mining.io import timeparse as T
    rng = np.random.default_rng(9)
    ns = pd.Timestamp("2023-01-01").value + rng.integers(0, 900 * 86_400, 20_000) * 10**9
    text = pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).strftime("%d/%m/%Y %H:%M:%S"))
    text[::37] = None
    col = text.astype(pd.StringDtype("pyarrow", na_value=np.nan))
    for tz in ("Asia/Ho_Chi_Minh", "Europe/Amsterdam"):
        fast = T.parse_times(col, tz)
        monkeypatch.setattr(T, "_fixed_dmy", lambda values, tz: None)
        slow = T.parse_times(col, tz)
        monkeypatch.undo()
        assert fast.values.equals(slow.values) and fast.formats == slow.formats
        assert (fast.invalid == slow.invalid).all() and fast.month_first == slow.month_first
    # any other shape or an impossible date leaves the decision to the general parser
    for bad in ("31/02/2024 10:00:00", "12/31/2024 10:00:00", "1/2/2024 10:00:00", "2024-01-02"):
        other = col.copy()
        other.iloc[5] = bad
        assert T._fixed_dmy(other, "UTC") is None


def test_read_log_gives_categorical_codes_in_factorize_order(tmp_path):
    prov = tm.synth.province(300, seed=12)
    path = prov.to_onestop(tmp_path / "p.csv")
    log = tm.read_log(path)
    ev = log.events
    for c in (S.CASE, S.ACTIVITY, S.RESOURCE, S.GROUP, S.PROCEDURE, S.CHANNEL):
        assert isinstance(ev[c].dtype, pd.CategoricalDtype), c
        codes, uniques = pd.factorize(ev[c].astype(object))
        np.testing.assert_array_equal(ev[c].cat.codes.to_numpy(), codes)
        assert list(ev[c].cat.categories) == list(uniques)
    # the case ids are in text order and the table is sorted by them
    ids = ev[S.CASE].astype(str)
    assert ids.is_monotonic_increasing
    # pm4py gets plain text keys
    df = log.to_pm4py()
    assert df[S.CASE].dtype != "category" and df[S.ACTIVITY].dtype != "category"


def test_parquet_read_column_by_column_equals_pandas(tmp_path):
    from tthc_mining.io.arrowio import read_parquet_frame
    log, _ = tm.synth.province(500, seed=13)
    path = tm.write_log(log.events, tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(read_parquet_frame(path), pd.read_parquet(path).reset_index(drop=True))


def test_timing_cases_table_is_built_on_demand_and_matches_its_arrays():
    log, _ = tm.synth.province(800, seed=14)
    t = tm.timing(log)
    assert t._cases is None                          # not built by tm.timing itself
    arrays = t.case_arrays
    cases = t.cases
    np.testing.assert_array_equal(arrays["budget_days"], cases["budget_days"].to_numpy())
    np.testing.assert_array_equal(arrays["days_late_actual"], cases["days_late_actual"].to_numpy())
    od = ((cases["on_time_actual"].astype("boolean") == False).fillna(False).to_numpy(bool)  # noqa: E712
          | cases["status_actual"].isin(["overdue", "in_progress_overdue"]).to_numpy())
    np.testing.assert_array_equal(arrays["overdue_actual"], od)
    from tthc_mining.overdue import case_overdue
    from tthc_mining.bottlenecks import overdue_flags
    np.testing.assert_array_equal(overdue_flags(log)["overdue"], case_overdue(log)["overdue"])
