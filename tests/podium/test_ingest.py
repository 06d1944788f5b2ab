"""podium.ingest: recording talks and events idempotently, and marking enrichment work.

Real: Delta tables in a temp folder (the S3 path of the same `Lake` is covered in
tests/podium/lake/). Nothing is faked.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from podium.enrichment import claim, failed_talks, outstanding, record
from podium.ingest import (
    STAGES,
    frame_to_talks,
    record_events,
    record_talks,
    talks_to_frame,
)
from podium.lake import Lake
from podium.models import Event, Talk, TalkState


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def talk(talk_id: str = "t-1", **changes) -> Talk:
    data = {
        "talk_id": talk_id,
        "title": f"Talk {talk_id}",
        "description": "About generators.",
        "speakers": ["Ayo"],
        "tags": ["python"],
        "event_ids": ["e1"],
    }
    return Talk.model_validate({**data, **changes})


def ledger(lake: Lake) -> dict[tuple[str, str], tuple[str, str, int]]:
    """(talk, stage) -> (content hash, status, attempts)."""
    frame = lake.read("enrichment_state")
    return {
        (r.talk_id, r.stage): (r.content_hash, r.status, int(r.attempts))
        for r in frame.itertuples()
    }


def stored(lake: Lake, talk_id: str):
    frame = lake.read("talks", where=[("talk_id", "=", talk_id)])
    assert len(frame) == 1
    return frame.iloc[0]


def test_new_talks_are_recorded_and_pending_for_every_stage(lake: Lake) -> None:
    a, b = talk("a"), talk("b", title="Ünïcödé 漢字")
    report = record_talks(lake=lake, talks=[a, b])
    assert report.as_dict() == {
        "new": ["a", "b"],
        "updated": [],
        "unchanged": [],
        "removed": [],
        "pending": ["a", "b"],
    }
    assert stored(lake, "b").title == "Ünïcödé 漢字"
    assert stored(lake, "a").content_hash == a.content_hash
    assert ledger(lake) == {
        (t.talk_id, stage): (t.content_hash, "pending", 0) for t in (a, b) for stage in STAGES
    }


def test_identical_reingest_is_a_noop(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    versions = (lake.version("talks"), lake.version("enrichment_state"))
    report = record_talks(lake=lake, talks=[talk("a"), talk("b")])
    assert report.unchanged == ["a", "b"]
    assert report.new == report.updated == report.pending == []
    assert (lake.version("talks"), lake.version("enrichment_state")) == versions


def test_a_lost_ledger_write_is_requeued_on_redelivery(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    lake.delete("enrichment_state", predicate="talk_id = 'a'")  # as if the run died in between
    report = record_talks(lake=lake, talks=[talk("a"), talk("b")])
    assert (report.unchanged, report.pending) == (["a", "b"], ["a"])
    assert {k for k, v in ledger(lake).items() if v[1] == "pending"} == {
        (i, s) for i in ("a", "b") for s in STAGES
    }


def test_state_only_edit_is_updated_but_not_pending(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    before = ledger(lake)
    report = record_talks(lake=lake, talks=[talk("a", state="accepted")])
    assert (report.updated, report.pending) == (["a"], [])
    assert stored(lake, "a").state == "accepted"
    assert ledger(lake) == before


def test_content_edit_is_pending_again_at_the_new_hash(lake: Lake) -> None:
    original = talk("a")
    record_talks(lake=lake, talks=[original])
    for stage in STAGES:
        work = claim(lake=lake, stage=stage, limit=10, max_attempts=3, lease_seconds=60)
        assert work is not None
        record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
    assert {v[1] for v in ledger(lake).values()} == {"done"}

    edited = talk("a", description="About generators and asyncio.")
    report = record_talks(lake=lake, talks=[edited])
    assert (report.updated, report.pending) == (["a"], ["a"])
    assert stored(lake, "a").description == "About generators and asyncio."
    assert ledger(lake) == {("a", s): (edited.content_hash, "pending", 0) for s in STAGES}


def test_state_only_edit_does_not_retry_a_talk_that_failed(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    for stage in STAGES:
        work = claim(lake=lake, stage=stage, limit=10, max_attempts=1, lease_seconds=60)
        assert work is not None
        errors = {"a": (talk("a"), "boom")}
        assert record(lake=lake, claim=work, done=[], errors=errors, max_attempts=1).failed == ["a"]
    report = record_talks(lake=lake, talks=[talk("a", state="published")])
    assert (report.updated, report.pending) == (["a"], [])
    assert list(failed_talks(lake=lake).stage) == ["image", "tags"]
    assert outstanding(lake=lake, max_attempts=1) == []


def test_removed_talks_are_kept_with_state_deleted(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    report = record_talks(lake=lake, talks=[], removed=["a", "never-seen"])
    assert report.removed == ["a"] and report.pending == []
    row = stored(lake, "a")
    assert row.state == str(TalkState.deleted) and row.title == "Talk a"
    assert stored(lake, "b").state == "submitted"
    version = lake.version("talks")
    again = record_talks(lake=lake, talks=[], removed=["a"])
    assert again.removed == [] and lake.version("talks") == version


def test_a_talk_in_the_same_batch_beats_its_removal(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    report = record_talks(lake=lake, talks=[talk("a", state="accepted")], removed=["a"])
    assert report.removed == [] and report.updated == ["a"]
    assert stored(lake, "a").state == "accepted"


def test_a_removed_talk_that_comes_back_is_restored(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    record_talks(lake=lake, talks=[], removed=["a"])
    report = record_talks(lake=lake, talks=[talk("a")])
    assert report.updated == ["a"]
    assert stored(lake, "a").state == "submitted"


def test_repeated_id_in_one_batch_last_wins(lake: Lake) -> None:
    report = record_talks(lake=lake, talks=[talk("a", title="First"), talk("a", title="Second")])
    assert report.new == ["a"]
    assert stored(lake, "a").title == "Second"
    assert {v[0] for v in ledger(lake).values()} == {talk("a", title="Second").content_hash}


def test_empty_batch_touches_nothing(lake: Lake) -> None:
    assert record_talks(lake=lake, talks=[]).as_dict() == {
        "new": [],
        "updated": [],
        "unchanged": [],
        "removed": [],
        "pending": [],
    }
    assert not lake.exists("talks")


def test_talks_round_trip_through_the_table(lake: Lake) -> None:
    original = talk(
        "a",
        speakers=["A", "B"],
        tags=["web", "python"],
        language="de",
        state="published",
        submitted_at="2027-01-02T03:04:05Z",
    )
    record_talks(lake=lake, talks=[original])
    (back,) = frame_to_talks(lake.read("talks"))
    assert back.content_hash == original.content_hash
    assert back.record_hash() == original.record_hash()
    assert back.submitted_at == original.submitted_at
    assert back.updated_at is not None  # filled in with the ingest time


def test_talks_to_frame_fills_times() -> None:
    frame = talks_to_frame([talk("a")])
    row = frame.iloc[0]
    assert row.submitted_at == row.updated_at == row.ingested_at
    assert row.state == "submitted" and row.record_hash == talk("a").record_hash()


# ---- events ---------------------------------------------------------------------------------


def event(event_id: str, **changes) -> Event:
    return Event.model_validate({"event_id": event_id, "name": event_id.upper(), **changes})


def test_record_events_returns_only_changed_ids(lake: Lake) -> None:
    assert record_events(lake=lake, events=[]) == []
    assert record_events(lake=lake, events=[event("e1"), event("e2")]) == ["e1", "e2"]
    version = lake.version("events")
    assert record_events(lake=lake, events=[event("e1"), event("e2")]) == []
    assert lake.version("events") == version
    changed = record_events(lake=lake, events=[event("e1"), event("e2", tags=["web"]), event("e3")])
    assert changed == ["e2", "e3"]
    frame = lake.read("events").set_index("event_id")
    assert list(frame.loc["e2", "tags"]) == ["web"] and len(frame) == 3


def test_record_events_repeated_id_last_wins(lake: Lake) -> None:
    changed = record_events(
        lake=lake,
        events=[event("e1", name="Old"), event("e1", name="New", starts_on=date(2027, 5, 1))],
    )
    assert changed == ["e1"]
    row = lake.read("events").iloc[0]
    assert row["name"] == "New" and row.starts_on == date(2027, 5, 1)
