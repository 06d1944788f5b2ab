"""Prefect tasks around `podium.images`: publish and prune covers (the enrich flow renders
and stores them batch by batch in `podium.use_cases.enrich`).

The backend (with its loaded pipeline) and the lake are passed in and kept out of cache keys:
these tasks have side effects or hold models, so they do not cache at all (NO_CACHE); the
lake is the record of what was made, and storing is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from podium import images
from podium.lake import Lake


@task(name="publish-cover-gallery", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def publish_cover_gallery(lake: Lake, rows: pd.DataFrame, *, key: str = "cover-gallery") -> str:
    """Show the run's covers in the Prefect UI as a markdown artifact; returns its markdown."""
    markdown = images.cover_gallery_markdown(rows, lake=lake)
    create_markdown_artifact(
        key=key, markdown=markdown, description=f"{len(rows)} covers made in this run"
    )
    return markdown


@task(
    name="remove-stale-covers",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    tags=["lake"],
)
def remove_stale_covers(
    lake: Lake, *, keep_latest: int = 1, current: Mapping[str, str] | None = None
) -> int:
    """The retention step: drop all but each talk's newest covers (and its current one)."""
    removed = images.remove_stale_covers(lake=lake, keep_latest=keep_latest, current=current)
    get_run_logger().info("removed %d stale covers", removed)
    return removed
