"""The learned text head: hashed n-gram TF-IDF and per-tag logistic regression, fitted for real
(scikit-learn's hashing, numpy, scipy) on small hand-written texts; no model is loaded."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from podium.tagging.head import fit_head, fold_of_groups
from podium.tagging.text_head import NgramCounts, _idf, _tfidf, fit_text_head, text_scores

CLOUD = [
    "Infrastructure as code with Pulumi and Python",
    "Pulumi stacks for every environment",
    "Deploying Kubernetes clusters with Terraform and Pulumi",
    "Terraform modules written in Python",
    "Serverless functions on AWS Lambda",
    "AWS Lambda cold starts and Terraform state",
]
DATA = [
    "Pandas dataframes for tabular analysis",
    "Cleaning messy dataframes with pandas",
    "Plotting dataframes with matplotlib",
    "Statistics on tabular data with pandas and numpy",
    "Exploratory analysis of survey data in notebooks",
    "Numpy arrays and pandas series explained",
]


def problem() -> tuple[list[str], np.ndarray]:
    texts = CLOUD + DATA
    y = np.zeros((len(texts), 3), dtype=np.float32)  # the third tag has no positive
    y[: len(CLOUD), 0] = 1
    y[len(CLOUD) :, 1] = 1
    return texts, y


def test_words_that_go_with_a_tag_are_learned_in_another_language() -> None:
    texts, y = problem()
    counter = NgramCounts()
    head = fit_text_head(counter.counts(texts), y, penalty=1e-4)
    new = counter.counts(
        [
            "Infrastruktur als Code mit Pulumi und Terraform",  # German: no training sentence
            "Datenanalyse mit Pandas-Dataframes",
        ]
    )
    p = head.predict(new)
    assert p[0, 0] > 0.5 > p[0, 1]
    assert p[1, 1] > 0.5 > p[1, 0]
    assert p[:, 2].max() < 1e-6  # a tag no history talk carries is never predicted


def test_the_kernel_form_is_the_logistic_regression_on_the_tfidf_itself() -> None:
    # The head is fitted on (X X^T) U / sqrt(S) instead of X: the same model, so it must give
    # the probabilities of the regression fitted on X's own (used) columns.
    texts, y = problem()
    counter = NgramCounts()
    counts = counter.counts(texts)
    kernel_head = fit_text_head(counts, y, penalty=1e-3)
    x = _tfidf(counts, _idf(counts))
    used = np.unique(x.indices)
    direct = fit_head(x[:, used].toarray(), y, penalty=1e-3, max_iter=2000)
    queries = counter.counts(["Pulumi on AWS", "pandas and numpy", "a talk about nothing"])
    q = _tfidf(queries, _idf(counts))[:, used].toarray()
    np.testing.assert_allclose(kernel_head.predict(queries), direct.predict(q), atol=2e-3)


def test_cross_fitting_never_scores_a_group_with_a_head_that_saw_it() -> None:
    texts, y = problem()
    groups = np.arange(len(texts), dtype=np.int64)
    counter = NgramCounts()
    cache: dict = {}

    def cross_fitted() -> np.ndarray:
        return text_scores(
            texts,
            texts,
            y,
            penalty=1e-4,
            counter=counter,
            query_groups=groups,
            history_groups=groups,
            cache=cache,
        )

    crossed = cross_fitted()
    folds = fold_of_groups(groups)
    train = np.flatnonzero(folds != folds[0])
    alone = fit_text_head(counter.counts([texts[i] for i in train]), y[train], penalty=1e-4)
    np.testing.assert_allclose(crossed[:1], alone.predict(counter.counts(texts[:1])), atol=1e-6)
    assert len(cache) == len(set(folds.tolist()))
    cross_fitted()
    assert len(cache) == len(set(folds.tolist()))  # reused, not refitted
    # A talk outside the history (its group unknown) is scored by the head of all of it.
    outside = text_scores(
        ["Pulumi and Terraform"],
        texts,
        y,
        penalty=1e-4,
        counter=counter,
        query_groups=np.asarray([-1]),
        history_groups=groups,
        cache=cache,
    )
    assert outside[0, 0] > 0.5


def test_counts_are_cached_by_text_and_bounded() -> None:
    counter = NgramCounts(limit=3)
    chars, words = counter.counts(["a b", "c d", "a b"])
    assert chars.shape[0] == words.shape[0] == 3
    assert (chars[0] != chars[2]).nnz == 0
    assert len(counter._rows) == 2
    counter.counts(["e f", "g h"])
    assert len(counter._rows) <= 3
    empty = counter.counts([])
    assert empty[0].shape == (0, empty[0].shape[1]) and sp.issparse(empty[0])
