"""podium.enrichment: the ledger of pending, done, errored and failed enrichment work.

Real: Delta tables in a temp folder, written through `record_talks` and `record_outcomes`;
two tests write rows directly to stage states a crash could leave. Nothing is faked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from podium.enrichment import failed_talks, pending_work, record_outcomes
from podium.ingest import STAGES, record_talks, talks_to_frame
from podium.lake import Lake
from podium.models import Talk


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def talk(talk_id: str, **changes) -> Talk:
    return Talk.model_validate({"talk_id": talk_id, "title": f"Talk {talk_id}", **changes})


def statuses(lake: Lake) -> dict[tuple[str, str], tuple[str, int, str]]:
    frame = lake.read("enrichment_state")
    return {(r.talk_id, r.stage): (r.status, int(r.attempts), r.error) for r in frame.itertuples()}


def finish(lake: Lake, stage: str, *, done=(), errors=None, max_attempts: int = 3) -> list[str]:
    work = pending_work(lake=lake, max_attempts=max_attempts)
    return record_outcomes(
        lake=lake,
        stage=stage,
        done=list(done),
        errors=errors or {},
        attempts=work.attempts,
        max_attempts=max_attempts,
    )


def test_new_talks_are_pending_for_every_stage(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("b"), talk("a")])
    work = pending_work(lake=lake, max_attempts=3)
    assert [t.talk_id for t in work.talks] == ["a", "b"]
    assert work.stages == {stage: {"a", "b"} for stage in STAGES}
    assert work.attempts == {(i, s): 0 for i in ("a", "b") for s in STAGES}
    assert [t.talk_id for t in work.for_stage("tags")] == ["a", "b"]
    assert work.for_stage("nonexistent") == []


def test_nothing_pending_on_an_empty_lake(lake: Lake) -> None:
    work = pending_work(lake=lake, max_attempts=3)
    assert (work.talks, work.stages, work.attempts) == ([], {}, {})


def test_done_leaves_the_queue_per_stage(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    assert finish(lake, "tags", done=[talk("a"), talk("b")]) == []
    work = pending_work(lake=lake, max_attempts=3)
    assert work.stages == {"image": {"a", "b"}}
    assert statuses(lake)[("a", "tags")] == ("done", 1, "")


def test_errors_are_retried_until_max_attempts_then_failed(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    finish(lake, "image", done=[talk("a"), talk("b")])
    assert finish(lake, "tags", errors={"a": (talk("a"), "x" * 900)}, done=[talk("b")]) == []
    status, attempts, error = statuses(lake)[("a", "tags")]
    assert (status, attempts, len(error)) == ("error", 1, 500)  # the message is truncated

    work = pending_work(lake=lake, max_attempts=3)
    assert work.stages == {"tags": {"a"}} and work.attempts == {("a", "tags"): 1}
    assert finish(lake, "tags", errors={"a": (talk("a"), "again")}) == []
    assert statuses(lake)[("a", "tags")] == ("error", 2, "again")
    assert failed_talks(lake=lake).empty

    assert finish(lake, "tags", errors={"a": (talk("a"), "for good")}) == ["a"]
    assert statuses(lake)[("a", "tags")] == ("failed", 3, "for good")
    assert pending_work(lake=lake, max_attempts=3).talks == []
    failed = failed_talks(lake=lake)
    assert list(zip(failed.talk_id, failed.stage, failed.error, strict=True)) == [
        ("a", "tags", "for good")
    ]


def test_a_lower_max_attempts_stops_retrying_errored_talks(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    finish(lake, "tags", errors={"a": (talk("a"), "boom")}, max_attempts=5)
    assert pending_work(lake=lake, max_attempts=5).stages["tags"] == {"a"}
    assert "tags" not in pending_work(lake=lake, max_attempts=1).stages


def test_failed_talks_sorted_by_talk_and_stage(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("b"), talk("a")])
    for stage in ("tags", "image"):
        finish(lake, stage, errors={i: (talk(i), "boom") for i in ("b", "a")}, max_attempts=1)
    failed = failed_talks(lake=lake)
    assert list(zip(failed.talk_id, failed.stage, strict=True)) == [
        ("a", "image"),
        ("a", "tags"),
        ("b", "image"),
        ("b", "tags"),
    ]


def test_an_edited_talk_is_pending_at_its_new_content_only(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    finish(lake, "tags", done=[talk("a")])
    edited = talk("a", description="Now with details.")
    record_talks(lake=lake, talks=[edited])
    work = pending_work(lake=lake, max_attempts=3)
    (pending,) = work.talks
    assert (
        pending.content_hash == edited.content_hash and pending.description == "Now with details."
    )
    assert work.stages == {stage: {"a"} for stage in STAGES}


def test_stale_ledger_rows_are_superseded_by_the_talks_current_content(lake: Lake) -> None:
    # A ledger row for content the talk no longer has (the talk row was rewritten, the ledger
    # row was not) is not work: enriching it would tag text that no longer exists.
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    lake.upsert("talks", talks_to_frame([talk("a", title="Rewritten")]))
    work = pending_work(lake=lake, max_attempts=3)
    assert [t.talk_id for t in work.talks] == ["b"]
    assert work.stages == {stage: {"b"} for stage in STAGES}


def test_deleted_talks_are_skipped(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    record_talks(lake=lake, talks=[], removed=["a"])
    work = pending_work(lake=lake, max_attempts=3)
    assert [t.talk_id for t in work.talks] == ["b"]
    assert all(ids == {"b"} for ids in work.stages.values())


def test_limit_takes_the_first_talks_by_id_with_all_their_stages(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk(i) for i in ("d", "b", "a", "c")])
    work = pending_work(lake=lake, max_attempts=3, limit=2)
    assert [t.talk_id for t in work.talks] == ["a", "b"]
    assert work.stages == {stage: {"a", "b"} for stage in STAGES}
    assert set(work.attempts) == {(i, s) for i in ("a", "b") for s in STAGES}


def test_record_outcomes_with_nothing_writes_nothing(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    version = lake.version("enrichment_state")
    assert (
        record_outcomes(lake=lake, stage="tags", done=[], errors={}, attempts={}, max_attempts=3)
        == []
    )
    assert lake.version("enrichment_state") == version


def test_ledger_rows_of_unknown_talks_are_ignored(lake: Lake) -> None:
    row = {
        "talk_id": "ghost",
        "stage": "tags",
        "content_hash": "h",
        "status": "pending",
        "attempts": 0,
        "error": "",
        "updated_at": datetime.now(UTC),
    }
    lake.append("enrichment_state", pd.DataFrame([row]))
    record_talks(lake=lake, talks=[talk("a")])
    assert [t.talk_id for t in pending_work(lake=lake, max_attempts=3).talks] == ["a"]


def test_pending_work_can_be_narrowed_without_losing_stages(lake: Lake) -> None:
    talks = [Talk(talk_id=f"w{i}", title=f"Talk {i}") for i in range(3)]
    record_talks(lake=lake, talks=talks)
    work = pending_work(lake=lake, max_attempts=3)
    rest = work.without({"w0"})
    assert [t.talk_id for t in rest.talks] == ["w1", "w2"]
    assert rest.stages == {"tags": {"w1", "w2"}, "image": {"w1", "w2"}}
    assert set(rest.attempts) == {("w1", "tags"), ("w1", "image"), ("w2", "tags"), ("w2", "image")}
    assert [t.talk_id for t in work.first(1).talks] == ["w0"]


@pytest.mark.xfail(strict=True, reason="issue 11 item 1: an outcome overwrites a newer version")
def test_an_edit_recorded_while_enrich_works_stays_pending(lake: Lake) -> None:
    v1 = talk("a", title="First version")
    record_talks(lake=lake, talks=[v1])
    work = pending_work(lake=lake, max_attempts=3)  # enrich reads version 1
    v2 = talk("a", title="Edited version")
    record_talks(lake=lake, talks=[v2])  # the speaker edits meanwhile
    record_outcomes(
        lake=lake,
        stage="tags",
        done=work.for_stage("tags"),
        errors={},
        attempts=work.attempts,
        max_attempts=3,
    )
    again = pending_work(lake=lake, max_attempts=3)
    assert [t.content_hash for t in again.for_stage("tags")] == [v2.content_hash]
