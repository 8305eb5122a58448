"""Resource limits for reading untrusted inputs.

A dossier log usually comes from someone else's system. A hostile or broken file must not be
able to exhaust the memory or the disk of the machine that reads it, so :func:`tthc_mining.read_log`
checks every input against a :class:`Limits`:

``max_bytes``
    the bytes of one input *after decompression* (default 4 GiB). A plain file is checked by its
    size before it is opened; a gzip file (``.csv.gz``, ``.xes.gz`` or any gzip content) is
    decompressed through :class:`GuardedGzipReader`, which counts the bytes it produces and stops
    as soon as the limit is passed, so a gzip bomb (a few MB expanding to many GB) is refused
    after at most ``max_bytes`` of output and never held in memory; an ``.xlsx`` workbook (a zip
    archive) is checked by the sizes of its members, which Python's ``zipfile`` enforces.
``max_rows``
    data rows (CSV, Excel, Parquet) or events (XES) of one input (default 50 million). XES
    reading stops streaming as soon as the limit is passed; Parquet is checked from its metadata
    before anything is read.
``max_ratio``
    the largest decompressed/compressed size ratio accepted once more than ``ratio_floor`` bytes
    (64 MiB) came out (default 200). Real event logs compress 10-55 times (measured on the public
    logs in ``shared/datasets/real``); a gzip bomb compresses about 1,000 times and is therefore
    refused after ``ratio_floor`` bytes, long before ``max_bytes``.
``max_field_bytes``
    one CSV field (default 16 MiB, the block size of the fast CSV parser).
``max_columns``
    columns of a table (default 5,000): a header line of a million separators is refused
    instead of creating a million columns.

The defaults can be changed for a process with :func:`set_defaults`, for a block of code with
:func:`limited`, by environment variables (``TTHC_MINING_MAX_BYTES``, ``TTHC_MINING_MAX_ROWS``,
``TTHC_MINING_MAX_RATIO``; sizes accept ``K``/``M``/``G`` suffixes, ``none`` disables) or per call
(``read_log(path, max_bytes=..., max_rows=...)``). ``math.inf`` (or ``None`` in
:func:`set_defaults`) disables a limit. Exceeding a limit raises
:class:`~tthc_mining.errors.ResourceLimitError` (an :class:`~tthc_mining.errors.InputError`)
naming the file, the limit and how to raise it.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import zlib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .errors import ConfigError, InputError

try:  # additive in errors.py; fall back so this module works on its own
    from .errors import ResourceLimitError
except ImportError:  # pragma: no cover
    class ResourceLimitError(InputError):  # type: ignore[no-redef]
        """An input is beyond a configured resource limit."""

__all__ = ["Limits", "ResourceLimitError", "DEFAULT_LIMITS", "get_defaults", "set_defaults",
           "limited", "resolve", "check_regular_file", "check_file_size", "check_rows",
           "check_columns", "check_zip", "check_parquet", "GuardedGzipReader", "open_input",
           "is_gzip", "format_bytes", "parse_size"]

GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10
_CHUNK = 1 << 20  # compressed bytes read at a time


@dataclass(frozen=True)
class Limits:
    """Limits applied while reading one input (see the module docstring)."""

    max_bytes: float = 4 * GiB
    max_rows: float = 50_000_000
    max_ratio: float = 200.0
    ratio_floor: float = 64 * MiB
    max_field_bytes: float = 16 * MiB
    max_columns: float = 5_000

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                object.__setattr__(self, f.name, math.inf)
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v <= 0:
                raise ConfigError(f"limit {f.name} must be a positive number (math.inf for no "
                                  f"limit), not {v!r}")

    @classmethod
    def unlimited(cls) -> "Limits":
        """No limits at all (trusted input only)."""
        return cls(*(math.inf for _ in fields(cls)))

    def to_dict(self) -> dict[str, float | None]:
        return {f.name: (None if math.isinf(getattr(self, f.name)) else getattr(self, f.name))
                for f in fields(self)}


DEFAULT_LIMITS = Limits()
_defaults: Limits = DEFAULT_LIMITS
_ENV = {"max_bytes": "TTHC_MINING_MAX_BYTES", "max_rows": "TTHC_MINING_MAX_ROWS",
        "max_ratio": "TTHC_MINING_MAX_RATIO"}


def parse_size(text: str | int | float | None) -> float:
    """``"4G"``, ``"500M"``, ``"64k"``, ``"1000000"``, ``"none"`` -> a number of bytes (inf)."""
    if text is None:
        return math.inf
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    t = str(text).strip().lower().replace("_", "")
    if t in ("none", "inf", "unlimited", "off", "0"):
        return math.inf
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", t)
    if not m:
        raise ConfigError(f"cannot read the size {text!r}; use e.g. 500M, 4G or none")
    mult = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1 << 40}[m.group(2)]
    return float(m.group(1)) * mult


def format_bytes(n: float) -> str:
    if math.isinf(n):
        return "unlimited"
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n):,} bytes"


def get_defaults() -> Limits:
    """The process-wide default limits, with environment overrides applied."""
    lim = _defaults
    over = {}
    for name, var in _ENV.items():
        val = os.environ.get(var)
        if val:
            try:
                over[name] = parse_size(val) if name != "max_ratio" else (
                    math.inf if val.strip().lower() in ("none", "inf", "off") else float(val))
            except ValueError:
                raise ConfigError(f"environment variable {var}={val!r} is not a number") from None
    return replace(lim, **over) if over else lim


def set_defaults(**kw: Any) -> Limits:
    """Change the process-wide defaults (e.g. ``set_defaults(max_bytes=16 * 2**30)``);
    returns the previous defaults. ``None`` disables a limit."""
    global _defaults
    known = {f.name for f in fields(Limits)}
    bad = set(kw) - known
    if bad:
        raise ConfigError(f"unknown limit(s) {sorted(bad)}; known: {sorted(known)}")
    previous = _defaults
    _defaults = replace(_defaults, **kw)
    return previous


@contextlib.contextmanager
def limited(**kw: Any) -> Iterator[Limits]:
    """``with limited(max_rows=1000): read_log(...)`` - temporary defaults."""
    global _defaults
    previous = set_defaults(**kw)
    try:
        yield _defaults
    finally:
        _defaults = previous


def resolve(limits: Limits | None = None, **kw: Any) -> Limits:
    """``limits`` (or the defaults) with the keyword overrides that are not ``None``."""
    if limits is not None and not isinstance(limits, Limits):
        raise ConfigError(f"limits must be a tthc_mining.limits.Limits, not "
                          f"{type(limits).__name__}")
    base = limits if limits is not None else get_defaults()
    over = {k: v for k, v in kw.items() if v is not None}
    return replace(base, **over) if over else base


def _hint(name: str) -> str:
    return (f"raise it with read_log(..., {name}=...) or the environment variable "
            f"{_ENV.get(name, 'TTHC_MINING_' + name.upper())} if the file is trusted")


# --------------------------------------------------------------------------- checks
def check_regular_file(path: Path, *, file: str | None = None) -> os.stat_result:
    """Refuse devices, FIFOs and sockets (``/dev/zero``, ``/dev/stdin``): only regular files
    have a size that can be checked before reading."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError("not a regular file (a device, pipe or socket cannot be read as a log)",
                         file=file or str(path))
    return st


def check_file_size(size: int, limits: Limits, *, file: str) -> None:
    if size > limits.max_bytes:
        raise ResourceLimitError(
            f"the file is {format_bytes(size)}, over the limit max_bytes="
            f"{format_bytes(limits.max_bytes)}; {_hint('max_bytes')}", file=file)


def check_rows(n: int, limits: Limits, *, file: str, what: str = "data rows") -> None:
    if n > limits.max_rows:
        raise ResourceLimitError(
            f"more than {int(limits.max_rows):,} {what} (max_rows); {_hint('max_rows')}",
            file=file)


def check_columns(n: int, limits: Limits, *, file: str) -> None:
    if n > limits.max_columns:
        raise ResourceLimitError(
            f"{n:,} columns, over the limit max_columns={int(limits.max_columns):,}",
            file=file)


def check_zip(path: Path, limits: Limits, *, file: str) -> None:
    """An ``.xlsx`` (zip) workbook: the declared uncompressed sizes of its members (which
    ``zipfile`` enforces while reading) against ``max_bytes`` and ``max_ratio``."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except Exception as exc:  # BadZipFile, NotImplementedError (zip version), OSError, ...
        raise InputError(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                         file=file) from None
    if len(infos) > 100_000:
        raise ResourceLimitError(f"the workbook has {len(infos):,} parts", file=file)
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_bytes:
        raise ResourceLimitError(
            f"the workbook expands to {format_bytes(total)}, over the limit max_bytes="
            f"{format_bytes(limits.max_bytes)}; {_hint('max_bytes')}", file=file)
    if total > limits.ratio_floor and total > limits.max_ratio * max(packed, 1):
        raise ResourceLimitError(
            f"the workbook expands {total / max(packed, 1):,.0f} times (a zip bomb?), over "
            f"the limit max_ratio={limits.max_ratio:g}", file=file)


def check_parquet(path: Path, limits: Limits, *, file: str) -> None:
    """Rows and uncompressed bytes from the Parquet footer, before any data is read."""
    import pyarrow.parquet as pq
    try:
        meta = pq.read_metadata(path)  # the footer only; the file is closed again
    except Exception as exc:
        raise InputError(f"not a readable Parquet file ({type(exc).__name__}: {exc})",
                         file=file) from None
    check_rows(meta.num_rows, limits, file=file)
    check_columns(meta.num_columns, limits, file=file)
    total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if total > limits.max_bytes:
        raise ResourceLimitError(
            f"the Parquet data expands to {format_bytes(total)}, over the limit max_bytes="
            f"{format_bytes(limits.max_bytes)}; {_hint('max_bytes')}", file=file)


# --------------------------------------------------------------------------- gzip
def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


class GuardedGzipReader(io.RawIOBase):
    """A gzip stream (several members allowed) decompressed with bounded memory.

    Each ``readinto`` produces at most the requested number of bytes (zlib's ``max_length``), so
    a bomb never inflates in memory; the bytes produced are counted and the read fails with
    :class:`ResourceLimitError` once they pass ``max_bytes``, or pass ``ratio_floor`` at more
    than ``max_ratio`` times the compressed bytes consumed.
    """

    def __init__(self, path: str | Path, limits: Limits | None = None, *, file: str | None = None,
                 defer_errors: bool = False):
        super().__init__()
        #: ``defer_errors``: a limit or a corrupt stream ends the stream (EOF) and the error is
        #: kept in :attr:`error` for the caller to raise, instead of being raised inside the
        #: reader that calls ``readinto`` (pyarrow's CSV reader calls it from its own I/O
        #: thread, and an exception there can leave its thread pool hanging at exit)
        self.defer_errors = defer_errors
        self.error: Exception | None = None
        self._fh = open(path, "rb")
        self._limits = limits or get_defaults()
        self._file = file or str(path)
        self._d: Any = None      # the current member's decompressor (None between members)
        self._in = b""           # compressed bytes not yet given to the decompressor
        self._eof_in = False
        self._done = False
        self.bytes_in = 0        # compressed bytes read from the file
        self.bytes_out = 0       # decompressed bytes produced

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            super().close()

    def _fail(self, message: str) -> None:
        raise ResourceLimitError(message, file=self._file)

    def _check(self) -> None:
        lim = self._limits
        if self.bytes_out > lim.max_bytes:
            self._fail(f"the compressed file expands beyond max_bytes="
                       f"{format_bytes(lim.max_bytes)} (stopped after "
                       f"{format_bytes(self.bytes_out)}); {_hint('max_bytes')}")
        used = max(self.bytes_in - len(self._in), 1)  # compressed bytes consumed so far
        if self.bytes_out > lim.ratio_floor and self.bytes_out > lim.max_ratio * used:
            self._fail(f"the compressed file expands {self.bytes_out / used:,.0f}"
                       f" times (a decompression bomb?), over max_ratio={lim.max_ratio:g}; "
                       f"stopped after {format_bytes(self.bytes_out)}")

    def _fill(self) -> None:
        if not self._in and not self._eof_in:
            chunk = self._fh.read(_CHUNK)
            self.bytes_in += len(chunk)
            if chunk:
                self._in = chunk
            else:
                self._eof_in = True

    def readinto(self, buf: Any) -> int:
        if not self.defer_errors:
            return self._readinto(buf)
        if self.error is not None:
            return 0
        try:
            return self._readinto(buf)
        except InputError as exc:          # ResourceLimitError included
            self.error = exc
            self._done = True
            return 0

    def _readinto(self, buf: Any) -> int:
        want = len(buf)
        while want and not self._done:
            if self._d is None:  # between members: skip zero padding, start the next one
                self._in = self._in.lstrip(b"\x00")
                if not self._in:
                    if self._eof_in:
                        self._done = True
                        break
                    self._fill()
                    continue
                self._d = zlib.decompressobj(wbits=31)
            if not self._in:
                if self._eof_in:
                    raise InputError("the gzip data is truncated (the file ends inside a "
                                     "compressed member)", file=self._file)
                self._fill()
                continue
            try:
                out = self._d.decompress(self._in, want)
            except zlib.error as exc:
                raise InputError(f"the gzip data is corrupt ({exc})", file=self._file) from None
            if self._d.eof:  # unused_data holds all input after the member (the tail too)
                self._in = self._d.unused_data
                self._d = None
            else:
                self._in = self._d.unconsumed_tail
            if out:
                n = len(out)
                buf[:n] = out
                self.bytes_out += n
                self._check()
                return n
        return 0


def open_input(path: str | Path, limits: Limits | None = None, *, file: str | None = None,
               defer_errors: bool = False) -> BinaryIO:
    """A binary stream of a file, decompressed (guarded) when it is gzip, size-checked when not.

    ``defer_errors``: see :class:`GuardedGzipReader`; the caller then calls
    :func:`raise_deferred` on the stream once the consumer is done with it.
    """
    path = Path(path)
    file = file or str(path)
    limits = limits or get_defaults()
    if is_gzip(path):
        return io.BufferedReader(GuardedGzipReader(path, limits, file=file,
                                                   defer_errors=defer_errors), buffer_size=_CHUNK)
    check_file_size(os.stat(path).st_size, limits, file=file)
    return open(path, "rb")


def raise_deferred(stream: Any) -> None:
    """Raise the error a guarded stream opened with ``defer_errors=True`` kept, if any."""
    err = getattr(getattr(stream, "raw", stream), "error", None)
    if err is not None:
        raise err
