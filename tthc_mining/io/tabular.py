"""CSV, Excel and Parquet readers returning raw text tables.

CSV: the encoding (BOM, UTF-16, UTF-8, Windows-1258, charset_normalizer as a last resort) and
the separator (``,`` ``;`` tab ``|``, from the header line) are detected, then pyarrow's
multi-threaded CSV reader parses the file with every column as text. A file whose records do
not all have the header's number of fields is re-read with Python's ``csv`` module so that each
bad record can be reported by its number (records with extra *empty* fields are accepted;
records with missing trailing fields are padded and counted as repaired; records with extra
non-empty fields are dropped and counted).

Row numbers (``tm:row``) count data records after the header, starting at 1. Blank lines are not
records. In Excel, a header row below title rows is found automatically (the first of the first
ten rows with at least three recognised headers) and data rows are numbered from the row after
it; ``excel_row`` gives the sheet's own row number.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import limits as _limits
from ..errors import EncodingError, InputError
from . import guards, legacy
from .headers import score_header_row
from .text import detect_encoding, detect_separator, first_record, unique_names

NULL_VALUES = ["", "NULL", "null", "NaN", "nan", "#N/A", "N/A"]
_HEAD_BYTES = 1 << 20


@dataclass
class RawTable:
    """A source table before canonicalisation."""

    frame: pd.DataFrame                       # text columns (str dtype) or typed (Parquet/DataFrame)
    rows: np.ndarray                          # 1-based data-row number of every frame row
    source: str
    kind: str                                 # csv | excel | xes | parquet | dataframe
    date_columns: list[str] = field(default_factory=list)  # typed dates (XES) to parse quietly
    issues: list[tuple[str, str, np.ndarray, str | None]] = field(default_factory=list)
    #: (reason, action, row numbers, detail) found while reading (malformed records ...)
    rows_read: int | None = None              # records read when some never became frame rows
    meta: dict[str, Any] = field(default_factory=dict)


class _Malformed(Exception):
    pass


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _read_head(path: Path, gz: bool, n: int = _HEAD_BYTES,
               limits: _limits.Limits | None = None, file: str | None = None) -> bytes:
    with _limits.open_input(path, limits, file=file) as fh:  # gzip: guarded decompression
        return fh.read(n)


def _read_all(path: Path, gz: bool, limits: _limits.Limits | None = None,
              file: str | None = None) -> bytes:
    with _limits.open_input(path, limits, file=file) as fh:  # size-checked / guarded
        return fh.read()


def _decode(data: bytes, encoding: str, file: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EncodingError(
            f"the file is not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start});"
            " pass encoding='...' explicitly", file=file, row=line) from None


def _arrow_csv(source: Any, names: list[str], sep: str, skip_rows: int) -> pa.Table:
    import pyarrow.csv as pacsv

    invalid = []

    def on_invalid(row: Any) -> str:
        invalid.append(row.number)
        return "skip"  # remembered: the whole file is then re-read by the exact slow path

    read_opts = pacsv.ReadOptions(column_names=names, skip_rows=skip_rows, use_threads=True,
                                  block_size=1 << 24)
    parse_opts = pacsv.ParseOptions(delimiter=sep, quote_char='"', double_quote=True,
                                    escape_char=False, newlines_in_values=True,
                                    ignore_empty_lines=True, invalid_row_handler=on_invalid)
    conv_opts = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                     null_values=NULL_VALUES, strings_can_be_null=True,
                                     quoted_strings_can_be_null=True, check_utf8=True)
    table = _quiet_read(pacsv.read_csv, source, read_options=read_opts,
                        parse_options=parse_opts, convert_options=conv_opts)
    if invalid:
        raise _Malformed()
    return table


def _quiet_read(read: Any, *args: Any, **kw: Any) -> Any:
    """Call pyarrow's CSV reader without letting it print to stderr.

    pyarrow decodes an invalid row as UTF-8 *before* calling ``invalid_row_handler``; when the
    row is not valid UTF-8 the error goes to ``sys.unraisablehook`` (printed: "Exception ignored
    in ..."). Such errors are caught here and reported as invalid UTF-8, which the callers handle
    (mixed-encoding repair or a clear EncodingError)."""
    import sys
    caught: list = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        table = read(*args, **kw)
    except pa.ArrowInvalid:
        if any(isinstance(u.exc_value, UnicodeDecodeError) for u in caught):
            raise pa.ArrowInvalid("CSV: invalid UTF8 data in a malformed row") from None
        raise
    finally:
        sys.unraisablehook = previous
    if any(isinstance(u.exc_value, UnicodeDecodeError) for u in caught):
        raise pa.ArrowInvalid("CSV: invalid UTF8 data in a malformed row")
    return table


def _python_csv(text: str, names: list[str], sep: str, file: str,
                limits: _limits.Limits | None = None) -> RawTable:
    """Slow, exact path for files with malformed records (each one is reported)."""
    lim = limits or _limits.get_defaults()
    field_limit = int(min(lim.max_field_bytes, 2**31 - 1))
    previous = csv.field_size_limit()
    csv.field_size_limit(field_limit)  # the module default (128 KiB) would refuse long notes
    try:
        return _python_csv_records(text, names, sep, file, lim)
    except csv.Error as exc:
        raise InputError(f"cannot parse the CSV: {exc} (max_field_bytes="
                         f"{_limits.format_bytes(field_limit)})", file=file) from None
    finally:
        csv.field_size_limit(previous)


def _python_csv_records(text: str, names: list[str], sep: str, file: str,
                        lim: _limits.Limits) -> RawTable:
    width = len(names)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"',
                        doublequote=True)
    next(reader, None)  # header
    cells: list[list[Any]] = []
    rows: list[int] = []
    too_long: list[int] = []
    too_short: list[int] = []
    example_long = None
    nulls = set(NULL_VALUES)
    k = 0
    for rec in reader:
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue  # blank line
        k += 1
        if len(rec) > width:
            if any(c.strip() for c in rec[width:]):
                too_long.append(k)
                if example_long is None:
                    example_long = (k, len(rec))
                continue
            rec = rec[:width]
        elif len(rec) < width:
            too_short.append(k)
            rec = rec + [""] * (width - len(rec))
        cells.append([None if c in nulls else c for c in rec])
        rows.append(k)
        if k > lim.max_rows:
            _limits.check_rows(k, lim, file=file)
    frame = pd.DataFrame(cells, columns=names, dtype=object) if cells else pd.DataFrame(
        {n: pd.Series(dtype=object) for n in names})
    frame = frame.astype("str")
    issues = []
    if too_long:
        issues.append(("malformed_record", "dropped", np.asarray(too_long),
                       f"more fields than the {width} headers (e.g. row {example_long[0]} has "
                       f"{example_long[1]})"))
    if too_short:
        issues.append(("short_record", "repaired", np.asarray(too_short),
                       f"fewer fields than the {width} headers; missing cells left empty"))
    return RawTable(frame, np.asarray(rows, dtype=np.int64), file, "csv", issues=issues,
                    rows_read=k)


def read_csv(path: str | Path, *, encoding: str | None = None, sep: str | None = None,
             file: str | None = None, limits: _limits.Limits | None = None) -> RawTable:
    path = Path(path)
    file = file or str(path)
    lim = limits or _limits.get_defaults()
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=file)
    gz = _is_gzip(path)
    if not gz:
        _limits.check_file_size(path.stat().st_size, lim, file=file)
    head = _read_head(path, gz, limits=lim, file=file)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise InputError("the file is empty", file=file)
    enc = encoding or _detect_encoding(head, file)
    bad_lines: list[int] = []
    head_text = codecs.getincrementaldecoder(enc)(errors="replace").decode(head, final=False)
    head_text = head_text.lstrip("\ufeff")
    sep = sep or detect_separator(head_text)
    try:
        header = first_record(head_text, sep)
    except csv.Error as exc:
        raise InputError(f"cannot read the header line: {exc}", file=file) from None
    if not header or not any(h.strip() for h in header):
        raise InputError("the file has no header line", file=file)
    _limits.check_columns(len(header), lim, file=file)
    names = unique_names(header)
    meta = {"encoding": enc, "separator": sep}
    # blank lines before the header
    lead = 0
    for line in head_text.splitlines():
        if line.strip():
            break
        lead += 1
    table = None
    text: str | None = None
    if enc in ("utf-8", "utf-8-sig"):
        try:
            # gzip goes through the guarded stream (bounded output), plain files through a
            # native stream that never guesses a compression from the name (x.csv.gz that is
            # not gzip is read as it is)
            source = (_limits.open_input(path, lim, file=file, defer_errors=True) if gz
                      else pa.input_stream(str(path), compression=None))
            try:
                table = _arrow_csv(source, names, sep, 1 + lead)
            finally:
                source.close()
                # a limit or a corrupt gzip stream ended the stream early: that error, raised
                # here in the caller's thread, explains any parse error of the cut-off data
                _limits.raise_deferred(source)
        except _Malformed:
            table = None
        except pa.ArrowInvalid as exc:
            if "UTF8" not in str(exc) and "utf8" not in str(exc).lower():
                raise InputError(f"cannot parse the CSV: {exc}", file=file) from None
            # invalid UTF-8 after the first megabyte: decide on the whole file
            data = _read_all(path, gz, lim, file)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                fixed = legacy.decode_mixed(data) if encoding is None else None
                if fixed is not None:  # mostly UTF-8: only the bad lines are re-decoded
                    text, bad_lines = fixed
                    meta["mixed_encoding"] = "lines not valid UTF-8 read as windows-1258"
                else:
                    enc = encoding or "cp1258"
                    text = _decode(data, enc, file)
                    meta["encoding"] = enc
    if table is None:
        if text is None:
            text = _decode(_read_all(path, gz, lim, file), enc, file)
        text = text.lstrip("\ufeff")
        try:
            table = _arrow_csv(pa.BufferReader(text.encode("utf-8")), names, sep, 1 + lead)
        except _Malformed:
            raw = _python_csv(text, names, sep, file, lim)
            raw.meta.update(meta)
            if len(raw.frame) == 0 and not raw.issues:
                raise InputError("no data rows (the file has only a header)", file=file)
            _note_mixed(raw, bad_lines, lead)
            return raw
        except pa.ArrowInvalid as exc:
            raise InputError(f"cannot parse the CSV: {exc}", file=file) from None
    n = table.num_rows
    if n == 0:
        raise InputError("no data rows (the file has only a header)", file=file)
    _limits.check_rows(n, lim, file=file)
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan),
                                          pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    frame.columns = names
    raw = RawTable(frame, np.arange(1, n + 1, dtype=np.int64), file, "csv", meta=meta)
    _note_mixed(raw, bad_lines, lead)
    return raw


def _detect_encoding(head: bytes, file: str) -> str:
    """:func:`detect_encoding`, except that text which is not valid UTF-8 but holds well-formed
    UTF-8 sequences is read as UTF-8 with its bad lines repaired (see :mod:`.legacy`)."""
    try:
        enc = detect_encoding(head, file=file)
    except EncodingError:
        if b"\x00" not in head and legacy.has_utf8_sequences(head):
            return "utf-8"
        raise
    if enc not in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32") \
            and b"\x00" not in head and legacy.has_utf8_sequences(head):
        return "utf-8"
    return enc


def _note_mixed(raw: RawTable, bad_lines: list[int], lead: int) -> None:
    """Count the lines of a mixed-encoding file that were decoded as Windows-1258 (0-based line
    indices -> data-row numbers; exact unless a quoted field spans lines before them)."""
    rows = np.asarray([i - lead for i in bad_lines if i > lead], dtype=np.int64)
    if len(rows):
        raw.issues.append(("mixed_encoding", "repaired", rows,
                           "lines that are not valid UTF-8 in a UTF-8 file, decoded as "
                           "Windows-1258"))


def read_excel(path: str | Path, *, sheet: str | int | None = None, file: str | None = None,
               limits: _limits.Limits | None = None) -> RawTable:
    path = Path(path)
    file = file or str(path)
    lim = limits or _limits.get_defaults()
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=file)
    _limits.check_file_size(path.stat().st_size, lim, file=file)
    _limits.check_zip(path, lim, file=file)  # declared member sizes: no zip bomb
    sheets: list[str] = []
    other_sheets: list[str] = []
    try:
        chosen = 0 if sheet is None else sheet
        if isinstance(chosen, int):  # several sheets: name the others that look like data
            sheets, other_sheets = guards.other_data_sheets(path, score_header_row, chosen)
        # dtype=str: pandas' openpyxl reader already turns whole floats into ints and datetime
        # cells into 'YYYY-MM-DD HH:MM:SS' text; serial numbers stay numbers-as-text
        grid = pd.read_excel(path, sheet_name=chosen, header=None,
                             dtype=str, engine="openpyxl")
    except ValueError as exc:
        raise InputError(f"cannot read the workbook: {exc}", file=file) from None
    except Exception as exc:  # zipfile.BadZipFile, KeyError from openpyxl ...
        raise InputError(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                         file=file) from None
    if grid.empty:
        raise InputError("the sheet is empty", file=file)
    _limits.check_rows(len(grid), lim, file=file, what="sheet rows")
    _limits.check_columns(grid.shape[1], lim, file=file)
    # cells merged over several rows: the top-left value for every row of the range
    grid, merged_sheet_rows = guards.fill_merged_cells(
        grid, guards.excel_merged_ranges(path, chosen))
    # header row: the first of the first 10 rows with >= 3 recognised headers, else row 0
    hdr = 0
    for i in range(min(10, len(grid))):
        if score_header_row(grid.iloc[i].tolist()) >= 3:
            hdr = i
            break
    names = unique_names(grid.iloc[hdr].tolist())
    body = grid.iloc[hdr + 1:]
    body.columns = names
    # trailing/blank rows are not data rows
    nonblank = body.notna().to_numpy().any(axis=1)
    rows = np.arange(1, len(body) + 1, dtype=np.int64)[nonblank]
    body = body.loc[nonblank]
    if len(body) == 0:
        raise InputError("no data rows (the sheet has only a header)", file=file)
    frame = body.reset_index(drop=True).astype("str")
    meta = {"sheet": chosen, "header_row": hdr + 1}
    if len(sheets) > 1:
        meta["sheets"] = sheets
    if other_sheets:
        meta["other_sheets"] = other_sheets
    raw = RawTable(frame, rows, file, "excel", meta=meta)
    if len(merged_sheet_rows):
        # sheet row r is grid row r - 1, i.e. data row r - 1 - hdr
        filled = merged_sheet_rows - 1 - hdr
        filled = filled[np.isin(filled, rows)]
        if len(filled):
            raw.issues.append(("merged_cells", "repaired", filled,
                               "cells merged over several rows: the merged value is used for "
                               "every row of the range"))
    return raw


def read_parquet(path: str | Path, *, file: str | None = None,
                 limits: _limits.Limits | None = None) -> RawTable:
    path = Path(path)
    file = file or str(path)
    lim = limits or _limits.get_defaults()
    _limits.check_file_size(path.stat().st_size, lim, file=file)
    _limits.check_parquet(path, lim, file=file)  # rows and sizes from the footer first
    from .arrowio import read_parquet_frame
    try:
        frame = read_parquet_frame(path)  # pd.read_parquet, one column at a time
    except Exception as exc:
        raise InputError(f"not a readable Parquet file ({type(exc).__name__}: {exc})",
                         file=file) from None
    return from_frame(frame, file=file, kind="parquet")


def from_frame(df: pd.DataFrame, *, file: str = "<DataFrame>", kind: str = "dataframe") -> RawTable:
    """A DataFrame (any column types; pm4py's format included) as a raw table."""
    frame = df.reset_index(drop=True)
    # pm4py's internal index columns are stale after any sort: not data
    drop = [c for c in frame.columns if str(c).startswith("@@")]
    if drop:
        frame = frame.drop(columns=drop)
    frame.columns = unique_names(list(frame.columns))
    if len(frame) == 0:
        raise InputError("no data rows (the table is empty)", file=file)
    return RawTable(frame, np.arange(1, len(frame) + 1, dtype=np.int64), file, kind)
