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

from podium.recommend.schedule import Schedule


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
        schedule: per talk, its slot and speakers (`podium.recommend.schedule`); None when
            lists need not be schedule-aware.
        lexical: (n, v) L2-normalised TF-IDF rows of the talks' titles and descriptions
            (`lexical_matrix`); None when related talks use the cosine alone.
    """

    talk_ids: np.ndarray
    embeddings: np.ndarray
    tags: Sequence[Sequence[str]]
    eligible: np.ndarray
    event_ids: Sequence[Sequence[str]]
    schedule: Schedule | None = None
    lexical: sparse.csr_matrix | None = None

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
    *,
    _seeding: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge a (rows, cols) score block (columns = talks offset..) into a running top-k.

    `best_*` are (rows, k), sorted best first, -1 / -inf where empty. Blocks must come in
    increasing `offset` order: then on equal scores the earlier (smaller) index wins, which is
    the tie-break. A row whose k-th best is already known only looks at the few scores above
    it (one comparison pass); a row still filling up takes its block's top k by partition.
    """
    rows, cols = block.shape
    threshold = best_score[:, k - 1]
    seed = max(256, 8 * k)
    if _seeding and cols > seed:
        # Column slices, narrowest first: the top k of the first few hundred columns gives
        # each row a threshold (partitioning whole rows is slow), and every later slice only
        # keeps the few scores above an ever tighter threshold.
        start = 0
        for width in (seed, *([4096] * (cols // 4096 + 1))):
            if start >= cols:
                break
            best_index, best_score = merge_topk(
                best_index,
                best_score,
                block[:, start : start + width],
                offset + start,
                k,
                _seeding=False,
            )
            start += width
        return best_index, best_score
    cold = np.flatnonzero(~np.isfinite(threshold))
    hot = np.flatnonzero(np.isfinite(threshold))
    cand_rows: list[np.ndarray] = []
    cand_cols: list[np.ndarray] = []
    if len(hot):
        sub = block if len(hot) == rows else block[hot]
        r, c = np.nonzero(sub > threshold[hot, None])
        cand_rows.append(hot[r])
        cand_cols.append(c)
    if len(cold):
        sub = block if len(cold) == rows else block[cold]
        kk = min(k, cols)
        part = np.argpartition(sub, cols - kk, axis=1)[:, cols - kk :]
        floor = np.take_along_axis(sub, part, axis=1).min(axis=1)
        # Scores tied with the k-th may lie outside the partition: take them all, the sort
        # below keeps the smaller indices.
        tied = np.flatnonzero((sub >= floor[:, None]).sum(axis=1) > kk)
        plain = np.setdiff1d(np.arange(len(cold)), tied)
        cand_rows.append(np.repeat(cold[plain], kk))
        cand_cols.append(part[plain].ravel())
        if len(tied):
            r, c = np.nonzero(sub[tied] >= floor[tied, None])
            cand_rows.append(cold[tied[r]])
            cand_cols.append(c)
    c_rows = np.concatenate(cand_rows) if cand_rows else np.zeros(0, np.int64)
    c_cols = np.concatenate(cand_cols) if cand_cols else np.zeros(0, np.int64)
    c_score = block[c_rows, c_cols]
    keep = np.isfinite(c_score)
    have = best_index.ravel() >= 0
    all_rows = np.concatenate([np.repeat(np.arange(rows), k)[have], c_rows[keep]])
    all_index = np.concatenate([best_index.ravel()[have], c_cols[keep].astype(np.int64) + offset])
    all_score = np.concatenate([best_score.ravel()[have], c_score[keep]])
    order = np.lexsort((all_index, -all_score, all_rows))
    all_rows, all_index, all_score = all_rows[order], all_index[order], all_score[order]
    rank = np.arange(len(all_rows)) - np.searchsorted(all_rows, all_rows, side="left")
    take = rank < k
    new_index = np.full((rows, k), -1, dtype=np.int64)
    new_score = np.full((rows, k), -np.inf, dtype=np.float32)
    new_index[all_rows[take], rank[take]] = all_index[take]
    new_score[all_rows[take], rank[take]] = all_score[take]
    return new_index, new_score


def finish_topk(
    index: np.ndarray, score: np.ndarray, decimals: int
) -> tuple[np.ndarray, np.ndarray]:
    """Round scores and re-sort each row by (rounded score desc, index asc).

    Rounding makes the final order independent of floating-point summation order.
    """
    rounded = np.round(score.astype(np.float64), decimals)
    sort_index = np.where(index < 0, np.iinfo(np.int64).max, index)
    order = np.lexsort((sort_index, -rounded), axis=1)
    return np.take_along_axis(index, order, axis=1), np.take_along_axis(rounded, order, axis=1)


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

    Only eligible talks are scored. Per (event block, talk chunk): one matrix product for the
    semantic part, a sparse product for the tag part (few pairs share a tag), then the merge.

    Args:
        events: the events to recommend for.
        talks: all candidate talks, sorted by talk id.
        idf: tag -> idf weight.
        weights: hybrid score weights.
        k: talks per event.
        exclude_talks_at_event: skip talks already listed at the event.
        talk_chunk: talks per chunk (bounds memory with event_chunk).
        event_chunk: events per block.
        decimals: rounding of final scores (ties then go to the smaller talk id).
    """
    vocab = tag_vocabulary(events.tags)
    eligible = np.flatnonzero(np.asarray(talks.eligible, dtype=bool))
    tag_matrix = talk_tag_matrix([talks.tags[int(i)] for i in eligible], vocab)
    n = len(eligible)
    for e0 in range(0, len(events.event_ids), event_chunk):
        e1 = min(e0 + event_chunk, len(events.event_ids))
        block_events = events.event_ids[e0:e1]
        # The semantic weight is folded into the event vectors (clipping at 0 commutes).
        emb = np.ascontiguousarray(events.embeddings[e0:e1], dtype=np.float32) * np.float32(
            weights.semantic
        )
        ew = sparse.csr_matrix(
            event_tag_weights(events.tags[e0:e1], vocab, idf) * np.float32(weights.tag)
        )
        ex_rows, ex_pos = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if exclude_talks_at_event:
            ex_rows, ex_talks = _exclusions(talks, {str(e): i for i, e in enumerate(block_events)})
            pos = np.searchsorted(eligible, ex_talks)
            ok = (
                (pos < n) & (eligible[np.minimum(pos, max(n - 1, 0))] == ex_talks) if n else pos < 0
            )
            ex_rows, ex_pos = ex_rows[ok], pos[ok]
        best_index = np.full((e1 - e0, k), -1, dtype=np.int64)
        best_score = np.full((e1 - e0, k), -np.inf, dtype=np.float32)
        for t0 in range(0, n, talk_chunk):
            t1 = min(t0 + talk_chunk, n)
            chunk = talks.embeddings[eligible[t0:t1]].astype(np.float32, copy=False)
            block = emb @ chunk.T
            np.maximum(block, 0.0, out=block)
            if ew.nnz:
                overlap = (ew @ tag_matrix[t0:t1].T).tocoo()
                block[overlap.row, overlap.col] += overlap.data
            inside = (ex_pos >= t0) & (ex_pos < t1)
            block[ex_rows[inside], ex_pos[inside] - t0] = -np.inf
            best_index, best_score = merge_topk(best_index, best_score, block, t0, k)
        index, score = finish_topk(best_index, best_score, decimals)
        index = np.where(index >= 0, eligible[np.maximum(index, 0)] if n else -1, -1)
        yield TopK(index, score.astype(np.float32), block_events)


def related_talks(
    talks: TalkMatrix,
    *,
    k: int,
    queries: np.ndarray | None = None,
    query_chunk: int = 1_024,
    talk_chunk: int = 32_768,
    decimals: int = 6,
    lexical_weight: float = 0.0,
    context_weight: float = 0.0,
) -> Iterator[tuple[np.ndarray, TopK]]:
    """Yield (query talk indices, top-k most similar other eligible talks) in chunks.

    Exact search, chunked both ways; `queries` limits the search to some talks (the changed
    ones) instead of all. The similarity is the cosine of the embeddings, or with
    `lexical_weight` w > 0 (and `talks.lexical` set) (1 - w) * cosine + w * the cosine of
    the talks' TF-IDF rows (`lexical_matrix`). With `context_weight` c > 0 the query's
    embedding is widened by its events' (`event_context`): the score of a talk is
    (cosine(query, talk) + c * cosine-sum(context, talk)) / (1 + c), i.e. the similarity to
    the query plus c times the mean similarity to the other talks of the query's events.
    """
    n = len(talks.talk_ids)
    queries = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    ineligible = ~np.asarray(talks.eligible, dtype=bool)
    lexical = talks.lexical if lexical_weight > 0 else None
    context = EventContext.build(talks) if context_weight > 0 else None
    for q0 in range(0, len(queries), query_chunk):
        q = queries[q0 : q0 + query_chunk]
        emb = talks.embeddings[q].astype(np.float32)
        if context is not None:
            emb = (emb + context_weight * context.around(q)) / (1.0 + context_weight)
        best_index = np.full((len(q), k), -1, dtype=np.int64)
        best_score = np.full((len(q), k), -np.inf, dtype=np.float32)
        for t0 in range(0, n, talk_chunk):
            t1 = min(t0 + talk_chunk, n)
            block = emb @ talks.embeddings[t0:t1].astype(np.float32, copy=False).T
            if lexical is not None:
                words = (lexical[q] @ lexical[t0:t1].T).toarray().astype(np.float32)
                block = (1.0 - lexical_weight) * block + lexical_weight * words
            block[:, ineligible[t0:t1]] = -np.inf
            mine = (q >= t0) & (q < t1)
            block[np.flatnonzero(mine), q[mine] - t0] = -np.inf  # a talk is not its own relative
            best_index, best_score = merge_topk(best_index, best_score, block, t0, k)
        index, score = finish_topk(best_index, best_score, decimals)
        # float16 storage can put a cosine a hair above 1.
        yield q, TopK(index, np.minimum(score, 1.0).astype(np.float32))


@dataclass
class EventContext:
    """Per event, the sum of its talks' embeddings and their number, for the mean embedding of
    the other talks at a talk's events (`around`)."""

    talk_events: list[np.ndarray]  # per talk, the rows of its events
    sums: np.ndarray  # (events, d) float32
    counts: np.ndarray  # (events,)
    embeddings: np.ndarray

    @classmethod
    def build(cls, talks: TalkMatrix) -> EventContext:
        rows: dict[str, int] = {}
        talk_events = [
            np.asarray(sorted({rows.setdefault(str(e), len(rows)) for e in events}), np.int64)
            for events in talks.event_ids
        ]
        sizes = np.fromiter((len(e) for e in talk_events), np.int64, len(talk_events))
        event_rows = np.concatenate(talk_events) if talk_events else np.zeros(0, np.int64)
        talk_rows = np.repeat(np.arange(len(talk_events)), sizes)
        incidence = sparse.csr_matrix(
            (np.ones(len(event_rows), np.float32), (event_rows, talk_rows)),
            shape=(len(rows), len(talk_events)),
        )
        sums = np.asarray(incidence @ talks.embeddings.astype(np.float32), dtype=np.float32)
        counts = np.asarray(incidence.sum(axis=1), dtype=np.float32).ravel()
        return cls(talk_events, sums, counts, talks.embeddings)

    def around(self, queries: np.ndarray) -> np.ndarray:
        """(len(queries), d): per query talk, the mean embedding of the other talks at its
        events (a talk at two of them counts twice); zeros when it has none."""
        out = np.zeros((len(queries), self.sums.shape[1]), dtype=np.float32)
        for r, q in enumerate(queries):
            events = self.talk_events[int(q)]
            others = float(self.counts[events].sum()) - len(events)
            if others > 0:
                mine = self.embeddings[int(q)].astype(np.float32) * len(events)
                out[r] = (self.sums[events].sum(axis=0) - mine) / others
        return out


def lexical_matrix(texts: Sequence[str]) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows of `texts` (a talk's title and description; never its tags):
    sublinear term frequency, English stop words left out, terms in at least two texts and
    at most half of them. Fitted on the texts given (all live talks of a build), so the same
    talks give the same rows on every replica."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    if n < 2:
        return sparse.csr_matrix((n, 0), dtype=np.float32)
    vectorizer = TfidfVectorizer(
        sublinear_tf=True, stop_words="english", min_df=2, max_df=0.5, dtype=np.float32
    )
    try:
        return vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # no term survives the document-frequency cuts
        return sparse.csr_matrix((n, 0), dtype=np.float32)
