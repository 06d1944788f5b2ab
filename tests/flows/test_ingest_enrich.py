"""The ingest and enrich flows run for real against a Prefect server started by the tests.

Real: Prefect server, lake (temp folder), MiniLM tagger, card covers, artifacts. The one fake
is a tagger that raises for a chosen talk, to show one bad talk never fails its batch.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.enrich import enrich
from flows.ingest import IngestRequest, ingest
from podium.lake import Lake
from podium.models import TagAssignment, Talk
from podium.recording import record_talks
from podium.use_cases.enrich import tag_batch
from tests.prefect_server import artifact_keys
from tests.samples import sample_source


def test_ingest_then_enrich_in_batches_and_idempotently(
    prefect_server: str, settings, tmp_path: Path
) -> None:
    lake, talks, source = sample_source(settings, tmp_path, 12)

    first = ingest(IngestRequest(source=str(source)))
    assert len(first["new"]) == 12 and len(first["pending"]) == 12

    run = enrich()
    assert run["tagged"] == 12 and run["covers"] == 12 and not run["failed"]
    assert run["model_loads"] == 2, "each model loads once per run, whatever the batch count"
    tags = lake.read("talk_tags")
    speaker = tags[tags.source == "speaker"]
    assert {(r["talk_id"], t) for r in talks for t in r["tags"]} <= set(
        zip(speaker.talk_id, speaker.tag, strict=True)
    ), "the speaker's own tags are kept"
    assert {"enrich-run", "talk-tags", "covers", "ingested-talks"} <= artifact_keys(prefect_server)

    # Nothing changed: re-ingesting is a no-op and the next run has nothing to do.
    again = ingest(IngestRequest(source=str(source)))
    assert again["unchanged"] == [t["talk_id"] for t in talks] and not again["pending"]
    idle = enrich()
    assert idle["talks"] == 0 and idle["model_loads"] == 0

    # An edited talk is re-enriched and its old model tags are replaced.
    edited = {**talks[0], "description": "Dashboards and charts for pandas users, in the browser."}
    source.write_text(json.dumps([edited]), encoding="utf-8")
    assert ingest(IngestRequest(source=str(source)))["pending"] == [edited["talk_id"]]
    assert enrich()["tagged"] == 1
    new_hash = Talk.model_validate(edited).content_hash
    mine = lake.read("talk_tags", where=[("talk_id", "=", edited["talk_id"])])
    model_rows = mine[mine.source == "model"]
    assert (model_rows.content_hash == new_hash).all()
    images = lake.read("talk_images", where=[("talk_id", "=", edited["talk_id"])])
    assert new_hash in set(images.content_hash)


class _FailsFor:
    """A tagger that breaks on one talk, as a real model might on odd input."""

    model_version = "fails-for-test"

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def tag(self, talks, *, vocabulary, history):  # noqa: ANN001, ANN201
        if any(t.talk_id == self.bad for t in talks):
            raise ValueError("cannot tag this one")
        now = datetime.now(UTC)
        return [
            TagAssignment(
                talk_id=t.talk_id,
                tag="testing",
                score=0.9,
                source="model",
                model=self.model_version,
                content_hash=t.content_hash,
                tagged_at=now,
            )
            for t in talks
        ]


def test_one_bad_talk_never_fails_its_batch(settings) -> None:
    lake = Lake.from_settings(settings)
    talks = [Talk(talk_id=f"t{i}", title=f"Talk {i}") for i in range(4)]
    record_talks(lake=lake, talks=talks)
    outcome = tag_batch(
        lake=lake, tagger=_FailsFor("t2"), history=None, talks=talks, vocabulary=None
    )
    assert [t.talk_id for t in outcome.done] == ["t0", "t1", "t3"]
    assert set(outcome.errors) == {"t2"} and "cannot tag this one" in outcome.errors["t2"][1]
    assert set(lake.read("talk_tags").talk_id) == {"t0", "t1", "t3"}


def test_ingest_request_needs_something_to_do() -> None:
    with pytest.raises(ValueError, match="talk_ids or a source"):
        IngestRequest()


def test_maintenance_keeps_current_covers_and_compacts(prefect_server: str, settings) -> None:
    from flows.maintenance import maintenance
    from podium.images import CardBackend, store_covers

    lake = Lake.from_settings(settings)
    backend = CardBackend(width=320, height=168)
    versions = [Talk(talk_id="t1", title=f"Version {i}") for i in range(4)]
    for talk in versions:
        store_covers(lake=lake, covers=backend.render([talk], tags={}))
    from podium.recording import record_talks

    record_talks(lake=lake, talks=[versions[1]])  # the lake's current version is an older one
    from podium.replay import LakeReplayStore

    store = LakeReplayStore(lake)  # a message id whose window ended long ago, and a live one
    store.claim("talks\x00id:old", digest="d", expires_at=1.0, lease_s=1, now=0.5)
    store.claim("talks\x00id:new", digest="d", expires_at=time.time() + 300, lease_s=1, now=0)
    result = maintenance()
    assert result["replay_ids_swept"] == 1 and len(lake.list_blobs("replay")) == 1
    kept = set(lake.read("talk_images").content_hash)
    assert versions[1].content_hash in kept, "the current cover is never removed"
    assert len(kept) == settings.images.keep_covers + 1
    assert result["covers_removed"] == 4 - len(kept)
    assert "talk_images" in result["tables_compacted"]
