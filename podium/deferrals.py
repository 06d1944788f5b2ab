"""The deferral log (`deferred_events`): one row per event the gateway could not hand to Prefect.

A deferred event loses nothing (its talks are pending in the ledger, and a warm executor's
ledger check takes them within seconds), but a run of them means Prefect is unreachable from
the gateway. The log is what `podium status` and the maintenance flow's status artifact count
("deferred events in the last hour"): a counter in one gateway replica's memory would be lost
with it and would miss the other replicas. Rows are only appended, and only while Prefect
refuses events, so the log costs nothing in normal operation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from podium.lake import Lake

TABLE = "deferred_events"


def record_deferred(
    *, lake: Lake, events: list[dict[str, object]], source: str, reason: str, at: datetime
) -> None:
    """Append one row per deferred event (as `podium.events.make_event` built it)."""
    rows = [
        {
            "event_id": str(e["id"]),
            "event": str(e["event"]),
            "source": source,
            "talks": len(_payload(e).get("talk_ids") or []),
            "reason": reason[:500],
            "deferred_at": at,
        }
        for e in events
    ]
    if rows:
        lake.append(TABLE, pd.DataFrame(rows))


def _payload(event: dict[str, object]) -> dict[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, dict) else {}


def since(*, lake: Lake, since: datetime) -> pd.DataFrame:
    """Deferrals at or after `since`, oldest first."""
    rows = lake.read(TABLE)  # small: rows only while Prefect refuses; compacted by maintenance
    if rows.empty:
        return rows
    return rows[rows.deferred_at >= pd.Timestamp(since)].sort_values("deferred_at")
