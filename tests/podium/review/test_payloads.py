"""Webhook parsing and signatures: pure functions on bodies shaped like GitHub's and GitLab's
documented push payloads (trimmed to the fields Podium reads, plus some it ignores)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Literal

import pytest

from podium.errors import Problem
from podium.review import payloads
from podium.review.config import ReviewSettings, WatchedRepo
from podium.review.models import PushEvent
from tests.podium.review.gitfixtures import main_push

NOW = datetime(2026, 5, 1, tzinfo=UTC)
REVIEW = ReviewSettings(
    repos=[
        WatchedRepo(
            name="api",
            url="https://github.com/acme/api.git",
            aliases=["acme/api", "group/api"],
        )
    ]
)
A, B = "a" * 40, "b" * 40


def github_push(**extra) -> dict:
    return {
        "ref": "refs/heads/main",
        "before": A,
        "after": B,
        "forced": False,
        "repository": {"full_name": "acme/api", "clone_url": "https://github.com/acme/api.git"},
        "pusher": {"name": "ada", "email": "ada@example.org"},
        "commits": [{"id": B, "message": "x"}],
        **extra,
    }


def parse(
    forge: Literal["github", "gitlab"], body: dict, event: str = "push", delivery_id: str = ""
):
    return payloads.parse_forge(
        forge, body, event=event, delivery_id=delivery_id, review=REVIEW, received_at=NOW
    )


def test_github_push_parses_and_other_events_are_ignored() -> None:
    push = parse("github", github_push(), delivery_id="d-1")
    assert push == main_push(A, B, repo="api", delivery_id="d-1", pusher="ada", received_at=NOW)
    assert parse("github", {"zen": "hi"}, event="ping") == payloads.Ignored(
        "GitHub ping event is not a push"
    )
    tag = parse("github", github_push(ref="refs/tags/v1"))
    assert isinstance(tag, payloads.Ignored) and "tag" in tag.reason
    other = github_push(repository={"full_name": "acme/other"})
    assert parse("github", other) == payloads.Ignored("repository is not watched")
    with pytest.raises(payloads.WebhookError, match="after") as bad:
        parse("github", github_push(after="nope"))
    assert bad.value.problem is Problem.MALFORMED


def test_gitlab_push_and_generic_push() -> None:
    body = {
        "object_kind": "push",
        "ref": "refs/heads/dev",
        "before": A,
        "after": B,
        "user_username": "grace",
        "project": {"path_with_namespace": "group/api", "git_http_url": "https://gl/group/api.git"},
    }
    push = parse("gitlab", body, event="Push Hook", delivery_id="u-1")
    assert isinstance(push, PushEvent) and (push.repo, push.pusher, push.branch) == (
        "api",
        "grace",
        "dev",
    )
    assert isinstance(
        parse("gitlab", {"object_kind": "merge_request"}, event="Merge Request Hook"),
        payloads.Ignored,
    )
    generic = payloads.parse_generic(
        {
            "repository": "https://github.com/acme/api",
            "ref": "refs/heads/main",
            "before": A,
            "after": B,
        },
        review=REVIEW,
        received_at=NOW,
    )
    assert isinstance(generic, PushEvent) and generic.source == "push"
    with pytest.raises(payloads.WebhookError, match="unknown fields"):
        payloads.parse_generic(
            {"repository": "api", "ref": "refs/heads/main", "before": A, "after": B, "url": "x"},
            review=REVIEW,
            received_at=NOW,
        )
    with pytest.raises(payloads.WebhookError, match="not a JSON object"):
        payloads.load_json(b"[1]")


def test_signatures_are_checked() -> None:
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
    payloads.verify_github_signature(body=body, header=good, secret="gh-secret")
    for header in (None, "", "sha256=" + "0" * 64, good.replace("sha256=", "sha1=")):
        with pytest.raises(payloads.WebhookError) as caught:
            payloads.verify_github_signature(body=body, header=header, secret="gh-secret")
        assert caught.value.problem is Problem.UNAUTHENTICATED
    with pytest.raises(payloads.WebhookError):
        payloads.verify_github_signature(body=body + b" ", header=good, secret="gh-secret")
    payloads.verify_gitlab_token(header="gl-token", secret="gl-token")
    with pytest.raises(payloads.WebhookError):
        payloads.verify_gitlab_token(header="gl-token2", secret="gl-token")


def test_push_event_validation() -> None:
    with pytest.raises(ValueError, match="full ref"):
        PushEvent(repo="api", ref="main", before=A, after=B, source="push", received_at=NOW)
    with pytest.raises(ValueError, match="time zone"):
        PushEvent(
            repo="api",
            ref="refs/heads/main",
            before=A,
            after=B,
            source="push",
            received_at=datetime(2026, 1, 1),
        )
    with pytest.raises(ValueError, match="needs review.model_id"):
        ReviewSettings(summary_backend="bedrock")
