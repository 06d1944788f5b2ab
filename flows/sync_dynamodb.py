"""The sync-dynamodb flow: the directory table's stream, read directly, into the lake
(`podium.use_cases.ingest.sync_dynamodb`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from podium.settings import get_settings
from podium.use_cases import ingest as use_case
from tasks.resources import flow_resources


def _run_name() -> str:
    return f"sync-dynamodb · {get_settings().dynamodb.table or 'no table'}"


@flow(name="sync-dynamodb", flow_run_name=_run_name)
def sync_dynamodb() -> dict[str, Any]:
    """Record the talks the directory app wrote since the last run (checkpoint per shard)."""
    resources = flow_resources()
    logger = get_run_logger()
    if not resources.settings.dynamodb.table:
        logger.info("no DynamoDB table configured (PODIUM_DYNAMODB__TABLE): nothing to do")
        return {}
    report = use_case.sync_dynamodb(resources, logger=logger)
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
    return summary
