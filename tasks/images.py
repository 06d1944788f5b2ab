"""Prefect tasks around `podium.images`: render, store, publish and prune covers.

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
from podium.images import CoverImage, ImageBackend
from podium.lake import Lake
from podium.models import Talk


@task(name="render-covers", cache_policy=NO_CACHE, tags=["images"])
def render_covers(
    backend: ImageBackend, talks: list[Talk], *, tags: dict[str, list[str]]
) -> list[CoverImage]:
    """Render covers for a batch of talks with an already-built backend.

    No retries: a deterministic failure would repeat, and the diffusers backend already
    halves a batch that runs out of GPU memory. The enrich flow's per-talk attempts decide.
    """
    logger = get_run_logger()
    covers = backend.render(talks, tags=tags)
    flagged = sum(c.flagged for c in covers)
    logger.info(
        "rendered %d covers with %s (%s); %d flagged",
        len(covers),
        backend.name,
        backend.model_version,
        flagged,
    )
    return covers


@task(
    name="store-covers",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    tags=["lake"],
)
def store_covers(lake: Lake, covers: list[CoverImage]) -> pd.DataFrame:
    """Write PNGs and `talk_images` rows; retried because object stores and commits flake."""
    return images.store_covers(lake=lake, covers=covers)


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
