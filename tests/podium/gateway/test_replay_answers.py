"""What a sender hears when it sends one message id twice, over real HTTP.

Real: the gateway app under uvicorn on a free port, the Delta lake in a temp folder, Standard
Webhooks signatures, and a local HTTP server standing in for Prefect's `POST /api/events`.
To keep a first request in flight, the lake handed to `create_app` is the real `Lake` whose next
read of `talks` waits on a `threading.Event` the test sets; the failure that follows is real
too (a file where the lake's `tables` folder should be).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium.events import EventPoster
from podium.gateway import running_gateway
from podium.gateway.signatures import standard_headers
from podium.lake import Lake
from podium.settings import Settings
from tests.podium.gateway.securitykit import (
    FIXTURE_REPOS,
    FIXTURES,
    GH_SECRET,
    PUSH_SECRET,
    SECRET,
    post_github,
    push_body,
)
from tests.podium.review.httpfakes import FakeServer, http_server


class HeldLake(Lake):
    """The real lake; after `hold()`, its next read of `talks` waits until `let_go()`."""

    def hold(self) -> threading.Event:
        self._entered = threading.Event()
        self._gate = threading.Event()
        self._armed = True
        return self._entered

    def let_go(self) -> None:
        self._gate.set()

    def read(self, name: str, **kwargs: Any) -> Any:
        if name == "talks" and getattr(self, "_armed", False):
            self._armed = False
            self._entered.set()
            self._gate.wait(30)
        return super().read(name, **kwargs)


@contextmanager
def _gateway(tmp: Path) -> Iterator[tuple[str, HeldLake, FakeServer]]:
    with http_server(lambda method, path, headers, body: (200, {})) as prefect:
        settings = Settings(
            home=tmp / "home",
            lake={"url": str(tmp / "lake")},
            prefect={"api_url": f"{prefect.url}/api", "event_retries": 0},
            gateway={"secret": SECRET},
            review={"repos": FIXTURE_REPOS, "push_secret": PUSH_SECRET},
        )
        lake = HeldLake(settings.lake_url)
        poster = EventPoster(api_url=f"{prefect.url}/api", retries=0, backoff_s=0)
        with running_gateway(settings, lake=lake, poster=poster, port=0) as url:
            yield url, lake, prefect


def _events(prefect: FakeServer) -> list[dict[str, Any]]:
    return [e for r in prefect.requests if r.path == "/api/events" for e in r.json()]


def _send(url: str, body: bytes, headers: dict[str, str], path: str = "/hooks/talks"):
    return httpx.post(url + path, content=body, headers=headers, timeout=30)


def _talk(title: str) -> tuple[str, bytes]:
    talk_id = f"t-{uuid.uuid4().hex[:10]}"
    return talk_id, json.dumps({"talk_id": talk_id, "title": title}).encode()


def _versions(lake: Lake, talk_id: str) -> int:
    return len(lake.read("talks", where=[("talk_id", "=", talk_id)]))


def test_a_retry_after_success_is_a_2xx_duplicate_recorded_once(tmp_path: Path) -> None:
    with _gateway(tmp_path) as (url, lake, prefect):
        talk_id, body = _talk("Answered once")
        headers = standard_headers(body, SECRET)
        first = _send(url, body, headers)
        # The sender's connection timed out; it retries with the same webhook-id.
        retry = _send(url, body, headers)
        events = _events(prefect)
        versions = _versions(lake, talk_id)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False and first.json()["new"] == [talk_id]
    assert retry.status_code == 200, retry.text
    answer = retry.json()
    assert answer["duplicate"] is True and answer["original_status"] == 200
    assert answer["accepted"] == [talk_id] and answer["event"] == "accepted"
    assert versions == 1
    assert [e["payload"]["talk_ids"] for e in events] == [[talk_id]]  # not re-posted


def test_a_large_answer_is_kept_as_its_event_and_status_only(tmp_path: Path) -> None:
    talks = [{"talk_id": f"t-{uuid.uuid4().hex[:10]}", "title": "Batch"} for _ in range(120)]
    talks.append({"talk_id": "bad id!", "title": "Rejected"})
    body = json.dumps({"talks": talks}).encode()
    headers = standard_headers(body, SECRET)
    with _gateway(tmp_path) as (url, lake, prefect):
        first = _send(url, body, headers)
        retry = _send(url, body, headers)
        events = _events(prefect)
        rows = len(lake.read("talks"))
    assert first.status_code == 422 and len(first.json()["accepted"]) == 120
    assert retry.status_code == 200, retry.text
    assert retry.json() | {"event_reason": None} == {
        "accepted": [],  # this copy recorded nothing; the first answer was too large to keep
        "new": [],
        "updated": [],
        "unchanged": [],
        "removed": [],
        "pending": [],
        "rejected": [],
        "skipped": [],
        "event": "accepted",
        "event_reason": None,
        "duplicate": True,
        "original_status": 422,
    }
    assert rows == 120 and len(events) == 1


def test_a_copy_in_flight_is_told_to_retry_and_its_retry_lands_after_a_failure(
    tmp_path: Path,
) -> None:
    with _gateway(tmp_path) as (url, lake, prefect):
        seed_id, seed = _talk("Makes the talks table")
        assert _send(url, seed, standard_headers(seed, SECRET)).status_code == 200
        talk_id, body = _talk("Held, then failed")
        headers = standard_headers(body, SECRET)
        entered = lake.hold()
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(_send, url, body, headers)
            assert entered.wait(30), "the first request never reached the lake"
            copy = _send(url, body, headers)  # while the first is held in the lake
            # The first now fails for real: a file where the tables folder should be.
            tables = Path(lake.url) / "tables"
            tables.rename(tables.with_name("tables.away"))
            tables.write_text("not a folder")
            lake.let_go()
            failed = first.result(30)
            tables.unlink()
            tables.with_name("tables.away").rename(tables)
        retry = _send(url, body, headers)
        events = _events(prefect)
        recorded = _versions(lake, talk_id)
    assert copy.status_code == 409, copy.text
    assert copy.headers["retry-after"] == "1"
    assert "being handled" in copy.json()["detail"] and "retry" in copy.json()["detail"]
    assert failed.status_code == 503, failed.text
    assert retry.status_code == 200, retry.text
    assert retry.json()["duplicate"] is False and retry.json()["new"] == [talk_id]
    assert recorded == 1
    assert [e["payload"]["talk_ids"] for e in events] == [[seed_id], [talk_id]]


def test_a_push_message_retried_after_success_is_a_duplicate(tmp_path: Path) -> None:
    push = push_body("sample-app")
    body = json.dumps(push).encode()
    headers = standard_headers(body, PUSH_SECRET)
    with _gateway(tmp_path) as (url, _lake, prefect):
        first = _send(url, body, headers, path="/hooks/push")
        retry = _send(url, body, headers, path="/hooks/push")
        events = _events(prefect)
    assert first.status_code == 202, first.text
    assert retry.status_code == 200, retry.text
    assert retry.json()["duplicate"] is True and retry.json()["status"] == "accepted"
    assert retry.json()["event_id"] == first.json()["event_id"]
    assert len(events) == 1


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures is not present")
def test_a_git_delivery_retried_after_success_is_a_2xx_ignored(tmp_path: Path) -> None:
    body = (FIXTURES / "github" / "probot__push.json").read_bytes()
    delivery = str(uuid.uuid4())
    with http_server(lambda method, path, headers, body: (200, {})) as prefect:
        settings = Settings(
            home=tmp_path / "home",
            lake={"url": str(tmp_path / "lake")},
            review={"repos": FIXTURE_REPOS, "github_webhook_secret": GH_SECRET},
        )
        poster = EventPoster(api_url=f"{prefect.url}/api", retries=0, backoff_s=0)
        with running_gateway(
            settings, lake=Lake.from_settings(settings), poster=poster, port=0
        ) as url:
            first = post_github(url, body, event="push", delivery=delivery)
            retry = post_github(url, body, event="push", delivery=delivery)
        events = _events(prefect)
    assert first.status_code == 202, first.text
    assert (retry.status_code, retry.json()["status"]) == (200, "ignored")
    assert retry.json()["reason"] == "delivery already received"
    assert len(events) == 1
