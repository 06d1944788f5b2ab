"""The embedding cache: a Delta table of vectors keyed by (encoder identity, text hash).

A text is embedded once per encoder: the key is a hash of the exact text the model reads, and
the encoder's identity names everything that changes its vectors (weights, token limit,
precision), so a new model or setting starts fresh instead of mixing vectors. Tagging and
recommendations share the table: whenever they embed the same text with the same encoder, the
vector is computed once.

New vectors are committed in batches as they are computed (an interrupted run keeps what it
finished); reads select one encoder's rows, or only the keys asked for, never a whole blob.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from deltalake import WriterProperties

from podium.lake import Lake

TABLE = "embeddings"
# Stored precision. float16 halves the table; measured not to move the tagging eval (pyvideo
# tagging-eval.json, 5-fold with every vector read back from this cache: micro F1 0.6624 and
# precision@1 0.760, the same as float32).
STORAGE_DTYPE = np.dtype("<f2")
# Up to this many keys are looked up with an IN filter; more read the encoder's rows whole.
_POINT_LOOKUP_KEYS = 2_048
_WRITER = WriterProperties(compression="ZSTD")


def text_key(text: str) -> str:
    """Cache key of one text: a hash of exactly the text the encoder reads."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def encoder_identity(encoder: Any) -> str:
    """A stable name of everything that changes an encoder's vectors.

    Uses `model_version`, and `max_length`, `bf16` and `variant` where the encoder has them (a
    `podium.embeddings.Encoder` does; test fakes may not). int8 and onnx encoders compute
    slightly different vectors, so their variant names them apart; torch fp32 and bf16 keep
    the names they always had, so their cached rows stay valid.
    """
    raw = str(encoder.model_version)
    max_length = getattr(encoder, "max_length", None)
    if max_length:
        raw += f"-len{max_length}"
    variant = getattr(encoder, "variant", None)
    if variant and variant not in ("fp32", "bf16"):
        raw += f"-{variant}"
    else:
        raw += "-bf16" if getattr(encoder, "bf16", False) else "-fp32"
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", raw)


def _decode(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """Equal-length little-endian vectors (float16 or float32) -> (n, dim) at that precision."""
    if len(blobs) == 0:
        return np.zeros((0, dim), dtype=STORAGE_DTYPE)
    sizes = {len(b) for b in blobs}
    if len(sizes) != 1:
        raise ValueError("embedding cache rows differ in size")
    itemsize = sizes.pop() // dim if dim else 0
    if itemsize not in (2, 4):
        raise ValueError("embedding cache holds vectors of another dimension")
    dtype = "<f2" if itemsize == 2 else "<f4"
    return np.frombuffer(b"".join(blobs), dtype=dtype).reshape(len(blobs), dim)


def read_embedding_matrix(
    *,
    lake: Lake,
    model: str,
    keys: Sequence[str] | None = None,
    dtype: npt.DTypeLike = np.float32,
) -> tuple[np.ndarray, list[str]]:
    """Cached vectors of one encoder: a matrix and the text key of each row.

    Args:
        lake: the lake holding the cache.
        model: the encoder identity (`encoder_identity`).
        keys: the text keys wanted (all of the encoder's rows when None); keys not cached are
            simply absent from the result.
        dtype: dtype of the matrix (float16 halves the memory of a large read).
    """
    where: list[tuple[str, str, Any]] = [("model", "=", model)]
    wanted = list(dict.fromkeys(keys)) if keys is not None else None
    if wanted is not None:
        if not wanted:
            return np.zeros((0, 0), dtype=dtype), []
        if len(wanted) <= _POINT_LOOKUP_KEYS:
            where.append(("text_hash", "in", wanted))
    frame = lake.read(TABLE, columns=["text_hash", "dim", "vector"], where=where)
    if wanted is not None and len(wanted) > _POINT_LOOKUP_KEYS:
        frame = frame[frame["text_hash"].isin(wanted)]
    # Concurrent writers may have appended the same key twice; the vectors are equal.
    frame = frame.drop_duplicates("text_hash")
    if frame.empty:
        return np.zeros((0, 0), dtype=dtype), []
    dim = int(frame["dim"].iloc[0])
    matrix = _decode(frame["vector"].tolist(), dim).astype(dtype, copy=False)
    return matrix, frame["text_hash"].tolist()


def write_embeddings(
    *, lake: Lake, model: str, keys: Sequence[str], vectors: np.ndarray
) -> np.ndarray:
    """Append vectors for new text keys in one commit.

    Returns:
        The vectors as stored (at the storage precision).
    """
    stored = np.ascontiguousarray(vectors, dtype=STORAGE_DTYPE)
    if len(keys) == 0:
        return stored
    dim = stored.shape[1]
    frame = pd.DataFrame(
        {
            "model": model,
            "text_hash": list(keys),
            "dim": dim,
            "vector": [row.tobytes() for row in stored],
            "embedded_at": datetime.now(UTC),
        }
    )
    lake.append(TABLE, frame, writer_properties=_WRITER)
    return stored


def embed_with_cache(
    *,
    lake: Lake,
    model: str,
    keys: Sequence[str],
    texts: Callable[[list[str]], list[str]],
    encode: Callable[[list[str]], np.ndarray],
    write_batch: int = 4_096,
    dtype: npt.DTypeLike = np.float32,
) -> tuple[np.ndarray, list[str]]:
    """Vectors for `keys` in order, embedding (and caching) only those not cached yet.

    Args:
        lake: the lake holding the cache.
        model: the encoder identity; vectors of other identities are never reused.
        keys: text keys wanted (`text_key` of each text; duplicates allowed).
        texts: given the missing keys, their texts (same order); called once per batch.
        encode: texts -> (n, d) unit vectors.
        write_batch: texts embedded and committed to the cache together.
        dtype: dtype of the returned matrix.

    Returns:
        (len(keys), d) matrix (at the stored precision, so a cached run returns the
        same vectors as the run that computed them) and the keys embedded now.
    """
    unique = list(dict.fromkeys(keys))
    matrix, found = read_embedding_matrix(lake=lake, model=model, keys=unique, dtype=dtype)
    position = {k: i for i, k in enumerate(found)}
    missing = [k for k in unique if k not in position]
    if missing:
        # Embed and commit in batches: an interrupted run keeps what it finished, and the
        # texts of only one batch are in memory at a time.
        parts = [matrix] if matrix.size else []
        for start in range(0, len(missing), write_batch):
            batch = missing[start : start + write_batch]
            new = encode(texts(batch))
            stored = write_embeddings(lake=lake, model=model, keys=batch, vectors=new)
            parts.append(stored.astype(dtype, copy=False))
        matrix = np.concatenate(parts) if len(parts) > 1 else parts[0]
        for offset, k in enumerate(missing):
            position[k] = len(found) + offset
    if not keys:
        return np.zeros((0, matrix.shape[1]), dtype=dtype), missing
    rows = np.fromiter((position[k] for k in keys), dtype=np.int64, count=len(keys))
    return matrix[rows], missing


@dataclass
class EmbeddingCache:
    """Texts -> vectors for any encoder, through the lake's embedding table.

    Args:
        lake: where the table lives (the project lake, or a Lake over a local cache folder).
        write_batch: texts embedded and committed together.
    """

    lake: Lake
    write_batch: int = 4_096

    def embed(self, texts: list[str], *, encoder: Any) -> np.ndarray:
        """(n, d) float32 vectors of `texts`, computing (and committing) only new ones."""
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        first = dict(zip(keys, texts, strict=True))
        vectors, _ = embed_with_cache(
            lake=self.lake,
            model=encoder_identity(encoder),
            keys=keys,
            texts=lambda missing: [first[k] for k in missing],
            encode=encoder.encode,
            write_batch=self.write_batch,
        )
        return vectors
