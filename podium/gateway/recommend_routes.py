"""`GET /events/{event_id}/recommendations`: the precomputed table, read per request.

No model and no scan of the talks: one filtered read of the `recommendations` table (and of
`events` only to tell an unknown event from one whose table is not built yet), and one of the
`talks` it names: the route needs no credentials, so it serves only talks in a public state
(`recommend.public_states`, by default accepted and published).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from podium.gateway.read_cache import read_cache
from podium.lake import Lake
from podium.recommend.config import RecommendSettings
from podium.recommend.serving import (
    RecommendationsNotBuiltError,
    UnknownEventError,
    lookup_recommendations,
)

router = APIRouter(tags=["recommendations"])


def get_lake(request: Request) -> Lake:
    """The lake the gateway app was built with."""
    return request.app.state.lake  # type: ignore[no-any-return]


def get_public_states(request: Request) -> list[str]:
    """The talk states this route serves (the defaults when the app carries no settings)."""
    settings = getattr(request.app.state, "settings", None)
    recommend = settings.recommend if settings is not None else RecommendSettings()
    return list(recommend.public_states)


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


@router.get(
    "/events/{event_id}/recommendations",
    response_model=RecommendationList,
    responses={404: {"description": "Unknown event"}, 409: {"description": "Not built yet"}},
)
def get_recommendations(
    event_id: str,
    request: Request,
    lake: Annotated[Lake, Depends(get_lake)],
    public_states: Annotated[list[str], Depends(get_public_states)],
) -> Response:
    """Precomputed recommendations of an event, only talks in a public state: 404 unknown
    event, 409 table not built yet."""
    try:
        # The cache holds the JSON answer itself: a hit costs no validation or serialisation.
        # It follows the talks table too, so a talk leaving a public state leaves the answer.
        body = read_cache(request).get(
            ("recommendations", event_id, tuple(public_states)),
            lambda: _recommendations(lake, event_id, public_states).model_dump_json().encode(),
        )
    except UnknownEventError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except RecommendationsNotBuiltError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return Response(content=body, media_type="application/json")


def _recommendations(lake: Lake, event_id: str, states: list[str]) -> RecommendationList:
    rows = lookup_recommendations(lake=lake, event_id=event_id, states=states)
    return RecommendationList(
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


class RelatedTalk(BaseModel):
    """One related talk: none clashes with the talk or shares a speaker with it."""

    rank: int
    talk_id: str
    score: float


class RelatedList(BaseModel):
    """A talk's related talks, best first (diversified, capped)."""

    talk_id: str
    related: list[RelatedTalk]


@router.get(
    "/talks/{talk_id:path}/related",
    response_model=RelatedList,
    responses={404: {"description": "Unknown talk"}},
)
def get_related(
    talk_id: str, request: Request, lake: Annotated[Lake, Depends(get_lake)]
) -> Response:
    """A talk's precomputed related talks (empty until the next build): 404 unknown talk."""

    def compute() -> bytes | None:
        found = _related(lake, talk_id)
        return None if found is None else found.model_dump_json().encode()

    body = read_cache(request).get(("related", talk_id), compute)
    if body is None:
        raise HTTPException(status_code=404, detail=f"unknown talk {talk_id!r}")
    return Response(content=body, media_type="application/json")


def _related(lake: Lake, talk_id: str) -> RelatedList | None:
    from podium.ingest import live_versions
    from podium.lake.recommendations import read_related

    rows = read_related(lake=lake, talk_ids=[talk_id])
    if rows.empty and not live_versions(lake=lake, talk_ids=[talk_id]):
        return None
    rows = rows.sort_values("rank")
    return RelatedList(
        talk_id=talk_id,
        related=[
            RelatedTalk(rank=int(r.rank), talk_id=str(r.other_id), score=float(r.score))
            for r in rows.itertuples(index=False)
        ],
    )
