"""The write-pretalx flow (opt-in): Podium's tags back to pretalx
(`podium.use_cases.pretalx_write.write_pretalx`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from podium.use_cases.pretalx_write import write_pretalx as use_case
from tasks.resources import flow_resources


@flow(name="write-pretalx")
def write_pretalx(events: list[str] | None = None) -> dict[str, Any]:
    """Add organiser-accepted tags (and confident model tags, when enabled) to the pretalx
    events' submissions; never removes a tag. Off unless PODIUM_PRETALX__WRITE_BACK=true.

    Args:
        events: pretalx://host/event URLs; PODIUM_PRETALX__EVENTS when None.
    """
    resources = flow_resources()
    urls = events if events is not None else resources.settings.pretalx.events
    reports = use_case(resources, urls=urls, logger=get_run_logger())
    rows = [
        {
            "event": r.source,
            "tags created": len(r.tags_created),
            "submissions updated": len(r.submissions_updated),
            "unchanged": r.submissions_unchanged,
            "skipped": len(r.skipped),
        }
        for r in reports
    ]
    if rows:
        create_table_artifact(key="write-pretalx", table=rows, description="tags written back")
    return {"events": [r.as_dict() for r in reports]}
