"""A learned per-tag head: L2-regularised logistic regression on talk embeddings.

One linear classifier per tag, fitted jointly (one L-BFGS run for all tags) on the history's
vectors and tags. The penalty is strong on purpose: a few hundred talks from a handful of
conferences are easy to memorise, and memorised wording does not transfer to the next
conference. The embedding stays frozen, so fitting takes well under a second for thousands of
talks and a few seconds for hundreds of thousands (linear in rows).

Plain numpy and scipy; no model loading here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

FOLDS = 3  # cross-fitting folds when scoring the history itself (for calibration)
Head = TypeVar("Head")


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy/scipy's BLAS limited to one thread inside the block (torch's threads untouched)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class LinearHead:
    """Weights (d, T) and biases (T,) of per-tag logistic regressions."""

    weights: np.ndarray
    bias: np.ndarray

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """(n, T) probabilities in [0, 1]."""
        if vectors.shape[0] == 0:
            return np.zeros((0, self.bias.shape[0]), dtype=np.float32)
        logits = vectors.astype(np.float32) @ self.weights + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))).astype(np.float32)


def fit_head(
    vectors: np.ndarray,
    targets: np.ndarray,
    *,
    penalty: float,
    max_iter: int = 200,
    weights: np.ndarray | None = None,
) -> LinearHead:
    """Fit per-tag logistic regressions with an L2 penalty on the weights.

    Minimises mean binary cross-entropy over rows plus `penalty / 2 * ||W||^2` (biases are
    not penalised, so a rare tag can still have a low base rate). A tag with no positive row
    gets zero weights and a very negative bias: the head never predicts it.

    Args:
        vectors: (n, d) unit vectors.
        targets: (n, T) 0/1 tags.
        penalty: L2 strength; larger is smoother (1e-3 .. 1e-1 are sensible for unit vectors).
        max_iter: L-BFGS iterations.
        weights: (n, T) 0/1: which (row, tag) entries are known (None: all). A talk an
            organiser rejected a tag on, with no tag of its own, is known only for that tag.
    """
    from scipy.optimize import minimize

    n, d = vectors.shape
    n_tags = targets.shape[1]
    if n == 0:
        return LinearHead(np.zeros((d, n_tags), np.float32), np.full(n_tags, -30.0, np.float32))
    x = vectors.astype(np.float64)
    y = targets.astype(np.float64)
    known = np.ones_like(y) if weights is None else weights.astype(np.float64)
    rate = np.clip((y * known).sum(axis=0) / np.maximum(known.sum(axis=0), 1), 1e-4, 1 - 1e-4)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: d * n_tags].reshape(d, n_tags)
        b = theta[d * n_tags :]
        z = x @ w + b
        # log(1 + e^z) - y z, computed stably
        value = (np.logaddexp(0.0, z) - y * z) * known
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid, overflow-free
        g = known * (p - y) / n
        grad_w = x.T @ g + penalty * w
        grad_b = g.sum(axis=0)
        total = value.sum() / n + 0.5 * penalty * float((w * w).sum())
        return total, np.concatenate([grad_w.ravel(), grad_b])

    start = np.concatenate([np.zeros(d * n_tags), np.log(rate / (1 - rate))])
    # Each step is a few small matrix products: with one BLAS thread the fit computes the
    # same numbers 5-15x faster on the shared 2-core host, where two threads spend their
    # time waiting for each other on every call (docs/tagging-throughput.md).
    with one_blas_thread():
        result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    w = result.x[: d * n_tags].reshape(d, n_tags).astype(np.float32)
    b = result.x[d * n_tags :].astype(np.float32)
    absent = (targets * (known > 0)).sum(axis=0) == 0
    w[:, absent] = 0.0
    b[absent] = -30.0
    return LinearHead(w, b)


def fold_of_groups(groups: np.ndarray, folds: int = FOLDS) -> np.ndarray:
    """A deterministic fold per integer group id (stable across runs and row order)."""
    return (np.asarray(groups, dtype=np.int64) * 2654435761 % 2**32) % folds


def head_scores(
    vectors: np.ndarray,
    history: np.ndarray,
    targets: np.ndarray,
    *,
    penalty: float,
    max_talks: int = 5_000,
    query_groups: np.ndarray | None = None,
    history_groups: np.ndarray | None = None,
    cache: dict[tuple[str, float, int], LinearHead] | None = None,
    negatives: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    row_weights: np.ndarray | None = None,
) -> np.ndarray:
    """(n, T) head probabilities of `vectors`, trained on the history.

    With groups, scoring is cross-fitted: groups are split into `FOLDS` folds, and a query
    row is scored by the head trained without its group's fold, so a talk (or its whole
    conference series) never scores itself. A query whose group has no history row is
    scored by the head of the whole history. Heads are cached by the history's content and
    groups, so callers that score many batches against one history should give groups that
    do not depend on the batch (the tagger uses history row numbers).

    Args:
        vectors: (n, d) talk vectors.
        history: (m, d) vectors of tagged talks.
        targets: (m, T) their 0/1 tags.
        penalty: L2 strength (see `fit_head`).
        max_talks: most rows a head is fitted on (a deterministic sample above that).
        query_groups, history_groups: integer group ids, as in `scoring.knn_scores`.
        cache: fitted heads by (content digest, penalty, fold); reused across calls.
        negatives: (vectors (k, d), groups (k,), mask (k, T)) of history talks known only
            as negatives of some tags (an organiser's rejections): each head also learns
            those entries as 0 (the talks of a query's fold left out, as for the others).
        row_weights: (m,) each history talk's weight in the loss (None: all alike).
    """
    extra = _negative_digest(negatives)
    if row_weights is not None:
        extra += (
            "/w" + hashlib.sha1(np.ascontiguousarray(row_weights, np.float32).tobytes()).hexdigest()
        )

    def fit(rows: np.ndarray, fold: int) -> LinearHead:
        h, t = history[rows], targets[rows]
        weights = None if row_weights is None else np.repeat(row_weights[rows, None], t.shape[1], 1)
        if negatives is not None and len(negatives[0]):
            vec_n, groups_n, mask_n = negatives
            keep = np.ones(len(vec_n), dtype=bool)
            if fold >= 0 and history_groups is not None:
                keep = fold_of_groups(groups_n) != fold
            h = np.concatenate([h, vec_n[keep]])
            own = np.ones_like(t) if weights is None else weights
            weights = np.concatenate([own, mask_n[keep]])
            t = np.concatenate([t, np.zeros_like(mask_n[keep])])
        return fit_head(h, t, penalty=penalty, weights=weights)

    return cross_fitted_scores(
        fit,
        lambda head, rows: head.predict(vectors if rows is None else vectors[rows]),
        digest_of=lambda groups: _digest(history, targets, groups) + extra,
        shape=(vectors.shape[0], history.shape[0], targets.shape[1]),
        penalty=penalty,
        max_talks=max_talks,
        query_groups=query_groups,
        history_groups=history_groups,
        cache=cache,
        cache_limit=64,  # the oldest fits fall out first
    )


def cross_fitted_scores(
    fit: Callable[[np.ndarray, int], Head],
    predict: Callable[[Head, np.ndarray | None], np.ndarray],
    *,
    digest_of: Callable[[np.ndarray | None], str],
    shape: tuple[int, int, int],
    penalty: float,
    max_talks: int,
    query_groups: np.ndarray | None,
    history_groups: np.ndarray | None,
    cache: dict[tuple[str, float, int], Head] | None,
    cache_limit: int,
) -> np.ndarray:
    """(n, T) scores of the queries, each by a head fitted without its group's fold.

    The cross-fitting of `head_scores` and of the text head
    (`podium.tagging.text_head.text_scores`): groups are split into `FOLDS` folds, a query
    is scored by the head fitted on the history rows outside its group's fold, and a query
    without groups, or whose group has no history row, by the head of the whole history.

    Args:
        fit: the head fitted on the given history rows; the fold (-1: the whole history)
            for the parts that follow the folds themselves (an organiser's rejections).
        predict: (k, T) scores by a head of the query rows given (None: all of them).
        digest_of: the content digest of the history under the given groups (None: the
            whole history's head, which does not depend on them).
        shape: (queries n, history rows m, tags T).
        penalty: the heads' L2 strength (part of the cache key).
        max_talks: most rows a head is fitted on (a deterministic sample above that).
        query_groups, history_groups: integer group ids, as in `scoring.knn_scores`.
        cache: fitted heads by (content digest, penalty, fold); reused across calls.
        cache_limit: most heads the cache holds (the oldest fall out first).
    """
    n_queries, n_history, n_tags = shape
    digest = digest_of(history_groups) + f"/{max_talks}"
    # The head of the whole history does not depend on the groups: one key for both uses.
    whole = digest_of(None) + f"/{max_talks}" if history_groups is not None else digest

    def fitted(rows: np.ndarray | None, fold: int) -> Head:
        key = (whole if rows is None else digest, float(penalty), fold)
        if cache is not None and key in cache:
            return cache[key]
        if rows is None:
            rows = np.arange(n_history)
        if len(rows) > max_talks:  # fitting cost stays bounded as the history grows
            rows = np.sort(np.random.default_rng(fold + 1).choice(rows, max_talks, replace=False))
        head = fit(rows, fold)
        if cache is not None:
            if len(cache) >= cache_limit:
                cache.pop(next(iter(cache)))
            cache[key] = head
        return head

    if query_groups is None or history_groups is None:
        return predict(fitted(None, -1), None)
    out = np.zeros((n_queries, n_tags), dtype=np.float32)
    query_fold = fold_of_groups(query_groups)
    history_fold = fold_of_groups(history_groups)
    # A query whose group has no row in the history cannot score itself: the head of the
    # whole history scores it, as it scores any new talk.
    outside = ~np.isin(query_groups, history_groups)
    if outside.any():
        out[outside] = predict(fitted(None, -1), np.flatnonzero(outside))
    for fold in np.unique(query_fold[~outside]):
        rows = np.flatnonzero((query_fold == fold) & ~outside)
        train = np.flatnonzero(history_fold != fold)
        out[rows] = predict(fitted(train, int(fold)), rows)
    return out


def _negative_digest(negatives: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> str:
    if negatives is None or not len(negatives[0]):
        return ""
    vec_n, groups_n, mask_n = negatives
    return "/neg" + _digest(vec_n, mask_n, groups_n)[:16]


def _digest(history: np.ndarray, targets: np.ndarray, groups: np.ndarray | None) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(history, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(targets, dtype=np.float32).tobytes())
    if groups is not None:  # the cross-fitting folds follow the groups
        digest.update(np.ascontiguousarray(groups, dtype=np.int64).tobytes())
    return digest.hexdigest()
