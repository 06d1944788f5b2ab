"""The pretalx source without a pretalx server: mapping, URLs, the client's HTTP behaviour,
and incremental sync replayed from answers recorded off a real pretalx 2026.2.1 server.

Real: the recorded answers (tests/podium/pretalx/recorded/, made by test_live_pretalx.py with
PODIUM_RECORD_PRETALX=1), pretalx's documented legacy example (../shared/fixtures/pretalx/), a
local HTTP server on a free port for the hostile-server cases, the lake in a temp folder.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from podium.lake import Lake
from podium.models import TalkState
from podium.pretalx.client import PretalxClient, PretalxError, parse_pretalx_url
from podium.pretalx.config import PretalxSettings
from podium.pretalx.mapping import event_from_pretalx, map_submissions, talk_id_for
from podium.pretalx.sync import sync_pretalx_event
from tests.podium.pretalx.recording import RECORDED, REPLAY_BASE, replay_transport
from tests.podium.review.httpfakes import FakeServer
from tests.podium.review.httpfakes import http_server as fake_http_server

# shared/ sits beside the checkout (or beside the folder of worktrees).
FIXTURES = next(
    (
        p / "shared" / "fixtures" / "pretalx"
        for p in Path(__file__).resolve().parents[3:6]
        if (p / "shared" / "fixtures" / "pretalx").is_dir()
    ),
    Path("shared/fixtures/pretalx"),
)
SLUG = "democon"


# ---- URLs ------------------------------------------------------------------------------------


def test_pretalx_urls() -> None:
    ref = parse_pretalx_url("pretalx://pretalx.com/democon")
    assert (ref.base_url, ref.slug) == ("https://pretalx.com", "democon")
    assert ref.api_url == "https://pretalx.com/api/events/democon/"
    local = parse_pretalx_url("pretalx+http://127.0.0.1:8000/sub/path/pycon-2027/")
    assert local.base_url == "http://127.0.0.1:8000/sub/path" and local.slug == "pycon-2027"
    assert ref.source == "pretalx:pretalx.com/democon"


@pytest.mark.parametrize(
    "bad", ["pretalx://host", "http://host/event", "pretalx://", "pretalx://h/ev?x=1"]
)
def test_bad_pretalx_urls_are_one_line_errors(bad: str) -> None:
    with pytest.raises(PretalxError) as error:
        parse_pretalx_url(bad)
    assert "\n" not in str(error.value)


# ---- mapping -------------------------------------------------------------------------------


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/pretalx not present")
def test_legacy_documented_submission_maps_onto_a_talk() -> None:
    page = json.loads((FIXTURES / "pretalx-docs__submissions-list.legacy-v1.json").read_text())
    result = map_submissions(page["results"], slug="36c3")
    assert not result.errors
    (talk,) = result.talks
    assert talk.talk_id == "pretalx-36c3-ABCDE"
    assert talk.title == "A talk" and talk.speakers == ["Jane"]
    assert talk.tags == ["science"] and talk.state == TalkState.published
    assert talk.description.startswith("A good talk.\n\nI will expand")
    assert talk.language == "en" and talk.event_ids == ["36c3"]


def test_unexpanded_ids_are_rejected_with_the_reason() -> None:
    # The current API without ?expand=: speakers as codes, tags and track as ids.
    data = {"code": "X1", "title": "T", "state": "submitted", "speakers": ["ABCDE"], "tags": []}
    result = map_submissions([data], slug="ev")
    assert not result.talks
    (error,) = result.errors
    assert error.field == "speakers" and "expand" in error.message
    for field, value in (("tags", [3]), ("track", 2)):
        other = map_submissions([{**data, "speakers": [], field: value}], slug="ev")
        assert not other.talks and other.errors[0].field == field


def test_states_removals_drafts_and_invalid_records() -> None:
    base = {"title": "T", "speakers": [{"name": "A"}], "tags": [], "track": None}
    result = map_submissions(
        [
            {**base, "code": "S", "state": "submitted"},
            {**base, "code": "A", "state": "accepted"},
            {**base, "code": "W", "state": "withdrawn"},
            {**base, "code": "C", "state": "canceled"},
            {**base, "code": "D", "state": "draft"},
            {**base, "code": "L", "state": "confirmed", "title": "x" * 1000},
            {**base, "code": "Q", "state": "mystery"},
            "not an object",
        ],
        slug="ev",
    )
    assert [(t.talk_id, t.state) for t in result.talks] == [
        ("pretalx-ev-S", TalkState.submitted),
        ("pretalx-ev-A", TalkState.accepted),
    ]
    assert result.removed == ["pretalx-ev-W", "pretalx-ev-C"]
    assert {(e.record.split(" ")[-1], e.field) for e in result.errors} == {
        ("(L)", "title"),
        ("(Q)", "state"),
        ("ev/submissions[7]", ""),
    }


def test_event_tracks_become_event_tags() -> None:
    event = event_from_pretalx(
        {
            "name": {"en": "DemoCon", "de": "DemoKonf"},
            "date_from": "2027-05-01",
            "date_to": "2027-05-03",
            "locale": "en",
        },
        slug="democon",
        tracks=[{"name": {"en": "Security"}}, {"name": {"de": "Daten"}}],
    )
    assert event.name == "DemoCon" and event.tags == ["security", "daten"]
    assert str(event.starts_on) == "2027-05-01"


# ---- incremental sync from recorded answers ------------------------------------------------


def _client(name: str, seen: list[str] | None = None) -> PretalxClient:
    ref = parse_pretalx_url(f"pretalx+http://{REPLAY_BASE.removeprefix('http://')}/{SLUG}")
    settings = PretalxSettings(
        token="recorded", page_size=25, retries=0, events=[f"pretalx+http://{ref.base_url[7:]}/x"]
    )
    return PretalxClient(ref, settings, transport=replay_transport(RECORDED / name, seen=seen))


def test_first_sync_then_changes_replayed_from_a_real_server(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    seen: list[str] = []
    with _client("before-change.json", seen) as client:
        first = sync_pretalx_event(lake=lake, client=client)
    assert len(first.ingest.new) == 64 and not first.errors
    assert first.events_changed == [SLUG]
    # More than `detail_limit` changed: one expanded listing, paginated (25 a page).
    assert sum("/submissions/" in k and "expand=" in k for k in seen) == 3
    talks = lake.read("talks").set_index("talk_id")
    assert set(talks.state) == {"published", "rejected"}
    # The published schedule's slots (`/slots/?expand=room`): confirmed talks only.
    assert any("/slots/" in k for k in seen)
    assert talks[talks.state == "published"].slot_start.notna().all()
    assert talks[talks.state == "rejected"].slot_start.isna().all()
    assert talks.slot_room.dropna().str.endswith(" Room").all()

    changed = json.loads((RECORDED / "changes.json").read_text())
    seen.clear()
    with _client("after-change.json", seen) as client:
        second = sync_pretalx_event(lake=lake, client=client)
    assert sorted(second.ingest.updated) == sorted(
        talk_id_for(SLUG, changed[k]) for k in ("edited", "retagged")
    )
    assert sorted(second.ingest.removed) == sorted(
        talk_id_for(SLUG, changed[k]) for k in ("withdrawn", "deleted")
    )
    # Only the three changed submissions were fetched, one by one.
    assert second.fetched == 3 and sum("/submissions/" in k and "expand=" in k for k in seen) == 3
    talks = lake.read("talks").set_index("talk_id")
    assert talks.loc[talk_id_for(SLUG, changed["deleted"]), "state"] == "deleted"

    with _client("after-change.json") as client:
        third = sync_pretalx_event(lake=lake, client=client)
    assert third.fetched == 0 and not third.ingest.removed and not third.ingest.updated


# ---- a hostile or failing server -------------------------------------------------------------


@dataclass
class _Server:
    """A local HTTP server (tests/podium/review/httpfakes.py) as these tests see it: its
    host:port, and the (path, Authorization) of each request it had."""

    fake: FakeServer

    @property
    def url(self) -> str:
        return self.fake.url.removeprefix("http://")

    @property
    def requests(self) -> list[tuple[str, str]]:
        return [(r.path, r.headers.get("authorization", "")) for r in self.fake.requests]


@pytest.fixture
def http_server():
    """Start servers answering `answer(path) -> (status, JSON body)`; all stop after the test."""
    with ExitStack() as servers:

        def start(answer) -> _Server:
            fake = fake_http_server(lambda method, path, headers, body: answer(path))
            return _Server(servers.enter_context(fake))

        yield start


def _settings(**extra) -> PretalxSettings:
    # The local test servers' hosts: the token may go to any 127.0.0.1 port these tests open.
    return PretalxSettings(token="s3cret-token-value", retries=1, **extra)


def _client_for(server, slug: str = "ev", **extra) -> PretalxClient:
    settings = _settings(token_hosts=[server.url], **extra)
    return PretalxClient(parse_pretalx_url(f"pretalx+http://{server.url}/{slug}"), settings)


def test_wrong_token_is_one_line_without_the_token(http_server) -> None:
    server = http_server(lambda path: (401, {"detail": "Invalid token."}))
    client = _client_for(server)
    with pytest.raises(PretalxError) as error:
        client.event()
    message = str(error.value)
    assert "401" in message and "PODIUM_PRETALX__TOKEN" in message
    assert "s3cret" not in message and "\n" not in message
    assert not error.value.transient  # retrying a wrong token cannot help
    assert server.requests[0][1] == "Token s3cret-token-value"


def test_a_next_link_to_another_server_never_gets_the_token(http_server) -> None:
    thief = http_server(lambda path: (200, {"results": [], "next": None}))
    server = http_server(
        lambda path: (
            200,
            {"results": [{"code": "A", "updated": "x"}], "next": f"http://{thief.url}/steal"},
        )
    )
    client = _client_for(server)
    with pytest.raises(PretalxError, match="another server"):
        client.submission_index()
    assert thief.requests == []


def test_server_errors_are_retried_then_reported(http_server) -> None:
    calls = []

    def flaky(path):
        calls.append(path)
        return (503, {}) if len(calls) == 1 else (200, {"name": "Ev", "slug": "ev"})

    server = http_server(flaky)
    client = _client_for(server)
    assert client.event()["name"] == "Ev" and len(calls) == 2

    down = http_server(lambda path: (500, {}))
    client = _client_for(down)
    with pytest.raises(PretalxError, match="HTTP 500") as error:
        client.event()
    assert error.value.transient


def test_unknown_event_is_a_clear_error(http_server) -> None:
    server = http_server(lambda path: (404, {"detail": "Not found."}))
    client = _client_for(server, "nope")
    with pytest.raises(PretalxError, match="event slug"):
        client.event()


def test_cli_reports_a_bad_pretalx_url_in_one_line(settings) -> None:
    from typer.testing import CliRunner

    from podium.cli import app
    from podium.errors import USER_ERRORS

    result = CliRunner().invoke(app, ["ingest", "pretalx://only-a-host", "--no-notify"])
    assert isinstance(result.exception, PretalxError)
    assert isinstance(result.exception, USER_ERRORS)  # main() prints it as one line, exit 1
    assert "slug is missing" in str(result.exception)


# ---- the token goes only to hosts the settings name (issue 23) ----------------------------


def test_a_host_outside_the_settings_is_refused_before_any_request(http_server) -> None:
    trusted = http_server(lambda path: (200, {"name": "Ev", "slug": "ev"}))
    elsewhere = http_server(lambda path: (200, {"name": "Stolen", "slug": "ev"}))
    settings = _settings(events=[f"pretalx+http://{trusted.url}/ev"])  # the default allow-list
    with PretalxClient(parse_pretalx_url(f"pretalx+http://{trusted.url}/ev"), settings) as ok:
        assert ok.event()["name"] == "Ev"
    with pytest.raises(PretalxError, match="not one the token may be sent to") as error:
        PretalxClient(parse_pretalx_url(f"pretalx+http://{elsewhere.url}/ev"), settings)
    assert "s3cret" not in str(error.value) and not error.value.transient
    assert elsewhere.requests == []
    # Without a token nothing secret can leak: a public import of any host still works.
    public = PretalxSettings(retries=0, events=settings.events)
    with PretalxClient(parse_pretalx_url(f"pretalx+http://{elsewhere.url}/ev"), public) as c:
        assert c.event()["name"] == "Stolen"
    # `token_hosts`, when set, replaces the default.
    moved = _settings(token_hosts=[elsewhere.url], events=settings.events)
    with pytest.raises(PretalxError):
        PretalxClient(parse_pretalx_url(f"pretalx+http://{trusted.url}/ev"), moved)


def test_sync_pretalx_with_another_host_as_parameter_never_reaches_it(
    http_server, tmp_path
) -> None:
    """What the sync-pretalx flow runs with `events=["pretalx+http://elsewhere/x"]` given in the
    UI: the use-case with the resources built from settings."""
    from podium.resources import Resources
    from podium.settings import Settings
    from podium.use_cases.ingest import sync_pretalx

    trusted = http_server(lambda path: (200, {}))
    elsewhere = http_server(lambda path: (200, {"results": [], "next": None}))
    settings = Settings(
        home=tmp_path / "home",
        lake={"url": str(tmp_path / "lake")},
        pretalx={"token": "s3cret-token-value", "events": [f"pretalx+http://{trusted.url}/ev"]},
    )
    resources = Resources(settings=settings, lake=Lake.from_settings(settings))
    with pytest.raises(PretalxError, match="not one the token may be sent to"):
        sync_pretalx(resources, urls=[f"pretalx+http://{elsewhere.url}/x"])
    assert elsewhere.requests == [] and trusted.requests == []


def test_cli_ingest_of_a_host_outside_the_settings_is_one_line(
    http_server, tmp_path, monkeypatch
) -> None:
    import subprocess
    import sys

    elsewhere = http_server(lambda path: (200, {}))
    env = {
        **os.environ,
        "PODIUM_HOME": str(tmp_path / "home"),
        "PODIUM_LAKE__URL": str(tmp_path / "lake"),
        "PODIUM_PRETALX__TOKEN": "s3cret-token-value",
        "PODIUM_PRETALX__EVENTS": '["pretalx://pretalx.example.org/conf"]',
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "podium",
            "ingest",
            f"pretalx+http://{elsewhere.url}/ev",
            "--no-notify",
        ],  # fmt: skip
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: pretalx host") and "pretalx.example.org" in line
    assert "s3cret" not in result.stderr + result.stdout
    assert elsewhere.requests == []
