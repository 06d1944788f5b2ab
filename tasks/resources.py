"""The flows' resources: the core's `Resources`, with events to Prefect and steps as tasks.

Built once per process (per settings object: tests that change the settings get fresh ones),
so a flow never builds its own lake or clients.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from podium.events import EventSink
from podium.resources import Resources
from podium.settings import get_settings
from tasks import steps


def prefect_step(name: str, action: Callable[[], Any]) -> Any:
    """Run one named step of a use-case as its Prefect task, with the retries declared on it
    (`tasks.steps`)."""
    declared = steps.DECLARED.get(name) or steps.step_task(name)
    return declared(action)


class PrefectEvents(EventSink):
    """The event sink of a flow run: Prefect's `emit_event`, related to the run that emits."""

    def send(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        from prefect.events import emit_event

        emit_event(event=name, resource=resource, payload=payload)


_LOCK = threading.Lock()
_BUILT: tuple[Any, Resources] | None = None


def flow_resources() -> Resources:
    """This process's resources for the current settings, built on first use."""
    global _BUILT
    settings = get_settings()
    with _LOCK:
        if _BUILT is None or _BUILT[0] is not settings:
            built = Resources.from_settings(settings, events=PrefectEvents(), step=prefect_step)
            _BUILT = (settings, built)
        return _BUILT[1]
