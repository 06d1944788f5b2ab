"""`GET /events/{event_id}/recommendations`: the precomputed table, read per request.

No model and no scan of the talks: one filtered read of the `recommendations` table (and of
`events` only to tell an unknown event from one whose table is not built yet), and one of the
`talks` it names: the route needs no credentials, so it serves only talks in a public state
(`recommend.public_states`, by default accepted and published).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

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
    lake: Annotated[Lake, Depends(get_lake)],
    public_states: Annotated[list[str], Depends(get_public_states)],
) -> RecommendationList:
    """Precomputed recommendations of an event, only talks in a public state: 404 unknown
    event, 409 table not built yet."""
    try:
        rows = lookup_recommendations(lake=lake, event_id=event_id, states=public_states)
    except UnknownEventError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except RecommendationsNotBuiltError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
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
