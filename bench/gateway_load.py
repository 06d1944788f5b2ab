"""Gateway load: a fixed rate of signed talk submissions across gateway replicas, old vs new.

For each mode (`commit`: every group of requests waits for its Delta commit, the default;
`inbox`: `gateway.inbox` on, answered once the group's changes are in one append-only inbox
blob, folded into Delta off the request path, podium/inbox.py), starts `--replicas`
`podium gateway` processes (uvicorn, one worker each; one Delta lake in a temp folder; the
replay store in a real redis-server as in production, or with `--replay lake` in the lake)
with a local HTTP server standing in for Prefect's events endpoint, so no worker runs. An
open-loop client sends one signed talk per request (Standard Webhooks headers, a fresh
message id and talk id each), round robin over the replicas, at the given rate for the given
time; latency is measured from each request's scheduled send time, so a stalled server
cannot hide queueing. Afterwards (once the inbox is folded) every talk a gateway accepted
(2xx) is looked up in `talks` and in the enrichment ledger. Per mode it prints the load
average, achieved and accepted rates, p50/p99/max latency, errors by kind, the gateways' CPU
per accepted request (the ceiling on a quiet machine: cores / CPU per request), the fold's
lag after the last post, and talks lost (target 0).

    .venv/bin/python bench/gateway_load.py --rate 200 --seconds 60            # both modes
    .venv/bin/python bench/gateway_load.py --rate 200 --seconds 60 --mode inbox --replay lake
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
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


async def _drive(urls: list[str], *, rate: float, seconds: float, run: str) -> tuple[list, Counter]:
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
                url = urls[index % len(urls)] + "/hooks/talks"
                async with client.post(url, data=body, headers=headers) as r:
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


@dataclass
class ModeResult:
    mode: str
    requests: int = 0
    elapsed: float = 0.0
    accepted: int = 0
    latencies_ms: np.ndarray = field(default_factory=lambda: np.array([]))
    errors: Counter = field(default_factory=Counter)
    events: int = 0
    cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    fold_lag_s: float = 0.0
    lost: int = 0
    unmarked: int = 0
    load_before: float = 0.0
    load_after: float = 0.0


def _wait_up(url: str, process: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(url + "/openapi.json", timeout=2)
            return
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = Path(log).read_text()[-3000:]
                raise SystemExit("a gateway did not start:\n" + tail) from None
            time.sleep(0.2)


def run_mode(
    mode: str, *, rate: float, seconds: float, replicas: int, redis_url: str | None
) -> ModeResult:
    """One mode's run: start the replicas, drive them, wait for the fold, check the lake."""
    import psutil

    from podium.enrichment import state_rows

    result = ModeResult(mode)
    events = ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    _Events.received = 0
    Thread(target=events.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        gateways: list[subprocess.Popen] = []
        urls: list[str] = []
        try:
            for n in range(replicas):
                port = free_port()
                env = os.environ | {
                    "PODIUM_HOME": f"{tmp}/home{n}",
                    "PODIUM_LAKE__URL": f"{tmp}/lake",
                    "PODIUM_GATEWAY__SECRET": SECRET,
                    "PODIUM_GATEWAY__PORT": str(port),
                    "PODIUM_GATEWAY__INBOX": "true" if mode == "inbox" else "false",
                    "PODIUM_PREFECT__API_URL": f"http://127.0.0.1:{events.server_address[1]}/api",
                    "PYTHONPATH": str(ROOT),
                    "DO_NOT_TRACK": "1",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                }
                if redis_url:
                    env["PODIUM_REPLAY__URL"] = redis_url
                gateways.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "podium.cli", "gateway"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        # A file, not a pipe: nobody reads a pipe during the run, and a full
                        # one would stall the gateway's logging (and with it the gateway).
                        stderr=stack.enter_context(open(f"{tmp}/gateway{n}.log", "w")),
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
            for n, (url, gateway) in enumerate(zip(urls, gateways, strict=True)):
                _wait_up(url, gateway, f"{tmp}/gateway{n}.log")
            procs = [psutil.Process(g.pid) for g in gateways]
            cpu_before = sum(sum(p.cpu_times()[:2]) for p in procs)
            result.load_before = os.getloadavg()[0]
            run = f"{mode}-{int(time.time())}"
            began = time.perf_counter()
            client_before = time.process_time()
            results, result.errors = asyncio.run(_drive(urls, rate=rate, seconds=seconds, run=run))
            result.client_cpu_s = time.process_time() - client_before
            result.elapsed = time.perf_counter() - began
            lake = Lake(f"{tmp}/lake")
            if mode == "inbox":  # the fold's lag: until every inbox blob is in Delta
                deadline = time.monotonic() + 300
                while lake.list_blobs("inbox") and time.monotonic() < deadline:
                    time.sleep(0.05)
                result.fold_lag_s = time.perf_counter() - began - result.elapsed
            result.cpu_s = sum(sum(p.cpu_times()[:2]) for p in procs) - cpu_before
            result.load_after = os.getloadavg()[0]
        finally:
            for gateway in gateways:
                gateway.terminate()
            for gateway in gateways:
                try:  # uvicorn drains in-flight requests first; the lake check still holds
                    gateway.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    gateway.kill()
                    gateway.wait()
            events.shutdown()
        accepted = {talk_id for talk_id, status, _ in results if status and status < 300}
        lake = Lake(f"{tmp}/lake")
        stored = set(lake.read("talks", columns=["talk_id"]).talk_id)
        marked = set(state_rows(lake=lake, columns=["talk_id"]).talk_id)
    result.requests = len(results)
    result.accepted = len(accepted)
    result.latencies_ms = np.array([s for _, status, s in results if status is not None]) * 1000
    result.lost = len(accepted - stored)
    result.unmarked = len(accepted - marked)
    result.events = _Events.received
    return result


def report(r: ModeResult, *, rate: float, seconds: float, replicas: int, replay: str) -> None:
    print(
        f"== {r.mode}: {replicas} replica(s), {rate:.0f} req/s offered for {seconds:.0f} s, "
        f"replay store in {replay}"
    )
    print(f"load average:  {r.load_before:.2f} before, {r.load_after:.2f} after")
    print(f"achieved:      {r.requests / r.elapsed:.1f} req/s sent+answered over {r.elapsed:.1f} s")
    print(f"accepted:      {r.accepted} ({r.accepted / r.elapsed:.1f}/s)")
    if r.latencies_ms.size:
        p50, p99 = np.percentile(r.latencies_ms, [50, 99])
        print(
            f"latency:       p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {r.latencies_ms.max():.0f} ms"
        )
    print(f"errors:        {sum(r.errors.values())} {dict(r.errors) if r.errors else ''}")
    per = 1000 * r.cpu_s / max(r.accepted, 1)
    print(
        f"gateway CPU:   {r.cpu_s:.1f} s, {per:.1f} ms per accepted request "
        f"(ceiling on 2 quiet cores: {2000 / per if per else 0:.0f} req/s)"
    )
    client = 1000 * r.client_cpu_s / max(r.requests, 1)
    print(f"client CPU:    {r.client_cpu_s:.1f} s, {client:.1f} ms per request sent")
    print(f"events posted: {r.events}")
    if r.mode == "inbox":
        print(f"fold lag:      {r.fold_lag_s:.2f} s from the last answer to an empty inbox")
    print(f"not in ledger: {r.unmarked}")
    print(f"talks lost:    {r.lost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replicas", type=int, default=2, help="gateway processes")
    parser.add_argument("--mode", choices=("both", "commit", "inbox"), default="both")
    parser.add_argument(
        "--replay",
        choices=("redis", "lake"),
        default="redis",
        help="the shared replay store: a real redis-server (as in production) or the lake",
    )
    args = parser.parse_args()
    # A SIGTERM (e.g. from `timeout`) unwinds through `finally`, so the gateways stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    modes = ["commit", "inbox"] if args.mode == "both" else [args.mode]
    with contextlib.ExitStack() as stack:
        redis_url = None
        if args.replay == "redis":
            from tests.redis_server import redis_server

            redis_url = stack.enter_context(redis_server())
        results = []
        for mode in modes:
            result = run_mode(
                mode,
                rate=args.rate,
                seconds=args.seconds,
                replicas=args.replicas,
                redis_url=redis_url,
            )
            report(
                result,
                rate=args.rate,
                seconds=args.seconds,
                replicas=args.replicas,
                replay=args.replay,
            )
            results.append(result)
    sys.exit(1 if any(r.lost or r.unmarked for r in results) else 0)


if __name__ == "__main__":
    main()
