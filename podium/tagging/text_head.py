"""A learned lexical head: TF-IDF of character and word n-grams, per-tag logistic regression.

Lexical evidence (`podium.tagging.lexical`) reads only the vocabulary's own words. The
history's talks use many more words that go with a tag (`Pulumi`, `Terraform` with cloud;
`apprendimento` with machine learning; `授業` with education), and character n-grams catch them
across inflections and scripts that the English sentence encoder reads poorly. This head learns
them from the history's plain texts (`TagHistory.premises`: title and description, never
tags) and is blended into the score like the embedding head.

How it is fitted, cheaply and exactly: with L2-normalised TF-IDF rows X (hashed character
2-5-grams within word boundaries, and word 1-2-grams, each block normalised and weighted
1/sqrt(2)), an L2-penalised logistic regression's weights lie in the span of the training rows
(representer theorem), so it is the same model as a logistic regression on Z = U sqrt(S), where
X X^T = U S U^T. Z has at most as many columns as there are training talks; a new talk's row is
(x X^T) U / sqrt(S). `podium.tagging.head.fit_head` fits it (one L-BFGS run for all tags, the
same penalty scale as the embedding head, whose rows are unit vectors too). Hashing needs no
fitted vocabulary, and each text's n-gram counts are cached by content.

scikit-learn's HashingVectorizer does the n-gram counting; no model is loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from podium.tagging.head import cross_fitted_scores, fit_head, one_blas_thread

N_FEATURES = 2**20  # hashed columns per block: collisions are rare at this size
MAX_RANK = 1024  # kernel components kept above this many training talks (largest first)
_COUNT_CACHE = 50_000  # texts whose n-gram counts are remembered


class NgramCounts:
    """Hashed n-gram counts of texts (character 2-5 within words, word 1-2), cached by text.

    Counting is deterministic and needs no fitted vocabulary, so a text counted once (a
    history talk scored in every calibration fold, in every call) is not counted again.
    """

    def __init__(self, limit: int = _COUNT_CACHE) -> None:
        self._limit = limit
        self._rows: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]] = {}
        self._vectorizers: tuple[object, object] | None = None

    def _blocks(self) -> tuple[object, object]:
        if self._vectorizers is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            common = {"n_features": N_FEATURES, "alternate_sign": False, "norm": None}
            self._vectorizers = (
                HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common),
                HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
            )
        return self._vectorizers

    def counts(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(n, N_FEATURES) character and word count matrices of `texts`."""
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        if not keys:
            empty = sp.csr_matrix((0, N_FEATURES), dtype=np.float64)
            return empty, empty
        found = {k: self._rows[k] for k in keys if k in self._rows}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first = dict(zip(keys, texts, strict=True))
            todo = [first[k] for k in missing]
            chars, words = (v.transform(todo).tocsr() for v in self._blocks())  # type: ignore[attr-defined]
            for i, key in enumerate(missing):
                found[key] = (chars[i], words[i])
                while len(self._rows) >= self._limit:  # the oldest texts fall out first
                    self._rows.pop(next(iter(self._rows)))
                self._rows[key] = found[key]
        rows = [found[k] for k in keys]
        return (
            sp.vstack([r[0] for r in rows], format="csr"),
            sp.vstack([r[1] for r in rows], format="csr"),
        )


def _tfidf(
    counts: tuple[sp.csr_matrix, sp.csr_matrix], idf: tuple[np.ndarray, np.ndarray]
) -> sp.csr_matrix:
    """Sublinear TF-IDF per block, each block L2-normalised, weighted 1/sqrt(2): unit rows."""
    blocks = []
    for matrix, weights in zip(counts, idf, strict=True):
        m = matrix.astype(np.float64, copy=True)
        m.data = 1.0 + np.log(m.data)
        m = m.multiply(weights[None, :]).tocsr()
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        m = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m
        blocks.append(m / np.sqrt(2.0))
    return sp.hstack(blocks, format="csr")


def _idf(counts: tuple[sp.csr_matrix, sp.csr_matrix]) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for matrix in counts:
        n = matrix.shape[0]
        df = np.bincount(matrix.indices, minlength=matrix.shape[1])
        out.append(np.log((1.0 + n) / (1.0 + df)) + 1.0)  # smoothed, as scikit-learn's
    return out[0], out[1]


@dataclass(frozen=True)
class TextHead:
    """A fitted text head: the training rows' TF-IDF, their kernel basis, per-tag weights."""

    idf: tuple[np.ndarray, np.ndarray]
    train: sp.csr_matrix  # (m, 2 N_FEATURES) unit TF-IDF rows of the training talks
    basis: np.ndarray  # (m, r): U / sqrt(S), maps kernel rows onto the head's features
    weights: np.ndarray  # (r, T)
    bias: np.ndarray  # (T,)

    def predict(self, counts: tuple[sp.csr_matrix, sp.csr_matrix]) -> np.ndarray:
        """(n, T) probabilities of talks given their n-gram counts."""
        n = counts[0].shape[0]
        if n == 0:
            return np.zeros((0, self.bias.shape[0]), dtype=np.float32)
        kernel = (_tfidf(counts, self.idf) @ self.train.T).toarray()
        logits = (kernel @ self.basis) @ self.weights + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))).astype(np.float32)


def fit_text_head(
    counts: tuple[sp.csr_matrix, sp.csr_matrix],
    targets: np.ndarray,
    *,
    penalty: float,
    max_rank: int = MAX_RANK,
) -> TextHead:
    """Fit per-tag L2 logistic regressions on the TF-IDF of the training talks.

    Args:
        counts: n-gram counts of the training talks (`NgramCounts.counts`).
        targets: (m, T) their 0/1 tags.
        penalty: L2 strength on the mean log-loss (as `fit_head`).
        max_rank: most kernel components kept (largest first); all of them below this
            many training talks, which makes the fit exact.
    """
    idf = _idf(counts)
    train = _tfidf(counts, idf)
    kernel = (train @ train.T).toarray()
    with one_blas_thread():
        values, vectors = np.linalg.eigh(kernel)
    order = np.argsort(values)[::-1]
    keep = order[values[order] > max(float(values.max(initial=0.0)), 1e-12) * 1e-8][:max_rank]
    basis = vectors[:, keep] / np.sqrt(values[keep])[None, :]
    features = kernel @ basis  # = U sqrt(S) on the training rows
    head = fit_head(features, targets, penalty=penalty)
    return TextHead(idf, train, basis, head.weights.astype(np.float64), head.bias)


def text_scores(
    texts: Sequence[str],
    history_texts: Sequence[str],
    targets: np.ndarray,
    *,
    penalty: float,
    counter: NgramCounts,
    max_talks: int = 5_000,
    query_groups: np.ndarray | None = None,
    history_groups: np.ndarray | None = None,
    cache: dict[tuple[str, float, int], TextHead] | None = None,
) -> np.ndarray:
    """(n, T) text-head probabilities of `texts`, trained on the history's texts and tags.

    Cross-fitted by the same code as `podium.tagging.head.head_scores`
    (`cross_fitted_scores`): with groups, a query is scored by the head fitted without its
    group's fold (its own conference series never vouches for it); a query whose group has no
    history row by the head of the whole history.

    Args:
        texts: the talks' plain texts.
        history_texts: the plain texts of the history's tagged talks.
        targets: (m, T) their 0/1 tags.
        penalty: L2 strength (see `fit_text_head`).
        counter: the n-gram counter (its cache outlives the call).
        max_talks: most rows a head is fitted on (a deterministic sample above that).
        query_groups, history_groups: integer group ids, as in `head_scores`.
        cache: fitted heads by (content digest, penalty, fold); reused across calls.
    """
    n_tags = targets.shape[1]
    if not len(texts):
        return np.zeros((0, n_tags), dtype=np.float32)
    counts = counter.counts(texts)
    return cross_fitted_scores(
        lambda rows, _fold: fit_text_head(
            counter.counts([history_texts[int(i)] for i in rows]), targets[rows], penalty=penalty
        ),
        lambda head, rows: head.predict(counts if rows is None else _rows(counts, rows)),
        digest_of=lambda groups: _digest(history_texts, targets, groups),
        shape=(len(texts), len(history_texts), n_tags),
        penalty=penalty,
        max_talks=max_talks,
        query_groups=query_groups,
        history_groups=history_groups,
        cache=cache,
        cache_limit=16,  # each head holds its training rows' TF-IDF
    )


def _rows(
    counts: tuple[sp.csr_matrix, sp.csr_matrix], rows: np.ndarray
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    return counts[0][rows], counts[1][rows]


def _digest(texts: Sequence[str], targets: np.ndarray, groups: np.ndarray | None) -> str:
    digest = hashlib.sha1()
    for text in texts:
        digest.update(hashlib.sha1(text.encode("utf-8")).digest())
    digest.update(np.ascontiguousarray(targets, dtype=np.float32).tobytes())
    if groups is not None:  # the cross-fitting folds follow the groups
        digest.update(np.ascontiguousarray(groups, dtype=np.int64).tobytes())
    return "text:" + digest.hexdigest()
