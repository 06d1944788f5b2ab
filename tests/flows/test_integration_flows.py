"""sync-pretalx, sync-dynamodb and write-dynamodb against a real Prefect server.

Real: the Prefect server (started by the tests), a moto server over HTTP for the directory
table and its stream, a local HTTP server answering with responses recorded off a real
pretalx server (tests/podium/pretalx/recorded/), the lake in a temp folder.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from flows.sync_dynamodb import sync_dynamodb
from flows.sync_pretalx import sync_pretalx
from flows.write_dynamodb import write_dynamodb
from podium.dynamodb.client import dynamodb_client
from podium.dynamodb.sink import from_item, to_item
from podium.lake import Lake
from tests.podium.dynamodb.conftest import create_directory_table, moto_endpoint  # noqa: F401
from tests.podium.dynamodb.test_streams import app_talk, sample_talks
from tests.podium.pretalx.recording import RECORDED, REPLAY_BASE
from tests.podium.review.httpfakes import http_server
from tests.prefect_server import events_named


@pytest.fixture
def recorded_pretalx():
    """A local HTTP server answering as the recorded pretalx server did (before the change)."""
    answers = json.loads((RECORDED / "before-change.json").read_text())
    own = ""  # this server's URL, once it has one: recorded links point to it

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, object]:
        parts = urlsplit(path)
        query = urlencode(sorted(parse_qsl(parts.query)))
        key = f"{method} {parts.path}" + (f"?{query}" if query else "")
        recorded = answers.get(key, {"status": 404, "body": {"detail": "not recorded"}})
        return recorded["status"], json.loads(
            json.dumps(recorded["body"]).replace(REPLAY_BASE, own)
        )

    with http_server(answer) as server:
        own = server.url
        yield f"pretalx+{server.url}/democon"


def test_sync_pretalx_flow(prefect_server, settings, recorded_pretalx, monkeypatch) -> None:
    from podium.settings import get_settings

    monkeypatch.setenv("PODIUM_PRETALX__TOKEN", "recorded")
    monkeypatch.setenv("PODIUM_PRETALX__PAGE_SIZE", "25")  # as recorded
    # The token goes only to hosts the settings name (a run's parameter cannot add one).
    host = recorded_pretalx.removeprefix("pretalx+http://").split("/", 1)[0]
    monkeypatch.setenv("PODIUM_PRETALX__TOKEN_HOSTS", json.dumps([host]))
    get_settings.cache_clear()
    summary = sync_pretalx(events=[recorded_pretalx])
    (event,) = summary["events"]
    assert len(event["new"]) == 64 and len(event["pending"]) == 64
    assert len(Lake(settings.lake_url).read("talks")) == 64
    assert events_named(prefect_server, "podium.talk.ingested")
    # Nothing configured, nothing done.
    assert sync_pretalx() == {"events": []}


def test_stream_then_write_back_flows(prefect_server, settings, moto_endpoint, monkeypatch):  # noqa: F811
    from podium.settings import get_settings

    env = {
        "PODIUM_DYNAMODB__TABLE": "directory-flows",
        "PODIUM_DYNAMODB__ENDPOINT_URL": moto_endpoint,
        "PODIUM_DYNAMODB__REGION": "eu-west-1",
        "PODIUM_DYNAMODB__ACCESS_KEY_ID": "testing",
        "PODIUM_DYNAMODB__SECRET_ACCESS_KEY": "testing",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    config = get_settings().dynamodb
    client = dynamodb_client(config)
    create_directory_table(client, config.table)
    for i, talk in enumerate(sample_talks(3)):
        client.put_item(TableName=config.table, Item=to_item(app_talk(talk, f"u{i}")))

    read = sync_dynamodb()
    assert read["records"] == 3 and len(read["pending"]) == 3
    assert events_named(prefect_server, "podium.talk.ingested")

    written = write_dynamodb()
    # Untagged yet: speaker tags only, so talk items are unchanged, tag items and counters new.
    assert written["talks_unchanged"] == 3 and written["tag_items_put"] >= 3
    tags = client.query(
        TableName=config.table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": {"S": f"tag#{sample_talks(1)[0]['tags'][0]}"}},
    )["Items"]
    assert [from_item(i)["gsi1sk"] for i in tags]
