"""Personal data: keyed, stable pseudonyms for applicants (and optionally officers).

A one-stop export names the applicant (*Chủ hồ sơ*), their citizen-identity number (*Số CCCD*,
12 digits; the older *CMND* has 9), phone number and e-mail address. None of it is needed to
measure a procedure, and none of it may leave the office in a report. :func:`pseudonymize`
replaces every such value by a pseudonym

    ``<kind>-<first 12 hex digits of HMAC-SHA256(key, kind + normalised value)>``

e.g. ``CD-3f9a1c2e07b4`` for a CCCD number. The pseudonym is *stable* (the same person gets the
same pseudonym in every file pseudonymised with the same key, so dossiers of one applicant can
still be linked) and *keyed* (without the key nobody can test a guessed CCCD or phone number
against it, which a plain hash of a 12-digit number would allow in seconds). Values are
normalised before hashing: NFC, case and spacing for names and e-mails, digits only for numbers,
``+84``/``84`` -> ``0`` for phones.

Kinds and prefixes: ``name`` (HT, họ tên), ``id`` (CD, căn cước/CMND), ``phone`` (DT, điện
thoại), ``email`` (EM), ``address`` (DC, địa chỉ), ``officer`` (CB, cán bộ, only with
``officers=True``) and ``other`` (PD) for columns given explicitly.

Which columns: by name (:data:`COLUMN_KINDS`: *Chủ hồ sơ*, *Họ tên*, *Số CCCD*, *CMND*,
*Số điện thoại*, *Email*, *Địa chỉ*, ... and the canonical ``case:owner_*`` columns) and by
content (at least 80 % of a column's distinct values look like a CCCD/CMND number, a Vietnamese
phone number or an e-mail address), see :func:`detect_identifier_columns`. Free text (reason,
notes, status and any other text column that is not a process column) is scrubbed: e-mail
addresses, phone numbers and 9/12-digit identity numbers found in it, and the applicants' names
found in the name columns, are replaced by the same pseudonyms. The quality report's details
are scrubbed the same way.

Work is done once per distinct value (a categorical column only renames its categories), so a
log of a million events with a hundred thousand applicants costs a hundred thousand HMACs.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import os
import re
import unicodedata
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from . import schema as S
from .errors import ConfigError
from .log import DossierLog
from .roles import fold

__all__ = ["pseudonymize", "detect_identifier_columns", "pseudonym", "Pseudonymizer",
           "KIND_PREFIX", "COLUMN_KINDS", "scrub_text", "KEY_ENV"]

KIND_PREFIX = {"name": "HT", "id": "CD", "phone": "DT", "email": "EM", "address": "DC",
               "officer": "CB", "other": "PD"}
HEX_DIGITS = 12
MIN_KEY_BYTES = 16
KEY_ENV = "TTHC_MINING_PSEUDONYM_KEY"
#: share of a column's distinct values that must match a pattern to detect it by content
CONTENT_SHARE = 0.8

# header keys (folded, separators removed, see tthc_mining.io.header_key) -> kind
_HEADERS = {
    "name": ("chuhoso", "tenchuhoso", "hoten", "hovaten", "tencongdan", "congdan", "nguoinop",
             "tennguoinop", "nguoinophoso", "hotennguoinop", "nguoidungten", "nguoidangky",
             "tennguoidangky", "nguoiyeucau", "tennguoiyeucau", "chusudung", "applicant",
             "applicantname", "citizen", "citizenname", "fullname", "ownername", "personname",
             "caseownername"),
    "id": ("socccd", "cccd", "socancuoc", "cancuoc", "socancuoccongdan", "cmnd", "socmnd",
           "socmt", "cmt", "sodinhdanh", "sodinhdanhcanhan", "madinhdanhcanhan", "giaytotuythan",
           "sogiaytotuythan", "hochieu", "sohochieu", "idnumber", "nationalid", "passport",
           "citizenid", "caseownerid"),
    "phone": ("sodienthoai", "dienthoai", "sdt", "dienthoaididong", "sodidong", "didong",
              "phone", "phonenumber", "mobile", "telephone", "tel", "caseownerphone"),
    "email": ("email", "thudientu", "diachiemail", "diachithudientu", "mail", "caseowneremail"),
    "address": ("diachi", "diachithuongtru", "thuongtru", "noicutru", "diachilienhe",
                "noiothuongtru", "address", "homeaddress", "caseowneraddress"),
}
COLUMN_KINDS: dict[str, str] = {k: kind for kind, keys in _HEADERS.items() for k in keys}
_CANONICAL_KINDS = {S.OWNER_NAME: "name", S.OWNER_ID: "id", S.OWNER_PHONE: "phone",
                    S.OWNER_EMAIL: "email"}
#: process columns never treated as identifiers by content (the dossier id may be numeric)
_PROCESS = frozenset({S.CASE, S.ACTIVITY, S.TIMESTAMP, S.START, S.RESOURCE, S.GROUP,
                      S.LIFECYCLE, S.PROCEDURE, S.PROCEDURE_NAME, S.CHANNEL, S.ROLE, S.ROW,
                      S.INJECTED, *S.TIME_COLUMNS})
#: process columns whose text is not scrubbed (labels of the process, not free text)
_LABELS = frozenset({S.CASE, S.ACTIVITY, S.GROUP, S.LIFECYCLE, S.PROCEDURE,
                     S.PROCEDURE_NAME, S.CHANNEL, S.ROLE})

# patterns (whole value for detection; inside free text for scrubbing)
_SEP = r"[\s.\-]?"
_PHONE = (rf"(?:\+?84|0){_SEP}(?:[35789](?:{_SEP}\d){{8}}|2(?:{_SEP}\d){{9}})")
_ID = r"\d{12}|\d{9}"
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_FULL = {"email": re.compile(rf"\s*{_EMAIL}\s*"), "phone": re.compile(rf"\s*{_PHONE}\s*"),
         "id": re.compile(rf"\s*(?:{_ID})\s*")}
_IN_TEXT = re.compile(rf"(?P<email>{_EMAIL})|(?<![\w+])(?P<phone>{_PHONE})(?!\d)"
                      rf"|(?<!\d)(?P<id>{_ID})(?!\d)")
_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------- keys, values
def _key_bytes(key: Any) -> bytes:
    if key is None:
        key = os.environ.get(KEY_ENV)
        if not key:
            raise ConfigError(f"pseudonymize needs a secret key: pass key=... (at least "
                              f"{MIN_KEY_BYTES} bytes, e.g. secrets.token_hex(32)) or set {KEY_ENV}")
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigError(f"the pseudonym key must be str or bytes, not {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the pseudonym key is too short ({len(key)} bytes): use at least "
                          f"{MIN_KEY_BYTES} random bytes, e.g. secrets.token_hex(32); a short key "
                          "lets anyone test guessed CCCD or phone numbers")
    return bytes(key)


def normalise(kind: str, value: Any) -> str:
    """The form of a value that is hashed: equal people give equal forms."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        text = str(int(value))
        if kind == "id" and len(text) in (10, 11):  # CCCD stored as a number lost its zeros
            text = text.zfill(12)
        elif kind == "phone" and len(text) == 9:
            text = "0" + text
    elif isinstance(value, (float, np.floating)) and float(value).is_integer():
        return normalise(kind, int(value))
    else:
        text = unicodedata.normalize("NFC", str(value))
    if kind in ("id", "phone"):
        digits = re.sub(r"\D", "", text)
        if kind == "phone" and digits.startswith("84") and len(digits) in (11, 12):
            digits = "0" + digits[2:]
        return digits or _SPACES.sub(" ", text).strip().casefold()
    return _SPACES.sub(" ", text).strip().casefold()


def pseudonym(key: Any, kind: str, value: Any, digits: int = HEX_DIGITS) -> str:
    """The pseudonym of one value (see the module docstring)."""
    if kind not in KIND_PREFIX:
        raise ConfigError(f"unknown identifier kind {kind!r}; known: {', '.join(KIND_PREFIX)}")
    k = key if isinstance(key, bytes) else _key_bytes(key)
    mac = hmac.new(k, (kind + "\x1f" + normalise(kind, value)).encode("utf-8"), hashlib.sha256)
    return f"{KIND_PREFIX[kind]}-{mac.hexdigest()[:digits]}"


# --------------------------------------------------------------------------- detection
def _header_kind(name: Any) -> str | None:
    if name in _CANONICAL_KINDS:
        return _CANONICAL_KINDS[name]
    key = fold(str(name)).replace(" ", "")
    if key.startswith("case") and key[4:] in COLUMN_KINDS:  # XES trace attribute case:<x>
        return COLUMN_KINDS[key[4:]]
    return COLUMN_KINDS.get(key)


def _distinct_sample(s: pd.Series, n: int = 2000) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        vals = list(s.cat.categories[:n])
    else:
        vals = list(pd.unique(s.dropna())[:n]) if len(s) else []
    return [v for v in vals if v is not None and not (isinstance(v, float) and np.isnan(v))]


def _content_kind(s: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return None
    if pd.api.types.is_float_dtype(s.dtype):
        return None
    vals = _distinct_sample(s)
    if len(vals) < 3:
        return None
    texts = [str(v) if not isinstance(v, (int, np.integer)) else str(int(v)) for v in vals]
    for kind in ("email", "phone", "id"):
        rx = _FULL[kind]
        if pd.api.types.is_integer_dtype(s.dtype) and kind != "id":
            continue
        hits = sum(1 for t in texts if rx.fullmatch(t))
        if kind == "id" and pd.api.types.is_integer_dtype(s.dtype):
            hits = sum(1 for t in texts if len(t) in (9, 10, 11, 12))
        if hits >= CONTENT_SHARE * len(texts):
            return kind
    return None


def detect_identifier_columns(df: pd.DataFrame | DossierLog) -> dict[str, str]:
    """``{column: kind}`` of the columns that hold personal identifiers, by header name (see
    :data:`COLUMN_KINDS`) or by content (>= 80 % of the distinct values look like a CCCD/CMND
    number, a Vietnamese phone number or an e-mail address). Process columns (dossier id,
    activity, officer, unit, times, ...) are never detected by content; the officer column is
    not personal data of the applicant (see ``officers=`` of :func:`pseudonymize`)."""
    frame = df.events if isinstance(df, DossierLog) else df
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError("detect_identifier_columns expects a DataFrame or a DossierLog")
    found: dict[str, str] = {}
    for col in frame.columns:
        if col in _PROCESS or str(col).startswith("tm:"):
            continue
        kind = _header_kind(col)
        if kind is None:
            kind = _content_kind(frame[col])
        if kind is not None:
            found[col] = kind
    return found


# --------------------------------------------------------------------------- the work
class Pseudonymizer:
    """Pseudonyms with one key, memoised per (kind, normalised value)."""

    def __init__(self, key: Any, digits: int = HEX_DIGITS):
        self.key = _key_bytes(key)
        self.digits = digits
        self._memo: dict[tuple[str, str], str] = {}
        self.names: set[str] = set()   # normalised applicant names, for free text
        self._max_words = 0

    def __call__(self, kind: str, value: Any) -> str:
        norm = normalise(kind, value)
        key = (kind, norm)
        out = self._memo.get(key)
        if out is None:
            mac = hmac.new(self.key, (kind + "\x1f" + norm).encode("utf-8"), hashlib.sha256)
            out = self._memo[key] = f"{KIND_PREFIX[kind]}-{mac.hexdigest()[:self.digits]}"
        return out

    def learn_names(self, values: Iterable[Any]) -> None:
        for v in values:
            n = normalise("name", v)
            if len(n) >= 4 and " " in n:  # single words are too ambiguous to scrub in text
                self.names.add(n)
                self._max_words = max(self._max_words, n.count(" ") + 1)

    def scrub(self, text: Any) -> Any:
        """Free text with e-mails, phones, identity numbers and known names replaced."""
        if not isinstance(text, str) or not text:
            return text

        def repl(m: re.Match) -> str:
            kind = m.lastgroup or "other"
            return self(kind, m.group(0))

        out = _IN_TEXT.sub(repl, text)
        if self.names:
            out = self._scrub_names(out)
        return out

    def _scrub_names(self, text: str) -> str:
        norm = unicodedata.normalize("NFC", text)
        words = list(re.finditer(r"\w+", norm))
        if len(words) < 2:
            return norm
        spans = []
        i = 0
        while i < len(words):
            hit = None
            for k in range(min(self._max_words, len(words) - i), 1, -1):
                cand = " ".join(w.group(0) for w in words[i:i + k]).casefold()
                if cand in self.names:
                    hit = k
                    break
            if hit:
                spans.append((words[i].start(), words[i + hit - 1].end(),
                              self("name", norm[words[i].start():words[i + hit - 1].end()])))
                i += hit
            else:
                i += 1
        for a, b, rep in reversed(spans):
            norm = norm[:a] + rep + norm[b:]
        return norm


def _map_distinct(s: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """Apply ``func`` once per distinct value; categoricals stay categorical."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        new = pd.Index([func(c) for c in cats], dtype=object)
        uniq, inv = np.unique(new.astype(str), return_inverse=True) if len(new) else (
            np.array([], dtype=object), np.array([], dtype=np.int64))
        codes = s.cat.codes.to_numpy()
        new_codes = np.where(codes >= 0, inv[np.maximum(codes, 0)] if len(inv) else -1, -1)
        return pd.Series(pd.Categorical.from_codes(new_codes, categories=pd.Index(uniq, dtype="str")),
                         index=s.index, name=s.name)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques], dtype=object)
    out = np.append(mapped, None)[codes] if len(mapped) else np.full(len(s), None, dtype=object)
    res = pd.Series(out, index=s.index, name=s.name)
    if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object or pd.api.types.is_numeric_dtype(s.dtype):
        res = res.astype("str").where(res.notna())
    return res


def _is_text(s: pd.Series) -> bool:
    return (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
            or (isinstance(s.dtype, pd.CategoricalDtype)
                and pd.api.types.infer_dtype(s.cat.categories, skipna=True) in ("string", "empty")))


def pseudonymize(log: DossierLog | pd.DataFrame, key: Any = None, *,
                 columns: Iterable[str] | Mapping[str, str] | None = None,
                 officers: bool = False, scrub: bool = True,
                 digits: int = HEX_DIGITS) -> DossierLog | pd.DataFrame:
    """A copy of ``log`` whose personal identifiers are keyed, stable pseudonyms.

    Parameters
    ----------
    log:
        A :class:`~tthc_mining.DossierLog` (or an event DataFrame).
    key:
        The secret key (str or bytes, at least 16 bytes; default: the environment variable
        ``TTHC_MINING_PSEUDONYM_KEY``). Keep it: the same key gives the same pseudonyms.
    columns:
        ``None`` detects the identifier columns (:func:`detect_identifier_columns`); a list names
        them (kinds detected, else ``other``); a mapping ``{column: kind}`` gives the kinds.
    officers:
        Also pseudonymise the officer column (``org:resource``, kind ``officer``).
    scrub:
        Replace e-mails, phone numbers, identity numbers and applicants' names inside free text
        (every text column that is not a process label) and inside the quality report.
    digits:
        Hex digits of the pseudonym (12 = 48 bits; a collision among a million people has a
        probability below 0.2 %). If two different values of a column ever collide, the
        pseudonyms of that column are lengthened automatically.

    Returns a new log (the input is unchanged); ``quality.meta["pseudonymized"]`` records
    ``{column: kind}`` (never the key).
    """
    if not 8 <= int(digits) <= 64:
        raise ConfigError("digits must be between 8 and 64")
    is_log = isinstance(log, DossierLog)
    events = log.events if is_log else log
    if not isinstance(events, pd.DataFrame):
        raise ConfigError("pseudonymize expects a DossierLog or a pandas DataFrame")
    pz = Pseudonymizer(key, int(digits))
    if columns is None:
        kinds = detect_identifier_columns(events)
    elif isinstance(columns, Mapping):
        kinds = dict(columns)
    else:
        cols = [columns] if isinstance(columns, str) else list(columns)
        kinds = {c: (_header_kind(c) or (_content_kind(events[c]) if c in events.columns
                                         else None) or "other") for c in cols}
    missing = [c for c in kinds if c not in events.columns]
    if missing:
        raise ConfigError(f"column(s) not in the log: {missing}; columns: {list(events.columns)}")
    bad = {k for k in kinds.values() if k not in KIND_PREFIX}
    if bad:
        raise ConfigError(f"unknown identifier kind(s) {sorted(bad)}; known: {', '.join(KIND_PREFIX)}")
    if officers and S.RESOURCE in events.columns:
        kinds[S.RESOURCE] = "officer"

    out = events.copy()
    for col, kind in kinds.items():
        if kind == "name":
            pz.learn_names(_distinct_sample(out[col], n=len(out)))
    for col, kind in kinds.items():
        s = out[col]
        new = _map_distinct(s, lambda v, k=kind: pz(k, v))
        # a (vanishingly rare) collision would merge two people: lengthen this column's codes
        n_old = pd.Series(s).nunique(dropna=True)
        if new.nunique(dropna=True) < n_old and pz.digits < 64:
            longer = Pseudonymizer(pz.key, 64)
            new = _map_distinct(s, lambda v, k=kind: longer(k, v))
        out[col] = new
    scrubbed = []
    if scrub:
        for col in out.columns:
            if col in kinds or col in _LABELS or (str(col).startswith("tm:") and col != S.REASON):
                continue
            if col == S.RESOURCE and not officers:
                continue
            s = out[col]
            if not _is_text(s):
                continue
            new = _map_distinct(s, pz.scrub)
            if not new.astype(object).equals(s.astype(object)):
                out[col] = new
                scrubbed.append(col)
    if not is_log:
        return out
    quality = copy.deepcopy(log.quality)
    if scrub:
        for issue in quality.issues:
            if issue.detail:
                issue.detail = pz.scrub(issue.detail)
    quality.meta["pseudonymized"] = {str(c): k for c, k in kinds.items()}
    if scrubbed:
        quality.meta["scrubbed_free_text"] = [str(c) for c in scrubbed]
    return DossierLog(events=out, quality=quality, calendar=log.calendar, catalog=log.catalog,
                      source=log.source)
