"""The diffusers backend end to end on a tiny random Stable Diffusion pipeline.

Real: the pipeline classes, `save_pretrained`, loading through `AutoPipelineForText2Image`
(the backend's own loading code), the tokenizer, schedulers, batched generation on CPU, the
safety-check code path (a real StableDiffusionSafetyChecker with random weights, which never
flags). Faked: weights are random; to make the checker flag, its concept weights are forced
or it is swapped for a small fake component; GPU out-of-memory is simulated.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from podium.images import ImageSettings, build_image_backend, talk_seed
from podium.images.alt_text import prompt_description
from podium.images.diffusion import DiffusersBackend
from podium.images.prompts import Prompt
from podium.models import Talk

TALKS = [
    Talk(talk_id=f"t{i}", title=title, description=desc, tags=tags, speakers=["Ada"])
    for i, (title, desc, tags) in enumerate(
        [
            ("Async Python at scale", "How we moved 40 services to asyncio.", ["python"]),
            ("Rust for data engineers", "Arrow, Polars and safe speed.", ["rust", "data"]),
            ("GPUs on a budget", "Serving diffusion models cheaply.", ["ml"]),
            ("Testing with Hypothesis", "See https://hypothesis.works.", ["testing"]),
            ("Kubernetes operators", "Reconcile loops, explained.", ["devops"]),
        ]
    )
]


def _settings(path: Path, **overrides: object) -> ImageSettings:
    base: dict[str, object] = {
        "model": str(path),
        "steps": 2,
        "batch_size": 4,
        "guidance_scale": 5.0,
    }
    return ImageSettings(**{**base, **overrides})


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def backend(tiny_pipeline_dir: Path) -> DiffusersBackend:
    built = build_image_backend(_settings(tiny_pipeline_dir), device="cpu")
    assert isinstance(built, DiffusersBackend)
    return built


def test_loads_through_auto_pipeline_and_generates_a_batch(backend: DiffusersBackend) -> None:
    assert type(backend.pipeline).__name__ == "StableDiffusionPipeline"
    assert backend.pipeline.safety_checker is not None  # on by default, and it ran
    unet_batches: list[int] = []
    hook = backend.pipeline.unet.register_forward_pre_hook(
        lambda _m, args: unet_batches.append(args[0].shape[0])
    )
    try:
        covers = backend.render(TALKS, tags={"t0": ["asyncio"]})
    finally:
        hook.remove()
    # 5 talks at batch_size 4: two pipeline calls; guidance doubles the UNet batch.
    assert sorted(set(unet_batches)) == [2, 8]
    assert len(unet_batches) == 2 * 2  # two calls x two steps
    assert [c.talk_id for c in covers] == [t.talk_id for t in TALKS]
    for cover, talk in zip(covers, TALKS, strict=True):
        assert cover.backend == "diffusers" and not cover.flagged
        assert cover.content_hash == talk.content_hash
        assert (cover.width, cover.height) == (64, 64)
        assert Image.open(io.BytesIO(cover.data)).size == (64, 64)
        assert "EulerDiscreteScheduler steps=2 cfg=5" in cover.model
        assert "text" in cover.negative_prompt
        assert backend.count_tokens(cover.prompt) <= 75
        # Alt text: the talk and a short description of what was asked for.
        assert cover.alt_text.startswith("Illustration for the talk “")
        subject = prompt_description(cover.prompt, max_words=4)
        assert f"”: {subject}" in cover.alt_text and len(cover.alt_text) <= 250
    assert "asyncio" in covers[0].prompt
    assert "https" not in covers[3].prompt


def test_same_talk_same_settings_same_image(
    backend: DiffusersBackend, tiny_pipeline_dir: Path
) -> None:
    first = backend.render(TALKS[:2], tags={})
    again = backend.render(TALKS[:2], tags={})
    assert [c.data for c in first] == [c.data for c in again]
    assert [c.seed for c in first] == [c.seed for c in again]
    # Independent of the batch it falls in (up to float rounding in batched kernels).
    alone = backend.render([TALKS[1]], tags={})[0]
    assert np.abs(_pixels(alone.data) - _pixels(first[1].data)).max() <= 2
    # Different talks differ; another seed base re-rolls.
    assert np.abs(_pixels(first[0].data) - _pixels(first[1].data)).mean() > 1
    rerolled = DiffusersBackend(
        backend.pipeline, settings=_settings(tiny_pipeline_dir, seed_base=7), device="cpu"
    ).render([TALKS[1]], tags={})[0]
    assert rerolled.seed != alone.seed
    assert np.abs(_pixels(rerolled.data) - _pixels(alone.data)).mean() > 1


def test_scheduler_steps_and_guidance_come_from_settings(tiny_pipeline_dir: Path) -> None:
    settings = _settings(
        tiny_pipeline_dir,
        scheduler="DDIMScheduler",
        steps=2,
        guidance_scale=0.0,
        safety_checker=False,
        image_width=48,
        image_height=32,
    )
    backend = build_image_backend(settings, device="cpu")
    assert isinstance(backend, DiffusersBackend)
    assert type(backend.pipeline.scheduler).__name__ == "DDIMScheduler"
    assert backend.pipeline.safety_checker is None
    batches: list[int] = []
    hook = backend.pipeline.unet.register_forward_pre_hook(
        lambda _m, args: batches.append(args[0].shape[0])
    )
    [cover] = backend.render(TALKS[:1], tags={})
    hook.remove()
    assert batches == [1, 1]  # two steps, no guidance: no unconditional half
    assert cover.negative_prompt == ""  # unused without guidance, so not recorded
    assert (cover.width, cover.height) == (48, 32)
    with pytest.raises(ValueError, match="scheduler"):
        build_image_backend(_settings(tiny_pipeline_dir, scheduler="NoSuchScheduler"), device="cpu")


def test_prompt_budget_follows_settings(backend: DiffusersBackend, tiny_pipeline_dir: Path) -> None:
    tight = DiffusersBackend(
        backend.pipeline, settings=_settings(tiny_pipeline_dir, max_prompt_tokens=20), device="cpu"
    )
    long_talk = Talk(talk_id="long", title="Async Python data " * 10, tags=["a", "b"])
    prompt = tight.prompt_for(long_talk, tags={})
    assert 0 < tight.count_tokens(prompt.prompt) <= 18
    assert prompt.prompt.startswith("Async Python data Async")  # the title keeps priority
    assert "flat" in prompt.prompt  # and the style keeps a share


def test_a_flagging_safety_checker_gets_the_card(tiny_pipeline_dir: Path) -> None:
    backend = build_image_backend(_settings(tiny_pipeline_dir), device="cpu")
    assert isinstance(backend, DiffusersBackend)
    # The real checker flags when an image is closer to a concept than its threshold;
    # negative thresholds make every image "close".
    with torch.no_grad():
        backend.pipeline.safety_checker.concept_embeds_weights.fill_(-2.0)
    covers = backend.render(TALKS[:2], tags={})
    for cover in covers:
        assert cover.flagged and cover.backend == "card"
        assert cover.model.startswith("card-") and "replacing" in cover.model
        assert (cover.width, cover.height) == (1200, 630)
        assert Image.open(io.BytesIO(cover.data)).size == (1200, 630)
        assert cover.prompt  # what was asked for stays on record
        assert cover.alt_text.startswith("Title card for the talk “")  # what it shows now
    assert [c.seed for c in covers] == [talk_seed(t.talk_id, seed_base=0) for t in TALKS[:2]]


class _FlagSecond:
    """A fake safety checker component: flags the second image of each call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, *, images: np.ndarray, clip_input: torch.Tensor
    ) -> tuple[np.ndarray, list[bool]]:
        self.calls += 1
        flags = [i == 1 for i in range(len(images))]
        return images, flags


def test_only_flagged_images_are_replaced(tiny_pipeline_dir: Path) -> None:
    backend = build_image_backend(_settings(tiny_pipeline_dir, batch_size=3), device="cpu")
    assert isinstance(backend, DiffusersBackend)
    fake = _FlagSecond()
    backend.pipeline.safety_checker = fake
    covers = backend.render(TALKS[:3], tags={})
    assert fake.calls == 1
    assert [c.flagged for c in covers] == [False, True, False]
    assert [c.backend for c in covers] == ["diffusers", "card", "diffusers"]


def test_out_of_memory_halves_the_batch(
    backend: DiffusersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_call = backend._call
    sizes: list[int] = []

    def small_gpu(prompts: list[Prompt], seeds: list[int]):  # type: ignore[no-untyped-def]
        sizes.append(len(prompts))
        if len(prompts) > 1:
            raise torch.OutOfMemoryError("simulated")
        return real_call(prompts, seeds)

    monkeypatch.setattr(backend, "_call", small_gpu)
    covers = backend.render(TALKS[:3], tags={})
    assert sizes == [3, 1, 2, 1, 1]
    assert [c.talk_id for c in covers] == ["t0", "t1", "t2"]
    monkeypatch.setattr(
        backend, "_call", lambda p, s: (_ for _ in ()).throw(torch.OutOfMemoryError("x"))
    )
    with pytest.raises(torch.OutOfMemoryError):
        backend.generate([Prompt("a", "")], [1])


def test_diffusers_without_a_model_is_an_error() -> None:
    with pytest.raises(ValueError, match="model"):
        build_image_backend(ImageSettings(backend="diffusers"), device="cpu")


class _GuidanceDistilledPipeline:
    """A fake pipeline shaped like Flux's: guidance but no negative prompt, no checker."""

    def __init__(self) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.scheduler = FlowMatchEulerDiscreteScheduler()
        self.dtype = torch.float32
        self.calls: list[dict[str, object]] = []

    def set_progress_bar_config(self, **_: object) -> None:
        pass

    def __call__(
        self,
        *,
        prompt: list[str],
        num_inference_steps: int,
        guidance_scale: float,
        generator: list[torch.Generator],
        output_type: str,
    ) -> object:
        from types import SimpleNamespace

        self.calls.append({"prompt": prompt, "seeds": [g.initial_seed() for g in generator]})
        return SimpleNamespace(images=[Image.new("RGB", (16, 8), "white") for _ in prompt])


def test_pipelines_without_negative_prompts_get_none() -> None:
    fake = _GuidanceDistilledPipeline()
    settings = ImageSettings(model="fake/flux", guidance_scale=3.5, batch_size=2)
    backend = DiffusersBackend(fake, settings=settings, device="cpu")
    covers = backend.render(TALKS[:3], tags={})
    assert [len(c["prompt"]) for c in fake.calls] == [2, 1]  # type: ignore[arg-type]
    assert [s for c in fake.calls for s in c["seeds"]] == [c.seed for c in covers]  # type: ignore[attr-defined]
    assert all(c.negative_prompt == "" and not c.flagged for c in covers)
    assert covers[0].model.startswith("fake/flux FlowMatchEulerDiscreteScheduler steps=25 cfg=3.5")
