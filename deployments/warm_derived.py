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
import logging
import signal
import threading
from typing import Any

logger = logging.getLogger("podium.warm")

# The events after which counts or recommendations may be behind.
EVENTS = ("podium.talk.tagged", "podium.talk.removed")


class WarmRefresher:
    """The event stream and the coalesced refreshes of one process."""

    def __init__(self, *, stopping: threading.Event, check_s: float, duty: float = 1.0) -> None:
        from podium.use_cases.derived import Coalescer

        self.stopping = stopping
        self.coalescer = Coalescer(
            self.refresh_once,
            check=self.pending,
            check_s=check_s,
            stopping=stopping,
            name="warm-derived",
            duty=duty,
        )
        self.stream: Any = None
        self.outcomes: list[dict[str, Any]] = []
        self._unrecorded: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._record = threading.Event()
        self.recorded = 0

    def pending(self) -> bool:
        from podium.use_cases.derived import pending
        from tasks.resources import flow_resources

        return pending(flow_resources().lake)

    def refresh_once(self) -> None:
        """One refresh, only when the lake says something is behind; recorded afterwards."""
        from datetime import UTC, datetime

        from podium.use_cases.derived import refresh
        from tasks.resources import flow_resources

        if not self.pending():
            return  # a poke whose change an earlier refresh (here or elsewhere) took
        outcome = refresh(flow_resources())
        summary = outcome.summary() | {"finished_at": datetime.now(UTC).isoformat()}
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
            on_event=lambda _event: self.coalescer.poke(),
            on_connect=self.coalescer.poke,  # events may have been missed: look now
            stopping=self.stopping,
        )
        self.stream.start()
        self.coalescer.start()
        # The caller's context carries its Prefect settings, as for the event stream.
        import contextvars

        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._recorder,), name="warm-derived-record", daemon=True
        ).start()
        return self

    def liveness(self) -> dict[str, str]:
        return {"derived": "ok" if self.coalescer.alive() else "thread died"}


def start_refresher(stopping: threading.Event) -> WarmRefresher | None:
    """Start this process's refresher, unless `derived.warm` is off."""
    from tasks.resources import flow_resources

    settings = flow_resources().settings.derived
    if not settings.warm:
        return None
    return WarmRefresher(stopping=stopping, check_s=settings.check_s, duty=settings.duty).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Keep tag counts and recommendations current, warm (a CPU executor)."
    )
    parser.parse_args(argv)
    from podium.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    check_s = get_settings().derived.check_s
    refresher = WarmRefresher(stopping=stopping, check_s=check_s).start()
    logger.info("warm counts and recommendations: serving (check every %.1f s)", check_s)
    stopping.wait()
    logger.info("stopped after %d refreshes", refresher.coalescer.runs)


if __name__ == "__main__":
    main()
