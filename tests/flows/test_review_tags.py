"""review-tags against a real Prefect server: the run pauses with one row per suggestion, the
organiser's answer (given as the UI posts it, through `resume_flow_run`) is recorded and
applied. Real: the Prefect server (the session's), the Delta lake in a temp folder, the flow
in a background thread."""

from __future__ import annotations

import contextvars
import dataclasses
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState
from prefect.flow_runs import resume_flow_run

from flows.review_tags import review_tags
from podium.lake import Lake
from podium.models import TagAssignment, Talk
from podium.recording import record_talks
from podium.settings import get_settings
from podium.tag_feedback import feedback_rows
from podium.talk_tags import tag_rows, write_tags
from tests.podium.use_cases.test_tag_suggestions import talks_of
from tests.waiting import wait_for


@pytest.fixture
def env(prefect_server: str, settings, monkeypatch):
    monkeypatch.setenv("PODIUM_PREFECT__API_URL", prefect_server)
    get_settings.cache_clear()
    yield Lake.from_settings(get_settings())
    get_settings.cache_clear()


def _wait(condition, what: str, timeout_s: float = 90) -> Any:
    return wait_for(condition, what, timeout_s, step_s=0.3)


def _review_until_paused(
    event: str, *, limit: int, wait_s: float
) -> tuple[threading.Thread, list[Any], str, dict]:
    """Run review-tags for `event` in a thread until it pauses for the form: (the thread, the
    list its result or error lands in, the run id, the form's schema)."""
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(review_tags(event_id=event, limit=limit, timeout_s=120))
        except BaseException as error:
            results.append(error)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()

    def paused() -> str | None:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type={"any_": ["PAUSED"]}))
            )
        return next((str(r.id) for r in runs if r.parameters.get("event_id") == event), None)

    run_id = _wait(paused, "the review-tags run to pause", timeout_s=wait_s)
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run_id)).state
        base = f"paused-{state.state_details.pause_key}"
        schema = json.loads(client.read_flow_run_input(UUID(run_id), f"{base}-schema"))
    return thread, results, run_id, schema


def test_the_form_lists_the_least_certain_tags_and_applies_the_answer(env) -> None:
    lake = env
    event = f"conf-{uuid.uuid4().hex[:6]}"
    talks = [
        Talk(talk_id=f"{event}-a", title="Pulumi in Python", speakers=["A"], event_ids=[event]),
        Talk(talk_id=f"{event}-b", title="Flask at scale", speakers=["B"], event_ids=[event]),
    ]
    record_talks(lake=lake, talks=talks)
    now = datetime.now(UTC)
    rows = [(talks[0], "flask", 0.41), (talks[0], "cloud", 0.9), (talks[1], "flask", 0.6)]
    for talk in talks:
        write_tags(
            lake=lake,
            talk_ids=[talk.talk_id],
            assignments=[
                TagAssignment(
                    talk_id=t.talk_id, tag=tag, score=score, source="model", model="m",
                    content_hash=t.content_hash, tagged_at=now,
                )
                for t, tag, score in rows
                if t is talk
            ],
        )  # fmt: skip
    thread, results, run_id, schema = _review_until_paused(event, limit=2, wait_s=90)
    # Least certain first, at most `limit`: flask 0.41 on a, then flask 0.6 on b.
    fields = {k: v for k, v in schema["properties"].items() if re.fullmatch(r"r\d\d", k)}
    assert list(fields) == ["r01", "r02"]
    assert f"{event}-a" in fields["r01"]["title"] and "flask (0.41)" in fields["r01"]["title"]
    assert f"{event}-b" in fields["r02"]["title"]
    assert "organiser" in schema["required"]

    resume_flow_run(
        UUID(run_id),
        run_input={
            "organiser": "Ines",
            "reason": "infra talk",
            "r01": "reject",
            "r02": "accept",
            "add": f"{event}-a: devops",
        },
    )
    thread.join(timeout=90)
    assert not thread.is_alive() and not isinstance(results[0], BaseException), results
    assert results[0]["status"] == "decided" and results[0]["recorded"] == 3
    now_tags = tag_rows(lake=lake, talk_ids=[t.talk_id for t in talks])
    assert set(zip(now_tags.talk_id, now_tags.tag, now_tags.source, strict=True)) == {
        (f"{event}-a", "cloud", "model"),
        (f"{event}-a", "devops", "organiser"),
        (f"{event}-b", "flask", "organiser"),
    }
    decided = feedback_rows(lake=lake)
    assert set(decided.decided_by) == {"Ines"} and set(decided.reason) == {"infra talk"}


def test_the_form_offers_a_new_tag_and_flags_a_duplicate(env) -> None:
    """Untagged talks become a candidate tag in the form; accepting it (renamed) changes the
    vocabulary and tags the talks; a resubmitted talk is listed with its similarity."""
    from podium.demo import SAMPLE_DIR
    from podium.settings import Settings
    from podium.tagging import build_tagger
    from podium.use_cases.enrich import EnrichResources, enrich_pending
    from podium.vocabulary import load_vocabulary, read_vocabulary_file, save_vocabulary

    lake = env
    event = f"conf-{uuid.uuid4().hex[:6]}"
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    texts = [
        ("Making music with Python", "Synthesisers, MIDI and generating melodies in code."),
        ("Audio processing for musicians", "Filters, FFTs and MIDI instruments from Python."),
        ("Live coding music", "Performing electronic music live with MIDI controllers."),
        ("Testing with pytest fixtures", "Fixtures, parametrize and mocks in pytest suites."),
    ]
    talks = talks_of(texts, f"{event}-", event)
    copy = talks[3].model_copy(update={"talk_id": f"{event}-3b", "speakers": ["S9"]})
    record_talks(lake=lake, talks=[*talks, copy])
    tagger = build_tagger(Settings().tagging, device="cpu")
    built = dataclasses.replace(
        EnrichResources.cold(get_settings(), lake=lake), load_tagger=lambda exclude: (tagger, None)
    )
    enrich_pending(built, stages=("tags",))
    before = load_vocabulary(lake=lake).names
    thread, results, run_id, schema = _review_until_paused(event, limit=5, wait_s=180)
    assert "n01" in schema["properties"] and "n01_name" in schema["properties"]
    assert "new tag" in schema["properties"]["n01"]["title"]
    assert f"{event}-0" in schema["properties"]["n01"]["title"]
    assert load_vocabulary(lake=lake).names == before  # offered, not applied

    resume_flow_run(
        UUID(run_id), run_input={"organiser": "Ines", "n01": "accept", "n01_name": "Music"}
    )
    thread.join(timeout=120)
    assert not thread.is_alive() and not isinstance(results[0], BaseException), results
    out = results[0]
    assert out["status"] == "decided" and out["accepted_tags"] == ["music"]
    assert [(d["first"], d["second"]) for d in out["duplicates"]] == [(f"{event}-3", f"{event}-3b")]
    assert load_vocabulary(lake=lake).names == [*before, "music"]
    rows = tag_rows(lake=lake, talk_ids=[t.talk_id for t in talks[:3]])
    assert set(zip(rows.talk_id, rows.tag, rows.source, strict=True)) >= {
        (t.talk_id, "music", "organiser") for t in talks[:3]
    }
