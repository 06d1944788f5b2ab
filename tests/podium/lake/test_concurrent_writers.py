"""Several processes commit to the same Delta tables on S3 at once, with the default settings.

Real: a `moto_server` process over HTTP (conftest), writer processes that build their lake from
`PODIUM_LAKE__*` environment variables exactly as the gateway and the flows do, and delta-rs
committing with S3 conditional puts. Nothing is patched. Checked afterwards: every commit is in
the log (versions contiguous, one per write), every row of every writer is there, the
concurrently updated rows hold their last version by source order, and the table reads whole.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from deltalake import DeltaTable

from podium.lake import Lake
from podium.settings import LakeSettings, Settings
from tests.podium.lake.conftest import s3_bucket

WRITERS = 3
WRITES = 3

_WRITER = r"""
import sys
from datetime import UTC, datetime
from podium.recording import record_talks
from podium.lake import Lake
from podium.models import Talk
from podium.settings import Settings

writer, writes = int(sys.argv[1]), int(sys.argv[2])
lake = Lake.from_settings(Settings())
for n in range(writes):
    own = Talk(talk_id=f"w{writer}-{n}", title=f"writer {writer} talk {n}")
    # Every writer also edits one shared talk; the edit's place in source order is (n, writer).
    shared = Talk(
        talk_id="shared",
        title=f"edit {n}.{writer}",
        updated_at=datetime(2027, 1, 1, 0, n, writer, tzinfo=UTC),
    )
    record_talks(lake=lake, talks=[own, shared])
print("done")
"""


def _lake_kwargs(endpoint: str, bucket: str) -> dict[str, str]:
    """LakeSettings of a lake in `bucket` of the S3 at `endpoint`."""
    return {
        "url": f"s3://{bucket}/lake",
        "s3_endpoint_url": endpoint,
        "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing",
    }


def _settings(endpoint: str, bucket: str) -> dict[str, str]:
    """The same settings as the environment of a Podium process."""
    return {f"PODIUM_LAKE__{k.upper()}": v for k, v in _lake_kwargs(endpoint, bucket).items()}


def test_the_default_s3_settings_commit_conditionally() -> None:
    lake = Lake.from_settings(
        Settings(lake=LakeSettings(url="s3://bucket/lake", s3_endpoint_url="http://x"))
    )
    assert lake.storage_options.get("conditional_put") == "etag"
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in lake.storage_options
    unsafe = Lake.from_settings(
        Settings(lake=LakeSettings(url="s3://bucket/lake", s3_allow_unsafe_rename=True))
    )
    assert "conditional_put" not in unsafe.storage_options


@pytest.mark.timeout(300)
def test_concurrent_writer_processes_lose_no_commit(moto_s3: str) -> None:
    bucket = s3_bucket(moto_s3)
    env = {**os.environ, **_settings(moto_s3, bucket)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(w), str(WRITES)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0 and out.strip() == "done", err[-3000:]

    settings = Settings(lake=LakeSettings(**_lake_kwargs(moto_s3, bucket)))
    lake = Lake.from_settings(settings)
    talks = lake.read("talks").set_index("talk_id")
    own = {f"w{w}-{n}" for w in range(WRITERS) for n in range(WRITES)}
    assert own <= set(talks.index), f"lost: {sorted(own - set(talks.index))}"
    assert len(talks) == len(own) + 1
    # The last edit by source order, whichever process committed last.
    assert talks.loc["shared", "title"] == f"edit {WRITES - 1}.{WRITERS - 1}"

    table = DeltaTable(lake.table_uri("talks"), storage_options=lake.storage_options)
    history = table.history()
    versions = sorted(entry["version"] for entry in history)
    assert versions == list(range(table.version() + 1)), "a commit is missing from the log"
    # One commit per write that changed something: every writer's own talk is a change, so at
    # least WRITERS * WRITES commits, each found in the log (none overwritten by another).
    assert len(versions) >= WRITERS * WRITES
    assert table.to_pyarrow_table().num_rows == len(talks)
    ledger = lake.read("enrichment_state")
    assert own <= set(ledger.talk_id), "a ledger commit was lost"
