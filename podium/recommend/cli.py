"""`podium recommend EVENT_ID`: print an event's precomputed recommendations.

The lead's CLI mounts `recommend` as a command; it reads the table only (no model load).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from podium.errors import exit_with
from podium.recommend.serving import RecommendationError


def recommend(event_id: Annotated[str, typer.Argument(help="Event id")]) -> None:
    """Show the precomputed recommendations of an event, with why each talk fits."""
    from podium.lake import Lake
    from podium.recommend.serving import lookup_recommendations
    from podium.settings import get_settings

    console = Console()
    try:
        rows = lookup_recommendations(lake=Lake.from_settings(get_settings()), event_id=event_id)
    except RecommendationError as error:
        exit_with(error)
    first = rows.iloc[0]
    table = Table(
        title=f"Recommended talks for {event_id}",
        caption=(
            f"model {first['model_version']}, computed {first['computed_at']:%Y-%m-%d %H:%M} UTC"
        ),
    )
    for name, justify in [
        ("#", "right"),
        ("talk", "left"),
        ("score", "right"),
        ("tags", "right"),
        ("semantic", "right"),
        ("matched tags", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows.itertuples():
        table.add_row(
            str(row.rank),
            row.talk_id,
            f"{row.score:.3f}",
            f"{row.components.get('tag_overlap', 0.0):.3f}",
            f"{row.components.get('semantic', 0.0):.3f}",
            ", ".join(row.matched_tags) or "-",
        )
    console.print(table)
