"""The procedure catalogue: statutory deadlines and the internal procedure (quy trình nội bộ).

A :class:`ProcedureCatalog` holds, per administrative procedure (thủ tục hành chính, TTHC), its
code, name, level, statutory deadline (in working days, ``"working"``, or plain days,
``"calendar"``; 0 days = same day with the 15:00 rule) and optionally the ordered steps of the
internal procedure with the unit in charge and the time allotted to each step
(``../shared/docs/domain-vn.md`` §1.1).

Interchange format (CSV, one row per step; a procedure without steps is one row with empty step
fields)::

    code,name,level,deadline_days,deadline_unit,step_order,activity,unit,allotment_days
    1.001806,Cấp giấy phép ...,tinh,10,working,1,Tiếp nhận hồ sơ,Bộ phận một cửa,0.5
    ...
    1.001806,Cấp giấy phép ...,tinh,10,working,7,Trả kết quả,Bộ phận một cửa,

``allotment_days`` empty = the step is not counted (e.g. Trả kết quả, "Không tính thời gian").
Optional columns: ``cutoff`` (per procedure, default ``"15:00"``; ``none`` disables the rule),
``role`` (activity role of the step, see :data:`tthc_mining.schema.ROLES`), ``valid_from`` /
``valid_to`` (dates; several versions of a procedure may coexist, a dossier uses the version in
force on the day it was received) or ``era`` (``ND61`` = NĐ 61/2018 & 107/2021, until 30/6/2025;
``ND118`` = NĐ 118/2025, from 1/7/2025).

Vietnamese headers are accepted (matched case-, diacritic- and spacing-insensitively with
:func:`tthc_mining.roles.fold`): ``Mã TTHC``/``ma_tthc``, ``Tên thủ tục``/``ten_tthc``,
``Cấp``, ``Thời hạn giải quyết``/``thoi_han``, ``don_vi_thoi_han`` (``ngày làm việc`` /
``ngày``), ``Bước``/``buoc``, ``Tên bước``/``ten_buoc``, ``Đơn vị``/``don_vi``,
``Thời gian``/``thoi_gian_buoc``. A deadline written as text (``"10 ngày làm việc"``,
``"15 ngày"``, ``"Trong ngày"``, ``"04 giờ làm việc"``) is read with its unit; Vietnamese
decimal commas (``0,5``) are understood. Hours are converted at 8 working hours per day (the
Vietnamese office day).

YAML: a list of procedures (or a mapping with a ``procedures`` list and an optional ``roles``
mapping ``{activity: role}``), each with nested ``steps``::

    procedures:
      - code: "1.001806"
        name: Cấp giấy phép ...
        deadline_days: 10
        deadline_unit: working
        steps:
          - {step_order: 1, activity: Tiếp nhận hồ sơ, unit: Bộ phận một cửa, allotment_days: 0.5}

Bad rows raise :class:`~tthc_mining.errors.CatalogError` naming the file, row, column and value.
"""
from __future__ import annotations

import html
import io
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import schema as S
from .errors import CatalogError
from .roles import fold

__all__ = ["ProcedureCatalog", "COLUMNS", "ERAS", "HOURS_PER_DAY"]

#: interchange columns, in order
COLUMNS = ("code", "name", "level", "deadline_days", "deadline_unit", "step_order", "activity",
           "unit", "allotment_days")
OPTIONAL_COLUMNS = ("cutoff", "role", "valid_from", "valid_to", "era")
PROCEDURE_COLUMNS = ("code", "name", "level", "deadline_days", "deadline_unit", "cutoff",
                     "valid_from", "valid_to")
STEP_COLUMNS = ("code", "step_order", "activity", "unit", "allotment_days", "role", "valid_from")

WORKING, CALENDAR = "working", "calendar"
DEFAULT_CUTOFF = "15:00"
HOURS_PER_DAY = 8.0  # Vietnamese office day (07:00-11:30, 13:30-17:00), for "giờ" deadlines

#: rules eras: key -> (first day in force, first day no longer in force, label)
ERAS = {
    "ND61": (None, pd.Timestamp("2025-07-01"), "NĐ 61/2018 & 107/2021"),
    "ND118": (pd.Timestamp("2025-07-01"), None, "NĐ 118/2025"),
}

# folded header -> canonical column
_HEADER_ALIASES: dict[str, str] = {}
for _canon, _names in {
    "code": ["code", "procedure", "procedure code", "ma tthc", "ma thu tuc", "ma thu tuc hanh chinh",
             "matthc", "case procedure", "ma"],
    "name": ["name", "procedure name", "ten tthc", "ten thu tuc", "ten thu tuc hanh chinh", "tentthc"],
    "level": ["level", "cap", "cap thuc hien", "cap giai quyet"],
    "deadline_days": ["deadline days", "deadline", "thoi han", "thoi han giai quyet",
                      "thoi gian giai quyet", "thoigianthuchien", "thoi gian thuc hien"],
    "deadline_unit": ["deadline unit", "unit of deadline", "don vi thoi han", "loai thoi gian",
                      "loaithoigianthuchien", "loai thoi gian thuc hien", "don vi tinh"],
    "step_order": ["step order", "step", "order", "buoc", "thu tu", "thu tu buoc", "stt buoc"],
    "activity": ["activity", "step name", "ten buoc", "noi dung buoc", "buoc xu ly", "concept name",
                 "cong viec", "noi dung cong viec"],
    "unit": ["unit", "don vi", "don vi xu ly", "don vi thuc hien", "org group", "phong ban",
             "bo phan", "trach nhiem"],
    "allotment_days": ["allotment days", "allotment", "thoi gian buoc", "thoi gian", "thoi gian xu ly",
                       "thoi han buoc", "thoihanbuocxuly", "thoi han buoc xu ly"],
    "cutoff": ["cutoff", "cut off", "gio chot", "gio cat", "gio tiep nhan cuoi"],
    "role": ["role", "tm role", "vai tro", "loai buoc"],
    "valid_from": ["valid from", "effective from", "hieu luc tu", "ap dung tu", "tu ngay"],
    "valid_to": ["valid to", "valid until", "effective to", "hieu luc den", "ap dung den", "den ngay"],
    "era": ["era", "rules era", "nghi dinh", "quy dinh"],
}.items():
    for _n in _names:
        _HEADER_ALIASES[_n] = _canon


def _canon_header(name: Any) -> str | None:
    f = fold(name)
    if f in _HEADER_ALIASES:
        return _HEADER_ALIASES[f]
    f2 = f.replace(" ", "")
    for k, v in _HEADER_ALIASES.items():
        if k.replace(" ", "") == f2:
            return v
    return None


# ----------------------------------------------------------------------------- value parsing
_NUM = r"(\d+(?:[.,]\d+)?)"
_UNIT_WORKING = re.compile(r"^(working|working days?|wd|ngay lam viec|lam viec|nlv|business days?)$")
_UNIT_CALENDAR = re.compile(r"^(calendar|calendar days?|days?|ngay|ngay lich|cd)$")
_UNIT_HOURS = re.compile(r"^(hours?|working hours?|gio|gio lam viec|h)$")
_SAME_DAY = re.compile(r"^(trong ngay|ngay trong ngay|giai quyet ngay|ngay|same day|immediately|ngay lap tuc)$")
_NOT_COUNTED = re.compile(r"khong tinh|not counted|gio hanh chinh|^-$|^$")


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        if pd.isna(v) is True:
            return True
    except (TypeError, ValueError):
        pass
    return isinstance(v, str) and not v.strip()


def _nfc(v: Any) -> Any:
    if _is_missing(v):
        return None
    return unicodedata.normalize("NFC", str(v)).strip()


def _unit_of(text: str) -> str | None:
    f = fold(text)
    if not f:
        return None
    if _UNIT_WORKING.match(f):
        return WORKING
    if _UNIT_HOURS.match(f):
        return "hours"
    if _UNIT_CALENDAR.match(f):
        return CALENDAR
    return "?"


def _parse_amount(value: Any) -> tuple[float | None, str | None]:
    """'10' -> (10, None); '0,5 ngày' -> (0.5, calendar); '10 ngày làm việc' -> (10, working);
    'Trong ngày' -> (0, None); '04 giờ làm việc' -> (4, hours). Raises ValueError."""
    if _is_missing(value):
        return None, None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value), None
    text = unicodedata.normalize("NFC", str(value)).strip()
    if _SAME_DAY.match(fold(text)):
        return 0.0, None
    m = re.match(r"^([-+]?\d+(?:[.,]\d+)?)\s*(.*)$", text)
    if not m:
        raise ValueError(text)
    num = float(m.group(1).replace(",", "."))
    rest = fold(m.group(2))
    if not rest:
        return num, None
    unit = _unit_of(rest)
    if unit == "?":
        raise ValueError(text)
    return num, unit


def _parse_number_raw(value: Any) -> float | None:
    """Numbers may be written '0,5' or '0.5' (fold() would split '0.5'); keep the raw text."""
    if _is_missing(value):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    m = re.match(r"^([-+]?\d+(?:[.,]\d+)?)\s*(.*)$", text)
    if not m:
        raise ValueError(text)
    num = float(m.group(1).replace(",", "."))
    rest = fold(m.group(2))
    if rest and _unit_of(rest) == "?":
        raise ValueError(text)
    if rest and _unit_of(rest) == "hours":
        num = num / HOURS_PER_DAY
    return num


def _parse_date(value: Any) -> pd.Timestamp | None:
    if _is_missing(value):
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.tz_localize(None).normalize() if value.tzinfo else value.normalize()
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%Y"):
        try:
            return pd.Timestamp(pd.to_datetime(text, format=fmt))
        except (ValueError, TypeError):
            continue
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(text) from None
    return t.tz_localize(None).normalize() if t.tzinfo else t.normalize()


def _parse_cutoff(value: Any) -> str | None:
    if _is_missing(value):
        return DEFAULT_CUTOFF
    f = fold(value)
    if f in ("none", "no", "khong", "off", "false", "0"):
        return None
    m = re.match(r"^(\d{1,2})(?:[ h:]?(\d{2}))?(?: ?(?:gio|h))?$", f)
    if not m:
        raise ValueError(str(value))
    h, mi = int(m.group(1)), int(m.group(2) or 0)
    if not (0 <= h <= 24 and 0 <= mi < 60):
        raise ValueError(str(value))
    return f"{h:02d}:{mi:02d}"


def _era_key(value: Any) -> str:
    f = fold(value).replace(" ", "")
    if re.search(r"118", f):
        return "ND118"
    if re.search(r"61|107", f):
        return "ND61"
    raise ValueError(str(value))


def _catalog_error(reason: str, *, file: str | None, row: int | None = None,
                   column: str | None = None, value: Any = None) -> CatalogError:
    return CatalogError(reason, file=file, row=row, column=column, value=value)


# ----------------------------------------------------------------------------- the catalogue
@dataclass
class ProcedureCatalog:
    """Statutory deadlines and internal procedures of administrative procedures.

    ``procedures``: one row per procedure (version) with ``code, name, level, deadline_days,
    deadline_unit, cutoff, valid_from, valid_to``. ``steps``: one row per step with ``code,
    step_order, activity, unit, allotment_days, role, valid_from``. ``roles``: ``{activity:
    role}`` applied to the log's activities by :func:`tthc_mining.timing` (overrides the
    built-in Vietnamese name patterns). Build with :meth:`from_frame`, :meth:`from_csv`,
    :meth:`from_yaml`, :meth:`load`.
    """

    procedures: pd.DataFrame
    steps: pd.DataFrame
    roles: dict = field(default_factory=dict)
    source: str = "<catalog>"
    warnings: list = field(default_factory=list)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, source: str = "<frame>",
                   roles: Mapping[str, str] | None = None) -> "ProcedureCatalog":
        """Build from a DataFrame in the interchange layout (English or Vietnamese headers)."""
        if not isinstance(df, pd.DataFrame):
            raise CatalogError(f"{source}: expected a DataFrame, got {type(df).__name__}")
        rename: dict[str, str] = {}
        seen: dict[str, str] = {}
        for col in df.columns:
            canon = _canon_header(col)
            if canon is None:
                continue
            if canon in seen:
                raise _catalog_error(f"two columns map to {canon!r}: {seen[canon]!r} and {col!r}",
                                     file=source, column=str(col))
            seen[canon] = col
            rename[col] = canon
        if "code" not in seen:
            raise _catalog_error(
                "no procedure-code column (code / Mã TTHC / ma_tthc); columns found: "
                + ", ".join(map(repr, map(str, df.columns))), file=source)
        if "deadline_days" not in seen:
            raise _catalog_error(
                "no deadline column (deadline_days / Thời hạn giải quyết / thoi_han); columns "
                "found: " + ", ".join(map(repr, map(str, df.columns))), file=source)
        data = df[list(rename)].rename(columns=rename)
        rows = data.to_dict("records")  # small table: per-row validation is fine here
        return cls._from_records(rows, source=source, roles=roles, header=seen)

    @classmethod
    def _from_records(cls, rows: list[dict], *, source: str, roles: Mapping[str, str] | None = None,
                      header: Mapping[str, str] | None = None, row_numbers: list | None = None
                      ) -> "ProcedureCatalog":
        header = dict(header or {})

        def colname(c: str) -> str:
            return str(header.get(c, c))

        procs: dict[tuple, dict] = {}
        proc_rows: dict[tuple, int] = {}
        steps: list[dict] = []
        role_map: dict[str, str] = {}
        warnings: list[str] = []
        for i, r in enumerate(rows):
            rown = row_numbers[i] if row_numbers else i + 1

            def bad(reason: str, col: str, value: Any) -> CatalogError:
                return _catalog_error(reason, file=source, row=rown, column=colname(col), value=value)

            code = _nfc(r.get("code"))
            if code is None:
                raise bad("procedure code is empty", "code", r.get("code"))
            if isinstance(r.get("code"), float) and code.endswith(".0"):
                code = code[:-2]
            name = _nfc(r.get("name"))
            level = _nfc(r.get("level"))
            try:
                days, unit_from_text = _parse_amount(r.get("deadline_days"))
            except ValueError:
                raise bad("cannot read the deadline (a number of days, e.g. 10, '0,5', "
                          "'10 ngày làm việc', 'Trong ngày')", "deadline_days",
                          r.get("deadline_days")) from None
            if days is None:
                raise bad("deadline is empty", "deadline_days", r.get("deadline_days"))
            if not math.isfinite(days) or days < 0:
                raise bad("deadline must be a non-negative number of days", "deadline_days",
                          r.get("deadline_days"))
            unit_raw = r.get("deadline_unit")
            unit = None
            if not _is_missing(unit_raw):
                unit = _unit_of(str(unit_raw))
                if unit == "?":
                    raise bad("unknown deadline unit; use 'working' (ngày làm việc) or "
                              "'calendar' (ngày)", "deadline_unit", unit_raw)
            if unit_from_text is not None:
                if unit is not None and unit != unit_from_text and not (
                        {unit, unit_from_text} == {WORKING, "hours"}):
                    raise bad(f"the deadline text says {unit_from_text!r} but the unit column "
                              f"says {unit!r}", "deadline_days", r.get("deadline_days"))
                unit = unit_from_text if unit is None or unit_from_text == "hours" else unit
            if unit is None:
                unit = WORKING
            if unit == "hours":
                days, unit = days / HOURS_PER_DAY, WORKING
            try:
                cutoff = _parse_cutoff(r.get("cutoff"))
            except ValueError:
                raise bad("cannot read the cut-off time (HH:MM, or 'none')", "cutoff",
                          r.get("cutoff")) from None
            try:
                vfrom = _parse_date(r.get("valid_from"))
            except ValueError:
                raise bad("cannot read the date", "valid_from", r.get("valid_from")) from None
            try:
                vto = _parse_date(r.get("valid_to"))
            except ValueError:
                raise bad("cannot read the date", "valid_to", r.get("valid_to")) from None
            if not _is_missing(r.get("era")):
                try:
                    ek = _era_key(r.get("era"))
                except ValueError:
                    raise bad("unknown rules era; use ND61 (NĐ 61/2018 & 107/2021, until "
                              "30/6/2025) or ND118 (NĐ 118/2025, from 1/7/2025)", "era",
                              r.get("era")) from None
                e0, e1, _ = ERAS[ek]
                vfrom = vfrom if vfrom is not None else e0
                vto = vto if vto is not None else e1
            if vfrom is not None and vto is not None and vto <= vfrom:
                raise bad("valid_to must be after valid_from", "valid_to", r.get("valid_to"))
            key = (code, vfrom)
            proc = {"code": code, "name": name, "level": level, "deadline_days": float(days),
                    "deadline_unit": unit, "cutoff": cutoff, "valid_from": vfrom, "valid_to": vto}
            if key in procs:
                old = procs[key]
                for c in ("deadline_days", "deadline_unit", "cutoff", "valid_to"):
                    if old[c] != proc[c] and not (old[c] is None and proc[c] is None):
                        raise bad(f"{c} {proc[c]!r} disagrees with {old[c]!r} given for procedure "
                                  f"{code!r} on row {proc_rows[key]}", c if c != "valid_to" else "valid_to",
                                  r.get(c if c in r else "deadline_days"))
                for c in ("name", "level"):
                    if old[c] is None and proc[c] is not None:
                        old[c] = proc[c]
            else:
                procs[key] = proc
                proc_rows[key] = rown
            # ---- step part (optional)
            activity = _nfc(r.get("activity"))
            order_raw = r.get("step_order")
            allot_raw = r.get("allotment_days")
            has_step = activity is not None or not _is_missing(order_raw) or not _is_missing(allot_raw)
            if not has_step:
                continue
            if activity is None:
                raise bad("step without an activity name", "activity", r.get("activity"))
            order = None
            if not _is_missing(order_raw):
                try:
                    order = float(str(order_raw).strip().replace(",", ".")) \
                        if not isinstance(order_raw, (int, float, np.integer, np.floating)) else float(order_raw)
                except ValueError:
                    m = re.match(r"^(?:b|buoc|step)\s*(\d+)$", fold(order_raw))
                    if not m:
                        raise bad("step order must be a number", "step_order", order_raw) from None
                    order = float(m.group(1))
                if not math.isfinite(order) or order < 0 or order != int(order):
                    raise bad("step order must be a non-negative whole number", "step_order", order_raw)
            allot = None
            if not _is_missing(allot_raw) and not _NOT_COUNTED.search(fold(allot_raw)):
                try:
                    allot = _parse_number_raw(allot_raw)
                except ValueError:
                    raise bad("cannot read the step's time allotment (days, e.g. 0,5; empty or "
                              "'Không tính thời gian' = not counted)", "allotment_days",
                              allot_raw) from None
                if allot is None or not math.isfinite(allot) or allot < 0:
                    raise bad("step allotment must be a non-negative number of days",
                              "allotment_days", allot_raw)
            role = _nfc(r.get("role"))
            if role is not None:
                rf = fold(role).replace(" ", "_")
                if rf not in S.ROLES:
                    raise bad(f"unknown role; known roles: {', '.join(S.ROLES)}", "role", r.get("role"))
                role = rf
                prev = role_map.get(activity)
                if prev is not None and prev != role:
                    raise bad(f"activity {activity!r} was given role {prev!r} on an earlier row",
                              "role", r.get("role"))
                role_map[activity] = role
            steps.append({"code": code, "step_order": order, "activity": activity,
                          "unit": _nfc(r.get("unit")), "allotment_days": allot, "role": role,
                          "valid_from": vfrom, "_row": rown})
        if not procs:
            raise _catalog_error("the catalogue has no procedures", file=source)
        proc_df = pd.DataFrame(list(procs.values()), columns=list(PROCEDURE_COLUMNS))
        proc_df["deadline_days"] = proc_df["deadline_days"].astype(np.float64)
        for c in ("valid_from", "valid_to"):
            proc_df[c] = pd.to_datetime(proc_df[c])
        proc_df = proc_df.sort_values(["code", "valid_from"], kind="stable", na_position="first",
                                      ignore_index=True)
        # two versions of one code must not overlap
        for code, grp in proc_df.groupby("code", sort=False):
            if len(grp) > 1:
                if grp["valid_from"].isna().sum() > 1:
                    raise _catalog_error(f"procedure {code!r} is given twice without valid_from",
                                         file=source, column=colname("code"), value=code)
                starts = _days(grp["valid_from"], -np.inf)
                ends = _days(grp["valid_to"], np.inf)
                if np.any(ends[:-1] > starts[1:]):
                    raise _catalog_error(f"versions of procedure {code!r} overlap in time",
                                         file=source, column=colname("valid_to"), value=code)
        step_df = pd.DataFrame(steps, columns=list(STEP_COLUMNS) + ["_row"])
        if len(step_df):
            # missing step numbers: position within the procedure (file order)
            pos = step_df.groupby(["code", _vf_key(step_df["valid_from"])], sort=False).cumcount() + 1
            step_df["step_order"] = step_df["step_order"].fillna(pos.astype(np.float64))
            dup = step_df.duplicated(["code", "valid_from", "step_order"], keep="first")
            if dup.any():
                r = step_df.loc[dup].iloc[0]
                raise _catalog_error(f"step {int(r['step_order'])} of procedure {r['code']!r} is "
                                     "given twice", file=source, row=int(r["_row"]),
                                     column=colname("step_order"), value=int(r["step_order"]))
            step_df = step_df.sort_values(["code", "valid_from", "step_order"], kind="stable",
                                          na_position="first", ignore_index=True)
        step_df["step_order"] = step_df["step_order"].astype(np.int64) if len(step_df) else \
            step_df["step_order"].astype(np.int64)
        step_df["allotment_days"] = step_df["allotment_days"].astype(np.float64)
        step_df["valid_from"] = pd.to_datetime(step_df["valid_from"])
        step_df = step_df.drop(columns="_row")
        # consistency: counted allotments should add up to the statutory deadline (warning only)
        if len(step_df):
            sums = step_df.groupby(["code", _vf_key(step_df["valid_from"])], sort=False)[
                "allotment_days"].sum(min_count=1)
            pkey = proc_df.set_index(["code", _vf_key(proc_df["valid_from"])])["deadline_days"]
            for k, total in sums.items():
                d = pkey.get(k)
                if d is not None and not pd.isna(total) and abs(total - d) > 1e-9 and d > 0:
                    warnings.append(f"procedure {k[0]!r}: step allotments add up to {total:g} "
                                    f"days but the deadline is {d:g}")
        if roles:
            for a, rl in roles.items():
                if rl not in S.ROLES:
                    raise _catalog_error(f"unknown role; known roles: {', '.join(S.ROLES)}",
                                         file=source, column="roles", value=rl)
                role_map[_nfc(a)] = rl
        return cls(procedures=proc_df, steps=step_df, roles=role_map, source=source,
                   warnings=warnings)

    @classmethod
    def from_csv(cls, path: str | Path, **kw) -> "ProcedureCatalog":
        """Read a CSV catalogue (UTF-8 with or without BOM, else Windows-1258; ``,`` ``;`` or
        tab separated)."""
        path = Path(path)
        raw = _read_bytes(path)
        text = None
        for enc in ("utf-8-sig", "cp1258"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        if text is None:  # pragma: no cover - cp1258 decodes almost anything
            raise _catalog_error("cannot decode the file (tried UTF-8 and Windows-1258)", file=str(path))
        if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
            text = raw.decode("utf-16")
        first = text.split("\n", 1)[0]
        sep = max([",", ";", "\t"], key=first.count)
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                             skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise _catalog_error(f"cannot parse the CSV: {exc}", file=str(path)) from None
        if df.empty:
            raise _catalog_error("the catalogue has no data rows", file=str(path))
        return cls.from_frame(df, source=str(path), **kw)

    @classmethod
    def from_excel(cls, path: str | Path, sheet: Any = 0, **kw) -> "ProcedureCatalog":
        path = Path(path)
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str)
        except FileNotFoundError:
            raise _catalog_error("file not found", file=str(path)) from None
        return cls.from_frame(df.fillna(""), source=str(path), **kw)

    @classmethod
    def from_yaml(cls, path_or_text: str | Path, **kw) -> "ProcedureCatalog":
        """Read a YAML catalogue (a path, or the YAML text itself)."""
        import yaml
        p = Path(path_or_text) if not (isinstance(path_or_text, str) and "\n" in path_or_text) else None
        if p is not None:
            text = _read_bytes(p).decode("utf-8-sig")
            source = str(p)
        else:
            text, source = str(path_or_text), "<yaml>"
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise _catalog_error(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=source,
                                 row=(mark.line + 1) if mark is not None else None) from None
        roles = kw.pop("roles", None) or {}
        if isinstance(doc, dict):
            roles = {**(doc.get("roles") or {}), **roles}
            doc = doc.get("procedures", doc.get("thu_tuc"))
        if not isinstance(doc, list) or not doc:
            raise _catalog_error("expected a list of procedures (or a mapping with a "
                                 "'procedures' list)", file=source)
        rows: list[dict] = []
        numbers: list[str] = []
        for i, proc in enumerate(doc, start=1):
            if not isinstance(proc, dict):
                raise _catalog_error("each procedure must be a mapping", file=source, row=i, value=proc)
            base: dict[str, Any] = {}
            steps = None
            for k, v in proc.items():
                if fold(k) in ("steps", "buoc", "cac buoc", "quy trinh"):
                    steps = v
                    continue
                canon = _canon_header(k)
                if canon is not None:
                    base[canon] = v
            if not steps:
                rows.append(base)
                numbers.append(f"{i}")
                continue
            if not isinstance(steps, list):
                raise _catalog_error("'steps' must be a list", file=source, row=i, column="steps")
            for j, st in enumerate(steps, start=1):
                if not isinstance(st, dict):
                    raise _catalog_error("each step must be a mapping", file=source,
                                         row=f"{i}.{j}", value=st)
                r = dict(base)
                for k, v in st.items():
                    canon = _canon_header(k)
                    if canon is not None:
                        r[canon] = v
                rows.append(r)
                numbers.append(f"{i}.{j}")
        if roles:
            kw["roles"] = roles
        return cls._from_records(rows, source=source, row_numbers=numbers, **kw)

    @classmethod
    def load(cls, path: str | Path, **kw) -> "ProcedureCatalog":
        """Read a catalogue by file suffix: .csv/.tsv/.txt, .yaml/.yml, .xlsx/.xls, .json."""
        p = Path(path)
        suf = "".join(p.suffixes[-1:]).lower()
        if suf in (".csv", ".tsv", ".txt"):
            return cls.from_csv(p, **kw)
        if suf in (".yaml", ".yml"):
            return cls.from_yaml(p, **kw)
        if suf in (".xlsx", ".xlsm", ".xls"):
            return cls.from_excel(p, **kw)
        if suf == ".json":
            doc = json.loads(_read_bytes(p).decode("utf-8-sig"))
            import yaml
            return cls.from_yaml(yaml.safe_dump(doc, allow_unicode=True) + "\n", **kw)
        raise _catalog_error("unknown catalogue format; use .csv, .yaml/.yml, .xlsx or .json",
                             file=str(p))

    # ------------------------------------------------------------------ queries
    @property
    def codes(self) -> list[str]:
        return list(dict.fromkeys(self.procedures["code"]))

    def __contains__(self, code: Any) -> bool:
        return str(code) in set(self.procedures["code"])

    def __len__(self) -> int:
        return len(self.codes)

    def _version(self, code: Any, at: Any = None) -> pd.Series:
        code = _nfc(code)
        rows = self.procedures[self.procedures["code"] == code]
        if rows.empty:
            known = ", ".join(self.codes[:20])
            raise _catalog_error(f"unknown procedure code; known: {known}", file=self.source,
                                 column="code", value=code)
        if len(rows) == 1 and at is None:
            return rows.iloc[0]
        day = pd.Timestamp.now().normalize() if at is None else _parse_date(at)
        ok = (rows["valid_from"].isna() | (rows["valid_from"] <= day)) & \
             (rows["valid_to"].isna() | (rows["valid_to"] > day))
        if not ok.any():
            raise _catalog_error(f"procedure has no version in force on {day.date()}",
                                 file=self.source, column="code", value=code)
        return rows[ok].iloc[-1]

    def deadline(self, code: Any, at: Any = None) -> tuple[float, str]:
        """``(days, unit)`` of a procedure, unit ``"working"`` or ``"calendar"``; with several
        versions, the one in force on ``at`` (default: today)."""
        r = self._version(code, at)
        return float(r["deadline_days"]), str(r["deadline_unit"])

    def cutoff(self, code: Any, at: Any = None) -> str | None:
        return self._version(code, at)["cutoff"]

    def allotments(self, code: Any, at: Any = None) -> pd.Series:
        """Step allotments of a procedure: Series activity -> days (NaN = not counted), in step
        order, named by the procedure code."""
        r = self._version(code, at)
        st = self.steps[(self.steps["code"] == r["code"])]
        vf = r["valid_from"]
        st = st[st["valid_from"].isna()] if pd.isna(vf) else st[st["valid_from"] == vf]
        out = pd.Series(st["allotment_days"].to_numpy(np.float64), index=pd.Index(st["activity"], name="activity"),
                        name=r["code"])
        return out

    def name(self, code: Any) -> str | None:
        return self._version(code)["name"]

    # ------------------------------------------------------------------ export
    def to_frame(self) -> pd.DataFrame:
        """The interchange layout: one row per step (procedures without steps: one row with
        empty step fields); optional columns only when used."""
        p = self.procedures.copy()
        s = self.steps.copy()
        p["_vf"] = _vf_key(p["valid_from"])
        s["_vf"] = _vf_key(s["valid_from"])
        merged = p.merge(s.drop(columns=["valid_from"]), on=["code", "_vf"], how="left")
        merged = merged.drop(columns="_vf")
        cols = list(COLUMNS)
        if (merged["cutoff"].fillna("none") != DEFAULT_CUTOFF).any():
            cols.append("cutoff")
        if merged["role"].notna().any():
            cols.append("role")
        if merged["valid_from"].notna().any() or merged["valid_to"].notna().any():
            cols += ["valid_from", "valid_to"]
        out = merged[cols].copy()
        if "cutoff" in out:
            out["cutoff"] = out["cutoff"].fillna("none")
        out["step_order"] = out["step_order"].astype("Int64")
        return out.reset_index(drop=True)

    def to_csv(self, path: str | Path | None = None) -> str | None:
        text = self.to_frame().to_csv(index=False)
        if path is None:
            return text
        Path(path).write_text(text, encoding="utf-8")
        return None

    def to_dict(self) -> dict:
        procs = []
        for _, p in self.procedures.iterrows():  # one row per procedure: a small table
            d = {"code": p["code"], "name": p["name"], "level": p["level"],
                 "deadline_days": _plain(p["deadline_days"]), "deadline_unit": p["deadline_unit"]}
            if p["cutoff"] != DEFAULT_CUTOFF:
                d["cutoff"] = p["cutoff"] if p["cutoff"] is not None else "none"
            for c in ("valid_from", "valid_to"):
                if not pd.isna(p[c]):
                    d[c] = str(pd.Timestamp(p[c]).date())
            st = self.steps[self.steps["code"] == p["code"]]
            st = st[st["valid_from"].isna()] if pd.isna(p["valid_from"]) else st[st["valid_from"] == p["valid_from"]]
            if len(st):
                d["steps"] = [
                    {k: v for k, v in {
                        "step_order": int(s.step_order), "activity": s.activity, "unit": s.unit,
                        "allotment_days": _plain(s.allotment_days), "role": s.role}.items()
                     if v is not None and not (isinstance(v, float) and math.isnan(v))}
                    for s in st.itertuples(index=False)]
            procs.append({k: v for k, v in d.items() if v is not None})
        out: dict[str, Any] = {"procedures": procs}
        extra_roles = {a: r for a, r in self.roles.items()
                       if not ((self.steps["activity"] == a) & (self.steps["role"] == r)).any()}
        if extra_roles:
            out["roles"] = extra_roles
        return out

    def to_yaml(self, path: str | Path | None = None) -> str | None:
        import yaml
        text = yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)
        if path is None:
            return text
        Path(path).write_text(text, encoding="utf-8")
        return None

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def __repr__(self) -> str:
        return (f"ProcedureCatalog({self.source}: {len(self)} procedures, {len(self.steps)} steps"
                + (f", {len(self.roles)} role mappings" if self.roles else "") + ")")

    def _repr_html_(self) -> str:
        head = (f"<p><b>ProcedureCatalog</b> {html.escape(str(self.source))}: {len(self)} "
                f"procedures, {len(self.steps)} steps</p>")
        warn = "".join(f"<p>⚠ {html.escape(w)}</p>" for w in self.warnings[:10])
        return head + warn + self.procedures.to_html(escape=True, index=False)

    # ------------------------------------------------------------------ vectorised lookup
    def lookup(self, codes: Any, received_days: np.ndarray | None = None) -> np.ndarray:
        """Row index into :attr:`procedures` for each dossier (-1 = not in the catalogue).

        ``codes``: procedure code per dossier; ``received_days``: local day numbers since
        1970-01-01 (int64) of the receipt, used to pick the version in force (a dossier keeps
        the rules in force when it was received). Vectorised (searchsorted).
        """
        dcodes, duniq = pd.factorize(np.asarray(codes, dtype=object), use_na_sentinel=True)
        names = pd.Index([unicodedata.normalize("NFC", str(u)).strip() for u in duniq], dtype=object)
        p = self.procedures
        uniq = pd.Index(pd.unique(p["code"]), dtype=object)
        known = uniq.get_indexer(names) if len(names) else np.zeros(0, np.int64)
        ci = np.where(dcodes >= 0, np.append(known, -1)[dcodes], -1).astype(np.int64)  # -1 unknown
        n = len(ci)
        if len(p) == len(uniq) and p["valid_from"].isna().all() and p["valid_to"].isna().all():
            row_of_code = uniq.get_indexer(p["code"])
            inv = np.empty(len(uniq), dtype=np.int64)
            inv[row_of_code] = np.arange(len(p))
            return np.where(ci >= 0, inv[np.maximum(ci, 0)], -1)
        if received_days is None:
            received_days = np.full(n, np.int64(pd.Timestamp.now().normalize().value // 86_400_000_000_000))
        rd = np.asarray(received_days, dtype=np.float64)
        LOW = -1e9
        pc = uniq.get_indexer(p["code"]).astype(np.float64)
        vf = np.floor(_days(p["valid_from"], LOW))
        vt = np.floor(_days(p["valid_to"], np.inf))
        mult = 4e9  # day offsets (vf - LOW) stay below 2e9
        key_p = pc * mult + (vf - LOW)
        order = np.argsort(key_p, kind="stable")
        key_sorted = key_p[order]
        rd_ok = np.where(np.isnan(rd), -LOW, rd)  # unknown receipt date: latest version
        key_d = ci.astype(np.float64) * mult + (rd_ok - LOW)
        pos = np.searchsorted(key_sorted, key_d, side="right") - 1
        cand = order[np.maximum(pos, 0)]
        good = (ci >= 0) & (pos >= 0) & (pc[cand] == ci) & (rd_ok < vt[cand])
        return np.where(good, cand, -1).astype(np.int64)


def _vf_key(col: pd.Series) -> pd.Series:
    """A grouping key for 'valid from' dates that keeps 'no date' as its own value."""
    return pd.to_datetime(col).dt.strftime("%Y-%m-%d").astype(object).where(col.notna(), "-")


def _days(col: pd.Series, missing: float) -> np.ndarray:
    """Dates -> float day numbers since 1970-01-01, ``missing`` for NaT."""
    ns = col.to_numpy("datetime64[ns]").view(np.int64)
    return np.where(col.isna().to_numpy(), missing, ns / 86_400e9)


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    f = float(v)
    return int(f) if f.is_integer() else f


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise _catalog_error("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise _catalog_error("is a directory, not a catalogue file", file=str(path)) from None
