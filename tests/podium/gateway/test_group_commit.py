"""Group commit over a real Delta lake in a temp folder, with real threads. Nothing faked."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from podium.gateway.group_commit import GroupCommitter
from podium.lake import Lake
from podium.models import Talk


def test_concurrent_requests_share_writes_and_get_their_own_reports(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    committer = GroupCommitter(lake)
    talks = [Talk(talk_id=f"t{i:02d}", title=f"Talk {i}") for i in range(24)]
    start = threading.Barrier(8)

    def submit(chunk: list[Talk]):  # noqa: ANN202
        start.wait()
        return [committer.record(talks=[t], removed=[]) for t in chunk]

    chunks = [talks[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        reports = [r for rs in pool.map(submit, chunks) for r in rs]

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
