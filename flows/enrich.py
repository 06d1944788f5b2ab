"""The enrich flow: every pending talk, in batches, each model loaded once per run.

Triggered (debounced) by `podium.talk.ingested` and on a short safety-net schedule; deployment
concurrency 1 with ENQUEUE, so a burst of submissions costs a few runs, not one per talk. The
loop is `podium.use_cases.enrich.enrich_pending`; this flow adds the event, the run record and
the artifacts, in that order: what drives the pipeline goes out before what decorates it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.run_names import enrich_run_name, name_enrich, rename_run
from podium import event_catalog
from podium.enrichment import record_run
from podium.events import EventSink, bounded_ids
from podium.ingest import talk_rows
from podium.lake import Lake
from podium.talk_tags import tag_rows
from podium.use_cases.enrich import EnrichReport, EnrichResources, enrich_pending
from tasks.enrich import enrich_resources
from tasks.images import publish_cover_gallery
from tasks.resources import flow_resources


@flow(name="enrich", flow_run_name=enrich_run_name)
def enrich(limit: int | None = None, min_wait_s: float = 0.0) -> dict[str, Any]:
    """Tag and draw covers for every pending talk.

    Args:
        limit: enrich at most this many talks (the rest wait for the next run); None for all,
            including talks submitted while the run works (up to `enrich.max_passes` passes).
        min_wait_s: take only talks pending for at least this long. The 2-minute safety-net
            schedule passes 60 s: fresh talks are the warm executors' (a second, cold run
            would load its models and take a burst's talks from the warm run); what they
            missed is older than that.

    Returns:
        Counts: talks tagged, covers drawn, failures, model loads.
    """
    return enrich_and_report(enrich_resources(flow_resources()), limit=limit, min_wait_s=min_wait_s)


def enrich_and_report(
    resources: EnrichResources,
    *,
    limit: int | None = None,
    count_loads: Callable[[], int] | None = None,
    gallery_covers: int | None = None,
    extra: dict[str, Any] | None = None,
    events: EventSink | None = None,
    tagged_event_per_pass: bool = False,
    tags_first: int | None = None,
    min_wait_s: float = 0.0,
) -> dict[str, Any]:
    """Run the use-case in this flow run, then the event, the run record and the artifacts.

    Args:
        resources: lake, settings and model loaders (cold: loaded now; warm: already loaded).
        limit: enrich at most this many talks.
        count_loads: the process's count of real model loads, when models may already be
            loaded (the warm executor); the summary reports the loads this run caused.
        gallery_covers: show at most this many covers in the gallery artifact (None: all).
        extra: more fields for the summary.
        events: where `podium.talk.tagged` goes (default: the process's resources' sink, this
            flow run's Prefect events).
        tagged_event_per_pass: emit `podium.talk.tagged` as soon as each pass has tagged its
            talks, before their covers (the warm path), instead of once at the end.
        tags_first: cover batch size of the warm path's latency mode (`enrich_pending`):
            talks waiting for tags go before the next cover batch.
        min_wait_s: only talks pending at least this long (the safety net's patience).
    """
    started = datetime.now(UTC)
    settings = resources.settings
    logger = get_run_logger()
    loads_before = count_loads() if count_loads else 0
    lake = resources.lake
    run_id = str(flow_run.get_id() or f"local-{started.timestamp()}")
    sink = events if events is not None else flow_resources().events

    def emit_tagged(talk_ids: list[str]) -> None:
        sink.emit(event_catalog.TALK_TAGGED, payload=bounded_ids(talk_ids))

    report = enrich_pending(
        resources,
        limit=limit,
        owner=run_id,
        logger=logger,
        on_tagged=emit_tagged if tagged_event_per_pass else None,
        tags_first=tags_first,
        min_wait_s=min_wait_s,
    )
    rename_run(name_enrich(len(report.talks)))  # the UI's run list says what it worked on
    if count_loads:
        report.model_loads = count_loads() - loads_before

    summary: dict[str, Any] = {
        "talks": len(report.talks),
        "passes": report.passes,
        "batches": report.batches,
        "tagged": len(report.tagged),
        "covers": report.covers,
        "failed": sorted(set(report.failed)),
        "superseded": sorted(set(report.superseded)),
        "model_loads": report.model_loads,
        "batch_size": settings.enrich.batch_size,
        **(extra or {}),
    }
    logger.info(
        "enrich: %d talks, %d tagged, %d covers, %d failed for good, %d model loads",
        summary["talks"],
        summary["tagged"],
        summary["covers"],
        len(summary["failed"]),
        report.model_loads,
    )
    if report.tagged and not tagged_event_per_pass:
        # First: aggregate-tags depends on it. Should it still be lost, aggregate-tags' own
        # schedule counts from the Delta log, not from this payload.
        emit_tagged(report.tagged)
    if not report.talks:
        return summary  # nothing was pending (a safety-net tick, a run folded into another)
    record_run(
        lake=lake,
        run={
            "flow_run_id": run_id,
            "started_at": started,
            "finished_at": datetime.now(UTC),
            "talks_tagged": len(report.tagged),
            "talks_imaged": report.covers,
            "failed": len(summary["failed"]),
            "model_loads": report.model_loads,
            "tag_model": report.tag_model,
            "image_backend": report.image_backend,
        },
    )
    _publish(lake=lake, summary=summary, report=report, gallery_covers=gallery_covers)
    return summary


def _publish(
    *, lake: Lake, summary: dict[str, Any], report: EnrichReport, gallery_covers: int | None
) -> None:
    """Artifacts a person wants to look at: the run, tags per talk, covers, failures.

    A run that found nothing pending (the safety-net schedule, mostly) publishes nothing, so
    the `enrich-run` artifact keeps showing the last run that did some work.
    """
    if not summary["talks"]:
        return
    tagged, imaged_rows = report.tagged, report.cover_rows
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
        frame = tag_rows(lake=lake, talk_ids=tagged)
        titles = talk_rows(lake=lake, columns=["talk_id", "title"], talk_ids=tagged)
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
        covers = pd.concat(imaged_rows, ignore_index=True)
        if gallery_covers is not None:
            covers = covers.head(gallery_covers)
        publish_cover_gallery(lake, covers, key="covers")
    if summary["failed"]:
        from podium.enrichment import failed_talks

        failures = failed_talks(lake=lake)
        create_table_artifact(
            key="enrichment-failures",
            table=failures[["talk_id", "stage", "attempts", "error"]].to_dict("records"),
            description="talks whose enrichment failed for good (not retried)",
        )
