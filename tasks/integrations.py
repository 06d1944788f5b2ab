"""Prefect tasks around the pretalx source and the DynamoDB stream source and sink."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from podium.dynamodb.client import (
    dynamodb_client,
    latest_stream_arn,
    streams_client,
    table_name,
)
from podium.dynamodb.sink import SinkReport, write_back
from podium.dynamodb.streams import StreamSyncReport, sync_stream
from podium.lake import Lake
from podium.pretalx.client import PretalxClient, PretalxError, parse_pretalx_url
from podium.pretalx.sync import PretalxSyncReport, sync_pretalx_event


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    # A wrong URL, token or slug fails the same way a minute later: retry only the transient.
    try:
        state.result()
    except PretalxError as error:
        return error.transient
    except Exception:  # noqa: BLE001 - anything else (the lake, the network) may pass later
        return True
    return False


@task(
    name="sync-pretalx-event",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=_worth_retrying,
    cache_policy=NONE,
)
def sync_pretalx_event_task(*, lake: Lake, settings: Any, url: str) -> PretalxSyncReport:
    """Import one event's new and changed submissions; safe to retry (checkpointed, idempotent)."""
    with PretalxClient(parse_pretalx_url(url), settings.pretalx) as client:
        return sync_pretalx_event(
            lake=lake, client=client, detail_limit=settings.pretalx.detail_fetch_limit
        )


@task(name="read-dynamodb-stream", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def read_stream_task(*, lake: Lake, settings: Any) -> StreamSyncReport:
    """Record the talk changes on the table's stream since each shard's checkpoint."""
    config = settings.dynamodb
    arn = latest_stream_arn(dynamodb=dynamodb_client(config), settings=config)
    return sync_stream(
        lake=lake,
        streams=streams_client(config),
        stream_arn=arn,
        table=table_name(config),
        limit=config.stream_batch,
    )


@task(name="write-dynamodb", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def write_back_task(
    *,
    lake: Lake,
    settings: Any,
    talk_ids: list[str] | None,
    event_ids: list[str] | None,
    full: bool = False,
) -> SinkReport:
    """Write tags, tag items, counters and recommendations back; a retry rewrites nothing."""
    config = settings.dynamodb
    return write_back(
        lake=lake,
        client=dynamodb_client(config),
        settings=config,
        talk_ids=talk_ids,
        event_ids=event_ids,
        full=full,
    )
