"""The read routes' answers, built at once from the lake into an immutable index.

`build_index` reads the `recommendations`, `related_talks`, `talks` (id and state) and `events`
(ids) tables whole and renders every event's recommendations and every talk's related talks as
the JSON bytes the routes send, each with a strong ETag (a digest of the bytes, so an answer
that did not change keeps its ETag across table versions). The versions are looked up before
the tables are read, so an index is never older than the versions it names (at worst newer,
and the next look finds a "new" version and builds again).

The public-state rule is applied here, as the per-request route applies it: an event's list
keeps only talks now in a public state, ranked 1, 2, … again; so does a talk's list of related
talks. Exports are rendered on first request for an index and kept with it
(`ReadIndex.exports`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from podium.ingest import event_rows, talk_rows
from podium.lake import Lake
from podium.lake.recommendations import read_recommendations, read_related
from podium.models import TalkState
from podium.recommend.serving import COLUMNS


class RecommendedTalk(BaseModel):
    """One recommendation with its explanation."""

    rank: int
    talk_id: str
    score: float
    matched_tags: list[str]
    components: dict[str, float]
    model_version: str
    computed_at: datetime


class RecommendationList(BaseModel):
    """An event's recommendations, best first."""

    event_id: str
    recommendations: list[RecommendedTalk]


class RelatedTalk(BaseModel):
    """One related talk: none clashes with the talk or shares a speaker with it."""

    rank: int
    talk_id: str
    score: float


class RelatedList(BaseModel):
    """A talk's related talks, best first (diversified, capped)."""

    talk_id: str
    related: list[RelatedTalk]


def etag_of(body: bytes) -> str:
    """A strong ETag: the same bytes always get the same tag, on every replica."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered answer: the bytes sent and their ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Answer:
        return cls(body, etag_of(body))


def recommendations_body(event_id: str, rows: pd.DataFrame) -> bytes:
    """The route's JSON for an event's rows (rank order, public talks only, ranked again)."""
    return (
        RecommendationList(
            event_id=event_id,
            recommendations=[
                RecommendedTalk(
                    rank=int(r.rank),
                    talk_id=str(r.talk_id),
                    score=float(r.score),
                    matched_tags=list(r.matched_tags),
                    components={k: float(v) for k, v in r.components.items()},
                    model_version=str(r.model_version),
                    computed_at=r.computed_at.to_pydatetime(),
                )
                for r in rows.itertuples()
            ],
        )
        .model_dump_json()
        .encode()
    )


def related_body(talk_id: str, others: list[tuple[str, float]]) -> bytes:
    """The route's JSON for a talk's related talks, given best first.

    Rendered with `json.dumps` (compact, floats as their shortest repr): byte for byte what
    `RelatedList.model_dump_json()` gives, at a fraction of its cost over 100k talks.
    """
    related = [{"rank": i, "talk_id": t, "score": s} for i, (t, s) in enumerate(others, 1)]
    return json.dumps(
        {"talk_id": talk_id, "related": related}, separators=(",", ":"), ensure_ascii=False
    ).encode()


@dataclass(frozen=True)
class ReadIndex:
    """Every read answer at one set of table versions; never changed once built (the export
    memo aside, which only fills)."""

    versions: Hashable
    """(recommendations, related_talks, events, talks, talk_tags, talk_images) versions."""
    recommendations: dict[str, Answer]
    """event id -> its answer, for every event with built rows."""
    events: frozenset[str]
    """Every recorded event (an event without rows is 409, an unknown one 404)."""
    recommendations_built: bool
    """Whether the recommendations table exists (the 409's wording)."""
    related: dict[str, Answer]
    """talk id -> its answer, for every talk with related rows."""
    live_talks: frozenset[str]
    """Talks not deleted: a live talk without rows has an empty list, any other id is 404."""
    exports: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(event id, format) -> export bytes or the error it raised, filled on first request."""
    exports_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def core_versions(self) -> Hashable:
        """The versions the recommendation and related answers depend on."""
        return self.versions[:4]  # type: ignore[index]

    def related_answer(self, talk_id: str) -> Answer | None:
        """The talk's answer; an empty list for a live talk without rows; None: unknown."""
        found = self.related.get(talk_id)
        if found is None and talk_id in self.live_talks:
            return Answer.of(related_body(talk_id, []))
        return found


def build_index(
    *,
    lake: Lake,
    versions: tuple[Any, ...],
    public_states: Collection[str],
    previous: ReadIndex | None = None,
) -> ReadIndex:
    """Render every answer from the lake as it is now (at least at `versions`).

    Args:
        lake: the lake.
        versions: the table versions looked up just before (`read_versions`).
        public_states: the talk states the public routes serve.
        previous: the index being replaced; its answers are kept when only the tables the
            exports read moved.
    """
    if previous is not None and previous.core_versions == versions[:4]:
        return ReadIndex(
            versions=versions,
            recommendations=previous.recommendations,
            events=previous.events,
            recommendations_built=previous.recommendations_built,
            related=previous.related,
            live_talks=previous.live_talks,
        )
    states = talk_rows(lake=lake, columns=["talk_id", "state"])
    live = frozenset(states.loc[states["state"] != TalkState.deleted.value, "talk_id"])
    public = set(states.loc[states["state"].isin(set(public_states)), "talk_id"])
    events = frozenset(event_rows(lake=lake, columns=["event_id"])["event_id"])
    return ReadIndex(
        versions=versions,
        recommendations=_recommendation_answers(lake, public),
        events=events,
        recommendations_built=versions[0] is not None,
        related=_related_answers(lake, public),
        live_talks=live,
    )


def _recommendation_answers(lake: Lake, public: set[str]) -> dict[str, Answer]:
    rows = read_recommendations(lake=lake, columns=["event_id", *COLUMNS])
    answers: dict[str, Answer] = {}
    if rows.empty:
        return answers
    rows = rows.sort_values(["event_id", "rank"], kind="stable")
    for event_id, group in rows.groupby("event_id", sort=False):
        kept = group[group["talk_id"].isin(public)].reset_index(drop=True)
        kept["rank"] = range(1, len(kept) + 1)
        kept["matched_tags"] = kept["matched_tags"].apply(lambda v: [str(t) for t in v])
        kept["components"] = kept["components"].apply(json.loads)
        answers[str(event_id)] = Answer.of(recommendations_body(str(event_id), kept))
    return answers


def _related_answers(lake: Lake, public: set[str]) -> dict[str, Answer]:
    rows = read_related(lake=lake)
    answers: dict[str, Answer] = {}
    if rows.empty:
        return answers
    rows = rows.sort_values(["talk_id", "rank"], kind="stable")
    talk_ids = rows["talk_id"].to_numpy()
    others = rows["other_id"].tolist()
    scores = rows["score"].astype(float).tolist()
    starts = [0, *(np.flatnonzero(talk_ids[1:] != talk_ids[:-1]) + 1).tolist()]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(talk_ids)
        talk_id = str(talk_ids[start])
        kept = [(str(others[i]), scores[i]) for i in range(start, end) if others[i] in public]
        answers[talk_id] = Answer.of(related_body(talk_id, kept))
    return answers
