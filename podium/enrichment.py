"""The enrichment ledger (`enrichment_state`): what is pending, claims, and versioned outcomes.

One row per (talk, stage) says which content version (`content_hash`) it is for, its status
(pending, running, done, error, failed), the attempts so far, the last error and, while a run
works on it, the claim holding it (`claimed_by`, `lease_until`).

The rules that keep work from being lost or done twice:

- **Claim before work.** A run claims a batch with one conditional MERGE (free or expired
  rows only), which counts the attempt there and then. Two runs never hold the same row: the
  loser of a concurrent claim retries against the winner's commit and finds the rows taken.
- **Outcomes are versioned.** An outcome applies only while the row is still for the version
  it was computed from *and* still held by the same claim; an edit recorded meanwhile stays
  pending, and the claim is released either way.
- **A crash never blocks the queue.** A claim whose lease ran out belongs to a process that
  died. Its rows are taken again one talk at a time, so a talk that kills the process (a
  poison talk) is named by the next crash and ends `failed` after `max_attempts`, while the
  innocent talks of its batch go through alone.
- **Oldest first.** Work is taken by the time it became pending, not by talk id.

Recording a new version (`podium.recording.record_talks`) leaves the claim columns as they are, so
a run still working on the old version keeps the talk until it records or its lease expires:
two versions of one talk are never worked at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from podium import metrics
from podium.ingest import live_versions, read_talks
from podium.lake import Lake
from podium.models import Talk
from podium.talk_tags import tag_rows

# The ledger's stages, in the order a talk goes through them: defined here, once.
STAGES = ("tags", "image")

TABLE = "enrichment_state"
OPEN = ("pending", "running", "error")  # statuses that may still be worked
CRASHED = "the enrich process died while working on it"

_ts = pa.timestamp("us", tz="UTC")
_RELEASE = {"claimed_by": "NULL", "lease_until": "NULL"}


def _update_rows(
    lake: Lake,
    talk_ids: Iterable[str],
    clauses: list[tuple[str, dict[str, str]]],
    **columns: str | datetime | list[str] | pd.Series,
) -> int:
    """One conditional MERGE into the ledger rows (talk id, stage) of `talk_ids`.

    `columns` are the source columns (alias `s`), `stage` among them: a sequence holds one
    string per talk, a lone string or time stands for every talk. Returns the rows updated.
    """
    ids = list(talk_ids)

    def array(value: str | datetime | list[str] | pd.Series) -> pa.Array:
        if isinstance(value, datetime):
            return pa.array([value] * len(ids), _ts)
        if isinstance(value, str):
            return pa.array([value] * len(ids), pa.string())
        return pa.array(value, pa.string())

    source = pa.table(
        {"talk_id": pa.array(ids, pa.string()), **{k: array(v) for k, v in columns.items()}}
    )
    return lake.update_matched(
        TABLE,
        source,
        on="t.talk_id = s.talk_id AND t.stage = s.stage",
        clauses=clauses,
        key="talk_id",
    )


@dataclass
class Claim:
    """A batch of one stage held by one run until `lease_until`."""

    token: str
    stage: str
    talks: list[Talk]
    attempts: dict[str, int]  # talk id -> attempts, this one included
    lease_until: datetime
    retried_alone: bool = False  # a talk of a batch whose process died, retried on its own
    # talk id -> when its row became pending (or last failed): the start of its stage latency
    pending_since: dict[str, datetime] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [t.talk_id for t in self.talks]


@dataclass
class Recorded:
    """What recording a claim's outcomes did."""

    done: list[str] = field(default_factory=list)  # outcomes applied as done
    errors: list[str] = field(default_factory=list)  # outcomes applied as error (retried)
    failed: list[str] = field(default_factory=list)  # outcomes applied as failed for good
    superseded: list[str] = field(default_factory=list)  # a newer version arrived: not applied


def _open_rows(
    lake: Lake,
    *,
    stage: str | None,
    talk_ids: list[str] | None,
    pending_before: datetime | None = None,
) -> pd.DataFrame:
    """Open ledger rows at their talk's current content (stale versions and deleted talks out).

    `pending_before`: only rows that became pending (or last failed) before this moment; the
    safety net uses it to leave fresh talks to the warm path.
    """
    where: list[tuple[str, str, object]] = [("status", "in", list(OPEN))]
    if stage is not None:
        where.append(("stage", "=", stage))
    if talk_ids is not None:
        where.append(("talk_id", "in", talk_ids))
    state = lake.read(TABLE, where=where)
    if not state.empty and pending_before is not None:
        state = state[state.updated_at < pd.Timestamp(pending_before)]
    if state.empty:
        return state
    current = current_versions(lake=lake, talk_ids=sorted(set(state.talk_id)))
    keep = [current.get(t) == h for t, h in zip(state.talk_id, state.content_hash, strict=True)]
    return state[keep]


def current_versions(*, lake: Lake, talk_ids: list[str]) -> dict[str, str]:
    """talk id -> current content hash, for live (not deleted) talks among `talk_ids`."""
    return live_versions(lake=lake, talk_ids=talk_ids)


def outstanding(
    *,
    lake: Lake,
    max_attempts: int,
    stage: str | None = None,
    talk_ids: list[str] | None = None,
    pending_before: datetime | None = None,
) -> list[str]:
    """The one definition of pending: talk ids with a stage still to do at current content.

    Claimed rows count (they are in progress), and so do rows whose attempts are used up by
    crashes (the next claim marks them failed); oldest first. `pending_before`: only rows
    pending since before then.
    """
    rows = _open_rows(lake, stage=stage, talk_ids=talk_ids, pending_before=pending_before)
    if rows.empty:
        return []
    crashed = rows.claimed_by.notna() & (rows.status == "running")
    rows = rows[(rows.attempts < max_attempts) | crashed]
    rows = rows.sort_values(["updated_at", "talk_id"])
    return list(dict.fromkeys(rows.talk_id))


def claimable(
    *, lake: Lake, max_attempts: int, stage: str | None = None, now: datetime | None = None
) -> tuple[list[str], datetime | None]:
    """Talks a claim would take now (free, or held by a claim whose lease ran out), oldest
    first, and the earliest lease still running (when more may become claimable).

    Unlike `outstanding`, talks held by a live claim are not counted: a run working on them
    is no reason to start another.
    """
    rows = _open_rows(lake, stage=stage, talk_ids=None)
    if rows.empty:
        return [], None
    now = now or datetime.now(UTC)
    held = rows.claimed_by.notna()
    live = held & (rows.lease_until >= pd.Timestamp(now))
    free = rows[~live & ((rows.attempts < max_attempts) | held)]
    leases = rows.lease_until[live]
    next_expiry = leases.min().to_pydatetime() if not leases.empty else None
    free = free.sort_values(["updated_at", "talk_id"])
    return list(dict.fromkeys(free.talk_id)), next_expiry


def claim(
    *,
    lake: Lake,
    stage: str,
    limit: int,
    max_attempts: int,
    lease_seconds: float,
    owner: str = "",
    talk_ids: list[str] | None = None,
    exclude: Iterable[str] = (),
    now: datetime | None = None,
    failed: list[str] | None = None,
    pending_before: datetime | None = None,
) -> Claim | None:
    """Claim up to `limit` talks pending for `stage`, oldest first; None when there are none.

    Rows of a claim whose lease expired (its process died) are claimed one at a time, and rows
    of such a claim with no attempts left are marked failed first.

    Args:
        lake: the lake.
        stage: "tags" or "image".
        limit: batch size.
        max_attempts: a row with this many attempts is not claimed again.
        lease_seconds: how long the claim holds before others may take it (longer than a batch).
        owner: who claims (a flow-run id), kept in the token for people reading the ledger.
        talk_ids: only these talks (a backfill chunk).
        exclude: talks not to take (already tried by this run).
        now: the clock (tests).
        failed: gets the ids of talks marked failed here (crashed with no attempts left).
        pending_before: only talks pending since before then (the safety net's patience).
    """
    for _ in range(_CLAIM_TRIES):
        rows = _open_rows(lake, stage=stage, talk_ids=talk_ids, pending_before=pending_before)
        taken = _claim_from(
            lake, rows, stage, limit, max_attempts, lease_seconds, owner, exclude, now, failed
        )
        if taken is not _RACED:
            return taken
    return None  # every try lost its race: the others are busy with the work anyway


_CLAIM_TRIES = 5
_RACED = object()  # candidates existed, but a concurrent claim took them first


def _claim_from(
    lake: Lake,
    rows: pd.DataFrame,
    stage: str,
    limit: int,
    max_attempts: int,
    lease_seconds: float,
    owner: str,
    exclude: Iterable[str],
    now: datetime | None,
    failed: list[str] | None,
) -> Any:
    now = now or datetime.now(UTC)
    if rows.empty:
        return None
    held = rows.claimed_by.notna()
    expired = held & (rows.lease_until < pd.Timestamp(now))
    exhausted = rows[expired & (rows.attempts >= max_attempts)]
    if not exhausted.empty:
        _fail_crashed(lake, exhausted, now)
        if failed is not None:
            failed += list(exhausted.talk_id)
    skip = set(exclude)
    free = rows[(~held | expired) & (rows.attempts < max_attempts) & ~rows.talk_id.isin(skip)]
    if free.empty:
        return None
    free = free.sort_values(["updated_at", "talk_id"])
    crashed = free[free.claimed_by.notna()]
    take = crashed.head(1) if not crashed.empty else free.head(limit)
    token = f"{owner or 'enrich'}:{uuid.uuid4().hex[:12]}"
    lease_until = now + timedelta(seconds=lease_seconds)
    # The conditions are checked again inside the MERGE: a concurrent claim that committed
    # first makes this one retry against its commit and skip the rows it took.
    _update_rows(
        lake,
        take.talk_id,
        [
            (
                "t.content_hash = s.content_hash "
                f"AND t.status IN ('pending', 'running', 'error') AND t.attempts < {max_attempts} "
                "AND (t.claimed_by IS NULL OR t.lease_until < s.now)",
                {
                    "status": "'running'",
                    "attempts": "t.attempts + 1",
                    "claimed_by": "s.claimed_by",
                    "lease_until": "s.lease_until",
                },
            )
        ],
        stage=stage,
        content_hash=take.content_hash,
        claimed_by=token,
        lease_until=lease_until,
        now=now,
    )
    got = lake.read(TABLE, where=[("claimed_by", "=", token)])
    if not exhausted.empty:
        metrics.LEASE_EXPIRIES.labels(stage).inc(len(exhausted))
    if got.empty:
        return _RACED
    metrics.CLAIMS.labels(stage).inc()
    metrics.CLAIM_BATCH.labels(stage).observe(len(got))
    if not crashed.empty:
        metrics.LEASE_EXPIRIES.labels(stage).inc(len(got))
    talks = {t.talk_id: t for t in _talks(lake, list(got.talk_id))}
    hashes = dict(zip(got.talk_id, got.content_hash, strict=True))
    # Oldest first within the batch too; a talk rewritten since is left to `record`.
    order = [i for i in take.talk_id if i in talks and talks[i].content_hash == hashes.get(i)]
    return Claim(
        token=token,
        stage=stage,
        talks=[talks[i] for i in order],
        attempts={r.talk_id: int(r.attempts) for r in got.itertuples()},
        lease_until=lease_until,
        retried_alone=not crashed.empty,
        pending_since={
            r.talk_id: pd.Timestamp(r.updated_at).to_pydatetime()
            for r in take.itertuples()
            if not pd.isna(r.updated_at)
        },
    )


def _talks(lake: Lake, talk_ids: list[str]) -> list[Talk]:
    return read_talks(lake=lake, talk_ids=talk_ids)


def _fail_crashed(lake: Lake, rows: pd.DataFrame, now: datetime) -> None:
    _update_rows(
        lake,
        rows.talk_id,
        [
            (
                "t.claimed_by = s.claimed_by AND t.content_hash = s.content_hash "
                "AND t.lease_until < s.now",
                {"status": "'failed'", "error": "s.error", "updated_at": "s.now", **_RELEASE},
            )
        ],
        stage=rows.stage,
        content_hash=rows.content_hash,
        claimed_by=rows.claimed_by,
        error=[f"{CRASHED} ({n} attempts)" for n in rows.attempts],
        now=now,
    )


def renew(*, lake: Lake, claim: Claim, lease_seconds: float) -> bool:
    """Extend a live claim's lease (its run is still working); False when it was lost."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=lease_seconds)
    renewed = _update_rows(
        lake,
        claim.attempts,
        [("t.claimed_by = s.claimed_by", {"lease_until": "s.lease_until"})],
        stage=claim.stage,
        claimed_by=claim.token,
        lease_until=until,
    )
    claim.lease_until = until
    return renewed > 0


def record(
    *,
    lake: Lake,
    claim: Claim,
    done: Iterable[Talk],
    errors: dict[str, tuple[Talk, str]],
    max_attempts: int,
) -> Recorded:
    """Record a claim's outcomes, each only for the version it was computed from; release it.

    Args:
        lake: the lake.
        claim: the claim the work was done under.
        done: talks enriched (at the content they carry).
        errors: talk id -> (talk, message) for talks that raised.
        max_attempts: an error at this many attempts is final (`failed`).
    """
    now = datetime.now(UTC)
    rows: list[tuple[str, str, str, str]] = []  # talk id, content hash, status, error
    for talk in done:
        rows.append((talk.talk_id, talk.content_hash, "done", ""))
    for talk_id, (talk, message) in errors.items():
        final = claim.attempts.get(talk_id, max_attempts) >= max_attempts
        rows.append((talk_id, talk.content_hash, "failed" if final else "error", message[:500]))
    # Talks of the claim with no outcome (rewritten before work began) are only released.
    seen = {r[0] for r in rows}
    released = [i for i in claim.attempts if i not in seen]
    _update_rows(
        lake,
        [r[0] for r in rows] + released,
        [
            (
                "t.claimed_by = s.claimed_by AND t.content_hash = s.content_hash",
                {"status": "s.status", "error": "s.error", "updated_at": "s.now", **_RELEASE},
            ),
            # A newer version arrived (or the row is someone else's now): only let go of it.
            ("t.claimed_by = s.claimed_by", _RELEASE),
        ],
        stage=claim.stage,
        content_hash=[r[1] for r in rows] + [""] * len(released),
        status=[r[2] for r in rows] + [""] * len(released),
        error=[r[3] for r in rows] + [""] * len(released),
        claimed_by=claim.token,
        now=now,
    )
    after = lake.read(
        TABLE,
        columns=["talk_id", "content_hash", "status", "updated_at"],
        where=[("talk_id", "in", sorted(seen)), ("stage", "=", claim.stage)],
    )
    applied = {
        r.talk_id: r.status
        for r in after.itertuples()
        if (r.talk_id, r.content_hash, r.status) in {(x[0], x[1], x[2]) for x in rows}
        and r.updated_at == pd.Timestamp(now)
    }
    result = Recorded()
    for talk_id, _, status, _ in rows:
        bucket = {"done": result.done, "error": result.errors, "failed": result.failed}
        if applied.get(talk_id) == status:
            bucket[status].append(talk_id)
        else:
            result.superseded.append(talk_id)
    _count_outcomes(claim, result, now)
    return result


_STAGE_DONE = {"tags": "tagged", "image": "covered"}


def _count_outcomes(claim: Claim, result: Recorded, now: datetime) -> None:
    for outcome, ids in (
        ("done", result.done),
        ("error", result.errors),
        ("failed", result.failed),
        ("superseded", result.superseded),
    ):
        if ids:
            metrics.OUTCOMES.labels(claim.stage, outcome).inc(len(ids))
    latency = metrics.STAGE_SECONDS.labels(_STAGE_DONE.get(claim.stage, claim.stage))
    for talk_id in result.done:
        metrics.observe_since(latency, claim.pending_since.get(talk_id), now=now)


def requeue_rewritten(*, lake: Lake, stage: str, computed: dict[str, str]) -> list[str]:
    """After writing results outside a claim: hand back talks rewritten in the meantime.

    A writer that holds no claim (retag) checks versions before writing, but an edit can land
    between that check and its commit, and an enrich run may even finish the edit first. Its
    row for the new version is then made pending again, so the edit's results are written
    last. Returns the ids handed back.

    Args:
        lake: the lake.
        stage: the ledger stage the results belong to.
        computed: talk id -> the content hash the written results were computed from.
    """
    if not computed:
        return []
    current = current_versions(lake=lake, talk_ids=sorted(computed))
    moved = {i: h for i, h in current.items() if h != computed[i]}
    if not moved:
        return []
    now = datetime.now(UTC)
    _update_rows(
        lake,
        moved,
        [
            (
                "t.content_hash = s.content_hash AND t.status IN ('done', 'running')",
                {"status": "'pending'", "attempts": "0", "updated_at": "s.now", **_RELEASE},
            )
        ],
        stage=stage,
        content_hash=list(moved.values()),
        now=now,
    )
    return sorted(moved)


@dataclass
class Audit:
    """The lake against the truth, per live talk at its current version."""

    talks: int = 0
    enriched: list[str] = field(default_factory=list)  # tags and cover done, for this version
    outstanding: list[str] = field(default_factory=list)  # still queued (will be taken)
    failed: list[str] = field(default_factory=list)  # failed for good, reported
    lost: list[str] = field(default_factory=list)  # none of the above: work nobody will do
    stale_tags: list[str] = field(default_factory=list)  # model tags of another version
    uncovered: list[str] = field(default_factory=list)  # image done, but no cover row


def audit(*, lake: Lake, max_attempts: int) -> Audit:
    """Check every live talk: enriched at its current version, queued, or failed; never lost."""
    current = live_versions(lake=lake)
    state = lake.read(TABLE)
    status = {
        (r.talk_id, r.stage): r.status
        for r in state.itertuples()
        if current.get(r.talk_id) == r.content_hash
    }
    tags = tag_rows(lake=lake, columns=["talk_id", "source", "content_hash"])
    model = tags[tags.source == "model"]
    # Imported here: the images package loads Pillow and fonts, which only the audit needs.
    from podium.images.storage import cover_versions

    covers = cover_versions(lake=lake)
    queued = set(outstanding(lake=lake, max_attempts=max_attempts))
    report = Audit(talks=len(current))
    for talk_id, digest in sorted(current.items()):
        stages = [status.get((talk_id, stage)) for stage in STAGES]
        if stages == ["done", "done"]:
            report.enriched.append(talk_id)
        elif "failed" in stages:
            report.failed.append(talk_id)
        elif talk_id in queued:
            report.outstanding.append(talk_id)
        else:
            report.lost.append(talk_id)
        mine = model[model.talk_id == talk_id]
        if status.get((talk_id, "tags")) == "done" and set(mine.content_hash) - {digest}:
            report.stale_tags.append(talk_id)
        if status.get((talk_id, "image")) == "done" and (talk_id, digest) not in covers:
            report.uncovered.append(talk_id)
    return report


def failed_talks(*, lake: Lake) -> pd.DataFrame:
    """Rows of talks whose enrichment failed for good, for reports."""
    state = lake.read(TABLE)
    return state[state.status == "failed"].sort_values(["talk_id", "stage"])


# A mark applies only from a newer `talks` revision than the one the row was marked from; at
# the same content it only records that revision (a done talk stays done), at another content
# the stage starts over as pending.
_FROM_NEWER_REVISION = "COALESCE(t.talk_revision, -1) < s.talk_revision"
_SAME = "t.content_hash = s.content_hash"
_MARK = {
    "content_hash": "s.content_hash",
    "talk_revision": "s.talk_revision",
    **{
        column: f"CASE WHEN {_SAME} THEN t.{column} ELSE s.{column} END"
        for column in ("status", "attempts", "error", "updated_at")
    },
}


def mark_versions(
    *, lake: Lake, versions: dict[str, tuple[str, int]], stages: Iterable[str], now: datetime
) -> list[str]:
    """Point every stage's ledger row at these talk versions; returns the talks now pending.

    `versions` maps talk id -> (content hash, revision of its `talks` row), as read back after
    the talk was written. A row already marked from that revision or a newer one is left
    alone (no write at all when every row is); a mark from an older revision never lands,
    even when it commits after a newer one (the check is inside the MERGE, re-run on a
    conflict). A stage is re-run only when the content it reads changed; the claim columns
    stay as they are (see the module's note on recording a new version).
    """
    stages = list(stages)
    if not versions:
        return []
    state = lake.read(
        TABLE,
        columns=["talk_id", "stage", "content_hash", "talk_revision"],
        where=[("talk_id", "in", sorted(versions))],
    )
    marked = {
        (r.talk_id, r.stage): (r.content_hash, -1 if pd.isna(r.talk_revision) else r.talk_revision)
        for r in state.itertuples()
    }
    rows = []
    pending = []
    for talk_id, (content_hash, revision) in versions.items():
        stale = [s for s in stages if marked.get((talk_id, s), ("", -1))[1] < revision]
        if not stale:
            continue
        if any(marked.get((talk_id, s), ("",))[0] != content_hash for s in stages):
            pending.append(talk_id)
        rows += [
            {
                "talk_id": talk_id,
                "stage": stage,
                "content_hash": content_hash,
                "status": "pending",
                "attempts": 0,
                "error": "",
                "updated_at": now,
                "talk_revision": revision,
            }
            for stage in stages
        ]
    if rows:
        lake.upsert(TABLE, pd.DataFrame(rows), changed_when=_FROM_NEWER_REVISION, matched_set=_MARK)
    return pending


def state_rows(
    *,
    lake: Lake,
    talk_ids: list[str] | None = None,
    columns: list[str] | None = None,
    stage: str | None = None,
    statuses: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Ledger rows: of `talk_ids` (None: every talk), one `stage` or all, some statuses or all."""
    where: list[tuple[str, str, Any]] = []
    if talk_ids is not None:
        where.append(("talk_id", "in", talk_ids))
    if stage is not None:
        where.append(("stage", "=", stage))
    if statuses is not None:
        where.append(("status", "in", list(statuses)))
    return lake.read(TABLE, columns=columns, where=where or None)


RUNS = "enrich_runs"


def record_run(*, lake: Lake, run: dict[str, Any]) -> None:
    """Append one enrich run's record (flow run id, times, counts, models) to `enrich_runs`."""
    lake.append(RUNS, pd.DataFrame([run]))
