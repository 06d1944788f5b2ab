"""Organisers' corrections of tags: the `tag_feedback` table, its only owner.

An organiser accepts, rejects or adds a tag on a talk (gateway route, `podium tags
accept|reject|add`, the `review-tags` flow's form). Each decision is one row: who, when, why,
the talk, the talk version (`content_hash`) it was made on, the tag and the decision. Rows are
never rewritten: the latest decision on a (talk, tag) is the one in force.

What the decisions mean elsewhere (`podium.use_cases.tag_feedback` applies them):

- accept / add: the tag is on the talk with source `organiser` (`podium.talk_tags`), so no
  model run, retag or backfill replaces it, and it is labelled history for the tagger;
- reject: the tag is off the talk, and the model never suggests it again for that talk
  version (`rejections`, which `podium.talk_tags.write_tags` honours); for the tagger it is a
  negative of that talk (`negatives`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from podium.lake import Lake
from podium.models import Identifier, TagName, normalise_tag

TABLE = "tag_feedback"
Decision = Literal["accept", "reject", "add"]
DECISIONS: tuple[str, ...] = ("accept", "reject", "add")


class TagDecision(BaseModel):
    """One organiser decision on one tag of one talk."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    talk_id: Identifier
    tag: TagName
    decision: Decision
    decided_by: str = Field(min_length=1, max_length=200, description="Who decided.")
    reason: str = Field(default="", max_length=2000, description="Why, in their words.")


def feedback_frame(
    decisions: Iterable[TagDecision], *, versions: dict[str, str], now: datetime | None = None
) -> pd.DataFrame:
    """Rows of `tag_feedback` for decisions on talks at `versions` (talk id -> content hash)."""
    now = now or datetime.now(UTC)
    rows = [
        {
            "feedback_id": uuid.uuid4().hex,
            "talk_id": d.talk_id,
            "content_hash": versions[d.talk_id],
            "tag": normalise_tag(d.tag),
            "decision": d.decision,
            "decided_by": d.decided_by,
            "reason": d.reason,
            "decided_at": now,
        }
        for d in decisions
    ]
    columns = [
        "feedback_id",
        "talk_id",
        "content_hash",
        "tag",
        "decision",
        "decided_by",
        "reason",
        "decided_at",
    ]
    return pd.DataFrame(rows, columns=columns)


def record_feedback(*, lake: Lake, frame: pd.DataFrame) -> int:
    """Append decisions (rows of `feedback_frame`); returns how many."""
    return lake.append(TABLE, frame)


def feedback_rows(*, lake: Lake, talk_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every decision, some talks or all, oldest first."""
    where = None if talk_ids is None else [("talk_id", "in", list(talk_ids))]
    frame = lake.read(TABLE, where=where)
    return frame.sort_values(["decided_at", "feedback_id"], kind="stable").reset_index(drop=True)


def latest(*, lake: Lake, talk_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The decision in force on each (talk, tag): the latest one."""
    frame = feedback_rows(lake=lake, talk_ids=talk_ids)
    return frame.drop_duplicates(["talk_id", "tag"], keep="last").reset_index(drop=True)


def rejections(*, lake: Lake, talk_ids: Iterable[str] | None = None) -> set[tuple[str, str, str]]:
    """(talk id, content hash, tag) the model must not assign: rejected on that version."""
    frame = latest(lake=lake, talk_ids=talk_ids)
    frame = frame[frame.decision == "reject"]
    return set(zip(frame.talk_id, frame.content_hash, frame.tag, strict=True))


def negatives(*, lake: Lake, versions: dict[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """talk id -> tags organisers rejected on it (at its current version when `versions`
    gives it): negatives for the tagger."""
    frame = latest(lake=lake, talk_ids=None if versions is None else list(versions))
    frame = frame[frame.decision == "reject"]
    out: dict[str, list[str]] = {}
    for talk_id, digest, tag in zip(frame.talk_id, frame.content_hash, frame.tag, strict=True):
        if versions is None or versions.get(talk_id) == digest:
            out.setdefault(str(talk_id), []).append(str(tag))
    return {k: tuple(v) for k, v in out.items()}


def feedback_version(*, lake: Lake) -> int | None:
    """The table's Delta version (None before the first decision): what changed since."""
    return lake.version(TABLE)
