"""The warm counts-and-recommendations flow: the record, in the UI, of the refreshes a warm
executor did in process (`podium.use_cases.derived.refresh`), seconds after talks were tagged.

Not a deployment, and not on the hot path: the executor's refresher commits counts and
recommendations first, then hands what it did to this flow (`deployments/warm_derived.py`),
one run for the refreshes since the last one, named by what they did (`counts and
recommendations · 12 talks counted, 3 events recommended`). Under a loaded Prefect server a
run's own bookkeeping takes seconds; done after the commit, it never delays counts. The
`aggregate-tags` and `build-recommendations` deployments remain the safety net; both paths
follow the lake, so either alone is complete.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.run_names import SEP

NAME = "counts and recommendations"


def name_refreshes(refreshes: list[dict[str, Any]]) -> str:
    """`counts and recommendations · 12 talks counted, 3 events recommended` (+ `(2 refreshes)`)."""
    talks = sum(int(r.get("talks_counted") or 0) for r in refreshes)
    every = any(r.get("event_ids") is None for r in refreshes)
    events = {e for r in refreshes for e in (r.get("event_ids") or [])}
    rebuilt = "every event" if every else f"{len(events)} event{'' if len(events) == 1 else 's'}"
    text = f"{talks} talk{'' if talks == 1 else 's'} counted, {rebuilt} recommended"
    if len(refreshes) > 1:
        text += f" ({len(refreshes)} refreshes)"
    return f"{NAME}{SEP}{text}"


def _run_name() -> str:
    from prefect.runtime import flow_run

    return name_refreshes(list((flow_run.parameters or {}).get("refreshes") or []))


@flow(
    name="counts-recommendations-warm",
    flow_run_name=_run_name,
    log_prints=False,
    persist_result=False,
)
def counts_recommendations_warm(refreshes: list[dict[str, Any]]) -> dict[str, Any]:
    """Record refreshes a warm executor did: each one's talks counted, events rebuilt, rows,
    attempts (more than 1: another process committed first) and seconds.

    Args:
        refreshes: `RefreshOutcome.summary()` of each, with `finished_at`.
    """
    logger = get_run_logger()
    for refresh in refreshes:
        logger.info("refreshed in process: %s", refresh)
    return {
        "refreshes": len(refreshes),
        "talks_counted": sum(int(r.get("talks_counted") or 0) for r in refreshes),
        "seconds": round(sum(float(r.get("seconds") or 0) for r in refreshes), 3),
    }
