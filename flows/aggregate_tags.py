"""The aggregate-tags flow: keep tag counts current after enrichment, then say so."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.events import emit_event

from flows.run_names import aggregate_run_name
from podium import event_catalog
from podium.lake import Lake
from podium.settings import get_settings
from tasks.aggregate import count_tags, find_affected_events, publish_tag_counts

AGGREGATED_EVENT = event_catalog.TAGS_AGGREGATED.name


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
    lake = Lake.from_settings(get_settings())
    run = count_tags(lake=lake, talk_ids=talk_ids, full=full)
    affected = find_affected_events(lake=lake, run=run)
    publish_tag_counts(lake=lake, run=run)
    summary = {
        "mode": run.mode,
        "talks_changed": run.talks_changed,
        "rows_written": run.rows_written,
        "rows_deleted": run.rows_deleted,
        "event_ids": affected,
    }
    if affected is None or affected:
        emit_event(
            event=AGGREGATED_EVENT,
            resource={"prefect.resource.id": "podium.tags"},
            payload={"mode": run.mode, "talks_changed": run.talks_changed, "event_ids": affected},
        )
    get_run_logger().info("tag counts: %s", summary)
    return summary
