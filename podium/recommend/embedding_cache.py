"""A Delta table of text embeddings keyed by (model_version, content_hash).

A rebuild embeds only texts whose hash it has not seen under the current model; vectors are
stored as float16 bytes (half the space, and the precompute uses float16 matrices anyway).
The table lives beside the lake's tables (`tables/talk_embeddings`) but is private to
recommendations, so its schema is defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from podium.lake import Lake

TABLE = "talk_embeddings"
SCHEMA = pa.schema(
    [
        ("model_version", pa.string()),
        ("content_hash", pa.string()),
        ("dim", pa.int32()),
        ("vector", pa.binary()),  # float16, little-endian, `dim` values
        ("embedded_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _table(lake: Lake) -> DeltaTable | None:
    try:
        return DeltaTable(lake.table_uri(TABLE), storage_options=lake.storage_options)
    except TableNotFoundError:
        return None


def _decode(vectors: pa.Array, dim: int) -> np.ndarray:
    """Binary column of equal-length float16 blobs -> (n, dim) float16 without a Python loop."""
    if len(vectors) == 0:
        return np.zeros((0, dim), dtype=np.float16)
    array = vectors.combine_chunks() if isinstance(vectors, pa.ChunkedArray) else vectors
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    if not np.all(np.diff(offsets) == dim * 2):
        raise ValueError("embedding cache holds vectors of another dimension")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view("<f2").reshape(len(array), dim)


def read_embeddings(
    *, lake: Lake, model_version: str, hashes: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Cached vectors of one model: content_hash -> (dim,) float16 (all, or those asked)."""
    matrix, found = read_embedding_matrix(lake=lake, model_version=model_version, hashes=hashes)
    return {h: matrix[i] for i, h in enumerate(found)}


def read_embedding_matrix(
    *, lake: Lake, model_version: str, hashes: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Cached vectors of one model as a float16 matrix and the hash of each row."""
    table = _table(lake)
    if table is None:
        return np.zeros((0, 0), dtype=np.float16), []
    filt = pc.field("model_version") == model_version
    if hashes is not None:
        filt = filt & pc.field("content_hash").isin(list(hashes))
    data = table.to_pyarrow_dataset().to_table(
        columns=["content_hash", "dim", "vector"], filter=filt
    )
    if data.num_rows == 0:
        return np.zeros((0, 0), dtype=np.float16), []
    hashes_found = data.column("content_hash").to_pylist()
    # Concurrent writers may have appended the same hash twice; the vectors are equal.
    _, first = np.unique(np.asarray(hashes_found, dtype=object), return_index=True)
    first.sort()
    dim = int(data.column("dim")[0].as_py())
    matrix = _decode(data.column("vector"), dim)[first]
    return matrix, [hashes_found[i] for i in first]


def write_embeddings(
    *, lake: Lake, model_version: str, hashes: Sequence[str], vectors: np.ndarray
) -> int:
    """Append vectors for new content hashes; returns how many rows were written."""
    if len(hashes) == 0:
        return 0
    half = np.ascontiguousarray(vectors, dtype="<f2")
    dim = half.shape[1]
    raw = half.tobytes()
    offsets = pa.array(np.arange(len(hashes) + 1, dtype=np.int32) * dim * 2)
    blob = pa.BinaryArray.from_buffers(
        pa.binary(), len(hashes), [None, offsets.buffers()[1], pa.py_buffer(raw)]
    )
    now = datetime.now(UTC)
    data = pa.table(
        {
            "model_version": pa.array([model_version] * len(hashes), pa.string()),
            "content_hash": pa.array(list(hashes), pa.string()),
            "dim": pa.array([dim] * len(hashes), pa.int32()),
            "vector": blob,
            "embedded_at": pa.array([now] * len(hashes), SCHEMA.field("embedded_at").type),
        },
        schema=SCHEMA,
    )
    lake.retrying(
        lambda: write_deltalake(
            lake.table_uri(TABLE), data, mode="append", storage_options=lake.storage_options
        )
    )
    return len(hashes)


def embed_with_cache(
    *,
    lake: Lake,
    model_version: str,
    hashes: Sequence[str],
    texts: Callable[[list[str]], list[str]],
    encode: Callable[[list[str]], np.ndarray],
    write_batch: int = 4_096,
) -> tuple[np.ndarray, list[str]]:
    """Vectors for `hashes` in order, embedding (and caching) only those not cached yet.

    Args:
        lake: the lake holding the cache.
        model_version: the encoder's version; vectors of other versions are never reused.
        hashes: content hashes wanted (duplicates allowed).
        texts: given the missing hashes, their texts (same order).
        encode: texts -> (n, d) unit vectors.
        write_batch: texts embedded and committed to the cache together.

    Returns:
        (len(hashes), d) float16 matrix and the hashes embedded now.
    """
    unique = list(dict.fromkeys(hashes))
    matrix, found = read_embedding_matrix(lake=lake, model_version=model_version)
    position = {h: i for i, h in enumerate(found)}
    missing = [h for h in unique if h not in position]
    if missing:
        # Embed and commit in batches: an interrupted run keeps what it finished, and the
        # texts of only one batch are in memory at a time.
        parts = [matrix] if matrix.size else []
        for start in range(0, len(missing), write_batch):
            batch = missing[start : start + write_batch]
            new = encode(texts(batch)).astype(np.float16)
            write_embeddings(lake=lake, model_version=model_version, hashes=batch, vectors=new)
            parts.append(new)
        matrix = np.concatenate(parts) if len(parts) > 1 else parts[0]
        for offset, h in enumerate(missing):
            position[h] = len(found) + offset
    rows = np.fromiter((position[h] for h in hashes), dtype=np.int64, count=len(hashes))
    return matrix[rows], missing
