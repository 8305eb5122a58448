"""Procedure definitions and parameters of the synthetic province.

Everything the generator needs to know is a frozen dataclass here, so a world's behaviour is a
pure function of ``(SynthParams, random draws)``: a what-if cut (issue 5) is a new
:class:`SynthParams` made with :func:`dataclasses.replace` / :meth:`SynthParams.with_step`, then
``World.simulate(params)`` re-runs the same dossiers with the same random numbers.

Time units: every duration parameter is in **working hours** (8 per working day) on the working
time axis of :class:`tthc_mining.calendar.VietnamCalendar`; allotments and deadlines are in days
as the internal procedures (quy trình nội bộ) publish them (domain-vn.md §1.1 and §6).

Procedure codes are written in the format of the national TTHC database (``x.xxxxxx``); they are
illustrative and must not be used as a reference for the real codes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import ConfigError

# kinds of planted bottleneck (issue 3)
QUEUE, SLOW_WORK, HANDOVER, BATCHING = "queue", "slow_work", "handover", "batching"
KINDS = (QUEUE, SLOW_WORK, HANDOVER, BATCHING)

# activity names shared by several procedures (Vietnamese, NFC)
RECEIPT = "Tiếp nhận hồ sơ"
ASSIGN = "Phân công thụ lý"
APPRAISE = "Thẩm định hồ sơ"
SUPP_REQUEST = "Yêu cầu bổ sung hồ sơ"
SUPP_RECEIVED = "Nhận hồ sơ bổ sung"
SEND_BACK = "Trả lại hồ sơ"
SUBMIT_HEAD = "Trình lãnh đạo phòng"
APPROVE = "Phê duyệt"
ISSUE = "Văn thư phát hành"
RESULT = "Trả kết quả"
APOLOGY = "Xin lỗi và hẹn lại ngày trả kết quả"
SUSPEND = "Chờ thực hiện nghĩa vụ tài chính"
RESUME = "Tiếp tục xử lý"
TAX = "Tính thuế, ra thông báo thuế"
TAX_SEND = "Gửi thông tin địa chính sang cơ quan thuế"

# officer roles (pools per unit)
DESK, EXPERT, HEAD, LEADER, CLERK, CIVIL, POLICE = (
    "Cán bộ một cửa", "Chuyên viên", "Lãnh đạo phòng", "Lãnh đạo", "Văn thư",
    "Công chức tư pháp - hộ tịch", "Cán bộ công an")
#: minimum officers per (unit, role)
BASE_POOL = {DESK: 3, EXPERT: 4, HEAD: 2, LEADER: 2, CLERK: 1, CIVIL: 2, POLICE: 3}


@dataclass(frozen=True)
class Dist:
    """A positive duration: lognormal with mean ``mean_h`` working hours and coefficient of
    variation ``cv`` (``cv=0``: constant). Sampled from standard-normal draws, so the same
    draws give coupled durations under different parameters (common random numbers)."""

    mean_h: float
    cv: float = 0.8

    def seconds(self, z: np.ndarray) -> np.ndarray:
        """Durations in whole working seconds for standard-normal draws ``z``."""
        if self.mean_h <= 0:
            return np.zeros(len(z))
        if self.cv <= 0:
            return np.full(len(z), float(np.rint(self.mean_h * 3600)))
        s2 = np.log1p(self.cv ** 2)
        mu = np.log(self.mean_h * 3600.0) - s2 / 2.0
        return np.rint(np.exp(mu + np.sqrt(s2) * z))

    def scaled(self, factor: float) -> "Dist":
        return Dist(self.mean_h * factor, self.cv)


@dataclass(frozen=True)
class QueueSpec:
    """A FIFO queue at a step: each unit has ``pools`` independent pools of ``servers`` officers
    (pools are sized from the world's volume so that the utilisation is ``utilisation``; when the
    volume is too small for one pool, the officers' other work is simulated as invisible
    background jobs with the same service-time distribution, so the waits do not depend on the
    number of dossiers generated)."""

    servers: int = 1
    utilisation: float = 0.75


@dataclass(frozen=True)
class BatchSpec:
    """Completions clumped at fixed clock times (bulk digital signing, 'ký số hàng loạt'): a
    dossier that reaches the step waits for the next signing time; every dossier of a batch
    completes within ``jitter_s`` seconds of it."""

    times: tuple[str, ...] = ("15:30",)
    jitter_s: float = 50.0


@dataclass(frozen=True)
class StepDef:
    """One step of an internal procedure.

    ``unit`` is a template: ``{xa}`` is replaced by the dossier's commune (e.g. "xã An Bình"),
    ``{huyen}`` by its district. ``wait`` is the time from the previous step's end to this step's
    start, ``proc`` from start to end (working hours). ``allotment_days`` None = not counted
    (Trả kết quả).
    """

    activity: str
    unit: str
    officer: str
    allotment_days: float | None
    wait: Dist = Dist(0.0)
    proc: Dist = Dist(0.1, 0.5)
    queue: QueueSpec | None = None
    batch: BatchSpec | None = None
    p_active: float = 1.0


@dataclass(frozen=True)
class ProcedureDef:
    """A procedure with its statutory deadline, internal steps and the planted phenomena.

    Loops (all probabilities per dossier):
    - supplement after ``appraisal``: ``Yêu cầu bổ sung hồ sơ`` -> the citizen holds the dossier
      (``citizen_wait``) -> ``Nhận hồ sơ bổ sung`` at the one-stop desk -> the appraisal again.
      ``p_double`` (given a first request) plants a second request (against the once-only rule);
      ``p_late`` (given a request) plants the first request in the last 20% of the budget.
    - redo / repeat of ``redo_activity`` right after itself, by the same officer (redo) or by
      another officer of the unit (repeat).
    - ping-pong ``pingpong = (X, Y)``: after step X the unit of step Y sends the dossier back
      (``Trả lại hồ sơ``) and X is done again before Y; ``p_pingpong2`` (given one) a second
      bounce.
    - suspension after ``suspension_after`` (tax: ``Chờ thực hiện nghĩa vụ tài chính`` ->
      ``Tiếp tục xử lý``; the clock stops while the citizen pays, ``suspension_wait``).
    Planted bottleneck: step ``bottleneck`` of kind ``bottleneck_kind``. Planted overdue unit:
    at step ``overdue_activity`` the unit ``overdue_unit`` (an exact unit name) holds a share
    ``p_overdue`` of its dossiers for an extra ``overdue_excess_days`` working days (processing
    time), well beyond the step's allotment.
    ``restart_on_supplement``: the one-stop system recomputes the exported due date from the
    resubmission (full deadline again) instead of pausing the clock.
    """

    code: str
    name: str
    level: str                       # "xa" | "huyen" | "tinh"
    sector: str
    deadline_days: float
    deadline_unit: str               # "working" | "calendar"
    share: float
    online_share: float
    steps: tuple[StepDef, ...]
    bottleneck: str
    bottleneck_kind: str
    overdue_activity: str
    overdue_unit: str
    p_overdue: float = 0.05
    overdue_excess_days: tuple[float, float] = (3.0, 6.0)
    post_share: float = 0.0
    appraisal: str | None = APPRAISE
    p_supplement: float = 0.0
    p_double: float = 0.0
    p_late: float = 0.0
    citizen_wait: Dist = Dist(16.0, 0.9)
    redo_activity: str | None = APPRAISE
    p_redo: float = 0.0
    p_repeat: float = 0.0
    pingpong: tuple[str, str] | None = None
    p_pingpong: float = 0.0
    p_pingpong2: float = 0.0
    suspension_after: str | None = None
    p_suspension: float = 0.0
    suspension_wait: Dist = Dist(24.0, 0.8)
    restart_on_supplement: bool = False
    p_reappoint: float = 0.5
    pickup_direct: Dist = Dist(2.5, 1.2)
    pickup_online: Dist = Dist(0.3, 1.0)
    rework_wait: Dist = Dist(1.0, 0.9)
    supplement_reasons: tuple[str, ...] = ("Thiếu giấy tờ theo quy định",)

    @property
    def same_day(self) -> bool:
        return self.deadline_days == 0

    def step(self, activity: str) -> StepDef:
        for s in self.steps:
            if s.activity == activity:
                return s
        raise ConfigError(f"procedure {self.code!r} has no step {activity!r}; steps: "
                          + ", ".join(s.activity for s in self.steps))

    def validate(self) -> None:
        acts = [s.activity for s in self.steps]
        if len(set(acts)) != len(acts):
            raise ConfigError(f"procedure {self.code!r}: a step is listed twice")
        if acts[0] != RECEIPT or acts[-1] != RESULT:
            raise ConfigError(f"procedure {self.code!r}: steps must start with {RECEIPT!r} and "
                              f"end with {RESULT!r}")
        if self.deadline_unit not in ("working", "calendar"):
            raise ConfigError(f"procedure {self.code!r}: deadline_unit must be 'working' or "
                              f"'calendar', got {self.deadline_unit!r}")
        if self.bottleneck_kind not in KINDS:
            raise ConfigError(f"procedure {self.code!r}: unknown bottleneck kind "
                              f"{self.bottleneck_kind!r}; known: {', '.join(KINDS)}")
        for a in (self.bottleneck, self.overdue_activity, self.appraisal, self.redo_activity,
                  self.suspension_after, *(self.pingpong or ())):
            if a is not None:
                self.step(a)
        for s in self.steps:
            if s.queue is not None and s.batch is not None:
                raise ConfigError(f"step {s.activity!r} of {self.code!r}: queue and batch together")
            if s.queue is not None and not (0 < s.queue.utilisation < 1 and s.queue.servers >= 1):
                raise ConfigError(f"step {s.activity!r} of {self.code!r}: utilisation must be in "
                                  "(0, 1) and servers >= 1")
        for name in ("p_overdue", "p_supplement", "p_double", "p_late", "p_redo", "p_repeat",
                     "p_pingpong", "p_pingpong2", "p_suspension", "p_reappoint"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"procedure {self.code!r}: {name} must be in [0, 1], got {v!r}")
        if self.p_redo + self.p_repeat > 1:
            raise ConfigError(f"procedure {self.code!r}: p_redo + p_repeat > 1")


@dataclass(frozen=True)
class Geography:
    """Districts (huyện / thành phố) and their communes (xã / phường / thị trấn) with relative
    volumes. Names are fictional."""

    province: str = "tỉnh Hải An"
    districts: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
        ("thành phố Bình Minh", (("phường Trần Hưng Đạo", 1.6), ("phường Quang Trung", 1.4),
                                 ("xã An Bình", 1.0))),
        ("huyện An Phú", (("xã An Phú", 1.0), ("xã Tân Hòa", 0.8), ("xã Phú Lộc", 0.8))),
        ("huyện Tân Lạc", (("thị trấn Tân Lạc", 1.1), ("xã Hòa Bình", 0.7), ("xã Đông Sơn", 0.7))),
    )
    province_code: str = "H30"      # agency prefix of dossier ids
    cccd_code: int = 30             # province-of-birth code used by most applicants

    @property
    def communes(self) -> list[str]:
        return [c for _, cs in self.districts for c, _ in cs]

    @property
    def commune_district(self) -> np.ndarray:
        return np.array([i for i, (_, cs) in enumerate(self.districts) for _ in cs], dtype=np.int64)

    @property
    def commune_weights(self) -> np.ndarray:
        w = np.array([wt for _, cs in self.districts for _, wt in cs], dtype=float)
        return w / w.sum()

    @property
    def district_names(self) -> list[str]:
        return [d for d, _ in self.districts]


@dataclass(frozen=True)
class SynthParams:
    """All parameters of the synthetic province (a pure-data description of the world)."""

    procedures: tuple[ProcedureDef, ...]
    geography: Geography = Geography()
    online_wait: Dist = Dist(1.5, 1.0)      # online submission -> desk starts the receipt
    online_min_wait_h: float = 0.25         # genuine online dossiers wait at least this long
    desk_entered_share: float = 0.04        # of online dossiers: keyed in at the desk
    desk_entered_gap_s: tuple[float, float] = (60.0, 360.0)  # submitted -> receipt start
    email_share: float = 0.3
    arrival_skew: float = 1.3               # >1: more receipts in the morning

    def procedure(self, code: str) -> ProcedureDef:
        for p in self.procedures:
            if p.code == code:
                return p
        raise ConfigError(f"unknown procedure {code!r}; known: "
                          + ", ".join(p.code for p in self.procedures))

    def with_procedure(self, code: str, **changes: Any) -> "SynthParams":
        """A copy with fields of one procedure replaced."""
        new = tuple(dataclasses.replace(p, **changes) if p.code == code else p
                    for p in self.procedures)
        self.procedure(code)
        return dataclasses.replace(self, procedures=new)

    def with_step(self, code: str, activity: str, **changes: Any) -> "SynthParams":
        """A copy with fields of one step replaced (e.g. ``proc=Dist(...)``, ``queue=...``)."""
        p = self.procedure(code)
        p.step(activity)
        steps = tuple(dataclasses.replace(s, **changes) if s.activity == activity else s
                      for s in p.steps)
        return self.with_procedure(code, steps=steps)

    def validate(self) -> None:
        codes = [p.code for p in self.procedures]
        if not codes:
            raise ConfigError("no procedures")
        if len(set(codes)) != len(codes):
            raise ConfigError("a procedure code is listed twice")
        for p in self.procedures:
            p.validate()
        if not 0 <= self.desk_entered_share <= 1:
            raise ConfigError("desk_entered_share must be in [0, 1]")

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def _steps(*rows: tuple) -> tuple[StepDef, ...]:
    return tuple(StepDef(*r[:4], **(r[4] if len(r) > 4 else {})) for r in rows)


D = Dist
DESK_XA = "Bộ phận Một cửa UBND {xa}"
UBND_XA = "UBND {xa}"
DESK_HUYEN = "Bộ phận Một cửa UBND {huyen}"
CENTER = "Trung tâm Phục vụ hành chính công tỉnh"
BRANCH = "Văn phòng Đăng ký đất đai - Chi nhánh {huyen}"
LAND_OFFICE = "Văn phòng Đăng ký đất đai tỉnh"
TAX_OFFICE = "Chi cục Thuế {huyen}"
JUSTICE = "Sở Tư pháp"
BUSINESS = "Phòng Đăng ký kinh doanh - Sở Kế hoạch và Đầu tư"


def default_procedures() -> tuple[ProcedureDef, ...]:
    """Eight procedures at commune, district and province level (domain-vn.md §1, §6, §7)."""
    same_day_pickup = D(0.12, 1.0)
    return (
        ProcedureDef(
            code="2.000815", name="Chứng thực bản sao từ bản chính giấy tờ, văn bản",
            level="xa", sector="Chứng thực", deadline_days=0, deadline_unit="working",
            share=0.46, online_share=0.04,
            steps=_steps(
                (RECEIPT, DESK_XA, DESK, 0.125, {"proc": D(0.12, 0.5)}),
                (APPRAISE, UBND_XA, CIVIL, 0.375, {"wait": D(0.15), "proc": D(0.15, 0.6)}),
                (APPROVE, UBND_XA, LEADER, 0.375,
                 {"proc": D(0.03, 0.5), "batch": BatchSpec(("09:00", "10:30", "14:30", "16:00"))}),
                (ISSUE, UBND_XA, CLERK, 0.125, {"wait": D(0.1), "proc": D(0.05, 0.5)}),
                (RESULT, DESK_XA, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck=APPROVE, bottleneck_kind=BATCHING,
            overdue_activity=APPRAISE, overdue_unit="UBND xã Tân Hòa", p_overdue=0.03,
            overdue_excess_days=(1.0, 2.0), appraisal=None, p_redo=0.01, p_repeat=0.01,
            p_reappoint=0.0, pickup_direct=same_day_pickup, pickup_online=same_day_pickup,
            rework_wait=D(0.1)),
        ProcedureDef(
            code="1.001193", name="Đăng ký khai sinh", level="xa", sector="Hộ tịch",
            deadline_days=0, deadline_unit="working", share=0.12, online_share=0.35,
            steps=_steps(
                (RECEIPT, DESK_XA, DESK, 0.125, {"proc": D(0.15, 0.5)}),
                (APPRAISE, UBND_XA, CIVIL, 0.25, {"wait": D(0.08), "proc": D(0.15, 0.6)}),
                ("Ghi sổ hộ tịch, in Giấy khai sinh", UBND_XA, CIVIL, 0.375,
                 {"wait": D(0.25), "proc": D(0.7, 0.5)}),
                (APPROVE, UBND_XA, LEADER, 0.125, {"wait": D(0.08), "proc": D(0.08, 0.5)}),
                (ISSUE, UBND_XA, CLERK, 0.125, {"wait": D(0.06), "proc": D(0.05, 0.5)}),
                (RESULT, DESK_XA, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck="Ghi sổ hộ tịch, in Giấy khai sinh", bottleneck_kind=SLOW_WORK,
            overdue_activity=APPROVE, overdue_unit="UBND phường Quang Trung", p_overdue=0.04,
            overdue_excess_days=(1.0, 2.0), p_supplement=0.05, p_double=0.05,
            citizen_wait=D(8.0, 0.9), p_redo=0.02, p_repeat=0.01, p_reappoint=0.0,
            pickup_direct=same_day_pickup, pickup_online=same_day_pickup, rework_wait=D(0.1),
            supplement_reasons=("Thiếu Giấy chứng sinh", "Thiếu văn bản ủy quyền",
                                "Tờ khai chưa đúng mẫu")),
        ProcedureDef(
            code="1.004399",
            name="Liên thông đăng ký khai sinh, đăng ký thường trú, cấp thẻ BHYT cho trẻ em dưới 6 tuổi",
            level="xa", sector="Liên thông", deadline_days=3, deadline_unit="working",
            share=0.07, online_share=0.6,
            steps=_steps(
                (RECEIPT, DESK_XA, DESK, 0.25, {"proc": D(0.2, 0.5)}),
                ("Đăng ký khai sinh", UBND_XA, CIVIL, 0.5, {"wait": D(0.5), "proc": D(0.5, 0.6)}),
                ("Đăng ký thường trú", "Công an {xa}", POLICE, 1.0,
                 {"wait": D(4.5, 0.6), "proc": D(0.3, 0.6)}),
                ("Cấp thẻ BHYT", "Bảo hiểm xã hội {huyen}", EXPERT, 1.25,
                 {"wait": D(1.5), "proc": D(0.3, 0.6)}),
                (RESULT, DESK_XA, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck="Đăng ký thường trú", bottleneck_kind=HANDOVER,
            overdue_activity="Cấp thẻ BHYT", overdue_unit="Bảo hiểm xã hội huyện Tân Lạc",
            p_overdue=0.05, overdue_excess_days=(2.5, 5.0),
            appraisal="Đăng ký khai sinh", p_supplement=0.08, p_double=0.06, p_late=0.05,
            redo_activity="Đăng ký khai sinh", p_redo=0.01, p_repeat=0.01,
            pingpong=("Đăng ký khai sinh", "Đăng ký thường trú"), p_pingpong=0.04,
            p_pingpong2=0.1, pickup_direct=D(2.0, 1.2),
            supplement_reasons=("Thiếu Giấy chứng sinh", "Thông tin nơi cư trú chưa đúng")),
        ProcedureDef(
            code="2.001417", name="Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
            level="tinh", sector="Tư pháp", deadline_days=10, deadline_unit="calendar",
            share=0.08, online_share=0.45, post_share=0.05,
            steps=_steps(
                (RECEIPT, CENTER, DESK, 0.5, {"proc": D(0.15, 0.5)}),
                (ASSIGN, JUSTICE, HEAD, 0.5, {"wait": D(1.0), "proc": D(0.1, 0.5)}),
                ("Tra cứu, xác minh thông tin lý lịch", JUSTICE, EXPERT, 3.0,
                 {"wait": D(1.0), "proc": D(1.5, 0.6)}),
                ("Xác minh tại Công an tỉnh", "Công an tỉnh", POLICE, 3.5,
                 {"wait": D(6.0, 0.6), "proc": D(1.0, 0.6)}),
                (SUBMIT_HEAD, JUSTICE, EXPERT, 0.5, {"wait": D(0.8), "proc": D(0.2, 0.5)}),
                (APPROVE, JUSTICE, LEADER, 1.5, {"wait": D(1.5), "proc": D(0.1, 0.5)}),
                (ISSUE, JUSTICE, CLERK, 0.5, {"wait": D(0.5), "proc": D(0.1, 0.5)}),
                (RESULT, CENTER, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck="Xác minh tại Công an tỉnh", bottleneck_kind=HANDOVER,
            overdue_activity=APPROVE, overdue_unit=JUSTICE, p_overdue=0.015,
            overdue_excess_days=(7.0, 10.0),
            appraisal="Tra cứu, xác minh thông tin lý lịch", p_supplement=0.03, p_double=0.05,
            p_late=0.05, redo_activity="Tra cứu, xác minh thông tin lý lịch", p_redo=0.01,
            p_repeat=0.01,
            pingpong=("Tra cứu, xác minh thông tin lý lịch", "Xác minh tại Công an tỉnh"),
            p_pingpong=0.03,
            supplement_reasons=("Thiếu bản chụp CCCD", "Tờ khai thiếu thông tin nơi cư trú")),
        ProcedureDef(
            code="1.009994", name="Cấp giấy phép xây dựng nhà ở riêng lẻ", level="huyen",
            sector="Xây dựng", deadline_days=15, deadline_unit="calendar", share=0.04,
            online_share=0.3,
            steps=_steps(
                (RECEIPT, DESK_HUYEN, DESK, 0.5, {"proc": D(0.25, 0.5)}),
                (ASSIGN, "Phòng Kinh tế - Hạ tầng {huyen}", HEAD, 0.5,
                 {"wait": D(2.0), "proc": D(0.1, 0.5)}),
                (APPRAISE, "Phòng Kinh tế - Hạ tầng {huyen}", EXPERT, 5.0,
                 {"wait": D(3.0), "proc": D(3.0, 0.6)}),
                ("Kiểm tra thực địa", "Phòng Kinh tế - Hạ tầng {huyen}", EXPERT, 5.0,
                 {"wait": D(8.0), "proc": D(20.0, 0.5)}),
                (SUBMIT_HEAD, "Phòng Kinh tế - Hạ tầng {huyen}", EXPERT, 1.0,
                 {"wait": D(2.0), "proc": D(0.5, 0.5)}),
                (APPROVE, "UBND {huyen}", LEADER, 2.0, {"wait": D(3.0), "proc": D(0.3, 0.5)}),
                (ISSUE, "Văn phòng HĐND và UBND {huyen}", CLERK, 1.0,
                 {"wait": D(1.5), "proc": D(0.2, 0.5)}),
                (RESULT, DESK_HUYEN, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck="Kiểm tra thực địa", bottleneck_kind=SLOW_WORK,
            overdue_activity=APPROVE, overdue_unit="UBND huyện An Phú", p_overdue=0.06,
            overdue_excess_days=(8.0, 12.0), p_supplement=0.25, p_double=0.06, p_late=0.04,
            p_redo=0.02, p_repeat=0.02, pingpong=(SUBMIT_HEAD, APPROVE), p_pingpong=0.05,
            p_pingpong2=0.1, restart_on_supplement=True,
            supplement_reasons=("Bản vẽ thiết kế chưa đúng quy định",
                                "Thiếu giấy tờ chứng minh quyền sử dụng đất",
                                "Thiếu cam kết bảo đảm an toàn công trình liền kề")),
        ProcedureDef(
            code="1.004227", name="Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
            level="huyen", sector="Đất đai", deadline_days=8, deadline_unit="working",
            share=0.12, online_share=0.2,
            steps=_steps(
                (RECEIPT, DESK_HUYEN, DESK, 0.5, {"proc": D(0.25, 0.5)}),
                (ASSIGN, LAND_OFFICE, HEAD, 0.5, {"wait": D(1.0), "proc": D(0.1, 0.5)}),
                (APPRAISE, LAND_OFFICE, EXPERT, 2.5,
                 {"proc": D(2.0, 0.8), "queue": QueueSpec(servers=1, utilisation=0.75)}),
                (TAX_SEND, LAND_OFFICE, EXPERT, 0.5, {"wait": D(1.0), "proc": D(0.2, 0.5)}),
                (TAX, TAX_OFFICE, EXPERT, 1.0, {"wait": D(2.0), "proc": D(0.5, 0.6)}),
                (SUBMIT_HEAD, LAND_OFFICE, EXPERT, 0.5, {"wait": D(1.0), "proc": D(0.3, 0.5)}),
                (APPROVE, LAND_OFFICE, LEADER, 0.5, {"wait": D(2.0), "proc": D(0.2, 0.5)}),
                ("Cập nhật, chỉnh lý hồ sơ địa chính", BRANCH, EXPERT, 1.5,
                 {"wait": D(2.0), "proc": D(1.0, 0.6)}),
                (ISSUE, BRANCH, CLERK, 0.5, {"wait": D(1.0), "proc": D(0.1, 0.5)}),
                (RESULT, DESK_HUYEN, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck=APPRAISE, bottleneck_kind=QUEUE,
            overdue_activity="Cập nhật, chỉnh lý hồ sơ địa chính",
            overdue_unit="Văn phòng Đăng ký đất đai - Chi nhánh huyện An Phú", p_overdue=0.12,
            overdue_excess_days=(6.0, 9.0), p_supplement=0.2, p_double=0.08, p_late=0.06,
            p_redo=0.03, p_repeat=0.03, pingpong=(TAX_SEND, TAX), p_pingpong=0.06,
            p_pingpong2=0.1, suspension_after=TAX, p_suspension=0.85,
            restart_on_supplement=True,
            supplement_reasons=("Thiếu hợp đồng chuyển nhượng có công chứng",
                                "Sai thông tin thửa đất", "Thiếu tờ khai thuế thu nhập cá nhân")),
        ProcedureDef(
            code="1.012756",
            name="Đăng ký đất đai, tài sản gắn liền với đất, cấp Giấy chứng nhận lần đầu",
            level="huyen", sector="Đất đai", deadline_days=23, deadline_unit="working",
            share=0.03, online_share=0.1,
            steps=_steps(
                (RECEIPT, DESK_HUYEN, DESK, 0.5, {"proc": D(0.3, 0.5)}),
                (ASSIGN, BRANCH, HEAD, 0.5, {"wait": D(2.0), "proc": D(0.1, 0.5)}),
                (APPRAISE, BRANCH, EXPERT, 6.0, {"wait": D(4.0), "proc": D(3.0, 0.6)}),
                ("Xác minh, lấy ý kiến UBND cấp xã", UBND_XA, CIVIL, 5.0,
                 {"wait": D(6.0), "proc": D(8.0, 0.6)}),
                (TAX_SEND, BRANCH, EXPERT, 0.5, {"wait": D(1.0), "proc": D(0.2, 0.5)}),
                (TAX, TAX_OFFICE, EXPERT, 2.0, {"wait": D(14.0, 0.8), "proc": D(0.8, 0.6)}),
                (SUBMIT_HEAD, BRANCH, EXPERT, 1.0, {"wait": D(2.0), "proc": D(0.5, 0.5)}),
                ("Thẩm định, trình ký Giấy chứng nhận", "Phòng Tài nguyên và Môi trường {huyen}",
                 EXPERT, 3.0, {"wait": D(4.0), "proc": D(2.0, 0.6)}),
                (APPROVE, "UBND {huyen}", LEADER, 3.0, {"wait": D(4.0), "proc": D(0.3, 0.5)}),
                ("In Giấy chứng nhận", BRANCH, EXPERT, 1.0, {"wait": D(2.0), "proc": D(0.5, 0.5)}),
                (ISSUE, BRANCH, CLERK, 0.5, {"wait": D(1.0), "proc": D(0.1, 0.5)}),
                (RESULT, DESK_HUYEN, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck=TAX, bottleneck_kind=HANDOVER,
            overdue_activity="Thẩm định, trình ký Giấy chứng nhận",
            overdue_unit="Phòng Tài nguyên và Môi trường huyện Tân Lạc", p_overdue=0.2,
            overdue_excess_days=(14.0, 20.0), p_supplement=0.3, p_double=0.1, p_late=0.08,
            p_redo=0.03, p_repeat=0.03,
            pingpong=(SUBMIT_HEAD, "Thẩm định, trình ký Giấy chứng nhận"), p_pingpong=0.08,
            p_pingpong2=0.15, suspension_after=TAX, p_suspension=0.8,
            suspension_wait=D(32.0, 0.8), restart_on_supplement=True,
            supplement_reasons=("Thiếu giấy tờ về nguồn gốc sử dụng đất", "Sơ đồ thửa đất chưa đúng",
                                "Thiếu xác nhận không có tranh chấp")),
        ProcedureDef(
            code="2.001610", name="Đăng ký thành lập công ty trách nhiệm hữu hạn một thành viên",
            level="tinh", sector="Doanh nghiệp", deadline_days=3, deadline_unit="working",
            share=0.08, online_share=0.9,
            steps=_steps(
                (RECEIPT, CENTER, DESK, 0.25, {"proc": D(0.15, 0.5)}),
                (ASSIGN, BUSINESS, HEAD, 0.25, {"wait": D(0.5), "proc": D(0.05, 0.5)}),
                (APPRAISE, BUSINESS, EXPERT, 1.0, {"wait": D(0.8), "proc": D(0.6, 0.6)}),
                (APPROVE, BUSINESS, HEAD, 0.75,
                 {"proc": D(0.02, 0.5), "batch": BatchSpec(("15:30",))}),
                ("Đồng bộ, cấp mã số doanh nghiệp", "Cục Thuế tỉnh", EXPERT, 0.5,
                 {"wait": D(0.5), "proc": D(0.1, 0.5)}),
                (ISSUE, BUSINESS, CLERK, 0.25, {"wait": D(0.4), "proc": D(0.05, 0.5)}),
                (RESULT, CENTER, DESK, None, {"proc": D(0.05, 0.5)}),
            ),
            bottleneck=APPROVE, bottleneck_kind=BATCHING,
            overdue_activity="Đồng bộ, cấp mã số doanh nghiệp", overdue_unit="Cục Thuế tỉnh",
            p_overdue=0.01, overdue_excess_days=(3.0, 5.0), p_supplement=0.25, p_double=0.1,
            p_late=0.01, citizen_wait=D(12.0, 0.9), p_redo=0.02, p_repeat=0.01,
            supplement_reasons=("Tên doanh nghiệp trùng hoặc gây nhầm lẫn",
                                "Điều lệ công ty chưa đúng quy định",
                                "Ngành nghề kinh doanh chưa đúng mã ngành")),
    )


def default_params(**overrides: Any) -> SynthParams:
    """The default province; keyword arguments replace :class:`SynthParams` fields."""
    fields = {f.name for f in dataclasses.fields(SynthParams)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ConfigError(f"unknown synth parameter(s) {', '.join(bad)}; known: "
                          + ", ".join(sorted(fields - {'procedures'})))
    p = SynthParams(procedures=default_procedures())
    if overrides:
        p = dataclasses.replace(p, **overrides)
    p.validate()
    return p


def select_procedures(params: SynthParams, procedures: Iterable[Any] | None) -> SynthParams:
    """Keep only the listed procedures (codes or :class:`ProcedureDef` objects)."""
    if procedures is None:
        return params
    chosen = []
    for p in procedures:
        if isinstance(p, ProcedureDef):
            chosen.append(p)
        else:
            chosen.append(params.procedure(str(p)))
    if not chosen:
        raise ConfigError("procedures must name at least one procedure")
    out = dataclasses.replace(params, procedures=tuple(chosen))
    out.validate()
    return out


def unit_label(template: str) -> str:
    """A unit template as a generic label: ``"UBND {xa}"`` -> ``"UBND cấp xã"``."""
    return template.replace("{xa}", "cấp xã").replace("{huyen}", "cấp huyện")


def catalog_frame(params: SynthParams) -> pd.DataFrame:
    """The catalogue in the agreed interchange layout (one row per step)."""
    rows = []
    for p in params.procedures:
        for i, s in enumerate(p.steps, 1):
            rows.append({"code": p.code, "name": p.name, "level": p.level,
                         "deadline_days": p.deadline_days, "deadline_unit": p.deadline_unit,
                         "step_order": i, "activity": s.activity, "unit": unit_label(s.unit),
                         "allotment_days": s.allotment_days})
    df = pd.DataFrame(rows, columns=["code", "name", "level", "deadline_days", "deadline_unit",
                                     "step_order", "activity", "unit", "allotment_days"])
    df["allotment_days"] = df["allotment_days"].astype(float)
    return df


__all__ = ["Dist", "QueueSpec", "BatchSpec", "StepDef", "ProcedureDef", "Geography",
           "SynthParams", "default_procedures", "default_params", "select_procedures",
           "catalog_frame", "unit_label", "KINDS", "QUEUE", "SLOW_WORK", "HANDOVER", "BATCHING"]
