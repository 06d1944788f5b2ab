"""The Tagger on the real packaged MiniLM (offline): label similarity, neighbours, calibration,
speaker tags, vocabulary changes. Nothing is faked; the talks are small hand-written ones."""

from __future__ import annotations

import numpy as np
import pytest

from podium.models import TagDefinition, Vocabulary
from podium.tagging import TaggingSettings, build_history, build_tagger
from tests.podium.tagging.conftest import HISTORY, NOW, talk


@pytest.fixture
def tagger(encoder):
    # The neighbour mechanism on a 7-talk history (a real directory needs min_history_talks).
    settings = TaggingSettings(threshold=0.3, max_tags=2, min_history_talks=0)
    return build_tagger(settings, device="cpu", encoder=encoder)


@pytest.fixture
def history(encoder):
    talks = [talk(i, title, text, event_ids=[ev]) for i, ev, title, text, _ in HISTORY]
    return build_history(talks, encoder=encoder, labels=[tags for *_, tags in HISTORY])


def test_tags_by_topic_and_records_source_score_and_version(tagger, vocabulary, history) -> None:
    talks = [
        talk("n1", "Unit tests that do not flake", "Making a pytest suite reliable."),
        talk("n2", "Random forests explained", "A classifier from decision trees."),
    ]
    out = tagger.tag(talks, vocabulary=vocabulary, history=history, now=NOW)
    by_talk = {t.talk_id: [a for a in out if a.talk_id == t.talk_id] for t in talks}
    assert by_talk["n1"][0].tag == "testing"
    assert by_talk["n2"][0].tag == "machine learning"
    for talk_, assignments in zip(talks, by_talk.values(), strict=True):
        assert 1 <= len(assignments) <= 2
        for a in assignments:
            assert a.source == "model" and 0 < a.score <= 1 and a.tagged_at == NOW
            assert a.model == tagger.assignment_model(vocabulary)
            assert a.content_hash == talk_.content_hash
    assert "all-MiniLM-L6-v2" in tagger.model_version


def test_speaker_tags_are_kept_and_synonyms_map_onto_the_vocabulary(tagger, vocabulary) -> None:
    given = talk("n3", "A talk about gardening", "Tomatoes and roses.", tags=["pytest", "Roses"])
    out = tagger.tag([given], vocabulary=vocabulary, now=NOW)
    speaker = [(a.tag, a.score) for a in out if a.source == "speaker"]
    assert speaker == [("pytest", 1.0), ("roses", 1.0)]  # kept as given, never removed
    model = {a.tag: a.score for a in out if a.source == "model"}
    assert model.get("testing") == 1.0  # "pytest" is a synonym of testing


def test_neighbours_change_the_outcome(tagger, encoder) -> None:
    # Tag names alone say nothing about "qux"; the history teaches it.
    vocabulary = Vocabulary(tags=[TagDefinition(name="qux"), TagDefinition(name="zorp")])
    past = [
        talk("a", "Deploying Django on Kubernetes", event_ids=["e1"]),
        talk("b", "Helm charts for Python services", event_ids=["e2"]),
        talk("c", "Baking sourdough bread", event_ids=["e3"]),
        talk("d", "Fermentation in the kitchen", event_ids=["e4"]),
    ]
    history = build_history(past, encoder=encoder, labels=[["qux"], ["qux"], ["zorp"], ["zorp"]])
    swapped = build_history(past, encoder=encoder, labels=[["zorp"], ["zorp"], ["qux"], ["qux"]])
    new = [talk("n", "Running containers in production with Kubernetes")]
    with_history = tagger.score(new, vocabulary=vocabulary, history=history).scores[0]
    with_swapped = tagger.score(new, vocabulary=vocabulary, history=swapped).scores[0]
    # Whatever the names suggest, the talk follows the tagged talks it resembles.
    assert with_history[0] > with_history[1]
    assert with_swapped[1] > with_swapped[0]


def test_a_talk_in_the_history_is_not_its_own_neighbour(tagger, encoder) -> None:
    vocabulary = Vocabulary(tags=[TagDefinition(name="qux"), TagDefinition(name="zorp")])
    same = talk("x", "Baking sourdough bread", event_ids=["e1"])
    history = build_history(
        [same, talk("y", "Kubernetes operators", event_ids=["e2"])],
        encoder=encoder,
        labels=[["qux"], ["zorp"]],
    )
    scores = tagger.score([same], vocabulary=vocabulary, history=history).scores
    # Only "y" may vote, so zorp wins despite "x" being tagged qux in the history.
    assert scores[0, 1] > scores[0, 0]


def test_vocabulary_change_takes_effect_on_the_next_call(tagger, vocabulary) -> None:
    new = [talk("n4", "Geospatial analysis with GeoPandas", "Maps, shapefiles and GIS.")]
    before = tagger.tag(new, vocabulary=vocabulary, now=NOW)
    assert "geospatial" not in {a.tag for a in before}
    grown = Vocabulary(tags=[*vocabulary.tags, TagDefinition(name="geospatial", synonyms=["gis"])])
    after = tagger.tag(new, vocabulary=grown, now=NOW)
    assert [a.tag for a in after][0] == "geospatial"
    assert after[0].model != (before[0].model if before else "")
    assert len(tagger._labels) == 2  # one label cache entry per vocabulary content


def test_calibrated_thresholds_come_from_history(tagger, vocabulary, history) -> None:
    calibration = tagger.calibration(vocabulary=vocabulary, history=history)
    assert calibration.examples.tolist() == [2, 2, 1, 2]
    # Two examples per tag is below min_examples: the global calibrated threshold applies.
    assert not calibration.own.any()
    assert calibration.thresholds.tolist() == pytest.approx([calibration.global_threshold] * 4)
    assert tagger.calibration(vocabulary=vocabulary, history=history) is calibration  # cached


def test_a_long_lived_tagger_keeps_only_the_latest_calibrations(
    tagger, vocabulary, encoder
) -> None:
    # A warm executor meets a new history after every refresh; each has its own calibration.
    talks = [talk(i, title, text, event_ids=[ev]) for i, ev, title, text, _ in HISTORY]
    labels = [tags for *_, tags in HISTORY]
    first = None
    for n in range(20):
        grown = talks + [talk(f"x{j}", f"Extra talk {j}", "About pytest.") for j in range(n)]
        history = build_history(grown, encoder=encoder, labels=labels + [["testing"]] * n)
        calibration = tagger.calibration(vocabulary=vocabulary, history=history)
        first = first or (history, calibration)
    assert len(tagger._calibrations) == 16  # bounded, the oldest gone first
    assert tagger.calibration(vocabulary=vocabulary, history=history) is calibration
    assert tagger.calibration(vocabulary=vocabulary, history=first[0]) is not first[1]


def test_tagging_nothing_and_empty_descriptions(tagger, vocabulary) -> None:
    assert tagger.tag([], vocabulary=vocabulary) == []
    out = tagger.tag([talk("n5", "SQL query tuning")], vocabulary=vocabulary, now=NOW)
    assert out and out[0].tag == "databases"


def test_a_new_directory_does_not_give_its_first_examples_tags_to_every_talk(encoder) -> None:
    """A handful of tagged talks is everyone's whole neighbourhood: with history counted from
    the first talk, their tags flooded a new directory (the demo tagged 43 of 48 talks
    `cloud`). Below `min_history_talks` tags come from their labels alone."""
    import json
    from collections import Counter
    from pathlib import Path

    from podium.models import Talk
    from podium.vocabulary import read_vocabulary_file

    sample = Path(__file__).resolve().parents[3] / "data" / "sample"
    talks = [Talk.model_validate(t) for t in json.loads((sample / "talks.json").read_text())]
    vocabulary = read_vocabulary_file(sample / "vocabulary.json")
    first = [t for t in talks if t.tags][:3]  # the first speakers' tags: all a new lake has

    def most_common_share(min_history_talks: int, **overrides: float) -> float:
        settings = TaggingSettings(min_history_talks=min_history_talks, **overrides)
        tagger = build_tagger(settings, device="cpu", encoder=encoder)
        history = build_history(first, encoder=encoder)
        out = tagger.tag(talks, vocabulary=vocabulary, history=history, now=NOW)
        counts = Counter(a.tag for a in out if a.source == "model")
        return counts.most_common(1)[0][1] / len(talks)

    # Lexical evidence damps the flood (a third of the talks still get one tag) but no more.
    assert most_common_share(0, lexical_weight=0.0) > 0.5, "the flood this guards against"
    assert most_common_share(TaggingSettings().min_history_talks) < 0.25


def test_the_embedding_cache_is_given_at_construction_not_set_on_a_shared_tagger(
    encoder, tmp_path
) -> None:
    from podium.embedding_cache import EmbeddingCache
    from podium.lake import Lake

    cache = EmbeddingCache(Lake(str(tmp_path / "lake")))
    built = build_tagger(TaggingSettings(), device="cpu", encoder=encoder, cache=cache)
    assert built.cache is cache
    shared = build_tagger(TaggingSettings(), device="cpu", encoder=encoder)
    cached = shared.with_cache(cache)
    # The warm, shared tagger is left as it was; the copy shares its models and caches.
    assert shared.cache is None and cached.cache is cache
    assert cached.encoder is shared.encoder and cached._heads is shared._heads
    talks = [talk("c1", "Fixtures in pytest"), talk("c2", "Query plans in PostgreSQL")]
    assert np.allclose(cached.embed(talks), shared.embed(talks), atol=2e-2)  # stored compact
    assert len(cache.lake.read("embeddings")) == 2  # the copy wrote through its cache


def test_history_talks_score_the_same_in_any_batch_and_heads_are_fitted_once(encoder) -> None:
    # A backfill tags the history's own talks in chunks: a talk's scores must not depend on
    # which chunk it is in, and the cross-fitted heads are fitted once per history.
    tagger = build_tagger(TaggingSettings(min_history_talks=0), device="cpu", encoder=encoder)
    vocabulary = Vocabulary(tags=[TagDefinition(name=n) for n in ("testing", "ml", "sql", "web")])
    talks = [talk(i, title, text, event_ids=[ev]) for i, ev, title, text, _ in HISTORY]
    history = build_history(talks, encoder=encoder, labels=[tags for *_, tags in HISTORY])
    new = talk("n1", "Unit tests that do not flake", "Making a pytest suite reliable.")
    whole = tagger.score([*talks, new], vocabulary=vocabulary, history=history).scores
    fits = len(tagger._heads)
    for batch in ([talks[0], new], talks[3:], [talks[5], talks[1]]):
        scores = tagger.score(batch, vocabulary=vocabulary, history=history).scores
        rows = [[*talks, new].index(t) for t in batch]
        np.testing.assert_allclose(scores, whole[rows], atol=1e-6)
    assert len(tagger._heads) == fits  # no refit per batch
    alone = tagger.score([new], vocabulary=vocabulary, history=history).scores
    np.testing.assert_allclose(alone, whole[-1:], atol=1e-6)  # as a talk outside the history
