"""Where each external source got to (`source_checkpoints`): one row per (source, key).

A pretalx event keeps one row per submission code (its position: the `updated` stamp last
imported), a DynamoDB stream one row per shard (the last sequence number taken). A checkpoint
is saved only after what it covers is recorded in the lake; recording is idempotent, so a
crash between the two re-reads a little and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from podium.lake import Lake, sql_list

TABLE = "source_checkpoints"


def load_checkpoints(*, lake: Lake, source: str) -> dict[str, str]:
    """Every key's checkpoint value of `source` (empty when it never ran)."""
    frame = lake.read(TABLE, columns=["key", "position"], where=[("source", "=", source)])
    return dict(zip(frame.key, frame.position, strict=True))


def save_checkpoints(*, lake: Lake, source: str, values: dict[str, str]) -> int:
    """Upsert checkpoint values of `source`; returns how many rows changed."""
    if not values:
        return 0
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        [{"source": source, "key": k, "position": v, "updated_at": now} for k, v in values.items()]
    )
    return lake.upsert(TABLE, frame, changed_when="t.position != s.position").changed


def drop_checkpoints(*, lake: Lake, source: str, keys: list[str]) -> int:
    """Forget keys of `source` (a submission deleted at the source, a trimmed shard)."""
    if not keys:
        return 0
    predicate = f"source = {sql_list([source])[1:-1]} AND key IN {sql_list(keys)}"
    return lake.delete(TABLE, predicate=predicate)
