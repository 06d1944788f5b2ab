"""Process-tree helpers the stop tests share: what is still alive, waiting for it to go."""

from __future__ import annotations

import time

import psutil


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
