"""Counts and recommendations follow a post within seconds, from the warm executor alone.

Real: a Prefect server with the deployments of prefect.yaml, the warm executor
(`deployments/warm_executor.py`, its refresher `deployments/warm_derived.py` inside), the
gateway, the lake, the MiniLM tagger and the card backend, each its own process, started as
`podium up` starts them, but with NO process worker: nothing can run an `aggregate-tags` or
`build-recommendations` run, so whatever updates counts and recommendations is the warm path.
The only input is signed webhook posts.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from deployments.local_stack import WARM_POOL, WARM_QUEUE, LocalStack, warm_executor_env
from podium.demo import SAMPLE_DIR, load_directory
from podium.gateway.signatures import signed_headers
from podium.lake import Lake
from podium.lake import recommendations as tables
from podium.tag_counts import counted_versions, read_tag_counts
from podium.use_cases.recommend import RECOMMENDATION_SOURCES
from tests.local_stacks import quiet_stack, stack_settings
from tests.prefect_server import free_port

pytestmark = pytest.mark.e2e

TALKS = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:6]
# Loose on a shared, loaded machine; bench/lag.py measures the real figures.
COUNTS_WITHIN_S = 30.0
RECS_WITHIN_S = 45.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    home = tmp_path_factory.mktemp("podium-warm-derived")
    settings = stack_settings(home, "derived-secret")
    load_directory(lake=Lake.from_settings(settings))  # vocabulary and events
    stack = quiet_stack(settings)
    try:
        stack.start_server()
        stack.create_pools()
        stack.deploy()
        stack._spawn(
            "warm-executor",
            [sys.executable, "-m", "deployments.warm_executor", "--pool", WARM_POOL,
             "--queue", WARM_QUEUE, "--probe-port", str(free_port())],
            extra_env=warm_executor_env(settings),
        )  # fmt: skip
        stack.start_gateway()
        yield stack
    finally:
        stack.down()


def _post(stack: LocalStack, talk: dict) -> None:
    raw = json.dumps(talk, ensure_ascii=False).encode()
    answer = httpx.post(
        f"{stack.gateway_url}/hooks/talks",
        content=raw,
        headers=signed_headers(raw, "derived-secret"),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def _until(condition, timeout_s: float, what: str, stack: LocalStack) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.25)
    log = stack.home / "logs" / "warm-executor.log"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}\nwarm executor log:\n{tail}")


def _runs(stack: LocalStack, body: dict) -> list[dict]:
    return httpx.post(f"{stack.api_url}/flow_runs/filter", json=body, timeout=60).json()


def test_counts_and_recommendations_follow_without_a_cpu_worker(stack: LocalStack) -> None:
    lake = Lake.from_settings(stack.settings)
    ids = [t["talk_id"] for t in TALKS]
    for talk in TALKS:
        _post(stack, talk)

    def tagged() -> bool:
        state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
        return int(((state.stage == "tags") & (state.status == "done")).sum()) == len(ids)

    _until(tagged, 600, "every talk tagged (the executor loads its models first)", stack)
    holding = lake.version("talk_tags")  # a talk_tags version with every talk's tags
    assert holding is not None

    def counted() -> bool:
        version = (counted_versions(lake=lake) or {}).get("talk_tags")
        return version is not None and version >= holding

    def recommended() -> bool:
        if not lake.exists("recommendations"):
            return False
        marked = tables.read_recommendations_bookmark(lake=lake, sources=RECOMMENDATION_SOURCES)
        version = (marked or {}).get("talk_tags")
        return version is not None and version >= holding

    counts_s = _until(counted, COUNTS_WITHIN_S, "tag counts including every talk", stack)
    recs_s = _until(recommended, RECS_WITHIN_S, "recommendations from those counts", stack)
    print(f"after the last talk was tagged: counts {counts_s:.1f} s, recs {recs_s:.1f} s")

    # The counts are right, and the recommendations serve the sample's events.
    tags = lake.read("talk_tags", where=[("talk_id", "in", ids)])
    overall = read_tag_counts(lake=lake).set_index("tag")["talks"]
    for tag, talks in tags.groupby("tag")["talk_id"].nunique().items():
        assert overall[tag] >= talks
    assert not tables.read_recommendations(lake=lake, columns=["event_id"]).empty

    # No cold run did it: nothing of aggregate-tags or build-recommendations ever started.
    deployments = httpx.post(f"{stack.api_url}/deployments/filter", json={}, timeout=60).json()
    cold = [
        d["id"] for d in deployments if d["name"] in ("aggregate-tags", "build-recommendations")
    ]
    started = _runs(stack, {"flow_runs": {"deployment_id": {"any_": cold},
                                          "start_time": {"is_null_": False}}})  # fmt: skip
    assert len(cold) == 2 and isinstance(started, list), started
    assert started == [], [r["name"] for r in started]
    # The warm refreshes are flow runs in the UI, named by what they did (recorded after the
    # commit, by a thread of their own: seconds later on a busy server).
    found: list[dict] = []

    def recorded() -> bool:
        completed = {"state": {"type": {"any_": ["COMPLETED"]}}}
        warm = {"name": {"any_": ["counts-recommendations-warm"]}}
        runs = _runs(stack, {"flows": warm, "flow_runs": completed})
        found[:] = runs if isinstance(runs, list) else []
        return bool(found)

    _until(recorded, 120, "a completed counts-recommendations-warm run", stack)
    runs = found
    assert isinstance(runs, list) and runs, f"no counts-recommendations-warm run: {runs}"
    assert any(" talks counted, " in r["name"] or " talk counted, " in r["name"] for r in runs), [
        r["name"] for r in runs
    ]
