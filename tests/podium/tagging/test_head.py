"""The learned per-tag head: logistic regression on vectors, fitted and cross-fitted for real
on small synthetic clusters (numpy + scipy; no model)."""

from __future__ import annotations

import numpy as np

from podium.tagging.head import fit_head, fold_of_groups, head_scores


def clusters(n: int = 60, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(d)[:3] * 3
    label = rng.integers(0, 3, n)
    x = centres[label] + rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.zeros((n, 4), dtype=np.float32)  # the fourth tag has no positive at all
    y[np.arange(n), label] = 1
    return x.astype(np.float32), y


def test_head_separates_clusters_and_never_predicts_an_unseen_tag() -> None:
    x, y = clusters()
    head = fit_head(x, y, penalty=1e-3)
    p = head.predict(x)
    assert p.shape == (60, 4)
    assert (p[:, :3].argmax(axis=1) == y[:, :3].argmax(axis=1)).mean() > 0.9
    assert p[:, 3].max() < 1e-6


def test_a_stronger_penalty_gives_smoother_probabilities() -> None:
    x, y = clusters()
    weak = fit_head(x, y, penalty=1e-4).predict(x)[:, :3]
    strong = fit_head(x, y, penalty=1.0).predict(x)[:, :3]
    assert np.abs(strong - strong.mean()).mean() < np.abs(weak - weak.mean()).mean()


def test_cross_fitting_never_scores_a_group_with_a_head_that_saw_it() -> None:
    x, y = clusters()
    groups = np.arange(60)
    cache: dict = {}
    crossed = head_scores(
        x, x, y, penalty=1e-3, query_groups=groups, history_groups=groups, cache=cache
    )
    folds = fold_of_groups(groups)
    assert len(set(folds.tolist())) == 3
    # Row 0 is scored by the head fitted without its fold: refit that head and compare.
    train = np.flatnonzero(folds != folds[0])
    alone = fit_head(x[train], y[train], penalty=1e-3).predict(x[:1])
    np.testing.assert_allclose(crossed[:1], alone, atol=1e-5)
    assert len(cache) == 3
    head_scores(x, x, y, penalty=1e-3, query_groups=groups, history_groups=groups, cache=cache)
    assert len(cache) == 3  # reused, not refitted


def test_empty_history_gives_an_empty_head() -> None:
    head = fit_head(np.zeros((0, 8), np.float32), np.zeros((0, 3), np.float32), penalty=0.01)
    assert head.predict(np.ones((2, 8), np.float32)).max() < 1e-6


def test_the_one_blas_thread_fit_is_the_threaded_fit(monkeypatch) -> None:
    # The fit runs with one BLAS thread for speed; with the library's threads (two here) it
    # must come out the same.
    import contextlib

    from podium.tagging import head as head_module

    x, y = clusters(n=200, d=48, seed=3)
    one = fit_head(x, y, penalty=1e-4)
    monkeypatch.setattr(head_module, "one_blas_thread", contextlib.nullcontext)
    threaded = fit_head(x, y, penalty=1e-4)
    np.testing.assert_allclose(one.weights, threaded.weights, atol=1e-6)
    np.testing.assert_allclose(one.bias, threaded.bias, atol=1e-6)


def test_a_query_whose_group_is_not_in_the_history_gets_the_whole_history_head() -> None:
    x, y = clusters()
    cache: dict = {}
    groups = np.arange(60)
    queries = np.r_[x[:5], x[:3]]
    query_groups = np.r_[np.arange(5), [-1, -1, -1]]  # five history talks, three new ones
    crossed = head_scores(
        queries, x, y, penalty=1e-3, query_groups=query_groups, history_groups=groups, cache=cache
    )
    whole = fit_head(x, y, penalty=1e-3).predict(x[:3])
    np.testing.assert_allclose(crossed[5:], whole, atol=1e-5)
    folds = fold_of_groups(groups)
    train = np.flatnonzero(folds != folds[0])
    alone = fit_head(x[train], y[train], penalty=1e-3).predict(x[:1])
    np.testing.assert_allclose(crossed[:1], alone, atol=1e-5)
    # The whole-history head is the one a scoring call without groups uses: not fitted again.
    fits = len(cache)
    np.testing.assert_allclose(
        head_scores(x[:3], x, y, penalty=1e-3, cache=cache), whole, atol=1e-5
    )
    assert len(cache) == fits


def test_row_weights_are_the_loss_weights_and_part_of_the_cache_key() -> None:
    x, y = clusters()
    # Weight 2 on a row is the same fit as that row written twice (up to the mean's divisor).
    w = np.ones(60, dtype=np.float32)
    w[:10] = 2.0
    weighted = fit_head(x, y, penalty=1e-3, weights=np.repeat(w[:, None], 4, 1) * 60 / 70)
    doubled = fit_head(np.concatenate([x, x[:10]]), np.concatenate([y, y[:10]]), penalty=1e-3)
    np.testing.assert_allclose(weighted.predict(x), doubled.predict(x), atol=1e-3)
    cache: dict = {}
    plain = head_scores(x[:5], x, y, penalty=1e-3, cache=cache)
    tilted = head_scores(x[:5], x, y, penalty=1e-3, cache=cache, row_weights=w)
    assert len(cache) == 2  # a different weighting is a different head
    assert not np.allclose(plain, tilted)
