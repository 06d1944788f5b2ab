"""A MERGE reads only the data files whose key statistics can hold the keys it writes.

Real: Delta tables written by delta-rs (a local folder, and the session's moto S3 over HTTP for
the race), compacted by `Lake.compact` into files sorted by key. Checked: a MERGE of one talk
into a table of many files reads one or two of them where an unpruned MERGE reads them all, and
both leave the same rows; the filter for many keys becomes their range; two MERGEs of different
talks from the same version both commit, while two of the same talk still conflict.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from podium.lake import Lake
from tests.podium.lake.conftest import s3_lake
from tests.podium.lake.test_lake_history import TABLE, _rows


def _filled(path: Path, *, prune: bool, ids: list[str]) -> Lake:
    # Small files (16 KiB of rows in memory each) so that 8,000 ledger rows span many.
    lake = Lake(str(path), compact_after_files=0, prune_merges=prune, compact_file_bytes=2**14)
    for part in range(4):
        lake.upsert(TABLE, _rows(ids[part::4]))
    lake.compact(TABLE)
    return lake


def _data_files(lake: Lake) -> int:
    return len(DeltaTable(lake.table_uri(TABLE)).file_uris())


def test_a_merge_of_one_talk_reads_one_or_two_files_of_many(tmp_path: Path) -> None:
    ids = [uuid.uuid4().hex for _ in range(8000)]
    pruned = _filled(tmp_path / "pruned", prune=True, ids=ids)
    plain = _filled(tmp_path / "plain", prune=False, ids=ids)
    files = _data_files(pruned)
    assert files >= 4, files

    update = _rows([ids[1234]], attempts=7)
    stats = pruned.upsert(TABLE, update)
    assert stats.updated == 1 and stats.files_scanned <= 2, stats
    assert stats.files_skipped >= files - 2, stats
    baseline = plain.upsert(TABLE, update)
    assert baseline.updated == 1 and baseline.files_scanned == files, baseline

    new = _rows(["a-new-talk"])
    assert pruned.upsert(TABLE, new).files_scanned <= 2
    assert plain.upsert(TABLE, new).inserted == 1

    def rows(lake: Lake) -> pd.DataFrame:
        frame = lake.read(TABLE, columns=["talk_id", "attempts"])
        return frame.sort_values("talk_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(pruned), rows(plain))
    assert rows(pruned).set_index("talk_id").loc[ids[1234], "attempts"] == 7


def test_the_filter_names_a_few_keys_and_bounds_many(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    few = pa.table({"talk_id": ["b", "a", "b"]})
    assert lake._key_filter("talk_id", few) == " AND t.talk_id IN ('a', 'b')"
    many = pa.table({"talk_id": [f"k{n:03d}" for n in range(50)]})
    assert lake._key_filter("talk_id", many) == " AND t.talk_id >= 'k000' AND t.talk_id <= 'k049'"
    quoted = pa.table({"talk_id": ["o'neil"]})
    assert lake._key_filter("talk_id", quoted) == " AND t.talk_id IN ('o''neil')"
    assert lake._key_filter("talk_id", pa.table({"talk_id": ["a", None]})) == ""
    assert lake._key_filter("talk_id", pa.table({"other": ["a"]})) == ""
    assert Lake(str(tmp_path), prune_merges=False)._key_filter("talk_id", few) == ""


def test_merges_from_one_version_conflict_only_on_the_same_talk(moto_s3: str) -> None:
    """Two MERGEs with the filter, each on a table opened at the same version, committed one
    after the other: of different talks in different files, both commit (two talks of one
    file still conflict: a MERGE rewrites the whole file); of the same talk, the second fails its
    commit (and `Lake.retrying` would run it again on the winner's row, as
    tests/podium/lake/test_concurrent_writers.py checks across processes)."""
    lake = s3_lake(moto_s3)
    for talk in ["t-1", "t-2", "t-3"]:
        lake.upsert(TABLE, _rows([talk]))  # a file each
    uri, options = lake.table_uri(TABLE), lake.storage_options

    def merge(table: DeltaTable, talk: str) -> None:
        source = lake.arrow(TABLE, _rows([talk], attempts=1))
        on = "t.talk_id = s.talk_id AND t.stage = s.stage" + lake._key_filter("talk_id", source)
        merger = table.merge(source, predicate=on, source_alias="s", target_alias="t")
        merger.when_matched_update_all().when_not_matched_insert_all().execute()

    for first, second, conflict in [
        ("t-1", "t-2", False),  # two existing talks in different files
        ("t-new-1", "t-new-2", False),  # two new talks
        ("t-3", "t-3", True),
        ("t-new-3", "t-new-3", True),  # both would insert it: one must lose
    ]:
        a, b = DeltaTable(uri, storage_options=options), DeltaTable(uri, storage_options=options)
        merge(a, first)
        if conflict:
            with pytest.raises(CommitFailedError):
                merge(b, second)
        else:
            merge(b, second)
    rows = lake.read(TABLE)
    assert not rows.talk_id.duplicated().any()
    assert set(rows.talk_id) == {"t-1", "t-2", "t-3", "t-new-1", "t-new-2", "t-new-3"}
    assert set(rows.attempts) == {1}
