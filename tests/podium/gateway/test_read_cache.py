"""The read routes' cache: answers from an index that a poller keeps at the lake's versions.

Real: uvicorn serving the gateway app in threads (`running_gateway`), a Delta lake in a temp
folder with recommendation and related tables built by the real build (the bag-of-words test
encoder, no model), httpx as the client. Two cached gateways on one lake are two replicas
(they share only the lake); a third with `read_cache_s=0` is today's per-request route, the
reference every cached answer must equal. Nothing is faked; the "unreachable" case stops the
poller for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

import httpx
import pytest

from podium.gateway import running_gateway
from podium.gateway.read_cache import ReadCache
from podium.ingest import read_talks
from podium.lake import Lake
from podium.models import TalkState
from podium.recommend.build import build_tables
from podium.recommend.config import RecommendSettings
from podium.recording import record_talks
from podium.settings import Settings
from tests.podium.recommend.lake_data import BagOfWordsEncoder, make_lake

PUBLIC = ["submitted", "accepted", "published"]  # the sample talks are `submitted`


def _with(settings: Settings, *, poll_s: float) -> Settings:
    return settings.model_copy(
        update={
            "gateway": settings.gateway.model_copy(update={"read_cache_s": poll_s}),
            "recommend": settings.recommend.model_copy(update={"public_states": PUBLIC}),
        }
    )


def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "not reached in time"
        time.sleep(0.02)
    return time.monotonic() - started


def _cached(url: str, path: str) -> bool:
    return "etag" in httpx.get(url + path).headers  # only the index's answers carry one


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return make_lake(settings.lake.url)


def test_cached_answers_equal_todays_and_every_replica_follows_a_change(
    settings: Settings, lake: Lake
) -> None:
    build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
    related = lake.read("related_talks", columns=["talk_id"])["talk_id"].unique()[:3]
    paths = [f"/events/{e}/recommendations" for e in ("ev-a", "ev-b", "ev-c")] + [
        f"/talks/{t}/related" for t in related
    ]
    with ExitStack() as stack:
        today = stack.enter_context(running_gateway(_with(settings, poll_s=0), port=0))
        replicas = [
            stack.enter_context(running_gateway(_with(settings, poll_s=0.05), port=0))
            for _ in range(2)
        ]
        for url in replicas:
            _until(lambda url=url: _cached(url, paths[0]))
        for path in paths:
            reference = httpx.get(today + path)
            assert reference.status_code == 200 and "etag" not in reference.headers
            for url in replicas:
                answer = httpx.get(url + path)
                assert answer.status_code == 200
                assert answer.content == reference.content
                assert answer.headers["content-type"] == reference.headers["content-type"]
        first = httpx.get(replicas[0] + paths[0])
        etag = first.headers["etag"]
        assert httpx.get(replicas[1] + paths[0]).headers["etag"] == etag  # same bytes, same tag
        for header in (etag, "W/" + etag, f'"other", {etag}', "*"):
            again = httpx.get(replicas[0] + paths[0], headers={"If-None-Match": header})
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag
        assert (
            httpx.get(replicas[0] + paths[0], headers={"If-None-Match": '"x"'}).status_code == 200
        )

        # A listed talk is withdrawn: every replica drops it within a poll and a build.
        listed = [r["talk_id"] for r in first.json()["recommendations"]]
        talk = read_talks(lake=lake, talk_ids=[listed[0]])[0]
        record_talks(lake=lake, talks=[talk.model_copy(update={"state": TalkState.withdrawn})])
        for url in replicas:
            _until(
                lambda url=url: (
                    listed[0]
                    not in [
                        r["talk_id"] for r in httpx.get(url + paths[0]).json()["recommendations"]
                    ]
                )
            )
        fresh = httpx.get(replicas[0] + paths[0])
        assert fresh.headers["etag"] != etag
        assert fresh.content == httpx.get(today + paths[0]).content
        assert [r["rank"] for r in fresh.json()["recommendations"]] == list(range(1, 10))
        # The client's old tag no longer matches: the new answer comes whole.
        assert httpx.get(replicas[0] + paths[0], headers={"If-None-Match": etag}).status_code == 200

        # Cached reads are counted under their route template like any other request.
        metrics = httpx.get(replicas[0] + "/metrics").text
        assert 'route="/events/{event_id}/recommendations"' in metrics
        assert 'route="/talks/{talk_id:path}/related"' in metrics


def test_unknown_unbuilt_empty_and_public_state(settings: Settings, lake: Lake) -> None:
    talk_ids = sorted(lake.read("talks", columns=["talk_id"])["talk_id"])
    with ExitStack() as stack:
        today = stack.enter_context(running_gateway(_with(settings, poll_s=0), port=0))
        url = stack.enter_context(running_gateway(_with(settings, poll_s=0.05), port=0))
        empty = f"/talks/{talk_ids[0]}/related"
        _until(lambda: _cached(url, empty))  # a live talk without rows: an empty list, cached
        assert httpx.get(url + empty).json() == {"talk_id": talk_ids[0], "related": []}
        for base in (today, url):
            not_built = httpx.get(base + "/events/ev-a/recommendations")
            assert not_built.status_code == 409
            assert "no recommendations have been built yet" in not_built.json()["detail"]
            unknown = httpx.get(base + "/events/nope/recommendations")
            assert unknown.status_code == 404
            assert unknown.json()["detail"] == "unknown event 'nope'"
            assert httpx.get(base + "/talks/nope/related").status_code == 404

        build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
        rows = lake.read("related_talks")
        talk_id = str(rows["talk_id"].iloc[0])
        path = f"/talks/{talk_id}/related"
        _until(lambda: len(httpx.get(url + path).json()["related"]) > 0)
        others = httpx.get(url + path).json()["related"]
        # An entry leaves the public states: the route no longer names it, ranks close up.
        gone = others[0]["talk_id"]
        talk = read_talks(lake=lake, talk_ids=[gone])[0]
        record_talks(lake=lake, talks=[talk.model_copy(update={"state": TalkState.rejected})])
        _until(lambda: gone not in [r["talk_id"] for r in httpx.get(url + path).json()["related"]])
        served = httpx.get(url + path)
        assert served.content == httpx.get(today + path).content
        assert [r["rank"] for r in served.json()["related"]] == list(range(1, len(others)))


def test_an_index_not_confirmed_for_max_stale_is_not_used(settings: Settings, lake: Lake) -> None:
    cache = ReadCache(lake=lake, poll_s=0.05, public_states=PUBLIC, max_stale_s=0.5)
    assert cache.current() is None  # the first call starts the poller; no index yet
    _until(lambda: cache.current() is not None)
    assert cache.builds == 1 and cache.polls >= 1
    _until(lambda: cache.polls >= 4)
    assert cache.builds == 1  # the versions did not move: nothing rebuilt
    cache.stop()  # nobody confirms the versions any more (as when the lake is unreachable)
    time.sleep(0.6)
    assert cache.current() is None  # the routes read the lake per request again
    assert ReadCache(lake=lake, poll_s=0, public_states=PUBLIC).current() is None  # disabled


def test_the_poller_pauses_without_reads_and_resumes_on_the_next(lake: Lake) -> None:
    cache = ReadCache(lake=lake, poll_s=0.02, public_states=PUBLIC, max_stale_s=0.2, idle_s=0.3)
    try:
        cache.start()
        _until(lambda: cache.polls >= 2)
        time.sleep(0.6)  # no read: the poller stops looking at the lake
        paused = cache.polls
        time.sleep(0.3)
        assert cache.polls == paused
        assert cache.current() is None  # not confirmed lately: read the lake; wakes the poller
        _until(lambda: cache.current() is not None)
        assert cache.polls > paused and cache.builds == 1  # nothing moved: no rebuild
    finally:
        cache.stop()


def test_a_state_change_renders_again_only_the_answers_naming_the_talk(
    settings: Settings, lake: Lake
) -> None:
    """Only the built tables' versions force a full build; a new talk or a state change reads
    the talks' states and renders again what names a talk whose public state moved. Every
    index equals a full build of the same lake."""
    from podium.gateway.read_cache import read_versions
    from podium.gateway.read_index import build_index
    from podium.models import Talk

    build_tables(lake=lake, settings=RecommendSettings(), encoder=BagOfWordsEncoder())
    public = ["accepted", "published"]  # the sample talks (submitted) are not public
    cache = ReadCache(lake=lake, poll_s=0.02, public_states=public)

    def settled() -> None:
        _until(
            lambda: (
                cache.current() is not None and cache.current().versions == read_versions(lake=lake)
            )
        )
        index = cache.current()
        full = build_index(lake=lake, versions=index.versions, public_states=public)
        assert full.recommendations == index.recommendations and full.related == index.related
        assert full.live_talks == index.live_talks and full.events == index.events

    try:
        settled()
        first = cache.current()
        assert cache.builds == 1 and first.how == "full"
        assert all(b'"recommendations":[]' in a.body for a in first.recommendations.values())

        new = Talk(talk_id="t-new", title="A new talk", event_ids=["ev-a"])  # submitted
        record_talks(lake=lake, talks=[new])
        settled()
        second = cache.current()
        assert cache.builds == 1 and second.how == "states"
        assert second.recommendations is first.recommendations  # nothing public moved
        assert "t-new" in second.live_talks

        listed = first.event_rows["ev-a"][0].talk_id
        talk = read_talks(lake=lake, talk_ids=[listed])[0]
        record_talks(lake=lake, talks=[talk.model_copy(update={"state": TalkState.published})])
        settled()
        third = cache.current()
        assert cache.builds == 1 and third.how == "states"
        assert listed.encode() in third.recommendations["ev-a"].body
        for event_id, rows in first.event_rows.items():
            if listed not in {t.talk_id for t in rows}:
                assert third.recommendations[event_id] is first.recommendations[event_id]

        build_tables(lake=lake, settings=RecommendSettings(top_k=3), encoder=BagOfWordsEncoder())
        settled()
        assert cache.builds >= 2 and cache.current().how == "full"  # a commit per table
    finally:
        cache.stop()
