"""deployments/deploy_when_told.py: Prefect's CLI, imported ahead, runs only when told "go"."""

from __future__ import annotations

import os
import subprocess
import sys

from deployments.local_stack import PROJECT_DIR


def _start() -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.Popen(
        [sys.executable, "-m", "deployments.deploy_when_told", "--preload", "json", "--",
         "--version"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=PROJECT_DIR, env=env, text=True,
    )  # fmt: skip


def test_runs_the_cli_when_told_and_nothing_otherwise() -> None:
    import prefect

    told, untold = _start(), _start()  # both at once: each imports Prefect's CLI
    out, _ = told.communicate("go\n", timeout=180)
    assert told.returncode == 0 and out.strip() == prefect.__version__
    out, err = untold.communicate("", timeout=180)  # EOF, no "go"
    assert untold.returncode == 1 and out == "" and "nothing deployed" in err
    bad = subprocess.run(
        [sys.executable, "-m", "deployments.deploy_when_told", "--version"],
        cwd=PROJECT_DIR, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "usage" in bad.stderr
