"""The `podium` command line.

Real: the typer app on a lake in a temp folder (PODIUM_HOME / PODIUM_LAKE__URL), the bundled
sample data, and, for the one-line error format, `python -m podium` in a subprocess (typer's
CliRunner calls `app` directly and would bypass `main()`, which turns errors into one line).
Nothing is faked; `--no-notify` keeps ingest from needing a Prefect server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podium.cli import app
from podium.lake import Lake
from podium.models import TagAssignment
from podium.talk_tags import write_tags
from podium.vocabulary import VocabularyError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture
def lake(settings) -> Lake:
    """The lake the CLI writes to (the `settings` fixture points PODIUM_* at a temp folder)."""
    return Lake.from_settings(settings)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def cell(output: str, row: str) -> int:
    """The number in a row of an ingest summary table."""
    match = re.search(rf"│ {re.escape(row)}\s+│\s+(\d+) │", output)
    assert match, f"no row {row!r} in:\n{output}"
    return int(match.group(1))


def test_ingest_the_sample_prints_a_table_and_is_idempotent(lake: Lake) -> None:
    first = invoke("ingest", str(SAMPLE / "talks.json"), "--no-notify")
    assert first.exit_code == 0, first.output
    total = len(json.loads((SAMPLE / "talks.json").read_text(encoding="utf-8")))
    assert (cell(first.stdout, "new"), cell(first.stdout, "pending")) == (total, total)
    assert cell(first.stdout, "rejected") == 0
    assert len(lake.read("talks")) == total

    again = invoke("ingest", str(SAMPLE / "talks.json"), "--no-notify")
    assert again.exit_code == 0, again.output
    assert (cell(again.stdout, "unchanged"), cell(again.stdout, "new")) == (total, 0)
    assert cell(again.stdout, "pending") == 0


def test_ingest_reports_a_bad_record_and_records_the_rest(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "talks.json"
    path.write_text(
        json.dumps(
            [
                {"talk_id": "t-a", "title": "Good one"},
                {"talk_id": "t-bad", "title": ""},
                {"talk_id": "t-b", "title": "Good two", "tags": ["Web"]},
            ]
        ),
        encoding="utf-8",
    )
    result = invoke("ingest", str(path), "--no-notify")
    assert result.exit_code == 0, result.output
    assert (cell(result.stdout, "new"), cell(result.stdout, "rejected")) == (2, 1)
    assert "rejected talks[1] (t-bad): title: Value error, title must not be empty" in result.stderr
    assert sorted(lake.read("talks").talk_id) == ["t-a", "t-b"]


def test_ingest_a_pyvideo_folder_records_its_events(lake: Lake) -> None:
    result = invoke("ingest", str(SAMPLE / "pyvideo"), "--no-notify")
    assert result.exit_code == 0, result.output
    assert (cell(result.stdout, "new"), cell(result.stdout, "events changed")) == (6, 2)
    assert sorted(lake.read("events").event_id) == ["euroscipy-2027", "pybay-2027"]


def test_vocabulary_set_then_show(lake: Lake) -> None:
    shown = invoke("vocabulary", "show")
    assert isinstance(shown.exception, VocabularyError)  # `main()` prints it as one line
    expected = json.loads((SAMPLE / "vocabulary.json").read_text(encoding="utf-8"))["tags"]
    result = invoke("vocabulary", "set", str(SAMPLE / "vocabulary.json"))
    assert result.exit_code == 0, result.output
    assert f"vocabulary set: {len(expected)} tags" in result.stdout
    shown = invoke("vocabulary", "show")
    assert shown.exit_code == 0, shown.output
    for tag in expected:
        assert tag["name"].split()[0] in shown.stdout


def test_tags_of_a_talk(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "talk.json"
    path.write_text(json.dumps({"talk_id": "t-001", "title": "Feature stores"}), encoding="utf-8")
    assert invoke("ingest", str(path), "--no-notify").exit_code == 0
    untagged = invoke("tags", "t-001")
    assert untagged.exit_code == 0, untagged.output
    assert "t-001: Feature stores" in untagged.stdout and "not tagged yet" in untagged.stdout

    now = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
    write_tags(
        lake=lake,
        talk_ids=["t-001"],
        assignments=[
            TagAssignment(
                talk_id="t-001",
                tag="mlops",
                score=0.83,
                source="model",
                model="mini",
                tagged_at=now,
            ),
            TagAssignment(
                talk_id="t-001", tag="python", score=1.0, source="speaker", tagged_at=now
            ),
        ],
    )
    for args in (("tags", "t-001"), ("tags", "show", "t-001")):
        shown = invoke(*args)
        assert shown.exit_code == 0, shown.output
        assert re.search(r"mlops\s+│\s+model\s+│\s+0\.83\s+│\s+mini", shown.stdout), shown.stdout
        assert re.search(r"python\s+│\s+speaker\s+│\s+1\.00", shown.stdout), shown.stdout
        assert "2027-03-01 09:30" in shown.stdout and "not tagged yet" not in shown.stdout


# ---- one-line errors, through the real entry point ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "missing.json"], "error: missing.json: no such file or folder"),
        (["ingest", "cover.json"], "error: cover.json: not JSON (not UTF-8 text)"),
        (["tags", "t-001"], "error: no talk 't-001' in the lake"),
    ],
)
def test_errors_are_one_line_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "cover.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xd8")
    env = {
        **os.environ,
        "PODIUM_HOME": str(tmp_path / "home"),
        "PODIUM_LAKE__URL": str(tmp_path / "lake"),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "podium", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == message
    assert result.stdout == ""


def test_ingest_and_events_load_hand_over_to_prefect_or_defer(lake: Lake, monkeypatch) -> None:
    """With notify, the events go to `POST /api/events` (a local HTTP server standing in for
    Prefect); a server that refuses them leaves the data recorded and says the event waits."""
    from podium.settings import get_settings
    from tests.podium.review.httpfakes import http_server

    answers = {"status": 200}
    with http_server(lambda *a: (answers["status"], [])) as prefect:
        monkeypatch.setenv("PODIUM_PREFECT__API_URL", f"{prefect.url}/api")
        monkeypatch.setenv("PODIUM_PREFECT__EVENT_RETRIES", "0")
        get_settings.cache_clear()
        ingested = invoke("ingest", str(SAMPLE / "talks.json"))
        assert ingested.exit_code == 0, ingested.output
        assert "48 talks handed to enrichment" in ingested.output
        (posted,) = prefect.requests[-1].json()
        assert posted["event"] == "podium.talk.ingested" and posted["payload"]["count"] == 48

        answers["status"] = 503
        loaded = invoke("events", "load", str(SAMPLE / "events.json"))
        assert loaded.exit_code == 0, loaded.output
        assert "event deferred" in loaded.output and "HTTP 503" in loaded.output
        assert prefect.requests[-1].json()[0]["event"] == "podium.event.updated"
    get_settings.cache_clear()
    assert len(lake.read("events")) == len(json.loads((SAMPLE / "events.json").read_text()))


def test_talks_repair_future_unfreezes_a_talk(lake: Lake) -> None:
    from podium.ingest import talk_rows
    from podium.models import Talk
    from podium.recording import record_talks

    far = datetime(9999, 12, 31, tzinfo=UTC)
    record_talks(lake=lake, talks=[Talk(talk_id="t-frozen", title="Frozen", updated_at=far)])
    record_talks(lake=lake, talks=[Talk(talk_id="t-fine", title="Fine")])
    assert invoke("talks", "repair-future", "t-nope").exit_code == 1
    assert invoke("talks", "repair-future").exit_code == 1  # names talks or --all
    repaired = invoke("talks", "repair-future", "--all")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired 1 talk(s): t-frozen" in repaired.stdout
    again = invoke("talks", "repair-future", "t-frozen")
    assert "nothing changed" in again.stdout
    row = talk_rows(lake=lake, talk_ids=["t-frozen"]).iloc[0]
    assert row.source_updated_at.year == datetime.now(UTC).year
    edit = Talk(talk_id="t-frozen", title="Real edit", updated_at=datetime.now(UTC))
    assert record_talks(lake=lake, talks=[edit]).updated == ["t-frozen"]


def test_tags_accept_reject_add_record_and_apply(lake: Lake, monkeypatch) -> None:
    """`podium tags accept|reject|add`: recorded with who and why, applied at once, announced
    as a tag change (`podium.talk.tagged` to a local HTTP server standing in for Prefect)."""
    from podium.settings import get_settings
    from podium.tag_feedback import feedback_rows
    from podium.talk_tags import tag_rows
    from tests.podium.review.httpfakes import http_server

    assert invoke("ingest", str(SAMPLE / "talks.json"), "--no-notify").exit_code == 0
    digest = lake.read("talks", where=[("talk_id", "=", "t-032")]).content_hash.item()
    now = datetime.now(UTC)
    write_tags(
        lake=lake,
        talk_ids=["t-032"],
        assignments=[
            TagAssignment(
                talk_id="t-032", tag=tag, score=0.5, source="model", model="m",
                content_hash=digest, tagged_at=now,
            )
            for tag in ("flask", "testing")
        ],
    )  # fmt: skip
    with http_server(lambda *a: (200, [])) as prefect:
        monkeypatch.setenv("PODIUM_PREFECT__API_URL", f"{prefect.url}/api")
        monkeypatch.setenv("PODIUM_PREFECT__EVENT_RETRIES", "0")
        get_settings.cache_clear()
        rejected = invoke("tags", "reject", "t-032", "flask", "--by", "Ines", "--why", "infra")
        assert rejected.exit_code == 0, rejected.output
        assert invoke("tags", "accept", "t-032", "testing").exit_code == 0
        assert invoke("tags", "add", "t-032", "devops", "--by", "Ines").exit_code == 0
        (posted,) = prefect.requests[-1].json()
        assert posted["event"] == "podium.talk.tagged"
        assert posted["payload"]["talk_ids"] == ["t-032"]
        # A speaker's own tag cannot be rejected, an unknown talk is named: one line, exit 1.
        own = invoke("tags", "reject", "t-032", "cloud")
        assert own.exit_code == 1 and "speaker" in str(own.exception)
        assert invoke("tags", "add", "t-nope", "devops").exit_code == 1
    get_settings.cache_clear()
    rows = tag_rows(lake=lake, talk_ids=["t-032"])
    assert dict(zip(rows.tag, rows.source, strict=True)) == {
        "testing": "organiser",
        "devops": "organiser",
    }
    decisions = feedback_rows(lake=lake)
    assert list(decisions.decision) == ["reject", "accept", "add"]
    assert list(decisions.decided_by) == ["Ines", "cli", "Ines"]
    assert decisions.reason.iloc[0] == "infra"
