"""Organisers' corrections: record them, apply them to `talk_tags` at once, announce the change.

Every entry point (the signed gateway route, `podium tags accept|reject|add`, the `review-tags`
flow's form) calls `correct_tags`. In order:

1. check each decision against the talk as it is now (404 unknown talk, 409 rejecting a
   speaker's own tag or accepting a tag the talk does not carry);
2. record every decision in `tag_feedback` (who, when, why, the talk version);
3. apply them to `talk_tags`: accept and add put the tag on with source `organiser`, reject
   takes it off (and `write_tags` never writes it again for that talk version);
4. emit `podium.talk.tagged`, as a tagging run does, so tag counts, recommendations and the
   DynamoDB write-back follow by the same triggers (and their schedules, when the event is
   lost).

Recording comes before applying: a crash in between leaves a decision recorded and not yet
applied, and repeating the request applies it (every step is idempotent); any tag write that
runs meanwhile already honours the recorded rejection (`podium.talk_tags.settle`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from podium import event_catalog
from podium.errors import Problem, Refused
from podium.events import EventDeliveryError
from podium.ingest import read_talks
from podium.models import normalise_tag
from podium.resources import Resources
from podium.tag_feedback import TagDecision, feedback_frame, record_feedback
from podium.talk_tags import remove_tag, set_organiser_tag, tag_rows

log = logging.getLogger(__name__)


@dataclass
class CorrectionOutcome:
    """What `correct_tags` did."""

    recorded: int = 0
    applied: list[dict[str, str]] = field(default_factory=list)
    event: str = "not_needed"  # accepted, deferred (the schedules catch up) or not_needed
    event_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "applied": self.applied,
            "event": self.event,
            "event_reason": self.event_reason,
        }


def check_decisions(resources: Resources, decisions: Sequence[TagDecision]) -> dict[str, str]:
    """talk id -> current content hash, after checking every decision against the talks.

    Raises:
        Refused: NOT_FOUND for an unknown or deleted talk; CONFLICT for rejecting a speaker's
            own tag (it is part of the talk: the speaker edits it in the directory) or
            accepting a tag the talk does not carry (add it instead).
    """
    ids = sorted({d.talk_id for d in decisions})
    talks = {t.talk_id: t for t in read_talks(lake=resources.lake, talk_ids=ids)}
    rows = tag_rows(lake=resources.lake, talk_ids=ids, columns=["talk_id", "tag"])
    carried: dict[str, set[str]] = {}
    for talk_id, tag in zip(rows.talk_id, rows.tag, strict=True):
        carried.setdefault(str(talk_id), set()).add(normalise_tag(str(tag)))
    for d in decisions:
        talk = talks.get(d.talk_id)
        if talk is None or talk.state == "deleted":
            raise Refused(Problem.NOT_FOUND, f"no talk {d.talk_id!r}")
        tag = normalise_tag(d.tag)
        speaker = {normalise_tag(t) for t in talk.tags}
        if d.decision == "reject" and tag in speaker:
            raise Refused(
                Problem.CONFLICT,
                f"{tag!r} is the speaker's own tag of {d.talk_id!r}: it changes with the talk",
            )
        if d.decision == "accept" and tag not in carried.get(d.talk_id, set()) | speaker:
            raise Refused(Problem.CONFLICT, f"{d.talk_id!r} does not carry {tag!r}: add it instead")
    return {t: talks[t].content_hash for t in ids}


def correct_tags(
    resources: Resources,
    decisions: Sequence[TagDecision],
    *,
    now: datetime | None = None,
    logger: Any = log,
) -> CorrectionOutcome:
    """Record organisers' decisions, apply them to `talk_tags` and announce the change.

    Args:
        resources: lake and event sink.
        decisions: the decisions, applied in order (a later one on the same tag wins).
        now: when they were made (UTC now by default).
    """
    outcome = CorrectionOutcome()
    if not decisions:
        return outcome
    now = now or datetime.now(UTC)
    lake = resources.lake
    versions = check_decisions(resources, decisions)
    outcome.recorded = record_feedback(
        lake=lake, frame=feedback_frame(decisions, versions=versions, now=now)
    )
    for d in decisions:
        tag = normalise_tag(d.tag)
        if d.decision == "reject":
            remove_tag(lake=lake, talk_id=d.talk_id, tag=tag)
        else:
            set_organiser_tag(
                lake=lake, talk_id=d.talk_id, tag=tag, content_hash=versions[d.talk_id], now=now
            )
        outcome.applied.append({"talk_id": d.talk_id, "tag": tag, "decision": d.decision})
    talk_ids = sorted(versions)
    try:
        resources.events.emit(
            event_catalog.TALK_TAGGED,
            payload={"talk_ids": talk_ids, "count": len(talk_ids), "source": "organiser"},
        )
        outcome.event = "accepted"
    except EventDeliveryError as error:
        # The correction is in the lake; aggregate-tags' schedule counts it from the Delta log.
        outcome.event, outcome.event_reason = "deferred", str(error)
    logger.info(
        "tag corrections: %d recorded on %d talk(s), event %s",
        outcome.recorded,
        len(talk_ids),
        outcome.event,
    )
    return outcome
