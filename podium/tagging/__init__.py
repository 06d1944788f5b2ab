"""Tagging: label similarity plus neighbours over tagged talks, calibrated per tag.

The contract the enrich flow calls:

    tagger = build_tagger(settings.tagging, device="cpu")
    history = load_history(lake=lake, encoder=tagger.encoder, exclude_talk_ids=batch_ids)
    assignments = tagger.tag(talks, vocabulary=vocabulary, history=history)
"""

from __future__ import annotations

from podium.embedding_cache import EmbeddingCache
from podium.embeddings import Encoder, load_encoder
from podium.tagging.config import TaggingSettings
from podium.tagging.history import TagHistory, build_history, load_history
from podium.tagging.tagger import Tagger, TagScores

__all__ = [
    "TagHistory",
    "TagScores",
    "Tagger",
    "TaggingSettings",
    "build_history",
    "build_tagger",
    "load_history",
    "use_bf16",
]


def use_bf16(precision: str, device: str) -> bool:
    """Whether to run the encoder under bf16 autocast for a `precision` setting."""
    if precision != "auto":
        return precision == "bf16"  # fp32 and int8 run without autocast
    if device.startswith("cuda"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def build_tagger(
    settings: TaggingSettings,
    *,
    device: str,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | None = None,
) -> Tagger:
    """The tagger the settings describe, loading its models once.

    Args:
        settings: tagging settings.
        device: torch device ("cpu", "cuda"); resolve "auto" with `podium.devices` first.
        encoder: an already loaded sentence encoder to share (e.g. with recommendations);
            loaded from `settings.embedding_model` when None.
        cache: embedding cache the tagger reads and writes talk vectors through (None: every
            talk is encoded); `Tagger.with_cache` gives a loaded tagger another one.

    Raises:
        ValueError: backend=nli without `nli_model`.
    """
    if encoder is None:
        encoder = load_encoder(
            settings.embedding_model,
            device=device,
            max_length=settings.max_length,
            bf16=settings.runtime == "torch" and use_bf16(settings.precision, device),
            batch_size=settings.batch_size,
            int8=settings.precision == "int8",
            runtime=settings.runtime,
            threads=settings.threads,
            sort_by_length=settings.sort_by_length,
            onnx_cache_dir=settings.onnx_cache_dir or None,
        )
    nli = None
    if settings.backend == "nli":
        if not settings.nli_model:
            raise ValueError("tagging backend 'nli' needs tagging.nli_model (a path or hub id)")
        from podium.tagging.nli import NLIScorer, load_nli_pipeline, nli_version

        nli = NLIScorer(
            pipeline=load_nli_pipeline(
                settings.nli_model, device=device, max_length=settings.nli_max_length
            ),
            model_version=nli_version(settings.nli_model),
            hypothesis=settings.nli_hypothesis,
            batch_size=settings.nli_batch_size,
            max_tokens=max(8, settings.nli_max_length - 24),  # room for the hypothesis
            threshold=settings.nli_threshold,
        )
    return Tagger(encoder=encoder, settings=settings, nli=nli, cache=cache)
