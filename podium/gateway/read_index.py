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
    public: frozenset[str] = frozenset()
    """Talks in a public state (the answers name only these)."""
    event_rows: dict[str, list[RecommendedTalk]] = field(default_factory=dict)
    """event id -> its built rows, unfiltered (to render again when a talk's state moves)."""
    related_rows: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    """talk id -> its built related talks and scores, unfiltered, best first."""
    how: str = "full"
    """How it was made from the previous index: `full` (every table read, every answer
    rendered), `states` (only talk states or events read; the answers naming a talk whose
    public state moved rendered again) or `exports` (only tags or covers moved)."""
    exports: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(event id, format) -> export bytes or the error it raised, filled on first request."""
    exports_lock: threading.Lock = field(default_factory=threading.Lock)

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
    """Render the answers from the lake as it is now (at least at `versions`).

    Only what moved is read again: while the recommendations and related tables keep their
    versions (a new talk recorded, a state changed, an event added), the talk states and the
    events are read (two columns) and only the answers that name a talk whose public state
    changed are rendered again; when only tags or covers moved (what exports read), every
    answer is kept. A new talk, which is not public until accepted, costs one read of the
    talks' ids and states.

    Args:
        lake: the lake.
        versions: the table versions looked up just before (`read_versions`).
        public_states: the talk states the public routes serve.
        previous: the index being replaced.
    """
    recommendations_v, related_v, events_v, talks_v = versions[:4]
    if previous is None or previous.versions[:2] != (recommendations_v, related_v):  # type: ignore[index]
        return _full(lake, versions, public_states)
    before: tuple[Any, ...] = previous.versions  # type: ignore[assignment]
    events = previous.events
    if before[2] != events_v:
        events = frozenset(event_rows(lake=lake, columns=["event_id"])["event_id"])
    live, public = previous.live_talks, previous.public
    if before[3] != talks_v:
        live, public = _states(lake, public_states)
    recommendations, related = previous.recommendations, previous.related
    if public != previous.public:
        moved = public ^ previous.public
        recommendations = dict(recommendations)
        for event_id, rows in previous.event_rows.items():
            if not moved.isdisjoint(t.talk_id for t in rows):
                recommendations[event_id] = _render_event(event_id, rows, public)
        related = dict(related)
        for talk_id, others in previous.related_rows.items():
            if any(other in moved for other, _ in others):
                related[talk_id] = _render_related(talk_id, others, public)
    unchanged = events is previous.events and live is previous.live_talks
    return ReadIndex(
        versions=versions,
        recommendations=recommendations,
        events=events,
        recommendations_built=previous.recommendations_built,
        related=related,
        live_talks=live,
        public=public,
        event_rows=previous.event_rows,
        related_rows=previous.related_rows,
        how="exports" if unchanged else "states",
    )


def _states(lake: Lake, public_states: Collection[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(live talks, talks in a public state)."""
    states = talk_rows(lake=lake, columns=["talk_id", "state"])
    live = frozenset(states.loc[states["state"] != TalkState.deleted.value, "talk_id"])
    public = frozenset(states.loc[states["state"].isin(set(public_states)), "talk_id"])
    return live, public


def _full(lake: Lake, versions: tuple[Any, ...], public_states: Collection[str]) -> ReadIndex:
    live, public = _states(lake, public_states)
    events = frozenset(event_rows(lake=lake, columns=["event_id"])["event_id"])
    by_event = _event_rows(lake)
    by_talk = _related_rows(lake)
    return ReadIndex(
        versions=versions,
        recommendations={e: _render_event(e, rows, public) for e, rows in by_event.items()},
        events=events,
        recommendations_built=versions[0] is not None,
        related={t: _render_related(t, others, public) for t, others in by_talk.items()},
        live_talks=live,
        public=public,
        event_rows=by_event,
        related_rows=by_talk,
    )


def _event_rows(lake: Lake) -> dict[str, list[RecommendedTalk]]:
    rows = read_recommendations(lake=lake, columns=["event_id", *COLUMNS])
    by_event: dict[str, list[RecommendedTalk]] = {}
    if rows.empty:
        return by_event
    rows = rows.sort_values(["event_id", "rank"], kind="stable")
    for r in rows.itertuples(index=False):
        by_event.setdefault(str(r.event_id), []).append(
            RecommendedTalk(
                rank=int(r.rank),
                talk_id=str(r.talk_id),
                score=float(r.score),
                matched_tags=[str(t) for t in r.matched_tags],
                components={k: float(v) for k, v in json.loads(r.components).items()},
                model_version=str(r.model_version),
                computed_at=r.computed_at.to_pydatetime(),
            )
        )
    return by_event


def _render_event(event_id: str, talks: list[RecommendedTalk], public: frozenset[str]) -> Answer:
    """The event's public talks, ranked 1, 2, … again (as `lookup_recommendations` with
    states does)."""
    kept = [t for t in talks if t.talk_id in public]
    ranked = [t.model_copy(update={"rank": i}) for i, t in enumerate(kept, 1)]
    body = RecommendationList(event_id=event_id, recommendations=ranked).model_dump_json()
    return Answer.of(body.encode())


def _related_rows(lake: Lake) -> dict[str, list[tuple[str, float]]]:
    rows = read_related(lake=lake)
    if rows.empty:
        return {}
    rows = rows.sort_values(["talk_id", "rank"], kind="stable")
    talk_ids = rows["talk_id"].to_numpy()
    others = [str(o) for o in rows["other_id"].tolist()]
    scores = rows["score"].astype(float).tolist()
    bounds = [0, *(np.flatnonzero(talk_ids[1:] != talk_ids[:-1]) + 1).tolist(), len(talk_ids)]
    return {
        str(talk_ids[start]): list(zip(others[start:end], scores[start:end], strict=True))
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    }


def _render_related(
    talk_id: str, others: list[tuple[str, float]], public: frozenset[str]
) -> Answer:
    return Answer.of(related_body(talk_id, [(o, s) for o, s in others if o in public]))
