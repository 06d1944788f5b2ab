"""A real `redis-server` (Debian's /usr/bin/redis-server) on a free port, for tests and benches."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.prefect_server import free_port
from tests.processes import stop


@contextmanager
def redis_server() -> Iterator[str]:
    """Start `redis-server` on 127.0.0.1 (a free port, files in a temp dir, no persistence);
    yield its URL; stop it."""
    import redis

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="podium-redis-") as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start on {url}") from None
                    time.sleep(0.05)
            client.close()
            yield url
        finally:
            stop(process)
