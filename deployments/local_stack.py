"""The embedded default: a local Prefect server, the two work pools, the deployments of
prefect.yaml, one process worker per pool, and the gateway — started together, stopped together.

Every child runs in its own process group so Ctrl-C (or an error) stops all of it, with no
orphaned processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from podium.errors import UserError
from podium.settings import Settings
from podium.telemetry import analytics_off

PROJECT_DIR = Path(__file__).resolve().parent.parent
WORK_POOLS = ("podium-cpu", "podium-gpu")
# Event-driven model work runs here, in a long-lived process (deployments/warm_executor.py).
WARM_POOL, WARM_QUEUE = "podium-gpu", "warm"
# Seconds a child gets to stop after SIGTERM before its whole process group is killed.
STOP_GRACE_S = 5.0


def die_with_parent() -> None:
    """In a child, before exec: ask Linux to SIGTERM it when its parent dies, so a killed
    `podium up` (or test run) leaves no orphans. A no-op where prctl is unavailable."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


# Every process a command starts carries this variable, and so does everything those start (a
# worker's flow-run processes inherit the worker's environment). A flow run that a worker
# starts in a session of its own, or during the stop, escapes its worker's process group and
# is reparented to init; its environment still names the command that owns it.
STACK_MARK = "_PODIUM_STACK"


def marked(mark: str) -> list[int]:
    """Pids of the live processes, other than this one, whose environment carries `mark`."""
    needle = f"\0{STACK_MARK}={mark}\0".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:  # a zombie's environment reads empty: it is already gone
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                if needle in b"\0" + handle.read() + b"\0":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def stop_groups(pgids: list[int], *, grace_s: float, mark: str | None = None) -> None:
    """SIGTERM every process group in `pgids` (and every process carrying `mark`), then SIGKILL
    what is left after `grace_s`: a child that ignores SIGTERM, or a worker's flow-run process,
    cannot outlive it, even one in its own session that a worker started during the stop."""
    for pgid in pgids:
        _signal_group(pgid, signal.SIGTERM)
    stray = marked(mark) if mark else []
    for pid in stray:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and (
        any(_group_alive(p) for p in pgids) or (mark and marked(mark))
    ):
        time.sleep(0.1)
    for pgid in pgids:
        _signal_group(pgid, signal.SIGKILL)
    if mark:
        # A process being started by a dying worker may appear after one scan: scan until two
        # in a row find nothing.
        deadline, clean = time.monotonic() + 10, 0
        while clean < 2 and time.monotonic() < deadline:
            left = marked(mark)
            for pid in left:
                _signal(pid, signal.SIGKILL)
            clean = 0 if left else clean + 1
            time.sleep(0.1)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def reaped() -> Iterator[str]:
    """For a command that starts processes (`podium backfill`): mark this process's
    environment so that every process it starts, and theirs, inherits the mark; make SIGTERM
    stop it as Ctrl-C does; on the way out stop every marked process still running."""
    previous = os.environ.get(STACK_MARK)
    mark = previous or uuid.uuid4().hex
    os.environ[STACK_MARK] = mark
    stop_on_sigterm()
    try:
        yield mark
    finally:
        if previous is None:
            os.environ.pop(STACK_MARK, None)
            stop_groups([], grace_s=STOP_GRACE_S, mark=mark)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a non-zombie process is left in group `pgid`."""
    import psutil

    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != "zombie":
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def warm_executor_env(settings: Settings) -> dict[str, str]:
    """Settings of the local stack's warm executor: one encoder thread, unless chosen.

    Here the executor shares its cores with the gateway, the Prefect server and the workers.
    Measured in a burst of 200 (`bench/burst.py`, quiet machine otherwise): with the library's
    two threads a tag task of ~18 talks took 1.2-1.75 s on average, as the threads wait for
    each other whenever another process holds a core; with one, 0.33 s. An executor on a host
    of its own should set `PODIUM_TAGGING__THREADS` to its cores.
    """
    if settings.tagging.threads:
        return {}
    return {"PODIUM_TAGGING__THREADS": "1"}


# Counts and recommendations run in a warm CPU executor of their own (`deployments/warm_derived.py`,
# the `warm-derived` process); the warm executors then leave them alone and keep their cores
# for tagging (docs/warm-derived.md: in-process, a refresher slowed tagging 2x in a burst).
EXECUTOR_DERIVED_OFF = {"PODIUM_DERIVED__WARM": "false"}


def refresher_command(probe_port: int | None = None) -> list[str]:
    """The command of the warm counts-and-recommendations process."""
    args = [sys.executable, "-m", "deployments.warm_derived"]
    return args + ([] if probe_port is None else ["--probe-port", str(probe_port)])


def prefect_env(home: Path, port: int) -> dict[str, str]:
    """This environment plus a local Prefect server's settings: its home and SQLite database
    under `home`, its port, analytics off. Clients started with it talk to that server."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
            "HF_HUB_OFFLINE": "1",
        }
    )
    return dict(analytics_off(env))


def prefect_auth_env(settings: Settings) -> dict[str, str]:
    """The Prefect auth string (`prefect.auth_string`) as Prefect's own clients read it:
    every process Podium starts (workers, warm executors, flow runs, Dask workers) then sends
    it as Basic auth; the local stack's server also requires it. Empty when unset."""
    if settings.prefect.auth_string is None:
        return {}
    value = settings.prefect.auth_string.get_secret_value()
    return {"PREFECT_API_AUTH_STRING": value, "PODIUM_PREFECT__AUTH_STRING": value}


def server_command(port: int) -> list[str]:
    """The command that runs a Prefect server on 127.0.0.1:`port`."""
    return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip


def wait_healthy(
    process: subprocess.Popen, url: str, *, timeout_s: float, name: str, log: Path
) -> None:
    """Poll `url` until it answers 200; raise `StackError` if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited; see {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{name} did not answer at {url} within {timeout_s:.0f} s; see {log}")


def stop_on_sigterm() -> None:
    """Make SIGTERM (CI, a supervisor, `kill`) stop the stack the way Ctrl-C does."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


class StackError(UserError, RuntimeError):
    """A part of the local stack failed to start."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def prefect_api_for(settings: Settings, say: Callable[[str], None] = print) -> Iterator[str]:
    """The one Prefect API a command and every process it starts (Dask workers) report to.

    `PREFECT_API_URL` when set; else the configured server (`prefect.api_url`) when it
    answers; else a temporary server started for this command and stopped when it ends.
    Without this, each Dask worker process would start a temporary server of its own.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    process = None
    if not url:
        if _answers(f"{settings.prefect.api_url}/health"):
            url = settings.prefect.api_url
        elif settings.environment == "production":
            raise StackError(
                f"the Prefect server at {settings.prefect.api_url} does not answer; production "
                "never starts a temporary embedded one"
            )
        else:
            port = free_port()
            home = settings.home.resolve() / "prefect-command"
            home.mkdir(parents=True, exist_ok=True)
            log = open(home / "server.log", "ab")  # noqa: SIM115 - closed below
            process = subprocess.Popen(
                server_command(port),
                env=prefect_env(home, port),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
            url = f"http://127.0.0.1:{port}/api"
            say(f"no Prefect server is configured: started one for this command at {url}")
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url  # inherited by every process this command starts
    auth = prefect_auth_env(settings)
    previous_auth = {name: os.environ.get(name) for name in auth}
    os.environ.update(auth)
    try:
        if process is not None:
            log_path = settings.home.resolve() / "prefect-command" / "server.log"
            wait_healthy(
                process, f"{url}/health", timeout_s=180, name="prefect server", log=log_path
            )
        overrides: dict[Any, Any] = {PREFECT_API_URL: url}
        if auth:
            from prefect.settings import PREFECT_API_AUTH_STRING

            overrides[PREFECT_API_AUTH_STRING] = auth["PREFECT_API_AUTH_STRING"]
        with temporary_settings(overrides):
            try:
                yield url
            finally:
                if process is not None:
                    from prefect.logging.handlers import APILogWorker

                    # Send the run logs still queued while the server is up, not after.
                    APILogWorker.drain_all(timeout=10)
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        for name, value in previous_auth.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if process is not None:
            stop_groups([process.pid], grace_s=STOP_GRACE_S)
            process.wait()
            log.close()


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


@dataclass
class LocalStack:
    """Processes of the embedded default, with their logs under `<home>/logs`."""

    settings: Settings
    server_port: int = 4200
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    say: Callable[[str], None] = print
    _watchdog: subprocess.Popen | None = field(default=None, init=False, repr=False)
    # Each child's command and extra environment, to start a recycled one again.
    _commands: dict[str, tuple[list[str], dict[str, str] | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    # Inherited by every process of this stack and their children (see STACK_MARK); a stack
    # started inside a reaped command takes that command's mark.
    mark: str = field(default_factory=lambda: os.environ.get(STACK_MARK) or uuid.uuid4().hex)

    @property
    def home(self) -> Path:
        return self.settings.home.resolve()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.gateway.host}:{self.settings.gateway.port}"

    def env(self) -> dict[str, str]:
        """Environment shared by every child: one Prefect home, one lake, analytics off."""
        env = prefect_env(self.home / "prefect", self.server_port)
        env.update(
            {
                "PREFECT_UI_URL": self.ui_url,
                "PREFECT_WORKER_QUERY_SECONDS": "2",
                "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                "PREFECT_LOGGING_LEVEL": "INFO",
                "PODIUM_HOME": str(self.home),
                "PODIUM_LAKE__URL": self.settings.lake_url,
                "PODIUM_PREFECT__API_URL": self.api_url,
                "PODIUM_PREFECT__UI_URL": self.ui_url,
                "PODIUM_GATEWAY__HOST": self.settings.gateway.host,
                "PODIUM_GATEWAY__PORT": str(self.settings.gateway.port),
                # Children must verify what this process signs (the demo posts signed talks).
                "PODIUM_GATEWAY__SECRET": self.settings.gateway.secret.get_secret_value(),
                "PODIUM_PROJECT_DIR": str(PROJECT_DIR),
                STACK_MARK: self.mark,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
        )
        push_secret = self.settings.review.push_secret
        if push_secret is not None:  # /hooks/push has its own key: children verify it too
            env["PODIUM_REVIEW__PUSH_SECRET"] = push_secret.get_secret_value()
        auth = prefect_auth_env(self.settings)
        if auth:  # the embedded server requires it, and every client sends it
            env.update(auth)
            env["PREFECT_SERVER_API_AUTH_STRING"] = auth["PREFECT_API_AUTH_STRING"]
        return env

    def _watch(self, pid: int) -> None:
        # A killed `podium up` cannot stop its children; the watchdog sees its pipe close and
        # stops every group it was told about (children's children included).
        if self._watchdog is None:
            # Unmarked: stopping the stack's marked processes must not stop the watchdog.
            env = {k: v for k, v in self.env().items() if k != STACK_MARK}
            self._watchdog = subprocess.Popen(
                [sys.executable, "-m", "deployments.watchdog", str(STOP_GRACE_S), self.mark],
                stdin=subprocess.PIPE,
                cwd=PROJECT_DIR,
                env=env,
                start_new_session=True,  # Ctrl-C on the terminal must not stop it first
            )
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.write(f"{pid}\n".encode())
        self._watchdog.stdin.flush()

    def _spawn(
        self, name: str, args: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        process = subprocess.Popen(
            args,
            env={**self.env(), **(extra_env or {})},
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped as a whole
            preexec_fn=die_with_parent,
        )
        self.processes[name] = process
        self._commands[name] = (args, extra_env)
        self._watch(process.pid)
        return process

    def _prefect(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            env=self.env(),
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise StackError(f"`prefect {' '.join(args)}` failed: {' | '.join(tail)}")
        return result.stdout

    def _wait_healthy(self, name: str, url: str, timeout_s: float) -> None:
        log = self.home / "logs" / f"{name}.log"
        wait_healthy(self.processes[name], url, timeout_s=timeout_s, name=name, log=log)

    def start_server(self) -> None:
        if not port_free("127.0.0.1", self.server_port):
            raise StackError(f"port {self.server_port} is in use: is another Prefect server up?")
        (self.home / "prefect").mkdir(parents=True, exist_ok=True)
        self.say(f"starting Prefect server on {self.ui_url}")
        self._spawn("prefect-server", server_command(self.server_port))
        self._wait_healthy("prefect-server", f"{self.api_url}/health", 120)

    def create_pools(self) -> None:
        for pool in WORK_POOLS:
            self._prefect("work-pool", "create", pool, "--type", "process", "--overwrite")
        self.say(f"work pools: {', '.join(WORK_POOLS)}")

    def deploy(self) -> None:
        self.say("deploying prefect.yaml")
        self._prefect(
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(PROJECT_DIR / "prefect.yaml"),
            timeout=300,
        )

    def start_workers(self) -> None:
        for pool in WORK_POOLS:
            self._spawn(
                f"worker-{pool}",
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    pool,
                    "--type",
                    "process",
                    "--name",
                    f"local-{pool}",
                    # The `warm` queue belongs to the warm executor alone.
                    "--work-queue",
                    "default",
                ],
            )
        self.say("workers: one process worker per pool")
        probe_port = self.settings.ops.executor_port or free_port()
        self._spawn(
            "warm-executor",
            [sys.executable, "-m", "deployments.warm_executor", "--pool", WARM_POOL,
             "--queue", WARM_QUEUE, "--probe-port", str(probe_port)],
            extra_env={**warm_executor_env(self.settings), **EXECUTOR_DERIVED_OFF},
        )  # fmt: skip
        self.say(
            f"warm executor on {WARM_POOL}/{WARM_QUEUE} (models load once, in process); "
            f"/metrics, /healthz, /readyz on http://127.0.0.1:{probe_port}"
        )
        self.start_refresher()

    def start_refresher(self) -> None:
        """The warm counts-and-recommendations process (`warm-derived`), unless
        `derived.warm` is off (then only the cold deployments keep them current)."""
        if not self.settings.derived.warm:
            self.say("warm counts and recommendations off (derived.warm): cold runs only")
            return
        probe_port = free_port()
        self._spawn("warm-derived", refresher_command(probe_port))
        self.say(
            "counts and recommendations: warm, in a process of their own; "
            f"/metrics, /healthz, /readyz on http://127.0.0.1:{probe_port}"
        )

    def start_gateway(self) -> None:
        gateway = self.settings.gateway
        if not port_free(gateway.host, gateway.port):
            raise StackError(f"gateway port {gateway.port} is in use")
        self._spawn("gateway", [sys.executable, "-m", "podium", "gateway"])
        self._wait_healthy("gateway", f"{self.gateway_url}/healthz", 60)
        self.say(f"gateway on {self.gateway_url}")

    def up(self) -> None:
        """Start everything; on any failure stop what was started and raise."""
        if self.settings.environment == "production":
            raise StackError(
                "`podium up` starts the embedded Prefect server and a local stack; production "
                "runs its own server, workers and gateway (see infra/)"
            )
        try:
            self.start_server()
            self.create_pools()
            self.deploy()
            self.start_workers()
            self.start_gateway()
        except BaseException:
            self.down()
            raise

    def check(self) -> None:
        """Raise when a child died (workers and the gateway must stay up); a warm executor
        that recycled itself (`RECYCLE_EXIT`) is started again, as its Deployment would be."""
        from deployments.warm_executor import RECYCLE_EXIT

        for name, process in list(self.processes.items()):
            if process.poll() is None:
                continue
            if process.returncode == RECYCLE_EXIT and name in self._commands:
                self.say(f"{name} recycled itself (memory); starting a fresh one")
                self._spawn(name, *self._commands[name])
                continue
            raise StackError(f"{name} stopped; see {self.home / 'logs' / (name + '.log')}")

    def down(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop every child and what it started: SIGTERM to each process group, then SIGKILL
        to every group still there after `grace_s` (a worker's flow-run processes included)."""
        stop_groups([p.pid for p in self.processes.values()], grace_s=grace_s, mark=self.mark)
        for process in self.processes.values():
            process.wait()
        self.processes.clear()
        if self._watchdog is not None:
            self._watchdog.stdin.close()  # type: ignore[union-attr]  # EOF: it exits
            self._watchdog.wait(timeout=grace_s + 30)
            self._watchdog = None
