"""Settings of cover-image generation (a section of `podium.settings.Settings`)."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.types import NonNegativeInt, PositiveInt

StylePreset = Literal["editorial", "isometric", "abstract", "photographic", "none"]


class ImageSettings(BaseModel):
    """How covers are made."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    backend: Literal["auto", "card", "diffusers"] = "auto"
    """`card` (title card), `diffusers` (Stable Diffusion), or `auto`: diffusers when `model` is
    set, else card."""
    model: str | None = None
    """Text-to-image pipeline: local path or hub id."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of `model`; pin it."""
    variant: str | None = None
    """Weights variant to load, e.g. `fp16` for repos that ship half weights."""
    device: str = "auto"
    """`auto` (CUDA when present), `cpu`, `cuda`."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """Pipeline dtype; `auto` is float16 on CUDA and float32 on CPU."""
    width: PositiveInt = 1200
    """Card width in pixels."""
    height: PositiveInt = 630
    """Card height in pixels."""
    image_width: Annotated[int | None, Field(gt=0, multiple_of=8)] = None
    """Generated image width; None uses the pipeline's native size."""
    image_height: Annotated[int | None, Field(gt=0, multiple_of=8)] = None
    """Generated image height; None uses the pipeline's native size."""
    steps: PositiveInt = 25
    """Denoising steps (1-4 for LCM/Turbo-style models)."""
    guidance_scale: Annotated[float, Field(ge=0.0)] = 7.5
    """Classifier-free guidance; 0 (or <= 1) disables it, as Turbo models want."""
    scheduler: str | None = None
    """Diffusers scheduler class name (e.g. `DPMSolverMultistepScheduler`, `LCMScheduler`), built
    from the pipeline's scheduler config; None keeps the pipeline's own."""
    seed_base: NonNegativeInt = 0
    """Mixed into every talk's seed; change it to re-roll all covers."""
    style: StylePreset = "editorial"
    """Style preset appended to every prompt."""
    extra_negative_prompt: str = ""
    """Appended to the negative prompt of every image."""
    max_prompt_tokens: Annotated[int | None, Field(gt=8)] = None
    """Prompt budget in text-encoder tokens; None uses the tokenizer's limit (77 for CLIP,
    special tokens included)."""
    safety_checker: bool = True
    """Run the pipeline's safety checker; a flagged image is replaced by the card and recorded as
    flagged."""
    torch_compile: bool = False
    """torch.compile the denoiser on CUDA (slow first batch, faster after)."""
    compile_mode: str = "default"
    """torch.compile mode. Each flow run compiles afresh, so `default` (fast to compile) suits
    small batches; `max-autotune-no-cudagraphs` pays off on backfills."""
    batch_size: PositiveInt = 8
    """Images generated per pipeline call."""
    card_format: Literal["jpeg", "png", "webp"] = "jpeg"
    """Encoding of title cards: `jpeg` (fast, compact), `png` (lossless, twice the size) or
    `webp` (smallest, slowest). Sets the file extension in the lake."""
    card_quality: Annotated[int, Field(ge=1, le=100)] = 85
    """JPEG/WebP quality of title cards."""
    card_font: Path | None = None
    """A TrueType/OpenType font tried before the bundled Noto fonts on cards."""
    keep_covers: Annotated[int, Field(ge=1)] = 2
    """Covers kept per talk by the maintenance flow's retention step (newest first; the current
    one is always kept)."""
