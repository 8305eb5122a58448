"""Errors raised by tthc_mining. All derive from :class:`TthcMiningError`."""
from __future__ import annotations

from typing import Any, Iterable


class TthcMiningError(Exception):
    """Base class of every error the library raises on purpose."""


def describe_location(message: str, *, file: Any = None, row: int | None = None,
                      column: str | None = None, value: Any = None) -> str:
    """'file F, row R, column 'C', value 'V': message' (the parts that are known)."""
    parts = []
    if file is not None:
        parts.append(f"file {file!s}")
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    if value is not None:
        text = repr(value)
        parts.append(f"value {text[:80] + '…' if len(text) > 80 else text}")
    return (", ".join(parts) + ": " if parts else "") + message


class _Located(TthcMiningError):
    """An error about a place in an input: file, row, column and value when known."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, value: Any = None):
        self.file, self.row, self.column, self.value = file, row, column, value
        self.reason = message
        super().__init__(describe_location(message, file=file, row=row, column=column,
                                           value=value))


class InputError(_Located):
    """Bad input data. The message names the file, row, column and value when known."""


class MissingColumnError(InputError):
    """A required column could not be found; the message lists the columns that were found."""

    def __init__(self, missing: Iterable[str], found: Iterable[str], *, file: str | None = None):
        self.missing, self.found = list(missing), list(found)
        super().__init__(
            f"missing required column(s) {', '.join(map(repr, self.missing))}; "
            f"columns found: {', '.join(map(repr, self.found)) or '(none)'}. "
            "Pass columns={'<role>': '<your header>'} to map them explicitly.",
            file=file)


class ResourceLimitError(InputError):
    """An input is beyond a configured resource limit (size, rows, decompression ratio); see
    :mod:`tthc_mining.limits`."""


class EncodingError(InputError):
    """The file's text encoding could not be determined or decoded."""


class TimestampError(InputError):
    """A timestamp could not be parsed (raised only with strict=True)."""


class CalendarError(TthcMiningError):
    """Invalid calendar configuration or a timestamp outside the calendar's range."""


class CatalogError(_Located):
    """Invalid procedure catalogue (the message names file, row, column and value when known)."""


class ConfigError(TthcMiningError):
    """Invalid argument or option."""


class MissingProgramError(TthcMiningError):
    """An external program (e.g. graphviz 'dot') is needed but not installed."""
