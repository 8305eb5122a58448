"""Queues and load (tm.load): daily WIP against a brute-force count, arrivals/completions,
utilisation by hand, Little's law, the backlog plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar
from tthc_mining.errors import ConfigError
from tthc_mining.roles import add_role_column
from tthc_mining.segments import OWNER_AGENCY, segments

from test_bottlenecks import P1, P2, make_planted_log

CAL = VietnamCalendar()
DAY = 86_400 * 10**9


@pytest.fixture(scope="module")
def planted():
    return make_planted_log(n=300, seed=6, procedures=(P1, P2))


def _local_day(ts: pd.Series) -> np.ndarray:
    return (ts.dt.tz_convert(CAL.tz).dt.tz_localize(None).to_numpy("datetime64[ns]")
            .view(np.int64) // DAY)


@pytest.mark.parametrize("by", ["activity", "unit"])
def test_daily_wip_equals_brute_force(planted, by):
    log, _ = planted
    w = tm.load.wip(log, by=by)
    seg = segments(log)
    ev = log.events
    sel = (~seg.is_first) & (seg.owner == OWNER_AGENCY)
    idx = np.flatnonzero(sel)
    day = _local_day(ev[S.TIMESTAMP])
    a, d = day[idx - 1], day[idx]
    key = ev[S.ACTIVITY if by == "activity" else S.GROUP].to_numpy()[idx]
    days = (w.index.as_unit("ns").asi8 // DAY)
    for k in w.columns:
        m = key == k
        # present at the close of day t: arrived on or before t, completed after t
        brute = ((a[m][None, :] <= days[:, None]) & (d[m][None, :] > days[:, None])).sum(1)
        np.testing.assert_array_equal(w[k].to_numpy(), brute, err_msg=str(k))
    assert (w.to_numpy() >= 0).all()
    assert w.index.is_monotonic_increasing and w.index.freq is None or True


def test_arrivals_completions_consistent_with_wip(planted):
    log, _ = planted
    ac = tm.load.arrivals_completions(log, by="activity")
    seg = segments(log)
    n_seg = int(((~seg.is_first) & (seg.owner == OWNER_AGENCY)).sum())
    assert ac["arrivals"].sum() == n_seg == ac["completions"].sum()
    w = tm.load.wip(log, by="activity")
    piv = ac.pivot(index="period", columns="key", values="wip_end")
    pd.testing.assert_frame_equal(piv[w.columns].astype(np.int64), w.rename_axis(index="period", columns="key"),
                                  check_freq=False, check_names=False)
    monthly = tm.load.arrivals_completions(log, by="unit", freq="MS")
    assert monthly["arrivals"].sum() == n_seg
    assert (monthly.groupby("key")["net"].sum() == 0).all()   # everything completed in the end
    total = tm.load.arrivals_completions(log, by=None)
    assert total["arrivals"].sum() == log.n_cases


def test_system_wip_keeps_open_dossiers_until_the_end(planted):
    log, _ = planted
    ev = log.events
    # drop the last two events of one dossier: it never reaches "Trả kết quả" -> in progress
    victim = ev[S.CASE].iloc[0]
    last = ev.index[ev[S.CASE] == victim][-2:]
    cut = log.with_events(ev.drop(index=last).reset_index(drop=True))
    w_full = tm.load.wip(log, by=None)["all"]
    w_cut = tm.load.wip(cut, by=None)["all"]
    assert tm.timing(cut).cases.set_index(S.CASE).loc[victim, "finished"] is pd.NaT or \
        pd.isna(tm.timing(cut).cases.set_index(S.CASE).loc[victim, "finished"])
    assert w_cut.iloc[-1] == 1 and w_full.iloc[-1] == 0
    assert tm.load.wip(log, by=None, freq="MS").shape[1] == 1


def _util_log():
    """One officer: Mon 08:00-10:00 and 09:00-11:00 (overlap), Tue 13:30-14:30; another officer
    Mon 08:00-09:00."""
    tz = "Asia/Ho_Chi_Minh"
    t = lambda s: pd.Timestamp(s, tz=tz)  # noqa: E731
    rows = [("a", "Tiếp nhận hồ sơ", "r1", t("2025-03-03 07:30"), t("2025-03-03 07:30")),
            ("a", "Thẩm định", "r1", t("2025-03-03 08:00"), t("2025-03-03 10:00")),
            ("b", "Tiếp nhận hồ sơ", "r2", t("2025-03-03 07:40"), t("2025-03-03 07:40")),
            ("b", "Thẩm định", "r1", t("2025-03-03 09:00"), t("2025-03-03 11:00")),
            ("b", "Phê duyệt", "r1", t("2025-03-04 13:30"), t("2025-03-04 14:30")),
            ("c", "Tiếp nhận hồ sơ", "r2", t("2025-03-03 08:00"), t("2025-03-03 09:00"))]
    ev = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.RESOURCE, S.START, S.TIMESTAMP])
    ev[S.GROUP] = "U"
    return tm.DossierLog(events=add_role_column(ev), calendar=CAL)


def test_utilisation_by_hand():
    u = tm.load.utilisation(_util_log()).set_index("resource")
    r1 = u.loc["r1"]
    assert r1["busy_h"] == pytest.approx(4.0)           # 08-11 merged + 13:30-14:30
    assert r1["proc_sum_h"] == pytest.approx(5.0)
    assert r1["multitasking"] == pytest.approx(1.25)
    # span Mon 07:30 -> Tue 14:30 in office hours: 4 + 3.5 (Mon) + 4.5 + 1 (Tue) = 13 h
    assert r1["days_active"] == 2 and r1["available_h"] == pytest.approx(13.0)
    assert r1["utilisation"] == pytest.approx(4 / 13)
    r2 = u.loc["r2"]                                    # 07:40 (instant) and 08:00-09:00
    assert r2["busy_h"] == pytest.approx(1.0) and r2["days_active"] == 1
    assert r2["available_h"] == pytest.approx(80 / 60)
    assert r2["utilisation"] == pytest.approx(0.75)
    assert r1["unit"] == "U"


def test_utilisation_needs_start_times():
    log, _ = make_planted_log(n=50, seed=0, with_start=False, with_catalog=False)
    with pytest.raises(ConfigError, match="start"):
        tm.load.utilisation(log)


def test_utilisation_on_planted(planted):
    log, _ = planted
    u = tm.load.utilisation(log)
    assert (u["busy_h"] <= u["proc_sum_h"] + 1e-9).all()
    assert (u["utilisation"] >= 0).all() and (u["utilisation"] <= 1 + 1e-9).all()
    assert u["events"].sum() > 0


def test_littles_law(planted):
    log, _ = planted
    # without trimming, L = lambda * W holds exactly (all dossiers complete inside the window)
    exact = tm.load.littles_law(log, trim=0.0)
    assert abs(exact.iloc[0]["rel_gap"]) < 1e-9
    ll = tm.load.littles_law(log)          # trimmed window: a steady log stays close
    assert abs(ll.iloc[0]["rel_gap"]) < 0.1
    assert ll.iloc[0]["n"] > 0 and ll.iloc[0]["W_days"] > 0
    per = tm.load.littles_law(log, by="activity")
    assert (per["rel_gap"].abs() < 0.15).all()
    assert ll.iloc[0]["L"] == pytest.approx(per["L"].sum() + 0, rel=1.0)  # system holds more
    with pytest.raises(ConfigError):
        tm.load.littles_law(log, trim=0.6)


def test_littles_law_flags_dossiers_that_never_close(planted):
    """Dossiers whose closing events are missing stay in the system: the gap grows."""
    log, _ = planted
    ev = log.events
    cases = ev[S.CASE].drop_duplicates().to_numpy()[::4]
    drop = ev.index[ev[S.CASE].isin(cases) & (ev[S.ACTIVITY] == "Trả kết quả")]
    cut = log.with_events(ev.drop(index=drop).reset_index(drop=True))
    gap = tm.load.littles_law(cut).iloc[0]["rel_gap"]
    assert gap > 0.2


def test_plot_backlog(planted, tmp_path):
    from matplotlib.figure import Figure
    log, _ = planted
    fig = tm.load.plot_backlog(log, top=3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and "Tồn" in ax.get_title()
    fig.savefig(tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 1000
    fig2 = tm.load.plot_backlog(wip_frame=tm.load.wip(log, by=None), lang="en")
    assert fig2.axes[0].get_ylabel().startswith("Dossiers")
    f3 = Figure()
    ax3 = f3.add_subplot()
    assert tm.load.plot_backlog(log, by="unit", ax=ax3) is f3
    with pytest.raises(ConfigError):
        tm.load.plot_backlog()


def test_errors(planted):
    log, _ = planted
    with pytest.raises(ConfigError, match="by must be"):
        tm.load.wip(log, by="resource")
    with pytest.raises(ConfigError, match="org:group"):
        tm.load.wip(log.with_events(log.events.drop(columns=[S.GROUP])), by="unit")
    p1 = tm.load.arrivals_completions(log, procedure=P1)
    p2 = tm.load.arrivals_completions(log, procedure=P2)
    allp = tm.load.arrivals_completions(log)
    assert p1["arrivals"].sum() + p2["arrivals"].sum() == allp["arrivals"].sum()


def test_synthetic_province_load():
    synth = pytest.importorskip("tthc_mining.synth", reason="synthetic generator not available")
    log, truth = synth.province(5000, seed=4)
    ll = tm.load.littles_law(log)
    assert abs(ll.iloc[0]["rel_gap"]) < 0.05
    per = tm.load.littles_law(log, by="activity")
    big = per[per["n"] >= 500]
    assert (big["rel_gap"].abs() < 0.1).all()
    u = tm.load.utilisation(log)
    assert ((u["utilisation"] > 0) & (u["utilisation"] <= 1 + 1e-9)).all()
    ac = tm.load.arrivals_completions(log, by=None, freq="MS")
    assert ac["arrivals"].sum() == log.n_cases
    w = tm.load.wip(log, by="unit", freq="W")
    assert w.shape[0] >= 40 and (w.to_numpy() >= 0).all()
