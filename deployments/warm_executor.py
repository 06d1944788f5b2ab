"""The warm executor: runs the flow runs of one work queue in this process, models loaded once.

A process worker starts a fresh interpreter per flow run (seconds of imports, then a model load);
this executor polls its queue like a worker does, claims each due run with the same PENDING
transition workers use (two executors never run the same run), and runs it in process with the
Prefect engine, so the run, its tasks, logs and artifacts are in the UI as usual. Runs created
while no executor listens stay `Scheduled` in the server's database and are run when one starts;
scaling out is starting more executors on the queue, on more hosts.

Between runs the executor refreshes the tagger's history in the background (`warm_models`),
so a run starts with the history and the tagger's calibration ready. A run that finds nothing
pending (folded into an earlier run of the same burst) is completed at once, without the
engine. Each executor names itself per process and sends worker heartbeats from a thread (also
while a run works); the claim's PENDING state names the executor. An executor killed mid-run
leaves its run RUNNING: every executor, at start and every `SWEEP_S`, marks the runs of its
queue whose claiming executor stopped sending heartbeats as CRASHED (its talks were already
taken again by the ledger's lease and the safety net).

    python -m deployments.warm_executor --pool podium-gpu --queue warm
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

logger = logging.getLogger("podium.warm")

# Flows this executor may run, by flow name; runs of any other flow in the queue are left alone.
FLOWS = {"enrich-warm": ("flows.warm", "enrich_warm")}
HEARTBEAT_S = 10.0
# An executor silent for this long is gone: the heartbeat thread runs during flow runs too, so
# only a dead process (or a server too slow to take six beats in a row) misses this many.
STALE_S = 6 * HEARTBEAT_S
SWEEP_S = 30.0
CLAIMED_BY = "claimed by warm executor "


# Flows whose run only drains pending talks: a run that finds none has nothing to do.
FOLDABLE = {"enrich-warm": True}


def _pending_work() -> bool:
    """Whether any talk has a stage still to do (the ledger's one definition of pending)."""
    from podium.enrichment import outstanding
    from tasks.resources import flow_resources

    resources = flow_resources()
    max_attempts = resources.settings.enrich.max_attempts
    return bool(outstanding(lake=resources.lake, max_attempts=max_attempts))


def _flow(name: str) -> Any:
    import importlib

    module, attribute = FLOWS[name]
    return getattr(importlib.import_module(module), attribute)


def preload() -> int:
    """Load the models of every served flow now, off the hot path, and warm them up on a
    throwaway talk (first forward pass, the vocabulary's label vectors, fonts); nothing is
    written. Returns the models loaded."""
    from podium import warm_models
    from podium.models import Talk
    from podium.vocabulary import VocabularyError, load_vocabulary
    from tasks.resources import flow_resources

    # The process's one lake: the warm history refreshed here is the one the runs read.
    resources = flow_resources()
    settings, lake = resources.settings, resources.lake
    tagger, tagger_loads = warm_models.tagger(settings)
    backend, backend_loads = warm_models.image_backend(settings)
    talk = Talk(talk_id="warm-up", title="Warming up the models", description="A warm-up.")
    try:
        vocabulary = load_vocabulary(lake=lake)
    except VocabularyError:
        vocabulary = None  # the first run computes the label vectors instead
    if vocabulary is not None:
        tagger.tag([talk], vocabulary=vocabulary, history=None)
        # The history once, and the tagger's calibration on it: off the hot path.
        warm_models.refresh_history(settings, lake)
    if backend.name == "card":  # a diffusion warm-up would cost a whole image
        backend.render([talk], tags={})
    return tagger_loads + backend_loads


class WarmExecutor:
    """Polls `queue` of `pool` and runs due flow runs of `FLOWS` one at a time, in process."""

    def __init__(
        self,
        *,
        pool: str,
        queue: str,
        poll_s: float = 0.5,
        name: str = "",
        heartbeat_s: float = HEARTBEAT_S,
        stale_s: float = STALE_S,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.poll_s = poll_s
        # One name per process: the sweep tells a dead executor from a live one by it.
        self.name = name or (
            f"warm-{socket.gethostname()}-{pool}-{queue}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.heartbeat_s, self.stale_s = heartbeat_s, stale_s
        self.stopping = threading.Event()
        self.runs = 0
        self.folded = 0
        self._flow_names: dict[Any, str] = {}
        self._last_sweep = 0.0
        self._beating: threading.Thread | None = None

    def _flow_name(self, client: Any, flow_id: Any) -> str:
        if flow_id not in self._flow_names:
            self._flow_names[flow_id] = client.read_flow(flow_id).name
        return self._flow_names[flow_id]

    def heartbeat(self, client: Any) -> None:
        """One worker heartbeat: shows the executor under the pool's workers, alive."""
        client.send_worker_heartbeat(
            work_pool_name=self.pool,
            worker_name=self.name,
            heartbeat_interval_seconds=self.heartbeat_s,
        )

    def start_heartbeats(self) -> None:
        """Send heartbeats from a thread until `stopping`, through runs as long as they last."""
        from prefect.client.orchestration import get_client

        def beat() -> None:
            with get_client(sync_client=True) as client:
                while not self.stopping.is_set():
                    try:
                        self.heartbeat(client)
                    except Exception:  # noqa: BLE001 - a missed beat is retried next time
                        logger.warning("heartbeat of %s failed", self.name, exc_info=True)
                    self.stopping.wait(self.heartbeat_s)

        self._beating = threading.Thread(target=beat, name="warm-heartbeat", daemon=True)
        self._beating.start()

    def sweep(self, client: Any) -> list[Any]:
        """Mark CRASHED the runs of this queue left RUNNING/PENDING by a dead executor.

        A run's claimer is named in its PENDING state; it is dead when it is not among the
        pool's workers or its last heartbeat is older than `stale_s`. Returns the runs marked.
        """
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
            WorkPoolFilter,
            WorkPoolFilterName,
            WorkQueueFilter,
            WorkQueueFilterName,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.states import Crashed

        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                )
            ),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool])),
            work_queue_filter=WorkQueueFilter(name=WorkQueueFilterName(any_=[self.queue])),
        )
        if not runs:
            return []
        now = datetime.now(UTC)
        alive = {
            w.name
            for w in client.read_workers_for_work_pool(work_pool_name=self.pool)
            if w.last_heartbeat_time
            and now - w.last_heartbeat_time < timedelta(seconds=self.stale_s)
        }
        alive.add(self.name)
        crashed = []
        for run in runs:
            claims = [
                s.message[len(CLAIMED_BY) :]
                for s in client.read_flow_run_states(run.id)
                if s.type == StateType.PENDING and (s.message or "").startswith(CLAIMED_BY)
            ]
            if not claims or claims[-1] in alive:
                continue  # not ours to judge, or its executor is alive
            message = (
                f"warm executor {claims[-1]} stopped sending heartbeats (over {self.stale_s:.0f} s)"
                "; its talks are taken again by the ledger's lease and the enrich safety net"
            )
            result = client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            logger.warning("%s: marked CRASHED (%s)", run.name, result.status.value)
            crashed.append(run.id)
        return crashed

    def poll_once(self, client: Any) -> int:
        """Run every due run of the queue (oldest first); returns how many ran here."""
        if self._beating is None:
            self.heartbeat(client)  # a caller without the heartbeat thread (tests)
        if time.monotonic() - self._last_sweep >= SWEEP_S:
            self._last_sweep = time.monotonic()
            self.sweep(client)
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
        from prefect.states import Completed, Pending, Running

        name = self._flow_name(client, flow_run.flow_id)
        if name not in FLOWS:
            return False
        # The claim: the server accepts PENDING once, so another executor (or worker) loses it.
        claim = client.set_flow_run_state(flow_run.id, Pending(message=CLAIMED_BY + self.name))
        if claim.status != SetStateStatus.ACCEPT:
            return False
        started = time.monotonic()
        if FOLDABLE.get(name) and not _pending_work():
            # Folded: an earlier run of the burst took its talks. Completed without the engine
            # (seconds per run under load), so the next run with work does not wait behind it.
            client.set_flow_run_state(flow_run.id, Running())
            client.set_flow_run_state(
                flow_run.id, Completed(message="nothing pending: folded into an earlier run")
            )
            self.runs += 1
            self.folded += 1
            logger.info("%s %s: nothing pending (folded) in %.2f s", name, flow_run.name,
                        time.monotonic() - started)  # fmt: skip
            return True
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
        """Poll until `stopping` is set (SIGTERM/SIGINT); a run in progress finishes first.

        Between polls the warm history is refreshed in the background when the lake changed
        (at most every `enrich.warm_history_refresh_s`).
        """
        from prefect.client.orchestration import get_client

        from podium import warm_models
        from tasks.resources import flow_resources

        resources = flow_resources()
        settings = resources.settings
        self.start_heartbeats()
        with get_client(sync_client=True) as client:
            while not self.stopping.is_set():
                try:
                    self.poll_once(client)
                    warm_models.refresh_history_soon(
                        settings,
                        min_interval_s=settings.enrich.warm_history_refresh_s,
                        lake=resources.lake,
                    )
                except Exception:  # noqa: BLE001 - a server blip must not end the executor
                    logger.exception("polling %s/%s failed; retrying", self.pool, self.queue)
                    self.stopping.wait(5)
                self.stopping.wait(self.poll_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run flow runs of a work queue in process.")
    parser.add_argument("--pool", default="podium-gpu")
    parser.add_argument("--queue", default="warm")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between polls")
    parser.add_argument(
        "--heartbeat", type=float, default=HEARTBEAT_S, help="seconds between heartbeats"
    )
    parser.add_argument(
        "--stale", type=float, default=STALE_S, help="an executor silent this long is dead"
    )
    parser.add_argument(
        "--no-preload",
        action="store_true",
        help="serve at once and load the models in the first run (tests; not for the hot path)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll
    executor = WarmExecutor(
        pool=args.pool,
        queue=args.queue,
        poll_s=args.poll,
        heartbeat_s=args.heartbeat,
        stale_s=args.stale,
    )

    def stop(*_: object) -> None:
        executor.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.monotonic()
    loads = 0 if args.no_preload else preload()
    logger.info("models loaded (%d) in %.1f s; serving %s/%s as %s", loads,
                time.monotonic() - started, args.pool, args.queue, executor.name)  # fmt: skip
    executor.serve()
    logger.info("stopped after %d runs (%d folded)", executor.runs, executor.folded)


if __name__ == "__main__":
    main()
