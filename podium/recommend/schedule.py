"""Schedule-aware, diversified lists: pure numpy, no lake, no model.

A talk's related talks leave out every talk that clashes with it (their slots overlap) and
every other talk of its speakers. An event's list holds no two talks that clash or share a
speaker, so an attendee can follow all of it. Both are diversified with maximal marginal
relevance (Carbonell & Goldstein,
1998): each next entry maximises

    lambda * relevance - (1 - lambda) * max cosine similarity to the entries already taken,

so the list is not five near-copies of one talk. Candidates come from the exact top-k search
with a few times k of them (`candidate_factor`); the list is capped at k.

Talks without a slot never clash; speakers compare by normalised name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_TIME = np.iinfo(np.int64).min  # slot_start / slot_end of a talk without a slot


@dataclass
class Schedule:
    """Per talk (in `TalkMatrix` order): its slot as int64 epoch microseconds (NO_TIME when
    unscheduled) and its speakers as small integer ids."""

    start: np.ndarray
    end: np.ndarray
    speakers: list[frozenset[int]]

    @classmethod
    def empty(cls, n: int) -> Schedule:
        none = np.full(n, NO_TIME, dtype=np.int64)
        return cls(none, none.copy(), [frozenset()] * n)

    @classmethod
    def build(
        cls,
        starts: Sequence[object],
        ends: Sequence[object],
        speakers: Sequence[Sequence[str] | None],
    ) -> Schedule:
        """From slot starts/ends (datetimes, pandas timestamps or None/NaT) and speaker
        names."""
        import pandas as pd

        def micros(values: Sequence[object]) -> np.ndarray:
            stamps = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True)
            out = np.full(len(stamps), NO_TIME, dtype=np.int64)
            known = stamps.notna().to_numpy()
            out[known] = stamps[known].astype("datetime64[us, UTC]").astype("int64").to_numpy()
            return out

        ids: dict[str, int] = {}
        people = [
            frozenset(
                ids.setdefault(" ".join(str(n).casefold().split()), len(ids))
                for n in (names if names is not None else [])
                if str(n).strip()
            )
            for names in speakers
        ]
        return cls(micros(starts), micros(ends), people)

    def clash(self, a: int, others: np.ndarray) -> np.ndarray:
        """Whether talk `a` clashes with each of `others` (both scheduled, times overlap)."""
        if self.start[a] == NO_TIME:
            return np.zeros(len(others), dtype=bool)
        s, e = self.start[others], self.end[others]
        return (s != NO_TIME) & (s < self.end[a]) & (self.start[a] < e)

    def shares_speaker(self, a: int, others: np.ndarray) -> np.ndarray:
        mine = self.speakers[a]
        if not mine:
            return np.zeros(len(others), dtype=bool)
        return np.fromiter((bool(mine & self.speakers[o]) for o in others), bool, len(others))


def diversify(
    candidates: np.ndarray,
    relevance: np.ndarray,
    embeddings: np.ndarray,
    schedule: Schedule,
    *,
    k: int,
    diversity: float,
    query: int | None = None,
    mutual: bool = False,
) -> np.ndarray:
    """Up to `k` of `candidates` (talk indices, best first, -1 padding ignored), chosen by
    maximal marginal relevance under the schedule's constraints.

    Args:
        candidates: candidate talk indices.
        relevance: their relevance (cosine for related talks, the hybrid score for events).
        embeddings: (n, d) unit vectors of all talks.
        schedule: slots and speakers of all talks.
        k: the cap.
        diversity: 1 - lambda: 0 keeps the relevance order (constraints still apply).
        query: the talk the list is for: talks clashing with it or sharing a speaker with it
            are left out.
        mutual: no two chosen talks may clash or share a speaker (an event's list).

    Returns:
        The chosen talk indices in list order.
    """
    keep = candidates >= 0
    cand, rel = candidates[keep], relevance[keep].astype(np.float64)
    allowed = np.ones(len(cand), dtype=bool)
    if query is not None and len(cand):
        allowed &= ~schedule.clash(query, cand)
        allowed &= ~schedule.shares_speaker(query, cand)
        allowed &= cand != query
    cand, rel = cand[allowed], rel[allowed]
    if not len(cand):
        return np.zeros(0, dtype=np.int64)
    vectors = embeddings[cand].astype(np.float32)
    similarity = vectors @ vectors.T
    closest = np.full(len(cand), -np.inf)  # max similarity to the chosen ones
    open_ = np.ones(len(cand), dtype=bool)
    chosen: list[int] = []
    lam = 1.0 - diversity
    while len(chosen) < k and open_.any():
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        mmr = np.where(open_, lam * rel - diversity * penalty, -np.inf)
        pick = int(np.argmax(mmr))  # ties: the earlier (better-ranked) candidate
        chosen.append(pick)
        open_[pick] = False
        if mutual:
            talk = int(cand[pick])
            open_ &= ~schedule.clash(talk, cand)
            open_ &= ~schedule.shares_speaker(talk, cand)
        closest = np.maximum(closest, similarity[pick])
    return cand[np.asarray(chosen, dtype=np.int64)]


def rerank_rows(
    index: np.ndarray,
    score: np.ndarray,
    embeddings: np.ndarray,
    schedule: Schedule,
    *,
    k: int,
    diversity: float,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`diversify` each row of a top-k result: (k-wide indices, their relevance), -1/-inf
    padded. `queries[r]` is the talk row r is for (related talks); without queries (an
    event's list) the entries are constrained against each other instead."""
    rows = len(index)
    out_index = np.full((rows, k), -1, dtype=np.int64)
    out_score = np.full((rows, k), -np.inf, dtype=np.float32)
    for r in range(rows):
        chosen = diversify(
            index[r],
            score[r],
            embeddings,
            schedule,
            k=k,
            diversity=diversity,
            query=None if queries is None else int(queries[r]),
            mutual=queries is None,
        )
        if len(chosen):
            out_index[r, : len(chosen)] = chosen
            lookup = dict(zip(index[r].tolist(), score[r].tolist(), strict=True))
            out_score[r, : len(chosen)] = [lookup[int(c)] for c in chosen]
    return out_index, out_score


def list_figures(
    lists: Sequence[Sequence[int]],
    embeddings: np.ndarray,
    schedule: Schedule,
    queries: Sequence[int] | None = None,
) -> dict[str, float]:
    """Clashes, shared speakers and diversity of lists (for the bench and tests).

    With `queries` (related talks) a list's entries are checked against its query talk,
    without (an event's list) against each other.

    Returns:
        clashes: (query, entry) or (entry, entry) pairs whose slots overlap;
        same_speaker: such pairs sharing a speaker;
        diversity: mean over lists of 1 - mean pairwise cosine of the entries.
    """
    clashes = same = 0
    spread = []
    for position, items in enumerate(lists):
        members = np.asarray([i for i in items if i >= 0], dtype=np.int64)
        if queries is not None and len(members):
            q = int(queries[position])
            clashes += int(schedule.clash(q, members).sum())
            same += int(schedule.shares_speaker(q, members).sum())
        for j, a in enumerate(members[:-1] if queries is None else []):
            rest = members[j + 1 :]
            clashes += int(schedule.clash(int(a), rest).sum())
            same += int(schedule.shares_speaker(int(a), rest).sum())
        if len(members) >= 2:
            vectors = embeddings[members].astype(np.float32)
            sim = vectors @ vectors.T
            upper = sim[np.triu_indices(len(members), 1)]
            spread.append(1.0 - float(upper.mean()))
    return {
        "clashes": float(clashes),
        "same_speaker": float(same),
        "diversity": float(np.mean(spread)) if spread else float("nan"),
    }
