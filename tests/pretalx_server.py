"""A real pretalx server for tests: its own virtualenv, SQLite, loopback, a free port.

`tests/setup/pretalx.sh` (`make test-deps`) installs pretalx in `$PODIUM_PRETALX_HOME/venv` (default
/opt/podium-pretalx) and builds a migrated template database with the demo event
(`create_test_event`) and an API token. Each test copies the template, so it starts from the
same event in seconds, and stops the server it started.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.prefect_server import free_port

# The same default as tests/setup/pretalx.sh: /opt as root, else the user's cache.
PRETALX_HOME = Path(
    os.environ.get("PODIUM_PRETALX_HOME")
    or (
        "/opt/podium-pretalx"
        if os.geteuid() == 0
        else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "podium-pretalx"
    )
)
ADMIN_DIR = Path(__file__).resolve().parent / "pretalx_admin"
SLUG = "democon"


def not_set_up() -> str | None:
    """Why the live pretalx server cannot run here, or None when it can."""
    python = PRETALX_HOME / "venv" / "bin" / "python"
    if not python.exists():
        return (
            f"no pretalx virtualenv at {python.parent.parent}: `make test-deps` installs it "
            "where a Python 3.13 runs (pretalx 2026.2 needs one)"
        )
    if not (PRETALX_HOME / "template" / "init.json").exists():
        return f"no pretalx template database in {PRETALX_HOME / 'template'}; run `make test-deps`"
    return None


@dataclass
class PretalxServer:
    process: subprocess.Popen
    data_dir: Path
    url: str  # http://127.0.0.1:PORT
    token: str
    log: Path

    def env(self) -> dict[str, str]:
        return _env(self.data_dir)

    def admin(self, action: str) -> dict:
        """Run an organiser action (tests/pretalx_admin/admin.py) against this server's data."""
        python = str(PRETALX_HOME / "venv" / "bin" / "python")
        done = subprocess.run(
            [python, str(ADMIN_DIR / "admin.py"), action, SLUG],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pretalx admin {action} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "PREFECT_"))}
    env.update(
        PRETALX_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="podium_pretalx_settings",
        PYTHONPATH=str(ADMIN_DIR),
        PRETALX_NO_INITIAL_LOG="1",
    )
    return env


def start_pretalx(workdir: Path, *, timeout_s: float = 120) -> PretalxServer:
    """Copy the template data and serve it on 127.0.0.1 at a free port."""
    data_dir = workdir / "pretalx-data"
    shutil.copytree(PRETALX_HOME / "template", data_dir)
    token = json.loads((data_dir / "init.json").read_text())["token"]
    port = free_port()
    log = workdir / "pretalx-server.log"
    process = subprocess.Popen(
        [
            str(PRETALX_HOME / "venv" / "bin" / "python"),
            "-m",
            "pretalx",
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
        ],
        env=_env(data_dir),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = PretalxServer(process, data_dir, f"http://127.0.0.1:{port}", token, log)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = httpx.get(
                f"{server.url}/api/events/{SLUG}/",
                headers={"Authorization": f"Token {token}"},
                timeout=5,
            )
            if answer.status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pretalx did not start on {server.url}:\n{tail}")
        time.sleep(0.3)
