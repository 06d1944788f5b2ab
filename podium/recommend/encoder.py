"""The recommendation encoder: loaded only when some text is missing from the embedding cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from podium.embedding_cache import encoder_identity
from podium.recommend.config import RecommendSettings
from podium.tagging.config import TaggingSettings


class TextEncoder(Protocol):
    """What the build needs of an encoder (`podium.embeddings.Encoder` fits)."""

    model_version: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def embedding_model_version(name: str) -> str:
    """The version `podium.embeddings.load_encoder(name)` will report, without loading it."""
    from podium.embeddings import PACKAGED_MINILM, _weights_digest, resolve_model_path

    if name == PACKAGED_MINILM:
        return "all-MiniLM-L6-v2"
    path = resolve_model_path(name)
    return name if not Path(path).exists() else f"{Path(path).name}@{_weights_digest(path)}"


@dataclass
class LazyEncoder:
    """Loads the encoder on the first `encode`, so a fully cached rebuild loads no model.

    Args:
        model_version: version the loaded encoder must report.
        load: builds the encoder.
        max_length: token limit the loaded encoder must have (part of the cache key), or None
            when the encoder has none.
        bf16: whether the loaded encoder runs under bf16 (part of the cache key).
        variant: how the loaded encoder computes (`fp32`, `bf16`, `int8`, `onnx-int8`...; part
            of the cache key where the encoder has one), or None.
    """

    model_version: str
    load: Callable[[], TextEncoder]
    max_length: int | None = None
    bf16: bool = False
    variant: str | None = None
    _encoder: TextEncoder | None = field(default=None, repr=False)

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = self.load()
            if self._encoder.model_version != self.model_version:
                raise RuntimeError(
                    f"encoder reports {self._encoder.model_version!r}, "
                    f"expected {self.model_version!r}"
                )
            if encoder_identity(self._encoder) != encoder_identity(self):
                raise RuntimeError(
                    f"encoder is {encoder_identity(self._encoder)!r}, "
                    f"expected {encoder_identity(self)!r}"
                )
        return self._encoder.encode(texts)


MAX_LENGTH = 256  # tokens per text a recommendation model of its own reads


def make_encoder(
    settings: RecommendSettings, tagging: TaggingSettings | None = None
) -> LazyEncoder:
    """An encoder that loads its weights only if some text is not in the embedding cache.

    With `settings.embedding_model` unset (the default) it is the tagging encoder: same
    model, token limit and precision, hence the same cache identity, so the vectors the
    tagger computed serve recommendations too.

    Args:
        settings: recommendation settings.
        tagging: tagging settings (the shared encoder); defaults when None.
    """
    if settings.embedding_model is None:
        return _tagging_encoder(tagging or TaggingSettings())
    name = settings.embedding_model

    def load():  # type: ignore[no-untyped-def]
        from podium.devices import resolve_device
        from podium.embeddings import load_encoder

        return load_encoder(
            name,
            device=resolve_device(settings.device),
            max_length=MAX_LENGTH,
            batch_size=settings.embed_batch_size,
        )

    # The token limit and precision are part of the embedding cache key, so they are fixed
    # here rather than discovered by loading the model.
    return LazyEncoder(
        model_version=embedding_model_version(name),
        load=load,
        max_length=MAX_LENGTH,
        bf16=False,
    )


def _tagging_encoder(tagging: TaggingSettings) -> LazyEncoder:
    from podium.devices import resolve_device
    from podium.tagging import use_bf16

    device = resolve_device(tagging.device)
    # The identity the tagger's encoder will report (podium.embeddings.Encoder.variant),
    # known without loading it; a mismatch on load raises rather than mixing vectors.
    runtime = str(getattr(tagging, "runtime", "torch"))
    bf16 = runtime == "torch" and use_bf16(tagging.precision, device)
    precision = "int8" if tagging.precision == "int8" else "bf16" if bf16 else "fp32"
    variant = precision if runtime == "torch" else f"{runtime}-{precision}"

    def load():  # type: ignore[no-untyped-def]
        # Built exactly as tagging builds it (runtime, quantisation, threads included).
        from podium.tagging import build_tagger

        return build_tagger(
            tagging.model_copy(update={"backend": "embedding"}), device=device
        ).encoder

    return LazyEncoder(
        model_version=embedding_model_version(tagging.embedding_model),
        load=load,
        max_length=tagging.max_length,
        bf16=bf16,
        variant=variant,
    )
