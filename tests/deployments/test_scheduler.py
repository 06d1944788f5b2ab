"""The Prefect server's scheduler turns a deployment's schedule into flow runs.

Real: the session's Prefect server (`prefect_server`, the pinned prefect and SQLAlchemy of
requirements.lock, SQLite), its own scheduler services, and the `enrich` schedule exactly as
prefect.yaml writes it. Nothing runs the flow; the test only waits for the server to create
the scheduled runs. With prefect 3.9.0 on SQLAlchemy 2.1 the scheduler failed every loop with
"Can't evaluate bulk DML statement" while the UI showed the schedule as active: the safety net
never ran. This test fails in that situation.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
import yaml

from deployments.local_stack import PROJECT_DIR

SPEC = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
ENRICH = next(d for d in SPEC["deployments"] if d["name"] == "enrich")


async def _scheduled_runs(deployment_name: str, timeout_s: float) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.schedules import IntervalSchedule

    (spec,) = ENRICH["schedules"]
    assert spec.get("active", True), "the enrich safety net must be active"
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("enrich")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=deployment_name,
            entrypoint=ENRICH["entrypoint"],
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(interval=timedelta(seconds=spec["interval"])),
                    active=True,
                    parameters=spec.get("parameters", {}),
                )
            ],
        )
        deadline = time.monotonic() + timeout_s
        while True:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            if runs or time.monotonic() > deadline:
                return runs
            await asyncio.sleep(1)


@pytest.mark.timeout(240)
def test_a_scheduled_deployment_gets_runs_from_the_server(prefect_server: str) -> None:
    # The scheduler service looks at recently changed deployments every few seconds (and at
    # all of them every minute), so runs appear well within the timeout when it works.
    runs = asyncio.run(_scheduled_runs("enrich-schedule-probe", timeout_s=150))
    assert runs, "the server created no scheduled run: its scheduler service is broken"
    assert all(run.state_type.value == "SCHEDULED" for run in runs)
    starts = sorted(run.expected_start_time for run in runs)
    gaps = {round((b - a).total_seconds()) for a, b in zip(starts, starts[1:], strict=False)}
    assert gaps <= {ENRICH["schedules"][0]["interval"]}
    # The safety net's patience reaches its runs: fresh talks are left to the warm path.
    assert all(run.parameters.get("min_wait_s") == 60 for run in runs)
