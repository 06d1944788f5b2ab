"""The write-dynamodb flow: Podium's results back into the directory's table."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from podium.settings import get_settings
from podium.use_cases.write_back import write_dynamodb as write_back
from tasks.resources import flow_resources


def _run_name() -> str:
    return f"write-dynamodb · {get_settings().dynamodb.table or 'no table'}"


@flow(name="write-dynamodb", flow_run_name=_run_name)
def write_dynamodb(
    talk_ids: list[str] | None = None, event_ids: list[str] | None = None, full: bool = False
) -> dict[str, Any]:
    """Tags onto talk items, tag items, exact counters and recommendation items.

    Args:
        talk_ids: talks to write; all when None (unchanged items cost a read, no write).
        event_ids: events whose recommendations to write; all when None.
        full: compare everything with the table, not only what changed since the last write
            (repairs items changed outside Podium).
    """
    resources = flow_resources()
    settings = resources.settings
    logger = get_run_logger()
    if not settings.dynamodb.table:
        logger.info("no DynamoDB table configured (PODIUM_DYNAMODB__TABLE): nothing to do")
        return {}
    report = write_back(resources, talk_ids=talk_ids, event_ids=event_ids, full=full)
    summary = report.as_dict()
    create_table_artifact(
        key="write-dynamodb",
        table=[{"what": k, "items": v} for k, v in summary.items()],
        description=f"written to {settings.dynamodb.table}",
    )
    if report.talks_skipped:
        logger.info(
            "%d talks skipped (deleted or edited in the app since Podium read them)",
            len(report.talks_skipped),
        )
    return summary
