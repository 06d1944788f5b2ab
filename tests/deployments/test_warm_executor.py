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
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
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
            name=f"enrich-warm-{pool}",  # one per test: the runs counted are this test's
            work_pool_name=pool,
            work_queue_name="warm",
            entrypoint="flows/warm.py:enrich_warm",
        )
        yield client, pool, deployment_id


def _states(client, ids) -> list[str]:  # noqa: ANN001
    return [client.read_flow_run(i).state.type.value for i in ids]


def _submitted(api_url: str, talk_ids: list[str]) -> None:
    """What the gateway posts once the talks are in the lake."""
    from podium.events import EventPoster, make_event

    EventPoster(api_url=api_url).post(
        [make_event("podium.talk.submitted", resource_id=f"podium.talk.{talk_ids[0]}",
                    payload={"talk_ids": talk_ids, "source": "test"})]
    )  # fmt: skip


def _runs(client, deployment_id):  # noqa: ANN001, ANN202
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    )


def _until(condition, timeout_s: float, step=None):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if value := condition():
            return value
        time.sleep(0.05)
    return condition()


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
    # Every talk tagged (its tags stage done; a talk may get no confident tag at all).
    state = lake.read("enrichment_state")
    done = state[(state.stage == "tags") & (state.status == "done")]
    assert set(done.talk_id) == {t.talk_id for t in first + second}


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
    # (created by its ledger check at start) loads the models and tags the sample directory.
    executor = subprocess.Popen(
        [sys.executable, "-m", "deployments.warm_executor", "--pool", pool, "--queue", "warm",
         "--heartbeat", "1", "--stale", "4", "--no-preload"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # The executor finds the pending talks in the ledger at start and runs a run for them.
        started = _until(lambda: _runs(client, deployment_id), 240)
        assert started, "the executor created a run for the talks in the ledger"
        run = started[0].id
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


# -- runs the executor creates itself: the event stream and the ledger (no trigger) ----------


def test_an_event_makes_the_executor_create_and_run_a_run(
    queue, settings, prefect_server: str
) -> None:
    client, pool, deployment_id = queue
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    preload()
    # A long ledger check: only the event can start the run here.
    executor = WarmExecutor(pool=pool, queue="warm", ledger_check_s=3600)
    executor.start_stream()
    try:
        assert executor.stream.connected.wait(60), "the event stream connected"
        executor.step(client)  # the start's ledger check: nothing pending, no run
        assert _runs(client, deployment_id) == []

        talks = [Talk.model_validate(t) for t in TALKS[:2]]
        record_talks(lake=lake, talks=talks)  # the gateway records, then posts the event
        _submitted(prefect_server, [t.talk_id for t in talks])
        assert executor.wake.wait(30), "the event reached the executor"
        assert executor.step(client) == 1
        (run,) = _runs(client, deployment_id)
        assert run.state.type.value == "COMPLETED"
        assert run.parameters == {"talk_ids": [t.talk_id for t in talks]}
        state = lake.read("enrichment_state")
        assert set(state[state.status == "done"].talk_id) == {t.talk_id for t in talks}

        # Events that arrived while the loop was busy (a run working) coalesce into one run.
        later = [Talk.model_validate(t) for t in TALKS[2:8]]
        for pair in (later[:2], later[2:4], later[4:]):
            record_talks(lake=lake, talks=pair)
            _submitted(prefect_server, [t.talk_id for t in pair])
        _until(lambda: len(executor._woken_by) >= 3, 30)
        assert executor.step(client) == 1
        runs = _runs(client, deployment_id)
        assert len(runs) == 2, "three events, one follow-up run"
        follow_up = next(r for r in runs if r.id != run.id)
        assert follow_up.parameters["talk_ids"] == [t.talk_id for t in later]
        assert follow_up.state.type.value == "COMPLETED"
        # Nothing claimable any more: an event replayed or late starts no empty run.
        _submitted(prefect_server, [later[0].talk_id])
        assert executor.wake.wait(30)
        assert executor.step(client) == 0
        assert len(_runs(client, deployment_id)) == 2
    finally:
        executor.stop()


def _executor_process(
    pool: str, root: Path, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(root), **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "deployments.warm_executor", "--pool", pool, "--queue", "warm",
         "--ledger-check", "1", "--poll", "0.5"],
        cwd=root, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_two_executors_share_events_and_the_ledger_without_doing_work_twice(
    queue, settings, prefect_server: str, tmp_path: Path
) -> None:
    client, pool, deployment_id = queue
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    root = Path(__file__).resolve().parents[2]
    # Two real executor processes on the queue (models preloaded), ledger checked every 1 s.
    executors = [_executor_process(pool, root, tmp_path / f"executor-{i}.log") for i in (0, 1)]
    try:
        ready = _until(
            lambda: (
                len(
                    [
                        w
                        for w in client.read_workers_for_work_pool(work_pool_name=pool)
                        if w.name.startswith("warm-")
                    ]  # fmt: skip
                )
                == 2
            ),
            240,
        )
        assert ready, "both executors announced themselves"
        # A talk whose event was lost (the gateway deferred it): the ledger check finds it.
        lost = Talk.model_validate(TALKS[0])
        record_talks(lake=lake, talks=[lost])
        recorded_at = time.monotonic()

        def tagged(ids: set[str]) -> bool:
            state = lake.read("enrichment_state")
            return ids <= set(state[state.status == "done"].talk_id)

        assert _until(lambda: tagged({lost.talk_id}), 60), "the ledger fallback tagged it"
        found_in = time.monotonic() - recorded_at
        assert found_in < 30, f"a lost event costs seconds, not the schedule ({found_in:.1f} s)"

        # Then events: each executor sees each one; one run per event window, claimed once.
        ids = set()
        for talk in TALKS[1:7]:
            record_talks(lake=lake, talks=[Talk.model_validate(talk)])
            _submitted(prefect_server, [talk["talk_id"]])
            ids.add(talk["talk_id"])
            time.sleep(0.2)
        assert _until(lambda: tagged(ids | {lost.talk_id}), 120)
        time.sleep(2)  # any run still starting from the last events
    finally:
        for process in executors:
            process.send_signal(signal.SIGTERM)
        for process in executors:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
    logs = "".join((tmp_path / f"executor-{i}.log").read_text() for i in (0, 1))
    runs = _runs(client, deployment_id)
    assert runs and len(runs) <= 1 + 6, logs
    for run in runs:
        claims = [
            s for s in client.read_flow_run_states(run.id)
            if s.type.value == "PENDING" and (s.message or "").startswith(CLAIMED_BY)
        ]  # fmt: skip
        assert len(claims) == 1, f"{run.name} claimed {len(claims)} times"
        assert run.state.type.value == "COMPLETED", (run.name, run.state)
    state = lake.read("enrichment_state")
    assert (state.status == "done").all()
    assert (state.attempts == 1).all(), "each talk version claimed and tagged once"
    tags = lake.read("talk_tags")
    assert not tags.duplicated(["talk_id", "tag"]).any()
    # Both executors created runs (events reach every executor; the idempotent run goes to one).
    assert "models loaded (2)" in logs and logs.count("models loaded (") == 2


def test_after_a_server_restart_the_stream_reconnects_and_the_ledger_check_finds_the_talk(
    settings, tmp_path: Path
) -> None:
    from urllib.parse import urlparse

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.prefect_server import start_server, stop

    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    preload()
    # A server of its own (the session's must stay up), restarted on its port and database.
    server, api_url = start_server(tmp_path / "prefect")
    port = urlparse(api_url).port
    executor = None
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            pool = f"warm-restart-{uuid.uuid4().hex[:8]}"
            with get_client(sync_client=True) as client:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
                deployment_id = client.create_deployment(
                    flow_id=client.create_flow(enrich_warm),
                    name=f"enrich-warm-{pool}",
                    work_pool_name=pool,
                    work_queue_name="warm",
                    entrypoint="flows/warm.py:enrich_warm",
                )
                # No periodic ledger check: only the reconnect may find the talk.
                executor = WarmExecutor(pool=pool, queue="warm", ledger_check_s=3600)
                executor.start_stream()
                assert executor.stream.connected.wait(60)
                executor.step(client)
            stop(server)  # Prefect goes away: the gateway would answer `event: deferred`
            assert _until(lambda: not executor.stream.connected.is_set(), 30), "drop seen"
            talk = Talk.model_validate(TALKS[0])
            record_talks(lake=lake, talks=[talk])  # recorded, its event never posted
            server, _ = start_server(tmp_path / "prefect", port=port)
            assert executor.stream.connected.wait(60), "the stream reconnected"
            assert executor.stream.connects == 2
            with get_client(sync_client=True) as client:
                assert executor.wake.is_set(), "the reconnect asked for a ledger check"
                assert executor.step(client) == 1
                (run,) = _runs(client, deployment_id)
                assert run.state.type.value == "COMPLETED"
                assert run.parameters == {"talk_ids": [talk.talk_id]}
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)  # the run's logs, while this server is up
        state = lake.read("enrichment_state")
        assert set(state.status) == {"done"}
    finally:
        if executor is not None:
            executor.stop()
        stop(server)


def test_sigterm_during_a_run_stops_the_executor_after_the_run_not_the_run(
    prefect_server: str,
) -> None:
    """The executor runs flows off the main thread, so the engine's SIGTERM bridge (which
    crashes a run in the main thread) is not installed; the executor's own handler is called."""
    import threading

    from prefect import flow
    from prefect.exceptions import TerminationSignal
    from prefect.flow_engine import run_flow

    from deployments.warm_executor import off_main_thread

    @flow(name="terminated-mid-run")
    def terminated_mid_run() -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # what a rolling deploy sends
        time.sleep(1.0)
        return 7

    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        # In the main thread (as before), the engine crashes the run and re-raises.
        with pytest.raises(TerminationSignal):
            run_flow(terminated_mid_run, return_type="state")
        stopping.clear()
        # Off the main thread the run completes and the executor is told to stop.
        state = off_main_thread(run_flow, terminated_mid_run, return_type="state")
        assert state.type.value == "COMPLETED", state
        assert state.result() == 7
        assert stopping.is_set()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_executor_over_its_memory_budget_finishes_the_run_then_exits_to_be_replaced(
    queue, settings, tmp_path: Path
) -> None:
    """`enrich.warm_recycle_rss_mib`: any executor is above 1 MiB, so each recycles after its
    first run: the run completes, the process exits with RECYCLE_EXIT, and a fresh one (what the
    supervisor starts) takes the next talk."""
    from deployments.warm_executor import RECYCLE_EXIT

    client, pool, deployment_id = queue
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    root = Path(__file__).resolve().parents[2]
    budget = {"PODIUM_ENRICH__WARM_RECYCLE_RSS_MIB": "1"}

    def tagged(talk_id: str) -> bool:
        state = lake.read("enrichment_state")
        return talk_id in set(state[state.status == "done"].talk_id)

    for generation, talk in enumerate(TALKS[:2]):
        log = tmp_path / f"executor-{generation}.log"
        record_talks(lake=lake, talks=[Talk.model_validate(talk)])  # found by the ledger check
        process = _executor_process(pool, root, log, budget)
        try:
            assert process.wait(240) == RECYCLE_EXIT, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
        assert tagged(talk["talk_id"]), log.read_text()[-3000:]
        assert "recycling (exit 75" in log.read_text()
    runs = _runs(client, deployment_id)
    assert len(runs) == 2 and {r.state.type.value for r in runs} == {"COMPLETED"}
