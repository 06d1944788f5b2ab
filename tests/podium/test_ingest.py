"""podium.ingest: recording talks and events idempotently, and marking enrichment work.

Real: Delta tables in a temp folder (the S3 path of the same `Lake` is covered in
tests/podium/lake/). Nothing is faked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from podium.enrichment import STAGES, claim, failed_talks, outstanding, record
from podium.ingest import (
    frame_to_talks,
    record_events,
    talks_to_frame,
)
from podium.lake import Lake
from podium.models import Event, Talk, TalkState
from podium.ordering import Removal
from podium.recording import record_talks


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
        "stale": [],
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


def test_a_removal_after_a_talk_in_the_same_batch_removes_it(lake: Lake) -> None:
    # The old behaviour kept t live here ("the talk beats its removal"): arrival order now
    # decides when the source gives no order, and the removal came last.
    record_talks(lake=lake, talks=[talk("a")])
    report = record_talks(lake=lake, changes=[talk("a", state="accepted"), "a"])
    assert report.removed == ["a"] and report.updated == []
    assert stored(lake, "a").state == "deleted"


def test_a_talk_after_its_removal_in_the_same_batch_restores_it(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    report = record_talks(lake=lake, changes=["a", talk("a", state="accepted")])
    assert report.updated == ["a"] and report.removed == []
    assert stored(lake, "a").state == "accepted"


def at(minute: int) -> datetime:
    return datetime(2027, 3, 1, 12, minute, tzinfo=UTC)


def test_a_late_redelivery_of_an_older_version_does_not_overwrite_the_newer(lake: Lake) -> None:
    v1 = talk("a", title="First", updated_at=at(1))
    v2 = talk("a", title="Second", updated_at=at(2))
    record_talks(lake=lake, talks=[v2])
    version = lake.version("talks")
    report = record_talks(lake=lake, talks=[v1])
    assert report.stale == ["a"] and report.updated == report.pending == []
    assert stored(lake, "a").title == "Second"
    assert lake.version("talks") == version
    assert {v[0] for v in ledger(lake).values()} == {v2.content_hash}


def test_within_a_batch_the_latest_updated_at_wins_not_the_last_listed(lake: Lake) -> None:
    v1 = talk("a", title="First", updated_at=at(1))
    v2 = talk("a", title="Second", updated_at=at(2))
    report = record_talks(lake=lake, talks=[v2, v1])
    assert report.new == ["a"]
    assert stored(lake, "a").title == "Second"


def test_a_removal_is_a_tombstone_an_older_upsert_cannot_undo(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a", updated_at=at(1))])
    record_talks(lake=lake, removed=[Removal("a", updated_at=at(3))])
    report = record_talks(lake=lake, talks=[talk("a", title="Edited", updated_at=at(2))])
    assert report.stale == ["a"]
    row = stored(lake, "a")
    assert row.state == "deleted" and row.title == "Talk a"
    # A newer version does bring it back.
    report = record_talks(lake=lake, talks=[talk("a", title="Back", updated_at=at(4))])
    assert report.updated == ["a"] and stored(lake, "a").title == "Back"


def test_a_removal_of_a_talk_never_seen_still_blocks_its_older_insert(lake: Lake) -> None:
    report = record_talks(lake=lake, removed=[Removal("a", sequence=30)])
    assert report.removed == []  # nothing live was removed
    insert = talk("a")
    insert._sequence = 10
    assert record_talks(lake=lake, talks=[insert]).stale == ["a"]
    assert stored(lake, "a").state == "deleted"
    assert ledger(lake) == {}


def test_sequence_numbers_order_changes_across_batches(lake: Lake) -> None:
    def seq(n: int, **changes) -> Talk:
        value = talk("a", **changes)
        value._sequence = n
        return value

    # Delivered 3, 1, 2: the state follows the sequence numbers, not the arrival.
    record_talks(lake=lake, talks=[seq(300, title="Third")])
    assert record_talks(lake=lake, talks=[seq(100, title="First")]).stale == ["a"]
    assert record_talks(lake=lake, removed=[Removal("a", sequence=200)]).stale == ["a"]
    assert stored(lake, "a").title == "Third" and stored(lake, "a").state == "submitted"
    # Sequence numbers beat timestamps when both sides have one (a wrong clock cannot win).
    late_clock = seq(250, title="Clock", updated_at=at(59))
    assert record_talks(lake=lake, talks=[late_clock]).stale == ["a"]


def test_the_same_content_at_a_newer_version_moves_the_order_forward(lake: Lake) -> None:
    # v3 repeats v1's content; a late v2 must still lose to it.
    record_talks(lake=lake, talks=[talk("a", updated_at=at(1))])
    report = record_talks(lake=lake, talks=[talk("a", updated_at=at(3))])
    assert report.unchanged == ["a"]
    assert record_talks(lake=lake, talks=[talk("a", title="v2", updated_at=at(2))]).stale == ["a"]
    assert stored(lake, "a").title == "Talk a"


def test_the_merge_rechecks_order_against_a_concurrent_newer_commit(lake: Lake) -> None:
    # Two writers read the lake before either commits (as two gateway processes can): the
    # older one commits second and must not overwrite the newer one.
    from podium.ingest import IN_SOURCE_ORDER, talks_to_frame

    record_talks(lake=lake, talks=[talk("a", updated_at=at(1))])
    record_talks(lake=lake, talks=[talk("a", title="Newer", updated_at=at(3))])
    stale_frame = talks_to_frame([talk("a", title="Older", updated_at=at(2))])
    stats = lake.upsert("talks", stale_frame, changed_when=IN_SOURCE_ORDER)
    assert stats.changed == 0 and stored(lake, "a").title == "Newer"


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
        "stale": [],
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


def test_a_talks_table_from_before_source_order_gains_its_columns(lake: Lake) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from podium.lake import SCHEMAS
    from podium.lake.tables import ADDED_COLUMNS

    old_schema = pa.schema([f for f in SCHEMAS["talks"] if f.name not in ADDED_COLUMNS["talks"]])
    old_rows = talks_to_frame([talk("a")]).drop(columns=["source_sequence", "source_updated_at"])
    write_deltalake(lake.table_uri("talks"), pa.Table.from_pandas(old_rows, schema=old_schema))
    report = record_talks(lake=lake, talks=[talk("a", title="Edited", updated_at=at(5))])
    assert report.updated == ["a"]
    row = stored(lake, "a")
    assert row.title == "Edited" and row.source_updated_at == at(5)
    assert record_talks(lake=lake, talks=[talk("a", updated_at=at(4))]).stale == ["a"]
