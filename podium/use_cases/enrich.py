"""Enrich pending talks: claim a batch, tag it or draw its covers, record, repeat until drained.

`enrich_pending` is the whole loop the `enrich` flow, the backfill chunks and tests run. Each
model loads once, on the first batch that needs it. Every batch is claimed in the ledger first
(`podium.enrichment.claim`: attempt counted, lease taken), and its outcome is recorded only for
the content version it was computed from, so an edit arriving meanwhile is enriched next, a
crash loses at most the batch in hand (retried after its lease), and a talk that kills the
process ends `failed` without failing the talks that shared its batch.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pandas as pd

from podium import enrichment, metrics, tracing
from podium.devices import resolve_device
from podium.embedding_cache import EmbeddingCache
from podium.enrichment import STAGES
from podium.images import build_image_backend, store_covers
from podium.lake import Lake
from podium.lake.clock import check_clock
from podium.models import TagAssignment, Talk, Vocabulary
from podium.steps import Step, direct
from podium.talk_tags import tags_by_talk, write_tags
from podium.vocabulary import load_vocabulary

if TYPE_CHECKING:
    from podium.images.base import ImageBackend
    from podium.settings import Settings
    from podium.tagging import TagHistory

T = TypeVar("T")

log = logging.getLogger(__name__)


class TaggingModel(Protocol):
    """What the enrich loop needs of a tagger (`podium.tagging.Tagger` fits)."""

    @property
    def model_version(self) -> str: ...

    def tag(
        self, talks: list[Talk], *, vocabulary: Vocabulary, history: TagHistory | None = None
    ) -> list[TagAssignment]: ...


TaggerLoader = Callable[[set[str]], "tuple[TaggingModel, TagHistory | None]"]


@dataclass(frozen=True)
class EnrichResources:
    """What enrichment works with, built once per process by one of its named variants:
    `cold` (models loaded by the run), `warm` (the models and history this process keeps
    loaded) and `backfill` (a Dask worker's warm models and the run's history).

    Args:
        lake: the lake.
        settings: the settings (their `enrich`, `tagging` and `images` sections).
        load_tagger: (talk ids being tagged) -> (tagger, neighbour history or None).
        load_vocabulary: () -> the tag vocabulary.
        load_image_backend: () -> the cover backend.
        step: runs one named step (a batch, a model load); the Prefect flow makes each a task
            so it shows in the UI, tests and the core run it directly.
    """

    lake: Lake
    settings: Settings
    load_tagger: TaggerLoader
    load_vocabulary: Callable[[], Vocabulary]
    load_image_backend: Callable[[], ImageBackend]
    step: Step = direct

    @classmethod
    def cold(
        cls, settings: Settings, *, lake: Lake | None = None, step: Step = direct
    ) -> EnrichResources:
        """The real models and lake the settings describe, loaded by the run when first used."""
        from podium.tagging import build_tagger, load_history

        lake = lake or Lake.from_settings(settings)

        def tagger(exclude: set[str]) -> tuple[TaggingModel, TagHistory | None]:
            built = build_tagger(settings.tagging, device=resolve_device(settings.tagging.device))
            metrics.MODEL_LOADS.labels("tagger").inc()
            history = load_history(lake=lake, encoder=built.encoder, exclude_talk_ids=exclude)
            return built, history

        return cls(
            lake=lake,
            settings=settings,
            load_tagger=tagger,
            load_vocabulary=lambda: load_vocabulary(lake=lake),
            load_image_backend=lambda: _counted_load(
                "images",
                lambda: build_image_backend(
                    settings.images, device=resolve_device(settings.images.device)
                ),
            ),
            step=step,
        )

    @classmethod
    def warm(cls, settings: Settings, *, lake: Lake, step: Step = direct) -> EnrichResources:
        """Like `cold`, with the models and the history this process keeps warm.

        The tagger stays loaded across runs (`podium.warm_models`), and so does its neighbour
        history (`podium.warm_history`, on this lake): a run takes the published snapshot as
        it is (the executor refreshes it between runs, by what changed, and warms the
        calibration on it first), so a run neither re-reads nor re-encodes the history, nor
        refits the tagger.
        """
        from podium import warm_models

        def tagger(exclude: set[str]) -> tuple[TaggingModel, TagHistory | None]:
            model, _ = warm_models.tagger(settings)
            return model, warm_models.history(settings, model.encoder, lake).current(exclude)

        return cls(
            lake=lake,
            settings=settings,
            load_tagger=tagger,
            load_vocabulary=lambda: load_vocabulary(lake=lake),
            load_image_backend=lambda: warm_models.image_backend(settings)[0],
            step=step,
        )

    @classmethod
    def backfill(
        cls, settings: Settings, *, lake: Lake, chunk_size: int, run_key: str
    ) -> EnrichResources:
        """A backfill worker process's: its warm models, the run's history read once
        (`warm_models.run_history`), and a chunk of `chunk_size` talks as one batch (one tag
        write and one ledger commit per chunk: commits, not model time, dominate small
        batches at this scale). Steps run directly (a Dask task is the unit in the UI)."""
        from podium import warm_models

        def tagger(exclude: set[str]) -> tuple[TaggingModel, TagHistory | None]:
            model, _ = warm_models.tagger(settings)
            # The embed stage put every talk in the lake's cache; the warm tagger stays as is.
            history = warm_models.run_history(lake, model.encoder, run_key)
            return model.with_cache(EmbeddingCache(lake)), history

        enrich = settings.enrich.model_copy(update={"batch_size": max(1, chunk_size)})
        return cls(
            lake=lake,
            settings=settings.model_copy(update={"enrich": enrich}),
            load_tagger=tagger,
            load_vocabulary=lambda: load_vocabulary(lake=lake),
            load_image_backend=lambda: warm_models.image_backend(settings)[0],
        )


def _counted_load(kind: str, load: Callable[[], T]) -> T:
    loaded = load()
    metrics.MODEL_LOADS.labels(kind).inc()
    return loaded


@dataclass
class BatchOutcome:
    """One batch: talks done, an error per failed talk, talks skipped as rewritten, rows."""

    done: list[Talk] = field(default_factory=list)
    errors: dict[str, tuple[Talk, str]] = field(default_factory=dict)
    rows: list[Any] = field(default_factory=list)


@dataclass
class EnrichReport:
    """What one `enrich_pending` call did."""

    talks: set[str] = field(default_factory=set)  # every talk claimed
    tagged: list[str] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # failed for good (not retried)
    superseded: list[str] = field(default_factory=list)  # an edit arrived: enriched next
    tag_rows: list[Any] = field(default_factory=list)  # TagAssignments written
    cover_rows: list[pd.DataFrame] = field(default_factory=list)  # talk_images rows
    batches: int = 0
    passes: int = 0
    model_loads: int = 0
    tag_model: str = ""
    image_backend: str = ""

    @property
    def covers(self) -> int:
        return sum(len(frame) for frame in self.cover_rows)


def error_text(error: BaseException) -> str:
    """One line naming the error, short enough for the ledger."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]


def run_isolated(
    talks: list[Talk], action: Callable[[list[Talk]], T]
) -> tuple[list[T], BatchOutcome]:
    """Run `action` on the batch; if it raises, talk by talk, so one bad talk fails alone."""
    try:
        return [action(talks)], BatchOutcome(done=list(talks))
    except Exception:  # noqa: BLE001 - isolated below, per talk
        results, outcome = [], BatchOutcome()
        for talk in talks:
            try:
                results.append(action([talk]))
                outcome.done.append(talk)
            except Exception as error:  # noqa: BLE001 - recorded in the ledger
                outcome.errors[talk.talk_id] = (talk, error_text(error))
        return results, outcome


def _still_current(lake: Lake, talks: list[Talk]) -> list[Talk]:
    # Checked right before a write: results for a version edited meanwhile are not written
    # (the ledger keeps the edit pending, so the next batch computes the right ones).
    current = enrichment.current_versions(lake=lake, talk_ids=[t.talk_id for t in talks])
    return [t for t in talks if current.get(t.talk_id) == t.content_hash]


class _Models:
    """Models loaded on first use and kept for the rest of the call."""

    def __init__(self, resources: EnrichResources, report: EnrichReport) -> None:
        self.resources, self.report = resources, report
        self.tagger: Any = None
        self.history: Any = None
        self.vocabulary: Vocabulary | None = None
        self.backend: Any = None

    def loaded(self, stage: str) -> bool:
        return (self.tagger if stage == "tags" else self.backend) is not None

    def load(self, stage: str, *, queued: set[str]) -> None:
        if stage == "tags":
            self.for_tags(queued)
        else:
            self.for_covers()

    def for_tags(self, exclude: set[str]) -> tuple[Any, Any, Vocabulary]:
        if self.tagger is None:
            # Talks about to be tagged are not their own neighbours.
            self.tagger, self.history = self.resources.step(
                "load-tagger", lambda: self.resources.load_tagger(exclude)
            )
            self.vocabulary = self.resources.load_vocabulary()
            self.report.model_loads += 1
            self.report.tag_model = str(getattr(self.tagger, "model_version", ""))
        assert self.vocabulary is not None
        return self.tagger, self.history, self.vocabulary

    def for_covers(self) -> Any:
        if self.backend is None:
            self.backend = self.resources.step(
                "load-image-backend", self.resources.load_image_backend
            )
            self.report.model_loads += 1
            self.report.image_backend = f"{self.backend.name}:{self.backend.model_version}"
        return self.backend


def _crash_if_asked(settings: Settings, talks: list[Talk]) -> None:
    bad = settings.enrich.crash_on_talk
    if bad and any(t.talk_id == bad for t in talks):
        os.kill(os.getpid(), signal.SIGKILL)  # a test's poison talk: die as an OOM-kill would


def tag_batch(
    *, lake: Lake, tagger: Any, history: Any, vocabulary: Vocabulary, talks: list[Talk]
) -> BatchOutcome:
    """Tag one batch and replace its talks' speaker and model tags (current versions only)."""

    def action(batch: list[Talk]) -> list[Any]:
        with metrics.ENCODER_SECONDS.time():
            assignments = tagger.tag(batch, vocabulary=vocabulary, history=history)
        live = _still_current(lake, batch)
        keep = {t.talk_id for t in live}
        assignments = [a for a in assignments if a.talk_id in keep]
        write_tags(lake=lake, talk_ids=sorted(keep), assignments=assignments)
        return assignments

    results, outcome = run_isolated(talks, action)
    outcome.rows = [a for chunk in results for a in chunk]
    return outcome


def cover_batch(
    *, lake: Lake, backend: Any, talks: list[Talk], tags: dict[str, list[str]]
) -> BatchOutcome:
    """Draw and store one batch's covers (current versions only)."""

    def action(batch: list[Talk]) -> pd.DataFrame:
        covers = backend.render(batch, tags=tags)
        keep = {(t.talk_id, t.content_hash) for t in _still_current(lake, batch)}
        return store_covers(
            lake=lake, covers=[c for c in covers if (c.talk_id, c.content_hash) in keep]
        )

    results, outcome = run_isolated(talks, action)
    outcome.rows = [frame for frame in results if len(frame)]
    return outcome


def _pending_before(min_wait_s: float) -> datetime | None:
    """The moment a talk must have been pending before, for `min_wait_s`; None for any."""
    return datetime.now(UTC) - timedelta(seconds=min_wait_s) if min_wait_s > 0 else None


def enrich_pending(
    resources: EnrichResources,
    *,
    limit: int | None = None,
    talk_ids: list[str] | None = None,
    owner: str = "",
    stages: tuple[str, ...] = STAGES,
    logger: logging.Logger | logging.LoggerAdapter[Any] = log,
    on_tagged: Callable[[list[str]], None] | None = None,
    tags_first: int | None = None,
    min_wait_s: float = 0.0,
) -> EnrichReport:
    """Tag and draw covers for pending talks, batch by batch, until nothing is left.

    Talks that become pending while it works are taken too (up to `enrich.max_passes`
    passes), with the models already loaded. A talk tried by this call is not tried again by
    it: an error waits for the next run.

    Args:
        resources: lake, settings, model loaders.
        limit: claim at most this many talks in all; None for every pending talk.
        talk_ids: only these talks (a backfill chunk); None for all.
        owner: who works (a flow-run id), recorded in the claims.
        stages: the stages to work ("tags", "image"); a backfill runs them one after another.
        logger: where progress goes (the flow passes its run logger).
        on_tagged: called with the talks tagged by a pass as soon as its tags stage is
            recorded, before its covers are drawn (tags never wait for covers).
        tags_first: the warm path's latency mode: covers are drawn in batches of at most this
            many, and before each cover batch the loop checks the ledger for talks waiting
            for tags; if there are, a new pass tags them first. A talk submitted while covers
            are drawn then waits for one small cover batch, not for every pending cover.
        min_wait_s: take only talks that have been pending at least this long. The scheduled
            safety net waits, so that it picks up what the warm path missed instead of
            competing with it for a burst's fresh talks (with a cold model load).
    """
    settings, lake = resources.settings, resources.lake
    conf = settings.enrich
    # Leases are judged by the lake's clock: a run whose clock is off refuses to claim.
    check_clock(lake, max_skew_s=conf.max_clock_skew_s)
    report = EnrichReport()
    models = _Models(resources, report)
    tried: dict[str, set[str]] = {stage: set() for stage in STAGES}
    for _ in range(conf.max_passes):
        claimed_before = report.batches
        for stage in stages:
            tagged_before = len(report.tagged)
            while limit is None or len(report.talks) < limit or tried[stage] < report.talks:
                scope = _scope(talk_ids, report, limit)
                if not models.loaded(stage):
                    # Load before claiming: a lease covers a batch, never a model load.
                    queued = enrichment.outstanding(
                        lake=lake,
                        max_attempts=conf.max_attempts,
                        stage=stage,
                        talk_ids=scope,
                        pending_before=_pending_before(min_wait_s),
                    )
                    if not [i for i in queued if i not in tried[stage]]:
                        break
                    models.load(stage, queued=set(queued))
                if (
                    tags_first
                    and stage == "image"
                    and "tags" in stages
                    and report.batches > claimed_before  # progress first: no empty pass
                    and _tags_waiting(lake, conf.max_attempts, tried["tags"])
                ):
                    break  # a new pass tags them, then the covers go on
                batch = tags_first if tags_first and stage == "image" else conf.batch_size
                scoped = limit is not None and len(report.talks) >= limit
                room = batch if limit is None or scoped else limit - len(report.talks)
                work = enrichment.claim(
                    lake=lake,
                    stage=stage,
                    limit=max(1, min(batch, room)),
                    max_attempts=conf.max_attempts,
                    lease_seconds=conf.lease_seconds,
                    owner=owner,
                    talk_ids=scope,
                    exclude=tried[stage],
                    failed=report.failed,
                    pending_before=_pending_before(min_wait_s),
                )
                if work is None:
                    break
                report.batches += 1
                report.talks |= set(work.attempts)
                tried[stage] |= set(work.attempts)
                if work.retried_alone:
                    logger.warning("retrying %s of a crashed batch alone", work.ids[:1])
                with _Heartbeat(lake, work, conf.lease_seconds, max_batch_s=conf.max_batch_s):
                    superseded = _run_claim(resources, models, work, report, logger)
                tried[stage] -= set(superseded)  # their new version is new work
            if stage == "tags" and on_tagged is not None and len(report.tagged) > tagged_before:
                on_tagged(report.tagged[tagged_before:])
        if report.batches == claimed_before:
            break
        report.passes += 1
    return report


def _tags_waiting(lake: Lake, max_attempts: int, tried: set[str]) -> bool:
    """Whether talks this run has not tried wait for tags (claimable now)."""
    ids, _ = enrichment.claimable(lake=lake, max_attempts=max_attempts, stage="tags")
    return any(i not in tried for i in ids)


def _scope(talk_ids: list[str] | None, report: EnrichReport, limit: int | None) -> list[str] | None:
    # Once `limit` talks are claimed, later stages only finish those talks.
    if limit is not None and len(report.talks) >= limit:
        return sorted(report.talks) if talk_ids is None else sorted(report.talks & set(talk_ids))
    return talk_ids


class _Heartbeat:
    """Renews a claim's lease every third of a lease for as long as its batch is worked, so
    only a dead process loses it, however long the batch takes.

    A process that is killed stops renewing with it; one that hangs inside a batch for longer
    than `max_batch_s` stops renewing then, so a stuck run cannot hold a talk forever either.
    """

    def __init__(
        self,
        lake: Lake,
        claim: enrichment.Claim,
        lease_seconds: float,
        *,
        max_batch_s: float = 21_600.0,
    ) -> None:
        self.lake, self.claim, self.lease_seconds = lake, claim, lease_seconds
        self.max_batch_s = max_batch_s
        self.renewals = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="enrich-lease", daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_batch_s
        while time.monotonic() < deadline:
            if self.stop.wait(self.lease_seconds / 3):
                return
            try:
                if not enrichment.renew(
                    lake=self.lake, claim=self.claim, lease_seconds=self.lease_seconds
                ):
                    return
                self.renewals += 1
            except Exception:  # noqa: BLE001 - a missed renewal only risks a redo
                log.warning("could not renew the lease of %s", self.claim.token, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _run_claim(
    resources: EnrichResources,
    models: _Models,
    work: enrichment.Claim,
    report: EnrichReport,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> list[str]:
    """Work one claim and record it; returns the talks superseded by an edit meanwhile."""
    lake, settings = resources.lake, resources.settings
    talks = work.talks
    if work.stage == "tags":
        _crash_if_asked(settings, talks)
        tagger, history, vocabulary = models.for_tags(set(work.ids))
        with tracing.span("tag-talks", {"podium.talk_ids": work.ids}):
            outcome = resources.step(
                "tag-talks",
                lambda: tag_batch(
                    lake=lake, tagger=tagger, history=history, vocabulary=vocabulary, talks=talks
                ),
            )
    else:
        backend = models.for_covers()
        tags = tags_by_talk(lake=lake, talk_ids=work.ids)
        with tracing.span("draw-covers", {"podium.talk_ids": work.ids}):
            outcome = resources.step(
                "draw-covers",
                lambda: cover_batch(lake=lake, backend=backend, talks=talks, tags=tags),
            )
    with tracing.span("ledger-record", {"podium.stage": work.stage}):
        recorded = enrichment.record(
            lake=lake,
            claim=work,
            done=outcome.done,
            errors=outcome.errors,
            max_attempts=settings.enrich.max_attempts,
        )
    done = set(recorded.done)
    if work.stage == "tags":
        report.tagged += recorded.done
        report.tag_rows += [a for a in outcome.rows if a.talk_id in done]
    else:
        report.covered += recorded.done
        report.cover_rows += [f[f.talk_id.isin(done)] for f in outcome.rows]
    report.failed += recorded.failed
    report.superseded += recorded.superseded
    for talk_id, (_, message) in outcome.errors.items():
        logger.warning("%s stage of %s failed: %s", work.stage, talk_id, message)
    if recorded.superseded:
        logger.info("%s edited meanwhile: the new version stays pending", recorded.superseded)
    return recorded.superseded
