"""History from the lake and the retag path, on a real local Delta lake in a temp folder and
the real packaged MiniLM. The encoder is wrapped only to count how many texts it embeds."""

from __future__ import annotations

import pandas as pd
import pytest

from podium.embedding_cache import EmbeddingCache
from podium.ingest import talks_to_frame
from podium.lake import Lake
from podium.models import TagDefinition, Vocabulary
from podium.tagging import TaggingSettings, build_tagger, load_history
from podium.tagging.retag import retag, stale_talks
from tests.podium.tagging.conftest import HISTORY, NOW, talk


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.embedded = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, **kwargs):
        self.embedded += len(texts)
        return self.inner.encode(texts, **kwargs)


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    talks = [
        talk(i, title, text, tags=tags, event_ids=[ev]) for i, ev, title, text, tags in HISTORY
    ]
    talks.append(talk("u1", "Untagged talk about CSS grid layouts", event_ids=["ev4"]))
    talks.append(talk("u2", "Speeding up pandas group-bys", event_ids=["ev4"]))
    lake.upsert("talks", talks_to_frame(talks, now=NOW))
    organiser = pd.DataFrame(
        [
            {
                "talk_id": "u1",
                "tag": "web development",
                "score": 1.0,
                "source": "organiser",
                "model": "",
                "content_hash": "",
                "tagged_at": NOW,
            },
        ]
    )
    lake.append("talk_tags", organiser)
    return lake


def test_load_history_reads_speaker_and_organiser_tags_and_caches_embeddings(lake, encoder):
    counting = CountingEncoder(encoder)
    history = load_history(lake=lake, encoder=counting, exclude_talk_ids={"h1"})
    assert set(history.talk_ids) == {"h2", "h3", "h4", "h5", "h6", "h7", "u1"}
    assert dict(zip(history.talk_ids, history.tags, strict=True))["u1"] == ("web development",)
    assert history.groups[history.talk_ids.index("h3")] == "ev2"
    assert counting.embedded == 7
    again = load_history(lake=lake, encoder=counting)  # h1 is new; the rest comes from cache
    assert counting.embedded == 8 and len(again) == 8
    cached = EmbeddingCache(lake).embed(["anything new"], encoder=counting)
    assert cached.shape == (1, encoder.dimension)


def _vocabulary(*extra: TagDefinition) -> Vocabulary:
    return Vocabulary(
        tags=[
            TagDefinition(name="testing", synonyms=["pytest"]),
            TagDefinition(name="machine learning", synonyms=["ml", "sklearn"]),
            TagDefinition(name="databases", synonyms=["sql", "postgresql"]),
            TagDefinition(name="web development", synonyms=["web"]),
            *extra,
        ]
    )


def test_retag_is_batched_resumable_and_keeps_organiser_tags(lake, encoder):
    tagger = build_tagger(TaggingSettings(max_tags=2), device="cpu", encoder=encoder)
    vocabulary = _vocabulary()
    history = load_history(lake=lake, encoder=encoder)
    first = retag(
        lake=lake, tagger=tagger, vocabulary=vocabulary, history=history, batch_size=3, limit=4
    )
    assert (first.retagged, first.batches, first.up_to_date) == (4, 2, 0)
    second = retag(lake=lake, tagger=tagger, vocabulary=vocabulary, history=history, batch_size=3)
    assert (second.retagged, second.up_to_date) == (5, 4)  # resumed where it stopped
    assert retag(lake=lake, tagger=tagger, vocabulary=vocabulary, history=history).retagged == 0

    rows = lake.read("talk_tags")
    organiser = rows[rows.source == "organiser"]
    assert organiser[["talk_id", "tag"]].values.tolist() == [["u1", "web development"]]
    speaker = rows[rows.source == "speaker"]
    assert sorted(speaker.talk_id) == sorted(i for i, *_ in HISTORY)
    model = rows[rows.source == "model"]
    assert set(model.model) == {tagger.assignment_model(vocabulary)}
    assert not ((model.talk_id == "u1") & (model.tag == "web development")).any()

    # A vocabulary change makes every talk stale; the new tag can now be assigned.
    grown = _vocabulary(TagDefinition(name="pandas", synonyms=["dataframes"]))
    stale, considered = stale_talks(lake=lake, model=tagger.assignment_model(grown))
    assert len(stale) == considered == 9
    report = retag(lake=lake, tagger=tagger, vocabulary=grown, history=history, batch_size=50)
    assert report.retagged == 9 and report.batches == 1
    rows = lake.read("talk_tags")
    assert ((rows.talk_id == "u2") & (rows.tag == "pandas") & (rows.source == "model")).any()
    assert len(rows[rows.source == "organiser"]) == 1


def test_changed_content_is_stale_again(lake, encoder):
    tagger = build_tagger(TaggingSettings(), device="cpu", encoder=encoder)
    vocabulary = _vocabulary()
    retag(lake=lake, tagger=tagger, vocabulary=vocabulary, history=None)
    edited = talk("u2", "Speeding up pandas group-bys", "Now with Polars too.", event_ids=["ev4"])
    lake.upsert("talks", talks_to_frame([edited], now=NOW))
    stale, _ = stale_talks(lake=lake, model=tagger.assignment_model(vocabulary))
    assert [t.talk_id for t in stale] == ["u2"]
