"""`clustered_pick`, the uncertainty-with-diversity strategy of the feedback curve. Real numpy
and scipy k-means on small hand-made vectors; nothing faked."""

from __future__ import annotations

import numpy as np

from podium.tagging.feedback_curve import clustered_pick


def test_one_least_certain_talk_per_cluster() -> None:
    # Two tight groups of talks; the four least certain are all in group A.
    a = np.asarray([[1.0, 0.0]] * 5) + np.linspace(0, 0.01, 5)[:, None]
    b = np.asarray([[0.0, 1.0]] * 5) + np.linspace(0, 0.01, 5)[:, None]
    vectors = np.vstack([a, b]).astype(np.float32)
    margin = {i: 0.01 * i for i in range(5)} | {5 + i: 0.5 + 0.01 * i for i in range(5)}
    uncertainty = sorted(range(10), key=lambda i: margin[i])[:2]
    assert uncertainty == [0, 1]  # plain uncertainty asks twice about group A
    picked = clustered_pick(list(range(10)), vectors, margin, need=2, seed=0)
    assert sorted(picked) == [0, 5]  # one per group, the least certain of each


def test_asking_for_everything_or_more() -> None:
    vectors = np.eye(3, dtype=np.float32)
    margin = {0: 0.3, 1: 0.1, 2: 0.2}
    assert sorted(clustered_pick([0, 1, 2], vectors, margin, need=3)) == [0, 1, 2]
    assert sorted(clustered_pick([0, 1, 2], vectors, margin, need=5)) == [0, 1, 2]
    picked = clustered_pick([0, 1, 2], vectors, margin, need=2, seed=3)
    assert len(picked) == 2 and len(set(picked)) == 2
