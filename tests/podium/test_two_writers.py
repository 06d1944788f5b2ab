"""Two writers recording versions of one talk: the ledger ends at the version that won `talks`.

Real: Delta tables in a temp folder, two threads each calling `record_talks` as two gateway
replicas would. The interleaving is forced for real: one writer is held just before one of its
lake writes (the talks MERGE, or the ledger mark) while the other records from start to end,
then let go. These are the interleavings that lost the newest version's enrichment when the
ledger's pending mark did not follow the talk row's order (issue 21). Real processes racing on
a local and an S3 lake: tests/test_replicas.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from podium.enrichment import STAGES, claim, claimable, record, state_rows
from podium.ingest import talk_rows
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class HeldLake(Lake):
    """A real lake where the thread named `held` waits before its write to `table`."""

    held_thread = held_table = ""

    def hold(self, *, thread: str, table: str) -> None:
        self.held_thread, self.held_table = thread, table
        self.reached, self.go = threading.Event(), threading.Event()

    def upsert(self, name, frame, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == self.held_thread and name == self.held_table:
            self.reached.set()
            assert self.go.wait(60), "never let go"
        return super().upsert(name, frame, **kwargs)


def version(n: int, *, stamped: bool = True) -> Talk:
    return Talk(
        talk_id="t",
        title=f"version {n}",
        description=f"edit {n}",
        updated_at=T0 + timedelta(minutes=n) if stamped else None,
    )


def ledger_hashes(lake: Lake) -> set[str]:
    rows = state_rows(lake=lake, talk_ids=["t"])
    assert sorted(rows.stage) == sorted(STAGES)
    return set(rows.content_hash)


def race(lake: HeldLake, *, held: Talk, free: Talk, table: str) -> None:
    """`held`'s writer stops before its write to `table`; `free`'s records meanwhile."""
    lake.hold(thread="held", table=table)
    errors: list[BaseException] = []

    def write(change: Talk) -> None:
        try:
            record_talks(lake=lake, talks=[change])
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    first = threading.Thread(target=write, args=(held,), name="held")
    first.start()
    assert lake.reached.wait(60)
    write(free)
    lake.go.set()
    first.join(60)
    assert not errors, errors


def current_hash(lake: Lake) -> str:
    (content_hash,) = talk_rows(lake=lake, columns=["content_hash"], talk_ids=["t"]).content_hash
    return str(content_hash)


@pytest.mark.parametrize("table", ["talks", "enrichment_state"])
def test_an_older_version_held_up_never_leaves_its_mark(tmp_path: Path, table: str) -> None:
    """v2's writer read the lake, then stalls before its talks MERGE (or before its ledger
    mark) while v3 is recorded in full: `talks` keeps v3, and so must the ledger."""
    lake = HeldLake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[version(1)])
    race(lake, held=version(2), free=version(3), table=table)
    assert current_hash(lake) == version(3).content_hash
    assert ledger_hashes(lake) == {version(3).content_hash}


@pytest.mark.parametrize("table", ["talks", "enrichment_state"])
def test_a_newer_version_held_up_still_ends_in_the_ledger(tmp_path: Path, table: str) -> None:
    lake = HeldLake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[version(1)])
    race(lake, held=version(3), free=version(2), table=table)
    assert current_hash(lake) == version(3).content_hash
    assert ledger_hashes(lake) == {version(3).content_hash}


def test_without_source_order_the_ledger_follows_the_row_that_won(tmp_path: Path) -> None:
    """No `updated_at`: arrival decides `talks` (the last MERGE wins), and the ledger follows
    the row, not whichever mark committed last."""
    lake = HeldLake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[version(1, stamped=False)])
    race(
        lake,
        held=version(2, stamped=False),
        free=version(3, stamped=False),
        table="enrichment_state",
    )
    assert ledger_hashes(lake) == {current_hash(lake)}


def test_a_done_talk_stays_done_and_a_lost_mark_is_repaired(tmp_path: Path) -> None:
    lake = HeldLake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[version(1)])
    for stage in STAGES:
        taken = claim(lake=lake, stage=stage, limit=10, max_attempts=3, lease_seconds=60)
        assert taken is not None
        record(lake=lake, claim=taken, done=taken.talks, errors={}, max_attempts=3)
    # A redelivery, and an edit that changes no content (an organiser's event list): done.
    assert record_talks(lake=lake, talks=[version(1)]).pending == []
    same = version(1).model_copy(
        update={"event_ids": ["e1"], "updated_at": T0 + timedelta(minutes=2)}
    )
    assert record_talks(lake=lake, talks=[same]).pending == []
    assert set(state_rows(lake=lake, talk_ids=["t"]).status) == {"done"}
    # The talk row written, the ledger mark lost (a crash between the two writes): the
    # client's retry of the same version marks it.
    lake.hold(thread="crashing", table="enrichment_state")
    crashed = threading.Thread(
        target=lambda: record_talks(lake=lake, talks=[version(4)]), name="crashing", daemon=True
    )
    crashed.start()
    assert lake.reached.wait(60)  # stays blocked: its mark never lands
    assert ledger_hashes(lake) == {version(1).content_hash}
    lake.held_thread = "nobody"
    assert record_talks(lake=lake, talks=[version(4)]).pending == ["t"]
    assert ledger_hashes(lake) == {version(4).content_hash}
    lake.go.set()  # the stalled writer's late mark, from the same revision, changes nothing
    crashed.join(60)
    assert ledger_hashes(lake) == {version(4).content_hash}
    assert set(state_rows(lake=lake, talk_ids=["t"]).status) == {"pending"}


def bench_talk() -> Talk:
    """A talk as the chaos bench posts it: no `updated_at`, so arrival decides."""
    return Talk(talk_id="t", title="Burst talk", description="posted once, delivered twice")


@pytest.mark.parametrize("table", ["talks", "enrichment_state"])
def test_a_retried_post_held_up_never_sends_a_done_talk_round_again(
    tmp_path: Path, table: str
) -> None:
    """The chaos row 'restart PostgreSQL, 1 processed twice' (docs/production.md): a client
    whose request timed out posts the same talk again to the other gateway while the first is
    still working. One writer stalls (before its talks MERGE, or before its ledger mark), the
    other records the talk, which is claimed, tagged and recorded done; then the stalled
    writer's mark lands. Before the ledger's mark followed the talk row (it upserted
    'pending, 0 attempts' whenever the writer had not seen the version in the ledger), that
    late mark sent the done talk round again: a second pass, a second `podium.talk.tagged`,
    and attempts back at 1 so the ledger did not show it. It must leave the talk done."""
    lake = HeldLake(str(tmp_path / "lake"))
    lake.hold(thread="held", table=table)
    errors: list[BaseException] = []

    def retried() -> None:
        try:
            record_talks(lake=lake, talks=[bench_talk()])
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    first = threading.Thread(target=retried, name="held")
    first.start()
    assert lake.reached.wait(60)
    assert record_talks(lake=lake, talks=[bench_talk()]).pending == ["t"]
    for stage in STAGES:  # the enrich loop's ledger steps: claim, work, record
        taken = claim(lake=lake, stage=stage, limit=10, max_attempts=3, lease_seconds=60)
        assert taken is not None and taken.ids == ["t"]
        done = record(lake=lake, claim=taken, done=taken.talks, errors={}, max_attempts=3)
        assert done.done == ["t"]
    lake.go.set()
    first.join(60)
    assert not errors, errors
    rows = state_rows(lake=lake, talk_ids=["t"])
    assert set(rows.status) == {"done"} and set(rows.attempts) == {1}
    assert claimable(lake=lake, max_attempts=3) == ([], None)  # no second pass
    assert claim(lake=lake, stage="tags", limit=10, max_attempts=3, lease_seconds=60) is None
