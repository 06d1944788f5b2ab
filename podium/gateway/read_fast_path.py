"""The read routes' lean path: an ASGI middleware that answers a cached read before routing.

A `GET` of `/events/{event_id}/recommendations`, `/talks/{talk_id}/related` or
`/events/{event_id}/export.{fmt}` whose answer is in the read cache's current index is sent
from here: the pre-rendered bytes with their ETag, or 304 to a matching `If-None-Match`. It
skips FastAPI's routing, dependency resolution and response objects, which cost more than the
answer itself (measured in bench/read_routes.py). Anything else — another route, another
method, no index, an unknown key, a 404/409 — goes on to the app, whose routes answer exactly
as they would (and describe themselves in the OpenAPI document).

The middleware sits inside `observe.MetricsMiddleware`: it names the matched route in the
scope, so the request counts under its route template like any other.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from podium.exports.formats import EXTENSIONS, FORMATS, MEDIA_TYPES
from podium.gateway.read_cache import ReadCache
from podium.gateway.read_index import Answer, ReadIndex
from podium.models import storage_segment

RECOMMENDATIONS = "/events/{event_id}/recommendations"
RELATED = "/talks/{talk_id:path}/related"
EXPORT = "/events/{event_id}/export.{fmt}"

_JSON = [(b"content-type", b"application/json")]


def _recommendations(index: ReadIndex, params: dict[str, str]) -> tuple[Answer | None, list]:
    return index.recommendations.get(params["event_id"]), _JSON


def _related(index: ReadIndex, params: dict[str, str]) -> tuple[Answer | None, list]:
    return index.related_answer(params["talk_id"]), _JSON


def _export(index: ReadIndex, params: dict[str, str]) -> tuple[Answer | None, list]:
    event_id, fmt = params["event_id"], params["fmt"]
    if fmt not in FORMATS:
        return None, []
    found = index.exports.get((event_id, fmt))
    if not isinstance(found, Answer):
        return None, []  # not rendered in this index yet (the route renders it), or an error
    name = f'inline; filename="{storage_segment(event_id)}.{EXTENSIONS[fmt]}"'
    media = MEDIA_TYPES[fmt]
    if media.startswith("text/") and "charset=" not in media:
        media += "; charset=utf-8"  # as Starlette's Response adds to text types
    return found, [
        (b"content-disposition", name.encode("latin-1")),
        (b"content-type", media.encode("latin-1")),
    ]


_ROUTES = [
    (template, compile_path(template)[0], lookup)
    for template, lookup in (
        (RECOMMENDATIONS, _recommendations),
        (RELATED, _related),
        (EXPORT, _export),
    )
]


def _etag_matches(header: bytes, etag: bytes) -> bool:
    """If-None-Match's weak comparison: `*`, or any listed tag equal to ours, W/ or not."""
    if header.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in header.split(b","))


class ReadFastPath:
    """Answers cached reads before the app routes them (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[int, dict[Any, Any]] = {}  # app id -> template -> its APIRoute

    def _route(self, scope: Scope, template: str) -> Any:
        app = scope.get("app")
        found = self._routes.get(id(app))
        if found is None:
            routes = getattr(getattr(app, "router", None), "routes", [])
            found = {getattr(r, "path", None): r for r in routes}
            self._routes[id(app)] = found
        return found.get(template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        cache: ReadCache | None = getattr(
            getattr(scope.get("app"), "state", None), "read_cache", None
        )
        index = cache.current() if cache is not None else None
        if index is not None:
            path = scope["path"]
            for template, regex, lookup in _ROUTES:
                match = regex.match(path)
                if match is None:
                    continue
                found, headers = lookup(index, match.groupdict())
                if found is not None:
                    scope["route"] = self._route(scope, template)  # the metrics' label
                    await _send(scope, send, found, headers)
                    return
                break
        await self.app(scope, receive, send)


async def _send(scope: Scope, send: Send, found: Answer, headers: list) -> None:
    etag = found.etag.encode()
    match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
    if match is not None and _etag_matches(match, etag):
        await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(found.body)).encode()),
                *headers,
                (b"etag", etag),
            ],
        }
    )
    await send({"type": "http.response.body", "body": found.body})
