"""A lean closed-loop HTTP/1.1 load generator (a helper of bench/read_routes.py, not a bench).

    python bench/_http_load.py URL PATHS_FILE --clients 16 --seconds 10

Each client holds one keep-alive connection and sends its next GET when the previous answer
has arrived; the latency is stamped just before the request is written and read when the
whole body is in. Raw asyncio protocols rather than an HTTP library: on a 2-core machine the
load generator shares the cores with the server, and a library's per-request cost (hundreds
of microseconds in Python) would measure the client instead. Prints one JSON line: requests,
seconds, status counts and the latencies' percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


class Connection(asyncio.Protocol):
    """One keep-alive connection; `get(path)` resolves to the status once the body is in."""

    def __init__(self, host: str) -> None:
        self.host = host.encode()
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        length = 0
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17 : stop if stop >= 0 else None])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def get(self, path: str, headers: bytes = b"") -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: "
            + self.host
            + b"\r\n"
            + headers
            + b"\r\n"
        )
        return self.waiter


async def run(url: str, paths: list[str], *, clients: int, seconds: float) -> dict[str, object]:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        _, conn = await loop.create_connection(
            lambda: Connection(parts.netloc), parts.hostname, parts.port
        )
        i = n
        while time.perf_counter() < stop:
            started = time.perf_counter()  # stamped before the request is written
            status = await conn.get(paths[i % len(paths)])
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            i += clients * 7919  # a stride through the shuffled paths, distinct per client
        assert conn.transport is not None
        conn.transport.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
            if latencies
            else float("nan")
        )

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "statuses": statuses,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("paths_file", help="one path a line, in the order to ask them")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    result = asyncio.run(run(args.url, paths, clients=args.clients, seconds=args.seconds))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
