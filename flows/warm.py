"""The warm enrich flow: what a speaker's submission runs, in a process whose models are loaded.

The gateway's `podium.talk.submitted` event triggers the `enrich-warm` deployment directly (no
ingest relay); its runs sit in the `warm` queue of the GPU pool, where a warm executor
(`deployments/warm_executor.py`) runs them in its own process with the tagger and the cover
backend already loaded. Same stage functions as `enrich`, so the ledger, batching and retries are
the same; the cold `enrich` deployment's schedule stays the safety net for anything lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.events import emit_event
from prefect.runtime import flow_run

from flows.enrich import TAGGED_EVENT, _publish
from podium import warm_models
from podium.lake import Lake
from podium.settings import get_settings
from podium.tagging import load_history
from podium.vocabulary import load_vocabulary
from tasks.enrich import StageResult, find_pending, run_covers, run_tagging

GALLERY_COVERS = 12


@flow(name="enrich-warm", log_prints=False)
def enrich_warm(talk_ids: list[str] | None = None) -> dict[str, Any]:
    """Tag and draw covers for every pending talk with the process's loaded models.

    Args:
        talk_ids: the talks of the event that triggered the run, for the record; the run takes
            every pending talk (a burst's other talks included), so this never narrows it.

    Returns:
        Counts: talks tagged, covers drawn, failures, model loads (0 when warm).
    """
    started = datetime.now(UTC)
    settings = get_settings()
    logger = get_run_logger()
    lake = Lake.from_settings(settings)
    loads = passes = 0
    tagging, covering = StageResult(), StageResult()
    attempted: set[str] = set()
    tag_model = image_backend = ""
    # Drain: talks that arrive while a pass works are taken by the next pass.
    while passes < settings.enrich.max_passes:
        work = find_pending(
            lake=lake, max_attempts=settings.enrich.max_attempts, limit=None
        ).without(attempted)
        if not work.talks:
            break
        passes += 1
        attempted |= {t.talk_id for t in work.talks}
        if work.for_stage("tags"):
            tagger, loaded = warm_models.tagger(settings)
            loads += loaded
            tag_model = tagger.model_version
            encoder = getattr(tagger, "encoder", None)
            ids = {t.talk_id for t in work.for_stage("tags")}
            history = (
                load_history(lake=lake, encoder=encoder, exclude_talk_ids=ids) if encoder else None
            )
            tagging.extend(
                run_tagging(
                    lake=lake,
                    settings=settings,
                    work=work,
                    tagger=tagger,
                    history=history,
                    vocabulary=load_vocabulary(lake=lake),
                )
            )
        if work.for_stage("image"):
            backend, loaded = warm_models.image_backend(settings)
            loads += loaded
            image_backend = f"{backend.name}:{backend.model_version}"
            covering.extend(run_covers(lake=lake, settings=settings, work=work, backend=backend))
    summary: dict[str, Any] = {
        "talks": len(attempted),
        "passes": passes,
        "tagged": len(tagging.done),
        "covers": sum(len(r) for r in covering.rows),
        "failed": sorted(set(tagging.failed + covering.failed)),
        "model_loads": loads,
        "batch_size": settings.enrich.batch_size,
        "triggered_by": len(talk_ids or []),
    }
    logger.info(
        "enrich-warm: %d talks in %d passes, %d tagged, %d covers, %d failed, %d model loads",
        summary["talks"],
        passes,
        summary["tagged"],
        summary["covers"],
        len(summary["failed"]),
        loads,
    )
    if not attempted:
        return summary  # a run folded into an earlier one: nothing to publish or record
    # The gallery decodes and thumbnails every cover: on the hot path, show the first few.
    gallery = (
        [pd.concat(covering.rows, ignore_index=True).head(GALLERY_COVERS)] if covering.rows else []
    )
    _publish(lake=lake, summary=summary, tagged=tagging.done, imaged_rows=gallery)
    lake.append(
        "enrich_runs",
        pd.DataFrame(
            [
                {
                    "flow_run_id": str(flow_run.get_id() or f"local-{started.timestamp()}"),
                    "started_at": started,
                    "finished_at": datetime.now(UTC),
                    "talks_tagged": len(tagging.done),
                    "talks_imaged": summary["covers"],
                    "failed": len(summary["failed"]),
                    "model_loads": loads,
                    "tag_model": tag_model,
                    "image_backend": image_backend,
                }
            ]
        ),
    )
    if tagging.done:
        emit_event(
            event=TAGGED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={"talk_ids": tagging.done, "count": len(tagging.done)},
        )
    return summary
