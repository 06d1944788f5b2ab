"""Settings of cover-image generation (a section of `podium.settings.Settings`)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

StylePreset = Literal["editorial", "isometric", "abstract", "photographic", "none"]


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
    revision: str | None = Field(
        default=None, description="Hub revision (branch, tag or commit) of `model`; pin it."
    )
    variant: str | None = Field(
        default=None,
        description="Weights variant to load, e.g. `fp16` for repos that ship half weights.",
    )
    device: str = Field(default="auto", description="`auto` (CUDA when present), `cpu`, `cuda`.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto",
        description="Pipeline dtype; `auto` is float16 on CUDA and float32 on CPU.",
    )
    width: int = Field(default=1200, gt=0, description="Card width in pixels.")
    height: int = Field(default=630, gt=0, description="Card height in pixels.")
    image_width: int | None = Field(
        default=None,
        gt=0,
        multiple_of=8,
        description="Generated image width; None uses the pipeline's native size.",
    )
    image_height: int | None = Field(
        default=None,
        gt=0,
        multiple_of=8,
        description="Generated image height; None uses the pipeline's native size.",
    )
    steps: int = Field(
        default=25, gt=0, description="Denoising steps (1-4 for LCM/Turbo-style models)."
    )
    guidance_scale: float = Field(
        default=7.5,
        ge=0.0,
        description="Classifier-free guidance; 0 (or <= 1) disables it, as Turbo models want.",
    )
    scheduler: str | None = Field(
        default=None,
        description="Diffusers scheduler class name (e.g. `DPMSolverMultistepScheduler`, "
        "`LCMScheduler`), built from the pipeline's scheduler config; None keeps the "
        "pipeline's own.",
    )
    seed_base: int = Field(
        default=0,
        ge=0,
        description="Mixed into every talk's seed; change it to re-roll all covers.",
    )
    style: StylePreset = Field(
        default="editorial", description="Style preset appended to every prompt."
    )
    extra_negative_prompt: str = Field(
        default="", description="Appended to the negative prompt of every image."
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        gt=8,
        description="Prompt budget in text-encoder tokens; None uses the tokenizer's limit "
        "(77 for CLIP, special tokens included).",
    )
    safety_checker: bool = Field(
        default=True,
        description="Run the pipeline's safety checker; a flagged image is replaced by the "
        "card and recorded as flagged.",
    )
    torch_compile: bool = Field(
        default=False,
        description="torch.compile the denoiser on CUDA (slow first batch, faster after).",
    )
    compile_mode: str = Field(
        default="default",
        description="torch.compile mode. Each flow run compiles afresh, so `default` (fast to "
        "compile) suits small batches; `max-autotune-no-cudagraphs` pays off on backfills.",
    )
    batch_size: int = Field(default=8, gt=0, description="Images generated per pipeline call.")
    card_format: Literal["jpeg", "png", "webp"] = Field(
        default="jpeg",
        description="Encoding of title cards: `jpeg` (fast, compact), `png` (lossless, twice "
        "the size) or `webp` (smallest, slowest). Sets the file extension in the lake.",
    )
    card_quality: int = Field(
        default=85, ge=1, le=100, description="JPEG/WebP quality of title cards."
    )
    card_font: Path | None = Field(
        default=None,
        description="A TrueType/OpenType font tried before the bundled Noto fonts on cards.",
    )
    keep_covers: int = Field(
        default=2,
        ge=1,
        description="Covers kept per talk by the maintenance flow's retention step (newest "
        "first; the current one is always kept).",
    )
