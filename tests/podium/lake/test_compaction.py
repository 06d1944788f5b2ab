"""Small files do not pile up in a long-lived process: the warm executor compacts a table that
holds more than `enrich.warm_compact_files` data files (each hot-path commit adds one, and every
read opens them all: memory and read time grew with the talks, the soak's leak).

Real: Delta tables on a local folder and on S3 (moto over HTTP), the executor's own method.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from deployments.warm_executor import WarmExecutor
from podium.lake import Lake
from podium.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _tags(i: int) -> pd.DataFrame:
    return pd.DataFrame(
        [{"talk_id": f"t-{i}", "tag": "python", "score": 0.9, "source": "model", "model": "m1",
          "content_hash": f"h-{i}", "tagged_at": NOW}]
    )  # fmt: skip


def test_a_fragmented_table_is_compacted_and_reads_the_same(lake: Lake) -> None:
    for i in range(6):
        lake.append("talk_tags", _tags(i))
    before = lake.read("talk_tags").sort_values("talk_id").reset_index(drop=True)
    assert lake.file_count("talk_tags") == 6
    assert lake.compact_if_fragmented("talk_tags", max_files=10) is None, "under the limit"
    assert lake.file_count("talk_tags") == 6
    assert lake.compact_if_fragmented("talk_tags", max_files=4) == 6
    assert lake.file_count("talk_tags") == 1
    after = lake.read("talk_tags").sort_values("talk_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert lake.compact_if_fragmented("talk_tags", max_files=4) is None
    assert lake.file_count("absent_table_is_zero") == 0


def test_the_executor_compacts_between_runs_at_most_every_check(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    lake = Lake(str(tmp_path / "lake"))
    for i in range(5):
        lake.append("talk_tags", _tags(i))
    settings = Settings(enrich={"warm_compact_files": 3, "warm_compact_check_s": 3600})
    executor = WarmExecutor(pool="p", queue="q")
    assert executor.compact_soon(settings, lake) == [], "not before one interval has passed"
    executor._last_compact -= 3600
    assert executor.compact_soon(settings, lake) == ["talk_tags"]
    assert lake.file_count("talk_tags") == 1
    executor._last_compact -= 3600
    executor.wake.set()  # an event arrived: the run goes first
    lake.append("talk_tags", _tags(9))
    for i in range(4):
        lake.append("talk_tags", _tags(10 + i))
    assert executor.compact_soon(settings, lake) == []
    off = Settings(enrich={"warm_compact_files": 0})
    executor.wake.clear()
    executor._last_compact -= 3600
    assert executor.compact_soon(off, lake) == [], "0 leaves it to maintenance"
    assert lake.file_count("talk_tags") == 6
