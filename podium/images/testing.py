"""Stable Diffusion pipelines built from configs with random weights, for tests and benchmarks.

The cost of a denoising step does not depend on the weight values, so a random pipeline of
the real architecture measures speed honestly; a tiny one exercises the real loading and
generation code in seconds. Nothing here downloads anything: the tokenizer's vocabulary is
written on the spot (every byte is a token, plus a few merges).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_VOCAB_SIZE = 1024


def _bytes_to_unicode() -> dict[int, str]:
    # The byte <-> printable-character table of byte-level BPE (GPT-2, CLIP).
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


# Whole-word merges for the words prompts use most (style presets, the negative prompt and a
# few topics), so the tiny tokenizer spends tokens about as real CLIP does: one per common
# word, one per letter for the rest.
_TOPIC_WORDS = ("python", "data", "talk", "rust", "async", "scale", "testing", "cloud", "web")


def _merges() -> list[str]:
    from podium.images.prompts import BASE_NEGATIVE, STYLE_PRESETS

    text = " ".join([BASE_NEGATIVE, *(" ".join(pair) for pair in STYLE_PRESETS.values())])
    words = dict.fromkeys(w.strip(",").lower() for w in [*text.split(), *_TOPIC_WORDS])
    merges: list[str] = []
    for word in words:
        if len(word) < 2 or not word.isascii() or not word.isalpha():
            continue
        symbols = [*word[:-1], word[-1] + "</w>"]
        merged = symbols[0]
        for symbol in symbols[1:]:
            merges.append(f"{merged} {symbol}")
            merged += symbol
    return list(dict.fromkeys(merges))


def write_tiny_tokenizer_files(directory: Path) -> tuple[Path, Path]:
    """Write a byte-level CLIP vocabulary (vocab.json) and merges (merges.txt).

    Returns:
        (vocab path, merges path).
    """
    directory.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in [*symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(token, len(vocab))
    merges = _merges()
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    if len(vocab) > TINY_VOCAB_SIZE:  # token ids must index the tiny text encoder's table
        raise ValueError(f"tiny vocabulary has {len(vocab)} tokens > {TINY_VOCAB_SIZE}")
    vocab_path = directory / "vocab.json"
    merges_path = directory / "merges.txt"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def tiny_tokenizer(directory: Path) -> Any:
    """A CLIPTokenizer over the written vocabulary, 77 tokens long like SD's."""
    from transformers import CLIPTokenizer

    vocab_path, merges_path = write_tiny_tokenizer_files(directory)
    return CLIPTokenizer(str(vocab_path), str(merges_path), model_max_length=77)


def _text_config(*, vocab_size: int, hidden: int, layers: int, heads: int, ffn: int) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        vocab_size=vocab_size,
        max_position_embeddings=77,
        projection_dim=hidden,
    )


def tiny_components(
    directory: Path, *, seed: int = 0, safety_checker: bool = True
) -> dict[str, Any]:
    """Components of a tiny Stable Diffusion pipeline (64x64 images, ~1M parameters).

    Args:
        directory: where the tokenizer files are written.
        seed: seeds the random weights.
        safety_checker: include a (random-weight, never-flagging) StableDiffusionSafetyChecker
            and its CLIP image processor, so the real safety-check code path runs.
    """
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    # The UNet denoises the VAE's latents: 4 channels at half the image size (the VAE's two
    # blocks downsample once). Both use the same tiny block widths and group norm.
    image_size, latent_channels = 64, 4
    widths: dict[str, Any] = {"block_out_channels": (8, 16), "norm_num_groups": 4}
    unet = UNet2DConditionModel(
        **widths,
        layers_per_block=1,
        sample_size=image_size // 2,
        in_channels=latent_channels,
        out_channels=latent_channels,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        **widths,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=latent_channels,
        sample_size=image_size,
    )
    text_encoder = CLIPTextModel(
        _text_config(vocab_size=TINY_VOCAB_SIZE, hidden=32, layers=2, heads=4, ffn=37)
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    components: dict[str, Any] = {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(directory / "tokenizer-src"),
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
    if safety_checker:
        from diffusers.pipelines.stable_diffusion.safety_checker import (
            StableDiffusionSafetyChecker,
        )
        from transformers import CLIPConfig, CLIPImageProcessor

        vision = {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "image_size": 32,
            "patch_size": 8,
        }
        text = {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "vocab_size": TINY_VOCAB_SIZE,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        }
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
        components["safety_checker"] = StableDiffusionSafetyChecker(config).eval()
        components["feature_extractor"] = CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
        components["requires_safety_checker"] = True
    return components


def save_tiny_pipeline(directory: Path, *, seed: int = 0, safety_checker: bool = True) -> Path:
    """Build a tiny StableDiffusionPipeline and `save_pretrained` it to `directory/pipeline`.

    Returns:
        The pipeline folder, loadable with `AutoPipelineForText2Image.from_pretrained`.
    """
    from diffusers import StableDiffusionPipeline

    pipeline: Any = StableDiffusionPipeline(
        **tiny_components(directory, seed=seed, safety_checker=safety_checker)
    )
    target = directory / "pipeline"
    pipeline.save_pretrained(target)
    return target


def sd15_pipeline(directory: Path, *, device: str = "cpu", dtype: Any = None) -> Any:
    """A Stable Diffusion 1.5-sized pipeline (860M-parameter UNet) with random weights.

    Built directly on `device` in `dtype` (no save/load: 2 GB of random weights is not worth
    writing). The tokenizer is the tiny one; the text encoder has CLIP ViT-L/14's size.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    dtype = dtype or torch.float32
    with torch.device(device):
        unet = UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=(
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "DownBlock2D",
            ),
            up_block_types=(
                "UpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
            ),
            cross_attention_dim=768,
            attention_head_dim=8,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            sample_size=512,
        )
        text_encoder = CLIPTextModel(
            _text_config(vocab_size=49408, hidden=768, layers=12, heads=12, ffn=3072)
        )
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
    )
    pipeline: Any = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(directory / "tokenizer-src"),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return pipeline.to(device=device, dtype=dtype)
