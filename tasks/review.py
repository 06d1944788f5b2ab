"""Prefect tasks around `podium.review`: fetch and summarise a push, keep `reviews` current,
tell the reviewer, release superseded reviews, publish the outcome."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from podium.lake import Lake
from podium.review.config import ReviewSettings
from podium.review.gitrepo import ChangeSet, Git
from podium.review.llm import backend_from_settings
from podium.review.models import ApprovalInput, PushEvent
from podium.review.notify import notifier_from_settings, review_message
from podium.review.records import PendingResult, record_decision, record_pending
from podium.review.service import ReviewedChange, fetch_push_change, review_change


@task(name="fetch-push-change", retries=2, retry_delay_seconds=10, cache_policy=NONE)
def fetch_change(*, review: ReviewSettings, home: Path, push: PushEvent) -> tuple[Git, ChangeSet]:
    """Clone or fetch the repository into the cache and compute the push's change."""
    git, change = fetch_push_change(review=review, home=home, push=push)
    get_run_logger().info(
        "%s %s: %d files, %d commits against %s",
        push.repo,
        push.branch,
        len(change.files),
        len(change.commits),
        change.base_reason,
    )
    return git, change


@task(name="summarise-change", cache_policy=NONE)
def summarise_change(*, git: Git, change: ChangeSet, review: ReviewSettings) -> ReviewedChange:
    """The structural analysis and the summary (a model's, when one is configured; a model
    failure falls back to the structural summary inside)."""
    reviewed = review_change(git, change, review=review, backend=backend_from_settings(review))
    if reviewed.summary.fallback_reason:
        get_run_logger().warning(
            "model summary failed, using the structural one: %s", reviewed.summary.fallback_reason
        )
    return reviewed


@task(name="record-pending-review", retries=2, retry_delay_seconds=2, cache_policy=NONE)
def record_pending_review(
    *, lake: Lake, push: PushEvent, summary: str, summary_backend: str, flow_run_id: str
) -> PendingResult:
    """Write the pending row; supersede older pending pushes of the branch (or this one)."""
    return record_pending(
        lake=lake,
        push=push,
        summary=summary,
        summary_backend=summary_backend,
        flow_run_id=flow_run_id,
    )


@task(name="release-superseded-reviews", cache_policy=NONE)
def release_superseded(*, flow_run_ids: list[str], by: str) -> list[str]:
    """Resume the paused runs of superseded reviews so they finish now instead of waiting for
    their timeout. Their rows are already `superseded`; the answer only wakes them."""
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run

    logger = get_run_logger()
    released = []
    answer = ApprovalInput(decision="reject", comment=f"superseded by {by}", reviewer="podium")
    for run_id in flow_run_ids:
        try:
            resume_flow_run(UUID(run_id), run_input=answer.model_dump())
            released.append(run_id)
        except Exception as error:  # not paused yet or already gone: it sees its row itself
            logger.info("superseded run %s not resumed: %s", run_id, type(error).__name__)
    return released


@task(name="notify-reviewer", retries=2, retry_delay_seconds=3, cache_policy=NONE)
def notify_reviewer(*, review: ReviewSettings, push: PushEvent, summary: str, link: str) -> str:
    """Send the summary and the link to the paused run; returns the notifier used."""
    notifier = notifier_from_settings(review)
    if notifier is None:
        get_run_logger().info("no notifier configured; the review waits at %s", link)
        return "none"
    subject, body = review_message(
        repo=push.repo, branch=push.branch, after=push.after, summary=summary, link=link
    )
    notifier.send(subject=subject, body=body)
    return notifier.name


@task(name="record-review-decision", retries=2, retry_delay_seconds=2, cache_policy=NONE)
def record_review_decision(
    *,
    lake: Lake,
    push: PushEvent,
    status: str,
    decided_by: str | None,
    comment: str | None,
    decided_at: datetime,
) -> dict[str, Any]:
    """Move the pending row to the decision; returns the row as it stands afterwards."""
    return record_decision(
        lake=lake,
        repo=push.repo,
        commit=push.after,
        status=status,
        decided_by=decided_by,
        comment=comment,
        decided_at=decided_at,
    )


def artifact_key(push: PushEvent) -> str:
    """A valid artifact key (lower-case letters, digits, dashes) per repo and commit."""
    import re

    return re.sub(r"[^a-z0-9-]", "-", f"review-{push.repo.lower()}-{push.after[:12]}")


@task(name="publish-review", cache_policy=NONE)
def publish_review(*, push: PushEvent, row: dict[str, Any], summary: str) -> str:
    """A markdown artifact with the decision, the commit range and the summary."""
    decided_at = row.get("decided_at")
    header = (
        f"# Review {row['status']}: {push.repo} {push.branch}\n\n"
        f"| | |\n|---|---|\n"
        f"| commits | `{push.before[:12]}` → `{push.after[:12]}` |\n"
        f"| status | **{row['status']}** |\n"
        f"| decided by | {row.get('decided_by') or '—'} |\n"
        f"| decided at | {decided_at if decided_at is not None else '—'} |\n"
        f"| comment | {(row.get('comment') or '—').replace('|', '/')} |\n"
        f"| pushed by | {push.pusher or '—'} via {push.source} |\n\n"
    )
    return str(
        create_markdown_artifact(
            key=artifact_key(push),
            markdown=header + summary,
            description=f"Review of {push.repo}@{push.after[:12]}: {row['status']}",
        )
    )
