"""The git webhooks over real HTTP: a minimal FastAPI app (app.state set like the gateway's)
including the router, served by uvicorn in a thread; a real Delta lake in a temp folder; real
git repositories. Faked: Prefect's POST /api/events is a local HTTP server that records the
events (the poster's retries and the server's answers are still real HTTP)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from podium.events import EventPoster
from podium.gateway import git_hooks
from podium.gateway.signatures import DeliveryClaims, ReplayGuard, signed_headers
from podium.lake import Lake
from podium.replay import LakeReplayStore
from podium.review.models import ZERO_SHA, PushEvent
from podium.review.records import find_deletion, find_review, record_pending
from podium.review.service import fetch_push_change, review_change
from podium.settings import Settings
from tests.podium.review.gitfixtures import MIXED_CHANGE_MENTIONS, WorkRepo, push_mixed_change
from tests.podium.review.httpfakes import FakeServer, http_server

GH_SECRET, GL_TOKEN, PUSH_SECRET = "gh-hook-secret", "gl-hook-token", "push-hmac-secret"


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def prefect_events() -> Iterator[FakeServer]:
    with http_server(lambda *a: (204, None)) as server:
        yield server


@pytest.fixture
def gateway(tmp_path: Path, repo: WorkRepo, prefect_events: FakeServer) -> Iterator[tuple]:
    settings = Settings(
        home=tmp_path / "home",
        lake={"url": str(tmp_path / "lake")},
        prefect={"api_url": f"{prefect_events.url}/api", "event_retries": 1, "event_backoff_s": 0},
        review={
            "repos": [{"name": "app", "url": str(repo.origin), "aliases": ["acme/app"]}],
            "github_webhook_secret": GH_SECRET,
            "gitlab_token": GL_TOKEN,
            "push_secret": PUSH_SECRET,
        },
    )
    app = FastAPI()
    app.state.settings = settings
    app.state.lake = Lake.from_settings(settings)
    app.state.poster = EventPoster.from_settings(settings)
    app.state.replay_guard = ReplayGuard(
        LakeReplayStore(app.state.lake), window_s=settings.gateway.replay_window_s
    )
    app.state.deliveries = DeliveryClaims()
    app.include_router(git_hooks.router)
    with serve(app) as url:
        yield url, settings, app.state.lake, app


def _github(url: str, payload: dict, *, delivery: str, event: str = "push", secret=GH_SECRET):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{url}/hooks/github",
        content=body,
        headers={
            "X-Hub-Signature-256": signature,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json",
        },
    )


def _events(server: FakeServer) -> list[dict]:
    return [e for r in server.requests if r.path == "/api/events" for e in r.json()]


def test_signed_github_push_emits_an_event_whose_summary_names_every_change(
    gateway, repo: WorkRepo, prefect_events: FakeServer
) -> None:
    url, settings, lake, _ = gateway
    before, after = push_mixed_change(repo)
    payload = {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"full_name": "acme/app"},
        "pusher": {"name": "ada"},
    }
    response = _github(url, payload, delivery="delivery-1")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    (event,) = _events(prefect_events)
    assert event["event"] == "podium.git.push"
    assert event["resource"]["prefect.resource.id"] == "podium.repo.app"
    assert event["id"] == response.json()["event_id"]
    push = PushEvent.model_validate(event["payload"])  # what the flow will be given
    assert (push.before, push.after, push.pusher, push.source) == (before, after, "ada", "github")

    # The same delivery again is answered 2xx and not re-announced.
    again = _github(url, payload, delivery="delivery-1")
    assert again.status_code == 200 and again.json()["reason"] == "delivery already received"
    assert len(_events(prefect_events)) == 1

    git, change = fetch_push_change(review=settings.review, home=settings.home, push=push)
    summary = review_change(git, change, review=settings.review, backend=None).summary.text
    missing = [m for m in MIXED_CHANGE_MENTIONS if m not in summary]
    assert not missing, f"summary lacks {missing}:\n{summary}"

    # Once the commit is under review, a new delivery of the same commit is not reviewed again.
    record_pending(
        lake=lake, push=push, summary=summary, summary_backend="structural", flow_run_id="r"
    )
    dup = _github(url, payload, delivery="delivery-2")
    assert dup.status_code == 200 and dup.json()["reason"] == "commit already reviewed"
    assert len(_events(prefect_events)) == 1


def _main_moved() -> dict[str, Any]:
    """A GitHub push body, as trimmed as it may be: acme/app's main moved from a…a to b…b."""
    return {
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": "b" * 40,
        "repository": {"full_name": "acme/app"},
    }


def test_github_refusals_and_ignored_events(gateway, prefect_events: FakeServer) -> None:
    url, _, _, _ = gateway
    payload = _main_moved()
    assert _github(url, payload, delivery="x", secret="wrong").status_code == 401
    ping = _github(url, {"zen": "Keep it simple."}, delivery="p", event="ping")
    assert ping.status_code == 200 and ping.json()["status"] == "ignored"
    unwatched = dict(payload, repository={"full_name": "acme/elsewhere"})
    assert _github(url, unwatched, delivery="u").json()["reason"] == "repository is not watched"
    bad = _github(url, dict(payload, after="not-a-sha"), delivery="b")
    assert bad.status_code == 400 and "after" in bad.json()["detail"]
    assert _events(prefect_events) == []


def test_gitlab_push_branch_deletion_and_generic_push(
    gateway, repo: WorkRepo, prefect_events: FakeServer
) -> None:
    url, _, lake, _ = gateway
    head = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("service/feature.py", "def shiny():\n    return 1\n")
    feature = repo.commit("feature")
    repo.push("feature")
    gitlab = {
        "object_kind": "push",
        "ref": "refs/heads/feature",
        "before": ZERO_SHA,
        "after": feature,
        "user_username": "grace",
        "project": {"path_with_namespace": "acme/app"},
    }
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "gl-1"}
    wrong = httpx.post(
        f"{url}/hooks/gitlab", json=gitlab, headers={**headers, "X-Gitlab-Token": "no"}
    )
    assert wrong.status_code == 401
    ok = httpx.post(
        f"{url}/hooks/gitlab", json=gitlab, headers={**headers, "X-Gitlab-Token": GL_TOKEN}
    )
    assert ok.status_code == 202, ok.text
    assert _events(prefect_events)[-1]["payload"]["before"] == ZERO_SHA

    deletion = dict(gitlab, before=feature, after=ZERO_SHA)
    gone = httpx.post(
        f"{url}/hooks/gitlab",
        json=deletion,
        headers={**headers, "X-Gitlab-Token": GL_TOKEN, "X-Gitlab-Event-UUID": "gl-2"},
    )
    assert gone.status_code == 200 and gone.json()["status"] == "recorded"
    # Recorded apart from the reviews: the deleted tip is not marked reviewed.
    assert find_deletion(lake, repo="app", ref="refs/heads/feature", tip=feature) is not None
    assert find_review(lake, repo="app", commit=feature) is None
    assert len(_events(prefect_events)) == 1  # deletions are recorded, not reviewed

    body = json.dumps(
        {
            "repository": str(repo.origin),
            "ref": "refs/heads/main",
            "before": ZERO_SHA,
            "after": head,
        }
    ).encode()
    signed = httpx.post(
        f"{url}/hooks/push", content=body, headers=signed_headers(body, PUSH_SECRET)
    )
    assert signed.status_code == 202, signed.text
    forged = httpx.post(f"{url}/hooks/push", content=body, headers=signed_headers(body, "other"))
    assert forged.status_code == 401


def test_prefect_down_answers_503_and_the_delivery_can_be_retried(gateway) -> None:
    url, _, _, app = gateway
    payload = _main_moved()
    working = app.state.poster
    with http_server(lambda *a: (503, {"detail": "down"})) as down:
        app.state.poster = EventPoster(api_url=f"{down.url}/api", retries=1, backoff_s=0)
        response = _github(url, payload, delivery="retry-me")
        assert len(down.requests) == 2  # the first attempt and one retry
    app.state.poster = working
    assert response.status_code == 503
    assert _github(url, payload, delivery="retry-me").status_code == 202  # redelivery works
