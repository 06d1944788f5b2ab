"""The warm counts-and-recommendations process (`python -m deployments.warm_derived`), alone.

Real: a Prefect server (its event stream), the lake (Delta tables in a temp folder, the talks
and tags of tests/podium/recommend/lake_data.py), the packaged encoder, and the refresher as
its own OS processes, each with its own home (no shared disk but the lake). Its periodic lake
check is set to 10 minutes, so within the test only a `podium.talk.tagged` event or its own
start (re)fresh anything. Faults: SIGKILL, and two replicas refreshing at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from podium.lake import Lake
from podium.lake import recommendations as tables
from podium.tag_counts import counted_versions, recompute_tag_counts, source_versions
from podium.use_cases.derived import pending
from podium.use_cases.recommend import RECOMMENDATION_SOURCES, recommended_versions
from tests.podium.recommend.lake_data import make_lake, tag_rows
from tests.prefect_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CHECK_S = 600  # the periodic check never fires within the test


def _counts(lake: Lake) -> pd.DataFrame:
    rows = lake.read("tag_counts").drop(columns=["computed_at"])
    return rows.sort_values(["scope", "key", "tag"]).reset_index(drop=True)


def _scratch_counts(lake: Lake, tmp: Path) -> pd.DataFrame:
    """Tag counts recomputed from nothing, on a copy of the lake."""
    copy = tmp / f"scratch-{uuid.uuid4().hex[:8]}"
    shutil.copytree(lake.url, copy)
    shutil.rmtree(copy / "tables" / "tag_counts", ignore_errors=True)
    scratch = Lake(str(copy))
    recompute_tag_counts(lake=scratch)
    return _counts(scratch)


class Refresher:
    """One `deployments.warm_derived` process with a home of its own and its probes."""

    def __init__(self, tmp: Path, lake: Lake, api_url: str, name: str) -> None:
        self.home = tmp / name
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "refresher.log"
        self.port = free_port()
        self.env = {
            **os.environ,
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(self.home / ".prefect"),
            "PODIUM_HOME": str(self.home / "podium"),
            "PODIUM_LAKE__URL": lake.url,
            "PODIUM_DERIVED__CHECK_S": str(CHECK_S),
            "PYTHONPATH": str(ROOT),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Refresher:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "deployments.warm_derived", "--probe-port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        return self.process.wait(timeout=60)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def refreshers(tmp_path: Path) -> Iterator[list[Refresher]]:
    started: list[Refresher] = []
    yield started
    for refresher in started:
        if refresher.process is not None and refresher.process.poll() is None:
            refresher.kill()


def _until(condition: Callable[[], bool], timeout_s: float, what: str, *logs: Refresher) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    tails = "\n".join("\n".join(r.log().splitlines()[-30:]) for r in logs)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}\n{tails}")


def _tagged(api_url: str, talk_ids: list[str]) -> None:
    """`podium.talk.tagged`, as a tagging run emits it, posted to the server."""
    event = {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "podium.talk.tagged",
        "resource": {"prefect.resource.id": "podium.talks"},
        "payload": {"talk_ids": talk_ids},
    }
    answer = httpx.post(f"{api_url}/events", content=json.dumps([event]), timeout=30)
    assert answer.status_code in (200, 204), answer.text


def _current(lake: Lake) -> bool:
    """Counts and recommendations reflect the lake's newest sources."""
    counted = counted_versions(lake=lake)
    marked = tables.read_recommendations_bookmark(lake=lake, sources=RECOMMENDATION_SOURCES)
    return counted == source_versions(lake=lake) and marked == recommended_versions(lake)


@pytest.mark.e2e
@pytest.mark.slow  # ~50 s here (three refresher processes each import torch), plus the server
def test_refresher_process_follows_events_and_catches_up_after_sigkill(
    prefect_server: str, tmp_path: Path, refreshers: list[Refresher]
) -> None:
    lake = make_lake(tmp_path / "lake")
    assert pending(lake)
    first = Refresher(tmp_path, lake, prefect_server, "refresher-a").start()
    refreshers.append(first)
    # At start it looks at the lake: counts and recommendations from nothing (the encoder
    # loads here, for the talks' vectors).
    _until(lambda: _current(lake), 240, "the first refresh at start", first)
    _until(first.healthy, 30, "/healthz answering 200", first)
    assert lake.read("tag_counts").shape[0] > 0
    assert not tables.read_recommendations(lake=lake, columns=["event_id"]).empty

    # A talk is tagged: the event, not the (10-minute) check, brings counts up to date.
    lake.append("talk_tags", tag_rows([("t004", "django")]))
    assert pending(lake)
    _tagged(prefect_server, ["t004"])
    took = _until(lambda: _current(lake), 60, "counts after a tagged event", first)
    print(f"tagged -> counts and recommendations current: {took:.1f} s")
    assert _counts(lake).equals(_scratch_counts(lake, tmp_path))
    assert "refreshed" in first.log()

    # kill -9, then more tags while it is dead (no event: it was lost with the process).
    assert first.kill() == -signal.SIGKILL
    lake.append("talk_tags", tag_rows([("t005", "web"), ("t006", "kubernetes")]))
    lake.append("talk_tags", tag_rows([("t007", "pandas")]))
    assert pending(lake)
    time.sleep(1)
    assert pending(lake)  # nothing else refreshes them

    # Restarted, as two replicas at once (homes of their own): they catch up from the lake
    # alone, and the two do not corrupt the tables.
    again = [
        Refresher(tmp_path, lake, prefect_server, name).start()
        for name in ("refresher-a", "refresher-b")
    ]
    refreshers.extend(again)
    _until(lambda: _current(lake), 240, "catch-up after SIGKILL and restart", *again)
    assert _counts(lake).equals(_scratch_counts(lake, tmp_path))
    recs = tables.read_recommendations(lake=lake, columns=["event_id", "rank", "talk_id"])
    assert not recs.duplicated(["event_id", "rank"]).any()
    assert not recs.duplicated(["event_id", "talk_id"]).any()
    for refresher in again:  # both serving, neither crashed on the other's commits
        assert refresher.process is not None and refresher.process.poll() is None
        _until(refresher.healthy, 30, "/healthz answering 200", refresher)
    for refresher in again:
        assert refresher.kill(signal.SIGTERM) == 0, refresher.log()[-2000:]
