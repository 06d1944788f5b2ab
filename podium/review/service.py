"""Putting the review pieces together without Prefect: fetch a push's change and summarise it.

Used by the `review-push` flow's tasks and by `podium review summarize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from podium.review.config import ReviewSettings
from podium.review.gitrepo import ChangeSet, Git, compute_change, sync_repository
from podium.review.llm import Summary, SummaryBackend, summarize
from podium.review.models import PushEvent
from podium.review.structural import StructuralReport, analyse


@dataclass
class ReviewedChange:
    """A change, its structural analysis and the summary a reviewer reads."""

    change: ChangeSet
    report: StructuralReport
    summary: Summary


def fetch_push_change(
    *, review: ReviewSettings, home: Path, push: PushEvent
) -> tuple[Git, ChangeSet]:
    """Sync the watched repository's cache clone and compute the push's change.

    Raises:
        KeyError: the repository is not watched.
        GitError: git failed (the message carries no credential).
    """
    watched = review.repo(push.repo)
    git = sync_repository(
        name=watched.name,
        url=watched.url,
        cache_dir=review.cache_path(home),
        token=review.git_token.get_secret_value() if review.git_token else None,
        username=review.git_username,
        timeout_s=review.git_timeout_s,
    )
    change = compute_change(
        git,
        repo=push.repo,
        ref=push.ref,
        before=push.before,
        after=push.after,
        default_branch=watched.default_branch,
    )
    return git, change


def review_change(
    git: Git,
    change: ChangeSet,
    *,
    review: ReviewSettings,
    backend: SummaryBackend | None,
) -> ReviewedChange:
    """Analyse the change and write its summary (the model's, when a backend is given)."""
    diffs = git.diff_text(change.base, change.after)
    report = analyse(
        change,
        read_blob=git.blob,
        diffs=diffs,
        large_change_lines=review.large_change_lines,
        scan=review.scanners,
        scanner_venv=review.scanner_venv,
        scanner_timeout_s=review.scanner_timeout_s,
        scanner_server_idle_s=review.scanner_server_idle_s if review.scanner_server else None,
    )
    secrets = tuple(
        s.get_secret_value()
        for s in (
            review.api_key,
            review.aws_access_key_id,
            review.aws_secret_access_key,
            review.git_token,
            review.github_webhook_secret,
            review.gitlab_token,
            review.push_secret,
        )
        if s is not None
    )
    summary = summarize(change, report, diffs, review=review, backend=backend, secrets=secrets)
    return ReviewedChange(change=change, report=report, summary=summary)
