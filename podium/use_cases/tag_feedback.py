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
from dataclasses import asdict, dataclass, field
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
        return asdict(self)


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


@dataclass(frozen=True)
class QueueRow:
    """One suggestion in an organiser's queue: a model tag on a talk, with its score."""

    key: str  # a stable field name for the form: r01, r02, ...
    talk_id: str
    title: str
    tag: str
    score: float

    def label(self) -> str:
        return f"{self.talk_id} · {self.title[:70]} · {self.tag} ({self.score:.2f})"


def review_queue(resources: Resources, *, event_id: str, limit: int = 20) -> list[QueueRow]:
    """The model tags of an event's talks the tagger is least sure about, least sure first.

    A model tag is on a talk because its score cleared the tag's threshold; the lower the
    score, the nearer it was to not being suggested (scores are calibrated against one
    global threshold, `podium.tagging`), so the queue is the lowest-scored model tags. Tags an
    organiser already decided on are not in it (a decided tag is the organiser's or gone).
    """
    from podium.ingest import talk_rows

    talks = talk_rows(lake=resources.lake, columns=["talk_id", "title", "event_ids", "state"])
    mine = talks[
        (talks.state != "deleted") & talks.event_ids.map(lambda ids: event_id in list(ids))
    ]
    if mine.empty:
        return []
    titles = dict(zip(mine.talk_id, mine.title, strict=True))
    rows = tag_rows(
        lake=resources.lake,
        talk_ids=list(titles),
        columns=["talk_id", "tag", "score"],
        sources=["model"],
    )
    rows = rows.sort_values(["score", "talk_id", "tag"]).head(limit)
    return [
        QueueRow(f"r{i:02d}", str(t), str(titles[t]), str(tag), float(score))
        for i, (t, tag, score) in enumerate(
            zip(rows.talk_id, rows.tag, rows.score, strict=True), start=1
        )
    ]


def decisions_from_form(
    queue: Sequence[QueueRow], answers: dict[str, Any], *, decided_by: str, reason: str = ""
) -> list[TagDecision]:
    """The decisions of a filled queue form: `answers[row.key]` is accept, reject or skip.

    `answers["add"]` may hold more tags to add, one `TALK_ID: tag` per line.

    Raises:
        Refused: MALFORMED for an `add` line that is not `TALK_ID: tag`.
    """
    out = [
        TagDecision(
            talk_id=row.talk_id,
            tag=row.tag,
            decision=answers[row.key],
            decided_by=decided_by,
            reason=reason,
        )
        for row in queue
        if answers.get(row.key) in ("accept", "reject")
    ]
    for line in str(answers.get("add") or "").splitlines():
        if not line.strip():
            continue
        talk_id, sep, tag = line.partition(":")
        if not sep or not talk_id.strip() or not tag.strip():
            raise Refused(Problem.MALFORMED, f"add: {line.strip()!r} is not 'TALK_ID: tag'")
        out.append(
            TagDecision(
                talk_id=talk_id.strip(),
                tag=tag.strip(),
                decision="add",
                decided_by=decided_by,
                reason=reason,
            )
        )
    return out
