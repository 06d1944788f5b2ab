"""Source order: which of two changes to one talk is the later one, by the source's own clock.

Changes reach Podium out of order (a DynamoDB batch redelivered after a newer one, two gateway
requests racing, a client retrying an old version). The winner is decided by the source, never
by arrival:

- a DynamoDB stream `SequenceNumber` orders the changes of one item (one key lives on one shard
  lineage, whose sequence numbers only grow);
- otherwise the source's `updated_at` (the directory app's edit time, or a stream record's
  `ApproximateCreationDateTime` for a removal) orders them;
- a change that carries neither is ordered by arrival, which is all the source told us.

A removal is an ordinary change with this order, so it is a tombstone: an older upsert arriving
after it loses to it like to any newer version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")

# Sequence numbers are decimal strings of up to 40 digits; zero-padded they compare as text,
# which lets the lake compare them inside a MERGE predicate.
SEQUENCE_DIGITS = 40


class Removal(str):
    """The id of a talk deleted at the source, with where the deletion sits in source order.

    A `str`, so code that only needs the id treats it as one.
    """

    sequence: int | None
    updated_at: datetime | None

    def __new__(
        cls, talk_id: str, *, sequence: int | None = None, updated_at: datetime | None = None
    ) -> Removal:
        value = super().__new__(cls, talk_id)
        value.sequence = sequence
        value.updated_at = updated_at
        return value


@dataclass(frozen=True)
class SourceOrder:
    """Where a change sits in its source's order; both parts may be unknown."""

    sequence: int | None = None
    updated_at: datetime | None = None

    def older_than(self, other: SourceOrder) -> bool:
        """True when the source says this change came strictly before `other`.

        Sequence numbers win when both sides have one; otherwise source timestamps; when
        neither comparison is possible the answer is False (arrival order decides).
        """
        if self.sequence is not None and other.sequence is not None:
            return self.sequence < other.sequence
        if self.updated_at is not None and other.updated_at is not None:
            return self.updated_at < other.updated_at
        return False

    @property
    def sequence_text(self) -> str | None:
        """The sequence number as the lake stores it (zero-padded), None when unknown."""
        return None if self.sequence is None else format_sequence(self.sequence)


def format_sequence(sequence: int) -> str:
    """A sequence number as fixed-width text, so text order is numeric order."""
    return str(sequence).zfill(SEQUENCE_DIGITS)


def parse_sequence(value: object) -> int | None:
    """A DynamoDB `SequenceNumber` (a decimal string) as an int; None when absent.

    Raises:
        ValueError: the value is present but not a non-negative decimal of at most 40 digits.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdecimal() or len(value) > SEQUENCE_DIGITS:
        raise ValueError(f"not a stream sequence number: {value!r:.60}")
    return int(value)


def latest(changes: Sequence[tuple[SourceOrder, T]]) -> T:
    """The change that wins among several of one talk, given in arrival order.

    Folding in arrival order and replacing the winner unless the newcomer is older by source
    order makes the last writer by source order win, and arrival decide only ties.
    """
    if not changes:
        raise ValueError("no changes")
    winner_order, winner = changes[0]
    for order, change in changes[1:]:
        if not order.older_than(winner_order):
            winner_order, winner = order, change
    return winner
