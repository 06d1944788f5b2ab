"""Prefect tasks of the enrich flow: load models once, tag and draw covers batch by batch.

Models are passed in, never part of a cache key (cache_policy=NONE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from podium.enrichment import PendingWork, pending_work, record_outcomes
from podium.images import build_image_backend, store_covers
from podium.lake import Lake
from podium.models import TagAssignment, Talk, Vocabulary
from podium.tagging import build_tagger, load_history
from podium.talk_tags import tags_by_talk, write_tags


@dataclass
class BatchOutcome:
    """What happened to one batch: talks done, and an error message per failed talk."""

    done: list[Talk] = field(default_factory=list)
    errors: dict[str, tuple[Talk, str]] = field(default_factory=dict)
    rows: list[Any] = field(default_factory=list)


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]


@task(name="find-pending", cache_policy=NONE)
def find_pending(*, lake: Lake, max_attempts: int, limit: int | None) -> PendingWork:
    """Every talk with an enrichment stage pending (or errored with attempts left)."""
    return pending_work(lake=lake, max_attempts=max_attempts, limit=limit)


@task(name="load-tagger", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def load_tagger(*, settings: Any, device: str, lake: Lake, exclude: set[str]) -> tuple[Any, Any]:
    """Load the tagging model once for the whole run, with the directory's tagged history."""
    tagger = build_tagger(settings.tagging, device=device)
    encoder = getattr(tagger, "encoder", None)
    history = (
        load_history(lake=lake, encoder=encoder, exclude_talk_ids=exclude) if encoder else None
    )
    get_run_logger().info("loaded tagger %s on %s", tagger.model_version, device)
    return tagger, history


def _run_batch(talks: list[Talk], action: Any) -> tuple[list[Any], BatchOutcome]:
    # A failing batch is retried talk by talk, so one bad talk never fails the others.
    outcome = BatchOutcome()
    try:
        return [action(talks)], BatchOutcome(done=list(talks))
    except Exception:  # noqa: BLE001 - isolated below, per talk
        results = []
        for talk in talks:
            try:
                results.append(action([talk]))
                outcome.done.append(talk)
            except Exception as error:  # noqa: BLE001 - recorded in enrichment_state
                outcome.errors[talk.talk_id] = (talk, _error_text(error))
        return results, outcome


@task(name="tag-talks", cache_policy=NONE)
def tag_talks(
    *, lake: Lake, tagger: Any, history: Any, talks: list[Talk], vocabulary: Vocabulary
) -> BatchOutcome:
    """Tag one batch and replace those talks' speaker/model tags in `talk_tags`."""

    def action(batch: list[Talk]) -> list[TagAssignment]:
        assignments = tagger.tag(batch, vocabulary=vocabulary, history=history)
        write_tags(lake=lake, talk_ids=[t.talk_id for t in batch], assignments=assignments)
        return assignments

    results, outcome = _run_batch(talks, action)
    outcome.rows = [a for chunk in results for a in chunk]
    return outcome


@task(name="load-image-backend", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def load_image_backend(*, settings: Any, device: str) -> Any:
    """Load the cover backend (and its pipeline) once for the whole run."""
    backend = build_image_backend(settings.images, device=device)
    logger = get_run_logger()
    logger.info("cover backend %s (%s) on %s", backend.name, backend.model_version, device)
    if backend.name == "diffusers" and device == "cpu":
        logger.warning("generating images on CPU: this works, slowly; use the GPU pool")
    return backend


@task(name="draw-covers", cache_policy=NONE)
def draw_covers(
    *, lake: Lake, backend: Any, talks: list[Talk], tags: dict[str, list[str]]
) -> BatchOutcome:
    """Render and store covers for one batch."""

    def action(batch: list[Talk]) -> Any:
        return store_covers(lake=lake, covers=backend.render(batch, tags=tags))

    results, outcome = _run_batch(talks, action)
    outcome.rows = [frame for frame in results if len(frame)]
    return outcome


@dataclass
class StageResult:
    """One enrichment stage over a set of talks: done ids, ids failed for good, table rows."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)

    def extend(self, other: StageResult) -> None:
        self.done += other.done
        self.failed += other.failed
        self.rows += other.rows


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _run_stage(
    *,
    lake: Lake,
    settings: Any,
    work: PendingWork,
    stage: str,
    process: Callable[[list[Talk]], BatchOutcome],
) -> StageResult:
    # Batch by batch: each batch's outcome is recorded in the ledger before the next starts,
    # so a crash loses at most one batch of work.
    result = StageResult()
    for batch in _batches(work.for_stage(stage), settings.enrich.batch_size):
        outcome = process(batch)
        result.failed += record_outcomes(
            lake=lake,
            stage=stage,
            done=outcome.done,
            errors=outcome.errors,
            attempts=work.attempts,
            max_attempts=settings.enrich.max_attempts,
        )
        result.done += [t.talk_id for t in outcome.done]
        result.rows += outcome.rows
        for talk_id, (_, message) in outcome.errors.items():
            get_run_logger().warning("%s stage of %s failed: %s", stage, talk_id, message)
    return result


def run_tagging(
    *,
    lake: Lake,
    settings: Any,
    work: PendingWork,
    tagger: Any,
    history: Any,
    vocabulary: Vocabulary,
) -> StageResult:
    """Tag every talk pending for the `tags` stage, batch by batch, recording outcomes."""
    return _run_stage(
        lake=lake,
        settings=settings,
        work=work,
        stage="tags",
        process=lambda batch: tag_talks(
            lake=lake, tagger=tagger, history=history, talks=batch, vocabulary=vocabulary
        ),
    )


def run_covers(*, lake: Lake, settings: Any, work: PendingWork, backend: Any) -> StageResult:
    """Draw and store covers for every talk pending for the `image` stage, batch by batch.

    `rows` of the result are the stored covers' `talk_images` rows (one frame per batch).
    """
    tags = tags_by_talk(lake=lake, talk_ids=[t.talk_id for t in work.for_stage("image")])
    return _run_stage(
        lake=lake,
        settings=settings,
        work=work,
        stage="image",
        process=lambda batch: draw_covers(lake=lake, backend=backend, talks=batch, tags=tags),
    )
