"""One trace per talk, across processes: the gateway's request, the event, the warm run and its
tag and cover steps and ledger commits share one trace id; the executor's JSON log lines carry
it with the run id and the talk id.

Real: the session's Prefect server, a `podium gateway` process and a warm executor process,
each exporting its spans with the OpenTelemetry SDK's own console exporter to its own file
(`ops.traces=file`); a signed request; the talk tagged and covered for real. The trace ids
are compared across the two files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate

from deployments.local_stack import PROJECT_DIR
from flows.warm import enrich_warm
from podium.demo import SAMPLE_DIR
from podium.gateway import signed_headers
from podium.lake import Lake
from podium.settings import PLACEHOLDER_SECRET, Settings
from podium.vocabulary import read_vocabulary_file, save_vocabulary
from tests.prefect_server import free_port
from tests.processes import stop


def _spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait(condition, timeout_s: float, what: str, logs: list[Path]) -> Any:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.3)
    pytest.fail(f"{what}: " + "\n".join(p.read_text()[-2500:] for p in logs if p.exists()))


@pytest.mark.slow  # two processes loading the real tagger: minutes on a busy machine
def test_one_trace_from_the_gateway_request_to_the_warm_run_and_its_steps(
    settings: Settings, prefect_server: str, tmp_path: Path
) -> None:
    pool = f"trace-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = client.create_flow(enrich_warm)
        client.create_deployment(
            flow_id=flow_id,
            name=f"enrich-warm-{pool}",
            work_pool_name=pool,
            work_queue_name="warm",
            entrypoint="flows/warm.py:enrich_warm",
        )
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    gateway_port, probe_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR),
        "PODIUM_HOME": str(settings.home),
        "PODIUM_LAKE__URL": settings.lake_url,
        "PODIUM_PREFECT__API_URL": prefect_server,
        "PREFECT_API_URL": prefect_server,
        "PODIUM_OPS__TRACES": "file",
        "PODIUM_OPS__JSON_LOGS": "true",
    }
    files = {n: tmp_path / f"{n}.spans.jsonl" for n in ("gateway", "warm")}
    logs = [tmp_path / "gateway.log", tmp_path / "warm.log"]
    gateway = subprocess.Popen(
        [sys.executable, "-c", "from podium.settings import get_settings; "
         "from podium.gateway import serve; serve(get_settings())"],
        env={**env, "PODIUM_GATEWAY__PORT": str(gateway_port),
             "PODIUM_OPS__TRACE_FILE": str(files["gateway"])},
        cwd=PROJECT_DIR, stdout=logs[0].open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    executor = subprocess.Popen(
        [sys.executable, "-m", "deployments.warm_executor", "--pool", pool, "--queue", "warm",
         "--ledger-check", "3600", "--probe-port", str(probe_port)],
        env={**env, "PODIUM_OPS__TRACE_FILE": str(files["warm"])},
        cwd=PROJECT_DIR, stdout=logs[1].open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    talk_id = f"traced-{uuid.uuid4().hex[:8]}"
    try:

        def ready() -> bool:
            try:
                probe = httpx.get(f"http://127.0.0.1:{probe_port}/readyz", timeout=5)
                gw = httpx.get(f"http://127.0.0.1:{gateway_port}/readyz", timeout=5)
            except httpx.HTTPError:
                return False
            return probe.status_code == 200 and gw.status_code == 200

        _wait(ready, 240, "gateway and executor ready", logs)
        time.sleep(2)  # the executor's event stream subscribes right after its models load
        body = json.dumps({"talk_id": talk_id, "title": "Tracing Prefect pipelines",
                           "description": "OpenTelemetry across processes."}).encode()  # fmt: skip
        answer = httpx.post(
            f"http://127.0.0.1:{gateway_port}/hooks/talks",
            content=body,
            headers=signed_headers(body, PLACEHOLDER_SECRET),
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["event"] == "accepted", answer.text

        def enriched() -> bool:
            state = lake.read("enrichment_state")
            mine = state[state.talk_id == talk_id]
            return len(mine) == 2 and (mine.status == "done").all()

        _wait(enriched, 180, "the talk tagged and covered", logs)
        _wait(
            lambda: {"tag-talks", "draw-covers"} <= {s["name"] for s in _spans(files["warm"])},
            30,
            "the executor's spans",
            logs,
        )
    finally:
        stop(executor, timeout_s=60)
        stop(gateway, timeout_s=60)

    (request,) = [
        s for s in _spans(files["gateway"]) if talk_id in s["attributes"].get("podium.talk_ids", [])
    ]
    assert request["name"] == "POST /hooks/talks"
    (write,) = [s for s in _spans(files["gateway"]) if s["name"] == "record-talks"]
    assert write["parent_id"] == request["context"]["span_id"]
    assert request["resource"]["attributes"]["service.name"] == "podium-gateway"
    trace_id = request["context"]["trace_id"]
    mine = [s for s in _spans(files["warm"]) if s["context"]["trace_id"] == trace_id]
    names = {s["name"] for s in mine}
    assert {"warm-run", "tag-talks", "draw-covers", "ledger-record"} <= names, names
    (run,) = [s for s in mine if s["name"] == "warm-run"]
    assert run["parent_id"] == request["context"]["span_id"], "continued from the event payload"
    assert talk_id in run["attributes"]["podium.talk_ids"]
    assert all(s["resource"]["attributes"]["service.name"] == "podium-warm-executor" for s in mine)
    tag = next(s for s in mine if s["name"] == "tag-talks")
    assert talk_id in tag["attributes"]["podium.talk_ids"]
    # The executor's JSON log line for the run names the talk, the run and the trace.
    lines = [json.loads(line) for line in logs[1].read_text().splitlines() if line.startswith("{")]
    running = [line for line in lines if line["message"].endswith("running in process")]
    assert running, logs[1].read_text()[-2000:]
    assert running[-1]["trace_id"] == trace_id.removeprefix("0x")
    assert running[-1]["talk_id"] == talk_id
    assert running[-1]["run_id"] == run["attributes"]["prefect.flow_run.id"]
    # The gateway's own lines are JSON too (uvicorn's access log included).
    gateway_lines = [line for line in logs[0].read_text().splitlines() if line.strip()]
    assert gateway_lines and all(line.startswith("{") for line in gateway_lines[-5:])
