"""Relational engines (issue 7): the core statistics on DuckDB (beyond memory) and Spark (beyond
one machine), defined once with Ibis.

``tm.read_log("dossiers/*.parquet", engine="duckdb")`` (or ``engine="spark"``, with an optional
``spark=`` session or ``con=`` Ibis connection) returns a :class:`RelationalLog`; the same
``tm.discover``, ``tm.bottlenecks``, ``tm.rework``, ``tm.summary`` and ``tm.timing`` calls accept
it. :func:`from_log` registers an in-memory :class:`~tthc_mining.DossierLog`. See
``docs/engines.md``.
"""
from __future__ import annotations

from .core import ENGINES, RelationalLog, connect, from_log, local_spark, read_parquet

__all__ = ["ENGINES", "RelationalLog", "connect", "from_log", "local_spark", "read_parquet"]
