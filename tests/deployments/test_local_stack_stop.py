"""Stopping the local stack leaves no process behind, also when `podium up` itself is killed.

Real: `LocalStack._spawn` starting real child processes (shell scripts that start a child of
their own, one of them ignoring SIGTERM, like a worker busy with a flow-run process), real
signals, the real watchdog process. No Prefect server is needed for this.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from deployments.local_stack import PROJECT_DIR, LocalStack, reaped
from podium.settings import Settings
from tests.processes import alive, wait_gone

# A child that ignores SIGTERM and has a child of its own; and a plain one with a child.
STUBBORN = ["bash", "-c", "trap '' TERM; sleep 300 & wait; sleep 300"]
PLAIN = ["bash", "-c", "sleep 300 & wait"]
# Like a worker whose flow-run process runs in a session of its own and ignores SIGTERM: it
# escapes the worker's process group, and outlives the worker (reparented to init).
ESCAPER = ["bash", "-c", "setsid bash -c \"trap '' TERM; sleep 300 & wait\" & wait"]


def _tree(pid: int) -> list[int]:
    process = psutil.Process(pid)
    return [pid] + [c.pid for c in process.children(recursive=True)]


def _wait_children(pid: int, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(psutil.Process(pid).children()) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_stop_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    stack = LocalStack(Settings(home=tmp_path), say=lambda _: None)
    stubborn = stack._spawn("stubborn", STUBBORN)
    plain = stack._spawn("plain", PLAIN)
    for process in (stubborn, plain):
        _wait_children(process.pid, 1)
    pids = _tree(stubborn.pid) + _tree(plain.pid)
    assert len(pids) == 4
    started = time.monotonic()
    stack.down(grace_s=1.0)
    assert wait_gone(pids, 5) == []
    assert time.monotonic() - started < 8, "the stubborn child was killed after the grace period"


PARENT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import psutil
    from deployments.local_stack import LocalStack
    from podium.settings import Settings
    stack = LocalStack(Settings(home=Path(sys.argv[1])), say=lambda _: None)
    pids = []
    for name, args in (("stubborn", %r), ("plain", %r)):
        process = stack._spawn(name, args)
        deadline = time.monotonic() + 10
        while not psutil.Process(process.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        pids += [process.pid] + [c.pid for c in psutil.Process(process.pid).children()]
    print(json.dumps(pids), flush=True)
    time.sleep(300)
    """
) % (STUBBORN, PLAIN)


@contextmanager
def _parent(script: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[int]]]:
    """Run `script` (a PARENT: a stack that prints the pids it started, then waits) in a process
    of its own; (that process, the pids). It is killed at the end if it is still there."""
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        text=True,
    )
    try:
        yield parent, json.loads(parent.stdout.readline())  # type: ignore[union-attr]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_killed_parent_leaves_no_children(tmp_path: Path) -> None:
    with _parent(PARENT, tmp_path) as (parent, pids):
        assert len(alive(pids)) == 4
        parent.send_signal(signal.SIGKILL)  # a forced stop: no cleanup code runs in it
        parent.wait()
        assert wait_gone(pids, 15) == [], "children and their children outlived the parent"


def _escaped(pid: int) -> list[int]:
    """The processes under `pid` that left its process group (the flow-run stand-ins)."""
    _wait_children(pid, 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [
            c.pid for c in psutil.Process(pid).children(recursive=True) if os.getpgid(c.pid) != pid
        ]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the escaping child did not start")


def test_stop_reaches_a_flow_run_in_its_own_session(tmp_path: Path) -> None:
    stack = LocalStack(Settings(home=tmp_path), say=lambda _: None)
    worker = stack._spawn("worker", ESCAPER)
    escaped = _escaped(worker.pid)
    assert all(os.getsid(pid) != os.getsid(worker.pid) for pid in escaped)
    pids = _tree(worker.pid)
    stack.down(grace_s=1.0)
    assert wait_gone(pids, 5) == [], "a flow-run process in its own session outlived the stop"


def test_a_killed_parent_leaves_no_escaped_flow_run(tmp_path: Path) -> None:
    script = PARENT.replace(repr(STUBBORN), repr(ESCAPER)).replace(
        ".children()]", ".children(recursive=True)]"
    )
    with _parent(script, tmp_path) as (parent, pids):
        escaped = [p for p in pids if os.getpgid(p) not in (p, *pids) or os.getsid(p) == p]
        assert escaped, "no escaping process was started"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_gone(pids, 20) == [], "an escaped flow-run process outlived a killed parent"


def test_a_reaped_command_leaves_nothing(tmp_path: Path) -> None:
    """`podium backfill` runs inside `reaped()`: what it started (a Dask worker, a server, in a
    session of its own or not, ignoring SIGTERM or not) is stopped when it ends."""
    with reaped():
        started = [
            subprocess.Popen(args, start_new_session=new)
            for args, new in ((STUBBORN, True), (PLAIN, False), (ESCAPER, False))
        ]
        for process in started:
            _wait_children(process.pid, 1)
        pids = [pid for process in started for pid in _tree(process.pid)]
    assert wait_gone(pids, 5) == []
    assert "_PODIUM_STACK" not in os.environ, "the mark must not leak into later commands"


def test_a_recycled_warm_executor_is_started_again_and_any_other_death_is_raised(
    tmp_path: Path,
) -> None:
    from deployments.local_stack import StackError
    from deployments.warm_executor import RECYCLE_EXIT

    said: list[str] = []
    stack = LocalStack(Settings(home=tmp_path), say=said.append)
    count = tmp_path / "starts"
    # Counts its starts, then exits as an executor over its memory budget does.
    recycling = ["bash", "-c", f"echo x >> {count}; exit {RECYCLE_EXIT}"]
    try:
        first = stack._spawn("warm-executor", recycling)
        first.wait(10)
        stack.check()  # recycled: started again, not an error
        second = stack.processes["warm-executor"]
        assert second is not first and second.wait(10) == RECYCLE_EXIT
        assert count.read_text().count("x") == 2
        assert any("recycled itself" in line for line in said)
        crashing = stack._spawn("gateway", ["bash", "-c", "exit 1"])
        crashing.wait(10)
        stack.processes.pop("warm-executor")
        with pytest.raises(StackError, match="gateway stopped"):  # any other death stops `up`
            stack.check()
    finally:
        stack.down(grace_s=1.0)
