"""The `card` backend: a clean 1200x630 title card drawn with Pillow, no model needed.

A card is made in four steps, each its own function so `bench/cards.py` can time them:
`card_background` (tag colours and decoration), `layout_card` (what text goes where, at which
size), `draw_layout` (glyphs onto the background) and `encode_card` (JPEG by default).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import struct
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from podium.images.alt_text import cover_alt_text
from podium.images.base import CoverImage, ImageBackend, cover_tags, talk_seed
from podium.images.config import ImageSettings
from podium.images.fonts import Typesetter, ellipsize, font_chain, is_rtl, wrap
from podium.models import Talk

# Bump when the layout or encoding changes: it is recorded as the model of every card.
CARD_VERSION = "card-3"
_WHITE = (255, 255, 255)
_MUTED = (222, 226, 236)
_INK = (18, 20, 28)

CardFormat = Literal["jpeg", "png", "webp"]
MEDIA_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def tag_hue(tag: str) -> float:
    """A hue in [0, 1) fixed by the tag's name, so covers sharing a tag share a colour."""
    return int.from_bytes(hashlib.sha256(tag.encode()).digest()[:2], "big") / 65536


def _rgb(hue: float, lightness: float, saturation: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class CardStyle:
    """Layout constants, scaled from the 1200x630 design to the configured size."""

    width: int = 1200
    height: int = 630

    @property
    def scale(self) -> float:
        return min(self.width / 1200, self.height / 630)

    def px(self, value: float) -> int:
        return max(1, round(value * self.scale))


def card_background(style: CardStyle, hues: list[float], rng: random.Random) -> Image.Image:
    """The gradient between the first two tag colours, with three soft discs placed by `rng`."""
    # Dark enough for white text.
    first = _rgb(hues[0], 0.20, 0.55)
    second = _rgb(hues[1] if len(hues) > 1 else hues[0] + 0.07, 0.30, 0.50)
    image = _gradient_image(style.width, style.height, first, second)
    # Soft discs on the right, placed by the talk's seed: a family look, each card its own.
    # Pillow's blended ellipse (opacity 46/255) touches only the pixels inside each disc:
    # three times faster than pasting the colour through a disc-shaped mask.
    draw = ImageDraw.Draw(image, "RGBA")
    for i in range(3):
        hue = hues[i % len(hues)]
        radius = style.px(rng.uniform(120, 260))
        cx = round(style.width * rng.uniform(0.72, 1.02))
        cy = round(style.height * rng.uniform(-0.1, 1.1))
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        draw.ellipse(box, fill=(*_rgb(hue, 0.55, 0.60), 46))
    return image


# Gradients by (size, colours), kept once a pair of colours comes back: cards share colours
# whenever their top two tags match (the tagger draws from a small vocabulary), and a copy
# costs a third of drawing one. A pair seen once is not copied into the cache (most pairs of
# free-form tags never return). Sixteen 1200x630 gradients hold 48 MB.
_GRADIENTS: OrderedDict[tuple[int, int, tuple[int, ...], tuple[int, ...]], Image.Image]
_GRADIENTS = OrderedDict()
_SEEN: OrderedDict[tuple[int, int, tuple[int, ...], tuple[int, ...]], None] = OrderedDict()
_GRADIENT_CACHE = 16
_GRADIENT_LOCK = threading.Lock()


def _gradient_image(
    width: int, height: int, first: tuple[int, int, int], second: tuple[int, int, int]
) -> Image.Image:
    """A fresh (writable) gradient image for a card."""
    key = (width, height, first, second)
    with _GRADIENT_LOCK:  # backends may render from several threads of one process
        cached = _GRADIENTS.get(key)
        if cached is not None:
            _GRADIENTS.move_to_end(key)
            return cached.copy()
        returning = key in _SEEN
        _SEEN[key] = None
        if len(_SEEN) > 4096:
            _SEEN.popitem(last=False)
    pixels = _gradient(
        width, height, np.array(first, dtype=np.float32), np.array(second, dtype=np.float32)
    )
    image = Image.fromarray(pixels, "RGB")
    if returning:
        with _GRADIENT_LOCK:
            _GRADIENTS[key] = image.copy()
            if len(_GRADIENTS) > _GRADIENT_CACHE:
                _GRADIENTS.popitem(last=False)
    return image


def _gradient(width: int, height: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`first` → `second` along the diagonal (about 0.65 of the way across, 0.35 down), uint8.

    The colour at (x, y) depends on x + k·y only, with k a whole number of columns per row
    (1 for the 1200x630 card), so every row is a window of one colour ramp that starts k
    further along: the image is a strided view of the ramp, copied once, not computed per
    pixel.
    """
    k = max(1, round(0.35 / 0.65 * (width - 1) / max(1, height - 1)))
    length = width + k * (height - 1)
    t = np.arange(length, dtype=np.float32)[:, None] / max(1, length - 1)
    ramp = np.ascontiguousarray((first + (second - first) * t).round().clip(0, 255), np.uint8)
    view = np.lib.stride_tricks.as_strided(
        ramp, shape=(height, width, 3), strides=(3 * k, 3, 1), writeable=False
    )
    return np.ascontiguousarray(view)


@dataclass(frozen=True)
class TextLine:
    """One line of text placed on a card: baseline at `y`, starting (or ending) at `x`."""

    x: float
    y: float
    text: str
    size: int
    fill: tuple[int, int, int]
    bold: bool = False
    align_right: bool = False


@dataclass(frozen=True)
class CardLayout:
    """Everything drawn over the background: chips (box, colour) and lines of text."""

    chips: list[tuple[tuple[float, float, float, float], tuple[int, int, int]]] = field(
        default_factory=list
    )
    lines: list[TextLine] = field(default_factory=list)


def layout_card(
    talk: Talk,
    *,
    tags: list[str],
    hues: list[float],
    typesetter: Typesetter,
    style: CardStyle = CardStyle(),
) -> CardLayout:
    """Where the chips, title, speakers and mark go, and at which size (measuring only)."""
    layout = CardLayout()
    margin = style.px(80)
    inner = style.width - 2 * margin
    rtl = is_rtl(talk.title)

    # Tag chips along the top.
    chip_size = style.px(24)
    x: float = margin
    y = style.px(72)
    for tag, hue in zip(tags[:3], hues, strict=False):
        label = ellipsize(typesetter, tag, size=chip_size, width=inner / 3)
        text_w = typesetter.width(label, chip_size)
        pad = style.px(14)
        box = (x, y, x + text_w + 2 * pad, y + chip_size + 2 * style.px(10))
        if box[2] > margin + inner:
            break
        layout.chips.append((box, _rgb(hue, 0.68, 0.55)))
        baseline = box[3] - style.px(10) - chip_size * 0.22
        layout.lines.append(TextLine(x + pad, baseline, label, chip_size, _INK))
        x = box[2] + style.px(12)

    # Title: largest size whose wrap fits the block; at the smallest, the last line is cut.
    top, bottom = style.px(150), style.px(500)
    lines: list[str] = []
    size = style.px(32)
    for candidate in range(76, 31, -4):
        size = style.px(candidate)
        lines = wrap(typesetter, talk.title, size=size, width=inner, bold=True)
        if len(lines) * size * 1.22 <= bottom - top:
            break
    max_lines = max(1, int((bottom - top) / (size * 1.22)))
    if len(lines) > max_lines:
        rest = " ".join(lines[max_lines - 1 :])
        lines = [
            *lines[: max_lines - 1],
            ellipsize(typesetter, rest, size=size, width=inner, bold=True),
        ]
    line_h = size * 1.22
    baseline = top + (bottom - top - line_h * len(lines)) / 2 + size
    for line in lines:
        anchor_x = margin + inner if rtl else margin
        layout.lines.append(TextLine(anchor_x, baseline, line, size, _WHITE, True, rtl))
        baseline += line_h

    # Speakers along the bottom, the Podium mark at the right.
    foot = style.px(560)
    mark_size = style.px(22)
    mark_w = typesetter.width("podium", mark_size, bold=True)
    layout.lines.append(TextLine(margin + inner - mark_w, foot, "podium", mark_size, _MUTED, True))
    if talk.speakers:
        speaker_size = style.px(30)
        speakers = ellipsize(
            typesetter,
            " · ".join(talk.speakers),
            size=speaker_size,
            width=inner - mark_w - style.px(40),
        )
        layout.lines.append(TextLine(margin, foot, speakers, speaker_size, _MUTED))
    return layout


def draw_layout(
    image: Image.Image, layout: CardLayout, *, typesetter: Typesetter, style: CardStyle
) -> None:
    """Draw the chips and text of `layout` onto `image`, in place."""
    if layout.chips:
        draw = ImageDraw.Draw(image)
        for box, colour in layout.chips:
            draw.rounded_rectangle(box, radius=style.px(18), fill=colour)
    for line in layout.lines:
        typesetter.draw(
            image,
            (line.x, line.y),
            line.text,
            size=line.size,
            fill=line.fill,
            bold=line.bold,
            align_right=line.align_right,
        )


def card_hues(talk: Talk, tags: list[str]) -> list[float]:
    """The card's colours: its first three tags', or the title's when it has none."""
    return [tag_hue(t) for t in tags[:3]] or [tag_hue(talk.title)]


def render_card(
    talk: Talk,
    *,
    tags: list[str],
    typesetter: Typesetter,
    seed: int,
    style: CardStyle = CardStyle(),
) -> Image.Image:
    """Draw a talk's title card.

    Args:
        talk: the talk (title, speakers).
        tags: its tags, best first; the first three become chips and set the colours.
        typesetter: fonts with fallback for any script.
        seed: places the decoration.
        style: size.

    Returns:
        An RGB image of `style.width` x `style.height`.
    """
    hues = card_hues(talk, tags)
    image = card_background(style, hues, random.Random(seed))
    layout = layout_card(talk, tags=tags, hues=hues, typesetter=typesetter, style=style)
    draw_layout(image, layout, typesetter=typesetter, style=style)
    return image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _deflate(data: bytes) -> bytes:
    # Run-length matching suits filtered card rows (long runs of zeros): smaller and faster
    # than zlib's default strategy at level 1.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return compressor.compress(data) + compressor.flush()


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of an RGB image (deterministic for the same pixels).

    Written directly rather than by Pillow, whose encoder tries every PNG filter on every row:
    one Up filter over a card (mostly smooth colour) compresses about as well at a fraction of
    the time. Lossless: decoding gives back exactly these pixels.
    """
    pixels = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
    height, width, _ = pixels.shape
    rows = np.empty((height, width * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 2  # filter type Up: each row as its difference from the row above
    rows[0, 1:] = pixels[0].reshape(-1)
    np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:].reshape(height - 1, width, 3))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", _deflate(rows.tobytes())),
            _png_chunk(b"IEND", b""),
        )
    )


def encode_card(image: Image.Image, *, format: CardFormat = "jpeg", quality: int = 85) -> bytes:
    """A card's file bytes: JPEG (default), PNG or WebP; the same pixels give the same bytes.

    JPEG is about six times faster to write than PNG here and half the size: a card is a
    smooth gradient with large text, which JPEG keeps clean at quality 85. Chroma is kept at
    full resolution (4:4:4) so coloured chip edges and thin strokes on colour do not bleed.
    WebP is a third smaller again but ten times slower to write (see docs/title-cards.md).

    Args:
        image: an RGB card.
        format: `jpeg`, `png` (lossless, Podium's own fast writer) or `webp`.
        quality: JPEG/WebP quality, 1-100.
    """
    if format == "png":
        return encode_png(image)
    buffer = io.BytesIO()
    if format == "jpeg":
        image.save(buffer, format="JPEG", quality=quality, subsampling=0)
    elif format == "webp":
        image.save(buffer, format="WEBP", quality=quality, method=0)
    else:
        raise ValueError(f"unknown card format {format!r}")
    return buffer.getvalue()


class CardBackend(ImageBackend):
    """Title cards: title, speakers and top tags over colours derived from the tags.

    Args:
        width: card width in pixels.
        height: card height in pixels.
        seed_base: mixed into each talk's seed (which places the decoration).
        font: a font tried before the bundled ones.
        format: how cards are encoded (`jpeg`, `png`, `webp`); sets their media type and
            their file extension in the lake.
        quality: JPEG/WebP quality.
    """

    name = "card"
    model_version = CARD_VERSION

    def __init__(
        self,
        *,
        width: int = 1200,
        height: int = 630,
        seed_base: int = 0,
        font: Path | None = None,
        format: CardFormat = "jpeg",
        quality: int = 85,
    ):
        if format not in MEDIA_TYPES:
            raise ValueError(f"unknown card format {format!r}; use one of {sorted(MEDIA_TYPES)}")
        self.style = CardStyle(width=width, height=height)
        self.seed_base = seed_base
        self.font = font
        self.format: CardFormat = format
        self.quality = quality
        self._typesetters: dict[str, Typesetter] = {}

    @classmethod
    def from_settings(cls, settings: ImageSettings) -> CardBackend:
        """The card backend of the images settings (size, seed, font, format, quality)."""
        return cls(
            width=settings.width,
            height=settings.height,
            seed_base=settings.seed_base,
            font=settings.card_font,
            format=settings.card_format,
            quality=settings.card_quality,
        )

    def typesetter(self, language: str) -> Typesetter:
        """The font chain for a language, built once."""
        if language not in self._typesetters:
            self._typesetters[language] = Typesetter(
                font_chain(language=language, preferred=self.font)
            )
        return self._typesetters[language]

    def _draw(self, talk: Talk, tags: list[str], seed: int | None) -> tuple[Image.Image, int]:
        seed = talk_seed(talk.talk_id, seed_base=self.seed_base) if seed is None else seed
        image = render_card(
            talk, tags=tags, typesetter=self.typesetter(talk.language), seed=seed, style=self.style
        )
        return image, seed

    def _encode(self, image: Image.Image) -> bytes:
        return encode_card(image, format=self.format, quality=self.quality)

    def _cover(
        self,
        talk: Talk,
        size: tuple[int, int],
        data: bytes,
        *,
        seed: int,
        prompt: str = "",
        negative_prompt: str = "",
        flagged: bool = False,
        tags: list[str] | None = None,
    ) -> CoverImage:
        return CoverImage(
            talk_id=talk.talk_id,
            content_hash=talk.content_hash,
            data=data,
            media_type=MEDIA_TYPES[self.format],
            backend=self.name,
            model=self.model_version,
            seed=seed,
            prompt=prompt,
            negative_prompt=negative_prompt,
            flagged=flagged,
            width=size[0],
            height=size[1],
            alt_text=cover_alt_text(
                title=talk.title, tags=tags or [], backend="card", prompt=prompt, flagged=flagged
            ),
        )

    def render_one(
        self,
        talk: Talk,
        *,
        tags: list[str],
        prompt: str = "",
        negative_prompt: str = "",
        flagged: bool = False,
        seed: int | None = None,
    ) -> CoverImage:
        """One card; the diffusers backend uses this to replace a flagged image."""
        image, seed = self._draw(talk, tags, seed)
        return self._cover(
            talk,
            image.size,
            self._encode(image),
            seed=seed,
            prompt=prompt,
            negative_prompt=negative_prompt,
            flagged=flagged,
            tags=tags,
        )

    def render(self, talks: list[Talk], *, tags: dict[str, list[str]]) -> list[CoverImage]:
        """Render a card per talk, in order, on the calling thread.

        Encoding on a second thread while the next card is drawn was measured and lost on
        this 2-core machine (`bench/cards.py`, docs/title-cards.md); a batch spread over
        processes (the backfill's Dask workers) is where a second core helps.
        """
        return [self.render_one(talk, tags=cover_tags(talk, tags, limit=3)) for talk in talks]
