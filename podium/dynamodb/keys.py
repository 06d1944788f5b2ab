"""The directory's keys of each talk item (`dynamodb_keys`), learnt from its stream.

Podium knows talks by id; the original table keys a talk item by the app's `pk` (often the
speaker's `USER#...`) and `sk` = `talk#<id>`, and its tag items share that `pk`. The stream
source records the keys it sees, the sink reads them back, discovering or creating the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from podium.lake import Lake

TABLE = "dynamodb_keys"


def save_keys(*, lake: Lake, table: str, keys: dict[str, tuple[str, str]]) -> int:
    """Record talk id -> (pk, sk) of `table`; returns how many rows changed."""
    if not keys:
        return 0
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        [
            {"table_name": table, "talk_id": talk_id, "pk": pk, "sk": sk, "updated_at": now}
            for talk_id, (pk, sk) in keys.items()
        ]
    )
    return lake.upsert(TABLE, frame, changed_when="t.pk != s.pk OR t.sk != s.sk").changed


def load_keys(
    *, lake: Lake, table: str, talk_ids: list[str] | None = None
) -> dict[str, tuple[str, str]]:
    """Known talk id -> (pk, sk) of `table` (of `talk_ids` only, when given)."""
    where: list = [("table_name", "=", table)]
    if talk_ids is not None:
        where.append(("talk_id", "in", talk_ids))
    frame = lake.read(TABLE, columns=["talk_id", "pk", "sk"], where=where)
    return {t: (p, s) for t, p, s in zip(frame.talk_id, frame.pk, frame.sk, strict=True)}
