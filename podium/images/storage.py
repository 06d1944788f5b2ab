"""Covers in the lake: images at images/<talk_id>/<content_hash>.<ext>, metadata in `talk_images`.

The extension follows each cover's encoding (`jpg` for title cards, `png` for generated
images); readers take the path from the row, never rebuild it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import pandas as pd

from podium.images.base import EXTENSIONS, CoverImage, cover_path
from podium.lake import Lake, LakeError, sql_list

log = logging.getLogger(__name__)

TABLE = "talk_images"
# A matched row is rewritten only when what made the image changed, so re-delivering the same
# talk keeps its created_at (the image bytes are deterministic and simply rewritten).
_CHANGED = (
    "t.backend != s.backend OR t.model != s.model OR t.seed != s.seed OR t.prompt != s.prompt "
    "OR t.negative_prompt != s.negative_prompt OR t.flagged != s.flagged "
    "OR t.width != s.width OR t.height != s.height OR t.path != s.path "
    "OR t.alt_text IS NULL OR t.alt_text != s.alt_text"
)
_DELETE_CHUNK = 200


def cover_rows(covers: list[CoverImage], *, created_at: datetime) -> pd.DataFrame:
    """`talk_images` rows for covers (no I/O)."""
    rows = [
        {
            "talk_id": c.talk_id,
            "content_hash": c.content_hash,
            "path": c.path,
            "backend": c.backend,
            "model": c.model,
            "seed": c.seed,
            "prompt": c.prompt,
            "negative_prompt": c.negative_prompt,
            "flagged": c.flagged,
            "width": c.width,
            "height": c.height,
            "created_at": created_at,
            "alt_text": c.alt_text,
        }
        for c in covers
    ]
    frame = pd.DataFrame(rows, columns=list(_COLUMNS))
    return frame.astype({"seed": "int64", "width": "int32", "height": "int32", "flagged": "bool"})


_COLUMNS = (
    "talk_id",
    "content_hash",
    "path",
    "backend",
    "model",
    "seed",
    "prompt",
    "negative_prompt",
    "flagged",
    "width",
    "height",
    "created_at",
    "alt_text",
)


def covers_version(*, lake: Lake) -> int | None:
    """The table's Delta version (None before the first cover)."""
    return lake.version(TABLE)


def read_covers(*, lake: Lake, talk_ids: list[str] | None = None) -> pd.DataFrame:
    """`talk_images` rows (every column) of some talks or all; `alt_text` is null on rows
    stored before covers had alt text (`podium.images.alt_text.cover_alt_text` describes
    them from the row)."""
    where = None if talk_ids is None else [("talk_id", "in", list(talk_ids))]
    return lake.read(TABLE, where=where)


def cover_versions(*, lake: Lake) -> set[tuple[str, str]]:
    """(talk id, content hash) of every stored cover: which talk versions have one."""
    rows = lake.read(TABLE, columns=["talk_id", "content_hash"])
    return set(zip(rows.talk_id, rows.content_hash, strict=True))


def store_covers(*, lake: Lake, covers: list[CoverImage]) -> pd.DataFrame:
    """Write each cover's image, then upsert its `talk_images` row.

    Blobs go first so a row never points at a missing image; rerunning is safe (same path,
    same bytes, unchanged rows are not rewritten). When one talk appears twice, the last
    cover wins.

    Args:
        lake: where to write.
        covers: rendered covers.

    Returns:
        The rows written, one per (talk_id, content_hash).
    """
    if not covers:
        return cover_rows([], created_at=datetime.now(UTC))
    latest = list({(c.talk_id, c.content_hash): c for c in covers}.values())
    for cover in latest:
        lake.put_blob(cover.path, cover.data, content_type=cover.media_type)
    rows = cover_rows(latest, created_at=datetime.now(UTC))
    stats = lake.upsert(TABLE, rows, changed_when=_CHANGED)
    log.info("stored %d covers (%d new, %d changed)", len(rows), stats.inserted, stats.updated)
    if stats.updated:
        _remove_other_formats(lake, latest)
    return rows


def _remove_other_formats(lake: Lake, covers: list[CoverImage]) -> None:
    # A cover re-made in another format (`images.card_format` changed) has a new file name;
    # once its row points at the new file, the old one would be left behind for ever. Only
    # runs when rows changed, so storing new covers pays nothing for it.
    for cover in covers:
        for extension in EXTENSIONS.values():
            if extension == cover.extension:
                continue
            try:
                lake.delete_blob(cover_path(cover.talk_id, cover.content_hash, extension=extension))
            except FileNotFoundError:
                continue


def remove_stale_covers(
    *,
    lake: Lake,
    keep_latest: int = 1,
    current: Mapping[str, str] | None = None,
) -> int:
    """The retention step: delete all but each talk's newest covers, rows and images.

    Args:
        lake: the lake.
        keep_latest: how many covers to keep per talk, newest first (>= 1).
        current: talk_id -> the talk's current content hash; that cover is always kept,
            even when newer ones exist (e.g. a talk edited and then reverted).

    Returns:
        How many covers were removed.
    """
    if keep_latest < 1:
        raise ValueError("keep_latest must be at least 1")
    rows = lake.read(TABLE, columns=["talk_id", "content_hash", "path", "created_at"])
    if rows.empty:
        return 0
    rows = rows.sort_values(
        ["talk_id", "created_at", "content_hash"], ascending=[True, False, True]
    )
    rank = rows.groupby("talk_id").cumcount()
    stale = rows[rank >= keep_latest]
    if current:
        is_current = [
            current.get(t) == h
            for t, h in zip(stale["talk_id"], stale["content_hash"], strict=True)
        ]
        stale = stale[[not c for c in is_current]]
    if stale.empty:
        return 0
    removed = 0
    pairs = list(zip(stale["talk_id"], stale["content_hash"], stale["path"], strict=True))
    for start in range(0, len(pairs), _DELETE_CHUNK):
        chunk = pairs[start : start + _DELETE_CHUNK]
        predicate = " OR ".join(
            f"(talk_id = {sql_list([t])[1:-1]} AND content_hash = {sql_list([h])[1:-1]})"
            for t, h, _ in chunk
        )
        removed += lake.delete(TABLE, predicate=predicate)
        # Rows go before blobs: a failure here leaves an orphan image, never a dangling row.
        for _, _, path in chunk:
            try:
                lake.delete_blob(path)
            except FileNotFoundError:
                log.info("stale cover %s was already gone", path)
            except LakeError as error:  # a row whose path would leave the lake: never followed
                log.warning("stale cover row not followed: %s", error)
    log.info("removed %d stale covers", removed)
    return removed


__all__ = [
    "TABLE",
    "cover_path",
    "cover_rows",
    "read_covers",
    "remove_stale_covers",
    "store_covers",
]
