"""A small HTTP server for a long-lived process that is not the gateway: `/metrics`, `/healthz`
and `/readyz`, so Prometheus can scrape it and Kubernetes probes mean something.

- `/healthz` (liveness) answers from memory only: 200 while the process's own threads are
  alive, 503 when one that must run (the heartbeat, the event stream) died. It reads and
  writes nothing.
- `/readyz` (readiness) runs the process's dependency checks: 200 when all pass, else 503
  with each check's answer.
- `/metrics`: `podium.metrics.exposition` with the process's extra collectors.

Standard library only (`http.server` in a daemon thread): no second web stack in an executor.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from podium import metrics

logger = logging.getLogger("podium.probes")

Check = Callable[[], dict[str, str]]  # name -> "ok" or what is wrong


def add_probe_port(parser: argparse.ArgumentParser, *, default: str) -> None:
    """The `--probe-port` option of a long-lived process; `default` says where no value leads."""
    parser.add_argument(
        "--probe-port",
        type=int,
        help=f"port of /metrics, /healthz, /readyz (default: {default}; 0: any free)",
    )


class ProbeServer:
    """Serves the probes of one process on `host:port` (0: any free port) in a thread.

    Args:
        live: liveness checks, answered from memory.
        ready: readiness checks (may read the lake, call Prefect).
        collectors: extra metric collectors (the lake-state gauges).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        live: Check,
        ready: Check,
        collectors: Iterable[Any] = (),
    ) -> None:
        self.live, self.ready, self.collectors = live, ready, list(collectors)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        body, content_type = metrics.exposition(server.collectors)
                        self._send(200, body, content_type)
                    elif path in ("/healthz", "/readyz"):
                        checks = (server.live if path == "/healthz" else server.ready)()
                        ok = all(v == "ok" for v in checks.values())
                        answer = {"status": "ok" if ok else "failing", **checks}
                        self._send(200 if ok else 503, json.dumps(answer).encode())
                    else:
                        self._send(404, b'{"detail": "not found"}')
                except Exception as error:  # noqa: BLE001 - a probe answers, never hangs
                    logger.warning("probe %s failed: %s", path, type(error).__name__)
                    self._send(503, json.dumps({"status": type(error).__name__}).encode())

            def _send(
                self, status: int, body: bytes, content_type: str = "application/json"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # a scrape every few seconds is not worth a log line

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="podium-probes", daemon=True
        )

    def start(self) -> ProbeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
