"""The ingest flow: record talks from a file or confirm talks the gateway recorded, then emit
`podium.talk.ingested` for those that need enrichment (`podium.use_cases.ingest`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field, model_validator

from flows.run_names import ingest_run_name
from podium.use_cases.ingest import ingest_description, ingest_rows, ingest_source
from tasks.resources import flow_resources

__all__ = ["IngestRequest", "ingest", "ingest_description", "ingest_rows"]


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


@flow(name="ingest", flow_run_name=ingest_run_name)
def ingest(request: IngestRequest) -> dict[str, Any]:
    """Record talks durably and hand the changed ones to enrichment
    (`podium.use_cases.ingest.ingest_source`), then show what was handled."""
    outcome = ingest_source(
        flow_resources(),
        source=request.source,
        talk_ids=request.talk_ids,
        logger=get_run_logger(),
    )
    rows = outcome.rows()
    create_table_artifact(
        key="ingested-talks", table=rows[:500], description=ingest_description(rows, limit=500)
    )
    return outcome.summary()
