"""Write Podium's results back into the directory's DynamoDB table (`podium.dynamodb.sink`),
with the table's client from the resources."""

from __future__ import annotations

from podium.dynamodb.sink import SinkReport, write_back
from podium.resources import Resources


def write_dynamodb(
    resources: Resources,
    *,
    talk_ids: list[str] | None = None,
    event_ids: list[str] | None = None,
    full: bool = False,
) -> SinkReport:
    """Tags onto talk items, tag items, exact counters and recommendation items.

    Args:
        resources: lake, settings (`dynamodb`), the DynamoDB client, step runner.
        talk_ids: talks to write; all when None (unchanged items cost a read, no write).
        event_ids: events whose recommendations to write; all when None.
        full: compare everything with the table, not only what changed since the last write.
    """
    return resources.step(
        "write-dynamodb",
        lambda: write_back(
            lake=resources.lake,
            client=resources.dynamodb(),
            settings=resources.settings.dynamodb,
            talk_ids=talk_ids,
            event_ids=event_ids,
            full=full,
        ),
    )
