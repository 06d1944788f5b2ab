"""Build the `recommendations` and `related_talks` tables from the lake.

Reads only the columns it needs, takes embeddings from the shared embedding cache (keyed by
the text embedded, so a talk whose text is unchanged is never re-embedded), scores with
`podium.recommend.scoring` and writes each table in one commit (whole table, or only the
affected events' rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from deltalake import WriterProperties

from podium.embedding_cache import embed_with_cache, encoder_identity, text_key
from podium.lake import Lake, sql_list
from podium.models import normalise_tag
from podium.recommend.config import RecommendSettings
from podium.recommend.encoder import TextEncoder
from podium.recommend.scoring import (
    EventMatrix,
    TalkMatrix,
    TopK,
    Weights,
    idf_weights,
    related_talks,
    top_k_talks,
)
from podium.tag_counts import UNCOUNTED_STATES, talk_tag_pairs


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


def talk_text(title: str, description: str) -> str:
    """The text a talk is embedded from."""
    return f"{title}. {description or ''}".strip()


def event_text(name: str, description: str, tags: Sequence[str]) -> str:
    """The text an event is embedded from: name, description and tags."""
    parts = [name, description or "", ("Topics: " + ", ".join(tags)) if len(tags) else ""]
    return ". ".join(p for p in parts if p)


def load_talks(*, lake: Lake) -> pd.DataFrame:
    """Live talks with their tags (speaker tags plus `talk_tags`), sorted by talk id."""
    talks = lake.read(
        "talks", columns=["talk_id", "content_hash", "state", "language", "event_ids", "tags"]
    )
    talks = talks[~talks["state"].isin(UNCOUNTED_STATES)]
    tags = lake.read("talk_tags", columns=["talk_id", "tag"])
    pairs = talk_tag_pairs(talks, tags)
    grouped = pairs.groupby("talk_id")["tag"].agg(lambda s: sorted(set(s)))
    talks = talks.drop(columns=["tags"]).sort_values("talk_id").reset_index(drop=True)
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
    counts = lake.read("tag_counts", where=[("scope", "=", "all")])
    if not counts.empty:
        return dict(zip(counts["tag"], counts["talks"].astype(int), strict=True))
    exploded = talks["all_tags"].explode().dropna()
    return {str(t): int(c) for t, c in exploded.value_counts().items()}


def talk_text_keys(*, lake: Lake, talk_ids: Sequence[str]) -> list[str]:
    """The embedding-cache key (`text_key(talk_text(...))`) of each talk's text.

    Only the keys are kept: the few texts that must be embedded are read again by talk id,
    so a large directory's descriptions are not held through the build.
    """
    rows = lake.read("talks", columns=["talk_id", "title", "description"])
    keys_by_id = {
        str(i): text_key(talk_text(t, d))
        for i, t, d in zip(rows["talk_id"], rows["title"], rows["description"], strict=True)
    }
    return [keys_by_id[str(i)] for i in talk_ids]


def _texts_for(lake: Lake, talk_by_key: dict[str, str]) -> Callable[[list[str]], list[str]]:
    def texts(keys: list[str]) -> list[str]:
        # Read titles/descriptions only for the talks to embed, with a filter pushdown.
        ids = [talk_by_key[k] for k in keys]
        rows = lake.read(
            "talks",
            columns=["talk_id", "title", "description"],
            where=[("talk_id", "in", ids)],
        ).set_index("talk_id")
        return [talk_text(rows.at[i, "title"], rows.at[i, "description"]) for i in ids]

    return texts


def talk_matrix(
    *,
    lake: Lake,
    talks: pd.DataFrame,
    encoder: TextEncoder,
    settings: RecommendSettings,
    keys: list[str] | None = None,
) -> tuple[TalkMatrix, list[str]]:
    """The talks as matrices (embeddings from the cache), and the text keys embedded now.

    Args:
        lake: the lake.
        talks: live talks (`load_talks`).
        encoder: text encoder.
        settings: recommendation settings.
        keys: each talk's text key (`talk_text_keys`); computed when None.
    """
    talk_ids = talks["talk_id"].tolist()
    if keys is None:
        keys = talk_text_keys(lake=lake, talk_ids=talk_ids)
    talk_by_key = dict(zip(keys, talk_ids, strict=True))
    # float16: the precompute multiplies float16 matrices, and it halves a large build's memory.
    vectors, embedded = embed_with_cache(
        lake=lake,
        model=encoder_identity(encoder),
        keys=keys,
        texts=_texts_for(lake, talk_by_key),
        encode=encoder.encode,
        dtype=np.float16,
    )
    matrix = TalkMatrix(
        talk_ids=talks["talk_id"].to_numpy(dtype=object),
        embeddings=vectors,
        tags=talks["all_tags"].tolist(),
        eligible=eligibility(talks, settings),
        event_ids=[list(v) if v is not None else [] for v in talks["event_ids"]],
    )
    return matrix, embedded


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
    for top in top_k_talks(
        events,
        talks,
        idf=idf,
        weights=weights,
        k=settings.top_k,
        exclude_talks_at_event=settings.exclude_talks_at_event,
        talk_chunk=settings.talk_chunk,
        event_chunk=settings.event_chunk,
        decimals=settings.score_decimals,
    ):
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
    for q, top in related_talks(
        talks,
        k=settings.related_top_k,
        queries=queries,
        query_chunk=settings.related_query_chunk,
        talk_chunk=settings.talk_chunk,
        decimals=settings.score_decimals,
    ):
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


def write_recommendations(
    *,
    lake: Lake,
    rows: pd.DataFrame,
    settings: RecommendSettings,
    predicate: str | None = None,
) -> None:
    """Write recommendation rows sorted by event, in small row groups, in one commit.

    Sorted rows and small row groups give every row group a narrow event_id range in its
    statistics, which is what lets a lookup read one row group instead of the table.

    Args:
        lake: the lake.
        rows: rows of the recommendations table.
        settings: recommendation settings (row-group size).
        predicate: replace only the rows matching it (the events rebuilt); None overwrites.
    """
    rows = rows.sort_values(["event_id", "rank"], kind="stable")
    properties = WriterProperties(max_row_group_size=settings.serving_row_group_rows)
    if predicate is None:
        lake.overwrite("recommendations", rows, writer_properties=properties)
    else:  # replace only the events rebuilt (creates the table on the first build)
        lake.replace_where(
            "recommendations", rows, predicate=predicate, writer_properties=properties
        )


def build_tables(
    *,
    lake: Lake,
    settings: RecommendSettings,
    encoder: TextEncoder,
    event_ids: Sequence[str] | None = None,
    computed_at: datetime | None = None,
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
    """
    computed_at = computed_at or datetime.now(UTC)
    events = lake.read("events", columns=["event_id", "name", "description", "tags"])
    if event_ids is not None:
        events = events[events["event_id"].isin(list(event_ids))]
    events = events.sort_values("event_id").reset_index(drop=True)
    talks = load_talks(lake=lake)
    keys = talk_text_keys(lake=lake, talk_ids=talks["talk_id"].tolist())
    tmatrix, embedded = talk_matrix(
        lake=lake, talks=talks, encoder=encoder, settings=settings, keys=keys
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
    if event_ids is None:
        write_recommendations(lake=lake, rows=recs, settings=settings)
    elif len(events):
        write_recommendations(
            lake=lake,
            rows=recs,
            settings=settings,
            predicate=f"event_id IN {sql_list(events['event_id'])}",
        )
    related_rows = 0
    if settings.related_top_k and live:
        max_queries = max(1, settings.related_pair_budget // live)
        if event_ids is None and live <= max_queries:
            related = compute_related(talks=tmatrix, settings=settings, computed_at=computed_at)
            lake.overwrite("related_talks", related)
        else:
            known = set(lake.read("related_talks", columns=["talk_id"])["talk_id"])
            fresh = ~talks["talk_id"].isin(known).to_numpy()
            # Vectors embedded in this run belong to new or edited talks.
            fresh |= pd.Series(keys).isin(embedded).to_numpy()
            queries = np.flatnonzero(fresh)[:max_queries]
            related = compute_related(
                talks=tmatrix, settings=settings, computed_at=computed_at, queries=queries
            )
            if len(queries):
                lake.replace_where(
                    "related_talks",
                    related,
                    predicate=f"talk_id IN {sql_list(talks['talk_id'].iloc[queries])}",
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
