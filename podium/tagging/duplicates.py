"""Near-duplicate submissions: pairs of talks of one event that say the same thing.

A speaker submits the same talk twice (a second try after an edit, a co-speaker's copy), or
a generator sends variants of one abstract. Podium flags such pairs to the organiser with
their similarity; it never merges or drops a talk itself.

Two measures, both reported with every pair:

- `similarity`: cosine of the talks' sentence embeddings (the tagger's MiniLM vectors, unit
  length), which survives rewording, reordering and cuts;
- `overlap`: Jaccard overlap of the talks' word 3-shingles (NFKC, case-folded), which says
  how much of the text is literally the same (1.0: a verbatim resubmission).

A pair is flagged when `similarity >= threshold` (or, when `overlap_threshold` is set,
`overlap >= overlap_threshold`). Pairs are only looked for inside one group (an event's
talks: the same talk given at two conferences is not a duplicate submission). The threshold is
chosen on planted duplicates in pyvideo (`bench/near_duplicates.py`, docs/tagging.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Cosine above which two talks of one event are flagged. Chosen on the development events of
#: `bench/near_duplicates.py` (F1-optimal there) and reported on the others (docs/tagging.md).
DEFAULT_THRESHOLD = 0.9

_WORD = re.compile(r"\w+", re.UNICODE)
_CHUNK = 1024


@dataclass(frozen=True)
class DuplicatePair:
    """Two talks flagged as near-duplicates (`first` < `second`)."""

    first: str
    second: str
    similarity: float
    overlap: float

    def label(self) -> str:
        return (
            f"{self.first} ≈ {self.second} (similarity {self.similarity:.2f}, "
            f"same words {self.overlap:.0%})"
        )


def shingles(text: str, *, size: int = 3) -> frozenset[str]:
    """Word `size`-shingles of a text (NFKC, case-folded); its words when it has fewer."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(words) < size:
        return frozenset([" ".join(words)] if words else [])
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two shingle sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def candidate_pairs(
    vectors: np.ndarray, *, groups: Sequence[str] | None = None, floor: float
) -> list[tuple[int, int, float]]:
    """Row pairs (i < j) of one group whose cosine is at least `floor`, in chunks of rows."""
    vecs = np.asarray(vectors, dtype=np.float32)
    n = len(vecs)
    if n < 2:
        return []
    codes = None
    if groups is not None:
        if len(groups) != n:
            raise ValueError("groups and vectors differ in length")
        index: dict[str, int] = {}
        codes = np.asarray([index.setdefault(g, len(index)) for g in groups], dtype=np.int64)
    out: list[tuple[int, int, float]] = []
    for start in range(0, n, _CHUNK):
        block = vecs[start : start + _CHUNK] @ vecs.T  # (chunk, n)
        rows = np.arange(start, min(start + _CHUNK, n))
        block[np.arange(n)[None, :] <= rows[:, None]] = -2.0  # each pair once, i < j
        mask = block >= floor
        if codes is not None:
            mask &= codes[rows][:, None] == codes[None, :]
        for r, j in zip(*np.nonzero(mask), strict=True):
            out.append((int(rows[r]), int(j), float(block[r, j])))
    return out


def near_duplicates(
    talk_ids: Sequence[str],
    vectors: np.ndarray,
    texts: Sequence[str],
    *,
    groups: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    overlap_threshold: float | None = None,
) -> list[DuplicatePair]:
    """Pairs of talks that look like the same submission, most similar first.

    Args:
        talk_ids: the talks.
        vectors: (n, d) their unit embeddings.
        texts: their plain texts (title and description), for the word overlap.
        groups: each talk's event; pairs only inside one group (None: one group).
        threshold: cosine at or above which a pair is flagged.
        overlap_threshold: also flag a pair whose word overlap reaches this (None: cosine only).
    """
    if not (len(talk_ids) == len(vectors) == len(texts)):
        raise ValueError("talk_ids, vectors and texts differ in length")
    floor = threshold
    if overlap_threshold is not None:
        # A verbatim copy has cosine ~1 anyway; literal overlap only adds pairs whose cosine
        # is merely high, so looking from a lower floor is enough and keeps this O(pairs kept).
        floor = min(threshold, 0.5)
    cache: dict[int, frozenset[str]] = {}

    def words(i: int) -> frozenset[str]:
        if i not in cache:
            cache[i] = shingles(texts[i])
        return cache[i]

    out: list[DuplicatePair] = []
    for i, j, cos in candidate_pairs(vectors, groups=groups, floor=floor):
        share = overlap(words(i), words(j))
        if cos >= threshold or (overlap_threshold is not None and share >= overlap_threshold):
            a, b = sorted((str(talk_ids[i]), str(talk_ids[j])))
            out.append(DuplicatePair(a, b, round(min(cos, 1.0), 4), round(share, 4)))
    out.sort(key=lambda p: (-p.similarity, p.first, p.second))
    return out
