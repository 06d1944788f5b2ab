"""Every third-party payload in shared/fixtures (github, gitlab, gitea, dynamodb) through the
real parser and the real HTTP route, correctly signed, each with its expected outcome.

Real: the fixture files byte for byte, the whole gateway app under uvicorn on a free port, the
Delta lake in a temp folder, the parsers. The Prefect events endpoint is a local HTTP server
that records what it receives (the review tests' stand-in). Bedrock fixtures belong to the
review tests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from podium.review.payloads import Ignored, load_json, parse_forge
from podium.sources import SourceError, load_source, parse_dynamodb_stream
from tests.podium.gateway.securitykit import (
    FIXTURES,
    Gateway,
    post_github,
    post_gitlab,
    post_signed,
    security_gateway,
)

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures is not present")

ACCEPTED = "accepted"
TAG = "tag push; only branches are reviewed"

# file -> (X-GitHub-Event, HTTP status, status, reason or None)
GITHUB = {
    "go-playground__ping.json": ("ping", 200, "ignored", "GitHub ping event is not a push"),
    "go-playground__push.json": ("push", 202, ACCEPTED, None),
    "octokit__ghes-35__push__payload.json": ("push", 200, "ignored", TAG),
    "octokit__github.ae__push__event.payload.json": ("push", 200, "ignored", TAG),
    "octokit__ping__payload.json": ("ping", 200, "ignored", "GitHub ping event is not a push"),
    "octokit__ping__with-app_id.payload.json": (
        "ping",
        200,
        "ignored",
        "GitHub ping event is not a push",
    ),
    "octokit__ping__with-organization.payload.json": (
        "ping",
        200,
        "ignored",
        "GitHub ping event is not a push",
    ),
    "octokit__push__1.payload.json": ("push", 200, "ignored", TAG),
    "octokit__push__payload.json": ("push", 200, "ignored", TAG),
    "octokit__push__with-installation.payload.json": ("push", 200, "ignored", TAG),
    "octokit__push__with-new-branch.payload.json": ("push", 202, ACCEPTED, None),
    "octokit__push__with-no-username-committer.payload.json": ("push", 202, ACCEPTED, None),
    "octokit__push__with-organization.payload.json": ("push", 200, "ignored", TAG),
    "probot__push.json": ("push", 202, ACCEPTED, None),
}
# Gitea and Gogs send GitHub-compatible headers (X-GitHub-Event, an HMAC of the body), so
# they use /hooks/github.
GITEA = {
    "go-playground__gitea__push-event.json": ("push", 202, ACCEPTED, None),
    "go-playground__gogs__push-event.json": ("push", 202, ACCEPTED, None),
}
GITLAB_TAG_PUSH = ("Tag Push Hook", 200, "ignored", "GitLab Tag Push Hook is not a push hook")
GITLAB = {
    "gitlab-docs__push-event.json": ("Push Hook", 202, ACCEPTED, None),
    "gitlab-docs__tag-push-event.json": GITLAB_TAG_PUSH,
    "go-gitlab__push.json": ("Push Hook", 202, ACCEPTED, None),
    "go-gitlab__tag_push.json": GITLAB_TAG_PUSH,
    "go-playground__push-event.json": ("Push Hook", 202, ACCEPTED, None),
    # System hooks carry pushes too: no object_kind, event_name "push".
    "go-playground__system-push-event.json": ("System Hook", 202, ACCEPTED, None),
    "go-playground__system-tag-event.json": (
        "System Hook",
        200,
        "ignored",
        "GitLab system hook tag_push is not a push",
    ),
    "go-playground__tag-event.json": GITLAB_TAG_PUSH,
}
NOT_A_TALK = "no sort key sk (keys: {}): not a talk item"


def _not_talks(keys: str, records: int) -> tuple[int, dict[str, str]]:
    """A stream event of `records` items with these `keys`, none a talk: 200, each skipped."""
    return 200, {f"Records[{i}]": NOT_A_TALK.format(keys) for i in range(records)}


# file -> (HTTP status, {record: skip reason}) — none of these items is a talk.
DYNAMODB = {
    "aws-lambda-go__dynamodb-event.json": _not_talks("key, val", 2),
    "aws-lambda-go__dynamodb-time-window-event.json": _not_talks("Id", 3),
    "aws-sam-cli__DynamoDBUpdate.template.json": _not_talks("Id", 3),
    "powertools-python__dynamoStreamEvent.json": _not_talks("Id", 2),
    "powertools-python__getting_started_dynamodb_event.json": _not_talks("Id", 2),
    "powertools-python__pydantic_dynamodb_event.json": _not_talks("Id", 2),
}
TRUNCATED = "aws-lambda-go__dynamodb-event-malformed.2.json"


def test_every_fixture_file_has_an_expected_outcome() -> None:
    for folder, table in (("github", GITHUB), ("gitea", GITEA), ("gitlab", GITLAB)):
        assert sorted(p.name for p in (FIXTURES / folder).glob("*.json")) == sorted(table)
    names = sorted(p.name for p in (FIXTURES / "dynamodb").glob("*.json"))
    assert names == sorted([*DYNAMODB, TRUNCATED])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with security_gateway(tmp_path_factory.mktemp("fixtures")) as gw:
        yield gw


def _read(folder: str, name: str) -> bytes:
    return (FIXTURES / folder / name).read_bytes()


# ---- git hooks -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GITHUB))
def test_github_fixture_parser(name: str, gateway: Gateway) -> None:
    event, _, status, reason = GITHUB[name]
    parsed = parse_forge(
        "github",
        load_json(_read("github", name)),
        event=event,
        delivery_id="d-1",
        review=gateway.settings.review,
        received_at=datetime.now(UTC),
    )
    if status == ACCEPTED:
        assert not isinstance(parsed, Ignored) and parsed.source == "github"
    else:
        assert parsed == Ignored(reason)


@pytest.mark.parametrize(
    ("folder", "name"),
    [("github", n) for n in sorted(GITHUB)] + [("gitea", n) for n in sorted(GITEA)],
)
def test_github_and_gitea_fixtures_over_http(folder: str, name: str, gateway: Gateway) -> None:
    event, code, status, reason = (GITHUB | GITEA)[name]
    body = _read(folder, name)
    sent_before = len(gateway.events())
    response = post_github(gateway.url, body, event=event, delivery=str(uuid.uuid4()))
    assert response.status_code == code, response.text
    answer = response.json()
    assert (answer["status"], answer["reason"]) == (status, reason)
    pushed = gateway.events()[sent_before:]
    if status == ACCEPTED:
        (announced,) = pushed
        expected_after = json.loads(body)["after"]
        assert announced["event"] == "podium.git.push"
        assert announced["payload"]["after"] == expected_after == answer["after"]
    else:
        assert pushed == []


@pytest.mark.parametrize("name", sorted(GITLAB))
def test_gitlab_fixtures_parser_and_http(name: str, gateway: Gateway) -> None:
    event, code, status, reason = GITLAB[name]
    body = _read("gitlab", name)
    parsed = parse_forge(
        "gitlab",
        load_json(body),
        event=event,
        delivery_id="d-1",
        review=gateway.settings.review,
        received_at=datetime.now(UTC),
    )
    assert (parsed == Ignored(reason)) if status != ACCEPTED else parsed.source == "gitlab"
    response = post_gitlab(gateway.url, body, event=event, delivery=str(uuid.uuid4()))
    assert response.status_code == code, response.text
    assert (response.json()["status"], response.json()["reason"]) == (status, reason)


def test_a_redelivered_github_fixture_is_ignored_but_a_new_body_under_its_id_is_not(
    gateway: Gateway,
) -> None:
    body = _read("github", "probot__push.json")
    delivery = str(uuid.uuid4())
    assert post_github(gateway.url, body, event="push", delivery=delivery).status_code == 202
    again = post_github(gateway.url, body, event="push", delivery=delivery)
    assert (again.status_code, again.json()["reason"]) == (200, "delivery already received")
    # The delivery id is not signed: the same id on another (signed) body is another delivery.
    other = json.loads(body) | {"after": "1" * 40}
    changed = post_github(gateway.url, json.dumps(other).encode(), event="push", delivery=delivery)
    assert changed.status_code == 202, changed.text


# ---- DynamoDB Streams ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DYNAMODB))
def test_dynamodb_fixture_parser_and_http(name: str, gateway: Gateway) -> None:
    code, skipped = DYNAMODB[name]
    parsed = load_source(FIXTURES / "dynamodb" / name)
    assert parsed.talks == [] and parsed.removed == [] and parsed.errors == []
    assert {s.record: s.message for s in parsed.skipped} == skipped
    response = post_signed(gateway.url, "/hooks/dynamodb", _read("dynamodb", name))
    assert response.status_code == code, response.text
    answer = response.json()
    assert answer["accepted"] == answer["rejected"] == [] and answer["event"] == "not_needed"
    assert {s["record"]: s["reason"] for s in answer["skipped"]} == skipped
    assert all(s["field"] == "dynamodb.Keys.sk" for s in answer["skipped"])


def test_truncated_dynamodb_fixture(gateway: Gateway) -> None:
    with pytest.raises(SourceError, match="not JSON"):
        load_source(FIXTURES / "dynamodb" / TRUNCATED)
    response = post_signed(gateway.url, "/hooks/dynamodb", _read("dynamodb", TRUNCATED))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body is not JSON: Expecting ',' delimiter")


def test_fixture_items_made_talks_keep_their_binary_and_unknown_attributes_out(
    gateway: Gateway,
) -> None:
    # Derived in the test (the files stay as written): the aws-lambda-go items, which carry
    # B, BS, NS, NULL, L and M attributes, become talk items by their keys and a title.
    stream = json.loads(_read("dynamodb", "aws-lambda-go__dynamodb-event.json"))
    for index, record in enumerate(stream["Records"]):
        talk_id = f"lambda-go-{index}-{uuid.uuid4().hex[:6]}"
        record["dynamodb"]["Keys"]["sk"] = {"S": f"talk#{talk_id}"}
        record["dynamodb"]["NewImage"]["title"] = {"S": f"Binary neighbours {index}"}
    parsed = parse_dynamodb_stream(stream)
    assert parsed.errors == [] and len(parsed.talks) == 2
    response = post_signed(gateway.url, "/hooks/dynamodb", stream)
    assert response.status_code == 200, response.text
    accepted = response.json()["accepted"]
    assert len(accepted) == 2 and set(accepted) <= gateway.talk_ids()


def test_every_fixture_posted_to_every_talk_route_is_never_a_5xx(gateway: Gateway) -> None:
    # Cross-posting (a GitHub payload to the talk routes, a stream to the directory route) is
    # what a misconfigured sender does: each is refused with a 4xx or per-record reasons.
    for folder in ("github", "gitlab", "gitea", "dynamodb"):
        for path in sorted((FIXTURES / folder).glob("*.json")):
            for route in ("/hooks/talks", "/hooks/dynamodb", "/hooks/push"):
                secret = {"/hooks/push": "security-push-secret"}.get(route, None)
                kwargs = {"secret": secret} if secret else {}
                response = post_signed(gateway.url, route, path.read_bytes(), **kwargs)
                assert response.status_code < 500, (folder, path.name, route, response.text)
                assert response.status_code in (200, 400, 422), (path.name, route)
