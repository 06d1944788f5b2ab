"""The sync-dynamodb flow: the directory table's stream, read directly, into the lake."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from flows.ingest import INGESTED_EVENT
from flows.sync_pretalx import MAX_IDS, REMOVED_EVENT
from podium.lake import Lake
from podium.settings import get_settings
from tasks.integrations import read_stream_task


def _run_name() -> str:
    return f"sync-dynamodb · {get_settings().dynamodb.table or 'no table'}"


@flow(name="sync-dynamodb", flow_run_name=_run_name)
def sync_dynamodb() -> dict[str, Any]:
    """Record the talks the directory app wrote since the last run (checkpoint per shard)."""
    settings = get_settings()
    logger = get_run_logger()
    if not settings.dynamodb.table:
        logger.info("no DynamoDB table configured (PODIUM_DYNAMODB__TABLE): nothing to do")
        return {}
    report = read_stream_task(lake=Lake.from_settings(settings), settings=settings)
    summary = report.as_dict()
    create_table_artifact(
        key="sync-dynamodb",
        table=[
            {"outcome": k, "talks": len(v) if isinstance(v, list) else v}
            for k, v in summary.items()
            if k != "stream_arn"
        ],
        description=f"{report.records} stream records from {report.shards} shards",
    )
    for error in report.errors[:20]:
        logger.warning("rejected %s", error)
    if report.ingest.pending:
        emit_event(
            event=INGESTED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={
                "talk_ids": report.ingest.pending[:MAX_IDS],
                "count": len(report.ingest.pending),
            },
        )
    if report.ingest.removed:
        emit_event(
            event=REMOVED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={
                "talk_ids": report.ingest.removed[:MAX_IDS],
                "count": len(report.ingest.removed),
                "source": "dynamodb-stream",
            },
        )
    return summary
