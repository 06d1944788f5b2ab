"""tasks/resources.py against a real Prefect server (started by the tests): the flows' one
resources object per process and settings, each use-case step a task run with its retries, and
events that must fit the catalog before Prefect sees them. The failing step is a real exception
on the first try; nothing is patched."""

from __future__ import annotations

import httpx
import pytest
from prefect import flow

from podium import event_catalog
from podium.settings import get_settings
from tasks.resources import PrefectEvents, flow_resources, prefect_step


def test_one_resources_object_per_process_and_settings(settings) -> None:
    first = flow_resources()
    assert flow_resources() is first and first.settings is get_settings()
    get_settings.cache_clear()  # new settings (a test, a reload): new resources
    assert flow_resources() is not first


def test_a_step_is_a_task_run_retried_by_its_policy(prefect_server: str) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the lake hiccuped")
        return "recorded"

    @flow
    def run() -> str:
        return prefect_step("record-talks", flaky)

    state = run(return_state=True)
    assert state.result() == "recorded" and len(calls) == 2
    query = {"flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}}}
    (task_run,) = httpx.post(f"{prefect_server}/task_runs/filter", json=query).json()
    assert task_run["name"].startswith("record-talks") and task_run["run_count"] == 2


def test_an_event_outside_the_catalog_never_reaches_prefect(prefect_server: str) -> None:
    @flow
    def emit_wrong() -> None:
        PrefectEvents().emit(event_catalog.TALK_TAGGED, payload={"ids": ["t1"]})

    with pytest.raises(ValueError, match="ids"):
        emit_wrong()


def test_every_declared_step_is_one_a_use_case_runs() -> None:
    """A step renamed in its use-case would run with no retries: each step declared with
    retries in tasks/steps.py must be named by a use-case's `step(...)` call."""
    import re
    from pathlib import Path

    from tasks import steps

    core = Path(__file__).resolve().parents[2] / "podium" / "use_cases"
    source = "".join(path.read_text(encoding="utf-8") for path in core.glob("*.py"))
    named = set(re.findall(r'step\(\s*"([a-z-]+)"', source))
    assert set(steps.DECLARED) <= named, sorted(set(steps.DECLARED) - named)
    assert steps.DECLARED["sync-pretalx-event"].retry_condition_fn is not None
    assert all(task.retries == len(task.retry_delay_seconds) for task in steps.DECLARED.values())
