"""Settings of recommendations (a section of `podium.settings.Settings`)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.types import NonNegativeFloat, NonNegativeInt, PositiveInt


class RecommendSettings(BaseModel):
    """How tag counts, recommendation tables and related talks are built."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    top_k: Annotated[int, Field(gt=0, le=1000)] = 10
    """Talks recommended per event."""
    tag_weight: NonNegativeFloat = 0.6
    """Weight of the IDF-weighted tag-overlap component."""
    semantic_weight: NonNegativeFloat = 0.4
    """Weight of the semantic similarity between event and talk texts."""
    recommendable_states: list[str] = Field(
        default_factory=lambda: ["submitted", "accepted", "published"]
    )
    """Talk states that may be recommended (and count towards related talks)."""
    public_states: list[str] = Field(default_factory=lambda: ["accepted", "published"])
    """Talk states the gateway's unauthenticated recommendation route serves (read live from
    `talks` on each request, so a withdrawn talk leaves at once); other recommended talks are
    left out and the rest ranked 1, 2, …. A directory that publishes talks as they are submitted
    adds `submitted`. The CLI shows every state."""
    languages: list[str] = Field(default_factory=list)
    """Talk languages that may be recommended; empty means any language."""
    exclude_talks_at_event: bool = True
    """Leave out talks already listed at the event they are recommended for."""
    related_top_k: Annotated[int, Field(ge=0, le=100)] = 5
    """Most similar talks stored per talk (0 disables)."""
    related_pair_budget: NonNegativeInt = 2_000_000_000
    """Most (query talk x talk) similarities one build computes for related talks; exact search
    costs one pass over all talks per query talk. A full build searches every talk when talks^2
    fits (about 44k talks); otherwise new or edited talks go first, budget // talks of them per
    run (2,000 a run at 1M talks)."""
    schedule_aware: bool = True
    """A talk's related talks leave out talks that clash with it or share a speaker with it; an
    event's recommendations hold no two talks that clash or share a speaker. Talks without a slot
    never clash."""
    diversity: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Maximal-marginal-relevance trade-off (1 - lambda): 0 keeps the relevance order; higher
    values push near-duplicates down the list. 0.1 keeps nDCG@10 on pyvideo within 0.01 of the
    plain order (bench/related.py)."""
    related_lexical_weight: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Weight w of the lexical similarity in a talk's related talks: their score is (1 - w) *
    cosine of the embeddings + w * cosine of TF-IDF rows of the talks' titles and descriptions
    (never their tags), fitted on all live talks of the build (scikit-learn, imported only when
    set). 0 keeps the cosine alone; on pyvideo (bench/related.py) it lowered nDCG@10 on the split
    weights are chosen on, so it is off (docs/organisers.md)."""
    related_context_weight: Annotated[float, Field(ge=0, le=10)] = 0.75
    """Weight c of a talk's event context in its related talks: a talk's score is (cosine to the
    talk + c * mean cosine to the other talks of the talk's events) / (1 + c), so talks close to
    what the talk's conference is about rank higher once its own speakers' talks are left out. 0
    keeps the cosine alone. Chosen on one split of pyvideo's conferences and measured on the
    other (bench/related.py, docs/organisers.md)."""
    candidate_factor: Annotated[int, Field(ge=1, le=50)] = 8
    """Candidates searched per list entry before the schedule filters and diversification pick
    the capped list."""
    embedding_model: str | None = None
    """Sentence-embedding model for the semantic component: None shares the tagging encoder and
    its talk vectors (the same text, model, token limit and precision, so the embedding cache
    serves both and nothing is encoded twice); else the packaged MiniLM, a local path, or a hub
    id of a model of its own."""
    device: str = "cpu"
    """Device of a model of its own (`embedding_model` set); the shared tagging encoder runs on
    the tagging device."""
    embed_batch_size: PositiveInt = 64
    """Texts per encoder batch."""
    talk_chunk: PositiveInt = 32_768
    """Talks scored per chunk; with event_chunk this bounds the score block held in memory
    (talk_chunk x event_chunk float32)."""
    event_chunk: PositiveInt = 2_048
    """Events scored together against one talk chunk."""
    related_query_chunk: PositiveInt = 1_024
    """Talks whose related talks are searched together."""
    score_decimals: Annotated[int, Field(ge=1, le=12)] = 6
    """Scores are rounded to this many decimals before ranking, so ties (then broken by talk id)
    do not depend on floating-point summation order."""
    serving_row_group_rows: PositiveInt = 1_024
    """Rows per parquet row group of the recommendations table: a lookup reads one row group
    (about this many rows divided by top_k events)."""
    artifact_event_limit: NonNegativeInt = 20
    """Up to this many events get their own table artifact; above it one summary artifact is
    published instead."""
