"""The tagger: label similarity plus a neighbour vote over tagged talks, calibrated per tag.

One `Tagger` is built per run (the encoder loads once) and tags any number of batches. Label
vectors are cached by the vocabulary's content hash and thresholds by the history's
fingerprint, so a vocabulary change takes effect on the next call with nothing to restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from podium.embedding_cache import EmbeddingCache
from podium.embeddings import Encoder
from podium.models import TagAssignment, Talk, Vocabulary
from podium.tagging import scoring
from podium.tagging.config import TaggingSettings
from podium.tagging.history import TagHistory, embed_talks
from podium.tagging.vocab import label_texts, map_tags, synonym_map

if TYPE_CHECKING:
    from podium.tagging.nli import NLIScorer

TAGGER_REVISION = "1"  # bump when the scoring method changes, so retag picks it up


@dataclass(frozen=True)
class TagScores:
    """Scores of a batch of talks against a vocabulary.

    Attributes:
        scores: (n, T) scores in [0, 1].
        thresholds: (T,) the threshold each tag must exceed.
        tags: the vocabulary's tag names, the columns of `scores`.
    """

    scores: np.ndarray
    thresholds: np.ndarray
    tags: tuple[str, ...]


@dataclass
class Tagger:
    """Tags talks against a vocabulary.

    Args:
        encoder: sentence encoder (loaded once per run).
        settings: the tagging settings.
        nli: an NLI scorer for backend=nli; None for the embedding backend.
        cache: embedding cache for the talks being tagged (history has its own).
    """

    encoder: Encoder
    settings: TaggingSettings
    nli: NLIScorer | None = None
    cache: EmbeddingCache | None = None
    _labels: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)
    _calibrations: dict[tuple[str, ...], scoring.Calibration] = field(
        default_factory=dict, repr=False
    )

    @property
    def model_version(self) -> str:
        """Identity of everything that decides a model tag (recorded on each assignment)."""
        s = self.settings
        base = (
            f"podium-tagger/{TAGGER_REVISION} {self.encoder.model_version}"
            f" len{self.encoder.max_length}"
            f" label{s.label_weight:g}@{s.label_temperature:g} proto{s.prototype_weight:g}"
            f" knn{s.knn_weight:g}x{s.knn_k}@{s.knn_temperature:g}"
        )
        if self.nli is not None:
            base += f" nli:{self.nli.model_version} top{s.nli_top_k}"
        return base

    def assignment_model(self, vocabulary: Vocabulary) -> str:
        """The `model` recorded on model tags: tagger version plus vocabulary hash."""
        return f"{self.model_version} vocab:{vocabulary.content_hash()}"

    # ---- building blocks --------------------------------------------------------------------

    def label_vectors(self, vocabulary: Vocabulary) -> np.ndarray:
        """(T, d) label vectors: mean of name, description and synonym embeddings.

        Cached by the vocabulary's content hash: an added tag or an edited description is a
        new key, so it is picked up on the next call.
        """
        key = (vocabulary.content_hash(), self.encoder.model_version)
        if key not in self._labels:
            groups = [label_texts(t) for t in vocabulary.tags]
            flat = [text for group in groups for text in group]
            vectors = self.encoder.encode(flat)
            out = np.zeros((len(groups), vectors.shape[1]), dtype=np.float32)
            start = 0
            for j, group in enumerate(groups):
                mean = vectors[start : start + len(group)].mean(axis=0)
                out[j] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                start += len(group)
            if len(self._labels) >= 8:  # bounded: old vocabularies fall out first
                self._labels.pop(next(iter(self._labels)))
            self._labels[key] = out
        return self._labels[key]

    def embed(self, talks: Sequence[Talk]) -> np.ndarray:
        """(n, d) unit vectors of the talks."""
        return embed_talks(talks, encoder=self.encoder, cache=self.cache)

    def score_vectors(
        self,
        vectors: np.ndarray,
        *,
        vocabulary: Vocabulary,
        history: TagHistory | None,
        groups: np.ndarray | None = None,
        history_groups: np.ndarray | None = None,
    ) -> np.ndarray:
        """Combined scores (n, T) of already-embedded talks."""
        s = self.settings
        label = scoring.label_scores(
            vectors, self.label_vectors(vocabulary), temperature=s.label_temperature
        )
        if history is None or len(history) == 0:
            return label
        rows, targets = history.targets(vocabulary)
        if len(rows) == 0:
            return label
        vectors_h = history.embeddings[rows]
        groups_h = None if history_groups is None else history_groups[rows]
        knn, _ = scoring.knn_scores(
            vectors,
            vectors_h,
            targets,
            k=s.knn_k,
            temperature=s.knn_temperature,
            query_groups=groups,
            history_groups=groups_h,
        )
        prototype = scoring.prototype_scores(
            vectors,
            vectors_h,
            targets,
            temperature=s.label_temperature,
            query_groups=groups,
            history_groups=groups_h,
        )
        return scoring.combine(
            [
                (s.label_weight, label),
                (s.prototype_weight, prototype),
                (s.knn_weight, knn),
            ]
        )

    def calibration(
        self, *, vocabulary: Vocabulary, history: TagHistory | None
    ) -> scoring.Calibration:
        """Per-tag thresholds from the history, scored leave-one-event-out; cached."""
        s = self.settings
        n_tags = len(vocabulary.tags)
        if history is None or len(history) == 0:
            return scoring.calibrate(
                np.zeros((0, n_tags)),
                np.zeros((0, n_tags)),
                min_examples=s.min_examples,
                default=s.threshold,
                max_tags=s.max_tags,
            )
        key = (history.fingerprint(), vocabulary.content_hash(), self.model_version)
        if key not in self._calibrations:
            rows, targets = history.targets(vocabulary)
            if len(rows) > s.calibration_talks:  # deterministic sample keeps this to seconds
                pick = np.random.default_rng(0).choice(
                    len(rows), s.calibration_talks, replace=False
                )
                pick.sort()
                rows, targets = rows[pick], targets[pick]
            # A talk with no group is its own group: it never votes for itself.
            codes = _group_codes(history)
            scores = self.score_vectors(
                history.embeddings[rows],
                vocabulary=vocabulary,
                history=history,
                groups=codes[rows],
                history_groups=codes,
            )
            self._calibrations[key] = scoring.calibrate(
                scores,
                targets,
                min_examples=s.min_examples,
                default=s.threshold,
                max_tags=s.max_tags,
                prior=s.threshold_prior,
            )
        return self._calibrations[key]

    # ---- the contract -----------------------------------------------------------------------

    def score(
        self,
        talks: Sequence[Talk],
        *,
        vocabulary: Vocabulary,
        history: TagHistory | None = None,
        vectors: np.ndarray | None = None,
    ) -> TagScores:
        """Scores and thresholds of talks against the vocabulary.

        Speaker tags that name a vocabulary tag (directly or through a synonym) score 1.

        Args:
            talks: the talks.
            vocabulary: the tags that may be assigned.
            history: tagged talks for the neighbour vote and calibration; a talk being
                scored that is also in the history is never its own neighbour.
            vectors: the talks' embeddings when already computed.
        """
        if vectors is None:
            vectors = self.embed(talks)
        groups = history_groups = None
        if history is not None and len(history):
            # A talk that is also in the history must not be its own neighbour.
            position = {t.talk_id: i for i, t in enumerate(talks)}
            if any(t in position for t in history.talk_ids):
                groups = np.arange(len(talks), dtype=np.int64)
                history_groups = np.asarray(
                    [position.get(t, -1) for t in history.talk_ids], dtype=np.int64
                )
        scores = self.score_vectors(
            vectors,
            vocabulary=vocabulary,
            history=history,
            groups=groups,
            history_groups=history_groups,
        )
        calibration = self.calibration(vocabulary=vocabulary, history=history)
        thresholds = calibration.thresholds
        if self.nli is not None:
            scores = self.nli.rescore(
                talks, scores, vocabulary=vocabulary, top_k=self.settings.nli_top_k
            )
            thresholds = np.full(len(vocabulary.tags), self.nli.threshold, dtype=np.float32)
        mapping = synonym_map(vocabulary)
        column = {name: j for j, name in enumerate(vocabulary.names)}
        for i, talk in enumerate(talks):
            for tag in map_tags(talk.tags, mapping):
                scores[i, column[tag]] = 1.0
        return TagScores(scores, thresholds, tuple(vocabulary.names))

    def tag(
        self,
        talks: list[Talk],
        *,
        vocabulary: Vocabulary,
        history: TagHistory | None = None,
        now: datetime | None = None,
    ) -> list[TagAssignment]:
        """Tag talks: the speaker's own tags kept, model tags added above calibrated thresholds.

        Args:
            talks: the talks to tag.
            vocabulary: the tags the model may add.
            history: tagged talks (see `load_history`); label similarity alone when None.
            now: timestamp recorded on the assignments (UTC now by default).

        Returns:
            For each talk, its speaker tags (source="speaker", score 1) then at most
            `max_tags` model tags (source="model", score, model version, content hash) that
            the speaker did not already give.
        """
        if not talks:
            return []
        now = now or datetime.now(UTC)
        result = self.score(talks, vocabulary=vocabulary, history=history)
        chosen = scoring.select(result.scores, result.thresholds, max_tags=self.settings.max_tags)
        model = self.assignment_model(vocabulary)
        out: list[TagAssignment] = []
        for talk, picks in zip(talks, chosen, strict=True):
            digest = talk.content_hash
            for tag in talk.tags:
                out.append(
                    TagAssignment(
                        talk_id=talk.talk_id,
                        tag=tag,
                        score=1.0,
                        source="speaker",
                        content_hash=digest,
                        tagged_at=now,
                    )
                )
            own = set(talk.tags)
            for j, value in picks:
                name = result.tags[j]
                if name in own:
                    continue
                out.append(
                    TagAssignment(
                        talk_id=talk.talk_id,
                        tag=name,
                        score=round(min(1.0, max(0.0, value)), 6),
                        source="model",
                        model=model,
                        content_hash=digest,
                        tagged_at=now,
                    )
                )
        return out


def _group_codes(history: TagHistory) -> np.ndarray:
    # Integer group per row; talks without a group get a unique one each.
    codes: dict[str, int] = {}
    out = np.empty(len(history), dtype=np.int64)
    for i, group in enumerate(history.groups):
        key = group if group else f"\x00{i}"
        out[i] = codes.setdefault(key, len(codes))
    return out
