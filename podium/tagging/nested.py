"""Nested, series-disjoint cross-validation: scores that predict new conferences.

The outer folds only score. Inside each outer training part, an inner series-disjoint
cross-validation picks one candidate configuration (weights, k, shrinkage, head, encoder)
by micro F1; that candidate is then calibrated on the whole training part (thresholds are
fitted leave-one-series-out by the tagger itself) and scores the outer fold. The inner score of
the chosen candidate sits beside the outer score, so the optimism of selection is visible, and
the spread across outer folds says which differences are real.

Two more views of the same folds:
- per language (the `language` of each labelled talk), to see whether non-English talks are
  tagged as well as English ones;
- "new vocabulary": tags are split into groups, and each group is held out of the history
  entirely (no talk carries them); the F1 on exactly those tags says how well a tag that a
  directory has just added is assigned from its name, description and synonyms alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from podium.models import Talk, Vocabulary
from podium.tagging.evaluate import (
    EvalInputError,
    EvalReport,
    LabelledSet,
    evaluate_against_history,
    history_from_labelled,
    metrics,
    truth_matrix,
)
from podium.tagging.history import TagHistory, embed_talks
from podium.tagging.scoring import select_matrix
from podium.tagging.series import group_folds, series_of
from podium.tagging.tagger import Tagger, lexical_texts
from podium.tagging.vocab import synonym_map

_MICRO = ("micro_precision", "micro_recall", "micro_f1", "macro_f1")


@dataclass(frozen=True)
class Candidate:
    """One configuration the inner cross-validation may choose.

    Attributes:
        name: short label shown in reports.
        overrides: tagging settings replaced for this candidate.
        encoder: key into the encoders given to `evaluate_nested` ("" = the first).
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    encoder: str = ""


LEXICAL_WEIGHTS = (0.0, 0.15, 0.3, 0.5)


# The blend's weights without and with the per-tag head, shared by every candidate set.
_BLEND: dict[str, object] = {
    "label_weight": 0.4,
    "prototype_weight": 0.3,
    "knn_weight": 0.3,
    "head_weight": 0.0,
}
_WITH_HEAD: dict[str, object] = {
    "label_weight": 0.3,
    "prototype_weight": 0.2,
    "knn_weight": 0.2,
    "head_weight": 0.3,
    "head_penalty": 1e-4,
}


def default_candidates() -> list[Candidate]:
    """The choices made inside the training folds: few, and each a real alternative.

    Label similarity with prototypes and neighbours (the blend) or the same blend with the
    learned per-tag head, each with lexical evidence (the vocabulary's names and synonyms
    written in the talk) at every weight of `LEXICAL_WEIGHTS` (0 = off), all with one global
    threshold: the inner folds choose the structure and the lexical weight together. Sweeps of
    temperatures, k, the other weights and per-tag thresholds moved the series-disjoint F1 by
    less than its spread across folds (docs/tagging.md), so they are not choices here.
    """
    blend = _BLEND
    with_head = _WITH_HEAD
    glob = {"threshold_scope": "global"}
    return [
        Candidate(f"{name} lex{weight:g}", {**weights, **glob, "lexical_weight": weight})
        for name, weights in (("blend", blend), ("blend+head", with_head))
        for weight in LEXICAL_WEIGHTS
    ]


TEXT_WEIGHTS = (0.15, 0.3, 0.5)  # 0.5 added after the first run chose 0.3, the top, 3 times


def text_head_candidates() -> list[Candidate]:
    """The blend with the head plus the learned text head (`text_weight` in `TEXT_WEIGHTS`),
    at the lexical weights 0.15 / 0.3 / 0.5: the inner folds choose whether and how much the
    history's own words count beside the vocabulary's. The text head's penalty is fixed (the
    embedding head's), not a choice."""
    with_head = {**_WITH_HEAD, "threshold_scope": "global"}
    return [
        Candidate(
            f"blend+head+text{text:g} lex{lexical:g}",
            {**with_head, "lexical_weight": lexical, "text_weight": text},
        )
        for lexical in LEXICAL_WEIGHTS[1:]
        for text in TEXT_WEIGHTS
    ]


SERIES_BALANCE = 0.5


def balance_candidates() -> list[Candidate]:
    """The blend with the head at lexical weights 0.3 / 0.5 with the history's conference
    series evened out (`series_balance` 0.5, square-root weights, fixed before measuring):
    the inner folds choose whether a new conference is better predicted by every talk alike
    or by every series more alike."""
    with_head = {**_WITH_HEAD, "threshold_scope": "global", "series_balance": SERIES_BALANCE}
    return [
        Candidate(f"blend+head balanced lex{lexical:g}", {**with_head, "lexical_weight": lexical})
        for lexical in LEXICAL_WEIGHTS[2:]
    ]


def previous_candidates() -> list[Candidate]:
    """The candidates before lexical evidence (blend, blend + head; global or per-tag), kept so
    that the before/after figures come from one procedure (`bench/tagging_nested.py --before`)."""
    blend, with_head = _BLEND, _WITH_HEAD
    per_tag = {"threshold_scope": "per-tag", "threshold_prior": 60.0, "lexical_weight": 0.0}
    glob = {"threshold_scope": "global", "lexical_weight": 0.0}
    return [
        Candidate("blend per-tag", {**blend, **per_tag}),
        Candidate("blend global", {**blend, **glob}),
        Candidate("blend+head per-tag", {**with_head, **per_tag}),
        Candidate("blend+head global", {**with_head, **glob}),
    ]


@dataclass(frozen=True)
class Encoded:
    """A base tagger (its encoder), the vectors of every labelled talk, an extra history.

    `vectors` rows are aligned with `LabelledSet.talks` (all of them, tagged or not).
    """

    tagger: Tagger
    vectors: np.ndarray
    extra: TagHistory | None = None


@dataclass(frozen=True)
class FoldResult:
    """One outer fold: what was chosen inside, and how it scored outside."""

    fold: int
    talks: int
    series: int
    chosen: str
    inner: dict[str, float]
    outer: dict[str, float]
    lexical_weight: float | None = None  # of the chosen candidate, when it sets one


@dataclass(frozen=True)
class NestedReport:
    """Figures of a nested evaluation."""

    mode: str
    talks: int
    folds: list[FoldResult]
    pooled: dict[str, Any]
    spread: dict[str, tuple[float, float]]
    per_language: dict[str, dict[str, float]]
    new_vocabulary: dict[str, Any] | None
    talks_per_second: float
    model_version: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the `--json` output)."""
        pooled = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.pooled.items()}
        return {
            "mode": self.mode,
            "talks": self.talks,
            **{k: v for k, v in pooled.items() if k != "per_tag"},
            "outer": {
                k: {"mean": round(m, 4), "std": round(sd, 4)} for k, (m, sd) in self.spread.items()
            },
            "folds": [
                {
                    "fold": f.fold,
                    "talks": f.talks,
                    "series": f.series,
                    "chosen": f.chosen,
                    "lexical_weight": f.lexical_weight,
                    "inner_micro_f1": round(f.inner["micro_f1"], 4),
                    "inner_precision_at_1": round(f.inner["precision_at_1"], 4),
                    "outer_micro_f1": round(f.outer["micro_f1"], 4),
                    "outer_precision_at_1": round(f.outer["precision_at_1"], 4),
                }
                for f in self.folds
            ],
            "per_language": self.per_language,
            "new_vocabulary": self.new_vocabulary,
            "talks_per_second": round(self.talks_per_second, 2),
            "model_version": self.model_version,
            "per_tag": self.pooled["per_tag"],
        }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for fewer than two values)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return 0.0, 0.0
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


# What a variant shares with its base: the models and the caches whose keys do not depend
# on the settings a candidate overrides (label vectors, fitted heads by content digest and
# penalty, n-gram counts). The rest (lexicons, calibrations, NLI thresholds) starts empty.
_SHARED = ("encoder", "nli", "cache", "_labels", "_heads", "_text_heads", "_ngrams")


def _variant(base: Tagger, overrides: dict[str, Any]) -> Tagger:
    # Other settings, the same class.
    shared = {name: getattr(base, name) for name in _SHARED}
    return type(base)(settings=base.settings.model_copy(update=overrides), **shared)


@dataclass
class _Problem:
    """The labelled talks as arrays, shared by every split."""

    data: LabelledSet
    rows: np.ndarray  # indices into data of talks with a gold tag
    talks: list[Talk]
    events: list[str]
    series: list[str]
    gold: list[list[str]]
    truth: np.ndarray
    texts: list[str]  # plain text (no tags) of each talk, for lexical evidence

    @classmethod
    def of(cls, data: LabelledSet) -> _Problem:
        keep = np.asarray([i for i, g in enumerate(data.gold) if g], dtype=np.int64)
        if keep.size == 0:
            raise EvalInputError("no talk has a gold tag in the vocabulary")
        events = [data.events[i] for i in keep]
        return cls(
            data=data,
            rows=keep,
            talks=[data.talks[i] for i in keep],
            events=events,
            series=[series_of(e) for e in events],
            gold=[data.gold[i] for i in keep],
            truth=truth_matrix(data)[keep],
            texts=lexical_texts([data.talks[i] for i in keep]),
        )


def _history(
    problem: _Problem,
    encoded: Encoded,
    train: np.ndarray,
    test: np.ndarray,
    *,
    hidden: set[str] = frozenset(),  # type: ignore[assignment]
) -> TagHistory:
    """The training talks with gold tags, plus the extra history minus the test series."""
    vectors = encoded.vectors[problem.rows]
    base = TagHistory(
        talk_ids=tuple(problem.talks[i].talk_id for i in train),
        tags=tuple(tuple(t for t in problem.gold[i] if t not in hidden) for i in train),
        groups=tuple(problem.events[i] for i in train),
        embeddings=vectors[train],
        model_version=encoded.tagger.encoder.model_version,
        premises={problem.talks[i].talk_id: problem.texts[i] for i in train},
    )
    parts = [base]
    if encoded.extra is not None and len(encoded.extra):
        test_series = {problem.series[i] for i in test}
        drop_groups = {g for g in set(encoded.extra.groups) if series_of(g) in test_series}
        extra = encoded.extra.without(
            talk_ids={problem.talks[i].talk_id for i in test}, groups=drop_groups
        )
        if hidden:
            extra = _hide(extra, hidden, problem.data.vocabulary)
        parts.append(extra)
    return TagHistory.concat(parts)


def _hide(history: TagHistory, hidden: set[str], vocabulary: Vocabulary) -> TagHistory:
    """The history with every free-form tag that maps onto a hidden tag removed."""
    mapping = synonym_map(vocabulary)
    return replace(
        history,
        tags=tuple(tuple(t for t in row if mapping.get(t) not in hidden) for row in history.tags),
    )


def _run(
    tagger: Tagger,
    problem: _Problem,
    encoded: Encoded,
    train: np.ndarray,
    test: np.ndarray,
    *,
    hidden: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and 0/1 predictions of the test rows with a history of the train rows."""
    vocabulary = problem.data.vocabulary
    vectors = encoded.vectors[problem.rows]
    history = _history(problem, encoded, train, test, hidden=hidden)
    result = tagger.score(
        [problem.talks[i] for i in test],
        vocabulary=vocabulary,
        history=history,
        vectors=vectors[test],
    )
    return result.scores, select_matrix(
        result.scores, result.thresholds, max_tags=tagger.settings.max_tags
    )


def _score_folds(
    tagger: Tagger,
    problem: _Problem,
    encoded: Encoded,
    rows: np.ndarray,
    fold_of: np.ndarray,
) -> dict[str, Any]:
    """Pooled metrics of a plain series-disjoint CV restricted to `rows`."""
    scores = np.zeros((len(rows), problem.truth.shape[1]), dtype=np.float32)
    predicted = np.zeros_like(scores)
    for fold in np.unique(fold_of):
        test_local = np.flatnonzero(fold_of == fold)
        train = rows[fold_of != fold]
        s, p = _run(tagger, problem, encoded, train, rows[test_local])
        scores[test_local], predicted[test_local] = s, p
    return metrics(scores, predicted, problem.truth[rows], problem.data.vocabulary.names)


def evaluate_nested(
    encoders: dict[str, Encoded],
    data: LabelledSet,
    *,
    folds: int = 5,
    inner_folds: int = 4,
    candidates: Sequence[Candidate] | None = None,
    new_vocabulary_groups: int = 0,
    on_progress: Any = None,
) -> NestedReport:
    """Nested series-disjoint cross-validation of candidate taggers on a labelled set.

    Args:
        encoders: base taggers with the vectors of `data.talks` (all rows, or only those with
            a gold tag) and an optional extra history; candidates name them by key.
        data: labelled talks (only those with at least one gold tag are scored).
        folds: outer folds (whole conference series each).
        inner_folds: folds of the inner selection, inside each outer training part.
        candidates: the configurations to choose from; `default_candidates()` when None.
        new_vocabulary_groups: when > 0, also hold out tags in this many groups (see the
            module docstring), using the candidate chosen most often.
        on_progress: called with a short line after each outer fold.

    Raises:
        EvalInputError: too few series for the folds, no gold tags.
    """
    if not encoders:
        raise ValueError("no encoder to evaluate")
    candidates = list(candidates or default_candidates())
    first = next(iter(encoders))
    problem = _Problem.of(data)
    try:
        outer = group_folds(problem.series, folds)
    except ValueError as error:
        raise EvalInputError(f"{error} (conference series)") from None
    taggers = {
        c.name: _variant(encoders[c.encoder or first].tagger, c.overrides) for c in candidates
    }
    encoded_of = {c.name: encoders[c.encoder or first] for c in candidates}
    names = data.vocabulary.names
    scores = np.zeros_like(problem.truth)
    predicted = np.zeros_like(problem.truth)
    results: list[FoldResult] = []
    score_seconds = 0.0
    for fold in range(folds):
        train = np.flatnonzero(outer != fold)
        test = np.flatnonzero(outer == fold)
        train_series = [problem.series[i] for i in train]
        # Small files: as many inner folds as the training part has series, at least 2.
        k = min(inner_folds, len(set(train_series)))
        if k < 2:
            raise EvalInputError(
                f"outer fold {fold + 1}: its training part has {len(set(train_series))} "
                "conference series; the inner choice needs 2 (use fewer --folds)"
            )
        inner = group_folds(train_series, k)
        inner_scores = {
            c.name: _score_folds(taggers[c.name], problem, encoded_of[c.name], train, inner)
            for c in candidates
        }
        chosen = max(
            candidates,
            key=lambda c: (
                inner_scores[c.name]["micro_f1"],
                inner_scores[c.name]["precision_at_1"],
            ),
        ).name
        tagger = taggers[chosen]
        history = _history(problem, encoded_of[chosen], train, test)
        tagger.calibration(vocabulary=data.vocabulary, history=history)  # per run, not timed
        started = time.perf_counter()
        s, p = _run(tagger, problem, encoded_of[chosen], train, test)
        score_seconds += time.perf_counter() - started
        scores[test], predicted[test] = s, p
        outer_figures = metrics(s, p, problem.truth[test], names)
        results.append(
            FoldResult(
                fold=fold,
                talks=len(test),
                series=len({problem.series[i] for i in test}),
                chosen=chosen,
                lexical_weight=next(c for c in candidates if c.name == chosen).overrides.get(
                    "lexical_weight"
                ),
                inner={k: v for k, v in inner_scores[chosen].items() if k != "per_tag"},
                outer={k: v for k, v in outer_figures.items() if k != "per_tag"},
            )
        )
        if on_progress is not None:
            on_progress(
                f"fold {fold + 1}/{folds}: chose {chosen}; inner F1 "
                f"{results[-1].inner['micro_f1']:.3f}, outer F1 {results[-1].outer['micro_f1']:.3f}"
            )
    pooled = metrics(scores, predicted, problem.truth, names)
    spread = {
        "micro_f1": mean_std([r.outer["micro_f1"] for r in results]),
        "precision_at_1": mean_std([r.outer["precision_at_1"] for r in results]),
        "inner_micro_f1": mean_std([r.inner["micro_f1"] for r in results]),
        "inner_precision_at_1": mean_std([r.inner["precision_at_1"] for r in results]),
    }
    per_language = _per_language(problem, scores, predicted)
    new_vocab = None
    if new_vocabulary_groups > 0:
        counts: dict[str, int] = {}
        for r in results:
            counts[r.chosen] = counts.get(r.chosen, 0) + 1
        most = max(candidates, key=lambda c: (counts.get(c.name, 0), -candidates.index(c))).name
        new_vocab = new_vocabulary(
            taggers[most], problem, encoded_of[most], outer, groups=new_vocabulary_groups
        )
        new_vocab["candidate"] = most
    base_encoded = encoders[first]
    seconds = score_seconds + _embed_seconds(base_encoded.tagger, problem.talks)
    return NestedReport(
        mode=f"nested series-disjoint {folds}x{inner_folds}-fold, {len(candidates)} candidates"
        + (" + extra history" if base_encoded.extra is not None else ""),
        talks=len(problem.talks),
        folds=results,
        pooled=pooled,
        spread=spread,
        per_language=per_language,
        new_vocabulary=new_vocab,
        talks_per_second=len(problem.talks) / max(seconds, 1e-9),
        model_version=base_encoded.tagger.model_version,
    )


def evaluate_labelled(
    tagger: Tagger,
    data: LabelledSet,
    *,
    history: LabelledSet | None,
    extra: TagHistory | None,
    folds: int,
    inner_folds: int,
    candidates: str,
    new_vocabulary_groups: int,
    on_progress: Any,
) -> NestedReport | EvalReport:
    """One evaluation of `tagger` on `data`, as `podium tags eval` and the tag-eval flow run it.

    With a labelled `history`: its talks (gold tags), plus `extra`, are the history the talks
    of `data` are tagged with (`evaluate_against_history`). Without: nested series-disjoint
    CV on `data` (`evaluate_nested`) over the `default` candidates or the tagger's
    `settings` alone, `extra` joining every training part's history.
    """
    if history is not None:
        known = history_from_labelled(tagger, history, free_form=False)
        if extra is not None:
            known = TagHistory.concat([known, extra])
        return evaluate_against_history(tagger, data, history=known)
    chosen = default_candidates() if candidates == "default" else [Candidate("settings", {})]
    vectors = embed_talks(data.talks, encoder=tagger.encoder, cache=tagger.cache)
    return evaluate_nested(
        {"": Encoded(tagger, vectors, extra)},
        data,
        folds=folds,
        inner_folds=inner_folds,
        candidates=chosen,
        new_vocabulary_groups=new_vocabulary_groups,
        on_progress=on_progress,
    )


def _embed_seconds(tagger: Tagger, talks: list[Talk]) -> float:
    # Throughput counts embedding the talks under test, never through a cache.
    started = time.perf_counter()
    embed_talks(talks, encoder=tagger.encoder)
    return time.perf_counter() - started


def _per_language(
    problem: _Problem, scores: np.ndarray, predicted: np.ndarray
) -> dict[str, dict[str, float]]:
    languages = problem.data.languages
    if not languages:
        return {}
    codes = [languages[i] or "unknown" for i in problem.rows]
    groups: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        groups.setdefault(code, []).append(i)
        groups.setdefault("all non-English" if code != "eng" else "English", []).append(i)
    out: dict[str, dict[str, float]] = {}
    for name, rows in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        index = np.asarray(rows)
        figures = metrics(
            scores[index], predicted[index], problem.truth[index], problem.data.vocabulary.names
        )
        out[name] = {
            "talks": len(rows),
            "micro_f1": round(figures["micro_f1"], 4),
            "precision_at_1": round(figures["precision_at_1"], 4),
        }
    return out


def new_vocabulary(
    tagger: Tagger,
    problem: _Problem,
    encoded: Encoded,
    outer: np.ndarray,
    *,
    groups: int,
) -> dict[str, Any]:
    """F1 on tags that no history talk carries, against the same tags with history.

    Tags are dealt into `groups` groups (by support, round-robin, so each group mixes common
    and rare tags); for each group and each outer fold, the history (training talks and extra)
    has that group's tags removed, and only that group's columns are scored.
    """
    names = problem.data.vocabulary.names
    support = problem.truth.sum(axis=0)
    order = sorted(range(len(names)), key=lambda j: (-support[j], names[j]))
    tag_groups = [order[g::groups] for g in range(groups) if order[g::groups]]
    hidden_pred = np.zeros_like(problem.truth)
    hidden_scores = np.zeros_like(problem.truth)
    seen_pred = np.zeros_like(problem.truth)
    seen_scores = np.zeros_like(problem.truth)
    for fold in np.unique(outer):
        train = np.flatnonzero(outer != fold)
        test = np.flatnonzero(outer == fold)
        s, p = _run(tagger, problem, encoded, train, test)
        seen_scores[test], seen_pred[test] = s, p
        for columns in tag_groups:
            hidden = {names[j] for j in columns}
            s, p = _run(tagger, problem, encoded, train, test, hidden=hidden)
            cols = np.asarray(columns)
            hidden_pred[np.ix_(test, cols)] = p[:, cols]
            hidden_scores[np.ix_(test, cols)] = s[:, cols]
    held = metrics(hidden_scores, hidden_pred, problem.truth, names)
    seen = metrics(seen_scores, seen_pred, problem.truth, names)
    return {
        "tag_groups": len(tag_groups),
        # precision@1 is left out: the held-out columns come from different runs.
        "held_out": {k: round(held[k], 4) for k in _MICRO},
        "with_history": {k: round(seen[k], 4) for k in _MICRO},
        "per_tag_f1_held_out": {t: held["per_tag"][t]["f1"] for t in names},
        "per_tag_f1_with_history": {t: seen["per_tag"][t]["f1"] for t in names},
    }
