"""Counts and recommendations, warm: update tag counts and rebuild the affected events'
recommendations in a long-lived process, seconds after talks are tagged.

The cold path (the `aggregate-tags` and `build-recommendations` deployments, triggered by
events) starts a new interpreter per run; a warm executor instead calls `refresh` in process
whenever talks were tagged (`Coalescer` folds a burst into as few refreshes as the work
allows). Both follow the lake, not the events, so either one alone is complete and both at
once stay correct:

- **Counts** are `podium.tag_counts.update_tag_counts`: exactly once, their bookmark (the
  source versions counted) in the very commit that writes them; concurrent updaters conflict
  and start over.
- **Recommendations** carry a bookmark too: the versions of `talks`, `talk_tags` and `events`
  they reflect, as Delta app transactions in the commit that writes them. A refresh reads it,
  rebuilds the events touched by what changed since (every event when `events` changed or
  there is no bookmark), and commits against the table version it pinned before reading
  anything: if another process committed meanwhile the commit fails and the refresh starts
  over from the new state. So with N replicas the last commit is always computed from sources
  at least as new as every earlier one's, and nothing is skipped: a refresh that dies leaves
  the bookmark where it was.

Nothing here is held in memory for correctness: `Coalescer`'s dirty flag only says "look
soon"; its periodic check (`pending`) finds any change the flag missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from podium.ingest import EVENTS
from podium.lake import Lake
from podium.lake import recommendations as tables
from podium.lake.versions import Snapshot, VersionUnavailable
from podium.recommend.encoder import TextEncoder
from podium.tag_counts import (
    TagCountRun,
    affected_event_ids,
    changes_between,
    counted_versions,
    source_versions,
    update_tag_counts,
)
from podium.use_cases.aggregate import observe_counted
from podium.use_cases.recommend import (
    RECOMMENDATION_SOURCES,
    Rebuild,
    RecommendResources,
    build_pinned,
    observe_recommended,
    recommendation_source_versions,
    recommended_versions,
)

log = logging.getLogger(__name__)


@dataclass
class RefreshOutcome:
    """One refresh: the count run (None: counts were current) and the recommendations rebuilt."""

    counts: TagCountRun | None = None
    # Events whose recommendations were rebuilt: None every event, [] none.
    event_ids: list[str] | None = field(default_factory=list)
    recommendation_rows: int = 0
    attempts: int = 0  # recommendation builds started (more than 1: another process won a race)
    seconds: float = 0.0
    # Seconds per phase: `counts` (update and commit), `recommendations` (plan, build,
    # commit), `observe` (the lag metrics); the profile of where a refresh's time goes.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def talks_counted(self) -> int:
        return 0 if self.counts is None else self.counts.talks_changed

    @property
    def changed(self) -> bool:
        return self.talks_counted > 0 or self.event_ids is None or bool(self.event_ids)

    def describe(self) -> str:
        """What it did, for a run name or a log line: `12 talks counted, 3 events`."""
        events = (
            "every event"
            if self.event_ids is None
            else f"{len(self.event_ids)} event{'' if len(self.event_ids) == 1 else 's'}"
        )
        talks = self.talks_counted
        return f"{talks} talk{'' if talks == 1 else 's'} counted, {events} recommended"

    def summary(self) -> dict[str, Any]:
        return {
            "talks_counted": self.talks_counted,
            "count_mode": None if self.counts is None else self.counts.mode,
            "event_ids": self.event_ids,
            "recommendation_rows": self.recommendation_rows,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "phases": {name: round(s, 3) for name, s in self.phases.items()},
        }


COUNTS, RECOMMENDATIONS = "counts", "recommendations"
PARTS = (COUNTS, RECOMMENDATIONS)


def pending(lake: Lake, parts: tuple[str, ...] = PARTS) -> bool:
    """Whether counts or recommendations (of `parts`) are behind their sources (cheap: table
    versions and two bookmarks, no data read)."""
    current = recommendation_source_versions(lake)
    if all(version is None for version in current.values()):
        return False  # an empty lake: nothing to count or recommend yet
    if COUNTS in parts and counted_versions(lake=lake) != source_versions(lake=lake):
        return True  # (no counts yet: None differs too)
    if RECOMMENDATIONS not in parts:
        return False
    marked = tables.read_recommendations_bookmark(lake=lake, sources=RECOMMENDATION_SOURCES)
    return marked != current


def refresh(
    resources: RecommendResources,
    *,
    encoder: TextEncoder | None = None,
    parts: tuple[str, ...] = PARTS,
) -> RefreshOutcome:
    """Bring tag counts and recommendations (of `parts`) up to date with the lake, once.

    Args:
        resources: the lake and the settings.
        encoder: an already loaded encoder to share; the settings' lazy one when None (it
            loads only for a text not in the embedding cache, e.g. a new event).
        parts: `counts`, `recommendations` or both (in that order). Each is correct alone:
            a warm refresher runs them in two threads, so that counts never wait behind a
            recommendations build.
    """
    started = time.monotonic()
    lake = resources.lake
    outcome = RefreshOutcome()
    if COUNTS in parts:
        if counted_versions(lake=lake) != source_versions(lake=lake):
            outcome.counts = update_tag_counts(lake=lake)
        outcome.phases[COUNTS] = time.monotonic() - started
    if RECOMMENDATIONS in parts:
        _refresh_recommendations(resources, outcome, encoder)
    observed = time.monotonic()
    if outcome.counts is not None and outcome.counts.changed_talk_ids:
        observe_counted(lake, list(outcome.counts.changed_talk_ids))
    if RECOMMENDATIONS in parts and (outcome.event_ids is None or outcome.event_ids):
        observe_recommended(lake)
    outcome.phases["observe"] = time.monotonic() - observed
    outcome.seconds = time.monotonic() - started
    return outcome


def _refresh_recommendations(
    resources: RecommendResources, outcome: RefreshOutcome, encoder: TextEncoder | None
) -> None:
    """The touched events' recommendations rebuilt, against the version pinned first."""
    lake = resources.lake
    built = time.monotonic()

    def plan(pinned: Snapshot) -> Rebuild | None:
        outcome.attempts += 1
        previous = tables.recommendations_bookmark(pinned, RECOMMENDATION_SOURCES)
        current = recommended_versions(lake)
        if previous == current:
            outcome.event_ids = []
            return None
        event_ids = _affected(lake, previous, current)
        outcome.event_ids = event_ids
        bookmark = tables.recommendations_bookmark_of(current)
        if event_ids == []:  # nothing to rebuild: move the bookmark, read no talk
            tables.write_recommendations(
                lake=lake,
                rows=pd.DataFrame(
                    {c: pd.Series(dtype=object) for c in tables.RECOMMENDATION_COLUMNS}
                ),
                row_group_rows=resources.settings.recommend.serving_row_group_rows,
                event_ids=[],
                pinned=pinned,
                bookmark=bookmark,
            )
            return None
        return Rebuild(event_ids=event_ids, bookmark=bookmark)

    result = build_pinned(resources, plan, encoder=encoder)
    if result is not None:
        outcome.recommendation_rows = result.recommendation_rows
    outcome.phases[RECOMMENDATIONS] = time.monotonic() - built


def _affected(
    lake: Lake, previous: dict[str, int | None] | None, current: dict[str, int | None]
) -> list[str] | None:
    """Events whose recommendations the changes between two source versions may move; None
    for every event (no bookmark, events edited, or an old version vacuumed away)."""
    if previous is None or previous.get(EVENTS) != current.get(EVENTS):
        return None
    try:
        run = changes_between(lake=lake, previous=previous, current=current)
    except (VersionUnavailable, OSError):
        return None
    hit = affected_event_ids(lake=lake, run=run)
    if hit is None or not run.changed_talk_ids:
        return hit
    # An event with no list yet (built before any talk fitted it) shares no tag with the
    # changed talks, yet they may fit it by meaning alone: give it its first list now rather
    # than at the hourly full rebuild.
    events = set(lake.read(EVENTS, columns=["event_id"])["event_id"].astype(str))
    listed = set(tables.read_recommendations(lake=lake, columns=["event_id"])["event_id"])
    return sorted(set(hit) | (events - {str(e) for e in listed}))


class Coalescer:
    """Runs `action` in a thread of its own, folding every poke that arrives while it runs
    into one more run, and every `check_s` runs it anyway when `check()` says work is due.

    A burst of 200 tagged talks thus costs a handful of refreshes, not 200; a missed poke
    (a lost event) costs at most `check_s`.
    """

    def __init__(
        self,
        action: Callable[[], Any],
        *,
        check: Callable[[], bool],
        check_s: float,
        stopping: threading.Event,
        name: str = "coalescer",
        duty: float = 1.0,
    ) -> None:
        self.action, self.check, self.check_s = action, check, check_s
        # At most this share of the time running: after a run of d seconds the next waits
        # d * (1 - duty) / duty, so a refresher beside a tagger in one process leaves it
        # cores in a burst (and folds more changes into each run).
        self.duty = duty
        self.stopping = stopping
        self.name = name
        self._dirty = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.pokes = 0
        self.failures = 0

    def poke(self) -> None:
        """Something changed: run soon (at once when idle, right after the run in progress)."""
        self.pokes += 1
        self._dirty.set()

    def turn(self) -> bool:
        """One turn: run when poked or when the check finds work. Returns whether it ran."""
        poked = self._dirty.is_set()
        self._dirty.clear()  # pokes from now on fold into the next turn
        if not poked and not self.check():
            return False
        started = time.monotonic()
        self.action()
        self.runs += 1
        if self.duty < 1.0:
            self.stopping.wait((time.monotonic() - started) * (1 - self.duty) / self.duty)
        return True

    def serve(self) -> None:
        """Turn until `stopping`; a failed turn is logged and retried after a pause."""
        while not self.stopping.is_set():
            try:
                self.turn()
            except Exception:  # noqa: BLE001 - the lake or the API blipped: try again
                self.failures += 1
                log.exception("%s: refresh failed; retrying", self.name)
                self.stopping.wait(min(self.check_s, 2.0))
                self._dirty.set()
                continue
            self._dirty.wait(self.check_s)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve, name=self.name, daemon=True)
        self._thread.start()
        return self._thread

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
