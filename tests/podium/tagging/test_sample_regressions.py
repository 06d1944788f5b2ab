"""Known examples: every sample talk's expected and forbidden tags, checked on the real tagger.

Real: the packaged MiniLM, the sample vocabulary and talks of data/sample, the default
tagging settings. Two histories, as a directory meets them: none (a new directory's first
burst, the demo's first run, where t-032 got flask/jupyter and t-024 databases at the old
no-history threshold) and the other 47 talks' speaker tags. A model change that brings such a
tag back fails here, naming the talk, the tag and its score.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.models import Talk, normalise_tag
from podium.tagging import TaggingSettings, build_history
from podium.tagging.tagger import Tagger
from podium.vocabulary import read_vocabulary_file

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "data" / "sample"
EXPECTED = json.loads((Path(__file__).parent / "sample_expectations.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def sample(encoder):
    vocabulary = read_vocabulary_file(SAMPLE / "vocabulary.json")
    raw = json.loads((SAMPLE / "talks.json").read_text(encoding="utf-8"))
    talks = [Talk.model_validate({k: v for k, v in t.items() if k != "language"}) for t in raw]
    tagger = Tagger(encoder=encoder, settings=TaggingSettings())
    return tagger, vocabulary, talks, build_history(talks, encoder=encoder)


def test_every_sample_talk_has_expectations(sample) -> None:
    _, vocabulary, talks, _ = sample
    assert {t.talk_id for t in talks} == set(EXPECTED) - {"_about"}
    known = set(vocabulary.names)
    for talk_id, rule in EXPECTED.items():
        if talk_id != "_about":
            assert set(rule["forbidden"]) <= known, talk_id
            assert not set(rule["forbidden"]) & set(rule["expected"]), talk_id


@pytest.mark.parametrize("regime", ["no history", "the other talks as history"])
def test_expected_tags_present_and_forbidden_tags_absent(sample, regime: str) -> None:
    tagger, vocabulary, talks, history = sample
    # A talk in the history is never its own neighbour, so all 48 are tagged in one call.
    assignments = tagger.tag(
        talks, vocabulary=vocabulary, history=None if regime == "no history" else history
    )
    got: dict[str, dict[str, float]] = {}
    for a in assignments:
        got.setdefault(a.talk_id, {})[normalise_tag(a.tag)] = a.score
    problems = []
    for talk in talks:
        rule, tags = EXPECTED[talk.talk_id], got.get(talk.talk_id, {})
        for tag in rule["expected"]:
            if normalise_tag(tag) not in tags:
                problems.append(f"{talk.talk_id} lacks {tag!r}")
        for tag in rule["forbidden"]:
            if tag in tags:
                problems.append(f"{talk.talk_id} got {tag!r} ({tags[tag]:.2f})")
    assert not problems, f"{regime}: " + "; ".join(problems)
