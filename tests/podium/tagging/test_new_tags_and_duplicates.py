"""Near-duplicate flags and candidate new tags (`podium.tagging.duplicates`, `new_tags`).

Real: the packaged MiniLM (offline) embeds small hand-written talks and names clusters;
scipy clusters. Nothing is faked.
"""

from __future__ import annotations

import numpy as np
import pytest

from podium.tagging.duplicates import near_duplicates, overlap, shingles
from podium.tagging.new_tags import (
    TagSuggestion,
    class_tfidf,
    clusters,
    name_matches,
    phrases,
    score_hidden,
    suggest_tags,
    term_key,
    unconfident,
)

ASYNC = (
    "Structured concurrency with Trio",
    "Nurseries, cancellation scopes and why structured concurrency makes async code "
    "easier to reason about. We port an asyncio crawler to Trio.",
)


def texts_of(talks: list[tuple[str, str]]) -> list[str]:
    return [f"{t}. {d}" for t, d in talks]


def test_shingles_and_overlap() -> None:
    a = shingles("The quick brown fox jumps")
    assert a == shingles("the QUICK  brown fox, jumps!")  # case, spacing, punctuation
    assert overlap(a, a) == 1.0
    assert overlap(a, shingles("something else entirely here")) == 0.0
    assert overlap(frozenset(), frozenset()) == 0.0
    assert shingles("two words") == frozenset(["two words"])


def test_near_duplicates_flags_a_resubmission_and_a_rewrite_not_a_neighbour(encoder) -> None:
    talks = [
        ASYNC,
        # the same talk again, re-cased, a line added
        (ASYNC[0].upper(), ASYNC[1] + " (Resubmitted with an updated bio.)"),
        # a reworded variant
        (
            "Understanding structured concurrency with Trio",
            "Why structured concurrency makes asynchronous code simpler to reason about: "
            "nurseries and cancellation scopes, porting an asyncio web crawler to Trio.",
        ),
        # a different talk on a related subject
        (
            "Profiling asyncio applications",
            "Finding the slow coroutine: event loop lag, tracing and flame graphs for "
            "asyncio services in production.",
        ),
        ("Indexes in PostgreSQL", "Query plans, B-trees and when an index does not help."),
    ]
    ids = ["a", "a-again", "a-variant", "profiling", "pg"]
    texts = texts_of(talks)
    vectors = encoder.encode(texts)
    pairs = near_duplicates(ids, vectors, texts, threshold=0.85)
    found = {(p.first, p.second) for p in pairs}
    assert ("a", "a-again") in found
    assert ("a", "a-variant") in found
    assert not any("profiling" in pair or "pg" in pair for pair in found)
    again = next(p for p in pairs if (p.first, p.second) == ("a", "a-again"))
    variant = next(p for p in pairs if (p.first, p.second) == ("a", "a-variant"))
    assert again.similarity > 0.95 and again.overlap > 0.7  # literally the same words
    assert variant.overlap < again.overlap  # reworded: fewer words in common
    assert pairs[0].similarity >= pairs[-1].similarity  # most similar first
    assert "similarity" in again.label()


def test_near_duplicates_only_inside_one_event(encoder) -> None:
    texts = texts_of([ASYNC, ASYNC])
    vectors = encoder.encode(texts)
    assert near_duplicates(["x", "y"], vectors, texts, groups=["e1", "e2"]) == []
    assert len(near_duplicates(["x", "y"], vectors, texts, groups=["e1", "e1"])) == 1


def test_near_duplicates_overlap_rule_and_bad_input() -> None:
    # Orthogonal vectors (cosine 0) but the same words: only the overlap rule flags them.
    vectors = np.eye(2, dtype=np.float32)
    texts = ["the same words in the same order here", "the same words in the same order here"]
    assert near_duplicates(["x", "y"], vectors, texts) == []
    # ...and it only looks from a cosine floor of 0.5, so orthogonal vectors stay unflagged:
    assert near_duplicates(["x", "y"], vectors, texts, overlap_threshold=0.5) == []
    close = np.asarray([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)  # cosine 0.6
    flagged = near_duplicates(["x", "y"], close, texts, overlap_threshold=0.5)
    assert [(p.first, p.second, p.overlap) for p in flagged] == [("x", "y", 1.0)]
    with pytest.raises(ValueError):
        near_duplicates(["x"], vectors, texts)


def test_phrases_skip_stop_words_and_numbers() -> None:
    got = phrases("In this talk we will show 3 ways to use Polars lazy frames in 2024.")
    assert "polars" in got and "polars lazy" in got and "lazy frames" in got
    assert not {"talk", "this", "3", "2024", "we"} & got
    assert term_key("Data Pipelines") == term_key("data pipeline")


def test_a_phrase_common_outside_the_cluster_names_nothing() -> None:
    members = [{"python", "midi", "synth"}, {"python", "midi"}, {"python", "midi", "synth"}]
    df = {"python": 10, "midi": 3, "synth": 2}  # background of 12 talks, members included
    got = dict(class_tfidf(members, df, 12, max_background_share=0.25))
    assert set(got) == {"midi", "synth"}  # python: 7 of the 9 talks outside
    assert got["midi"] > got["synth"]  # every member uses midi
    assert "python" in dict(class_tfidf(members, df, 12))  # no limit
    # A background that is the cluster alone limits nothing.
    assert "python" in dict(class_tfidf(members, df, 3, max_background_share=0.25))


def test_name_matches() -> None:
    assert name_matches("asyncio", ["concurrency", "asyncio", "async"])
    assert name_matches("Neural Networks", ["deep learning", "neural networks"])
    assert not name_matches("pytest fixtures", ["testing", "pytest"])
    assert name_matches("pytest fixtures", ["testing", "pytest"], lenient=True)
    assert not name_matches("data", ["data science"], lenient=True)


def test_unconfident_rows() -> None:
    scores = np.asarray([[0.9, 0.1], [0.2, 0.3], [0.5, 0.5]], dtype=np.float32)
    assert unconfident(scores, np.asarray([0.6, 0.6])).tolist() == [False, True, True]
    per_talk = np.asarray([[0.6, 0.6], [0.6, 0.6], [0.4, 0.6]])
    assert unconfident(scores, per_talk).tolist() == [False, True, False]


GEO = [
    (
        "Maps with GeoPandas",
        "Reading shapefiles with GeoPandas, spatial joins and choropleth maps.",
    ),
    ("Geospatial analysis with Shapely", "Polygons, projections and spatial indexes in Python."),
    ("Routing on OpenStreetMap data", "Building a routing engine from OpenStreetMap extracts."),
    ("Satellite imagery and rasterio", "Reading GeoTIFF rasters and reprojecting them."),
]
MUSIC = [
    ("Making music with Python", "Synthesisers, MIDI and generating melodies in code."),
    ("Audio signal processing", "Filters, FFTs and MIDI instruments driven from Python."),
    ("Live coding music", "Performing electronic music live with Python and MIDI controllers."),
]


def test_suggest_tags_clusters_and_names_unseen_topics(encoder) -> None:
    talks = GEO + MUSIC + [ASYNC]
    ids = [f"g{i}" for i in range(len(GEO))] + [f"m{i}" for i in range(len(MUSIC))] + ["a"]
    texts = texts_of(talks)
    vectors = encoder.encode(texts)
    suggestions = suggest_tags(
        ids,
        vectors,
        texts,
        embed=encoder.encode,
        known=["concurrency", "asyncio"],
        max_distance=0.75,
    )
    by_ids = {frozenset(s.talk_ids): s for s in suggestions}
    music = by_ids.get(frozenset(f"m{i}" for i in range(len(MUSIC))))
    assert music is not None, [(s.name, s.talk_ids) for s in suggestions]
    assert "midi" in music.phrases[:3] or "music" in music.name
    # The geospatial talks are too far apart in MiniLM (cosines 0.1-0.5) to make a cluster
    # at this cut, and the lone async talk is none (min_size 3): only the music cluster.
    assert len(suggestions) == 1
    assert all(s.name != "asyncio" for s in suggestions)
    assert all(0 < s.cohesion <= 1 for s in suggestions)
    assert "new tag" in music.label()


def test_known_terms_are_never_suggested(encoder) -> None:
    texts = texts_of(MUSIC)
    vectors = encoder.encode(texts)
    first = suggest_tags(["1", "2", "3"], vectors, texts, embed=encoder.encode, max_distance=0.9)
    assert first
    taken = suggest_tags(
        ["1", "2", "3"],
        vectors,
        texts,
        embed=encoder.encode,
        known=list(first[0].phrases),
        max_distance=0.9,
    )
    assert all(p not in first[0].phrases for s in taken for p in s.phrases)


def test_clusters_need_min_size() -> None:
    vectors = np.asarray([[1, 0], [0.99, 0.1], [0, 1]], dtype=np.float32)
    assert [g.tolist() for g in clusters(vectors, max_distance=0.1, min_size=2)] == [[0, 1]]
    assert clusters(vectors[:1], min_size=1) == []


def test_score_hidden() -> None:
    suggestions = [
        TagSuggestion("geospatial", ("geospatial", "maps"), ("g0", "g1", "x"), 0.7),
        TagSuggestion("midi", ("midi", "music"), ("m0", "m1"), 0.7),
    ]
    gold = {"g0": {"geo"}, "g1": {"geo"}, "g2": {"geo"}, "x": set(), "m0": set(), "m1": set()}
    [geo, audio] = score_hidden(
        suggestions, gold, {"geo": ["geo", "geospatial", "gis"], "audio": ["audio"]}
    )
    assert (geo.cluster_precision, geo.cluster_recall) == (round(2 / 3, 4), round(2 / 3, 4))
    assert geo.named and geo.named_top3 and geo.named_anywhere and geo.name == "geospatial"
    assert audio.cluster_size == 0 and not audio.named and not audio.named_anywhere
