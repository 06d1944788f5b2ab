"""An `EventSchedule` written as frab XML, frab JSON, iCalendar or Podium's JSON.

- frab XML and JSON are the formats schedule apps read (Giggity, EventFahrplan, the voc
  tools). They are written to the voc schedule XSD and JSON Schema as published, which have no
  field for tags: tags go into the description (`Tags: …`), related talks into `links` (frab
  JSON's link type `related`; in XML `<link type="related">`), pointing at the related talk's
  URL (`exports.talk_url`) or `urn:uuid:<its guid>`. Only scheduled talks appear.
- iCalendar (RFC 5545): one VEVENT per scheduled talk, with its tags as CATEGORIES, its
  related talks as RELATED-TO (their UIDs) and in the description, the room as LOCATION.
- Podium's JSON (`docs/schemas/podium-export.schema.json`): every live talk of the event,
  scheduled or not, with structured tags, related talks and cover alt text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from podium.exports.config import ExportSettings
from podium.exports.schedule import (
    EventSchedule,
    ExportTalk,
    NothingScheduledError,
    acronym_of,
    talk_guid,
)

MEDIA_TYPES = {
    "frab-xml": "application/xml",
    "frab-json": "application/json",
    "ics": "text/calendar; charset=utf-8",
    "json": "application/json",
}
EXTENSIONS = {"frab-xml": "xml", "frab-json": "json", "ics": "ics", "json": "json"}
FORMATS = tuple(MEDIA_TYPES)  # the export formats, named once (as keys of the tables above)
FRAB_JSON_SCHEMA = "https://c3voc.de/schedule/schema.json"
PODIUM_SCHEMA = "https://podium/schemas/podium-export.schema.json"
GENERATOR = "podium"


def talk_url(talk_id: str, settings: ExportSettings) -> str:
    """The talk's public page, or `urn:uuid:<guid>` when no page URL is configured."""
    if settings.talk_url:
        from urllib.parse import quote

        return settings.talk_url.replace("{talk_id}", quote(talk_id, safe=""))
    return f"urn:uuid:{talk_guid(talk_id)}"


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _slug(acronym: str, item: ExportTalk) -> str:
    title = _slugify(item.talk.title)[:48].strip("-")
    slug = f"{acronym}-{item.number}" + (f"-{title}" if title else "")
    return slug.rstrip("-_")


def _hhmm(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _description(item: ExportTalk) -> str:
    text = item.talk.description
    if item.tags:
        text = (text + "\n\n" if text else "") + "Tags: " + ", ".join(item.tags)
    return text


def _track(item: ExportTalk, event_tags: list[str]) -> str:
    """The talk's first tag that is one of the event's (pretalx tracks arrive as event tags)."""
    return next((t for t in item.tags if t in event_tags), "")


def _days(schedule: EventSchedule, zone: ZoneInfo, fmt: str) -> list[tuple[date, list[ExportTalk]]]:
    by_day: dict[date, list[ExportTalk]] = {}
    for item in schedule.scheduled:
        assert item.talk.slot is not None
        by_day.setdefault(item.talk.slot.start.astimezone(zone).date(), []).append(item)
    if not by_day:
        event = schedule.event
        if event.starts_on is None:
            raise NothingScheduledError(event.event_id, fmt)
        end = event.ends_on or event.starts_on
        span = (end - event.starts_on).days
        by_day = {event.starts_on + timedelta(days=d): [] for d in range(span + 1)}
    return sorted(by_day.items())


def _day_bounds(day: date, items: list[ExportTalk], zone: ZoneInfo) -> tuple[datetime, datetime]:
    if not items:
        start = datetime.combine(day, time(0, 0), zone)
        return start, start + timedelta(days=1) - timedelta(minutes=1)
    starts = [i.talk.slot.start.astimezone(zone) for i in items if i.talk.slot]
    ends = [i.talk.slot.end.astimezone(zone) for i in items if i.talk.slot]
    return min(starts), max(ends)


def _rooms(items: list[ExportTalk]) -> dict[str, list[ExportTalk]]:
    rooms: dict[str, list[ExportTalk]] = {}
    for item in items:
        assert item.talk.slot is not None
        rooms.setdefault(item.talk.slot.room or "—", []).append(item)
    return rooms


@dataclass(frozen=True)
class _Frab:
    """What every part of one frab export (XML or JSON) is written from."""

    schedule: EventSchedule
    settings: ExportSettings
    zone: ZoneInfo
    acronym: str
    days: list[tuple[date, list[ExportTalk]]]
    start: date  # the conference's first and last days
    end: date


def _frab(schedule: EventSchedule, settings: ExportSettings, fmt: str) -> _Frab:
    zone = ZoneInfo(settings.time_zone)
    days = _days(schedule, zone, fmt)
    first, last = days[0][0], days[-1][0]
    event = schedule.event
    start, end = min(first, event.starts_on or first), max(last, event.ends_on or last)
    return _Frab(schedule, settings, zone, acronym_of(event.event_id), days, start, end)


def _frab_event_fields(frab: _Frab, item: ExportTalk, room: str) -> dict[str, Any]:
    """A talk's frab event fields, in frab's order, as both frab formats name them."""
    talk, slot = item.talk, item.talk.slot
    assert slot is not None
    local = slot.start.astimezone(frab.zone)
    return {
        "date": local.isoformat(),
        "start": local.strftime("%H:%M"),
        "end": slot.end.astimezone(frab.zone).isoformat(),
        "duration": _hhmm(slot.end - slot.start),
        "room": room,
        "slug": _slug(frab.acronym, item),
        "url": talk_url(talk.talk_id, frab.settings),
        "title": talk.title,
        "subtitle": None,
        "track": _track(item, frab.schedule.event.tags),
        "type": "talk",
        "language": talk.language,
        "abstract": talk.description.split("\n\n", 1)[0],
        "description": _description(item),
    }


# ---- frab XML --------------------------------------------------------------------------------


def to_frab_xml(schedule: EventSchedule, settings: ExportSettings) -> bytes:
    """The schedule as frab `schedule.xml` (valid against the voc XSD)."""
    frab = _frab(schedule, settings, "frab-xml")
    root = ET.Element("schedule")
    ET.SubElement(root, "generator", name=GENERATOR)
    ET.SubElement(root, "version").text = "1"
    conference = ET.SubElement(root, "conference")
    ET.SubElement(conference, "title").text = schedule.event.name
    ET.SubElement(conference, "acronym").text = frab.acronym
    ET.SubElement(conference, "start").text = frab.start.isoformat()
    ET.SubElement(conference, "end").text = frab.end.isoformat()
    ET.SubElement(conference, "days").text = str(len(frab.days))
    ET.SubElement(conference, "time_zone_name").text = settings.time_zone
    for tag in schedule.event.tags:
        ET.SubElement(conference, "track", name=tag)
    for index, (day, items) in enumerate(frab.days, start=1):
        day_start, day_end = _day_bounds(day, items, frab.zone)
        day_element = ET.SubElement(
            root,
            "day",
            index=str(index),
            date=day.isoformat(),
            start=day_start.isoformat(),
            end=day_end.isoformat(),
        )
        for room, talks in _rooms(items).items():
            room_element = ET.SubElement(day_element, "room", name=room)
            for item in talks:
                _frab_xml_event(frab, room_element, item, room)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _frab_xml_event(frab: _Frab, parent: ET.Element, item: ExportTalk, room: str) -> None:
    event = ET.SubElement(parent, "event", id=str(item.number), guid=item.guid)
    values = _frab_event_fields(frab, item, room)
    del values["end"]  # not an element of frab XML
    if not frab.settings.talk_url:
        values["url"] = None  # no page: the element is left out, not given the urn
    for name, value in values.items():
        if value is not None:
            ET.SubElement(event, name).text = value
    persons = ET.SubElement(event, "persons")
    for speaker in item.talk.speakers:
        ET.SubElement(persons, "person").text = speaker
    links = ET.SubElement(event, "links")
    for other in item.related:
        ET.SubElement(
            links, "link", href=talk_url(other.talk_id, frab.settings), type="related"
        ).text = other.title


# ---- frab JSON -------------------------------------------------------------------------------


def to_frab_json(schedule: EventSchedule, settings: ExportSettings) -> dict[str, Any]:
    """The schedule as frab `schedule.json` (valid against the voc JSON Schema)."""
    frab = _frab(schedule, settings, "frab-json")
    rooms: dict[str, None] = {}
    day_objects = []
    for index, (day, items) in enumerate(frab.days, start=1):
        day_start, day_end = _day_bounds(day, items, frab.zone)
        by_room = _rooms(items)
        rooms.update(dict.fromkeys(by_room))
        day_objects.append(
            {
                "index": index,
                "date": day.isoformat(),
                "day_start": day_start.isoformat(),
                "day_end": day_end.isoformat(),
                "rooms": {
                    room: [_frab_json_event(frab, i, room) for i in talks]
                    for room, talks in by_room.items()
                },
            }
        )
    conference: dict[str, Any] = {
        "acronym": frab.acronym,
        "title": schedule.event.name,
        "start": frab.start.isoformat(),
        "end": frab.end.isoformat(),
        "daysCount": len(frab.days),
        "timeslot_duration": "00:05",
        "time_zone_name": settings.time_zone,
        "rooms": [{"name": r, "guid": talk_guid(f"room:{frab.acronym}:{r}")} for r in rooms],
        "tracks": [{"name": t} for t in schedule.event.tags],
        "days": day_objects,
    }
    if schedule.event.description:
        conference["description"] = schedule.event.description
    return {
        "$schema": FRAB_JSON_SCHEMA,
        "generator": {"name": GENERATOR},
        "schedule": {"version": "1", "conference": conference},
    }


def _frab_json_event(frab: _Frab, item: ExportTalk, room: str) -> dict[str, Any]:
    fields = _frab_event_fields(frab, item, room)
    return {
        "guid": item.guid,
        "id": item.number,
        **fields,
        "track": fields["track"] or None,
        "persons": [
            {"name": s, "guid": talk_guid(f"person:{' '.join(s.casefold().split())}")}
            for s in item.talk.speakers
        ],
        "links": [
            {"type": "related", "url": talk_url(o.talk_id, frab.settings), "title": o.title}
            for o in item.related
        ],
    }


# ---- iCalendar -------------------------------------------------------------------------------


def _ics_text(value: str) -> str:
    """RFC 5545 TEXT escaping (backslash, semicolon, comma, newline)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def to_ics(schedule: EventSchedule, settings: ExportSettings, *, stamp: datetime) -> bytes:
    """The scheduled talks as an iCalendar file (times in UTC).

    Args:
        schedule: the event's schedule.
        settings: export settings.
        stamp: DTSTAMP of every VEVENT (when the export was made).
    """
    if not schedule.scheduled:
        raise NothingScheduledError(schedule.event.event_id, "ics")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Podium//Schedule export//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ics_text(schedule.event.name)}",
    ]
    for item in schedule.scheduled:
        talk, slot = item.talk, item.talk.slot
        assert slot is not None
        description = _description(item)
        if item.related:
            description += "\n\nRelated talks: " + "; ".join(o.title for o in item.related)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{item.guid}@podium",
            f"DTSTAMP:{_utc(stamp)}",
            f"DTSTART:{_utc(slot.start)}",
            f"DTEND:{_utc(slot.end)}",
            f"SUMMARY:{_ics_text(talk.title)}",
            f"DESCRIPTION:{_ics_text(description)}",
        ]
        if slot.room:
            lines.append(f"LOCATION:{_ics_text(slot.room)}")
        if item.tags:
            lines.append("CATEGORIES:" + ",".join(_ics_text(t) for t in item.tags))
        if settings.talk_url:
            lines.append(f"URL:{talk_url(talk.talk_id, settings)}")
        for other in item.related:
            lines.append(f"RELATED-TO;RELTYPE=SIBLING:{other.guid}@podium")
        if item.cover is not None:
            lines.append(f"X-PODIUM-COVER-ALT:{_ics_text(item.cover.alt_text)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")


# ---- Podium JSON -----------------------------------------------------------------------------


def to_podium_json(
    schedule: EventSchedule, settings: ExportSettings, *, generated_at: datetime
) -> dict[str, Any]:
    """Every live talk of the event with its slot (or null), tags, related talks and cover
    (`docs/schemas/podium-export.schema.json`)."""
    event = schedule.event
    return {
        "$schema": PODIUM_SCHEMA,
        "version": 1,
        "generated_at": generated_at.astimezone(UTC).isoformat(),
        "event": {
            "event_id": event.event_id,
            "name": event.name,
            "description": event.description,
            "tags": list(event.tags),
            "starts_on": event.starts_on.isoformat() if event.starts_on else None,
            "ends_on": event.ends_on.isoformat() if event.ends_on else None,
        },
        "talks": [
            {
                "talk_id": item.talk.talk_id,
                "guid": item.guid,
                "url": talk_url(item.talk.talk_id, settings),
                "title": item.talk.title,
                "description": item.talk.description,
                "speakers": list(item.talk.speakers),
                "language": item.talk.language,
                "state": str(item.talk.state),
                "slot": None
                if item.talk.slot is None
                else {
                    "start": item.talk.slot.start.astimezone(UTC).isoformat(),
                    "end": item.talk.slot.end.astimezone(UTC).isoformat(),
                    "room": item.talk.slot.room,
                },
                "tags": list(item.tags),
                "related": [
                    {"talk_id": o.talk_id, "guid": o.guid, "title": o.title, "score": o.score}
                    for o in item.related
                ],
                "cover": None
                if item.cover is None
                else {"path": item.cover.path, "alt_text": item.cover.alt_text},
            }
            for item in schedule.talks
        ],
    }


def render(schedule: EventSchedule, fmt: str, settings: ExportSettings, *, now: datetime) -> bytes:
    """The export in `fmt` (one of `FORMATS`) as bytes."""
    if fmt == "frab-xml":
        return to_frab_xml(schedule, settings)
    if fmt == "frab-json":
        return _json_bytes(to_frab_json(schedule, settings))
    if fmt == "ics":
        return to_ics(schedule, settings, stamp=now)
    if fmt == "json":
        return _json_bytes(to_podium_json(schedule, settings, generated_at=now))
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _json_bytes(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
