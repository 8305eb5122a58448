"""The citizen's pick-up wait: once a dossier is finished (Kết thúc xử lý, or the exported
``case:finished``), the wait until the citizen collects the result (Trả kết quả, "không tính thời
gian", domain-vn §1) is owned by the citizen in the segments, so it is never ranked as an agency
bottleneck; both engines and the rework subset path apply the same rule, and tm.timing's agency
time is unchanged by it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.roles import add_role_column
from tthc_mining.segments import OWNER_AGENCY, OWNER_CITIZEN, after_finish, segments

TZ = S.DEFAULT_TZ


def _log(rows, finished=None, drop_finish_event=False):
    df = pd.DataFrame(rows, columns=[S.CASE, S.ACTIVITY, S.TIMESTAMP, S.GROUP])
    df[S.TIMESTAMP] = pd.to_datetime(df[S.TIMESTAMP]).dt.tz_localize(TZ)
    if finished is not None:
        df[S.FINISHED_REPORTED] = pd.to_datetime(df[S.CASE].map(finished)).dt.tz_localize(TZ)
    if drop_finish_event:
        df = df[df[S.ACTIVITY] != "Kết thúc xử lý"]
    df = df.sort_values([S.CASE, S.TIMESTAMP], kind="stable", ignore_index=True)
    add_role_column(df)
    return tm.DossierLog(events=df)


ROWS = [
    ("A", "Tiếp nhận hồ sơ", "2025-03-03 08:00", "Một cửa"),
    ("A", "Thẩm định", "2025-03-03 16:00", "Phòng A"),
    ("A", "Kết thúc xử lý", "2025-03-04 10:00", "Phòng A"),
    ("A", "Trả kết quả", "2025-03-10 10:00", "Một cửa"),        # a week later: pick-up
    ("B", "Tiếp nhận hồ sơ", "2025-03-03 09:00", "Một cửa"),
    ("B", "Thẩm định", "2025-03-04 09:00", "Phòng A"),
    ("B", "Kết thúc xử lý", "2025-03-04 15:00", "Phòng A"),
    ("B", "Trả kết quả", "2025-03-05 09:00", "Một cửa"),
]


def _owners(log):
    return segments(log).owner.tolist()


def test_finish_event_hands_the_pickup_wait_to_the_citizen():
    log = _log(ROWS)
    a, c = OWNER_AGENCY, OWNER_CITIZEN
    assert _owners(log) == [a, a, a, c, a, a, a, c]
    b = tm.bottlenecks(log, n_boot=0)
    assert "Trả kết quả" not in set(b["activity"])
    assert b.attrs["events_not_agency"] == 2
    # tm.timing's agency time ends at the finish either way; the pick-up is not counted
    tim = tm.timing(log)
    assert (tim.events["owner"].astype(str).iloc[[3, 7]] == "citizen").all()
    assert tim.events["counted_h"].iloc[[3, 7]].tolist() == [0.0, 0.0]


def test_exported_finished_column_without_a_finish_event():
    # (as one-stop exports give it: NgayKetThucXuLy = the end of the last agency step)
    fin = {"A": "2025-03-03 16:00", "B": "2025-03-04 09:00"}
    log = _log(ROWS, finished=fin, drop_finish_event=True)
    a, c = OWNER_AGENCY, OWNER_CITIZEN
    assert _owners(log) == [a, a, c, a, a, c]
    # an exported finish *later* than the last agency step: that step's segment stays agency
    # (it starts before the finish), only what starts at or after it is the citizen's
    late = _log(ROWS, finished={"A": "2025-03-07 10:00", "B": "2025-03-04 09:00"},
                drop_finish_event=True)
    assert _owners(late) == [a, a, a, a, a, c]


def test_the_finish_event_wins_over_the_exported_column():
    # case:finished says later than the finish event (as tm.timing: the event comes first)
    log = _log(ROWS, finished={"A": "2025-03-10 10:00", "B": None})
    a, c = OWNER_AGENCY, OWNER_CITIZEN
    assert _owners(log) == [a, a, a, c, a, a, a, c]


def test_without_a_finish_the_last_step_stays_agency():
    log = _log([r for r in ROWS if r[1] != "Kết thúc xử lý"])
    assert _owners(log) == [OWNER_AGENCY] * 6
    b = tm.bottlenecks(log, n_boot=0)
    assert "Trả kết quả" in set(b["activity"])


def test_after_finish_kernel_blocks_and_missing_values():
    nat = np.iinfo(np.int64).min
    # 3 dossiers: finish by event (row 1), by the reported column, none
    ts = np.array([0, 10, 20, 30, 5, 6, 7, 1, 2, nat, 3], dtype=np.int64)
    is_first = np.array([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    case = np.cumsum(is_first) - 1
    is_fin = np.zeros(ts.size, dtype=bool)
    is_fin[1] = True
    rep = np.full(ts.size, nat, dtype=np.int64)
    rep[4:7] = 6
    got = after_finish(ts, is_fin, rep, is_first, case)
    assert got.tolist() == [False, False, True, True, False, False, True,
                            False, False, False, False]
    assert after_finish(ts, np.zeros(ts.size, dtype=bool), None, is_first, case) is None


def test_synthetic_province_pickup_is_never_agency():
    w = tm.synth.province(1500, seed=3)
    log = w.log
    seg = segments(log)
    ret = seg.activity == list(seg.activities).index("Trả kết quả")
    assert ret.any() and (seg.owner[ret] == OWNER_CITIZEN).all()
    b = tm.bottlenecks(log, n_boot=0)
    assert "Trả kết quả" not in set(b["activity"])
    # the rework subset path gives the same owners as the whole-log segments
    from tthc_mining.rework.blocks import _owners as block_owners
    rows = np.arange(seg.case_start[200], seg.case_start[400])
    fresh = tm.synth.province(1500, seed=3).log       # no cached segments
    np.testing.assert_array_equal(block_owners(fresh, rows, seg.is_first[rows]),
                                  seg.owner[rows])


def test_duckdb_segments_apply_the_same_rule(tmp_path):
    pytest.importorskip("ibis")
    pytest.importorskip("duckdb")
    from tthc_mining.engines.segments import segments_frame
    for name, log in (("event", _log(ROWS)),
                      ("column", _log(ROWS, finished={"A": "2025-03-03 16:00",
                                                      "B": "2025-03-04 09:00"},
                                      drop_finish_event=True)),
                      ("synth", tm.synth.province(300, seed=5).log)):
        path = tmp_path / f"{name}.parquet"
        tm.write_log(log, path)
        plog = tm.read_log(path)
        rlog = tm.read_log(path, engine="duckdb")
        want = segments(plog).to_frame()["owner"].astype(str).tolist()
        got = segments_frame(rlog)["owner"].astype(str).tolist()
        assert got == want, name
        assert "citizen" in got
