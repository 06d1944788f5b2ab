"""Title cards per second: today's card backend against the card-1 path, side by side.

The card-1 path (as it was before this change) is reproduced here: a small gradient upscaled
bilinearly, discs on a full-size RGBA overlay composited onto the card, and Pillow's PNG encoder
at level 6 (which tries every filter on every row). Both run interleaved in the same process
on the same talks, so a busy machine slows both alike; the ratio is the figure to read.

    .venv/bin/python bench/cards.py --cards 64 --rounds 3 [--out cards/]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.images import sample_talks  # noqa: E402
from podium.images import card  # noqa: E402
from podium.images.card import CardBackend, CardStyle  # noqa: E402


def card1_background(style: CardStyle, hues: list[float], rng) -> Image.Image:  # noqa: ANN001
    first = np.array(card._rgb(hues[0], 0.20, 0.55), dtype=np.float32)
    second = np.array(
        card._rgb(hues[1] if len(hues) > 1 else hues[0] + 0.07, 0.30, 0.50), dtype=np.float32
    )
    small_w, small_h = max(2, style.width // 10), max(2, style.height // 10)
    t = (
        np.linspace(0, 0.65, small_w, dtype=np.float32)[None, :]
        + np.linspace(0, 0.35, small_h, dtype=np.float32)[:, None]
    )[..., None]
    pixels = first * (1 - t) + second * t
    image = Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8), "RGB").resize(
        (style.width, style.height), Image.Resampling.BILINEAR
    )
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for i in range(3):
        hue = hues[i % len(hues)]
        radius = style.px(rng.uniform(120, 260))
        cx = round(style.width * rng.uniform(0.72, 1.02))
        cy = round(style.height * rng.uniform(-0.1, 1.1))
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            fill=(*card._rgb(hue, 0.55, 0.60), 46),
        )
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def card1_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


class Card1Backend(CardBackend):
    """The card-1 path: same layout code, the old background and encoder swapped in."""

    def render(self, talks, *, tags):  # noqa: ANN001, ANN201
        saved = card._background, card.encode_png
        card._background, card.encode_png = card1_background, card1_png
        try:
            return super().render(talks, tags=tags)
        finally:
            card._background, card.encode_png = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", help="write a few cards of each path here, to look at")
    args = parser.parse_args(argv)
    talks = sample_talks(args.cards)
    tags = {t.talk_id: list(t.tags) for t in talks}
    paths = {"card-1 (before)": Card1Backend(), f"{card.CARD_VERSION} (now)": CardBackend()}
    for backend in paths.values():
        backend.render(talks[:2], tags=tags)  # fonts loaded, caches warm
    rates: dict[str, list[float]] = {name: [] for name in paths}
    sizes: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, backend in paths.items():
            started = time.perf_counter()
            covers = backend.render(talks, tags=tags)
            rates[name].append(len(talks) / (time.perf_counter() - started))
            sizes[name] = sum(len(c.png) for c in covers) / len(covers) / 1024
            if args.out:
                folder = Path(args.out) / name.split()[0]
                folder.mkdir(parents=True, exist_ok=True)
                for cover in covers[:4]:
                    (folder / f"{cover.talk_id}.png").write_bytes(cover.png)
    print(f"{len(talks)} cards of 1200x630, {args.rounds} interleaved rounds, median:")
    for name in paths:
        print(f"  {name:18s} {statistics.median(rates[name]):6.1f} cards/s  {sizes[name]:5.0f} KiB")
    before, now = (statistics.median(r) for r in rates.values())
    print(f"  ratio now/before   {now / before:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
