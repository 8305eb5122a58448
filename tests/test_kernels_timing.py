"""The compiled deadline kernels behind ``tm.timing.overdue_arrays`` (``kernels/timing.py``):
edge cases the synthetic logs do not reach, against ``tm.timing``'s own arrays and plain
references."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining import timing as T
from tthc_mining.kernels import timing as K

NAT = np.iinfo(np.int64).min


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k in want:
        a, b = np.asarray(got[k]), np.asarray(want[k])
        assert a.dtype == b.dtype, k
        np.testing.assert_array_equal(a, b, err_msg=k)


def _generic(seed: int):
    """A log without case:finished and without closing or clock roles (every dossier ends at
    its last event), with exported due dates."""
    log = tm.synth.province(2000, seed=seed).log
    ev = log.events.drop(columns=[S.FINISHED_REPORTED])
    role = np.array(ev[S.ROLE].astype(object).to_numpy(), dtype=object)
    role[~np.isin(role, ["receipt"])] = "work"
    ev[S.ROLE] = pd.Categorical(role, categories=list(S.ROLES))
    out = log.with_events(ev)
    out.catalog = None
    return out


@pytest.mark.parametrize("kw", [{}, {"as_of": "2025-04-15"}, {"third_party_paused": False}])
@pytest.mark.parametrize("seed", [2, 8])
def test_roleless_logs_equal_timing(seed, kw):
    log = _generic(seed)
    got = T.overdue_arrays(log.with_events(log.events.copy()), catalog=None, **kw)
    t = tm.timing(log.with_events(log.events.copy()), catalog=None, **kw)
    assert any("No closing activity" in n for n in t.notes)
    _same(got, t.case_arrays)


def test_case_close_rules_on_a_toy_log():
    # dossier 0: receipt, finished (known), withdrawn later -> finished
    # dossier 1: refused, then the result event (no exported finish) -> refused (earlier)
    # dossier 2: withdrawn after as_of, exported finish after as_of -> open
    # dossier 3: no receipt (first event), exported finish (known) -> finished, no row
    R = {name: i for i, name in enumerate(S.ROLES)}
    rl = [R["receipt"], R["processing_finished"], R["withdrawn"],
          R["refused"], R["result_returned"],
          R["receipt"], R["withdrawn"],
          R["work"], -1]
    ts = np.array([1, 5, 7, 3, 4, 1, 50, 2, 3], dtype=np.int64)
    cs = np.array([0, 3, 5, 7, 9], dtype=np.int64)
    fr = np.array([NAT, NAT, 60, 9], dtype=np.int64)
    roles = np.array([R[r] for r in ("receipt", "processing_finished", "result_returned",
                                     "withdrawn", "refused")], dtype=np.int64)
    ro = T._ro
    rec, cl_ns, cl_row, outcome, lk, roleless = K.case_close(
        ro(cs), ro(ts), ro(np.array(rl, np.int8), np.int8), 20, False, roles, ro(fr), True, 0)
    assert not roleless
    np.testing.assert_array_equal(rec, [0, -1, 5, -1])
    np.testing.assert_array_equal(outcome, [0, 2, -1, 0])
    np.testing.assert_array_equal(cl_ns, [5, 3, NAT, 9])
    np.testing.assert_array_equal(cl_row, [1, 3, -1, -1])
    np.testing.assert_array_equal(lk, [2, 4, 5, 8])


def test_to_working_kernel_handles_nat_and_a_short_input():
    from tthc_mining.calendar import VietnamCalendar
    cal = VietnamCalendar()
    rng = np.random.default_rng(0)
    x = pd.Timestamp("2024-01-01", tz="UTC").value + rng.integers(0, 400 * 86_400 * 10**9, 20_000)
    x[::9] = NAT
    got = T._to_working_utc(cal, x, cal.tz)
    want = np.asarray(cal.to_working(T._idx_from_ns(x, cal.tz)), dtype=np.float64)
    np.testing.assert_array_equal(got, want)
    all_nat = np.full(12_000, NAT, dtype=np.int64)
    assert np.isnan(T._to_working_utc(cal, all_nat, cal.tz)).all()
    assert K.min_max_valid(T._ro(all_nat)) == (0, 0, 12_000)


def test_case_close_all_known_skips_the_timestamps_with_the_same_result():
    log = tm.synth.province(1500, seed=3).log
    from tthc_mining.segments import segments
    seg = segments(log)
    ts = T._utc_ns_col(log.events, S.TIMESTAMP, log.calendar.tz)
    role = T._role_codes(log.events)
    fr = T._case_first_ns(log.events, S.FINISHED_REPORTED, seg.case, seg.n_cases,
                          seg.case_start[:-1], log.calendar.tz)
    top = int(ts.max())
    a = T._closing(seg, ts, role, top, True, fr)
    b = T._closing(seg, ts, role, top, False, fr)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_counted_time_per_event_equals_the_numpy_rule():
    """The per-event counted time ``tm.timing`` keeps (``counted_h``) and its sums per owner,
    against the numpy expressions it replaced."""
    from tthc_mining.segments import OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD
    rng = np.random.default_rng(4)
    lens = rng.integers(1, 25, 5000)
    cs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    n, nc = int(cs[-1]), lens.size
    case = np.repeat(np.arange(nc), lens)
    w_end = np.cumsum(rng.exponential(3_000.0, n))
    w_end[rng.random(n) < 0.05] -= 40_000.0
    w_end[rng.random(n) < 0.02] = np.nan
    owner = rng.integers(0, 3, n).astype(np.int8)
    ws = w_end[cs[:-1]] + rng.normal(0, 2_000.0, nc)
    we = w_end[cs[1:] - 1] + rng.normal(0, 5_000.0, nc)
    ws[::17] = np.nan
    lo = ws[case]
    np.maximum(w_end[:-1], lo[1:], out=lo[1:])
    lo[cs[:-1]] = ws
    want = np.fmax(np.minimum(w_end, we[case]) - lo, 0.0)
    counted = np.empty(n)
    owners = (OWNER_AGENCY, OWNER_CITIZEN, OWNER_THIRD)
    sums = T._counted_sums(w_end, case, cs, owner, ws, we, owners, counted)
    np.testing.assert_array_equal(counted, want)
    by = np.bincount(case * 3 + owner, weights=want, minlength=3 * nc).reshape(nc, 3)
    for o, got in zip(owners, sums):
        np.testing.assert_array_equal(got, by[:, o])
