"""podium.use_cases.aggregate without Prefect: counts, affected events, the event that says so.

Real: the lake (Delta tables in a temp folder) with generated talks, events and tags
(tests/podium/recommend/lake_data.py). The event sink is `RecordedEvents`, checked against the
event catalog.
"""

from __future__ import annotations

import pandas as pd

from podium.resources import Resources
from podium.tag_counts import recompute_tag_counts
from podium.use_cases.aggregate import aggregate, top_tags
from tests.podium.recommend.lake_data import make_lake, tag_rows

AGGREGATED = "podium.tags.aggregated"


def _counts(lake) -> pd.DataFrame:
    rows = lake.read("tag_counts").drop(columns=["computed_at"])
    return rows.sort_values(["scope", "key", "tag"]).reset_index(drop=True)


def test_full_then_incremental_then_nothing(settings, tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    resources = Resources(settings=settings, lake=lake)

    first = aggregate(resources, full=True)
    assert first.run.mode == "full" and first.event_ids is None
    assert resources.events.named(AGGREGATED) == [
        {"mode": "full", "talks_changed": first.run.talks_changed, "event_ids": None}
    ]
    assert top_tags(resources, limit=3) and len(top_tags(resources, limit=3)) == 3

    # One talk re-tagged: an incremental update that names the events sharing its tags.
    lake.delete("talk_tags", predicate="talk_id = 't001'")
    lake.append("talk_tags", tag_rows([("t001", "django"), ("t001", "rust")]))
    second = aggregate(resources, talk_ids=None)
    assert second.run.mode == "incremental" and "t001" in second.run.changed_talk_ids
    assert second.event_ids  # some event shares django or rust
    assert resources.events.named(AGGREGATED)[-1]["event_ids"] == second.event_ids
    incremental = _counts(lake)
    recompute_tag_counts(lake=lake)
    pd.testing.assert_frame_equal(incremental, _counts(lake))

    # Nothing changed since: no event, so build-recommendations is not woken for nothing.
    third = aggregate(resources)
    assert third.run.talks_changed == 0 and third.event_ids == []
    assert len(resources.events.named(AGGREGATED)) == 2
    assert third.summary()["rows_written"] == 0
