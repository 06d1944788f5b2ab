"""Process helpers the tests and benches share: a Podium process's environment, what is
still alive of a process tree, waiting for it to go."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def podium_env(**podium: str) -> dict[str, str]:
    """The environment of a Podium process: this checkout first, telemetry off, and each
    keyword as a `PODIUM_` setting (`home="/tmp/x"` gives `PODIUM_HOME`)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.update({f"PODIUM_{k.upper()}": v for k, v in podium.items()})
    return env


def stop(process: subprocess.Popen, timeout_s: float = 10) -> None:
    """Stop a process: SIGTERM, then SIGKILL if it is still there after `timeout_s`."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def stop_group(
    process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout_s: float = 15
) -> None:
    """Stop a process started in a session of its own, with everything it started: `sig` to
    its process group, then SIGKILL if it is still there after `timeout_s`."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


def alive(pids: list[int]) -> list[int]:
    """The pids of `pids` that are running (a zombie has already stopped)."""
    found = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait up to `timeout_s` for every pid to stop; the ones still running."""
    deadline = time.monotonic() + timeout_s
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)
