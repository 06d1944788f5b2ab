"""Review one push: summarise it, record it pending, tell the reviewer, wait, record, announce.

The waiting is the caller's: the `review-push` flow pauses its run for the decision (Prefect's
`pause_flow_run`), resumes the paused runs a newer push superseded and publishes artifacts; a
test answers at once. Everything else — which pushes are reviewed, the summary, the `reviews`
rows, the notification and the `podium.review.decided` event — happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from podium import event_catalog
from podium.resources import Resources
from podium.review.approval import pause_description, resumed_description
from podium.review.links import link_message, links_for
from podium.review.models import PushEvent
from podium.review.notify import review_message
from podium.review.records import (
    find_review,
    record_decision,
    record_deleted,
    record_pending,
)
from podium.review.service import ReviewedChange, fetch_push_change, review_change

log = logging.getLogger(__name__)


@dataclass
class ReviewHooks:
    """What the caller does around the review.

    Args:
        run_id: the id of the run holding this review (its flow run id).
        link: where the reviewer decides (the run's page).
        decide: (description shown above the form) -> (status, reviewer or None, comment);
            status is approved, rejected or expired.
        release: (run ids of superseded reviews, the newer commit) -> resume them now.
        publish: (push, row, summary text) -> show the review (an artifact); called with a
            pending row before `decide` and with the final row at the end.
        artifact_key: the key of the published review, named in the description.
    """

    run_id: str
    link: str
    decide: Callable[[str], tuple[str, str | None, str]]
    release: Callable[[list[str], str], Any] = lambda run_ids, by: None
    publish: Callable[[PushEvent, dict[str, Any], str], Any] = lambda push, row, summary: None
    artifact_key: str = ""


def review_push(
    resources: Resources, push: PushEvent, *, hooks: ReviewHooks, logger: Any = log
) -> dict[str, Any]:
    """Review one push to a watched repository.

    Args:
        resources: lake, settings (`review`, `home`), summary backend, notifier, events, steps.
        push: the `podium.git.push` event's payload.
        hooks: the caller's waiting, releasing and publishing (see `ReviewHooks`).

    Returns:
        `{"status", "repo", "commit", "flow_run_id"}`; status is one of approved, rejected,
        expired, superseded, deleted, or duplicate (this commit was already reviewed).
    """
    lake, step, settings = resources.lake, resources.step, resources.settings
    review = settings.review
    outcome = {"repo": push.repo, "commit": push.after, "flow_run_id": hooks.run_id}

    if push.is_deletion:
        # Not a review: the tip stays unreviewed and a pending review of it stays pending.
        record_deleted(lake=lake, push=push)
        logger.info("branch %s deleted; recorded, not reviewed", push.branch)
        return {**outcome, "commit": push.before, "status": "deleted"}
    existing = find_review(lake, repo=push.repo, commit=push.after)
    if existing is not None and existing["flow_run_id"] != hooks.run_id:
        logger.info("%s@%s already reviewed (%s)", push.repo, push.after[:12], existing["status"])
        return {**outcome, "status": "duplicate"}
    if existing is not None and existing["status"] == "pending" and existing["summary"]:
        # This run was here before: a suspended review resumed (its process exited while it
        # waited, and the run starts again from the top) or a retried run. The summary is
        # recorded and the reviewers were told: only the decision is left.
        return _resume_decision(resources, push, existing, hooks=hooks, logger=logger)

    git, change = step(
        "fetch-push-change", lambda: fetch_push_change(review=review, home=settings.home, push=push)
    )
    logger.info(
        "%s %s: %d files, %d commits against %s",
        push.repo,
        push.branch,
        len(change.files),
        len(change.commits),
        change.base_reason,
    )
    reviewed: ReviewedChange = step(
        "summarise-change",
        lambda: review_change(git, change, review=review, backend=resources.summary_backend()),
    )
    summary = reviewed.summary
    if summary.fallback_reason:
        logger.warning(
            "model summary failed, using the structural one: %s", summary.fallback_reason
        )
    pending = step(
        "record-pending-review",
        lambda: record_pending(
            lake=lake,
            push=push,
            summary=summary.text,
            summary_backend=summary.backend,
            flow_run_id=hooks.run_id,
        ),
    )
    if pending.superseded_runs:
        hooks.release(pending.superseded_runs, push.after)

    if pending.superseded_by is None:
        try:
            step(
                "notify-reviewer",
                lambda: _notify(resources, push, summary.text, hooks.link, hooks.run_id),
            )
        except Exception as error:  # noqa: BLE001 - a lost message must not lose the review
            logger.error(
                "reviewer not notified (%s); the review waits at %s",
                type(error).__name__,
                hooks.link,
            )
        # The reviewer decides from the run page: the summary is shown before waiting, and its
        # key facts sit above the approve/reject form.
        hooks.publish(push, {"status": "pending"}, summary.text)
        row = _decide(
            resources,
            push,
            pause_description(
                push=push, report=reviewed.report, summary=summary, artifact_key=hooks.artifact_key
            ),
            hooks=hooks,
        )
    else:
        row = find_review(lake, repo=push.repo, commit=push.after) or {}
    return _announce(resources, push, row, summary.text, hooks=hooks, logger=logger)


def _resume_decision(
    resources: Resources,
    push: PushEvent,
    existing: dict[str, Any],
    *,
    hooks: ReviewHooks,
    logger: Any,
) -> dict[str, Any]:
    """Wait for (or, once resumed, take) the decision of a review recorded pending earlier
    in this run, and record and announce it."""
    summary = str(existing["summary"])
    description = resumed_description(push=push, summary=summary, artifact_key=hooks.artifact_key)
    row = _decide(resources, push, description, hooks=hooks)
    return _announce(resources, push, row, summary, hooks=hooks, logger=logger)


def _decide(
    resources: Resources, push: PushEvent, description: str, *, hooks: ReviewHooks
) -> dict[str, Any]:
    """Wait for the reviewer's decision on `push` (the run pauses showing `description`),
    then record it: the review's row."""
    status, who, comment = hooks.decide(description)
    return resources.step(
        "record-review-decision",
        lambda: record_decision(
            lake=resources.lake,
            repo=push.repo,
            commit=push.after,
            status=status,
            decided_by=who,
            comment=comment,
            decided_at=datetime.now(UTC),
        ),
    )


def _announce(
    resources: Resources,
    push: PushEvent,
    row: dict[str, Any],
    summary: str,
    *,
    hooks: ReviewHooks,
    logger: Any,
) -> dict[str, Any]:
    """Publish the final row and emit `podium.review.decided`."""
    outcome = {"repo": push.repo, "commit": push.after, "flow_run_id": hooks.run_id}
    # A newer push may have superseded this review while it waited: the row says so.
    logger.info("review of %s@%s: %s", push.repo, push.after[:12], row["status"])
    hooks.publish(push, row, summary)
    resources.events.emit(
        event_catalog.REVIEW_DECIDED,
        resource_id=f"podium.repo.{push.repo}",
        resource={"podium.repo.ref": push.ref},
        payload={
            "repo": push.repo,
            "ref": push.ref,
            "before": push.before,
            "after": push.after,
            "status": row["status"],
            "decided_by": _text(row.get("decided_by")),
            "decided_at": _text(row.get("decided_at")) or "",
            "comment": _text(row.get("comment")),
            "flow_run_id": _text(row.get("flow_run_id")),
        },
    )
    return {**outcome, "status": row["status"]}


def _text(value: Any) -> str | None:
    """A row's value as text; None for a missing one (a lake row's null reads as NaN/NaT)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _notify(resources: Resources, push: PushEvent, summary: str, link: str, run_id: str) -> str:
    """Send the summary and the link; returns the notifier used ("none" when unconfigured).

    With named reviewers (`review.reviewers`) each gets a message of their own, with approve
    and reject links signed for them alone, sent to their address where the notifier has
    addresses (see `podium.review.links`)."""
    notifier = resources.notifier()
    if notifier is None:
        log.info("no notifier configured; the review waits at %s", link)
        return "none"
    subject, body = review_message(
        repo=push.repo, branch=push.branch, after=push.after, summary=summary, link=link
    )
    review = resources.settings.review
    if not review.reviewers:
        notifier.send(subject=subject, body=body)
        return notifier.name
    signed = links_for(review, run_id=run_id, repo=push.repo, commit=push.after)
    for reviewer in review.reviewers:
        personal = link_message(reviewer, signed[reviewer.name]) + "\n" + body
        notifier.send(
            subject=subject, body=personal, to=[reviewer.email] if reviewer.email else None
        )
    return notifier.name
