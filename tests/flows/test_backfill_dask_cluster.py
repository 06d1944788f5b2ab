"""The backfill on a real Dask cluster: a `dask scheduler` process and two `dask worker`
processes, each with its own HOME and temp folder, the lake on S3 (moto over HTTP), the run
started as the `backfill` deployment starts it, with the scheduler's address as a parameter.

Real: the processes, the lake on S3, the Prefect server (the session fixture), the MiniLM
tagger and the card backend. Nothing is shared between the processes but the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.local_stack import PROJECT_DIR, die_with_parent
from podium.demo import SAMPLE_DIR
from podium.lake import Lake
from podium.settings import Settings, get_settings
from podium.vocabulary import read_vocabulary_file, save_vocabulary
from tests.moto_server import moto_server, s3_bucket
from tests.prefect_server import free_port

BUCKET = "podium-dask"


def _env(tmp: Path, name: str, lake: dict[str, str]) -> dict[str, str]:
    home = tmp / name
    (home / "tmp").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env.update(lake)
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "PODIUM_HOME": str(home / "podium"),
            "PYTHONPATH": str(PROJECT_DIR),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
        }
    )
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            args,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=env["HOME"],  # not the project folder: nothing is read from a shared disk
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


@pytest.fixture
def s3_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with moto_server() as endpoint:
        s3_bucket(endpoint, BUCKET)
        lake = {
            "PODIUM_LAKE__URL": f"s3://{BUCKET}/lake",
            "PODIUM_LAKE__S3_ENDPOINT_URL": endpoint,
            "PODIUM_LAKE__S3_ACCESS_KEY_ID": "testing",
            "PODIUM_LAKE__S3_SECRET_ACCESS_KEY": "testing",
        }
        for key, value in lake.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        try:
            yield lake
        finally:
            get_settings.cache_clear()


# Slow: two worker processes load the models; minutes on a shared machine.
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_backfill_runs_on_a_dask_cluster_of_separate_processes(
    prefect_server: str, s3_lake: dict[str, str], tmp_path: Path
) -> None:
    from distributed import Client

    from flows.backfill import backfill

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    processes = [
        _spawn(
            [*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
            _env(tmp_path, "scheduler", s3_lake),
            tmp_path / "scheduler.log",
        )
    ]
    try:
        for i in (1, 2):
            env = _env(tmp_path, f"worker-{i}", s3_lake) | {"PREFECT_API_URL": prefect_server}
            processes.append(
                _spawn(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address,
                     "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                     "--name", f"worker-{i}", "--local-directory", env["TMPDIR"]],
                    env,
                    tmp_path / f"worker-{i}.log",
                )
            )  # fmt: skip
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids

        lake = Lake.from_settings(Settings())
        save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
        talks = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:6]
        source = tmp_path / "talks.json"
        source.write_text(json.dumps(talks), encoding="utf-8")

        # What a run of the `backfill` deployment does with `dask_address` set.
        summary = backfill(source=str(source), chunk_size=3, torch_threads=1, dask_address=address)
        assert summary["talks"] == 6 and summary["tagged"] == 6 and summary["covers"] == 6
        assert summary["failed"] == []

        ids = [t["talk_id"] for t in talks]
        state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
        assert (state.status == "done").sum() == 2 * len(ids)
        # The chunks ran on the cluster's workers, not in this process.
        with Client(address, timeout=30) as client:
            ran = client.run_on_scheduler(
                lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
            )
        assert any("tag_chunk" in name or "tag-chunk" in name for name in ran), ran
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, 15)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
