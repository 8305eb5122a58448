"""A streaming, XXE-safe XES reader (``.xes`` and ``.xes.gz``).

Safety: a document type declaration (``<!DOCTYPE``, which is where entities live) is refused
before the parser sees the document, and the parser itself is configured not to load DTDs,
resolve entities or touch the network. No external file is ever read.

Layout (as pm4py's dataframe): one row per ``<event>`` in file order (an event outside any
trace is a row without a case id, so it is counted, then dropped); event attributes become
columns under their key, trace attributes become ``case:<key>`` columns (so the trace's
``concept:name`` is ``case:concept:name``). Nested attributes (lists, containers, meta
attributes) are not flattened. Types: ``int`` and ``float`` become numbers and ``boolean``
booleans when every value of the key converts (otherwise the text is kept, nothing is lost);
``date`` values stay text here and are parsed by the canonical pipeline, which counts failures.
"""
from __future__ import annotations

import codecs
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import limits as _limits
from ..errors import InputError

_PROLOG_LIMIT = 1 << 24  # bytes of prolog (declaration, comments) we are willing to scan
_SCALARS = {"string", "date", "int", "float", "boolean", "id"}


@dataclass
class XesTable:
    frame: pd.DataFrame
    date_columns: list[str] = field(default_factory=list)
    n_traces: int = 0
    empty_traces: int = 0


def _open(path: Path, limits: _limits.Limits | None = None, file: str | None = None
          ) -> BinaryIO:
    """The file's bytes: size-checked, or decompressed with bounded output when gzip."""
    return _limits.open_input(path, limits, file=file)


def check_prolog(path: Path, *, file: str | None = None,
                 limits: _limits.Limits | None = None) -> None:
    """Refuse documents with a DOCTYPE (DTD, internal or external entities) and non-XML input.

    The prolog (XML declaration, comments, processing instructions) is scanned up to the first
    element; anything starting ``<!`` that is not a comment is refused.
    """
    file = file or str(path)
    with _open(path, limits, file) as fh:
        raw = fh.read(1 << 16)
        enc = "utf-8"
        for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
            if raw.startswith(bom):
                enc = name
                break
        pos = 0
        while True:
            text = raw.decode(enc, errors="replace")
            i = pos
            n = len(text)
            while i < n and text[i] in " \t\r\n\ufeff":
                i += 1
            if i >= n:
                more = fh.read(1 << 16)
                if not more:
                    raise InputError("not an XES document (no root element)", file=file)
                raw += more
                continue
            if text[i] != "<":
                raise InputError("not an XES document (text before the root element)", file=file,
                                 value=text[i:i + 20])
            if text.startswith("<?", i):
                end, close = text.find("?>", i), 2
            elif text.startswith("<!--", i):
                end, close = text.find("-->", i), 3
            elif text.startswith("<!", i):
                raise InputError(
                    "XES documents with a DOCTYPE / DTD / entity declarations are refused "
                    "(they can make a parser read local files or expand without limit)",
                    file=file, value=text[i:i + 40])
            else:
                return  # the root element starts: the prolog is clean
            if end < 0:
                if len(raw) > _PROLOG_LIMIT:
                    raise InputError("XES prolog too long", file=file)
                more = fh.read(1 << 16)
                if not more:
                    raise InputError("not an XES document (unterminated prolog)", file=file)
                raw += more
                continue
            pos = end + close  # character positions stay valid as ``raw`` only grows


def _convert(values: np.ndarray, kind: str) -> Any:
    """Convert one attribute column (object array of text, None for absent) to its XES type.

    Numbers and booleans are converted only when every present value converts; otherwise the
    text is kept, so nothing is lost."""
    arr = pa.array(values, type=pa.string())
    if kind in ("int", "float"):
        try:
            num = pc.cast(pc.utf8_trim_whitespace(arr), pa.int64() if kind == "int" else pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            try:
                num = pc.cast(pc.utf8_trim_whitespace(arr), pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                num = None
        if num is not None:
            if num.null_count == 0:
                return pd.Series(num.to_numpy(zero_copy_only=False))
            if pa.types.is_integer(num.type):
                return pd.Series(pd.array(num, dtype="Int64"))
            return pd.Series(num.to_numpy(zero_copy_only=False))
    elif kind == "boolean":
        low = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
        is_true = pc.is_in(low, pa.array(["true", "1"]))
        is_false = pc.is_in(low, pa.array(["false", "0"]))
        ok = pc.or_(is_true, is_false)
        if pc.all(pc.or_(ok, pc.is_null(arr))).as_py() is not False:
            out = pc.if_else(pc.is_null(arr), pa.scalar(None, pa.bool_()), is_true)
            return pd.Series(pd.array(out, dtype="boolean"))
    return pd.Series(pd.array(arr, dtype="str"))


def _refuse(*_args: Any) -> None:
    raise _Refused()


class _Refused(Exception):
    pass


def read_xes(path: str | Path, *, progress: bool = False, file: str | None = None,
             limits: _limits.Limits | None = None) -> XesTable:
    """Read an XES file into a flat event table (see the module docstring).

    The parser is the standard library's expat driven by two small callbacks (faster than
    building lxml elements). DTDs and entity declarations raise before anything is resolved.
    """
    from xml.parsers import expat

    path = Path(path)
    file = file or str(path)
    lim = limits or _limits.get_defaults()
    check_prolog(path, file=file, limits=lim)
    scalars = frozenset(_SCALARS)
    # element name -> local name (names are unprefixed in practice; prefixed ones are mapped)
    local: dict[str, str] = {n: n for n in (*_SCALARS, "event", "trace", "list", "container")}
    local_get = local.get
    e_items: list = []  # (key, value, kind, event ordinal) of event attributes
    t_items: list = []  # (key, value, kind, trace ordinal) of trace attributes
    e_add = e_items.append
    t_add = t_items.append
    ev_trace: list = []
    # mode (0 outside a trace, 1 in a trace, 2 in an event), depth of skipped subtree,
    # events read, traces read, events in the current trace, traces without events,
    # current event is outside a trace
    st = [0, 0, 0, 0, 0, 0, 0]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(desc=f"reading {path.name}", unit=" traces")

    def name_of(tag: str) -> str:
        n = local[tag] = tag.rpartition(":")[2]
        return n

    def start(tag: str, attrs: dict) -> None:
        if st[1]:
            st[1] += 1
            return
        mode = st[0]
        if mode == 2:
            name = local_get(tag) or name_of(tag)
            if name in scalars:
                e_add((attrs.get("key"), attrs.get("value"), name, st[2]))
            st[1] = 1  # ignore nested (meta) attributes
        elif mode == 1:
            name = local_get(tag) or name_of(tag)
            if name == "event":
                st[0] = 2
            else:
                if name in scalars:
                    t_add((attrs.get("key"), attrs.get("value"), name, st[3]))
                st[1] = 1
        else:
            name = local_get(tag) or name_of(tag)
            if name == "trace":
                st[0] = 1
                st[4] = 0
            elif name == "event":  # an event outside any trace: read, it has no case id
                st[0] = 2
                st[6] = 1

    def end(tag: str) -> None:
        if st[1]:
            st[1] -= 1
            return
        mode = st[0]
        if mode == 2:
            if st[6]:  # it was outside a trace
                st[0] = 0
                st[6] = 0
                ev_trace.append(-1)
            else:
                st[0] = 1
                ev_trace.append(st[3])
                st[4] += 1
            st[2] += 1
        elif mode == 1:
            st[0] = 0
            if not st[4]:
                st[5] += 1
            st[3] += 1
            if bar is not None and st[3] % 1000 == 0:
                bar.update(1000)

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small allocations: the cyclic GC would only slow them down
    parsed = False
    try:
        with _open(path, lim, file) as fh:
            _parse_limited(parser, fh, st, lim, file)
        parsed = True
    except _Refused:
        raise InputError("XES documents with a DOCTYPE / entity declarations are refused",
                         file=file, row=parser.CurrentLineNumber) from None
    except expat.ExpatError as exc:
        raise InputError(f"invalid XES/XML: {expat.errors.messages.get(exc.code, exc)}",
                         file=file, row=exc.lineno, column=f"XML column {exc.offset}") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the XES file: {exc}", file=file) from None
    finally:
        if not parsed and gc_was_enabled:  # every error path gives the GC back
            gc.enable()
        if bar is not None:
            bar.update(st[3] % 1000)
            bar.close()
    try:
        return _build(e_items, t_items, ev_trace, st[2], st[3], st[5], file)
    finally:
        if gc_was_enabled:
            gc.enable()


def _parse_limited(parser: Any, fh: BinaryIO, st: list, lim: _limits.Limits, file: str) -> None:
    """Feed the parser 1 MiB at a time; stop as soon as more than ``max_rows`` events were
    read (``st[2]`` counts events), so an oversized log is refused while streaming."""
    max_rows = lim.max_rows
    while True:
        chunk = fh.read(1 << 20)
        parser.Parse(chunk, not chunk)
        if st[2] > max_rows:
            _limits.check_rows(st[2], lim, file=file, what="XES events")
        if not chunk:
            return


def _build(e_items: list, t_items: list, ev_trace: list, n_ev: int, n_tr: int, empty: int,
           file: str) -> XesTable:
    if n_ev == 0:
        raise InputError("the XES file contains no events", file=file)
    trace_idx = np.asarray(ev_trace, dtype=np.int64)
    data: dict[str, Any] = {}
    date_cols: list[str] = []
    for items, prefix, length, take in ((e_items, "", n_ev, None),
                                        (t_items, "case:", n_tr, trace_idx)):
        if not items:
            continue
        kcodes, kuniq = pd.factorize(np.array([t[0] for t in items], dtype=object))
        val_arr = np.array([t[1] for t in items], dtype=object)
        tcodes, tuniq = pd.factorize(np.array([t[2] for t in items], dtype=object))
        own = np.fromiter((t[3] for t in items), dtype=np.int64, count=len(items))
        items.clear()
        order = np.argsort(kcodes, kind="stable")
        bounds = np.searchsorted(kcodes[order], np.arange(len(kuniq) + 1))
        for j, key in enumerate(kuniq):
            sel = order[bounds[j]:bounds[j + 1]]
            if len(sel) == 0:
                continue
            tk = tcodes[sel]
            kind = str(tuniq[tk[0]]) if (tk == tk[0]).all() else "mixed"
            arr = np.full(length, None, dtype=object)
            arr[own[sel]] = val_arr[sel]  # a repeated key in one event: the last value wins
            if take is not None:  # trace attributes onto events (-1: no trace -> empty)
                arr = np.append(arr, None)[take]
            name = prefix + str(key)
            if name in data:  # an event attribute "case:x" and a trace attribute "x"
                name = name + " (trace)"
            if kind == "date":
                data[name] = pd.Series(pd.array(pa.array(arr, type=pa.string()), dtype="str"))
                date_cols.append(name)
            else:
                data[name] = _convert(arr, kind if kind != "mixed" else "string")
    frame = pd.DataFrame(data)
    frame.index = pd.RangeIndex(n_ev)
    return XesTable(frame, date_cols, n_tr, empty)
