"""The warm executor: runs the flow runs of one work queue in this process, models loaded once.

A process worker starts a fresh interpreter per flow run (seconds of imports, then a model load);
this executor runs each run in process with the Prefect engine, so the run, its tasks, logs and
artifacts are in the UI as usual, and no run loads a model.

Where its runs come from (no deployment trigger on the hot path):

- **Events.** A thread listens to the server's event stream for `WAKE_EVENTS`
  (`podium.talk.submitted` from the gateway). An event wakes the loop, which creates a run of
  the deployment itself (in its queue, idempotent per event: executors that see the same event
  create one run), claims it and runs it at once. Events that arrive while a run works are
  coalesced into one follow-up run, started only if the ledger still has claimable talks (the
  running run's drain loop usually took them).
- **The ledger.** At start, after every (re)connect of the stream and every
  `enrich.warm_ledger_check_s`, the executor checks the ledger for claimable talks (cheap: the
  Delta versions first) and starts a run if there are any: a deferred event, a dropped stream
  or a restarted server costs seconds, not the cold `enrich` schedule's two minutes.
- **The queue.** Runs created by others (a run started from the UI) are polled every
  `poll_s` and claimed like a worker does.

Every run is claimed with the same PENDING transition workers use, so two executors never run
the same run; talks are shared by the ledger's claims. A run that finds nothing claimable
(folded into an earlier run) is completed at once, without the engine.

Between runs the executor refreshes the tagger's history in the background (`warm_models`),
so a run starts with the history and the tagger's calibration ready. Each executor names
itself per process and sends worker heartbeats from a thread (also while a run works); the
claim's PENDING state names the executor. An executor killed mid-run leaves its run RUNNING:
every executor, at start and every `SWEEP_S`, marks the runs of its queue whose claiming
executor stopped sending heartbeats as CRASHED (its talks were already taken again by the
ledger's lease).

An executor whose resident memory is above `enrich.warm_recycle_rss_mib` after a run stops
taking work and exits with `RECYCLE_EXIT` (75); its supervisor starts a fresh one. Native memory
of the run path still grows slowly (docs/memory-soak.md): a bounded sawtooth instead of an
out-of-memory kill mid-run at a call-for-papers deadline.

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
from typing import TYPE_CHECKING, Any, cast

from podium import metrics, tracing

if TYPE_CHECKING:
    from prefect import State

logger = logging.getLogger("podium.warm")

# Flows this executor may run, by flow name; runs of any other flow in the queue are left alone.
FLOWS = {"enrich-warm": ("flows.warm", "enrich_warm")}
HEARTBEAT_S = 10.0
# Exit status of an executor that recycled itself (EX_TEMPFAIL): start a fresh one.
RECYCLE_EXIT = 75
# An executor silent for this long is gone: the heartbeat thread runs during flow runs too, so
# only a dead process (or a server too slow to take six beats in a row) misses this many.
STALE_S = 6 * HEARTBEAT_S
SWEEP_S = 30.0
CLAIMED_BY = "claimed by warm executor "


# Flows whose run only drains pending talks: a run that finds none has nothing to do.
FOLDABLE = {"enrich-warm": True}
# The events that wake the executor, per flow it creates runs of.
WAKE_EVENTS = {"enrich-warm": ("podium.talk.submitted",)}
# Talk ids a run's parameters name at most (the run takes every claimable talk anyway).
MAX_RUN_IDS = 100


class LedgerWatch:
    """Whether the ledger has talks a run could claim now; cheap when nothing changed.

    The answer "none" is kept until the Delta versions of the ledger or of `talks` move, or
    the earliest running lease expires (its run may have died): two version reads (~10 ms on
    a local lake) instead of the ledger query (~25 ms for 1,000 talks).
    """

    def __init__(self) -> None:
        self._idle: tuple[tuple[int | None, ...], datetime | None] | None = None
        self.reads = 0

    def claimable(self, *, force: bool = False) -> list[str]:
        from podium import enrichment, ingest
        from tasks.resources import flow_resources

        resources = flow_resources()
        lake = resources.lake
        versions = (lake.version(enrichment.TABLE), lake.version(ingest.TALKS))
        if not force and self._idle is not None:
            seen, expiry = self._idle
            if seen == versions and (expiry is None or datetime.now(UTC) < expiry):
                return []
        self.reads += 1
        ids, expiry = enrichment.claimable(
            lake=lake, max_attempts=resources.settings.enrich.max_attempts
        )
        self._idle = None if ids else (versions, expiry)
        return ids


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
    """Runs flow runs of `FLOWS` on `queue` of `pool` one at a time, in process: runs it creates
    when an event or the ledger says talks wait, and due runs others created."""

    def __init__(
        self,
        *,
        pool: str,
        queue: str,
        poll_s: float = 1.0,
        name: str = "",
        heartbeat_s: float = HEARTBEAT_S,
        stale_s: float = STALE_S,
        ledger_check_s: float = 3.0,
        recycle_rss_mib: float = 0.0,
    ) -> None:
        self.pool = pool
        self.recycle_rss_mib = recycle_rss_mib  # 0: never
        self.recycled = False
        self.queue = queue
        self.poll_s = poll_s
        self.ledger_check_s = ledger_check_s
        # Set by the event stream's thread; read and cleared by the loop.
        self.wake = threading.Event()
        self._woken_by: list[Any] = []  # events since the loop last looked
        self._woken_lock = threading.Lock()
        self._ledger_due = True  # at start: work may have waited for us
        self._last_ledger = 0.0
        self._last_poll = 0.0
        self.ledger = LedgerWatch()
        self.created = 0
        self.stream: Any = None
        self._deployment_cached: Any = None
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
        self.preloaded = threading.Event()  # models loaded: /readyz answers ready

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

    # -- runs this executor creates --------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """An event from the stream (its thread): wake the loop."""
        with self._woken_lock:
            self._woken_by.append(event)
        self.wake.set()

    def on_connect(self) -> None:
        """The stream (re)connected: events may have been missed, check the ledger now."""
        self._ledger_due = True
        self.wake.set()

    def _deployment(self, client: Any) -> Any:
        """The deployment of a flow in `WAKE_EVENTS` on this pool and queue (None if absent)."""
        if self._deployment_cached is None:
            from prefect.client.schemas.filters import (
                WorkPoolFilter,
                WorkPoolFilterName,
                WorkQueueFilter,
                WorkQueueFilterName,
            )

            deployments = client.read_deployments(
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool])),
                work_queue_filter=WorkQueueFilter(name=WorkQueueFilterName(any_=[self.queue])),
            )
            self._deployment_cached = next(
                (d for d in deployments if self._flow_name(client, d.flow_id) in WAKE_EVENTS),
                None,
            )
        return self._deployment_cached

    def _take_events(self) -> list[Any]:
        with self._woken_lock:
            events, self._woken_by = self._woken_by, []
        return events

    def wake_once(self, client: Any) -> bool:
        """Start a run if an event arrived or the ledger check is due and talks are claimable.

        Events are coalesced: however many arrived since the last look, at most one run is
        created for them, idempotent on the newest event's id (every executor that saw it
        creates the same run; one claims it). Returns whether a run ran here.
        """
        self.wake.clear()
        events = self._take_events()
        ledger_due = self._ledger_due or (
            time.monotonic() - self._last_ledger >= self.ledger_check_s
        )
        if not events and not ledger_due:
            return False
        if ledger_due:
            self._ledger_due = False
            self._last_ledger = time.monotonic()
        # Only start a run if there is work: coalesced events' talks were usually taken by the
        # run that was working when they arrived (its drain loop), or by another executor.
        with tracing.span("warm-ledger-check", {"podium.events": len(events)}):
            ids = self.ledger.claimable(force=bool(events))
        if not ids:
            return False
        deployment = self._deployment(client)
        if deployment is None:
            return False
        talk_ids = (
            list(dict.fromkeys(i for e in events for i in (e.payload.get("talk_ids") or []))) or ids
        )  # the ledger's, when no event named any
        key = f"warm-event-{events[-1].id}" if events else None
        # The run continues the trace of the newest event that carries one (the gateway's
        # request); other events' traces are linked, not lost.
        carried = [c for e in events if (c := tracing.context_from(e.payload)) is not None]
        parent = carried[-1] if carried else None
        started = time.monotonic()
        try:
            flow_run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"talk_ids": talk_ids[:MAX_RUN_IDS]},
                idempotency_key=key,
            )
        except Exception:
            self._deployment_cached = None  # deleted or redeployed: look it up again
            raise
        self.created += 1
        logger.info("%s: created for %s in %.3f s", flow_run.name,
                    f"{len(events)} event(s)" if events else "claimable talks in the ledger",
                    time.monotonic() - started)  # fmt: skip
        with tracing.span(
            "warm-run",
            {"podium.talk_ids": talk_ids[:MAX_RUN_IDS], "prefect.flow_run.id": flow_run.id},
            parent=parent,
        ):
            return self._run(client, flow_run, fold_check=False)

    def _run(self, client: Any, flow_run: Any, *, fold_check: bool = True) -> bool:
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
        if fold_check and FOLDABLE.get(name) and not self.ledger.claimable(force=True):
            # Folded: an earlier run of the burst took its talks. Completed without the engine
            # (seconds per run under load), so the next run with work does not wait behind it.
            client.set_flow_run_state(flow_run.id, Running())
            client.set_flow_run_state(
                flow_run.id, Completed(message="nothing pending: folded into an earlier run")
            )
            self.runs += 1
            self.folded += 1
            metrics.WARM_RUNS.labels("folded").inc()
            logger.info("%s %s: nothing pending (folded) in %.2f s", name, flow_run.name,
                        time.monotonic() - started)  # fmt: skip
            return True
        with tracing.log_context(
            talk_ids=(flow_run.parameters or {}).get("talk_ids") or (), run_id=str(flow_run.id)
        ):
            logger.info("%s %s: running in process", name, flow_run.name)
            state = cast(
                "State[Any]",
                off_main_thread(
                    run_flow,
                    _flow(name),
                    flow_run=client.read_flow_run(flow_run.id),
                    parameters=flow_run.parameters,
                    return_type="state",
                ),
            )
        self.runs += 1
        metrics.WARM_RUNS.labels(
            "completed" if state.type == StateType.COMPLETED else "failed"
        ).inc()
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

    def step(self, client: Any) -> int:
        """One turn of the loop: a run for events or the ledger first (the hot path), then
        the queue's due runs when `poll_s` has passed. Returns the runs run here."""
        ran = int(self.wake_once(client))
        if time.monotonic() - self._last_poll >= self.poll_s:
            self._last_poll = time.monotonic()
            ran += self.poll_once(client)
        return ran

    def start_stream(self) -> None:
        """Listen to the server's event stream for the events that wake this executor."""
        from deployments.event_stream import EventStream

        names = [n for flow in FLOWS if flow in WAKE_EVENTS for n in WAKE_EVENTS[flow]]
        self.stream = EventStream(
            names, on_event=self.on_event, on_connect=self.on_connect, stopping=self.stopping
        )
        self.stream.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def recycle_if_due(self) -> bool:
        """After a run: above `recycle_rss_mib` of resident memory, stop taking work so the
        process exits with `RECYCLE_EXIT` and its supervisor starts a fresh one (the run that
        just ended is done; the ledger and other replicas keep every waiting talk)."""
        if self.recycle_rss_mib <= 0 or self.stopping.is_set():
            return False
        rss = resident_mib()
        if rss <= self.recycle_rss_mib:
            return False
        logger.warning(
            "resident memory %.0f MiB is above enrich.warm_recycle_rss_mib (%.0f) after %d runs: "
            "recycling (exit %d, the supervisor starts a fresh executor)",
            rss, self.recycle_rss_mib, self.runs, RECYCLE_EXIT,
        )  # fmt: skip
        self.recycled = True
        self.stop()
        return True

    # -- probes ------------------------------------------------------------------------------

    def liveness(self) -> dict[str, str]:
        """From memory only: the threads that must run are alive."""
        checks = {"loop": "ok" if not self.stopping.is_set() else "stopping"}
        if self._beating is not None:
            checks["heartbeat"] = "ok" if self._beating.is_alive() else "thread died"
        thread = getattr(self.stream, "_thread", None)
        if thread is not None:
            checks["event_stream"] = "ok" if thread.is_alive() else "thread died"
        return checks

    def readiness(self) -> dict[str, str]:
        """Models loaded, the lake readable, the Prefect API answering."""
        import httpx

        from podium.ingest import talks_version
        from tasks.resources import flow_resources

        checks = {"models": "ok" if self.preloaded.is_set() else "loading"}
        resources = flow_resources()
        try:
            resources.lake.ping()
            talks_version(lake=resources.lake)
            checks["lake"] = "ok"
        except Exception as error:  # noqa: BLE001 - a probe reports, never raises
            checks["lake"] = f"unreachable ({type(error).__name__})"
        from prefect.settings import PREFECT_API_URL

        api = (PREFECT_API_URL.value() or "").rstrip("/")
        try:
            answered = httpx.get(api + "/health", timeout=3.0).status_code == 200 if api else False
        except httpx.HTTPError as error:
            answered, checks["prefect"] = False, f"unreachable ({type(error).__name__})"
        checks.setdefault("prefect", "ok" if answered else "unreachable")
        return checks

    def probe_server(self, *, host: str, port: int) -> Any:
        """This executor's /metrics, /healthz and /readyz, started (`deployments.probes`)."""
        from deployments.probes import ProbeServer
        from podium.metrics import LakeStateCollector
        from podium.operations import lake_state
        from tasks.resources import flow_resources

        def state() -> Any:
            resources = flow_resources()
            return lake_state(
                lake=resources.lake, max_attempts=resources.settings.enrich.max_attempts
            )

        ttl = flow_resources().settings.ops.lake_metrics_ttl_s
        return ProbeServer(
            host=host,
            port=port,
            live=self.liveness,
            ready=self.readiness,
            collectors=[LakeStateCollector(state, ttl_s=ttl)],
        ).start()

    def serve(self) -> None:
        """Serve until `stopping` is set (SIGTERM/SIGINT); a run in progress finishes first.

        Between runs the warm history is refreshed in the background when the lake changed
        (at most every `enrich.warm_history_refresh_s`).
        """
        from prefect.client.orchestration import get_client

        from podium import warm_models
        from tasks.resources import flow_resources

        resources = flow_resources()
        settings = resources.settings
        self.start_heartbeats()
        self.start_stream()
        # Counts and recommendations, warm and coalesced, beside the runs (a thread of its own).
        from deployments.warm_derived import start_refresher

        self.derived = start_refresher(self.stopping)
        with get_client(sync_client=True) as client:
            while not self.stopping.is_set():
                try:
                    if self.step(client) and self.recycle_if_due():
                        break
                    warm_models.refresh_history_soon(
                        settings,
                        min_interval_s=settings.enrich.warm_history_refresh_s,
                        lake=resources.lake,
                    )
                except Exception:  # noqa: BLE001 - a server blip must not end the executor
                    logger.exception("serving %s/%s failed; retrying", self.pool, self.queue)
                    self.stopping.wait(2)
                # An event ends the wait at once; otherwise the next poll or ledger check.
                self.wake.wait(min(self.poll_s, self.ledger_check_s))


def resident_mib() -> float:
    """This process's resident memory in MiB (Linux `/proc`; 0 where there is none)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def off_main_thread(function: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Call `function` in a thread of its own (with this context) and wait for it.

    Why: the Prefect engine, when it runs in the main thread, swaps in its own SIGTERM handler
    that aborts the run as CRASHED. In another thread it cannot install one, so SIGTERM reaches
    the executor's handler, which only stops the loop: the run in progress finishes first.
    """
    import contextvars

    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = context.run(function, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=call, name="warm-run", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)  # short joins: the main thread still runs signal handlers
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def main(argv: list[str] | None = None) -> None:
    from deployments.probes import add_probe_port

    parser = argparse.ArgumentParser(description="Run flow runs of a work queue in process.")
    parser.add_argument("--pool", default="podium-gpu")
    parser.add_argument("--queue", default="warm")
    parser.add_argument(
        "--poll",
        type=float,
        default=1.0,
        help="seconds between polls of the queue for runs "
        "others created (the executor's own runs start on events, not on polls)",
    )
    parser.add_argument(
        "--ledger-check",
        type=float,
        default=None,
        help="seconds between ledger checks (default: enrich.warm_ledger_check_s)",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=HEARTBEAT_S, help="seconds between heartbeats"
    )
    parser.add_argument(
        "--stale", type=float, default=STALE_S, help="an executor silent this long is dead"
    )
    add_probe_port(parser, default="ops.executor_port")
    parser.add_argument(
        "--no-preload",
        action="store_true",
        help="serve at once and load the models in the first run (tests; not for the hot path)",
    )
    args = parser.parse_args(argv)
    from podium.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll
    ops = get_settings().ops
    tracing.configure_logging(ops)
    tracing.configure(ops, service="warm-executor")
    executor = WarmExecutor(
        pool=args.pool,
        queue=args.queue,
        poll_s=args.poll,
        heartbeat_s=args.heartbeat,
        stale_s=args.stale,
        ledger_check_s=args.ledger_check or get_settings().enrich.warm_ledger_check_s,
        recycle_rss_mib=get_settings().enrich.warm_recycle_rss_mib,
    )

    def stop(*_: object) -> None:
        executor.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = args.probe_port if args.probe_port is not None else ops.executor_port
    probes = None
    if port is not None:
        probes = executor.probe_server(host=ops.executor_host, port=port)
        logger.info("probes on http://%s:%d (/metrics /healthz /readyz)", ops.executor_host,
                    probes.port)  # fmt: skip
    started = time.monotonic()
    loads = 0 if args.no_preload else preload()
    executor.preloaded.set()
    logger.info("models loaded (%d) in %.1f s; serving %s/%s as %s", loads,
                time.monotonic() - started, args.pool, args.queue, executor.name)  # fmt: skip
    executor.serve()
    if probes is not None:
        probes.stop()
    tracing.shutdown()
    logger.info("stopped after %d runs (%d created here, %d folded)", executor.runs,
                executor.created, executor.folded)  # fmt: skip
    if executor.recycled:
        raise SystemExit(RECYCLE_EXIT)


if __name__ == "__main__":
    main()
