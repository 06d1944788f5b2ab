"""Every Prefect event Podium emits or listens for: its name, its resource and its payload.

One place names them, so the emitters, the triggers in `prefect.yaml` and the flows' parameters
cannot drift apart: `tests/deployments/test_prefect_yaml.py` checks every trigger against this
catalog (its name, resource pattern and each `{{ event.payload.… }}` it passes on).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Trigger payloads are copied into flow-run parameters: an unbounded id list would make every
# run's parameters (and the event itself) grow with the burst. Consumers re-read the lake.
MAX_IDS_PER_EVENT = 1000


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TalkIdsPayload(_Payload):
    talk_ids: list[str] = Field(max_length=MAX_IDS_PER_EVENT, description="talks concerned")
    count: int | None = Field(default=None, description="all talks concerned (ids may be capped)")
    source: str | None = Field(default=None, description="where the talks came from")
    truncated: bool | None = Field(default=None, description="whether talk_ids was capped")
    traceparent: str | None = Field(
        default=None, description="W3C trace context of the request that recorded the talks"
    )


class TagsAggregatedPayload(_Payload):
    mode: str = Field(description="incremental or full recount")
    talks_changed: int = Field(description="talks whose tags changed the counts")
    event_ids: list[str] | None = Field(description="events whose talks changed; None: all")


class EventIdsPayload(_Payload):
    event_ids: list[str] = Field(description="events whose name, description or tags changed")


class PushPayload(_Payload):
    # The push itself (podium.review.models.PushEvent) is the payload; its model owns the fields.
    model_config = ConfigDict(extra="allow")


class ReviewDecidedPayload(_Payload):
    repo: str
    ref: str
    before: str | None
    after: str
    status: str
    decided_by: str | None
    decided_at: str | None = None
    comment: str | None
    flow_run_id: str | None


@dataclass(frozen=True)
class EventSpec:
    """An event: its name, the resource id it is about (`*` stands for an id) and its payload."""

    name: str
    resource: str
    payload: type[BaseModel]
    description: str

    def resource_matches(self, pattern: str) -> bool:
        """Whether a trigger's `prefect.resource.id` pattern selects this event's resource."""
        example = self.resource.replace("*", "example-id")
        return fnmatch.fnmatchcase(example, pattern)

    def payload_fields(self) -> set[str]:
        return set(self.payload.model_fields)

    def validate(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.payload.model_validate(payload).model_dump(mode="json", exclude_none=False)


TALK_SUBMITTED = EventSpec(
    "podium.talk.submitted", "podium.talk.*", TalkIdsPayload, "the gateway recorded talks"
)
TALK_REMOVED = EventSpec(
    "podium.talk.removed", "podium.talks", TalkIdsPayload, "talks were deleted at the source"
)
TALK_INGESTED = EventSpec(
    "podium.talk.ingested", "podium.talks", TalkIdsPayload, "talks wait for enrichment"
)
TALK_TAGGED = EventSpec("podium.talk.tagged", "podium.talks", TalkIdsPayload, "talks were tagged")
TAGS_AGGREGATED = EventSpec(
    "podium.tags.aggregated", "podium.tags", TagsAggregatedPayload, "tag counts changed"
)
EVENT_UPDATED = EventSpec(
    "podium.event.updated", "podium.events", EventIdsPayload, "conference events changed"
)
GIT_PUSH = EventSpec("podium.git.push", "podium.repo.*", PushPayload, "a watched repo was pushed")
REVIEW_DECIDED = EventSpec(
    "podium.review.decided", "podium.repo.*", ReviewDecidedPayload, "a reviewer decided"
)

CATALOG: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        TALK_SUBMITTED,
        TALK_REMOVED,
        TALK_INGESTED,
        TALK_TAGGED,
        TAGS_AGGREGATED,
        EVENT_UPDATED,
        GIT_PUSH,
        REVIEW_DECIDED,
    )
}
