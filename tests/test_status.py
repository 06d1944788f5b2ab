"""`podium status` and the maintenance flow's `podium-status` artifact, on a real lake and the
session's Prefect server: talks pending, one failed for good, a review waiting, a deferred
event; the backlog, the failures with their reasons, the review and the deferral are shown, and
the flow runs are read back from Prefect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from podium import deferrals, enrichment, status_view
from podium.cli import app
from podium.lake import Lake
from podium.models import Talk
from podium.operations import lake_state
from podium.recording import record_talks
from podium.review.models import PushEvent
from podium.review.records import record_pending
from podium.settings import Settings

SHA_A, SHA_B = "a" * 40, "b" * 40


def _seed(lake: Lake) -> None:
    talks = [Talk(talk_id=f"s-{i}", title=f"Status talk {i}") for i in range(3)]
    record_talks(lake=lake, talks=talks)
    work = enrichment.claim(lake=lake, stage="tags", limit=1, max_attempts=1, lease_seconds=60)
    assert work is not None
    (bad,) = work.talks
    enrichment.record(
        lake=lake, claim=work, done=[], errors={bad.talk_id: (bad, "tokenizer | exploded")},
        max_attempts=1,
    )  # fmt: skip
    push = PushEvent(
        repo="website", ref="refs/heads/main", before=SHA_A, after=SHA_B, source="push",
        received_at=datetime.now(UTC) - timedelta(hours=2),
    )  # fmt: skip
    record_pending(lake=lake, push=push, summary="s", summary_backend="structural",
                   flow_run_id="run-123")  # fmt: skip
    event = {"id": "e-1", "event": "podium.talk.submitted", "payload": {"talk_ids": ["s-2"]}}
    deferrals.record_deferred(
        lake=lake, events=[event], source="directory", reason="HTTP 503", at=datetime.now(UTC)
    )


@pytest.fixture
def seeded(settings: Settings, prefect_server: str, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.setenv("PODIUM_PREFECT__API_URL", prefect_server)
    lake = Lake.from_settings(settings)
    _seed(lake)
    return lake


def test_podium_status_prints_every_section(seeded: Lake) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from flows.maintenance import maintenance

    maintenance(status_only=True)  # a flow run for "last runs per flow"
    with get_client(sync_client=True) as client:  # a schedule's run made ahead of time
        ahead = client.create_flow_run(
            maintenance, name="not-started-yet",
            state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1)),
        )  # fmt: skip
    assert ahead.name == "not-started-yet"
    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    text = result.output
    for title in ("Backlog (3 live talks)", "Last runs per flow", "Failed talks (1)",
                  "Reviews waiting (1)", "Deferred events"):  # fmt: skip
        assert title in text, text
    assert "tokenizer | exploded" in text
    assert "website" in text and "2.0 h" in text
    assert "1 events (1 talks)" in text
    assert "maintenance" in text and "Completed" in text
    assert "not-started-yet" not in text and "Scheduled" not in text
    tags_row = next(line for line in text.splitlines() if "│ tags" in line)
    cells = [c.strip() for c in tags_row.split("│")[1:6]]
    assert (cells[0], cells[1], cells[2], cells[4]) == ("tags", "2", "0", "1")


def test_markdown_artifact_matches_and_escapes(seeded: Lake, settings: Settings) -> None:
    from prefect.client.orchestration import get_client

    from flows.maintenance import STATUS_ARTIFACT, maintenance

    maintenance(status_only=True)
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
    latest = {a.key: a for a in artifact}
    assert STATUS_ARTIFACT in latest
    text = latest[STATUS_ARTIFACT].data
    assert "## Failed talks \\(1\\)" in text
    assert "tokenizer \\| exploded" in text  # a pipe in a reason does not break the table
    assert "## Reviews waiting \\(1\\)" in text and "run-123" in text


def test_status_says_when_prefect_is_unreachable(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    _seed(lake)
    state = lake_state(lake=lake, max_attempts=1)
    report = status_view.build_report(state, api_url="http://127.0.0.1:9/api")
    assert report.prefect_error and "unreachable" in report.prefect_error
    assert "Prefect unreachable" in status_view.markdown(report)
