"""podium.use_cases.ingest without Prefect: a file, pretalx and the DynamoDB stream into the lake.

Real: the lake (temp folder), the parsers, pretalx's answers recorded off a real server and
replayed through the real client, DynamoDB and its stream on a moto server over HTTP. The event
sink is `RecordedEvents`, which checks every payload against the event catalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.demo import SAMPLE_DIR
from podium.dynamodb.client import dynamodb_client, streams_client
from podium.dynamodb.config import DynamoDBSettings
from podium.dynamodb.sink import to_item
from podium.enrichment import outstanding
from podium.lake import Lake
from podium.models import Talk
from podium.pretalx.client import PretalxClient, parse_pretalx_url
from podium.pretalx.config import PretalxSettings
from podium.recording import record_talks
from podium.resources import Resources
from podium.use_cases.ingest import ingest_description, ingest_source, sync_dynamodb, sync_pretalx
from tests.moto_server import moto_server
from tests.podium.dynamodb.conftest import create_directory_table
from tests.podium.dynamodb.test_streams import app_talk
from tests.podium.pretalx.recording import RECORDED, REPLAY_BASE, replay_transport

INGESTED = "podium.talk.ingested"
REMOVED = "podium.talk.removed"


def _talks(n: int) -> list[dict]:
    return json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:n]


@pytest.fixture
def resources(settings) -> Resources:
    return Resources(settings=settings, lake=Lake.from_settings(settings))


def test_a_file_is_recorded_and_its_talks_announced_once(resources, tmp_path: Path) -> None:
    source = tmp_path / "talks.json"
    source.write_text(json.dumps(_talks(5)), encoding="utf-8")

    first = ingest_source(resources, source=str(source))

    assert len(first.report.new) == 5 and not first.errors
    assert sorted(first.pending) == sorted(t["talk_id"] for t in _talks(5))
    (payload,) = resources.events.named(INGESTED)
    assert sorted(payload["talk_ids"]) == sorted(first.pending) and payload["count"] == 5
    assert len(resources.lake.read("talks")) == 5
    rows = first.rows()
    assert {r["enrichment"] for r in rows} == {"pending"}
    assert ingest_description(rows, limit=500).startswith("5 talks: 5 new")

    # The same file again changes nothing, so nothing new is announced.
    again = ingest_source(resources, source=str(source))
    assert len(again.report.unchanged) == 5 and not again.report.pending
    assert len(resources.events.named(INGESTED)) == 1


def test_bad_records_are_rejected_one_by_one_with_their_reason(resources, tmp_path) -> None:
    good, bad = _talks(2)
    bad = {**bad, "title": ""}
    source = tmp_path / "talks.json"
    source.write_text(json.dumps([good, bad]), encoding="utf-8")

    outcome = ingest_source(resources, source=str(source))

    assert outcome.report.new == [good["talk_id"]]
    (error,) = outcome.errors
    assert bad["talk_id"] in error and "title" in error
    assert any(r["change"].startswith("rejected") for r in outcome.rows())


def test_gateway_runs_announce_every_talk_still_pending(resources) -> None:
    talks = [Talk.model_validate(t) for t in _talks(4)]
    record_talks(lake=resources.lake, talks=talks)  # as the gateway records them

    outcome = ingest_source(resources, talk_ids=[talks[0].talk_id])

    expected = outstanding(lake=resources.lake, max_attempts=3)
    assert sorted(outcome.pending) == sorted(expected) == sorted(t.talk_id for t in talks)
    assert resources.events.named(INGESTED)[0]["count"] == 4


def test_pretalx_sync_announces_new_then_removed_talks(settings) -> None:
    answers = {"file": "before-change.json"}

    def client(url: str) -> PretalxClient:
        ref = parse_pretalx_url(url)
        config = PretalxSettings(
            token="recorded", page_size=25, retries=0, token_hosts=[REPLAY_BASE[7:]]
        )
        return PretalxClient(ref, config, transport=replay_transport(RECORDED / answers["file"]))

    resources = Resources(settings=settings, lake=Lake.from_settings(settings), pretalx=client)
    url = f"pretalx+http://{REPLAY_BASE.removeprefix('http://')}/democon"

    (first,) = sync_pretalx(resources, urls=[url])
    assert len(first.ingest.new) == 64
    assert resources.events.named(INGESTED)[0]["count"] == len(first.ingest.pending)

    answers["file"] = "after-change.json"
    (second,) = sync_pretalx(resources, urls=[url])
    (removed,) = resources.events.named(REMOVED)
    assert sorted(removed["talk_ids"]) == sorted(second.ingest.removed) and removed["count"] == 2
    assert removed["source"] == "pretalx"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_dynamodb_stream_sync_records_and_announces(settings, moto_url: str) -> None:
    config = DynamoDBSettings(
        table="directory-use-case",
        endpoint_url=moto_url,
        region="eu-west-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    create_directory_table(dynamodb_client(config), config.table)
    resources = Resources(
        settings=settings.model_copy(update={"dynamodb": config}),
        lake=Lake.from_settings(settings),
        dynamodb=lambda: dynamodb_client(config),
        streams=lambda: streams_client(config),
    )
    for i, talk in enumerate(_talks(3)):
        item = to_item(app_talk(talk, f"u{i}"))
        resources.dynamodb().put_item(TableName=config.table, Item=item)

    report = sync_dynamodb(resources)

    assert len(report.ingest.new) == 3 and not report.errors
    assert resources.events.named(INGESTED)[0]["count"] == 3
    # Read again from the checkpoints: nothing new, nothing announced.
    assert not sync_dynamodb(resources).ingest.new
    assert len(resources.events.named(INGESTED)) == 1
