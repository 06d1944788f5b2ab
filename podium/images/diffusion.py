"""The `diffusers` backend: any Stable Diffusion-family text-to-image pipeline, batched.

Load once per run (`load_pipeline`), then `render` talks in batches of `batch_size`. Every
talk has its own CPU-seeded generator, so its image does not depend on which batch it fell
in, nor on the GPU model (initial noise is drawn on the CPU). The pipeline's safety checker
runs by default; a flagged image is replaced by the talk's card and recorded as flagged.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from PIL import Image

from podium.images.alt_text import cover_alt_text
from podium.images.base import CoverImage, ImageBackend, cover_tags, talk_seed
from podium.images.card import CardBackend, encode_png
from podium.images.config import ImageSettings
from podium.images.prompts import (
    STYLE_PRESETS,
    Prompt,
    build_prompt,
    tokenizer_counter,
    word_count_tokens,
)
from podium.models import Talk

log = logging.getLogger(__name__)


def resolve_dtype(name: str, device: str) -> Any:
    """The torch dtype for a settings name: `auto` is float16 on CUDA, float32 elsewhere."""
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    dtype = getattr(torch, name)
    if dtype != torch.float32 and not device.startswith("cuda"):
        log.warning("%s on %s is slow or unsupported for diffusion; float32 is usual", name, device)
    return dtype


def _denoiser(pipeline: Any) -> tuple[str, Any]:
    for name in ("unet", "transformer"):
        module = getattr(pipeline, name, None)
        if module is not None:
            return name, module
    raise ValueError(f"{type(pipeline).__name__} has neither a unet nor a transformer")


def _use_sdpa(module: Any) -> None:
    # Torch 2's scaled-dot-product attention (flash/memory-efficient kernels on CUDA). Newer
    # diffusers default to it; pipelines saved with a classic processor are switched over.
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    processors = getattr(module, "attn_processors", None)
    if not processors:
        return
    if all(type(p) in (AttnProcessor, AttnProcessor2_0) for p in processors.values()):
        if not all(type(p) is AttnProcessor2_0 for p in processors.values()):
            module.set_attn_processor(AttnProcessor2_0())


def load_pipeline(settings: ImageSettings, *, device: str) -> Any:
    """Load the configured text-to-image pipeline onto `device`, ready to generate.

    Args:
        settings: model id or local path, revision, variant, dtype, scheduler, safety
            checker, torch.compile.
        device: a resolved device (`cpu`, `cuda`, `cuda:0`).

    Returns:
        The diffusers pipeline.
    """
    import diffusers
    import torch
    from diffusers import AutoPipelineForText2Image

    if not settings.model:
        raise ValueError("images.model is not set")
    dtype = resolve_dtype(settings.dtype, device)
    # diffusers renamed `torch_dtype` to `dtype` (the old name warns); older ones lack it.
    from diffusers.utils import deprecation_utils

    dtype_key = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    kwargs: dict[str, Any] = {dtype_key: dtype}
    if settings.revision:
        kwargs["revision"] = settings.revision
    if settings.variant:
        kwargs["variant"] = settings.variant
    if not settings.safety_checker:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    pipeline = AutoPipelineForText2Image.from_pretrained(settings.model, **kwargs)
    if settings.scheduler:
        scheduler_cls = getattr(diffusers, settings.scheduler, None)
        if scheduler_cls is None or not hasattr(scheduler_cls, "from_config"):
            raise ValueError(f"unknown diffusers scheduler {settings.scheduler!r}")
        pipeline.scheduler = scheduler_cls.from_config(pipeline.scheduler.config)
    pipeline = pipeline.to(device)
    name, denoiser = _denoiser(pipeline)
    _use_sdpa(denoiser)
    if getattr(pipeline, "vae", None) is not None:
        _use_sdpa(pipeline.vae)
    if settings.safety_checker and getattr(pipeline, "safety_checker", None) is None:
        log.warning("%s has no safety checker; images are not screened", type(pipeline).__name__)
    if device.startswith("cuda"):
        denoiser.to(memory_format=torch.channels_last)
        if settings.torch_compile:
            setattr(pipeline, name, torch.compile(denoiser, mode=settings.compile_mode))
            log.info(
                "torch.compile(%s, mode=%s): the first batch compiles", name, settings.compile_mode
            )
    else:
        log.warning(
            "generating covers on %s: this works but is slow (minutes per image for SD 1.5 "
            "at 25 steps); run image generation on the podium-gpu pool",
            device,
        )
        if settings.torch_compile:
            log.warning("torch_compile is only used on CUDA; ignored on %s", device)
    return pipeline


@dataclass(frozen=True)
class _Job:
    talk: Talk
    tags: list[str]
    prompt: Prompt
    seed: int


class DiffusersBackend(ImageBackend):
    """Generates covers with a loaded text-to-image pipeline.

    Args:
        pipeline: a diffusers text-to-image pipeline (see `load_pipeline`).
        settings: steps, guidance, size, batch size, style, seed base.
        device: where the pipeline runs.
        model_id: what to record as the model (settings' `model` by default).
        card: the card backend that replaces flagged images.
    """

    name = "diffusers"

    def __init__(
        self,
        pipeline: Any,
        *,
        settings: ImageSettings,
        device: str,
        model_id: str | None = None,
        card: CardBackend | None = None,
    ) -> None:
        self.pipeline = pipeline
        # Per-step progress bars would flood flow-run logs.
        pipeline.set_progress_bar_config(disable=True)
        self.settings = settings
        self.device = device
        self.card = card or CardBackend.from_settings(settings)
        tokenizer = getattr(pipeline, "tokenizer", None)
        if tokenizer is not None:
            self.count_tokens, budget = tokenizer_counter(tokenizer)
        else:
            self.count_tokens, budget = word_count_tokens, 75
        if settings.max_prompt_tokens is not None:
            budget = min(budget, settings.max_prompt_tokens - 2)
        self.max_prompt_tokens = budget
        model = model_id or settings.model or type(pipeline).__name__
        if settings.revision:
            model += f"@{settings.revision}"
        dtype = str(getattr(pipeline, "dtype", "")).replace("torch.", "")
        self.model_version = (
            f"{model} {type(pipeline.scheduler).__name__} steps={settings.steps} "
            f"cfg={settings.guidance_scale:g} {dtype}".strip()
        )

    @classmethod
    def from_settings(cls, settings: ImageSettings, *, device: str) -> DiffusersBackend:
        """Load the configured pipeline and wrap it."""
        return cls(load_pipeline(settings, device=device), settings=settings, device=device)

    @property
    def guided(self) -> bool:
        """Whether a negative prompt is used: classifier-free guidance is on and the pipeline
        takes one (guidance-distilled pipelines such as Flux do not)."""
        return self.settings.guidance_scale > 1.0 and self._takes_negative_prompt

    @cached_property
    def _takes_negative_prompt(self) -> bool:
        return "negative_prompt" in inspect.signature(self.pipeline.__call__).parameters

    def prompt_for(self, talk: Talk, *, tags: dict[str, list[str]]) -> Prompt:
        """The prompt pair for a talk, within the text encoder's budget."""
        prompt = build_prompt(
            talk,
            tags=tags,
            style=self.settings.style,
            max_tokens=self.max_prompt_tokens,
            count_tokens=self.count_tokens,
            extra_negative=self.settings.extra_negative_prompt,
        )
        return prompt if self.guided else Prompt(prompt.prompt, "")

    def generate(
        self, prompts: list[Prompt], seeds: list[int]
    ) -> tuple[list[Image.Image], list[bool]]:
        """One pipeline call; a batch that runs out of GPU memory is split in two and retried.

        Returns:
            The images and, per image, whether the safety checker flagged it.
        """
        import torch

        try:
            return self._call(prompts, seeds)
        except torch.OutOfMemoryError:
            if len(prompts) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(prompts) // 2
            log.warning(
                "out of GPU memory at batch %d; retrying as %d + %d",
                len(prompts),
                half,
                len(prompts) - half,
            )
            first = self.generate(prompts[:half], seeds[:half])
            second = self.generate(prompts[half:], seeds[half:])
            return first[0] + second[0], first[1] + second[1]

    def _call(
        self, prompts: list[Prompt], seeds: list[int]
    ) -> tuple[list[Image.Image], list[bool]]:
        import torch

        # CPU generators: the same seed gives the same noise on any GPU, or none.
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        kwargs: dict[str, Any] = {
            "prompt": [p.prompt for p in prompts],
            "num_inference_steps": self.settings.steps,
            "guidance_scale": self.settings.guidance_scale,
            "generator": generators,
            "output_type": "pil",
        }
        if self.guided:
            kwargs["negative_prompt"] = [p.negative_prompt for p in prompts]
        if self.settings.image_width:
            kwargs["width"] = self.settings.image_width
        if self.settings.image_height:
            kwargs["height"] = self.settings.image_height
        with torch.inference_mode():
            output = self.pipeline(**kwargs)
        images = list(output.images)
        flags = getattr(output, "nsfw_content_detected", None)
        flagged = [bool(f) for f in flags] if flags is not None else [False] * len(images)
        return images, flagged

    def render(self, talks: list[Talk], *, tags: dict[str, list[str]]) -> list[CoverImage]:
        """Generate a cover per talk, `batch_size` talks per pipeline call."""
        jobs = [
            _Job(
                talk=talk,
                tags=cover_tags(talk, tags, limit=3),
                prompt=self.prompt_for(talk, tags=tags),
                seed=talk_seed(talk.talk_id, seed_base=self.settings.seed_base),
            )
            for talk in talks
        ]
        covers: list[CoverImage] = []
        size = self.settings.batch_size
        for start in range(0, len(jobs), size):
            batch = jobs[start : start + size]
            images, flagged = self.generate([j.prompt for j in batch], [j.seed for j in batch])
            for job, image, bad in zip(batch, images, flagged, strict=True):
                covers.append(self._cover(job, image, flagged=bad))
        return covers

    def _cover(self, job: _Job, image: Image.Image, *, flagged: bool) -> CoverImage:
        if flagged:
            log.warning("safety checker flagged the cover of %s; using its card", job.talk.talk_id)
            card = self.card.render_one(
                job.talk,
                tags=job.tags,
                prompt=job.prompt.prompt,
                negative_prompt=job.prompt.negative_prompt,
                flagged=True,
                seed=job.seed,
            )
            return replace(card, model=f"{card.model} replacing {self.model_version}")
        return CoverImage(
            talk_id=job.talk.talk_id,
            content_hash=job.talk.content_hash,
            data=encode_png(image.convert("RGB")),
            backend=self.name,
            model=self.model_version,
            seed=job.seed,
            prompt=job.prompt.prompt,
            negative_prompt=job.prompt.negative_prompt,
            flagged=False,
            width=image.width,
            height=image.height,
            alt_text=cover_alt_text(
                title=job.talk.title,
                tags=job.tags,
                backend=self.name,
                prompt=job.prompt.prompt,
                style_text=STYLE_PRESETS.get(self.settings.style, ("", ""))[0],
            ),
        )
