"""podium.models: validation and hashes of the domain models. Pure; nothing is faked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from podium.models import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    Event,
    Recommendation,
    TagAssignment,
    Talk,
    TalkState,
    Vocabulary,
    normalise_tag,
)

BASE = {
    "talk_id": "t-1",
    "title": "Streaming joins",
    "description": "Merge two sorted streams.",
    "speakers": ["Ayo Martins"],
    "tags": ["python"],
    "language": "en",
}


def talk(**changes) -> Talk:
    return Talk.model_validate({**BASE, **changes})


def error_of(model, data: dict) -> tuple[str, str, str]:
    """(field path, error type, message) of the single validation error `data` raises."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    errors = info.value.errors(include_url=False)
    assert len(errors) == 1, errors
    (error,) = errors
    return ".".join(str(p) for p in error["loc"]), error["type"], error["msg"]


# ---- Talk validation ------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["", "   "])
def test_empty_title_is_rejected(title: str) -> None:
    assert error_of(Talk, {**BASE, "title": title})[0::2] == (
        "title",
        "Value error, title must not be empty",
    )


def test_title_length_limit() -> None:
    assert talk(title="x" * MAX_TITLE).title == "x" * MAX_TITLE
    path, kind, message = error_of(Talk, {**BASE, "title": "x" * (MAX_TITLE + 1)})
    assert (path, kind) == ("title", "string_too_long") and "300" in message


def test_description_length_limit() -> None:
    assert len(talk(description="d" * MAX_DESCRIPTION).description) == MAX_DESCRIPTION
    path, kind, message = error_of(Talk, {**BASE, "description": "d" * (MAX_DESCRIPTION + 1)})
    assert (path, kind) == ("description", "string_too_long") and "20000" in message


def test_unknown_fields_are_an_error_not_dropped() -> None:
    assert error_of(Talk, {**BASE, "abstract": "x"})[:2] == ("abstract", "extra_forbidden")


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("title", 123, "title"),
        ("tags", "python", "tags"),
        ("tags", ["ok", 5], "tags.1"),
        ("speakers", [None], "speakers.0"),
        ("talk_id", 7, "talk_id"),
        ("state", "lost", "state"),
        ("submitted_at", "yesterday", "submitted_at"),
    ],
)
def test_wrong_types_are_rejected_with_the_field_path(field: str, value, path: str) -> None:
    assert error_of(Talk, {**BASE, field: value})[0] == path


@pytest.mark.parametrize("field", ["talk_id", "title"])
def test_required_fields(field: str) -> None:
    data = dict(BASE)
    del data[field]
    assert error_of(Talk, data)[:2] == (field, "missing")


@pytest.mark.parametrize(
    "title",
    [
        "Análisis de datos",
        "Машинное обучение",
        "机器学习入门",
        "التعلم الآلي",
        "डेटा विज्ञान",
        "データ可視化 🚀",
        "기계 학습",
        "Ελληνικά",
    ],
)
def test_any_unicode_script_is_valid(title: str) -> None:
    parsed = talk(title=title, speakers=[title], tags=[title])
    assert parsed.title == title and parsed.speakers == [title]


def test_defaults_and_whitespace_stripping() -> None:
    parsed = Talk(talk_id="  t-2 ", title="  Hello ")
    assert (parsed.talk_id, parsed.title, parsed.description) == ("t-2", "Hello", "")
    assert parsed.state is TalkState.submitted and parsed.language == "en"
    assert parsed.speakers == parsed.tags == parsed.event_ids == []


def test_tags_are_normalised_and_deduplicated_in_order() -> None:
    parsed = talk(tags=[" Machine  Learning", "python", "machine learning", "PYTHON", "Web"])
    assert parsed.tags == ["machine learning", "python", "web"]
    assert normalise_tag("  Deep\tLearning ") == "deep learning"


# ---- hashes ---------------------------------------------------------------------------------


def test_content_hash_ignores_field_order_tag_order_state_events_and_times() -> None:
    reference = talk().content_hash
    reordered = Talk.model_validate(dict(reversed(list(BASE.items()))))
    assert reordered.content_hash == reference
    assert talk(tags=["Python"]).content_hash == reference
    assert (
        talk(
            state="published",
            event_ids=["e1"],
            submitted_at=datetime(2027, 1, 1, tzinfo=UTC),
            updated_at=datetime(2027, 2, 1, tzinfo=UTC),
        ).content_hash
        == reference
    )
    many = talk(tags=["a", "b"]).content_hash
    assert talk(tags=["b", "a"]).content_hash == many


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Streaming joins, revised"},
        {"description": "Merge two sorted streams lazily."},
        {"speakers": ["Ayo Martins", "Klara Novák"]},
        {"tags": ["python", "generators"]},
        {"language": "de"},
    ],
)
def test_content_hash_changes_with_what_enrichment_reads(change: dict) -> None:
    assert talk(**change).content_hash != talk().content_hash


def test_content_hash_is_stable_across_processes() -> None:
    # Python's str hash is salted per process; the content hash must not be.
    code = (
        "from podium.models import Talk; import json, sys; "
        "print(Talk.model_validate(json.loads(sys.argv[1])).content_hash)"
    )
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"  # differs from ours
    other = subprocess.run(
        [sys.executable, "-c", code, json.dumps(BASE)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
    ).stdout.strip()
    assert other == talk().content_hash and len(other) == 32


def test_content_hash_is_part_of_the_dump() -> None:
    assert talk().model_dump()["content_hash"] == talk().content_hash


def test_record_hash_changes_with_state_and_events_but_not_times() -> None:
    reference = talk().record_hash()
    assert talk(state="accepted").record_hash() != reference
    assert talk(event_ids=["e1"]).record_hash() != reference
    assert talk(updated_at=datetime(2027, 2, 1, tzinfo=UTC)).record_hash() == reference
    assert talk().record_hash() == reference


# ---- Event ----------------------------------------------------------------------------------


def test_event_dates_must_be_in_order() -> None:
    ok = Event(event_id="e1", name="PyCon", starts_on=date(2027, 5, 1), ends_on=date(2027, 5, 1))
    assert ok.ends_on == date(2027, 5, 1)
    path, _, message = error_of(
        Event,
        {"event_id": "e1", "name": "PyCon", "starts_on": "2027-05-03", "ends_on": "2027-05-01"},
    )
    assert path == "" and "ends_on is before starts_on" in message


def test_event_tags_normalised_and_unknown_fields_rejected() -> None:
    assert Event(event_id="e1", name="PyCon", tags=["Web ", "web", "Data  Science"]).tags == [
        "web",
        "data science",
    ]
    assert error_of(Event, {"event_id": "e1", "name": "x", "venue": "y"})[:2] == (
        "venue",
        "extra_forbidden",
    )


# ---- TagAssignment, Recommendation, Vocabulary ------------------------------------------------


def assignment(**changes) -> dict:
    return {
        "talk_id": "t-1",
        "tag": "python",
        "score": 0.5,
        "source": "model",
        "tagged_at": datetime(2027, 1, 1, tzinfo=UTC),
        **changes,
    }


@pytest.mark.parametrize("score", [0.0, 1.0])
def test_tag_score_bounds_inclusive(score: float) -> None:
    assert TagAssignment.model_validate(assignment(score=score)).score == score


@pytest.mark.parametrize(
    ("score", "kind"), [(-0.01, "greater_than_equal"), (1.01, "less_than_equal")]
)
def test_tag_score_out_of_bounds(score: float, kind: str) -> None:
    assert error_of(TagAssignment, assignment(score=score))[:2] == ("score", kind)


def test_tag_source_is_a_closed_set() -> None:
    for source in ("speaker", "model", "organiser"):
        assert TagAssignment.model_validate(assignment(source=source)).source == source
    assert error_of(TagAssignment, assignment(source="llm"))[:2] == ("source", "literal_error")


def test_recommendation_rank_starts_at_one() -> None:
    data = {
        "event_id": "e1",
        "rank": 1,
        "talk_id": "t-1",
        "score": 0.4,
        "computed_at": datetime(2027, 1, 1, tzinfo=UTC),
    }
    assert Recommendation.model_validate(data).matched_tags == []
    assert error_of(Recommendation, {**data, "rank": 0})[:2] == ("rank", "greater_than_equal")


def test_vocabulary_needs_a_tag_and_normalises_names() -> None:
    vocabulary = Vocabulary.model_validate(
        {"tags": [{"name": " Machine Learning", "synonyms": ["ml"]}]}
    )
    assert vocabulary.names == ["machine learning"]
    assert error_of(Vocabulary, {"tags": []})[:2] == ("tags", "too_short")


def test_vocabulary_hash_follows_descriptions_and_synonyms() -> None:
    base = {"tags": [{"name": "web", "description": "HTTP", "synonyms": ["django"]}]}
    reference = Vocabulary.model_validate(base).content_hash()
    assert Vocabulary.model_validate(base).content_hash() == reference
    changed_description = {
        "tags": [{"name": "web", "description": "HTTP APIs", "synonyms": ["django"]}]
    }
    changed_synonyms = {"tags": [{"name": "web", "description": "HTTP", "synonyms": ["flask"]}]}
    assert Vocabulary.model_validate(changed_description).content_hash() != reference
    assert Vocabulary.model_validate(changed_synonyms).content_hash() != reference
