"""The diffusers backend on CUDA: fp16, scaled-dot-product attention and torch.compile.

Real: everything but the weights (the tiny random pipeline, loaded through the backend's own
code). Needs a CUDA device: marked `gpu` and skipped without one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from podium.images import ImageSettings, build_image_backend
from podium.images.diffusion import DiffusersBackend
from podium.models import Talk

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TALKS = [Talk(talk_id=f"g{i}", title=f"GPU talk number {i}", tags=["ml"]) for i in range(5)]


@pytest.mark.parametrize("compiled", [False, True])
def test_fp16_batches_on_cuda_are_deterministic(tiny_pipeline_dir: Path, compiled: bool) -> None:
    settings = ImageSettings(
        model=str(tiny_pipeline_dir),
        steps=2,
        batch_size=4,
        torch_compile=compiled,
        compile_mode="default",
    )
    backend = build_image_backend(settings, device="cuda")
    assert isinstance(backend, DiffusersBackend)
    assert backend.pipeline.dtype == torch.float16
    unet = getattr(backend.pipeline.unet, "_orig_mod", backend.pipeline.unet)
    assert {type(p).__name__ for p in unet.attn_processors.values()} == {"AttnProcessor2_0"}
    first = backend.render(TALKS, tags={})
    again = backend.render(TALKS, tags={})
    assert [c.data for c in first] == [c.data for c in again]
    assert all(c.backend == "diffusers" and "float16" in c.model for c in first)
    assert {(c.width, c.height) for c in first} == {(64, 64)}
