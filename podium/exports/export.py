"""One call for an event's export: read its schedule, write it in a format."""

from __future__ import annotations

from datetime import UTC, datetime

from podium.exports.config import ExportSettings
from podium.exports.formats import FORMATS, render
from podium.exports.schedule import ExportError, load_event_schedule
from podium.lake import Lake


class UnknownFormatError(ExportError):
    def __init__(self, fmt: str) -> None:
        super().__init__(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


def export_event(
    *, lake: Lake, event_id: str, fmt: str, settings: ExportSettings, now: datetime | None = None
) -> bytes:
    """The event's schedule in `fmt` (frab-xml, frab-json, ics or json).

    Raises:
        UnknownFormatError: `fmt` is not one of them.
        UnknownEventError: no such event.
        NothingScheduledError: frab and ics need a schedule the event does not have.
    """
    if fmt not in FORMATS:
        raise UnknownFormatError(fmt)
    schedule = load_event_schedule(
        lake=lake, event_id=event_id, related_limit=settings.related_limit
    )
    return render(schedule, fmt, settings, now=now or datetime.now(UTC))
