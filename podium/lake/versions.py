"""Table versions: reading a table as it was, finding what changed between two versions, and
committing against a pinned snapshot with a bookmark in the same commit.

Derived tables that must apply each change exactly once (`podium.tag_counts`) need Delta's
time travel, its app transactions (`txn` actions) and a commit that fails when another writer
got there first. Those live here, behind plain Python types, so that no module outside
`podium/lake/` opens Delta.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import (
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import DeltaError

from podium.lake.store import Lake
from podium.lake.tables import SCHEMAS


class VersionUnavailable(RuntimeError):
    """A table version could not be read (vacuumed away, or a broken file)."""


@dataclass(frozen=True)
class Bookmark:
    """App transactions committed atomically with the rows they bookmark.

    Args:
        apps: app id -> a non-negative version number (Delta `txn` actions).
        metadata: commit metadata, readable in the table history.
    """

    apps: Mapping[str, int]
    metadata: Mapping[str, str]

    def commit_properties(self) -> CommitProperties:
        return CommitProperties(
            app_transactions=[Transaction(app, version) for app, version in self.apps.items()],
            custom_metadata=dict(self.metadata),
        )


def _cast(name: str, data: pa.Table) -> pd.DataFrame:
    schema = SCHEMAS[name]
    return data.cast(pa.schema([schema.field(c) for c in data.column_names])).to_pandas()


def empty(name: str, columns: list[str]) -> pd.DataFrame:
    """No rows, with `columns` of table `name`."""
    return _cast(name, pa.schema([SCHEMAS[name].field(c) for c in columns]).empty_table())


def read_version(
    lake: Lake,
    name: str,
    version: int | None,
    *,
    columns: list[str],
    key: str = "talk_id",
    keys: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Rows of `name` as they were at `version` (None: the table did not exist: no rows).

    Args:
        lake: the lake.
        name: table name.
        version: a Delta version of the table.
        columns: columns to read.
        key: the column `keys` select on.
        keys: only rows whose `key` is one of these; all rows when None.

    Raises:
        VersionUnavailable: the version can no longer be read.
    """
    if version is None:
        return empty(name, columns)
    wanted = None if keys is None else list(keys)
    if wanted == []:
        return empty(name, columns)
    return _cast(name, _read_arrow(lake, name, version, columns, key, wanted))


def _read_arrow(
    lake: Lake, name: str, version: int, columns: list[str], key: str, keys: list[str] | None
) -> pa.Table:
    try:
        table = lake.at_version(name, version)
        where = None if keys is None else [(key, "in", keys)]
        data = lake.read_rows(name, table, columns=columns, where=where)
        lake.release_version(name, table)
        return data
    except (DeltaError, OSError) as error:
        raise VersionUnavailable(f"{name}@{version}: {type(error).__name__}") from error


def changed_keys(
    lake: Lake, name: str, old: int | None, new: int | None, *, key: str = "talk_id"
) -> set[str]:
    """Values of `key` whose rows differ between two versions of a table.

    A MERGE or delete rewrites whole files, so the keys in files removed or added since `old`
    are a superset of the keys whose rows changed: a MERGE also rewrites the unchanged rows
    that share a file with a changed one, and a compaction (`Lake` rewrites a table once it
    holds many small files) rewrites every file. Those candidates' rows are then compared at
    both versions, so a compaction reads as no change rather than as every talk changed
    (which would recount every talk and rebuild every event's recommendations).

    Raises:
        VersionUnavailable: a version can no longer be read.
    """
    if new is None or old == new:
        return set()
    try:
        new_table = lake.at_version(name, new)
        new_ds = lake.dataset(name, new_table)
        new_frags = {f.path: f for f in new_ds.get_fragments()}
        old_frags = {}
        old_table = None
        if old is not None:
            old_table = lake.at_version(name, old)
            old_ds = lake.dataset(name, old_table)
            old_frags = {f.path: f for f in old_ds.get_fragments()}
        found: set[str] = set()
        for path in set(new_frags) ^ set(old_frags):
            fragment = new_frags.get(path) or old_frags[path]
            column = fragment.to_table(columns=[key]).column(key)
            found.update(pc.unique(column).to_pylist())
        lake.release_version(name, new_table)
        if old_table is not None:
            lake.release_version(name, old_table)
        if old is None or not found:
            return found
        # Columns added between the versions are not compared: a column added to the table
        # changes no row's meaning (its rows read null until a writer sets them).
        columns = [c for c in new_ds.schema.names if c in set(old_ds.schema.names)]
    except (DeltaError, OSError) as error:
        raise VersionUnavailable(f"{name} {old}..{new}: {type(error).__name__}") from error
    candidates = sorted(found)
    before = _rows_by_key(_read_arrow(lake, name, old, columns, key, candidates), key)
    after = _rows_by_key(_read_arrow(lake, name, new, columns, key, candidates), key)
    return {k for k in found if before.get(k) != after.get(k)}


def _rows_by_key(table: pa.Table, key: str) -> dict[str, Counter[tuple[object, ...]]]:
    """Each key's rows as a multiset of comparable tuples (lists as tuples, NaN as itself)."""
    rows: dict[str, Counter[tuple[object, ...]]] = {}
    names = table.column_names
    for record in table.to_pylist():
        row = tuple(_comparable(record[n]) for n in names)
        rows.setdefault(record[key], Counter())[row] += 1
    return rows


def _comparable(value: object) -> object:
    if isinstance(value, list):
        return tuple(_comparable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _comparable(v)) for k, v in value.items()))
    if isinstance(value, float) and math.isnan(value):
        return "NaN"  # NaN != NaN would make an unchanged row look changed
    return value


class Snapshot:
    """One table pinned at its current version: reads see that version, and a commit made
    through it fails if another writer committed after it (`Lake.retrying` starts over)."""

    def __init__(self, lake: Lake, name: str, table: DeltaTable) -> None:
        self.lake, self.name, self._table = lake, name, table

    @classmethod
    def open(cls, lake: Lake, name: str) -> Snapshot | None:
        """The table at its current version; None when it does not exist yet."""
        # A table the process opened before, brought to the latest version (`Lake._table`);
        # the snapshot keeps it (it may commit through it), so it is not handed back.
        table = lake._table(name)
        return None if table is None else cls(lake, name, table)

    @classmethod
    @contextmanager
    def borrowed(cls, lake: Lake, name: str) -> Iterator[Snapshot | None]:
        """`open` for the length of a block, after which the table goes back to the process's
        reuse (`Lake._release`) and the snapshot is not used again. Only a saving: the next
        user brings the table to the latest version."""
        snapshot = cls.open(lake, name)
        try:
            yield snapshot
        finally:
            if snapshot is not None:
                lake._release(name, snapshot._table)

    def app_version(self, app: str) -> int | None:
        """The version an app transaction recorded in this snapshot, None when none."""
        return self._table.transaction_version(app)

    def rows_where_in(self, columns: list[str], column: str, values: list[str]) -> pd.DataFrame:
        """Rows whose `column` is one of `values`, at the pinned version."""
        if not values:
            return empty(self.name, columns)
        rows = self.lake.read_rows(
            self.name, self._table, columns=columns, where=[(column, "in", values)]
        )
        return _cast(self.name, rows)

    def commit_bookmark(self, bookmark: Bookmark) -> None:
        """Commit no rows, only the bookmark (the next diff starts from here)."""
        self._table.create_write_transaction(
            [],
            mode="append",
            schema=self._table.schema(),
            commit_properties=bookmark.commit_properties(),
        )

    @property
    def version(self) -> int:
        """The pinned Delta version."""
        return int(self._table.version())

    def write(
        self,
        rows: pd.DataFrame,
        *,
        predicate: str | None = None,
        bookmark: Bookmark | None = None,
        writer_properties: WriterProperties | None = None,
    ) -> int:
        """Replace the rows matching `predicate` (None: the whole table) with `rows`, and
        commit `bookmark` with them, against the pinned version: the commit fails
        (`CommitFailedError`, which `Lake.retrying` retries) if another writer committed
        after the pin, so a build computed from older sources never lands over a newer one.
        Returns rows written."""
        write_deltalake(  # type: ignore[call-overload]  # the stubs want a WriterProperties
            self._table,
            self.lake.arrow(self.name, rows),
            mode="overwrite",
            predicate=predicate,
            writer_properties=writer_properties,
            commit_properties=None if bookmark is None else bookmark.commit_properties(),
        )
        return len(rows)

    def merge_counts(
        self, rows: pd.DataFrame, *, keys: list[str], value: str, bookmark: Bookmark
    ) -> int:
        """Upsert `rows` by `keys`, deleting rows whose `value` is not positive, and the
        bookmark, in one commit against the pinned version; returns rows deleted."""
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        metrics = (
            self._table.merge(
                self.lake.arrow(self.name, rows),
                predicate=on,
                source_alias="s",
                target_alias="t",
                commit_properties=bookmark.commit_properties(),
            )
            .when_matched_delete(predicate=f"s.{value} <= 0")
            .when_matched_update_all(predicate=f"s.{value} > 0")
            .when_not_matched_insert_all(predicate=f"s.{value} > 0")
            .execute()
        )
        return int(metrics.get("num_target_rows_deleted", 0))


def overwrite_with_bookmark(
    lake: Lake, name: str, frame: pd.DataFrame, *, bookmark: Bookmark
) -> int:
    """Replace the whole table and commit the bookmark with it."""
    return lake.overwrite(name, frame, commit_properties=bookmark.commit_properties())


def metadata_json(values: Mapping[str, object]) -> str:
    """A commit-metadata value (sorted JSON)."""
    return json.dumps(values, sort_keys=True)
