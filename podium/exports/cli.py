"""`podium export EVENT --format frab-xml|frab-json|ics|json [--output FILE]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from podium.exports.formats import FORMATS


def export(
    event_id: Annotated[str, typer.Argument(help="Event id")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Write an event's schedule with each talk's tags, related talks and cover alt text."""
    from podium.exports.export import export_event
    from podium.lake import Lake
    from podium.settings import get_settings

    settings = get_settings()
    data = export_event(
        lake=Lake.from_settings(settings), event_id=event_id, fmt=fmt, settings=settings.exports
    )
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
