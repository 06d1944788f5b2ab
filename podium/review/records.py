"""The `reviews` table: one row per (repo, commit) — a commit is never reviewed twice.

Status moves only out of `pending` (conditional MERGEs), so a late decision can never
overwrite a review that a newer push already superseded, and vice versa.

A branch deletion is not a review: it is recorded apart (a blob per deletion), so deleting a
branch neither marks its tip commit reviewed (a later push of that commit to another branch
is reviewed) nor ends a pending review of it. Rows with status `deleted` written by earlier
versions are treated as no review at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from podium import metrics
from podium.lake import Lake
from podium.review.models import PushEvent

TABLE = "reviews"
_PENDING_ONLY = "t.status = 'pending'"
# A legacy `deleted` row is no review: a push of that commit may replace it.
_PENDING_OR_LEGACY_DELETED = "t.status IN ('pending', 'deleted')"
_DELETIONS = "review/deletions"


@dataclass(frozen=True)
class PendingResult:
    """What recording a pending review did.

    Attributes:
        superseded_runs: flow runs of older pending reviews of the same branch that this push
            superseded (their rows are already marked).
        superseded_by: the newer push's commit when this push itself arrived late and is
            already superseded; None when it stands.
    """

    superseded_runs: list[str]
    superseded_by: str | None


def _row(push: PushEvent, **values: Any) -> dict[str, Any]:
    row = {
        "repo": push.repo,
        "commit": push.after,
        "ref": push.ref,
        "before": push.before,
        "status": "pending",
        "summary": "",
        "summary_backend": "",
        "flow_run_id": "",
        "decided_by": None,
        "comment": None,
        "created_at": push.received_at,
        "decided_at": None,
    }
    row.update(values)
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("created_at", "decided_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def find_review(lake: Lake, *, repo: str, commit: str) -> dict[str, Any] | None:
    """The review row of `commit`, None when it was never reviewed."""
    rows = lake.read(TABLE, where=[("repo", "=", repo), ("commit", "=", commit)])
    rows = rows[rows["status"] != "deleted"] if not rows.empty else rows
    return None if rows.empty else rows.iloc[0].to_dict()


def _deletion_blob(repo: str, ref: str, tip: str) -> str:
    # Hashed: the repo and ref are sender-supplied text and must not shape a storage path.
    digest = hashlib.sha256(f"{repo}\0{ref}\0{tip}".encode()).hexdigest()
    return f"{_DELETIONS}/{digest}.json"


def record_deleted(*, lake: Lake, push: PushEvent) -> None:
    """Record a branch deletion, apart from the reviews (see the module docstring)."""
    record = {
        "repo": push.repo,
        "ref": push.ref,
        "tip": push.before,
        "pusher": push.pusher or None,
        "source": push.source,
        "received_at": push.received_at.isoformat(),
    }
    lake.put_blob(_deletion_blob(push.repo, push.ref, push.before), json.dumps(record).encode())


def find_deletion(lake: Lake, *, repo: str, ref: str, tip: str) -> dict[str, Any] | None:
    """The recorded deletion of `ref` at `tip`, None when there is none."""
    blob = _deletion_blob(repo, ref, tip)
    if not lake.blob_exists(blob):
        return None
    loaded: dict[str, Any] = json.loads(lake.get_blob(blob))
    return loaded


def record_pending(
    *,
    lake: Lake,
    push: PushEvent,
    summary: str,
    summary_backend: str,
    flow_run_id: str,
) -> PendingResult:
    """Record this push's review as pending, and settle which push of the branch stands.

    Older pending reviews of the same repo and ref are marked superseded; if a newer push of
    the branch is already pending, this one is marked superseded instead.
    """
    row = _row(push, summary=summary, summary_backend=summary_backend, flow_run_id=flow_run_id)
    lake.upsert(TABLE, _frame([row]), changed_when=_PENDING_OR_LEGACY_DELETED)
    pending = lake.read(
        TABLE,
        where=[("repo", "=", push.repo), ("ref", "=", push.ref), ("status", "=", "pending")],
    )
    others = pending[pending["commit"] != push.after]
    newer = others[others["created_at"] > pd.Timestamp(push.received_at)]
    if not newer.empty:
        latest = newer.sort_values("created_at").iloc[-1]
        mark_superseded(lake=lake, repo=push.repo, commits=[push.after], by=str(latest["commit"]))
        return PendingResult(superseded_runs=[], superseded_by=str(latest["commit"]))
    older = others[others["created_at"] <= pd.Timestamp(push.received_at)]
    changed = mark_superseded(
        lake=lake, repo=push.repo, commits=list(older["commit"]), by=push.after
    )
    runs = [
        str(r["flow_run_id"])
        for _, r in older.iterrows()
        if r["commit"] in changed and r["flow_run_id"]
    ]
    return PendingResult(superseded_runs=runs, superseded_by=None)


def mark_superseded(*, lake: Lake, repo: str, commits: list[str], by: str) -> list[str]:
    """Mark the pending reviews of `commits` superseded by commit `by`; returns the commits
    whose rows changed (ones already decided stay as they are)."""
    if not commits:
        return []
    rows = lake.read(TABLE, where=[("repo", "=", repo), ("commit", "in", commits)])
    rows = rows[rows["status"] == "pending"].copy()
    if rows.empty:
        return []
    now = datetime.now(UTC)
    rows["status"] = "superseded"
    rows["decided_by"] = "podium"
    rows["comment"] = f"superseded by {by}"
    rows["decided_at"] = pd.Timestamp(now)
    stats = lake.upsert(TABLE, rows, changed_when=_PENDING_ONLY)
    if stats.updated == len(rows):
        return list(rows["commit"])
    after = lake.read(TABLE, where=[("repo", "=", repo), ("commit", "in", list(rows["commit"]))])
    return [
        c
        for c, s, by_ in zip(after["commit"], after["status"], after["comment"], strict=True)
        if s == "superseded" and by_ == f"superseded by {by}"
    ]


def record_decision(
    *,
    lake: Lake,
    repo: str,
    commit: str,
    status: str,
    decided_by: str | None,
    comment: str | None,
    decided_at: datetime,
) -> dict[str, Any]:
    """Move a pending review to `status` (approved, rejected, expired).

    Returns:
        The row as it stands afterwards: if the review was no longer pending (superseded
        meanwhile), it is returned unchanged and the caller reports that instead.
    """
    if status not in ("approved", "rejected", "expired"):
        raise ValueError(f"not a decision status: {status}")
    current = find_review(lake, repo=repo, commit=commit)
    if current is None:
        raise LookupError(f"no review recorded for {repo}@{commit[:12]}")
    if current["status"] != "pending":
        return current
    current.update(status=status, decided_by=decided_by, comment=comment, decided_at=decided_at)
    lake.upsert(TABLE, _frame([current]), changed_when=_PENDING_ONLY)
    after = find_review(lake, repo=repo, commit=commit)
    assert after is not None
    if after["status"] == status and current.get("created_at") is not None:
        waited = metrics.REVIEW_WAIT.labels(status)
        metrics.observe_since(waited, pd.Timestamp(current["created_at"]), now=decided_at)
    return after


def pending_reviews(lake: Lake, *, repo: str | None = None) -> pd.DataFrame:
    """Reviews still waiting for a decision."""
    where: list[tuple[str, str, Any]] = [("status", "=", "pending")]
    if repo:
        where.append(("repo", "=", repo))
    return lake.read(TABLE, where=where)


def expire_overdue(*, lake: Lake, received_before: datetime, comment: str) -> list[str]:
    """Record as expired the reviews still pending that were received before
    `received_before` (a suspended review whose run the server expired has no process left
    to record it); returns their commits. Reviews decided meanwhile are left alone."""
    pending = pending_reviews(lake)
    if pending.empty:
        return []
    overdue = pending[pending["created_at"] < pd.Timestamp(received_before)]
    expired = []
    for repo, commit in zip(overdue["repo"], overdue["commit"], strict=True):
        row = record_decision(
            lake=lake,
            repo=str(repo),
            commit=str(commit),
            status="expired",
            decided_by="podium",
            comment=comment,
            decided_at=datetime.now(UTC),
        )
        if row["status"] == "expired":
            expired.append(str(commit))
    return expired


__all__ = [
    "expire_overdue",
    "PendingResult",
    "find_deletion",
    "find_review",
    "mark_superseded",
    "pending_reviews",
    "record_decision",
    "record_deleted",
    "record_pending",
]
