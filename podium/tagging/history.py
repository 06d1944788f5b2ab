"""The directory's tagging history: talks that already carry tags, with their embeddings.

Speakers' own tags and organisers' corrections are the best signal the tagger has: a new talk
is tagged like its nearest already-tagged neighbours, and per-tag thresholds are calibrated on
the history. Tags are kept free-form here and mapped onto the vocabulary when scoring, so a
vocabulary change needs no new history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from podium.embedding_cache import EmbeddingCache
from podium.embeddings import Encoder
from podium.ingest import frame_to_talks, talk_rows
from podium.lake import Lake
from podium.models import Talk, Vocabulary, normalise_tag
from podium.tag_feedback import negatives as rejected_tags
from podium.tagging.series import series_of
from podium.tagging.vocab import map_tags, synonym_map
from podium.talk_tags import tag_rows
from podium.text import talk_text

HISTORY_SOURCES = ("speaker", "organiser")


@dataclass(frozen=True)
class TagHistory:
    """Tagged talks as vectors plus their (free-form, normalised) tags.

    Attributes:
        talk_ids: one id per row.
        tags: each talk's tags (speaker and organiser), normalised, free-form.
        groups: each talk's event (or "" when unknown); calibration leaves a whole group out
            so that a conference's own talks do not vouch for each other.
        embeddings: (n, d) float32 unit vectors, rows aligned with `talk_ids`.
        model_version: the encoder that made `embeddings`.
        premises: talk id -> plain text (title and description, never tags) of a bounded,
            deterministic sample of the talks (`PREMISE_SAMPLE`): what the NLI backend
            reads to calibrate its threshold, and lexical evidence is calibrated on. Empty
            when unknown.
        negatives: talk id -> tags an organiser rejected on that talk (`podium.tag_feedback`):
            the learned head takes each as a 0 for that tag on that talk, also for a talk
            with no tag of its own (such a talk is a row with empty `tags`).
    """

    talk_ids: tuple[str, ...]
    tags: tuple[tuple[str, ...], ...]
    groups: tuple[str, ...]
    embeddings: np.ndarray
    model_version: str
    premises: dict[str, str] = field(default_factory=dict, compare=False)
    negatives: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # What `targets` and `series` computed: the rows never change, so each is worked out once
    # per history (and vocabulary) instead of at every tag call. Never copied by `replace`.
    _memo: dict[object, object] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.talk_ids)
        if not (len(self.tags) == len(self.groups) == n == self.embeddings.shape[0]):
            raise ValueError("history rows are not aligned")

    def __len__(self) -> int:
        return len(self.talk_ids)

    def fingerprint(self) -> str:
        """Identity of the history's content (cache key of calibrated thresholds)."""
        digest = hashlib.sha256(self.model_version.encode())
        for talk_id, tags, group in zip(self.talk_ids, self.tags, self.groups, strict=True):
            digest.update(f"{talk_id}\x1f{group}\x1f{'|'.join(tags)}\x1e".encode())
        for talk_id in sorted(self.negatives):
            digest.update(f"-{talk_id}\x1f{'|'.join(self.negatives[talk_id])}\x1e".encode())
        return digest.hexdigest()[:16]

    def negative_targets(self, vocabulary: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
        """Rows with no vocabulary tag but a rejected one, and their (rows, tags) 0/1 mask of
        the rejected tags: what the head learns as negatives beside `targets`' rows (whose
        rejected tags are 0 there already)."""
        if not self.negatives:
            return np.zeros(0, dtype=np.int64), np.zeros((0, len(vocabulary.tags)), np.float32)
        mapping = synonym_map(vocabulary)
        column = {name: j for j, name in enumerate(vocabulary.names)}
        rows: list[int] = []
        marks: list[list[int]] = []
        for i, talk_id in enumerate(self.talk_ids):
            rejected = self.negatives.get(talk_id)
            if not rejected or map_tags(self.tags[i], mapping):
                continue
            cols = [column[t] for t in map_tags(rejected, mapping)]
            if cols:
                rows.append(i)
                marks.append(cols)
        mask = np.zeros((len(rows), len(column)), dtype=np.float32)
        for r, cols in enumerate(marks):
            mask[r, cols] = 1.0
        return np.asarray(rows, dtype=np.int64), mask

    def targets(self, vocabulary: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
        """Rows that carry at least one vocabulary tag, and their (rows, tags) 0/1 matrix.

        Returns:
            (row indices into this history, float32 matrix of shape (len(rows), len(vocab))),
            both read-only: they are shared by every caller.
        """
        key = ("targets", vocabulary.content_hash())
        if key not in self._memo:
            self._memo[key] = self._targets(vocabulary)
        return self._memo[key]  # type: ignore[return-value]

    def series(self) -> tuple[str, ...]:
        """Each row's conference series (`series_of` its group)."""
        if "series" not in self._memo:
            self._memo["series"] = tuple(series_of(g) for g in self.groups)
        return self._memo["series"]  # type: ignore[return-value]

    def _targets(self, vocabulary: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
        mapping = synonym_map(vocabulary)
        column = {name: j for j, name in enumerate(vocabulary.names)}
        rows: list[int] = []
        marks: list[list[int]] = []
        for i, tags in enumerate(self.tags):
            mapped = map_tags(tags, mapping)
            if mapped:
                rows.append(i)
                marks.append([column[t] for t in mapped])
        matrix = np.zeros((len(rows), len(column)), dtype=np.float32)
        for r, cols in enumerate(marks):
            matrix[r, cols] = 1.0
        indices = np.asarray(rows, dtype=np.int64)
        indices.flags.writeable = matrix.flags.writeable = False
        return indices, matrix

    def without(self, talk_ids: Iterable[str] = (), groups: Iterable[str] = ()) -> TagHistory:
        """This history minus some talks and whole groups (events)."""
        drop_ids, drop_groups = set(talk_ids), set(groups)
        keep = [
            i
            for i, (t, g) in enumerate(zip(self.talk_ids, self.groups, strict=True))
            if t not in drop_ids and g not in drop_groups
        ]
        return self.take(keep)

    def take(self, rows: Sequence[int] | np.ndarray) -> TagHistory:
        """A history of the given rows."""
        index = np.asarray(rows, dtype=np.int64)
        return TagHistory(
            talk_ids=tuple(self.talk_ids[i] for i in index),
            tags=tuple(self.tags[i] for i in index),
            groups=tuple(self.groups[i] for i in index),
            embeddings=self.embeddings[index] if len(index) else self.embeddings[:0],
            model_version=self.model_version,
            premises=_keep(self.premises, (self.talk_ids[i] for i in index)),
            negatives=_kept_negatives(self.negatives, (self.talk_ids[i] for i in index)),
        )

    @staticmethod
    def concat(histories: Sequence[TagHistory]) -> TagHistory:
        """One history of several (same encoder), later duplicates of a talk id dropped."""
        if not histories:
            raise ValueError("nothing to concatenate")
        versions = {h.model_version for h in histories}
        if len(versions) != 1:
            raise ValueError(f"histories from different encoders: {sorted(versions)}")
        seen: set[str] = set()
        ids: list[str] = []
        tags: list[tuple[str, ...]] = []
        groups: list[str] = []
        vectors: list[np.ndarray] = []
        for history in histories:
            for i, talk_id in enumerate(history.talk_ids):
                if talk_id in seen:
                    continue
                seen.add(talk_id)
                ids.append(talk_id)
                tags.append(history.tags[i])
                groups.append(history.groups[i])
                vectors.append(history.embeddings[i])
        dim = histories[0].embeddings.shape[1]
        matrix = np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
        premises: dict[str, str] = {}
        negatives: dict[str, tuple[str, ...]] = {}
        for history in reversed(histories):  # the first history's text wins, like its row
            premises.update(history.premises)
            negatives.update(history.negatives)
        return TagHistory(
            tuple(ids),
            tuple(tags),
            tuple(groups),
            matrix,
            versions.pop(),
            premises=_keep(premises, ids),
            negatives=_kept_negatives(negatives, ids),
        )


# Talks whose plain text a history keeps: NLI calibration reads 64 of them, lexical evidence
# calibrates on all (as many as `calibration_talks` scores), about 1 KB each.
PREMISE_SAMPLE = 6000
PREMISE_TOKENS = 200


def _keep(premises: dict[str, str], ids: Iterable[str]) -> dict[str, str]:
    return {t: premises[t] for t in ids if t in premises} if premises else {}


def _kept_negatives(
    negatives: dict[str, tuple[str, ...]], ids: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    return {t: negatives[t] for t in ids if t in negatives} if negatives else {}


def premise_sample(talks: Sequence[Talk]) -> dict[str, str]:
    """Plain text of a deterministic sample of talks (by a hash of their id), no tags."""
    chosen = sorted(talks, key=lambda t: hashlib.sha1(t.talk_id.encode()).hexdigest())
    return {
        t.talk_id: talk_text(t.title, t.description, max_tokens=PREMISE_TOKENS)
        for t in chosen[:PREMISE_SAMPLE]
    }


def talk_texts(talks: Sequence[Talk], *, encoder: Encoder) -> list[str]:
    """What the encoder reads for each talk: title, cleaned description, speaker tags."""
    budget = max(8, encoder.max_length - 2)  # [CLS] and [SEP]
    return [talk_text(t.title, t.description, tags=t.tags, max_tokens=budget) for t in talks]


def embed_talks(
    talks: Sequence[Talk], *, encoder: Encoder, cache: EmbeddingCache | None = None
) -> np.ndarray:
    """(n, d) unit vectors of talks, through the cache when one is given."""
    texts = talk_texts(talks, encoder=encoder)
    if cache is None:
        return encoder.encode(texts)
    return cache.embed(texts, encoder=encoder)


def build_history(
    talks: Sequence[Talk],
    *,
    encoder: Encoder,
    labels: Sequence[Sequence[str]] | None = None,
    groups: Sequence[str] | None = None,
    cache: EmbeddingCache | None = None,
    negatives: dict[str, tuple[str, ...]] | None = None,
) -> TagHistory:
    """A history from talks in memory (the eval file, a JSONL export).

    Args:
        talks: the talks; their text (and their own tags) is what gets embedded.
        encoder: the sentence encoder.
        labels: each talk's known tags; the talks' own `tags` when None.
        groups: each talk's event; the first of `event_ids` (or "") when None.
        cache: embedding cache.
        negatives: talk id -> tags rejected on it (see `TagHistory.negatives`).
    """
    if labels is None:
        labels = [t.tags for t in talks]
    if groups is None:
        groups = [t.event_ids[0] if t.event_ids else "" for t in talks]
    if not (len(labels) == len(groups) == len(talks)):
        raise ValueError("talks, labels and groups differ in length")
    vectors = embed_talks(talks, encoder=encoder, cache=cache)
    return TagHistory(
        talk_ids=tuple(t.talk_id for t in talks),
        tags=tuple(tuple(dict.fromkeys(normalise_tag(x) for x in row)) for row in labels),
        groups=tuple(groups),
        embeddings=vectors,
        model_version=encoder.model_version,
        # Only tagged talks are ever calibrated on, so only their text is worth keeping.
        premises=premise_sample([t for t, row in zip(talks, labels, strict=True) if row]),
        negatives=_kept_negatives(negatives or {}, (t.talk_id for t in talks)),
    )


def load_history(
    *,
    lake: Lake,
    encoder: Encoder,
    exclude_talk_ids: set[str] | frozenset[str] = frozenset(),
    cache: EmbeddingCache | None = None,
) -> TagHistory:
    """The lake's tagged talks: speaker and organiser tags, embedded through a content cache.

    Reads `talk_tags` rows with source speaker or organiser, plus the speaker tags stored on
    `talks` itself, and the talks' text from `talks`; organisers' rejections on a talk's
    current version (`tag_feedback`) are its negatives. Deleted talks are skipped. Embeddings are
    cached in the lake's `embeddings` table by text hash, so repeated runs embed only new or
    changed talks.

    Args:
        lake: the lake.
        encoder: the sentence encoder.
        exclude_talk_ids: talks to leave out (typically the batch being tagged now).
        cache: embedding cache; the lake's own when None.
    """
    cache = cache if cache is not None else EmbeddingCache(lake)
    history_tags = tag_rows(
        lake=lake, columns=["talk_id", "tag", "source"], sources=HISTORY_SOURCES
    )
    frame = talk_rows(lake=lake)
    by_talk: dict[str, list[str]] = {}
    for talk_id, tag in zip(history_tags["talk_id"], history_tags["tag"], strict=True):
        by_talk.setdefault(str(talk_id), []).append(str(tag))
    if not frame.empty:
        frame = frame[
            ~frame["talk_id"].isin(list(exclude_talk_ids)) & (frame["state"] != "deleted")
        ]
    talks = frame_to_talks(frame)
    # Organisers' rejections on each talk's current version: negatives for the head.
    rejected = rejected_tags(lake=lake, versions={t.talk_id: t.content_hash for t in talks})
    selected: list[Talk] = []
    labels: list[list[str]] = []
    for talk in talks:
        tags = list(dict.fromkeys([*talk.tags, *by_talk.get(talk.talk_id, [])]))
        if tags or talk.talk_id in rejected:
            selected.append(talk)
            labels.append(tags)
    return build_history(selected, encoder=encoder, labels=labels, cache=cache, negatives=rejected)
