"""Prefect tasks around `podium.ingest` and `podium.sources`."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from podium.ingest import IngestReport, record_events
from podium.lake import Lake
from podium.recording import record_talks
from podium.sources import ParseResult, load_source


@task(name="parse-source", cache_policy=NONE)
def parse_source(path: str) -> ParseResult:
    """Parse a file or pyvideo folder into talks, events and per-record errors."""
    return load_source(Path(path))


@task(name="record-talks", retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NONE)
def record_talks_task(*, lake: Lake, result: ParseResult) -> IngestReport:
    """Durably record parsed talks and deletions; idempotent, so retrying is safe."""
    return record_talks(lake=lake, talks=result.talks, removed=result.removed)


@task(name="record-events", retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NONE)
def record_events_task(*, lake: Lake, result: ParseResult) -> list[str]:
    """Upsert parsed events; returns the ids that changed."""
    return record_events(lake=lake, events=result.events)
