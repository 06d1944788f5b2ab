"""Record a real pretalx server's answers, and replay them for the fast tests.

A recording maps `GET <path>?<sorted query>` to the status and JSON body the server gave. The
server's own address in bodies (pagination links) is replaced by `http://pretalx.test`, so a
replay serves them from that address. Nothing else is changed: these are pretalx's answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx

REPLAY_BASE = "http://pretalx.test"
RECORDED = Path(__file__).resolve().parent / "recorded"


def request_key(request: httpx.Request) -> str:
    query = urlencode(sorted(parse_qsl(request.url.query.decode())))
    return f"{request.method} {request.url.path}" + (f"?{query}" if query else "")


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to the real server and keeps each answer."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.inner = httpx.HTTPTransport()
        self.answers: dict[str, dict] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        text = body.decode("utf-8").replace(self.origin, REPLAY_BASE)
        self.answers[request_key(request)] = {
            "status": response.status_code,
            "body": json.loads(text) if text.strip() else None,
        }
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.answers, indent=1, sort_keys=True, ensure_ascii=False))


def replay_transport(path: Path, *, seen: list[str] | None = None) -> httpx.MockTransport:
    """Answers recorded requests; anything not recorded is a 404 naming the request."""
    answers = json.loads(path.read_text())

    def handle(request: httpx.Request) -> httpx.Response:
        key = request_key(request)
        if seen is not None:
            seen.append(key)
        if key not in answers:
            return httpx.Response(404, json={"detail": f"not recorded: {key}"})
        answer = answers[key]
        return httpx.Response(answer["status"], json=answer["body"])

    return httpx.MockTransport(handle)
