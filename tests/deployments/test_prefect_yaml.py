"""Deployment contract: prefect.yaml parsed as written, every entrypoint imported for real.

Nothing is faked: the YAML is the one in the repository and the flows are the real ones.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest
import yaml
from prefect import Flow

from deployments.local_stack import PROJECT_DIR, WORK_POOLS
from podium import event_catalog

SPEC = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in SPEC["deployments"]}


def load_flow(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    file = PROJECT_DIR / path
    assert file.is_file(), f"{entrypoint}: no such file"
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    flow = getattr(module, name)
    assert isinstance(flow, Flow), f"{entrypoint} is not a Prefect flow"
    return flow


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_entrypoint_pool_and_trigger_parameters(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    flow = load_flow(deployment["entrypoint"])
    assert flow.name == name, "deployment and flow share a name, so the UI reads plainly"
    assert deployment["work_pool"]["name"] in WORK_POOLS
    assert deployment.get("description")
    parameters = set(inspect.signature(flow.fn).parameters)
    for trigger in deployment.get("triggers", []):
        assert trigger["type"] == "event" and trigger["expect"]
        assert set(trigger.get("parameters", {})) <= parameters, trigger.get("parameters")


TRIGGERS = [
    (name, i, trigger)
    for name, deployment in sorted(DEPLOYMENTS.items())
    for i, trigger in enumerate(deployment.get("triggers", []))
]
PAYLOAD_REFERENCE = re.compile(r"\{\{\s*event\.payload(?:\.(\w+))?\s*\}\}")


@pytest.mark.parametrize(("name", "index", "trigger"), TRIGGERS, ids=lambda v: str(v)[:30])
def test_every_trigger_matches_the_event_catalog(name: str, index: int, trigger: dict) -> None:
    """Each expected event is catalogued, its resource matches, and each payload field exists."""
    pattern = trigger["match"]["prefect.resource.id"]
    specs = []
    for event_name in trigger["expect"]:
        if event_name.startswith("prefect."):
            # Prefect's own events (a flow run completed): their resource is Prefect's.
            assert pattern.startswith("prefect."), (name, pattern)
            continue
        assert event_name in event_catalog.CATALOG, f"{name}: {event_name} is not in the catalog"
        spec = event_catalog.CATALOG[event_name]
        assert spec.resource_matches(pattern), f"{name}: {pattern} never matches {spec.resource}"
        specs.append(spec)
    for parameter, template in trigger.get("parameters", {}).items():
        for field in PAYLOAD_REFERENCE.findall(str(template)):
            for spec in specs:
                if field:  # `{{ event.payload }}` passes the whole payload
                    assert field in spec.payload_fields(), (name, parameter, spec.name, field)


def test_event_chain_matches_what_the_code_emits() -> None:
    from podium.gateway.git_hooks import PUSH_EVENT
    from podium.gateway.talk_hooks import TALK_REMOVED, TALK_SUBMITTED

    TAGGED_EVENT = event_catalog.TALK_TAGGED.name
    INGESTED_EVENT = event_catalog.TALK_INGESTED.name
    AGGREGATED_EVENT = event_catalog.TAGS_AGGREGATED.name
    expects: dict[str, set[str]] = {}
    for name, _, trigger in TRIGGERS:
        expects.setdefault(name, set()).update(trigger["expect"])
    # No relay: the gateway's event starts tagging directly (warm executors listen for it on
    # the event stream; the deployment's trigger is kept, disabled); ingest serves batch imports.
    from deployments.warm_executor import WAKE_EVENTS

    assert TALK_SUBMITTED in WAKE_EVENTS["enrich-warm"]
    assert TALK_SUBMITTED in expects["enrich-warm"]
    assert "ingest" not in expects
    assert INGESTED_EVENT in expects["enrich"]
    assert TAGGED_EVENT in expects["aggregate-tags"]
    assert TALK_REMOVED in expects["aggregate-tags"]
    assert AGGREGATED_EVENT in expects["build-recommendations"]
    assert event_catalog.EVENT_UPDATED.name in expects["build-recommendations"]
    assert PUSH_EVENT in expects["review-push"]
    emitted = {
        TALK_SUBMITTED,
        TALK_REMOVED,
        INGESTED_EVENT,
        TAGGED_EVENT,
        AGGREGATED_EVENT,
        PUSH_EVENT,
    }
    assert emitted <= set(event_catalog.CATALOG)


def test_gpu_work_on_the_gpu_pool_and_serial_enrichment() -> None:
    assert DEPLOYMENTS["enrich"]["work_pool"]["name"] == "podium-gpu"
    for name in ("ingest", "aggregate-tags", "build-recommendations"):
        assert DEPLOYMENTS[name]["work_pool"]["name"] == "podium-cpu"
    limit = DEPLOYMENTS["enrich"]["concurrency_limit"]
    assert limit == {"limit": 1, "collision_strategy": "ENQUEUE"}
    trigger = DEPLOYMENTS["enrich"]["triggers"][0]
    # Debounce: the run starts only after the window in which later events are folded into it.
    assert trigger["schedule_after"] >= trigger["within"] > 0
    assert DEPLOYMENTS["enrich"]["schedules"], "a safety-net schedule picks up deferred talks"
    assert DEPLOYMENTS["build-recommendations"]["schedules"]


def test_warm_queue_is_served_by_the_warm_executor_alone() -> None:
    from deployments.local_stack import WARM_POOL, WARM_QUEUE
    from deployments.warm_executor import FLOWS

    warm = DEPLOYMENTS["enrich-warm"]
    assert (warm["work_pool"]["name"], warm["work_pool"]["work_queue_name"]) == (
        WARM_POOL,
        WARM_QUEUE,
    )
    queued = {n for n, d in DEPLOYMENTS.items() if d["work_pool"].get("work_queue_name")}
    assert set(FLOWS) == queued
    # The executors create the warm runs from the event stream: a trigger creating runs too
    # would double them (and put the server's trigger hop back on the hot path).
    assert all(t["enabled"] is False for t in warm.get("triggers", []))


def test_no_secrets_in_the_yaml() -> None:
    text = (PROJECT_DIR / "prefect.yaml").read_text().lower()
    for word in ("secret:", "password", "api_key", "token:"):
        assert word not in text


def test_every_trigger_is_named_and_described() -> None:
    # The UI lists automations by name; unnamed ones read "A custom trigger" with no text.
    names = []
    for deployment in DEPLOYMENTS.values():
        for trigger in deployment.get("triggers", []):
            assert trigger.get("name", "").startswith(deployment["name"] + ": "), trigger
            assert len(trigger.get("description", "")) > 40, trigger["name"]
            names.append(trigger["name"])
    assert len(names) == len(set(names)), "automation names are unique"


def test_review_tags_pauses_on_the_cpu_pool_without_a_limit() -> None:
    deployment = DEPLOYMENTS["review-tags"]
    assert deployment["work_pool"]["name"] == "podium-cpu"
    assert "concurrency_limit" not in deployment, "paused forms would block each other"
    flow = load_flow(deployment["entrypoint"])
    assert {"event_id", "limit", "timeout_s"} <= set(inspect.signature(flow.fn).parameters)


def test_every_deployment_pins_an_image_version_not_latest() -> None:
    """A Kubernetes/ECS/Docker pool runs the image a deployment names: the project's version,
    the same the work-pool templates default to, never a moving `:latest`."""
    import json

    version = re.search(
        r'^version = "([^"]+)"', (PROJECT_DIR / "pyproject.toml").read_text(), re.M
    ).group(1)
    defaults = {}
    for path in (PROJECT_DIR / "infra" / "work-pools").glob("*.json"):
        image = json.loads(path.read_text())["variables"]["properties"]["image"]["default"]
        defaults["gpu" if "gpu" in path.name else "cpu"] = image
    for name, deployment in DEPLOYMENTS.items():
        image = deployment["work_pool"]["job_variables"]["image"]
        repository, tag = image.rsplit(":", 1)
        assert tag == version, (name, image)
        kind = "gpu" if deployment["work_pool"]["name"] == "podium-gpu" else "cpu"
        assert image == defaults[kind], (name, image, defaults[kind])
