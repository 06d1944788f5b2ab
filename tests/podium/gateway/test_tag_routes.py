"""`POST /hooks/tags` over real HTTP: organisers' corrections, signed like every hook.

Real: uvicorn serving `create_app` on a free port, the Delta lake in a temp folder, the talks
recorded by the talks hook itself, and (for the announced path) the session's Prefect server,
which must store the `podium.talk.tagged` event. An unreachable Prefect server is a closed port.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from podium.events import EventPoster
from podium.gateway import running_gateway, signed_headers
from podium.lake import Lake
from podium.models import TagAssignment
from podium.settings import Settings
from podium.tag_feedback import feedback_rows
from podium.talk_tags import tag_rows, write_tags
from tests.prefect_server import free_port

SECRET = "gateway-test-secret"


def _settings(settings: Settings, *, api_url: str) -> Settings:
    gateway = settings.gateway.model_copy(update={"secret": SECRET})
    prefect = settings.prefect.model_copy(update={"api_url": api_url})
    return settings.model_copy(update={"gateway": gateway, "prefect": prefect})


def _post(url: str, payload: Any, *, path: str = "/hooks/tags", **headers: str) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(url + path, content=body, headers=signed_headers(body, SECRET) | headers)


def _seed(url: str, lake: Lake) -> tuple[str, str]:
    """A talk recorded through the talks hook, with a model tag `flask` on it."""
    talk_id = f"t-{uuid.uuid4().hex[:8]}"
    talk = {
        "talk_id": talk_id,
        "title": "Infrastruktur als Code mit Pulumi und Python",
        "speakers": ["Jonas"],
        "tags": ["cloud"],
    }
    assert _post(url, talk, path="/hooks/talks").status_code in (200, 202)
    digest = lake.read("talks", columns=["content_hash"]).content_hash.iloc[0]
    write_tags(
        lake=lake,
        talk_ids=[talk_id],
        assignments=[
            TagAssignment(
                talk_id=talk_id,
                tag="flask",
                score=0.5,
                source="model",
                model="m",
                content_hash=digest,
                tagged_at="2027-01-01T00:00:00Z",
            )
        ],
    )
    return talk_id, digest


def _tags(lake: Lake, talk_id: str) -> dict[str, str]:
    rows = tag_rows(lake=lake, talk_ids=[talk_id])
    return dict(zip(rows.tag, rows.source, strict=True))


@pytest.fixture
def offline(settings: Settings) -> Iterator[tuple[str, Lake]]:
    settings = _settings(settings, api_url="http://127.0.0.1:1/api")
    lake = Lake.from_settings(settings)
    dead = EventPoster(api_url=f"http://127.0.0.1:{free_port()}/api", retries=1, backoff_s=0.01)
    with running_gateway(settings, lake=lake, poster=dead, port=0) as url:
        yield url, lake


def test_refusals_say_why_and_record_nothing(offline) -> None:
    url, lake = offline
    talk_id, _ = _seed(url, lake)
    good = {"talk_id": talk_id, "tag": "flask", "decision": "reject", "decided_by": "Ines"}
    body = json.dumps({"decisions": [good]}).encode()
    # Unsigned, wrongly signed: 401 before anything is read.
    assert httpx.post(url + "/hooks/tags", content=body).status_code == 401
    forged = signed_headers(body, "not-the-secret")
    assert httpx.post(url + "/hooks/tags", content=body, headers=forged).status_code == 401
    # Not a decision: 422 naming the field.
    bad = _post(url, {"decisions": [{**good, "decision": "maybe"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("decision")
    missing = _post(url, {"decisions": [{**good, "decided_by": ""}]})
    assert missing.status_code == 422
    assert _post(url, {"decisions": []}).status_code == 422
    assert _post(url, b"{not json").status_code == 400
    # Unknown talk: 404; the speaker's own tag: 409; a tag the talk lacks: 409.
    assert _post(url, {"decisions": [{**good, "talk_id": "t-nope"}]}).status_code == 404
    own = _post(url, {"decisions": [{**good, "tag": "Cloud"}]})
    assert own.status_code == 409 and "speaker" in own.json()["detail"]
    lacking = {**good, "tag": "rust", "decision": "accept"}
    assert _post(url, {"decisions": [lacking]}).status_code == 409
    assert feedback_rows(lake=lake).empty
    assert _tags(lake, talk_id) == {"flask": "model"}  # speaker tags live on the talk


def test_prefect_down_the_correction_still_applies_202_deferred(offline) -> None:
    url, lake = offline
    talk_id, _ = _seed(url, lake)
    decisions = [
        {"talk_id": talk_id, "tag": "flask", "decision": "reject", "decided_by": "Ines"},
        {"talk_id": talk_id, "tag": "devops", "decision": "add", "decided_by": "Ines"},
    ]
    response = _post(url, {"decisions": decisions})
    assert response.status_code == 202, response.text
    assert response.json()["event"] == "deferred" and response.json()["recorded"] == 2
    assert _tags(lake, talk_id) == {"devops": "organiser"}


def test_accepted_correction_is_announced_to_prefect(settings, prefect_server) -> None:
    settings = _settings(settings, api_url=prefect_server)
    lake = Lake.from_settings(settings)
    with running_gateway(settings, lake=lake, port=0) as url:
        talk_id, _ = _seed(url, lake)
        body = json.dumps(
            {
                "decisions": [
                    {
                        "talk_id": talk_id,
                        "tag": "flask",
                        "decision": "reject",
                        "decided_by": "Ines",
                        "reason": "an infrastructure talk",
                    }
                ]
            }
        ).encode()
        headers = signed_headers(body, SECRET)
        first = httpx.post(url + "/hooks/tags", content=body, headers=headers)
        assert first.status_code == 200 and first.json()["event"] == "accepted"
        # The same message again (a sender's retry): answered from the first, nothing twice.
        again = httpx.post(url + "/hooks/tags", content=body, headers=headers)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(feedback_rows(lake=lake)) == 1
    assert feedback_rows(lake=lake).reason.item() == "an infrastructure talk"
    deadline = time.monotonic() + 30
    found: list = []
    while time.monotonic() < deadline and not found:
        response = httpx.post(
            f"{prefect_server}/events/filter",
            json={"filter": {"event": {"name": ["podium.talk.tagged"]}}},
        )
        found = [
            e for e in response.json()["events"] if talk_id in e["payload"].get("talk_ids", [])
        ]
        time.sleep(0.5)
    assert found and found[0]["payload"]["source"] == "organiser"
