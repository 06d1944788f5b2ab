"""Build the `recommendations` and `related_talks` tables from the lake.

Reads only the columns it needs, takes embeddings from the shared embedding cache (keyed by
the text embedded and the encoder, so a talk whose text is unchanged is never re-embedded),
scores with `podium.recommend.scoring` (blocked matrix products, top-k by partition) and writes
each table in one commit (whole table, or only the affected events' / talks' rows) through
the tables' owner, `podium.lake.recommendations`.

A talk is embedded from exactly the text the tagger reads (`talk_text`), so with the default
shared encoder every talk vector is the one tagging already computed: a build after tagging
encodes no talk at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from podium.embedding_cache import (
    embed_with_cache,
    encoder_identity,
    read_embedding_matrix,
    text_key,
)
from podium.ingest import event_rows, talk_rows
from podium.lake import Lake
from podium.lake import recommendations as tables
from podium.lake.versions import Bookmark, Snapshot
from podium.models import normalise_tag
from podium.recommend.config import RecommendSettings
from podium.recommend.encoder import TextEncoder
from podium.recommend.schedule import Schedule, rerank_rows
from podium.recommend.scoring import (
    EventMatrix,
    TalkMatrix,
    TopK,
    Weights,
    idf_weights,
    lexical_matrix,
    related_talks,
    top_k_talks,
)
from podium.tag_counts import UNCOUNTED_STATES, read_tag_counts, talk_tag_pairs
from podium.talk_tags import tag_rows
from podium.text import talk_text as model_text


@dataclass
class BuildResult:
    """What one build wrote."""

    events: int
    recommendation_rows: int
    related_rows: int
    talks: int
    eligible_talks: int
    embedded_now: int
    model_version: str
    computed_at: datetime
    recommendations: pd.DataFrame
    event_names: dict[str, str]

    def summary(self) -> dict[str, Any]:
        """The counts, for a log line or a flow's return value."""
        return {name: getattr(self, name) for name in _SUMMARY_FIELDS}


#: The fields of a `BuildResult` its summary holds (not the rows themselves).
_SUMMARY_FIELDS = (
    "events",
    "recommendation_rows",
    "related_rows",
    "talks",
    "embedded_now",
    "model_version",
)


def talk_text(
    title: str, description: str, tags: Sequence[str] = (), *, max_length: int | None = None
) -> str:
    """The text a talk is embedded from: what the tagger reads (`podium.text.talk_text`:
    title, description without markup cut at a sentence, speaker tags) within the encoder's
    token limit, so tagging's cached vector is reused as is.

    Args:
        title: the talk's title.
        description: its description.
        tags: the speaker's own tags (normalised, as stored).
        max_length: the encoder's token limit (None: 256).
    """
    # The same budget as podium.tagging.history.talk_texts: the limit minus [CLS] and [SEP].
    budget = max(8, (max_length or 256) - 2)
    return model_text(title, description or "", tags=tags, max_tokens=budget)


def event_text(name: str, description: str, tags: Sequence[str]) -> str:
    """The text an event is embedded from: name, description and tags."""
    parts = [name, description or "", ("Topics: " + ", ".join(tags)) if len(tags) else ""]
    return ". ".join(p for p in parts if p)


TALK_COLUMNS = [
    "talk_id",
    "title",
    "description",
    "content_hash",
    "state",
    "language",
    "event_ids",
    "tags",
    "speakers",
    "slot_start",
    "slot_end",
]


def load_talks(*, lake: Lake) -> pd.DataFrame:
    """Live talks with their text, speaker tags (`tags`) and every tag (`all_tags`: speaker
    tags plus `talk_tags`), sorted by talk id; one read of each table."""
    talks = talk_rows(lake=lake, columns=TALK_COLUMNS)
    talks = talks[~talks["state"].isin(UNCOUNTED_STATES)]
    tags = tag_rows(lake=lake, columns=["talk_id", "tag"])
    pairs = talk_tag_pairs(talks, tags)
    grouped = pairs.groupby("talk_id")["tag"].agg(lambda s: sorted(set(s)))
    talks = talks.sort_values("talk_id").reset_index(drop=True)
    talks["all_tags"] = talks["talk_id"].map(grouped)
    talks["all_tags"] = talks["all_tags"].apply(lambda v: v if isinstance(v, list) else [])
    return talks


def eligibility(talks: pd.DataFrame, settings: RecommendSettings) -> np.ndarray:
    """Which talks may be recommended: allowed state and (when set) allowed language."""
    ok = talks["state"].isin(settings.recommendable_states).to_numpy().copy()
    if settings.languages:
        ok &= talks["language"].isin(settings.languages).to_numpy()
    return ok


def document_frequency(*, lake: Lake, talks: pd.DataFrame) -> dict[str, int]:
    """Talks per tag: from `tag_counts` when built, else counted from the talks in hand."""
    counts = read_tag_counts(lake=lake)  # scope "all"
    if not counts.empty:
        return dict(zip(counts["tag"], counts["talks"].astype(int), strict=True))
    exploded = talks["all_tags"].explode().dropna()
    return {str(t): int(c) for t, c in exploded.value_counts().items()}


def talk_texts(talks: pd.DataFrame, *, encoder: TextEncoder) -> list[str]:
    """The text embedded for each talk (`talk_text`) at `encoder`'s token limit."""
    max_length = getattr(encoder, "max_length", None)
    return [
        talk_text(t, d, [str(x) for x in g] if g is not None else [], max_length=max_length)
        for t, d, g in zip(talks["title"], talks["description"], talks["tags"], strict=True)
    ]


def talk_matrix(
    *,
    lake: Lake,
    talks: pd.DataFrame,
    encoder: TextEncoder,
    settings: RecommendSettings,
    known_keys: Mapping[tuple[str, str], str] | None = None,
) -> tuple[TalkMatrix, list[str], list[str]]:
    """The talks as matrices (embeddings from the cache), each talk's text key, and the text
    keys embedded now (new or edited talks; none after tagging with the shared encoder).

    Args:
        lake: the lake.
        talks: live talks (`load_talks`).
        encoder: text encoder.
        settings: recommendation settings.
        known_keys: text keys already computed, by (talk id, content hash), e.g. by the
            backfill's embed stage; the others are computed here (cleaning markup costs about
            a millisecond a talk).
    """
    model = encoder_identity(encoder)
    known = known_keys or {}
    pairs = zip(talks["talk_id"], talks["content_hash"], strict=True)
    found = [known.get((str(i), str(h))) for i, h in pairs]
    if known:
        # A known key counts only when its vector is cached (else the text is needed).
        _, cached_keys = read_embedding_matrix(
            lake=lake, model=model, keys=[k for k in found if k is not None], dtype=np.float16
        )
        cached = set(cached_keys)
        found = [k if k in cached else None for k in found]
    todo = [r for r, k in enumerate(found) if k is None]
    texts = talk_texts(talks.iloc[todo], encoder=encoder) if todo else []
    by_key = {text_key(t): t for t in texts}
    for row, text in zip(todo, texts, strict=True):
        found[row] = text_key(text)
    keys = [str(k) for k in found]
    # float16: the precompute multiplies float16 matrices, and it halves a large build's memory.
    vectors, embedded = embed_with_cache(
        lake=lake,
        model=model,
        keys=keys,
        texts=lambda missing: [by_key[k] for k in missing],
        encode=encoder.encode,
        dtype=np.float16,
    )
    matrix = TalkMatrix(
        talk_ids=talks["talk_id"].to_numpy(dtype=object),
        embeddings=vectors,
        tags=talks["all_tags"].tolist(),
        eligible=eligibility(talks, settings),
        event_ids=[list(v) if v is not None else [] for v in talks["event_ids"]],
        schedule=talk_schedule(talks) if settings.schedule_aware else None,
        lexical=talk_lexical(talks) if settings.related_lexical_weight > 0 else None,
    )
    return matrix, keys, embedded


def talk_lexical(talks: pd.DataFrame) -> Any:
    """TF-IDF rows (`lexical_matrix`) of `talks`' titles and descriptions, never their tags
    (rows of `load_talks`)."""
    texts = [
        f"{title}. {description or ''}"
        for title, description in zip(talks["title"], talks["description"], strict=True)
    ]
    return lexical_matrix(texts)


def talk_schedule(talks: pd.DataFrame) -> Schedule:
    """Slots and speakers of `talks` (rows of `load_talks`), for schedule-aware lists."""
    if "slot_start" not in talks.columns:
        return Schedule.empty(len(talks))
    return Schedule.build(talks["slot_start"], talks["slot_end"], talks["speakers"].tolist())


def _reranks(settings: RecommendSettings, talks: TalkMatrix) -> bool:
    return talks.schedule is not None or settings.diversity > 0


def _rerank(
    top: TopK,
    talks: TalkMatrix,
    settings: RecommendSettings,
    *,
    k: int,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The wide candidates of `top` cut to `k` a row by the schedule filters and
    diversification: (indices, relevance), -1/-inf padded (see `rerank_rows`)."""
    schedule = talks.schedule or Schedule.empty(len(talks.talk_ids))
    return rerank_rows(
        top.index,
        top.score,
        talks.embeddings,
        schedule,
        k=k,
        diversity=settings.diversity,
        queries=queries,
    )


def load_events(*, lake: Lake, event_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Events (all, or `event_ids`) with the columns the build reads, sorted by id."""
    events = event_rows(lake=lake, columns=["event_id", "name", "description", "tags"])
    if event_ids is not None:
        events = events[events["event_id"].isin(list(event_ids))]
    return events.sort_values("event_id").reset_index(drop=True)


def event_matrix(
    *, lake: Lake, events: pd.DataFrame, encoder: TextEncoder
) -> tuple[EventMatrix, list[str]]:
    """The events as matrices; event texts are cached by the hash of the text."""
    tags = [[normalise_tag(t) for t in (v if v is not None else [])] for v in events["tags"]]
    texts = [
        event_text(n, d, t)
        for n, d, t in zip(events["name"], events["description"], tags, strict=True)
    ]
    keys = [text_key(t) for t in texts]
    by_key = dict(zip(keys, texts, strict=True))
    vectors, embedded = embed_with_cache(
        lake=lake,
        model=encoder_identity(encoder),
        keys=keys,
        texts=lambda missing: [by_key[k] for k in missing],
        encode=encoder.encode,
    )
    return (
        EventMatrix(
            event_ids=events["event_id"].to_numpy(dtype=object),
            embeddings=vectors.astype(np.float32),
            tags=tags,
        ),
        embedded,
    )


def explain(
    top: TopK,
    events: EventMatrix,
    event_offset: int,
    talks: TalkMatrix,
    *,
    idf: dict[str, float],
    weights: Weights,
    model_version: str,
    computed_at: datetime,
) -> pd.DataFrame:
    """Rows of the recommendations table for one block of events, with their explanations."""
    rows: list[dict[str, Any]] = []
    for r, event_id in enumerate(top.event_ids):
        e = event_offset + r
        event_tags = list(dict.fromkeys(events.tags[e]))
        total = sum(idf.get(t, 1.0) for t in event_tags) or 1.0
        event_vec = events.embeddings[e]
        rank = 0
        for index, score in zip(top.index[r], top.score[r], strict=True):
            if index < 0:
                continue
            rank += 1
            talk_tags = set(talks.tags[index])
            matched = sorted(
                (t for t in event_tags if t in talk_tags), key=lambda t: (-idf.get(t, 1.0), t)
            )
            overlap = sum(idf.get(t, 1.0) for t in matched) / total
            semantic = max(0.0, float(event_vec @ talks.embeddings[index].astype(np.float32)))
            components = {
                "tag_overlap": round(overlap, 6),
                "semantic": round(semantic, 6),
                "tag_weight": weights.tag,
                "semantic_weight": weights.semantic,
            }
            rows.append(
                {
                    "event_id": str(event_id),
                    "rank": rank,
                    "talk_id": str(talks.talk_ids[index]),
                    "score": float(score),
                    "matched_tags": matched,
                    "components": json.dumps(components, sort_keys=True),
                    "model_version": model_version,
                    "computed_at": computed_at,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "event_id",
            "rank",
            "talk_id",
            "score",
            "matched_tags",
            "components",
            "model_version",
            "computed_at",
        ],
    )


def compute_recommendations(
    *,
    events: EventMatrix,
    talks: TalkMatrix,
    idf: dict[str, float],
    settings: RecommendSettings,
    model_version: str,
    computed_at: datetime,
) -> pd.DataFrame:
    """All recommendation rows for `events` (pure: matrices in, rows out)."""
    weights = Weights(tag=settings.tag_weight, semantic=settings.semantic_weight)
    frames = []
    offset = 0
    rerank = _reranks(settings, talks)
    wide = settings.top_k * settings.candidate_factor if rerank else settings.top_k
    for top in top_k_talks(
        events,
        talks,
        idf=idf,
        weights=weights,
        k=wide,
        exclude_talks_at_event=settings.exclude_talks_at_event,
        talk_chunk=settings.talk_chunk,
        event_chunk=settings.event_chunk,
        decimals=settings.score_decimals,
    ):
        if rerank:
            top = TopK(*_rerank(top, talks, settings, k=settings.top_k), top.event_ids)
        frames.append(
            explain(
                top,
                events,
                offset,
                talks,
                idf=idf,
                weights=weights,
                model_version=model_version,
                computed_at=computed_at,
            )
        )
        offset += len(top.event_ids)
    if not frames:
        return explain(
            TopK(np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32)),
            events,
            0,
            talks,
            idf=idf,
            weights=weights,
            model_version=model_version,
            computed_at=computed_at,
        )
    return pd.concat(frames, ignore_index=True)


def compute_related(
    *,
    talks: TalkMatrix,
    settings: RecommendSettings,
    computed_at: datetime,
    queries: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of `related_talks` for `queries` (talk indices; all talks when None)."""
    parts = []
    rerank = _reranks(settings, talks)
    k = settings.related_top_k
    for q, top in related_talks(
        talks,
        k=k * settings.candidate_factor if rerank else k,
        queries=queries,
        query_chunk=settings.related_query_chunk,
        talk_chunk=settings.talk_chunk,
        decimals=settings.score_decimals,
        lexical_weight=settings.related_lexical_weight,
        context_weight=settings.related_context_weight,
    ):
        if rerank:
            top = TopK(*_rerank(top, talks, settings, k=k, queries=q))
        valid = top.index >= 0
        ranks = np.cumsum(valid, axis=1)
        rows, cols = np.nonzero(valid)
        parts.append(
            pd.DataFrame(
                {
                    "talk_id": talks.talk_ids[q[rows]],
                    "rank": ranks[rows, cols].astype(np.int32),
                    "other_id": talks.talk_ids[top.index[rows, cols]],
                    "score": top.score[rows, cols].astype(np.float64),
                }
            )
        )
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["talk_id", "rank", "other_id", "score"])
    )
    frame["computed_at"] = computed_at
    return frame


def build_tables(
    *,
    lake: Lake,
    settings: RecommendSettings,
    encoder: TextEncoder,
    event_ids: Sequence[str] | None = None,
    computed_at: datetime | None = None,
    known_keys: Mapping[tuple[str, str], str] | None = None,
    pinned: Snapshot | None = None,
    bookmark: Bookmark | None = None,
) -> BuildResult:
    """Recompute recommendations (all events, or only `event_ids`) and related talks.

    Related talks are recomputed for every talk on a full build when talks^2 fits in
    `related_pair_budget`; otherwise only for talks that are new or whose text changed
    (embedded in this run, or with no related rows yet), budget // talks of them a run.

    Args:
        lake: the lake.
        settings: recommendation settings.
        encoder: text encoder (a `LazyEncoder` loads the model only when something is new).
        event_ids: the events to recompute; None for all.
        computed_at: timestamp on every row (now by default).
        known_keys: talks' text keys already computed (`talk_matrix`).
        pinned: the recommendations table pinned before the sources were read
            (`tables.pin_recommendations`): the commit fails if another build landed since.
        bookmark: the source versions these rows reflect, committed with them.
    """
    computed_at = computed_at or datetime.now(UTC)
    events = load_events(lake=lake, event_ids=event_ids)
    talks = load_talks(lake=lake)
    tmatrix, keys, embedded = talk_matrix(
        lake=lake, talks=talks, encoder=encoder, settings=settings, known_keys=known_keys
    )
    ematrix, embedded_events = event_matrix(lake=lake, events=events, encoder=encoder)
    live = len(talks)
    idf = idf_weights(document_frequency(lake=lake, talks=talks), live)
    recs = compute_recommendations(
        events=ematrix,
        talks=tmatrix,
        idf=idf,
        settings=settings,
        model_version=encoder.model_version,
        computed_at=computed_at,
    )
    tables.write_recommendations(
        lake=lake,
        rows=recs,
        row_group_rows=settings.serving_row_group_rows,
        event_ids=None if event_ids is None else events["event_id"].tolist(),
        pinned=pinned,
        bookmark=bookmark,
    )
    related_rows = 0
    if settings.related_top_k and live:
        max_queries = max(1, settings.related_pair_budget // live)
        if event_ids is None and live <= max_queries:
            related = compute_related(talks=tmatrix, settings=settings, computed_at=computed_at)
            tables.write_related(lake=lake, rows=related)
        else:
            known = tables.related_talk_ids(lake=lake)
            fresh = ~talks["talk_id"].isin(known).to_numpy()
            # Vectors embedded in this run belong to new or edited talks.
            fresh |= pd.Series(keys).isin(embedded).to_numpy()
            queries = np.flatnonzero(fresh)[:max_queries]
            related = compute_related(
                talks=tmatrix, settings=settings, computed_at=computed_at, queries=queries
            )
            tables.write_related(
                lake=lake, rows=related, talk_ids=talks["talk_id"].iloc[queries].tolist()
            )
        related_rows = len(related)
    return BuildResult(
        events=len(events),
        recommendation_rows=len(recs),
        related_rows=related_rows,
        talks=live,
        eligible_talks=int(tmatrix.eligible.sum()),
        embedded_now=len(embedded) + len(embedded_events),
        model_version=encoder.model_version,
        computed_at=computed_at,
        recommendations=recs,
        event_names=dict(zip(events["event_id"], events["name"], strict=True)),
    )
