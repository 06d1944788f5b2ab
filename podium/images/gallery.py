"""A markdown gallery of covers, for a Prefect artifact."""

from __future__ import annotations

import base64
import io
import logging

import pandas as pd
from PIL import Image

from podium.lake import Lake

log = logging.getLogger(__name__)


def _cell(text: object, limit: int = 160) -> str:
    # Table cells are one line; pipes would split them.
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("|", "\\|")


def _alt(text: str) -> str:
    # Markdown image alt text: one line, no brackets that would end it, no table pipes.
    value = " ".join(str(text).split()).replace("[", "(").replace("]", ")")
    return value.replace("|", "\\|")


def thumbnail_data_uri(data: bytes, *, width: int = 240) -> str:
    """A small JPEG of an image (any format Pillow reads) as a data: URI (a few KB)."""
    with Image.open(io.BytesIO(data)) as source:
        rgb = source.convert("RGB")
    height = max(1, round(rgb.height * width / rgb.width))
    thumb = rgb.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=72, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def cover_gallery_markdown(
    rows: pd.DataFrame, *, lake: Lake, max_thumbnails: int = 24, thumb_width: int = 240
) -> str:
    """Markdown listing covers: a thumbnail, where the image is, and how it was made.

    Thumbnails are embedded as plain `![](data:…)` images (so they show for a local lake and
    S3 alike, with no public URL). The Prefect UI renders an image wrapped in a link as raw
    text, and a relative link to a lake path opens "Page not found", so nothing here is a link
    and there is no inline HTML: locations are plain text. Past `max_thumbnails` rows only the
    location is listed, to keep the artifact small.

    Args:
        rows: `talk_images` rows (as returned by `store_covers`).
        lake: where the images are (JPEG, PNG or WebP, as each row's path says).
        max_thumbnails: rows that get an embedded thumbnail.
        thumb_width: thumbnail width in pixels.

    Returns:
        The markdown.
    """
    if rows.empty:
        return "# Covers\n\nNo covers were made in this run.\n"
    backends = rows["backend"].value_counts().to_dict()
    flagged = int(rows["flagged"].sum())
    summary = ", ".join(f"{count} {name}" for name, count in sorted(backends.items()))
    shown = min(len(rows), max_thumbnails)
    lines = [
        "# Covers",
        "",
        f"{len(rows)} covers: {summary}; {flagged} flagged by the safety checker "
        "(replaced by a card).",
        "",
        f"Thumbnails of the first {shown}; every image is in the lake at `{_cell(lake.url)}`.",
        "",
        "| cover | talk | alt text | made by | seed | prompt | file |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, row in enumerate(rows.itertuples(index=False)):
        image = "—"
        alt = getattr(row, "alt_text", "") or ""
        if i < max_thumbnails:
            try:
                uri = thumbnail_data_uri(lake.get_blob(row.path), width=thumb_width)
                image = f"![{_alt(alt)}]({uri})"
            except (OSError, ValueError) as exc:  # a missing/corrupt image must not fail the run
                log.warning("no thumbnail for %s: %s", row.path, exc)
                image = f"unreadable: {_cell(exc, 80)}"
        made_by = f"{_cell(row.backend)} · {_cell(row.model, 80)}"
        if row.flagged:
            made_by += " · **flagged**"
        prompt = _cell(row.prompt) if row.prompt else "—"
        lines.append(
            f"| {image} | {_cell(row.talk_id)} | {_cell(alt, 250) if alt else '—'} | {made_by} "
            f"| {row.seed} | {prompt} | {_cell(row.path)} |"
        )
    return "\n".join(lines) + "\n"
