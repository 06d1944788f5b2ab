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
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, QueryBuilder, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from podium.lake import SCHEMAS, Lake, sql_list
from podium.models import normalise_tag

SCOPES = ("all", "event", "state")
UNCOUNTED_STATES = frozenset({"deleted"})
STATE_BLOB = "state/tag_counts.json"  # the bookmark of older versions, read once to migrate
BOOKMARK_APP = "podium.tag_counts."  # + source table name: a Delta app transaction id
_SOURCES = ("talks", "talk_tags")
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


def _source_columns(name: str) -> list[str]:
    return ["talk_id", "tags", "event_ids", "state"] if name == "talks" else ["talk_id", "tag"]


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in _source_columns(name)})


def _read_at(
    lake: Lake, name: str, version: int | None, talk_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Rows of `name` at a Delta version (None: missing table), optionally for some talks."""
    if version is None:
        return _empty(name)
    table = DeltaTable(lake.table_uri(name), version=version, storage_options=lake.storage_options)
    columns = _source_columns(name)
    if talk_ids is None:
        data = table.to_pyarrow_dataset().to_table(columns=columns)
    else:
        ids = list(talk_ids)
        if not ids:
            return _empty(name)
        # DataFusion, like Lake.read: pyarrow dataset filters trip over string_view files.
        select = ", ".join(f'"{c}"' for c in columns)
        reader = (
            QueryBuilder()
            .register("t", table)
            .execute(f'SELECT {select} FROM t WHERE "talk_id" IN {sql_list(ids)}')
        )
        data = pa.table(reader.read_all())
    schema = SCHEMAS[name]
    return data.cast(pa.schema([schema.field(c) for c in columns])).to_pandas()


def _changed_talk_ids(lake: Lake, name: str, old: int | None, new: int | None) -> set[str]:
    """Talk ids in the data files that differ between two versions of a table.

    A MERGE or delete rewrites whole files, so the ids in files removed or added since `old`
    are a superset of the talks whose rows changed; that is all the incremental update needs.
    """
    if new is None or old == new:
        return set()
    uri = lake.table_uri(name)
    new_ds = DeltaTable(uri, version=new, storage_options=lake.storage_options).to_pyarrow_dataset()
    new_frags = {f.path: f for f in new_ds.get_fragments()}
    old_frags: dict[str, Any] = {}
    if old is not None:
        old_ds = DeltaTable(
            uri, version=old, storage_options=lake.storage_options
        ).to_pyarrow_dataset()
        old_frags = {f.path: f for f in old_ds.get_fragments()}
    ids: set[str] = set()
    for path in set(new_frags) ^ set(old_frags):
        fragment = new_frags.get(path) or old_frags[path]
        column = fragment.to_table(columns=["talk_id"]).column("talk_id")
        ids.update(pc.unique(column).to_pylist())
    return ids


def _versions(lake: Lake) -> dict[str, int | None]:
    return {name: lake.version(name) for name in _SOURCES}


def _counts_table(lake: Lake) -> DeltaTable | None:
    """The `tag_counts` table at its current version, pinned: reads and the commit use it."""
    try:
        return DeltaTable(lake.table_uri("tag_counts"), storage_options=lake.storage_options)
    except TableNotFoundError:
        return None


def _load_state(lake: Lake, table: DeltaTable | None) -> dict[str, int | None] | None:
    """The source versions the counts in `table` include; None when unknown (recount)."""
    if table is None:
        return None
    marks = {name: table.transaction_version(BOOKMARK_APP + name) for name in _SOURCES}
    if all(mark is not None for mark in marks.values()):
        # Stored as version + 1, so 0 can say "the table did not exist yet".
        return {name: None if mark == 0 else mark - 1 for name, mark in marks.items()}  # type: ignore[operator]
    if lake.blob_exists(STATE_BLOB):  # a lake from before the bookmark moved into the commit
        state = json.loads(lake.get_blob(STATE_BLOB))
        return {name: state.get(name) for name in _SOURCES}
    return None


def _bookmark(versions: dict[str, int | None]) -> CommitProperties:
    return CommitProperties(
        app_transactions=[
            Transaction(BOOKMARK_APP + name, 0 if version is None else version + 1)
            for name, version in versions.items()
        ],
        custom_metadata={"podium.tag_counts.versions": json.dumps(versions, sort_keys=True)},
    )


def _stored_counts(table: DeltaTable, tags: list[str]) -> pd.DataFrame:
    """Stored count rows for `tags`, from the pinned snapshot."""
    reader = (
        QueryBuilder()
        .register("t", table)
        .execute(f'SELECT "scope", "key", "tag", "talks" FROM t WHERE "tag" IN {sql_list(tags)}')
    )
    data = pa.table(reader.read_all())
    schema = SCHEMAS["tag_counts"]
    return data.cast(pa.schema([schema.field(c) for c in data.column_names])).to_pandas()


def _until_committed(lake: Lake, attempt: Any) -> TagCountRun:
    """Run a whole read-compute-commit attempt again when another run committed first."""
    for number in range(lake.write_retries + 1):
        try:
            return attempt()
        except CommitFailedError:
            if number == lake.write_retries:
                raise
            time.sleep(min(2.0, 0.05 * 2**number) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def recompute_tag_counts(*, lake: Lake, computed_at: datetime | None = None) -> TagCountRun:
    """Rebuild `tag_counts` from scratch; the source versions counted commit with the rows.

    Args:
        lake: the lake holding `talks` and `talk_tags`.
        computed_at: timestamp written on every row (now by default).
    """
    computed_at = computed_at or datetime.now(UTC)
    versions = _versions(lake)
    talks = _read_at(lake, "talks", versions["talks"])
    tags = _read_at(lake, "talk_tags", versions["talk_tags"])
    counts = count(contributions(talks, tags)).assign(computed_at=computed_at)
    # An overwrite is correct whatever committed meanwhile, so the lake's own retry suffices.
    lake.overwrite("tag_counts", counts, commit_properties=_bookmark(versions))
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
    return _until_committed(lake, lambda: _update_once(lake, set(talk_ids or ()), computed_at))


def _update_once(lake: Lake, talk_ids: set[str], computed_at: datetime) -> TagCountRun:
    table = _counts_table(lake)
    previous = _load_state(lake, table)
    if table is None or previous is None:
        return recompute_tag_counts(lake=lake, computed_at=computed_at)
    current = _versions(lake)
    try:
        changed = set(talk_ids)
        for name in _SOURCES:
            changed |= _changed_talk_ids(lake, name, previous[name], current[name])
        old = contributions(
            _read_at(lake, "talks", previous["talks"], changed),
            _read_at(lake, "talk_tags", previous["talk_tags"], changed),
        )
        new = contributions(
            _read_at(lake, "talks", current["talks"], changed),
            _read_at(lake, "talk_tags", current["talk_tags"], changed),
        )
    except (DeltaError, OSError):  # an old version vacuumed away: recount everything
        return recompute_tag_counts(lake=lake, computed_at=computed_at)
    touched = tuple(sorted(set(old["tag"]) | set(new["tag"])))
    both = pd.concat([old, new])
    at_events = tuple(sorted(set(both.loc[both["scope"] == "event", "key"])))
    delta = (
        count(new).set_index(_KEY)["talks"].sub(count(old).set_index(_KEY)["talks"], fill_value=0)
    )
    delta = delta[delta != 0]
    ids = tuple(sorted(changed))
    if delta.empty:
        if current != previous:  # nothing to count, but the next run diffs from here
            table.create_write_transaction(
                [], mode="append", schema=table.schema(), commit_properties=_bookmark(current)
            )
        return TagCountRun("incremental", len(changed), 0, 0, current, ids, touched, at_events)
    keys = delta.reset_index()
    stored = _stored_counts(table, sorted(set(keys["tag"]))).set_index(_KEY)["talks"]
    updated = stored.reindex(delta.index, fill_value=0).add(delta).astype("int64")
    rows = updated.rename("talks").reset_index().assign(computed_at=computed_at)
    # Counts, deletions of counts that reached zero, and the bookmark: one commit, against the
    # snapshot the stored counts were read from.
    on = " AND ".join(f"t.{k} = s.{k}" for k in _KEY)
    metrics = (
        table.merge(
            lake.arrow("tag_counts", rows),
            predicate=on,
            source_alias="s",
            target_alias="t",
            commit_properties=_bookmark(current),
        )
        .when_matched_delete(predicate="s.talks <= 0")
        .when_matched_update_all(predicate="s.talks > 0")
        .when_not_matched_insert_all(predicate="s.talks > 0")
        .execute()
    )
    deleted = int(metrics.get("num_target_rows_deleted", 0))
    return TagCountRun(
        "incremental", len(changed), len(rows), deleted, current, ids, touched, at_events
    )


def read_tag_counts(*, lake: Lake, scope: str = "all", key: str = "") -> pd.DataFrame:
    """Tag counts of one scope/key, most used first (ties by tag)."""
    rows = lake.read("tag_counts", where=[("scope", "=", scope), ("key", "=", key)])
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
    events = lake.read("events", columns=["event_id", "tags"])
    touched = set(run.touched_tags)
    hit = {
        str(event_id)
        for event_id, tags in zip(events["event_id"], events["tags"], strict=True)
        if tags is not None and touched.intersection(normalise_tag(t) for t in tags)
    }
    return sorted(hit | (set(run.touched_events) & set(events["event_id"])))
