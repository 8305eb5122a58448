"""The relational log: the canonical event table as an Ibis table on DuckDB or Spark.

A :class:`RelationalLog` holds an Ibis table ``events`` with the canonical columns (XES keys,
the same names as :class:`~tthc_mining.DossierLog` events), the Ibis connection, the
:class:`~tthc_mining.calendar.WorkingCalendar`, a small *roles* dimension (activity -> role,
computed in Python on the DISTINCT activities only with :mod:`tthc_mining.roles`, joined into the
table) and the data-quality counts. Statistics are defined once with Ibis (see
:mod:`tthc_mining.engines.axis`, :mod:`tthc_mining.engines.segments`, ...) and executed by
whichever backend the table lives on; only small aggregates come back to pandas.

Row order
---------
The pandas engine sorts the events stably by (dossier id as text, end time); ties keep the source
order. Here every event carries ``tm:row``: its 1-based global row number in *file order* (the
Parquet files sorted by path as text, then the row within the file: DuckDB's
``file_row_number``, Spark's ``_metadata.row_index``). Window functions order a dossier's events
by ``(time:timestamp, tm:row)``, which is exactly the pandas engine's order on the same rows.

Timestamps
----------
Both backends hold timestamps in **microseconds** (Spark's ``TimestampType``; DuckDB reads
Parquet ``timestamp[ns]`` as ``TIMESTAMP WITH TIME ZONE``, microseconds): sub-microsecond parts
are truncated, whereas the pandas engine keeps nanoseconds. The one-stop logs and the synthetic
province have whole seconds. The session time zone of both backends is set to UTC (the library
converts to the calendar's wall clock itself, see :mod:`tthc_mining.engines.axis`).
"""
from __future__ import annotations

import glob as _glob
import html
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import schema as S
from ..calendar import WorkingCalendar, resolve
from ..errors import ConfigError, InputError, MissingColumnError
from ..quality import DROPPED, REPAIRED, QualityReport
from ..roles import assign_roles

ENGINES = ("duckdb", "spark")
#: columns a relational log needs (the canonical names)
REQUIRED = S.REQUIRED
_FILE_COL = "tm:file"
_FILE_ROW_COL = "tm:file_row"


def _ibis():
    try:
        import ibis
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError("the relational engines need ibis-framework: "
                          "pip install 'ibis-framework[duckdb]'") from exc
    return ibis


# ====================================================================== connections
def local_spark(**conf: str):
    """A local-mode SparkSession for this machine (2 threads, no UI, UTC session time zone,
    warehouse and Derby home in a temporary directory, never in the working directory).
    Extra ``conf`` entries are passed to the builder."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("engine='spark' needs pyspark: pip install 'tthc_mining[spark]'") from exc
    tmp = tempfile.mkdtemp(prefix="tthc_spark_")
    b = (SparkSession.builder.master("local[2]").appName("tthc_mining")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.sql.warehouse.dir", os.path.join(tmp, "warehouse"))
         .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={tmp}")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         # the JVM's heap (fixed when the first session starts the JVM): long lineages of the
         # loop-erasure rounds and cached stages do not fit in Spark's 1 GB default
         .config("spark.driver.memory", "2g"))
    for k, v in conf.items():
        b = b.config(k, v)
    return b.getOrCreate()


def connect(engine: str = "duckdb", *, spark: Any = None, con: Any = None, **kwargs: Any):
    """An Ibis connection for ``engine`` (``"duckdb"`` or ``"spark"``).

    ``con``: an existing Ibis connection (returned after setting its session time zone to
    UTC). ``spark``: an existing SparkSession (e.g. ``SparkSession.builder.getOrCreate()`` on a
    cluster); without it a local one is created (:func:`local_spark`). Other keyword arguments
    go to ``ibis.duckdb.connect`` (``database``, ``threads``, ``memory_limit``,
    ``temp_directory`` ...).
    """
    ibis = _ibis()
    engine = _check_engine(engine)
    if con is not None:
        name = getattr(con, "name", "")
        if (engine == "spark") != (name == "pyspark"):
            raise ConfigError(f"con= is a {name!r} connection, not one for engine={engine!r}")
        _utc_session(con, engine)
        return con
    if engine == "duckdb":
        con = ibis.duckdb.connect(**kwargs)
    else:
        if kwargs:
            raise ConfigError(f"unknown option(s) for engine='spark': {sorted(kwargs)}")
        session = spark if spark is not None else local_spark()
        con = ibis.pyspark.connect(session)
    _utc_session(con, engine)
    return con


def duckdb_database_file(con: Any) -> str | None:
    """The file of a DuckDB connection's current database (None: in memory)."""
    try:
        rows = con.raw_sql("SELECT path FROM duckdb_databases() "
                           "WHERE database_name = current_database()").fetchall()
    except Exception:  # pragma: no cover - DuckDB without duckdb_databases()
        return None
    return rows[0][0] if rows and rows[0][0] else None


def _file_backed_cache(con: Any) -> None:
    """On a DuckDB connection whose database is a **file**, ``Table.cache()`` (the materialised
    segments, the timing stages) creates ordinary tables in that file instead of temporary
    ones: DuckDB stores them compressed (dictionary / FSST text, bit-packed integers, ALP
    floats: about 7x smaller than a temporary table's uncompressed blocks, which is what
    spills to ``temp_directory`` beyond ``memory_limit``). They are still dropped when their
    expression is garbage-collected (Ibis' cache finaliser). In-memory databases keep
    temporary tables."""
    if getattr(con, "_tthc_file_cache", False) or duckdb_database_file(con) is None:
        return

    def create(name: str, expr: Any, _con: Any = con):
        return _con.create_table(name, expr, schema=expr.schema(), temp=False)

    con._create_cached_table = create
    con._tthc_file_cache = True


def _utc_session(con: Any, engine: str) -> None:
    """The session time zone = UTC, so that timestamp literals and naive casts are UTC.
    DuckDB with a database file: :func:`_file_backed_cache`."""
    if engine == "duckdb":
        _file_backed_cache(con)
        con.raw_sql("SET TimeZone = 'UTC'")
        try:  # Ibis 12 writes lambdas as `x -> ...`, which DuckDB 2 accepts only with this
            con.raw_sql("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
        except Exception:  # pragma: no cover - DuckDB before 1.3 has no such setting
            pass
    else:
        con._session.conf.set("spark.sql.session.timeZone", "UTC")


def _check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; use 'pandas', 'duckdb' or 'spark'")
    return engine


def _backend_of(con: Any) -> str:
    return "spark" if getattr(con, "name", "") == "pyspark" else "duckdb"


# ====================================================================== the log
@dataclass
class RelationalLog:
    """A dossier event log held by a relational engine (DuckDB or Spark) through Ibis.

    Attributes
    ----------
    events:
        Ibis table of the canonical event table (XES keys as in
        :class:`~tthc_mining.DossierLog`), plus ``tm:row`` (1-based global row number in file
        order, the tie-break of the event order) and ``tm:role`` (activity role, joined from
        ``roles``). Rows without dossier id, activity or end time are already removed (and
        counted in ``quality``).
    con:
        The Ibis connection (``ibis.duckdb`` or ``ibis.pyspark`` backend).
    backend:
        ``"duckdb"`` or ``"spark"``.
    calendar:
        The working calendar (see :mod:`tthc_mining.engines.axis` for the calendar table).
    roles:
        pandas DataFrame ``activity, role``: one row per distinct activity.
    quality:
        :class:`~tthc_mining.QualityReport`: rows read and rows dropped by reason.
    naive_columns:
        Timestamp columns without a time zone: taken as the calendar's local wall clock (as
        the pandas reader does); the others are instants, converted to the calendar's zone.
    """

    events: Any
    con: Any
    backend: str
    calendar: WorkingCalendar | None = None
    catalog: Any = None
    roles: pd.DataFrame | None = None
    quality: QualityReport = field(default_factory=QualityReport)
    source: str = "<data>"
    naive_columns: frozenset = frozenset()
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.calendar = resolve(self.calendar)

    # ------------------------------------------------------------------ counts
    def n_events(self) -> int:
        """Number of events (one COUNT query, cached)."""
        if "n_events" not in self._cache:
            self._cache["n_events"] = int(self.events.count().to_pyarrow().as_py())
        return self._cache["n_events"]

    def n_cases(self) -> int:
        """Number of dossiers (one COUNT DISTINCT query, cached)."""
        if "n_cases" not in self._cache:
            self._cache["n_cases"] = int(self.events[S.CASE].nunique().to_pyarrow().as_py())
        return self._cache["n_cases"]

    @property
    def columns(self) -> list[str]:
        return list(self.events.columns)

    @property
    def has_start(self) -> bool:
        """The table has a start-time column (possibly all empty)."""
        return S.START in self.events.columns

    def time_columns(self) -> list[str]:
        """Timestamp-typed columns of the event table."""
        return [c for c, t in self.events.schema().items() if t.is_timestamp()]

    # ------------------------------------------------------------------ views
    def with_events(self, events: Any) -> "RelationalLog":
        """A log over another table expression (a filter of these events), same connection,
        calendar, roles and catalog."""
        return RelationalLog(events=events, con=self.con, backend=self.backend,
                             calendar=self.calendar, catalog=self.catalog, roles=self.roles,
                             quality=self.quality, source=self.source,
                             naive_columns=self.naive_columns,
                             _cache={k: v for k, v in self._cache.items()
                                     if k in ("time_range",)})

    def filter(self, *, procedure: str | None = None) -> "RelationalLog":
        """The dossiers of one procedure (as :meth:`DossierLog.filter`)."""
        if procedure is None:
            return self
        if S.PROCEDURE not in self.events.columns:
            raise ConfigError("the log has no procedure column (case:procedure)")
        sub = self.events.filter(self.events[S.PROCEDURE] == procedure)
        if int(sub.count().to_pyarrow().as_py()) == 0:
            known = (self.events.select(p=self.events[S.PROCEDURE]).distinct()
                     .filter(lambda t: t.p.notnull()).order_by("p").limit(30)
                     .to_pyarrow().column("p").to_pylist())
            raise ConfigError(f"unknown procedure {procedure!r}; known: {', '.join(map(str, known))}")
        return self.with_events(sub)

    def to_pandas(self, limit: int | None = None) -> pd.DataFrame:
        """The events (or the first ``limit`` in the engine's order) as pandas: for small logs
        and tests only; the statistics never call it."""
        t = self.events.order_by([S.CASE, S.TIMESTAMP, S.ROW])
        if limit is not None:
            t = t.limit(limit)
        return t.to_pandas()

    def __repr__(self) -> str:
        return (f"RelationalLog({self.backend}: {self.source}; {self.quality.rows_read:,} rows "
                f"read, {self.quality.rows_dropped:,} dropped)")

    def _repr_html_(self) -> str:
        return (f"<p><b>RelationalLog</b> ({html.escape(self.backend)}) "
                f"{html.escape(str(self.source))}: {self.n_cases():,} dossiers, "
                f"{self.n_events():,} events; {self.quality.rows_dropped:,} rows dropped</p>")


# ====================================================================== reading Parquet
def _is_remote(p: str) -> bool:
    return "://" in p and not p.startswith("file://")


def resolve_paths(paths_or_glob: Any) -> list[str]:
    """Parquet file(s), a glob or a directory (all ``*.parquet`` / ``*.pq`` below it) -> the
    sorted list of files. Remote URIs (``s3://``, ``hdfs://`` ...) are returned unchanged (the
    engine expands them)."""
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, Path)) else list(paths_or_glob)
    if not items:
        raise InputError("no Parquet file given")
    out: list[str] = []
    for item in items:
        p = str(item)
        if _is_remote(p):
            out.append(p)
            continue
        if p.startswith("file://"):
            p = p[len("file://"):]
        if any(ch in p for ch in "*?["):
            found = sorted(f for f in _glob.glob(p, recursive=True) if os.path.isfile(f))
            if not found:
                raise InputError("no file matches this pattern", file=p)
            out.extend(found)
        elif os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).rglob("*")
                           if f.is_file() and f.suffix.lower() in (".parquet", ".pq")
                           and not f.name.startswith((".", "_")))
            if not found:
                raise InputError("the directory holds no .parquet file", file=p)
            out.extend(found)
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise InputError("file not found", file=p)
    return sorted(dict.fromkeys(out)) if not any(_is_remote(p) for p in out) else out


def _check_local_files(files: list[str]) -> frozenset:
    """Every local file is Parquet and has the required columns with usable types (the
    footer only; no data is read). Returns the timestamp columns stored without a time zone."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    naive: set[str] = set()
    for f in files:
        if _is_remote(f):
            continue
        if os.path.getsize(f) == 0:
            raise InputError("the file is empty", file=f)
        try:
            schema = pq.read_schema(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Parquet file ({exc})", file=f) from None
        names = list(schema.names)
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise MissingColumnError(missing, names, file=f)
        for c in (S.TIMESTAMP, S.START):
            if c in names:
                t = schema.field(c).type
                if not pa.types.is_timestamp(t):
                    raise InputError(
                        f"a timestamp column is stored as {t}; the relational engines read the "
                        "canonical table with typed timestamps (tm.write_log(log, 'x.parquet')); "
                        "read other layouts with engine='pandas'", file=f, column=c, value=str(t))
        naive |= {fl.name for fl in schema if pa.types.is_timestamp(fl.type) and fl.type.tz is None}
    return frozenset(naive)


def _raw_table(con: Any, backend: str, files: list[str], naive_hint: frozenset = frozenset()):
    """The Parquet files as one Ibis table with the file path and the row within the file,
    and the set of timestamp columns without a time zone."""
    if backend == "duckdb":
        t = con.read_parquet(files, filename=True, file_row_number=True, union_by_name=True)
        t = t.rename({_FILE_COL: "filename", _FILE_ROW_COL: "file_row_number"})
        # DuckDB 2 reads Parquet timestamp[ns, tz] as TIMESTAMPTZ_NS, a type Ibis 12 does not
        # know: microseconds, as Spark holds them (module docstring)
        import ibis.expr.datatypes as dt
        fix = {c: t[c].cast(dt.Timestamp(timezone="UTC", scale=6))
               for c, typ in t.schema().items()
               if typ.is_unknown() and "TIMESTAMPTZ" in str(typ).upper()}
        if fix:
            t = t.mutate(**fix)
        naive = frozenset(c for c, typ in t.schema().items()
                          if typ.is_timestamp() and typ.timezone is None)
        return t, naive
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType
    from pyspark.sql.types import LongType
    session = con._session
    # Spark refuses Parquet TIMESTAMP(NANOS) (what pandas writes) unless it reads them as
    # int64 ns; they become microsecond timestamps below (the module docstring)
    session.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    df = session.read.option("mergeSchema", "true").parquet(*files)
    naive = frozenset(f.name for f in df.schema.fields if isinstance(f.dataType, TimestampNTZType))
    ns_cols = {f.name for f in df.schema.fields
               if f.name in S.TIME_COLUMNS and isinstance(f.dataType, LongType)}
    # read as int64, a naive ns column lost its "no time zone" mark: the footers tell (local
    # files; remote ns columns are taken as instants)
    naive = naive | (ns_cols & naive_hint)
    cols = [F.timestamp_micros(F.expr(f"div(`{f.name}`, 1000)")).alias(f.name)
            if f.name in ns_cols else F.col(f"`{f.name}`") for f in df.schema.fields]
    df = df.select(*cols, F.col("_metadata.file_path").alias(_FILE_COL),
                   F.col("_metadata.row_index").alias(_FILE_ROW_COL))
    name = _gen_name("tthc_parquet")
    df.createOrReplaceTempView(name)
    return con.table(name), naive


def _gen_name(prefix: str) -> str:
    import uuid
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _register(con: Any, backend: str, frame: Any, prefix: str):
    """A small pandas / pyarrow table as an Ibis table on the connection (a temporary view)."""
    import pyarrow as pa
    name = _gen_name(prefix)
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    # timestamps in microseconds, as both engines hold them (the module docstring)
    fields = [pa.field(f.name, pa.timestamp("us", f.type.tz))
              if pa.types.is_timestamp(f.type) and f.type.unit == "ns" else f
              for f in table.schema]
    if any(a is not b for a, b in zip(fields, table.schema)):
        table = table.cast(pa.schema(fields), safe=False)
    if backend == "duckdb":
        con.con.register(name, table)
    else:
        df = con._session.createDataFrame(table.to_pandas())
        df.createOrReplaceTempView(name)
    return con.table(name)


def _blank(col: Any):
    """Missing text: NULL or only whitespace (as the pandas reader's trimming makes empty)."""
    return col.isnull() | (col.strip() == "")


def _checks(raw: Any, repair: bool) -> tuple[Any, dict]:
    """Ids as text, and the row checks as boolean expressions: ``c`` missing case id, ``a``
    missing activity, ``t`` missing end time (each row under its first reason), ``s`` a start
    after the end (the pandas reader's repair, with ``repair``)."""
    case, act = raw[S.CASE], raw[S.ACTIVITY]
    if not case.type().is_string():
        raw = raw.mutate(**{S.CASE: case.cast("string")})
    if not act.type().is_string():
        raw = raw.mutate(**{S.ACTIVITY: act.cast("string")})
    case, act, ts = raw[S.CASE], raw[S.ACTIVITY], raw[S.TIMESTAMP]
    no_case = _blank(case)
    no_act = ~no_case & _blank(act)
    no_ts = ~no_case & ~_blank(act) & ts.isnull()
    conds = {"c": no_case, "a": no_act, "t": no_ts}
    if repair and S.START in raw.columns:
        conds["s"] = ~no_case & ~_blank(act) & ts.notnull() & raw[S.START].notnull() \
            & (raw[S.START] > ts)
    return raw, conds


def _finish(raw: Any, *, con: Any, backend: str, calendar: Any, catalog: Any,
            roles: Mapping[str, str] | None, quality: QualityReport, source: str,
            role_pairs: pd.DataFrame | None = None, naive: frozenset = frozenset(),
            repair: bool = True, counts: dict | None = None) -> RelationalLog:
    """Drop (and count) unusable rows, cast ids to text, join the roles dimension.
    ``counts``: the rows and the checks' counts when already known (one query less)."""
    ibis = _ibis()
    raw, conds = _checks(raw, repair)
    no_case, no_act, no_ts = conds["c"], conds["a"], conds["t"]
    late_start = conds.get("s")
    if counts is None:
        counts = raw.aggregate(n=raw.count(), **{k: v.cast("int64").sum() for k, v in conds.items()}
                               ).to_pyarrow().to_pylist()[0]
    quality.rows_read = int(counts["n"] or 0)
    for reason, key, cond, col in (("missing_case_id", "c", no_case, S.CASE),
                                   ("missing_activity", "a", no_act, S.ACTIVITY),
                                   ("missing_timestamp", "t", no_ts, S.TIMESTAMP)):
        k = int(counts[key] or 0)
        if k:
            ex = (raw.filter(cond).select(r=raw[S.ROW]).order_by("r").limit(5)
                  .to_pyarrow().column("r").to_pylist())
            quality.add(reason, ex, action=DROPPED, column=col)
            quality.issues[-1].count = k  # the examples are 5 rows, the count is all of them
    if quality.rows_read == 0:
        raise InputError("no data rows", file=source)
    k = int(counts.get("s") or 0)
    if k:
        ex = (raw.filter(late_start).select(r=raw[S.ROW]).order_by("r").limit(5)
              .to_pyarrow().column("r").to_pylist())
        quality.add("end_before_start", ex, action=REPAIRED, column=S.START,
                    detail="start time after end time: start set to empty")
        quality.issues[-1].count = k
        raw = raw.mutate(**{S.START: (raw[S.START] > raw[S.TIMESTAMP]).ifelse(
            ibis.null(raw[S.START].type()), raw[S.START])})
    if any(int(counts[k] or 0) for k in ("c", "a", "t")):
        events = raw.filter(~_blank(raw[S.CASE]) & ~_blank(raw[S.ACTIVITY])
                            & raw[S.TIMESTAMP].notnull())
    else:  # nothing to drop: no filter to evaluate on every later query
        events = raw
    drop = [c for c in (S.ROLE, S.INJECTED) if c in events.columns]
    if drop:
        events = events.drop(*drop)
    # roles: computed on the distinct activities only, then joined
    if role_pairs is None:
        acts = (events.select(a=events[S.ACTIVITY]).distinct().to_pyarrow()
                .column("a").to_pylist())
        role_pairs = pd.DataFrame({"activity": pd.Series(acts, dtype=object),
                                   "role": pd.Series(assign_roles(acts, roles), dtype=object)})
        if roles:
            from ..roles import fold
            folded = {fold(a) for a in acts}
            missing = [k for k in roles if fold(k) not in folded]
            if missing:
                from ..quality import FLAGGED, QualityIssue
                quality.issues.append(QualityIssue(
                    "unknown_activity_in_role_mapping", FLAGGED, 0, [], S.ACTIVITY,
                    "not in the log: " + ", ".join(map(repr, missing[:10]))))
    dim = _register(con, backend, pd.DataFrame({"tm:role_activity": role_pairs["activity"].astype(str),
                                                S.ROLE: role_pairs["role"].astype(str)}),
                    "tthc_roles")
    joined = events.left_join(dim, events[S.ACTIVITY] == dim["tm:role_activity"])
    joined = joined.drop("tm:role_activity")
    return RelationalLog(events=joined, con=con, backend=backend, calendar=calendar,
                         catalog=catalog, roles=role_pairs.reset_index(drop=True),
                         quality=quality, source=source, naive_columns=naive)


def read_parquet(paths_or_glob: Any, engine: str = "duckdb", *, calendar: Any = None,
                 catalog: Any = None, roles: Mapping[str, str] | None = None,
                 spark: Any = None, con: Any = None, **connect_kwargs: Any) -> RelationalLog:
    """Open Parquet file(s) of the canonical event table as a :class:`RelationalLog`.

    ``paths_or_glob``: a file, a list of files, a glob (``"dossiers/*.parquet"``) or a
    directory of partitions (every ``.parquet`` below it); file order = paths sorted as text.
    The files hold the canonical event table as :func:`tthc_mining.write_log` writes it
    (``tm.write_log(log, "x.parquet")``): XES column names, typed timestamps. Nothing is loaded
    into pandas: the engine reads the files lazily.

    Rows without dossier id, activity or end time are removed and counted in ``quality``
    (``missing_case_id``, ``missing_activity``, ``missing_timestamp``) as the pandas reader
    counts them. The pandas reader's text repairs (NFC, trimming), case-attribute repairs and
    flags (duplicates, sync rows, events after close) are not repeated: a canonical file
    written by ``write_log`` already went through them.
    """
    engine = _check_engine(engine)
    files = resolve_paths(paths_or_glob)
    naive_hint = _check_local_files(files)
    con = connect(engine, spark=spark, con=con, **connect_kwargs)
    raw, naive = _raw_table(con, engine, files, naive_hint)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:  # remote files: checked on the engine's schema
        raise MissingColumnError(missing, [c for c in raw.columns
                                           if c not in (_FILE_COL, _FILE_ROW_COL)],
                                 file=", ".join(files[:3]))
    # global row number: rows of the files before this one (sorted by path) + row in file + 1
    # one scan: the rows of every file (for the global row number) and the row checks' counts
    checked, conds = _checks(raw, True)
    per_file = (checked.group_by(f=checked[_FILE_COL])
                .aggregate(n=checked.count(), **{k: v.cast("int64").sum() for k, v in conds.items()})
                .to_pyarrow().to_pandas())
    per_file = per_file.sort_values("f", kind="stable").reset_index(drop=True)
    counts = {k: int(per_file[k].fillna(0).sum()) for k in ["n", *conds]}
    offsets = np.concatenate([[0], np.cumsum(per_file["n"].to_numpy(np.int64))[:-1]])
    if len(per_file) == 1:
        raw = raw.mutate(**{S.ROW: raw[_FILE_ROW_COL].cast("int64") + 1})
    else:
        dim = _register(con, engine, pd.DataFrame({"tm:off_file": per_file["f"].astype(str),
                                                   "tm:offset": offsets.astype(np.int64)}),
                        "tthc_files")
        raw = raw.join(dim, raw[_FILE_COL] == dim["tm:off_file"])
        raw = raw.mutate(**{S.ROW: raw["tm:offset"] + raw[_FILE_ROW_COL].cast("int64") + 1})
        raw = raw.drop("tm:off_file", "tm:offset")
    raw = raw.drop(_FILE_COL, _FILE_ROW_COL)
    source = files[0] if len(files) == 1 else f"{len(files)} Parquet files ({files[0]} ...)"
    quality = QualityReport(source=source)
    quality.meta.update({"kind": "parquet", "engine": engine, "files": len(files)})
    return _finish(raw, con=con, backend=engine, calendar=calendar, catalog=catalog,
                   roles=roles, quality=quality, source=source, naive=naive, counts=counts)


def from_log(log: Any, engine: str = "duckdb", *, spark: Any = None, con: Any = None,
             **connect_kwargs: Any) -> RelationalLog:
    """Register an in-memory :class:`~tthc_mining.DossierLog` with a relational engine (for
    tests and for moving a pandas log to DuckDB/Spark). The events keep the pandas engine's
    order: ``tm:row`` is set to the position in ``log.events`` (1-based); roles are the log's
    own (``tm:role``)."""
    from ..log import DossierLog
    if not isinstance(log, DossierLog):
        raise ConfigError(f"from_log expects a DossierLog, not {type(log).__name__}")
    engine = _check_engine(engine)
    con = connect(engine, spark=spark, con=con, **connect_kwargs)
    ev = log.events
    cols = {}
    for c in ev.columns:
        if c in (S.ROLE, S.INJECTED, S.ROW):
            continue
        s = ev[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s.dtype):
            s = s.astype(object).where(s.notna(), None)
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC")
        cols[c] = s.reset_index(drop=True)
    frame = pd.DataFrame(cols)
    frame[S.ROW] = np.arange(1, len(frame) + 1, dtype=np.int64)
    events = _register(con, engine, frame, "tthc_events")
    if S.ROLE in ev.columns:
        codes, acts = pd.factorize(ev[S.ACTIVITY])
        first = np.unique(codes[codes >= 0], return_index=True)[1] if len(codes) else []
        role_pairs = pd.DataFrame({"activity": pd.Series(np.asarray(acts.astype(object)), dtype=object),
                                   "role": pd.Series(ev[S.ROLE].to_numpy(dtype=object)[np.flatnonzero(codes >= 0)[first]]
                                                     if len(codes) else [], dtype=object)})
    else:
        role_pairs = None
    naive = frozenset(c for c in ev.columns if pd.api.types.is_datetime64_dtype(ev[c].dtype)
                      and not isinstance(ev[c].dtype, pd.DatetimeTZDtype))
    out = _finish(events, con=con, backend=engine, calendar=log.calendar, catalog=log.catalog,
                  roles=None, quality=QualityReport(source=str(log.source)),
                  source=str(log.source), role_pairs=role_pairs, naive=naive, repair=False)
    out.quality = QualityReport(source=log.quality.source, rows_read=log.quality.rows_read,
                                issues=list(log.quality.issues), meta=dict(log.quality.meta))
    if S.GROUP in ev.columns:  # the pandas engine's unit codes (tie-break of dominant units)
        _, units = log.codes(S.GROUP)
        out._cache["group_order"] = [str(u) for u in units]
    return out
