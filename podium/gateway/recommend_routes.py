"""`GET /events/{event_id}/recommendations` and `GET /talks/{talk_id}/related`: precomputed
tables, answered from the read cache.

No model and no scan of the talks. With the gateway's read cache (`read_cache.ReadCache`) a
request reads nothing: its answer is pre-rendered JSON bytes in the current index, sent with an
ETag (304 to a matching `If-None-Match`). Without it (`gateway.read_cache_s` 0, or no index
confirmed lately) a request reads the lake as before: one filtered read of the
`recommendations` table (and of `events` only to tell an unknown event from one whose table is
not built yet), and one of the `talks` it names. The routes need no credentials, so either way
they serve only talks in a public state (`recommend.public_states`, by default accepted and
published).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from podium.gateway.read_cache import current_index, read_cache_lifespan
from podium.gateway.read_index import (
    Answer,
    RecommendationList,
    RecommendedTalk,
    RelatedList,
    RelatedTalk,
    recommendations_body,
    related_body,
)
from podium.lake import Lake
from podium.recommend.config import RecommendSettings
from podium.recommend.serving import (
    RecommendationsNotBuiltError,
    UnknownEventError,
    lookup_recommendations,
)

__all__ = ["RecommendationList", "RecommendedTalk", "RelatedList", "RelatedTalk", "router"]

# The lifespan starts the read cache's poller with the app and stops it on shutdown.
router = APIRouter(tags=["recommendations"], lifespan=read_cache_lifespan)


def get_lake(request: Request) -> Lake:
    """The lake the gateway app was built with."""
    return request.app.state.lake  # type: ignore[no-any-return]


def get_public_states(request: Request) -> list[str]:
    """The talk states this route serves (the defaults when the app carries no settings)."""
    settings = getattr(request.app.state, "settings", None)
    recommend = settings.recommend if settings is not None else RecommendSettings()
    return list(recommend.public_states)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match's weak comparison: `*`, or any listed tag equal to ours, W/ or not."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


# The answer `answer` gives a client that holds the current bytes (OpenAPI `responses`).
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match)"}
}


def answer(
    request: Request, found: Answer, *, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """The cached answer, or 304 when the client holds these bytes already."""
    sent = {"ETag": found.etag, **(headers or {})}
    match = request.headers.get("if-none-match")
    if match is not None and _etag_matches(match, found.etag):
        return Response(status_code=304, headers=sent)
    return Response(content=found.body, media_type=media_type, headers=sent)


async def _from_lake(
    request: Request, read: Callable[[Lake, str, list[str]], bytes], key: str
) -> Response:
    """No current index: the request reads the lake itself (`read` of the public states)."""
    body = await run_in_threadpool(read, get_lake(request), key, get_public_states(request))
    return Response(content=body, media_type="application/json")


@router.get(
    "/events/{event_id}/recommendations",
    response_model=RecommendationList,
    responses={
        **NOT_MODIFIED,
        404: {"description": "Unknown event"},
        409: {"description": "Not built yet"},
    },
)
async def get_recommendations(event_id: str, request: Request) -> Response:
    """Precomputed recommendations of an event, only talks in a public state: 404 unknown
    event, 409 table not built yet."""
    index = current_index(request)
    if index is None:
        return await _from_lake(request, _read_recommendations, event_id)
    found = index.recommendations.get(event_id)
    if found is None:
        if event_id not in index.events:
            raise HTTPException(status_code=404, detail=str(UnknownEventError(event_id)))
        error = RecommendationsNotBuiltError(
            event_id, table_missing=not index.recommendations_built
        )
        raise HTTPException(status_code=409, detail=str(error))
    return answer(request, found, media_type="application/json")


def _read_recommendations(lake: Lake, event_id: str, states: list[str]) -> bytes:
    """Today's path: the lake read for this request."""
    try:
        rows = lookup_recommendations(lake=lake, event_id=event_id, states=states)
    except UnknownEventError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except RecommendationsNotBuiltError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return recommendations_body(event_id, rows)


@router.get(
    "/talks/{talk_id:path}/related",
    response_model=RelatedList,
    responses={
        **NOT_MODIFIED,
        404: {"description": "Unknown talk"},
    },
)
async def get_related(talk_id: str, request: Request) -> Response:
    """A talk's precomputed related talks in a public state (empty until the next build):
    404 unknown talk."""
    index = current_index(request)
    if index is None:
        return await _from_lake(request, _read_related, talk_id)
    found = index.related_answer(talk_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"unknown talk {talk_id!r}")
    return answer(request, found, media_type="application/json")


def _read_related(lake: Lake, talk_id: str, states: list[str]) -> bytes:
    """Today's path: the lake read for this request."""
    from podium.ingest import live_versions, talk_rows
    from podium.lake.recommendations import read_related

    rows = read_related(lake=lake, talk_ids=[talk_id])
    if rows.empty and not live_versions(lake=lake, talk_ids=[talk_id]):
        raise HTTPException(status_code=404, detail=f"unknown talk {talk_id!r}")
    rows = rows.sort_values("rank")
    current = talk_rows(lake=lake, columns=["talk_id", "state"], talk_ids=list(rows["other_id"]))
    public = set(current.loc[current["state"].isin(set(states)), "talk_id"])
    return related_body(
        talk_id,
        [(str(r.other_id), float(r.score)) for r in rows.itertuples() if r.other_id in public],
    )
