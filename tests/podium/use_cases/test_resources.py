"""podium.resources and the event sinks: built from settings lazily, payloads checked against
the catalog, events posted over real HTTP with retries (tenacity) to a local server.

Real: settings, a local HTTP server standing in for Prefect's `POST /api/events`. Nothing else.
"""

from __future__ import annotations

import threading

import pytest

from podium import event_catalog
from podium.events import EventPoster, PostedEvents, RecordedEvents
from podium.lake import Lake
from podium.resources import Lazy, Resources
from podium.review.notify import SlackNotifier
from tests.podium.review.httpfakes import http_server


def test_recorded_events_are_checked_against_the_catalog() -> None:
    sink = RecordedEvents()
    sink.emit(event_catalog.TALK_TAGGED, payload={"talk_ids": ["a"], "count": 1})
    assert sink.named("podium.talk.tagged") == [{"talk_ids": ["a"], "count": 1}]
    with pytest.raises(ValueError, match="talk_idz"):
        sink.emit(event_catalog.TALK_TAGGED, payload={"talk_idz": ["a"]})
    with pytest.raises(ValueError, match="does not fit"):
        sink.emit(event_catalog.REVIEW_DECIDED, payload={})  # needs a podium.repo.<name>
    with pytest.raises(ValueError, match="does not fit"):
        sink.emit(event_catalog.TALK_TAGGED, resource_id="podium.tags", payload={"talk_ids": []})
    assert len(sink.events) == 1


def test_posted_events_retry_a_busy_server_then_arrive() -> None:
    answers = iter([(503, {}), (429, {}), (200, [])])
    sleeps: list[float] = []
    with http_server(lambda *a: next(answers)) as server:
        poster = EventPoster(api_url=f"{server.url}/api", backoff_s=0.1, sleep=sleeps.append)
        PostedEvents(poster).emit(
            event_catalog.TAGS_AGGREGATED,
            payload={"mode": "full", "talks_changed": 3, "event_ids": None},
        )
        poster.close()
        assert len(server.requests) == 3
        (event,) = server.requests[-1].json()
    assert sleeps == [0.1, 0.2]
    assert event["event"] == "podium.tags.aggregated"
    assert event["resource"] == {"prefect.resource.id": "podium.tags"}
    assert event["payload"]["talks_changed"] == 3


def test_a_refused_event_is_not_retried() -> None:
    from podium.events import EventDeliveryError

    sleeps: list[float] = []
    with http_server(lambda *a: (422, {"detail": "bad"})) as server:
        poster = EventPoster(api_url=f"{server.url}/api", sleep=sleeps.append)
        with pytest.raises(EventDeliveryError, match="HTTP 422"):
            PostedEvents(poster).emit(event_catalog.TALK_TAGGED, payload={"talk_ids": ["a"]})
        poster.close()
        assert len(server.requests) == 1 and sleeps == []


def test_from_settings_builds_each_client_once_when_first_used(settings, monkeypatch) -> None:
    monkeypatch.setenv("PODIUM_REVIEW__NOTIFIER", "slack")
    monkeypatch.setenv("PODIUM_REVIEW__SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    from podium.settings import Settings

    resources = Resources.from_settings(Settings(), events=RecordedEvents())
    assert isinstance(resources.lake, Lake)
    assert resources.summary_backend() is None  # the structural summary needs no client
    notifier = resources.notifier()
    assert isinstance(notifier, SlackNotifier) and resources.notifier() is notifier
    assert "9/hook" not in repr(resources)  # the webhook URL is a credential
    view = resources.enrich()
    assert view.lake is resources.lake and view.step is resources.step


def test_plain_resources_refuse_clients_they_were_not_given(settings) -> None:
    resources = Resources(settings=settings, lake=Lake.from_settings(settings))
    assert resources.notifier() is None and resources.summary_backend() is None
    with pytest.raises(RuntimeError, match="no DynamoDB client"):
        resources.dynamodb()


def test_lazy_builds_once_across_threads() -> None:
    built: list[int] = []
    lazy = Lazy(lambda: built.append(1) or object())
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(lazy())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len({id(r) for r in results}) == 1
