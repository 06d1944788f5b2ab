"""The backfill flow: enrich thousands of talks in parallel chunks on a Dask cluster.

The same tasks as `enrich`, fanned out with prefect-dask: a local cluster by default, an
existing Dask cluster by address. Each Dask worker process loads the models once and keeps
them for every chunk it is given.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect_dask import DaskTaskRunner

from flows.enrich import TAGGED_EVENT
from flows.ingest import IngestRequest, ingest
from flows.run_names import backfill_run_name
from podium.devices import resolve_device
from podium.enrichment import outstanding
from podium.events import bounded_ids
from podium.images import build_image_backend
from podium.lake import Lake
from podium.settings import get_settings
from podium.tagging import build_tagger, load_history
from podium.use_cases.enrich import EnrichResources, enrich_pending
from podium.vocabulary import load_vocabulary


@lru_cache(maxsize=1)
def _models(settings_key: str) -> tuple[Any, Any]:
    # One load per worker process, reused by every chunk it runs; the key (the settings as
    # JSON) makes changed settings load afresh.
    settings = get_settings()
    tagger = build_tagger(settings.tagging, device=resolve_device(settings.tagging.device))
    backend = build_image_backend(settings.images, device=resolve_device(settings.images.device))
    return tagger, backend


@task(name="enrich-chunk", cache_policy=NO_CACHE)
def enrich_chunk(talk_ids: list[str]) -> dict[str, Any]:
    """Tag and draw covers for one chunk of pending talks in this worker process.

    The chunk's talks are claimed like any enrich run's, so an `enrich` run working at the same
    time (triggered by the import, or the safety net) never takes the same talk version.
    """
    settings = get_settings()
    lake = Lake.from_settings(settings)
    loads = 0 if _models.cache_info().currsize else 2
    tagger, backend = _models(settings.model_dump_json())
    resources = EnrichResources(
        lake=lake,
        settings=settings,
        load_tagger=lambda exclude: (
            tagger,
            load_history(lake=lake, encoder=tagger.encoder, exclude_talk_ids=exclude),
        ),
        load_vocabulary=lambda: load_vocabulary(lake=lake),
        load_image_backend=lambda: backend,
    )
    report = enrich_pending(resources, talk_ids=talk_ids, owner="backfill")
    return {
        "tagged": report.tagged,
        "covers": report.covers,
        "failed": report.failed,
        "model_loads": loads,
    }


@flow(
    name="backfill",
    flow_run_name=backfill_run_name,
    task_runner=DaskTaskRunner(  # type: ignore[arg-type]  # prefect-dask's generic is narrower
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1}
    ),
)
def backfill(source: str | None = None, chunk_size: int = 500) -> dict[str, Any]:
    """Import `source` (optional), then enrich every pending talk in chunks on Dask.

    Args:
        source: a file or folder to import first (as `ingest` takes it); None to enrich what
            is already pending.
        chunk_size: talks per Dask task.
    """
    logger = get_run_logger()
    settings = get_settings()
    if source:
        ingest(IngestRequest(source=source))
    lake = Lake.from_settings(settings)
    ids = outstanding(lake=lake, max_attempts=settings.enrich.max_attempts)
    chunks = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
    results = [future.result() for future in enrich_chunk.map(chunks)] if chunks else []
    tagged = [i for r in results for i in r["tagged"]]
    summary = {
        "talks": len(ids),
        "chunks": len(chunks),
        "tagged": len(tagged),
        "covers": sum(r["covers"] for r in results),
        "failed": sorted({i for r in results for i in r["failed"]}),
        "model_loads": sum(r["model_loads"] for r in results),
    }
    create_markdown_artifact(
        key="backfill-run",
        markdown="## Backfill\n\n```json\n" + json.dumps(summary, indent=2)[:5000] + "\n```\n",
        description="talks, chunks and model loads of this backfill",
    )
    logger.info("backfill: %s", {k: v for k, v in summary.items() if k != "failed"})
    if tagged:
        emit_event(
            event=TAGGED_EVENT,
            resource={"prefect.resource.id": "podium.talks"},
            payload=bounded_ids(tagged),
        )
    return summary


def backfill_on(address: str | None, *, workers: int = 2) -> Any:
    """The backfill flow on an existing Dask cluster (by address) or a local one of `workers`."""
    runner = (
        DaskTaskRunner(address=address)
        if address
        else DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})
    )
    return backfill.with_options(task_runner=runner)  # type: ignore[arg-type]
