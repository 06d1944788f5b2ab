"""review-tags against a real Prefect server: the run pauses with one row per suggestion, the
organiser's answer (given as the UI posts it, through `resume_flow_run`) is recorded and
applied. Real: the Prefect server (the session's), the Delta lake in a temp folder, the flow
in a background thread."""

from __future__ import annotations

import contextvars
import json
import re
import threading
import time
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


@pytest.fixture
def env(prefect_server: str, settings, monkeypatch):
    monkeypatch.setenv("PODIUM_PREFECT__API_URL", prefect_server)
    get_settings.cache_clear()
    yield Lake.from_settings(get_settings())
    get_settings.cache_clear()


def _wait(condition, what: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


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
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(review_tags(event_id=event, limit=2, timeout_s=120))
        except BaseException as error:
            results.append(error)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()

    def paused() -> str | None:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type={"any_": ["PAUSED"]}))
            )
        for r in runs:
            if r.parameters.get("event_id") == event:
                return str(r.id)
        return None

    run_id = _wait(paused, "the review-tags run to pause")
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run_id)).state
        base = f"paused-{state.state_details.pause_key}"
        schema = json.loads(client.read_flow_run_input(UUID(run_id), f"{base}-schema"))
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
