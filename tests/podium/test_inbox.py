"""The talk inbox (podium/inbox.py) on a real Delta lake in a temp folder, real threads.

Appends never conflict, a fold records in source order and marks the ledger from the row that
won, a fold that crashed after its commits is folded again without recording anything twice,
an unreadable blob is set aside, and of two processes after the fold lease exactly one gets
it. Real gateway processes through the inbox: tests/podium/gateway/test_inbox_gateways.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from podium import inbox
from podium.enrichment import STAGES, state_rows
from podium.ingest import talk_rows
from podium.lake import Lake
from podium.models import Talk
from podium.ordering import Removal
from tests.together import all_at_once

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def version(n: int, talk_id: str = "t", *, stamped: bool = True) -> Talk:
    return Talk(
        talk_id=talk_id,
        title=f"version {n}",
        description=f"edit {n}",
        updated_at=T0 + timedelta(minutes=n) if stamped else None,
    )


def ledger(lake: Lake, talk_id: str = "t") -> set[str]:
    rows = state_rows(lake=lake, talk_ids=[talk_id])
    assert sorted(rows.stage) == sorted(STAGES)
    return set(rows.content_hash)


def test_changes_survive_the_blob_with_their_source_order() -> None:
    talk = version(2)
    talk._sequence = 12345678901234567890123
    removal = Removal("gone", sequence=7, updated_at=T0)
    back = inbox.decode(inbox.encode([talk, removal, "bare"]))
    assert back[0] == talk and back[0]._sequence == talk._sequence
    assert back[0].content_hash == talk.content_hash
    assert isinstance(back[1], Removal) and back[1] == "gone"
    assert back[1].sequence == 7 and back[1].updated_at == T0
    assert back[2] == "bare" and back[2].sequence is None


def test_concurrent_appends_never_conflict_and_a_fold_records_them_all(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))

    def put(n: int) -> str:
        return inbox.append(lake, [version(1, f"t{n:02d}")], writer=f"w{n % 2}")

    all_at_once(put, range(16))
    assert len(inbox.pending_blobs(lake)) == 16

    done = inbox.fold(lake)
    assert len(done.blobs) == 16 and done.changes == 16
    assert sorted(done.report.pending) == [f"t{n:02d}" for n in range(16)]
    assert sorted(talk_rows(lake=lake).talk_id) == [f"t{n:02d}" for n in range(16)]
    assert inbox.pending_blobs(lake) == []
    assert inbox.fold(lake).blobs == []  # nothing left


@pytest.mark.parametrize("stamped", [True, False])
def test_a_fold_applies_source_order_then_arrival_order(tmp_path, stamped: bool) -> None:
    lake = Lake(str(tmp_path / "lake"))
    if stamped:  # v3 arrives first, v2 after it: the source's order wins, v3 stays
        inbox.append(lake, [version(3)], writer="a")
        inbox.append(lake, [version(2)], writer="b")
        winner = version(3)
    else:  # no source order: the blob that arrived last wins
        inbox.append(lake, [version(2, stamped=False)], writer="a")
        inbox.append(lake, [version(3, stamped=False)], writer="b")
        winner = version(3, stamped=False)
    inbox.fold(lake)
    rows = talk_rows(lake=lake)
    assert list(rows.title) == [winner.title]
    assert ledger(lake) == {winner.content_hash}


def test_an_older_version_folded_after_a_newer_one_is_stale(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    inbox.append(lake, [version(3)], writer="a")
    inbox.fold(lake)
    inbox.append(lake, [version(2)], writer="b")
    done = inbox.fold(lake)
    assert done.report.stale == ["t"] and done.report.pending == []
    assert list(talk_rows(lake=lake).title) == ["version 3"]
    assert ledger(lake) == {version(3).content_hash}


class CrashingDeletes(Lake):
    """A real lake whose blob deletes fail: a folder that died between commit and delete."""

    def delete_blob(self, path: str) -> None:
        raise OSError("the folder died here")


def test_a_fold_that_died_before_its_deletes_records_nothing_twice(tmp_path) -> None:
    url = str(tmp_path / "lake")
    inbox.append(Lake(url), [version(1, "a"), version(1, "b")], writer="w")
    with pytest.raises(OSError):
        inbox.fold(CrashingDeletes(url))
    lake = Lake(url)
    first = talk_rows(lake=lake, columns=["talk_id", "revision"]).sort_values("talk_id")
    assert list(first.talk_id) == ["a", "b"] and list(first.revision) == [1, 1]
    # A newer edit of `a` arrives before the blob is folded again: the second fold takes both
    # blobs, in key order, so the old blob cannot undo the edit.
    inbox.append(lake, [version(2, "a", stamped=False)], writer="w")
    again = inbox.fold(lake)
    assert len(again.blobs) == 2
    assert again.report.unchanged == ["b"] and again.report.updated == ["a"]
    rows = talk_rows(lake=lake, columns=["talk_id", "title", "revision"]).sort_values("talk_id")
    assert list(rows.title) == ["version 2", "version 1"] and list(rows.revision) == [2, 1]
    assert ledger(lake, "a") == {version(2, "a", stamped=False).content_hash}
    assert inbox.pending_blobs(lake) == []


def test_an_unreadable_blob_is_set_aside_and_the_rest_is_folded(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.create_blob("inbox/00000000000000000001-bad-x.jsonl", b'{"talk": {"title": ""}}\n')
    inbox.append(lake, [version(1)], writer="w")
    done = inbox.fold(lake)
    assert done.report.new == ["t"]
    assert inbox.pending_blobs(lake) == []
    assert lake.list_blobs(inbox.DEAD_PREFIX) == [
        f"{inbox.DEAD_PREFIX}/00000000000000000001-bad-x.jsonl"
    ]


def test_one_fold_lease_holder_at_a_time_and_a_dead_one_is_taken_over(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    leases = [inbox.FoldLease(lake, holder=f"p{n}", ttl_s=0.5) for n in range(8)]
    took = all_at_once(inbox.FoldLease.acquire, leases)
    got = [lease.holder for lease, acquired in zip(leases, took, strict=True) if acquired]
    assert len(got) == 1
    holder = next(lease for lease in leases if lease.holder == got[0])
    other = next(lease for lease in leases if lease.holder != got[0])
    assert holder.acquire(), "the holder renews"
    assert not other.acquire(), "a running lease is not taken"
    threading.Event().wait(0.6)  # the holder dies: its lease runs out
    assert other.acquire()
    assert not holder.acquire()
    other.release()
    assert holder.acquire(), "a released lease is free at once"


@pytest.mark.timeout(300)
def test_the_inbox_on_an_s3_lake() -> None:
    """The same protocol on S3 (moto over HTTP): exclusive creates are conditional puts."""
    from tests.moto_server import moto_server
    from tests.podium.lake.conftest import s3_lake

    with moto_server() as endpoint:
        lake = s3_lake(endpoint)

        def put(n: int) -> str:
            return inbox.append(lake, [version(n % 3 + 1, f"t{n % 4}")], writer=f"w{n % 2}")

        all_at_once(put, range(8))
        assert len(inbox.pending_blobs(lake)) == 8
        done = inbox.fold(lake)
        assert len(done.blobs) == 8 and inbox.pending_blobs(lake) == []
        rows = talk_rows(lake=lake, columns=["talk_id", "title"]).sort_values("talk_id")
        # Per talk the newest version by updated_at among those appended, whatever the order.
        newest = {f"t{k}": max(n % 3 + 1 for n in range(8) if n % 4 == k) for k in range(4)}
        assert dict(zip(rows.talk_id, rows.title, strict=True)) == {
            k: f"version {v}" for k, v in newest.items()
        }
        for talk_id, n in newest.items():
            assert ledger(lake, talk_id) == {version(n, talk_id).content_hash}
        leases = [inbox.FoldLease(lake, holder=f"p{n}", ttl_s=30) for n in range(4)]
        assert sum(lease.acquire() for lease in leases) == 1
