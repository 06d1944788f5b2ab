"""Counts and recommendations, warm: a refresher thread inside each warm executor, or a warm
CPU executor of its own.

A thread listens to the server's event stream for `podium.talk.tagged` and
`podium.talk.removed` (from any executor, on any replica) and pokes a `Coalescer`, which
refreshes in this process (`podium.use_cases.derived.refresh`): tag counts updated, the touched
events' recommendations rebuilt. Pokes that arrive during a refresh fold into one more; every
`derived.check_s` it also checks the lake (two bookmarks against the table versions) and
refreshes if something was missed. A second thread then records what each refresh did as a
`counts-recommendations-warm` flow run in the UI (`flows/derived_warm.py`), after the commit,
so the Prefect server's bookkeeping never delays counts.
Several executors may refresh at once: counts commit exactly once and recommendations commit
against the version they pinned, so a loser starts over (`podium.use_cases.derived`).

In a warm executor (`deployments/warm_executor.py`) it starts with `start_refresher`; on its
own, as a warm CPU executor:

    python -m deployments.warm_derived
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import threading
from typing import Any

logger = logging.getLogger("podium.warm")

# The events after which counts or recommendations may be behind.
EVENTS = ("podium.talk.tagged", "podium.talk.removed")


# Least seconds between two records of refreshes in the UI (each record is a flow run: a
# handful of API calls that a busy SQLite server may take seconds over).
RECORD_S = 5.0


class WarmRefresher:
    """The event stream and the coalesced refreshes of one process.

    Split (the warm CPU executor): two coalescers, each a thread: counts (poked by the events)
    and recommendations (poked by each counts refresh, so the build reads the new counts).
    Counts then never wait behind a recommendations build. Not split (inside a warm
    executor, beside the tagger): one thread, counts then recommendations in each turn.
    """

    def __init__(
        self, *, stopping: threading.Event, check_s: float, duty: float = 1.0, split: bool = False
    ) -> None:
        from podium.use_cases.derived import COUNTS, PARTS, RECOMMENDATIONS, Coalescer

        self.stopping = stopping
        self.split = split
        self.coalescers = {
            parts[0]: Coalescer(
                functools.partial(self.refresh_once, parts),
                check=functools.partial(self.pending, parts),
                check_s=check_s,
                stopping=stopping,
                name=f"warm-derived-{'-'.join(parts)}",
                duty=duty,
            )
            for parts in ([(COUNTS,), (RECOMMENDATIONS,)] if split else [PARTS])
        }
        self.coalescer = self.coalescers[COUNTS]  # the one events poke
        self.stream: Any = None
        self.outcomes: list[dict[str, Any]] = []
        self._unrecorded: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._record = threading.Event()
        self.recorded = 0
        # The profile, for the log: when the first poke since each part's last refresh came,
        # and the stream's delivery lag (the event's `occurred` to its arrival here).
        self._first_poke: dict[str, float | None] = dict.fromkeys(self.coalescers)
        self._delivery: list[float] = []

    @property
    def runs(self) -> int:
        return sum(c.runs for c in self.coalescers.values())

    def on_event(self, event: Any) -> None:
        from datetime import UTC, datetime

        occurred = getattr(event, "occurred", None)
        if occurred is not None:
            with self._lock:
                self._delivery.append((datetime.now(UTC) - occurred).total_seconds())
        self.poke()

    def poke(self, part: str | None = None) -> None:
        """Something changed: refresh `part` (None: counts, then recommendations) soon."""
        import time

        from podium.use_cases.derived import COUNTS

        part = part or COUNTS
        if self._first_poke[part] is None:
            self._first_poke[part] = time.monotonic()
        self.coalescers[part].poke()

    def pending(self, parts: tuple[str, ...]) -> bool:
        from podium.use_cases.derived import pending
        from tasks.resources import flow_resources

        return pending(flow_resources().lake, parts)

    def refresh_once(self, parts: tuple[str, ...]) -> None:
        """One refresh of `parts`, only when the lake says it is behind; recorded afterwards."""
        import time
        from datetime import UTC, datetime

        from podium.use_cases.derived import COUNTS, RECOMMENDATIONS, refresh
        from tasks.resources import flow_resources

        part = parts[0]
        poked, self._first_poke[part] = self._first_poke[part], None
        waited = 0.0 if poked is None else time.monotonic() - poked
        delivery: list[float] = []
        if part == COUNTS:
            with self._lock:
                delivery, self._delivery = self._delivery, []
        if not self.pending(parts):
            return  # a poke whose change an earlier refresh (here or elsewhere) took
        outcome = refresh(flow_resources(), parts=parts)
        if self.split and part == COUNTS:
            self.poke(RECOMMENDATIONS)  # built on the new counts
        summary = outcome.summary() | {
            "part": "+".join(parts),
            "finished_at": datetime.now(UTC).isoformat(),
            # Seconds from the first poke since the last refresh to this one's start (a
            # refresh in progress, the coalescing), and the stream's worst delivery lag.
            "waited": round(waited, 3),
            "delivery_max": round(max(delivery), 3) if delivery else None,
        }
        logger.info("counts and recommendations refreshed: %s", summary)
        if outcome.changed:
            with self._lock:
                self.outcomes = [*self.outcomes[-99:], summary]
                self._unrecorded.append(summary)
            self._record.set()

    def _recorder(self) -> None:
        """Record the refreshes done since the last record as one flow run, until stopped."""
        from flows.derived_warm import counts_recommendations_warm

        while not self.stopping.is_set():
            self._record.wait(1.0)
            self._record.clear()
            if self.stopping.wait(RECORD_S):  # fold what follows into this record
                return
            with self._lock:
                batch, self._unrecorded = self._unrecorded, []
            if not batch:
                continue
            try:
                counts_recommendations_warm(refreshes=batch[-50:])
                self.recorded += len(batch)
            except Exception:  # noqa: BLE001 - a record lost to an API blip is only a record
                logger.warning("recording %d refreshes failed", len(batch), exc_info=True)

    def start(self) -> WarmRefresher:
        from deployments.event_stream import EventStream

        self.stream = EventStream(
            EVENTS,
            on_event=self.on_event,
            on_connect=self.poke,  # events may have been missed: look now
            stopping=self.stopping,
        )
        self.stream.start()
        for coalescer in self.coalescers.values():
            coalescer.start()
        # The caller's context carries its Prefect settings, as for the event stream.
        import contextvars

        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._recorder,), name="warm-derived-record", daemon=True
        ).start()
        return self

    def liveness(self) -> dict[str, str]:
        checks = {
            (f"derived_{part}" if self.split else "derived"): (
                "ok" if coalescer.alive() else "thread died"
            )
            for part, coalescer in self.coalescers.items()
        }
        thread = getattr(self.stream, "_thread", None)
        if thread is not None:
            checks["event_stream"] = "ok" if thread.is_alive() else "thread died"
        return checks


def start_refresher(stopping: threading.Event) -> WarmRefresher | None:
    """Start this process's refresher, unless `derived.warm` is off."""
    from tasks.resources import flow_resources

    settings = flow_resources().settings.derived
    if not settings.warm:
        return None
    return WarmRefresher(stopping=stopping, check_s=settings.check_s, duty=settings.duty).start()


def main(argv: list[str] | None = None) -> None:
    from deployments.probes import add_probe_port

    parser = argparse.ArgumentParser(
        description="Keep tag counts and recommendations current, warm (a CPU executor)."
    )
    add_probe_port(parser, default="none")
    args = parser.parse_args(argv)
    from podium import tracing
    from podium.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    tracing.configure_logging(settings.ops)
    tracing.configure(settings.ops, service="warm-derived")
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    check_s = settings.derived.check_s
    # Duty 1: alone in its process it takes no core from a tagger.
    refresher = WarmRefresher(stopping=stopping, check_s=check_s, split=True).start()
    threading.Thread(target=warm_up, name="warm-derived-warm-up", daemon=True).start()
    probes = None
    if args.probe_port is not None:
        probes = probe_server(refresher, host=settings.ops.executor_host, port=args.probe_port)
        logger.info("probes on http://%s:%d (/metrics /healthz /readyz)",
                    settings.ops.executor_host, probes.port)  # fmt: skip
    logger.info("warm counts and recommendations: serving (check every %.1f s)", check_s)
    while not stopping.is_set():
        stopping.wait(0.5)  # short waits: the main thread still runs signal handlers
    if probes is not None:
        probes.stop()
    tracing.shutdown()
    logger.info("stopped after %d refreshes", refresher.runs)


def warm_up() -> None:
    """Import the recommendation encoder's libraries now (torch: 2-8 s here), not in the
    first build after a start; counts, in their own thread, do not wait for it. The weights
    still load only for a text not in the embedding cache."""
    import time

    from podium.use_cases.recommend import recommendation_encoder
    from tasks.resources import flow_resources

    started = time.monotonic()
    try:
        recommendation_encoder(flow_resources().settings)
    except Exception:  # noqa: BLE001 - the first build imports it again and reports
        logger.warning("warming the recommendation encoder up failed", exc_info=True)
        return
    logger.info("recommendation encoder ready in %.1f s", time.monotonic() - started)


def probe_server(refresher: WarmRefresher, *, host: str, port: int) -> Any:
    """/metrics (the `counted` and `recommended` stage latencies), /healthz (the refresh
    thread and the event stream alive), /readyz (the lake readable), started."""
    from deployments.probes import ProbeServer
    from tasks.resources import flow_resources

    def ready() -> dict[str, str]:
        try:
            flow_resources().lake.ping()
            return {"lake": "ok"}
        except Exception as error:  # noqa: BLE001 - a probe reports, never raises
            return {"lake": f"unreachable ({type(error).__name__})"}

    return ProbeServer(host=host, port=port, live=refresher.liveness, ready=ready).start()


if __name__ == "__main__":
    main()
