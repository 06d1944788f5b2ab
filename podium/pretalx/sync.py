"""Incremental import of one pretalx event: the use-case behind `sync-pretalx` and
`podium ingest pretalx://host/event`.

Each run lists every submission's code, `updated` stamp, state, track, tag ids and speaker
codes (one small request per 1000 submissions; pretalx changes a state or tags without touching
`updated`), compares it with the event's checkpoint in the lake (one row per code), fetches
only what is new or changed, expanded, and records it. Codes that vanished from the listing
were deleted in pretalx and, like withdrawn or cancelled proposals, become removals. The
checkpoint is saved after the talks are recorded, so a crash repeats a little work, never
loses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podium.checkpoints import drop_checkpoints, load_checkpoints, save_checkpoints
from podium.ingest import record_events
from podium.lake import Lake
from podium.pretalx.client import PretalxClient
from podium.pretalx.mapping import (
    SKIPPED_STATES,
    event_from_pretalx,
    map_submissions,
    schedule_slots,
    talk_id_for,
)
from podium.pretalx.write_back import written_tags
from podium.recording import record_talks
from podium.sources import ParseResult, SyncReport


@dataclass
class PretalxSyncReport(SyncReport):
    """What one sync of one event did."""

    source: str
    listed: int = 0
    fetched: int = 0
    requests: int = 0
    events_changed: list[str] = field(default_factory=list)


def position(item: dict[str, Any], slot: dict[str, Any] | None = None) -> str:
    """A submission's checkpoint: its `updated` stamp and a digest of what pretalx changes
    without touching `updated` (state, track, tags, speakers, and its slot when scheduled;
    an unscheduled submission's checkpoint is what it was before slots were read)."""
    fields: list[Any] = [
        item.get("state"),
        item.get("track"),
        sorted(map(str, item.get("tags") or [])),
        sorted(map(str, item.get("speakers") or [])),
    ]
    if slot is not None:
        fields.append([slot["start"].isoformat(), slot["end"].isoformat(), slot["room"]])
    digest = hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()[:12]
    return f"{item.get('updated') or ''}|{digest}"


@dataclass
class Changes:
    """What changed in pretalx since the checkpoint."""

    parsed: ParseResult  # talks, removals (withdrawn, cancelled, deleted), rejected records
    stamps: dict[str, str]  # code -> position of every submission taken
    vanished: list[str]  # codes deleted in pretalx
    listed: int  # submissions pretalx lists now
    fetched: int  # submissions fetched in full


def fetch_changes(
    *,
    client: PretalxClient,
    known: dict[str, str],
    detail_limit: int,
    ours: dict[str, set[str]] | None = None,
) -> Changes:
    """What changed in pretalx since `known` (code -> position).

    `ours` (code -> tags Podium wrote there, `podium.pretalx.write_back`) are left out of the
    talks' own tags: they are Podium's, already in `talk_tags`.
    """
    slug = client.ref.slug
    slots = schedule_slots(client.slots())
    index = {
        str(item["code"]): position(item, slots.get(str(item["code"])))
        for item in client.submission_index()
        if isinstance(item, dict) and item.get("code")
    }
    changed = [code for code, stamp in index.items() if known.get(code) != stamp]
    vanished = sorted(set(known) - set(index))
    submissions: list[dict[str, Any]] = []
    if len(changed) > detail_limit:
        wanted = set(changed)
        submissions = [s for s in client.submissions() if s.get("code") in wanted]
    else:
        for code in changed:
            one = client.submission(code)
            if one is not None:  # deleted between the listing and now: next run removes it
                submissions.append(one)
    parsed = map_submissions(submissions, slug=slug, slots=slots)
    if ours:
        prefix = talk_id_for(slug, "")
        parsed.talks = [
            t.model_copy(
                update={"tags": [g for g in t.tags if g not in ours[t.talk_id[len(prefix) :]]]}
            )
            if t.talk_id[len(prefix) :] in ours
            else t
            for t in parsed.talks
        ]
    taken = {t.talk_id for t in parsed.talks} | set(parsed.removed)
    stamps = {}
    for data in submissions:
        code = str(data.get("code"))
        # A rejected record keeps its old stamp, so it is tried again once fixed in pretalx.
        if talk_id_for(slug, code) in taken or data.get("state") in SKIPPED_STATES:
            stamps[code] = index.get(code, "")
    parsed.removed += [talk_id_for(slug, code) for code in vanished]
    return Changes(parsed, stamps, vanished, len(index), len(submissions))


def sync_pretalx_event(
    *,
    lake: Lake,
    client: PretalxClient,
    detail_limit: int = 25,
    on_progress: Callable[[str], None] | None = None,
) -> PretalxSyncReport:
    """Import new and changed submissions of one event; withdrawn and deleted ones as removals.

    Args:
        lake: where talks, events and the checkpoint live.
        client: a client of the event's pretalx server.
        detail_limit: up to this many changed submissions are fetched one by one.
        on_progress: called with a short message after each step.
    """
    say = on_progress or (lambda _: None)
    source = client.ref.source
    report = PretalxSyncReport(source=source)
    slug = client.ref.slug
    event = event_from_pretalx(client.event(), slug=slug, tracks=client.tracks())
    report.events_changed = record_events(lake=lake, events=[event])
    known = load_checkpoints(lake=lake, source=source)
    changes = fetch_changes(
        client=client,
        known=known,
        detail_limit=detail_limit,
        ours=written_tags(lake=lake, ref=client.ref),
    )
    parsed = changes.parsed
    report.listed, report.fetched = changes.listed, changes.fetched
    say(f"{changes.fetched} new or changed, {len(parsed.removed)} to remove")
    report.ingest = record_talks(lake=lake, talks=parsed.talks, removed=parsed.removed)
    report.errors = parsed.errors
    save_checkpoints(lake=lake, source=source, values=changes.stamps)
    drop_checkpoints(lake=lake, source=source, keys=changes.vanished)
    report.requests = client.requests
    return report
