"""Suggestions for an organiser's queue beside the model tags: near-duplicates and new tags.

`event_suggestions` looks at one event's live talks:

- near-duplicate submissions (`podium.tagging.duplicates`): pairs of the event's talks whose
  embeddings are nearly the same, flagged with their similarity and word overlap; nothing is
  changed, the organiser decides what to do with the talks;
- candidate new tags (`podium.tagging.new_tags`): the event's talks whose tagging is done and
  that carry no tag at all (no model tag cleared its threshold, no speaker or organiser tag)
  are clustered, and each cluster gets a name from its key phrases, the vocabulary's names and
  synonyms excluded.

`accept_new_tag` is the only path from a suggestion into the vocabulary: the organiser accepts
it (in the `review-tags` form, possibly renamed), the tag joins the vocabulary
(`podium.vocabulary.add_tags`) and goes on the cluster's talks as an organiser tag through
`correct_tags`, so counts, recommendations and the write-back follow as for any correction.
Until then nothing changes: the suggestion is recomputed from the lake each time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from podium.enrichment import state_rows
from podium.ingest import read_talks, talk_rows
from podium.models import TagDefinition, Talk, normalise_tag
from podium.resources import Resources
from podium.tag_feedback import TagDecision
from podium.tagging.duplicates import DEFAULT_THRESHOLD, DuplicatePair, near_duplicates
from podium.tagging.new_tags import (
    DEFAULT_MAX_DISTANCE,
    DEFAULT_MIN_SIZE,
    TagSuggestion,
    suggest_for_pool,
)
from podium.talk_tags import tag_rows
from podium.text import talk_text
from podium.use_cases.tag_feedback import CorrectionOutcome, correct_tags
from podium.vocabulary import add_tags, load_vocabulary

log = logging.getLogger(__name__)

#: talks -> (n, d) unit vectors (the tagger's `embed`, through the embedding cache).
EmbedTalks = Callable[[Sequence[Talk]], np.ndarray]
#: texts -> (n, d) unit vectors (the tagger's encoder), for candidate phrases.
EmbedTexts = Callable[[list[str]], np.ndarray]


@dataclass
class EventSuggestions:
    """What `event_suggestions` found for one event."""

    event_id: str
    duplicates: list[DuplicatePair] = field(default_factory=list)
    new_tags: list[TagSuggestion] = field(default_factory=list)
    untagged: int = 0  # talks with no tag, the pool new tags come from

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "duplicates": [vars(p) for p in self.duplicates],
            "new_tags": [
                {"name": s.name, "phrases": list(s.phrases), "talk_ids": list(s.talk_ids)}
                for s in self.new_tags
            ],
            "untagged": self.untagged,
        }


def _plain(talk: Talk) -> str:
    return talk_text(talk.title, talk.description, max_tokens=10_000)


def event_suggestions(
    resources: Resources,
    *,
    event_id: str,
    embed_talks: EmbedTalks,
    embed_texts: EmbedTexts,
    duplicate_threshold: float = DEFAULT_THRESHOLD,
    max_distance: float = DEFAULT_MAX_DISTANCE,
    min_size: int = DEFAULT_MIN_SIZE,
    limit: int = 5,
) -> EventSuggestions:
    """Near-duplicate pairs and candidate new tags among an event's live talks.

    Args:
        resources: the lake.
        event_id: the event.
        embed_talks: the tagger's talk embedding (unit vectors; through the cache).
        embed_texts: the encoder, for candidate phrases.
        duplicate_threshold: cosine at or above which two talks are flagged.
        max_distance: cut distance of the clustering of untagged talks.
        min_size: smallest cluster offered as a new tag.
        limit: most new-tag suggestions (largest clusters first).
    """
    lake = resources.lake
    out = EventSuggestions(event_id)
    frame = talk_rows(lake=lake, columns=["talk_id", "event_ids", "state"])
    mine = frame[
        (frame.state != "deleted") & frame.event_ids.map(lambda ids: event_id in list(ids))
    ]
    if mine.empty:
        return out
    talks = sorted(read_talks(lake=lake, talk_ids=list(mine.talk_id)), key=lambda t: t.talk_id)
    texts = [_plain(t) for t in talks]
    vectors = np.asarray(embed_talks(talks), dtype=np.float32)
    ids = [t.talk_id for t in talks]
    out.duplicates = near_duplicates(ids, vectors, texts, threshold=duplicate_threshold)

    tagged = set(tag_rows(lake=lake, talk_ids=ids, columns=["talk_id"]).talk_id.astype(str))
    ledger = state_rows(
        lake=lake, talk_ids=ids, columns=["talk_id", "content_hash", "status"], stage="tags"
    )
    done = {
        str(t)
        for t, h, s in zip(ledger.talk_id, ledger.content_hash, ledger.status, strict=True)
        if s == "done"
    }
    current = {t.talk_id: t.content_hash for t in talks}
    done = {t for t in done if t in current}
    pool = [
        i
        for i, t in enumerate(talks)
        if t.talk_id in done and t.talk_id not in tagged and not t.tags
    ]
    # A talk done at an older version is re-tagged soon; the ledger's hash is not checked
    # here on purpose: an untagged talk stays a hint for a missing tag whatever its version.
    out.untagged = len(pool)
    if len(pool) >= min_size:
        vocabulary = load_vocabulary(lake=lake)
        out.new_tags = suggest_for_pool(
            pool,
            ids,
            vectors,
            texts,
            embed=embed_texts,
            vocabulary=vocabulary,
            max_distance=max_distance,
            min_size=min_size,
        )[:limit]
    return out


def accept_new_tag(
    resources: Resources,
    suggestion: TagSuggestion,
    *,
    name: str | None = None,
    decided_by: str,
    reason: str = "",
    logger: Any = log,
) -> CorrectionOutcome:
    """An organiser accepts a suggested tag: into the vocabulary, onto the cluster's talks.

    Args:
        suggestion: the suggestion as offered.
        name: the name the organiser chose (the suggested one when None or blank).
        decided_by: who accepted it (recorded in `tag_feedback`).
        reason: why (recorded).
    """
    tag = normalise_tag(name or "") or suggestion.name
    description = "Suggested from: " + ", ".join(suggestion.phrases[:5])
    add_tags(lake=resources.lake, definitions=[TagDefinition(name=tag, description=description)])
    decisions = [
        TagDecision(
            talk_id=t,
            tag=tag,
            decision="add",
            decided_by=decided_by,
            reason=reason or f"accepted the suggested tag {tag!r}",
        )
        for t in suggestion.talk_ids
    ]
    outcome = correct_tags(resources, decisions, logger=logger)
    logger.info("new tag %r accepted by %s on %d talks", tag, decided_by, len(decisions))
    return outcome


def embedders(resources: Resources) -> tuple[EmbedTalks, EmbedTexts]:
    """The tagger's talk embedding (through the lake's embedding cache) and its encoder."""
    from podium.devices import resolve_device
    from podium.embedding_cache import EmbeddingCache
    from podium.tagging import build_tagger

    section = resources.settings.tagging
    tagger = build_tagger(
        section, device=resolve_device(section.device), cache=EmbeddingCache(resources.lake)
    )
    return tagger.embed, tagger.encoder.encode
