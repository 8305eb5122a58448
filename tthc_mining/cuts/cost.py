"""Compliance-cost parameters (chi phí tuân thủ) used to price procedure cuts.

Two ways of pricing a cut are reported side by side (``../shared/docs/domain-vn.md`` §4):

* **statutory** (the way provinces publish it in their "phương án đơn giản hóa" decisions):
  ``deadline working days saved x hours_per_day x hourly_income_vnd x dossiers per year``
  (e.g. Đồng Nai QĐ 2816/QĐ-UBND 2025: "(10 ngày làm việc = 80 giờ x 40.000 đồng/giờ) x 10 hồ
  sơ/năm"). The days saved are those the cut would remove from the statutory budget if adopted
  into the internal procedure (see :func:`tthc_mining.cuts.score.statutory_days_saved`).
* **measured** (what the log shows the citizen actually gains): citizen working hours saved
  (time the dossier sat with the citizen for supplements) plus visits avoided
  (``visit_hours`` each, e.g. a trip to the one-stop desk to hand in the supplement), valued at
  ``hourly_income_vnd``, times dossiers per year.

``annual_volume`` = dossiers per year of the scope; ``None`` = measured from the log (the
number of dossiers received divided by the observed span in years).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..errors import ConfigError

__all__ = ["CostParams"]


@dataclass(frozen=True)
class CostParams:
    """Parameters of the compliance-cost arithmetic.

    ``hourly_income_vnd``: value of one hour of a citizen's time (40.000 đ/giờ = average income
    2024, General Statistics Office, as provinces quote it). ``hours_per_day``: hours in a
    working day for the statutory formula (8). ``annual_volume``: dossiers per year (``None``:
    measured from the log). ``visit_hours``: hours one visit to the office costs the citizen
    (travel + queue). ``time_target`` / ``cost_target``: the government's cut targets (Công điện
    69/CĐ-TTg 2025: at least 50 % of processing time and 30 % of compliance cost).
    """

    hourly_income_vnd: float = 40_000.0
    hours_per_day: float = 8.0
    annual_volume: float | None = None
    visit_hours: float = 4.0
    time_target: float = 0.5
    cost_target: float = 0.3

    def __post_init__(self) -> None:
        for name in ("hourly_income_vnd", "hours_per_day", "visit_hours"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or v != v:
                raise ConfigError(f"CostParams.{name} must be a number >= 0, got {v!r}")
        if self.hours_per_day <= 0:
            raise ConfigError("CostParams.hours_per_day must be > 0")
        if self.annual_volume is not None and (not isinstance(self.annual_volume, (int, float))
                                               or self.annual_volume < 0):
            raise ConfigError(f"CostParams.annual_volume must be None or a number >= 0, "
                              f"got {self.annual_volume!r}")
        for name in ("time_target", "cost_target"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise ConfigError(f"CostParams.{name} must be in (0, 1], got {v!r}")

    def statutory_cost_vnd(self, days: float, volume: float) -> float:
        """``days x hours_per_day x hourly_income_vnd x volume`` (the provinces' formula)."""
        return float(days) * self.hours_per_day * self.hourly_income_vnd * float(volume)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)
