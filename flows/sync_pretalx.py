"""The sync-pretalx flow: import new, changed and removed submissions of pretalx events
(`podium.use_cases.ingest.sync_pretalx`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from podium import event_catalog
from podium.settings import get_settings
from podium.use_cases import ingest as use_case
from tasks.resources import flow_resources

REMOVED_EVENT = event_catalog.TALK_REMOVED.name


def _run_name() -> str:
    from prefect.runtime import flow_run

    events = flow_run.parameters.get("events") or get_settings().pretalx.events
    return "sync-pretalx · " + (", ".join(e.rsplit("/", 1)[-1] for e in events) or "no events")


@flow(name="sync-pretalx", flow_run_name=_run_name)
def sync_pretalx(events: list[str] | None = None) -> dict[str, Any]:
    """Import submissions from pretalx, incrementally (a checkpoint per event in the lake).

    Args:
        events: pretalx://host/event URLs; PODIUM_PRETALX__EVENTS when None.
    """
    resources = flow_resources()
    logger = get_run_logger()
    urls = events if events is not None else resources.settings.pretalx.events
    if not urls:
        logger.info("no pretalx events configured (PODIUM_PRETALX__EVENTS): nothing to do")
        return {"events": []}
    reports = use_case.sync_pretalx(resources, urls=urls, logger=logger)
    rows = [
        {
            "event": r.source,
            "listed": r.listed,
            "fetched": r.fetched,
            "new": len(r.ingest.new),
            "updated": len(r.ingest.updated),
            "removed": len(r.ingest.removed),
            "rejected": len(r.errors),
            "requests": r.requests,
        }
        for r in reports
    ]
    pending = {i for r in reports for i in r.ingest.pending}
    removed = {i for r in reports for i in r.ingest.removed}
    create_table_artifact(
        key="sync-pretalx",
        table=rows,
        description=f"{len(pending)} talks to enrich, {len(removed)} removed",
    )
    logger.info("sync-pretalx: %s", rows)
    return {"events": [r.as_dict() for r in reports]}
