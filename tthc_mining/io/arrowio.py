"""Memory-bounded reading of Parquet files into pandas.

``pd.read_parquet`` decodes the whole file into an Arrow table and then converts it, so for a
moment the file is in memory twice (about 1.7 GB for 6 million events of a one-stop log), and
the Arrow memory pool keeps the freed half cached afterwards. :func:`read_parquet_frame` reads
and converts one column at a time (the same conversion ``pd.read_parquet`` applies, so the
result is the same DataFrame) and hands the pool's unused memory back to the system.

Three details keep the memory down (the 6-million-event province: peak of the read 1.19 ->
0.91 GiB, resident after it 0.93 -> 0.81 GiB):

* a dictionary-encoded text column is read in batches of a whole row group, one at a time:
  Arrow's default batches (about 128k rows) each carry their own copy of the row group's
  dictionary, which for a column of dossier ids or citizen ids (close to a million distinct
  values) means 47 copies of a 10-25 MB dictionary at once; a row group's dictionary equal to
  the first one is dropped as soon as it has been compared, and the codes are written straight
  into an array of the final (smallest) integer type;
* the values of other columns (timestamps above all) are copied out of the Arrow memory pool
  into NumPy's: large NumPy buffers are separate mappings that go back to the system as soon as
  they are freed, while the pool's memory around a long-lived buffer stays mapped;
* columns are read on the calling thread, and the memory freed after each column goes back to
  the system at once (:func:`tthc_mining.memory.release_memory`): what Arrow's worker threads
  allocate stays cached in their own heaps of the pool, out of reach of ``release_unused``.
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
    """Return the Arrow memory pool's cached free memory (and glibc's free heap pages, see
    :func:`tthc_mining.memory.release_memory`) to the operating system."""
    from ..memory import release_memory
    release_memory()


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
        pf = None
        for name in names:
            series = None
            if pa.types.is_dictionary(schema.field(name).type):
                if pf is None:
                    pf = pq.ParquetFile(path)
                series = _dictionary_column(_row_group_chunks(pf, name), pf.metadata.num_rows,
                                            schema.field(name).type, name)
            if series is None:
                part = pd.read_parquet(path, columns=[name], use_threads=False, pre_buffer=False)
                series = _own_memory(part[name].reset_index(drop=True))
                del part
            parts[name] = series
            release_arrow_memory()
        frame = pd.DataFrame(parts, copy=False)
        frame = frame[names]
    release_arrow_memory()
    return frame


def _row_group_chunks(pf: pq.ParquetFile, name: str):
    """One column, one chunk per row group, one chunk at a time (see the module docstring).
    Read on the calling thread: memory that Arrow's worker threads allocate stays cached in
    their own heaps of the memory pool, out of reach of ``release_unused``."""
    md = pf.metadata
    size = max([md.row_group(i).num_rows for i in range(md.num_row_groups)] + [1])
    for batch in pf.iter_batches(batch_size=size, columns=[name], use_threads=False,
                                 use_pandas_metadata=False):
        yield batch.column(0)


def _own_memory(series: pd.Series) -> pd.Series:
    """A column whose values live in the Arrow memory pool (zero-copy conversion: timestamps,
    numbers) copied into NumPy memory; other columns (text, objects) unchanged."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype)
                                                 and dtype.kind in "biufcmM"):
        values = series.array if isinstance(dtype, pd.DatetimeTZDtype) else series.to_numpy()
        base = getattr(values, "_ndarray", values)
        if isinstance(base, np.ndarray) and not base.flags.owndata:
            return series.copy(deep=True)
    return series


def _codes_dtype(n_categories: int) -> type:
    """The integer type pandas gives codes of ``n_categories`` categories."""
    for t in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(t).max:
            return t
    return np.int64


def _dictionary_column(chunks, n: int, t: pa.DataType, name: str) -> pd.Series | None:
    """A dictionary-encoded text column (``chunks``: its dictionary arrays, ``n`` rows in all,
    type ``t``) as a pandas categorical built from the Arrow indices and dictionary (what
    ``pd.read_parquet`` gives, without a Python string per distinct value); None when it is not
    plain text (then pandas converts it). A chunk's dictionary equal to the first chunk's is
    dropped as soon as it has been compared (a row group's copy of the same dictionary)."""
    if not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return None
    first = None
    parts = []                     # (indices, own dictionary or None when equal to the first)
    for c in chunks:
        if first is None:
            first = c.dictionary
            parts.append((c.indices, None))
        else:
            parts.append((c.indices, None if c.dictionary.equals(first) else c.dictionary))
        del c
    if first is None or sum(len(i) for i, _ in parts) != n:
        return None
    if all(d is None for _, d in parts):   # one shared dictionary
        dictionary = first
        codes = np.empty(n, dtype=_codes_dtype(len(dictionary)))
        at = 0
        for k, (ind, _) in enumerate(parts):
            codes[at:at + len(ind)] = np.asarray(pa.compute.fill_null(ind, -1))
            at += len(ind)
            parts[k] = None
    else:
        # the chunks' dictionaries unified in the order ``unify_dictionaries`` gives (each
        # chunk's new values after the earlier ones), by one hash encoding of their
        # concatenation: much faster than unify_dictionaries on large dictionaries (ids)
        dicts = [first if d is None else d for _, d in parts]
        if pa.types.is_large_string(t.value_type):
            dicts = [d.cast(pa.string()) for d in dicts]
        enc = pa.concat_arrays(dicts).dictionary_encode()
        dictionary = enc.dictionary
        remap = np.asarray(enc.indices, dtype=np.int64)
        del enc
        starts = np.concatenate([[0], np.cumsum([len(d) for d in dicts])])
        codes = np.empty(n, dtype=_codes_dtype(len(dictionary)))
        at = 0
        for k, (ind, _) in enumerate(parts):
            i = np.asarray(pa.compute.fill_null(ind, -1), dtype=np.int64)
            codes[at:at + len(ind)] = np.where(i >= 0, remap[np.maximum(i, 0) + starts[k]], -1)
            at += len(ind)
            parts[k] = None
    if dictionary.null_count or len(pa.compute.unique(dictionary)) != len(dictionary):
        return None
    if pa.types.is_large_string(dictionary.type):
        dictionary = dictionary.cast(pa.string())
    from .text import make_categorical
    categories = pd.Index(pd.array(dictionary, dtype="str"))
    return make_categorical(codes, categories, ordered=bool(t.ordered), name=name)
