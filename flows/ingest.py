"""The ingest flow: record talks from a file or confirm talks the gateway recorded, then emit
`podium.talk.ingested` for those that need enrichment."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event
from pydantic import BaseModel, Field, model_validator

from flows.run_names import ingest_run_name
from podium import event_catalog
from podium.enrichment import outstanding
from podium.events import bounded_ids
from podium.ingest import IngestReport
from podium.lake import Lake
from podium.settings import get_settings
from podium.sources import ParseResult
from tasks.ingest import parse_source, record_events_task, record_talks_task

INGESTED_EVENT = event_catalog.TALK_INGESTED.name


class IngestRequest(BaseModel):
    """What to ingest: talks already recorded by the gateway, or a source to import."""

    talk_ids: list[str] = Field(
        default_factory=list, description="Talks the gateway recorded (podium.talk.submitted)."
    )
    source: str | None = Field(
        default=None,
        description="A file or folder to import: directory JSON, DynamoDB stream JSON, "
        "JSONL (.gz), or a pyvideo/data folder.",
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> IngestRequest:
        if not self.talk_ids and not self.source:
            raise ValueError("give talk_ids or a source")
        return self


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


@flow(name="ingest", flow_run_name=ingest_run_name)
def ingest(request: IngestRequest) -> dict[str, Any]:
    """Record talks durably and hand the changed ones to enrichment."""
    logger = get_run_logger()
    settings = get_settings()
    lake = Lake.from_settings(settings)
    report = IngestReport()
    errors: list[str] = []
    if request.source:
        parsed: ParseResult = parse_source(request.source)
        report = record_talks_task(lake=lake, result=parsed)
        record_events_task(lake=lake, result=parsed)
        errors = [str(e) for e in parsed.errors]
        for error in errors[:20]:
            logger.warning("rejected %s", error)
    pending = list(report.pending)
    if request.talk_ids:
        # The gateway already recorded these. Its trigger folds a burst of submissions into one
        # run and passes only the first event's ids, so announce everything still pending.
        pending += outstanding(lake=lake, max_attempts=settings.enrich.max_attempts)
    pending = list(dict.fromkeys(pending))
    summary = {**report.as_dict(), "pending": pending, "rejected": errors}
    rows = ingest_rows(
        report=report, recorded_by_gateway=request.talk_ids, pending=pending, errors=errors
    )
    create_table_artifact(
        key="ingested-talks", table=rows[:500], description=ingest_description(rows, limit=500)
    )
    if pending:
        emit_event(
            event=INGESTED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload=bounded_ids(pending),
        )
    logger.info(
        "ingest: %d new, %d updated, %d unchanged, %d removed, %d rejected, %d pending",
        len(report.new),
        len(report.updated),
        len(report.unchanged),
        len(report.removed),
        len(errors),
        len(pending),
    )
    return summary
