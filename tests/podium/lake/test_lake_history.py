"""A table's history on S3 stays cheap to open and MERGE into: checkpoints and compaction.

Real: the session's moto server over HTTP (conftest), delta-rs committing with conditional
puts, and for the race separate writer processes that build their lake from `PODIUM_LAKE__*`
like the gateway and the flows do. Checked: a new table and an existing one (created before
the setting, with delta-rs's default interval) get `delta.checkpointInterval` and checkpoints;
a MERGE that leaves too many data files compacts the table; compactions racing MERGEs of
other processes lose no row and no update.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest
from deltalake import DeltaTable

from podium.lake import Lake
from podium.lake.store import CHECKPOINT_INTERVAL, COMPACTION
from tests.podium.lake.conftest import s3_bucket, s3_lake

TABLE = "enrichment_state"


def _rows(ids: list[str], attempts: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "talk_id": ids,
            "stage": "tags",
            "content_hash": "h",
            "status": "pending",
            "attempts": attempts,
            "error": None,
            "updated_at": datetime.now(UTC),
            "claimed_by": None,
            "lease_until": pd.NaT,
            "talk_revision": 1,
        }
    )


def _checkpoints(lake: Lake) -> list[str]:
    log = lake.list_blobs(f"tables/{TABLE}/_delta_log")
    return [p for p in log if p.endswith(".checkpoint.parquet")]


def _files(lake: Lake) -> int:
    return len(DeltaTable(lake.table_uri(TABLE), storage_options=lake.storage_options).file_uris())


def test_a_new_table_is_checkpointed_every_few_commits(moto_s3: str) -> None:
    lake = s3_lake(moto_s3)  # the default settings: an interval of 10
    assert lake.checkpoint_interval == 10
    for n in range(11):
        lake.upsert(TABLE, _rows([f"t{n}"]))
    table = DeltaTable(lake.table_uri(TABLE), storage_options=lake.storage_options)
    assert table.metadata().configuration.get(CHECKPOINT_INTERVAL) == "10"
    assert _checkpoints(lake), "no checkpoint after 11 commits"
    assert lake.blob_exists(f"tables/{TABLE}/_delta_log/_last_checkpoint")


def test_an_existing_table_gets_the_interval_and_a_checkpoint_when_opened(moto_s3: str) -> None:
    new = s3_lake(moto_s3)
    old = Lake(new.url, new.storage_options, new.fs_options, checkpoint_interval=0)
    for n in range(12):
        old.upsert(TABLE, _rows([f"t{n}"]))
    before = DeltaTable(old.table_uri(TABLE), storage_options=old.storage_options)
    assert CHECKPOINT_INTERVAL not in before.metadata().configuration
    assert not _checkpoints(old)  # delta-rs's default: a checkpoint every 100 commits

    version = new.version(TABLE)  # the first open by a process with the setting
    table = DeltaTable(new.table_uri(TABLE), storage_options=new.storage_options)
    assert table.metadata().configuration.get(CHECKPOINT_INTERVAL) == "10"
    assert f"tables/{TABLE}/_delta_log/{version:020d}.checkpoint.parquet" in _checkpoints(new)
    assert len(new.read(TABLE)) == 12


def test_a_merge_leaving_many_files_compacts_the_table(moto_s3: str) -> None:
    base = s3_lake(moto_s3)
    tuned = Lake(base.url, base.storage_options, base.fs_options, compact_after_files=4)
    for n in range(10):
        tuned.upsert(TABLE, _rows([f"t{n}"]))  # inserts only: a new file each
        assert _files(tuned) <= 5
    assert sorted(tuned.read(TABLE).talk_id) == sorted(f"t{n}" for n in range(10))

    other = s3_lake(moto_s3)
    untuned = Lake(other.url, other.storage_options, other.fs_options, compact_after_files=0)
    for n in range(10):
        untuned.upsert(TABLE, _rows([f"t{n}"]))
    assert _files(untuned) == 10  # without it the files pile up until the nightly compaction


_WRITER = r"""
import sys
import time
from datetime import UTC, datetime
import pandas as pd
from podium.lake import Lake
from podium.settings import Settings
from tests.podium.lake.test_lake_history import TABLE, _rows

writer, writes = sys.argv[1], int(sys.argv[2])
lake = Lake.from_settings(Settings())
while not lake.blob_exists("compactor-ready"):  # race it from the first write on
    time.sleep(0.1)
for n in range(writes):
    # A new row of its own each time, and the writer's first row updated to attempts = n.
    lake.upsert(TABLE, _rows([f"{writer}-{n}"], attempts=n) if n == 0 else pd.concat(
        [_rows([f"{writer}-{n}"]), _rows([f"{writer}-0"], attempts=n)], ignore_index=True))
    # MERGEs of different talks no longer conflict (each reads only its talks' files): a
    # pause between writes leaves the compactions a window to commit in.
    time.sleep(0.5)
print("done")
"""

_COMPACTOR = r"""
import time
from podium.lake import Lake
from podium.settings import Settings
from tests.podium.lake.test_lake_history import TABLE

lake = Lake.from_settings(Settings())
lake.put_blob("compactor-ready", b"")
won = lost = 0
deadline = time.monotonic() + 120
while not lake.blob_exists("writers-done") and time.monotonic() < deadline:
    table = lake._table(TABLE)
    if table is None:
        time.sleep(0.2)
        continue
    if len(table.file_uris()) < 2:
        continue
    if lake._rewrite(TABLE, table):  # what `maintenance` (Lake.compact) does, once
        won += 1
    else:
        lost += 1
print(f"won {won} lost {lost}")
"""


@pytest.mark.timeout(300)
def test_compactions_racing_merges_of_other_processes_lose_nothing(moto_s3: str) -> None:
    bucket = s3_bucket(moto_s3)
    env = {
        **os.environ,
        "PODIUM_LAKE__URL": f"s3://{bucket}/lake",
        "PODIUM_LAKE__S3_ENDPOINT_URL": moto_s3,
        "PODIUM_LAKE__S3_ACCESS_KEY_ID": "testing",
        "PODIUM_LAKE__S3_SECRET_ACCESS_KEY": "testing",
        # Every MERGE that leaves more than 2 files compacts: writers race each other's
        # compactions, and a process compacting on its own races them all.
        "PODIUM_LAKE__COMPACT_AFTER_FILES": "2",
    }
    writers, writes = [f"w{uuid.uuid4().hex[:4]}{i}" for i in range(3)], 10
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script, args in [(_WRITER, (w, str(writes))) for w in writers] + [(_COMPACTOR, ())]
    ]
    outputs = [p.communicate(timeout=240) for p in processes[:-1]]
    lake = Lake(
        f"s3://{bucket}/lake", s3_lake(moto_s3).storage_options, s3_lake(moto_s3).fs_options
    )
    lake.put_blob("writers-done", b"")  # the compactor stops
    outputs.append(processes[-1].communicate(timeout=240))
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    print("compactor:", outputs[-1][0].strip())

    rows = lake.read(TABLE).set_index("talk_id")
    expected = {f"{w}-{n}" for w in writers for n in range(writes)}
    assert set(rows.index) == expected, f"lost: {sorted(expected - set(rows.index))}"
    assert len(rows) == len(expected), "a row is there twice"
    for writer in writers:  # every update kept: the last one wins, none undone by a compaction
        assert rows.loc[f"{writer}-0", "attempts"] == writes - 1
    table = DeltaTable(lake.table_uri(TABLE), storage_options=lake.storage_options)
    history = table.history()
    operations = [entry["operation"] for entry in history]
    compactions = [e for e in history if e.get(COMPACTION) == "true"]
    # Compactions did commit among the MERGEs. (Since MERGEs of different talks stopped
    # conflicting, a compaction wins only a quiet moment: one or two here.)
    assert len(compactions) >= 1, operations
    assert operations.count("MERGE") >= len(writers) * writes


def test_a_compaction_changes_no_key_and_a_merge_changes_only_its_rows(tmp_path) -> None:
    from podium.lake.versions import changed_keys

    lake = Lake(str(tmp_path / "lake"), compact_after_files=0)
    lake.upsert(TABLE, _rows(["a", "b", "c"]))  # one file holding three talks
    for n in range(3):
        lake.upsert(TABLE, _rows([f"t{n}"]))
    start = lake.version(TABLE)

    lake.compact(TABLE)  # every file rewritten, no row changed
    compacted = lake.version(TABLE)
    assert compacted > start and _files(lake) == 1
    assert changed_keys(lake, TABLE, start, compacted) == set()

    # A MERGE rewrites the whole file that holds "a"; only "a"'s row changed.
    lake.upsert(TABLE, _rows(["a"], attempts=1))
    changed = lake.version(TABLE)
    assert changed_keys(lake, TABLE, compacted, changed) == {"a"}
    assert changed_keys(lake, TABLE, start, changed) == {"a"}  # across the compaction
    assert changed_keys(lake, TABLE, None, changed) == {"a", "b", "c", "t0", "t1", "t2"}
