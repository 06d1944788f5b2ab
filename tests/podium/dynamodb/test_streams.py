"""The DynamoDB Streams source against a moto server over HTTP.

Real: the table, its stream (shards, iterators, records) served by moto over HTTP, boto3, the
lake in a temp folder. The "app" is this test writing items the way the original app did.
"""

from __future__ import annotations

import json
from pathlib import Path

from podium.checkpoints import load_checkpoints
from podium.dynamodb.client import latest_stream_arn, streams_client
from podium.dynamodb.keys import load_keys
from podium.dynamodb.sink import to_item
from podium.dynamodb.streams import checkpoint_source, order_shards, reduce_records, sync_stream
from podium.lake import Lake

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"


def app_talk(talk: dict, user: str) -> dict:
    """A talk item as the original app wrote it."""
    return {
        "pk": f"USER#{user}",
        "sk": f"talk#{talk['talk_id']}",
        "title": talk["title"],
        "description": talk["description"],
        "speakers": talk["speakers"],
        "tags": talk["tags"],
        "eventId": talk["event_ids"][0],
        "_et": "TALK",
        "_ct": "2027-01-04T09:12:30.114Z",
        "_md": "2027-01-04T09:12:30.114Z",
    }


def sample_talks(n: int) -> list[dict]:
    return json.loads((SAMPLE / "talks.json").read_text())[:n]


def sync(lake, ddb, streams, directory):
    arn = latest_stream_arn(dynamodb=ddb, settings=directory)
    return sync_stream(lake=lake, streams=streams, stream_arn=arn, table=directory.table)


def test_stream_talks_are_recorded_with_keys_and_checkpoint(tmp_path, directory, ddb, streams):
    lake = Lake(str(tmp_path / "lake"))
    talks = sample_talks(3)
    for i, talk in enumerate(talks):
        ddb.put_item(TableName=directory.table, Item=to_item(app_talk(talk, f"u{i}")))
    # Not a talk: the app's own tag counter; skipped, not rejected.
    ddb.put_item(
        TableName=directory.table,
        Item=to_item({"pk": "tag", "sk": "tag#python", "quantity": 3, "_et": "TAG_COUNT"}),
    )

    report = sync(lake, ddb, streams, directory)

    assert report.records == 4 and not report.errors
    assert sorted(report.ingest.new) == sorted(t["talk_id"] for t in talks)
    recorded = lake.read("talks").set_index("talk_id")
    assert recorded.loc[talks[0]["talk_id"], "title"] == talks[0]["title"]
    assert list(recorded.loc[talks[0]["talk_id"], "event_ids"]) == talks[0]["event_ids"][:1]
    keys = load_keys(lake=lake, table=directory.table)
    assert keys[talks[1]["talk_id"]] == ("USER#u1", f"talk#{talks[1]['talk_id']}")
    arn = latest_stream_arn(dynamodb=ddb, settings=directory)
    (position,) = load_checkpoints(lake=lake, source=checkpoint_source(arn)).values()
    assert position.isdigit()


def test_resumes_after_restart_from_the_shard_checkpoint(tmp_path, directory, ddb, streams):
    lake_url = str(tmp_path / "lake")
    talks = sample_talks(4)
    for i, talk in enumerate(talks[:2]):
        ddb.put_item(TableName=directory.table, Item=to_item(app_talk(talk, f"u{i}")))
    first = sync(Lake(lake_url), ddb, streams, directory)
    assert first.records == 2

    # "Restart": a new lake object and a new client, as a fresh flow run would build them.
    again = sync(Lake(lake_url), ddb, streams_client(directory), directory)
    assert again.records == 0 and not again.ingest.new

    edited = dict(talks[0], title=talks[0]["title"] + " (2nd edition)")
    ddb.put_item(TableName=directory.table, Item=to_item(app_talk(edited, "u0")))
    ddb.put_item(TableName=directory.table, Item=to_item(app_talk(talks[2], "u2")))
    ddb.delete_item(
        TableName=directory.table,
        Key=to_item({"pk": "USER#u1", "sk": f"talk#{talks[1]['talk_id']}"}),
    )
    third = sync(Lake(lake_url), ddb, streams_client(directory), directory)

    assert third.records == 3
    assert third.ingest.updated == [talks[0]["talk_id"]]
    assert third.ingest.new == [talks[2]["talk_id"]]
    assert third.ingest.removed == [talks[1]["talk_id"]]
    state = Lake(lake_url).read("talks").set_index("talk_id").state
    assert state[talks[1]["talk_id"]] == "deleted"


def test_insert_then_remove_in_one_page_is_a_removal(tmp_path, directory, ddb, streams):
    lake = Lake(str(tmp_path / "lake"))
    (talk,) = sample_talks(1)
    ddb.put_item(TableName=directory.table, Item=to_item(app_talk(talk, "u0")))
    sync(lake, ddb, streams, directory)
    ddb.put_item(TableName=directory.table, Item=to_item(app_talk(talk, "u0") | {"title": "x2"}))
    ddb.delete_item(
        TableName=directory.table, Key=to_item({"pk": "USER#u0", "sk": f"talk#{talk['talk_id']}"})
    )
    report = sync(lake, ddb, streams, directory)
    assert report.records == 2
    assert report.ingest.removed == [talk["talk_id"]] and not report.ingest.updated


def test_podium_tags_written_back_are_not_an_edit() -> None:
    record = {
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": to_item({"pk": "USER#u", "sk": "talk#t-1"}),
            "NewImage": to_item(
                {
                    "pk": "USER#u",
                    "sk": "talk#t-1",
                    "title": "Typing Python",
                    "tags": ["Python", "testing", "type hints"],
                    "podiumTags": ["testing", "type hints"],
                }
            ),
            "SequenceNumber": "5",
        },
    }
    changes = reduce_records([record])
    (talk,) = changes.talks
    assert talk.tags == ["python"]
    assert changes.keys == {"t-1": ("USER#u", "talk#t-1")}


def test_bad_records_are_rejected_one_by_one_with_their_position() -> None:
    good = {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": to_item({"pk": "USER#u", "sk": "talk#t-1"}),
            "NewImage": to_item({"pk": "USER#u", "sk": "talk#t-1", "title": "Fine"}),
        },
    }
    no_title = {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": to_item({"pk": "USER#u", "sk": "talk#t-2"}),
            "NewImage": to_item({"pk": "USER#u", "sk": "talk#t-2"}),
        },
    }
    changes = reduce_records([good, no_title], offset=10)
    assert [t.talk_id for t in changes.talks] == ["t-1"]
    (error,) = changes.errors
    assert error.record.startswith("Records[11]") and error.field == "title"


def test_parents_are_read_before_their_children() -> None:
    shards = [
        {"ShardId": "c2", "ParentShardId": "b"},
        {"ShardId": "b", "ParentShardId": "a-trimmed"},
        {"ShardId": "c1", "ParentShardId": "b"},
        {"ShardId": "d"},
    ]
    order = [s["ShardId"] for s in order_shards(shards)]
    assert order.index("b") < order.index("c1") and order.index("b") < order.index("c2")
    assert sorted(order) == ["b", "c1", "c2", "d"]


def test_a_table_without_a_usable_stream_is_a_one_line_error(directory, ddb) -> None:
    import pytest

    from podium.dynamodb.client import DynamoDBError

    keys_only = directory.model_copy(update={"table": directory.table + "-keys"})
    ddb.create_table(
        TableName=keys_only.table,
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    with pytest.raises(DynamoDBError, match="KEYS_ONLY"):
        latest_stream_arn(dynamodb=ddb, settings=keys_only)
    missing = directory.model_copy(update={"table": "no-such-table"})
    with pytest.raises(DynamoDBError, match="does not exist"):
        latest_stream_arn(dynamodb=ddb, settings=missing)
