"""The hybrid score and chunked top-k: pure numpy, no lake, no model.

score(event, talk) = tag_weight * tag_overlap + semantic_weight * semantic, where

- tag_overlap = sum of idf(tag) over the tags the talk shares with the event, divided by the
  sum of idf over the event's tags (0..1; rare tags count more), and
- semantic = max(0, cosine(event embedding, talk embedding)).

Talks are scored in chunks against blocks of events, so memory is bounded by
talk_chunk x event_chunk float32 whatever the number of talks; a running top-k per event is
merged after each chunk. Scores are rounded before ranking and ties go to the smaller talk id,
so results do not depend on chunk sizes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse


def idf_weights(document_frequency: Mapping[str, int], n_talks: int) -> dict[str, float]:
    """Smoothed inverse document frequency: log((1 + N) / (1 + df)) + 1, so never 0.

    Args:
        document_frequency: talks per tag.
        n_talks: talks counted.
    """
    return {tag: math.log((1 + n_talks) / (1 + df)) + 1.0 for tag, df in document_frequency.items()}


@dataclass
class TalkMatrix:
    """Everything the precompute needs about the talks, sorted by talk id.

    Attributes:
        talk_ids: (n,) talk ids in ascending order (column order is the tie-break order).
        embeddings: (n, d) unit vectors, float16 or float32.
        tags: per talk, its normalised tags.
        eligible: (n,) whether the talk may be recommended (state, language filters).
        event_ids: per talk, the events it is already listed at.
    """

    talk_ids: np.ndarray
    embeddings: np.ndarray
    tags: Sequence[Sequence[str]]
    eligible: np.ndarray
    event_ids: Sequence[Sequence[str]]

    def __post_init__(self) -> None:
        n = len(self.talk_ids)
        if not (len(self.embeddings) == len(self.tags) == len(self.eligible) == n):
            raise ValueError("talk_ids, embeddings, tags and eligible must have one row per talk")
        if n > 1 and not bool(np.all(self.talk_ids[:-1] < self.talk_ids[1:])):
            raise ValueError("talk_ids must be unique and sorted")


@dataclass
class EventMatrix:
    """The events to recommend for.

    Attributes:
        event_ids: (m,) event ids.
        embeddings: (m, d) unit vectors.
        tags: per event, its normalised tags.
    """

    event_ids: np.ndarray
    embeddings: np.ndarray
    tags: Sequence[Sequence[str]]


@dataclass
class Weights:
    """Mixing weights of the hybrid score."""

    tag: float = 0.6
    semantic: float = 0.4


@dataclass
class TopK:
    """Top-k talk indices and scores per event (rows), -1 / -inf where fewer qualified."""

    index: np.ndarray
    score: np.ndarray
    event_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))


def tag_vocabulary(event_tags: Sequence[Sequence[str]]) -> dict[str, int]:
    """Column index of every tag any event carries (other tags cannot match)."""
    vocab: dict[str, int] = {}
    for tags in event_tags:
        for tag in tags:
            vocab.setdefault(tag, len(vocab))
    return vocab


def talk_tag_matrix(
    talk_tags: Sequence[Sequence[str]], vocab: Mapping[str, int]
) -> sparse.csr_matrix:
    """(n_talks, |vocab|) 0/1 CSR matrix of the talks' tags that are in `vocab`."""
    indptr = np.zeros(len(talk_tags) + 1, dtype=np.int64)
    indices: list[int] = []
    for row, tags in enumerate(talk_tags):
        cols = {vocab[t] for t in tags if t in vocab}
        indices.extend(sorted(cols))
        indptr[row + 1] = len(indices)
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix(
        (data, np.asarray(indices, dtype=np.int32), indptr), shape=(len(talk_tags), len(vocab))
    )


def event_tag_weights(
    event_tags: Sequence[Sequence[str]], vocab: Mapping[str, int], idf: Mapping[str, float]
) -> np.ndarray:
    """(m, |vocab|) float32: idf(tag) / sum of the event's idf, so full overlap scores 1."""
    out = np.zeros((len(event_tags), len(vocab)), dtype=np.float32)
    for row, tags in enumerate(event_tags):
        weights = {t: idf.get(t, 1.0) for t in dict.fromkeys(tags)}
        total = sum(weights.values())
        for tag, weight in weights.items():
            out[row, vocab[tag]] = weight / total
    return out


def merge_topk(
    best_index: np.ndarray,
    best_score: np.ndarray,
    block: np.ndarray,
    offset: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge a (rows, cols) score block (columns = talks offset..) into a running top-k.

    Ties go to the smaller talk index; -inf marks talks that may not be recommended.
    """
    rows, cols = block.shape
    kk = min(k, cols)
    if kk < cols:
        part = np.argpartition(block, cols - kk, axis=1)[:, cols - kk :]
        threshold = np.take_along_axis(block, part, axis=1).min(axis=1)
        # argpartition picks arbitrarily among scores tied with the k-th; redo those rows
        # exactly so that the smaller talk index wins.
        tied = (block >= threshold[:, None]).sum(axis=1) > kk
        for row in np.flatnonzero(tied):
            order = np.argsort(-block[row], kind="stable")[:kk]
            part[row] = order
    else:
        part = np.broadcast_to(np.arange(cols), (rows, cols)).copy()
    cand_score = np.take_along_axis(block, part, axis=1)
    cand_index = (part + offset).astype(np.int64)
    all_score = np.concatenate([best_score, cand_score], axis=1)
    all_index = np.concatenate([best_index, cand_index], axis=1)
    # Primary key: score descending; secondary: index ascending (-1 padding sorts last).
    sort_index = np.where(all_index < 0, np.iinfo(np.int64).max, all_index)
    order = np.lexsort((sort_index, -all_score), axis=1)[:, :k]
    return np.take_along_axis(all_index, order, axis=1), np.take_along_axis(
        all_score, order, axis=1
    )


def _exclusions(talks: TalkMatrix, event_row: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(event rows, talk indices) of talks already listed at the events being scored."""
    ev: list[int] = []
    tk: list[int] = []
    for index, events in enumerate(talks.event_ids):
        for event_id in events:
            row = event_row.get(event_id)
            if row is not None:
                ev.append(row)
                tk.append(index)
    return np.asarray(ev, dtype=np.int64), np.asarray(tk, dtype=np.int64)


def score_block(
    event_embeddings: np.ndarray,
    event_weights_t: np.ndarray,
    talk_embeddings: np.ndarray,
    talk_tags: sparse.csr_matrix,
    weights: Weights,
    decimals: int,
) -> np.ndarray:
    """Hybrid scores of a block, (events, talks) float32, in units of 10**-decimals.

    Args:
        event_embeddings: (e, d) float32 unit vectors.
        event_weights_t: (|vocab|, e) tag weights, already multiplied by the tag weight.
        talk_embeddings: (t, d) unit vectors (float16 is upcast per chunk).
        talk_tags: (t, |vocab|) 0/1 CSR.
        weights: hybrid weights (only the semantic weight is applied here).
        decimals: scores are scaled by 10**decimals and rounded to integers, so ties (and the
            tie-break) do not depend on BLAS summation order or chunk sizes.
    """
    block = event_embeddings @ talk_embeddings.astype(np.float32, copy=False).T
    np.maximum(block, 0.0, out=block)
    block *= np.float32(weights.semantic * 10**decimals)
    if talk_tags.shape[1] and talk_tags.nnz:
        overlap = talk_tags @ event_weights_t  # (t, e), a small sparse-dense product
        overlap *= np.float32(10**decimals)
        block += overlap.T
    return np.rint(block, out=block)


def top_k_talks(
    events: EventMatrix,
    talks: TalkMatrix,
    *,
    idf: Mapping[str, float],
    weights: Weights,
    k: int,
    exclude_talks_at_event: bool = True,
    talk_chunk: int = 32_768,
    event_chunk: int = 2_048,
    decimals: int = 6,
) -> Iterator[TopK]:
    """Yield the top-k talks of each block of events, scoring talks chunk by chunk.

    Args:
        events: the events to recommend for.
        talks: all candidate talks, sorted by talk id.
        idf: tag -> idf weight.
        weights: hybrid score weights.
        k: talks per event.
        exclude_talks_at_event: skip talks already listed at the event.
        talk_chunk: talks per chunk (bounds memory with event_chunk).
        event_chunk: events per block.
        decimals: rounding of scores before ranking.
    """
    vocab = tag_vocabulary(events.tags)
    tag_matrix = talk_tag_matrix(talks.tags, vocab)
    n = len(talks.talk_ids)
    ineligible = ~np.asarray(talks.eligible, dtype=bool)
    for e0 in range(0, len(events.event_ids), event_chunk):
        e1 = min(e0 + event_chunk, len(events.event_ids))
        block_events = events.event_ids[e0:e1]
        emb = np.ascontiguousarray(events.embeddings[e0:e1], dtype=np.float32)
        ew_t = np.ascontiguousarray(
            (event_tag_weights(events.tags[e0:e1], vocab, idf) * np.float32(weights.tag)).T
        )
        ex_rows, ex_talks = (
            _exclusions(talks, {str(e): i for i, e in enumerate(block_events)})
            if exclude_talks_at_event
            else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        )
        best_index = np.full((e1 - e0, 0), -1, dtype=np.int64)
        best_score = np.full((e1 - e0, 0), -np.inf, dtype=np.float32)
        for t0 in range(0, n, talk_chunk):
            t1 = min(t0 + talk_chunk, n)
            block = score_block(
                emb, ew_t, talks.embeddings[t0:t1], tag_matrix[t0:t1], weights, decimals
            )
            block[:, ineligible[t0:t1]] = -np.inf
            inside = (ex_talks >= t0) & (ex_talks < t1)
            block[ex_rows[inside], ex_talks[inside] - t0] = -np.inf
            best_index, best_score = merge_topk(best_index, best_score, block, t0, k)
        best_index = np.where(np.isfinite(best_score), best_index, -1)
        yield TopK(best_index, best_score / np.float32(10**decimals), block_events)


def related_talks(
    talks: TalkMatrix,
    *,
    k: int,
    queries: np.ndarray | None = None,
    query_chunk: int = 1_024,
    talk_chunk: int = 32_768,
    decimals: int = 6,
) -> Iterator[tuple[np.ndarray, TopK]]:
    """Yield (query talk indices, top-k most similar other eligible talks) in chunks.

    Exact cosine search, chunked both ways; `queries` limits the search to some talks (the
    changed ones) instead of all.
    """
    n = len(talks.talk_ids)
    queries = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    ineligible = ~np.asarray(talks.eligible, dtype=bool)
    for q0 in range(0, len(queries), query_chunk):
        q = queries[q0 : q0 + query_chunk]
        emb = talks.embeddings[q].astype(np.float32)
        best_index = np.full((len(q), 0), -1, dtype=np.int64)
        best_score = np.full((len(q), 0), -np.inf, dtype=np.float32)
        for t0 in range(0, n, talk_chunk):
            t1 = min(t0 + talk_chunk, n)
            block = emb @ talks.embeddings[t0:t1].astype(np.float32, copy=False).T
            block *= np.float32(10**decimals)
            np.rint(block, out=block)
            block[:, ineligible[t0:t1]] = -np.inf
            mine = (q >= t0) & (q < t1)
            block[np.flatnonzero(mine), q[mine] - t0] = -np.inf  # a talk is not its own relative
            best_index, best_score = merge_topk(best_index, best_score, block, t0, k)
        best_index = np.where(np.isfinite(best_score), best_index, -1)
        # float16 storage can put a cosine a hair above 1.
        yield q, TopK(best_index, np.minimum(best_score / np.float32(10**decimals), 1.0))
