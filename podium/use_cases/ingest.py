"""Record talks from a source and hand the changed ones to enrichment.

Three sources, one ending: a file or folder (`ingest_source`), pretalx events (`sync_pretalx`)
and the directory table's DynamoDB stream (`sync_dynamodb`) each record talks durably and in
source order (`podium.ingest`), then emit `podium.talk.ingested` for what waits for enrichment
and `podium.talk.removed` for deletions, through the resources' event sink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium import event_catalog
from podium.dynamodb.streams import StreamSyncReport
from podium.enrichment import outstanding
from podium.events import bounded_ids
from podium.ingest import IngestReport, record_events
from podium.pretalx.sync import PretalxSyncReport
from podium.recording import record_talks
from podium.resources import Resources
from podium.sources import ParseResult, load_source

log = logging.getLogger(__name__)

# The sync flows' events carry at most this many ids (with the full count); consumers re-read
# the lake, so a capped list loses nothing.
SYNC_MAX_IDS = event_catalog.MAX_IDS_PER_EVENT


@dataclass
class IngestOutcome:
    """What one `ingest_source` call did."""

    report: IngestReport = field(default_factory=IngestReport)
    pending: list[str] = field(default_factory=list)  # announced to enrichment
    errors: list[str] = field(default_factory=list)  # rejected records, with their reason
    recorded_by_gateway: list[str] = field(default_factory=list)
    events_changed: list[str] = field(default_factory=list)  # conference events new or changed

    def summary(self) -> dict[str, Any]:
        return {**self.report.as_dict(), "pending": self.pending, "rejected": self.errors}

    def rows(self) -> list[dict[str, str]]:
        """The table a person reads: one row per talk handled or announced."""
        return ingest_rows(
            report=self.report,
            recorded_by_gateway=self.recorded_by_gateway,
            pending=self.pending,
            errors=self.errors,
        )


def ingest_source(
    resources: Resources,
    *,
    source: str | Path | None = None,
    talk_ids: list[str] | None = None,
    logger: Any = log,
    on_progress: Callable[[int, int], None] | None = None,
    chunk: int = 500,
) -> IngestOutcome:
    """Record a source's talks and events, then announce every talk waiting for enrichment.

    Args:
        resources: lake, settings, event sink, step runner.
        source: a file or folder to import (directory JSON, DynamoDB stream JSON, JSONL(.gz),
            a pyvideo/data folder).
        talk_ids: talks the gateway already recorded; every talk still pending is announced,
            since a trigger folds a burst into one run and passes only the first event's ids.
        logger: where rejections and the summary line go (a flow's run logger).
        on_progress: (talks recorded, talks parsed), after each chunk (a progress bar).
        chunk: talks recorded per lake commit.

    Bad records are rejected one by one (`IngestOutcome.errors`), never the whole source.
    """
    lake, step = resources.lake, resources.step
    outcome = IngestOutcome(recorded_by_gateway=list(talk_ids or []))
    if source:
        parsed = step("parse-source", lambda: load_source(Path(source)))
        outcome.report = step(
            "record-talks", lambda: _record_in_chunks(lake, parsed, chunk, on_progress)
        )
        outcome.events_changed = step(
            "record-events", lambda: record_events(lake=lake, events=parsed.events)
        )
        outcome.errors = [str(e) for e in parsed.errors]
        for error in outcome.errors[:20]:
            logger.warning("rejected %s", error)
    pending = list(outcome.report.pending)
    if talk_ids:
        max_attempts = resources.settings.enrich.max_attempts
        pending += outstanding(lake=lake, max_attempts=max_attempts)
    outcome.pending = list(dict.fromkeys(pending))
    if outcome.pending:
        resources.events.emit(event_catalog.TALK_INGESTED, payload=bounded_ids(outcome.pending))
    report = outcome.report
    logger.info(
        "ingest: %d new, %d updated, %d unchanged, %d removed, %d rejected, %d pending",
        len(report.new),
        len(report.updated),
        len(report.unchanged),
        len(report.removed),
        len(outcome.errors),
        len(outcome.pending),
    )
    return outcome


def _record_in_chunks(
    lake: Any, parsed: ParseResult, chunk: int, on_progress: Callable[[int, int], None] | None
) -> IngestReport:
    # Idempotent, so a retried step re-records what an earlier try already did at no cost.
    report = IngestReport()
    talks = parsed.talks
    for start in range(0, max(len(talks), 1), chunk):
        part = record_talks(
            lake=lake,
            talks=talks[start : start + chunk],
            removed=parsed.removed if start == 0 else (),
        )
        for key, values in part.as_dict().items():
            getattr(report, key).extend(values)
        if on_progress:
            on_progress(min(start + chunk, len(talks)), len(talks))
    return report


def announce(resources: Resources, *, pending: list[str], removed: list[str], source: str) -> None:
    """Emit `podium.talk.ingested` for pending talks and `podium.talk.removed` for deletions."""
    if pending:
        payload = bounded_ids(pending, cap=SYNC_MAX_IDS)
        resources.events.emit(event_catalog.TALK_INGESTED, payload=payload)
    if removed:
        payload = {**bounded_ids(removed, cap=SYNC_MAX_IDS), "source": source}
        resources.events.emit(event_catalog.TALK_REMOVED, payload=payload)


def sync_pretalx(
    resources: Resources,
    *,
    urls: list[str],
    logger: Any = log,
    on_progress: Callable[[str, str], None] | None = None,
) -> list[PretalxSyncReport]:
    """Import new, changed and removed submissions of pretalx events (checkpoint per event).

    Args:
        resources: lake, settings (`pretalx`), the pretalx client factory, event sink, steps.
        urls: pretalx://host/event URLs.
        on_progress: (url, what the sync is doing) while it reads (a status line).
    """
    from podium.pretalx.sync import sync_pretalx_event

    limit = resources.settings.pretalx.detail_fetch_limit
    assert resources.pretalx is not None  # set in Resources.__post_init__

    def one(url: str) -> PretalxSyncReport:
        with resources.pretalx(url) as client:  # type: ignore[misc]
            return sync_pretalx_event(
                lake=resources.lake,
                client=client,
                detail_limit=limit,
                on_progress=(lambda message: on_progress(url, message)) if on_progress else None,
            )

    def step_for(url: str) -> Any:
        return resources.step("sync-pretalx-event", lambda: one(url))

    reports = [step_for(url) for url in urls]
    for report in reports:
        for error in report.errors[:20]:
            logger.warning("rejected %s", error)
    announce(
        resources,
        pending=sorted({i for r in reports for i in r.ingest.pending}),
        removed=sorted({i for r in reports for i in r.ingest.removed}),
        source="pretalx",
    )
    return reports


def sync_dynamodb(resources: Resources, *, logger: Any = log) -> StreamSyncReport:
    """Record the talk changes on the directory table's stream since each shard's checkpoint.

    Args:
        resources: lake, settings (`dynamodb`), the DynamoDB and streams clients, events.
    """
    from podium.dynamodb.client import latest_stream_arn, table_name
    from podium.dynamodb.streams import sync_stream
    from podium.sources import InputPolicy

    config = resources.settings.dynamodb

    def read() -> StreamSyncReport:
        arn = latest_stream_arn(dynamodb=resources.dynamodb(), settings=config)
        return sync_stream(
            lake=resources.lake,
            streams=resources.streams(),
            stream_arn=arn,
            table=table_name(config),
            limit=config.stream_batch,
            policy=InputPolicy.from_settings(resources.settings),
        )

    report = resources.step("read-dynamodb-stream", read)
    for error in report.errors[:20]:
        logger.warning("rejected %s", error)
    announce(
        resources,
        pending=report.ingest.pending,
        removed=report.ingest.removed,
        source="dynamodb-stream",
    )
    return report


def ingest_rows(
    *, report: IngestReport, recorded_by_gateway: list[str], pending: list[str], errors: list[str]
) -> list[dict[str, str]]:
    """One row per talk this run handled, and one per talk it handed to enrichment.

    A gateway-triggered run announces every talk still pending (the trigger folds a burst into
    one run), so those talks get rows too: the table agrees with the "pending" count above it.
    """
    waiting = set(pending)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(talk_id: str, change: str) -> None:
        seen.add(talk_id)
        enrichment = "pending" if talk_id in waiting else "—"
        rows.append({"talk_id": talk_id, "change": change, "enrichment": enrichment})

    for change, ids in (
        ("new", report.new),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("removed", report.removed),
        ("stale: older than the lake's version", report.stale),
        ("recorded by gateway", recorded_by_gateway),
    ):
        for talk_id in ids:
            if talk_id not in seen:
                add(talk_id, change)
    for talk_id in pending:
        if talk_id not in seen:
            add(talk_id, "recorded earlier")
    for error in errors:
        rows.append(
            {"talk_id": error.split(":")[0], "change": f"rejected: {error}", "enrichment": "—"}
        )
    return rows


def ingest_description(rows: list[dict[str, str]], *, limit: int) -> str:
    """The artifact's header, counted from the same rows as its table."""
    counts: dict[str, int] = {}
    for row in rows:
        kind = "rejected" if row["change"].startswith("rejected") else row["change"]
        counts[kind] = counts.get(kind, 0) + 1
    pending = sum(row["enrichment"] == "pending" for row in rows)
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "nothing"
    shown = f" (first {limit} shown)" if len(rows) > limit else ""
    return f"{len(rows)} talks{shown}: {parts}; {pending} pending enrichment"
