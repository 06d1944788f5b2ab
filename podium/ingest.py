"""Talks and events in the lake: the `talks` half of the step that makes a submission safe.

The gateway and the `ingest` flow both call `podium.recording.record_talks`, which writes the
talks here (`write_talks`) and then marks the ledger (`podium.enrichment`); nothing
acknowledges a talk before it returns. Recording is idempotent: an identical talk is a no-op,
an edited one is rewritten (its row's `revision` grows by one).

This module owns the `talks` and `events` tables: every other module reads talks through
`read_talks`, `talk_rows`, `live_versions` and `talks_version` here, never by the table name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from podium.lake import Lake
from podium.models import Event, Talk, TalkState
from podium.ordering import SourceOrder, latest


@dataclass
class IngestReport:
    """What recording a batch of talks changed."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    # Changes older, by source order, than what the lake already holds: durable, not applied.
    stale: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "pending": self.pending,
            "stale": self.stale,
        }


# A change to one talk: a new version, or its removal (a `Removal`, or a bare id).
Change = Talk | str


def order_of(change: Change) -> SourceOrder:
    """Where a change sits in its source's order (see podium/ordering.py)."""
    if isinstance(change, Talk):
        return SourceOrder(change._sequence, change.updated_at)
    return SourceOrder(getattr(change, "sequence", None), getattr(change, "updated_at", None))


def _stored_order(row: pd.Series) -> SourceOrder:
    sequence = row.get("source_sequence")
    updated = row.get("source_updated_at")
    return SourceOrder(
        None if sequence is None or pd.isna(sequence) else int(sequence),
        None if updated is None or pd.isna(updated) else pd.Timestamp(updated).to_pydatetime(),
    )


def _change_id(change: Change) -> str:
    return change.talk_id if isinstance(change, Talk) else str(change)


def talks_to_frame(talks: Iterable[Talk], *, now: datetime | None = None) -> pd.DataFrame:
    """Talks as rows of the `talks` table."""
    now = now or datetime.now(UTC)
    rows = []
    for talk in talks:
        row = talk.model_dump(mode="python", exclude={"slot"})
        row.update(slot_columns(talk))
        row["state"] = str(talk.state)
        row["record_hash"] = talk.record_hash()
        row["submitted_at"] = talk.submitted_at or now
        row["updated_at"] = talk.updated_at or now
        row["ingested_at"] = now
        order = order_of(talk)
        row["source_sequence"] = order.sequence_text
        row["source_updated_at"] = order.updated_at
        rows.append(row)
    return pd.DataFrame(rows)


TALKS = "talks"
EVENTS = "events"


def slot_columns(talk: Talk) -> dict[str, object]:
    """The `talks` table's slot columns of a talk (nulls without a slot)."""
    slot = talk.slot
    return {
        "slot_start": slot.start if slot else None,
        "slot_end": slot.end if slot else None,
        "slot_room": slot.room if slot else None,
    }


def _slot_from_row(row: dict) -> dict | None:
    start, end = row.get("slot_start"), row.get("slot_end")
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return None
    room = row.get("slot_room")
    return {
        "start": pd.Timestamp(start).to_pydatetime(),
        "end": pd.Timestamp(end).to_pydatetime(),
        "room": "" if room is None or pd.isna(room) else str(room),
    }


def talk_rows(
    *, lake: Lake, columns: list[str] | None = None, talk_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Rows of `talks` (deleted ones included), some columns and talks or all of them."""
    where = None if talk_ids is None else [("talk_id", "in", list(talk_ids))]
    return lake.read(TALKS, columns=columns, where=where)


def read_talks(*, lake: Lake, talk_ids: Iterable[str] | None = None) -> list[Talk]:
    """Talks as validated models (all of them when `talk_ids` is None)."""
    return frame_to_talks(talk_rows(lake=lake, talk_ids=talk_ids))


def live_versions(*, lake: Lake, talk_ids: Iterable[str] | None = None) -> dict[str, str]:
    """talk id -> current content hash of live (not deleted) talks, some or all of them."""
    frame = talk_rows(lake=lake, columns=["talk_id", "content_hash", "state"], talk_ids=talk_ids)
    frame = frame[frame.state != TalkState.deleted.value]
    return dict(zip(frame.talk_id, frame.content_hash, strict=True))


def talks_version(*, lake: Lake) -> int | None:
    """The `talks` table's Delta version (None before the first talk): a cheap health probe."""
    return lake.version(TALKS)


def events_version(*, lake: Lake) -> int | None:
    """The `events` table's Delta version (None before the first event)."""
    return lake.version(EVENTS)


def event_rows(
    *, lake: Lake, columns: list[str] | None = None, event_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Rows of `events`, some columns and events or all of them."""
    where = None if event_ids is None else [("event_id", "in", list(event_ids))]
    return lake.read(EVENTS, columns=columns, where=where)


def event_ids(*, lake: Lake) -> list[str]:
    """Every recorded conference event's id, sorted."""
    return sorted(set(event_rows(lake=lake, columns=["event_id"]).event_id))


def frame_to_talks(frame: pd.DataFrame) -> list[Talk]:
    """Rows of the `talks` table back into validated talks."""
    fields = set(Talk.model_fields)
    talks = []
    for row in frame.to_dict("records"):
        data = {k: v for k, v in row.items() if k in fields}
        data["slot"] = _slot_from_row(row)
        for key in ("speakers", "tags", "event_ids"):
            values = data.get(key)
            data[key] = [] if values is None else [str(v) for v in values]
        for key in ("submitted_at", "updated_at"):
            value = data.get(key)
            data[key] = (
                None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
            )
        talks.append(Talk.model_validate(data))
    return talks


# The MERGE re-checks source order against the row as it is at commit time, so a concurrent
# writer that committed a newer version in between is never overwritten by an older one (a
# commit conflict re-runs the MERGE, and with it this check, on the new snapshot).
_BOTH_SEQ = "s.source_sequence IS NOT NULL AND t.source_sequence IS NOT NULL"
_NOT_BOTH_SEQ = "(s.source_sequence IS NULL OR t.source_sequence IS NULL)"
_BOTH_TS = "s.source_updated_at IS NOT NULL AND t.source_updated_at IS NOT NULL"
_OLDER = (
    f"({_BOTH_SEQ} AND s.source_sequence < t.source_sequence)"
    f" OR ({_NOT_BOTH_SEQ} AND {_BOTH_TS} AND s.source_updated_at < t.source_updated_at)"
)
_NEWER = (
    f"({_BOTH_SEQ} AND s.source_sequence > t.source_sequence)"
    " OR (s.source_sequence IS NOT NULL AND t.source_sequence IS NULL)"
    f" OR ({_NOT_BOTH_SEQ} AND {_BOTH_TS} AND s.source_updated_at > t.source_updated_at)"
    " OR (s.source_updated_at IS NOT NULL AND t.source_updated_at IS NULL)"
)
IN_SOURCE_ORDER = f"NOT ({_OLDER}) AND (t.record_hash != s.record_hash OR {_NEWER})"


def _tombstone(talk_id: str, row: pd.Series | None, order: SourceOrder, now: datetime) -> dict:
    """The row a removal leaves: the last content (if any) with state `deleted`.

    A talk never seen gets an empty tombstone too, so that an older upsert delivered after its
    removal cannot bring it back.
    """
    if row is None:
        data: dict = {
            "talk_id": talk_id,
            "title": "",
            "description": "",
            "speakers": [],
            "tags": [],
            "event_ids": [],
            "language": "",
            "submitted_at": now,
            "content_hash": "",
            "record_hash": "",
        }
    else:
        data = {k: row[k] for k in row.index if k != "talk_id"} | {"talk_id": talk_id}
        data["record_hash"] = str(data["record_hash"]).removesuffix(":deleted")
    data["state"] = str(TalkState.deleted)
    data["record_hash"] = data["record_hash"] + ":deleted"
    data["updated_at"] = order.updated_at or now
    data["ingested_at"] = now
    data["source_sequence"] = order.sequence_text
    data["source_updated_at"] = order.updated_at
    return data


def write_talks(
    *,
    lake: Lake,
    talks: Iterable[Talk] = (),
    removed: Iterable[str] = (),
    changes: Iterable[Change] = (),
    now: datetime | None = None,
) -> tuple[IngestReport, dict[str, tuple[str, int]]]:
    """The `talks` half of recording (`podium.recording.record_talks` is the whole of it):
    write the winning changes in source order.

    Per talk, the change that is last in source order wins (podium/ordering.py): among the
    changes given, and against the version already in the lake. An older change is reported
    `stale` and applied nowhere; a removal leaves a tombstone that older upserts cannot undo.

    Returns:
        What changed (`pending` left empty: the ledger's to say), and for every live talk
        among the changes its row as it is after the write: talk id -> (content hash,
        revision). The row may be another writer's newer version; that is the point.
    """
    now = now or datetime.now(UTC)
    by_id: dict[str, list[tuple[SourceOrder, Change]]] = {}
    for change in [*changes, *talks, *removed]:
        by_id.setdefault(_change_id(change), []).append((order_of(change), change))
    winners: dict[str, Change] = {i: latest(c) for i, c in by_id.items()}
    report = IngestReport()
    if not winners:
        return report, {}
    ids = list(winners)
    existing = lake.read(TALKS, where=[("talk_id", "in", ids)])
    if not existing.empty:
        # One row per id; a lake written by the old first-write race may hold two.
        existing = existing.drop_duplicates("talk_id", keep="last").set_index("talk_id")
    live_ids = [i for i, c in winners.items() if isinstance(c, Talk)]

    rows: list[dict] = []  # tombstones
    writes: list[Talk] = []  # new versions
    for talk_id, change in winners.items():
        order = order_of(change)
        row = existing.loc[talk_id] if talk_id in existing.index else None
        stored = None if row is None else _stored_order(row)
        if stored is not None and order.older_than(stored):
            report.stale.append(talk_id)
            continue
        newer = stored is not None and stored.older_than(order)
        if not isinstance(change, Talk):
            if row is None or row["state"] != str(TalkState.deleted):
                rows.append(_tombstone(talk_id, row, order, now))
                if row is not None:
                    report.removed.append(talk_id)
            elif newer:  # already gone; remember the later removal's place in the order
                rows.append(_tombstone(talk_id, row, order, now))
            continue
        if row is None:
            report.new.append(talk_id)
            writes.append(change)
        elif row["record_hash"] == change.record_hash():
            report.unchanged.append(talk_id)
            if newer:  # same content at a later version: move the row's order forward
                writes.append(change)
        else:
            report.updated.append(talk_id)
            writes.append(change)

    frames = [f for f in (talks_to_frame(writes, now=now), pd.DataFrame(rows)) if not f.empty]
    if frames:
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        lake.upsert(
            TALKS,
            frame.assign(revision=1),  # an inserted row's first revision
            changed_when=IN_SOURCE_ORDER,
            matched_set={"revision": "COALESCE(t.revision, 0) + 1"},
        )
    if not live_ids:
        return report, {}
    # Read back after the MERGE: each talk's content at its revision, whoever wrote it.
    after = existing if not frames else _revisions(lake, live_ids)
    return report, _live_revisions(after, live_ids)


def _revisions(lake: Lake, talk_ids: list[str]) -> pd.DataFrame:
    rows = lake.read(
        TALKS,
        columns=["talk_id", "content_hash", "state", "revision"],
        where=[("talk_id", "in", talk_ids)],
    )
    return rows.drop_duplicates("talk_id", keep="last").set_index("talk_id")


def _live_revisions(rows: pd.DataFrame, talk_ids: list[str]) -> dict[str, tuple[str, int]]:
    """talk id -> (content hash, revision) of the live rows among `talk_ids` (a row written
    before revisions existed counts as revision 0)."""
    versions: dict[str, tuple[str, int]] = {}
    for talk_id in talk_ids:
        if talk_id not in rows.index:
            continue
        row = rows.loc[talk_id]
        if row["state"] == str(TalkState.deleted):
            continue
        revision = row.get("revision")
        versions[talk_id] = (
            str(row["content_hash"]),
            0 if revision is None or pd.isna(revision) else int(revision),
        )
    return versions


def events_to_frame(events: Iterable[Event], *, now: datetime | None = None) -> pd.DataFrame:
    """Events as rows of the `events` table."""
    import hashlib

    now = now or datetime.now(UTC)
    rows = []
    for event in events:
        row = event.model_dump(mode="python")
        row["record_hash"] = hashlib.sha256(event.model_dump_json().encode()).hexdigest()[:32]
        row["updated_at"] = now
        rows.append(row)
    return pd.DataFrame(rows)


def record_events(*, lake: Lake, events: list[Event]) -> list[str]:
    """Upsert events; returns the ids of events that are new or changed (for recomputes)."""
    if not events:
        return []
    frame = events_to_frame({e.event_id: e for e in events}.values())
    existing = lake.read(
        EVENTS,
        columns=["event_id", "record_hash"],
        where=[("event_id", "in", list(frame.event_id))],
    )
    known = dict(zip(existing.event_id, existing.record_hash, strict=True))
    changed = frame[
        [known.get(i) != h for i, h in zip(frame.event_id, frame.record_hash, strict=True)]
    ]
    if not changed.empty:
        lake.upsert(EVENTS, changed, changed_when="t.record_hash != s.record_hash")
    return list(changed.event_id)


def repair_future(
    *,
    lake: Lake,
    talk_ids: Iterable[str] | None = None,
    max_skew_s: float = 86_400.0,
    now: datetime | None = None,
) -> list[str]:
    """Unfreeze talks whose stored source time lies more than `max_skew_s` in the future.

    Such a row got in before far-future times were refused (or from a sender whose clock ran
    ahead): source order compares every later change with it, so each real edit and the
    removal were reported `stale`. The row's place in source order (and its `updated_at`)
    becomes `now`, the repair time: edits made after the repair win again, an older copy of
    the past stays stale. The content is left as it is.

    Args:
        lake: the lake.
        talk_ids: the talks to repair; every frozen talk when None.
        max_skew_s: how far ahead a stored time may be before it counts as frozen.
        now: the repair time (the current time by default).

    Returns:
        The ids of the talks repaired (empty when none was frozen).
    """
    import pyarrow as pa

    now = now or datetime.now(UTC)
    limit = pd.Timestamp(now) + pd.Timedelta(seconds=max_skew_s)
    where = None if talk_ids is None else [("talk_id", "in", list(talk_ids))]
    if not lake.exists(TALKS):
        return []
    rows = lake.read(TALKS, columns=["talk_id", "source_updated_at"], where=where)
    stored = pd.to_datetime(rows.source_updated_at, utc=True)
    frozen = sorted(set(rows.talk_id[stored > limit]))
    if not frozen:
        return []
    stamp = pa.timestamp("us", tz="UTC")
    source = pa.table(
        {
            "talk_id": pa.array(frozen, pa.string()),
            "now": pa.array([now] * len(frozen), stamp),
            "limit": pa.array([limit.to_pydatetime()] * len(frozen), stamp),
        }
    )
    lake.update_matched(
        TALKS,
        source,
        on="t.talk_id = s.talk_id",
        key="talk_id",
        # Re-checked at commit time: a row rewritten meanwhile with a sane time is left alone.
        clauses=[
            ("t.source_updated_at > s.limit", {"source_updated_at": "s.now", "updated_at": "s.now"})
        ],
    )
    return frozen
