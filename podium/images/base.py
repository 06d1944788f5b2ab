"""What every image backend returns and promises."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

from podium.models import Talk, normalise_tag, storage_segment


@dataclass(frozen=True)
class CoverImage:
    """One rendered cover and everything needed to reproduce or explain it.

    `backend` names what made the pixels: a diffusers image whose safety check flagged it is
    replaced by a card, so it says `card` with `flagged=True` and keeps the prompt and seed.
    """

    talk_id: str
    content_hash: str
    data: bytes
    backend: str
    model: str
    seed: int
    prompt: str
    negative_prompt: str
    flagged: bool
    width: int
    height: int
    media_type: str = "image/png"
    alt_text: str = ""  # what the cover shows, for screen readers (podium.images.alt_text)

    @property
    def path(self) -> str:
        """Where the image lives in the lake, relative to its base URL."""
        return cover_path(self.talk_id, self.content_hash, extension=self.extension)

    @property
    def extension(self) -> str:
        """The file extension of `media_type` (`png`, `jpg`, `webp`)."""
        return extension_of(self.media_type)


# The encodings covers are stored in: media type -> file extension.
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def extension_of(media_type: str) -> str:
    """The file extension for a cover's media type (refuses one Podium does not write)."""
    try:
        return EXTENSIONS[media_type]
    except KeyError:
        raise ValueError(f"unsupported cover media type {media_type!r}") from None


def media_type_of(path: str) -> str:
    """The media type of a stored cover, from its path's extension (PNG for anything else)."""
    extension = path.rsplit(".", 1)[-1].lower()
    by_extension = {v: k for k, v in EXTENSIONS.items()} | {"jpeg": "image/jpeg"}
    return by_extension.get(extension, "image/png")


def cover_path(talk_id: str, content_hash: str, *, extension: str = "png") -> str:
    """`images/<talk_id>/<content_hash>.<extension>`; an edited talk gets a new path.

    Both parts are escaped into single path segments (`storage_segment`): an id such as
    `event/slug` is one folder `event%2Fslug`, and no id can climb out of `images/`. The
    extension follows the encoding (`jpg` for the default title cards, `png` otherwise).
    """
    if extension not in EXTENSIONS.values():
        raise ValueError(f"unsupported cover extension {extension!r}")
    return f"images/{storage_segment(talk_id)}/{storage_segment(content_hash)}.{extension}"


def talk_seed(talk_id: str, *, seed_base: int) -> int:
    """A stable seed for a talk: the same talk and settings give the same image.

    The seed depends on the talk id only (not its content), so an edited talk keeps its
    composition while its prompt changes. Python's `hash()` is salted per process, so a
    digest is used instead.
    """
    digest = hashlib.sha256(f"{seed_base}:{talk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def cover_tags(talk: Talk, tags: dict[str, list[str]], *, limit: int | None = None) -> list[str]:
    """The talk's tags for its cover: enrichment's tags first (best first), then the speaker's.

    Args:
        talk: the talk.
        tags: talk_id -> tags from tagging, best first; a talk may be missing.
        limit: keep at most this many.
    """
    merged = list(
        dict.fromkeys(normalise_tag(t) for t in [*tags.get(talk.talk_id, []), *talk.tags])
    )
    merged = [t for t in merged if t]
    return merged[:limit] if limit is not None else merged


class ImageBackend(ABC):
    """Turns talks into cover images, a batch at a time.

    Attributes:
        name: `card` or `diffusers`.
        model_version: what made the images, recorded in `talk_images.model`.
    """

    name: str
    model_version: str

    @abstractmethod
    def render(self, talks: list[Talk], *, tags: dict[str, list[str]]) -> list[CoverImage]:
        """Render one cover per talk, in the order given.

        Args:
            talks: the talks.
            tags: talk_id -> tags from tagging (best first); talks without an entry use
                the speaker's tags only.

        Returns:
            One `CoverImage` per talk, same order.
        """
