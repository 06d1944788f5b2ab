"""podium.events against a real Prefect server (started by the tests) and a dead port."""

import time

import httpx
import pytest

from podium.events import EventDeliveryError, EventPoster, make_event
from tests.prefect_server import free_port


def test_events_reach_a_real_prefect_server(prefect_server: str) -> None:
    event = make_event("podium.test.ping", resource_id="podium.test.1", payload={"n": 1})
    EventPoster(api_url=prefect_server).post([event])
    found: list[dict] = []
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:  # the server persists events in batches
        response = httpx.post(
            f"{prefect_server}/events/filter",
            json={"filter": {"event": {"name": ["podium.test.ping"]}}},
        )
        response.raise_for_status()
        found = [e for e in response.json()["events"] if e["id"] == event["id"]]
        time.sleep(0.5)
    assert found and found[0]["payload"] == {"n": 1}


def test_unreachable_server_raises_after_retries() -> None:
    sleeps: list[float] = []
    poster = EventPoster(
        api_url=f"http://127.0.0.1:{free_port()}/api", retries=3, backoff_s=0.1, sleep=sleeps.append
    )
    with pytest.raises(EventDeliveryError, match="ConnectError"):
        poster.post([make_event("podium.test", resource_id="podium.test")])
    assert sleeps == [0.1, 0.2, 0.4]
