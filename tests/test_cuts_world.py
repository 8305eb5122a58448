"""A small queue-free dossier world for the replay tests, and checks of the world itself.

``MiniWorld(n, seed)`` draws every random number up front (common random numbers) and
``world.log(cut=...)`` re-simulates the event log with a change applied to the *world* (steps
dropped, processing scaled, loops dropped, hand-over waits capped). Running ``tm.timing`` on the
re-simulated log gives the true effect of the change dossier by dossier, which the replay
engine must reproduce (there are no queues in this world, so replay is exact).

Procedure (working-time axis of the Vietnamese calendar, times in working hours):
Tiếp nhận hồ sơ (Một cửa) -> Chuyển hồ sơ (Một cửa) -> Phân công thụ lý (Phòng TNMT, paper
hand-over) -> Thẩm định hồ sơ (TNMT) -> [Yêu cầu bổ sung hồ sơ (TNMT) -> Nhận hồ sơ bổ sung
(Một cửa, citizen time) -> Thẩm định hồ sơ (TNMT)] -> [Xin ý kiến (Chi cục Thuế), only in
dossiers without a supplement loop] -> Trình lãnh đạo phòng (TNMT) -> Phê duyệt (Lãnh đạo UBND)
-> Kết thúc xử lý (Một cửa) -> Trả kết quả (Một cửa).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import tthc_mining as tm
from tthc_mining import schema as S
from tthc_mining.calendar import VietnamCalendar

ONESTOP = "Bộ phận Một cửa UBND huyện"
TNMT = "Phòng Tài nguyên và Môi trường"
TAX = "Chi cục Thuế"
LEAD = "Lãnh đạo UBND huyện"
PROC = "1.000001"

# slot: (activity, unit, mean wait h, mean processing h, kind) ; kind: base / loop / consult
TEMPLATE = [
    ("Tiếp nhận hồ sơ", ONESTOP, 0.0, 0.1, "base"),
    ("Chuyển hồ sơ", ONESTOP, 0.5, 0.1, "base"),
    ("Phân công thụ lý", TNMT, 6.0, 0.2, "base"),
    ("Thẩm định hồ sơ", TNMT, 4.0, 3.0, "base"),
    ("Yêu cầu bổ sung hồ sơ", TNMT, 0.5, 0.2, "loop"),
    ("Nhận hồ sơ bổ sung", ONESTOP, 16.0, 0.2, "loop"),
    ("Thẩm định hồ sơ", TNMT, 3.0, 2.0, "loop"),
    ("Xin ý kiến", TAX, 8.0, 1.0, "consult"),
    ("Trình lãnh đạo phòng", TNMT, 2.0, 0.5, "base"),
    ("Phê duyệt", LEAD, 4.0, 0.3, "base"),
    ("Kết thúc xử lý", ONESTOP, 1.0, 0.1, "base"),
    ("Trả kết quả", ONESTOP, 8.0, 0.1, "base"),
]
OFFICERS = {ONESTOP: ["Nguyễn Văn An", "Trần Thị Bình"], TNMT: ["Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em"],
            TAX: ["Vũ Thị Giang"], LEAD: ["Đỗ Văn Hùng"]}


class MiniWorld:
    def __init__(self, n: int = 600, seed: int = 0, *, p_loop: float = 0.3, p_consult: float = 0.5,
                 start: str = "2025-03-03", span_days: int = 120):
        self.n, self.seed = n, seed
        self.cal = VietnamCalendar()
        rng = np.random.default_rng(seed)
        K = len(TEMPLATE)
        L = self.cal.seconds_per_day
        w0 = float(np.ravel(self.cal.to_working(pd.Timestamp(start, tz=S.DEFAULT_TZ)))[0])
        self.recv_w = np.sort(w0 + rng.random(n) * span_days * L)
        self.wait = rng.exponential(1.0, size=(n, K)) * np.array([t[2] for t in TEMPLATE]) * 3600
        self.proc = rng.exponential(1.0, size=(n, K)) * np.array([t[3] for t in TEMPLATE]) * 3600
        self.loop = rng.random(n) < p_loop
        self.consult = (rng.random(n) < p_consult) & ~self.loop
        self.officer_u = rng.random((n, K))

    def log(self, *, remove=(), shorten=None, remove_loop=False, loop_keep=None,
            handover_cap_h=None, catalog=None):
        """The event log of the world with a change applied (all draws shared)."""
        n, K = self.n, len(TEMPLATE)
        shorten = shorten or {}
        kinds = np.array([t[4] for t in TEMPLATE])
        present = np.ones((n, K), dtype=bool)
        loop = self.loop.copy()
        if remove_loop:
            loop[:] = False
        if loop_keep is not None:
            loop &= loop_keep
        present[:, kinds == "loop"] = loop[:, None]
        present[:, kinds == "consult"] = self.consult[:, None]
        acts = np.array([t[0] for t in TEMPLATE], dtype=object)
        units = np.array([t[1] for t in TEMPLATE], dtype=object)
        for a in remove:
            present[:, acts == a] = False
        present[:, 0] = True
        wait = self.wait.copy()
        proc = self.proc.copy()
        for a, f in shorten.items():
            proc[:, acts == a] *= f
        wait[:, 0] = 0.0
        if handover_cap_h is not None:
            # cap the waiting of the first TNMT step after the one-stop (the paper hand-over)
            prev_unit = np.full(n, None, dtype=object)
            for k in range(K):  # loop over the 12 template slots, vectorised over dossiers
                ho = present[:, k] & (prev_unit == ONESTOP) & (units[k] == TNMT)
                wait[ho, k] = np.minimum(wait[ho, k], handover_cap_h * 3600)
                prev_unit = np.where(present[:, k], units[k], prev_unit)
        dur = np.where(present, wait + proc, 0.0)
        end = self.recv_w[:, None] + np.cumsum(dur, axis=1)
        startw = end - np.where(present, proc, 0.0)
        rows, cols = np.nonzero(present)
        cal = self.cal
        ts = cal.from_working(end[rows, cols], side="next", tz_aware=True)
        st = cal.from_working(startw[rows, cols], side="next", tz_aware=True)
        pool_units = units[cols]
        officer = np.empty(rows.size, dtype=object)
        for u, names in OFFICERS.items():  # loop over 4 units
            m = pool_units == u
            officer[m] = np.array(names, dtype=object)[(self.officer_u[rows[m], cols[m]] * len(names)).astype(int)]
        received = cal.from_working(self.recv_w, side="next", tz_aware=True)
        due = cal.add_working_days(received, 5.0, cutoff="15:00", tz_aware=True)
        ev = pd.DataFrame({
            S.CASE: pd.Series([f"HS{i:05d}" for i in range(n)], dtype=object).to_numpy()[rows],
            S.ACTIVITY: acts[cols], S.TIMESTAMP: ts, S.START: st, S.RESOURCE: officer,
            S.GROUP: pool_units, S.PROCEDURE: PROC,
            S.RECEIVED: pd.DatetimeIndex(received)[rows], S.DUE: pd.DatetimeIndex(due)[rows],
        })
        ev.loc[ev[S.ACTIVITY] == "Tiếp nhận hồ sơ", S.START] = ev.loc[ev[S.ACTIVITY] == "Tiếp nhận hồ sơ", S.TIMESTAMP]
        ev = ev.sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
        return tm.DossierLog(events=ev, calendar=cal, catalog=catalog,
                             source=f"miniworld:seed={self.seed}")


def catalog():
    rows = []
    allot = {"Tiếp nhận hồ sơ": 0.5, "Chuyển hồ sơ": 0.5, "Phân công thụ lý": 0.5, "Thẩm định hồ sơ": 2.0,
             "Xin ý kiến": 0.5, "Trình lãnh đạo phòng": 0.5, "Phê duyệt": 0.5, "Kết thúc xử lý": 0.0,
             "Trả kết quả": None}
    for i, (a, u) in enumerate([(t[0], t[1]) for t in TEMPLATE if t[4] != "loop"]):
        rows.append({"code": PROC, "name": "Đăng ký biến động đất đai", "level": "huyện",
                     "deadline_days": 5, "deadline_unit": "working", "step_order": i + 1,
                     "activity": a, "unit": u, "allotment_days": allot[a]})
    return tm.ProcedureCatalog.from_frame(pd.DataFrame(rows))


def test_world_agency_time_matches_its_own_arithmetic():
    w = MiniWorld(200, seed=3)
    log = w.log()
    cases = tm.timing(log).cases.set_index(S.CASE)
    assert (cases["outcome"] == "finished").all()
    # citizen time = the waits of 'Nhận hồ sơ bổ sung' plus the request's processing tail
    has_loop = cases["n_supplement_requests"].to_numpy() > 0
    assert has_loop.sum() == w.loop.sum()
    assert (cases.loc[has_loop, "citizen_days"] > 0).all()
    assert (cases.loc[~has_loop, "citizen_days"] == 0).all()
    # the world re-simulated with no change is the same log
    pd.testing.assert_frame_equal(log.events.drop(columns=[S.ROLE]), w.log().events)
