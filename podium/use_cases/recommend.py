"""Rebuild recommendations: every event's top talks and every talk's related talks.

`build_recommendations` is what the `build-recommendations` flow, the backfill's last stage
and tests run, with no Prefect. The talk vectors come from the embedding cache: with the
default shared encoder they are the tagger's, so after tagging nothing is encoded again and
no model is loaded (the encoder loads lazily, only for a text not cached yet).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from podium import metrics
from podium.ingest import EVENTS, TALKS
from podium.lake import Lake
from podium.lake import recommendations as tables
from podium.lake.versions import Bookmark, Snapshot
from podium.recommend.build import BuildResult, build_tables
from podium.recommend.encoder import TextEncoder, make_encoder
from podium.settings import Settings
from podium.tag_counts import counted_versions, read_tag_counts
from podium.talk_tags import TABLE as TALK_TAGS


class RecommendResources(Protocol):
    """What a build needs: the lake and the settings (`podium.settings.Settings`)."""

    lake: Lake
    settings: Settings


@dataclass
class BuildResources:
    """The plain resources of a build; any object with `lake` and `settings` will do."""

    lake: Lake
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> BuildResources:
        return cls(lake=Lake.from_settings(settings), settings=settings)


# The tables recommendations are computed from, whose versions their bookmark records.
RECOMMENDATION_SOURCES = (TALKS, TALK_TAGS, EVENTS)


def recommendation_source_versions(lake: Lake) -> dict[str, int | None]:
    """The current versions of `RECOMMENDATION_SOURCES`."""
    return {name: lake.version(name) for name in RECOMMENDATION_SOURCES}


def recommended_versions(lake: Lake) -> dict[str, int | None]:
    """The source versions a build starting now may bookmark: those the tag counts include
    for `talks` and `talk_tags` (the scores' tag weights come from the counts, so rows are
    only as new as them), the current one for `events`. Read before the sources, so the rows
    are at least this new; with no counts yet, the tables' current versions."""
    counted = counted_versions(lake=lake)
    current = recommendation_source_versions(lake)
    if counted is None:
        return current
    return {name: counted.get(name, current[name]) for name in RECOMMENDATION_SOURCES}


def recommendation_encoder(settings: Settings) -> TextEncoder:
    """The encoder the settings name, loaded only if some text is not cached yet."""
    return make_encoder(settings.recommend, settings.tagging)


@dataclass(frozen=True)
class Rebuild:
    """What a build recomputes, decided against the pinned recommendations table (the
    arguments of `build_recommendations`, and the bookmark)."""

    event_ids: Sequence[str] | None  # None: every event (and every talk's related talks)
    bookmark: Bookmark | None  # the source versions the rows reflect; None: it stays
    computed_at: datetime | None = None
    known_keys: Mapping[tuple[str, str], str] | None = None


def build_pinned(
    resources: RecommendResources,
    plan: Callable[[Snapshot], Rebuild | None],
    *,
    encoder: TextEncoder | None = None,
) -> BuildResult | None:
    """Pin the recommendations table, `plan` against the pin, build what it names; all of it
    again when another build committed meanwhile (the pin fails this one's commit).

    Args:
        resources: the lake and the settings.
        plan: what to rebuild given the pinned table; None builds nothing (returns None).
        encoder: as in `build_recommendations`.
    """
    lake = resources.lake
    encoder = encoder or recommendation_encoder(resources.settings)

    def attempt() -> BuildResult | None:
        # Pinned before the sources are read: a build that another one overtook starts over.
        pinned = tables.pin_recommendations(lake=lake)
        rebuild = plan(pinned)
        if rebuild is None:
            return None
        return build_tables(
            lake=lake,
            settings=resources.settings.recommend,
            encoder=encoder,
            event_ids=rebuild.event_ids,
            computed_at=rebuild.computed_at,
            known_keys=rebuild.known_keys,
            bookmark=rebuild.bookmark,
            pinned=pinned,
        )

    return lake.retrying(attempt)


def build_recommendations(
    resources: RecommendResources,
    *,
    event_ids: Sequence[str] | None = None,
    encoder: TextEncoder | None = None,
    computed_at: datetime | None = None,
    known_keys: Mapping[tuple[str, str], str] | None = None,
) -> BuildResult:
    """Recompute `recommendations` (all events, or only `event_ids`) and `related_talks`.

    Args:
        resources: the lake and the settings.
        event_ids: only these events (after tag aggregation or an event edit); None rebuilds
            every event and every talk's related talks.
        encoder: an already loaded encoder to share (a warm process's tagger encoder); the
            settings' lazy encoder when None.
        computed_at: timestamp on every row (now by default).
        known_keys: the talks' embedding-cache keys by (talk id, content hash), when a
            caller has them (the backfill's embed stage); computed otherwise.
    """

    def plan(_pinned: Snapshot) -> Rebuild:
        # A full build reflects every source as of now; a partial one (some events) leaves
        # the bookmark where it was, so the warm refresh still rebuilds what it owes.
        bookmark = None
        if event_ids is None:
            bookmark = tables.recommendations_bookmark_of(recommended_versions(resources.lake))
        return Rebuild(event_ids, bookmark, computed_at=computed_at, known_keys=known_keys)

    result = build_pinned(resources, plan, encoder=encoder)
    assert result is not None  # the plan always builds
    if event_ids is not None:  # a rebuild after a count (not the hourly full one)
        observe_recommended(resources.lake)
    return result


def observe_recommended(lake: Lake) -> None:
    """Stage latency `recommended`: from the newest tag-count commit to this rebuild."""
    counts = read_tag_counts(lake=lake)
    if not counts.empty and "computed_at" in counts:
        metrics.observe_since(metrics.STAGE_SECONDS.labels("recommended"), counts.computed_at.max())
