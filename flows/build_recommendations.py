"""The build-recommendations flow: precompute each event's top talks and related talks."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.run_names import recommendations_run_name
from tasks.recommend import build_recommendation_tables, publish_recommendations
from tasks.resources import flow_resources


@flow(name="build-recommendations", flow_run_name=recommendations_run_name)
def build_recommendations(event_ids: list[str] | None = None) -> dict[str, Any]:
    """Rebuild the recommendation tables.

    Args:
        event_ids: only these events (after tag aggregation or an event edit); None rebuilds
            all events and every talk's related talks (the scheduled run).
    """
    resources = flow_resources()  # the process's lake and settings
    result = build_recommendation_tables(resources, event_ids=event_ids)
    artifacts = publish_recommendations(
        result=result, settings=resources.settings.recommend, lake=resources.lake
    )
    summary = result.summary() | {"artifacts": artifacts}
    get_run_logger().info("recommendations: %s", summary)
    return summary
