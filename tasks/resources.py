"""The flows' resources: the core's `Resources`, with events to Prefect and steps as tasks.

Built once per process (per settings object: tests that change the settings get fresh ones),
so a flow never builds its own lake or clients.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from podium.event_catalog import EventSpec
from podium.events import checked_event
from podium.pretalx.client import PretalxError
from podium.resources import Resources
from podium.settings import get_settings

# Retry delays (seconds) of the steps worth retrying; every step is idempotent or checkpointed.
# A batch or a notification that fails is recorded or logged by the use-case instead.
RETRY_DELAYS: dict[str, list[float]] = {
    "record-talks": [1, 5, 15],
    "record-events": [1, 5, 15],
    "count-tags": [5, 5],
    "sync-pretalx-event": [10, 60],
    "read-dynamodb-stream": [5, 30],
    "write-dynamodb": [5, 30],
    "fetch-push-change": [10, 10],
    "record-pending-review": [2, 2],
    "notify-reviewer": [3, 3],
    "record-review-decision": [2, 2],
    # A model load that fails (a busy hub mirror, a flaky mount) is worth retrying; an enrich
    # batch is not: its failures are per talk and recorded in the ledger.
    "load-tagger": [5, 5],
    "load-image-backend": [5, 5],
}


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    # A wrong pretalx URL, token or slug fails the same way a minute later: retry the transient.
    try:
        state.result()
    except PretalxError as error:
        return error.transient
    except Exception:  # noqa: BLE001 - anything else (the lake, the network) may pass later
        return True
    return False


def prefect_step(name: str, action: Callable[[], Any]) -> Any:
    """Run one named step of a use-case as a Prefect task, with that step's retries."""
    delays = RETRY_DELAYS.get(name, [])
    options: dict[str, Any] = {"retries": len(delays), "retry_delay_seconds": delays or 0}
    if name == "sync-pretalx-event":
        options["retry_condition_fn"] = _worth_retrying
    return task(name=name, cache_policy=NONE, **options)(action)()


class PrefectEvents:
    """The event sink of a flow run: Prefect's `emit_event`, related to the run that emits."""

    def emit(
        self,
        spec: EventSpec,
        *,
        payload: dict[str, Any],
        resource_id: str | None = None,
        resource: dict[str, str] | None = None,
    ) -> None:
        from prefect.events import emit_event

        name, labels, body = checked_event(
            spec, payload=payload, resource_id=resource_id, resource=resource
        )
        emit_event(event=name, resource=labels, payload=body)


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
