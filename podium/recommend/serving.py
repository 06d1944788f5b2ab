"""Read one event's precomputed recommendations: no model, no scan of the talks.

The recommendations table is written sorted by event in small row groups. The first lookup
against a table version indexes the event_id range of every row group from the parquet
footers (the files come from the Delta snapshot); each lookup then reads only the row groups
whose range holds the event, usually one. Before each lookup the snapshot is brought up to date
(`update_incremental`, a listing of the Delta log) at most once per `max_staleness_s`.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from podium.lake import SCHEMAS, Lake


class RecommendationError(LookupError):
    """Base class of lookup errors; `str()` is a one-line message for people."""


class UnknownEventError(RecommendationError):
    """The event id is not in the `events` table."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"unknown event {event_id!r}")
        self.event_id = event_id


class RecommendationsNotBuiltError(RecommendationError):
    """The event exists but has no recommendation table yet."""

    def __init__(self, event_id: str, *, table_missing: bool) -> None:
        reason = (
            "no recommendations have been built yet"
            if table_missing
            else (f"recommendations for event {event_id!r} are not built yet")
        )
        super().__init__(f"{reason}; run the build-recommendations flow")
        self.event_id = event_id
        self.table_missing = table_missing


COLUMNS = ["rank", "talk_id", "score", "matched_tags", "components", "model_version", "computed_at"]


@dataclass
class _RowGroupIndex:
    """Event-id ranges of a table version's row groups, sorted by range start."""

    table: DeltaTable
    version: int
    starts: list[str]
    ends: np.ndarray
    groups: list[Any]  # one parquet fragment per row group
    max_end: list[str]  # running maximum of `ends`, for the bisection
    checked_at: float = 0.0  # monotonic time of the last look for a newer version


_INDEXES: dict[str, _RowGroupIndex] = {}
_LOCK = threading.Lock()


def _event_id_column(metadata: Any) -> int:
    for j in range(metadata.num_columns):
        if metadata.schema.column(j).path == "event_id":
            return j
    raise LookupError("recommendations table has no event_id column")


def _build_index(table: DeltaTable) -> _RowGroupIndex:
    entries = []
    for fragment in table.to_pyarrow_dataset().get_fragments():
        metadata = fragment.metadata
        column = _event_id_column(metadata)
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


def _index(lake: Lake, max_staleness_s: float) -> _RowGroupIndex | None:
    uri = lake.table_uri("recommendations")
    now = time.monotonic()
    with _LOCK:
        cached = _INDEXES.get(uri)
        if cached is not None and now - cached.checked_at < max_staleness_s:
            return cached
        if cached is None:
            try:
                table = DeltaTable(uri, storage_options=lake.storage_options)
            except TableNotFoundError:
                return None
        else:
            table = cached.table
            table.update_incremental()
            if table.version() == cached.version:
                cached.checked_at = now
                return cached
        index = _build_index(table)
        index.checked_at = now
        _INDEXES[uri] = index
        return index


def _read_event(index: _RowGroupIndex, event_id: str) -> pa.Table:
    # Row groups whose [start, end] holds event_id: start <= id (bisect) and end >= id.
    stop = bisect.bisect_right(index.starts, event_id)
    first = bisect.bisect_left(index.max_end, event_id, hi=stop)
    parts = []
    for i in range(first, stop):
        if index.ends[i] >= event_id:
            data = index.groups[i].to_table(columns=["event_id", *COLUMNS])
            # Compare as plain strings: files rewritten by Delta may hold string_view.
            keep = pc.equal(data.column("event_id").cast(pa.string()), event_id)
            parts.append(data.filter(keep))
    if not parts:
        return SCHEMAS["recommendations"].empty_table().select(COLUMNS)
    target = pa.schema([SCHEMAS["recommendations"].field(c) for c in COLUMNS])
    return pa.concat_tables([p.select(COLUMNS).cast(target) for p in parts])


def lookup_recommendations(
    *, lake: Lake, event_id: str, max_staleness_s: float = 1.0
) -> pd.DataFrame:
    """The event's recommendations, best first.

    Args:
        lake: the lake.
        event_id: the event.
        max_staleness_s: look for a newer table version at most this often (a listing of
            the Delta log; on S3 a request). 0 looks every time.

    Returns:
        Columns rank, talk_id, score, matched_tags (list), components (dict), model_version,
        computed_at.

    Raises:
        UnknownEventError: no such event.
        RecommendationsNotBuiltError: the event exists but its table is not built yet.
    """
    index = _index(lake, max_staleness_s)
    rows = _read_event(index, event_id).to_pandas() if index is not None else pd.DataFrame()
    if rows.empty:
        known = lake.read("events", columns=["event_id"], where=[("event_id", "=", event_id)])
        if known.empty:
            raise UnknownEventError(event_id)
        raise RecommendationsNotBuiltError(event_id, table_missing=index is None)
    rows = rows.sort_values("rank").reset_index(drop=True)
    rows["matched_tags"] = rows["matched_tags"].apply(lambda v: [str(t) for t in v])
    rows["components"] = rows["components"].apply(json.loads)
    return rows
