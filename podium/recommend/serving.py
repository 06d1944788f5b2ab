"""Read one event's precomputed recommendations: no model, no scan of the talks.

The recommendations table is written sorted by event in small row groups, so a lookup is a
point read through the lake's `KeyedReader` (usually one row group). The public route adds one
filtered read of the talks it names, to serve only talks in a public state.
"""

from __future__ import annotations

import json
from collections.abc import Collection

import pandas as pd

from podium.errors import UserError
from podium.ingest import event_rows, talk_rows
from podium.lake import Lake
from podium.lake.recommendations import read_event_recommendations


class RecommendationError(UserError, LookupError):
    """Base class of lookup errors; `str()` is a one-line message for people."""


class UnknownEventError(RecommendationError):
    """The event id is not in the `events` table."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"unknown event {event_id!r}")
        self.event_id = event_id


class RecommendationsNotBuiltError(RecommendationError):
    """The event exists but has no recommendation table yet."""

    def __init__(self, event_id: str, *, table_missing: bool) -> None:
        reason = (
            "no recommendations have been built yet"
            if table_missing
            else (f"recommendations for event {event_id!r} are not built yet")
        )
        super().__init__(f"{reason}; run the build-recommendations flow")
        self.event_id = event_id
        self.table_missing = table_missing


COLUMNS = ["rank", "talk_id", "score", "matched_tags", "components", "model_version", "computed_at"]


def lookup_recommendations(
    *,
    lake: Lake,
    event_id: str,
    max_staleness_s: float = 1.0,
    states: Collection[str] | None = None,
) -> pd.DataFrame:
    """The event's recommendations, best first.

    Args:
        lake: the lake.
        event_id: the event.
        max_staleness_s: look for a newer table version at most this often (a listing of
            the Delta log; on S3 a request). 0 looks every time.
        states: serve only talks now in one of these states (one filtered read of `talks`),
            ranked 1, 2, … again; None serves every recommended talk as built.

    Returns:
        Columns rank, talk_id, score, matched_tags (list), components (dict), model_version,
        computed_at.

    Raises:
        UnknownEventError: no such event.
        RecommendationsNotBuiltError: the event exists but its table is not built yet.
    """
    found = read_event_recommendations(
        lake=lake, event_id=event_id, columns=COLUMNS, max_staleness_s=max_staleness_s
    )
    rows = found.to_pandas() if found is not None else pd.DataFrame()
    if rows.empty:
        known = event_rows(lake=lake, columns=["event_id"], event_ids=[event_id])
        if known.empty:
            raise UnknownEventError(event_id)
        raise RecommendationsNotBuiltError(event_id, table_missing=found is None)
    rows = rows.sort_values("rank").reset_index(drop=True)
    if states is not None:
        rows = _in_states(lake, rows, set(states))
    rows["matched_tags"] = rows["matched_tags"].apply(lambda v: [str(t) for t in v])
    rows["components"] = rows["components"].apply(json.loads)
    return rows


def _in_states(lake: Lake, rows: pd.DataFrame, states: set[str]) -> pd.DataFrame:
    """The rows whose talk is now in `states` (a talk missing from `talks` is not served)."""
    current = talk_rows(lake=lake, columns=["talk_id", "state"], talk_ids=list(rows["talk_id"]))
    allowed = set(current.loc[current["state"].isin(states), "talk_id"])
    kept = rows[rows["talk_id"].isin(allowed)].reset_index(drop=True)
    kept["rank"] = range(1, len(kept) + 1)
    return kept
