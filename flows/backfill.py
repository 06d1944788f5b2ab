"""The backfill flow: import a large source, then tag, draw covers, count tags and rebuild
recommendations for every pending talk, chunk by chunk on a Dask cluster.

Stages run one after the other: import (in the flow); embed (every talk's text, and every
event's, encoded once into the lake's embedding cache, in chunks); tags and covers (Dask tasks
over large chunks, no task run per talk); counts and recommendations
(in the flow; recommendations reuse the tagging vectors, so that stage loads no model and
encodes nothing). Each Dask worker process loads the models once and reads the tagged history
once. What a run needs (the vocabulary) is checked before any work.

Restartable: every stage's output is durable when the stage ends, and a resumed run skips
what is done: the import changes nothing for talks already recorded, the embed stage finds
the vectors in the cache, tags and covers claim only talks still outstanding in the ledger
(`enrichment_state`), counts and recommendations are rebuilt whole (seconds).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dask
from distributed import LocalCluster, as_completed
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect_dask import DaskTaskRunner

from flows.run_names import backfill_run_name
from podium import event_catalog, warm_models
from podium.embedding_cache import EmbeddingCache, text_key
from podium.enrichment import outstanding
from podium.events import bounded_ids
from podium.ingest import read_talks
from podium.recommend.build import event_matrix, load_events
from podium.tagging.history import talk_texts
from podium.use_cases.enrich import EnrichResources, enrich_pending
from podium.vocabulary import load_vocabulary
from tasks.aggregate import count_tags, publish_tag_counts
from tasks.ingest import parse_source, record_events_task, record_talks_task
from tasks.recommend import build_recommendation_tables, publish_recommendations
from tasks.resources import flow_resources

STAGES = ("import", "embed", "tags", "covers", "counts", "recommendations")
# The dashboard on a port the OS picks: Dask's default, 8787, is the gateway's (and `None`
# still tries 8787 first in the installed distributed).
LOCAL_CLUSTER = {"threads_per_worker": 1, "dashboard_address": "127.0.0.1:0"}
_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"


class BackfillCluster(LocalCluster):
    """A local Dask cluster whose worker processes keep glibc's own malloc tuning.

    Dask sets `MALLOC_TRIM_THRESHOLD_=65536` before it spawns a worker (to hand freed memory
    back to the OS). Setting it turns off glibc's adaptive mmap threshold, so every large
    buffer of the encoder's forward pass is mapped and unmapped afresh: measured at 1.7x the
    CPU per text (`bench/backfill_layout.py`, layouts `2x1` against `2x1t`). A backfill
    worker's memory is its models and one chunk, freed chunk by chunk anyway.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}))
        value = environ.pop(_MALLOC_TRIM, None)
        # A nanny also copies the variable into this process's environment, where a worker
        # spawned later would inherit it: drop Dask's value, never a different one set here.
        if value is not None and os.environ.get(_MALLOC_TRIM) == str(value):
            del os.environ[_MALLOC_TRIM]
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            super().__init__(*args, **kwargs)


Observer = Callable[[str, int, int], None]  # (stage, done, total)
_observers: list[Observer] = []


@contextmanager
def watch(observer: Observer) -> Iterator[None]:
    """Call `observer(stage, done, total)` as a backfill in this process makes progress."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def _progress(stage: str, done: int, total: int) -> None:
    for observer in list(_observers):
        observer(stage, done, total)


def _prepare_worker(torch_threads: int | None) -> None:
    # Two worker processes on two cores: one torch thread each, not two each.
    if torch_threads:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


@task(name="embed-talks", cache_policy=NO_CACHE)
def embed_chunk(
    talk_ids: list[str], torch_threads: int | None = None, events: bool = False
) -> dict[str, Any]:
    """Encode talks (and, with `events`, every event) into the embedding cache: what the
    history, tagging and recommendations read. Texts already cached are not encoded again."""
    started, cpu = time.perf_counter(), time.process_time()
    _prepare_worker(torch_threads)
    resources = flow_resources()  # the worker process's own, built once
    settings, lake = resources.settings, resources.lake
    tagger, loads = warm_models.tagger(settings)
    talks = read_talks(lake=lake, talk_ids=talk_ids)
    encoder = tagger.encoder
    texts = talk_texts(talks, encoder=encoder)
    EmbeddingCache(lake).embed(texts, encoder=encoder)
    # Handed to the recommendations stage, which then needs not clean the texts again.
    keys = [(t.talk_id, t.content_hash, text_key(x)) for t, x in zip(talks, texts, strict=True)]
    if events:  # recommendations embed events with the same (shared) encoder
        event_matrix(lake=lake, events=load_events(lake=lake), encoder=encoder)
    return {
        "talks": len(talks),
        "model_loads": loads,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "keys": keys,
    }


def _enrich_chunk(
    talk_ids: list[str], run_key: str, stage: str, torch_threads: int | None
) -> dict[str, Any]:
    # The chunk's talks are claimed like any enrich run's, so an `enrich` run working at the
    # same time (the safety net, an edit's event) never takes the same talk version.
    started, cpu = time.perf_counter(), time.process_time()
    _prepare_worker(torch_threads)
    resources = flow_resources()
    settings, lake = resources.settings, resources.lake
    loads_before = warm_models.loads()
    report = enrich_pending(
        EnrichResources.backfill(settings, lake=lake, chunk_size=len(talk_ids), run_key=run_key),
        talk_ids=talk_ids,
        owner=f"backfill-{run_key}",
        stages=(stage,),
    )
    return {
        "tagged": report.tagged,
        "covers": report.covers,
        "failed": report.failed,
        "model_loads": warm_models.loads() - loads_before,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


@task(name="tag-chunk", cache_policy=NO_CACHE)
def tag_chunk(talk_ids: list[str], run_key: str, torch_threads: int | None = None) -> dict:
    """Tag one chunk of pending talks and record the outcomes."""
    return _enrich_chunk(talk_ids, run_key, "tags", torch_threads)


@task(name="cover-chunk", cache_policy=NO_CACHE)
def cover_chunk(talk_ids: list[str], run_key: str) -> dict[str, Any]:
    """Draw and store covers for one chunk of pending talks."""
    return _enrich_chunk(talk_ids, run_key, "image", None)


def split(ids: list[str], *, chunk_size: int, parallel: int = 1) -> list[list[str]]:
    """`ids` in equal chunks of at most `chunk_size`, a multiple of `parallel` of them."""
    if not ids:
        return []
    count = -(-len(ids) // max(1, chunk_size))
    count = min(len(ids), -(-count // max(1, parallel)) * max(1, parallel))
    size, extra = divmod(len(ids), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(ids[start:end])
        start = end
    return out


def _gather(stage: str, futures: list[Any], sizes: list[int]) -> list[dict[str, Any]]:
    """Results in submission order, reporting progress (in talks) as chunks finish."""
    total, done = sum(sizes), 0
    results: list[Any] = [None] * len(futures)
    _progress(stage, 0, total)
    if not futures:
        return results
    # Dask says which chunk finished: no polling of the Prefect API per future. The flow's
    # Dask client is Prefect's, not the process default, so its loop is named.
    where = {f.wrapped_future.key: i for i, f in enumerate(futures)}
    wrapped = [f.wrapped_future for f in futures]
    for finished in as_completed(wrapped, loop=wrapped[0].client.loop):
        i = where[finished.key]
        results[i] = futures[i].result()
        done += sizes[i]
        _progress(stage, done, total)
    return results


# No Dask task runner here: which cluster a run uses is its `dask_address` parameter, known
# only once the run starts. A run without a Dask runner (a deployment's) hands itself to
# `backfill_on(dask_address)` as a subflow; `backfill_on` callers (the CLI) run it directly.
@flow(name="backfill", flow_run_name=backfill_run_name)
def backfill(
    source: str | None = None,
    chunk_size: int = 1000,
    parallel: int = 2,
    counts: bool = True,
    recommendations: bool = True,
    torch_threads: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Import `source` (optional), then enrich every pending talk in chunks on Dask, count tags
    and rebuild recommendations.

    Args:
        source: a file or folder to import first (as `ingest` takes it); None to work on what
            is already pending.
        chunk_size: most talks per Dask task (a chunk is one ledger claim, one tag write and
            one cover commit; larger chunks mean fewer commits and task runs, smaller ones a
            finer progress bar).
        parallel: worker processes sharing the work: the chunk count is rounded up to a
            multiple of it, in equal chunks, so no worker idles through a stage's last chunk.
        counts: recount tag counts at the end.
        recommendations: rebuild every event's recommendations at the end.
        torch_threads: torch threads per Dask worker process (None: torch's default).
        dask_address: the scheduler of an existing Dask cluster (`tcp://host:8786`), whose
            workers reach the same lake (S3) and Prefect API; None starts a local cluster of
            `parallel` worker processes for this run.
    """
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or not isinstance(context.task_runner, DaskTaskRunner):
        # A deployment's run: the chunks go to the cluster as a subflow of this run.
        on_cluster = backfill_on(dask_address, workers=parallel)
        return on_cluster(
            source=source,
            chunk_size=chunk_size,
            parallel=parallel,
            counts=counts,
            recommendations=recommendations,
            torch_threads=torch_threads,
            dask_address=dask_address,
        )
    logger = get_run_logger()
    resources = flow_resources()
    settings, lake = resources.settings, resources.lake
    load_vocabulary(lake=lake)  # no vocabulary: fail now, not after the import
    stages: dict[str, float] = {}
    clock = time.perf_counter()
    if source:
        _progress("import", 0, 1)
        parsed = parse_source(source)
        record_talks_task(lake=lake, result=parsed)
        record_events_task(lake=lake, result=parsed)
        for error in parsed.errors[:20]:
            logger.warning("rejected %s", error)
        _progress("import", 1, 1)
    stages["import"] = time.perf_counter() - clock

    max_attempts = settings.enrich.max_attempts
    ids = outstanding(lake=lake, max_attempts=max_attempts)
    needs_tags = set(outstanding(lake=lake, max_attempts=max_attempts, stage="tags"))
    needs_cover = set(outstanding(lake=lake, max_attempts=max_attempts, stage="image"))
    chunks = split(ids, chunk_size=chunk_size, parallel=parallel)
    run_key = str(flow_run.get_id() or time.time())
    tag_chunks = [c for c in chunks if set(c) & needs_tags]
    cover_chunks = [c for c in chunks if set(c) & needs_cover]
    # Events are embedded with the talks (by the first task), so the recommendations stage
    # finds every vector cached and loads no model.
    embed_chunks = tag_chunks or ([[]] if recommendations else [])

    clock = time.perf_counter()
    embedded = _gather(
        "embed",
        [embed_chunk.submit(c, torch_threads, i == 0) for i, c in enumerate(embed_chunks)],
        [len(c) for c in embed_chunks],
    )
    stages["embed"] = time.perf_counter() - clock
    # Covers wait for every tag chunk. Run as one pipeline (a chunk's covers right after its
    # tags), Dask sent each ready cover chunk to its worker at once while the remaining tag
    # chunks waited in the scheduler's queue: talks got their tags minutes later, for no
    # gain in wall time (docs/backfill.md).
    clock = time.perf_counter()
    tagged = _gather(
        "tags",
        [tag_chunk.submit(c, run_key, torch_threads) for c in tag_chunks],
        [len(c) for c in tag_chunks],
    )
    stages["tags"] = time.perf_counter() - clock
    clock = time.perf_counter()
    covered = _gather(
        "covers",
        [cover_chunk.submit(c, run_key) for c in cover_chunks],
        [len(c) for c in cover_chunks],
    )
    stages["covers"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if counts:
        _progress("counts", 0, 1)
        run = count_tags(lake=lake, talk_ids=None, full=True)
        publish_tag_counts(lake=lake, run=run)
        _progress("counts", 1, 1)
    stages["counts"] = time.perf_counter() - clock
    clock = time.perf_counter()
    rebuilt: dict[str, Any] = {}
    if recommendations:
        _progress("recommendations", 0, 1)
        result = build_recommendation_tables(
            resources,
            event_ids=None,
            known_keys={(i, h): k for r in embedded for i, h, k in r["keys"]},
        )
        publish_recommendations(result=result, settings=settings.recommend, lake=lake)
        rebuilt = result.summary()
        _progress("recommendations", 1, 1)
    stages["recommendations"] = time.perf_counter() - clock

    summary = {
        "talks": len(ids),
        "chunks": len(chunks),
        "tagged": sum(len(r["tagged"]) for r in tagged),
        "covers": sum(r["covers"] for r in covered),
        "failed": sorted({i for r in tagged + covered for i in r["failed"]}),
        "model_loads": sum(r["model_loads"] for r in embedded + tagged + covered),
        "recommendations": rebuilt,
        "stages": {k: round(v, 2) for k, v in stages.items()},
        "chunk_seconds": {
            "embed": round(sum(r["seconds"] for r in embedded), 2),
            "tags": round(sum(r["seconds"] for r in tagged), 2),
            "covers": round(sum(r["seconds"] for r in covered), 2),
        },
        # CPU of the worker processes during the chunks: what the work costs, whatever else
        # the machine runs (the wall seconds above stretch with the load).
        "chunk_cpu_seconds": {
            "embed": round(sum(r["cpu_seconds"] for r in embedded), 2),
            "tags": round(sum(r["cpu_seconds"] for r in tagged), 2),
            "covers": round(sum(r["cpu_seconds"] for r in covered), 2),
        },
    }
    create_markdown_artifact(
        key="backfill-run",
        markdown="## Backfill\n\n```json\n" + json.dumps(summary, indent=2)[:5000] + "\n```\n",
        description="talks, chunks, stage times and model loads of this backfill",
    )
    logger.info("backfill: %s", {k: v for k, v in summary.items() if k != "failed"})
    tagged_ids = [i for r in tagged for i in r["tagged"]]
    if tagged_ids and not counts:
        # Counts were left to aggregate-tags: tell it, as an enrich run would.
        resources.events.emit(event_catalog.TALK_TAGGED, payload=bounded_ids(tagged_ids))
    return summary


def backfill_on(address: str | None, *, workers: int = 2) -> Any:
    """The backfill flow on an existing Dask cluster (by address) or a local one of `workers`
    processes (dashboard on a free port), each with its share of this machine's cores for torch."""
    if address:
        return backfill.with_options(task_runner=DaskTaskRunner(address=address))  # type: ignore[arg-type]
    runner = DaskTaskRunner(
        cluster_class=BackfillCluster, cluster_kwargs={"n_workers": workers, **LOCAL_CLUSTER}
    )
    return backfill.with_options(task_runner=runner)  # type: ignore[arg-type]


def local_torch_threads(workers: int) -> int:
    """Torch threads per local worker process so that together they use every core once."""
    return max(1, (os.cpu_count() or 1) // workers)
