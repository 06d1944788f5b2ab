"""Owner of the `recommendations` and `related_talks` tables: every read and write of them.

Recommendations are written sorted by event in small row groups, so a lookup of one event is
a point read (usually one row group) through the lake's `KeyedReader`. Each build writes each
table in one commit: the whole table, or only the rows of the events / talks it rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
from deltalake import WriterProperties

from podium.lake.store import Lake, sql_list
from podium.lake.versions import Bookmark, Snapshot

RECOMMENDATIONS = "recommendations"
RELATED = "related_talks"
# + a source table's name: the Delta app transaction recording the source version (+ 1, so 0
# says "no table yet") that the recommendations reflect (`podium.use_cases.derived`).
BOOKMARK_APP = "podium.recommendations."
RECOMMENDATION_COLUMNS = [
    "event_id", "rank", "talk_id", "score", "matched_tags", "components", "model_version",
    "computed_at",
]  # fmt: skip


def pin_recommendations(*, lake: Lake) -> Snapshot:
    """The recommendations table pinned at its current version (created empty if missing).

    A build pins the table before it reads its sources and commits through the pin
    (`write_recommendations(pinned=...)`): if another build committed meanwhile the commit
    fails and the build starts over, so builds by several processes land in source order.
    """
    if not lake.exists(RECOMMENDATIONS):
        lake._create(RECOMMENDATIONS)
    pinned = Snapshot.open(lake, RECOMMENDATIONS)
    assert pinned is not None  # just created
    return pinned


def recommendations_bookmark(
    pinned: Snapshot, sources: Sequence[str]
) -> dict[str, int | None] | None:
    """The source versions the pinned recommendations reflect (None: unknown, rebuild all)."""
    marks = {name: pinned.app_version(BOOKMARK_APP + name) for name in sources}
    found = {name: mark for name, mark in marks.items() if mark is not None}
    if len(found) < len(marks):
        return None
    return {name: None if mark == 0 else mark - 1 for name, mark in found.items()}


def read_recommendations_bookmark(
    *, lake: Lake, sources: Sequence[str]
) -> dict[str, int | None] | None:
    """The source versions the current recommendations reflect; None when the table or its
    bookmark is missing. Reads the log only; writes nothing."""
    with Snapshot.borrowed(lake, RECOMMENDATIONS) as pinned:
        return None if pinned is None else recommendations_bookmark(pinned, sources)


def recommendations_bookmark_of(versions: dict[str, int | None]) -> Bookmark:
    """The bookmark saying the rows reflect these source versions (committed with them)."""
    return Bookmark(
        apps={BOOKMARK_APP + name: 0 if v is None else v + 1 for name, v in versions.items()},
        metadata={"podium.recommendations.versions": json.dumps(versions, sort_keys=True)},
    )


def write_recommendations(
    *,
    lake: Lake,
    rows: pd.DataFrame,
    row_group_rows: int,
    event_ids: Sequence[str] | None = None,
    pinned: Snapshot | None = None,
    bookmark: Bookmark | None = None,
) -> int:
    """Write recommendation rows sorted by event, in small row groups, in one commit.

    Sorted rows and small row groups give every row group a narrow event_id range in its
    statistics, which is what lets a lookup read one row group instead of the table.

    Args:
        lake: the lake.
        rows: rows of the recommendations table.
        row_group_rows: rows per Parquet row group.
        event_ids: replace only these events' rows (the events rebuilt); None overwrites the
            table.
        pinned: commit against this pin (`pin_recommendations`, taken before the build read
            its sources); the commit fails with `CommitFailedError` if another build
            committed since. None: commit against the newest version.
        bookmark: source versions to record in the same commit (with `pinned` only).

    Returns:
        Rows written.
    """
    rows = rows.sort_values(["event_id", "rank"], kind="stable")
    properties = WriterProperties(max_row_group_size=row_group_rows)
    if pinned is not None:
        if event_ids is not None and not len(event_ids) and bookmark is None:
            return 0
        predicate = None if event_ids is None else f"event_id IN {sql_list(event_ids or [''])}"
        return pinned.write(
            rows, predicate=predicate, bookmark=bookmark, writer_properties=properties
        )
    if event_ids is None:
        return lake.overwrite(RECOMMENDATIONS, rows, writer_properties=properties)
    if not len(event_ids):
        return 0
    # Creates the table on the first build.
    return lake.replace_where(
        RECOMMENDATIONS,
        rows,
        predicate=f"event_id IN {sql_list(event_ids)}",
        writer_properties=properties,
    )


def read_event_recommendations(
    *, lake: Lake, event_id: str, columns: list[str], max_staleness_s: float = 1.0
) -> pa.Table | None:
    """One event's rows (a point read), or None when the table does not exist yet.

    Args:
        lake: the lake.
        event_id: the event.
        columns: columns to return.
        max_staleness_s: look for a newer table version at most this often.
    """
    reader = lake.keyed_reader(RECOMMENDATIONS, key="event_id")
    return reader.rows(event_id, columns, max_staleness_s=max_staleness_s)


def read_recommendations(
    *, lake: Lake, columns: list[str] | None = None, event_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """The recommendations table (exports, tests, the demo's progress): some columns and
    events, or all of them."""
    where = None if event_ids is None else [("event_id", "in", list(event_ids))]
    return lake.read(RECOMMENDATIONS, columns=columns, where=where)


def write_related(*, lake: Lake, rows: pd.DataFrame, talk_ids: Sequence[str] | None = None) -> int:
    """Write related-talk rows in one commit.

    Args:
        lake: the lake.
        rows: rows of the related_talks table.
        talk_ids: replace only these talks' rows; None overwrites the table.
    """
    if talk_ids is None:
        return lake.overwrite(RELATED, rows)
    if not len(talk_ids):
        return 0
    return lake.replace_where(RELATED, rows, predicate=f"talk_id IN {sql_list(talk_ids)}")


def table_versions(*, lake: Lake) -> tuple[int | None, int | None]:
    """(recommendations, related_talks) Delta versions: a cache of reads follows them."""
    return lake.version(RECOMMENDATIONS), lake.version(RELATED)


def related_talk_ids(*, lake: Lake) -> set[str]:
    """Talks that have related-talk rows."""
    return set(lake.read(RELATED, columns=["talk_id"])["talk_id"])


def read_related(*, lake: Lake, talk_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Related-talk rows (talk_id, rank, other_id, score, computed_at) of some talks or all."""
    where = None if talk_ids is None else [("talk_id", "in", list(talk_ids))]
    return lake.read(RELATED, where=where)
