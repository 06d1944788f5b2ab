"""The warm executor: runs the flow runs of one work queue in this process, models loaded once.

A process worker starts a fresh interpreter per flow run (seconds of imports, then a model load);
this executor polls its queue like a worker does, claims each due run with the same PENDING
transition workers use (two executors never run the same run), and runs it in process with the
Prefect engine, so the run, its tasks, logs and artifacts are in the UI as usual. Runs created
while no executor listens stay `Scheduled` in the server's database and are run when one starts;
scaling out is starting more executors on the queue, on more hosts.

    python -m deployments.warm_executor --pool podium-gpu --queue warm
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("podium.warm")

# Flows this executor may run, by flow name; runs of any other flow in the queue are left alone.
FLOWS = {"enrich-warm": ("flows.warm", "enrich_warm")}
HEARTBEAT_S = 15.0


def _flow(name: str) -> Any:
    import importlib

    module, attribute = FLOWS[name]
    return getattr(importlib.import_module(module), attribute)


def preload() -> int:
    """Load the models of every served flow now, off the hot path, and warm them up on a
    throwaway talk (first forward pass, the vocabulary's label vectors, fonts); nothing is
    written. Returns the models loaded."""
    from podium import warm_models
    from podium.lake import Lake
    from podium.models import Talk
    from podium.settings import get_settings
    from podium.vocabulary import VocabularyError, load_vocabulary

    settings = get_settings()
    tagger, tagger_loads = warm_models.tagger(settings)
    backend, backend_loads = warm_models.image_backend(settings)
    talk = Talk(talk_id="warm-up", title="Warming up the models", description="A warm-up.")
    try:
        vocabulary = load_vocabulary(lake=Lake.from_settings(settings))
    except VocabularyError:
        vocabulary = None  # the first run computes the label vectors instead
    if vocabulary is not None:
        tagger.tag([talk], vocabulary=vocabulary, history=None)
    if backend.name == "card":  # a diffusion warm-up would cost a whole image
        backend.render([talk], tags={})
    return tagger_loads + backend_loads


class WarmExecutor:
    """Polls `queue` of `pool` and runs due flow runs of `FLOWS` one at a time, in process."""

    def __init__(self, *, pool: str, queue: str, poll_s: float = 0.5, name: str = "") -> None:
        self.pool = pool
        self.queue = queue
        self.poll_s = poll_s
        self.name = name or f"warm-{socket.gethostname()}-{pool}-{queue}"
        self.stopping = threading.Event()
        self.runs = 0
        self._flow_names: dict[Any, str] = {}
        self._last_heartbeat = 0.0

    def _flow_name(self, client: Any, flow_id: Any) -> str:
        if flow_id not in self._flow_names:
            self._flow_names[flow_id] = client.read_flow(flow_id).name
        return self._flow_names[flow_id]

    def _heartbeat(self, client: Any) -> None:
        # Shows the executor under the pool's workers in the UI, like a worker.
        if time.monotonic() - self._last_heartbeat >= HEARTBEAT_S:
            client.send_worker_heartbeat(
                work_pool_name=self.pool, worker_name=self.name, heartbeat_interval_seconds=15
            )
            self._last_heartbeat = time.monotonic()

    def poll_once(self, client: Any) -> int:
        """Run every due run of the queue (oldest first); returns how many ran here."""
        self._heartbeat(client)
        due = client.get_scheduled_flow_runs_for_work_pool(
            work_pool_name=self.pool,
            work_queue_names=[self.queue],
            scheduled_before=datetime.now(UTC),
        )
        ran = 0
        for response in sorted(due, key=lambda r: r.flow_run.next_scheduled_start_time or 0):
            if self.stopping.is_set():
                break
            if self._run(client, response.flow_run):
                ran += 1
        return ran

    def _run(self, client: Any, flow_run: Any) -> bool:
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.responses import SetStateStatus
        from prefect.flow_engine import run_flow
        from prefect.states import Pending

        name = self._flow_name(client, flow_run.flow_id)
        if name not in FLOWS:
            return False
        # The claim: the server accepts PENDING once, so another executor (or worker) loses it.
        claim = client.set_flow_run_state(flow_run.id, Pending())
        if claim.status != SetStateStatus.ACCEPT:
            return False
        started = time.monotonic()
        state = run_flow(
            _flow(name),
            flow_run=client.read_flow_run(flow_run.id),
            parameters=flow_run.parameters,
            return_type="state",
        )
        self.runs += 1
        level = logging.INFO if state.type == StateType.COMPLETED else logging.WARNING
        logger.log(
            level,
            "%s %s: %s in %.2f s",
            name,
            flow_run.name,
            state.type.value,
            time.monotonic() - started,
        )
        return True

    def serve(self) -> None:
        """Poll until `stopping` is set (SIGTERM/SIGINT); a run in progress finishes first."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            while not self.stopping.is_set():
                try:
                    self.poll_once(client)
                except Exception:  # noqa: BLE001 - a server blip must not end the executor
                    logger.exception("polling %s/%s failed; retrying", self.pool, self.queue)
                    self.stopping.wait(5)
                self.stopping.wait(self.poll_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run flow runs of a work queue in process.")
    parser.add_argument("--pool", default="podium-gpu")
    parser.add_argument("--queue", default="warm")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll
    executor = WarmExecutor(pool=args.pool, queue=args.queue, poll_s=args.poll)

    def stop(*_: object) -> None:
        executor.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.monotonic()
    loads = preload()
    logger.info("models loaded (%d) in %.1f s; serving %s/%s as %s", loads,
                time.monotonic() - started, args.pool, args.queue, executor.name)  # fmt: skip
    executor.serve()
    logger.info("stopped after %d runs", executor.runs)


if __name__ == "__main__":
    main()
