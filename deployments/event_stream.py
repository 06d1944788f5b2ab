"""Listen to the Prefect server's event stream in a thread: what wakes a warm executor.

The server pushes every stored event matching a filter over its events websocket
(`prefect.events.clients.get_events_subscriber`, the OSS server's `/api/events/out`) within
milliseconds of `POST /api/events` (measured: 6-94 ms, post included). The listener calls
`on_event` per event and `on_connect` after every (re)connect, so its owner can check for work
an event it missed announced (the stream only replays the last minute).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger("podium.warm")

RECONNECT_S = 2.0


class EventStream:
    """Events named `names`, from the server of the current Prefect settings, in a thread."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        on_event: Callable[[Any], None],
        on_connect: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        self.names = sorted(set(names))
        self.on_event, self.on_connect, self.stopping = on_event, on_connect, stopping
        self.connected = threading.Event()
        self.connects = 0
        self.events = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # The caller's context carries its Prefect settings (a test's temporary API URL).
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="warm-events", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                asyncio.run(self._listen())
            except Exception as error:  # noqa: BLE001 - a dropped stream is reconnected
                logger.warning("event stream dropped (%s); reconnecting", type(error).__name__)
            self.connected.clear()
            self.stopping.wait(RECONNECT_S)

    async def _listen(self) -> None:
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter

        event_filter = EventFilter(event=EventNameFilter(name=self.names))  # type: ignore[call-arg]
        # No retries inside the subscriber: a drop ends the iteration here, so every
        # reconnect goes through `on_connect` (the owner's ledger check).
        async with get_events_subscriber(filter=event_filter, reconnection_attempts=0) as stream:
            self.connects += 1
            self.connected.set()
            self.on_connect()
            async for event in stream:
                self.events += 1
                self.on_event(event)
                if self.stopping.is_set():
                    return
