"""Keep tag counts current after enrichment, then say which events' recommendations to rebuild.

The counting itself (exactly once, incremental from the Delta logs) is `podium.tag_counts`;
this is the loop around it that the `aggregate-tags` flow and tests run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from podium import enrichment, event_catalog, metrics
from podium.lake import Lake
from podium.resources import Resources
from podium.tag_counts import (
    TagCountRun,
    affected_event_ids,
    read_tag_counts,
    recompute_tag_counts,
    update_tag_counts,
)

log = logging.getLogger(__name__)


@dataclass
class AggregateOutcome:
    """One aggregation: the count run and the events it affected (None: all of them)."""

    run: TagCountRun
    event_ids: list[str] | None

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.run.mode,
            "talks_changed": self.run.talks_changed,
            "rows_written": self.run.rows_written,
            "rows_deleted": self.run.rows_deleted,
            "event_ids": self.event_ids,
        }


def aggregate(
    resources: Resources,
    *,
    talk_ids: list[str] | None = None,
    full: bool = False,
    logger: Any = log,
) -> AggregateOutcome:
    """Update `tag_counts` (overall, per event, per state) and emit `podium.tags.aggregated`.

    Args:
        resources: lake, event sink, step runner.
        talk_ids: talks known to have changed; the Delta logs add any others since the last
            run, so an incomplete list (a debounced trigger's last event) is still correct.
        full: recount everything from scratch instead.

    The event names the affected events (None: all) and is emitted only when some may have
    changed; it triggers build-recommendations.
    """
    lake = resources.lake

    def count() -> TagCountRun:
        if full:
            return recompute_tag_counts(lake=lake)
        return update_tag_counts(lake=lake, talk_ids=talk_ids)

    run = resources.step("count-tags", count)
    if talk_ids:
        observe_counted(resources.lake, talk_ids)
    affected = resources.step(
        "find-affected-events", lambda: affected_event_ids(lake=lake, run=run)
    )
    outcome = AggregateOutcome(run=run, event_ids=affected)
    if affected is None or affected:
        resources.events.emit(
            event_catalog.TAGS_AGGREGATED,
            payload={"mode": run.mode, "talks_changed": run.talks_changed, "event_ids": affected},
        )
    logger.info("tag counts: %s", outcome.summary())
    return outcome


def observe_counted(lake: Lake, talk_ids: list[str]) -> None:
    """Stage latency `counted`: from each named talk's tagging (its ledger row done) to now."""
    done = enrichment.state_rows(
        lake=lake,
        talk_ids=list(dict.fromkeys(talk_ids))[:1000],
        columns=["talk_id", "updated_at"],
        stage="tags",
        statuses=["done"],
    )
    latency = metrics.STAGE_SECONDS.labels("counted")
    for tagged_at in done.updated_at:
        metrics.observe_since(latency, tagged_at)


def top_tags(resources: Resources, *, limit: int = 50) -> list[dict[str, Any]]:
    """The most used tags overall, as table rows."""
    top = read_tag_counts(lake=resources.lake).head(limit)
    return [{"tag": t, "talks": int(n)} for t, n in zip(top["tag"], top["talks"], strict=True)]
