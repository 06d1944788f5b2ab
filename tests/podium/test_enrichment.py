"""podium.enrichment: the ledger of pending work, claims with leases, and versioned outcomes.

Real: Delta tables in a temp folder, written through `record_talks`, `claim` and `record`;
concurrent claims come from real threads committing to the same table. Crashes are staged by
claiming with a clock in the past (the lease is then expired), as a dead process leaves it.
Nothing is faked.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from podium.enrichment import CRASHED, STAGES, claim, failed_talks, outstanding, record
from podium.ingest import talks_to_frame
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from tests.together import all_at_once


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def talk(talk_id: str, **changes) -> Talk:
    return Talk.model_validate({"talk_id": talk_id, "title": f"Talk {talk_id}", **changes})


def statuses(lake: Lake) -> dict[tuple[str, str], tuple[str, int, str]]:
    frame = lake.read("enrichment_state")
    return {(r.talk_id, r.stage): (r.status, int(r.attempts), r.error) for r in frame.itertuples()}


def take(lake: Lake, stage: str = "tags", *, limit: int = 10, max_attempts: int = 3, **kw):
    return claim(
        lake=lake, stage=stage, limit=limit, max_attempts=max_attempts, lease_seconds=60, **kw
    )


def crash(lake: Lake, stage: str = "tags", *, limit: int = 10, max_attempts: int = 3):
    """Claim as a process that then died: its lease is already over."""
    return claim(
        lake=lake, stage=stage, limit=limit, max_attempts=max_attempts, lease_seconds=-3600
    )


def test_new_talks_are_outstanding_oldest_first_not_by_id(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("z")])
    record_talks(lake=lake, talks=[talk("a")])
    assert outstanding(lake=lake, max_attempts=3) == ["z", "a"]
    work = take(lake, limit=1)
    assert work is not None and work.ids == ["z"] and work.attempts == {"z": 1}


def test_nothing_to_claim_on_an_empty_lake(lake: Lake) -> None:
    assert take(lake) is None and outstanding(lake=lake, max_attempts=3) == []


def test_the_attempt_is_counted_at_claim_time_and_the_row_is_held(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    work = take(lake)
    assert work is not None and sorted(work.ids) == ["a", "b"]
    assert statuses(lake)[("a", "tags")] == ("running", 1, "")
    assert take(lake) is None, "a held row is nobody else's"
    assert take(lake, "image") is not None, "stages are claimed apart"
    record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
    assert statuses(lake)[("a", "tags")] == ("done", 1, "")
    state = lake.read("enrichment_state", where=[("stage", "=", "tags")])
    assert state.claimed_by.isna().all(), "recording releases the claim"


def test_errors_are_retried_until_max_attempts_then_failed(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    work = take(lake)
    got = record(
        lake=lake,
        claim=work,
        done=[talk("b")],
        errors={"a": (talk("a"), "x" * 900)},
        max_attempts=3,
    )
    assert (got.done, got.errors, got.failed) == (["b"], ["a"], [])
    status, attempts, error = statuses(lake)[("a", "tags")]
    assert (status, attempts, len(error)) == ("error", 1, 500)  # the message is truncated
    for tries, final in ((2, False), (3, True)):
        work = take(lake)
        assert work.ids == ["a"] and work.attempts == {"a": tries}
        got = record(
            lake=lake, claim=work, done=[], errors={"a": (talk("a"), "boom")}, max_attempts=3
        )
        assert got.failed == (["a"] if final else [])
    assert statuses(lake)[("a", "tags")] == ("failed", 3, "boom")
    assert take(lake) is None and "a" not in outstanding(lake=lake, max_attempts=3, stage="tags")
    assert list(failed_talks(lake=lake).talk_id) == ["a"]


def test_a_lower_max_attempts_stops_retrying_errored_talks(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    work = take(lake, max_attempts=5)
    record(lake=lake, claim=work, done=[], errors={"a": (talk("a"), "boom")}, max_attempts=5)
    assert take(lake, max_attempts=1) is None
    assert take(lake, max_attempts=5).ids == ["a"]


def test_an_edit_recorded_while_enrich_works_stays_pending(lake: Lake) -> None:
    # Issue 11 item 1: enrich reads version 1, the speaker edits, enrich records version 1.
    v1, v2 = talk("a", title="First version"), talk("a", title="Edited version")
    record_talks(lake=lake, talks=[v1])
    work = take(lake)
    assert [t.content_hash for t in work.talks] == [v1.content_hash]
    record_talks(lake=lake, talks=[v2])
    assert take(lake) is None, "the talk stays with the run working on it"
    got = record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
    assert got.superseded == ["a"] and got.done == []
    again = take(lake)
    assert again is not None and [t.content_hash for t in again.talks] == [v2.content_hash]
    record(lake=lake, claim=again, done=again.talks, errors={}, max_attempts=3)
    row = lake.read("enrichment_state", where=[("talk_id", "=", "a"), ("stage", "=", "tags")])
    assert (row.content_hash.item(), row.status.item()) == (v2.content_hash, "done")


def test_an_edit_after_a_crash_is_taken_once_the_lease_expires(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a")])
    crash(lake)
    edited = talk("a", description="Edited after the crash.")
    record_talks(lake=lake, talks=[edited])
    work = take(lake)
    assert work is not None and work.attempts == {"a": 1}
    assert [t.content_hash for t in work.talks] == [edited.content_hash]


def test_a_crashed_batch_is_retried_one_talk_at_a_time(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk(i) for i in "abcd"])
    dead = crash(lake)
    assert len(dead.ids) == 4
    retried = []
    while (work := take(lake)) is not None:
        assert work.retried_alone and len(work.ids) == 1
        retried += work.ids
        record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
    assert sorted(retried) == list("abcd")
    assert {v[:2] for k, v in statuses(lake).items() if k[1] == "tags"} == {("done", 2)}


def test_a_poison_talk_fails_after_max_attempts_and_the_others_go_through(lake: Lake) -> None:
    # Every claim of "p" ends in a crash (its lease runs out); the others are recorded.
    record_talks(lake=lake, talks=[talk(i) for i in ("a", "p", "b")])
    crash(lake)  # the whole batch dies with p
    done, marked = [], []
    for _ in range(10):
        if _peek(lake)[:1] == ["p"]:
            crash(lake, limit=1)
            continue
        work = take(lake, failed=marked)
        if work is None:
            break
        assert "p" not in work.ids
        record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
        done += work.ids
    assert sorted(done) == ["a", "b"] and marked == ["p"]
    gone: list[str] = []
    assert take(lake, failed=gone) is None and gone == []  # marked failed once, reported once
    assert statuses(lake)[("p", "tags")][:2] == ("failed", 3)
    assert CRASHED in statuses(lake)[("p", "tags")][2]
    assert outstanding(lake=lake, max_attempts=3, stage="tags") == []


def _peek(lake: Lake) -> list[str]:
    """The talk the next claim would take first (crashed claims go alone, oldest first)."""
    rows = lake.read("enrichment_state", where=[("stage", "=", "tags")])
    now = pd.Timestamp(datetime.now(UTC))
    open_ = rows[rows.status.isin(["pending", "running", "error"]) & (rows.attempts < 3)]
    free = open_[open_.claimed_by.isna() | (open_.lease_until < now)]
    crashed = free[free.claimed_by.notna()].sort_values(["updated_at", "talk_id"])
    return list(crashed.talk_id[:1]) if not crashed.empty else list(free.talk_id)


def test_concurrent_claims_never_share_a_talk(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk(f"t{i:02d}") for i in range(24)])

    def worker(n: int) -> list[str]:
        ids: list[str] = []
        while (work := take(lake, limit=3, owner=f"w{n}")) is not None:
            ids += work.ids
        return ids

    got = all_at_once(worker, range(4))
    counts = Counter(i for ids in got for i in ids)
    assert len(counts) == 24 and max(counts.values()) == 1


def test_stale_ledger_rows_are_superseded_by_the_talks_current_content(lake: Lake) -> None:
    # A ledger row for content the talk no longer has is not work: enriching it would tag
    # text that no longer exists.
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    lake.upsert("talks", talks_to_frame([talk("a", title="Rewritten")]))
    assert outstanding(lake=lake, max_attempts=3) == ["b"]
    assert take(lake).ids == ["b"]


def test_deleted_talks_are_skipped(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    record_talks(lake=lake, talks=[], removed=["a"])
    assert outstanding(lake=lake, max_attempts=3) == ["b"]
    assert take(lake, "image").ids == ["b"]


def test_claims_can_be_narrowed_to_a_chunk_and_exclude_talks(lake: Lake) -> None:
    record_talks(lake=lake, talks=[talk(i) for i in "abcd"])
    assert sorted(take(lake, talk_ids=["b", "c"]).ids) == ["b", "c"]
    assert take(lake, exclude={"a"}).ids == ["d"]


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
    assert outstanding(lake=lake, max_attempts=3) == ["a"]


def test_a_ledger_written_before_leases_gains_the_columns(tmp_path: Path) -> None:
    # A lake made by the previous release: enrichment_state without the claim columns.
    import pyarrow as pa
    from deltalake import write_deltalake

    from podium.lake import SCHEMAS

    old = pa.schema(
        [f for f in SCHEMAS["enrichment_state"] if f.name not in ("claimed_by", "lease_until")]
    )
    lake = Lake(str(tmp_path / "old"))
    write_deltalake(lake.table_uri("enrichment_state"), old.empty_table())
    record_talks(lake=lake, talks=[talk("a")])
    work = take(Lake(lake.url))
    assert work is not None and work.ids == ["a"]
    assert set(STAGES) == set(lake.read("enrichment_state").stage)
