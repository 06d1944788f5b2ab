"""NLI backend: the real transformers zero-shot pipeline and loading code on a tiny random BART
(built from a config, tokenizer trained in the test, saved locally). Weights are random, so
the tests check plumbing and cost, not quality; the embedding encoder is the real MiniLM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podium.embeddings import Encoder
from podium.models import TagDefinition, Vocabulary
from podium.tagging import Tagger, TaggingSettings, build_tagger
from podium.tagging.nli_testing import build_random_nli
from tests.podium.tagging.conftest import NOW, talk

CORPUS = [
    "Testing web applications with pytest and fixtures.",
    "Machine learning models with scikit-learn, trained and evaluated.",
    "Databases, SQL queries and indexes in PostgreSQL.",
    "This talk is about community, education and documentation.",
] * 20


@pytest.fixture(scope="module")
def nli_path(tmp_path_factory):
    return build_random_nli(tmp_path_factory.mktemp("nli") / "tiny-bart-nli", corpus=CORPUS)


def _vocabulary(n: int) -> Vocabulary:
    names = ["testing", "machine learning", "databases", "community"]
    names += [f"topic {i}" for i in range(n - len(names))]
    return Vocabulary(tags=[TagDefinition(name=name) for name in names])


def _nli_tagger(nli_path: Path, encoder: Encoder, **settings: Any) -> Tagger:
    """A tagger on the tiny NLI model at `nli_path`; `settings` set the other TaggingSettings."""
    tagging = TaggingSettings(backend="nli", nli_model=str(nli_path), **settings)
    return build_tagger(tagging, device="cpu", encoder=encoder)


class PairCounter:
    """Counts the (talk, label) pairs the NLI model actually runs on."""

    def __init__(self, model) -> None:
        self.pairs = 0
        self.forward = model.forward
        model.forward = self

    def __call__(self, *args, **kwargs):
        self.pairs += int(kwargs["input_ids"].shape[0])
        return self.forward(*args, **kwargs)


def test_nli_tagger_scores_only_top_k_candidates_whatever_the_vocabulary(nli_path, encoder):
    tagger = _nli_tagger(
        nli_path, encoder, nli_top_k=3, nli_batch_size=4, nli_threshold=0.0, max_tags=3
    )
    assert tagger.nli is not None and "nli:tiny-bart-nli top3" in tagger.model_version
    counter = PairCounter(tagger.nli.pipeline.model)
    talks = [
        talk("a", "Unit tests with pytest", "Fixtures, mocks and more."),
        talk("b", "Indexes in PostgreSQL", ""),
        talk("c", "ウェブアプリのテスト", "日本語の説明"),
    ]
    for size in (4, 25, 100):
        counter.pairs = 0
        result = tagger.score(talks, vocabulary=_vocabulary(size))
        assert counter.pairs == 3 * 3  # flat in the vocabulary size
        assert ((result.scores > 0).sum(axis=1) == 3).all()
        # multi_label: each label scored on its own (entailment vs contradiction).
        assert ((result.scores >= 0) & (result.scores <= 1)).all()
        assert not np.allclose(result.scores.sum(axis=1), 1.0)
    out = tagger.tag(talks, vocabulary=_vocabulary(25), now=NOW)
    assert {a.talk_id for a in out} == {"a", "b", "c"}
    assert all(a.source == "model" and "nli:" in a.model for a in out)


def test_nli_backend_needs_a_model() -> None:
    with pytest.raises(ValueError, match="nli_model"):
        build_tagger(TaggingSettings(backend="nli"), device="cpu", encoder=object())  # type: ignore[arg-type]


def test_nli_threshold_is_calibrated_on_history_once_and_falls_back_without(nli_path, encoder):
    from podium.tagging import build_history

    calibrating = {
        "nli_top_k": 2,
        "nli_batch_size": 8,
        "nli_threshold": 0.5,
        "nli_calibration_talks": 12,
        "nli_min_talks": 6,
    }
    tagger = _nli_tagger(nli_path, encoder, **calibrating)
    vocabulary = _vocabulary(4)
    topics = ["testing", "machine learning", "databases", "community"]
    talks = [
        talk(f"h{i}", f"{CORPUS[i % 4]} Part {i}.", "", event_ids=[f"conf{i % 5}-2020"])
        for i in range(16)
    ]
    history = build_history(talks, encoder=encoder, labels=[[topics[i % 4]] for i in range(16)])
    assert len(history.premises) == 16 and "Tags:" not in next(iter(history.premises.values()))
    counter = PairCounter(tagger.nli.pipeline.model)
    calibrated = tagger.nli_threshold(vocabulary=vocabulary, history=history)
    assert counter.pairs == 12 * 2  # the sample, top-k candidates each
    assert 0.0 <= calibrated <= 1.0 and calibrated != 0.5
    assert tagger.nli_threshold(vocabulary=vocabulary, history=history) == calibrated
    assert counter.pairs == 12 * 2  # cached: no second pass
    result = tagger.score(
        [talk("q", "Unit tests with pytest")], vocabulary=vocabulary, history=history
    )
    assert np.allclose(result.thresholds, calibrated)
    # Too little history: the configured threshold stands.
    small = history.take(range(4))
    assert tagger.nli_threshold(vocabulary=vocabulary, history=small) == 0.5
    off = _nli_tagger(nli_path, encoder, **{**calibrating, "nli_calibration_talks": 0})
    assert off.nli_threshold(vocabulary=vocabulary, history=history) == 0.5
