"""A whole gateway for the security tests: the real app on a free port, a Delta lake in a temp
folder, watched repositories for the fixture payloads, and a local HTTP server standing in
for Prefect's `POST /api/events` (it records what it was sent)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from podium.events import EventPoster
from podium.gateway import running_gateway, signed_headers
from podium.gateway.signatures import standard_headers
from podium.lake import Lake
from podium.settings import Settings
from tests.podium.review.httpfakes import FakeServer, http_server

SECRET = "security-gateway-secret"
PUSH_SECRET = "security-push-secret"
GH_SECRET = "security-github-secret"
GL_TOKEN = "security-gitlab-token"
_ROOT = Path(__file__).resolve().parents[3]
# shared/ lies beside the checkout (or beside a folder of worktrees holding it).
FIXTURES = next(
    (p / "shared" / "fixtures" for p in _ROOT.parents if (p / "shared" / "fixtures").is_dir()),
    _ROOT.parent / "shared" / "fixtures",
)

# Every repository the fixture payloads name, watched so that their pushes reach the event.
FIXTURE_REPOS = [
    {
        "name": "sample-app",
        "url": "https://github.com/binkkatal/sample_app.git",
        "aliases": ["binkkatal/sample_app"],
    },
    {
        "name": "hello-world",
        "url": "https://github.com/Codertocat/Hello-World.git",
        "aliases": ["Codertocat/Hello-World"],
    },
    {
        "name": "probot-test",
        "url": "https://github.com/bkeepers-inc/test.git",
        "aliases": ["bkeepers-inc/test"],
    },
    {
        "name": "diaspora",
        "url": "http://example.com/mike/diaspora.git",
        "aliases": ["mike/diaspora"],
    },
    {
        "name": "jsmith-example",
        "url": "http://example.com/jsmith/example.git",
        "aliases": ["jsmith/example"],
    },
    {
        "name": "gitea-example",
        "url": "http://localhost:3000/example/example.git",
        "aliases": ["example/example"],
    },
    {
        "name": "gogs-webhooks",
        "url": "http://localhost:3000/unknwon/webhooks.git",
        "aliases": ["unknwon/webhooks"],
    },
]


@dataclass
class Gateway:
    url: str
    lake: Lake
    prefect: FakeServer
    settings: Settings

    def events(self) -> list[dict[str, Any]]:
        return [e for r in self.prefect.requests if r.path == "/api/events" for e in r.json()]

    def talk_ids(self) -> set[str]:
        if not self.lake.exists("talks"):
            return set()
        return set(self.lake.read("talks", columns=["talk_id"]).talk_id)


def push_body(repository: str) -> dict[str, str]:
    """A generic /hooks/push body: `repository`'s main moved from commit a…a to b…b."""
    return {
        "repository": repository,
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": "b" * 40,
    }


def new_talk_id() -> str:
    """A talk id no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


@contextmanager
def security_gateway(tmp: Path, **gateway: Any) -> Iterator[Gateway]:
    """The whole gateway with every hook configured; `gateway` overrides GatewaySettings."""
    with http_server(lambda method, path, headers, body: (200, {})) as prefect:
        settings = Settings(
            home=tmp / "home",
            lake={"url": str(tmp / "lake")},
            prefect={"api_url": f"{prefect.url}/api", "event_retries": 0},
            gateway={"secret": SECRET, **gateway},
            review={
                "repos": FIXTURE_REPOS,
                "github_webhook_secret": GH_SECRET,
                "gitlab_token": GL_TOKEN,
                "push_secret": PUSH_SECRET,
            },
        )
        lake = Lake.from_settings(settings)
        poster = EventPoster(api_url=f"{prefect.url}/api", retries=0, backoff_s=0)
        with running_gateway(settings, lake=lake, poster=poster, port=0) as url:
            yield Gateway(url, lake, prefect, settings)


def post_signed(
    url: str,
    path: str,
    body: bytes | Any,
    *,
    secret: str = SECRET,
    standard: bool = True,
    timeout: float = 30,
    **headers: str,
) -> httpx.Response:
    """POST `body` (bytes as is, anything else as JSON) signed for a Podium HMAC route."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signed = (standard_headers(raw, secret) if standard else signed_headers(raw, secret)) | headers
    return httpx.post(url + path, content=raw, headers=signed, timeout=timeout)


def _post_json_hook(url: str, hook: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST the JSON `body` to /hooks/`hook` with the sender's `headers`."""
    return httpx.post(
        f"{url}/hooks/{hook}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def post_github(url: str, body: bytes, *, event: str, delivery: str) -> httpx.Response:
    signature = "sha256=" + hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return _post_json_hook(
        url,
        "github",
        body,
        {"X-Hub-Signature-256": signature, "X-GitHub-Event": event, "X-GitHub-Delivery": delivery},
    )


def post_gitlab(url: str, body: bytes, *, event: str, delivery: str) -> httpx.Response:
    return _post_json_hook(
        url,
        "gitlab",
        body,
        {"X-Gitlab-Token": GL_TOKEN, "X-Gitlab-Event": event, "X-Gitlab-Event-UUID": delivery},
    )
