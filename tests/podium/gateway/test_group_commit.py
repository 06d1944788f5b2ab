"""Group commit over a real Delta lake in a temp folder, with real threads. Nothing faked."""

from __future__ import annotations

import threading

import pytest

from podium.gateway.group_commit import GroupCommitter
from podium.lake import Lake
from podium.models import Talk
from tests.together import all_at_once


def test_concurrent_requests_share_writes_and_get_their_own_reports(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    committer = GroupCommitter(lake)
    talks = [Talk(talk_id=f"t{i:02d}", title=f"Talk {i}") for i in range(24)]

    def submit(chunk: list[Talk]):  # noqa: ANN202
        return [committer.record(talks=[t], removed=[]) for t in chunk]

    chunks = [talks[i::8] for i in range(8)]
    reports = [r for rs in all_at_once(submit, chunks) for r in rs]

    assert sorted(i for r in reports for i in r.new) == [t.talk_id for t in talks]
    assert all(len(r.new) == 1 and r.pending == r.new for r in reports), "each its own share"
    assert set(lake.read("talks").talk_id) == {t.talk_id for t in talks}
    assert committer.writes < len(talks), "concurrent requests were folded together"


def test_a_failed_write_fails_every_request_of_the_batch(tmp_path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "tables").write_text("not a folder")  # the lake cannot be written
    committer = GroupCommitter(Lake(str(tmp_path / "lake")))
    with pytest.raises(Exception):  # noqa: B017 - whatever the lake raised reaches the caller
        committer.record(talks=[Talk(talk_id="t1", title="x")], removed=[])
    assert committer.writes == 0


def _one_batch(committer: GroupCommitter, requests: list[dict]) -> list:
    """Queue every request while the writer is busy, so one write records them all, in order."""
    results: list = [None] * len(requests)
    threads = []
    with committer._writer:  # a write in progress: the requests queue up behind it
        for index, request in enumerate(requests):

            def run(index: int = index, request: dict = request) -> None:
                try:
                    results[index] = committer.record(**request)
                except BaseException as error:  # noqa: BLE001 - handed to the assertions
                    results[index] = error

            thread = threading.Thread(target=run)
            thread.start()
            threads.append(thread)
            while len(committer._queue) < index + 1:  # keep arrival order deterministic
                threading.Event().wait(0.005)
    for thread in threads:
        thread.join(30)
    return results


def test_requests_folded_together_apply_in_source_order_not_arrival(tmp_path) -> None:
    from datetime import UTC, datetime

    lake = Lake(str(tmp_path / "lake"))
    committer = GroupCommitter(lake)
    newer = Talk(talk_id="t1", title="Newer", updated_at=datetime(2027, 1, 2, tzinfo=UTC))
    older = Talk(talk_id="t1", title="Older", updated_at=datetime(2027, 1, 1, tzinfo=UTC))
    # Unversioned: a removal then a re-submission of t2; arrival order decides.
    again = Talk(talk_id="t2", title="Again")
    reports = _one_batch(
        committer,
        [
            {"talks": [newer], "removed": []},
            {"talks": [older], "removed": ["t2"]},
            {"talks": [again], "removed": []},
        ],
    )
    assert committer.writes == 1
    rows = lake.read("talks").set_index("talk_id")
    assert rows.loc["t1", "title"] == "Newer"
    assert rows.loc["t2", "state"] == "submitted"
    assert reports[0].new == ["t1"] and reports[2].new == ["t2"]


class _InterruptedLake(Lake):
    """A real lake that gets Ctrl-C in the middle of recording."""

    def upsert(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise KeyboardInterrupt


def test_ctrl_c_in_the_writer_propagates_and_fails_the_others(tmp_path) -> None:
    committer = GroupCommitter(_InterruptedLake(str(tmp_path / "lake")))
    first, second = _one_batch(
        committer,
        [
            {"talks": [Talk(talk_id="a", title="A")], "removed": []},
            {"talks": [Talk(talk_id="b", title="B")], "removed": []},
        ],
    )
    # Whichever thread wrote re-raised the KeyboardInterrupt itself; the other learnt of it.
    kinds = sorted(type(r).__name__ for r in (first, second))
    assert kinds == ["KeyboardInterrupt", "RuntimeError"]


class _PoisonLake(Lake):
    """A real lake whose commit fails for any write that holds the talk `poison`: a record
    that breaks inside the commit (as comparing a naive with a zoned time once did), not in
    parsing."""

    def upsert(self, name, frame, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if name == "talks" and "poison" in set(frame.talk_id):
            raise TypeError("can't compare offset-naive and offset-aware datetimes")
        return super().upsert(name, frame, **kwargs)


def test_a_record_failing_inside_the_commit_fails_only_its_own_request(tmp_path) -> None:
    lake = _PoisonLake(str(tmp_path / "lake"))
    committer = GroupCommitter(lake)
    first, poisoned, last = _one_batch(
        committer,
        [
            {"talks": [Talk(talk_id="a", title="A")], "removed": []},
            {
                "talks": [Talk(talk_id="poison", title="P"), Talk(talk_id="c", title="C")],
                "removed": [],
            },  # fmt: skip
            {"talks": [Talk(talk_id="b", title="B")], "removed": ["gone"]},
        ],
    )
    assert isinstance(poisoned, TypeError), poisoned
    assert first.new == ["a"] and last.new == ["b"], "the neighbours are recorded"
    assert committer.isolated == 1
    assert set(lake.read("talks").talk_id) == {"a", "b", "gone"}
    # The innocent neighbours' ledger rows are there too: they will be enriched.
    assert set(lake.read("enrichment_state").talk_id) == {"a", "b"}
