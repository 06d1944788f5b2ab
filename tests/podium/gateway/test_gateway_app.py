"""The gateway app as a whole: /readyz, the OpenAPI description, and `serve()`.

Real: uvicorn on a free port (in a thread, and `serve()` in a child process as `podium gateway`
runs it), the lake in a temp folder, the session's Prefect server for a healthy /healthz. A closed
port stands in for an unreachable Prefect server. More on the probes and /metrics in
`test_gateway_probes.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from podium.gateway import create_app, running_gateway
from podium.settings import Settings
from tests.prefect_server import free_port


def _with_prefect(settings: Settings, api_url: str) -> Settings:
    prefect = settings.prefect.model_copy(update={"api_url": api_url})
    return settings.model_copy(update={"prefect": prefect})


def test_readyz_reports_lake_and_prefect(settings: Settings, prefect_server: str) -> None:
    with running_gateway(_with_prefect(settings, prefect_server), port=0) as url:
        response = httpx.get(url + "/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "lake": "ok",
        "prefect": "ok",
        "replay_store": "not_configured",
        "version": "0.1.0",
    }


def test_openapi_describes_every_route(settings: Settings) -> None:
    with running_gateway(settings, port=0) as url:
        spec = httpx.get(url + "/openapi.json").json()
    paths = spec["paths"]
    assert {"/hooks/talks", "/hooks/dynamodb", "/healthz", "/readyz", "/metrics"} <= set(paths)
    # The routers of the recommendations and review modules are part of the same app.
    assert {"/events/{event_id}/recommendations", "/hooks/github", "/hooks/gitlab"} <= set(paths)
    for path in ("/hooks/talks", "/hooks/dynamodb"):
        operation = paths[path]["post"]
        assert set(operation["responses"]) == {
            "200",
            "202",
            "400",
            "401",
            "409",
            "413",
            "415",
            "422",
            "503",
        }
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" not in str(schema)  # inlined: resolvable without registered components
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "X-Podium-Timestamp",
            "X-Podium-Signature",
        }
    talk_schema = paths["/hooks/talks"]["post"]["requestBody"]["content"]["application/json"]
    assert "talk_id" in str(talk_schema) and "content_hash" not in str(talk_schema)
    assert "Records" in str(paths["/hooks/dynamodb"]["post"]["requestBody"])
    # Every response model the routes name is in the components.
    refs = {
        content["schema"]["$ref"].rsplit("/", 1)[1]
        for route in paths.values()
        for operation in route.values()
        for response in operation["responses"].values()
        for content in response.get("content", {}).values()
        if "$ref" in content.get("schema", {})
    }
    assert {"HookResponse", "ErrorResponse", "Liveness", "Readiness"} <= refs
    assert refs <= set(spec["components"]["schemas"])


def test_create_app_builds_its_resources_from_settings(settings: Settings) -> None:
    app = create_app(settings)
    assert app.state.settings is settings
    assert app.state.lake.url == settings.lake_url
    assert app.state.poster.api_url == settings.prefect.api_url


@pytest.mark.parametrize(
    ("sig", "expected_rc"), [(signal.SIGINT, 0), (signal.SIGTERM, -signal.SIGTERM)]
)
def test_serve_runs_the_gateway_until_signalled(
    sig: signal.Signals, expected_rc: int, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PODIUM_HOME": str(settings.home),
            "PODIUM_LAKE__URL": settings.lake_url,
            "PODIUM_GATEWAY__PORT": str(port),
            "PODIUM_PREFECT__API_URL": f"http://127.0.0.1:{free_port()}/api",
        }
    )
    code = (
        "from podium.settings import get_settings; from podium.gateway import serve; "
        "serve(get_settings())"
    )
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200, log.read_text()
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["prefect"]) == (503, "unreachable")
    finally:
        process.send_signal(sig)
        try:
            rc = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"the gateway did not stop on {sig.name}")
    # Graceful either way; uvicorn re-raises SIGTERM after shutting down.
    assert rc == expected_rc, log.read_text()
    assert "Application shutdown complete" in log.read_text()
