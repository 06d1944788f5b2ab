"""Gateway load: a fixed rate of signed talk submissions on loopback, then a lake check.

Starts `podium gateway` as its own process (uvicorn, one worker; a Delta lake in a temp
folder) with a local HTTP server standing in for Prefect's events endpoint, so no worker runs.
An open-loop client sends one signed talk per request (Standard Webhooks headers, a fresh
message id and talk id each) at the given rate for the given time; latency is measured from
each request's scheduled send time, so a stalled server cannot hide queueing. Afterwards every
talk the gateway accepted (2xx) is looked up in the lake. Prints achieved rate, p50/p99/max
latency, errors by kind, and talks lost (target 0).

    .venv/bin/python bench/gateway_load.py --rate 200 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import aiohttp
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from podium.gateway.signatures import standard_headers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from tests.prefect_server import free_port  # noqa: E402

SECRET = "load-bench-secret"


class _Events(BaseHTTPRequestHandler):
    """Prefect's POST /api/events, answered 200 (what the gateway needs to say `accepted`)."""

    received = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).received += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def _talk(index: int, run: str) -> dict:
    return {
        "talk_id": f"load-{run}-{index:06d}",
        "title": f"Load test talk {index}: streaming joins at scale",
        "description": "Signed, validated, group-committed and announced. " * 4,
        "speakers": ["Ada Lovelace"],
        "tags": ["python"],
    }


async def _drive(url: str, *, rate: float, seconds: float, run: str) -> tuple[list, Counter]:
    # aiohttp, not httpx, for the client: httpcore's async pool rescans every connection for
    # every queued request, so at a few hundred requests in flight the client alone used twice
    # the gateway's CPU on this 2-core machine and capped the figure at ~15-30 req/s.
    results: list[tuple[str, int | None, float]] = []
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        start = time.perf_counter() + 0.2
        total = int(rate * seconds)

        async def one(index: int) -> None:
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            talk = _talk(index, run)
            body = json.dumps(talk).encode()
            headers = dict(standard_headers(body, SECRET))
            try:
                async with client.post(url + "/hooks/talks", data=body, headers=headers) as r:
                    await r.read()
                    status: int | None = r.status
                if status >= 300:
                    errors[f"HTTP {status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                status = None
                errors[type(error).__name__] += 1
            results.append((talk["talk_id"], status, time.perf_counter() - scheduled))

        await asyncio.gather(*(one(i) for i in range(total)))
    return results, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    # A SIGTERM (e.g. from `timeout`) unwinds through `finally`, so the gateway is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    events = ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    Thread(target=events.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = os.environ | {
            "PODIUM_HOME": f"{tmp}/home",
            "PODIUM_LAKE__URL": f"{tmp}/lake",
            "PODIUM_GATEWAY__SECRET": SECRET,
            "PODIUM_GATEWAY__PORT": str(port),
            "PODIUM_PREFECT__API_URL": f"http://127.0.0.1:{events.server_address[1]}/api",
            "PYTHONPATH": str(ROOT),
        }
        gateway = subprocess.Popen(
            [sys.executable, "-m", "podium.cli", "gateway"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/openapi.json", timeout=2)
                    break
                except httpx.HTTPError:
                    if gateway.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(
                            "the gateway did not start:\n" + gateway.stderr.read()
                        ) from None
                    time.sleep(0.2)
            run = str(int(time.time()))
            began = time.perf_counter()
            results, errors = asyncio.run(
                _drive(url, rate=args.rate, seconds=args.seconds, run=run)
            )
            elapsed = time.perf_counter() - began
        finally:
            gateway.terminate()
            try:  # uvicorn drains in-flight requests first; the lake check below still holds
                gateway.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait()
            events.shutdown()
        accepted = {talk_id for talk_id, status, _ in results if status and status < 300}
        stored = set(Lake(f"{tmp}/lake").read("talks", columns=["talk_id"]).talk_id)
    latencies = np.array([s for _, status, s in results if status is not None]) * 1000
    lost = accepted - stored
    print(
        f"target:        {args.rate:.0f} req/s for {args.seconds:.0f} s ({len(results)} requests)"
    )
    print(f"achieved:      {len(results) / elapsed:.1f} req/s sent+answered over {elapsed:.1f} s")
    print(f"accepted:      {len(accepted)} ({len(accepted) / elapsed:.1f}/s)")
    if latencies.size:
        p50, p99 = np.percentile(latencies, [50, 99])
        print(f"latency:       p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies.max():.0f} ms")
    print(f"errors:        {sum(errors.values())} {dict(errors) if errors else ''}")
    print(f"events posted: {_Events.received}")
    print(f"talks lost:    {len(lost)}")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
