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
    png: bytes
    backend: str
    model: str
    seed: int
    prompt: str
    negative_prompt: str
    flagged: bool
    width: int
    height: int

    @property
    def path(self) -> str:
        """Where the image lives in the lake, relative to its base URL."""
        return cover_path(self.talk_id, self.content_hash)


def cover_path(talk_id: str, content_hash: str) -> str:
    """`images/<talk_id>/<content_hash>.png`; an edited talk gets a new path.

    Both parts are escaped into single path segments (`storage_segment`): an id such as
    `event/slug` is one folder `event%2Fslug`, and no id can climb out of `images/`.
    """
    return f"images/{storage_segment(talk_id)}/{storage_segment(content_hash)}.png"


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
