"""The gateway's hooks over real HTTP.

Real: uvicorn serving `create_app` on a free port in a thread, the Delta lake in a temp folder,
`record_talks`, and a Prefect server (the session's `prefect_server`) that must receive the
events. The only stand-in is a closed port playing an unreachable Prefect server, for the
deferred path and for tests where no event is expected; a `tables` file where the lake expects a
folder makes the lake write fail for real.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium.events import EventPoster
from podium.gateway import running_gateway, signed_headers
from podium.lake import Lake
from podium.settings import Settings
from tests.prefect_server import free_port

SECRET = "gateway-test-secret"


def _settings(settings: Settings, *, api_url: str, max_body_bytes: int = 1024 * 1024) -> Settings:
    gateway = settings.gateway.model_copy(
        update={"secret": SECRET, "max_body_bytes": max_body_bytes}
    )
    prefect = settings.prefect.model_copy(update={"api_url": api_url})
    return settings.model_copy(update={"gateway": gateway, "prefect": prefect})


def _dead_poster() -> EventPoster:
    return EventPoster(api_url=f"http://127.0.0.1:{free_port()}/api", retries=1, backoff_s=0.01)


@pytest.fixture
def live(settings: Settings, prefect_server: str) -> Iterator[tuple[str, Lake]]:
    """A gateway whose events go to the real Prefect server; yields (base URL, lake)."""
    settings = _settings(settings, api_url=prefect_server)
    lake = Lake.from_settings(settings)
    with running_gateway(settings, lake=lake, port=0) as url:
        yield url, lake


@pytest.fixture
def offline(settings: Settings) -> Iterator[tuple[str, Lake]]:
    """A gateway whose Prefect server is unreachable (a closed port)."""
    settings = _settings(settings, api_url="http://127.0.0.1:1/api", max_body_bytes=4096)
    lake = Lake.from_settings(settings)
    with running_gateway(settings, lake=lake, poster=_dead_poster(), port=0) as url:
        yield url, lake


def _id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _post(url: str, payload: Any, *, path: str = "/hooks/talks", **headers: str) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = signed_headers(body, SECRET) | headers
    return httpx.post(url + path, content=body, headers=sent, timeout=30)


def _talk(talk_id: str, title: str = "Typed pipelines with Prefect", **extra: Any) -> dict:
    return {"talk_id": talk_id, "title": title, "speakers": ["Ada"], **extra}


def _talk_ids(lake: Lake) -> set[str]:
    return set(lake.read("talks", columns=["talk_id"]).talk_id)


def _submitted_events(
    api_url: str,
    talk_id: str,
    *,
    expect: int,
    timeout_s: float = 30,
    name: str = "podium.talk.submitted",
    resource_id: str | None = None,
) -> list:
    """Poll the Prefect server until `expect` events `name` for `talk_id` are stored."""
    found: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # the server persists events in batches
        response = httpx.post(
            f"{api_url}/events/filter",
            json={
                "filter": {
                    "event": {"name": [name]},
                    "resource": {"id": [resource_id or f"podium.talk.{talk_id}"]},
                }
            },
        )
        response.raise_for_status()
        found = response.json()["events"]
        if len(found) >= expect:
            return found
        time.sleep(0.5)
    return found


def _dynamo_record(event_name: str, talk_id: str, title: str | None = None) -> dict:
    change: dict[str, Any] = {
        "Keys": {"pk": {"S": "USER#u-1"}, "sk": {"S": f"talk#{talk_id}"}},
    }
    if title is not None:
        change["NewImage"] = {
            "pk": {"S": "USER#u-1"},
            "sk": {"S": f"talk#{talk_id}"},
            "title": {"S": title},
            "speaker": {"S": "Grace"},
            "tags": {"L": [{"S": "Python"}]},
        }
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": change}


# ---- the main flow, against the real Prefect server --------------------------------------------


def test_submitted_talk_is_recorded_then_announced_once(
    live: tuple[str, Lake], prefect_server: str
) -> None:
    url, lake = live
    talk_id = _id()

    first = _post(url, _talk(talk_id))
    assert first.status_code == 200, first.text
    assert first.json() | {"event_reason": None} == {
        "accepted": [talk_id],
        "new": [talk_id],
        "updated": [],
        "unchanged": [],
        "removed": [],
        "pending": [talk_id],
        "rejected": [],
        "skipped": [],
        "event": "accepted",
        "event_reason": None,
        "duplicate": False,
        "original_status": None,
    }
    assert talk_id in _talk_ids(lake)
    state = lake.read("enrichment_state", where=[("talk_id", "=", talk_id)])
    assert set(state.status) == {"pending"}

    events = _submitted_events(prefect_server, talk_id, expect=1)
    assert len(events) == 1
    assert events[0]["payload"] == {"talk_ids": [talk_id], "source": "directory"}

    # The same talk again: recorded already, nothing to enrich, so no second event.
    again = _post(url, {"talks": [_talk(talk_id)]})
    assert again.status_code == 200, again.text
    assert again.json()["unchanged"] == [talk_id]
    assert again.json()["pending"] == [] and again.json()["event"] == "not_needed"

    # An edit is re-announced.
    edited = _post(url, _talk(talk_id, title="Typed pipelines with Prefect 3"))
    assert edited.status_code == 200, edited.text
    assert edited.json()["updated"] == [talk_id] and edited.json()["event"] == "accepted"
    assert len(_submitted_events(prefect_server, talk_id, expect=2)) == 2
    titles = lake.read("talks", where=[("talk_id", "=", talk_id)]).title
    assert list(titles) == ["Typed pipelines with Prefect 3"]


def test_batch_with_invalid_records_records_the_valid_ones(
    live: tuple[str, Lake], prefect_server: str
) -> None:
    url, lake = live
    good, also_good, bad = _id(), _id(), _id()
    response = _post(
        url,
        [
            _talk(good),
            {"talk_id": bad, "title": "Fine", "speakers": "not a list"},
            _talk(also_good),
            "not an object",
        ],
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["accepted"] == [good, also_good]
    assert body["pending"] == [good, also_good]
    assert body["event"] == "accepted"
    assert body["rejected"] == [
        {
            "record": f"talks[1] ({bad})",
            "field": "speakers",
            "reason": "Input should be a valid list",
        },
        {"record": "talks[3]", "field": "", "reason": "expected an object, got a string"},
    ]
    assert _talk_ids(lake) >= {good, also_good} and bad not in _talk_ids(lake)
    events = _submitted_events(prefect_server, good, expect=1)
    assert events[0]["payload"] == {"talk_ids": [good, also_good], "source": "directory"}


def test_dynamodb_stream_inserts_modifies_and_removes(
    live: tuple[str, Lake], prefect_server: str
) -> None:
    url, lake = live
    kept, gone = _id(), _id()
    inserted = _post(
        url,
        {
            "Records": [
                _dynamo_record("INSERT", kept, "Streams in practice"),
                _dynamo_record("INSERT", gone, "Soon deleted"),
                # Another item type of the single table: ignored, not rejected.
                {
                    "eventName": "INSERT",
                    "dynamodb": {"Keys": {"pk": {"S": "U#1"}, "sk": {"S": "profile"}}},
                },
            ]
        },
        path="/hooks/dynamodb",
    )
    assert inserted.status_code == 200, inserted.text
    assert inserted.json()["accepted"] == [kept, gone]
    assert inserted.json()["event"] == "accepted"
    events = _submitted_events(prefect_server, kept, expect=1)
    assert events[0]["payload"] == {"talk_ids": [kept, gone], "source": "dynamodb"}

    changed = _post(
        url,
        [
            _dynamo_record("MODIFY", kept, "Streams in practice, revised"),
            _dynamo_record("REMOVE", gone),
        ],
        path="/hooks/dynamodb",
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["updated"] == [kept] and changed.json()["removed"] == [gone]
    talks = lake.read("talks").set_index("talk_id")
    assert talks.at[kept, "title"] == "Streams in practice, revised"
    assert talks.at[gone, "state"] == "deleted"
    removed = _submitted_events(
        prefect_server, gone, expect=1, name="podium.talk.removed", resource_id="podium.talks"
    )
    assert [e["payload"]["talk_ids"] for e in removed] == [[gone]]


def test_invalid_dynamodb_record_names_its_field(live: tuple[str, Lake]) -> None:
    url, lake = live
    talk_id = _id()
    response = _post(
        url,
        {
            "Records": [
                _dynamo_record("INSERT", talk_id, "Ok"),
                {"eventName": "UPSERT", "dynamodb": {}},
            ]
        },
        path="/hooks/dynamodb",
    )
    assert response.status_code == 422, response.text
    assert response.json()["accepted"] == [talk_id]
    assert response.json()["rejected"] == [
        {
            "record": "Records[1]",
            "field": "eventName",
            "reason": "must be INSERT, MODIFY or REMOVE, got 'UPSERT'",
        }
    ]
    assert talk_id in _talk_ids(lake)


def test_concurrent_requests_are_all_recorded(live: tuple[str, Lake]) -> None:
    url, lake = live
    ids = [_id() for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda i: _post(url, _talk(i)), ids))
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert _talk_ids(lake) >= set(ids)
    state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
    assert len(state) == 2 * len(ids) and set(state.status) == {"pending"}


# ---- Prefect unreachable ---------------------------------------------------------------------


def test_unreachable_prefect_defers_the_event_but_keeps_the_talk(offline: tuple[str, Lake]) -> None:
    url, lake = offline
    talk_id = _id()
    response = _post(url, _talk(talk_id))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event"] == "deferred" and "ConnectError" in body["event_reason"]
    assert body["accepted"] == [talk_id] and body["pending"] == [talk_id]
    assert talk_id in _talk_ids(lake)
    state = lake.read("enrichment_state", where=[("talk_id", "=", talk_id)])
    assert set(state.status) == {"pending"} and len(state) == 2


def test_lake_write_failure_is_503(settings: Settings) -> None:
    settings = _settings(settings, api_url="http://127.0.0.1:1/api")
    lake = Lake.from_settings(settings)
    (Path(settings.lake_url) / "tables").write_text("a file where a folder should be")
    with running_gateway(settings, lake=lake, poster=_dead_poster(), port=0) as url:
        response = _post(url, _talk(_id()))
    assert response.status_code == 503, response.text
    assert "nothing was recorded" in response.json()["detail"]


# ---- refused requests: nothing recorded --------------------------------------------------------


def test_bad_signature_is_401_and_records_nothing(offline: tuple[str, Lake]) -> None:
    url, lake = offline
    body = json.dumps(_talk(_id())).encode()
    good = signed_headers(body, SECRET)
    stale_ts = int(time.time()) - 3600
    stale = signed_headers(body, SECRET, timestamp=stale_ts)
    cases = {
        "wrong secret": signed_headers(body, "not-the-secret"),
        "missing signature": {k: v for k, v in good.items() if k != "X-Podium-Signature"},
        "missing timestamp": {k: v for k, v in good.items() if k != "X-Podium-Timestamp"},
        "stale": stale,
        "tampered timestamp": good
        | {"X-Podium-Timestamp": str(int(good["X-Podium-Timestamp"]) + 1)},
    }
    for name, headers in cases.items():
        response = httpx.post(url + "/hooks/talks", content=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert SECRET not in response.text
    tampered = httpx.post(url + "/hooks/talks", content=body.replace(b"Ada", b"Eve"), headers=good)
    assert tampered.status_code == 401
    assert not lake.exists("talks")


def test_body_over_the_limit_is_413(offline: tuple[str, Lake]) -> None:
    url, lake = offline  # max_body_bytes=4096
    big = _talk(_id(), description="x" * 5000)
    declared = _post(url, big)
    assert declared.status_code == 413, declared.text
    assert "limit is 4096" in declared.json()["detail"]

    # Chunked: no Content-Length, so the bytes actually read are counted.
    body = json.dumps(big).encode()
    chunked = httpx.post(
        url + "/hooks/talks",
        content=iter([body[i : i + 1000] for i in range(0, len(body), 1000)]),
        headers=signed_headers(body, SECRET),
    )
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert chunked.status_code == 413, chunked.text
    assert not lake.exists("talks")

    # Just under the limit passes.
    small = _post(url, _talk(_id(), description="x" * 3000))
    assert small.status_code == 202, small.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(offline: tuple[str, Lake], content_type: str) -> None:
    url, lake = offline
    response = _post(url, _talk(_id()), **{"Content-Type": content_type})
    assert response.status_code == 415, response.text
    assert not lake.exists("talks")


def test_json_with_charset_is_accepted(offline: tuple[str, Lake]) -> None:
    url, _ = offline
    response = _post(url, _talk(_id()), **{"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""])
def test_non_json_body_is_400(offline: tuple[str, Lake], body: bytes) -> None:
    url, lake = offline
    response = _post(url, body)
    assert response.status_code == 400, response.text
    assert not lake.exists("talks")


@pytest.mark.parametrize(
    ("payload", "path", "rejected"),
    [
        (
            [],
            "/hooks/talks",
            {"record": "(body)", "field": "", "reason": "expected at least one talk"},
        ),
        (
            {"talk_id": "t-x", "title": "Hi", "colour": "red"},
            "/hooks/talks",
            {"record": "talks[0] (t-x)", "field": "colour", "reason": "unknown field"},
        ),
        (
            {"Records": "nope"},
            "/hooks/dynamodb",
            {
                "record": "(body)",
                "field": "",
                "reason": 'expected {"Records": [...]} or a list of stream records',
            },
        ),
    ],
)
def test_all_records_invalid_is_422(
    offline: tuple[str, Lake], payload: Any, path: str, rejected: dict
) -> None:
    url, lake = offline
    response = _post(url, payload, path=path)
    assert response.status_code == 422, response.text
    assert response.json()["accepted"] == [] and response.json()["rejected"] == [rejected]
    assert response.json()["event"] == "not_needed"
    assert not lake.exists("talks")
