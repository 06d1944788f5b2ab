"""podium.events against a real Prefect server (started by the tests) and a dead port."""

import contextlib
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import httpx
import pytest

from podium.events import EventDeliveryError, EventPoster, make_event
from tests.prefect_server import free_port


def test_events_reach_a_real_prefect_server(prefect_server: str) -> None:
    event = make_event("podium.test.ping", resource_id="podium.test.1", payload={"n": 1})
    EventPoster(api_url=prefect_server).post([event])
    found: list[dict] = []
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:  # the server persists events in batches
        response = httpx.post(
            f"{prefect_server}/events/filter",
            json={"filter": {"event": {"name": ["podium.test.ping"]}}},
        )
        response.raise_for_status()
        found = [e for e in response.json()["events"] if e["id"] == event["id"]]
        time.sleep(0.5)
    assert found and found[0]["payload"] == {"n": 1}


def test_unreachable_server_raises_after_retries() -> None:
    sleeps: list[float] = []
    poster = EventPoster(
        api_url=f"http://127.0.0.1:{free_port()}/api", retries=3, backoff_s=0.1, sleep=sleeps.append
    )
    with pytest.raises(EventDeliveryError, match="ConnectError"):
        poster.post([make_event("podium.test", resource_id="podium.test")])
    assert sleeps == [0.1, 0.2, 0.4]


class _Events(BaseHTTPRequestHandler):
    """POST /api/events answered 200 on a keep-alive HTTP/1.1 connection."""

    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]] = set()
    sockets: list[socket.socket] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).connections.add(self.client_address)
        type(self).sockets.append(self.connection)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args: object) -> None:
        pass


def _serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Events)
    server.daemon_threads = True
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_poster_reuses_one_connection_and_survives_a_server_restart() -> None:
    # One client for the poster's life (no TLS context and no new connection per post); a
    # keep-alive connection left stale by a restarted server falls over to the retry loop.
    _Events.connections = set()
    server = _serve(0)
    port = server.server_address[1]
    poster = EventPoster(api_url=f"http://127.0.0.1:{port}/api", retries=3, backoff_s=0.05)
    try:
        for _ in range(5):
            poster.post([make_event("podium.test", resource_id="podium.test")])
        assert len(_Events.connections) == 1
        server.shutdown()  # stops accepting; then cut the open keep-alive connection too
        server.server_close()
        for sock in _Events.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server = _serve(port)
        poster.post([make_event("podium.test", resource_id="podium.test")])
        assert len(_Events.connections) == 2
    finally:
        poster.close()
        server.shutdown()
        server.server_close()
