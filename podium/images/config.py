"""Settings of cover-image generation (a section of `podium.settings.Settings`)."""

from typing import Literal

from pydantic import BaseModel, Field


class ImageSettings(BaseModel):
    """How covers are made."""

    backend: Literal["auto", "card", "diffusers"] = Field(
        default="auto",
        description="`card` (title card), `diffusers` (Stable Diffusion), or `auto`: diffusers "
        "when `model` is set, else card.",
    )
    model: str | None = Field(
        default=None, description="Text-to-image pipeline: local path or hub id."
    )
    device: str = Field(default="auto", description="`auto` (CUDA when present), `cpu`, `cuda`.")
    width: int = Field(default=1200, gt=0, description="Card width in pixels.")
    height: int = Field(default=630, gt=0, description="Card height in pixels.")
