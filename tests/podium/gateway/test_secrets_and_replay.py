"""One secret per purpose, the replay guard, and atomic de-duplication of git deliveries.

Real: the settings object, `ReplayGuard` with real threads, and for the delivery race the whole
gateway under uvicorn with a local HTTP server standing in for Prefect that answers slowly, so
two copies of one delivery are in flight at once.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from podium.events import EventPoster
from podium.gateway import running_gateway
from podium.gateway.signatures import Claim, ReplayGuard, Verified
from podium.lake import Lake
from podium.replay import LakeReplayStore
from podium.settings import Settings
from tests.podium.gateway.securitykit import FIXTURE_REPOS, FIXTURES, GH_SECRET, post_github
from tests.podium.review.httpfakes import http_server
from tests.together import all_at_once

REAL = {
    "gateway": {"secret": "a-real-gateway-secret"},
    # production also needs a shared lake and a Prefect server of its own
    "lake": {"url": "s3://bucket/podium"},
    "prefect": {"api_url": "https://prefect.internal/api"},
}


def _production(**review: object) -> Settings:
    return Settings(environment="production", **REAL, review=review)  # type: ignore[arg-type]


def test_production_needs_its_own_push_secret() -> None:
    with pytest.raises(ValidationError, match="PODIUM_REVIEW__PUSH_SECRET is unset"):
        _production(push_secret=None)
    with pytest.raises(ValidationError, match="PODIUM_REVIEW__PUSH_SECRET is unset"):
        _production()  # the local placeholder
    with pytest.raises(ValidationError, match="same as PODIUM_GATEWAY__SECRET"):
        _production(push_secret="a-real-gateway-secret")
    with pytest.raises(ValidationError, match="GITLAB_TOKEN is the same as"):
        _production(push_secret="push-key", github_webhook_secret="gh", gitlab_token="gh")
    ok = _production(push_secret="push-key", github_webhook_secret="gh", gitlab_token="gl")
    assert ok.review.push_secret is not None
    # The embedded default keeps working with its placeholders.
    assert Settings().review.push_secret is not None


def test_secrets_never_show_in_settings_output() -> None:
    settings = _production(push_secret="push-key-123")
    assert "push-key-123" not in repr(settings) and "push-key-123" not in str(settings.model_dump())


def _guard(tmp_path: Path, **options: float) -> ReplayGuard:
    return ReplayGuard(LakeReplayStore(Lake(str(tmp_path / "lake"))), **options)  # type: ignore[arg-type]


def test_replay_guard_forgets_ids_only_after_the_window(tmp_path: Path) -> None:
    guard = _guard(tmp_path, window_s=300, lease_s=60)
    message = Verified(message_id="id:m1", timestamp=1_000, digest="d")
    assert guard.claim("talks", message, now=1_000)
    assert not guard.claim("talks", message, now=1_059)  # in flight for its lease
    guard.complete("talks", message)
    assert not guard.claim("talks", message, now=1_299)
    assert guard.claim("dynamodb", message, now=1_299)  # another route is another scope
    assert not guard.claim("talks", message, now=1_301)  # the message is still checked...
    assert guard.claim("talks", message, now=1_302)  # ...until its timestamp left the window
    # An in-flight claim whose replica died (no complete, no release) is free after its lease.
    late = Verified(message_id="id:m2", timestamp=1_300, digest="d")
    assert guard.claim("talks", late, now=1_300)
    assert not guard.claim("talks", late, now=1_359)
    assert guard.claim("talks", late, now=1_361)


def test_replay_guard_tells_in_flight_from_done_and_a_reused_id(tmp_path: Path) -> None:
    guard = _guard(tmp_path, window_s=300, max_outcome_bytes=10)
    message = Verified(message_id="m", timestamp=1_000, digest="body-1")
    assert guard.claim("s", message, now=1_000) is Claim.FIRST
    assert guard.claim("s", message, now=1_001) is Claim.IN_FLIGHT
    forged = Verified(message_id="m", timestamp=1_000, digest="body-2")
    assert guard.claim("s", forged, now=1_001) is Claim.REUSED
    guard.complete("s", message, b"answer")
    assert guard.claim("s", message, now=1_002) is Claim.DONE
    assert guard.admit("s", message, now=1_002).outcome == b"answer"
    assert guard.claim("s", forged, now=1_002) is Claim.REUSED
    other = Verified(message_id="big", timestamp=1_000, digest="d")
    guard.claim("s", other, now=1_000)
    guard.complete("s", other, b"x" * 11)  # too large to keep: a bare duplicate
    done = guard.admit("s", other, now=1_001)
    assert done.seen.value == "done" and done.outcome is None
    fresh = Verified(message_id="new", timestamp=1_000, digest="d")
    assert guard.claim("s", fresh, now=1_003) is Claim.FIRST
    guard.release("s", fresh)  # a failed first request: its retry is new
    assert guard.claim("s", fresh, now=1_003) is Claim.FIRST


def test_replay_guard_is_shared_and_atomic(tmp_path: Path) -> None:
    # Two guards on one lake are two replicas: what one claimed, the other sees.
    one, two = _guard(tmp_path, window_s=300), _guard(tmp_path, window_s=300)
    message = Verified("a", 1_000, "d")
    assert one.claim("s", message, now=1_000)
    assert two.claim("s", message, now=1_000) is Claim.IN_FLIGHT

    def race(n: int) -> Claim:
        return (one, two)[n % 2].claim("s", Verified("same", int(time.time()), "d"))

    claims = all_at_once(race, range(16))
    assert sorted(map(bool, claims)) == [False] * 15 + [True]
    assert claims.count(Claim.IN_FLIGHT) == 15


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures is not present")
def test_concurrent_copies_of_one_github_delivery_announce_once(tmp_path: Path) -> None:
    def slow_prefect(method: str, path: str, headers: dict, body: bytes) -> tuple[int, object]:
        time.sleep(0.5)  # keeps the first copy in flight while the second arrives
        return 200, {}

    with http_server(slow_prefect) as prefect:
        settings = Settings(
            home=tmp_path / "home",
            lake={"url": str(tmp_path / "lake")},
            review={"repos": FIXTURE_REPOS, "github_webhook_secret": GH_SECRET},
        )
        poster = EventPoster(api_url=f"{prefect.url}/api", retries=0, backoff_s=0)
        body = (FIXTURES / "github" / "probot__push.json").read_bytes()
        delivery = str(uuid.uuid4())
        with running_gateway(
            settings, lake=Lake.from_settings(settings), poster=poster, port=0
        ) as url:
            with ThreadPoolExecutor(2) as pool:
                answers = list(
                    pool.map(
                        lambda _: post_github(url, body, event="push", delivery=delivery), range(2)
                    )
                )
            retry = post_github(url, body, event="push", delivery=delivery)
        events = [r for r in prefect.requests if r.path == "/api/events"]
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202, 409]  # the copy is told to retry, not that it was received
    (busy,) = [a for a in answers if a.status_code == 409]
    assert busy.headers["retry-after"] == "1" and "being handled" in busy.json()["detail"]
    assert (retry.status_code, retry.json()["reason"]) == (200, "delivery already received")
    assert len(events) == 1
