"""Burst benchmark: post N talks to the gateway at once and time the event-driven pipeline.

Starts the embedded default in a temp folder (Prefect server, deployments, workers, gateway),
posts N signed talks one request each from a few client threads, and waits until every talk is
tagged and has a cover. Prints post->tagged latency (p50, p95, max), end-to-end talks/second,
flow runs created per deployment, and model loads.

    .venv/bin/python bench/burst.py --talks 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployments.local_stack import LocalStack, stop_on_sigterm  # noqa: E402
from podium.demo import SAMPLE_DIR, load_directory  # noqa: E402
from podium.gateway.signatures import signed_headers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tests.prefect_server import free_port  # noqa: E402

PYVIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "pyvideo" / "talks.jsonl.gz"


def make_talks(n: int) -> list[dict]:
    """N distinct talks: real pyvideo talks when the shared data is there, else the samples."""
    talks: list[dict] = []
    if PYVIDEO.is_file():
        with gzip.open(PYVIDEO, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if not row.get("title"):
                    continue
                talks.append(
                    {
                        "talk_id": f"burst-{len(talks):05d}",
                        "title": row["title"][:300],
                        "description": (row.get("description") or "")[:20000],
                        "speakers": [s for s in row.get("speakers") or [] if s][:5],
                        "tags": [t for t in row.get("tags") or [] if t and len(t) <= 80][:3],
                    }
                )
                if len(talks) == n:
                    return talks
    samples = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))
    while len(talks) < n:
        base = samples[len(talks) % len(samples)]
        talks.append(
            {
                **base,
                "talk_id": f"burst-{len(talks):05d}",
                "title": f"{base['title']} ({len(talks)})",
            }
        )
    return talks


def flow_run_counts(api_url: str) -> dict[str, int]:
    deployments = httpx.post(f"{api_url}/deployments/filter", json={}).json()
    counts = {}
    for d in deployments:
        response = httpx.post(
            f"{api_url}/flow_runs/count",
            json={"flow_runs": {"deployment_id": {"any_": [d["id"]]}}},
        )
        counts[d["name"]] = int(response.json())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8, help="concurrent posting threads")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="podium-burst-"))
    settings = Settings(
        home=home,
        lake={"url": str(home / "lake")},
        gateway={"port": free_port(), "secret": "bench-secret"},
    )
    stack = LocalStack(settings, server_port=free_port(), say=lambda m: print(f"• {m}"))
    stop_on_sigterm()
    stack.up()
    try:
        lake = Lake.from_settings(settings)
        load_directory(lake=lake)
        talks = make_talks(args.talks)
        posted_at: dict[str, datetime] = {}

        def post(talk: dict) -> None:
            body = json.dumps(talk, ensure_ascii=False).encode()
            response = httpx.post(
                f"{stack.gateway_url}/hooks/talks",
                content=body,
                headers=signed_headers(body, "bench-secret"),
                timeout=60,
            )
            response.raise_for_status()
            posted_at[talk["talk_id"]] = datetime.now(UTC)

        start = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(post, talks))
        post_s = time.monotonic() - start
        print(f"posted {len(talks)} talks in {post_s:.1f} s ({len(talks) / post_s:.1f} req/s)")
        ids = [t["talk_id"] for t in talks]
        while True:
            state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
            done = state[state.status == "done"]
            if len(done) == 2 * len(ids):
                break
            if time.monotonic() - start > args.timeout:
                raise SystemExit(f"timed out: {len(done)}/{2 * len(ids)} stages done")
            time.sleep(1)
        total_s = time.monotonic() - start
        tagged = done[done.stage == "tags"].set_index("talk_id").updated_at
        latency = np.array([(tagged[i] - posted_at[i]).total_seconds() for i in ids])
        # The enrich run records itself after its last ledger write: wait for that record.
        while True:
            runs = lake.read("enrich_runs")
            if runs.talks_tagged.sum() >= len(ids) or time.monotonic() - start > args.timeout:
                break
            time.sleep(1)
        counts = flow_run_counts(stack.api_url)
        print(f"\ntalks                     {len(ids)}")
        print(f"post -> tagged  p50       {np.percentile(latency, 50):.1f} s")
        print(f"post -> tagged  p95       {np.percentile(latency, 95):.1f} s")
        print(f"post -> tagged  max       {latency.max():.1f} s")
        print(f"end to end (tags+covers)  {total_s:.1f} s, {len(ids) / total_s:.2f} talks/s")
        print(f"flow runs created         {sum(counts.values())} {counts}")
        working = runs[runs.talks_tagged + runs.talks_imaged > 0]
        print(
            f"enrich runs with work     {len(working)} (talks per run: "
            f"{list(working.sort_values('started_at').talks_tagged)})"
        )
        print(
            f"model loads               {int(runs.model_loads.sum())} "
            f"(tagger + cover backend per working run)"
        )
    finally:
        stack.down()


if __name__ == "__main__":
    main()
