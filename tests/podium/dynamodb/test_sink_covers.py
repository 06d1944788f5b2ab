"""Cover alt text reaches the directory table: the sink writes `podiumCover` (path, alt text)
on talk items it creates and on the app's own talk items, against a moto server over HTTP,
with real title-card covers stored in the lake."""

from __future__ import annotations

from datetime import UTC, datetime

from podium.dynamodb.sink import PODIUM_COVER, from_item, to_item, write_back
from podium.images.card import CardBackend
from podium.images.storage import store_covers
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks

NOW = datetime(2027, 1, 5, tzinfo=UTC)


def test_alt_text_on_created_and_existing_talk_items(tmp_path, directory, ddb) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ours = Talk(talk_id="p-1", title="Rust for Pythonistas", speakers=["Ada"], tags=["rust"])
    theirs = Talk(talk_id="a-1", title="Async patterns", speakers=["Bo"], tags=["python"])
    ddb.put_item(
        TableName=directory.table,
        Item=to_item(
            {"pk": "USER#bo", "sk": "talk#a-1", "title": theirs.title, "tags": ["python"]}
        ),
    )
    record_talks(lake=lake, talks=[ours, theirs])
    store_covers(lake=lake, covers=CardBackend().render([ours, theirs], tags={}))

    report = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    assert report.talks_created == ["p-1"] and report.talks_updated == ["a-1"]
    created = from_item(
        ddb.get_item(TableName=directory.table, Key=to_item({"pk": "TALK#p-1", "sk": "talk#p-1"}))[
            "Item"
        ]
    )
    existing = from_item(
        ddb.get_item(TableName=directory.table, Key=to_item({"pk": "USER#bo", "sk": "talk#a-1"}))[
            "Item"
        ]
    )
    assert created[PODIUM_COVER]["altText"] == (
        "Title card for the talk “Rust for Pythonistas”, with the tags rust."
    )
    assert created[PODIUM_COVER]["path"].startswith("images/p-1/")
    assert existing[PODIUM_COVER]["altText"].startswith("Title card for the talk “Async patterns”")
    assert existing["tags"] == ["python"]  # the app's own attributes are left as they were

    again = write_back(lake=lake, client=ddb, settings=directory, now=NOW)
    assert not again.talks_updated and not again.talks_created
