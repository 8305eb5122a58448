"""Readers and writers of dossier event logs.

``read_log`` turns a one-stop export (CSV, Excel), an XES file, a Parquet file or a pandas
DataFrame (pm4py's format included) into a :class:`~tthc_mining.DossierLog` whose ``quality``
report accounts for every row read; ``write_log`` writes a log back in canonical or one-stop
layout. See :mod:`tthc_mining.io.headers` (which headers are recognised),
:mod:`tthc_mining.io.timeparse` (timestamp formats), :mod:`tthc_mining.io.canonical` (the
checks, in order) and :mod:`tthc_mining.io.tabular` (row numbering).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import limits as _limits
from .. import schema as S
from ..calendar import resolve
from ..errors import InputError, MissingColumnError
from ..log import DossierLog
from ..memory import release_memory
from . import guards, legacy
from .canonical import GENERIC_OFFICERS, canonicalize
from .headers import ALIASES, PROCEDURE_NAME, header_key, resolve_columns
from .tabular import RawTable, from_frame, read_csv, read_excel, read_parquet
from .timeparse import parse_times
from .writers import ONESTOP_HEADERS, write_log
from .xes import read_xes

__all__ = ["read_log", "write_log", "load_raw", "parse_times", "resolve_columns", "header_key",
           "ALIASES", "ONESTOP_HEADERS", "PROCEDURE_NAME", "GENERIC_OFFICERS", "RawTable"]


def _kind(path: Path) -> str:
    name = path.name.lower()
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(b"PK\x03\x04"):
        return "excel"
    if magic == b"PAR1":
        return "parquet"
    for suffix, kind in ((".xes", "xes"), (".xes.gz", "xes"), (".xlsx", "excel"),
                         (".xlsm", "excel"), (".parquet", "parquet"), (".pq", "parquet"),
                         (".csv", "csv"), (".csv.gz", "csv"), (".tsv", "csv"), (".txt", "csv"),
                         (".txt.gz", "csv"), (".tsv.gz", "csv")):
        if name.endswith(suffix):
            return kind
    if name.endswith(".xls"):
        raise InputError("old binary .xls workbooks are not supported: save the file as .xlsx "
                         "or CSV", file=str(path))
    # unknown suffix: look at the content
    head = magic
    if magic[:2] == b"\x1f\x8b":
        with _limits.open_input(path) as fh:  # bounded, guarded decompression
            head = fh.read(512)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return "xes"
    return "csv"


def load_raw(source: Any, *, sheet: str | int | None = None, encoding: str | None = None,
             sep: str | None = None, progress: bool = False,
             limits: "_limits.Limits | None" = None) -> RawTable:
    """Read a source into a raw table (no column mapping or checks yet), within ``limits``
    (:mod:`tthc_mining.limits`; default: the process-wide defaults)."""
    lim = _limits.resolve(limits)
    if isinstance(source, pd.DataFrame):
        return _checked(from_frame(source), None)
    if not isinstance(source, (str, Path)):
        raise InputError(f"cannot read a {type(source).__name__}: pass a file path or a "
                         "pandas DataFrame")
    path = Path(source)
    file = str(source)
    if not path.exists():
        raise InputError("file not found", file=file)
    if path.is_dir():
        raise InputError("is a directory, not a file", file=file)
    _limits.check_regular_file(path, file=file)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=file)
    kind = _kind(path)
    if kind == "xes":
        x = read_xes(path, progress=progress, file=file, limits=lim)
        raw = RawTable(x.frame, np.arange(1, len(x.frame) + 1, dtype=np.int64), file, "xes",
                       date_columns=list(x.date_columns))
        raw.meta.update({"traces": x.n_traces, "traces_without_events": x.empty_traces})
        return _checked(raw, None)
    if kind == "excel":
        return _checked(read_excel(path, sheet=sheet, file=file, limits=lim), None)
    if kind == "parquet":
        return _checked(read_parquet(path, file=file, limits=lim), None)
    return _checked(read_csv(path, encoding=encoding, sep=sep, file=file, limits=lim), encoding)


def _checked(raw: RawTable, encoding: str | None) -> RawTable:
    """Checks common to every source (see :mod:`tthc_mining.io.guards` and
    :mod:`tthc_mining.io.legacy`): legacy TCVN3 text is refused, header copies are dropped."""
    legacy.check_raw(raw.frame, file=raw.source, encoding=encoding)
    guards.drop_repeated_headers(raw)
    return raw


def read_log(source: Any, *, schema: str = "auto", columns: Mapping[str, str] | None = None,
             calendar: Any = None, catalog: Any = None, strict: bool = False,
             tz: str | None = None, sheet: str | int | None = None,
             roles: Mapping[str, str] | None = None, encoding: str | None = None,
             sep: str | None = None, month_first: bool | None = None,
             duplicates: str = "flag", progress: bool = False,
             max_bytes: float | None = None, max_rows: float | None = None,
             limits: "_limits.Limits | None" = None, engine: str = "pandas",
             spark: Any = None, con: Any = None) -> DossierLog:
    """Read a dossier event log.

    Parameters
    ----------
    source:
        Path to a CSV (UTF-8 with or without BOM, UTF-16, Windows-1258; ``,`` ``;`` tab or ``|``
        separated; ``.csv.gz`` too), Excel ``.xlsx``, XES ``.xes``/``.xes.gz`` or Parquet file,
        or a pandas DataFrame (pm4py's format included).
    schema:
        ``"auto"`` recognises XES keys, Vietnamese one-stop headers (*Mã hồ sơ*, *Bước xử lý*,
        *Thời điểm kết thúc*, ...) and common English ones; ``"xes"`` accepts XES keys only;
        ``"onestop"`` the Vietnamese headers only.
    columns:
        Explicit mapping ``{role: header}`` overriding recognition; roles are ``case``,
        ``activity``, ``timestamp``, ``start``, ``resource``, ``group``, ``procedure``,
        ``procedure_name``, ``received``, ``due``, ``channel``, ``status``, ``due_before``,
        ``due_after``, ``submitted``, ``finished``, ``reason``, ``lifecycle`` (or the
        canonical XES key).
    calendar:
        Working calendar stored on the log (``None``: :class:`~tthc_mining.VietnamCalendar`).
    catalog:
        A :class:`~tthc_mining.ProcedureCatalog`, stored on the log.
    strict:
        Raise a :class:`~tthc_mining.InputError` (naming file, row, column and value) on the
        first row that would be dropped or repaired, instead of counting it.
    tz:
        Time zone of naive timestamps and of the result (default: the calendar's,
        Asia/Ho_Chi_Minh). Timestamps with an offset are converted.
    sheet:
        Excel sheet name or index (default: the first).
    roles:
        ``{activity name: role}`` overriding the recognised activity roles.
    encoding, sep:
        Force the CSV encoding / separator instead of detecting them.
    month_first:
        Force ``mm/dd/yyyy`` (True) or ``dd/mm/yyyy`` (False) for slash dates; by default
        day-first unless a column only makes sense month-first.
    duplicates:
        Exact copies of an earlier row: ``"flag"`` (default: kept and counted, as published
        logs and pm4py count them), ``"drop"`` (removed and counted) or ``"keep"`` (not
        checked).
    progress:
        Show a progress bar (tqdm) on long reads.
    max_bytes, max_rows, limits:
        Resource limits for untrusted input (see :mod:`tthc_mining.limits`): the largest
        input in bytes *after decompression* (default 4 GiB; gzip bombs are stopped while
        streaming) and the most data rows / XES events (default 50 million). A file beyond a
        limit raises :class:`~tthc_mining.errors.ResourceLimitError`; ``math.inf`` lifts a
        limit. ``limits`` gives all limits at once (a :class:`~tthc_mining.limits.Limits`).

    engine:
        ``"pandas"`` (default: the whole log in memory, every format above), ``"duckdb"``
        (beyond memory) or ``"spark"`` (beyond one machine): ``source`` is then Parquet file(s),
        a glob (``"dossiers/*.parquet"``) or a directory of partitions of the canonical event
        table (as ``write_log(log, "x.parquet")`` writes it) and the result is a
        :class:`~tthc_mining.engines.RelationalLog` (see ``docs/engines.md``); only
        ``calendar``, ``catalog``, ``roles`` apply.
    spark, con:
        With ``engine="spark"``: an existing SparkSession (a cluster's); with either relational
        engine: an existing Ibis connection.

    Row numbers in reports and errors count data rows after the header, from 1 (the event
    ordinal for XES, the position for DataFrames). A file with a header but no data rows raises
    :class:`~tthc_mining.InputError` ("no data rows"), as does an empty file.
    """
    if engine != "pandas":
        from ..engines.core import read_parquet as _read_relational
        if columns or schema != "auto" or strict or tz or sheet is not None or encoding or sep \
                or month_first is not None or duplicates != "flag":
            from ..errors import ConfigError
            raise ConfigError(f"engine={engine!r} reads the canonical Parquet table; schema, "
                              "columns, strict, tz, sheet, encoding, sep, month_first and "
                              "duplicates apply to engine='pandas' only")
        return _read_relational(source, engine, calendar=calendar, catalog=catalog, roles=roles,
                                spark=spark, con=con)
    cal = resolve(calendar)
    tz = tz or getattr(cal, "tz", None) or S.DEFAULT_TZ
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=2, desc="read_log", unit=" step")
    try:
        lim = _limits.resolve(limits, max_bytes=max_bytes, max_rows=max_rows)
        raw = load_raw(source, sheet=sheet, encoding=encoding, sep=sep, progress=progress,
                       limits=lim)
        if bar is not None:
            bar.update(1)
        try:
            events, quality = canonicalize(raw, schema=schema, columns=columns, tz=tz,
                                           strict=strict, roles=roles, month_first=month_first,
                                           duplicates=duplicates)
        except MissingColumnError as exc:
            others = raw.meta.get("other_sheets")
            if others:  # the log is probably on another sheet: say which
                exc.args = (f"{exc} The workbook's sheet(s) {', '.join(map(repr, others))} "
                            "have recognised headers: pass sheet='...'.",)
            raise
        quality.meta["tz"] = tz
        guards.flag_implausible_times(events, quality)
        guards.note_other_sheets(quality, quality.meta.get("other_sheets", []))
        if bar is not None:
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    source_name = raw.source
    del raw                      # the source table: its freed memory goes back to the system
    release_memory()
    return DossierLog(events=events, quality=quality, calendar=cal, catalog=catalog,
                      source=source_name)
