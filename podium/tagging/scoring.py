"""Scoring math of the embedding tagger: label similarity, neighbour vote, calibration.

Plain numpy on unit vectors; no model here, so it is fast to test and to reason about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1024  # rows of the similarity matrix held at once (bounds memory on big histories)


def softmax(x: np.ndarray, *, temperature: float, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of x / temperature."""
    z = x / temperature
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def label_scores(vectors: np.ndarray, labels: np.ndarray, *, temperature: float) -> np.ndarray:
    """How much each talk is about each label, in [0, 1], from cosine similarity.

    A softmax over labels makes scores comparable across talks whose similarities sit at
    different levels (long and short texts); multiplying by the number of labels, clipped at
    1, keeps a clear winner near 1 whatever the vocabulary size, so thresholds do not drift
    as tags are added (the original 0.3-after-softmax problem).

    Args:
        vectors: (n, d) talk vectors.
        labels: (T, d) label vectors.
        temperature: softmax temperature.
    """
    if vectors.shape[0] == 0:
        return np.zeros((0, labels.shape[0]), dtype=np.float32)
    probs = softmax(vectors @ labels.T, temperature=temperature)
    return np.minimum(1.0, probs * np.sqrt(labels.shape[0])).astype(np.float32)


def knn_scores(
    vectors: np.ndarray,
    history: np.ndarray,
    targets: np.ndarray,
    *,
    k: int,
    temperature: float,
    query_groups: np.ndarray | None = None,
    history_groups: np.ndarray | None = None,
    row_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-weighted vote of the k nearest tagged talks.

    Args:
        vectors: (n, d) talk vectors.
        history: (m, d) vectors of tagged talks.
        targets: (m, T) 0/1 tags of those talks.
        k: neighbours per talk.
        temperature: neighbour weights are exp((sim - best sim) / temperature).
        query_groups, history_groups: integer group ids; a talk never votes for a talk of its
            own group (leave-one-group-out, used when calibrating on the history itself).
        row_weights: (m,) how much each history talk's vote counts beside its similarity
            (None: all alike); see `series_weights`.

    Returns:
        (scores (n, T) in [0, 1], similarity of each talk's nearest neighbour (n,)).
    """
    n, m = vectors.shape[0], history.shape[0]
    scores = np.zeros((n, targets.shape[1]), dtype=np.float32)
    nearest = np.zeros(n, dtype=np.float32)
    if n == 0 or m == 0:
        return scores, nearest
    k = min(k, m)
    for start in range(0, n, CHUNK):
        sims = vectors[start : start + CHUNK] @ history.T
        if query_groups is not None and history_groups is not None:
            same = query_groups[start : start + CHUNK, None] == history_groups[None, :]
            sims = np.where(same, -np.inf, sims)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        finite = np.isfinite(top_sims)
        best = np.where(finite, top_sims, -np.inf).max(axis=1, keepdims=True)
        best = np.where(np.isfinite(best), best, 0.0)
        weights = np.where(finite, np.exp((top_sims - best) / temperature), 0.0)
        if row_weights is not None:
            weights = weights * row_weights[top]
        total = weights.sum(axis=1, keepdims=True)
        votes = np.einsum("nk,nkt->nt", weights, targets[top])
        scores[start : start + CHUNK] = np.where(total > 0, votes / np.maximum(total, 1e-12), 0)
        nearest[start : start + CHUNK] = best[:, 0]
    return scores, nearest


def prototype_scores(
    vectors: np.ndarray,
    history: np.ndarray,
    targets: np.ndarray,
    *,
    temperature: float,
    query_groups: np.ndarray | None = None,
    history_groups: np.ndarray | None = None,
    row_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Similarity to each tag's prototype: the mean vector of the history talks carrying it.

    Scored like label similarity (softmax over tags, see `label_scores`), a prototype is the
    label as the directory actually uses it. With groups, each talk's prototypes leave its own
    group out (for honest calibration on the history itself).

    Args:
        vectors: (n, d) talk vectors.
        history: (m, d) vectors of tagged talks.
        targets: (m, T) 0/1 tags of those talks.
        temperature: softmax temperature.
        query_groups, history_groups: integer group ids, as in `knn_scores`.
        row_weights: (m,) each history talk's weight in the mean vectors (None: all alike).
    """
    n_tags = targets.shape[1]
    if row_weights is not None:
        history = history * row_weights[:, None].astype(history.dtype)
    sums = targets.T @ history  # (T, d)
    if query_groups is None or history_groups is None:
        return label_scores(vectors, _unit_rows(sums), temperature=temperature)
    out = np.zeros((vectors.shape[0], n_tags), dtype=np.float32)
    order = np.argsort(history_groups, kind="stable")
    sorted_groups = history_groups[order]
    for group in np.unique(query_groups):
        rows = np.flatnonzero(query_groups == group)
        lo, hi = np.searchsorted(sorted_groups, [group, group + 1])
        members = order[lo:hi]
        own = targets[members].T @ history[members] if len(members) else 0.0
        out[rows] = label_scores(vectors[rows], _unit_rows(sums - own), temperature=temperature)
    return out


def series_weights(series: np.ndarray, power: float) -> np.ndarray:
    """(m,) weight of each history talk: 1 / (talks of its series) ** power, mean 1.

    A new conference is one more series, not one more talk: with `power` 0.5 a series of 176
    talks counts about 4 times as much as one of 11, not 16 times, so the tagging habits of the
    largest series weigh less in the neighbour vote, the prototypes and the head.
    """
    if len(series) == 0 or power <= 0:
        return np.ones(len(series), dtype=np.float32)
    _, inverse, counts = np.unique(series, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse].astype(np.float64) ** power
    return (weights / weights.mean()).astype(np.float32)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def combine(parts: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Weighted mean of score matrices, weights renormalised to sum to 1."""
    total = sum(w for w, _ in parts)
    if total <= 0:
        raise ValueError("combine needs a positive weight")
    out = sum(w * m for w, m in parts) / total
    return np.asarray(out, dtype=np.float32)


def best_f1_threshold(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The threshold on `scores` that maximises F1 against 0/1 `truth`, and that F1.

    Scores above the threshold count as positive. Ties resolve to the higher threshold
    (fewer, surer tags).
    """
    positives = float(truth.sum())
    if positives == 0 or scores.size == 0:
        return 1.0, 0.0
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order]
    tp = np.cumsum(t)
    predicted = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (predicted + positives)
    # Only cut between distinct scores.
    boundary = np.r_[s[1:] < s[:-1], True]
    f1 = np.where(boundary, f1, -1.0)
    i = int(np.argmax(f1))
    below = s[i + 1] if i + 1 < len(s) else 0.0
    return float((s[i] + below) / 2.0), float(f1[i])


@dataclass(frozen=True)
class Calibration:
    """Per-tag thresholds and where each came from."""

    thresholds: np.ndarray  # (T,)
    own: np.ndarray  # (T,) bool: calibrated on the tag's own examples
    global_threshold: float
    examples: np.ndarray  # (T,) labelled examples per tag


def calibrate(
    scores: np.ndarray,
    truth: np.ndarray,
    *,
    min_examples: int,
    default: float,
    max_tags: int,
    prior: float = 0.0,
) -> Calibration:
    """Per-tag thresholds maximising F1 on held-out history scores.

    A tag with fewer than `min_examples` positives gets the global threshold (the one that
    maximises micro F1 over all tags), itself `default` when the history is empty. Per-tag
    thresholds are shrunk toward the global one in proportion to how few examples back them.

    Args:
        scores: (n, T) scores of history talks computed without their own group.
        truth: (n, T) their 0/1 tags.
        min_examples: positives needed for a tag's own threshold.
        default: threshold when nothing can be calibrated.
        max_tags: the per-talk tag cap applied at prediction time (respected here too).
        prior: strength, in examples, of the pull toward the global threshold: a tag with n
            examples gets n / (n + prior) of its own threshold (0 uses its own outright).
    """
    n_tags = truth.shape[1]
    examples = truth.sum(axis=0).astype(np.int64)
    if scores.shape[0] == 0 or examples.sum() == 0:
        return Calibration(
            np.full(n_tags, default, dtype=np.float32),
            np.zeros(n_tags, dtype=bool),
            float(default),
            examples,
        )
    capped = cap_per_row(scores, max_tags)
    global_threshold, _ = best_f1_threshold(capped.ravel(), truth.ravel())
    thresholds = np.full(n_tags, global_threshold, dtype=np.float32)
    own = examples >= min_examples
    for j in np.flatnonzero(own):
        threshold, _ = best_f1_threshold(capped[:, j], truth[:, j])
        weight = examples[j] / (examples[j] + prior)  # F1-optimal cut-offs of sparse tags are noisy
        thresholds[j] = weight * threshold + (1 - weight) * global_threshold
    return Calibration(thresholds, own, float(global_threshold), examples)


def cap_per_row(scores: np.ndarray, max_tags: int) -> np.ndarray:
    """Scores with everything below each row's `max_tags`-th best set to 0."""
    if scores.shape[1] <= max_tags:
        return scores
    kth = -np.partition(-scores, max_tags - 1, axis=1)[:, max_tags - 1 : max_tags]
    return np.where(scores >= kth, scores, 0.0).astype(scores.dtype)


def select(
    scores: np.ndarray, thresholds: np.ndarray, *, max_tags: int
) -> list[list[tuple[int, float]]]:
    """Per talk, the (tag index, score) pairs above threshold, best first, at most max_tags.

    `thresholds` is (T,) for every talk, or (n, T): one row per talk.
    """
    out: list[list[tuple[int, float]]] = []
    per_talk = thresholds.ndim == 2
    for i, row in enumerate(scores):
        cut = thresholds[i] if per_talk else thresholds
        chosen = [
            (int(j), float(row[j])) for j in np.argsort(-row, kind="stable") if row[j] > cut[j]
        ]
        out.append(chosen[:max_tags])
    return out


def select_matrix(scores: np.ndarray, thresholds: np.ndarray, *, max_tags: int) -> np.ndarray:
    """`select` as a 0/1 matrix shaped like `scores`: 1 where a talk gets the tag."""
    predicted = np.zeros_like(scores)
    for i, picks in enumerate(select(scores, thresholds, max_tags=max_tags)):
        for j, _ in picks:
            predicted[i, j] = 1.0
    return predicted
