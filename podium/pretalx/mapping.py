"""pretalx submissions and events onto Podium's `Talk` and `Event`: pure functions.

Accepts the current API with `?expand=speakers,tags,track` and the legacy (pre-v2) shape that
nested speakers and named tags. Unexpanded ids (a speaker code, a tag id) cannot be mapped to
names: such a record is rejected with that reason, never turned into a talk without speakers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from podium.models import Event, Talk, TalkState
from podium.sources import ParseResult, RecordError, validation_errors

# pretalx's proposal states. Withdrawn and cancelled proposals leave the directory (removals),
# drafts were never submitted; confirmed talks are on the public schedule.
STATES: dict[str, TalkState | None] = {
    "submitted": TalkState.submitted,
    "accepted": TalkState.accepted,
    "confirmed": TalkState.published,
    "rejected": TalkState.rejected,
}
REMOVED_STATES = frozenset({"withdrawn", "canceled", "cancelled", "deleted"})
SKIPPED_STATES = frozenset({"draft"})


def talk_id_for(slug: str, code: str) -> str:
    """Podium's id of a pretalx submission: stable, and distinct from other sources' ids."""
    return f"pretalx-{slug}-{code}"


def localised(value: Any, locale: str = "en") -> str:
    """A pretalx i18n field ({"en": "..", "de": ".."} or plain text) as one string."""
    if isinstance(value, dict):
        for key in (locale, "en"):
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key]
        return next((v for v in value.values() if isinstance(v, str) and v.strip()), "")
    return value if isinstance(value, str) else ""


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    return date.fromisoformat(value[:10])


class _Unmappable(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _speakers(value: Any) -> list[str]:
    names = []
    for item in value or []:
        if isinstance(item, dict):
            name = item.get("name") or ""
            if isinstance(name, str) and name.strip():
                names.append(name)
        else:
            raise _Unmappable(
                "speakers", "speakers are given as codes, not names (request ?expand=speakers)"
            )
    return names


def _tags(value: Any, locale: str) -> list[str]:
    tags = []
    for item in value or []:
        if isinstance(item, dict):  # expanded: {"id", "tag", "description", "color"}
            tags.append(localised(item.get("tag"), locale))
        elif isinstance(item, str):  # legacy: the tag's name
            tags.append(item)
        else:
            raise _Unmappable("tags", "tags are given as ids, not names (request ?expand=tags)")
    return [t for t in tags if t.strip()]


def _track(value: Any, locale: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return localised(value.get("name"), locale)
    if isinstance(value, str):  # legacy: the track's name
        return value
    raise _Unmappable("track", "the track is given as an id, not a name (request ?expand=track)")


def _room(value: Any, locale: str) -> str:
    if isinstance(value, dict):  # expanded: {"id", "name": {...}, ...}
        return localised(value.get("name"), locale)
    if isinstance(value, str):  # legacy: the room's name (or an i18n string as text)
        return value
    return ""  # an unexpanded room id, or none: the time is still known


def slot_of(value: Any, locale: str = "en") -> dict[str, Any] | None:
    """A pretalx slot ({start, end, room}) as `Slot` data; None when it is not scheduled.

    Takes the legacy `slot` object, one entry of the current API's `slots` (with
    `?expand=slots.room` or from `/slots/?expand=room`), or a list of them (the earliest
    scheduled one wins: a session held twice is listed at its first time).
    """
    if isinstance(value, list):
        found = [s for s in (slot_of(v, locale) for v in value) if s is not None]
        return min(found, key=lambda s: s["start"]) if found else None
    if not isinstance(value, dict):
        return None
    start, end = _timestamp(value.get("start")), _timestamp(value.get("end"))
    if start is None or end is None:
        return None
    return {"start": start, "end": end, "room": _room(value.get("room"), locale)}


def submission_to_talk(
    data: dict[str, Any],
    *,
    slug: str,
    locale: str = "en",
    slot: dict[str, Any] | None = None,
) -> Talk:
    """One submission as a `Talk` (raises ValueError/ValidationError when it cannot be).

    `slot` is the submission's slot from the event's schedule (`/slots/`); without it the
    submission's own `slot` (legacy) or expanded `slots` are used, when present.
    """
    code = data.get("code")
    if not isinstance(code, str) or not code.strip():
        raise _Unmappable("code", "required field is missing")
    state = STATES.get(str(data.get("state")))
    if state is None:
        raise _Unmappable("state", f"unknown proposal state {data.get('state')!r}")
    abstract = (data.get("abstract") or "").strip()
    description = (data.get("description") or "").strip()
    track = _track(data.get("track"), locale)
    tags = _tags(data.get("tags"), locale) + ([track] if track else [])
    return Talk.model_validate(
        {
            "talk_id": talk_id_for(slug, code),
            "title": data.get("title"),
            "description": "\n\n".join(p for p in (abstract, description) if p),
            "speakers": _speakers(data.get("speakers")),
            "tags": tags,
            "event_ids": [slug],
            "language": (data.get("content_locale") or "en"),
            "state": state,
            "submitted_at": _timestamp(data.get("created")),
            "updated_at": _timestamp(data.get("updated")),
            "slot": slot
            if slot is not None
            else slot_of(data.get("slot"), locale) or slot_of(data.get("slots"), locale),
        }
    )


def map_submissions(
    submissions: list[dict[str, Any]],
    *,
    slug: str,
    locale: str = "en",
    slots: dict[str, dict[str, Any]] | None = None,
) -> ParseResult:
    """Submissions to talks; withdrawn and cancelled ones to removals; per-record errors.

    `slots` maps a submission code to its slot in the published schedule (`schedule_slots`).
    """
    result = ParseResult()
    for index, data in enumerate(submissions):
        code = data.get("code") if isinstance(data, dict) else None
        name = f"{slug}/submissions[{index}]" + (f" ({code})" if isinstance(code, str) else "")
        if not isinstance(data, dict):
            result.errors.append(RecordError(name, "", "expected an object"))
            continue
        state = str(data.get("state"))
        if state in SKIPPED_STATES:
            continue
        if state in REMOVED_STATES and isinstance(code, str):
            result.removed.append(talk_id_for(slug, code))
            continue
        try:
            slot = (slots or {}).get(code) if isinstance(code, str) else None
            result.talks.append(submission_to_talk(data, slug=slug, locale=locale, slot=slot))
        except _Unmappable as error:
            result.errors.append(RecordError(name, error.field, str(error)))
        except ValidationError as error:
            result.errors.extend(validation_errors(name, error))
        except ValueError as error:  # a malformed timestamp
            result.errors.append(RecordError(name, "", str(error).splitlines()[0]))
    return result


def schedule_slots(items: list[dict[str, Any]], locale: str = "en") -> dict[str, dict[str, Any]]:
    """Submission code -> its slot, from `/api/events/<slug>/slots/?expand=room` (slots
    without a submission, such as breaks, and unscheduled ones are left out)."""
    by_code: dict[str, list[Any]] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("submission"), str):
            by_code.setdefault(item["submission"], []).append(item)
    found = {code: slot_of(entries, locale) for code, entries in by_code.items()}
    return {code: slot for code, slot in found.items() if slot is not None}


def event_from_pretalx(
    data: dict[str, Any], *, slug: str, tracks: list[dict[str, Any]] | None = None
) -> Event:
    """The pretalx event as an `Event`; its tracks become the event's tags."""
    locale = data.get("locale") or "en"
    names = [localised(t.get("name"), locale) for t in tracks or [] if isinstance(t, dict)]
    return Event.model_validate(
        {
            "event_id": slug,
            "name": localised(data.get("name"), locale) or slug,
            "description": localised(data.get("description"), locale)
            if data.get("description")
            else "",
            "tags": [n for n in names if n.strip()],
            "starts_on": _day(data.get("date_from")),
            "ends_on": _day(data.get("date_to")),
        }
    )
