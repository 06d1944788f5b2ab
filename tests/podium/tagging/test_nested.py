"""Nested series-disjoint evaluation on a small labelled file: the real packaged MiniLM, real
calibration and scoring; the only stand-in is a Tagger subclass that records what each call
was given, to check that no test talk, test series or held-out tag leaks into a history."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from podium.tagging import Tagger, TaggingSettings
from podium.tagging.evaluate import EvalInputError, load_labelled
from podium.tagging.history import embed_talks
from podium.tagging.nested import (
    LEXICAL_WEIGHTS,
    Candidate,
    Encoded,
    _variant,
    default_candidates,
    evaluate_nested,
    mean_std,
)
from podium.tagging.series import series_of
from tests.podium.tagging.test_evaluate import eval_file  # noqa: F401  (fixture)


class Recording(Tagger):
    calls: list[tuple[set[str], Any]]

    def score(self, talks, *, vocabulary, history=None, vectors=None):
        Recording.calls.append(({t.talk_id for t in talks}, history))
        return super().score(talks, vocabulary=vocabulary, history=history, vectors=vectors)


GOOD = Candidate("good", {"label_weight": 0.4, "prototype_weight": 0.3, "knn_weight": 0.3})
# The same configuration on random vectors: it can only guess.
BAD = Candidate("bad", GOOD.overrides, encoder="noise")


def test_nested_chooses_inside_and_scores_outside_without_leaks(eval_file, encoder):  # noqa: F811
    data = load_labelled(eval_file)
    # Six series of two editions each: conf0-2019 and conf0-2020 must always share a side.
    events = [f"conf{i % 6}-{2019 + (i // 6) % 2}" for i in range(len(data.talks))]
    data = type(data)(
        data.vocabulary, data.talks, data.gold, events, data.own_tags, ["eng"] * 17 + ["spa"]
    )
    Recording.calls = []
    base = Recording(encoder=encoder, settings=TaggingSettings())
    vectors = embed_talks(data.talks, encoder=encoder)
    noise = np.random.default_rng(0).normal(size=vectors.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    report = evaluate_nested(
        {"": Encoded(base, vectors), "noise": Encoded(base, noise)},
        data,
        folds=3,
        inner_folds=2,
        candidates=[BAD, GOOD],
        new_vocabulary_groups=3,
    )
    assert [f.chosen for f in report.folds] == ["good"] * 3
    assert report.talks == 18 and sum(f.talks for f in report.folds) == 18
    assert report.pooled["precision_at_1"] >= 0.8
    mean, std = report.spread["micro_f1"]
    assert 0 < mean <= 1 and std >= 0
    assert report.spread["inner_micro_f1"][0] > 0
    assert report.per_language["eng"]["talks"] == 17 and report.per_language["spa"]["talks"] == 1
    assert report.per_language["all non-English"]["talks"] == 1
    series_of_talk = {t.talk_id: series_of(e) for t, e in zip(data.talks, events, strict=True)}
    for test_ids, history in Recording.calls:
        assert not test_ids & set(history.talk_ids)
        assert not {series_of_talk[t] for t in test_ids} & {series_of(g) for g in history.groups}
    nv = report.new_vocabulary
    assert nv is not None and nv["tag_groups"] == 3 and nv["candidate"] == "good"
    assert 0 <= nv["held_out"]["micro_f1"] <= 1
    # Held-out runs: some history had a tag removed entirely (one tag per group here).
    names = data.vocabulary.names
    column_sums = [
        history.targets(data.vocabulary)[1].sum(axis=0) for _, history in Recording.calls
    ]
    assert any((sums == 0).sum() == 1 for sums in column_sums)
    assert all(len(sums) == len(names) for sums in column_sums)
    as_json = report.as_dict()
    assert as_json["folds"][0]["chosen"] == "good" and "per_tag" in as_json
    assert as_json["folds"][0]["lexical_weight"] is None  # GOOD leaves the settings' weight


def test_the_inner_folds_choose_the_lexical_weight() -> None:
    # Each structure is offered at every lexical weight, off included, and nothing else varies
    # between the weights of one structure.
    candidates = default_candidates()
    assert 0.0 in LEXICAL_WEIGHTS and len(set(LEXICAL_WEIGHTS)) >= 3
    by_structure: dict[tuple, list[float]] = {}
    for c in candidates:
        rest = tuple(sorted((k, v) for k, v in c.overrides.items() if k != "lexical_weight"))
        by_structure.setdefault(rest, []).append(c.overrides["lexical_weight"])
    assert len(by_structure) == 2
    assert all(sorted(w) == sorted(LEXICAL_WEIGHTS) for w in by_structure.values())
    assert len({c.name for c in candidates}) == len(candidates)


def test_too_few_series_is_a_clear_error(eval_file, encoder):  # noqa: F811
    data = load_labelled(eval_file)
    base = Tagger(encoder=encoder, settings=TaggingSettings())
    vectors = np.zeros((len(data.talks), encoder.dimension), dtype=np.float32)
    with pytest.raises(EvalInputError, match="conference series"):
        evaluate_nested({"": Encoded(base, vectors)}, data, folds=5, candidates=[GOOD])


def test_mean_std() -> None:
    assert mean_std([0.5]) == (0.5, 0.0)
    mean, std = mean_std([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and std == pytest.approx(0.1)


def test_a_variant_shares_the_models_and_the_content_keyed_caches_only(encoder) -> None:
    base = Recording(encoder=encoder, settings=TaggingSettings())
    variant = _variant(base, {"knn_weight": 0.7})
    assert type(variant) is Recording and variant.settings.knn_weight == 0.7
    assert base.settings.knn_weight != 0.7  # the base keeps its own settings
    assert variant.encoder is base.encoder and variant.nli is base.nli
    for shared in ("_labels", "_heads", "_text_heads", "_ngrams"):
        assert getattr(variant, shared) is getattr(base, shared), shared
    # Caches keyed by what the settings decide start empty in the variant.
    for own in ("_lexicons", "_calibrations", "_nli_thresholds", "_own"):
        assert getattr(variant, own) is not getattr(base, own), own
