"""The enrich flow: every pending talk, in batches, each model loaded once per run.

Triggered (debounced) by `podium.talk.ingested` and on a short safety-net schedule; deployment
concurrency 1 with ENQUEUE, so a burst of submissions costs a few runs, not one per talk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from flows.run_names import enrich_run_name, name_enrich, rename_run
from podium.devices import resolve_device
from podium.lake import Lake
from podium.models import Vocabulary
from podium.settings import get_settings
from podium.vocabulary import load_vocabulary
from tasks.enrich import (
    StageResult,
    find_pending,
    load_image_backend,
    load_tagger,
    run_covers,
    run_tagging,
)
from tasks.images import publish_cover_gallery

TAGGED_EVENT = "podium.talk.tagged"


@flow(name="enrich", flow_run_name=enrich_run_name)
def enrich(limit: int | None = None) -> dict[str, Any]:
    """Tag and draw covers for every pending talk.

    Args:
        limit: enrich at most this many talks (the rest wait for the next run); None for all,
            including talks submitted while the run works (up to `enrich.max_passes` passes).

    Returns:
        Counts: talks tagged, covers drawn, failures, model loads.
    """
    started = datetime.now(UTC)
    settings = get_settings()
    logger = get_run_logger()
    lake = Lake.from_settings(settings)
    model_loads = passes = 0
    tagger: Any = None
    history: Any = None
    backend: Any = None
    vocabulary: Vocabulary | None = None
    tagging, covering = StageResult(), StageResult()
    tag_model = image_backend = ""
    attempted: set[str] = set()
    # Drain: talks submitted while a pass runs are taken by the next pass, with the models
    # already loaded, instead of waiting for another flow run (and another model load).
    while passes < settings.enrich.max_passes:
        left = None if limit is None else limit - len(attempted)
        if left is not None and left <= 0:
            break
        work = find_pending(
            lake=lake, max_attempts=settings.enrich.max_attempts, limit=None
        ).without(attempted)  # a talk that failed in this run waits for the next run
        work = work.first(left) if left is not None else work
        if not work.talks:
            break
        passes += 1
        attempted |= {t.talk_id for t in work.talks}
        rename_run(name_enrich(len(attempted)))  # the UI's run list says what it works on
        if work.for_stage("tags"):
            if tagger is None:
                tagger, history = load_tagger(
                    settings=settings,
                    device=resolve_device(settings.tagging.device),
                    lake=lake,
                    exclude={t.talk_id for t in work.for_stage("tags")},
                )
                vocabulary = load_vocabulary(lake=lake)
                model_loads += 1
                tag_model = tagger.model_version
            assert vocabulary is not None  # loaded with the tagger
            tagging.extend(
                run_tagging(
                    lake=lake,
                    settings=settings,
                    work=work,
                    tagger=tagger,
                    history=history,
                    vocabulary=vocabulary,
                )
            )
        if work.for_stage("image"):
            if backend is None:
                backend = load_image_backend(
                    settings=settings, device=resolve_device(settings.images.device)
                )
                model_loads += 1
                image_backend = f"{backend.name}:{backend.model_version}"
            covering.extend(run_covers(lake=lake, settings=settings, work=work, backend=backend))
    tagged, imaged_rows = tagging.done, covering.rows
    failed = tagging.failed + covering.failed

    summary: dict[str, Any] = {
        "talks": len(attempted),
        "passes": passes,
        "tagged": len(tagged),
        "covers": sum(len(r) for r in imaged_rows),
        "failed": sorted(set(failed)),
        "model_loads": model_loads,
        "batch_size": settings.enrich.batch_size,
    }
    logger.info(
        "enrich: %d talks, %d tagged, %d covers, %d failed for good, %d model loads",
        summary["talks"],
        summary["tagged"],
        summary["covers"],
        len(summary["failed"]),
        model_loads,
    )
    if not attempted:
        rename_run(name_enrich(0))
    _publish(lake=lake, summary=summary, tagged=tagged, imaged_rows=imaged_rows)
    run_id = str(flow_run.get_id() or f"local-{started.timestamp()}")
    lake.append(
        "enrich_runs",
        pd.DataFrame(
            [
                {
                    "flow_run_id": run_id,
                    "started_at": started,
                    "finished_at": datetime.now(UTC),
                    "talks_tagged": len(tagged),
                    "talks_imaged": summary["covers"],
                    "failed": len(summary["failed"]),
                    "model_loads": model_loads,
                    "tag_model": tag_model,
                    "image_backend": image_backend,
                }
            ]
        ),
    )
    if tagged:
        emit_event(
            event=TAGGED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload={"talk_ids": tagged, "count": len(tagged)},
        )
    return summary


def _publish(
    *, lake: Lake, summary: dict[str, Any], tagged: list[str], imaged_rows: list[pd.DataFrame]
) -> None:
    """Artifacts a person wants to look at: the run, tags per talk, covers, failures.

    A run that found nothing pending (the safety-net schedule, mostly) publishes nothing, so
    the `enrich-run` artifact keeps showing the last run that did some work.
    """
    if not summary["talks"]:
        return
    create_markdown_artifact(
        key="enrich-run",
        markdown=(
            "## Enrichment run\n\n| talks | tagged | covers | failed | model loads | batch |\n"
            "|---|---|---|---|---|---|\n"
            f"| {summary['talks']} | {summary['tagged']} | {summary['covers']} | "
            f"{len(summary['failed'])} | {summary['model_loads']} | {summary['batch_size']} |\n"
        ),
        description="talks processed and model loads of this run",
    )
    if tagged:
        frame = lake.read("talk_tags", where=[("talk_id", "in", tagged)])
        titles = lake.read("talks", columns=["talk_id", "title"], where=[("talk_id", "in", tagged)])
        title = dict(zip(titles.talk_id, titles.title, strict=True))
        rows = []
        for talk_id, group in frame.sort_values("score", ascending=False).groupby("talk_id"):
            rows.append(
                {
                    "talk_id": talk_id,
                    "title": title.get(talk_id, "")[:80],
                    "speaker tags": ", ".join(group[group.source == "speaker"].tag),
                    "model tags": ", ".join(
                        f"{t} ({s:.2f})"
                        for t, s in zip(
                            group[group.source == "model"].tag,
                            group[group.source == "model"].score,
                            strict=True,
                        )
                    ),
                }
            )
        create_table_artifact(key="talk-tags", table=rows[:500], description="tags per talk")
    if imaged_rows:
        publish_cover_gallery(lake, pd.concat(imaged_rows, ignore_index=True), key="covers")
    if summary["failed"]:
        from podium.enrichment import failed_talks

        failures = failed_talks(lake=lake)
        create_table_artifact(
            key="enrichment-failures",
            table=failures[["talk_id", "stage", "attempts", "error"]].to_dict("records"),
            description="talks whose enrichment failed for good (not retried)",
        )
