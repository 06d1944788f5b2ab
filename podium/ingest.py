"""Recording talks and events in the lake: the step that makes a submission safe.

The gateway and the `ingest` flow both call `record_talks`; nothing acknowledges a talk before
it returns. Recording is idempotent: an identical talk is a no-op, an edited one is rewritten
and, when what enrichment reads changed, marked pending for every enrichment stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from podium.lake import Lake
from podium.models import Event, Talk, TalkState

STAGES = ("tags", "image")


@dataclass
class IngestReport:
    """What recording a batch of talks changed."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "pending": self.pending,
        }


def talks_to_frame(talks: Iterable[Talk], *, now: datetime | None = None) -> pd.DataFrame:
    """Talks as rows of the `talks` table."""
    now = now or datetime.now(UTC)
    rows = []
    for talk in talks:
        row = talk.model_dump(mode="python")
        row["state"] = str(talk.state)
        row["record_hash"] = talk.record_hash()
        row["submitted_at"] = talk.submitted_at or now
        row["updated_at"] = talk.updated_at or now
        row["ingested_at"] = now
        rows.append(row)
    return pd.DataFrame(rows)


def frame_to_talks(frame: pd.DataFrame) -> list[Talk]:
    """Rows of the `talks` table back into validated talks."""
    fields = set(Talk.model_fields)
    talks = []
    for row in frame.to_dict("records"):
        data = {k: v for k, v in row.items() if k in fields}
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


def _pending_rows(talks: list[Talk], now: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "talk_id": talk.talk_id,
                "stage": stage,
                "content_hash": talk.content_hash,
                "status": "pending",
                "attempts": 0,
                "error": "",
                "updated_at": now,
            }
            for talk in talks
            for stage in STAGES
        ]
    )


def record_talks(*, lake: Lake, talks: list[Talk], removed: Iterable[str] = ()) -> IngestReport:
    """Durably record talks (and deletions) and mark what needs enrichment.

    Args:
        lake: the lake to write to.
        talks: validated talks; for a repeated id the last one wins.
        removed: ids of talks deleted at the source (kept, with state `deleted`).

    Returns:
        Which talks were new, updated, unchanged or removed, and which are now pending.
    """
    now = datetime.now(UTC)
    latest = {talk.talk_id: talk for talk in talks}
    removed_ids = [i for i in dict.fromkeys(removed) if i not in latest]
    ids = list(latest) + removed_ids
    report = IngestReport()
    if not ids:
        return report
    existing = lake.read("talks", where=[("talk_id", "in", ids)])
    existing = existing.set_index("talk_id") if not existing.empty else existing
    state = lake.read(
        "enrichment_state",
        columns=["talk_id", "stage", "content_hash"],
        where=[("talk_id", "in", list(latest))],
    )
    # (talk, stage, content) already in the ledger, whatever its status: a failed talk is not
    # re-queued by a redelivery, but a talk whose ledger write was lost (a crash between the
    # two writes below) is queued again when the client retries.
    known = set(zip(state.talk_id, state.stage, state.content_hash, strict=True))

    changed: list[Talk] = []
    needs_enrichment: list[Talk] = []
    for talk_id, talk in latest.items():
        if talk_id not in existing.index:
            report.new.append(talk_id)
            changed.append(talk)
        elif existing.at[talk_id, "record_hash"] == talk.record_hash():
            report.unchanged.append(talk_id)
        else:
            report.updated.append(talk_id)
            changed.append(talk)
        # A stage is only re-run when the content it reads changed, whatever else changed.
        if any((talk_id, stage, talk.content_hash) not in known for stage in STAGES):
            needs_enrichment.append(talk)

    if changed:
        lake.upsert(
            "talks", talks_to_frame(changed, now=now), changed_when="t.record_hash != s.record_hash"
        )
    if needs_enrichment:
        lake.upsert("enrichment_state", _pending_rows(needs_enrichment, now))
        report.pending = [t.talk_id for t in needs_enrichment]

    gone = [i for i in removed_ids if i in existing.index and existing.at[i, "state"] != "deleted"]
    if gone:
        rows = existing.loc[gone].reset_index()
        rows["state"] = str(TalkState.deleted)
        rows["updated_at"] = now
        rows["record_hash"] = rows["record_hash"] + ":deleted"
        lake.upsert("talks", rows)
        report.removed = gone
    return report


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
        "events",
        columns=["event_id", "record_hash"],
        where=[("event_id", "in", list(frame.event_id))],
    )
    known = dict(zip(existing.event_id, existing.record_hash, strict=True))
    changed = frame[
        [known.get(i) != h for i, h in zip(frame.event_id, frame.record_hash, strict=True)]
    ]
    if not changed.empty:
        lake.upsert("events", changed, changed_when="t.record_hash != s.record_hash")
    return list(changed.event_id)
