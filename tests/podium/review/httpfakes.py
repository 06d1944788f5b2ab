"""A real HTTP server on a free local port that records requests and answers with a handler
function — the stand-in for Bedrock, an OpenAI-compatible server, a Slack webhook and the
Prefect events endpoint in review tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from podium.review.config import ReviewSettings

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def http_server(handler: Handler) -> Iterator[FakeServer]:
    """Serve `handler(method, path, headers, body) -> (status, json-able body)`."""
    server_state: FakeServer

    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            server_state.requests.append(Recorded(self.command, self.path, headers, body))
            status, answer = handler(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = do_PUT = _serve

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server_state = FakeServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()


def bedrock_settings(url: str, model_id: str, **extra: Any) -> ReviewSettings:
    """Review settings that summarise with Bedrock's `model_id` at `url` (a fake server here),
    with test credentials; `extra` sets other ReviewSettings fields."""
    return ReviewSettings(
        summary_backend="bedrock",
        model_id=model_id,
        endpoint_url=url,
        aws_access_key_id="AKIDTESTTESTTEST",
        aws_secret_access_key="test-secret-key",
        **extra,
    )
