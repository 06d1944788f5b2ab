"""Fault injection on the enrich flow with real processes: kill -9 mid-batch, a poison talk.

Real: a Prefect server, the `enrich` flow run in its own interpreter (as a worker starts it),
SIGKILL of its process group, the packaged MiniLM tagger, card covers, the lake in a temp
folder. The poison talk uses the test-only `enrich.crash_on_talk` setting, which makes the
process SIGKILL itself when it reaches that talk (as an OOM-kill or a CUDA fatal error would).
Every scenario ends with `podium.enrichment.audit`: each talk enriched at its current version,
or reported failed; none lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.demo import SAMPLE_DIR
from podium.enrichment import CRASHED, audit
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from podium.vocabulary import read_vocabulary_file, save_vocabulary

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 2


@pytest.fixture
def faulty(prefect_server: str, settings, monkeypatch: pytest.MonkeyPatch):
    """Short leases and small batches, for this process and the flow processes it starts."""
    from podium.settings import get_settings

    monkeypatch.setenv("PODIUM_ENRICH__LEASE_SECONDS", str(LEASE_S))
    monkeypatch.setenv("PODIUM_ENRICH__BATCH_SIZE", "2")
    get_settings.cache_clear()
    lake = Lake.from_settings(get_settings())
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    yield lake
    get_settings.cache_clear()


def sample(n: int) -> list[Talk]:
    rows = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:n]
    return [Talk.model_validate(r) for r in rows]


def start_flow(**env: str) -> subprocess.Popen:
    """The enrich flow in a fresh interpreter, as a process worker runs a flow run."""
    return subprocess.Popen(
        [sys.executable, "-c", "from flows.enrich import enrich; enrich()"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def held(lake: Lake) -> int:
    state = lake.read("enrichment_state", columns=["claimed_by"])
    return int(state.claimed_by.notna().sum())


def wait_for(predicate, *, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "the flow never reached the fault point"
        time.sleep(0.1)


def test_kill_9_mid_batch_then_the_next_run_finishes(faulty: Lake) -> None:
    from flows.enrich import enrich

    talks = sample(6)
    record_talks(lake=faulty, talks=talks)
    process = start_flow()
    try:
        wait_for(lambda: held(faulty) > 0)  # a batch is claimed and not recorded
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert held(faulty) > 0, "the dead run's claim is still there"
    assert audit(lake=faulty, max_attempts=3).lost == []

    time.sleep(LEASE_S + 0.5)  # its lease runs out
    summary = enrich()
    result = audit(lake=faulty, max_attempts=3)
    assert result.enriched == sorted(t.talk_id for t in talks)
    assert (result.lost, result.failed, result.stale_tags, result.uncovered) == ([], [], [], [])
    assert summary["tagged"] + summary["talks"] >= len(talks)
    assert held(faulty) == 0


@pytest.mark.slow
def test_a_talk_that_kills_its_process_fails_alone_and_the_rest_is_enriched(
    faulty: Lake,
) -> None:
    talks = sample(5)
    poison = talks[1].talk_id
    record_talks(lake=faulty, talks=talks)
    runs = []
    for _ in range(8):
        if not audit(lake=faulty, max_attempts=3).outstanding:
            break
        process = start_flow(PODIUM_ENRICH__CRASH_ON_TALK=poison)
        runs.append(process.wait(timeout=300))
        time.sleep(LEASE_S + 0.5)
    result = audit(lake=faulty, max_attempts=3)
    assert result.failed == [poison]
    assert result.enriched == sorted(t.talk_id for t in talks if t.talk_id != poison)
    assert result.lost == [] and result.outstanding == []
    state = faulty.read("enrichment_state", where=[("talk_id", "=", poison)])
    tags = state[state.stage == "tags"]
    assert (tags.status.item(), int(tags.attempts.item())) == ("failed", 3)
    assert CRASHED in tags.error.item()
    assert runs.count(-signal.SIGKILL) == 3, "one crash per attempt, none after"
