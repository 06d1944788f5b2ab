"""Cover storage, retention and the gallery against a real Delta lake in a temp folder.

Covers come from the real card backend; the Prefect tasks are called through `.fn()` with a
real lake, except the artifact publisher, whose Prefect call is checked through the markdown.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from podium.images import CardBackend, cover_gallery_markdown, remove_stale_covers, store_covers
from podium.images.base import CoverImage
from podium.lake import Lake
from podium.models import Talk


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def _covers(*talks: Talk) -> list[CoverImage]:
    return CardBackend(width=300, height=158).render(list(talks), tags={})


def test_store_writes_images_and_rows_idempotently(lake: Lake) -> None:
    talk = Talk(talk_id="t1", title="Delta tables for fun", speakers=["Ada"])
    covers = _covers(talk)
    rows = store_covers(lake=lake, covers=covers)
    path = f"images/t1/{talk.content_hash}.jpg"
    assert list(rows["path"]) == [path]
    assert lake.get_blob(path) == covers[0].data
    table = lake.read("talk_images")
    assert len(table) == 1
    first = table.iloc[0]
    assert first["backend"] == "card" and not first["flagged"]
    assert (first["width"], first["height"]) == (300, 158)
    version = lake.version("talk_images")
    store_covers(lake=lake, covers=covers)  # re-delivery: nothing changes
    again = lake.read("talk_images")
    assert len(again) == 1 and again.iloc[0]["created_at"] == first["created_at"]
    assert lake.version("talk_images") == version  # a MERGE that changes nothing commits nothing
    assert store_covers(lake=lake, covers=[]).empty


def test_edited_talk_gets_a_new_image_and_retention_removes_the_old(lake: Lake) -> None:
    old = Talk(talk_id="t1", title="Draft title")
    new = Talk(talk_id="t1", title="Final title")
    other = Talk(talk_id="t2", title="Untouched")
    store_covers(lake=lake, covers=_covers(old, other))
    store_covers(lake=lake, covers=_covers(new))
    table = lake.read("talk_images")
    assert sorted(table["content_hash"]) == sorted(
        [old.content_hash, new.content_hash, other.content_hash]
    )
    old_path = f"images/t1/{old.content_hash}.jpg"
    assert lake.blob_exists(old_path)  # the old one stays until the retention step

    assert remove_stale_covers(lake=lake, keep_latest=1) == 1
    table = lake.read("talk_images")
    assert set(zip(table["talk_id"], table["content_hash"], strict=True)) == {
        ("t1", new.content_hash),
        ("t2", other.content_hash),
    }
    assert not lake.blob_exists(old_path)
    assert lake.blob_exists(f"images/t1/{new.content_hash}.jpg")
    assert remove_stale_covers(lake=lake, keep_latest=1) == 0


def test_retention_keeps_the_current_hash_and_n_latest(lake: Lake) -> None:
    drafts = [Talk(talk_id="t1", title=f"Version {i}") for i in range(4)]
    for draft in drafts:
        store_covers(lake=lake, covers=_covers(draft))
    # Reverted to version 0: its cover is kept although three newer ones exist.
    removed = remove_stale_covers(lake=lake, keep_latest=2, current={"t1": drafts[0].content_hash})
    assert removed == 1
    kept = set(lake.read("talk_images")["content_hash"])
    assert kept == {drafts[0].content_hash, drafts[2].content_hash, drafts[3].content_hash}
    with pytest.raises(ValueError):
        remove_stale_covers(lake=lake, keep_latest=0)


def test_gallery_embeds_thumbnails_and_says_what_made_each(lake: Lake) -> None:
    talks = [Talk(talk_id=f"t{i}", title=f"Talk | {i}") for i in range(3)]
    covers = _covers(*talks)
    flagged = CoverImage(
        **{**covers[2].__dict__, "flagged": True, "prompt": "a prompt\nwith | pipe"}
    )
    rows = store_covers(lake=lake, covers=[*covers[:2], flagged])
    markdown = cover_gallery_markdown(rows, lake=lake, max_thumbnails=2, thumb_width=120)
    assert "3 covers: 3 card; 1 flagged" in markdown
    assert markdown.count("data:image/jpeg;base64,") == 2
    assert "**flagged**" in markdown and "a prompt with \\| pipe" in markdown
    uri = markdown.split("data:image/jpeg;base64,", 1)[1].split(")", 1)[0]
    thumb = Image.open(io.BytesIO(base64.b64decode(uri)))
    assert thumb.width == 120
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ") and "t" in line]
    body = [line for line in table_rows if not line.startswith("| cover")]
    # cover, talk, alt text, made by, seed, prompt, path: pipes in titles stay escaped.
    assert len(body) == 3 and all(line.count(" | ") == 6 for line in body)
    assert all("“Talk \\| " in line for line in body), "the alt text is in its own column"
    assert "No covers" in cover_gallery_markdown(rows.iloc[0:0], lake=lake)


def test_gallery_images_are_plain_and_nothing_links_to_a_local_path(lake: Lake) -> None:
    # The Prefect UI shows `[![..](data:..)](path)` as 73,000 px of raw text, and a relative
    # link to a lake path opens "Page not found": thumbnails must be bare images, no links.
    talks = [Talk(talk_id=f"t{i}", title=f"Talk {i}") for i in range(4)]
    rows = store_covers(lake=lake, covers=_covers(*talks))
    markdown = cover_gallery_markdown(rows, lake=lake, max_thumbnails=2, thumb_width=64)
    cells = [line.split(" | ")[0].removeprefix("| ") for line in markdown.splitlines()[8:]]
    # A thumbnail is `![alt text](data:…)`: an image with its alt text, never a link.
    assert [c.startswith("![") and "](data:image/jpeg;base64," in c for c in cells] == [
        1,
        1,
        0,
        0,
    ]
    assert "](" not in markdown.replace("](data:", ""), "no markdown link anywhere"
    assert "<" not in markdown, "no inline HTML (the UI does not render it)"
    for path in rows["path"]:
        assert f"| {path} |" in markdown, "every cover's location is listed as plain text"


def test_gallery_survives_a_missing_png(lake: Lake) -> None:
    rows = store_covers(lake=lake, covers=_covers(Talk(talk_id="gone", title="Gone")))
    lake.delete_blob(rows["path"].iloc[0])
    markdown = cover_gallery_markdown(rows, lake=lake)
    assert "unreadable" in markdown


def test_created_at_is_utc(lake: Lake) -> None:
    rows = store_covers(lake=lake, covers=_covers(Talk(talk_id="t", title="When")))
    created = rows["created_at"].iloc[0]
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
