"""podium.use_cases.tag_suggestions without Prefect: duplicates flagged, new tags offered, and
the vocabulary changed only by an organiser's acceptance.

Real: the lake (Delta tables in a temp folder), talks recorded by `record_talks`, the real
enrich loop tagging them with the packaged MiniLM (offline), the embedding cache, the
correction use case. Events go to the default recording sink, checked against the catalog.
"""

from __future__ import annotations

import dataclasses

import pytest

from podium import event_catalog
from podium.demo import SAMPLE_DIR
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from podium.resources import Resources
from podium.tag_feedback import feedback_rows
from podium.talk_tags import tag_rows
from podium.use_cases.enrich import EnrichResources, enrich_pending
from podium.use_cases.tag_suggestions import accept_new_tag, event_suggestions
from podium.vocabulary import load_vocabulary, read_vocabulary_file, save_vocabulary

EVENT = "conf-2027"
MUSIC = [
    ("Making music with Python", "Synthesisers, MIDI and generating melodies in code."),
    ("Audio signal processing for musicians", "Filters, FFTs and MIDI instruments from Python."),
    ("Live coding music", "Performing electronic music live with Python and MIDI controllers."),
    ("Algorithmic composition", "Generating melodies and chords with MIDI and music theory."),
]
OTHER = [
    ("Testing with pytest fixtures", "Fixtures, parametrize and mocks in pytest test suites."),
    ("Scaling Django", "Caching, database queries and deployments for Django sites."),
]


def talks_of(rows, prefix: str, event: str = EVENT) -> list[Talk]:
    """A talk of `event` per (title, description) row, its id `prefix` and the row's number."""
    return [
        Talk(
            talk_id=f"{prefix}{i}",
            title=title,
            description=text,
            speakers=[f"S{i}"],
            event_ids=[event],
        )
        for i, (title, text) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def tagger():
    from podium.settings import Settings
    from podium.tagging import build_tagger

    return build_tagger(Settings().tagging, device="cpu")


@pytest.fixture
def resources(settings) -> Resources:
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    return Resources(settings=settings, lake=lake)


def enrich(resources: Resources, tagger) -> None:
    from podium.tagging import load_history

    built = dataclasses.replace(
        EnrichResources.cold(resources.settings, lake=resources.lake),
        load_tagger=lambda exclude: (
            tagger,
            load_history(lake=resources.lake, encoder=tagger.encoder, exclude_talk_ids=exclude),
        ),
    )
    enrich_pending(built, stages=("tags",))


def test_duplicates_flagged_new_tag_offered_and_accepted(resources, tagger) -> None:
    lake = resources.lake
    music, other = talks_of(MUSIC, "m"), talks_of(OTHER, "o")
    again = other[0].model_copy(
        update={"talk_id": "o0-again", "title": other[0].title.upper(), "speakers": ["S9"]}
    )
    record_talks(lake=lake, talks=[*music, *other, again])
    enrich(resources, tagger)
    untagged_music = set(tag_rows(lake=lake, talk_ids=[t.talk_id for t in music]).talk_id)
    assert not untagged_music, "the sample vocabulary has no tag for music talks"
    before = load_vocabulary(lake=lake)

    found = event_suggestions(
        resources, event_id=EVENT, embed_talks=tagger.embed, embed_texts=tagger.encoder.encode
    )
    pairs = {(p.first, p.second): p for p in found.duplicates}
    assert list(pairs) == [("o0", "o0-again")]
    assert pairs[("o0", "o0-again")].similarity > 0.95
    assert found.untagged >= len(music)
    [music_tag] = [s for s in found.new_tags if set(s.talk_ids) >= {t.talk_id for t in music}]
    assert "midi" in music_tag.phrases[:3] or "music" in music_tag.name
    assert not {"o0", "o1"} & set(music_tag.talk_ids)  # tagged talks are not in the pool
    # Offering changes nothing: the vocabulary is as it was.
    assert load_vocabulary(lake=lake) == before
    assert found.as_dict()["new_tags"][0]["talk_ids"]

    outcome = accept_new_tag(resources, music_tag, name="Music", decided_by="Ines")
    after = load_vocabulary(lake=lake)
    assert after.names == [*before.names, "music"]
    rows = tag_rows(lake=lake, talk_ids=list(music_tag.talk_ids))
    assert set(zip(rows.talk_id, rows.tag, rows.source, strict=True)) >= {
        (t.talk_id, "music", "organiser") for t in music
    }
    assert outcome.recorded == len(music_tag.talk_ids)
    decided = feedback_rows(lake=lake)
    assert set(decided.decided_by) == {"Ines"} and set(decided.decision) == {"add"}
    tagged = resources.events.named(event_catalog.TALK_TAGGED.name)
    assert tagged and tagged[-1]["source"] == "organiser"
    # Accepting twice adds the tag once.
    accept_new_tag(resources, music_tag, decided_by="Ines")
    assert load_vocabulary(lake=lake).names.count("music") == 1

    # The cluster is tagged now, so it is no longer offered.
    again_found = event_suggestions(
        resources, event_id=EVENT, embed_talks=tagger.embed, embed_texts=tagger.encoder.encode
    )
    assert not any(set(s.talk_ids) & set(music_tag.talk_ids) for s in again_found.new_tags)

    # The next music talk is tagged `music` from the organiser's tags as history.
    newcomer = Talk(
        talk_id="m-next",
        title="Generative music with MIDI",
        description="Writing melodies and drum patterns for MIDI synthesisers in Python.",
        speakers=["S7"],
        event_ids=[EVENT],
    )
    record_talks(lake=lake, talks=[newcomer])
    enrich(resources, tagger)
    rows = tag_rows(lake=lake, talk_ids=["m-next"])
    assert "music" in set(rows.tag), rows


def test_an_event_without_talks_suggests_nothing(resources, tagger) -> None:
    found = event_suggestions(
        resources, event_id="nobody", embed_talks=tagger.embed, embed_texts=tagger.encoder.encode
    )
    assert found.duplicates == [] and found.new_tags == [] and found.untagged == 0
