"""Analytics off in every process Podium starts, not only under `make`.

Real: `podium backfill` runs as a subprocess with an environment that says nothing about
analytics and names no Prefect API, so Prefect starts its own ephemeral server, whose telemetry
service would try to reach Prefect's servers (and, offline, log `Failed to send telemetry`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deployments.local_stack import PROJECT_DIR, LocalStack
from podium.settings import Settings
from podium.telemetry import ANALYTICS_OFF

SAMPLE_VOCABULARY = PROJECT_DIR / "data" / "sample" / "vocabulary.json"
UNSET = ("DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_API_URL", "CI")


def test_backfill_on_an_ephemeral_server_sends_no_telemetry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("PODIUM_")}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PODIUM_HOME": str(tmp_path / "home"),
            "PODIUM_LAKE__URL": str(tmp_path / "lake"),
            "PYTHONPATH": str(PROJECT_DIR),
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
    )
    # A backfill checks for a vocabulary before any work (and before starting a server).
    subprocess.run(
        [sys.executable, "-m", "podium", "vocabulary", "set", str(SAMPLE_VOCABULARY)],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = subprocess.run(
        [sys.executable, "-m", "podium", "backfill", "--workers", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "started one for this command" in output, "the temporary-server path was taken"
    assert "Error logging to API" not in output, "run logs are sent before the server stops"
    assert "telemetry" not in output.lower(), output[-2000:]
    assert "backfill · pending talks" in output, "the run is named by what it handles"


def test_every_child_of_the_local_stack_has_analytics_off(monkeypatch, tmp_path: Path) -> None:
    for key in UNSET:
        monkeypatch.delenv(key, raising=False)
    stack = LocalStack(Settings(home=tmp_path, lake={"url": str(tmp_path / "lake")}))
    env = stack.env()
    assert {k: env[k] for k in ANALYTICS_OFF} == ANALYTICS_OFF
