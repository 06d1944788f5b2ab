"""Access control (issue 23) against a real Prefect server protected with
`PREFECT_SERVER_API_AUTH_STRING`, the real gateway app under uvicorn, a real Delta lake in a
temp folder and real git repositories.

- Every client sends the auth string: the gateway's events are accepted (and reach a warm
  executor's event stream), `podium ingest` hands talks over, a flow run started the way
  `podium backfill` starts one lands on the server; without the string each fails clearly.
- Named reviewers decide through signed links taken from the real notification (a local HTTP
  server standing in for the Slack webhook records it): the gateway verifies and resumes the
  paused run, the decision records the verified reviewer; expired, reused, tampered and
  other-reviewer links are refused. The UI/API form is recorded as an operator's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from podium.events import EventDeliveryError, EventPoster, make_event
from podium.gateway import running_gateway, signed_headers
from podium.lake import Lake
from podium.review.links import LinkClaims, sign
from podium.review.records import find_review
from podium.settings import Settings, get_settings
from tests.podium.review.gitfixtures import make_repo
from tests.podium.review.httpfakes import FakeServer, http_server
from tests.prefect_server import start_server, stop
from tests.processes import stop_group

AUTH = "podium-ops:correct-horse-battery-staple"
BASIC = {"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()}
PROJECT = Path(__file__).resolve().parents[2]
ALICE_SECRET = "alice-own-link-key"
TEAM_KEY = "team-link-signing-key"


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server that requires the auth string; this process's client sends it."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    process, api = start_server(
        tmp_path_factory.mktemp("prefect-auth"),
        extra_env={"PREFECT_SERVER_API_AUTH_STRING": AUTH},
    )
    saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING")}
    os.environ.update({"PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": AUTH})
    try:
        with temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: AUTH}):
            yield api
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        stop(process)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stored_events(api: str, name: str, *, timeout_s: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = httpx.post(
            f"{api}/events/filter",
            json={"filter": {"event": {"name": [name]}}},
            headers=BASIC,
            timeout=60,
        )
        response.raise_for_status()
        if found := response.json()["events"]:
            return found
        time.sleep(0.5)
    return []


def _settings(tmp_path: Path, api: str, *, auth: bool = True, **extra: Any) -> Settings:
    prefect = {
        "api_url": api,
        "event_retries": 0,
        "event_timeout_s": 30,  # a loaded test machine; a refusal is answered at once
        **({"auth_string": AUTH} if auth else {}),
    }
    return Settings(
        home=tmp_path / "home", lake={"url": str(tmp_path / "lake")}, prefect=prefect, **extra
    )


def _talk(talk_id: str) -> bytes:
    return json.dumps(
        {"talk_id": talk_id, "title": "Protected servers", "description": "Basic auth."}
    ).encode()


def test_without_the_auth_string_the_server_refuses(protected: str) -> None:
    assert httpx.post(f"{protected}/events", json=[], timeout=60).status_code == 401
    assert httpx.post(f"{protected}/events", json=[], headers=BASIC, timeout=60).is_success
    bare = EventPoster(api_url=protected, retries=0, timeout_s=60)
    with pytest.raises(EventDeliveryError, match="HTTP 401"):
        bare.post([make_event("podium.test", resource_id="podium.test")])
    # Bearer (a Prefect Cloud key) is not what a self-hosted server takes.
    bearer = EventPoster(api_url=protected, api_key=AUTH, retries=0, timeout_s=60)
    with pytest.raises(EventDeliveryError, match="HTTP 401"):
        bearer.post([make_event("podium.test", resource_id="podium.test")])


def _post_talk(settings: Settings, talk_id: str) -> httpx.Response:
    """Post the talk `talk_id`, signed, to a gateway of `settings` started for it."""
    with running_gateway(settings, port=0) as url:
        body = _talk(talk_id)
        return httpx.post(
            f"{url}/hooks/talks",
            content=body,
            headers=signed_headers(body, settings.gateway.secret),
            timeout=30,
        )


def test_gateway_events_are_accepted_and_reach_a_warm_executor(
    protected: str, tmp_path: Path
) -> None:
    from deployments.event_stream import EventStream

    settings = _settings(tmp_path, protected)
    assert "correct-horse" not in repr(EventPoster.from_settings(settings))
    seen: list[Any] = []
    stopping = threading.Event()
    stream = EventStream(
        ["podium.talk.submitted"],
        on_event=seen.append,
        on_connect=lambda: None,
        stopping=stopping,
    )
    stream.start()  # the warm executor's listener, with this process's (auth) settings
    try:
        assert stream.connected.wait(60), "the event stream did not connect"
        answer = _post_talk(settings, "auth-accepted")
        assert answer.status_code == 200, answer.text
        assert answer.json()["event"] == "accepted"
        stored = _stored_events(protected, "podium.talk.submitted")
        assert any("auth-accepted" in e["payload"].get("talk_ids", []) for e in stored)
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any("auth-accepted" in e.payload.get("talk_ids", []) for e in seen)
    finally:
        stopping.set()

    # The same gateway without the string: the talk is safe, the event deferred.
    unauthenticated = _settings(tmp_path / "bare", protected, auth=False)
    answer = _post_talk(unauthenticated, "auth-deferred")
    assert answer.status_code == 202 and answer.json()["event"] == "deferred"


def _podium_env(tmp_path: Path, api: str, *, auth: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "PREFECT_API"))}
    env.update(
        {
            "PYTHONPATH": str(PROJECT),
            "PODIUM_HOME": str(tmp_path / "home"),
            "PODIUM_LAKE__URL": str(tmp_path / "lake"),
            "PODIUM_PREFECT__API_URL": api,
            "PODIUM_PREFECT__EVENT_RETRIES": "0",
            "PODIUM_PREFECT__EVENT_TIMEOUT_S": "30",
        }
    )
    if auth:
        env["PODIUM_PREFECT__AUTH_STRING"] = AUTH
    return env


def test_cli_ingest_hands_over_only_with_the_auth_string(protected: str, tmp_path: Path) -> None:
    talks = tmp_path / "talks.json"
    talks.write_text(json.dumps([json.loads(_talk(f"cli-{i}")) for i in range(2)]))
    run = [sys.executable, "-m", "podium", "ingest", str(talks)]
    ok = subprocess.run(
        run, env=_podium_env(tmp_path, protected, auth=True), capture_output=True, text=True,
        timeout=180, cwd=PROJECT,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "2 talks handed to enrichment" in ok.stdout
    refused = subprocess.run(
        run, env=_podium_env(tmp_path / "b", protected, auth=False), capture_output=True,
        text=True, timeout=180, cwd=PROJECT,
    )  # fmt: skip
    assert refused.returncode == 0, refused.stderr  # the talks are recorded all the same
    assert "event deferred" in refused.stdout and "HTTP 401" in refused.stdout
    assert AUTH not in ok.stdout + ok.stderr + refused.stdout + refused.stderr


FLOW_SCRIPT = """
from prefect import flow
from deployments.local_stack import prefect_api_for
from podium.settings import get_settings

@flow(name="auth-probe")
def probe() -> int:
    return 7

with prefect_api_for(get_settings(), say=print):
    print("result", probe())
"""


def test_a_flow_run_the_cli_way_needs_only_podium_settings(protected: str, tmp_path: Path) -> None:
    """`podium backfill` runs its flow inside `prefect_api_for`: the auth string from
    Podium's settings reaches Prefect's client (and the processes it starts)."""
    run = [sys.executable, "-c", FLOW_SCRIPT]
    ok = subprocess.run(
        run, env=_podium_env(tmp_path, protected, auth=True), capture_output=True, text=True,
        timeout=300, cwd=PROJECT,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "result 7" in ok.stdout
    runs = httpx.post(
        f"{protected}/flow_runs/filter",
        json={"flows": {"name": {"any_": ["auth-probe"]}}},
        headers=BASIC,
        timeout=60,
    ).json()
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    refused = subprocess.run(
        run, env=_podium_env(tmp_path, protected, auth=False), capture_output=True, text=True,
        timeout=300, cwd=PROJECT,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "401" in refused.stderr and AUTH not in refused.stderr


# ---- signed review links ----------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeServer]:
    with http_server(lambda *a: (200, {"ok": True})) as server:
        yield server


@pytest.fixture
def links_env(
    protected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeServer
) -> Iterator[tuple[Any, Lake, str]]:
    """A watched repository, two named reviewers (alice with her own key, bob under the
    team key), the Slack stand-in, and the real gateway on a free port."""
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git")
    env = {
        "PODIUM_HOME": str(tmp_path / "home"),
        "PODIUM_LAKE__URL": str(tmp_path / "lake"),
        "PODIUM_PREFECT__API_URL": protected,
        "PODIUM_PREFECT__AUTH_STRING": AUTH,
        "PODIUM_REVIEW__REPOS": json.dumps([{"name": "app", "url": str(repo.origin)}]),
        "PODIUM_REVIEW__POLL_INTERVAL_S": "1",
        "PODIUM_PREFECT__EVENT_TIMEOUT_S": "30",
        "PODIUM_REVIEW__NOTIFIER": "slack",
        "PODIUM_REVIEW__SLACK_WEBHOOK_URL": f"{slack.url}/hook",
        "PODIUM_REVIEW__REVIEWERS": json.dumps(
            [
                {"name": "alice", "email": "alice@example.org", "secret": ALICE_SECRET},
                {"name": "bob", "email": "bob@example.org"},
            ]
        ),
        "PODIUM_REVIEW__LINK_SIGNING_KEY": TEAM_KEY,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    with running_gateway(get_settings(), port=0) as url:
        monkeypatch.setenv("PODIUM_REVIEW__LINKS_BASE_URL", url)
        get_settings.cache_clear()
        yield repo, Lake.from_settings(get_settings()), url
    get_settings.cache_clear()


def _links(slack: FakeServer) -> dict[str, dict[str, str]]:
    """reviewer -> decision -> token, from the messages the notifier sent."""
    out: dict[str, dict[str, str]] = {}
    for request in slack.requests:
        text = request.json()["text"]
        name = re.search(r"Your links, (\w+)", text)
        assert name, text[:300]
        tokens = dict(re.findall(r"(approve|reject):\s+\S+/reviews/decide\?token=(\S+)", text))
        out[name.group(1)] = {k: httpx.QueryParams(f"t={v}")["t"] for k, v in tokens.items()}
    return out


def _post(url: str, token: str, comment: str = "") -> httpx.Response:
    return httpx.post(
        f"{url}/reviews/decide", data={"token": token, "comment": comment}, timeout=60
    )


def _decide(url: str, token: str, comment: str = "") -> httpx.Response:
    """A reviewer's click, clicked again while the page says Prefect was busy (503: the link
    was given back, "try the link again shortly"), as a person would; at most a minute."""
    for _ in range(12):
        answer = _post(url, token, comment)
        if answer.status_code != 503:
            return answer
        time.sleep(5)
    return answer


def _reforge(token: str, key: str | None = None, **changes: Any) -> str:
    """`token` with fields changed, keeping its signature (key None) or re-signed with `key`."""
    encoded, _, mac = token.partition(".")
    body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    body.update(changes)
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    if key is not None:
        digest = hmac.new(key.encode(), b"podium-review-link\x00" + payload, hashlib.sha256)
        mac = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + mac


def _push_change(repo: Any, name: str) -> tuple[str, str]:
    before = repo.head()
    repo.write(f"service/{name}.py", f"{name.upper()} = True\n")
    after = repo.commit(name)
    repo.push("main")
    return before, after


def test_signed_links_decide_as_the_verified_reviewer(
    links_env, slack: FakeServer, protected: str
) -> None:
    from tests.flows.test_review_push import _finish, _paused_run, _push, _start, decided_review

    repo, lake, url = links_env
    before, after = _push_change(repo, "linked")
    thread, results = _start(_push(before, after))
    run_id = _paused_run(lake, after)
    links = _links(slack)
    assert set(links) == {"alice", "bob"} and set(links["alice"]) == {"approve", "reject"}
    alice = links["alice"]["approve"]

    # Opening a link decides nothing: it asks to confirm.
    page = httpx.get(f"{url}/reviews/decide", params={"token": alice}, timeout=60)
    assert page.status_code == 200 and "Approve as alice" in page.text
    assert "<form method='post'>" in page.text and page.headers["cache-control"] == "no-store"

    # Tampered: the decision flipped under alice's signature.
    flipped = _post(url, _reforge(alice, decision="reject"))
    # A link for alice presented as bob's: her signature under his name, or a token naming
    # bob signed with alice's own key.
    as_bob = _post(url, _reforge(alice, reviewer="bob"))
    signed_by_alice_for_bob = _post(url, _reforge(alice, ALICE_SECRET, reviewer="bob"))
    # Expired: a genuine signature whose time is up.
    review = get_settings().review
    claims = LinkClaims("alice", run_id, "app", after, "approve", int(time.time()) - 1)
    expired = _post(url, sign(claims, review))
    # Another run's link cannot decide this one.
    elsewhere = _post(url, _reforge(alice, ALICE_SECRET, run_id=str(UUID(int=1))))
    assert [r.status_code for r in (flipped, as_bob, signed_by_alice_for_bob)] == [401] * 3
    assert expired.status_code == 410 and "expired" in expired.text
    assert elsewhere.status_code == 401
    assert find_review(lake, repo="app", commit=after)["status"] == "pending"  # type: ignore[index]

    decided = _decide(url, alice, comment="ship it <b>now</b>")
    assert decided.status_code == 200, decided.text
    assert "approved" in decided.text and "<b>now" not in decided.text
    outcome = _finish(thread, results)
    assert outcome["status"] == "approved" and outcome["flow_run_id"] == run_id
    row = decided_review(lake, after)
    assert (row["status"], row["decided_by"], row["comment"]) == (
        "approved",
        "alice <alice@example.org> (signed link)",
        "ship it <b>now</b>",
    )

    # Single use: the same link again, and any other link of the run, are refused.
    again = _post(url, alice)
    bob_late = _post(url, links["bob"]["reject"])
    assert (again.status_code, bob_late.status_code) == (409, 409)
    assert find_review(lake, repo="app", commit=after)["decided_by"].startswith("alice")  # type: ignore[index]


def test_one_use_across_concurrent_clicks_and_the_ui_is_an_operator(
    links_env, slack: FakeServer
) -> None:
    from prefect.flow_runs import resume_flow_run

    from tests.flows.test_review_push import _finish, _paused_run, _push, _start

    repo, lake, url = links_env
    before, after = _push_change(repo, "raced")
    thread, results = _start(_push(before, after))
    _paused_run(lake, after)
    links = _links(slack)
    # Two reviewers click at once (as two gateway replicas would see it: the claim is in the
    # lake, not in a process): exactly one decision is taken.
    answers: list[httpx.Response] = []
    clicks = [
        threading.Thread(target=lambda t=t: answers.append(_post(url, t)))
        for t in (links["alice"]["approve"], links["bob"]["reject"])
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(90)
    assert sorted(a.status_code for a in answers) == [200, 409]
    status = _finish(thread, results)["status"]
    row = find_review(lake, repo="app", commit=after)
    assert row is not None and row["status"] == status
    assert row["decided_by"] in (
        "alice <alice@example.org> (signed link)",
        "bob <bob@example.org> (signed link)",
    )
    assert (status == "approved") == row["decided_by"].startswith("alice")

    # The UI/API form still works, and is recorded as an operator, whatever name is typed.
    slack.requests.clear()
    before, after = _push_change(repo, "operated")
    thread, results = _start(_push(before, after, seconds=1))
    run_id = _paused_run(lake, after)
    resume_flow_run(
        UUID(run_id), run_input={"decision": "reject", "comment": "no", "reviewer": "alice"}
    )
    assert _finish(thread, results)["status"] == "rejected"
    row = find_review(lake, repo="app", commit=after)
    assert row is not None and row["decided_by"] == 'operator (Prefect UI/API, says "alice")'
    # Its links are dead now: the review is no longer waiting.
    assert _post(url, _links(slack)["bob"]["approve"]).status_code == 409


@pytest.mark.e2e
def test_a_review_on_a_process_pool_suspends_and_its_link_resumes_it(
    links_env, slack: FakeServer, tmp_path: Path
) -> None:
    """Issue 23: a review from a deployment on a work pool gives its process back while it
    waits (Suspended), and a signed link through the gateway has the pool's worker run it
    again to record the decision, without summarising or notifying twice. The worker, too,
    reaches the protected server through the auth string in its environment."""

    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from tests.flows.test_review_push import _push, decided_review

    repo, lake, url = links_env
    before, after = _push_change(repo, "suspended")
    slack.requests.clear()
    pool = "review-suspend"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"), overwrite=True)
        flow_id = client.create_flow_from_name("review-push")
        deployment_id = client.create_deployment(
            flow_id=flow_id,
            name="review-push-suspend",
            work_pool_name=pool,
            entrypoint="flows/review_push.py:review_push",
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT)}}
            ],
            enforce_parameter_schema=False,
        )
    env = {
        **os.environ,  # PODIUM_* of `links_env`, PREFECT_API_URL and PREFECT_API_AUTH_STRING
        "PYTHONPATH": str(PROJECT),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT, start_new_session=True,
    )  # fmt: skip
    try:
        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(
                deployment_id, parameters={"push": _push(before, after).model_dump(mode="json")}
            )

        def state() -> Any:
            with get_client(sync_client=True) as client:
                return client.read_flow_run(run.id).state

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and (state().name != "Suspended"):
            assert not state().is_final(), (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(1)
        assert state().name == "Suspended", (tmp_path / "worker.log").read_text()[-3000:]
        assert state().is_paused()  # a Suspended state is a PAUSED one that gave its process up
        row = find_review(lake, repo="app", commit=after)
        assert row is not None and row["status"] == "pending"
        assert row["flow_run_id"] == str(run.id)
        notified = len(slack.requests)
        assert notified == 2  # one message per named reviewer

        decided = _decide(url, _links(slack)["bob"]["reject"], comment="not this week")
        assert decided.status_code == 200, decided.text
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not state().is_final():
            time.sleep(1)
        assert state().is_completed(), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop_group(worker, timeout_s=30)  # SIGTERM, then SIGKILL: a loaded worker may linger
        log.close()
    row = decided_review(lake, after)
    assert (row["status"], row["decided_by"], row["comment"]) == (
        "rejected",
        "bob <bob@example.org> (signed link)",
        "not this week",
    )
    assert len(slack.requests) == notified  # the resumed run told nobody again


def test_podium_up_protects_its_embedded_server_with_the_auth_string(tmp_path: Path) -> None:
    """Every process of the local stack (server, workers, warm executors, gateway) gets the
    string: the server requires it and the clients send it; without it, nothing changes."""
    from deployments.local_stack import LocalStack

    plain = LocalStack(Settings(home=tmp_path)).env()
    assert not {k for k in plain if "AUTH_STRING" in k} - set(os.environ)
    env = LocalStack(Settings(home=tmp_path, prefect={"auth_string": AUTH})).env()
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == env["PREFECT_API_AUTH_STRING"] == AUTH
    assert env["PODIUM_PREFECT__AUTH_STRING"] == AUTH
