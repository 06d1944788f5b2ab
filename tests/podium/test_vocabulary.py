"""podium.vocabulary: parsing the tag vocabulary and keeping it in the lake.

Real: the bundled data/sample/vocabulary.json and a lake in a temp folder. Nothing is faked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.lake import Lake
from podium.vocabulary import (
    VOCABULARY_BLOB,
    VocabularyError,
    load_vocabulary,
    parse_vocabulary,
    read_vocabulary_file,
    save_vocabulary,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "vocabulary.json"


def test_object_form() -> None:
    vocabulary = parse_vocabulary(
        json.dumps(
            {
                "tags": [
                    {
                        "name": "Machine Learning",
                        "description": "Models from data.",
                        "synonyms": ["ML"],
                    },
                    {"name": "web"},
                ]
            }
        )
    )
    assert vocabulary.names == ["machine learning", "web"]
    assert vocabulary.tags[0].description == "Models from data."
    assert vocabulary.tags[0].synonyms == ["ML"]


def test_list_of_names_form_and_mixed_entries() -> None:
    assert parse_vocabulary('["Web", "Data  Science"]').names == ["web", "data science"]
    mixed = parse_vocabulary('["web", {"name": "ml", "description": "Models."}]')
    assert mixed.names == ["web", "ml"] and mixed.tags[1].description == "Models."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "vocab.json: not JSON (Expecting property name enclosed in double quotes)"),
        ("[]", "vocab.json: tags: List should have at least 1 item after validation, not 0"),
        (
            '{"tags": [{"name": ""}]}',
            "vocab.json: tags.0.name: String should have at least 1 character",
        ),
        (
            '["web", 3]',
            "vocab.json: tags.1: Input should be a valid dictionary or instance of TagDefinition",
        ),
        (
            '{"tags": [{"name": "web", "colour": "red"}]}',
            "vocab.json: tags.0.colour: Extra inputs are not permitted",
        ),
        ('"web"', "vocab.json: Input should be a valid dictionary or instance of Vocabulary"),
    ],
)
def test_invalid_vocabularies_give_one_line_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(VocabularyError) as info:
        parse_vocabulary(text, origin="vocab.json")
    assert str(info.value) == message and "\n" not in str(info.value)


def test_bundled_sample_vocabulary() -> None:
    vocabulary = read_vocabulary_file(SAMPLE)
    assert len(vocabulary.names) >= 15 and len(set(vocabulary.names)) == len(vocabulary.names)
    assert all(tag.description for tag in vocabulary.tags)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="nope.json: no such file"):
        read_vocabulary_file(tmp_path / "nope.json")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    vocabulary = read_vocabulary_file(SAMPLE)
    save_vocabulary(lake=lake, vocabulary=vocabulary)
    assert lake.blob_exists(VOCABULARY_BLOB)
    loaded = load_vocabulary(lake=lake)
    assert loaded == vocabulary and loaded.content_hash() == vocabulary.content_hash()
    smaller = parse_vocabulary('["web"]')
    save_vocabulary(lake=lake, vocabulary=smaller)  # a change takes effect on the next load
    assert load_vocabulary(lake=lake).names == ["web"]


def test_load_when_none_was_set_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        VocabularyError,
        match=r"no tag vocabulary in the lake yet: run `podium vocabulary set FILE` first",
    ):
        load_vocabulary(lake=Lake(str(tmp_path / "lake")))


def test_a_corrupted_stored_vocabulary_names_the_blob(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.put_blob(VOCABULARY_BLOB, b'{"tags": []}')
    with pytest.raises(VocabularyError, match=f"^{VOCABULARY_BLOB}: tags: "):
        load_vocabulary(lake=lake)
