"""Header recognition: which source column is the dossier id, the step, the end time, ...

A header is compared after :func:`header_key`: Unicode-folded (case and diacritics ignored,
``đ`` -> ``d``) with spaces, underscores, dashes, dots, slashes and colons removed, so
``"Mã hồ sơ"``, ``"MaHoSo"``, ``"ma_ho_so"`` and ``"MÃ HỒ SƠ"`` are the same key, and
``"case:concept:name"`` is ``"caseconceptname"``.

Each canonical column has an ordered list of aliases, each tagged with the schema it belongs to:
``"xes"`` (XES / pm4py keys), ``"onestop"`` (Vietnamese one-stop exports and the national-portal
sync fields) or ``"generic"`` (common English export headers such as Disco's *Case ID*). When
several source columns match the same canonical column, the alias listed first wins and the
other columns are kept unchanged as event attributes.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from .. import schema as S
from ..errors import ConfigError, MissingColumnError
from ..roles import fold

#: canonical name of the procedure's display name when a code column also exists
PROCEDURE_NAME = getattr(S, "PROCEDURE_NAME", "case:procedure_name")

#: role keys accepted in ``columns=`` -> canonical column
ROLE_KEYS: dict[str, str] = {
    "case": S.CASE, "activity": S.ACTIVITY, "timestamp": S.TIMESTAMP, "start": S.START,
    "resource": S.RESOURCE, "group": S.GROUP, "procedure": S.PROCEDURE,
    "procedure_name": PROCEDURE_NAME, "received": S.RECEIVED, "due": S.DUE,
    "channel": S.CHANNEL, "status": S.STATUS, "due_before": S.DUE_BEFORE,
    "due_after": S.DUE_AFTER, "submitted": S.SUBMITTED, "finished": S.FINISHED_REPORTED,
    "reason": S.REASON, "lifecycle": S.LIFECYCLE,
}

#: human labels used in error messages (Vietnamese / English)
LABELS: dict[str, str] = {
    S.CASE: "Mã hồ sơ / case id", S.ACTIVITY: "Bước xử lý / activity",
    S.TIMESTAMP: "Thời điểm kết thúc / end time", S.START: "Thời điểm bắt đầu / start time",
    S.RESOURCE: "Cán bộ xử lý / officer", S.GROUP: "Đơn vị xử lý / unit",
    S.PROCEDURE: "Mã TTHC / procedure", PROCEDURE_NAME: "Tên thủ tục / procedure name",
    S.RECEIVED: "Ngày tiếp nhận / received", S.DUE: "Ngày hẹn trả / due",
    S.CHANNEL: "Kênh nộp / channel", S.STATUS: "Trạng thái / status",
    S.DUE_BEFORE: "Ngày hẹn trả trước / due before", S.DUE_AFTER: "Ngày hẹn trả mới / new due",
    S.SUBMITTED: "Ngày nộp hồ sơ / submitted", S.FINISHED_REPORTED: "Ngày kết thúc xử lý / finished",
    S.REASON: "Lý do / reason", S.LIFECYCLE: "lifecycle:transition",
}

# canonical -> [(alias as typed, schema)], in priority order. Aliases are turned into keys below.
_ALIASES: dict[str, list[tuple[str, str]]] = {
    S.CASE: [("case:concept:name", "xes"), ("Mã hồ sơ", "onestop"), ("Số hồ sơ", "onestop"),
             ("MaHoSo", "onestop"), ("SoHoSo", "onestop"), ("Mã HS", "onestop"),
             ("Số HS", "onestop"), ("Mã định danh hồ sơ", "onestop"),
             ("Case ID", "generic"), ("CaseID", "generic"), ("Case", "generic"),
             ("Case Identifier", "generic"), ("Dossier ID", "generic"), ("Dossier", "generic")],
    S.ACTIVITY: [("concept:name", "xes"), ("Bước xử lý", "onestop"), ("Tên bước", "onestop"),
                 ("Tên bước xử lý", "onestop"), ("Thao tác", "onestop"),
                 ("NodeQuyTrinh", "onestop"), ("Bước", "onestop"), ("Công việc", "onestop"),
                 ("Hoạt động", "onestop"), ("Activity", "generic"), ("Activity name", "generic"),
                 ("Task", "generic"), ("Step", "generic"), ("Event", "generic"),
                 ("Action", "generic")],
    S.TIMESTAMP: [("time:timestamp", "xes"), ("Thời điểm kết thúc", "onestop"),
                  ("Thời điểm xử lý", "onestop"), ("ThoiDiemXuLy", "onestop"),
                  ("Thời gian", "onestop"), ("ThoiGian", "onestop"), ("Ngày xử lý", "onestop"),
                  ("Thời gian kết thúc", "onestop"), ("Ngày giờ", "onestop"),
                  ("Complete Timestamp", "generic"), ("Timestamp", "generic"),
                  ("End Timestamp", "generic"), ("End time", "generic"),
                  ("Complete time", "generic"), ("Time", "generic"), ("Datetime", "generic")],
    S.START: [("start_timestamp", "xes"), ("time:start", "xes"),
              ("Thời điểm bắt đầu", "onestop"), ("NgayBatDau", "onestop"),
              ("Thời gian bắt đầu", "onestop"), ("Start Timestamp", "generic"),
              ("Start time", "generic"), ("Start", "generic")],
    S.RESOURCE: [("org:resource", "xes"), ("Cán bộ xử lý", "onestop"), ("Người xử lý", "onestop"),
                 ("NguoiXuLy", "onestop"), ("Tên người xử lý", "onestop"),
                 ("Người thực hiện", "onestop"), ("Cán bộ", "onestop"),
                 ("Resource", "generic"), ("User", "generic"), ("Officer", "generic"),
                 ("Performer", "generic"), ("Employee", "generic")],
    S.GROUP: [("org:group", "xes"), ("Đơn vị xử lý", "onestop"), ("Phòng ban xử lý", "onestop"),
              ("PhongBanXuLy", "onestop"), ("DonViXuLy", "onestop"), ("Đơn vị", "onestop"),
              ("Phòng ban", "onestop"), ("Cơ quan xử lý", "onestop"), ("Bộ phận", "onestop"),
              ("Group", "generic"), ("Department", "generic"), ("Unit", "generic"),
              ("Team", "generic")],
    S.PROCEDURE: [("case:procedure", "xes"), ("Mã TTHC", "onestop"), ("MaTTHC", "onestop"),
                  ("Mã thủ tục", "onestop"), ("Mã thủ tục hành chính", "onestop"),
                  ("Procedure", "generic"), ("Procedure code", "generic")],
    PROCEDURE_NAME: [("case:procedure_name", "xes"), ("Tên thủ tục", "onestop"),
                     ("Tên TTHC", "onestop"), ("TenTTHC", "onestop"),
                     ("Tên thủ tục hành chính", "onestop"), ("Thủ tục", "onestop"),
                     ("Procedure name", "generic")],
    S.RECEIVED: [("case:received", "xes"), ("Ngày tiếp nhận", "onestop"),
                 ("NgayTiepNhan", "onestop"), ("Thời điểm tiếp nhận", "onestop"),
                 ("Thời gian tiếp nhận", "onestop"), ("Received", "generic"),
                 ("Received date", "generic")],
    S.DUE: [("case:due", "xes"), ("Ngày hẹn trả", "onestop"), ("NgayHenTra", "onestop"),
            ("Ngày hẹn trả kết quả", "onestop"), ("Hạn xử lý", "onestop"),
            ("Hạn giải quyết", "onestop")],
    S.CHANNEL: [("case:channel", "xes"), ("Kênh nộp", "onestop"), ("KenhThucHien", "onestop"),
                ("Kênh thực hiện", "onestop"), ("Kênh", "onestop"), ("Hình thức nộp", "onestop"),
                ("Channel", "generic")],
    S.STATUS: [("case:status", "xes"), ("Trạng thái", "onestop"), ("TrangThaiHoSo", "onestop"),
               ("Trạng thái hồ sơ", "onestop"), ("Tình trạng", "onestop"),
               ("Status", "generic"), ("Case status", "generic")],
    S.DUE_BEFORE: [("case:due_before", "xes"), ("Ngày hẹn trả trước", "onestop"),
                   ("NgayHenTraTruoc", "onestop")],
    S.DUE_AFTER: [("case:due_after", "xes"), ("Ngày hẹn trả mới", "onestop"),
                  ("NgayHenTraMoi", "onestop")],
    S.SUBMITTED: [("case:submitted", "xes"), ("Ngày nộp hồ sơ", "onestop"),
                  ("NgayNopHoSo", "onestop"), ("Ngày nộp", "onestop"),
                  ("Thời điểm nộp", "onestop")],
    S.FINISHED_REPORTED: [("case:finished", "xes"), ("Ngày kết thúc xử lý", "onestop"),
                          ("NgayKetThucXuLy", "onestop")],
    S.REASON: [("tm:reason", "xes"), ("Lý do", "onestop"), ("LyDo", "onestop"),
               ("Nội dung xử lý", "onestop"), ("NoiDungXuLy", "onestop"),
               ("Nội dung", "onestop"), ("Ghi chú", "onestop")],
    S.LIFECYCLE: [("lifecycle:transition", "xes"), ("Lifecycle", "generic"),
                  ("Transition", "generic")],
}


def header_key(name: object) -> str:
    """The comparison key of a header: folded, with separators removed."""
    return fold(str(name)).replace(" ", "")


ALIASES: dict[str, list[tuple[str, str]]] = {
    canon: [(header_key(a), kind) for a, kind in items] for canon, items in _ALIASES.items()}

#: every alias key (any schema): used to find a header row under title rows
KNOWN_KEYS: frozenset[str] = frozenset(k for items in ALIASES.values() for k, _ in items)

SCHEMAS = {"auto": ("xes", "onestop", "generic"), "xes": ("xes",), "onestop": ("onestop",)}


def score_header_row(cells: Iterable[object]) -> int:
    """How many cells of a candidate header row are known headers."""
    return sum(1 for c in cells if c is not None and header_key(c) in KNOWN_KEYS)


def canonical_of(key: str) -> str:
    """``columns=`` key (role name or canonical column) -> canonical column."""
    if key in ROLE_KEYS:
        return ROLE_KEYS[key]
    if key in ROLE_KEYS.values():
        return key
    k = header_key(key)
    for role, canon in ROLE_KEYS.items():
        if k == header_key(role):
            return canon
    raise ConfigError(f"unknown column role {key!r} in columns=; use one of "
                      f"{', '.join(ROLE_KEYS)} or the canonical keys "
                      f"({', '.join(ROLE_KEYS.values())})")


def resolve_columns(found: Sequence[str], *, schema: str = "auto",
                    columns: Mapping[str, str] | None = None,
                    file: str | None = None) -> dict[str, str]:
    """Map canonical columns to source headers: ``{canonical: source header}``.

    ``columns`` (role or canonical key -> exact source header, compared exactly first and then
    by :func:`header_key`) overrides the recognition. Raises :class:`MissingColumnError` when a
    required column (case id, activity, end time) cannot be found, listing the headers found.
    """
    if schema not in SCHEMAS:
        raise ConfigError(f"unknown schema {schema!r}; use 'auto', 'xes' or 'onestop'")
    kinds = SCHEMAS[schema]
    found = [str(c) for c in found]
    keys: dict[str, list[str]] = {}
    for col in found:
        keys.setdefault(header_key(col), []).append(col)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for key, header in (columns or {}).items():
        canon = canonical_of(key)
        if header in found:
            src = header
        else:
            cands = keys.get(header_key(header), [])
            if not cands:
                raise MissingColumnError([f"{header} (given for {key!r})"], found, file=file)
            src = cands[0]
        mapping[canon] = src
        used.add(src)
    for canon, aliases in ALIASES.items():
        if canon in mapping:
            continue
        for akey, kind in aliases:
            if kind not in kinds:
                continue
            cands = [c for c in keys.get(akey, []) if c not in used]
            if cands:
                mapping[canon] = cands[0]
                used.add(cands[0])
                break
    # a procedure name without a code column is the procedure itself
    if S.PROCEDURE not in mapping and PROCEDURE_NAME in mapping:
        mapping[S.PROCEDURE] = mapping.pop(PROCEDURE_NAME)
    missing = [c for c in S.REQUIRED if c not in mapping]
    if missing:
        raise MissingColumnError([f"{c} ({LABELS[c]})" for c in missing], found, file=file)
    return mapping
