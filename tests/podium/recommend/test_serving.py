"""Lookup, the gateway route and the CLI command over a real Delta lake in a temp folder.
The route runs in a real FastAPI app through TestClient; the CLI through typer's CliRunner.
The table is built with the fake bag-of-words encoder (no model is loaded anywhere here)."""

from __future__ import annotations

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from podium.models import Event
from podium.recommend.build import build_tables
from podium.recommend.cli import recommend
from podium.recommend.config import RecommendSettings
from podium.recommend.serving import (
    RecommendationsNotBuiltError,
    UnknownEventError,
    lookup_recommendations,
)
from tests.podium.recommend.lake_data import BagOfWordsEncoder, event_rows, make_lake


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path / "lake")


def _app(lake, settings=None) -> TestClient:
    from podium.gateway.recommend_routes import router

    app = FastAPI()
    app.state.lake = lake
    if settings is not None:
        app.state.settings = settings
    app.include_router(router)
    return TestClient(app)


def _serving_submitted():
    from podium.settings import Settings

    # The sample talks are `submitted`: a directory that publishes talks as they come.
    return Settings(recommend={"public_states": ["submitted", "accepted", "published"]})


def test_unknown_event_and_unbuilt_table_are_distinct_errors(lake) -> None:
    with pytest.raises(RecommendationsNotBuiltError, match="no recommendations have been built"):
        lookup_recommendations(lake=lake, event_id="ev-a")
    with pytest.raises(UnknownEventError, match="unknown event 'nope'"):
        lookup_recommendations(lake=lake, event_id="nope")
    build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
    lake.upsert("events", event_rows([Event(event_id="ev-new", name="New", tags=["python"])]))
    with pytest.raises(RecommendationsNotBuiltError, match="'ev-new' are not built yet"):
        lookup_recommendations(lake=lake, event_id="ev-new")
    rows = lookup_recommendations(lake=lake, event_id="ev-b")
    assert list(rows["rank"]) == list(range(1, 11))
    assert isinstance(rows["components"].iloc[0], dict)


def test_gateway_route(lake) -> None:
    client = _app(lake, _serving_submitted())
    assert client.get("/events/ev-a/recommendations").status_code == 409
    assert client.get("/events/nope/recommendations").status_code == 404
    build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
    response = client.get("/events/ev-a/recommendations")
    assert response.status_code == 200
    body = response.json()
    assert body["event_id"] == "ev-a" and len(body["recommendations"]) == 10
    first = body["recommendations"][0]
    assert first["rank"] == 1 and set(first["components"]) >= {"tag_overlap", "semantic"}
    missing = client.get("/events/nope/recommendations").json()
    assert missing["detail"] == "unknown event 'nope'"


def test_cli_prints_a_table_or_one_line_errors(lake, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PODIUM_LAKE__URL", lake.url)
    from podium.settings import get_settings

    get_settings.cache_clear()
    app = typer.Typer()
    app.command()(recommend)
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["nope"])
        assert result.exit_code == 1
        assert result.output.strip() == "error: unknown event 'nope'"
        build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
        result = runner.invoke(app, ["ev-c"])
        assert result.exit_code == 0, result.output
        assert "Recommended talks for ev-c" in result.output and "devops" in result.output
    finally:
        get_settings.cache_clear()


def test_lookup_reads_row_groups_and_sees_new_builds(lake) -> None:
    # 7-row groups: every event's rows straddle row groups, so the range index must merge.
    settings = RecommendSettings(serving_row_group_rows=7)
    build_tables(lake=lake, settings=settings, encoder=BagOfWordsEncoder())
    table = lake.read("recommendations")
    for event_id in ["ev-a", "ev-b", "ev-c"]:
        got = lookup_recommendations(lake=lake, event_id=event_id)
        expected = table[table["event_id"] == event_id].sort_values("rank")
        assert got["talk_id"].tolist() == expected["talk_id"].tolist()
    old = lookup_recommendations(lake=lake, event_id="ev-b", max_staleness_s=0)
    partial = build_tables(
        lake=lake,
        settings=settings.model_copy(update={"top_k": 3}),
        encoder=BagOfWordsEncoder(),
        event_ids=["ev-b"],
    )
    stale = lookup_recommendations(lake=lake, event_id="ev-b", max_staleness_s=3600)
    new = lookup_recommendations(lake=lake, event_id="ev-b", max_staleness_s=0)
    assert len(stale) == 10  # within the staleness bound the cached version answers
    assert len(old) == 10 and len(new) == 3
    assert (new["computed_at"] == partial.computed_at).all()
    assert len(lookup_recommendations(lake=lake, event_id="ev-a")) == 10


def test_the_public_route_serves_only_talks_in_a_public_state(lake) -> None:
    """Issue 23: the unauthenticated route leaves out talks that are not public (by default
    accepted and published), read live, and ranks the rest 1, 2, …; the CLI shows all."""
    from podium.ingest import read_talks
    from podium.models import TalkState
    from podium.recording import record_talks

    build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
    built = lookup_recommendations(lake=lake, event_id="ev-a")
    assert len(built) == 10 and set(_states(lake, built.talk_id)) == {"submitted"}
    client = _app(lake)  # no settings: the defaults
    body = client.get("/events/ev-a/recommendations").json()
    assert body == {"event_id": "ev-a", "recommendations": []}

    third, fifth = built.talk_id[2], built.talk_id[4]
    talks = {t.talk_id: t for t in read_talks(lake=lake, talk_ids=[third, fifth])}
    record_talks(
        lake=lake,
        talks=[
            talks[third].model_copy(update={"state": TalkState.published}),
            talks[fifth].model_copy(update={"state": TalkState.accepted}),
        ],
    )
    served = client.get("/events/ev-a/recommendations").json()["recommendations"]
    assert [(r["rank"], r["talk_id"]) for r in served] == [(1, third), (2, fifth)]
    # Withdrawn later: gone at once, before any rebuild.
    record_talks(lake=lake, talks=[talks[fifth].model_copy(update={"state": TalkState.withdrawn})])
    served = client.get("/events/ev-a/recommendations").json()["recommendations"]
    assert [r["talk_id"] for r in served] == [third]
    # The operator's view is unchanged.
    assert len(lookup_recommendations(lake=lake, event_id="ev-a")) == 10


def _states(lake, talk_ids) -> list[str]:
    from podium.ingest import talk_rows

    return list(talk_rows(lake=lake, columns=["state"], talk_ids=list(talk_ids))["state"])
