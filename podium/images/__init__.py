"""Cover images: a `card` backend (Pillow) and a `diffusers` backend (Stable Diffusion).

`build_image_backend` picks one from settings; nothing here imports torch or diffusers until
a diffusers backend is built.
"""

from __future__ import annotations

import logging

from podium.images.base import CoverImage, ImageBackend, cover_path, talk_seed
from podium.images.card import CardBackend
from podium.images.config import ImageSettings
from podium.images.gallery import cover_gallery_markdown
from podium.images.storage import remove_stale_covers, store_covers

log = logging.getLogger(__name__)


def build_image_backend(settings: ImageSettings, *, device: str) -> ImageBackend:
    """The backend settings ask for: diffusers when a model is configured, else the card.

    Args:
        settings: the images section of the settings.
        device: a resolved device (`cpu`, `cuda`, `cuda:1`; see `podium.devices`).

    Returns:
        A ready backend; a diffusers backend has loaded its pipeline.
    """
    kind = settings.backend
    if kind == "auto":
        kind = "diffusers" if settings.model else "card"
    if kind == "card":
        log.info("cover backend: card (no image model configured)")
        return CardBackend.from_settings(settings)
    if not settings.model:
        raise ValueError("images.backend is 'diffusers' but images.model is not set")
    from podium.images.diffusion import DiffusersBackend

    return DiffusersBackend.from_settings(settings, device=device)


__all__ = [
    "CardBackend",
    "CoverImage",
    "ImageBackend",
    "ImageSettings",
    "build_image_backend",
    "cover_gallery_markdown",
    "cover_path",
    "remove_stale_covers",
    "store_covers",
    "talk_seed",
]
