"""Alt text on every cover: made with the cover, stored in `talk_images`, shown in the gallery
artifact, and described from the row for covers stored before alt text existed (an old table
stays readable)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from podium.dynamodb.sink import talk_covers
from podium.images import CardBackend, cover_gallery_markdown, store_covers
from podium.images.alt_text import MAX_ALT, cover_alt_text, prompt_description
from podium.images.storage import read_covers
from podium.lake import Lake
from podium.lake.tables import ADDED_COLUMNS, SCHEMAS
from podium.models import Talk
from podium.recording import record_talks


def test_card_and_generated_alt_text() -> None:
    card = cover_alt_text(
        title="Async  Python", tags=["python", "asyncio", "web", "x"], backend="card"
    )
    assert card == "Title card for the talk “Async Python”, with the tags python, asyncio, web."
    prompt = (
        "a lighthouse guiding ships through fog, circuit patterns, flat vector illustration, "
        "muted palette"
    )
    made = cover_alt_text(
        title="Observability", tags=["devops"], backend="diffusers", prompt=prompt
    )
    assert made.startswith("Illustration for the talk “Observability”: a lighthouse guiding ships")
    assert made.endswith("Tags: devops.")
    assert prompt_description(prompt, max_words=6) == "a lighthouse guiding ships through fog"
    assert (
        prompt_description(prompt, max_words=9)
        == "a lighthouse guiding ships through fog, circuit patterns"
    )
    long = cover_alt_text(
        title="word " * 200, tags=["t" * 80] * 3, backend="diffusers", prompt=prompt * 5
    )
    assert len(long) <= MAX_ALT and long.endswith("…")


def test_card_covers_carry_alt_text_into_the_lake_and_the_gallery(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    talk = Talk(talk_id="t1", title="Delta | tables [for] fun", speakers=["Ada"], tags=["data"])
    covers = CardBackend(width=300, height=158).render([talk], tags={"t1": ["lakes"]})
    assert covers[0].alt_text == (
        "Title card for the talk “Delta | tables [for] fun”, with the tags lakes, data."
    )
    rows = store_covers(lake=lake, covers=covers)
    assert list(read_covers(lake=lake).alt_text) == [covers[0].alt_text]
    markdown = cover_gallery_markdown(rows, lake=lake)
    # The thumbnail's alt text, with the characters markdown would read otherwise escaped.
    assert (
        "![Title card for the talk “Delta \\| tables (for) fun”, with the tags lakes, data.]"
        "(data:image/jpeg" in markdown
    )


def test_covers_stored_before_alt_text_are_described_from_their_row(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    talk = Talk(talk_id="old", title="Legacy cover", speakers=["Ada"], tags=["history"])
    record_talks(lake=lake, talks=[talk])
    # The table as it first shipped: before the columns added since (alt_text among them).
    added = ADDED_COLUMNS["talk_images"]
    old_schema = pa.schema([f for f in SCHEMAS["talk_images"] if f.name not in added])
    row = {
        "talk_id": ["old"],
        "content_hash": [talk.content_hash],
        "path": ["images/old/x.png"],
        "backend": ["diffusers"],
        "model": ["sd"],
        "seed": [1],
        "prompt": ["a stack of clay tablets, warm light, flat vector illustration"],
        "negative_prompt": [""],
        "flagged": [False],
        "width": [64],
        "height": [64],
        "created_at": [datetime(2026, 1, 1, tzinfo=UTC)],
    }
    write_deltalake(lake.table_uri("talk_images"), pa.table(row, schema=old_schema))
    rows = read_covers(lake=lake)  # opening it adds the column, null
    assert rows.alt_text.isna().all()
    cover = talk_covers(lake, [talk])["old"]
    assert cover["altText"] == (
        "Illustration for the talk “Legacy cover”: a stack of clay tablets, warm light, flat "
        "vector illustration. Tags: history."
    )


def test_the_style_preset_is_not_part_of_the_description() -> None:
    from podium.images.prompts import STYLE_PRESETS, build_prompt

    talk = Talk(talk_id="t", title="Tracing requests", description="Spans across services.")
    style = STYLE_PRESETS["editorial"][0]
    prompt = build_prompt(talk, tags={"t": ["observability"]}).prompt
    assert prompt.endswith(style)
    alt = cover_alt_text(
        title=talk.title,
        tags=["observability"],
        backend="diffusers",
        prompt=prompt,
        style_text=style,
    )
    assert alt.startswith(
        "Illustration for the talk “Tracing requests”: Tracing requests, observability"
    )
    assert style.split(",")[0] not in alt
