"""podium.embedding_cache on a real Delta lake in a temp folder; the encoder is the fake
bag-of-words one from tests/podium/recommend/lake_data.py (instant, deterministic)."""

from __future__ import annotations

import numpy as np
import pytest

from podium.embedding_cache import (
    STORAGE_DTYPE,
    TABLE,
    EmbeddingCache,
    embed_with_cache,
    encoder_identity,
    read_embedding_matrix,
    text_key,
)
from podium.lake import Lake
from tests.podium.recommend.lake_data import BagOfWordsEncoder


@pytest.fixture
def lake(tmp_path):
    return Lake(str(tmp_path / "lake"))


def test_round_trip_commits_in_batches_and_encodes_only_missing(lake) -> None:
    encoder = BagOfWordsEncoder(dim=8)
    texts = {text_key(t): t for t in ("alpha beta", "gamma", "alpha")}
    k1, k2, k3 = texts
    first, embedded = embed_with_cache(
        lake=lake,
        model="m1",
        write_batch=1,  # one commit per text
        keys=[k1, k2, k1],
        texts=lambda ks: [texts[k] for k in ks],
        encode=encoder.encode,
    )
    assert embedded == [k1, k2] and first.dtype == np.float32 and first.shape == (3, 8)
    assert lake.version(TABLE) == 1  # two commits: versions 0 and 1
    np.testing.assert_array_equal(first[0], first[2])
    second, embedded = embed_with_cache(
        lake=lake,
        model="m1",
        keys=[k3, k2],
        texts=lambda ks: [texts[k] for k in ks],
        encode=encoder.encode,
        dtype=np.float16,
    )
    assert embedded == [k3] and second.dtype == np.float16
    np.testing.assert_array_equal(second[1].astype(np.float32), first[1])
    np.testing.assert_allclose(second[0], encoder.encode(["alpha"])[0], atol=1e-3)
    _, keys = read_embedding_matrix(lake=lake, model="m1")
    assert set(keys) == {k1, k2, k3}
    assert read_embedding_matrix(lake=lake, model="other")[1] == []
    assert read_embedding_matrix(lake=lake, model="m1", keys=[k3])[1] == [k3]


def test_a_cached_run_returns_what_the_computing_run_returned(lake) -> None:
    encoder = BagOfWordsEncoder(dim=16)
    cache = EmbeddingCache(lake)
    fresh = cache.embed(["one text", "another text", "one text"], encoder=encoder)
    assert sum(encoder.calls) == 2
    cached = EmbeddingCache(lake).embed(["another text", "one text"], encoder=encoder)
    assert sum(encoder.calls) == 2  # nothing new
    np.testing.assert_array_equal(cached, fresh[[1, 0]])
    stored = encoder.encode(["one text"])[0].astype(STORAGE_DTYPE).astype(np.float32)
    np.testing.assert_array_equal(fresh[0], stored)


def test_encoders_differing_in_identity_never_share_vectors(lake) -> None:
    a, b = BagOfWordsEncoder(dim=8, model_version="a"), BagOfWordsEncoder(dim=8)
    b.model_version = "a"
    b.max_length = 128  # same weights, another token limit: another identity
    assert encoder_identity(a) != encoder_identity(b)
    EmbeddingCache(lake).embed(["same text"], encoder=a)
    EmbeddingCache(lake).embed(["same text"], encoder=b)
    assert sum(a.calls) == 1 and sum(b.calls) == 1


def test_large_lookups_read_the_encoders_rows_whole(lake, monkeypatch) -> None:
    import podium.embedding_cache as module

    monkeypatch.setattr(module, "_POINT_LOOKUP_KEYS", 2)
    encoder = BagOfWordsEncoder(dim=8)
    texts = [f"text number {i}" for i in range(5)]
    fresh = EmbeddingCache(lake).embed(texts, encoder=encoder)
    again = EmbeddingCache(lake).embed(texts[::-1], encoder=encoder)
    np.testing.assert_array_equal(again, fresh[::-1])
    assert sum(encoder.calls) == 5
