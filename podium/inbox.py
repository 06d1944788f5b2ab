"""The talk inbox: accepted changes made durable as append-only blobs, folded into Delta later.

A Delta MERGE of `talks` plus the ledger's pending mark costs a few hundred milliseconds of
CPU per commit whatever its size, and two gateway replicas committing to one table conflict
and retry. With that on the request path a gateway accepted ~25-35 talk posts/s (issue 21).
The inbox takes it off the path:

- **Append** (`append`): the gateway writes the changes of one group of concurrent requests
  as ONE new blob `inbox/<ns>-<writer>-<random>.jsonl`, created exclusively (a local hard
  link of a complete file, or an S3 conditional put with If-None-Match). Keys are unique, so
  appends never conflict, between threads or replicas. The 2xx is sent after the blob is
  there: a 2xx still means durable.
- **Fold** (`fold`): one folder at a time (a lease in the lake, `FoldLease`; any replica, the
  first to find the lease free or expired) reads every inbox blob in key order (arrival
  order across appends, each blob in its own order), records all their changes with ONE
  `record_talks` call (the `talks` MERGE re-checks source order, the ledger's pending mark
  follows the row's revision: the two-writer guarantees of podium/recording.py are exactly
  those of a direct write), and only then deletes the blobs it folded.
- **Crash safety**: a crash before the fold's commits leaves the blobs, folded next time; a
  crash after them but before the deletes folds them again, which records nothing twice
  (an identical change is a no-op; an older one is stale by source order). Every later fold
  takes every blob still there, in key order, so a blob folded twice is never folded after
  a newer one that it could override by arrival order.

This module owns the `inbox/`, `inbox-lease/` and `inbox-unreadable/` blob areas of the lake.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podium.ingest import Change, IngestReport
from podium.lake import Lake
from podium.models import Talk
from podium.ordering import Removal
from podium.recording import record_talks

PREFIX = "inbox"
LEASE_PREFIX = "inbox-lease"
DEAD_PREFIX = "inbox-unreadable"

logger = logging.getLogger("podium.inbox")


# ---- changes as JSON lines ----------------------------------------------------------------


def _encode(change: Change) -> dict[str, Any]:
    if isinstance(change, Talk):
        data = change.model_dump(mode="json", exclude=set(Talk.model_computed_fields))
        return {"talk": data, "sequence": change._sequence}
    updated: datetime | None = getattr(change, "updated_at", None)  # a Removal's, if any
    return {
        "removed": str(change),
        "sequence": getattr(change, "sequence", None),
        "updated_at": None if updated is None else updated.isoformat(),
    }


def _decode(line: dict[str, Any]) -> Change:
    if "talk" in line:
        talk = Talk.model_validate(line["talk"])
        talk._sequence = line.get("sequence")
        return talk
    updated = line.get("updated_at")
    return Removal(
        line["removed"],
        sequence=line.get("sequence"),
        updated_at=None if updated is None else datetime.fromisoformat(updated),
    )


def encode(changes: Iterable[Change]) -> bytes:
    """Changes as one inbox blob: a JSON line each, in order."""
    return b"".join(json.dumps(_encode(c)).encode() + b"\n" for c in changes)


def decode(data: bytes) -> list[Change]:
    """An inbox blob's changes, in order."""
    return [_decode(json.loads(line)) for line in data.splitlines() if line.strip()]


# ---- appending ----------------------------------------------------------------------------


def append(lake: Lake, changes: list[Change], *, writer: str) -> str:
    """Make `changes` durable as one new inbox blob; returns its path.

    The key starts with the time in nanoseconds, so a fold reads blobs in arrival order; the
    writer id and a random part make it unique, and the blob is created exclusively anyway.
    """
    data = encode(changes)
    while True:
        path = f"{PREFIX}/{time.time_ns():020d}-{writer}-{uuid.uuid4().hex[:12]}.jsonl"
        if lake.create_blob(path, data):
            return path


def pending_blobs(lake: Lake) -> list[str]:
    """Inbox blobs not folded yet, in key (arrival) order."""
    return [p for p in lake.list_blobs(PREFIX) if p.endswith(".jsonl")]


# ---- folding ------------------------------------------------------------------------------


@dataclass
class Fold:
    """What one fold did."""

    blobs: list[str] = field(default_factory=list)
    changes: int = 0
    report: IngestReport = field(default_factory=IngestReport)


def fold(lake: Lake, *, max_blobs: int = 1000, blobs: list[str] | None = None) -> Fold:
    """Record the inbox's changes in the lake (one `record_talks`), then delete their blobs.

    Args:
        lake: the lake.
        max_blobs: most blobs folded at once (the oldest first).
        blobs: the blobs to fold (already listed, in key order); listed here when None.

    Returns:
        The blobs folded and what recording them changed (`report.pending`: talks that now
        need enrichment, `report.removed`: talks deleted).
    """
    if blobs is None:
        blobs = pending_blobs(lake)
    blobs = blobs[:max_blobs]
    done = Fold(blobs=blobs)
    if not blobs:
        return done
    changes: list[Change] = []
    for path in blobs:
        try:
            changes += decode(lake.get_blob(path))
        except FileNotFoundError:
            continue  # folded and deleted meanwhile by a folder whose lease we took over
        except ValueError:
            # Written by a gateway of another version, or damaged: kept aside for an operator,
            # never allowed to stop every later fold.
            lake.put_blob(f"{DEAD_PREFIX}/{path.rsplit('/', 1)[1]}", lake.get_blob(path))
            logger.error("inbox blob %s cannot be read; moved to %s/", path, DEAD_PREFIX)
    done.changes = len(changes)
    if changes:
        done.report = record_talks(lake=lake, changes=changes)
    for path in blobs:
        try:
            lake.delete_blob(path)
        except FileNotFoundError:
            pass
    return done


# ---- one folder at a time -----------------------------------------------------------------


class FoldLease:
    """Which process folds the inbox now: a lease in the lake, renewed while held.

    One blob per generation, `inbox-lease/<n>.json` = {holder, until}; the newest generation is
    the lease. Taking or renewing it creates the next generation exclusively, so of two
    processes that try at once exactly one gets it. A holder that died lets its lease run
    out and the next `acquire` after that takes it over.

    Correctness never depends on the lease (folding is idempotent and ordered by the lake's
    own checks); it keeps two replicas from folding the same blobs at once, which would only
    make their commits conflict and retry.
    """

    def __init__(self, lake: Lake, *, holder: str, ttl_s: float) -> None:
        self.lake = lake
        self.holder = holder
        self.ttl_s = ttl_s
        # Until when the lease this process last wrote runs: while more than half of it is
        # left, a fold does not renew it (no request). Only a saving: correctness never
        # depends on the lease.
        self._held_until = 0.0

    def _newest(self) -> tuple[int, dict[str, Any] | None]:
        names = [p for p in self.lake.list_blobs(LEASE_PREFIX) if p.endswith(".json")]
        generations = sorted(int(p.rsplit("/", 1)[1].removesuffix(".json")) for p in names)
        for generation in reversed(generations):
            try:
                data = json.loads(self.lake.get_blob(f"{LEASE_PREFIX}/{generation:012d}.json"))
            except (FileNotFoundError, ValueError):
                continue
            return generation, data
        return (generations[-1] if generations else 0), None

    def acquire(self) -> bool:
        """Take or renew the lease; False when another holder's lease is still running."""
        if time.time() < self._held_until - self.ttl_s / 2:
            return True  # renewed less than half a lease ago
        generation, lease = self._newest()
        now = time.time()
        if lease is not None and lease["holder"] != self.holder and lease["until"] > now:
            return False
        entry = json.dumps({"holder": self.holder, "until": now + self.ttl_s}).encode()
        if not self.lake.create_blob(f"{LEASE_PREFIX}/{generation + 1:012d}.json", entry):
            return False  # another process took this generation first
        self._held_until = now + self.ttl_s
        # Keep a few generations: each acquire drops the one that falls out of the window (a
        # generation whose delete failed stays, harmless, until an operator clears it).
        if generation - 8 >= 1:
            try:
                self.lake.delete_blob(f"{LEASE_PREFIX}/{generation - 8:012d}.json")
            except FileNotFoundError:
                pass
        return True

    def release(self) -> None:
        """Give the lease up (a clean shutdown), so another replica need not wait for it."""
        self._held_until = 0.0
        generation, lease = self._newest()
        if lease is not None and lease["holder"] == self.holder:
            entry = json.dumps({"holder": self.holder, "until": 0}).encode()
            self.lake.create_blob(f"{LEASE_PREFIX}/{generation + 1:012d}.json", entry)


def writer_id() -> str:
    """This process's name in inbox keys and the fold lease: host, pid and a random part."""
    host = "".join(c for c in os.uname().nodename if c.isalnum())[:20] or "host"
    return f"{host}{os.getpid()}x{uuid.uuid4().hex[:6]}"
