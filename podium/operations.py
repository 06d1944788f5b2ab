"""What an operator needs to know about the lake's state, read in one go.

`lake_state()` is read by the `/metrics` lake gauges (`podium.metrics.LakeStateCollector`), by
`podium status` and by the `maintenance` flow's status artifact, so the three never disagree.
It only reads, through the tables' owners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from podium import deferrals, enrichment
from podium.enrichment import STAGES
from podium.ingest import live_versions
from podium.lake import Lake
from podium.review.records import pending_reviews


@dataclass
class StageState:
    """One ledger stage: talks still to do, how long the oldest has waited, failures."""

    stage: str
    backlog: int = 0
    running: int = 0
    oldest_age_s: float = 0.0
    failed: int = 0


@dataclass
class FailedTalk:
    talk_id: str
    stage: str
    attempts: int
    error: str
    at: datetime | None


@dataclass
class WaitingReview:
    repo: str
    ref: str
    commit: str
    flow_run_id: str
    waiting_s: float


@dataclass
class LakeState:
    """The ledger, failures, reviews and deferred events, as of `at`."""

    at: datetime
    talks: int = 0
    stages: list[StageState] = field(default_factory=list)
    failed: list[FailedTalk] = field(default_factory=list)
    reviews: list[WaitingReview] = field(default_factory=list)
    deferred_last_hour: int = 0
    deferred_talks_last_hour: int = 0
    last_deferral: datetime | None = None


def _age(now: datetime, value: object) -> float:
    if value is None or pd.isna(value):
        return 0.0
    return max(0.0, (now - pd.Timestamp(value).to_pydatetime()).total_seconds())


def lake_state(*, lake: Lake, max_attempts: int, now: datetime | None = None) -> LakeState:
    """Read the ledger, the reviews and the deferral log; rows of superseded versions and of
    deleted talks do not count."""
    now = now or datetime.now(UTC)
    lake.ping()  # an unreachable lake raises, rather than reading as empty
    current = live_versions(lake=lake)
    rows = enrichment.state_rows(lake=lake)
    if not rows.empty:
        at_current = [
            current.get(t) == h for t, h in zip(rows.talk_id, rows.content_hash, strict=True)
        ]
        rows = rows[at_current]
    state = LakeState(at=now, talks=len(current))
    for stage in STAGES:
        mine = rows[rows.stage == stage] if not rows.empty else rows
        info = StageState(stage=stage)
        if not mine.empty:
            open_ = mine[mine.status.isin(enrichment.OPEN)]
            crashed = open_.claimed_by.notna() & (open_.status == "running")
            open_ = open_[(open_.attempts < max_attempts) | crashed]
            info.backlog = int(open_.talk_id.nunique())
            info.running = int(open_[open_.claimed_by.notna()].talk_id.nunique())
            info.oldest_age_s = _age(now, open_.updated_at.min()) if not open_.empty else 0.0
            failed = mine[mine.status == "failed"]
            info.failed = int(failed.talk_id.nunique())
            for r in failed.sort_values("updated_at", ascending=False).itertuples():
                state.failed.append(
                    FailedTalk(
                        talk_id=r.talk_id,
                        stage=stage,
                        attempts=int(r.attempts),
                        error=str(r.error or ""),
                        at=pd.Timestamp(r.updated_at).to_pydatetime()
                        if not pd.isna(r.updated_at)
                        else None,
                    )
                )
        state.stages.append(info)
    reviews = pending_reviews(lake)
    for r in reviews.sort_values("created_at").itertuples() if not reviews.empty else []:
        state.reviews.append(
            WaitingReview(
                repo=str(r.repo),
                ref=str(r.ref),
                commit=str(r.commit),
                flow_run_id=str(r.flow_run_id or ""),
                waiting_s=_age(now, r.created_at),
            )
        )
    recent = deferrals.since(lake=lake, since=now - timedelta(hours=1))
    state.deferred_last_hour = len(recent)
    state.deferred_talks_last_hour = int(recent.talks.sum()) if not recent.empty else 0
    if not recent.empty:
        state.last_deferral = pd.Timestamp(recent.deferred_at.max()).to_pydatetime()
    return state
