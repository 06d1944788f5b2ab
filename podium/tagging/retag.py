"""Re-score existing talks when the model or the vocabulary changes: batched and resumable.

A talk is up to date when its model tags were computed by the current tagger and vocabulary
from its current content. Progress is checkpointed in the lake after every batch, so an
interrupted retag resumes where it stopped (talks with no tag above threshold included).
Each batch replaces the talks' speaker and model tags atomically and keeps organiser tags.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from podium.enrichment import current_versions, requeue_rewritten
from podium.ingest import frame_to_talks, talk_rows
from podium.lake import Lake
from podium.models import Talk, Vocabulary
from podium.tagging.history import TagHistory
from podium.tagging.tagger import Tagger
from podium.talk_tags import tag_rows, write_tags

CHECKPOINT_PREFIX = "state/retag"


@dataclass(frozen=True)
class RetagReport:
    """What a retag did."""

    model: str
    talks: int
    up_to_date: int
    retagged: int
    batches: int
    assignments: int
    seconds: float


def checkpoint_path(model: str) -> str:
    """Lake blob holding retag progress for one tagger+vocabulary identity."""
    return f"{CHECKPOINT_PREFIX}/{hashlib.sha256(model.encode()).hexdigest()[:16]}.json"


def _read_checkpoint(lake: Lake, path: str) -> dict[str, str]:
    if not lake.blob_exists(path):
        return {}
    try:
        data = json.loads(lake.get_blob(path))
    except ValueError:
        return {}  # a torn checkpoint only means redoing some talks
    return {str(k): str(v) for k, v in data.get("done", {}).items()}


def stale_talks(*, lake: Lake, model: str, force: bool = False) -> tuple[list[Talk], int]:
    """Talks whose model tags are not from `model` at their current content.

    Returns:
        (stale talks in id order, number of talks considered).
    """
    frame = talk_rows(lake=lake)
    if not frame.empty:
        frame = frame[frame["state"] != "deleted"].sort_values("talk_id")
    talks = frame_to_talks(frame)
    if force:
        return talks, len(talks)
    done = _read_checkpoint(lake, checkpoint_path(model))
    rows = tag_rows(
        lake=lake, columns=["talk_id", "model", "content_hash"], sources=["model"], model=model
    )
    for talk_id, digest in zip(rows["talk_id"], rows["content_hash"], strict=True):
        done.setdefault(str(talk_id), str(digest))
    stale = [t for t in talks if done.get(t.talk_id) != t.content_hash]
    return stale, len(talks)


def retag_batch(
    *,
    lake: Lake,
    tagger: Tagger,
    vocabulary: Vocabulary,
    history: TagHistory | None,
    talks: list[Talk],
) -> int:
    """Tag one batch, replace its speaker and model tags, and checkpoint it.

    Returns:
        Tag rows written.
    """
    if not talks:
        return 0
    model = tagger.assignment_model(vocabulary)
    assignments = tagger.tag(talks, vocabulary=vocabulary, history=history)
    # Tags apply only to the content they were computed from: a talk edited since it was read
    # is left to enrich, which has it pending at its new version.
    current = current_versions(lake=lake, talk_ids=[t.talk_id for t in talks])
    talks = [t for t in talks if current.get(t.talk_id) == t.content_hash]
    keep = {t.talk_id for t in talks}
    assignments = [a for a in assignments if a.talk_id in keep]
    written = write_tags(lake=lake, talk_ids=sorted(keep), assignments=assignments)
    # An edit that landed between that check and the commit gets its tags recomputed.
    requeue_rewritten(lake=lake, stage="tags", computed={t.talk_id: t.content_hash for t in talks})
    # Checkpoint after the commit: a crash in between redoes this batch, never skips it.
    path = checkpoint_path(model)
    done = _read_checkpoint(lake, path)
    done.update({t.talk_id: t.content_hash for t in talks})
    lake.put_blob(path, json.dumps({"model": model, "done": done}).encode())
    return written


def retag(
    *,
    lake: Lake,
    tagger: Tagger,
    vocabulary: Vocabulary,
    history: TagHistory | None,
    batch_size: int = 256,
    force: bool = False,
    limit: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> RetagReport:
    """Re-tag every stale talk in batches, checkpointing after each batch.

    Args:
        lake: the lake (reads `talks`, `talk_tags`; writes `talk_tags` and a checkpoint blob).
        tagger: the tagger.
        vocabulary: the current vocabulary.
        history: tagged talks for neighbours and calibration (a talk is never its own
            neighbour, so the history may include the talks being retagged).
        batch_size: talks per batch (one embedding pass and one lake commit each).
        force: retag every talk, not only stale ones.
        limit: stop after this many talks (the rest is picked up by the next run).
        on_batch: called with (talks done, talks to do) after each batch.
    """
    started = time.perf_counter()
    model = tagger.assignment_model(vocabulary)
    stale, considered = stale_talks(lake=lake, model=model, force=force)
    todo = stale[:limit] if limit is not None else stale
    if force:
        lake.put_blob(checkpoint_path(model), json.dumps({"model": model, "done": {}}).encode())
    written = batches = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        written += retag_batch(
            lake=lake, tagger=tagger, vocabulary=vocabulary, history=history, talks=batch
        )
        batches += 1
        if on_batch is not None:
            on_batch(start + len(batch), len(todo))
    return RetagReport(
        model=model,
        talks=considered,
        up_to_date=considered - len(stale),
        retagged=len(todo),
        batches=batches,
        assignments=written,
        seconds=time.perf_counter() - started,
    )
