"""The sync-pretalx flow: import new, changed and removed submissions of pretalx events."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from flows.ingest import INGESTED_EVENT
from podium.lake import Lake
from podium.settings import get_settings
from tasks.integrations import sync_pretalx_event_task

REMOVED_EVENT = "podium.talk.removed"
# Events carry at most this many ids (the count says how many there were); consumers re-read
# the lake, so a capped list loses nothing.
MAX_IDS = 1000


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
    settings = get_settings()
    lake = Lake.from_settings(settings)
    logger = get_run_logger()
    urls = events if events is not None else settings.pretalx.events
    if not urls:
        logger.info("no pretalx events configured (PODIUM_PRETALX__EVENTS): nothing to do")
        return {"events": []}
    reports = [sync_pretalx_event_task(lake=lake, settings=settings, url=url) for url in urls]
    pending = sorted({i for r in reports for i in r.ingest.pending})
    removed = sorted({i for r in reports for i in r.ingest.removed})
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
    create_table_artifact(
        key="sync-pretalx",
        table=rows,
        description=f"{len(pending)} talks to enrich, {len(removed)} removed",
    )
    for report in reports:
        for error in report.errors[:20]:
            logger.warning("rejected %s", error)
    if pending:
        emit_event(
            event=INGESTED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={"talk_ids": pending[:MAX_IDS], "count": len(pending)},
        )
    if removed:
        emit_event(
            event=REMOVED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={"talk_ids": removed[:MAX_IDS], "count": len(removed), "source": "pretalx"},
        )
    logger.info("sync-pretalx: %s", rows)
    return {"events": [r.as_dict() for r in reports]}
