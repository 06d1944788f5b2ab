"""`podium backfill` as a platform team runs it: `python -m podium` in a subprocess.

Real: the CLI, the lake in a temp folder, and (slow test) a temporary Prefect server, a local
Dask cluster, the MiniLM tagger and the card backend. Nothing is faked; the slow test checks
through psutil that no process the command started outlives it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from podium.demo import SAMPLE_DIR
from podium.lake import Lake
from tests.prefect_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PODIUM_"))}
    env.update(
        {
            "PODIUM_HOME": str(home),
            "PODIUM_LAKE__URL": str(home / "lake"),
            # Nothing listens here: the command must start (and stop) a server of its own.
            "PODIUM_PREFECT__API_URL": f"http://127.0.0.1:{free_port()}/api",
            "PYTHONPATH": str(ROOT),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1",
        }
    )
    return env


def _source(tmp_path: Path, n: int) -> Path:
    talks = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:n]
    path = tmp_path / "talks.json"
    path.write_text(json.dumps(talks), encoding="utf-8")
    return path


def _backfill(home: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", "backfill", *args],
        env=_env(home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_without_a_vocabulary_it_fails_in_one_line_before_importing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _backfill(home, str(_source(tmp_path, 4)), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: no tag vocabulary in the lake yet: run `podium vocabulary set FILE` first"
    ]
    assert Lake(str(home / "lake")).read("talks").empty, "nothing imported"


def _started_with(home: Path) -> list[int]:
    """Processes whose environment names this PODIUM_HOME (the command and its children)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("PODIUM_HOME") == str(home):
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.mark.slow
def test_backfill_reports_to_one_server_and_leaves_nothing_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    vocabulary = subprocess.run(
        [sys.executable, "-m", "podium", "vocabulary", "set", str(SAMPLE_DIR / "vocabulary.json")],
        env=_env(home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert vocabulary.returncode == 0, vocabulary.stderr
    result = _backfill(home, str(_source(tmp_path, 8)), "--chunk-size", "4", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started one for this command" in result.stdout
    assert "8 talks in 2 chunks, 8 tagged, 8 covers, 0 failed" in result.stdout
    # One server for the command: no worker started a temporary server of its own.
    assert len(list((home / "prefect-command").glob("prefect.db*"))) >= 1
    assert "Starting temporary server" not in result.stdout + result.stderr
    assert _started_with(home) == [], "a process started by the command outlived it"
