"""The review-tags flow: an event's least certain model tags as a form in the Prefect UI.

The run pauses with one row per suggestion (accept, reject or skip), the organiser's name, a
reason and free lines to add tags; on submit the decisions go through the same use case as the
gateway route and the CLI (`podium.use_cases.tag_feedback.correct_tags`).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_client, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field, create_model

from podium.use_cases.tag_feedback import (
    QueueRow,
    correct_tags,
    decisions_from_form,
    review_queue,
)
from tasks.resources import flow_resources

Choice = Literal["skip", "accept", "reject"]


class _QueueForm(RunInput):
    organiser: str = Field(min_length=1, max_length=200, description="Your name: recorded.")
    reason: str = Field(default="", max_length=2000, description="Why (recorded).")
    add: str = Field(
        default="",
        max_length=20_000,
        description="Tags to add, one 'TALK_ID: tag' per line.",
        json_schema_extra={"format": "textarea"},
    )


def queue_form(queue: list[QueueRow]) -> type[RunInput]:
    """A RunInput with one accept/reject/skip field per suggestion, in queue order."""
    fields: dict[str, Any] = {
        row.key: (Choice, Field(default="skip", title=row.label())) for row in queue
    }
    return create_model("ReviewTags", __base__=_QueueForm, **fields)


def _run_name() -> str:
    return f"review-tags · {flow_run.parameters.get('event_id', '?')}"


@flow(name="review-tags", flow_run_name=_run_name)
def review_tags(event_id: str, limit: int = 20, timeout_s: int = 86_400) -> dict[str, Any]:
    """Ask an organiser to accept or reject an event's least certain model tags.

    Args:
        event_id: the event whose talks to review.
        limit: most suggestions in the form.
        timeout_s: how long the form waits; then the run ends with nothing decided.

    Returns:
        `{"status", "event_id", "queued", "recorded", "event"}`; status is decided, empty
        (nothing to review) or expired.
    """
    resources = flow_resources()
    logger = get_run_logger()
    queue = review_queue(resources, event_id=event_id, limit=limit)
    out: dict[str, Any] = {"event_id": event_id, "queued": len(queue), "recorded": 0}
    if not queue:
        logger.info("no model tags to review for %s", event_id)
        return {**out, "status": "empty", "event": "not_needed"}
    form = queue_form(queue)
    description = (
        f"**{len(queue)} suggestions for `{event_id}`**, least certain first: accept or "
        "reject each (skip leaves it as it is)."
    )
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
    decisions = decisions_from_form(
        queue, answer.model_dump(), decided_by=answer.organiser, reason=answer.reason
    )
    outcome = correct_tags(resources, decisions, logger=logger)
    return {**out, "status": "decided", "recorded": outcome.recorded, "event": outcome.event}
