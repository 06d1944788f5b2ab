"""The card backend: real Pillow rendering with the bundled fonts; nothing is faked.

Images are checked through their pixels (size, that text was drawn inside the margins, that
tag colours are shared) and through the typesetter's font choice per script.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from podium.images import CardBackend, ImageSettings, build_image_backend
from podium.images.card import tag_hue
from podium.images.fonts import Typesetter, covered, font_chain, units, wrap
from podium.models import Talk

TITLES = {
    "en": "Scaling event-driven enrichment with Prefect, Delta Lake and a very patient GPU",
    "ja": "機械学習パイプラインの設計と運用：大規模データ処理における実践的な教訓",
    "zh": "用 Python 构建可靠的数据管道",
    "ko": "파이썬으로 만드는 데이터 파이프라인",
    "ar": "تعلم الآلة في الإنتاج: دروس من الميدان مع Python",
    "hi": "मशीन लर्निंग के साथ डेटा पाइपलाइन",
    "ru": "Асинхронный Python в продакшене",
}


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _text_pixels(image: Image.Image) -> int:
    # Title text is pure white; the background never is (its lightness stays <= 0.5).
    pixels = np.asarray(image.convert("RGB"))
    return int((pixels.min(axis=2) >= 250).sum())


def test_auto_settings_without_a_model_give_the_card_backend() -> None:
    backend = build_image_backend(ImageSettings(), device="cpu")
    assert backend.name == "card"
    assert backend.model_version.startswith("card-")


@pytest.mark.parametrize("language", sorted(TITLES))
def test_card_renders_any_script_with_a_real_font(language: str) -> None:
    talk = Talk(
        talk_id=f"t-{language}", title=TITLES[language], speakers=["Ada"], language=language
    )
    [cover] = CardBackend().render([talk], tags={talk.talk_id: ["python", "data"]})
    image = _image(cover.data)
    assert (image.width, image.height) == (1200, 630) == (cover.width, cover.height)
    assert image.format == "JPEG" and cover.media_type == "image/jpeg"
    assert cover.backend == "card" and not cover.flagged
    assert cover.content_hash == talk.content_hash
    assert _text_pixels(image) > 2000  # a title was drawn
    typesetter = CardBackend().typesetter(language)
    # Every character has a glyph in a real font of the chain (no tofu from the last resort).
    assert covered(typesetter, talk.title)


def test_cjk_uses_the_cjk_face_for_its_language() -> None:
    for language, index in (("ja", 0), ("ko", 1), ("zh", 2), ("zh-TW", 3)):
        faces = font_chain(language=language)
        cjk = [f for f in faces if f.path and f.path.endswith(".ttc") and "CJK" in f.path]
        assert cjk and cjk[0].index == index


def test_long_titles_are_wrapped_and_fitted_inside_the_margins() -> None:
    long_title = " ".join(["Observability"] * 20) + " " + "x" * 120
    talk = Talk(talk_id="long", title=long_title[:300], speakers=["A" * 200, "B"])
    [cover] = CardBackend().render([talk], tags={})
    pixels = np.asarray(_image(cover.data).convert("RGB"))
    white = pixels.min(axis=2) >= 250
    columns = np.where(white.any(axis=0))[0]
    rows = np.where(white.any(axis=1))[0]
    assert columns.min() >= 78 and columns.max() <= 1200 - 78
    assert rows.min() >= 140 and rows.max() <= 510


def test_wrap_breaks_words_and_unspaced_scripts() -> None:
    typesetter = Typesetter(font_chain(language="ja"))
    lines = wrap(typesetter, TITLES["ja"], size=60, width=500, bold=True)
    assert len(lines) > 1
    assert "".join(lines) == TITLES["ja"].replace(" ", "")
    assert all(typesetter.width(line, 60, bold=True) <= 500 for line in lines)
    assert units("ab cd") == ["ab", " ", "cd"]
    assert units("日本") == ["日", "本"]
    long_word = wrap(typesetter, "y" * 200, size=40, width=300)
    assert len(long_word) > 1 and all(typesetter.width(line, 40) <= 300 for line in long_word)


def test_arabic_lines_are_right_aligned() -> None:
    talk = Talk(talk_id="ar", title="تعلم الآلة", language="ar")
    [cover] = CardBackend().render([talk], tags={})
    white = np.asarray(_image(cover.data).convert("RGB")).min(axis=2) >= 250
    columns = np.where(white[150:500].any(axis=0))[0]
    assert columns.max() > 1050  # flush with the right margin
    assert columns.min() > 300  # a short title does not reach the left side


def test_colours_follow_tags_and_cards_are_deterministic() -> None:
    backend = CardBackend()
    a = Talk(talk_id="a", title="First talk", tags=["python"])
    b = Talk(talk_id="b", title="Second talk", tags=["python"])
    c = Talk(talk_id="c", title="Third talk", tags=["rust"])
    covers = backend.render([a, b, c], tags={})
    corner = [np.asarray(_image(x.data).convert("RGB"))[5, 5].astype(int) for x in covers]
    assert np.abs(corner[0] - corner[1]).max() <= 2  # same top tag, same colour
    assert np.abs(corner[0] - corner[2]).max() > 10
    assert tag_hue("python") != tag_hue("rust")
    again = backend.render([a], tags={})[0]
    assert again.data == covers[0].data and again.seed == covers[0].seed


def test_card_size_follows_settings() -> None:
    backend = build_image_backend(ImageSettings(width=600, height=315), device="cpu")
    [cover] = backend.render([Talk(talk_id="s", title="Small")], tags={})
    assert _image(cover.data).size == (600, 315)
