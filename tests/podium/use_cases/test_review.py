"""podium.use_cases.review without Prefect: a real push reviewed, recorded, notified, announced.

Real: git repositories in temp folders (a cache clone fetched from an origin), the structural
summary, the lake (`reviews`), the Slack-compatible notifier posting to a local HTTP server.
The reviewer's decision is answered at once by the test instead of a paused flow run; events go
to `RecordedEvents`, checked against the event catalog.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.lake import Lake
from podium.resources import Lazy, Resources
from podium.review.models import PushEvent
from podium.review.notify import SlackNotifier
from podium.review.records import find_review
from podium.use_cases.review import ReviewHooks, review_push
from tests.podium.review.gitfixtures import main_push, make_repo, push_mixed_change
from tests.podium.review.httpfakes import http_server

DECIDED = "podium.review.decided"


@pytest.fixture
def review_settings(settings, tmp_path: Path, monkeypatch):
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git")
    monkeypatch.setenv(
        "PODIUM_REVIEW__REPOS", json.dumps([{"name": "app", "url": str(repo.origin)}])
    )
    from podium.settings import Settings

    return repo, Settings()


def _push(before: str, after: str) -> PushEvent:
    return main_push(before, after, pusher="ada", received_at=datetime.now(UTC))


def _hooks(answers: list[str], published: list[str], run_id: str = "run-1") -> ReviewHooks:
    def decide(description: str) -> tuple[str, str | None, str]:
        answers.append(description)
        return "approved", "grace", "looks fine"

    return ReviewHooks(
        run_id=run_id,
        link=f"http://ui.test/runs/flow-run/{run_id}",
        decide=decide,
        publish=lambda push, row, summary: published.append(row["status"]),
        artifact_key="review-app",
    )


def test_a_push_is_summarised_notified_decided_and_announced(review_settings) -> None:
    repo, settings = review_settings
    before, after = push_mixed_change(repo)
    with http_server(lambda *a: (200, {"ok": True})) as slack:
        resources = Resources(
            settings=settings,
            lake=Lake.from_settings(settings),
            notifier=Lazy.of(SlackNotifier(f"{slack.url}/hook")),
        )
        descriptions: list[str] = []
        published: list[str] = []

        result = review_push(resources, _push(before, after), hooks=_hooks(descriptions, published))

        assert result == {
            "repo": "app",
            "commit": after,
            "flow_run_id": "run-1",
            "status": "approved",
        }
        (message,) = slack.requests
        assert "http://ui.test/runs/flow-run/run-1" in json.dumps(message.json())
    assert descriptions and "review-app" in descriptions[0]
    assert published == ["pending", "approved"]
    row = find_review(resources.lake, repo="app", commit=after)
    assert row["status"] == "approved" and row["decided_by"] == "grace"
    (event,) = resources.events.named(DECIDED)
    assert event["status"] == "approved" and event["after"] == after
    _, labels, _ = resources.events.events[0]
    assert labels == {
        "prefect.resource.id": "podium.repo.app",
        "podium.repo.ref": "refs/heads/main",
    }

    # The same commit delivered again by another run is not reviewed twice.
    again = review_push(resources, _push(before, after), hooks=_hooks([], [], run_id="run-2"))
    assert again["status"] == "duplicate" and len(resources.events.named(DECIDED)) == 1


def test_a_notifier_that_fails_does_not_lose_the_review(review_settings) -> None:
    repo, settings = review_settings
    before, after = push_mixed_change(repo)
    with http_server(lambda *a: (500, {"error": "down"})) as slack:
        resources = Resources(
            settings=settings,
            lake=Lake.from_settings(settings),
            notifier=Lazy.of(SlackNotifier(f"{slack.url}/hook")),
        )
        result = review_push(resources, _push(before, after), hooks=_hooks([], []))
        assert slack.requests  # it was tried
    assert result["status"] == "approved"
    assert find_review(resources.lake, repo="app", commit=after)["status"] == "approved"


def test_a_deleted_branch_is_recorded_not_reviewed(review_settings) -> None:
    _, settings = review_settings
    resources = Resources(settings=settings, lake=Lake.from_settings(settings))
    decided: list[str] = []
    push = _push("a" * 40, "0" * 40)

    result = review_push(resources, push, hooks=_hooks(decided, []))

    assert result["status"] == "deleted" and not decided and not resources.events.events
