"""Lexical evidence: vocabulary terms found in talk text, in any script, word-bounded."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from podium.models import TagDefinition, Vocabulary
from podium.tagging import TaggingSettings
from podium.tagging.history import build_history
from podium.tagging.lexical import Lexicon
from podium.tagging.tagger import Tagger
from tests.podium.tagging.conftest import talk

VOCABULARY = Vocabulary(
    tags=[
        TagDefinition(name="machine learning", synonyms=["ml", "scikit-learn"]),
        TagDefinition(name="education", synonyms=["learning", "teaching"]),
        TagDefinition(name="jupyter", synonyms=["notebooks", "ipython"]),
        TagDefinition(name="packaging", synonyms=["pip", "pypi"]),
        TagDefinition(name="data science", synonyms=["pandas"]),
        TagDefinition(name="scientific computing", synonyms=["science", "numpy"]),
        TagDefinition(name="testing", description="Automated checks: unit tests.", synonyms=[]),
        TagDefinition(name="devops", synonyms=["ci/cd", "property-based testing"]),
    ]
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("高校の授業でJupyterを使ってみた一年間", ["jupyter"]),  # no spaces around it
        ("Ｊｕｐｙｔｅｒ ＮＯＴＥＢＯＯＫＳ", ["jupyter", "notebooks"]),  # full-width, plural
        ("Einführung in Machine-Learning mit scikit-learn", ["machine learning", "scikit-learn"]),
        ("a pipeline, pipenv and pip", ["pip"]),  # inside a word is not a match
        ("Machine learning for data science", ["machine learning", "data science"]),
        ("notebooks in ci/cd", ["notebooks", "ci/cd"]),
        ("property based testing", ["property-based testing"]),  # the longest term wins
        ("", []),
    ],
)
def test_terms_are_found_word_bounded_in_any_script(text, found) -> None:
    assert Lexicon(VOCABULARY).matches(text) == found


def test_scores_mark_the_tags_a_text_names_and_never_the_description() -> None:
    lexicon = Lexicon(VOCABULARY)
    scores = lexicon.scores(["Teaching numpy", "Automated checks", "nothing here"])
    names = VOCABULARY.names
    assert scores.shape == (3, len(names))
    assert {names[j] for j in np.flatnonzero(scores[0])} == {"education", "scientific computing"}
    assert not scores[1].any() and not scores[2].any()


class _Random:
    """A real encoder stand-in that knows no language: fixed random unit vectors per text."""

    model_version = "random-test"
    max_length = 128

    def encode(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            rng = np.random.default_rng(int(hashlib.sha1(text.encode()).hexdigest()[:8], 16))
            v = rng.standard_normal(16).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out) if out else np.zeros((0, 16), dtype=np.float32)


def test_a_named_product_is_tagged_in_a_language_the_encoder_cannot_read() -> None:
    # The encoder is noise, so only the lexical evidence can find the tag; the threshold is
    # calibrated on history talks whose text the history kept, with the same evidence.
    settings = TaggingSettings(lexical_weight=1.0, min_history_talks=0, head_weight=0.0)
    tagger = Tagger(encoder=_Random(), settings=settings)  # type: ignore[arg-type]
    history_talks = [
        talk(f"h{i}", f"Charla {i} sobre {word}", event_ids=[f"ev{i % 4}"], tags=[tag])
        for i, (word, tag) in enumerate(
            [("Jupyter", "jupyter"), ("pip", "packaging"), ("pandas", "data science")] * 6
        )
    ]
    history = build_history(history_talks, encoder=tagger.encoder)
    assert len(history.premises) == len(history_talks)
    new = [talk("n1", "授業でJupyterを使う"), talk("n2", "Paquetes con pip y PyPI")]
    assignments = tagger.tag(new, vocabulary=VOCABULARY, history=history)
    tags = {(a.talk_id, a.tag) for a in assignments}
    assert ("n1", "jupyter") in tags and ("n2", "packaging") in tags
    assert not {t for t in tags if t[1] in {"data science", "education"}}
    assert "lex1" in tagger.model_version
