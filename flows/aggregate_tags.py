"""The aggregate-tags flow: keep tag counts current after enrichment, then say so
(`podium.use_cases.aggregate`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.run_names import aggregate_run_name
from podium.use_cases.aggregate import aggregate, top_tags
from tasks.resources import flow_resources


@flow(name="aggregate-tags", flow_run_name=aggregate_run_name)
def aggregate_tags(talk_ids: list[str] | None = None, full: bool = False) -> dict[str, Any]:
    """Update `tag_counts` (overall, per event, per state).

    Args:
        talk_ids: talks known to have changed; the Delta logs add any others since the last
            run, so an incomplete list (a debounced trigger's last event) is still correct.
        full: recount everything from scratch instead.

    Emits `podium.tags.aggregated` (resource `podium.tags`) with the affected events, which
    triggers build-recommendations.
    """
    resources = flow_resources()
    outcome = aggregate(resources, talk_ids=talk_ids, full=full, logger=get_run_logger())
    run = outcome.run
    create_table_artifact(
        key="tag-counts",
        table=top_tags(resources),
        description=(
            f"Talks per tag ({run.mode} update: {run.talks_changed} talks changed, "
            f"{run.rows_written} count rows written)."
        ),
    )
    return outcome.summary()
