"""End to end, driven only by events: a real Prefect server, the deployments of prefect.yaml,
one process worker per pool and the gateway, all started by `LocalStack` as `podium up` does.

Real: every process, HTTP, the lake, the MiniLM tagger and the card backend. Nothing starts a
flow by hand: the signed webhook posts are the only input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import psutil
import pytest

from deployments.local_stack import LocalStack
from podium.demo import SAMPLE_DIR, load_directory
from podium.gateway.signatures import signed_headers
from podium.lake import Lake
from tests.local_stacks import quiet_stack, stack_settings
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

TALKS = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:8]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    home = tmp_path_factory.mktemp("podium-e2e")
    stack = quiet_stack(stack_settings(home, "e2e-secret"))
    stack.up()
    try:
        yield stack
    finally:
        pids = [p.pid for p in stack.processes.values()]
        stack.down()
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert not alive, f"orphaned processes: {alive}"


def post(stack: LocalStack, body: object, *, secret: str = "e2e-secret") -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return httpx.post(
        f"{stack.gateway_url}/hooks/talks",
        content=raw,
        headers=signed_headers(raw, secret),
        timeout=30,
    )


def wait_until(condition, *, timeout_s: float, what: str):  # noqa: ANN001, ANN201
    return wait_for(condition, what, timeout_s, step_s=1)


def test_signed_talks_are_tagged_and_covered_by_events_alone(stack: LocalStack) -> None:
    lake = Lake.from_settings(stack.settings)
    load_directory(lake=lake)

    # A forged signature is refused and nothing is recorded.
    forged = post(stack, {**TALKS[0], "talk_id": "forged"}, secret="not-the-secret")
    assert forged.status_code == 401

    # The directory app posts talks one by one, like speakers submitting them.
    for talk in TALKS[:6]:
        answer = post(stack, talk)
        assert answer.status_code == 200, answer.text
        assert answer.json()["event"] == "accepted"

    # The same talk delivered twice: recorded once, enriched once.
    duplicate = post(stack, TALKS[0])
    assert duplicate.status_code == 200
    assert duplicate.json()["unchanged"] == [TALKS[0]["talk_id"]]
    assert duplicate.json()["event"] == "not_needed"

    # A batch with an invalid record: 422 names it, the valid ones go on.
    bad = {**TALKS[7], "talk_id": "t-bad", "title": ""}
    batch = post(stack, [TALKS[6], bad, TALKS[7]])
    assert batch.status_code == 422
    body = batch.json()
    assert body["accepted"] == [TALKS[6]["talk_id"], TALKS[7]["talk_id"]]
    assert [(r["field"], "t-bad" in r["record"]) for r in body["rejected"]] == [("title", True)]

    ids = [t["talk_id"] for t in TALKS]

    def enriched() -> bool:
        state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
        return bool((state.status == "done").sum() == 2 * len(ids))

    wait_until(enriched, timeout_s=240, what="tags and covers of every valid talk")

    # Every talk was tagged (its stage done, above); a talk with no confident tag and no tags
    # of its own has no row, so the rows cover most talks, never others.
    tags = lake.read("talk_tags", where=[("talk_id", "in", ids)])
    assert set(tags.talk_id) <= set(ids) and len(set(tags.talk_id)) >= len(ids) - 2
    assert not tags.duplicated(["talk_id", "tag"]).any(), "one set of tags per talk"
    images = lake.read("talk_images", where=[("talk_id", "in", ids)])
    assert set(images.talk_id) == set(ids)
    for row in images.itertuples():  # title cards are JPEGs, and their paths say so
        assert row.path.endswith(".jpg") and lake.get_blob(row.path).startswith(b"\xff\xd8\xff")
    recorded = lake.read("talks", columns=["talk_id"])
    assert "forged" not in set(recorded.talk_id) and "t-bad" not in set(recorded.talk_id)

    # Batching: far fewer enrich runs than talks, each loading each model at most once.
    runs = lake.read("enrich_runs")
    working = runs[runs.talks_tagged + runs.talks_imaged > 0]
    assert len(working) < len(ids)
    assert (working.model_loads <= 2).all()
