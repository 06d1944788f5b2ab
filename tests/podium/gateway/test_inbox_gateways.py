"""Real `podium gateway` processes with `gateway.inbox` on (podium/inbox.py), one local lake.

- two replicas take concurrent posts: every 2xx talk ends in `talks` and pending in the ledger,
  the inbox empty;
- the v2/v3 race through the inbox: bench/replicas.py's edits race, `ingest` race and replays
  on two inbox gateways (the talks end at their newest version, the ledger at its hash);
- a gateway killed with SIGKILL right after its 2xx, while it held the fold lease and before
  it folded the talk: nothing is lost, another replica folds it once the lease runs out.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.faults import SECRET, _spawn, _wait_http, gateway, no_prefect
from podium import inbox
from podium.enrichment import STAGES, state_rows
from podium.gateway.signatures import standard_headers
from podium.ingest import talk_rows
from podium.lake import Lake
from podium.models import Talk
from tests.benches import load_bench
from tests.prefect_server import free_port
from tests.processes import podium_env, stop_group

INBOX = {"gateway__inbox": "true", "prefect__api_url": "", "gateway__inbox_lease_s": "2"}


def post(url: str, talk: dict) -> httpx.Response:
    body = json.dumps(talk).encode()
    return httpx.post(
        f"{url}/hooks/talks", content=body, headers=standard_headers(body, SECRET), timeout=60
    )


def talk(n: int, title: str = "Talk") -> dict:
    return {"talk_id": f"t{n:03d}", "title": f"{title} {n}", "description": "Inbox test."}


def wait_until(check, timeout_s: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def recorded(lake: Lake, ids: list[str]) -> bool:
    """Every talk of `ids` is in `talks`, each stage of the ledger at its content hash."""
    rows = talk_rows(lake=lake, columns=["talk_id", "content_hash"], talk_ids=ids)
    hashes = dict(zip(rows.talk_id, rows.content_hash, strict=True))
    ledger = state_rows(lake=lake, talk_ids=ids, columns=["talk_id", "stage", "content_hash"])
    marked = {(r.talk_id, r.stage): r.content_hash for r in ledger.itertuples()}
    return set(hashes) == set(ids) and all(
        marked.get((i, s)) == hashes[i] for i in ids for s in STAGES
    )


@pytest.mark.timeout(300)
def test_two_inbox_gateways_take_concurrent_posts_and_lose_none(tmp_path: Path) -> None:
    lake_url = str(tmp_path / "lake")
    settings = {**INBOX, "prefect__api_url": no_prefect(), "lake__url": lake_url}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with gateway(tmp_path / "a", **settings) as a, gateway(tmp_path / "b", **settings) as b:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: post((a, b)[n % 2], talk(n)), range(40)))
        assert [r.status_code for r in answers] == [200] * 40
        assert {r.json()["event"] for r in answers} == {"queued"}
        lake = Lake(lake_url)
        ids = [f"t{n:03d}" for n in range(40)]
        wait_until(lambda: recorded(lake, ids) and not inbox.pending_blobs(lake))
    assert len(talk_rows(lake=lake)) == 40


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_racing_versions_through_the_inbox_end_at_the_newest() -> None:
    result = load_bench("replicas").run(talks=3, rounds=1, inbox=True)
    assert result.mismatched == [] and result.not_newest == []
    assert result.replays > 0 and result.replays_refused == result.replays
    assert result.reused_refused == result.reused


def _start(home: Path, lake_url: str, **podium: str):  # noqa: ANN202
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = podium_env(
        home=str(home),
        lake__url=lake_url,
        gateway__port=str(port),
        gateway__secret=SECRET,
        prefect__api_url=no_prefect(),
        prefect__event_retries="0",
        gateway__inbox="true",
        **podium,
    )
    process = _spawn([sys.executable, "-m", "podium", "gateway"], env, home / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/healthz", process)
    return process, url


@pytest.mark.timeout(300)
def test_a_gateway_killed_right_after_its_2xx_loses_nothing(tmp_path: Path) -> None:
    lake_url = str(tmp_path / "lake")
    lake = Lake(lake_url)
    # Left in the inbox by an earlier crash: the gateway folds it when it starts.
    inbox.append(lake, [Talk.model_validate(talk(0, "Leftover"))], writer="gone")
    first, url = _start(tmp_path / "first", lake_url, gateway__inbox_lease_s="1")
    second = None
    try:
        wait_until(lambda: recorded(lake, ["t000"]) and not inbox.pending_blobs(lake))
        # Another replica, alive but stalled, holds the fold lease now, so the talk below
        # cannot be folded before the kill: what is left is only the inbox blob.
        wait_until(lambda: (inbox.FoldLease(lake, holder="probe", ttl_s=1)._newest()[1] or {})
                   .get("until", 0) < time.time())  # fmt: skip
        stalled = inbox.FoldLease(lake, holder="stalled-replica", ttl_s=4)
        assert stalled.acquire()
        answer = post(url, talk(1))
        os.killpg(first.pid, signal.SIGKILL)  # right after the 2xx
        first.wait(timeout=30)
        assert answer.status_code == 200 and answer.json()["accepted"] == ["t001"]
        assert len(inbox.pending_blobs(lake)) == 1, "durable in the inbox"
        assert "t001" not in set(talk_rows(lake=lake, columns=["talk_id"]).talk_id)

        # A new replica folds it once the stalled replica's lease has run out.
        second, _ = _start(tmp_path / "second", lake_url, gateway__inbox_fold_interval_s="0.1")
        wait_until(lambda: recorded(lake, ["t001"]) and not inbox.pending_blobs(lake))
        _, taken = inbox.FoldLease(lake, holder="probe", ttl_s=1)._newest()
        assert taken is not None and taken["holder"] != "stalled-replica", "taken over"
    finally:
        stop_group(first)
        stop_group(second)
    rows = talk_rows(lake=lake, columns=["talk_id", "title", "revision"]).sort_values("talk_id")
    assert list(rows.title) == ["Leftover 0", "Talk 1"] and list(rows.revision) == [1, 1]
