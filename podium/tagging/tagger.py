"""The tagger: label similarity plus a neighbour vote over tagged talks, calibrated per tag.

One `Tagger` is built per run (the encoder loads once) and tags any number of batches. Label
vectors are cached by the vocabulary's content hash and thresholds by the history's
fingerprint, so a vocabulary change takes effect on the next call with nothing to restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from podium.embedding_cache import EmbeddingCache
from podium.embeddings import Encoder
from podium.models import TagAssignment, Talk, Vocabulary
from podium.tagging import scoring
from podium.tagging.config import TaggingSettings
from podium.tagging.head import LinearHead, head_scores
from podium.tagging.history import PREMISE_TOKENS, TagHistory, embed_talks
from podium.tagging.lexical import Lexicon
from podium.tagging.series import series_of
from podium.tagging.text_head import NgramCounts, TextHead, text_scores
from podium.tagging.vocab import label_texts, map_tags, synonym_map
from podium.text import talk_text

if TYPE_CHECKING:
    from podium.tagging.nli import NLIScorer

_K = TypeVar("_K")
_V = TypeVar("_V")

TAGGER_REVISION = "3"  # bump when the scoring method changes, so retag picks it up


@dataclass(frozen=True)
class TagScores:
    """Scores of a batch of talks against a vocabulary.

    Attributes:
        scores: (n, T) scores in [0, 1].
        thresholds: (T,) the threshold each tag must exceed, or (n, T), one row per talk,
            when the thresholds of some talk's conference adapted (`conference_shift`).
        tags: the vocabulary's tag names, the columns of `scores`.
    """

    scores: np.ndarray
    thresholds: (
        np.ndarray
    )  # (T,), or (n, T) when talks of some conference adapted (see conference_shift)
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
    _lexicons: dict[str, Lexicon] = field(default_factory=dict, repr=False)
    _calibrations: dict[tuple[str, ...], scoring.Calibration] = field(
        default_factory=dict, repr=False
    )
    _heads: dict[tuple[str, float, int], LinearHead] = field(default_factory=dict, repr=False)
    _text_heads: dict[tuple[str, float, int], TextHead] = field(default_factory=dict, repr=False)
    _ngrams: NgramCounts = field(default_factory=NgramCounts, repr=False)
    _nli_thresholds: dict[tuple[str, ...], float] = field(default_factory=dict, repr=False)
    _own: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray] | None] = field(
        default_factory=dict, repr=False
    )

    @property
    def model_version(self) -> str:
        """Identity of everything that decides a model tag (recorded on each assignment)."""
        s = self.settings
        # int8/onnx vectors differ slightly from fp32/bf16 ones (which were never named)
        variant = str(getattr(self.encoder, "variant", "fp32"))
        base = (
            f"podium-tagger/{TAGGER_REVISION} {self.encoder.model_version}"
            f" len{self.encoder.max_length}{'' if variant in ('fp32', 'bf16') else ' ' + variant}"
            f" label{s.label_weight:g}@{s.label_temperature:g}"
            + (f" lex{s.lexical_weight:g}" if s.lexical_weight > 0 else "")
            + f" proto{s.prototype_weight:g}"
            f" knn{s.knn_weight:g}x{s.knn_k}@{s.knn_temperature:g}"
        )
        nb = "/nb" if s.conference_knn_scope == "neighbours" else ""
        parts = [  # (in use, its mark): only the parts a configuration uses are named
            (s.head_weight > 0, f" head{s.head_weight:g}/{s.head_penalty:g}"),
            (s.text_weight > 0, f" text{s.text_weight:g}/{s.text_penalty:g}"),
            (s.series_balance > 0, f" balance{s.series_balance:g}"),
            (s.support_prior > 0, f" support{s.support_prior:g}"),
            (s.min_history_talks > 0, f" minhist{s.min_history_talks}"),
            (s.conference_prior > 0, f" conf{s.conference_prior:g}/{s.conference_min_talks}"),
            (s.conference_tag_prior > 0, f" conftag{s.conference_tag_prior:g}"),
            (s.conference_knn_prior > 0, f" confknn{s.conference_knn_prior:g}{nb}"),
        ]
        base += "".join(mark for used, mark in parts if used)
        base += " thr:" + (
            s.threshold_scope if s.threshold_scope == "global" else f"tag{s.threshold_prior:g}"
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
            _remember(self._labels, key, out, limit=8)
        return self._labels[key]

    def with_cache(self, cache: EmbeddingCache | None) -> Tagger:
        """This tagger reading talk vectors through `cache`: same models, label vectors,
        heads and calibrations, and the tagger itself (often a process's shared warm one)
        left as it was."""
        return replace(self, cache=cache)

    def lexicon(self, vocabulary: Vocabulary) -> Lexicon:
        """The vocabulary's names and synonyms as one matcher, cached by content hash."""
        key = vocabulary.content_hash()
        if key not in self._lexicons:
            _remember(self._lexicons, key, Lexicon(vocabulary), limit=8)
        return self._lexicons[key]

    def embed(self, talks: Sequence[Talk]) -> np.ndarray:
        """(n, d) unit vectors of the talks."""
        return embed_talks(talks, encoder=self.encoder, cache=self.cache)

    def vocabulary_weight(self) -> float:
        """Total weight of what the vocabulary itself says (label similarity, lexical)."""
        return self.settings.label_weight + self.settings.lexical_weight

    def history_weight(self) -> float:
        """Total weight of the history-based components."""
        s = self.settings
        return s.prototype_weight + s.knn_weight + s.head_weight + s.text_weight

    def reads_text(self) -> bool:
        """Whether scores read the talk's plain text (lexical evidence, the text head)."""
        return self.settings.lexical_weight > 0 or self.settings.text_weight > 0

    def mix(
        self, label: np.ndarray, learned: np.ndarray | None, reliance: np.ndarray
    ) -> np.ndarray:
        """Label similarity and the history-based score, mixed per tag by its reliance.

        A tag with no labelled history (reliance 0) is scored from its label alone, so a new
        tag is assigned from its name, description and synonyms on the same scale.
        """
        if learned is None:
            return label
        w_label = self.vocabulary_weight()
        w_history = self.history_weight() * reliance
        total = np.maximum(w_label + w_history, 1e-12)
        return ((w_label * label + w_history * learned) / total).astype(np.float32)

    def reliance(self, examples: np.ndarray) -> np.ndarray:
        """(T,) how much each tag's score relies on history, from its labelled examples."""
        prior = self.settings.support_prior
        examples = examples.astype(np.float32)
        if prior <= 0:
            return (examples > 0).astype(np.float32)
        return examples / (examples + prior)

    def components(
        self,
        vectors: np.ndarray,
        *,
        vocabulary: Vocabulary,
        history: TagHistory | None,
        groups: np.ndarray | None = None,
        history_groups: np.ndarray | None = None,
        texts: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Vocabulary scores (n, T), history-based scores (n, T) or None, reliance per tag (T,).

        The vocabulary score is label similarity mixed with the lexical evidence (the tag's
        name or a synonym written in the talk's plain text, `texts`; see `lexical_texts`)
        when `lexical_weight` > 0; without texts there is no lexical evidence. The text head
        (`text_weight` > 0) reads the same texts, and is left out of the blend without them.
        """
        s = self.settings
        n_tags = len(vocabulary.tags)
        label = scoring.label_scores(
            vectors, self.label_vectors(vocabulary), temperature=s.label_temperature
        )
        if s.lexical_weight > 0:
            lexical = (
                self.lexicon(vocabulary).scores(texts)
                if texts is not None
                else np.zeros_like(label)
            )
            w = s.label_weight / (s.label_weight + s.lexical_weight)
            label = (w * label + (1 - w) * lexical).astype(np.float32)
        none = np.zeros(n_tags, dtype=np.float32)
        if history is None or len(history) == 0 or self.history_weight() <= 0:
            return label, None, none
        rows, targets = history.targets(vocabulary)
        if len(rows) == 0 or len(rows) < s.min_history_talks:
            return label, None, none
        vectors_h = history.embeddings[rows]
        groups_h = None if history_groups is None else history_groups[rows]
        parts: list[tuple[float, np.ndarray]] = []
        balance = None
        if s.series_balance > 0:
            series_h = np.asarray(history.series(), dtype=object)[rows]
            balance = scoring.series_weights(series_h.astype(str), s.series_balance)

        def scored(scorer: Callable[..., Any], **params: Any) -> Any:
            # Every history scorer: these talks against the tagged history, across groups.
            return scorer(
                vectors, vectors_h, targets, query_groups=groups, history_groups=groups_h, **params
            )

        if s.knn_weight > 0:
            knn, _ = scored(
                scoring.knn_scores, k=s.knn_k, temperature=s.knn_temperature, row_weights=balance
            )
            parts.append((s.knn_weight, knn))
        if s.prototype_weight > 0:
            prototype = scored(
                scoring.prototype_scores, temperature=s.label_temperature, row_weights=balance
            )
            parts.append((s.prototype_weight, prototype))
        if s.head_weight > 0:
            learned = scored(
                head_scores,
                penalty=s.head_penalty,
                max_talks=s.head_max_talks,
                cache=self._heads,
                negatives=_head_negatives(history, vocabulary, history_groups),
                row_weights=balance,
            )
            parts.append((s.head_weight, learned))
        if s.text_weight > 0 and texts is not None:
            # Fitted on the tagged history talks whose plain text the history kept.
            kept = history.premises
            have = np.asarray(
                [k for k, r in enumerate(rows) if history.talk_ids[r] in kept], dtype=np.int64
            )
            if len(have) >= max(s.min_history_talks, 1):
                learned_text = text_scores(
                    texts,
                    [kept[history.talk_ids[rows[k]]] for k in have],
                    targets[have],
                    penalty=s.text_penalty,
                    counter=self._ngrams,
                    max_talks=s.head_max_talks,
                    query_groups=groups,
                    history_groups=None if groups_h is None else groups_h[have],
                    cache=self._text_heads,
                )
                parts.append((s.text_weight, learned_text))
        return label, scoring.combine(parts), self.reliance(targets.sum(axis=0))

    def _history_components(
        self,
        rows: np.ndarray,
        *,
        vocabulary: Vocabulary,
        history: TagHistory,
        texts: Sequence[str] | None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """`components` of the history's `rows`, each scored without the talks of its own
        conference series (a talk with no group is its own group: it never votes for itself)."""
        codes = _group_codes(history)
        return self.components(
            history.embeddings[rows],
            vocabulary=vocabulary,
            history=history,
            groups=codes[rows],
            history_groups=codes,
            texts=texts,
        )

    def calibration(
        self, *, vocabulary: Vocabulary, history: TagHistory | None
    ) -> scoring.Calibration:
        """Per-tag thresholds from the history, scored leave-one-series-out; cached.

        Each history talk is scored without the talks of its own conference series (see
        `podium.tagging.series`), as a talk of a new conference would be. A tag that relies
        on history only in part (few examples, `support_prior`) gets its threshold mixed in
        the same proportion with the threshold of label similarity alone.
        """
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
            texts = None
            if self.reads_text():
                # Lexical evidence and the text head need the talk's text: calibrate on the
                # talks whose text the history kept (all of them up to `PREMISE_SAMPLE`).
                kept = history.premises
                known = [r for r, row in enumerate(rows) if history.talk_ids[row] in kept]
                if known:
                    rows, targets = rows[known], targets[known]
            if len(rows) > s.calibration_talks:  # deterministic sample keeps this to seconds
                pick = np.random.default_rng(0).choice(
                    len(rows), s.calibration_talks, replace=False
                )
                pick.sort()
                rows, targets = rows[pick], targets[pick]
            if self.reads_text():
                texts = [history.premises.get(history.talk_ids[r], "") for r in rows]
            label, learned, reliance = self._history_components(
                rows, vocabulary=vocabulary, history=history, texts=texts
            )
            calibration = scoring.calibrate(
                self.mix(label, learned, reliance),
                targets,
                min_examples=s.min_examples,
                default=s.threshold,
                max_tags=s.max_tags,
                prior=s.threshold_prior if s.threshold_scope == "per-tag" else float("inf"),
            )
            if learned is not None and len(rows) and reliance.min() < 1:
                alone = scoring.calibrate(
                    label,
                    targets,
                    min_examples=s.min_examples,
                    default=s.threshold,
                    max_tags=s.max_tags,
                    prior=float("inf"),
                ).global_threshold
                calibration = scoring.Calibration(
                    (reliance * calibration.thresholds + (1 - reliance) * alone).astype(np.float32),
                    calibration.own,
                    calibration.global_threshold,
                    calibration.examples,
                )
            # A warm executor sees a new history after every refresh: keep the latest few.
            _remember(self._calibrations, key, calibration, limit=16)
        return self._calibrations[key]

    def conference_scores(
        self, *, vocabulary: Vocabulary, history: TagHistory, series: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """What the history knows of conference `series`, scored as its other talks will be.

        Its labelled talks, then its talks that only carry an organiser's rejection
        (`TagHistory.negative_targets`), each scored without itself and with the rest of the
        series in the history, capped at `max_tags` per talk. Returns (scores, 0/1 tags,
        0/1 known): a labelled talk is known for every tag, a rejection-only talk for the
        rejected tags (each a 0). None with fewer than `conference_min_talks` such talks.
        Cached per history, vocabulary and series.
        """
        s = self.settings
        key = (history.fingerprint(), vocabulary.content_hash(), self.model_version, series)
        if key not in self._own:
            found: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
            labelled, targets = history.targets(vocabulary)
            rejected, mask = history.negative_targets(vocabulary)

            def ours(rows: np.ndarray) -> list[int]:
                return [k for k, r in enumerate(rows) if series_of(history.groups[r]) == series]

            own, own_rejected = ours(labelled), ours(rejected)
            if series and len(own) + len(own_rejected) >= s.conference_min_talks:
                rows = np.concatenate([labelled[own], rejected[own_rejected]]).astype(np.int64)
                truth = np.concatenate([targets[own], np.zeros_like(mask[own_rejected])])
                known = np.concatenate([np.ones_like(targets[own]), mask[own_rejected]])
                texts = None
                if self.reads_text():
                    texts = [history.premises.get(history.talk_ids[r], "") for r in rows]
                scores = self.mix(
                    *self.components(
                        history.embeddings[rows],
                        vocabulary=vocabulary,
                        history=history,
                        groups=rows,
                        history_groups=np.arange(len(history), dtype=np.int64),
                        texts=texts,
                    )
                )
                scores = self.with_conference_neighbours(
                    scores,
                    history.embeddings[rows],
                    series=[series] * len(rows),
                    vocabulary=vocabulary,
                    history=history,
                    own_rows=rows,
                )
                found = (scoring.cap_per_row(scores, s.max_tags), truth, known)
            _remember(self._own, key, found, limit=256)
        return self._own[key]

    def conference_shift(
        self, *, vocabulary: Vocabulary, history: TagHistory, series: str, base: float
    ) -> float:
        """How far the thresholds move for talks of conference `series`: 0 without enough
        labelled talks of it in the history.

        Its labelled talks are scored as its other talks will be (`conference_scores`), the
        single threshold maximising micro F1 on them is found, and its distance from the
        calibrated global threshold `base` is shrunk by n / (n + `conference_prior`). A
        conference whose organisers tag twice as densely as the history (pycon-italia) gets
        lower thresholds after a few corrections.
        """
        s = self.settings
        if s.conference_prior <= 0 or not series:
            return 0.0
        own = self.conference_scores(vocabulary=vocabulary, history=history, series=series)
        if own is None:
            return 0.0
        capped, targets, known = own
        full = known.all(axis=1)  # labelled talks; rejection-only ones are per tag
        if full.sum() < s.conference_min_talks:
            return 0.0
        best, f1 = scoring.best_f1_threshold(capped[full].ravel(), targets[full].ravel())
        if f1 <= 0:
            return 0.0
        n = float(full.sum())
        return n / (n + s.conference_prior) * (best - base)

    def conference_tag_shifts(
        self, *, vocabulary: Vocabulary, history: TagHistory, series: str, cut: np.ndarray
    ) -> np.ndarray:
        """(T,) per-tag moves of the thresholds `cut` (the calibrated ones after the
        conference's `conference_shift`) for talks of conference `series`: zeros with
        `conference_tag_prior` 0 or too few talks of it with an organiser's decision.

        On the conference's talks (`conference_scores`: labelled ones, and rejection-only
        ones for their rejected tags), a tag's evidence is the m talks that carry it or that
        it would be given at `cut`. Its F1-optimal threshold on them (above every score when
        none carries it: only rejections) pulls its cut by m / (m + `conference_tag_prior`),
        when it scores better there than the cut does. A tag the organisers keep rejecting
        there rises, one they keep adding falls; a tag with no evidence there does not move.
        """
        s = self.settings
        out = np.zeros(len(vocabulary.tags), dtype=np.float32)
        if s.conference_tag_prior <= 0 or not series:
            return out
        own = self.conference_scores(vocabulary=vocabulary, history=history, series=series)
        if own is None:
            return out
        capped, targets, known = own
        for j in range(len(out)):
            rows = known[:, j] > 0
            column, truth = capped[rows, j], targets[rows, j]
            carried = truth > 0
            given = column > cut[j]
            m = int((carried | given).sum())
            if m == 0:
                continue
            if carried.any():
                target, best = scoring.best_f1_threshold(column, truth)
                hits = float((carried & given).sum())
                if best <= 2 * hits / (carried.sum() + given.sum()) + 1e-9:
                    continue  # the cut is already as good on these talks
            else:
                target = float(column.max()) + 1e-3
            out[j] = m / (m + s.conference_tag_prior) * (target - cut[j])
        return out

    def with_conference_neighbours(
        self,
        scores: np.ndarray,
        vectors: np.ndarray,
        *,
        series: Sequence[str],
        vocabulary: Vocabulary,
        history: TagHistory | None,
        own_rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """`scores` mixed with each talk's neighbour vote among the history's labelled talks
        of its own conference series, weighted n / (n + `conference_knn_prior`).

        The history's other conferences decide the neighbours, prototypes and head; an
        organiser's corrections are a handful of rows among hundreds there. Here the talks of
        the talk's own conference (its corrections, its speakers' tags) vote on their own,
        so "data science" as this conference uses it is learned from its own talks. A talk
        that is itself in the history (`own_rows`, its row or -1) never votes for itself.
        Unchanged with `conference_knn_prior` 0, no history, or fewer than
        `conference_min_talks` labelled talks of the series.
        """
        s = self.settings
        if s.conference_knn_prior <= 0 or history is None or not len(history) or not len(scores):
            return scores
        rows, targets = history.targets(vocabulary)
        if not len(rows):
            return scores
        row_series = np.asarray(history.series(), dtype=object)[rows]
        asked = np.asarray(series, dtype=object)
        own = np.full(len(scores), -1, dtype=np.int64) if own_rows is None else own_rows
        out = scores.copy()
        for name in set(series):
            if not name:
                continue
            members = np.flatnonzero(row_series == name)
            if len(members) < s.conference_min_talks:
                continue
            queries = np.flatnonzero(asked == name)
            local, _ = scoring.knn_scores(
                vectors[queries],
                history.embeddings[rows[members]],
                targets[members],
                k=s.knn_k,
                temperature=s.knn_temperature,
                query_groups=own[queries],
                history_groups=rows[members],
            )
            # n: the series' labelled talks other than the talk itself.
            n = len(members) - np.isin(own[queries], rows[members]).astype(np.float32)
            weight = (n / (n + s.conference_knn_prior)).astype(np.float32)[:, None]
            if s.conference_knn_scope == "neighbours":
                # At most the neighbour vote's own share of the score: the conference's talks
                # take over the neighbour vote, never the label, prototypes or head.
                weight = weight * s.knn_weight / (self.vocabulary_weight() + self.history_weight())
            out[queries] = (1 - weight) * scores[queries] + weight * local
        return out.astype(np.float32)

    def nli_threshold(self, *, vocabulary: Vocabulary, history: TagHistory | None) -> float:
        """The NLI backend's entailment threshold, calibrated on the history when it can be.

        A deterministic sample of labelled history talks whose text the history kept
        (`TagHistory.premises`) gets its top-k candidates from the embedding scores computed
        without its own conference series, runs through the NLI model, and the one threshold
        that maximises micro F1 on their tags is used for every tag (per-tag thresholds would
        need far more NLI passes than a calibration should cost). With fewer than
        `nli_min_talks` such talks, or calibration off, `nli_threshold` stands. Cached per
        history, vocabulary and model.
        """
        s = self.settings
        assert self.nli is not None
        fixed = float(self.nli.threshold)
        if s.nli_calibration_talks == 0 or history is None or not history.premises:
            return fixed
        key = ("nli", history.fingerprint(), vocabulary.content_hash(), self.model_version)
        if key not in self._nli_thresholds:
            rows, targets = history.targets(vocabulary)
            keep = [r for r, row in enumerate(rows) if history.talk_ids[row] in history.premises]
            if len(keep) < s.nli_min_talks:
                return fixed
            keep = keep[: s.nli_calibration_talks]
            rows, targets = rows[keep], targets[keep]
            premises = [history.premises[history.talk_ids[r]] for r in rows]
            components = self._history_components(
                rows, vocabulary=vocabulary, history=history, texts=premises
            )
            entailment = self.nli.rescore_texts(
                premises,
                self.mix(*components),
                vocabulary=vocabulary,
                top_k=s.nli_top_k,
            )
            capped = scoring.cap_per_row(entailment, s.max_tags)
            threshold, f1 = scoring.best_f1_threshold(capped.ravel(), targets.ravel())
            _remember(self._nli_thresholds, key, threshold if f1 > 0 else fixed, limit=16)
        return self._nli_thresholds[key]

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
            # A talk that is also in the history must not score itself: its own row is left
            # out of the neighbours and prototypes, and the head cross-fitted without its
            # row's fold scores it. Groups are history row numbers, the same in every batch,
            # so those heads are fitted once per history, not once per batch; a talk outside
            # the history (group -1) is scored by the head of the whole history.
            row_of = {t: r for r, t in enumerate(history.talk_ids)}
            own_rows = [row_of.get(t.talk_id, -1) for t in talks]
            if any(r >= 0 for r in own_rows):
                groups = np.asarray(own_rows, dtype=np.int64)
                history_groups = np.arange(len(history), dtype=np.int64)
        scores = self.mix(
            *self.components(
                vectors,
                vocabulary=vocabulary,
                history=history,
                groups=groups,
                history_groups=history_groups,
                texts=lexical_texts(talks) if self.reads_text() else None,
            )
        )
        talk_series = [series_of(t.event_ids[0]) if t.event_ids else "" for t in talks]
        scores = self.with_conference_neighbours(
            scores,
            vectors,
            series=talk_series,
            vocabulary=vocabulary,
            history=history,
            own_rows=groups,
        )
        calibration = self.calibration(vocabulary=vocabulary, history=history)
        thresholds = calibration.thresholds
        if self.settings.conference_prior > 0 and history is not None and len(history):
            shifts = np.asarray(
                [
                    self.conference_shift(
                        vocabulary=vocabulary,
                        history=history,
                        series=name,
                        base=calibration.global_threshold,
                    )
                    for name in talk_series
                ],
                dtype=np.float32,
            )
            if np.any(shifts != 0):
                thresholds = (thresholds[None, :] + shifts[:, None]).astype(np.float32)
        if self.settings.conference_tag_prior > 0 and history is not None and len(history):
            rows = np.broadcast_to(thresholds, scores.shape).astype(np.float32)
            moves: dict[str, np.ndarray] = {}
            for i, name in enumerate(talk_series):
                if name not in moves:
                    moves[name] = self.conference_tag_shifts(
                        vocabulary=vocabulary, history=history, series=name, cut=rows[i]
                    )
                rows[i] += moves[name]
            thresholds = rows
        if self.nli is not None:
            scores = self.nli.rescore(
                talks, scores, vocabulary=vocabulary, top_k=self.settings.nli_top_k
            )
            threshold = self.nli_threshold(vocabulary=vocabulary, history=history)
            thresholds = np.full(len(vocabulary.tags), threshold, dtype=np.float32)
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


def lexical_texts(talks: Sequence[Talk]) -> list[str]:
    """The plain text (title and description, no tags) lexical evidence is read from.

    The same budget as the text a history keeps (`TagHistory.premises`), so a talk being tagged
    and a history talk being calibrated on are read alike.
    """
    return [talk_text(t.title, t.description, max_tokens=PREMISE_TOKENS) for t in talks]


def _head_negatives(
    history: TagHistory, vocabulary: Vocabulary, history_groups: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The history's rejection-only talks as `head_scores`' negatives: (vectors, groups,
    0/1 mask of the rejected tags); None when there is none."""
    rows, mask = history.negative_targets(vocabulary)
    if not len(rows):
        return None
    groups = rows if history_groups is None else history_groups[rows]
    return history.embeddings[rows], np.asarray(groups, dtype=np.int64), mask


def _group_codes(history: TagHistory) -> np.ndarray:
    # Integer conference series per row; talks without a group get a unique one each.
    codes: dict[str, int] = {}
    out = np.empty(len(history), dtype=np.int64)
    for i, group in enumerate(history.groups):
        key = series_of(group) if group else f"\x00{i}"
        out[i] = codes.setdefault(key, len(codes))
    return out


def _remember(cache: dict[_K, _V], key: _K, value: _V, *, limit: int) -> None:
    """Put `value` in `cache`, the oldest entry falling out first once it holds `limit`: the
    tagger lives as long as a warm process and meets a new history after every refresh."""
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value
