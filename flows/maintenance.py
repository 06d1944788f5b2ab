"""The maintenance flow: cover retention, Delta table compaction, the replay store's sweep of
expired message ids (podium/replay.py), expired reviews, and the `podium-status` artifact (what
`podium status` prints), on a daily schedule.

The gateway commits once per request (or per group of concurrent requests), so tables collect
many small files; compaction rewrites them and vacuum drops files no version needs any more.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.run_names import maintenance_run_name
from podium import status_view
from podium.ingest import talk_rows
from podium.lake import SCHEMAS, Lake
from podium.operations import lake_state
from podium.replay import replay_store
from podium.review.records import expire_overdue
from podium.settings import Settings
from tasks.images import remove_stale_covers
from tasks.resources import flow_resources


@task(name="compact-table", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def compact_table(lake: Lake, name: str) -> None:
    """Compact one table's small files and vacuum unreferenced ones past retention."""
    lake.compact(name)


@task(name="sweep-replay-store", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def sweep_replay_store(lake: Lake) -> int:
    """Remove webhook message ids whose signature window ended (none with Redis: its TTL)."""
    store = replay_store(flow_resources().settings, lake)
    try:
        return store.sweep()
    finally:
        store.close()


@flow(name="maintenance", flow_run_name=maintenance_run_name)
def maintenance(compact: bool = True, status_only: bool = False) -> dict[str, Any]:
    """Drop stale covers (keeping each talk's newest `images.keep_covers`, and its current
    one), then compact every table; refresh the `podium-status` artifact.

    Args:
        compact: also compact and vacuum the Delta tables.
        status_only: only refresh the status artifact (the frequent schedule).
    """
    resources = flow_resources()
    lake = resources.lake
    if status_only:
        publish_status(resources.settings, lake)
        return {"covers_removed": 0, "tables_compacted": []}
    talks = talk_rows(lake=lake, columns=["talk_id", "content_hash"])
    current = dict(zip(talks.talk_id, talks.content_hash, strict=True))
    keep = resources.settings.images.keep_covers
    removed = remove_stale_covers(lake, keep_latest=keep, current=current)
    review = resources.settings.review
    # Suspended reviews the server expired (their process is gone): recorded as expired.
    grace_s = 600
    expired = expire_overdue(
        lake=lake,
        received_before=datetime.now(UTC) - timedelta(seconds=review.timeout_s + grace_s),
        comment=f"no decision within {review.timeout_s}s",
    )
    swept = sweep_replay_store(lake)
    tables = [name for name in SCHEMAS if lake.exists(name)] if compact else []
    for name in tables:
        compact_table(lake, name)
    get_run_logger().info(
        "maintenance: %d stale covers removed, %d expired message ids swept, %d tables "
        "compacted, %d reviews expired",
        removed,
        swept,
        len(tables),
        len(expired),
    )
    publish_status(resources.settings, lake)
    return {
        "covers_removed": removed,
        "replay_ids_swept": swept,
        "tables_compacted": tables,
        "reviews_expired": expired,
    }


STATUS_ARTIFACT = "podium-status"


@task(name="publish-status", cache_policy=NO_CACHE)
def publish_status(settings: Settings, lake: Lake) -> str:
    """Refresh the `podium-status` Markdown artifact: what `podium status` prints."""
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL

    state = lake_state(lake=lake, max_attempts=settings.enrich.max_attempts)
    report = status_view.build_report(
        state,
        api_url=PREFECT_API_URL.value() or settings.prefect.api_url,
        api_key=PREFECT_API_KEY.value() or None,
    )
    text = status_view.markdown(report)
    create_markdown_artifact(
        key=STATUS_ARTIFACT, markdown=text, description="Podium status (`podium status`)"
    )
    return text
