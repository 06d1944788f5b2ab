"""Data that crosses boundaries in a review: the push (the `podium.git.push` event payload and
the `review-push` flow's parameter) and a reviewer's decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ZERO_SHA = "0" * 40
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")

ReviewStatus = Literal["pending", "approved", "rejected", "expired", "superseded", "deleted"]


def is_zero_sha(sha: str) -> bool:
    """True for git's all-zeros object id (a created or deleted ref)."""
    return bool(sha) and set(sha) == {"0"}


class PushEvent(BaseModel):
    """One accepted push to a watched repository.

    Built by the gateway from a GitHub, GitLab or generic webhook, posted as the payload of
    `podium.git.push`, and handed to the `review-push` flow as its one parameter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str = Field(description="Name of the watched repository (settings.review.repos).")
    ref: str = Field(description="The full ref pushed, e.g. refs/heads/main.")
    before: str = Field(description="The ref's previous commit; all zeros for a new branch.")
    after: str = Field(description="The ref's new commit; all zeros for a deleted branch.")
    source: Literal["github", "gitlab", "push"] = Field(description="Which webhook sent it.")
    delivery_id: str = Field(default="", description="The sender's delivery id, if any.")
    pusher: str = Field(default="", description="Who pushed, as the sender names them.")
    forced: bool = Field(default=False, description="The sender says it was a force push.")
    received_at: datetime = Field(description="When the gateway accepted the push (UTC).")

    @field_validator("before", "after")
    @classmethod
    def _sha(cls, value: str) -> str:
        value = value.strip().lower()
        if not _SHA.match(value):
            raise ValueError(f"not a full commit id: {value[:80]!r}")
        return value

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not value.startswith("refs/") or ".." in value or value.endswith("/"):
            raise ValueError(f"not a full ref name: {value[:200]!r}")
        return value

    @field_validator("received_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("received_at must carry a time zone")
        return value.astimezone(UTC)

    @property
    def branch(self) -> str:
        """The branch name (ref without refs/heads/)."""
        return self.ref.removeprefix("refs/heads/")

    @property
    def is_deletion(self) -> bool:
        return is_zero_sha(self.after)

    @property
    def is_new_branch(self) -> bool:
        return is_zero_sha(self.before)


class ApprovalInput(BaseModel):
    """What a reviewer answers: the form the Prefect UI shows on a paused review."""

    decision: Literal["approve", "reject"] = Field(
        description="Approve to let the deployment go ahead; reject to stop it."
    )
    comment: str = Field(default="", max_length=4000, description="Why, for the record.")
    reviewer: str = Field(default="", max_length=200, description="Who decided.")
