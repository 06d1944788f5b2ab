"""Prefect tasks around `podium.tag_counts` for the backfill: count tags and publish them.

The aggregate-tags flow runs `podium.use_cases.aggregate` instead."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from podium.lake import Lake
from podium.tag_counts import (
    TagCountRun,
    read_tag_counts,
    recompute_tag_counts,
    update_tag_counts,
)


@task(name="count-tags", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def count_tags(*, lake: Lake, talk_ids: list[str] | None, full: bool) -> TagCountRun:
    """Full recount, or an incremental update from the talks changed since the last run."""
    if full:
        return recompute_tag_counts(lake=lake)
    return update_tag_counts(lake=lake, talk_ids=talk_ids)


@task(name="publish-tag-counts", cache_policy=NONE)
def publish_tag_counts(*, lake: Lake, run: TagCountRun, limit: int = 50) -> str:
    """A table artifact of the most used tags overall."""
    top = read_tag_counts(lake=lake).head(limit)
    rows = [{"tag": t, "talks": int(n)} for t, n in zip(top["tag"], top["talks"], strict=True)]
    return str(
        create_table_artifact(
            key="tag-counts",
            table=rows,
            description=(
                f"Talks per tag ({run.mode} update: {run.talks_changed} talks changed, "
                f"{run.rows_written} count rows written)."
            ),
        )
    )
