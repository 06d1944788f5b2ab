"""Start a real Prefect server on a free port for tests (SQLite in a temp folder)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from deployments.local_stack import (
    StackError,
    die_with_parent,
    prefect_env,
    server_command,
    wait_healthy,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(home: Path, port: int) -> dict[str, str]:
    """Environment for a test Prefect server, and for clients of it: quiet, no UI."""
    env = prefect_env(home, port)
    env.update(
        {
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            "PREFECT_UI_ENABLED": "false",
        }
    )
    return env


def start_server(
    home: Path,
    *,
    timeout_s: float = 240,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` and wait until /api/health answers (on `port`, to restart a
    server where its clients expect it; default a free one). `extra_env` adds server settings
    (e.g. PREFECT_SERVER_API_AUTH_STRING)."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {**server_env(home, port), **(extra_env or {})}
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        server_command(port),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,  # no orphaned server when a test run is killed
    )
    process.log = log  # type: ignore[attr-defined]  # closed by stop()
    api = env["PREFECT_API_URL"]
    try:
        wait_healthy(
            process,
            f"{api}/health",
            timeout_s=timeout_s,
            name="prefect server",
            log=home / "server.log",
        )
    except StackError:
        stop(process)
        raise
    return process, api


def stop(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    log = getattr(process, "log", None)
    if log is not None:
        log.close()


def events_named(api_url: str, name: str, *, timeout_s: float = 30) -> list[dict]:
    """The server's stored events called `name`, waiting for them to appear (it persists
    events in batches)."""
    import time

    import httpx

    found: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while not found and time.monotonic() < deadline:
        response = httpx.post(
            f"{api_url}/events/filter", json={"filter": {"event": {"name": [name]}}}
        )
        response.raise_for_status()
        found = response.json()["events"]
        time.sleep(0.5)
    return found


def artifact_keys(api_url: str) -> set[str]:
    """The keys of the server's artifacts (the first 200)."""
    import httpx

    response = httpx.post(f"{api_url}/artifacts/filter", json={"limit": 200})
    response.raise_for_status()
    return {a["key"] for a in response.json() if a.get("key")}


def latest_artifact(api_url: str, key: str) -> dict:
    """The latest version of the artifact `key` (there must be one)."""
    import httpx

    response = httpx.post(
        f"{api_url}/artifacts/latest/filter", json={"artifacts": {"key": {"any_": [key]}}}
    )
    response.raise_for_status()
    (found,) = response.json()
    return found


def run_names(api_url: str, flow_name: str) -> list[str]:
    """The names of the runs of the flow `flow_name`."""
    import httpx

    response = httpx.post(
        f"{api_url}/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}}
    )
    response.raise_for_status()
    return [run["name"] for run in response.json()]
