"""Activity roles: what a step means for the statutory clock.

An activity name is matched (case-, diacritic- and spacing-insensitive) against patterns of
common Vietnamese and English step names. Roles are computed once per distinct activity, never per
row. A user mapping ``{activity name: role}`` overrides the patterns.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from . import schema as S
from .errors import ConfigError


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ -> d), collapse spaces/underscores/dashes.

    Used for header and activity matching: 'Thời điểm_Kết thúc' -> 'thoi diem ket thuc'.
    """
    t = unicodedata.normalize("NFKD", str(text))
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    t = t.replace("đ", "d").replace("Đ", "D").lower()
    t = re.sub(r"[\s_\-./:]+", " ", t)
    return t.strip()


# (role, regex on folded name); first match wins, so specific patterns come first.
ROLE_PATTERNS: list[tuple[str, str]] = [
    (S.ROLE_SUPPLEMENT_RECEIVED, r"(nhan|tiep nhan|nop|gui|cong dan (da )?gui|hoan thanh) (ho so )?bo sung"
                                 r"|bo sung (xong|hoan tat)|da bo sung|supplement (received|submitted)|resubmi"),
    (S.ROLE_SUPPLEMENT_REQUEST, r"(yeu cau|de nghi|thong bao) (sua doi )?(,? )?bo sung|tra (ho so )?(de )?bo sung"
                                r"|can bo tra ho so bo sung|cho bo sung|request (for )?supplement|supplement request"
                                r"|request (missing|additional) (documents|information)"),
    (S.ROLE_WITHDRAWN, r"rut ho so|cong dan yeu cau rut|withdraw"),
    (S.ROLE_REFUSED, r"tu choi|khong (duoc )?tiep nhan|khong giai quyet|refus|reject(ed)? at intake"),
    (S.ROLE_REAPPOINTED, r"xin loi|hen lai|gia han|dat lai ngay hen|re ?appoint|apolog"),
    (S.ROLE_SUSPENDED, r"tam (dung|ngung)|dung xu ly|nghia vu tai chinh|cho (nop )?thue|suspend|on hold"),
    (S.ROLE_RESUMED, r"tiep tuc xu ly|tiep tuc giai quyet|resum"),
    (S.ROLE_RESULT, r"tra ket qua|da tra|trao ket qua|result returned|return result|deliver result"),
    (S.ROLE_FINISHED, r"ket thuc xu ly|hoan thanh xu ly|da xu ly xong|xu ly xong|processing finished"),
    (S.ROLE_RECEIPT, r"^(tiep nhan|nhan ho so|tiep nhan ho so|receive(?! result)|receipt|intake|register(ed)? application)"
                     r"|tiep nhan ho so|confirmation of receipt"),
]
_COMPILED = [(role, re.compile(p)) for role, p in ROLE_PATTERNS]


def role_of(name: str) -> str:
    """The role of one activity name (``'work'`` when no pattern matches)."""
    f = fold(name)
    for role, rx in _COMPILED:
        if rx.search(f):
            return role
    return S.ROLE_WORK


def assign_roles(activities: Iterable[str] | pd.Index | np.ndarray,
                 overrides: Mapping[str, str] | None = None) -> np.ndarray:
    """Roles for an array of *distinct* activity names (object array, same order)."""
    acts = list(activities)
    out = np.array([role_of(a) for a in acts], dtype=object)
    if overrides:
        bad = {r for r in overrides.values() if r not in S.ROLES}
        if bad:
            raise ConfigError(f"unknown role(s) {sorted(bad)}; known roles: {', '.join(S.ROLES)}")
        folded = {fold(k): v for k, v in overrides.items()}
        for i, a in enumerate(acts):
            r = overrides.get(a, folded.get(fold(a)))
            if r is not None:
                out[i] = r
    return out


def add_role_column(events: pd.DataFrame, overrides: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Add ``tm:role`` to an event table, computing the role once per distinct activity."""
    codes, uniques = pd.factorize(events[S.ACTIVITY])
    roles = assign_roles(uniques.astype(str), overrides)
    events[S.ROLE] = pd.Categorical.from_codes(
        pd.Categorical(roles, categories=list(S.ROLES)).codes[codes] if len(codes) else [],
        categories=list(S.ROLES)) if len(codes) else pd.Categorical([], categories=list(S.ROLES))
    return events
