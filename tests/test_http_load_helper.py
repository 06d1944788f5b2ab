"""bench/_http_load.py, the read-routes bench's load generator, against a real keep-alive
HTTP/1.1 server in a thread: every request answered and counted, its statuses as served.
(The read_routes smoke run uses it too; this catches a break in the helper by itself.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the gateway answers

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b'{"ok": true}' if self.path.startswith("/ok") else b"missing"
        self.send_response(200 if self.path.startswith("/ok") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_load_generator_counts_every_answer_by_status(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    paths = tmp_path / "paths.txt"
    paths.write_text("/ok/1\n/ok/2\n/ok/3\n/gone\n")
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "_http_load.py"),
             f"http://127.0.0.1:{server.server_port}", str(paths),
             "--clients", "2", "--seconds", "1"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    finally:
        server.shutdown()
    result = json.loads(done.stdout)
    statuses = {int(k): v for k, v in result["statuses"].items()}
    assert set(statuses) == {200, 404} and sum(statuses.values()) == result["requests"] > 4
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
