"""podium.use_cases.tag_feedback without Prefect: decisions recorded, applied, honoured, announced.

Real: the lake (Delta tables in a temp folder), the talks recorded by `record_talks`, the
tag writes of the enrich path (`write_tags`). Events go to `RecordedEvents`, checked against the
catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podium.errors import Problem, Refused
from podium.events import EventDeliveryError
from podium.lake import Lake
from podium.models import TagAssignment, Talk
from podium.recording import record_talks
from podium.resources import Resources
from podium.tag_counts import read_tag_counts, recompute_tag_counts
from podium.tag_feedback import TagDecision, feedback_rows, negatives, rejections
from podium.talk_tags import tag_rows, write_tags
from podium.use_cases.tag_feedback import correct_tags

NOW = datetime(2027, 3, 1, tzinfo=UTC)


def talk(talk_id: str, description: str = "About infrastructure as code.") -> Talk:
    return Talk(
        talk_id=talk_id,
        title=f"Talk {talk_id}",
        description=description,
        speakers=["Ada"],
        tags=["cloud"],
        event_ids=["conf-2027"],
    )


def model_tag(talk_id: str, tag: str, digest: str, score: float = 0.6) -> TagAssignment:
    return TagAssignment(
        talk_id=talk_id,
        tag=tag,
        score=score,
        source="model",
        model="m1",
        content_hash=digest,
        tagged_at=NOW,
    )


def tags_of(lake: Lake, talk_id: str) -> dict[str, str]:
    rows = tag_rows(lake=lake, talk_ids=[talk_id])
    return dict(zip(rows.tag, rows.source, strict=True))


@pytest.fixture
def resources(settings, tmp_path) -> Resources:
    lake = Lake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[talk("a"), talk("b")])
    return Resources(settings=settings, lake=lake)


def test_reject_and_add_apply_at_once_and_no_model_run_undoes_them(resources) -> None:
    lake = resources.lake
    h = talk("a").content_hash
    write_tags(
        lake=lake,
        talk_ids=["a"],
        assignments=[model_tag("a", "flask", h), model_tag("a", "jupyter", h)],
    )
    outcome = correct_tags(
        resources,
        [
            TagDecision(
                talk_id="a", tag="flask", decision="reject", decided_by="Ines", reason="infra"
            ),
            TagDecision(talk_id="a", tag="DevOps", decision="add", decided_by="Ines"),
            TagDecision(talk_id="a", tag="jupyter", decision="accept", decided_by="Ines"),
        ],
        now=NOW,
    )
    assert outcome.recorded == 3 and outcome.event == "accepted"
    assert tags_of(lake, "a") == {"devops": "organiser", "jupyter": "organiser"}
    assert resources.events.named("podium.talk.tagged") == [
        {"talk_ids": ["a"], "count": 1, "source": "organiser"}
    ]
    rows = feedback_rows(lake=lake)
    assert list(rows.decided_by) == ["Ines"] * 3 and set(rows.content_hash) == {h}
    assert rows.reason[rows.tag == "flask"].item() == "infra"
    assert rejections(lake=lake) == {("a", h, "flask")}
    assert negatives(lake=lake, versions={"a": h}) == {"a": ("flask",)}

    # The next model run (enrich, retag, backfill: all write through write_tags) suggests the
    # same tags again: the rejected one stays off, the organiser's stay as they are.
    write_tags(
        lake=lake,
        talk_ids=["a"],
        assignments=[model_tag("a", "flask", h, 0.9), model_tag("a", "devops", h, 0.4)],
    )
    assert tags_of(lake, "a") == {"devops": "organiser", "jupyter": "organiser"}

    # Counts follow: the organiser's tags count, the rejected one does not.
    recompute_tag_counts(lake=lake)
    counts = read_tag_counts(lake=lake)
    assert set(counts.tag) == {"cloud", "devops", "jupyter"}


def test_a_rejection_binds_the_talk_version_it_was_made_on(resources) -> None:
    lake = resources.lake
    old = talk("a").content_hash
    correct_tags(
        resources, [TagDecision(talk_id="a", tag="flask", decision="reject", decided_by="I")]
    )
    edited = talk("a", description="Now a Flask talk: web apps with Flask and Jinja.")
    record_talks(lake=lake, talks=[edited])
    assert edited.content_hash != old
    write_tags(
        lake=lake, talk_ids=["a"], assignments=[model_tag("a", "flask", edited.content_hash)]
    )
    assert tags_of(lake, "a") == {"flask": "model"}
    assert negatives(lake=lake, versions={"a": edited.content_hash}) == {}


def test_a_rejection_recorded_while_a_tag_write_is_in_flight_still_wins(resources) -> None:
    lake = resources.lake
    h = talk("b").content_hash
    write_tags(lake=lake, talk_ids=["b"], assignments=[model_tag("b", "flask", h)])
    # The correction commits between the model run's read of the rejections and its write:
    # replay that order by recording the decision, then writing the stale suggestion.
    correct_tags(
        resources, [TagDecision(talk_id="b", tag="flask", decision="reject", decided_by="I")]
    )
    from podium.talk_tags import assignments_frame

    lake.append("talk_tags", assignments_frame([model_tag("b", "flask", h)]))  # the late commit
    from podium.talk_tags import settle

    assert settle(lake=lake, talk_ids=["b"]) == 1
    assert "flask" not in tags_of(lake, "b")


def test_bad_decisions_are_refused_with_their_kind_and_nothing_is_recorded(resources) -> None:
    lake = resources.lake
    cases = [
        (TagDecision(talk_id="zz", tag="x", decision="add", decided_by="I"), Problem.NOT_FOUND),
        (
            TagDecision(talk_id="a", tag="Cloud", decision="reject", decided_by="I"),
            Problem.CONFLICT,
        ),
        (TagDecision(talk_id="a", tag="rust", decision="accept", decided_by="I"), Problem.CONFLICT),
    ]
    for decision, problem in cases:
        with pytest.raises(Refused) as refused:
            correct_tags(resources, [decision])
        assert refused.value.problem is problem
    assert feedback_rows(lake=lake).empty
    assert resources.events.named("podium.talk.tagged") == []


def test_a_lost_event_leaves_the_correction_applied_and_says_deferred(resources) -> None:
    class Down:
        def emit(self, spec, **kwargs):
            raise EventDeliveryError("Prefect server did not accept events: HTTP 503")

    resources.events = Down()
    outcome = correct_tags(
        resources, [TagDecision(talk_id="a", tag="devops", decision="add", decided_by="I")]
    )
    assert outcome.event == "deferred" and "503" in (outcome.event_reason or "")
    assert tags_of(resources.lake, "a") == {"devops": "organiser"}
