"""Text handling: encodings, separators and Unicode normalisation.

Vietnamese text reaches us in several byte forms: UTF-8 (with or without BOM), UTF-16 (Excel's
"Unicode text"), and Windows-1258, whose tone marks are *combining* characters, so "Thẩm định"
decodes to a decomposed string. Every text cell is therefore normalised to NFC and trimmed, so the
same word typed or exported two ways is one value. The work runs in pyarrow's compute kernels over
the whole column, never cell by cell in Python.
"""
from __future__ import annotations

import codecs
import csv
import io
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import EncodingError

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]
SEPARATORS = (",", ";", "\t", "|")


def detect_encoding(head: bytes, *, file: str | None = None) -> str:
    """Guess the encoding of a text file from its first bytes.

    Order: byte-order mark; UTF-16 without BOM (NUL bytes in every other position); strict
    UTF-8; Windows-1258 (``cp1258``, the Vietnamese Windows code page); charset_normalizer's best
    guess. A file with NUL bytes that is not UTF-16 is refused as binary.
    """
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    if b"\x00" in head:
        sample = head[: len(head) - len(head) % 2]
        even = sample[0::2].count(0)
        odd = sample[1::2].count(0)
        half = len(sample) // 2
        if half and odd > 0.3 * half and even < 0.05 * half:
            return "utf-16-le"
        if half and even > 0.3 * half and odd < 0.05 * half:
            return "utf-16-be"
        raise EncodingError("the file looks binary (NUL bytes), not a CSV text file", file=file)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1258")
        return "cp1258"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
        best = from_bytes(head).best()
    except Exception:  # pragma: no cover - optional dependency problems
        best = None
    if best is not None and best.encoding:
        return best.encoding
    raise EncodingError("cannot determine the text encoding; pass encoding='...' explicitly",
                        file=file)


def first_record(text: str, sep: str | None = None) -> list[str]:
    """The first CSV record (the header) of ``text``, honouring quotes."""
    # newline="": a lone CR (classic Mac files) ends a record too, instead of raising
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep or ",")
    for row in reader:
        if any(cell.strip() for cell in row):
            return row
    return []


def detect_separator(text: str) -> str:
    """The separator of a CSV from its header: the most frequent of , ; tab | outside quotes."""
    line = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            if line:
                break
            continue
        if not quoted:
            line.append(ch)
    header = "".join(line)
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])  # ties: earlier in SEPARATORS wins
    return best if counts[best] else ","


def unique_names(names: Sequence[object]) -> list[str]:
    """Header cells -> unique, trimmed, NFC column names (``x``, ``x.1``, ``Unnamed: 3``)."""
    import unicodedata
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names):
        name = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw)
        name = unicodedata.normalize("NFC", name).strip().lstrip("\ufeff").strip()
        if not name:
            name = f"Unnamed: {i}"
        base, k = name, seen.get(name, 0)
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen[base] = k
        seen[name] = 0
        out.append(name)
    return out


def to_arrow_strings(values: pd.Series) -> pa.Array:
    """A column as a pyarrow string array (non-text cells stringified, missing kept)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        obj = values.astype(object)
        mask = obj.notna().to_numpy()
        text = np.full(len(obj), None, dtype=object)
        if mask.any():
            text[mask] = [str(v) for v in obj.to_numpy()[mask]]
        arr = pa.array(text, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


#: control characters removed from text cells (tab, LF and CR are kept): C0/C1 controls, DEL,
#: bidirectional overrides/isolates ("Trojan source") and zero-width characters; vertical tab,
#: form feed and NEL become a space
CONTROL_CHARS = r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\x{200b}-\x{200d}\x{2060}\x{feff}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
LINE_LIKE = r"[\x0b\x0c\x85]"


def normalize_text(values: pd.Series, controls: list | None = None) -> tuple[pd.Series, np.ndarray]:
    """NFC-normalise and trim a text column; empty cells become missing; control characters
    (:data:`CONTROL_CHARS`) are removed.

    Works on the column's distinct values (pyarrow dictionary encoding), so a million rows of a
    few hundred officers cost a few hundred normalisations. Returns ``(normalised column of
    pandas 'str' dtype, mask of cells whose text was not NFC)``; when ``controls`` is a list,
    the mask of cells that held control characters is appended to it.
    """
    arr = to_arrow_strings(values)
    enc = arr.dictionary_encode()
    dic, ind = enc.dictionary, enc.indices
    ctrl_d = pc.fill_null(pc.match_substring_regex(dic, CONTROL_CHARS + "|" + LINE_LIKE), False)
    if pc.any(ctrl_d).as_py():
        dic = pc.replace_substring_regex(pc.replace_substring_regex(dic, LINE_LIKE, " "),
                                         CONTROL_CHARS, "")
    if controls is not None:
        controls.append(np.asarray(pc.fill_null(pc.take(ctrl_d, ind), False), dtype=bool))
    nfc = pc.utf8_normalize(dic, form="NFC")
    changed_d = pc.fill_null(pc.not_equal(dic, nfc), False)
    trimmed = pc.utf8_trim_whitespace(nfc)
    empty = pc.fill_null(pc.equal(trimmed, ""), False)
    trimmed = pc.if_else(empty, pa.scalar(None, trimmed.type), trimmed)
    out_arr = pc.take(trimmed, ind)
    changed = np.asarray(pc.fill_null(pc.take(changed_d, ind), False), dtype=bool)
    out = pd.Series(pd.array(out_arr, dtype="str"), index=values.index, name=values.name)
    return out, changed


def _dictionary(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a column as a pyarrow string array and the int64 index of every
    cell into it (-1 for missing). Categorical columns give their categories and codes for free;
    text columns are dictionary-encoded by pyarrow (hashing in C++)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        codes = values.array.codes.astype(np.int64)
        if pd.api.types.is_string_dtype(cats.dtype) and cats.dtype != object:
            arr = pa.array(cats.array)                       # arrow-backed text: no copy
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            if pa.types.is_large_string(arr.type):
                arr = arr.cast(pa.string())
            return arr, codes
        return to_arrow_strings(pd.Series(cats.to_numpy(dtype=object), dtype=object)), codes
    arr = to_arrow_strings(values)
    enc = arr.dictionary_encode()
    ind = np.asarray(pc.fill_null(enc.indices, -1), dtype=np.int64)
    return enc.dictionary, ind


def normalize_categorical(values: pd.Series, *, sort: bool = False,
                          controls: list | None = None) -> tuple[pd.Series, np.ndarray]:
    """:func:`normalize_text` for columns with repeated values, returning a **categorical**
    column: the same cleaned text (control characters removed, NFC, trimmed, empty -> missing),
    stored as integer codes into the distinct values. The work (normalisation, and the
    de-duplication of values that only differed before cleaning) runs on the distinct values;
    no per-row strings are built. ``sort=True`` orders the categories as strings (code point
    order, as ``pd.factorize(sort=True)``), so that the codes sort like the text.

    Returns ``(categorical column, mask of cells whose text was not NFC)``; with ``controls`` a
    list, the mask of cells that held control characters is appended to it. A categorical
    column whose categories are already clean text (a Parquet file written by this library)
    is returned as it is: its codes are shared, not rebuilt."""
    if _clean_categorical(values, sort):
        if controls is not None:
            controls.append(np.zeros(len(values), dtype=bool))
        return values, np.zeros(len(values), dtype=bool)
    dic, ind = _dictionary(values)
    n_d = len(dic)
    ctrl_d = pc.fill_null(pc.match_substring_regex(dic, CONTROL_CHARS + "|" + LINE_LIKE), False)
    if n_d and pc.any(ctrl_d).as_py():
        dic = pc.replace_substring_regex(pc.replace_substring_regex(dic, LINE_LIKE, " "),
                                         CONTROL_CHARS, "")
    missing = ind < 0
    if controls is not None:
        c = np.append(np.asarray(ctrl_d, dtype=bool), False)
        controls.append(c[np.where(missing, n_d, ind)])
    nfc = pc.utf8_normalize(dic, form="NFC")
    changed_d = np.append(np.asarray(pc.fill_null(pc.not_equal(dic, nfc), False), dtype=bool),
                          False)
    trimmed = pc.utf8_trim_whitespace(nfc)
    empty = pc.fill_null(pc.equal(trimmed, ""), False)
    trimmed = pc.if_else(empty, pa.scalar(None, trimmed.type), trimmed)
    # distinct cleaned values (two raw spellings may clean to one value)
    enc = trimmed.dictionary_encode()
    cats = enc.dictionary
    remap = np.asarray(pc.fill_null(enc.indices, -1), dtype=np.int64)
    if sort and len(cats):
        order = np.asarray(pc.sort_indices(cats), dtype=np.int64)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        cats = cats.take(pa.array(order))
        remap = np.where(remap >= 0, rank[np.maximum(remap, 0)], -1)
    remap = np.append(remap, -1)
    codes = remap[np.where(missing, n_d, ind)]
    changed = changed_d[np.where(missing, n_d, ind)]
    categories = pd.Index(pd.array(cats, dtype="str"))
    return make_categorical(codes, categories, index=values.index, name=values.name), changed


_STR = pd.array(pa.array([], type=pa.string()), dtype="str").dtype


def _clean_categorical(values: pd.Series, sort: bool) -> bool:
    """A categorical column that :func:`normalize_categorical` would give back unchanged: 'str'
    categories without control characters, empty or untrimmed values, in NFC (and sorted as
    strings when ``sort``), unordered, codes of pandas' smallest type."""
    if not isinstance(values.dtype, pd.CategoricalDtype) or values.cat.ordered:
        return False
    cats = values.cat.categories
    if cats.dtype != _STR or values.array.codes.dtype != _small_codes(np.zeros(0), len(cats)).dtype:
        return False
    if len(cats) == 0:
        return True
    dic = pa.array(cats.array)
    if isinstance(dic, pa.ChunkedArray):
        dic = dic.combine_chunks()
    if not (pa.types.is_string(dic.type) or pa.types.is_large_string(dic.type)) or dic.null_count:
        return False
    if pc.any(pc.match_substring_regex(dic, CONTROL_CHARS + "|" + LINE_LIKE)).as_py():
        return False
    if pc.any(pc.equal(dic, "")).as_py():
        return False
    if not pc.all(pc.equal(pc.utf8_trim_whitespace(dic), dic)).as_py():
        return False
    if not pc.all(pc.equal(pc.utf8_normalize(dic, form="NFC"), dic)).as_py():
        return False
    if sort and len(dic) > 1 and not pc.all(pc.less(dic[:-1], dic[1:])).as_py():
        return False
    return True


def _small_codes(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Codes in the smallest integer type pandas would use for ``n_categories``."""
    for t in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(t).max:
            return codes.astype(t, copy=False)
    return codes.astype(np.int64, copy=False)


def make_categorical(codes: np.ndarray, categories: pd.Index, *, ordered: bool = False,
                     index: pd.Index | None = None, name: object = None) -> pd.Series:
    """A categorical Series from integer codes (-1 = missing) and categories that the caller
    knows to be distinct and non-null (they come from a dictionary encoding).

    pandas' public constructor checks ``categories.is_unique``, which builds and *caches* a
    hash table of Python strings on the categories (about 75 bytes per value: 65 MB for the
    860,000 dossier ids of a province, kept as long as the column lives); the dtype is built
    without that check when pandas allows it."""
    fast = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    dtype = None
    if fast is not None:
        try:
            dtype = fast(categories, ordered)
        except Exception:  # pragma: no cover - another pandas
            dtype = None
    if dtype is None:  # pragma: no cover
        dtype = pd.CategoricalDtype(categories, ordered=ordered)
    cat = pd.Categorical.from_codes(_small_codes(np.asarray(codes), len(categories)), dtype=dtype,
                                    validate=False)
    return pd.Series(cat, index=index, name=name)
