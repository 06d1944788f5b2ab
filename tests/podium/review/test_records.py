"""The `reviews` table: a real Delta lake in a temp folder; nothing faked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from podium.lake import Lake
from podium.review.models import ZERO_SHA, PushEvent
from podium.review.records import (
    PendingResult,
    find_deletion,
    find_review,
    pending_reviews,
    record_decision,
    record_deleted,
    record_pending,
)
from tests.podium.review.gitfixtures import main_push

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _push(after: str, *, minutes: int = 0, before: str = "1" * 40) -> PushEvent:
    return main_push(before, after, received_at=T0 + timedelta(minutes=minutes))


def _pending(lake: Lake, push: PushEvent, run: str, *, summary: str = "s") -> PendingResult:
    """Record `push` pending review by the flow run `run`, with a structural summary."""
    return record_pending(
        lake=lake, push=push, summary=summary, summary_backend="structural", flow_run_id=run
    )


def test_newer_push_supersedes_older_and_late_older_push_is_superseded(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    first = _pending(lake, _push("a" * 40), "run-a", summary="s1")
    assert first.superseded_runs == [] and first.superseded_by is None
    second = _pending(lake, _push("b" * 40, minutes=1), "run-b", summary="s2")
    assert second.superseded_runs == ["run-a"] and second.superseded_by is None
    older = find_review(lake, repo="app", commit="a" * 40)
    assert (
        older
        and older["status"] == "superseded"
        and older["comment"] == f"superseded by {'b' * 40}"
    )
    # A push received before b but recorded after it (its flow ran late) does not stand.
    late = _pending(lake, _push("c" * 40, minutes=-5), "run-c", summary="s0")
    assert late.superseded_by == "b" * 40
    assert list(pending_reviews(lake)["commit"]) == ["b" * 40]
    # Another branch is independent.
    other = _push("d" * 40).model_copy(update={"ref": "refs/heads/dev"})
    assert _pending(lake, other, "run-d", summary="").superseded_runs == []


def test_decisions_only_leave_pending(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    record_pending(
        lake=lake, push=_push("a" * 40), summary="s", summary_backend="structural", flow_run_id="r1"
    )
    row = record_decision(
        lake=lake,
        repo="app",
        commit="a" * 40,
        status="approved",
        decided_by="ada",
        comment="ok",
        decided_at=T0,
    )
    assert (row["status"], row["decided_by"], row["comment"]) == ("approved", "ada", "ok")
    again = record_decision(
        lake=lake,
        repo="app",
        commit="a" * 40,
        status="expired",
        decided_by=None,
        comment=None,
        decided_at=T0,
    )
    assert again["status"] == "approved"  # a decided review never changes
    # Re-recording the same commit as pending (a redelivered event) changes nothing either.
    _pending(lake, _push("a" * 40), "r2", summary="other")
    assert find_review(lake, repo="app", commit="a" * 40)["flow_run_id"] == "r1"  # type: ignore[index]


def test_branch_deletion_is_recorded_apart_and_reviews_nothing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    tip = "e" * 40
    feature = _push(ZERO_SHA, before=tip).model_copy(
        update={"pusher": "ada", "ref": "refs/heads/feature"}
    )
    record_deleted(lake=lake, push=feature)
    deletion = find_deletion(lake, repo="app", ref="refs/heads/feature", tip=tip)
    assert deletion and deletion["pusher"] == "ada" and deletion["tip"] == tip
    assert find_review(lake, repo="app", commit=tip) is None  # the tip is not reviewed
    # The same commit pushed to another branch later is reviewed.
    later = _pending(lake, _push(tip, minutes=5), "run-main")
    assert later.superseded_by is None
    row = find_review(lake, repo="app", commit=tip)
    assert row and row["status"] == "pending" and row["flow_run_id"] == "run-main"


def test_deleting_a_branch_leaves_its_pending_review_pending(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    tip = "f" * 40
    _pending(lake, _push(tip), "r")
    record_deleted(lake=lake, push=_push(ZERO_SHA, before=tip, minutes=1))
    row = find_review(lake, repo="app", commit=tip)
    assert row and row["status"] == "pending"
    decided = record_decision(
        lake=lake,
        repo="app",
        commit=tip,
        status="approved",
        decided_by="lead",
        comment="ok",
        decided_at=T0,
    )
    assert decided["status"] == "approved"


def test_a_legacy_deleted_row_does_not_block_a_review(tmp_path: Path) -> None:
    """Earlier versions wrote deletions as `reviews` rows with status `deleted`."""
    lake = Lake(str(tmp_path / "lake"))
    tip = "9" * 40
    _pending(lake, _push("8" * 40), "r0")
    legacy = lake.read("reviews").iloc[[0]].copy()
    legacy["commit"], legacy["status"] = tip, "deleted"
    lake.upsert("reviews", legacy)
    assert find_review(lake, repo="app", commit=tip) is None
    _pending(lake, _push(tip, minutes=2), "r1")
    row = find_review(lake, repo="app", commit=tip)
    assert row and row["status"] == "pending" and row["flow_run_id"] == "r1"


def test_overdue_pending_reviews_are_expired_and_decided_ones_left_alone(tmp_path: Path) -> None:
    """What `maintenance` does for suspended reviews the server expired (issue 23)."""
    from podium.review.records import expire_overdue

    lake = Lake(str(tmp_path / "lake"))
    old = _push("a" * 40, minutes=-120).model_copy(update={"ref": "refs/heads/old"})
    decided = _push("b" * 40, minutes=-120).model_copy(update={"ref": "refs/heads/done"})
    fresh = _push("c" * 40).model_copy(update={"ref": "refs/heads/new"})
    for push, run in ((old, "r1"), (decided, "r2"), (fresh, "r3")):
        record_pending(lake=lake, push=push, summary="s", summary_backend="x", flow_run_id=run)
    record_decision(
        lake=lake,
        repo="app",
        commit=decided.after,
        status="approved",
        decided_by="alice",
        comment="ok",
        decided_at=datetime.now(UTC),
    )
    cutoff = T0 - timedelta(minutes=60)
    assert expire_overdue(lake=lake, received_before=cutoff, comment="no decision") == [old.after]
    assert find_review(lake, repo="app", commit=old.after)["status"] == "expired"  # type: ignore[index]
    assert find_review(lake, repo="app", commit=decided.after)["status"] == "approved"  # type: ignore[index]
    assert find_review(lake, repo="app", commit=fresh.after)["status"] == "pending"  # type: ignore[index]
    assert expire_overdue(lake=lake, received_before=cutoff, comment="again") == []
