"""The card's own PNG writer: real Pillow decodes what it writes, pixel for pixel.

Nothing is faked: random pixels, a real card, and Pillow's PNG decoder as the judge.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from podium.images.card import CardBackend, encode_png
from podium.models import Talk


def _decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


def test_random_pixels_round_trip_exactly() -> None:
    pixels = np.random.default_rng(7).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    assert np.array_equal(_decode(encode_png(Image.fromarray(pixels, "RGB"))), pixels)


def test_rgba_and_single_row_images_are_written_as_rgb() -> None:
    rgba = Image.new("RGBA", (9, 1), (10, 20, 30, 255))
    assert np.array_equal(_decode(encode_png(rgba)), np.full((1, 9, 3), (10, 20, 30)))


def test_a_card_round_trips_and_is_deterministic() -> None:
    talk = Talk(talk_id="t1", title="Warm executors for cold models", speakers=["Ada"])
    backend = CardBackend(width=600, height=315, format="png")
    [first] = backend.render([talk], tags={"t1": ["python", "mlops"]})
    [again] = backend.render([talk], tags={"t1": ["python", "mlops"]})
    assert first.data == again.data
    pixels = _decode(first.data)
    assert pixels.shape == (315, 600, 3)
    # The gradient runs from the top-left colour to a different bottom-right colour.
    assert np.abs(pixels[2, 2].astype(int) - pixels[-3, 300].astype(int)).sum() > 10
