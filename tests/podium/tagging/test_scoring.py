"""podium.tagging.scoring: the numeric core on small hand-made vectors. All real numpy."""

from __future__ import annotations

import numpy as np
import pytest

from podium.tagging import scoring


def _unit(rows: list[list[float]]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_label_scores_pick_the_closest_label_and_do_not_shrink_with_vocabulary() -> None:
    talks = _unit([[1, 0.1, 0], [0, 1, 0.1]])
    labels = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    scores = scoring.label_scores(talks, labels, temperature=0.05)
    assert scores.argmax(axis=1).tolist() == [0, 1]
    # Adding unrelated labels leaves a clear winner's score where it was (at the cap).
    many = np.vstack([labels, -labels])
    wider = scoring.label_scores(talks, many, temperature=0.05)
    assert wider[0, 0] == pytest.approx(scores[0, 0], abs=1e-3)


def test_knn_votes_by_similarity_and_leaves_own_group_out() -> None:
    history = _unit([[1, 0], [0.9, 0.1], [0, 1]])
    targets = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    query = _unit([[1, 0.05]])
    scores, nearest = scoring.knn_scores(query, history, targets, k=3, temperature=0.05)
    assert scores[0, 0] > 0.95 and nearest[0] > 0.99
    left_out, _ = scoring.knn_scores(
        query,
        history,
        targets,
        k=3,
        temperature=0.05,
        query_groups=np.array([7]),
        history_groups=np.array([7, 7, 1]),
    )
    assert left_out[0].tolist() == [0.0, 1.0]  # only the other group's talk may vote


def test_prototype_scores_leave_group_out_matches_recomputed_prototypes() -> None:
    rng = np.random.default_rng(0)
    history = _unit(rng.normal(size=(30, 8)).tolist())
    targets = (rng.random((30, 4)) > 0.6).astype(np.float32)
    groups = np.arange(30) % 5
    queries = history[:10]
    got = scoring.prototype_scores(
        queries,
        history,
        targets,
        temperature=0.1,
        query_groups=groups[:10],
        history_groups=groups,
    )
    for i in range(10):
        keep = groups != groups[i]
        expected = scoring.prototype_scores(
            queries[i : i + 1], history[keep], targets[keep], temperature=0.1
        )
        np.testing.assert_allclose(got[i], expected[0], rtol=1e-5, atol=1e-6)


def test_best_f1_threshold_separates_and_prefers_higher_on_ties() -> None:
    scores = np.array([0.9, 0.8, 0.3, 0.2])
    truth = np.array([1, 1, 0, 0])
    threshold, f1 = scoring.best_f1_threshold(scores, truth)
    assert 0.3 < threshold < 0.8 and f1 == 1.0
    assert scoring.best_f1_threshold(scores, np.zeros(4)) == (1.0, 0.0)


def test_calibrate_uses_own_threshold_only_with_enough_examples() -> None:
    rng = np.random.default_rng(1)
    truth = np.zeros((200, 2), dtype=np.float32)
    truth[:60, 0] = 1
    truth[:2, 1] = 1  # too few examples for its own threshold
    scores = rng.random((200, 2)).astype(np.float32) * 0.5
    scores[:60, 0] += 0.5
    cal = scoring.calibrate(scores, truth, min_examples=8, default=0.35, max_tags=5)
    assert cal.own.tolist() == [True, False]
    assert cal.thresholds[1] == pytest.approx(cal.global_threshold)
    assert 0.4 < cal.thresholds[0] < 0.6
    empty = scoring.calibrate(
        np.zeros((0, 2)), np.zeros((0, 2)), min_examples=8, default=0.35, max_tags=5
    )
    assert empty.thresholds.tolist() == pytest.approx([0.35, 0.35])


def test_select_respects_thresholds_and_cap() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.2, 0.2, 0.2, 0.2]])
    picks = scoring.select(scores, np.array([0.5, 0.5, 0.75, 0.5]), max_tags=2)
    assert picks[0] == [(0, pytest.approx(0.9)), (1, pytest.approx(0.8))]
    assert picks[1] == []


def test_combine_renormalises_weights() -> None:
    a, b = np.ones((1, 2)), np.zeros((1, 2))
    assert scoring.combine([(3, a), (1, b)]).tolist() == [[0.75, 0.75]]
    with pytest.raises(ValueError):
        scoring.combine([(0, a)])


def test_series_weights_even_out_large_series_with_mean_one() -> None:
    series = np.asarray(["big"] * 16 + ["small"] * 4)
    w = scoring.series_weights(series, 0.5)
    assert w.mean() == pytest.approx(1.0)
    assert w[-1] / w[0] == pytest.approx(2.0)  # sqrt(16 / 4)
    # Square-root weights: the big series still counts more in total, but 2x, not 4x.
    assert w[:16].sum() / w[16:].sum() == pytest.approx(2.0)
    assert scoring.series_weights(series, 0.0).tolist() == [1.0] * 20


def test_row_weights_move_the_neighbour_vote_and_the_prototypes() -> None:
    talk = _unit([[1, 0.2, 0]])
    history = _unit([[1, 0.25, 0], [1, 0.15, 0], [0, 1, 0]])
    targets = np.asarray([[1, 0], [0, 1], [0, 1]], dtype=np.float32)
    even, _ = scoring.knn_scores(talk, history, targets, k=2, temperature=1.0)
    assert even[0, 0] == pytest.approx(even[0, 1], abs=0.01)
    tilted, _ = scoring.knn_scores(
        talk, history, targets, k=2, temperature=1.0, row_weights=np.asarray([3.0, 1.0, 1.0])
    )
    assert tilted[0, 0] == pytest.approx(0.75, abs=0.01)
    # Prototypes: the weighted mean of the rows carrying each tag.
    weights = np.asarray([1.0, 1.0, 0.0], dtype=np.float32)
    weighted = scoring.prototype_scores(
        talk, history, targets, temperature=0.05, row_weights=weights
    )
    dropped = scoring.prototype_scores(talk, history[:2], targets[:2], temperature=0.05)
    np.testing.assert_allclose(weighted, dropped, atol=1e-6)
