"""The build-recommendations flow: precompute each event's top talks and related talks."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.run_names import recommendations_run_name
from podium.lake import Lake
from podium.settings import get_settings
from tasks.recommend import build_recommendation_tables, publish_recommendations


@flow(name="build-recommendations", flow_run_name=recommendations_run_name)
def build_recommendations(event_ids: list[str] | None = None) -> dict[str, Any]:
    """Rebuild the recommendation tables.

    Args:
        event_ids: only these events (after tag aggregation or an event edit); None rebuilds
            all events and every talk's related talks (the scheduled run).
    """
    settings = get_settings()
    lake = Lake.from_settings(settings)
    result = build_recommendation_tables(
        lake=lake, settings=settings.recommend, event_ids=event_ids
    )
    artifacts = publish_recommendations(result=result, settings=settings.recommend, lake=lake)
    summary = {
        "events": result.events,
        "recommendation_rows": result.recommendation_rows,
        "related_rows": result.related_rows,
        "talks": result.talks,
        "embedded_now": result.embedded_now,
        "model_version": result.model_version,
        "artifacts": artifacts,
    }
    get_run_logger().info("recommendations: %s", summary)
    return summary
