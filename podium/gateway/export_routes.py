"""`GET /events/{event_id}/export.{fmt}`: an event's schedule, read-only, in the formats that
`podium export` writes (frab-xml, frab-json, ics, json); from the read cache's index where the
gateway has one (rendered on first request per index, then sent as kept, with an ETag)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from podium.exports.export import UnknownFormatError, export_event
from podium.exports.formats import EXTENSIONS, FORMATS, MEDIA_TYPES
from podium.exports.schedule import NothingScheduledError, UnknownEventError
from podium.gateway.read_cache import current_index, read_cache
from podium.gateway.read_index import Answer
from podium.gateway.recommend_routes import NOT_MODIFIED, answer, get_lake
from podium.models import storage_segment

router = APIRouter(tags=["exports"])


@router.get(
    "/events/{event_id}/export.{fmt}",
    responses={
        200: {"description": "The export", "content": {t: {} for t in set(MEDIA_TYPES.values())}},
        **NOT_MODIFIED,
        404: {"description": "Unknown event or format"},
        409: {"description": "The format needs a schedule and the event has none"},
    },
)
async def get_export(event_id: str, fmt: str, request: Request) -> Response:
    """The event's schedule with tags, related talks and cover alt text; `fmt` is one of
    frab-xml, frab-json, ics, json. 404 unknown event or format; 409 nothing scheduled."""
    if fmt not in FORMATS:
        raise HTTPException(status_code=404, detail=str(UnknownFormatError(fmt)))
    headers = {
        "Content-Disposition": f'inline; filename="{storage_segment(event_id)}.{EXTENSIONS[fmt]}"'
    }
    cache = read_cache(request)
    index = current_index(request)
    try:
        if index is None:  # no cache: the lake read for this request
            lake, settings = get_lake(request), request.app.state.settings.exports
            data = await run_in_threadpool(
                lambda: export_event(lake=lake, event_id=event_id, fmt=fmt, settings=settings)
            )
            return Response(content=data, media_type=MEDIA_TYPES[fmt], headers=headers)
        if event_id not in index.events:
            raise UnknownEventError(event_id)
        assert cache is not None
        kept = index.exports.get((event_id, fmt))
        # Rendered on the first request in this index (or an error kept: raised again).
        found: Answer = (
            kept
            if isinstance(kept, Answer)
            else await run_in_threadpool(cache.export, index, event_id, fmt)
        )
    except (UnknownFormatError, UnknownEventError) as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except NothingScheduledError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return answer(request, found, media_type=MEDIA_TYPES[fmt], headers=headers)
