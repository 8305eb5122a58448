"""The catalogue of cuts: small typed, immutable objects that describe a procedure change.

Each cut

* **validates** against a log (``cut.validate(log)``): an unknown step or unit is a
  :class:`~tthc_mining.errors.ConfigError` that lists the known ones; names match exactly or
  after :func:`tthc_mining.roles.fold` (case, diacritics and spacing ignored);
* **describes itself** in Vietnamese and English (``cut.describe("vi")``, ``cut.label_vi``,
  ``cut.label_en``; ``str(cut)`` is a short code-like form);
* is plain data (``cut.to_dict()``): the engines (:mod:`tthc_mining.cuts.replay`, and the
  queue-aware simulation in :mod:`tthc_mining.simulation`) read the fields, the objects carry no
  engine code.

Cuts (``../shared/docs/methods.md``; Reijers & Liman Mansar redesign heuristics):

``RemoveStep(activity)``
    the step disappears; its segment (waiting + processing) becomes 0, the next step's waiting
    starts at the previous step's end.
``MergeSteps(a, b)``
    one officer does ``a`` and then ``b``: the hand-over wait between them (``b``'s waiting when
    ``b`` directly follows ``a``) disappears.
``Parallelize(a, b)``
    two sequential steps run at the same time: where they follow each other directly the pair
    takes ``max`` instead of the sum of their segments.
``RemoveLoop(kind="supplement" | activity=...)``
    the loops that ``tm.rework`` prices disappear (from the trigger to the end of the repeated
    work: agency and citizen time, extra steps).
``ReduceLoopRate(kind, factor)``
    only ``factor`` of those loops remain (e.g. an intake checklist halves supplement requests:
    ``factor=0.5``); the loops removed are drawn at random.
``ShortenStep(activity, factor=None, to_hours=None)``
    the step's processing (its whole segment when the log has no start times, or with
    ``part="segment"``) is multiplied by ``factor`` or capped at ``to_hours`` working hours.
``AddStaff(step=None, unit=None, n=1)``
    ``n`` more officers at a step (or every step of a unit): a queue effect, best scored by the
    simulation.
``RemoveHandover(from_unit, to_unit)``
    electronic transfer instead of paper: the waits on segments handed over from ``from_unit``
    to ``to_unit`` shrink to a residual (``residual_hours``; default: the median waiting of the
    receiving unit's transfers within the unit, i.e. without a unit boundary).
``Bundle([...])``
    several cuts adopted together, applied in order.
"""
from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterable

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError
from ..roles import fold

__all__ = ["Cut", "RemoveStep", "MergeSteps", "Parallelize", "RemoveLoop", "ReduceLoopRate",
           "ShortenStep", "AddStaff", "RemoveHandover", "Bundle", "LOOP_KINDS", "CUT_TYPES",
           "resolve_name", "cut_from_dict"]

#: loop kinds as :mod:`tthc_mining.rework` prices them, plus ``"any"``
LOOP_KINDS = ("supplement", "selfloop", "cross_unit", "same_unit", "any")
LOOP_KIND_LABELS = {
    "supplement": ("vòng bổ sung hồ sơ", "supplement loops"),
    "selfloop": ("vòng tự lặp một bước", "self-loops"),
    "cross_unit": ("vòng lặp qua đơn vị khác (chuyển qua lại)", "loops across units (ping-pong)"),
    "same_unit": ("vòng lặp trong cùng đơn vị", "loops within a unit"),
    "any": ("mọi vòng lặp", "all loops"),
}
#: roles that move the statutory clock: removing such a step is a loop change, not a step change
_CLOCK_ROLES = (S.ROLE_SUPPLEMENT_REQUEST, S.ROLE_SUPPLEMENT_RECEIVED, S.ROLE_SUSPENDED,
                S.ROLE_RESUMED)


def _nfc(x: Any) -> Any:
    return unicodedata.normalize("NFC", str(x)) if isinstance(x, str) else x


def _fmt_num(x: float) -> str:
    return f"{x:g}"


def _fmt_num_vi(x: float) -> str:
    return f"{x:g}".replace(".", ",")


def resolve_name(name: str, known: Iterable[Any], what: str) -> int:
    """Position of ``name`` among ``known`` names: exact match first, then after
    :func:`~tthc_mining.roles.fold`. Raises :class:`ConfigError` listing the known names."""
    known_list = [str(k) for k in known]
    name = _nfc(str(name))
    for i, k in enumerate(known_list):
        if _nfc(k) == name:
            return i
    f = fold(name)
    hits = [i for i, k in enumerate(known_list) if fold(k) == f]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ConfigError(f"{what} {name!r} matches several names once case and diacritics are "
                          f"ignored: {', '.join(repr(known_list[i]) for i in hits)}; spell it exactly")
    shown = sorted(set(known_list))
    more = f" … and {len(shown) - 60} more" if len(shown) > 60 else ""
    raise ConfigError(f"unknown {what} {name!r}; known {what}s in this log: "
                      f"{', '.join(repr(k) for k in shown[:60])}{more}")


def _activities(log) -> pd.Index:
    _, acts = log.codes(S.ACTIVITY)
    return acts


def _units(log) -> pd.Index:
    if S.GROUP not in log.events.columns:
        raise ConfigError("this cut needs the unit column (org:group, Đơn vị xử lý), which the log "
                          "does not have")
    _, units = log.codes(S.GROUP)
    return units


def _check_fraction(name: str, v: Any, *, lo: float, hi: float, lo_open: bool = False,
                    hi_open: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {v!r}") from None
    if math.isnan(f) or f < lo or f > hi or (lo_open and f == lo) or (hi_open and f == hi):
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ConfigError(f"{name} must be in {lb}{lo:g}, {hi:g}{rb}, got {v!r}")
    return f


@dataclass(frozen=True)
class Cut:
    """Base class of all cuts (abstract). See the module docstring."""

    kind: ClassVar[str] = "cut"
    #: cuts that change queues or are random are better scored by the simulation
    queue_changing: ClassVar[bool] = False

    # ------------------------------------------------------------------ description
    def describe(self, lang: str = "vi") -> str:
        if lang not in ("vi", "en"):
            raise ConfigError(f"lang must be 'vi' or 'en', not {lang!r}")
        vi, en = self._labels()
        return vi if lang == "vi" else en

    @property
    def label_vi(self) -> str:
        return self._labels()[0]

    @property
    def label_en(self) -> str:
        return self._labels()[1]

    @property
    def label(self) -> str:
        """``"<Vietnamese> / <English>"``."""
        vi, en = self._labels()
        return f"{vi} / {en}"

    def _labels(self) -> tuple[str, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                         if getattr(self, f.name) != f.default)
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ data
    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [c.to_dict() for c in v] if isinstance(v, tuple) and v and \
                isinstance(v[0], Cut) else (list(v) if isinstance(v, tuple) else v)
        return out

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def parts(self) -> tuple["Cut", ...]:
        """The elementary cuts (a Bundle flattened; itself otherwise)."""
        return (self,)

    def steps(self) -> tuple[str, ...]:
        """Activity names the cut acts on directly (for the queue-assumption check)."""
        return ()

    def validate(self, log) -> "Cut":
        """Check the cut against a log; returns the cut, raises ConfigError."""
        return self


# ====================================================================== step cuts
@dataclass(frozen=True)
class RemoveStep(Cut):
    """Remove a step: its segment (waiting + processing) becomes 0."""

    activity: str
    kind: ClassVar[str] = "remove_step"

    def __post_init__(self) -> None:
        object.__setattr__(self, "activity", _nfc(self.activity))

    def _labels(self):
        return (f"Bỏ bước «{self.activity}»", f"Remove step «{self.activity}»")

    def steps(self):
        return (self.activity,)

    def validate(self, log):
        acts = _activities(log)
        i = resolve_name(self.activity, acts, "activity")
        if S.ROLE in log.events.columns:
            role = _role_of_activity(log, i)
            if role in _CLOCK_ROLES:
                raise ConfigError(
                    f"step {self.activity!r} moves the statutory clock (role {role!r}); removing it "
                    "alone would leave half a loop — use RemoveLoop(kind='supplement') or "
                    "ReduceLoopRate instead")
        return self


@dataclass(frozen=True)
class _StepPair(Cut):
    """A cut on two different steps ``a`` and ``b`` (abstract)."""

    a: str
    b: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _nfc(self.a))
        object.__setattr__(self, "b", _nfc(self.b))

    def steps(self):
        return (self.a, self.b)

    def validate(self, log):
        acts = _activities(log)
        ia = resolve_name(self.a, acts, "activity")
        ib = resolve_name(self.b, acts, "activity")
        if ia == ib:
            raise ConfigError(f"{type(self).__name__} needs two different steps, got {self.a!r} twice")
        return self


@dataclass(frozen=True)
class MergeSteps(_StepPair):
    """One officer does ``a`` then ``b``: ``b``'s waiting after ``a`` disappears."""

    kind: ClassVar[str] = "merge_steps"

    def _labels(self):
        return (f"Gộp bước «{self.a}» và «{self.b}» (một cán bộ, bỏ thời gian chờ chuyển giao)",
                f"Merge steps «{self.a}» and «{self.b}» (one officer, no hand-over wait)")


@dataclass(frozen=True)
class Parallelize(_StepPair):
    """Two sequential steps run at the same time (where one directly follows the other)."""

    kind: ClassVar[str] = "parallelize"

    def _labels(self):
        return (f"Thực hiện song song «{self.a}» và «{self.b}»",
                f"Run «{self.a}» and «{self.b}» in parallel")


@dataclass(frozen=True)
class ShortenStep(Cut):
    """A step's processing (or whole segment) scaled by ``factor`` or capped at ``to_hours``.

    ``part``: ``"auto"`` (processing where the event has a start time, the whole segment
    otherwise), ``"processing"`` or ``"segment"`` (waiting + processing: the time the step held
    the dossier, what an allotment in the internal procedure limits).
    """

    activity: str
    factor: float | None = None
    to_hours: float | None = None
    part: str = "auto"
    kind: ClassVar[str] = "shorten_step"

    def __post_init__(self) -> None:
        object.__setattr__(self, "activity", _nfc(self.activity))
        if (self.factor is None) == (self.to_hours is None):
            raise ConfigError("ShortenStep needs exactly one of factor= (e.g. 0.5 = half the time) "
                              "or to_hours= (a cap in working hours)")
        if self.factor is not None:
            object.__setattr__(self, "factor", _check_fraction("ShortenStep.factor", self.factor,
                                                               lo=0.0, hi=1.0))
        if self.to_hours is not None:
            th = _check_fraction("ShortenStep.to_hours", self.to_hours, lo=0.0, hi=float("inf"))
            object.__setattr__(self, "to_hours", th)
        if self.part not in ("auto", "processing", "segment"):
            raise ConfigError(f"ShortenStep.part must be 'auto', 'processing' or 'segment', "
                              f"not {self.part!r}")

    def _labels(self):
        what_vi = {"auto": "thời gian xử lý", "processing": "thời gian xử lý",
                   "segment": "thời gian giữ hồ sơ"}[self.part]
        what_en = {"auto": "processing time", "processing": "processing time",
                   "segment": "holding time"}[self.part]
        if self.factor is not None:
            pct = self.factor * 100
            return (f"Rút ngắn {what_vi} bước «{self.activity}» còn {_fmt_num_vi(round(pct, 1))}%",
                    f"Shorten the {what_en} of step «{self.activity}» to {_fmt_num(round(pct, 1))}%")
        return (f"Giới hạn {what_vi} bước «{self.activity}» tối đa "
                f"{_fmt_num_vi(round(self.to_hours, 2))} giờ làm việc",
                f"Cap the {what_en} of step «{self.activity}» at "
                f"{_fmt_num(round(self.to_hours, 2))} working hours")

    def steps(self):
        return (self.activity,)

    def validate(self, log):
        resolve_name(self.activity, _activities(log), "activity")
        if self.part == "processing" and not log.has_start:
            raise ConfigError("ShortenStep(part='processing') needs start times "
                              "(start_timestamp); this log has none — use part='segment'")
        return self


@dataclass(frozen=True)
class AddStaff(Cut):
    """``n`` more officers at a step, at every step of a unit, or at a step within a unit."""

    step: str | None = None
    unit: str | None = None
    n: int = 1
    kind: ClassVar[str] = "add_staff"
    queue_changing: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", _nfc(self.step))
        object.__setattr__(self, "unit", _nfc(self.unit))
        if self.step is None and self.unit is None:
            raise ConfigError("AddStaff needs step= or unit= (or both)")
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ConfigError(f"AddStaff.n must be a whole number >= 1, got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))

    def _labels(self):
        where_vi = " ".join(x for x in (f"bước «{self.step}»" if self.step else "",
                                        f"đơn vị «{self.unit}»" if self.unit else "") if x)
        where_en = " ".join(x for x in (f"step «{self.step}»" if self.step else "",
                                        f"unit «{self.unit}»" if self.unit else "") if x)
        return (f"Bổ sung {self.n} cán bộ cho {where_vi}",
                f"Add {self.n} officer{'s' if self.n > 1 else ''} to {where_en}")

    def steps(self):
        return (self.step,) if self.step else ()

    def validate(self, log):
        if self.step is not None:
            resolve_name(self.step, _activities(log), "activity")
        if self.unit is not None:
            resolve_name(self.unit, _units(log), "unit")
        return self


@dataclass(frozen=True)
class RemoveHandover(Cut):
    """Electronic transfer instead of paper between two units.

    The waits on agency segments handed over from ``from_unit`` to ``to_unit`` shrink to
    ``residual_hours`` (never grow). ``residual_hours=None``: the median waiting of the agency
    segments that end at ``to_unit`` after an event of the same unit (a transfer without a unit
    boundary), i.e. the assumption is that an electronic hand-over is as fast as an internal one.
    """

    from_unit: str
    to_unit: str
    residual_hours: float | None = None
    kind: ClassVar[str] = "remove_handover"

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_unit", _nfc(self.from_unit))
        object.__setattr__(self, "to_unit", _nfc(self.to_unit))
        if self.residual_hours is not None:
            object.__setattr__(self, "residual_hours", _check_fraction(
                "RemoveHandover.residual_hours", self.residual_hours, lo=0.0, hi=float("inf")))

    def _labels(self):
        return (f"Chuyển hồ sơ điện tử từ «{self.from_unit}» sang «{self.to_unit}» (thay hồ sơ giấy)",
                f"Electronic transfer from «{self.from_unit}» to «{self.to_unit}» (instead of paper)")

    def validate(self, log):
        units = _units(log)
        i = resolve_name(self.from_unit, units, "unit")
        j = resolve_name(self.to_unit, units, "unit")
        if i == j:
            raise ConfigError(f"RemoveHandover needs two different units, got {self.from_unit!r} twice")
        return self


# ====================================================================== loop cuts
def _check_loop_target(kind: str | None, activity: str | None, who: str) -> None:
    if kind is None and activity is None:
        raise ConfigError(f"{who} needs kind= (one of {', '.join(LOOP_KINDS)}) or activity=")
    if kind is not None and kind not in LOOP_KINDS:
        raise ConfigError(f"{who}: unknown loop kind {kind!r}; known: {', '.join(LOOP_KINDS)}")


@dataclass(frozen=True)
class RemoveLoop(Cut):
    """Remove the loops ``tm.rework`` finds: of a kind (``"supplement"``, ``"selfloop"``,
    ``"cross_unit"``, ``"same_unit"``, ``"any"``) and/or those that repeat ``activity``."""

    kind_: str | None = "supplement"
    activity: str | None = None
    kind: ClassVar[str] = "remove_loop"

    def __init__(self, kind: str | None = "supplement", activity: str | None = None):
        if activity is not None and kind == "supplement":
            # RemoveLoop(activity="X") means the loops that repeat X, whatever their kind
            kind = None
        object.__setattr__(self, "kind_", kind)
        object.__setattr__(self, "activity", _nfc(activity))
        _check_loop_target(kind, activity, "RemoveLoop")

    @property
    def loop_kind(self) -> str | None:
        return self.kind_

    def _labels(self):
        if self.activity is not None:
            extra_vi = f" ({LOOP_KIND_LABELS[self.kind_][0]})" if self.kind_ else ""
            extra_en = f" ({LOOP_KIND_LABELS[self.kind_][1]})" if self.kind_ else ""
            return (f"Loại bỏ vòng lặp làm lại bước «{self.activity}»{extra_vi}",
                    f"Remove the loops that repeat step «{self.activity}»{extra_en}")
        vi, en = LOOP_KIND_LABELS[self.kind_]
        return (f"Loại bỏ {vi}", f"Remove {en}")

    def __str__(self) -> str:
        if self.activity is None:
            return f"RemoveLoop(kind={self.kind_!r})"
        return f"RemoveLoop(kind={self.kind_!r}, activity={self.activity!r})"

    def __repr__(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        return {"type": "RemoveLoop", "kind": self.kind_, "activity": self.activity}

    def steps(self):
        return (self.activity,) if self.activity else ()

    def validate(self, log):
        if self.activity is not None:
            resolve_name(self.activity, _activities(log), "activity")
        if self.kind_ == "supplement" and S.ROLE in log.events.columns:
            codes, uniq = log.codes(S.ROLE)
            hit = np.flatnonzero(pd.Index(uniq.astype(str)) == S.ROLE_SUPPLEMENT_REQUEST)
            if not hit.size or not np.any(codes == hit[0]):
                raise ConfigError("the log has no supplement-request step (role 'supplement_request': "
                                  "Yêu cầu bổ sung hồ sơ), so there are no supplement loops to remove; "
                                  "map a step to that role (roles={...}) if the log names it differently")
        return self


@dataclass(frozen=True)
class ReduceLoopRate(Cut):
    """Only ``factor`` of the loops of a kind (or that repeat ``activity``) remain, e.g. an
    intake checklist halves supplement requests: ``ReduceLoopRate("supplement", 0.5)``."""

    kind_: str | None = "supplement"
    factor: float = 0.5
    activity: str | None = None
    kind: ClassVar[str] = "reduce_loop_rate"
    queue_changing: ClassVar[bool] = True

    def __init__(self, kind: str | None = "supplement", factor: float = 0.5,
                 activity: str | None = None):
        if activity is not None and kind == "supplement":
            kind = None
        object.__setattr__(self, "kind_", kind)
        object.__setattr__(self, "activity", _nfc(activity))
        object.__setattr__(self, "factor", _check_fraction("ReduceLoopRate.factor", factor,
                                                           lo=0.0, hi=1.0))
        _check_loop_target(kind, activity, "ReduceLoopRate")

    @property
    def loop_kind(self) -> str | None:
        return self.kind_

    def _labels(self):
        cut = round((1 - self.factor) * 100, 1)
        if self.activity is not None:
            tvi, ten = f"vòng lặp làm lại bước «{self.activity}»", f"loops that repeat step «{self.activity}»"
        else:
            tvi, ten = LOOP_KIND_LABELS[self.kind_]
        return (f"Giảm {_fmt_num_vi(cut)}% {tvi} (ví dụ: phiếu kiểm tra đầy đủ hồ sơ khi tiếp nhận)",
                f"Cut {ten} by {_fmt_num(cut)}% (e.g. an intake checklist)")

    def __str__(self) -> str:
        a = f", activity={self.activity!r}" if self.activity else ""
        return f"ReduceLoopRate(kind={self.kind_!r}, factor={self.factor!r}{a})"

    def __repr__(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        return {"type": "ReduceLoopRate", "kind": self.kind_, "factor": self.factor,
                "activity": self.activity}

    def steps(self):
        return (self.activity,) if self.activity else ()

    def validate(self, log):
        RemoveLoop(self.kind_, self.activity).validate(log)
        return self


# ====================================================================== bundle
@dataclass(frozen=True)
class Bundle(Cut):
    """Several cuts adopted together, applied in order. ``Bundle([])`` is the empty cut."""

    cuts: tuple = field(default_factory=tuple)
    name: str | None = None
    kind: ClassVar[str] = "bundle"

    def __init__(self, cuts: Iterable[Cut] = (), name: str | None = None):
        cs = tuple(cuts)
        for c in cs:
            if not isinstance(c, Cut):
                raise ConfigError(f"Bundle takes cut objects (RemoveStep(...), ...), got {c!r}")
        object.__setattr__(self, "cuts", cs)
        object.__setattr__(self, "name", _nfc(name))

    @property
    def queue_changing(self) -> bool:  # type: ignore[override]
        return any(c.queue_changing for c in self.parts())

    def parts(self):
        out: list[Cut] = []
        for c in self.cuts:
            out.extend(c.parts())
        return tuple(out)

    def steps(self):
        return tuple(dict.fromkeys(s for c in self.cuts for s in c.steps()))

    def _labels(self):
        if not self.cuts:
            return ("Không thay đổi (gói rỗng)", "No change (empty bundle)")
        vi = " + ".join(c.label_vi for c in self.cuts)
        en = " + ".join(c.label_en for c in self.cuts)
        if self.name:
            return (f"{self.name}: {vi}", f"{self.name}: {en}")
        return (f"Gói: {vi}", f"Bundle: {en}")

    def __str__(self) -> str:
        inner = ", ".join(str(c) for c in self.cuts)
        nm = f", name={self.name!r}" if self.name else ""
        return f"Bundle([{inner}]{nm})"

    def __repr__(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        return {"type": "Bundle", "cuts": [c.to_dict() for c in self.cuts], "name": self.name}

    def validate(self, log):
        for c in self.cuts:
            c.validate(log)
        return self


CUT_TYPES = {c.__name__: c for c in (RemoveStep, MergeSteps, Parallelize, RemoveLoop,
                                     ReduceLoopRate, ShortenStep, AddStaff, RemoveHandover, Bundle)}


def cut_from_dict(d: dict) -> Cut:
    """Rebuild a cut from :meth:`Cut.to_dict` output (e.g. read back from JSON)."""
    if not isinstance(d, dict) or "type" not in d:
        raise ConfigError(f"a cut dict needs a 'type' key, got {d!r}")
    t = d["type"]
    cls = CUT_TYPES.get(t)
    if cls is None:
        raise ConfigError(f"unknown cut type {t!r}; known: {', '.join(CUT_TYPES)}")
    args = {k: v for k, v in d.items() if k != "type"}
    if cls is Bundle:
        return Bundle([cut_from_dict(c) for c in args.get("cuts", [])], name=args.get("name"))
    return cls(**args)


def _role_of_activity(log, code: int) -> str | None:
    """Most frequent role of an activity code (roles are per activity, so it is unique)."""
    act, _ = log.codes(S.ACTIVITY)
    hit = np.flatnonzero(act == code)
    if not hit.size:
        return None
    return str(log.events[S.ROLE].iloc[int(hit[0])])
