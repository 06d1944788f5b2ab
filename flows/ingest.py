"""The ingest flow: record talks from a file or confirm talks the gateway recorded, then emit
`podium.talk.ingested` for those that need enrichment."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event
from pydantic import BaseModel, Field, model_validator

from podium.ingest import IngestReport
from podium.lake import Lake
from podium.settings import get_settings
from podium.sources import ParseResult
from tasks.ingest import parse_source, record_events_task, record_talks_task

INGESTED_EVENT = "podium.talk.ingested"


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


@flow(name="ingest")
def ingest(request: IngestRequest) -> dict[str, Any]:
    """Record talks durably and hand the changed ones to enrichment."""
    logger = get_run_logger()
    lake = Lake.from_settings(get_settings())
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
        state = lake.read(
            "enrichment_state",
            columns=["talk_id"],
            where=[("status", "in", ["pending", "error"])],
        )
        pending += sorted(set(state.talk_id))
    pending = list(dict.fromkeys(pending))
    summary = {**report.as_dict(), "pending": pending, "rejected": errors}
    rows = (
        [{"talk_id": i, "change": "new"} for i in report.new]
        + [{"talk_id": i, "change": "updated"} for i in report.updated]
        + [{"talk_id": i, "change": "unchanged"} for i in report.unchanged]
        + [{"talk_id": i, "change": "removed"} for i in report.removed]
        + [{"talk_id": i, "change": "stale: older than the lake's version"} for i in report.stale]
        + [{"talk_id": i, "change": "recorded by gateway"} for i in request.talk_ids]
        + [{"talk_id": e.split(":")[0], "change": f"rejected: {e}"} for e in errors]
    )
    create_table_artifact(
        key="ingested-talks", table=rows[:500], description=f"{len(pending)} pending enrichment"
    )
    if pending:
        emit_event(
            event=INGESTED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={"talk_ids": pending, "count": len(pending)},
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
