"""``log.cases`` (``tthc_mining.log.build_cases``): the block reduction of a case-sorted table
gives exactly pandas' groupby table (values, dtypes, order), with missing values, unused
categories, on the real logs; unsorted tables go through the groupby itself."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.log import _build_cases_blocks, build_cases

from conftest import real_log


def groupby_cases(events: pd.DataFrame) -> pd.DataFrame:
    """The obvious reference: pandas' groupby, first / last non-missing value, min / max."""
    g = events.groupby(S.CASE, sort=False, observed=True)
    out = pd.DataFrame({"first_time": g[S.TIMESTAMP].min(), "last_time": g[S.TIMESTAMP].max(),
                        "n_events": g.size(), "first_activity": g[S.ACTIVITY].first(),
                        "last_activity": g[S.ACTIVITY].last()})
    attrs = [c for c in S.CASE_ATTRIBUTES if c in events.columns]
    if attrs:
        out = out.join(g[attrs].first())
    if S.START in events.columns:
        out["first_start"] = g[S.START].min()
    return out.reset_index()


@pytest.fixture(scope="module")
def province():
    return tm.synth.province(n_dossiers=1500, seed=7).log.events


def test_blocks_equal_groupby(province):
    assert _build_cases_blocks(province) is not None
    pd.testing.assert_frame_equal(build_cases(province), groupby_cases(province), check_exact=True)


def test_missing_values_and_unused_categories(province):
    ev = province.copy()
    rng = np.random.default_rng(3)
    for c in (S.RECEIVED, S.PROCEDURE, S.CHANNEL, S.ACTIVITY, S.TIMESTAMP, S.START):
        ev.loc[ev.index[rng.random(len(ev)) < 0.35], c] = None
    # whole dossiers without a value, and a dossier's last rows without one
    first_case = ev[S.CASE].iloc[0]
    ev.loc[ev[S.CASE] == first_case, [S.RECEIVED, S.TIMESTAMP]] = None
    assert _build_cases_blocks(ev) is not None
    pd.testing.assert_frame_equal(build_cases(ev), groupby_cases(ev), check_exact=True)
    sub = ev[ev[S.PROCEDURE] == ev[S.PROCEDURE].dropna().iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(build_cases(sub), groupby_cases(sub), check_exact=True)


def test_unsorted_table_uses_groupby(province):
    ev = province.iloc[np.random.default_rng(1).permutation(len(province))].reset_index(drop=True)
    assert _build_cases_blocks(ev) is None
    pd.testing.assert_frame_equal(build_cases(ev), groupby_cases(ev), check_exact=True)


@pytest.mark.parametrize("name", ["road_traffic_fine_management_process.xes.gz",
                                  "bpic2012_loan_application.xes.gz",
                                  "wabo_receipt_phase_coselog.xes.gz"])
def test_real_logs(real_dir, name):
    ev = real_log(real_dir / name).events
    pd.testing.assert_frame_equal(build_cases(ev), groupby_cases(ev), check_exact=True)
