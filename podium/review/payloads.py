"""Webhook bodies → `PushEvent`: GitHub push events, GitLab push hooks and Podium's generic
signed push body; plus the signature checks, all constant-time.

Generic push body (`POST /hooks/push`), signed like the gateway's other HMAC requests
(`podium.gateway.signatures`: `X-Podium-Timestamp` and `X-Podium-Signature`); body
`{"repository": "<watched name, URL or local path>", "ref": "refs/heads/main",
"before": "<sha>", "after": "<sha>", "pusher": "...", "delivery_id": "..."}`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from podium.errors import Problem, Refused
from podium.jsonbody import DEFAULT_MAX_DEPTH, JsonRefused, loads_strict
from podium.review.config import ReviewSettings
from podium.review.models import PushEvent


class WebhookError(Refused):
    """A webhook that must be refused; `problem` says why (the gateway picks the status)."""


@dataclass(frozen=True)
class Ignored:
    """A well-formed webhook that needs no review (ping, tag push, unwatched repository…)."""

    reason: str


def _hmac_hex(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def verify_github_signature(*, body: bytes, header: str | None, secret: str) -> None:
    """Check `X-Hub-Signature-256: sha256=<hex>` over the raw body; raises WebhookError
    (UNAUTHENTICATED)."""
    expected = "sha256=" + _hmac_hex(secret, body)
    if not header or not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise WebhookError(Problem.UNAUTHENTICATED, "bad or missing X-Hub-Signature-256")


def verify_gitlab_token(*, header: str | None, secret: str) -> None:
    """Check `X-Gitlab-Token`; raises WebhookError (UNAUTHENTICATED)."""
    if not header or not hmac.compare_digest(secret.encode(), header.encode()):
        raise WebhookError(Problem.UNAUTHENTICATED, "bad or missing X-Gitlab-Token")


def load_json(body: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """The body as a JSON object; WebhookError MALFORMED otherwise, or UNPROCESSABLE for JSON
    that nests too deep, repeats a key or holds an out-of-range number (`podium.jsonbody`)."""
    try:
        data = loads_strict(body, max_depth=max_depth)
    except JsonRefused as refused:
        raise WebhookError(refused.problem, str(refused)) from None
    if not isinstance(data, dict):
        raise WebhookError(Problem.MALFORMED, "body is not a JSON object")
    return data


def _push(
    review: ReviewSettings,
    data: dict[str, Any],
    *,
    candidates: list[Any],
    fields: dict[str, Any],
    received_at: datetime,
) -> PushEvent | Ignored:
    # The commit range is read the same way from every body; `fields` adds (or, for GitLab's
    # `after`, overrides) what the sender says in its own words.
    ref = data.get("ref")
    if isinstance(ref, str) and ref.startswith("refs/tags/"):
        return Ignored("tag push; only branches are reviewed")
    watched = review.find_repo([c for c in candidates if isinstance(c, str)])
    if watched is None:
        return Ignored("repository is not watched")
    commits = {"ref": ref, "before": data.get("before"), "after": data.get("after")}
    try:
        return PushEvent(repo=watched.name, received_at=received_at, **{**commits, **fields})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WebhookError(Problem.MALFORMED, f"invalid push: {where}: {first['msg']}") from None


def _github(data: dict[str, Any], event: str | None) -> tuple[list[Any], dict[str, Any]] | Ignored:
    """A GitHub webhook (`X-GitHub-Event`); only `push` is reviewed, `ping` and others ignored."""
    if event != "push":
        return Ignored(f"GitHub {event or 'unknown'} event is not a push")
    repo = data.get("repository") or {}
    if not isinstance(repo, dict):
        raise WebhookError(Problem.MALFORMED, "invalid push: repository is not an object")
    pusher = data.get("pusher") or {}
    return [repo.get(k) for k in ("full_name", "clone_url", "ssh_url", "html_url", "url")], {
        "pusher": str(pusher.get("name", "")) if isinstance(pusher, dict) else "",
        "forced": bool(data.get("forced", False)),
    }


def _gitlab(data: dict[str, Any], event: str | None) -> tuple[list[Any], dict[str, Any]] | Ignored:
    """A GitLab webhook (`X-Gitlab-Event`): a project `Push Hook`, or a `System Hook` whose
    `event_name` is `push` (system hooks carry no `object_kind`), is reviewed."""
    kind = data.get("object_kind")
    if event == "System Hook":
        name = data.get("event_name")
        if name != "push":
            shown = name if isinstance(name, str) else "unknown"
            return Ignored(f"GitLab system hook {shown[:40]} is not a push")
    elif event != "Push Hook" or kind not in (None, "push"):
        shown = event or (kind if isinstance(kind, str) else None) or "unknown"
        return Ignored(f"GitLab {shown[:40]} is not a push hook")
    project = data.get("project") or {}
    repository = data.get("repository") or {}
    if not isinstance(project, dict) or not isinstance(repository, dict):
        raise WebhookError(
            Problem.MALFORMED, "invalid push: project and repository must be objects"
        )
    candidates = [
        project.get("path_with_namespace"),
        project.get("git_http_url"),
        project.get("git_ssh_url"),
        project.get("web_url"),
        repository.get("git_http_url"),
        repository.get("homepage"),
    ]
    return candidates, {
        "after": data.get("after") or data.get("checkout_sha"),
        "pusher": str(data.get("user_username") or data.get("user_name") or ""),
    }


FORGES = {"github": _github, "gitlab": _gitlab}


def parse_forge(
    forge: Literal["github", "gitlab"],
    data: dict[str, Any],
    *,
    event: str | None,
    delivery_id: str,
    review: ReviewSettings,
    received_at: datetime,
) -> PushEvent | Ignored:
    """A forge's webhook: `event` is its event header (`X-GitHub-Event`, `X-Gitlab-Event`), and
    only a branch push to a watched repository is reviewed (see `_github`, `_gitlab`)."""
    read = FORGES[forge](data, event)
    if isinstance(read, Ignored):
        return read
    candidates, fields = read
    return _push(
        review,
        data,
        candidates=candidates,
        fields={**fields, "source": forge, "delivery_id": delivery_id},
        received_at=received_at,
    )


def parse_generic(
    data: dict[str, Any], *, review: ReviewSettings, received_at: datetime
) -> PushEvent | Ignored:
    """Podium's generic push body (see the module docstring)."""
    unknown = set(data) - {
        "repository",
        "ref",
        "before",
        "after",
        "pusher",
        "delivery_id",
        "forced",
    }
    if unknown:
        raise WebhookError(Problem.MALFORMED, f"invalid push: unknown fields {sorted(unknown)}")
    repository = data.get("repository")
    if not isinstance(repository, str) or not repository:
        raise WebhookError(Problem.MALFORMED, "invalid push: repository is required")
    return _push(
        review,
        data,
        candidates=[repository],
        fields={
            "source": "push",
            "delivery_id": str(data.get("delivery_id", "")),
            "pusher": str(data.get("pusher", "")),
            "forced": bool(data.get("forced", False)),
        },
        received_at=received_at,
    )
