"""Every flow started by a pipeline event also runs on a schedule, so a lost event is only late.

Real: the repository's prefect.yaml and the flows' signatures. Whether schedules produce runs
on the embedded server is tested with the server (issue 11 item 0); this checks the contract.
"""

from __future__ import annotations

import inspect

import yaml

from deployments.local_stack import PROJECT_DIR
from tests.deployments.test_prefect_yaml import load_flow

SPEC = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
DRIVEN = ("enrich", "aggregate-tags", "build-recommendations")


def test_each_event_driven_consumer_has_a_safety_net_schedule() -> None:
    deployments = {d["name"]: d for d in SPEC["deployments"]}
    for name in DRIVEN:
        deployment = deployments[name]
        assert deployment.get("triggers"), f"{name} is event-driven"
        schedules = [s for s in deployment.get("schedules", []) if s.get("active", True)]
        assert schedules, f"{name}: a lost event would never be recovered"
        # A scheduled run has no event: every parameter must have a default.
        flow = load_flow(deployment["entrypoint"])
        for parameter in inspect.signature(flow.fn).parameters.values():
            assert parameter.default is not inspect.Parameter.empty, (name, parameter.name)
