"""The review-push flow: summarise a push, tell the reviewer, wait for their decision in the
Prefect UI (or `podium review approve|reject`), record it and announce it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.events import emit_event
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field

from flows.run_names import review_run_name
from podium import event_catalog
from podium.lake import Lake
from podium.review.approval import pause_description
from podium.review.models import ApprovalInput, PushEvent
from podium.review.records import find_review, record_deleted
from podium.settings import get_settings
from tasks.review import (
    artifact_key,
    fetch_change,
    notify_reviewer,
    publish_review,
    record_pending_review,
    record_review_decision,
    release_superseded,
    summarise_change,
)

DECIDED_EVENT = event_catalog.REVIEW_DECIDED.name


class Approval(RunInput, ApprovalInput):
    """The form a paused review shows in the Prefect UI: approve or reject, who decides, and
    a comment. The reviewer's name is required: the open-source UI has no login to take it
    from, and the decision must record who made it."""

    reviewer: str = Field(
        min_length=1, max_length=200, description="Your name: recorded with the decision."
    )


def _announce(push: PushEvent, row: dict[str, Any]) -> None:
    emit_event(
        event=DECIDED_EVENT,
        resource={"prefect.resource.id": f"podium.repo.{push.repo}", "podium.repo.ref": push.ref},
        payload={
            "repo": push.repo,
            "ref": push.ref,
            "before": push.before,
            "after": push.after,
            "status": row["status"],
            "decided_by": row.get("decided_by"),
            "decided_at": str(row.get("decided_at") or ""),
            "comment": row.get("comment"),
            "flow_run_id": row.get("flow_run_id"),
        },
    )


def _wait_for_decision(
    *, timeout_s: int, poll_interval_s: int, description: str
) -> tuple[str, str | None, str]:
    """Pause for the reviewer, showing `description` (the summary's key facts) above the
    approve/reject form. Returns (status, who, comment); a timeout is `expired`."""
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(description=description),
            timeout=timeout_s,
            poll_interval=poll_interval_s,
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
    return status, answer.reviewer or None, answer.comment


@flow(name="review-push", flow_run_name=review_run_name)
def review_push(push: PushEvent) -> dict[str, Any]:
    """Review one push to a watched repository.

    Args:
        push: the `podium.git.push` event's payload.

    Returns:
        `{"status", "repo", "commit", "flow_run_id"}`; status is one of approved, rejected,
        expired, superseded, deleted, or duplicate (this commit was already reviewed).
    """
    logger = get_run_logger()
    settings = get_settings()
    review = settings.review
    lake = Lake.from_settings(settings)
    run_id = str(flow_run.get_id())
    outcome = {"repo": push.repo, "commit": push.after, "flow_run_id": run_id}

    if push.is_deletion:
        # Not a review: the tip stays unreviewed and a pending review of it stays pending.
        record_deleted(lake=lake, push=push)
        logger.info("branch %s deleted; recorded, not reviewed", push.branch)
        return {**outcome, "commit": push.before, "status": "deleted"}
    existing = find_review(lake, repo=push.repo, commit=push.after)
    if existing is not None and existing["flow_run_id"] != run_id:
        logger.info("%s@%s already reviewed (%s)", push.repo, push.after[:12], existing["status"])
        return {**outcome, "status": "duplicate"}

    git, change = fetch_change(review=review, home=settings.home, push=push)
    reviewed = summarise_change(git=git, change=change, review=review)
    summary = reviewed.summary
    pending = record_pending_review(
        lake=lake,
        push=push,
        summary=summary.text,
        summary_backend=summary.backend,
        flow_run_id=run_id,
    )
    if pending.superseded_runs:
        release_superseded(flow_run_ids=pending.superseded_runs, by=push.after)

    if pending.superseded_by is None:
        link = f"{settings.prefect.ui_url.rstrip('/')}/runs/flow-run/{run_id}"
        notified = notify_reviewer(
            review=review, push=push, summary=summary.text, link=link, return_state=True
        )
        if notified.is_failed():
            # The review still waits in the UI; a lost message must not lose the review.
            logger.error("reviewer not notified; the review waits at %s", link)
        # The reviewer decides from the run page: the summary is published (as this run's
        # artifact) before pausing, and its key facts sit above the approve/reject form.
        publish_review(push=push, row={"status": "pending"}, summary=summary.text)
        status, who, comment = _wait_for_decision(
            timeout_s=review.timeout_s,
            poll_interval_s=review.poll_interval_s,
            description=pause_description(
                push=push,
                report=reviewed.report,
                summary=summary,
                artifact_key=artifact_key(push),
            ),
        )
        row = record_review_decision(
            lake=lake,
            push=push,
            status=status,
            decided_by=who,
            comment=comment,
            decided_at=datetime.now(UTC),
        )
    else:
        row = find_review(lake, repo=push.repo, commit=push.after) or {}
    # A newer push may have superseded this review while it waited: the row says so.
    logger.info("review of %s@%s: %s", push.repo, push.after[:12], row["status"])
    publish_review(push=push, row=row, summary=summary.text)
    _announce(push, row)
    return {**outcome, "status": row["status"]}
