"""podium.use_cases.enrich and retag against the ledger: outcomes only for their version.

Real: the lake (temp folder), the packaged MiniLM tagger, card covers, `record_talks` as the
gateway calls it. The edit "arriving while enrich works" is a real `record_talks` call made from
inside the real tagger's `tag` (a wrapper that delegates), so it lands between the read and the
write deterministically. No Prefect.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from podium.demo import SAMPLE_DIR
from podium.enrichment import claim, outstanding, record, requeue_rewritten
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from podium.tagging.retag import retag_batch, stale_talks
from podium.use_cases.enrich import EnrichResources, enrich_pending
from podium.vocabulary import read_vocabulary_file, save_vocabulary


@pytest.fixture
def lake(settings) -> Lake:
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    return lake


@pytest.fixture(scope="module")
def tagger_and_history():
    # One MiniLM load for the module; history is not needed to show versioning.
    from podium.settings import Settings
    from podium.tagging import build_tagger

    return build_tagger(Settings().tagging, device="cpu"), None


def sample_talks(n: int) -> list[Talk]:
    rows = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:n]
    return [Talk.model_validate(r) for r in rows]


def resources(settings, lake: Lake, tagger_and_history, **overrides) -> EnrichResources:
    built = EnrichResources.cold(settings, lake=lake)
    overrides.setdefault("load_tagger", lambda exclude: tagger_and_history)
    return dataclasses.replace(built, **overrides)


def truth(lake: Lake, talks: list[Talk]) -> dict[str, tuple[bool, bool]]:
    """talk id -> (tagged at its current version, covered at its current version).

    Tagged: the ledger says done for that version and every model tag is of it (a talk may
    have no model tag beyond its speaker's own).
    """
    current = {t.talk_id: t.content_hash for t in talks}
    tags = lake.read("talk_tags")
    model = tags[tags.source == "model"]
    state = lake.read("enrichment_state")
    done = set(zip(state.talk_id, state.stage, state.content_hash, state.status, strict=True))
    images = lake.read("talk_images")
    covered = set(zip(images.talk_id, images.content_hash, strict=True))
    return {
        i: (
            (i, "tags", h, "done") in done and set(model[model.talk_id == i].content_hash) <= {h},
            (i, "image", h, "done") in done and (i, h) in covered,
        )
        for i, h in current.items()
    }


def test_enrich_pending_tags_and_covers_every_talk_once(settings, lake, tagger_and_history):
    talks = sample_talks(6)
    record_talks(lake=lake, talks=talks)
    settings.enrich.batch_size = 4
    report = enrich_pending(resources(settings, lake, tagger_and_history))
    assert sorted(report.tagged) == sorted(report.covered) == sorted(t.talk_id for t in talks)
    assert report.model_loads == 2 and report.batches == 4 and not report.failed
    assert all(v == (True, True) for v in truth(lake, talks).values())
    assert outstanding(lake=lake, max_attempts=3) == []
    again = enrich_pending(resources(settings, lake, tagger_and_history))
    assert (again.batches, again.model_loads) == (0, 0), "nothing left, nothing loaded"


class EditsWhileTagging:
    """The real tagger; on its first batch the speaker edits one talk (a real recording)."""

    def __init__(self, inner, lake: Lake, edit: Talk) -> None:
        self.inner, self.lake, self.edit, self.fired = inner, lake, edit, False
        self.model_version = inner.model_version

    def tag(self, talks, **kwargs):
        if not self.fired:
            self.fired = True
            record_talks(lake=self.lake, talks=[self.edit])
        return self.inner.tag(talks, **kwargs)


def test_an_edit_arriving_while_enrich_works_ends_with_the_edits_tags_and_cover(
    settings, lake, tagger_and_history
):
    talks = sample_talks(3)
    record_talks(lake=lake, talks=talks)
    edited = talks[1].model_copy(
        update={"description": "Now about Rust extensions for Python, with PyO3."}
    )
    edited = Talk.model_validate(edited.model_dump(exclude={"content_hash"}))  # new hash
    assert edited.content_hash != talks[1].content_hash
    tagger, history = tagger_and_history
    wrapped = EditsWhileTagging(tagger, lake, edited)
    built = resources(
        settings, lake, tagger_and_history, load_tagger=lambda exclude: (wrapped, history)
    )
    report = enrich_pending(built)
    assert wrapped.fired and edited.talk_id in report.superseded
    final = [talks[0], edited, talks[2]]
    assert all(v == (True, True) for v in truth(lake, final).values())
    state = lake.read("enrichment_state", where=[("talk_id", "=", edited.talk_id)])
    assert set(state.content_hash) == {edited.content_hash} and set(state.status) == {"done"}


def test_retag_never_writes_tags_for_content_edited_since_it_read(
    settings, lake, tagger_and_history
):
    from podium.vocabulary import load_vocabulary

    talks = sample_talks(2)
    record_talks(lake=lake, talks=talks)
    enrich_pending(resources(settings, lake, tagger_and_history))
    tagger, _ = tagger_and_history
    vocabulary = load_vocabulary(lake=lake)
    before = lake.read("talk_tags").groupby("talk_id").tagged_at.max()
    stale, _ = stale_talks(lake=lake, model="another-model", force=True)  # retag reads
    edited = talks[0].model_copy(update={"title": "A different talk now"})
    edited = Talk.model_validate(edited.model_dump(exclude={"content_hash"}))
    record_talks(lake=lake, talks=[edited])  # the speaker edits
    retag_batch(lake=lake, tagger=tagger, vocabulary=vocabulary, history=None, talks=stale)
    after = lake.read("talk_tags").groupby("talk_id").tagged_at.max()
    assert after[edited.talk_id] == before[edited.talk_id], "no tags for the old content"
    assert after[talks[1].talk_id] > before[talks[1].talk_id], "the unedited talk is retagged"
    assert outstanding(lake=lake, max_attempts=3, stage="tags") == [edited.talk_id]
    enrich_pending(resources(settings, lake, tagger_and_history))
    assert truth(lake, [edited, talks[1]])[edited.talk_id] == (True, True)


def test_results_written_after_an_edit_was_enriched_requeue_the_edit(lake) -> None:
    v1 = Talk(talk_id="a", title="First")
    v2 = Talk(talk_id="a", title="Second")
    record_talks(lake=lake, talks=[v1])
    record_talks(lake=lake, talks=[v2])
    work = claim(lake=lake, stage="tags", limit=5, max_attempts=3, lease_seconds=60)
    record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
    # A writer without a claim committed tags of v1 after that: the edit must be redone.
    assert requeue_rewritten(lake=lake, stage="tags", computed={"a": v1.content_hash}) == ["a"]
    assert outstanding(lake=lake, max_attempts=3, stage="tags") == ["a"]
    assert requeue_rewritten(lake=lake, stage="tags", computed={"a": v2.content_hash}) == []


def test_the_use_case_imports_no_prefect_flows_or_tasks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, podium.use_cases.enrich, podium.enrichment, podium.tagging.retag\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('prefect', 'flows', 'tasks')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class SlowTagger:
    """The real tagger, taking longer than the lease; meanwhile another run tries to claim."""

    def __init__(self, inner, lake: Lake, seconds: float) -> None:
        self.inner, self.lake, self.seconds = inner, lake, seconds
        self.model_version = inner.model_version
        self.stolen: list = []

    def tag(self, talks, **kwargs):
        import time

        time.sleep(self.seconds)
        # The lease alone would have run out by now; the run's heartbeat kept it.
        self.stolen.append(
            claim(lake=self.lake, stage="tags", limit=10, max_attempts=3, lease_seconds=60)
        )
        return self.inner.tag(talks, **kwargs)


def test_a_batch_slower_than_its_lease_keeps_its_claim(settings, lake, tagger_and_history):
    talks = sample_talks(2)
    record_talks(lake=lake, talks=talks)
    settings.enrich.lease_seconds = 1.0
    tagger, history = tagger_and_history
    slow = SlowTagger(tagger, lake, seconds=2.5)
    built = resources(
        settings, lake, tagger_and_history, load_tagger=lambda exclude: (slow, history)
    )
    report = enrich_pending(built)
    assert slow.stolen == [None], "nobody took the batch while it was worked"
    assert sorted(report.tagged) == sorted(t.talk_id for t in talks)
    state = lake.read("enrichment_state")
    assert set(state.attempts) == {1}


def test_on_tagged_hears_each_pass_before_its_covers_are_drawn(settings, lake, tagger_and_history):
    talks = sample_talks(5)
    record_talks(lake=lake, talks=talks)
    settings.enrich.batch_size = 2
    heard: list[tuple[list[str], int]] = []

    def on_tagged(ids: list[str]) -> None:
        images = lake.read("talk_images")
        heard.append((sorted(ids), len(images)))

    report = enrich_pending(resources(settings, lake, tagger_and_history), on_tagged=on_tagged)
    # One call for the pass, with every talk it tagged, while no cover existed yet.
    assert heard == [(sorted(t.talk_id for t in talks), 0)]
    assert len(report.covered) == 5


class _SubmitsDuringCovers:
    """A real cover backend that records one more submitted talk during its first batch."""

    def __init__(self, backend, lake: Lake, talk: Talk) -> None:  # noqa: ANN001
        self.backend, self.lake, self.talk = backend, lake, talk

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.backend, name)

    def render(self, talks, **kwargs):  # noqa: ANN001, ANN201
        if self.talk is not None:
            record_talks(lake=self.lake, talks=[self.talk])
            self.talk = None
        return self.backend.render(talks, **kwargs)


def test_tags_first_tags_a_talk_submitted_during_covers_before_the_other_covers(
    settings, lake, tagger_and_history
):
    from podium.images import build_image_backend

    talks = sample_talks(6)
    record_talks(lake=lake, talks=talks[:5])
    heard: list[tuple[list[str], int]] = []

    def on_tagged(ids: list[str]) -> None:
        heard.append((sorted(ids), len(lake.read("talk_images"))))

    backend = _SubmitsDuringCovers(
        build_image_backend(settings.images, device="cpu"), lake, talks[5]
    )
    built = resources(settings, lake, tagger_and_history, load_image_backend=lambda: backend)
    report = enrich_pending(built, on_tagged=on_tagged, tags_first=2)
    # The late talk is tagged after ONE cover batch (2 covers), not after all five.
    assert heard == [(sorted(t.talk_id for t in talks[:5]), 0), ([talks[5].talk_id], 2)]
    assert sorted(report.covered) == sorted(t.talk_id for t in talks)
    assert all(truth(lake, talks).values()) and set(truth(lake, talks).values()) == {(True, True)}


def test_min_wait_leaves_fresh_talks_to_the_warm_path(
    settings, lake, tagger_and_history, monkeypatch
):
    # The safety net's patience: a talk pending for less than `min_wait_s` is not taken (the
    # warm executors will), an older one is; the fresh one is still pending afterwards. The
    # cut-off is pinned between the two talks: a run on a loaded machine lasts long enough to
    # age the fresh talk past any real patience, and the loop re-reads it at every claim.
    import time
    from datetime import UTC, datetime, timedelta

    from podium.use_cases import enrich as use_case

    old, fresh = sample_talks(2)
    record_talks(lake=lake, talks=[old])
    time.sleep(1.0)
    cutoff = datetime.now(UTC)
    time.sleep(1.0)
    record_talks(lake=lake, talks=[fresh])
    asked: list[float] = []

    def pinned(min_wait_s: float) -> datetime | None:
        asked.append(min_wait_s)
        return cutoff if min_wait_s > 0 else None

    monkeypatch.setattr(use_case, "_pending_before", pinned)
    report = enrich_pending(
        resources(settings, lake, tagger_and_history), stages=("tags",), min_wait_s=60.0
    )
    assert asked and set(asked) == {60.0}
    assert use_case.__dict__["_pending_before"] is pinned
    monkeypatch.undo()
    before = use_case._pending_before(60.0)
    assert before is not None and datetime.now(UTC) - before >= timedelta(seconds=59.9)
    assert use_case._pending_before(0.0) is None
    assert sorted(report.tagged) == [old.talk_id]
    assert outstanding(lake=lake, max_attempts=3, stage="tags") == [fresh.talk_id]
    rest = enrich_pending(resources(settings, lake, tagger_and_history), stages=("tags",))
    assert sorted(rest.tagged) == [fresh.talk_id]
