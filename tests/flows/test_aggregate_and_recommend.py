"""aggregate-tags and build-recommendations against a real Prefect server (started by the
tests), a real Delta lake in a temp folder and the real packaged MiniLM encoder. Nothing is
faked; the sample talks are generated in tests/podium/recommend/lake_data.py.
"""

from __future__ import annotations

import json

import pandas as pd
from prefect import flow

from flows.aggregate_tags import aggregate_tags
from flows.build_recommendations import build_recommendations
from podium.lake import Lake
from podium.recommend.serving import lookup_recommendations
from tests.podium.recommend.lake_data import make_lake, tag_rows
from tests.prefect_server import artifact_keys, events_named, latest_artifact, run_names


def _counts(lake: Lake) -> pd.DataFrame:
    rows = lake.read("tag_counts").drop(columns=["computed_at"])
    return rows.sort_values(["scope", "key", "tag"]).reset_index(drop=True)


def test_aggregate_then_recommend(prefect_server: str, settings) -> None:
    lake = make_lake(settings.lake_url)

    first = aggregate_tags(full=True)
    assert first["mode"] == "full" and first["event_ids"] is None
    assert "tag-counts" in artifact_keys(prefect_server)
    assert events_named(prefect_server, "podium.tags.aggregated")

    # An enrichment run re-tags one talk; the incremental update must equal a recount.
    lake.delete("talk_tags", predicate="talk_id = 't001'")
    lake.append("talk_tags", tag_rows([("t001", "django"), ("t001", "rust")]))
    incremental = aggregate_tags(talk_ids=["t001"])
    assert incremental["mode"] == "incremental" and incremental["talks_changed"] >= 1
    assert "ev-b" in incremental["event_ids"]  # shares the new tag "django"
    after_incremental = _counts(lake)
    aggregate_tags(full=True)
    pd.testing.assert_frame_equal(after_incremental, _counts(lake))

    summary = build_recommendations()
    assert summary["events"] == 3 and summary["recommendation_rows"] == 30
    assert summary["model_version"] == "all-MiniLM-L6-v2"
    keys = artifact_keys(prefect_server)
    assert {"recommendations-ev-a", "recommendations-ev-b", "recommendations-ev-c"} <= keys
    # Each recommended talk is listed with its title, not only its id.
    titles = lake.read("talks", columns=["talk_id", "title"])
    title = dict(zip(titles.talk_id, titles.title, strict=True))
    table = json.loads(latest_artifact(prefect_server, "recommendations-ev-a")["data"])
    assert len(table) == 10
    assert all(row["title"] == title[row["talk"]][:90] for row in table)
    assert list(table[0])[:3] == ["rank", "title", "talk"]
    # Runs are named by what they handle, not at random.
    assert "aggregate-tags · full recount" in run_names(prefect_server, "aggregate-tags")
    assert "aggregate-tags · 1 talk" in run_names(prefect_server, "aggregate-tags")
    assert "build-recommendations · all events" in run_names(
        prefect_server, "build-recommendations"
    )

    rows = lookup_recommendations(lake=lake, event_id="ev-c")
    assert list(rows["rank"]) == list(range(1, 11))
    assert "devops" in rows["matched_tags"].iloc[0]

    # A rebuild of one event reuses the cached embeddings: no text is embedded again.
    again = build_recommendations(event_ids=["ev-a"])
    assert again["events"] == 1 and again["embedded_now"] == 0
    assert "build-recommendations · 1 event: ev-a" in run_names(
        prefect_server, "build-recommendations"
    )
    assert len(lake.read("recommendations")) == 30


def test_tasks_through_fn(prefect_server: str, tmp_path) -> None:
    """count_tags / publish_recommendations via .fn(); the build uses the fake encoder."""
    from podium.recommend.build import build_tables
    from podium.recommend.config import RecommendSettings
    from tasks.aggregate import count_tags
    from tasks.recommend import _artifact_key, publish_recommendations
    from tests.podium.recommend.lake_data import BagOfWordsEncoder

    lake = make_lake(tmp_path / "lake")
    assert count_tags.fn(lake=lake, talk_ids=None, full=False).mode == "full"
    assert count_tags.fn(lake=lake, talk_ids=["t001"], full=False).mode == "incremental"
    settings = RecommendSettings(artifact_event_limit=2)
    result = build_tables(lake=lake, settings=settings, encoder=BagOfWordsEncoder())

    @flow
    def publish() -> int:  # artifacts belong to a run; creating them outside one is deprecated
        return publish_recommendations.fn(result=result, settings=settings, lake=lake)

    assert publish() == 1  # 3 events > the limit of 2: one summary
    assert "recommendations-summary" in artifact_keys(prefect_server)
    markdown = latest_artifact(prefect_server, "recommendations-summary")["data"]
    titles = lake.read("talks", columns=["talk_id", "title"])
    top = result.recommendations[result.recommendations["rank"] == 1].head(2)
    for talk_id in top["talk_id"]:
        assert titles.set_index("talk_id").title[talk_id] in markdown
    assert _artifact_key("PyCon US/2024") == "recommendations-pycon-us-2024"
