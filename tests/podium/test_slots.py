"""Talks' scheduled slots: from JSON bodies, DynamoDB items and pretalx (its documented legacy
example as it is); stored in the lake, where a talks table made before slots stays readable and
writable; and sources without slots stay valid."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from podium.ingest import read_talks
from podium.lake import Lake
from podium.models import Slot, Talk
from podium.pretalx.mapping import map_submissions, schedule_slots, slot_of
from podium.recording import record_talks
from podium.sources import parse_directory_body, parse_dynamodb_stream

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
if not FIXTURES.exists():  # a worktree: /work/wt/<name> -> /work/shared
    FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"


def body(**extra) -> dict:
    return {"talk_id": "t-1", "title": "Async in practice", "speakers": ["Ada"], **extra}


def test_a_json_body_carries_a_slot_and_one_without_stays_valid() -> None:
    slot = {"start": "2027-05-01T10:00:00+02:00", "end": "2027-05-01T10:30:00+02:00", "room": "A"}
    result = parse_directory_body([body(slot=slot), body(talk_id="t-2")])
    assert not result.errors
    first, second = result.talks
    assert first.slot == Slot(
        start=datetime(2027, 5, 1, 8, 0, tzinfo=UTC),
        end=datetime(2027, 5, 1, 8, 30, tzinfo=UTC),
        room="A",
    )
    assert second.slot is None


@pytest.mark.parametrize(
    ("slot", "message"),
    [
        ({"start": "2027-05-01T10:00:00", "end": "2027-05-01T10:30:00+02:00"}, "time zone"),
        ({"start": "2027-05-01T10:30:00Z", "end": "2027-05-01T10:00:00Z"}, "after its start"),
        ({"start": "2027-05-01T10:00:00Z"}, "end"),
        ({"start": "2027-05-01T10:00:00Z", "end": "2027-05-01T11:00:00Z", "seats": 3}, "seats"),
    ],
)
def test_a_bad_slot_rejects_the_record_with_the_reason(slot: dict, message: str) -> None:
    result = parse_directory_body([body(slot=slot), body(talk_id="t-2")])
    assert [t.talk_id for t in result.talks] == ["t-2"]
    (error,) = result.errors
    assert error.field.startswith("slot") and message in str(error)


def test_without_a_slot_the_record_hash_is_what_it_was_before_slots() -> None:
    talk = Talk.model_validate(body())
    # The hash of the same talk before the field existed: stored rows are not rewritten.
    import hashlib

    before = talk.model_dump_json(exclude={"submitted_at", "updated_at", "slot"}).encode()
    assert talk.record_hash() == hashlib.sha256(before).hexdigest()[:32]
    moved = Talk.model_validate(
        body(slot={"start": "2027-05-01T10:00:00Z", "end": "2027-05-01T10:30:00Z"})
    )
    assert moved.record_hash() != talk.record_hash()
    assert moved.content_hash == talk.content_hash  # a slot is not what tagging reads


def test_clashes() -> None:
    def slot(a: int, b: int) -> Slot:
        return Slot(
            start=datetime(2027, 5, 1, a, tzinfo=UTC), end=datetime(2027, 5, 1, b, tzinfo=UTC)
        )

    assert slot(10, 12).clashes_with(slot(11, 13))
    assert not slot(10, 11).clashes_with(slot(11, 12))  # back to back


def test_a_dynamodb_item_with_a_slot_map_iso_or_epoch() -> None:
    def image(start: dict, end: dict) -> dict:
        return {
            "title": {"S": "Talk"},
            "speakers": {"L": [{"S": "Ada"}]},
            "slot": {"M": {"start": start, "end": end, "room": {"S": "Hall 1"}}},
        }

    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"S": "USER#1"}, "sk": {"S": f"talk#t-{i}"}},
                "SequenceNumber": str(100 + i),
                "NewImage": {"pk": {"S": "USER#1"}, "sk": {"S": f"talk#t-{i}"}, **img},
            },
        }
        for i, img in enumerate(
            [
                image({"S": "2027-05-01T10:00:00Z"}, {"S": "2027-05-01T10:45:00Z"}),
                image({"N": "1809165600"}, {"N": "1809168300000"}),  # seconds, milliseconds
            ]
        )
    ]
    result = parse_dynamodb_stream({"Records": records})
    assert not result.errors
    iso, epoch = result.talks
    assert iso.slot is not None and iso.slot.room == "Hall 1"
    assert iso.slot.end - iso.slot.start == pd.Timedelta(minutes=45)
    assert epoch.slot is not None and epoch.slot.start == datetime.fromtimestamp(1809165600, UTC)
    assert (epoch.slot.end - epoch.slot.start).total_seconds() == 2700


def test_pretalx_legacy_example_as_documented_has_its_slot() -> None:
    data = json.loads(
        (FIXTURES / "pretalx" / "pretalx-docs__submission-detail.legacy-v1.json").read_text()
    )
    result = map_submissions([data], slug="democon")
    (talk,) = result.talks
    assert talk.slot is not None
    assert talk.slot.start == datetime(2017, 12, 27, 10, 0, tzinfo=UTC)
    assert talk.slot.end == datetime(2017, 12, 27, 10, 30, tzinfo=UTC)
    assert talk.slot.room == "R101"


def test_pretalx_slots_listing_earliest_slot_wins_and_breaks_are_ignored() -> None:
    items = [
        {
            "submission": "ABC",
            "start": "2027-05-02T10:00:00+02:00",
            "end": "2027-05-02T11:00:00+02:00",
            "room": {"name": {"en": "B"}},
        },
        {
            "submission": "ABC",
            "start": "2027-05-01T10:00:00+02:00",
            "end": "2027-05-01T11:00:00+02:00",
            "room": {"name": {"de": "Saal"}},
        },
        {
            "submission": None,
            "start": "2027-05-01T12:00:00+02:00",
            "end": "2027-05-01T13:00:00+02:00",
            "room": 3,
        },
        {"submission": "UNS", "start": None, "end": None, "room": None},  # not scheduled
    ]
    slots = schedule_slots(items)
    assert list(slots) == ["ABC"]
    assert slots["ABC"]["room"] == "Saal" and slots["ABC"]["start"].day == 1
    assert (
        slot_of({"start": "2027-05-01T10:00:00Z", "end": "2027-05-01T11:00:00Z", "room": 7})["room"]
        == ""
    )


def test_slots_round_trip_through_the_lake(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    slot = {"start": "2027-05-01T10:00:00+02:00", "end": "2027-05-01T10:30:00+02:00", "room": "A"}
    talks = parse_directory_body([body(slot=slot), body(talk_id="t-2")]).talks
    record_talks(lake=lake, talks=talks)
    back = {t.talk_id: t for t in read_talks(lake=lake)}
    assert back["t-1"].slot == talks[0].slot and back["t-2"].slot is None
    # A rescheduled talk is a change; the same slot again is none.
    again = record_talks(lake=lake, talks=talks)
    assert not again.updated and not again.new
    moved = Talk.model_validate(
        body(
            slot={
                "start": "2027-05-01T11:00:00+02:00",
                "end": "2027-05-01T11:30:00+02:00",
                "room": "A",
            }
        )
    )
    assert record_talks(lake=lake, talks=[moved]).updated == ["t-1"]


OLD_TALKS = pa.schema(  # the talks table as it shipped before slots
    [
        ("talk_id", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("speakers", pa.list_(pa.string())),
        ("tags", pa.list_(pa.string())),
        ("event_ids", pa.list_(pa.string())),
        ("language", pa.string()),
        ("state", pa.string()),
        ("submitted_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us", tz="UTC")),
        ("content_hash", pa.string()),
        ("record_hash", pa.string()),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
        ("source_sequence", pa.string()),
        ("source_updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def test_a_talks_table_made_before_slots_stays_readable_and_writable(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    old = Talk.model_validate(body(talk_id="old-1"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    row = old.model_dump(exclude={"slot"}) | {
        "state": "submitted",
        "submitted_at": now,
        "updated_at": now,
        "record_hash": old.record_hash(),
        "ingested_at": now,
        "source_sequence": None,
        "source_updated_at": None,
    }
    frame = pd.DataFrame([row])[OLD_TALKS.names]
    write_deltalake(
        lake.table_uri("talks"), pa.Table.from_pandas(frame, schema=OLD_TALKS, preserve_index=False)
    )

    (back,) = read_talks(lake=lake)  # opening it adds the slot columns, null
    assert back.slot is None and back.record_hash() == old.record_hash()
    assert {"slot_start", "slot_end", "slot_room"} <= set(lake.read("talks").columns)
    # Re-delivering the old talk unchanged changes nothing; a scheduled one is written.
    assert not record_talks(lake=lake, talks=[old]).updated
    slot = {"start": "2027-05-01T10:00:00Z", "end": "2027-05-01T10:30:00Z", "room": "A"}
    report = record_talks(lake=lake, talks=[Talk.model_validate(body(talk_id="old-1", slot=slot))])
    assert report.updated == ["old-1"]
    assert read_talks(lake=lake)[0].slot is not None
