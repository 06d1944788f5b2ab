"""Point reads by key from a Delta table written sorted by that key in small row groups.

The first read against a table version indexes the key range of every row group from the
parquet footers (the files come from the Delta snapshot); each read then opens only the row
groups whose range holds the key, usually one. Before a read the snapshot is brought up to date
(`update_incremental`, a listing of the Delta log) at most once per `max_staleness_s`.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from podium.lake.tables import SCHEMAS


@dataclass
class _RowGroupIndex:
    """Key ranges of a table version's row groups, sorted by range start."""

    table: DeltaTable
    version: int
    starts: list[str]
    ends: np.ndarray
    groups: list[Any]  # one parquet fragment per row group
    max_end: list[str]  # running maximum of `ends`, for the bisection
    checked_at: float = 0.0  # monotonic time of the last look for a newer version


def _column_index(metadata: Any, key: str) -> int:
    for j in range(metadata.num_columns):
        if metadata.schema.column(j).path == key:
            return j
    raise LookupError(f"table has no {key} column")


def _build_index(table: DeltaTable, key: str) -> _RowGroupIndex:
    entries = []
    for fragment in table.to_pyarrow_dataset().get_fragments():
        metadata = fragment.metadata
        column = _column_index(metadata, key)
        for group, part in zip(
            range(metadata.num_row_groups), fragment.split_by_row_group(), strict=True
        ):
            stats = metadata.row_group(group).column(column).statistics
            if stats is None or not stats.has_min_max:  # no statistics: always read it
                entries.append(("", "\U0010ffff", part))
            else:
                entries.append((str(stats.min), str(stats.max), part))
    entries.sort(key=lambda e: e[0])
    ends = [e[1] for e in entries]
    running = list(np.maximum.accumulate(np.asarray(ends, dtype=object))) if ends else []
    return _RowGroupIndex(
        table=table,
        version=table.version(),
        starts=[e[0] for e in entries],
        ends=np.asarray(ends, dtype=object),
        groups=[e[2] for e in entries],
        max_end=running,
    )


class KeyedReader:
    """Reads the rows of one key value; one reader per (table, key), shared across threads.

    Args:
        name: the table (its schema comes from `podium.lake.tables.SCHEMAS`).
        key: the string column the table is sorted by.
        open_table: opens the table's current snapshot, or returns None when it does not exist.
    """

    def __init__(self, name: str, key: str, open_table: Any) -> None:
        self.name = name
        self.key = key
        self._open_table = open_table
        self._index: _RowGroupIndex | None = None
        self._lock = threading.Lock()

    def _current(self, max_staleness_s: float) -> _RowGroupIndex | None:
        now = time.monotonic()
        with self._lock:
            cached = self._index
            if cached is not None and now - cached.checked_at < max_staleness_s:
                return cached
            if cached is None:
                table = self._open_table()
                if table is None:
                    return None
            else:
                table = cached.table
                table.update_incremental()
                if table.version() == cached.version:
                    cached.checked_at = now
                    return cached
            index = _build_index(table, self.key)
            index.checked_at = now
            self._index = index
            return index

    def rows(
        self, value: str, columns: list[str], *, max_staleness_s: float = 1.0
    ) -> pa.Table | None:
        """The rows whose key equals `value` (given columns), or None when the table is missing."""
        index = self._current(max_staleness_s)
        if index is None:
            return None
        # Row groups whose [start, end] holds value: start <= value (bisect) and end >= value.
        stop = bisect.bisect_right(index.starts, value)
        first = bisect.bisect_left(index.max_end, value, hi=stop)
        parts = []
        for i in range(first, stop):
            if index.ends[i] >= value:
                data = index.groups[i].to_table(columns=[self.key, *columns])
                # Compare as plain strings: files rewritten by Delta may hold string_view.
                keep = pc.equal(data.column(self.key).cast(pa.string()), value)
                parts.append(data.filter(keep))
        schema = SCHEMAS[self.name]
        if not parts:
            return schema.empty_table().select(columns)
        target = pa.schema([schema.field(c) for c in columns])
        return pa.concat_tables([p.select(columns).cast(target) for p in parts])
