"""podium.recommend.scoring: pure numpy, nothing faked. Random matrices are checked against a
brute-force ranking written out separately here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from podium.recommend.scoring import (
    EventMatrix,
    TalkMatrix,
    Weights,
    idf_weights,
    lexical_matrix,
    merge_topk,
    related_talks,
    top_k_talks,
)

TAGS = ["a", "b", "c", "d", "e"]


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _world(seed: int = 0, n: int = 300, m: int = 7):
    rng = np.random.default_rng(seed)
    talk_tags = [list(rng.choice(TAGS, size=rng.integers(0, 3), replace=False)) for _ in range(n)]
    talks = TalkMatrix(
        talk_ids=np.array([f"t{i:04d}" for i in range(n)], dtype=object),
        embeddings=_unit(rng, n, 16).astype(np.float16),
        tags=talk_tags,
        eligible=rng.random(n) > 0.2,
        event_ids=[[f"e{rng.integers(0, m)}"] if rng.random() < 0.3 else [] for _ in range(n)],
    )
    events = EventMatrix(
        event_ids=np.array([f"e{j}" for j in range(m)], dtype=object),
        embeddings=_unit(rng, m, 16),
        tags=[list(rng.choice(TAGS, size=2, replace=False)) for _ in range(m)],
    )
    df = {t: sum(t in tags for tags in talk_tags) for t in TAGS}
    return talks, events, idf_weights(df, n)


def _brute_force(talks, events, idf, weights, k, exclude=True):
    out = []
    for j, event_id in enumerate(events.event_ids):
        etags = events.tags[j]
        total = sum(idf[t] for t in etags)
        scored = []
        for i, talk_id in enumerate(talks.talk_ids):
            if not talks.eligible[i] or (exclude and event_id in talks.event_ids[i]):
                continue
            overlap = sum(idf[t] for t in etags if t in talks.tags[i]) / total
            semantic = max(
                0.0, float(events.embeddings[j] @ talks.embeddings[i].astype(np.float32))
            )
            score = round(weights.tag * overlap + weights.semantic * semantic, 6)
            scored.append((-score, talk_id))
        out.append([t for _, t in sorted(scored)[:k]])
    return out


def test_idf_is_higher_for_rarer_tags_and_never_zero() -> None:
    idf = idf_weights({"rare": 1, "common": 99}, 100)
    assert idf["rare"] > idf["common"] >= 1.0
    assert idf["common"] == pytest.approx(math.log(101 / 100) + 1)


@pytest.mark.parametrize("talk_chunk,event_chunk", [(1000, 100), (64, 3), (7, 1)])
def test_chunked_top_k_matches_brute_force(talk_chunk: int, event_chunk: int) -> None:
    talks, events, idf = _world()
    weights = Weights(tag=0.6, semantic=0.4)
    got = []
    for top in top_k_talks(
        events,
        talks,
        idf=idf,
        weights=weights,
        k=10,
        talk_chunk=talk_chunk,
        event_chunk=event_chunk,
    ):
        got += [[talks.talk_ids[i] for i in row if i >= 0] for row in top.index]
    assert got == _brute_force(talks, events, idf, weights, 10)


def test_filters_drop_ineligible_and_talks_already_at_the_event() -> None:
    talks, events, idf = _world(seed=3)
    chosen = set()
    for top in top_k_talks(events, talks, idf=idf, weights=Weights(), k=50, talk_chunk=50):
        for event_id, row in zip(top.event_ids, top.index, strict=True):
            for i in row[row >= 0]:
                assert talks.eligible[i]
                assert event_id not in talks.event_ids[i]
                chosen.add(i)
    assert chosen  # something was recommended at all
    kept = []
    for top in top_k_talks(
        events, talks, idf=idf, weights=Weights(), k=300, exclude_talks_at_event=False
    ):
        kept += [
            (e, i) for e, row in zip(top.event_ids, top.index, strict=True) for i in row if i >= 0
        ]
    assert any(e in talks.event_ids[i] for e, i in kept)


def test_ties_go_to_the_smaller_talk_id_whatever_the_chunking() -> None:
    block = np.array([[0.5, 0.9, 0.5, 0.5, 0.9, 0.1]], dtype=np.float32)
    for split in (1, 2, 4, 6):
        index = np.full((1, 3), -1, np.int64)
        score = np.full((1, 3), -np.inf, np.float32)
        for start in range(0, 6, split):
            index, score = merge_topk(index, score, block[:, start : start + split], start, 3)
        assert index.tolist() == [[1, 4, 0]]


def test_fewer_candidates_than_k_pad_with_minus_one() -> None:
    talks, events, idf = _world(n=5, m=2)
    talks.eligible[:] = [True, False, True, False, False]
    talks.event_ids = [[] for _ in range(5)]
    top = next(top_k_talks(events, talks, idf=idf, weights=Weights(), k=4))
    assert (top.index >= 0).sum(axis=1).tolist() == [2, 2]
    assert top.index[:, 2:].tolist() == [[-1, -1], [-1, -1]]


def test_related_talks_are_the_nearest_others() -> None:
    talks, _, _ = _world(seed=5, n=120)
    emb = talks.embeddings.astype(np.float32)
    for q, top in related_talks(talks, k=4, query_chunk=17, talk_chunk=33):
        for row, i in enumerate(q):
            sims = np.round(emb @ emb[i], 6)
            sims[~talks.eligible] = -np.inf
            sims[i] = -np.inf
            expected = sorted(range(len(sims)), key=lambda j: (-sims[j], j))[:4]
            assert top.index[row].tolist() == expected


def test_related_talks_mix_the_lexical_similarity_in() -> None:
    """With a lexical weight w the ranking is (1 - w) * cosine + w * TF-IDF cosine, checked
    against that sum written out per pair; w = 0 ignores the lexical rows."""
    talks, _, _ = _world(seed=9, n=90)
    words = ["django", "numpy", "pandas", "async", "testing", "packaging", "security", "web"]
    rng = np.random.default_rng(9)
    texts = [" ".join(rng.choice(words, size=4)) + f" talk{i}" for i in range(90)]
    talks.lexical = lexical_matrix(texts)
    assert talks.lexical.shape[0] == 90
    rows = talks.lexical.toarray()
    # Unit rows; a talk's own name (in one text only) is not a term.
    assert np.allclose(np.linalg.norm(rows, axis=1)[rows.any(axis=1)], 1.0, atol=1e-5)
    emb = talks.embeddings.astype(np.float32)
    w = 0.4
    for q, top in related_talks(talks, k=5, query_chunk=13, talk_chunk=29, lexical_weight=w):
        for row, i in enumerate(q):
            sims = np.round((1 - w) * (emb @ emb[i]) + w * (rows @ rows[i]), 6)
            sims[~talks.eligible] = -np.inf
            sims[i] = -np.inf
            expected = sorted(range(len(sims)), key=lambda j: (-sims[j], j))[:5]
            assert top.index[row].tolist() == expected
    plain = [t.index for _, t in related_talks(talks, k=5)]
    unweighted = [t.index for _, t in related_talks(talks, k=5, lexical_weight=0.0)]
    assert all((a == b).all() for a, b in zip(plain, unweighted, strict=True))
    talks.lexical = None
    assert lexical_matrix(["only one"]).shape == (1, 0)


def test_related_talks_lean_towards_the_talks_event() -> None:
    """With a context weight c a talk's score is (cosine + c * mean cosine to the other talks
    of its events) / (1 + c), checked against that written out per pair; a talk at no event
    (or alone at its event) keeps the plain cosine order."""
    talks, _, _ = _world(seed=11, n=110)
    rng = np.random.default_rng(11)
    talks.event_ids = [
        [f"e{j}" for j in rng.choice(6, size=rng.integers(0, 3), replace=False)] for _ in range(110)
    ]
    talks.event_ids[0] = ["alone"]
    emb = talks.embeddings.astype(np.float32)
    c = 0.5
    for q, top in related_talks(talks, k=6, query_chunk=19, talk_chunk=31, context_weight=c):
        for row, i in enumerate(q):
            others = [
                (j, e)
                for j in range(110)
                if j != i
                for e in talks.event_ids[j]
                if e in talks.event_ids[i]
            ]
            context = np.mean([emb[j] for j, _ in others], axis=0) if others else 0 * emb[i]
            sims = np.round((emb @ emb[i] + c * (emb @ context)) / (1 + c), 6)
            sims[~talks.eligible] = -np.inf
            sims[i] = -np.inf
            expected = sorted(range(len(sims)), key=lambda j: (-sims[j], j))[:6]
            assert top.index[row].tolist() == expected
    plain = next(related_talks(talks, k=6, queries=np.array([0])))[1].index
    widened = next(related_talks(talks, k=6, queries=np.array([0]), context_weight=c))[1].index
    assert plain.tolist() == widened.tolist()


def test_talks_must_be_sorted() -> None:
    with pytest.raises(ValueError, match="sorted"):
        TalkMatrix(
            talk_ids=np.array(["b", "a"], dtype=object),
            embeddings=np.zeros((2, 4), np.float16),
            tags=[[], []],
            eligible=np.ones(2, bool),
            event_ids=[[], []],
        )
