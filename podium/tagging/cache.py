"""Content-addressed embedding cache, stored as one blob per model in the lake.

A talk is re-embedded only when the text the model reads changes: the key is a hash of that
text, and the blob is named by the encoder's identity (weights, token limit, precision), so a
new model or setting starts a fresh cache instead of mixing vectors.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field

import numpy as np

from podium.embeddings import Encoder
from podium.lake import Lake


def text_key(text: str) -> str:
    """Cache key of one text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def encoder_identity(encoder: Encoder) -> str:
    """A file-name-safe name of everything that changes an encoder's vectors."""
    raw = f"{encoder.model_version}-len{encoder.max_length}-{'bf16' if encoder.bf16 else 'fp32'}"
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", raw)


@dataclass
class EmbeddingCache:
    """Vectors by text hash for one encoder, loaded from and saved to a lake blob.

    Args:
        lake: where the blob lives (the project lake, or a Lake over a local cache folder).
        prefix: folder of the cache blobs inside the lake.
    """

    lake: Lake
    prefix: str = "cache/embeddings"
    _loaded: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    _dirty: set[str] = field(default_factory=set, repr=False)

    def _path(self, identity: str) -> str:
        return f"{self.prefix}/{identity}.npz"

    def _entries(self, identity: str) -> dict[str, np.ndarray]:
        if identity not in self._loaded:
            entries: dict[str, np.ndarray] = {}
            path = self._path(identity)
            if self.lake.blob_exists(path):
                try:
                    data = np.load(io.BytesIO(self.lake.get_blob(path)), allow_pickle=False)
                    entries = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
                except (ValueError, KeyError, OSError):
                    entries = {}  # a torn or foreign blob is only a cache miss
            self._loaded[identity] = entries
        return self._loaded[identity]

    def embed(self, texts: list[str], *, encoder: Encoder) -> np.ndarray:
        """Vectors of `texts`, computing (and remembering) only the ones not cached yet."""
        identity = encoder_identity(encoder)
        entries = self._entries(identity)
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in entries))
        if missing:
            wanted = set(missing)
            first = {k: t for k, t in zip(keys, texts, strict=True) if k in wanted}
            vectors = encoder.encode([first[k] for k in missing])
            entries.update(zip(missing, vectors, strict=True))
            self._dirty.add(identity)
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        return np.stack([entries[k] for k in keys]).astype(np.float32, copy=False)

    def save(self) -> int:
        """Write every changed cache blob; returns how many vectors were written."""
        written = 0
        for identity in sorted(self._dirty):
            entries = self._loaded[identity]
            buffer = io.BytesIO()
            np.savez(
                buffer,
                keys=np.array(list(entries), dtype="U40"),
                vectors=np.stack(list(entries.values())).astype(np.float32),
            )
            self.lake.put_blob(self._path(identity), buffer.getvalue())
            written += len(entries)
        self._dirty.clear()
        return written
