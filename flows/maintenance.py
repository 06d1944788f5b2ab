"""The maintenance flow: cover retention, Delta table compaction and the replay store's sweep of
expired message ids (podium/replay.py), on a daily schedule.

The gateway commits once per request (or per group of concurrent requests), so tables collect
many small files; compaction rewrites them and vacuum drops files no version needs any more.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.run_names import maintenance_run_name
from podium.ingest import talk_rows
from podium.lake import SCHEMAS, Lake
from podium.replay import replay_store
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
def maintenance(compact: bool = True) -> dict[str, Any]:
    """Drop stale covers (keeping each talk's newest `images.keep_covers`, and its current
    one), then compact every table.

    Args:
        compact: also compact and vacuum the Delta tables.
    """
    resources = flow_resources()
    lake = resources.lake
    talks = talk_rows(lake=lake, columns=["talk_id", "content_hash"])
    current = dict(zip(talks.talk_id, talks.content_hash, strict=True))
    keep = resources.settings.images.keep_covers
    removed = remove_stale_covers(lake, keep_latest=keep, current=current)
    swept = sweep_replay_store(lake)
    tables = [name for name in SCHEMAS if lake.exists(name)] if compact else []
    for name in tables:
        compact_table(lake, name)
    get_run_logger().info(
        "maintenance: %d stale covers removed, %d expired message ids swept, %d tables compacted",
        removed,
        swept,
        len(tables),
    )
    return {"covers_removed": removed, "replay_ids_swept": swept, "tables_compacted": tables}
