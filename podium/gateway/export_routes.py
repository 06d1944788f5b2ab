"""`GET /events/{event_id}/export.{fmt}`: an event's schedule, read-only, in the formats that
`podium export` writes (frab-xml, frab-json, ics, json)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from podium.exports.export import UnknownFormatError, export_event
from podium.exports.formats import EXTENSIONS, MEDIA_TYPES
from podium.exports.schedule import NothingScheduledError, UnknownEventError
from podium.gateway.read_cache import read_cache
from podium.gateway.recommend_routes import get_lake
from podium.lake import Lake
from podium.models import storage_segment

router = APIRouter(tags=["exports"])


@router.get(
    "/events/{event_id}/export.{fmt}",
    responses={
        200: {"description": "The export", "content": {t: {} for t in set(MEDIA_TYPES.values())}},
        404: {"description": "Unknown event or format"},
        409: {"description": "The format needs a schedule and the event has none"},
    },
)
def get_export(
    event_id: str, fmt: str, request: Request, lake: Annotated[Lake, Depends(get_lake)]
) -> Response:
    """The event's schedule with tags, related talks and cover alt text; `fmt` is one of
    frab-xml, frab-json, ics, json. 404 unknown event or format; 409 nothing scheduled."""
    settings = request.app.state.settings.exports
    try:
        data = read_cache(request).get(
            ("export", event_id, fmt),
            lambda: export_event(lake=lake, event_id=event_id, fmt=fmt, settings=settings),
        )
    except (UnknownFormatError, UnknownEventError) as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except NothingScheduledError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    headers = {
        "Content-Disposition": f'inline; filename="{storage_segment(event_id)}.{EXTENSIONS[fmt]}"'
    }
    return Response(content=data, media_type=MEDIA_TYPES[fmt], headers=headers)
