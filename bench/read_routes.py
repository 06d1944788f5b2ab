"""Read routes under load: today's (the lake read on every request) against the version-
following cache, side by side on the same lake.

    python bench/read_routes.py                                    # 100k talks, 1,000 events
    python bench/read_routes.py --talks 2000 --events 50 --seconds 3   # the suite's tiny run

The lake: synthetic talks (bench/recommend.py's generator), each event's 10 recommendations
and each talk's 5 related talks written through their owner. The gateway runs as `podium
gateway` in its own process, once with `PODIUM_GATEWAY__READ_CACHE_S=0` (today: every request
reads Delta), once with the read index (the cache's first index built before the load), and
once more with the index while another process records a talk every --write-every seconds (the
talks' version moves, so the poller keeps updating the index). 16 keep-alive clients in their
own process (bench/_http_load.py: raw asyncio, latency stamped before the request is written)
ask for random events' recommendations and random talks' related talks, half each, for
--seconds. Printed: requests per second, p50/p95/p99 latency, errors, the gateway process's
CPU time per request (what a request costs whatever else runs: on a shared machine wall-clock
figures mostly measure the other work) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from podium.lake import Lake  # noqa: E402
from podium.lake.recommendations import write_recommendations, write_related  # noqa: E402

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def build_lake(root: Path, talks: int, events: int) -> tuple[list[str], list[str]]:
    """A lake of synthetic talks and events with recommendation and related-talk tables."""
    from bench.recommend import synthetic_data

    lake = Lake(str(root))
    synthetic_data(lake, talks, events, dim=32)
    talk_ids = sorted(lake.read("talks", columns=["talk_id"])["talk_id"])
    event_ids = sorted(lake.read("events", columns=["event_id"])["event_id"])
    rng = np.random.default_rng(3)
    picks = rng.integers(0, len(talk_ids), size=(len(event_ids), 10))
    ids = np.asarray(talk_ids, dtype=object)
    write_recommendations(
        lake=lake,
        rows=_ranked_lists(
            "event_id",
            event_ids,
            "talk_id",
            ids[picks],
            lowest=0.5,
            matched_tags=[["tag-0001"]] * picks.size,
            components='{"semantic": 0.5, "tag_overlap": 0.5}',
            model_version="synthetic",
        ),
        row_group_rows=1024,
    )
    others = rng.integers(0, len(talk_ids), size=(len(talk_ids), 5))
    write_related(
        lake=lake, rows=_ranked_lists("talk_id", ids, "other_id", ids[others], lowest=0.6)
    )
    return talk_ids, event_ids


def _ranked_lists(
    owner: str, owners: Any, item: str, items: np.ndarray, *, lowest: float, **columns: Any
) -> pd.DataFrame:
    """One ranked list per owner (`items`: owners x k), scores falling from 0.9 to `lowest`."""
    k = items.shape[1]
    return pd.DataFrame(
        {
            owner: np.repeat(owners, k),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(owners)),
            item: items.ravel(),
            "score": np.tile(np.linspace(0.9, lowest, k), len(owners)),
            **columns,
            "computed_at": NOW,
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(lake: Path, home: Path, cache_s: float) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env.update(
        PODIUM_LAKE__URL=str(lake),
        PODIUM_HOME=str(home),
        PODIUM_GATEWAY__PORT=str(port),
        PODIUM_GATEWAY__READ_CACHE_S=str(cache_s),
        PODIUM_PREFECT__API_URL="http://127.0.0.1:9/api",  # not needed by read routes
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "podium", "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the gateway did not start")


def load(url: str, paths: list[str], *, clients: int, seconds: float, folder: Path) -> dict:
    """Run the lean load generator (bench/_http_load.py) in its own process: its per-request
    cost is a few tens of microseconds, so on a 2-core machine it leaves the server its core."""
    listed = folder / "paths.txt"
    listed.write_text("\n".join(paths) + "\n")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "_http_load.py"),
            url,
            str(listed),
            "--clients",
            str(clients),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    result["errors"] = sum(n for code, n in result["statuses"].items() if code != "200")
    return result


def prime(url: str, paths: list[str], *, cached: bool) -> None:
    """Warm the process: a few requests; with the cache, wait for its first index (answers
    carry an ETag only from the index)."""
    deadline = time.monotonic() + 600
    with httpx.Client(base_url=url, timeout=120) as http:
        for path in paths[:32]:
            http.get(path)
        while cached and "etag" not in http.get(paths[0]).headers:
            if time.monotonic() > deadline:
                raise RuntimeError("the read cache built no index in 10 minutes")
            time.sleep(0.2)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used: what a request costs the server,
    whatever else the shared machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WRITER = """
import sys, time
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
lake, every = Lake(sys.argv[1]), float(sys.argv[2])
while True:
    talk = Talk(talk_id=f"bench-write-{time.time_ns()}", title="Recorded during the load")
    record_talks(lake=lake, talks=[talk])
    print("written", flush=True)
    time.sleep(every)
"""


def measure(
    lake: Path,
    home: Path,
    paths: list[str],
    *,
    cache_s: float,
    clients: int,
    seconds: float,
    write_every: float = 0.0,
) -> dict[str, Any]:
    process, url = start_gateway(lake, home, cache_s)
    writer = None
    try:
        started = time.perf_counter()
        prime(url, paths, cached=cache_s > 0)
        ready_s = time.perf_counter() - started
        if write_every > 0:  # a talk recorded every so often: the talks' version moves
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(lake), str(write_every)],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        before = os.getloadavg()
        cpu_before = _cpu_seconds(process.pid)
        result = load(url, paths, clients=clients, seconds=seconds, folder=lake.parent)
        if writer is not None:
            writer.terminate()
            result["writes"] = writer.communicate(timeout=60)[0].count("written")
        result["ready_s"] = ready_s
        result["server_cpu_ms"] = (
            (_cpu_seconds(process.pid) - cpu_before) * 1000 / max(result["requests"], 1)
        )
        result["load"] = (before, os.getloadavg())
        return result
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--talks", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--lake", type=str, default=None, help="reuse (or keep) this lake")
    parser.add_argument(
        "--write-every",
        type=float,
        default=2.0,
        help="a third run: the cache while a talk is recorded every this many seconds (0: none)",
    )
    args = parser.parse_args()

    root = Path(args.lake) if args.lake else Path(tempfile.mkdtemp(prefix="podium-reads-"))
    lake_dir, home = root / "lake", root / "home"
    try:
        started = time.perf_counter()
        if (lake_dir / "tables" / "related_talks").exists():
            lake = Lake(str(lake_dir))
            talk_ids = sorted(lake.read("talks", columns=["talk_id"])["talk_id"])
            event_ids = sorted(lake.read("events", columns=["event_id"])["event_id"])
        else:
            talk_ids, event_ids = build_lake(lake_dir, args.talks, args.events)
        print(
            f"== {len(talk_ids):,} talks, {len(event_ids):,} events; lake ready in "
            f"{time.perf_counter() - started:.1f} s; {args.clients} clients, {args.seconds:g} s "
            f"each; {os.cpu_count()} CPUs (shared machine)",
            flush=True,
        )
        rng = np.random.default_rng(5)
        some_talks = [talk_ids[i] for i in rng.integers(0, len(talk_ids), size=2_000)]
        paths = [f"/events/{e}/recommendations" for e in event_ids] + [
            f"/talks/{t}/related" for t in some_talks[: len(event_ids)]
        ]
        paths = [paths[i] for i in rng.permutation(len(paths))]
        runs = [("today (reads Delta per request)", 0.0, 0.0), ("version cache", 1.0, 0.0)]
        if args.write_every > 0:
            runs.append(
                (f"version cache, a talk every {args.write_every:g} s", 1.0, args.write_every)
            )
        for name, cache_s, write_every in runs:
            r = measure(
                lake_dir,
                home,
                paths,
                cache_s=cache_s,
                clients=args.clients,
                seconds=args.seconds,
                write_every=write_every,
            )
            (b1, b5, _), (a1, a5, _) = r["load"]
            print(
                f"{name:34s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p95 "
                f"{r['p95_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  {r['requests']:,} requests, "
                f"{r['errors']} errors  ready in {r['ready_s']:.1f} s  "
                f"server CPU {r['server_cpu_ms']:.2f} ms/request "
                f"(~{1000 / max(r['server_cpu_ms'], 1e-9):,.0f} req/s per core)  "
                f"load average {b1:.1f}/{b5:.1f} before, {a1:.1f}/{a5:.1f} after"
                + (f"  ({r['writes']} talks recorded meanwhile)" if "writes" in r else ""),
                flush=True,
            )
    finally:
        if not args.lake:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
