"""The warm executor runs queued flow runs in its own process, models loaded once.

Real: a Prefect server (the session fixture), a work pool and queue, a deployment of the real
`enrich-warm` flow, flow runs created through the API, the lake, the MiniLM tagger and the card
backend. Nothing is faked: the executor polls and claims exactly as in `podium up`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.states import Pending

from deployments.warm_executor import CLAIMED_BY, WarmExecutor, preload
from flows.warm import enrich_warm
from podium import warm_models
from podium.demo import SAMPLE_DIR
from podium.ingest import record_talks
from podium.lake import Lake
from podium.models import Talk
from podium.vocabulary import read_vocabulary_file, save_vocabulary

TALKS = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))


@pytest.fixture
def queue(prefect_server: str):  # noqa: ANN201
    """A fresh pool with the enrich-warm deployment on its `warm` queue."""
    pool = f"warm-test-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = client.create_flow(enrich_warm)
        deployment_id = client.create_deployment(
            flow_id=flow_id,
            name="enrich-warm",
            work_pool_name=pool,
            work_queue_name="warm",
            entrypoint="flows/warm.py:enrich_warm",
        )
        yield client, pool, deployment_id


def _states(client, ids) -> list[str]:  # noqa: ANN001
    return [client.read_flow_run(i).state.type.value for i in ids]


def test_runs_are_claimed_and_run_in_process_with_models_loaded_once(queue, settings) -> None:
    client, pool, deployment_id = queue
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    preload()  # what the executor does at start, before it serves
    loads_before = warm_models.loads()
    executor = WarmExecutor(pool=pool, queue="warm")

    # A burst: talks recorded by the gateway, one run per event window.
    first = [Talk.model_validate(t) for t in TALKS[:6]]
    record_talks(lake=lake, talks=first)
    runs = [
        client.create_flow_run_from_deployment(deployment_id, parameters={"talk_ids": ids}).id
        for ids in ([t.talk_id for t in first[:3]], [t.talk_id for t in first[3:]])
    ]
    assert executor.poll_once(client) == 2
    assert _states(client, runs) == ["COMPLETED", "COMPLETED"]
    state = lake.read("enrichment_state")
    assert set(state[state.status == "done"].talk_id) == {t.talk_id for t in first}
    recorded = lake.read("enrich_runs")
    # The first run took the whole burst; the second found nothing and recorded nothing.
    assert list(recorded.talks_tagged) == [6] and list(recorded.model_loads) == [0]
    assert executor.folded == 1, "the second run found nothing and skipped the engine"

    # The next submission: no model load, same process.
    second = [Talk.model_validate(t) for t in TALKS[6:8]]
    record_talks(lake=lake, talks=second)
    run = client.create_flow_run_from_deployment(deployment_id, parameters={"talk_ids": []}).id
    assert executor.poll_once(client) == 1
    assert _states(client, [run]) == ["COMPLETED"]
    assert warm_models.loads() == loads_before, "no model load on the hot path"
    assert set(lake.read("talk_tags").talk_id) >= {t.talk_id for t in first + second}


def test_a_run_claimed_elsewhere_is_left_alone(queue, settings) -> None:
    client, pool, deployment_id = queue
    run = client.create_flow_run_from_deployment(deployment_id, parameters={"talk_ids": []}).id
    # Another executor (or worker) got there first: it moved the run to PENDING.
    client.set_flow_run_state(run, Pending())
    assert WarmExecutor(pool=pool, queue="warm").poll_once(client) == 0
    assert _states(client, [run]) == ["PENDING"]


def _wait_state(client, run_id, wanted: str, timeout_s: float) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = client.read_flow_run(run_id).state.type.value
        if state == wanted:
            return state
        time.sleep(0.05)
    return state


def test_a_run_whose_executor_was_killed_is_marked_crashed(queue, settings) -> None:
    client, pool, deployment_id = queue
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    record_talks(lake=lake, talks=[Talk.model_validate(t) for t in TALKS])
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    # A real executor process (heartbeats every second), killed mid-run: while its first run
    # loads the models and tags the sample directory.
    executor = subprocess.Popen(
        [sys.executable, "-m", "deployments.warm_executor", "--pool", pool, "--queue", "warm",
         "--heartbeat", "1", "--stale", "4", "--no-preload"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        run = client.create_flow_run_from_deployment(deployment_id, parameters={}).id
        assert _wait_state(client, run, "RUNNING", 240) == "RUNNING"
        executor.send_signal(signal.SIGKILL)
        executor.wait(30)
    finally:
        if executor.poll() is None:
            executor.kill()
            executor.wait(30)
    killed_at = time.monotonic()
    assert client.read_flow_run(run).state.type.value == "RUNNING", "left running by the kill"

    # A run claimed by another executor that is alive (it sends heartbeats) is left alone.
    other = client.create_flow_run_from_deployment(deployment_id, parameters={}).id
    client.set_flow_run_state(other, Pending(message=CLAIMED_BY + "warm-alive"))
    client.send_worker_heartbeat(work_pool_name=pool, worker_name="warm-alive")
    # Judged against a long staleness first (a busy machine may take seconds to get here),
    # then against 4 s once that much has surely passed since the kill.
    patient = WarmExecutor(pool=pool, queue="warm", heartbeat_s=1, stale_s=600)
    assert patient.sweep(client) == [], "the killed one's last heartbeat is still recent"
    sweeper = WarmExecutor(pool=pool, queue="warm", heartbeat_s=1, stale_s=4)
    time.sleep(max(0.0, 4.5 - (time.monotonic() - killed_at)))
    client.send_worker_heartbeat(work_pool_name=pool, worker_name="warm-alive")
    assert sweeper.sweep(client) == [run]
    state = client.read_flow_run(run).state
    assert state.type.value == "CRASHED" and "stopped sending heartbeats" in state.message
    assert _states(client, [other]) == ["PENDING"]
