"""Memory-bounded reading of Parquet files into pandas.

``pd.read_parquet`` decodes the whole file into an Arrow table and then converts it, so for a
moment the file is in memory twice (about 1.7 GB for 6 million events of a one-stop log), and
the Arrow memory pool keeps the freed half cached afterwards. :func:`read_parquet_frame` reads
and converts one column at a time (the same conversion ``pd.read_parquet`` applies, so the
result is the same DataFrame) and hands the pool's unused memory back to the system.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq

__all__ = ["read_parquet_frame", "release_arrow_memory"]


def release_arrow_memory() -> None:
    """Return the Arrow memory pool's cached free memory to the operating system."""
    try:
        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - older pyarrow without release_unused
        pass


def read_parquet_frame(path: str | Path) -> pd.DataFrame:
    """``pd.read_parquet(path)`` column by column (peak memory about one column above the
    result instead of twice the file). The index stored in the file, if any, is not kept (the
    reader renumbers rows anyway)."""
    schema = pq.read_schema(path)
    meta = schema.pandas_metadata or {}
    index_cols = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    names = [n for n in schema.names if n not in index_cols]
    if len(names) <= 1 or len(set(names)) != len(names):
        frame = pd.read_parquet(path)
    else:
        parts = {}
        for name in names:
            series = None
            if pa.types.is_dictionary(schema.field(name).type):
                series = _dictionary_column(pq.read_table(path, columns=[name]).column(name), name)
            if series is None:
                part = pd.read_parquet(path, columns=[name])
                series = part[name].reset_index(drop=True)
                del part
            parts[name] = series
            release_arrow_memory()
        frame = pd.DataFrame(parts, copy=False)
        frame = frame[names]
    release_arrow_memory()
    return frame


def _dictionary_column(col: pa.ChunkedArray, name: str) -> pd.Series | None:
    """A dictionary-encoded text column as a pandas categorical built from the Arrow indices
    and dictionary (what ``pd.read_parquet`` gives, without a Python string per distinct
    value); None when it is not plain text (then pandas converts it)."""
    t = col.type
    if not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return None
    chunks = col.chunks
    if not chunks:
        return None
    first = chunks[0].dictionary
    if all(c.dictionary.equals(first) for c in chunks[1:]):   # one shared dictionary
        dictionary = first
        idx = [np.asarray(pa.compute.fill_null(c.indices, -1), dtype=np.int64) for c in chunks]
        codes = np.concatenate(idx) if len(idx) > 1 else idx[0]
    else:
        # the chunks' dictionaries unified in the order ``unify_dictionaries`` gives (each
        # chunk's new values after the earlier ones), by one hash encoding of their
        # concatenation: much faster than unify_dictionaries on large dictionaries (ids)
        dicts = [c.dictionary for c in chunks]
        if pa.types.is_large_string(t.value_type):
            dicts = [d.cast(pa.string()) for d in dicts]
        enc = pa.concat_arrays(dicts).dictionary_encode()
        dictionary = enc.dictionary
        remap = np.asarray(enc.indices, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum([len(d) for d in dicts])])
        parts = []
        for k, c in enumerate(chunks):
            i = np.asarray(pa.compute.fill_null(c.indices, -1), dtype=np.int64)
            parts.append(np.where(i >= 0, remap[np.maximum(i, 0) + starts[k]], -1))
        codes = np.concatenate(parts)
    if dictionary.null_count or len(pa.compute.unique(dictionary)) != len(dictionary):
        return None
    if pa.types.is_large_string(dictionary.type):
        dictionary = dictionary.cast(pa.string())
    from .text import make_categorical
    categories = pd.Index(pd.array(dictionary, dtype="str"))
    return make_categorical(codes, categories, ordered=bool(t.ordered), name=name)
