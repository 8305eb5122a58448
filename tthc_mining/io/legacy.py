"""Legacy Vietnamese encodings: the TCVN3 (ABC) codec, its detection, and mixed-encoding repair.

Before Unicode, Vietnamese offices typed with the *.VnTime* fonts of the TCVN3 (ABC, TCVN
5712:1993 VN3) standard: the bytes of a letter such as ``ả`` (0xB6) are shown as ``¶`` by any
program that does not use those fonts, so a TCVN3 export read as Windows-1258 or Latin-1 looks
like ``Tr¶ kÕt qu¶`` ("Trả kết quả"). Such text must not be analysed as it stands (activity
roles, officers and units would all be garbage), so :func:`check_raw` refuses it with a clear
:class:`~tthc_mining.errors.EncodingError`, and this module registers a ``"tcvn3"`` codec
(aliases ``tcvn``, ``tcvn5712``, ``vn3``, ``abc``) so that ``read_log(path, encoding="tcvn3")``
reads such a CSV correctly. Text already stored as Unicode code points of the font (Excel
cells typed in .VnTime) is converted by :func:`from_tcvn3_text`.

Detection: TCVN3 puts the most frequent Vietnamese letters (ă â ê ô ơ ư đ à ả ã á ạ ...) at
0xA1-0xAF and 0xB5-0xBF, which every other encoding shows as symbols (``¡ ¨ © ª « ¬ ® µ ¶ · ¸
¹``). Such symbols next to letters, and Latin-1 letters Vietnamese never uses (``Ë å Ç Þ ø``,
TCVN3's ``ậ ồ ầ ị ứ``), essentially never occur in real Unicode Vietnamese; see
:func:`looks_tcvn3` for the exact rule.

Mixed encodings: a CSV that is UTF-8 except for some lines written by an older program in
Windows-1258 is repaired line by line by :func:`decode_mixed` (those lines are decoded as
Windows-1258 and counted as ``mixed_encoding``), instead of decoding the whole file in the wrong
encoding.
"""
from __future__ import annotations

import codecs
import re
from typing import Iterable

import pandas as pd

from ..errors import EncodingError

# bytes 0x80-0xFF of TCVN 5712:1993 (from glibc's TCVN5712-1 table; 0x00-0x7F are ASCII)
_HIGH = (
    "\u00c0\u1ea2\u00c3\u00c1\u1ea0\u1eb6\u1eac\u00c8\u1eba\u1ebc\u00c9\u1eb8\u1ec6\u00cc\u1ec8\u0128"  # 0x80
    "\u00cd\u1eca\u00d2\u1ece\u00d5\u00d3\u1ecc\u1ed8\u1edc\u1ede\u1ee0\u1eda\u1ee2\u00d9\u1ee6\u0168"  # 0x90
    "\u00a0\u0102\u00c2\u00ca\u00d4\u01a0\u01af\u0110\u0103\u00e2\u00ea\u00f4\u01a1\u01b0\u0111\u1eb0"  # 0xA0
    "\u0300\u0309\u0303\u0301\u0323\u00e0\u1ea3\u00e3\u00e1\u1ea1\u1eb2\u1eb1\u1eb3\u1eb5\u1eaf\u1eb4"  # 0xB0
    "\u1eae\u1ea6\u1ea8\u1eaa\u1ea4\u1ec0\u1eb7\u1ea7\u1ea9\u1eab\u1ea5\u1ead\u00e8\u1ec2\u1ebb\u1ebd"  # 0xC0
    "\u00e9\u1eb9\u1ec1\u1ec3\u1ec5\u1ebf\u1ec7\u00ec\u1ec9\u1ec4\u1ebe\u1ed2\u0129\u00ed\u1ecb\u00f2"  # 0xD0
    "\u1ed4\u1ecf\u00f5\u00f3\u1ecd\u1ed3\u1ed5\u1ed7\u1ed1\u1ed9\u1edd\u1edf\u1ee1\u1edb\u1ee3\u00f9"  # 0xE0
    "\u1ed6\u1ee7\u0169\u00fa\u1ee5\u1eeb\u1eed\u1eef\u1ee9\u1ef1\u1ef3\u1ef7\u1ef9\u00fd\u1ef5\u1ed0"  # 0xF0
)
DECODING_TABLE = "".join(chr(i) for i in range(128)) + _HIGH
ENCODING_TABLE = codecs.charmap_build(DECODING_TABLE)
CODEC_NAMES = frozenset({"tcvn3", "tcvn", "tcvn5712", "tcvn57121", "tcvn571211993", "vn3", "abc"})


class _Codec(codecs.Codec):
    def encode(self, text: str, errors: str = "strict"):
        return codecs.charmap_encode(text, errors, ENCODING_TABLE)

    def decode(self, data: bytes, errors: str = "strict"):
        return codecs.charmap_decode(data, errors, DECODING_TABLE)


class _IncrementalEncoder(codecs.IncrementalEncoder):
    def encode(self, text: str, final: bool = False) -> bytes:
        return codecs.charmap_encode(text, self.errors, ENCODING_TABLE)[0]


class _IncrementalDecoder(codecs.IncrementalDecoder):
    def decode(self, data: bytes, final: bool = False) -> str:
        return codecs.charmap_decode(data, self.errors, DECODING_TABLE)[0]


class _StreamWriter(_Codec, codecs.StreamWriter):
    pass


class _StreamReader(_Codec, codecs.StreamReader):
    pass


def _search(name: str) -> codecs.CodecInfo | None:
    if re.sub(r"[^a-z0-9]", "", name.lower()) not in CODEC_NAMES:
        return None
    return codecs.CodecInfo(name="tcvn3", encode=_Codec().encode, decode=_Codec().decode,
                            incrementalencoder=_IncrementalEncoder,
                            incrementaldecoder=_IncrementalDecoder,
                            streamwriter=_StreamWriter, streamreader=_StreamReader)


codecs.register(_search)

# symbols that are frequent Vietnamese letters in TCVN3 (ă â ê ô ơ ư đ à ả ã á ạ ...)
_MARKERS = "\u00a1-\u00aa\u00ac-\u00af\u00b5-\u00ba\u00bc-\u00bf"
_L = r"[^\W\d_]"
_TELL = re.compile(rf"(?<={_L})[{_MARKERS}]|[{_MARKERS}](?={_L})")
_INTERIOR = re.compile(rf"(?<={_L})[{_MARKERS}](?={_L})")
#: Vietnamese letters outside ASCII (both cases), to judge a conversion
VIETNAMESE_LETTERS = frozenset(
    "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ")
#: Latin-1 letters that Vietnamese never uses (TCVN3 shows ậ ồ ầ ị ứ ... as Ë å Ç Þ ø ...)
_FOREIGN = "".join(c for c in map(chr, range(0xC0, 0x100))
                   if c.isalpha() and c not in VIETNAMESE_LETTERS)
_FOREIGN_RX = re.compile(rf"(?<={_L})[{_FOREIGN}]|[{_FOREIGN}](?={_L})")
MIN_EVIDENCE = 4


def tcvn3_evidence(text: str) -> tuple[int, int]:
    """``(places, distinct symbols)`` where a TCVN3 letter shows as a symbol next to a letter."""
    hits = _TELL.findall(text)
    return len(hits), len(set(hits))


_MARKER_CHARS = frozenset(c for c in map(chr, range(0xA1, 0xC0)) if re.fullmatch(f"[{_MARKERS}]", c))


def _vietnamese_share(text: str) -> float:
    """Share of Vietnamese letters among the non-ASCII letters and TCVN3 marker symbols."""
    non_ascii = [c for c in text if ord(c) > 0x7F and (c.isalpha() or c in _MARKER_CHARS)]
    if not non_ascii:
        return 0.0
    return sum(c in VIETNAMESE_LETTERS for c in non_ascii) / len(non_ascii)


def looks_tcvn3(text: str) -> bool:
    """Does ``text`` look like TCVN3 bytes shown in another encoding (``"Tr¶ kÕt qu¶"``)?

    All of: at least two places, with two different symbols, where a TCVN3 letter shows as a
    Latin-1 symbol next to a letter; one of them inside a word (``"B­íc"``) or a Latin-1
    letter that Vietnamese never uses next to a letter (``"nhËn"``); at least four such places
    in all; less than 60 % of the non-ASCII letters are Vietnamese as the text stands, and at
    least 80 % once read as TCVN3. Real Unicode Vietnamese fails the fourth condition, a
    trademark sign after a name (``"ABC®"``) the second, text in another script the fifth."""
    n, distinct = tcvn3_evidence(text)
    if n < 2 or distinct < 2:
        return False
    foreign = len(_FOREIGN_RX.findall(text))
    if not (foreign or _INTERIOR.search(text)) or n + foreign < MIN_EVIDENCE:
        return False
    return _vietnamese_share(text) < 0.6 and _vietnamese_share(from_tcvn3_text(text)) >= 0.8


def from_tcvn3_text(text: str) -> str:
    """Text typed in a TCVN3 font but stored as the font's code points (``"Tr¶ kÕt qu¶"``)
    -> Unicode (``"Trả kết quả"``). A character that is no byte of a single-byte code page
    (Latin-1 or Windows-1252) is kept as it is."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x100:
            out.append(DECODING_TABLE[o])
            continue
        try:
            out.append(DECODING_TABLE[ch.encode("cp1252")[0]])
        except UnicodeEncodeError:
            out.append(ch)
    return "".join(out)


def _samples(frame: pd.DataFrame, rows: int = 2000) -> Iterable[tuple[str | None, str]]:
    """``(column or None for the header line, sample text)``: judged one by one, so a column of
    TCVN3 text is found even when the headers and other columns are proper Unicode."""
    yield None, " ".join(map(str, frame.columns))
    head = frame.head(rows)
    for c in head.columns:
        s = head[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            vals = s.dropna().astype(str).unique()[:500]
            yield str(c), " ".join(vals)


def check_raw(frame: pd.DataFrame, *, file: str, encoding: str | None = None) -> None:
    """Refuse a table whose headers or a text column look like TCVN3 shown in another
    encoding (see :func:`looks_tcvn3`)."""
    if encoding is not None and _search(encoding) is not None:
        return  # already decoded as TCVN3
    for column, text in _samples(frame):
        if not looks_tcvn3(text):
            continue
        n, _ = tcvn3_evidence(text)
        m = _INTERIOR.search(text) or _TELL.search(text)
        lo = text.rfind(" ", 0, m.start()) + 1
        hi = text.find(" ", m.end())
        example = text[lo: hi if hi > 0 else m.end() + 20][:40]
        where = "the header line" if column is None else f"column {column!r}"
        raise EncodingError(
            f"the text of {where} looks like the legacy TCVN3 (ABC, .VnTime fonts) Vietnamese "
            f"encoding ({n} letters shown as symbols, e.g. {example!r} = "
            f"{from_tcvn3_text(example)!r}); convert the file to Unicode (e.g. Unikey's "
            "'Chuyển mã' tool) or, for a CSV, pass encoding='tcvn3'", file=file)


# --------------------------------------------------------------------------- mixed encodings
_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe1-\xef][\x80-\xbf]{2}")
_BAD = re.compile("[\udc80-\udcff]")


def has_utf8_sequences(data: bytes, minimum: int = 3) -> bool:
    """Does ``data`` contain at least ``minimum`` well-formed multi-byte UTF-8 sequences?"""
    n = 0
    for _ in _UTF8_SEQ.finditer(data):
        n += 1
        if n >= minimum:
            return True
    return False


def decode_mixed(data: bytes, fallback: str = "cp1258") -> tuple[str, list[int]] | None:
    """Decode text that is UTF-8 except for some lines in ``fallback``.

    Returns ``(text, 0-based indices of the repaired lines)``, or ``None`` when the data holds
    no well-formed UTF-8 beyond ASCII (then it is simply a ``fallback`` file). Each line with an
    invalid UTF-8 byte is decoded as a whole in ``fallback``.
    """
    if not has_utf8_sequences(data):
        return None
    text = data.decode("utf-8", errors="surrogateescape")
    first = _BAD.search(text)
    if first is None:
        return text, []
    lines = text.split("\n")
    bad: list[int] = []
    line, last = 0, 0
    for m in _BAD.finditer(text, first.start()):
        line += text.count("\n", last, m.start())
        last = m.start()
        if not bad or bad[-1] != line:
            bad.append(line)
    for i in bad:
        lines[i] = lines[i].encode("utf-8", errors="surrogateescape").decode(fallback,
                                                                              errors="replace")
    return "\n".join(lines), bad
