"""review-push against a real Prefect server (started by the tests), a real Delta lake in a
temp folder and real git repositories; approvals go through `podium review approve` (the CLI)
and `resume_flow_run`. Faked: the Slack-compatible webhook is a local HTTP server that records
the notification. Flows run in background threads so the test can answer their pause."""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect import get_client
from prefect.flow_runs import resume_flow_run
from typer.testing import CliRunner

from flows.review_push import review_push
from podium.lake import Lake
from podium.review.cli import app as review_cli
from podium.review.models import PushEvent
from podium.review.records import find_review
from podium.settings import get_settings
from tests.podium.review.gitfixtures import main_push, make_repo, push_mixed_change
from tests.podium.review.httpfakes import FakeServer, http_server
from tests.waiting import wait_for


@pytest.fixture
def slack() -> Iterator[FakeServer]:
    with http_server(lambda *a: (200, {"ok": True})) as server:
        yield server


@pytest.fixture
def review_env(prefect_server: str, settings, tmp_path: Path, monkeypatch, slack: FakeServer):
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git")
    monkeypatch.setenv("PODIUM_PREFECT__API_URL", prefect_server)
    monkeypatch.setenv("PODIUM_PREFECT__UI_URL", "http://prefect-ui.test")
    monkeypatch.setenv(
        "PODIUM_REVIEW__REPOS", json.dumps([{"name": "app", "url": str(repo.origin)}])
    )
    monkeypatch.setenv("PODIUM_REVIEW__POLL_INTERVAL_S", "1")
    monkeypatch.setenv("PODIUM_REVIEW__NOTIFIER", "slack")
    monkeypatch.setenv("PODIUM_REVIEW__SLACK_WEBHOOK_URL", f"{slack.url}/hook")
    get_settings.cache_clear()
    yield repo, Lake.from_settings(get_settings())
    get_settings.cache_clear()


def _push(before: str, after: str, *, seconds: int = 0) -> PushEvent:
    return main_push(
        before, after, pusher="ada", received_at=datetime.now(UTC) + timedelta(seconds=seconds)
    )


def _start(push: PushEvent) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(review_push(push))
        except BaseException as error:  # surfaced by the test's assertions
            results.append(error)

    # Prefect's settings (the test server's URL) live in context variables; carry them over.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), daemon=True)
    thread.start()
    return thread, results


def _wait(condition: Callable[[], Any], what: str, timeout_s: float = 90) -> Any:
    return wait_for(condition, what, timeout_s, step_s=0.3)


def _paused_run(lake: Lake, after: str) -> str:
    row = _wait(lambda: find_review(lake, repo="app", commit=after), f"review row of {after[:8]}")
    run_id = row["flow_run_id"]

    def paused() -> bool:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(run_id)).state
        return bool(state and state.is_paused())

    _wait(paused, f"run {run_id} to pause")
    return run_id


def _finish(thread: threading.Thread, results: list[Any]) -> dict[str, Any]:
    thread.join(timeout=90)
    assert not thread.is_alive(), "the flow did not finish"
    assert not isinstance(results[0], BaseException), results[0]
    return results[0]


def decided_review(lake: Lake, after: str) -> dict[str, Any]:
    """The review row of app's commit `after` (there must be one)."""
    row = find_review(lake, repo="app", commit=after)
    assert row is not None, f"no review of {after[:8]}"
    return row


def _events(api_url: str, name: str, after: str) -> list[dict]:
    def found() -> list[dict]:
        response = httpx.post(
            f"{api_url}/events/filter", json={"filter": {"event": {"name": [name]}}}
        )
        response.raise_for_status()
        return [e for e in response.json()["events"] if e["payload"].get("after") == after]

    return _wait(found, f"{name} for {after[:8]}", timeout_s=30)


def test_approval_through_the_cli_lands_in_reviews(
    review_env, prefect_server: str, slack: FakeServer
) -> None:
    repo, lake = review_env
    before, after = push_mixed_change(repo)
    thread, results = _start(_push(before, after))
    run_id = _paused_run(lake, after)

    pending = find_review(lake, repo="app", commit=after)
    assert (
        pending
        and pending["status"] == "pending"
        and "service/text_helpers.py" in pending["summary"]
    )
    message = slack.requests[0].json()["text"]
    assert f"http://prefect-ui.test/runs/flow-run/{run_id}" in message
    assert "`TIMEOUT_S` `30` → `60`" in message

    # The approval page: the summary is published before the pause, and the form's
    # description carries it; the form requires the reviewer's name.
    artifacts = httpx.post(f"{prefect_server}/artifacts/filter", json={"limit": 200}).json()
    (waiting,) = [a for a in artifacts if a.get("key") == f"review-app-{after[:12]}"]
    assert "# Review pending" in waiting["data"] and "`TIMEOUT_S` `30` → `60`" in waiting["data"]
    assert waiting["flow_run_id"] == run_id
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run_id)).state
        assert state is not None and state.state_details.pause_key
        base = f"paused-{state.state_details.pause_key}"
        description = json.loads(client.read_flow_run_input(UUID(run_id), f"{base}-description"))
        schema = json.loads(client.read_flow_run_input(UUID(run_id), f"{base}-schema"))
    assert description.startswith("**Approve or reject the deployment of `app` `main`**")
    for fact in ("⚠ tests removed", "`TIMEOUT_S` `30` → `60`", "`server.port` `8080` → `9090`"):
        assert fact in description
    assert f"artifact `review-app-{after[:12]}`" in description
    # The typed name is optional: the UI has no login, so it is never taken as an identity.
    assert "decision" in schema["required"] and "reviewer" not in schema["required"]
    with pytest.raises(Exception, match="decision"):
        resume_flow_run(UUID(run_id), run_input={"comment": "no decision"})

    runner = CliRunner()
    result = runner.invoke(
        review_cli, ["approve", run_id, "--comment", "ship it", "--reviewer", "lead"]
    )
    assert result.exit_code == 0, result.output
    outcome = _finish(thread, results)
    assert outcome == {"repo": "app", "commit": after, "flow_run_id": run_id, "status": "approved"}

    row = decided_review(lake, after)
    assert (row["status"], row["decided_by"], row["comment"]) == (
        "approved",
        'operator (Prefect UI/API, says "lead")',
        "ship it",
    )
    assert (row["before"], row["ref"], row["summary_backend"]) == (
        before,
        "refs/heads/main",
        "structural",
    )
    assert row["decided_at"] is not None
    (event,) = _events(prefect_server, "podium.review.decided", after)
    assert event["payload"]["status"] == "approved"
    assert event["resource"]["prefect.resource.id"] == "podium.repo.app"
    artifacts = httpx.post(f"{prefect_server}/artifacts/filter", json={"limit": 200}).json()
    (artifact,) = [
        a
        for a in artifacts
        if a.get("key") == f"review-app-{after[:12]}" and "Review approved" in a["data"]
    ]
    assert "**approved**" in artifact["data"] and "ship it" in artifact["data"]
    assert '| decided by | `operator (Prefect UI/API, says "lead")` |' in artifact["data"]
    assert "| decided at | 20" in artifact["data"]

    late = runner.invoke(review_cli, ["reject", run_id, "--comment", "too late"])
    assert late.exit_code == 1 and "not waiting for a review" in late.output
    bad = runner.invoke(review_cli, ["approve", "not-a-run"])
    assert bad.exit_code == 1 and bad.output.strip() == "error: 'not-a-run' is not a flow run id"


def test_newer_push_supersedes_and_a_commit_is_reviewed_once(review_env) -> None:
    repo, lake = review_env
    base = repo.head()
    repo.write("service/one.py", "ONE = 1\n")
    first = repo.commit("one")
    repo.push("main")
    thread_a, results_a = _start(_push(base, first))
    run_a = _paused_run(lake, first)

    repo.write("service/two.py", "TWO = 2\n")
    second = repo.commit("two")
    repo.push("main")
    thread_b, results_b = _start(_push(first, second, seconds=1))
    outcome_a = _finish(thread_a, results_a)  # released by the newer push, not by a reviewer
    assert outcome_a["status"] == "superseded" and outcome_a["flow_run_id"] == run_a
    row_a = find_review(lake, repo="app", commit=first)
    assert row_a and row_a["comment"] == f"superseded by {second}"

    run_b = _paused_run(lake, second)
    resume_flow_run(
        UUID(run_b), run_input={"decision": "reject", "comment": "needs tests", "reviewer": "lead"}
    )
    assert _finish(thread_b, results_b)["status"] == "rejected"
    row_b = find_review(lake, repo="app", commit=second)
    assert row_b and (row_b["status"], row_b["comment"]) == ("rejected", "needs tests")

    again = review_push(_push(first, second, seconds=2))  # the same `after`, delivered again
    assert again["status"] == "duplicate"
    assert find_review(lake, repo="app", commit=second)["flow_run_id"] == run_b  # type: ignore[index]


def test_deleting_a_branch_does_not_review_its_tip(review_env) -> None:
    """Issue 11 item 8: the tip of a deleted branch pushed later to another branch is
    reviewed, not skipped as a duplicate."""
    repo, lake = review_env
    base = repo.head()
    repo.write("service/feature.py", "FEATURE = True\n")
    tip = repo.commit("feature")
    repo.push("feature")
    gone = _push(tip, "0" * 40).model_copy(update={"ref": "refs/heads/feature"})
    assert review_push(gone)["status"] == "deleted"
    assert find_review(lake, repo="app", commit=tip) is None

    repo.push("main")
    thread, results = _start(_push(base, tip, seconds=1))
    run_id = _paused_run(lake, tip)
    resume_flow_run(
        UUID(run_id), run_input={"decision": "approve", "comment": "ok", "reviewer": "lead"}
    )
    outcome = _finish(thread, results)
    assert outcome["status"] == "approved" and outcome["commit"] == tip


def test_timeout_is_recorded_as_expired_even_when_notifying_fails(review_env, monkeypatch) -> None:
    repo, lake = review_env
    monkeypatch.setenv("PODIUM_REVIEW__TIMEOUT_S", "2")
    with http_server(lambda *a: (500, {})) as broken:
        monkeypatch.setenv("PODIUM_REVIEW__SLACK_WEBHOOK_URL", f"{broken.url}/hook")
    get_settings.cache_clear()  # the webhook's server is gone: every notification fails
    before = repo.head()
    repo.write("service/late.py", "LATE = True\n")
    after = repo.commit("late")
    repo.push("main")
    outcome = review_push(_push(before, after))
    assert outcome["status"] == "expired"
    row = find_review(lake, repo="app", commit=after)
    assert row and row["status"] == "expired" and row["comment"] == "no decision within 2s"
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(outcome["flow_run_id"])).state
    assert state is not None and state.is_completed()  # an outcome, not a crash


def test_trigger_template_renders_the_event_payload_into_the_push_parameter() -> None:
    """The prefect.yaml trigger passes `push: "{{ event.payload }}"`; rendered the way Prefect's
    server renders deployment-trigger parameters, it must validate as the flow's parameter."""
    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    from podium.events import make_event

    push = _push("a" * 40, "b" * 40)
    event = ReceivedEvent(
        **make_event(
            "podium.git.push", resource_id="podium.repo.app", payload=push.model_dump(mode="json")
        )
    )
    parameters: dict[str, Any] = {"push": "{{ event.payload }}"}
    RunDeployment._upgrade_v1_templates(parameters)
    rendered = hydrate(
        parameters,
        HydrationContext(raise_on_error=True, render_jinja=True, jinja_context={"event": event}),
    )
    assert review_push.validate_parameters(rendered)["push"] == push
