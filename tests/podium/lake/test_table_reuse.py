"""Tables reused within a process, data files kept in memory: never stale, and cheaper on S3.

Real: a moto server over HTTP with its request log (the S3 requests each read makes are
counted from it), and another replica's commits made by a separate process that builds its
lake from `PODIUM_LAKE__*` like the gateway and the executors do. Checked: a table this
process opened before is brought to the version another process committed (rows, not a stale
snapshot) at a fraction of a fresh open's requests; reads through the file cache return what
reads without it return, filters with SQL's null meaning included, after MERGEs rewrote the
files the cache holds; a table opened at a version is reused as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from deltalake import DeltaTable

from podium.lake import Lake
from tests.moto_server import moto_server
from tests.podium.lake.conftest import s3_lake
from tests.podium.lake.test_lake_history import TABLE, _rows

_OTHER_REPLICA = r"""
import sys
import pandas as pd
from podium.lake import Lake
from podium.settings import Settings
from tests.podium.lake.test_lake_history import TABLE, _rows

lake = Lake.from_settings(Settings())
lake.upsert(TABLE, pd.concat([_rows(["b"]), _rows(["a"], attempts=5)], ignore_index=True))
print("done")
"""


@pytest.fixture
def logged_s3(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A moto server of this test's own, and the file its request log goes to."""
    log = tmp_path / "moto.log"
    with moto_server(log=log) as url:
        yield url, log


def _requests(log: Path, action: Callable[[], Any]) -> tuple[Any, int]:
    """What `action` returned, and how many S3 requests moto logged meanwhile."""
    time.sleep(0.3)  # the server has logged what came before
    before = len(re.findall(r'"(GET|PUT|HEAD|POST|DELETE) ', log.read_text()))
    result = action()
    time.sleep(0.3)
    return result, len(re.findall(r'"(GET|PUT|HEAD|POST|DELETE) ', log.read_text())) - before


def test_a_reused_table_sees_another_replicas_commit_for_a_fraction_of_the_requests(
    logged_s3: tuple[str, Path],
) -> None:
    url, log = logged_s3
    lake = s3_lake(url)
    assert lake.reuse_tables and lake.file_cache_bytes  # production's defaults
    for n in range(14):  # a checkpoint (every 10 commits) and a few commits after it
        lake.upsert(TABLE, _rows([f"t{n}"]))
    lake.upsert(TABLE, _rows(["a"]))
    assert lake.read(TABLE, where=[("talk_id", "=", "a")]).attempts.tolist() == [0]

    bucket = lake.url.split("://", 1)[1].split("/", 1)[0]
    env = {
        **os.environ,
        "PODIUM_LAKE__URL": f"s3://{bucket}/lake",
        "PODIUM_LAKE__S3_ENDPOINT_URL": url,
        "PODIUM_LAKE__S3_ACCESS_KEY_ID": "testing",
        "PODIUM_LAKE__S3_SECRET_ACCESS_KEY": "testing",
    }
    other = subprocess.run(
        [sys.executable, "-c", _OTHER_REPLICA], env=env, capture_output=True, text=True
    )
    assert other.returncode == 0, other.stderr[-3000:]

    def read() -> pd.DataFrame:
        return lake.read(TABLE, where=[("talk_id", "in", ["a", "b"])]).set_index("talk_id")

    rows, reused = _requests(log, read)
    assert rows.attempts.to_dict() == {"a": 5, "b": 0}, "the other replica's commit is seen"
    fresh = Lake(lake.url, lake.storage_options, lake.fs_options, reuse_tables=False)
    again, opened = _requests(log, lambda: fresh._release(TABLE, fresh._table(TABLE)))
    assert again is None
    print(f"requests: read with the reused table {reused}, a fresh open alone {opened}")
    assert opened >= 10  # the checkpoint in ranged GETs, and the commits after it
    assert reused < opened, "the reused table must cost less than a fresh open"


WHERES: list[list[tuple[str, str, Any]]] = [
    [("status", "in", ["pending"])],
    [("claimed_by", "!=", "c")],  # null is not "not c": SQL's meaning
    [("claimed_by", "not in", ["c"])],
    [("claimed_by", "=", "c")],
    [("attempts", "=", 1), ("talk_id", "in", ["x", "t1", "zz"])],
    [("attempts", ">=", 1)],
    [("talk_id", "in", [])],
]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_reads_through_the_file_cache_return_what_reads_without_it_return(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "local":
        cached = Lake(str(tmp_path / "lake"), file_cache_bytes=1 << 24)
    else:
        cached = s3_lake(request.getfixturevalue("moto_s3"))
    plain = Lake(cached.url, cached.storage_options, cached.fs_options, file_cache_bytes=0)
    assert cached.file_cache_bytes and not plain.file_cache_bytes

    def same() -> None:
        for where in WHERES:
            got = cached.read(TABLE, where=where).sort_values("talk_id", ignore_index=True)
            want = plain.read(TABLE, where=where).sort_values("talk_id", ignore_index=True)
            pd.testing.assert_frame_equal(got, want, obj=str(where))
        got = cached.read(TABLE, columns=["talk_id", "attempts"]).sort_values("talk_id")
        want = plain.read(TABLE, columns=["talk_id", "attempts"]).sort_values("talk_id")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))

    for n in range(3):
        rows = pd.concat([_rows([f"t{n}"]), _rows(["x"], attempts=n)], ignore_index=True)
        rows["claimed_by"] = ["c" if n == 0 else None, None]
        cached.upsert(TABLE, rows)
        same()
    # MERGEs that rewrite the files the cache holds: the removed files are never read again.
    cached.upsert(TABLE, _rows(["t0", "x"], attempts=7))
    same()
    assert cached.read(TABLE, where=[("talk_id", "=", "x")]).attempts.tolist() == [7]
    cached.compact(TABLE)
    same()


def test_a_table_opened_at_a_version_is_reused_as_it_is(tmp_path: Path) -> None:
    from podium.lake.versions import changed_keys

    lake = Lake(str(tmp_path / "lake"))
    lake.upsert(TABLE, _rows(["a", "b"]))
    first = lake.version(TABLE)
    assert first is not None
    lake.upsert(TABLE, _rows(["b"], attempts=1))
    table = lake.at_version(TABLE, first)
    assert table.version() == first
    lake.release_version(TABLE, table)
    assert lake.at_version(TABLE, first) is table  # no new open
    lake.release_version(TABLE, table)
    fresh = DeltaTable(lake.table_uri(TABLE), version=first).to_pyarrow_dataset().to_table()
    assert sorted(fresh.column("talk_id").to_pylist()) == ["a", "b"]
    assert changed_keys(lake, TABLE, first, lake.version(TABLE)) == {"b"}
    assert changed_keys(lake, TABLE, first, lake.version(TABLE)) == {"b"}  # reused: the same


def test_lake_objects_on_one_url_and_credentials_share_the_reuse(moto_s3: str) -> None:
    # Every Lake of a process (the gateway builds one per request) on the same URL and
    # credentials reuses the same tables; other credentials do not.
    lake = s3_lake(moto_s3)
    lake.upsert(TABLE, _rows(["a"]))
    twin = Lake(lake.url, dict(lake.storage_options), lake.fs_options)
    assert twin._pool_key(TABLE) == lake._pool_key(TABLE)
    other = Lake(lake.url, {**lake.storage_options, "AWS_ACCESS_KEY_ID": "x"}, lake.fs_options)
    assert other._pool_key(TABLE) != lake._pool_key(TABLE)
