"""An event's schedule as Podium knows it, gathered for the exports: talks with their slots,
tags, related talks and cover alt text. Pure reads through the tables' owners.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from podium.errors import UserError
from podium.images.alt_text import cover_alt_text
from podium.images.storage import read_covers
from podium.ingest import event_rows, frame_to_talks, talk_rows
from podium.lake import Lake
from podium.lake.recommendations import read_related
from podium.models import Event, Talk, TalkState
from podium.talk_tags import tags_by_talk

# Talks that are not on an event's programme: never exported.
HIDDEN_STATES = frozenset({TalkState.deleted, TalkState.rejected, TalkState.withdrawn})
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://podium/talks")


class ExportError(UserError, LookupError):
    """An export cannot be made; `str()` is one line for people."""


class UnknownEventError(ExportError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"unknown event {event_id!r}")


class NothingScheduledError(ExportError):
    """A schedule format needs at least one day: no talk has a slot and the event no dates."""

    def __init__(self, event_id: str, fmt: str) -> None:
        super().__init__(
            f"event {event_id!r} has no scheduled talk and no dates: {fmt} needs a schedule "
            "(the json format lists unscheduled talks)"
        )


@dataclass(frozen=True)
class RelatedTalk:
    talk_id: str
    title: str
    score: float
    guid: str


@dataclass(frozen=True)
class Cover:
    path: str
    alt_text: str


@dataclass
class ExportTalk:
    """One talk of the event with what Podium added to it."""

    talk: Talk
    tags: list[str]
    related: list[RelatedTalk] = field(default_factory=list)
    cover: Cover | None = None

    @property
    def guid(self) -> str:
        return talk_guid(self.talk.talk_id)

    @property
    def number(self) -> int:
        return talk_number(self.talk.talk_id)


@dataclass
class EventSchedule:
    """An event and its talks, scheduled ones first by start time then room, then the rest."""

    event: Event
    talks: list[ExportTalk]

    @property
    def scheduled(self) -> list[ExportTalk]:
        return [t for t in self.talks if t.talk.slot is not None]


def talk_guid(talk_id: str) -> str:
    """A stable UUID for a talk (frab's `guid`, the iCalendar UID)."""
    return str(uuid.uuid5(GUID_NAMESPACE, talk_id))


def talk_number(talk_id: str) -> int:
    """A stable positive 9-digit number for a talk (frab's legacy numeric `id`)."""
    digest = int(hashlib.sha256(talk_id.encode()).hexdigest()[:12], 16)
    return 100_000_000 + digest % 900_000_000


def acronym_of(event_id: str) -> str:
    """The event id as a frab acronym: lower-case letters, digits and `_`, at least 4."""
    text = re.sub(r"[^a-z0-9_]", "_", event_id.lower())
    return text.ljust(4, "_")


def _order(item: ExportTalk) -> tuple:
    slot = item.talk.slot
    if slot is None:
        return (1, datetime.max.isoformat(), "", item.talk.talk_id)
    return (0, slot.start.isoformat(), slot.room, item.talk.talk_id)


def load_event_schedule(*, lake: Lake, event_id: str, related_limit: int = 5) -> EventSchedule:
    """The event and its live talks (not rejected, withdrawn or deleted), with tags (the
    speaker's and organisers' first, then Podium's, best first), related talks and covers."""
    events = event_rows(lake=lake, event_ids=[event_id])
    if events.empty:
        raise UnknownEventError(event_id)
    row = events.iloc[0]
    event = Event.model_validate(
        {
            "event_id": row["event_id"],
            "name": row["name"],
            "description": row["description"] or "",
            "tags": [str(t) for t in (row["tags"] if row["tags"] is not None else [])],
            "starts_on": None if pd.isna(row["starts_on"]) else row["starts_on"],
            "ends_on": None if pd.isna(row["ends_on"]) else row["ends_on"],
        }
    )
    frame = talk_rows(lake=lake)
    if not frame.empty:
        at_event = frame["event_ids"].map(lambda ids: ids is not None and event_id in list(ids))
        frame = frame[at_event]
    talks = [t for t in frame_to_talks(frame) if t.state not in HIDDEN_STATES]
    ids = [t.talk_id for t in talks]
    added = tags_by_talk(lake=lake, talk_ids=ids) if ids else {}
    related_rows = read_related(lake=lake, talk_ids=ids) if ids else pd.DataFrame()
    titles: dict[str, str] = {t.talk_id: t.title for t in talks}
    others = set()
    if not related_rows.empty:
        related_rows = related_rows.sort_values(["talk_id", "rank"])
        others = set(related_rows["other_id"]) - set(titles)
    if others:
        for other in frame_to_talks(talk_rows(lake=lake, talk_ids=sorted(others))):
            if other.state not in HIDDEN_STATES:
                titles[other.talk_id] = other.title
    related: dict[str, list[RelatedTalk]] = {}
    for r in related_rows.itertuples(index=False) if not related_rows.empty else []:
        if r.other_id in titles and len(related.get(r.talk_id, [])) < related_limit:
            related.setdefault(r.talk_id, []).append(
                RelatedTalk(
                    str(r.other_id), titles[r.other_id], float(r.score), talk_guid(r.other_id)
                )
            )
    covers = read_covers(lake=lake, talk_ids=ids) if ids else pd.DataFrame()
    cover_of: dict[str, Cover] = {}
    tag_lists = {
        t.talk_id: list(dict.fromkeys([*t.tags, *added.get(t.talk_id, [])])) for t in talks
    }
    for c in covers.itertuples(index=False) if not covers.empty else []:
        talk = next((t for t in talks if t.talk_id == c.talk_id), None)
        if talk is None or c.content_hash != talk.content_hash:
            continue  # a cover of an older version of the talk
        alt = c.alt_text if isinstance(c.alt_text, str) and c.alt_text else None
        if alt is None:  # a cover stored before alt text existed: described now
            alt = cover_alt_text(
                title=talk.title,
                tags=tag_lists[talk.talk_id][:3],
                backend=c.backend,
                prompt=c.prompt,
            )
        cover_of[c.talk_id] = Cover(str(c.path), alt)
    items = [
        ExportTalk(
            talk=t,
            tags=tag_lists[t.talk_id],
            related=related.get(t.talk_id, []),
            cover=cover_of.get(t.talk_id),
        )
        for t in talks
    ]
    items.sort(key=_order)
    return EventSchedule(event=event, talks=items)
