"""Tag counts: how many talks carry each tag, overall, per event and per state.

A talk's tags are the union of its speaker tags (`talks.tags`) and its `talk_tags` rows; a talk
counts once per tag in each group. Deleted talks count nowhere.

Two ways to the same table, tested to agree:

- `recompute_tag_counts` rebuilds everything from `talks` and `talk_tags`.
- `update_tag_counts` applies only what changed since the last run. It finds the changed talks
  from the Delta logs (files added or removed since the table versions it last counted), reads
  those talks as they were then (Delta time travel) and as they are now, and adds the
  difference to the stored counts. Trusting a caller's list of changed talks alone would lose
  changes, since a debounced trigger passes only the last event.

Exactly once: the bookmark (the source versions counted so far) is not a separate blob but Delta
app transactions (`txn` actions, one per source table) in the very commit that writes the
counts. A run that dies before that commit changed nothing; one that dies after it left counts
and bookmark in step, so the retry starts from there. Each run reads the bookmark and the stored
counts from one pinned snapshot of `tag_counts` and commits against it; if another run
committed in between, delta-rs refuses the commit and the run starts over from the new state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from podium.ingest import EVENTS, TALKS
from podium.lake import Lake
from podium.lake.versions import (
    Bookmark,
    Snapshot,
    VersionUnavailable,
    changed_keys,
    empty,
    metadata_json,
    overwrite_with_bookmark,
    read_version,
)
from podium.models import normalise_tag
from podium.talk_tags import TABLE as TALK_TAGS

SCOPES = ("all", "event", "state")
UNCOUNTED_STATES = frozenset({"deleted"})
STATE_BLOB = "state/tag_counts.json"  # the bookmark of older versions, read once to migrate
BOOKMARK_APP = "podium.tag_counts."  # + source table name: a Delta app transaction id
TABLE = "tag_counts"
_SOURCES = (TALKS, TALK_TAGS)  # read at pinned versions; their owners write them
_KEY = ["scope", "key", "tag"]


@dataclass(frozen=True)
class TagCountRun:
    """What one aggregation did."""

    mode: str  # "full" or "incremental"
    talks_changed: int
    rows_written: int
    rows_deleted: int
    versions: dict[str, int | None]
    changed_talk_ids: tuple[str, ...] = ()
    touched_tags: tuple[str, ...] = ()  # tags the changed talks carried before or after
    touched_events: tuple[str, ...] = ()  # events the changed talks were listed at


def talk_tag_pairs(talks: pd.DataFrame, talk_tags: pd.DataFrame) -> pd.DataFrame:
    """(talk_id, tag) pairs: speaker tags from `talks.tags` plus `talk_tags` rows, deduplicated.

    Args:
        talks: rows with `talk_id` and `tags` (list of strings).
        talk_tags: rows with `talk_id` and `tag`.
    """
    speaker = talks[["talk_id", "tags"]].explode("tags").dropna(subset=["tags"])
    speaker = speaker.rename(columns={"tags": "tag"})
    both = pd.concat([speaker[["talk_id", "tag"]], talk_tags[["talk_id", "tag"]]])
    both["tag"] = both["tag"].map(normalise_tag)
    both = both[both["tag"] != ""]
    return both.drop_duplicates().reset_index(drop=True)


def contributions(talks: pd.DataFrame, talk_tags: pd.DataFrame) -> pd.DataFrame:
    """One row per (scope, key, tag, talk_id) a talk adds 1 to.

    Args:
        talks: rows with `talk_id`, `tags`, `event_ids`, `state`.
        talk_tags: rows with `talk_id`, `tag` (only talks present in `talks` count).
    """
    live = talks[~talks["state"].isin(UNCOUNTED_STATES)]
    pairs = talk_tag_pairs(live, talk_tags[talk_tags["talk_id"].isin(live["talk_id"])])
    overall = pairs.assign(scope="all", key="")
    by_state = pairs.merge(live[["talk_id", "state"]], on="talk_id").rename(
        columns={"state": "key"}
    )
    by_state["scope"] = "state"
    events = live[["talk_id", "event_ids"]].explode("event_ids").dropna(subset=["event_ids"])
    by_event = pairs.merge(events, on="talk_id").rename(columns={"event_ids": "key"})
    by_event["scope"] = "event"
    out = pd.concat([overall, by_state, by_event], ignore_index=True)
    return out[["scope", "key", "tag", "talk_id"]].drop_duplicates()


def count(contrib: pd.DataFrame) -> pd.DataFrame:
    """Group contributions into (scope, key, tag, talks), sorted by key."""
    if contrib.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in _KEY}).assign(
            talks=pd.Series(dtype="int64")
        )
    counts = contrib.groupby(_KEY, sort=True).size().rename("talks").reset_index()
    counts["talks"] = counts["talks"].astype("int64")
    return counts


# Memory bound of counting, whatever the lake holds (the audit's one 24 KB talk of 1,500 tags
# x 1,500 event ids became 2.25 M contribution rows and 523 MiB before limits held):
# - each talk counts with at most COUNTED_PER_TALK tags and event ids (the first, sorted; the
#   sources refuse more than `limits.max_*_per_talk` <= this, so only rows recorded before the
#   limits held are cut);
# - per-event rows (tags x event ids) are built a chunk of at most about CHUNK_ROWS at a time
#   and folded into running counts, so the transient size never depends on the input.
COUNTED_PER_TALK = 200
CHUNK_ROWS = 200_000


def _first_per_talk(frame: pd.DataFrame, column: str, most: int) -> pd.DataFrame:
    frame = frame.sort_values(["talk_id", column], kind="stable")
    return frame[frame.groupby("talk_id").cumcount() < most]


def count_bounded(
    talks: pd.DataFrame, talk_tags: pd.DataFrame, *, chunk_rows: int = CHUNK_ROWS
) -> pd.DataFrame:
    """`count(contributions(talks, talk_tags))` in bounded memory (see `COUNTED_PER_TALK`).

    Same columns and order as `count`; the per-event scope is counted chunk by chunk.
    """
    live = talks[~talks["state"].isin(UNCOUNTED_STATES)]
    pairs = talk_tag_pairs(live, talk_tags[talk_tags["talk_id"].isin(live["talk_id"])])
    pairs = _first_per_talk(pairs, "tag", COUNTED_PER_TALK)
    parts = [pairs.groupby("tag").size().rename("talks").reset_index().assign(scope="all", key="")]
    by_state = pairs.merge(live[["talk_id", "state"]], on="talk_id")
    parts.append(
        by_state.groupby(["state", "tag"]).size().rename("talks").reset_index()
        .rename(columns={"state": "key"}).assign(scope="state")
    )  # fmt: skip
    events = live[["talk_id", "event_ids"]].explode("event_ids").dropna(subset=["event_ids"])
    events = _first_per_talk(events.drop_duplicates(), "event_ids", COUNTED_PER_TALK)
    sizes = {str(k): int(v) for k, v in pairs.groupby("talk_id").size().items()}
    weight = np.fromiter((sizes.get(str(t), 0) for t in events["talk_id"]), dtype=np.int64)
    chunk = np.cumsum(weight) // max(1, chunk_rows)
    running: pd.Series | None = None
    for _, part in events.groupby(chunk, sort=False):
        joined = pairs.merge(part, on="talk_id")
        counted = joined.groupby(["event_ids", "tag"]).size()
        running = counted if running is None else running.add(counted, fill_value=0)
    if running is not None and not running.empty:
        by_event = running.rename("talks").reset_index().rename(columns={"event_ids": "key"})
        parts.append(by_event.assign(scope="event"))
    out = pd.concat([p for p in parts if not p.empty] or [parts[0]], ignore_index=True)
    if out.empty:
        return count(pd.DataFrame(columns=[*_KEY, "talk_id"]))
    out["talks"] = out["talks"].astype("int64")
    return out[[*_KEY, "talks"]].sort_values(_KEY, kind="stable").reset_index(drop=True)


def _source_columns(name: str) -> list[str]:
    return ["talk_id", "tags", "event_ids", "state"] if name == TALKS else ["talk_id", "tag"]


def _empty(name: str) -> pd.DataFrame:
    return empty(name, _source_columns(name))


def _read_at(
    lake: Lake, name: str, version: int | None, talk_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Rows of `name` at a Delta version (None: missing table), optionally for some talks."""
    return read_version(lake, name, version, columns=_source_columns(name), keys=talk_ids)


def _versions(lake: Lake) -> dict[str, int | None]:
    return {name: lake.version(name) for name in _SOURCES}


def _load_state(lake: Lake, table: Snapshot | None) -> dict[str, int | None] | None:
    """The source versions the counts in `table` include; None when unknown (recount)."""
    if table is None:
        return None
    marks = {name: table.app_version(BOOKMARK_APP + name) for name in _SOURCES}
    if all(mark is not None for mark in marks.values()):
        # Stored as version + 1, so 0 can say "the table did not exist yet".
        return {name: None if mark == 0 else mark - 1 for name, mark in marks.items()}  # type: ignore[operator]
    if lake.blob_exists(STATE_BLOB):  # a lake from before the bookmark moved into the commit
        state = json.loads(lake.get_blob(STATE_BLOB))
        return {name: state.get(name) for name in _SOURCES}
    return None


def _bookmark(versions: dict[str, int | None]) -> Bookmark:
    return Bookmark(
        apps={
            BOOKMARK_APP + name: 0 if version is None else version + 1
            for name, version in versions.items()
        },
        metadata={"podium.tag_counts.versions": metadata_json(versions)},
    )


def recompute_tag_counts(*, lake: Lake, computed_at: datetime | None = None) -> TagCountRun:
    """Rebuild `tag_counts` from scratch; the source versions counted commit with the rows.

    Args:
        lake: the lake holding `talks` and `talk_tags`.
        computed_at: timestamp written on every row (now by default).
    """
    computed_at = computed_at or datetime.now(UTC)
    versions = _versions(lake)
    talks = _read_at(lake, TALKS, versions[TALKS])
    tags = _read_at(lake, TALK_TAGS, versions[TALK_TAGS])
    counts = count_bounded(talks, tags).assign(computed_at=computed_at)
    # An overwrite is correct whatever committed meanwhile, so the lake's own retry suffices.
    overwrite_with_bookmark(lake, TABLE, counts, bookmark=_bookmark(versions))
    return TagCountRun("full", len(talks), len(counts), 0, versions)


def update_tag_counts(
    *,
    lake: Lake,
    talk_ids: Iterable[str] | None = None,
    computed_at: datetime | None = None,
) -> TagCountRun:
    """Apply the changes since the last run to `tag_counts`, exactly once.

    A full rebuild when there is no bookmark. Safe to retry after a failure at any point and
    to run concurrently with itself.

    Args:
        lake: the lake.
        talk_ids: talks known to have changed; merged with the ones found in the Delta logs.
        computed_at: timestamp written on changed rows (now by default).
    """
    computed_at = computed_at or datetime.now(UTC)
    # A whole read-compute-commit attempt runs again when another run committed first.
    return lake.retrying(lambda: _update_once(lake, set(talk_ids or ()), computed_at))


def _update_once(lake: Lake, talk_ids: set[str], computed_at: datetime) -> TagCountRun:
    with Snapshot.borrowed(lake, TABLE) as table:
        return _update_from(lake, table, talk_ids, computed_at)


def _update_from(
    lake: Lake, table: Snapshot | None, talk_ids: set[str], computed_at: datetime
) -> TagCountRun:
    previous = _load_state(lake, table)
    if table is None or previous is None:
        return recompute_tag_counts(lake=lake, computed_at=computed_at)
    current = _versions(lake)
    try:
        changed = set(talk_ids)
        for name in _SOURCES:
            changed |= changed_keys(lake, name, previous[name], current[name])
        old = count_bounded(
            _read_at(lake, TALKS, previous[TALKS], changed),
            _read_at(lake, TALK_TAGS, previous[TALK_TAGS], changed),
        )
        new = count_bounded(
            _read_at(lake, TALKS, current[TALKS], changed),
            _read_at(lake, TALK_TAGS, current[TALK_TAGS], changed),
        )
    except (VersionUnavailable, OSError):  # an old version vacuumed away: recount everything
        return recompute_tag_counts(lake=lake, computed_at=computed_at)
    touched = tuple(sorted(set(old["tag"]) | set(new["tag"])))
    both = pd.concat([old, new])
    at_events = tuple(sorted(set(both.loc[both["scope"] == "event", "key"])))
    delta = new.set_index(_KEY)["talks"].sub(old.set_index(_KEY)["talks"], fill_value=0)
    delta = delta[delta != 0]
    ids = tuple(sorted(changed))
    if delta.empty:
        if current != previous:  # nothing to count, but the next run diffs from here
            table.commit_bookmark(_bookmark(current))
        return TagCountRun("incremental", len(changed), 0, 0, current, ids, touched, at_events)
    keys = delta.reset_index()
    stored = table.rows_where_in(["scope", "key", "tag", "talks"], "tag", sorted(set(keys["tag"])))
    stored = stored.set_index(_KEY)["talks"]
    updated = stored.reindex(delta.index, fill_value=0).add(delta).astype("int64")
    rows = updated.rename("talks").reset_index().assign(computed_at=computed_at)
    # Counts, deletions of counts that reached zero, and the bookmark: one commit, against the
    # snapshot the stored counts were read from.
    deleted = table.merge_counts(rows, keys=_KEY, value="talks", bookmark=_bookmark(current))
    return TagCountRun(
        "incremental", len(changed), len(rows), deleted, current, ids, touched, at_events
    )


def read_tag_counts(*, lake: Lake, scope: str = "all", key: str = "") -> pd.DataFrame:
    """Tag counts of one scope/key, most used first (ties by tag)."""
    rows = lake.read(TABLE, where=[("scope", "=", scope), ("key", "=", key)])
    return rows.sort_values(["talks", "tag"], ascending=[False, True]).reset_index(drop=True)


def affected_event_ids(*, lake: Lake, run: TagCountRun) -> list[str] | None:
    """Events whose recommendations the run may have changed; None means all of them.

    An event is affected when it shares a tag with a changed talk (before or after the change)
    or lists a changed talk. A changed talk with no shared tag can still move into an event's
    list through the semantic score alone; the scheduled full rebuild picks that up.
    """
    if run.mode == "full":
        return None
    if not run.changed_talk_ids:
        return []
    events = lake.read(EVENTS, columns=["event_id", "tags"])
    touched = set(run.touched_tags)
    hit = {
        str(event_id)
        for event_id, tags in zip(events["event_id"], events["tags"], strict=True)
        if tags is not None and touched.intersection(normalise_tag(t) for t in tags)
    }
    return sorted(hit | (set(run.touched_events) & set(events["event_id"])))


def counted_versions(*, lake: Lake) -> dict[str, int | None] | None:
    """The source versions (`talks`, `talk_tags`) the stored counts include; None when there
    are no counts or no bookmark (the next update recounts)."""
    with Snapshot.borrowed(lake, TABLE) as pinned:
        return _load_state(lake, pinned)


def source_versions(*, lake: Lake) -> dict[str, int | None]:
    """The current versions of the tables counts are made from."""
    return _versions(lake)


def changes_between(
    *, lake: Lake, previous: dict[str, int | None], current: dict[str, int | None]
) -> TagCountRun:
    """What changed in `talks` and `talk_tags` between two sets of versions, as a count run
    that writes nothing: the changed talks, the tags they carried before or after and the
    events they were listed at (for `affected_event_ids`).

    Raises:
        VersionUnavailable: a version can no longer be read (the caller rebuilds everything).
    """
    changed: set[str] = set()
    for name in _SOURCES:
        changed |= changed_keys(lake, name, previous.get(name), current.get(name))
    if not changed:
        return TagCountRun("incremental", 0, 0, 0, dict(current))
    old = count_bounded(
        _read_at(lake, TALKS, previous.get(TALKS), changed),
        _read_at(lake, TALK_TAGS, previous.get(TALK_TAGS), changed),
    )
    new = count_bounded(
        _read_at(lake, TALKS, current.get(TALKS), changed),
        _read_at(lake, TALK_TAGS, current.get(TALK_TAGS), changed),
    )
    both = pd.concat([old, new])
    return TagCountRun(
        "incremental",
        len(changed),
        0,
        0,
        dict(current),
        tuple(sorted(changed)),
        tuple(sorted(set(both["tag"]))),
        tuple(sorted(set(both.loc[both["scope"] == "event", "key"]))),
    )
