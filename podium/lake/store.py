"""The lake: Delta tables and blobs under one base URL, local folder or s3://, one code path."""

from __future__ import annotations

import functools
import logging
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pa_fs
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from podium import tracing
from podium.errors import UserError
from podium.lake.file_cache import FileCache
from podium.lake.keyed_reader import KeyedReader
from podium.lake.tables import ADDED_COLUMNS, PRIMARY_KEYS, SCHEMAS

if TYPE_CHECKING:
    from podium.settings import Settings

T = TypeVar("T")

# Point readers cache an index of the table's row groups: one per table URL and key, so every
# Lake object of a process (one per request in the gateway) shares it.
_READERS: dict[tuple[str, str], KeyedReader] = {}
_READERS_LOCK = threading.Lock()


# Opened tables kept for reuse, per table URL and storage options: a snapshot is taken out
# (one user at a time), brought to the table's latest version (`update_incremental`: a listing
# of the log after its version, and a GET per newer commit) and put back after the operation.
# It only saves replaying the log from the last checkpoint (a dozen ranged GETs of the
# checkpoint and up to ~10 commits on S3): every use still reads the latest version from the
# store, exactly as a fresh open does, so N replicas never act on a stale one.
_POOL: dict[tuple[str, tuple[tuple[str, str], ...]], list[DeltaTable]] = {}
_POOL_LOCK = threading.Lock()
_POOL_SIZE = 4  # idle snapshots kept per table (threads using one table at once)
# Tables opened at a given version (time travel: `Lake.at_version`), the most recently used
# versions kept: a version never changes, so these are reused without a request.
_PINNED: OrderedDict[tuple[str, tuple[tuple[str, str], ...], int], list[DeltaTable]] = OrderedDict()
_PINNED_VERSIONS = 32

# One file cache per process (`podium.lake.file_cache`), sized by the first Lake that reads.
_FILE_CACHE: FileCache | None = None


def _file_cache(max_bytes: int) -> FileCache:
    global _FILE_CACHE
    with _POOL_LOCK:
        if _FILE_CACHE is None:
            _FILE_CACHE = FileCache(max_bytes)
        return _FILE_CACHE


CHECKPOINT_INTERVAL = "delta.checkpointInterval"
# DataFusion prunes files by their statistics for an IN list of up to 20 values (it rewrites
# longer lists into no pruning at all); longer key lists are given as their range instead.
_PRUNE_LIST_MAX = 20
# The writer's own batch (delta-rs writes data files in batches of 1,024 rows): a file with
# fewer rows is one a small MERGE wrote, not a compaction.
_SMALL_FILE_ROWS = 1024
_REWRITE_BATCH_ROWS = 1024
COMPACTION = "podium.compaction"  # commit metadata of a compaction

logger = logging.getLogger("podium.lake")

F = TypeVar("F", bound=Callable[..., Any])


def _traced(operation: str) -> Callable[[F], F]:
    """A span `lake.<operation>` around a Lake method whose first argument names the table (or
    the blob's path); a no-op while tracing is off (bench/talk_path.py sums them)."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def traced(self: Lake, name: str, *args: Any, **kwargs: Any) -> Any:
            with tracing.span(f"lake.{operation}", {"lake.table": name.split("/", 1)[0]}):
                return method(self, name, *args, **kwargs)

        return traced  # type: ignore[return-value]

    return decorate


class LakeError(UserError, RuntimeError):
    """A lake operation failed in a way the caller should report."""


@dataclass(frozen=True)
class MergeStats:
    """What an upsert changed."""

    inserted: int = 0
    updated: int = 0
    # What it read, not what it changed: left out of equality.
    files_scanned: int = field(default=0, compare=False)  # target data files the MERGE read
    files_skipped: int = field(default=0, compare=False)  # ruled out by their statistics

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


def sql_list(values: Iterable[str]) -> str:
    """A SQL string list for Delta predicates, quotes escaped: ('a', 'b''s')."""
    quoted = ["'" + str(v).replace("'", "''") + "'" for v in values]
    return "(" + ", ".join(quoted) + ")"


@dataclass
class Lake:
    """Tables (Delta) and blobs (fsspec) under `url`.

    Args:
        url: a local path, file://..., or s3://bucket/prefix.
        storage_options: delta-rs object-store options (S3 endpoint, keys, ...).
        fs_options: fsspec options for blobs (s3fs client kwargs, ...).
        write_retries: retries of a commit that lost a race with another writer.
        checkpoint_interval: `delta.checkpointInterval` of every table (set on creation and
            on an older table when opened); 0 leaves each table's own.
        compact_after_files: a MERGE leaving more data files than this compacts the table;
            0 never.
        reuse_tables: bring a table opened before (by any Lake of this process) up to date
            instead of opening it afresh (see `_POOL`).
        file_cache_bytes: keep data files read by `read` in memory up to this many bytes per
            process (`podium.lake.file_cache`); 0 reads them from the store every time.
        prune_merges: give every MERGE the source's keys as a filter on the target, so that it
            reads only the data files whose key statistics can hold them (`_key_filter`).
        compact_file_bytes: the data file size a compaction aims at (rows sorted by key, so
            that a compacted file covers a narrow key range).
    """

    url: str
    storage_options: dict[str, str] = field(default_factory=dict)
    fs_options: dict[str, Any] = field(default_factory=dict)
    write_retries: int = 8
    checkpoint_interval: int = 10
    compact_after_files: int = 24
    reuse_tables: bool = True
    file_cache_bytes: int = 0
    prune_merges: bool = True
    compact_file_bytes: int = 2**20

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if self.url.startswith("file://"):
            self.url = self.url[len("file://") :]
        self.is_remote = "://" in self.url
        protocol = self.url.split("://", 1)[0] if self.is_remote else "file"
        self._fs = fsspec.filesystem(protocol, **self.fs_options)
        if not self.is_remote:
            self._fs.makedirs(self.url, exist_ok=True)
        self._migrated: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        """Build the lake from `podium.settings.Settings`."""
        lake = settings.lake
        storage: dict[str, str] = {}
        fs: dict[str, Any] = {}
        url = settings.lake_url
        if url.startswith("s3://"):
            storage["AWS_REGION"] = lake.s3_region
            fs["client_kwargs"] = {"region_name": lake.s3_region}
            if lake.s3_endpoint_url:
                storage["AWS_ENDPOINT_URL"] = lake.s3_endpoint_url
                fs["endpoint_url"] = lake.s3_endpoint_url
                if lake.s3_endpoint_url.startswith("http://"):
                    storage["AWS_ALLOW_HTTP"] = "true"
            if lake.s3_access_key_id and lake.s3_secret_access_key:
                storage["AWS_ACCESS_KEY_ID"] = lake.s3_access_key_id.get_secret_value()
                storage["AWS_SECRET_ACCESS_KEY"] = lake.s3_secret_access_key.get_secret_value()
                fs["key"] = storage["AWS_ACCESS_KEY_ID"]
                fs["secret"] = storage["AWS_SECRET_ACCESS_KEY"]
            if lake.s3_allow_unsafe_rename:
                storage["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
            elif lake.s3_conditional_put:
                # Two writers racing for the same commit number: only one conditional put of
                # _delta_log/<n>.json succeeds, the other retries on top of it.
                storage["conditional_put"] = lake.s3_conditional_put
        return cls(
            url,
            storage,
            fs,
            lake.write_retries,
            checkpoint_interval=lake.checkpoint_interval,
            compact_after_files=lake.compact_after_files,
            reuse_tables=lake.reuse_tables,
            file_cache_bytes=lake.file_cache_mib * 2**20,
            prune_merges=lake.prune_merges,
            compact_file_bytes=lake.compact_file_kib * 2**10,
        )

    def __repr__(self) -> str:  # never show storage options: they hold keys
        return f"Lake({self.url!r})"

    # ---- tables -------------------------------------------------------------------------

    def table_uri(self, name: str) -> str:
        return f"{self.url}/tables/{name}"

    def _table(self, name: str) -> DeltaTable | None:
        with tracing.span("lake.open", {"lake.table": name}):
            return self._open(name)

    def _pool_key(self, name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.table_uri(name), tuple(sorted(self.storage_options.items()))

    def _reused(self, name: str) -> DeltaTable | None:
        """An idle snapshot of `name`, brought to the table's latest version; None if none."""
        if not self.reuse_tables:
            return None
        with _POOL_LOCK:
            idle = _POOL.get(self._pool_key(name))
            table = idle.pop() if idle else None
        if table is None:
            return None
        try:
            table.update_incremental()
        except Exception:  # noqa: BLE001 - a fresh open decides (and raises what it raises)
            return None
        return table

    def _release(self, name: str, table: DeltaTable | None) -> None:
        """Put back a table that an operation of this Lake opened and no longer uses."""
        if table is None or not self.reuse_tables:
            return
        with _POOL_LOCK:
            idle = _POOL.setdefault(self._pool_key(name), [])
            if len(idle) < _POOL_SIZE and all(t is not table for t in idle):
                idle.append(table)

    def at_version(self, name: str, version: int) -> DeltaTable:
        """The table as it was at `version` (time travel), for reading; hand it back with
        `release_version` when done. A version never changes, so one opened before (by any
        Lake of this process) is reused as it is: no request at all.

        Raises what delta-rs raises when the version cannot be read."""
        key = (*self._pool_key(name), version)
        if self.reuse_tables:
            with _POOL_LOCK:
                idle = _PINNED.get(key)
                if idle:
                    _PINNED.move_to_end(key)
                    return idle.pop()
        with tracing.span("lake.open_version", {"lake.table": name}):
            return DeltaTable(
                self.table_uri(name), version=version, storage_options=self.storage_options
            )

    def release_version(self, name: str, table: DeltaTable) -> None:
        """Hand back a table from `at_version` that its reader no longer uses."""
        if not self.reuse_tables:
            return
        key = (*self._pool_key(name), table.version())
        with _POOL_LOCK:
            idle = _PINNED.setdefault(key, [])
            _PINNED.move_to_end(key)
            if len(idle) < _POOL_SIZE and all(t is not table for t in idle):
                idle.append(table)
            while len(_PINNED) > _PINNED_VERSIONS:
                _PINNED.popitem(last=False)

    def dataset(self, name: str, table: DeltaTable) -> Any:
        """`table.to_pyarrow_dataset()`, its files read through the process's file cache
        when there is one (`file_cache_bytes`)."""
        if not self.file_cache_bytes:
            return table.to_pyarrow_dataset()
        return table.to_pyarrow_dataset(filesystem=self._cached_files(name, table))

    def _cached_files(self, name: str, table: DeltaTable) -> pa_fs.PyFileSystem:
        from deltalake.fs import DeltaStorageHandler

        from podium.lake.file_cache import CachedFiles

        raw = table._table  # what `to_pyarrow_dataset` builds its own filesystem from
        sizes = raw.get_add_file_sizes()
        inner = DeltaStorageHandler.from_table(raw, self.storage_options, sizes)
        return pa_fs.PyFileSystem(
            CachedFiles(inner, _file_cache(self.file_cache_bytes), self.table_uri(name), sizes)
        )

    def _open(self, name: str) -> DeltaTable | None:
        table = self._reused(name)
        if table is None:
            try:
                table = DeltaTable(self.table_uri(name), storage_options=self.storage_options)
            except TableNotFoundError:
                return None
        if name in ADDED_COLUMNS and name not in self._migrated:
            table = self._add_columns(name, table)
        if self.checkpoint_interval and table.metadata().configuration.get(
            CHECKPOINT_INTERVAL
        ) != str(self.checkpoint_interval):
            table = self._set_checkpoint_interval(name, table)
        return table

    def _configuration(self) -> dict[str, str | None] | None:
        """Table properties of a table created now."""
        if not self.checkpoint_interval:
            return None
        return {CHECKPOINT_INTERVAL: str(self.checkpoint_interval)}

    def _set_checkpoint_interval(self, name: str, table: DeltaTable) -> DeltaTable:
        # A table created before the property (or with delta-rs's default of 100) gets it once,
        # and a checkpoint at once: its next open reads no commit before this one. A writer
        # racing the property's commit retries (a metadata change), and of two processes
        # setting it at once the loser finds it set. Only a speed-up: a process that may not
        # write (read-only credentials) reads on without it.
        try:
            table.alter.set_table_properties(
                {CHECKPOINT_INTERVAL: str(self.checkpoint_interval)}, raise_if_not_exists=False
            )
            table.create_checkpoint()
        except Exception as error:
            logger.warning(
                "could not set %s on table %s (%s)", CHECKPOINT_INTERVAL, name, type(error).__name__
            )
            table = DeltaTable(self.table_uri(name), storage_options=self.storage_options)
        return table

    def _add_columns(self, name: str, table: DeltaTable) -> DeltaTable:
        # A table created before a column was added to its schema gets it (null) once; a
        # concurrent process doing the same first is fine, the columns are then there.
        from deltalake.schema import Field as DeltaField

        have = set(table.schema().to_arrow().names)
        missing = [c for c in ADDED_COLUMNS[name] if c not in have]
        if missing:
            fields = [
                DeltaField.from_arrow(SCHEMAS[name].field(c))  # type: ignore[arg-type]
                for c in missing
            ]
            try:
                table.alter.add_columns(fields)
            except Exception:
                table.update_incremental()
                if any(c not in table.schema().to_arrow().names for c in missing):
                    raise
            table = DeltaTable(self.table_uri(name), storage_options=self.storage_options)
        self._migrated.add(name)
        return table

    def keyed_reader(self, name: str, *, key: str) -> KeyedReader:
        """A point reader of `name` by `key`, shared by every Lake on the same URL."""
        uri = self.table_uri(name)
        with _READERS_LOCK:
            reader = _READERS.get((uri, key))
            if reader is None:
                reader = KeyedReader(name, key, lambda: self._table(name))
                _READERS[(uri, key)] = reader
            return reader

    def exists(self, name: str) -> bool:
        table = self._table(name)
        self._release(name, table)
        return table is not None

    def ping(self) -> None:
        """Raise unless the lake's root is reachable; reads only (a readiness probe)."""
        if self.is_remote:
            self._fs.info(self.url.split("://", 1)[1].split("/", 1)[0])  # the bucket
        elif not self._fs.isdir(self.url):
            raise NotADirectoryError(f"the lake folder is missing: {self.url}")

    def version(self, name: str) -> int | None:
        """The table's current Delta version, None when it does not exist yet."""
        table = self._table(name)
        version = None if table is None else table.version()
        self._release(name, table)
        return version

    @_traced("read")
    def read(
        self,
        name: str,
        *,
        columns: list[str] | None = None,
        where: list[tuple[str, str, Any]] | None = None,
    ) -> pd.DataFrame:
        """Read a table (or an empty frame with its columns when it does not exist yet).

        Args:
            name: table name.
            columns: columns to read; all when None.
            where: pyarrow-style filters, e.g. [("talk_id", "in", ids)].
        """
        table = self._table(name)
        if table is None:
            return _empty(name, columns)
        schema = SCHEMAS[name]
        if where:
            if any(op in ("in", "not in") and not len(value) for _, op, value in where):
                self._release(name, table)
                return _empty(name, columns)
        data = self.read_rows(name, table, columns=columns, where=where)
        self._release(name, table)
        target = pa.schema([schema.field(n) for n in data.column_names if n in schema.names])
        return data.select(target.names).cast(target).to_pandas()

    def read_rows(
        self,
        name: str,
        table: DeltaTable,
        *,
        columns: list[str] | None = None,
        where: list[tuple[str, str, Any]] | None = None,
    ) -> pa.Table:
        """The rows of `table` (an open version of `name`: latest or pinned) matching `where`,
        as Arrow; through the process's file cache when there is one."""
        if self.file_cache_bytes:
            return self._read_cached(name, table, columns, where)
        if where:
            # DataFusion SQL: pyarrow's dataset filters trip over the string_view columns that
            # Delta MERGE writes, and this path prunes files by their statistics too.
            from deltalake import QueryBuilder

            select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
            predicate = " AND ".join(_sql_term(c, op, v) for c, op, v in where)
            reader = (
                QueryBuilder()
                .register("t", table)
                .execute(f"SELECT {select} FROM t WHERE {predicate}")
            )
            return pa.table(reader.read_all())
        return table.to_pyarrow_dataset().to_table(columns=columns)

    def _read_cached(
        self,
        name: str,
        table: DeltaTable,
        columns: list[str] | None,
        where: list[tuple[str, str, Any]] | None,
    ) -> pa.Table:
        """`read` through the process's file cache (`podium.lake.file_cache`): the files of
        the version `table` holds (pruned by their statistics in the log, as DataFusion's scan
        does), each read whole once and from memory after; then the rows filtered here (no
        pushdown: pyarrow's trips over the string_view statistics that Delta MERGE writes)."""
        schema = SCHEMAS[name]
        files = self._cached_files(name, table)
        predicate = " AND ".join(_sql_term(c, op, v) for c, op, v in where or [])
        dataset = table.to_pyarrow_dataset(
            filesystem=files, file_pruning_predicate=predicate or None
        )
        wanted = list(
            dict.fromkeys([*(columns or dataset.schema.names), *(c for c, _, _ in where or [])])
        )
        data = dataset.to_table(columns=wanted)
        target = pa.schema([schema.field(n) for n in data.column_names if n in schema.names])
        data = data.select(target.names).cast(target)
        if where:
            data = data.filter(_arrow_filter(data, where))
        return data.select(columns) if columns else data

    def arrow(self, name: str, frame: pd.DataFrame) -> pa.Table:
        """Rows as an Arrow table of the table's schema (columns checked, types cast)."""
        schema = SCHEMAS[name]
        optional = ADDED_COLUMNS.get(name, ())
        missing = [c for c in schema.names if c not in frame.columns and c not in optional]
        if missing:
            raise LakeError(f"{name}: rows lack columns {missing}")
        frame = frame.assign(**{c: None for c in optional if c not in frame.columns})
        return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)

    def retrying(self, action: Callable[[], T]) -> T:
        """Run a Delta commit, retrying one that lost a race with jittered backoff."""
        retrying = Retrying(
            stop=stop_after_attempt(self.write_retries + 1),
            # Full jitter up to 50 ms, 100 ms, … 2 s: racing writers spread out.
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            retry=retry_if_exception_type(CommitFailedError),
            reraise=True,
        )
        return retrying(action)

    def append(
        self, name: str, frame: pd.DataFrame, *, writer_properties: WriterProperties | None = None
    ) -> int:
        """Append rows; returns how many.

        Args:
            name: table name.
            frame: rows with the table's columns.
            writer_properties: Parquet options (e.g. small row groups for point lookups).
        """
        if frame.empty:
            return 0
        return self._write(name, frame, mode="append", writer_properties=writer_properties)

    def overwrite(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        writer_properties: WriterProperties | None = None,
        commit_properties: CommitProperties | None = None,
    ) -> int:
        """Replace the whole table (old versions stay for time travel).

        Args:
            name: table name.
            frame: the new rows.
            writer_properties: Parquet options.
            commit_properties: app transactions / metadata committed atomically with the rows.
        """
        return self._write(
            name,
            frame,
            mode="overwrite",
            writer_properties=writer_properties,
            commit_properties=commit_properties,
        )

    def replace_where(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        predicate: str,
        writer_properties: WriterProperties | None = None,
    ) -> int:
        """Atomically delete the rows matching `predicate` and write `frame` in their place.

        Every row of `frame` must match the predicate (Delta's replaceWhere).
        """
        if not self.exists(name):
            return self.append(name, frame, writer_properties=writer_properties)
        return self._write(
            name, frame, mode="overwrite", predicate=predicate, writer_properties=writer_properties
        )

    @_traced("write")
    def _write(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        mode: Literal["append", "overwrite"],
        predicate: str | None = None,
        writer_properties: WriterProperties | None = None,
        commit_properties: CommitProperties | None = None,
    ) -> int:
        data = self.arrow(name, frame)
        if mode == "overwrite":
            # A plain overwrite is a blind write to delta-rs: two racing from one version (or
            # to create the table) both commit, the loser rebased onto the winner's version
            # with nothing of it removed, and every row is there twice. Given a predicate
            # (all rows), it reads the table and conflicts with any commit after that version,
            # so the loser fails and is retried. The table must exist for that.
            if not self.exists(name):
                self._create(name)
            predicate = predicate or "true"
        if name in ADDED_COLUMNS:  # opening an older table adds the columns it lacks
            self._release(name, self._table(name))
        # Table properties take effect only when this write creates the table.
        configuration = self._configuration()
        self.retrying(
            lambda: write_deltalake(  # type: ignore[misc]  # the stubs' overloads, as below
                self.table_uri(name),
                data,
                mode=mode,  # type: ignore[arg-type]  # the stubs overload on literal modes
                predicate=predicate,
                writer_properties=writer_properties,  # type: ignore[arg-type]
                storage_options=self.storage_options,
                commit_properties=commit_properties,
                configuration=configuration,
            )
        )
        return len(frame)

    def _create(self, name: str) -> None:
        """Create an empty table; a concurrent creator winning the race is fine."""
        try:
            DeltaTable.create(
                self.table_uri(name),
                SCHEMAS[name],
                mode="ignore",
                configuration=self._configuration(),
                storage_options=self.storage_options,
            )
        except Exception:
            if not self.exists(name):
                raise

    def delete(self, name: str, *, predicate: str) -> int:
        """Delete rows matching a SQL predicate; returns how many."""
        if not self.exists(name):
            return 0

        def action() -> int:
            table = self._table(name)
            assert table is not None
            metrics = table.delete(predicate)
            self._release(name, table)
            return int(metrics.get("num_deleted_rows", 0))

        return self.retrying(action)

    @_traced("upsert")
    def upsert(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        keys: tuple[str, ...] | None = None,
        changed_when: str | None = None,
        matched_set: dict[str, str] | None = None,
    ) -> MergeStats:
        """MERGE rows by primary key.

        Args:
            name: table name.
            frame: rows to insert or update (at most one row per key).
            keys: key columns; the table's primary key by default.
            changed_when: SQL over `t.` (target) and `s.` (source) deciding whether a matched
                row is rewritten, e.g. "t.record_hash != s.record_hash". Unchanged rows cost
                nothing, so re-delivering identical data is a no-op.
            matched_set: column -> SQL expression replacing `s.<column>` on a rewritten row,
                e.g. {"revision": "COALESCE(t.revision, 0) + 1"} (evaluated at commit time,
                so a MERGE retried after a conflict counts from the winner's row).
        """
        if frame.empty:
            return MergeStats()
        keys = keys or PRIMARY_KEYS[name]
        if frame.duplicated(list(keys)).any():
            raise LakeError(f"{name}: duplicate keys in one upsert")
        opened = self._table(name)
        if opened is None:
            # Create the table empty, then MERGE like any other write: two processes appending
            # the first rows at once would both succeed and leave duplicate keys.
            self._create(name)
        handle = _Handle(self, name, opened)
        data = self.arrow(name, frame)
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys) + self._key_filter(keys[0], data)
        # Added columns the rows leave out keep their value on a matched row (a writer that
        # predates them must not erase them).
        kept = [c for c in ADDED_COLUMNS.get(name, ()) if c not in frame.columns]

        def action() -> MergeStats:
            table = handle.fresh()
            merger = table.merge(data, predicate=on, source_alias="s", target_alias="t")
            if kept or matched_set:
                updates = {c: f"s.{c}" for c in data.column_names if c not in kept}
                updates.update(matched_set or {})
                merger = merger.when_matched_update(updates, predicate=changed_when)
            else:
                merger = merger.when_matched_update_all(predicate=changed_when)
            metrics = merger.when_not_matched_insert_all().execute()
            return MergeStats(
                inserted=int(metrics.get("num_target_rows_inserted", 0)),
                updated=int(metrics.get("num_target_rows_updated", 0)),
                files_scanned=int(metrics.get("num_target_files_scanned", 0)),
                files_skipped=int(metrics.get("num_target_files_skipped_during_scan", 0)),
            )

        stats = self.retrying(action)
        self._compact_if_many_files(handle)
        self._release(name, handle.table)
        return stats

    @_traced("update_matched")
    def update_matched(
        self,
        name: str,
        source: pa.Table,
        *,
        on: str,
        clauses: list[tuple[str, dict[str, str]]],
        key: str | None = None,
    ) -> int:
        """A conditional MERGE that only updates: the rows of `name` matching `source`.

        Args:
            name: table name.
            source: source rows (alias `s`); any columns, e.g. the expected version.
            on: SQL matching target (`t.`) rows to source rows, e.g. "t.id = s.id".
            clauses: (predicate, {column: SQL expression}) pairs, tried in order: a matched
                row is updated by the first clause whose predicate holds, else left as is.
                The predicates are what make a write conditional (a version check, a lease).
            key: a column that `on` equates between target and source (`t.key = s.key`);
                the source's values of it then narrow the files the MERGE reads.

        Returns:
            How many rows were updated.
        """
        if source.num_rows == 0:
            return 0
        opened = self._table(name)
        if opened is None:
            return 0
        handle = _Handle(self, name, opened)
        if key is not None:
            on += self._key_filter(key, source)

        def action() -> int:
            table = handle.fresh()
            merger = table.merge(source, predicate=on, source_alias="s", target_alias="t")
            for predicate, updates in clauses:
                merger = merger.when_matched_update(updates, predicate=predicate)
            metrics = merger.execute()
            return int(metrics.get("num_target_rows_updated", 0))

        updated = self.retrying(action)
        self._compact_if_many_files(handle)
        self._release(name, handle.table)
        return updated

    def _key_filter(self, column: str, source: pa.Table) -> str:
        """` AND <a predicate on t.column>` holding for every target row that can match a
        source row of a MERGE whose ON clause equates `t.column = s.column`, else ''.

        delta-rs scans every data file of the target for `t.k = s.k` alone: with random talk
        ids, every MERGE of one talk read the whole table (a few GETs a file on S3). Given the
        source's values as literals, DataFusion skips the files whose min/max statistics rule
        them out; the rows matched are the same (`s.k` is always one of the values). Delta's
        conflict check reads the same predicate, so two MERGEs of different talks no longer
        conflict, while two of the same talk still do (tests/podium/lake/test_merge_pruning.py).
        """
        if not self.prune_merges or column not in source.column_names:
            return ""
        values = source.column(column)
        if values.null_count or not pa.types.is_string(values.type):
            return ""
        distinct = pc.unique(values).to_pylist()
        if len(distinct) <= _PRUNE_LIST_MAX:
            return f" AND t.{column} IN {sql_list(sorted(distinct))}"
        # A longer IN list is not used for file pruning: the source's key range is.
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        return f" AND t.{column} >= {_sql_value(low)} AND t.{column} <= {_sql_value(high)}"

    def _compact_if_many_files(self, handle: _Handle) -> None:
        """Compact the table a MERGE just wrote when it holds too many data files.

        Each MERGE adds files (rewritten ones and inserted rows) and reads every file whose
        key range it cannot rule out, a few requests each on S3: left alone until the nightly
        maintenance, a hot table's MERGEs get slower with every commit.

        Not delta-rs's `optimize.compact`: two of those racing from the same version both
        commit (their removes carry dataChange=false and are not checked against each other),
        and the table then holds every row twice (tests/podium/lake/test_lake_history.py saw
        it). This compaction is an overwrite of the whole table with its own rows, committed
        against the version it read (like `versions.Snapshot.write`): any commit after that
        version, a MERGE, an append or another compaction, makes it fail, and it is dropped
        (the next MERGE tries again); a MERGE that loses to it is retried on the new version.
        """
        table = handle.table
        if not self.compact_after_files or table is None:
            return
        if _small_files(table) <= self.compact_after_files:
            return
        self._rewrite(handle.name, table)

    def _rewrite(self, name: str, table: DeltaTable) -> bool:
        """Rewrite the table's rows into as few files as it takes, against the version `table`
        holds; False when another writer committed after that version (nothing written)."""
        schema = SCHEMAS[name]
        data = self.dataset(name, table).to_table()  # mostly files just read: from memory
        # Sorted by key, the files written cover narrow key ranges, so that a MERGE given its
        # keys (`_key_filter`) reads one or a few of them. (The writer hands batches to its
        # files in turn, so neighbouring files' ranges overlap a little.)
        keys = [(k, "ascending") for k in PRIMARY_KEYS.get(name, ())]
        data = data.select(schema.names).cast(schema).sort_by(keys)
        try:
            write_deltalake(  # type: ignore[call-overload]  # the stubs' literal overloads
                table,
                data.to_batches(max_chunksize=_REWRITE_BATCH_ROWS),
                mode="overwrite",
                target_file_size=self.compact_file_bytes,
                commit_properties=CommitProperties(custom_metadata={COMPACTION: "true"}),
            )
        except CommitFailedError:
            logger.info("compaction of %s lost a race with another writer; next time", name)
            return False
        return True

    def compact(self, name: str) -> None:
        """Compact small files and drop unreferenced ones older than the retention period.

        The compaction of `_compact_if_many_files` (safe beside any other writer, compaction
        included), retried until it commits."""
        table = self._table(name)
        if table is None:
            return

        def action() -> None:
            current = self._table(name)
            assert current is not None
            if len(current.file_uris()) > 1 and not self._rewrite(name, current):
                raise CommitFailedError("compaction lost a race")

        self.retrying(action)
        table = self._table(name)
        assert table is not None
        table.vacuum(dry_run=False)

    # ---- blobs --------------------------------------------------------------------------

    def blob_url(self, path: str) -> str:
        """The full URL of a blob; refuses paths that could leave the lake (see `_check_blob`)."""
        return f"{self.url}/{_check_blob_path(path)}"

    def put_blob(self, path: str, data: bytes, *, content_type: str | None = None) -> str:
        """Write bytes at `path` under the lake; returns the blob's full URL.

        `content_type` becomes the object's Content-Type on S3, so whatever serves the blob
        (a browser, a CDN) gets a cover as what it is; a local lake has nowhere to keep it.
        """
        url = self.blob_url(path)
        parent = url.rsplit("/", 1)[0]
        if not self.is_remote:
            self._fs.makedirs(parent, exist_ok=True)
        options = {"ContentType": content_type} if content_type and url.startswith("s3") else {}
        with self._fs.open(url, "wb", **options) as handle:
            handle.write(data)
        return url

    @_traced("create_blob")
    def create_blob(self, path: str, data: bytes) -> bool:
        """Write bytes at `path` only if nothing is there yet; False when something was.

        Atomic on both backends: a local lake links a complete temp file into place (a
        reader never sees half a blob), S3 puts with If-None-Match (a conditional put; AWS,
        MinIO, R2 and moto honour it). Of concurrent creators exactly one gets True.
        """
        url = self.blob_url(path)
        if self.is_remote:
            try:
                with self._fs.open(url, "xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
            return True
        import os
        import tempfile

        parent = url.rsplit("/", 1)[0]
        self._fs.makedirs(parent, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=parent, prefix=".create-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            try:
                os.link(temp, url)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(temp)

    @_traced("list_blobs")
    def list_blobs(self, prefix: str) -> list[str]:
        """Paths (relative to the lake) of every blob under `prefix`, fresh from the store."""
        url = self.blob_url(prefix)
        self._fs.invalidate_cache(url)
        base = self.url.split("://", 1)[-1].rstrip("/") + "/"
        found = self._fs.find(url) if self._fs.exists(url) else []
        return sorted(
            f.split("://", 1)[-1].removeprefix(base)
            for f in found
            if not f.rsplit("/", 1)[-1].startswith(".create-")
        )

    @_traced("get_blob")
    def get_blob(self, path: str) -> bytes:
        url = self.blob_url(path)
        # s3fs caches listings (sizes included): a blob rewritten by another process since
        # would be read short. Ask the store for its size (one HEAD, as without a listing).
        self._fs.invalidate_cache(url)
        with self._fs.open(url, "rb") as handle:
            return handle.read()

    def blob_exists(self, path: str) -> bool:
        return bool(self._fs.exists(self.blob_url(path)))

    @_traced("delete_blob")
    def delete_blob(self, path: str) -> None:
        self._fs.rm(self.blob_url(path))

    def blob_modified(self, path: str) -> datetime:
        """When the store last wrote the blob, by the store's own clock (S3 LastModified)."""
        url = self.blob_url(path)
        self._fs.invalidate_cache(url)
        stamped = self._fs.modified(url)
        return stamped if stamped.tzinfo is not None else stamped.replace(tzinfo=UTC)


class _Handle:
    """The table a MERGE works on: the snapshot just opened for its first attempt (one open,
    not two), the table as it is now for a retry, and the table as the MERGE left it."""

    def __init__(self, lake: Lake, name: str, opened: DeltaTable | None) -> None:
        self.lake = lake
        self.name = name
        self.table = opened
        self._unused = opened is not None

    def fresh(self) -> DeltaTable:
        if not self._unused:  # a retry (or a table created just now): open it as it is now
            self.table = self.lake._table(self.name)
        self._unused = False
        assert self.table is not None
        return self.table


def _check_blob_path(path: str) -> str:
    # The last line of defence: whatever built `path` (an id from a request, a row read back
    # from a table), a blob never resolves outside the lake's base URL.
    relative = path.lstrip("/")
    if "\x00" in relative or "\\" in relative:
        raise LakeError(f"blob path {path!r} contains NUL or a backslash")
    if any(part in ("", ".", "..") for part in relative.split("/")):
        raise LakeError(f"blob path {path!r} has an empty, '.' or '..' segment")
    return relative


def _small_files(table: DeltaTable) -> int:
    """The table's data files of fewer than `_SMALL_FILE_ROWS` rows: those that MERGEs
    inserting a few rows leave behind. A compaction's own files hold more and are not counted,
    or a large table would be compacted after every MERGE."""
    rows = pa.table(table.get_add_actions(flatten=True)).column("num_records")
    return int(pc.sum(pc.less(pc.fill_null(rows, 0), _SMALL_FILE_ROWS)).as_py() or 0)


def _empty(name: str, columns: list[str] | None) -> pd.DataFrame:
    frame = SCHEMAS[name].empty_table().to_pandas()
    return frame[columns] if columns else frame


def _sql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_COMPARISONS = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _arrow_filter(data: pa.Table, where: list[tuple[str, str, Any]]) -> pc.Expression:
    """`where` as a pyarrow expression with SQL's meaning: a null never matches (not even
    `!=` or `not in`), as in the DataFusion path."""
    terms = []
    for column, op, value in where:
        field = pc.field(column)
        kind = data.schema.field(column).type
        if op in ("in", "not in"):
            found = field.isin(pa.array(list(value), type=kind))
            terms.append(found if op == "in" else ~found & field.is_valid())
            continue
        compare = _COMPARISONS.get(op)
        if compare is None:
            raise LakeError(f"unsupported filter operator {op!r}")
        terms.append(compare(field, pa.scalar(value, type=kind)))
    return functools.reduce(operator.and_, terms)


def _sql_term(column: str, op: str, value: Any) -> str:
    ref = f'"{column}"'
    if op in ("in", "not in"):
        values = ", ".join(_sql_value(v) for v in value)
        return f"{ref} {op.upper()} ({values})"
    if op == "==":
        op = "="
    if op not in ("=", "!=", "<", "<=", ">", ">="):
        raise LakeError(f"unsupported filter operator {op!r}")
    return f"{ref} {op} {_sql_value(value)}"
