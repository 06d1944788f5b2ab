"""A backfill killed mid-run (SIGKILL of its process group: the flow process and its Dask
workers) and run again: nothing finished is redone, nothing is lost.

Real: a Prefect server, the backfill flow in a subprocess on a local Dask cluster, the MiniLM
tagger, the card backend, the lake in a temp folder, the kill. Leases are short
(`PODIUM_ENRICH__LEASE_SECONDS`) so the chunk that was in flight is claimable soon after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.lake import Lake
from tests.samples import sample_source

ROOT = Path(__file__).resolve().parents[2]
RUN = """
import sys
from flows.backfill import backfill_on
summary = backfill_on(None, workers=2)(source=sys.argv[1], chunk_size=2, torch_threads=1)
print("SUMMARY", summary["talks"], summary["tagged"], summary["covers"], len(summary["failed"]))
"""


def _backfill(env: dict[str, str], source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(source)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the Dask workers too
    )


def _done(lake: Lake, stage: str) -> set[str]:
    state = lake.read("enrichment_state")
    return set(state[(state.stage == stage) & (state.status == "done")].talk_id)


@pytest.mark.slow
def test_killed_backfill_resumes_without_redoing_or_losing_work(
    prefect_server: str, settings, tmp_path: Path
) -> None:
    lake, talks, source = sample_source(settings, tmp_path, 12)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PREFECT_API_URL": prefect_server,
        "PODIUM_ENRICH__LEASE_SECONDS": "6",
    }

    first = _backfill(env, source)
    deadline = time.monotonic() + 600
    while len(_done(lake, "tags")) < 4:  # some tag chunks done, covers not started
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        assert time.monotonic() < deadline, "the first run made no progress"
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    tagged_before = _done(lake, "tags")
    vectors_before = len(lake.read("embeddings", columns=["text_hash"]))
    time.sleep(7)  # the killed run's leases run out

    second = _backfill(env, source)
    out, _ = second.communicate(timeout=900)
    assert second.returncode == 0, out
    ids = {t["talk_id"] for t in talks}
    assert _done(lake, "tags") == ids and _done(lake, "image") == ids, "no talk lost"
    state = lake.read("enrichment_state")
    tags = state[state.stage == "tags"].set_index("talk_id")
    assert (tags.loc[sorted(tagged_before), "attempts"] == 1).all(), "finished tags not redone"
    embeddings = lake.read("embeddings", columns=["text_hash"])
    assert len(embeddings) == vectors_before, "the resumed embed stage encoded nothing again"
    assert embeddings.text_hash.is_unique
    assert set(lake.read("related_talks").talk_id) == ids, "the last stage ran"
