"""Rejections as negatives: `TagHistory.negatives`, the masked rows of the head, and the
history's fingerprint (so calibration and heads refresh). Plain numpy, no model."""

from __future__ import annotations

import numpy as np

from podium.models import TagDefinition, Vocabulary
from podium.tagging.head import fit_head, head_scores
from podium.tagging.history import TagHistory

VOCAB = Vocabulary(tags=[TagDefinition(name="flask"), TagDefinition(name="devops")])


def _history(negatives: dict[str, tuple[str, ...]]) -> TagHistory:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return TagHistory(
        talk_ids=("a", "b", "c", "d"),
        tags=(("flask",), ("devops",), ("flask", "devops"), ()),
        groups=("e1", "e1", "e2", "e2"),
        embeddings=vectors,
        model_version="m",
        negatives=negatives,
    )


def test_negative_rows_are_talks_known_only_by_a_rejection() -> None:
    history = _history({"d": ("flask",), "a": ("devops",)})
    rows, mask = history.negative_targets(VOCAB)
    # "a" has a tag of its own: its rejected devops is already a 0 among `targets`' rows.
    assert rows.tolist() == [3] and mask.tolist() == [[1.0, 0.0]]
    assert history.fingerprint() != _history({}).fingerprint()
    assert history.take([0, 3]).negatives == {"d": ("flask",), "a": ("devops",)}
    assert history.without(talk_ids={"d"}).negatives == {"a": ("devops",)}


def test_a_masked_negative_lowers_the_head_only_for_its_tag() -> None:
    x = np.eye(4, dtype=np.float32)
    targets = np.asarray([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    near = x[3:4]  # the rejected talk's own vector
    plain = fit_head(x[:3], targets, penalty=1e-3)
    weights = np.vstack([np.ones((3, 2)), [[1.0, 0.0]]]).astype(np.float32)
    taught = fit_head(
        x, np.vstack([targets, [[0, 0]]]).astype(np.float32), penalty=1e-3, weights=weights
    )
    before, after = plain.predict(near)[0], taught.predict(near)[0]
    assert after[0] < before[0] - 0.05  # flask, rejected there: lower
    # devops, unknown there, barely moves (only the mean over one more row changes).
    assert abs(after[1] - before[1]) < 0.02
    scored = head_scores(
        near, x[:3], targets, penalty=1e-3,
        negatives=(x[3:4], np.asarray([3]), np.asarray([[1.0, 0.0]], np.float32)),
    )  # fmt: skip
    assert np.allclose(scored, after, atol=1e-4)
