"""The review-push flow: summarise a push, tell the reviewers, wait for their decision (a
signed link through the gateway, the Prefect UI, or `podium review approve|reject`), record
it and announce it. A run from a deployment on a work pool suspends while it waits (its
process exits); others pause (docs/security.md, "Access control")."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import flow, get_client, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field

from flows.run_names import review_run_name
from podium import event_catalog
from podium.lake import Lake
from podium.review.links import decided_by
from podium.review.models import ApprovalInput, PushEvent
from podium.use_cases.review import ReviewHooks
from podium.use_cases.review import review_push as review_push_use_case
from tasks.resources import flow_resources
from tasks.review import artifact_key, publish_review, release_superseded

DECIDED_EVENT = event_catalog.REVIEW_DECIDED.name


class Approval(RunInput, ApprovalInput):
    """The form a paused review shows in the Prefect UI: approve or reject, and a comment.

    The open-source UI has no login, so a decision made here is recorded as an operator's
    (`operator (Prefect UI/API, says "…")`), never under the name typed in the form; named
    reviewers decide through their signed links (`podium.review.links`)."""

    reviewer: str = Field(
        default="",
        max_length=200,
        description="Optional: your name. Recorded as what an operator said, not as a "
        "verified reviewer (named reviewers use their signed links).",
    )


SUSPEND_KEY = "review-decision"


def _suspendable() -> bool:
    """Whether this run can give its infrastructure back while it waits: it came from a
    deployment on a work pool, whose worker starts it again once resumed. Others (a test's
    run, `flow.serve`) pause in their process."""
    run_id = flow_run.get_id()
    if run_id is None:
        return False
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
    return run.deployment_id is not None and bool(run.work_pool_name)


def _wait_for_decision(
    *, lake: Lake, timeout_s: int, poll_interval_s: int, description: str, suspend: bool
) -> tuple[str, str | None, str]:
    """Pause for the reviewer, showing `description` (the summary's key facts) above the
    approve/reject form. Returns (status, who, comment); a timeout is `expired`. Who is the
    verified reviewer when a signed link resumed the run, else the UI/API operator."""
    form = Approval.with_initial_data(description=description)
    try:
        if suspend and _suspendable():
            # The process exits here; once resumed, a worker of the pool runs the flow again
            # from the top, the use-case finds the review pending and this call returns the
            # answer. Expiry is then the server's (its pause-expiration service fails the run;
            # `maintenance` records the review expired).
            answer = suspend_flow_run(wait_for_input=form, timeout=timeout_s, key=SUSPEND_KEY)
        else:
            answer = pause_flow_run(
                wait_for_input=form, timeout=timeout_s, poll_interval=poll_interval_s
            )
    except FlowPauseTimeout:
        # The run is still Paused on the server, and Prefect would fail it on the next state
        # change; an expired review is an outcome, so move it back to Running and finish.
        with get_client(sync_client=True) as client:
            run_id = flow_run.get_id()
            assert run_id is not None  # pause_flow_run only returns inside a flow run
            client.set_flow_run_state(run_id, Running(message="review expired"), force=True)
        return "expired", None, f"no decision within {timeout_s}s"
    status = "approved" if answer.decision == "approve" else "rejected"
    who, _ = decided_by(
        lake=lake,
        run_id=str(flow_run.get_id()),
        decision=answer.decision,
        typed_name=answer.reviewer,
    )
    return status, who, answer.comment


@flow(name="review-push", flow_run_name=review_run_name)
def review_push(push: PushEvent) -> dict[str, Any]:
    """Review one push to a watched repository (`podium.use_cases.review.review_push`): the
    reviewer decides in this run's paused page.

    Args:
        push: the `podium.git.push` event's payload.

    Returns:
        `{"status", "repo", "commit", "flow_run_id"}`; status is one of approved, rejected,
        expired, superseded, deleted, or duplicate (this commit was already reviewed).
    """
    resources = flow_resources()
    review = resources.settings.review
    run_id = str(flow_run.get_id())
    hooks = ReviewHooks(
        run_id=run_id,
        link=f"{resources.settings.prefect.ui_url.rstrip('/')}/runs/flow-run/{run_id}",
        decide=lambda description: _wait_for_decision(
            lake=resources.lake,
            suspend=review.suspend == "auto",
            timeout_s=review.timeout_s,
            poll_interval_s=review.poll_interval_s,
            description=description,
        ),
        release=lambda run_ids, by: release_superseded(flow_run_ids=run_ids, by=by),
        publish=lambda push, row, summary: publish_review(push=push, row=row, summary=summary),
        artifact_key=artifact_key(push),
    )
    return review_push_use_case(resources, push, hooks=hooks, logger=get_run_logger())
