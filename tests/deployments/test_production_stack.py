"""The production-shaped stack, for real: PostgreSQL, Redis, moto S3 over HTTP, two Prefect API
servers with the services apart, two gateways and two warm executors, each a separate process
with its own HOME and temp folder (deployments/production_stack.py).

The smoke (default suite): a burst of signed talks split across both gateways is tagged, each
talk version exactly once (no two executors work the same version), and run creation stays
idempotent across API replicas. The slow test adds chaos mid-burst: kill -9 of one gateway, one
warm executor and one API server; nothing is lost or done twice.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import psutil
import pytest

from deployments.production_stack import ProductionStack
from deployments.stack_check import audit, make_talks, post_burst, utcnow, wait_tagged
from podium.demo import load_directory
from podium.lake import Lake
from podium.settings import Settings
from tests.processes import alive

pytestmark = pytest.mark.e2e

SECRET = "production-stack-secret"


def _tree(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            found += [pid] + [c.pid for c in process.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture
def stack(tmp_path) -> Iterator[ProductionStack]:  # noqa: ANN001
    settings = Settings(home=tmp_path / "home", gateway={"secret": SECRET})
    stack = ProductionStack(
        settings,
        deployments=("enrich-warm",),
        cpu_worker=False,
        root=tmp_path / "stack",
        say=lambda _: None,
    )
    stack.up()
    # The start's phases, for the report (`-rP` shows them): the smoke's budget is mostly here.
    print(
        f"stack start {stack.timings['start']:.1f} s (data folder from the cache: "
        f"{stack.pg_template_hit}), load average {os.getloadavg()[0]:.1f}: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items() if k != "start")
    )
    tree: list[int] = []
    try:
        yield stack
    finally:
        tree = _tree(stack.pids())
        stack.down()
        time.sleep(0.5)
        assert not alive(tree), f"processes left after down(): {alive(tree)}"


class _Phases:
    """Seconds per step of a test, for the report (`-rP` shows what it prints)."""

    def __init__(self) -> None:
        self.last, self.steps = time.monotonic(), {}

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name], self.last = now - self.last, now

    def __str__(self) -> str:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.steps.items())
        return f"test body: {steps}; load average {os.getloadavg()[0]:.1f}"


def _lake(stack: ProductionStack) -> Lake:
    return Lake.from_settings(stack.lake_settings())


@pytest.mark.timeout(900)
def test_smoke_burst_across_two_gateways_tagged_exactly_once(stack: ProductionStack) -> None:
    mark = _Phases()
    lake = _lake(stack)
    load_directory(lake=lake)
    mark("load directory")
    # Every piece is its own process, and the database does not run as root.
    names = set(stack.children)
    assert {"postgres", "redis", "moto", "api-1", "api-2", "services", "gateway-1",
            "gateway-2", "warm-1", "warm-2"} <= names  # fmt: skip
    postgres = psutil.Process(stack.children["postgres"].process.pid)
    assert postgres.uids().real != 0
    homes = {stack.children[n].env["HOME"] for n in ("api-1", "api-2", "gateway-1", "warm-1")}
    assert len(homes) == 4, "each process has a home of its own"

    since = utcnow()
    talks = make_talks(8, prefix=f"smoke-{uuid.uuid4().hex[:6]}")
    burst = post_burst(talks, gateway_urls=stack.gateway_urls(), secret=SECRET, clients=4)
    assert len(burst.acked) == len(talks)
    assert set(burst.by_gateway) == set(stack.gateway_urls()), "both gateways took talks"
    mark("burst acknowledged")

    ids = [t["talk_id"] for t in talks]
    wait_tagged(lake, ids, timeout_s=180)
    mark("all tagged")
    report = audit(lake, burst, ids, api_url=stack.api_url, since=since)
    # The services process persists events a moment after they are sent: give it a minute
    # before judging what the event feed says.
    deadline = time.monotonic() + 60
    while report.tagged_events < 1 and time.monotonic() < deadline:
        time.sleep(2)
        report = audit(lake, burst, ids, api_url=stack.api_url, since=since)
    assert report.lost == [], report
    assert report.enriched == len(ids)
    # Exactly once: each tags row claimed once (a claim counts an attempt), and each talk
    # named by one podium.talk.tagged event.
    assert report.multi_attempts == [] and report.twice == [], report
    assert report.tagged_events >= 1
    mark("audit and events")

    # Run creation is idempotent across API replicas: the same key through api-1 and api-2
    # (what two executors that saw the same event do) gives one run.
    runs = []
    key = f"idempotency-{uuid.uuid4().hex}"
    for api in stack.api_urls():
        deployment = httpx.get(f"{api}/deployments/name/enrich-warm/enrich-warm", timeout=30)
        deployment.raise_for_status()
        created = httpx.post(
            f"{api}/deployments/{deployment.json()['id']}/create_flow_run",
            json={"idempotency_key": key, "parameters": {"talk_ids": []}},
            timeout=30,
        )
        created.raise_for_status()
        runs.append(created.json()["id"])
    assert runs[0] == runs[1]
    mark("idempotency")
    print(mark)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_chaos_kill_gateway_executor_and_api_server_mid_burst(stack: ProductionStack) -> None:
    lake = _lake(stack)
    load_directory(lake=lake)
    since = utcnow()
    talks = make_talks(200, prefix=f"chaos-{uuid.uuid4().hex[:6]}")
    faults: list[str] = []

    def inject(acked: int) -> None:
        # A third of the way in: kill -9 one of each, then start them again (a Deployment).
        if acked == len(talks) // 3 and not faults:
            for name in ("gateway-1", "warm-1", "api-1"):
                stack.kill(name)
                faults.append(name)
            threading.Thread(target=stack.supervise, daemon=True).start()

    burst = post_burst(
        talks, gateway_urls=stack.gateway_urls(), secret=SECRET, clients=8, on_acked=inject
    )
    assert faults == ["gateway-1", "warm-1", "api-1"]
    assert len(burst.acked) == len(talks)
    ids = list(burst.acked)
    wait_tagged(lake, ids, timeout_s=600)
    report = audit(lake, burst, ids, api_url=stack.api_url, since=since)
    assert report.lost == [] and report.twice == [], report
    assert report.enriched == len(ids)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_podium_up_production_stops_every_process_on_sigterm(tmp_path) -> None:  # noqa: ANN001
    """`podium up --topology production` as a user runs it; SIGTERM stops the whole tree."""
    import os
    import signal
    import subprocess
    import sys

    from deployments.local_stack import PROJECT_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "PREFECT_"))}
    env.update(
        {
            "PODIUM_HOME": str(tmp_path / "home"),
            "PODIUM_GATEWAY__SECRET": SECRET,
            "PYTHONPATH": str(PROJECT_DIR),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
        }
    )
    up = subprocess.Popen(
        [sys.executable, "-m", "podium", "up", "--topology", "production"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert up.stdout is not None
        for line in up.stdout:
            lines.append(line)
            if "Running." in line:
                break
        assert any("Running." in line for line in lines), "".join(lines)
        tree = [c.pid for c in psutil.Process(up.pid).children(recursive=True)]
        names = " ".join(" ".join(psutil.Process(p).cmdline()) for p in alive(tree))
        for piece in (
            "postgres",
            "redis-server",
            "moto.server",
            "--no-services",
            "services start",
            "podium gateway",
            "warm_executor",
            "worker start",
        ):
            assert piece in names, piece  # fmt: skip
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=120)
        time.sleep(1)
        assert not alive(tree), f"left behind: {alive(tree)}"
    finally:
        if up.poll() is None:
            up.kill()
