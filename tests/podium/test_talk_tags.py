"""podium.talk_tags: replacing speaker/model tags while keeping an organiser's corrections.

Real: the `talk_tags` Delta table in a temp folder. Nothing is faked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.lake import Lake
from podium.models import TagAssignment
from podium.talk_tags import assignments_frame, tags_by_talk, write_tags

NOW = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def tag(talk_id: str, name: str, source: str = "model", score: float = 0.5) -> TagAssignment:
    return TagAssignment(
        talk_id=talk_id,
        tag=name,
        score=score,
        source=source,
        model="m1" if source == "model" else "",
        content_hash="h",
        tagged_at=NOW,
    )


def rows(lake: Lake) -> set[tuple[str, str, str]]:
    frame = lake.read("talk_tags")
    return set(zip(frame.talk_id, frame.tag, frame.source, strict=True))


def organiser_sets(lake: Lake, *assignments: TagAssignment) -> None:
    """An organiser's correction, written the way the review UI would: straight to the table."""
    lake.upsert("talk_tags", assignments_frame(assignments))


def test_an_edited_talks_old_model_tags_are_replaced(lake: Lake) -> None:
    write_tags(
        lake=lake,
        talk_ids=["a", "b"],
        assignments=[
            tag("a", "python", "speaker"),
            tag("a", "web"),
            tag("a", "testing"),
            tag("b", "data"),
        ],
    )
    written = write_tags(
        lake=lake,
        talk_ids=["a"],
        assignments=[
            tag("a", "python", "speaker"),
            tag("a", "asyncio"),
        ],
    )
    assert written == 2
    assert rows(lake) == {
        ("a", "python", "speaker"),
        ("a", "asyncio", "model"),
        ("b", "data", "model"),
    }


def test_organiser_tags_are_kept_and_never_duplicated(lake: Lake) -> None:
    write_tags(lake=lake, talk_ids=["a"], assignments=[tag("a", "web"), tag("a", "python")])
    organiser_sets(lake, tag("a", "security", "organiser", 1.0), tag("a", "web", "organiser", 1.0))
    written = write_tags(
        lake=lake,
        talk_ids=["a"],
        assignments=[
            tag("a", "web"),  # the organiser already set it
            tag("a", "security", "speaker"),  # likewise
            tag("a", "asyncio"),
            tag("a", "spam", "organiser"),  # write_tags never writes organiser tags itself
        ],
    )
    assert written == 1
    assert rows(lake) == {
        ("a", "security", "organiser"),
        ("a", "web", "organiser"),
        ("a", "asyncio", "model"),
    }


@pytest.mark.parametrize("order", ["speaker first", "model first"])
def test_speaker_beats_model_for_the_same_tag(lake: Lake, order: str) -> None:
    pair = [tag("a", "python", "speaker", 1.0), tag("a", "python", "model", 0.9)]
    if order == "model first":
        pair.reverse()
    write_tags(lake=lake, talk_ids=["a"], assignments=pair)
    frame = lake.read("talk_tags")
    assert list(zip(frame.tag, frame.source, frame.score, strict=True)) == [
        ("python", "speaker", 1.0)
    ]


def test_no_talk_ids_writes_nothing(lake: Lake) -> None:
    assert write_tags(lake=lake, talk_ids=[], assignments=[tag("a", "web")]) == 0
    assert not lake.exists("talk_tags")


def test_a_talk_without_new_tags_loses_its_model_tags(lake: Lake) -> None:
    write_tags(lake=lake, talk_ids=["a"], assignments=[tag("a", "web")])
    assert write_tags(lake=lake, talk_ids=["a"], assignments=[]) == 0
    assert rows(lake) == set()


def test_tags_by_talk_best_score_first(lake: Lake) -> None:
    write_tags(
        lake=lake,
        talk_ids=["a", "b"],
        assignments=[
            tag("a", "web", score=0.4),
            tag("a", "python", "speaker", 1.0),
            tag("a", "data", score=0.4),
            tag("b", "ml", score=0.7),
            tag("b", "o'reilly", score=0.2),
        ],
    )
    assert tags_by_talk(lake=lake) == {"a": ["python", "data", "web"], "b": ["ml", "o'reilly"]}
    assert tags_by_talk(lake=lake, talk_ids=["b", "zzz"]) == {"b": ["ml", "o'reilly"]}
    assert tags_by_talk(lake=lake, talk_ids=[]) == {}


def test_tags_by_talk_on_an_empty_lake(lake: Lake) -> None:
    assert tags_by_talk(lake=lake) == {}
    assert tags_by_talk(lake=lake, talk_ids=["a"]) == {}
