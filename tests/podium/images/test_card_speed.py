"""What makes cards fast must not change what they show: caches, glyph drawing, formats.

Real: Pillow and FreeType with the bundled Noto fonts, the cards' own encoders, Pillow's
decoders as the judge, a local Delta lake, and a moto S3 server over HTTP for the stored
content type. Nothing is faked; caches are emptied for real to compare cold with warm.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from podium.images import CardBackend, ImageSettings, build_image_backend, fonts, store_covers
from podium.images import card as card_module
from podium.images.base import cover_path, media_type_of
from podium.images.fonts import Typesetter, font_chain, wrap
from podium.lake import Lake
from podium.models import Talk

TALKS = [
    Talk(talk_id="en", title="Warm executors for cold models", speakers=["Ada"], tags=["python"]),
    Talk(talk_id="en2", title="Warm executors for cold modems", speakers=["Ada"], tags=["python"]),
    Talk(talk_id="ja", title="機械学習パイプラインの設計と運用", language="jpn", tags=["ml"]),
    Talk(talk_id="ko", title="파이썬으로 만드는 데이터 파이프라인", language="kor"),
    Talk(talk_id="ru", title="Асинхронный Python в продакшене", language="rus"),
    Talk(talk_id="ar", title="تعلم الآلة في الإنتاج مع Python", language="ar"),
]


def _clear_caches() -> None:
    fonts._glyph.cache_clear()
    fonts._metrics.cache_clear()
    card_module._GRADIENTS.clear()
    card_module._SEEN.clear()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_warm_caches_give_the_same_bytes_as_cold_ones() -> None:
    _clear_caches()
    cold = CardBackend().render(TALKS, tags={})
    warm = CardBackend().render(TALKS, tags={})  # glyphs, metrics and gradients all cached
    assert [c.data for c in warm] == [c.data for c in cold]
    _clear_caches()
    # Another order: whatever filled the caches first, each card is the same.
    again = CardBackend().render(TALKS[::-1], tags={})[::-1]
    assert [c.data for c in again] == [c.data for c in cold]


def test_threads_sharing_one_backend_and_its_caches_draw_the_same_cards() -> None:
    # A process may render from several threads (a thread task runner): the shared glyph,
    # metric and gradient caches must not mix cards up.
    from concurrent.futures import ThreadPoolExecutor

    talks = [
        Talk(talk_id=f"{t.talk_id}-{i}", title=t.title, language=t.language, tags=t.tags)
        for i in range(4)
        for t in TALKS
    ]
    serial = {c.talk_id: c.data for c in CardBackend().render(talks, tags={})}
    _clear_caches()
    backend = CardBackend()
    with ThreadPoolExecutor(3) as pool:
        parts = list(pool.map(lambda i: backend.render(talks[i::3], tags={}), range(3)))
    assert {c.talk_id: c.data for part in parts for c in part} == serial


def test_cached_cards_still_differ_where_their_talks_differ() -> None:
    covers = CardBackend().render(TALKS, tags={})
    assert len({c.data for c in covers}) == len(TALKS)
    # Titles one letter apart, same tag colours: the title block differs, the rest does not.
    first, second = (_pixels(c.data) for c in covers[:2])
    differs = np.abs(first - second).max(axis=2) > 40
    rows = np.where(differs.any(axis=1))[0]
    assert differs.sum() > 50 and rows.min() >= 150 and rows.max() <= 500


def test_cached_glyphs_draw_what_pillow_draws() -> None:
    # The same line drawn from cached glyph masks and by Pillow in one call: the ink lands in
    # the same place (kerning included) and covers the same area.
    typesetter = Typesetter(font_chain(language="en"))
    face = typesetter.faces[0]
    for text, size in (("AVATAR Wave, Type & Tokyo", 76), ("Асинхронный Python", 30)):
        ours = Image.new("RGB", (1200, 120), (0, 0, 0))
        typesetter.draw(ours, (10, 90), text, size=size, fill=(255, 255, 255), bold=True)
        theirs = Image.new("RGB", (1200, 120), (0, 0, 0))
        font = typesetter.font(face, size, bold=True)
        ImageDraw.Draw(theirs).text((10, 90), text, font=font, fill=(255, 255, 255), anchor="ls")
        a = np.asarray(ours)[..., 0].astype(float)
        b = np.asarray(theirs)[..., 0].astype(float)
        assert abs(a.sum() - b.sum()) / b.sum() < 0.02
        columns_a, columns_b = np.where(a.max(axis=0) > 128)[0], np.where(b.max(axis=0) > 128)[0]
        assert abs(columns_a.min() - columns_b.min()) <= 2
        assert abs(columns_a.max() - columns_b.max()) <= 2
        assert abs(typesetter.width(text, size, bold=True) - font.getlength(text)) < 1.0


def test_widths_from_one_measurement_match_pillow_at_every_size() -> None:
    for language, text in (
        ("en", "Scaling event-driven enrichment"),
        ("ja", "機械学習パイプライン"),
    ):
        typesetter = Typesetter(font_chain(language=language))
        face = typesetter.runs(text)[0][0]
        for size in (24, 30, 52, 76):
            expected = typesetter.font(face, size, bold=True).getlength(text)
            assert abs(typesetter.width(text, size, bold=True) - expected) < 1.0


def test_korean_wraps_at_spaces_and_japanese_between_characters() -> None:
    korean = Typesetter(font_chain(language="ko"))
    title = "파이썬으로 만드는 데이터 파이프라인 그리고 동시성 웹 스크래퍼"
    lines = wrap(korean, title, size=76, width=1040, bold=True)
    assert len(lines) > 1 and all(word in title.split() for line in lines for word in line.split())
    japanese = Typesetter(font_chain(language="jpn"))
    lines = wrap(japanese, "機械学習パイプラインの設計と運用" * 3, size=76, width=1040, bold=True)
    assert len(lines) > 1 and all(japanese.width(line, 76, bold=True) <= 1040 for line in lines)


@pytest.mark.parametrize(
    ("title", "language"),
    [
        ("Djangoを活用したM2Mクラウドプラットフォーム、WebSocketとasyncioで作る" * 2, "jpn"),
        ("네트워크 엔지니어들을 위한 Python: asyncio, Trio, 그리고 curio 비교 " * 2, "kor"),
        ("curio — экспериментальный подход к async/await, WAVE ТАТАРСТАН " * 3, "rus"),
    ],
)
def test_mixed_script_titles_are_drawn_inside_the_margins(title: str, language: str) -> None:
    # Lines are measured in context (Latin inside a CJK run keeps the CJK face) and drawn
    # from cached glyphs: what is drawn must stay where the layout measured it.
    talk = Talk(talk_id="m", title=title, language=language)
    [cover] = CardBackend(format="png").render([talk], tags={})
    white = _pixels(cover.data).min(axis=2) >= 250
    columns, rows = np.where(white.any(axis=0))[0], np.where(white.any(axis=1))[0]
    assert columns.min() >= 78 and columns.max() <= 1200 - 78
    assert rows.min() >= 140 and rows.max() <= 510


def test_three_letter_language_codes_pick_their_cjk_glyph_forms() -> None:
    for language, index in (("jpn", 0), ("kor", 1), ("zho", 2)):
        cjk = [f for f in font_chain(language=language) if f.path and "CJK" in f.path]
        assert cjk and cjk[0].index == index


@pytest.mark.parametrize(
    ("fmt", "pil_format", "media_type", "extension"),
    [
        ("jpeg", "JPEG", "image/jpeg", "jpg"),
        ("png", "PNG", "image/png", "png"),
        ("webp", "WEBP", "image/webp", "webp"),
    ],
)
def test_every_format_decodes_at_the_card_size_and_is_stored_under_its_extension(
    tmp_path: Path, fmt: str, pil_format: str, media_type: str, extension: str
) -> None:
    backend = build_image_backend(
        ImageSettings(width=600, height=315, card_format=fmt), device="cpu"
    )
    [cover] = backend.render([TALKS[0]], tags={})
    image = Image.open(io.BytesIO(cover.data))
    assert (image.format, image.size, image.mode) == (pil_format, (600, 315), "RGB")
    assert cover.media_type == media_type and cover.extension == extension
    assert cover.path == f"images/en/{TALKS[0].content_hash}.{extension}"
    assert media_type_of(cover.path) == media_type
    [again] = backend.render([TALKS[0]], tags={})
    assert again.data == cover.data  # deterministic in every format
    lake = Lake(str(tmp_path / "lake"))
    rows = store_covers(lake=lake, covers=[cover])
    assert list(rows["path"]) == [cover.path] and lake.get_blob(cover.path) == cover.data


def test_a_cover_remade_in_another_format_replaces_its_old_file(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    talk = TALKS[0]
    [png] = CardBackend(width=300, height=158, format="png").render([talk], tags={})
    store_covers(lake=lake, covers=[png])
    [jpg] = CardBackend(width=300, height=158, format="jpeg").render([talk], tags={})
    store_covers(lake=lake, covers=[jpg])  # the settings switched to JPEG: same talk, same hash
    assert list(lake.read("talk_images")["path"]) == [jpg.path]
    assert lake.blob_exists(jpg.path) and not lake.blob_exists(png.path)
    version = lake.version("talk_images")
    store_covers(lake=lake, covers=[jpg])  # stored again: nothing changes, nothing is removed
    assert lake.version("talk_images") == version and lake.get_blob(jpg.path) == jpg.data


def test_lossy_formats_stay_close_to_the_lossless_card() -> None:
    talk = TALKS[0]
    exact = _pixels(CardBackend(format="png").render([talk], tags={})[0].data)
    for fmt in ("jpeg", "webp"):
        lossy = _pixels(CardBackend(format=fmt, quality=85).render([talk], tags={})[0].data)
        psnr = 10 * np.log10(255**2 / ((lossy - exact) ** 2).mean())
        assert psnr > 35, f"{fmt}: {psnr:.1f} dB"


def test_unknown_formats_and_extensions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown card format"):
        CardBackend(format="gif")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported cover extension"):
        cover_path("t", "h", extension="exe")


@pytest.fixture(scope="module")
def s3_lake() -> Iterator[Lake]:
    from tests.moto_server import moto_server
    from tests.podium.lake.conftest import s3_lake as lake_in_fresh_bucket

    with moto_server() as url:
        yield lake_in_fresh_bucket(url)


def test_covers_on_s3_carry_their_content_type(s3_lake: Lake) -> None:
    import boto3

    covers = [
        CardBackend(width=300, height=158, format=fmt).render([TALKS[i]], tags={})[0]
        for i, fmt in enumerate(("jpeg", "png"))
    ]
    store_covers(lake=s3_lake, covers=covers)
    bucket, prefix = s3_lake.url.removeprefix("s3://").split("/", 1)
    client = boto3.client(
        "s3",
        endpoint_url=s3_lake.fs_options["endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    for cover in covers:
        head = client.head_object(Bucket=bucket, Key=f"{prefix}/{cover.path}")
        assert head["ContentType"] == cover.media_type
        assert s3_lake.get_blob(cover.path) == cover.data
