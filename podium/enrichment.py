"""The enrichment ledger (`enrichment_state`): what is pending, and recording outcomes.

Each (talk, stage) row carries the content hash it is for, a status (pending, done, error,
failed), the attempts so far and the last error, so a failed talk is retried on the next run
and, after `max_attempts`, reported as failed instead of being retried forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from podium.ingest import frame_to_talks
from podium.lake import Lake
from podium.models import Talk


@dataclass
class PendingWork:
    """Talks to enrich, per stage, at their current content."""

    talks: list[Talk]
    stages: dict[str, set[str]]  # stage -> talk ids pending for it
    attempts: dict[tuple[str, str], int]  # (talk id, stage) -> attempts so far

    def without(self, talk_ids: set[str]) -> PendingWork:
        """The same work less `talk_ids`."""
        return self._keep([t for t in self.talks if t.talk_id not in talk_ids])

    def first(self, n: int) -> PendingWork:
        """The work of the first `n` talks."""
        return self._keep(self.talks[:n])

    def _keep(self, talks: list[Talk]) -> PendingWork:
        keep = {t.talk_id for t in talks}
        return PendingWork(
            talks,
            {stage: ids & keep for stage, ids in self.stages.items()},
            {key: n for key, n in self.attempts.items() if key[0] in keep},
        )

    def for_stage(self, stage: str) -> list[Talk]:
        ids = self.stages.get(stage, set())
        return [t for t in self.talks if t.talk_id in ids]


def pending_work(
    *,
    lake: Lake,
    max_attempts: int,
    limit: int | None = None,
    talk_ids: list[str] | None = None,
) -> PendingWork:
    """Every (talk, stage) that is pending, or errored with attempts left, at current content.

    Args:
        lake: the lake.
        max_attempts: rows with this many attempts are failed for good, not pending.
        limit: at most this many talks (in id order).
        talk_ids: only these talks (a backfill chunk).
    """
    where = [("talk_id", "in", talk_ids)] if talk_ids is not None else None
    state = lake.read("enrichment_state", where=where)
    state = state[state.status.isin(["pending", "error"]) & (state.attempts < max_attempts)]
    if state.empty:
        return PendingWork([], {}, {})
    talks_frame = lake.read("talks", where=[("talk_id", "in", sorted(set(state.talk_id)))])
    talks_frame = talks_frame[talks_frame.state != "deleted"]
    current = dict(zip(talks_frame.talk_id, talks_frame.content_hash, strict=True))
    # A row for an older version of the talk is stale: the newer row supersedes it.
    state = state[
        [current.get(t) == h for t, h in zip(state.talk_id, state.content_hash, strict=True)]
    ]
    ids = sorted(set(state.talk_id))
    if limit is not None:
        ids = ids[:limit]
        state = state[state.talk_id.isin(ids)]
    talks = frame_to_talks(talks_frame[talks_frame.talk_id.isin(ids)].sort_values("talk_id"))
    stages: dict[str, set[str]] = {}
    for row in state.itertuples():
        stages.setdefault(row.stage, set()).add(row.talk_id)
    attempts = {(r.talk_id, r.stage): int(r.attempts) for r in state.itertuples()}
    return PendingWork(talks, stages, attempts)


def record_outcomes(
    *,
    lake: Lake,
    stage: str,
    done: Iterable[Talk],
    errors: dict[str, tuple[Talk, str]],
    attempts: dict[tuple[str, str], int],
    max_attempts: int,
) -> list[str]:
    """Mark talks done or errored for `stage`; returns the ids now failed for good."""
    now = datetime.now(UTC)
    rows = [
        {
            "talk_id": t.talk_id,
            "stage": stage,
            "content_hash": t.content_hash,
            "status": "done",
            "attempts": attempts.get((t.talk_id, stage), 0) + 1,
            "error": "",
            "updated_at": now,
        }
        for t in done
    ]
    failed = []
    for talk_id, (talk, message) in errors.items():
        tries = attempts.get((talk_id, stage), 0) + 1
        status = "failed" if tries >= max_attempts else "error"
        if status == "failed":
            failed.append(talk_id)
        rows.append(
            {
                "talk_id": talk_id,
                "stage": stage,
                "content_hash": talk.content_hash,
                "status": status,
                "attempts": tries,
                "error": message[:500],
                "updated_at": now,
            }
        )
    if rows:
        lake.upsert("enrichment_state", pd.DataFrame(rows))
    return failed


def failed_talks(*, lake: Lake) -> pd.DataFrame:
    """Rows of talks whose enrichment failed for good, for reports."""
    state = lake.read("enrichment_state")
    return state[state.status == "failed"].sort_values(["talk_id", "stage"])
