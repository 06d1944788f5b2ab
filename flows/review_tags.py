"""The review-tags flow: an event's least certain model tags as a form in the Prefect UI.

The run pauses with one row per suggestion (accept, reject or skip), the organiser's name, a
reason and free lines to add tags; on submit the decisions go through the same use case as the
gateway route and the CLI (`podium.use_cases.tag_feedback.correct_tags`).

With `suggest` (the default) the form also lists the event's near-duplicate submissions (in
its description, with their similarity) and candidate new tags for its untagged talks, one
row each (skip or accept, and the name to accept it under); an accepted one joins the
vocabulary and goes on its talks (`podium.use_cases.tag_suggestions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from prefect import flow, get_client, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field, create_model

from podium.models import TagName
from podium.tagging.new_tags import TagSuggestion
from podium.use_cases.tag_feedback import (
    QueueRow,
    correct_tags,
    decisions_from_form,
    review_queue,
)
from podium.use_cases.tag_suggestions import (
    EventSuggestions,
    accept_new_tag,
    embedders,
    event_suggestions,
)
from tasks.resources import flow_resources

Choice = Literal["skip", "accept", "reject"]
NewTagChoice = Literal["skip", "accept"]


class _QueueForm(RunInput):
    organiser: str = Field(min_length=1, max_length=200, description="Your name: recorded.")
    reason: str = Field(default="", max_length=2000, description="Why (recorded).")
    add: str = Field(
        default="",
        max_length=20_000,
        description="Tags to add, one 'TALK_ID: tag' per line.",
        json_schema_extra={"format": "textarea"},
    )


def queue_form(queue: list[QueueRow], new_tags: Sequence[TagSuggestion] = ()) -> type[RunInput]:
    """A RunInput with one accept/reject/skip field per suggestion, in queue order.

    Each candidate new tag adds `nNN` (skip or accept) and `nNN_name` (the name to accept it
    under, the suggested one by default).
    """
    fields: dict[str, Any] = {
        row.key: (Choice, Field(default="skip", title=row.label())) for row in queue
    }
    for i, s in enumerate(new_tags, start=1):
        fields[f"n{i:02d}"] = (
            NewTagChoice,
            Field(default="skip", title=f"{s.label()}: {', '.join(s.talk_ids[:8])}"),
        )
        # A tag name's own type: a name the vocabulary would refuse is refused by the form.
        fields[f"n{i:02d}_name"] = (TagName, Field(default=s.name, title=f"name of n{i:02d}"))
    return create_model("ReviewTags", __base__=_QueueForm, **fields)


def _describe(event_id: str, queue: list[QueueRow], found: EventSuggestions) -> str:
    lines = [
        f"**{len(queue)} suggestions for `{event_id}`**, least certain first: accept or "
        "reject each (skip leaves it as it is)."
    ]
    if found.new_tags:
        lines.append(
            f"\n**{len(found.new_tags)} candidate new tags** for the {found.untagged} talks no "
            "tag fits: accepting one adds it to the vocabulary and to its talks."
        )
    if found.duplicates:
        lines.append(f"\n**{len(found.duplicates)} possible duplicate submissions:**")
        lines += [f"- {p.label()}" for p in found.duplicates[:20]]
    return "\n".join(lines)


def _run_name() -> str:
    return f"review-tags · {flow_run.parameters.get('event_id', '?')}"


@flow(name="review-tags", flow_run_name=_run_name)
def review_tags(
    event_id: str, limit: int = 20, timeout_s: int = 86_400, suggest: bool = True
) -> dict[str, Any]:
    """Ask an organiser to accept or reject an event's least certain model tags.

    Args:
        event_id: the event whose talks to review.
        limit: most suggestions in the form.
        timeout_s: how long the form waits; then the run ends with nothing decided.
        suggest: also flag near-duplicates and offer candidate new tags (loads the encoder).

    Returns:
        `{"status", "event_id", "queued", "recorded", "event", "duplicates", "new_tags",
        "accepted_tags"}`; status is decided, empty (nothing to review) or expired.
    """
    resources = flow_resources()
    logger = get_run_logger()
    queue = review_queue(resources, event_id=event_id, limit=limit)
    found = EventSuggestions(event_id)
    if suggest:
        embed_talks, embed_texts = embedders(resources)
        found = event_suggestions(
            resources, event_id=event_id, embed_talks=embed_talks, embed_texts=embed_texts
        )
        for pair in found.duplicates:
            logger.info("possible duplicate submission: %s", pair.label())
    out: dict[str, Any] = {
        "event_id": event_id,
        "queued": len(queue),
        "recorded": 0,
        "duplicates": [vars(p) for p in found.duplicates],
        "new_tags": [s.name for s in found.new_tags],
        "accepted_tags": [],
    }
    if not queue and not found.new_tags and not found.duplicates:
        logger.info("no model tags to review for %s", event_id)
        return {**out, "status": "empty", "event": "not_needed"}
    form = queue_form(queue, found.new_tags)
    description = _describe(event_id, queue, found)
    try:
        answer: Any = pause_flow_run(  # the queue's form: its fields are made at run time
            wait_for_input=form.with_initial_data(description=description),
            timeout=timeout_s,
        )
    except FlowPauseTimeout:
        # As in review-push: the run is still Paused on the server; an expired form is an
        # outcome, so move it back to Running and finish.
        with get_client(sync_client=True) as client:
            run_id = flow_run.get_id()
            assert run_id is not None
            client.set_flow_run_state(run_id, Running(message="review expired"), force=True)
        return {**out, "status": "expired", "event": "not_needed"}
    answers = answer.model_dump()
    decisions = decisions_from_form(
        queue, answers, decided_by=answer.organiser, reason=answer.reason
    )
    outcome = correct_tags(resources, decisions, logger=logger)
    recorded, event = outcome.recorded, outcome.event
    for i, s in enumerate(found.new_tags, start=1):
        if answers.get(f"n{i:02d}") != "accept":
            continue
        added = accept_new_tag(
            resources,
            s,
            name=answers.get(f"n{i:02d}_name"),
            decided_by=answer.organiser,
            reason=answer.reason,
            logger=logger,
        )
        recorded += added.recorded
        event = added.event if event == "not_needed" else event
        out["accepted_tags"].append(added.applied[0]["tag"] if added.applied else s.name)
    return {**out, "status": "decided", "recorded": recorded, "event": event}
