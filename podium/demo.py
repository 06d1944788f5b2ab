"""The demo driver: load the sample directory, post its talks to the gateway signed, and watch
the event-driven pipeline tag them, draw covers and build recommendations.

Plain Python: it talks to the gateway over HTTP and reads the lake; Prefect does the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from podium.enrichment import state_rows
from podium.gateway.signatures import signed_headers
from podium.ingest import record_events
from podium.lake import Lake
from podium.lake.recommendations import read_recommendations
from podium.settings import Settings
from podium.sources import SourceError, parse_events
from podium.vocabulary import read_vocabulary_file, save_vocabulary

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"


@dataclass
class DemoProgress:
    """How far the pipeline got with the demo talks."""

    total: int
    tagged: int
    covered: int
    failed: int
    events_with_recommendations: int
    events: int

    @property
    def enriched(self) -> bool:
        return self.tagged + self.failed >= self.total and self.covered + self.failed >= self.total

    @property
    def done(self) -> bool:
        return self.enriched and self.events_with_recommendations >= self.events


def load_directory(*, lake: Lake, sample_dir: Path = SAMPLE_DIR) -> tuple[list[str], list[str]]:
    """Store the sample vocabulary and events; returns (talk ids, event ids) of the sample."""
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(sample_dir / "vocabulary.json"))
    events = parse_events(json.loads((sample_dir / "events.json").read_text(encoding="utf-8")))
    if events.errors:
        raise SourceError(f"sample events: {events.errors[0]}")
    record_events(lake=lake, events=events.events)
    talks = json.loads((sample_dir / "talks.json").read_text(encoding="utf-8"))
    return [t["talk_id"] for t in talks], [e.event_id for e in events.events]


def post_talks(
    *,
    settings: Settings,
    gateway_url: str,
    talks: list[dict],
    on_posted: Callable[[dict], None] = lambda _: None,
) -> list[dict]:
    """Post each talk to `POST /hooks/talks` as the directory app would: one signed request each."""
    secret = settings.gateway.secret
    answers = []
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        for talk in talks:
            body = json.dumps(talk, ensure_ascii=False).encode()
            response = client.post(
                "/hooks/talks", content=body, headers=signed_headers(body, secret)
            )
            if response.status_code >= 300:
                raise RuntimeError(
                    f"gateway refused {talk.get('talk_id')}: HTTP {response.status_code} "
                    f"{response.text[:200]}"
                )
            answer = response.json()
            answers.append(answer)
            on_posted(answer)
    return answers


def _behind(lake: Lake) -> bool:
    """Whether counts or recommendations may not reflect every tag yet. When the warm refresh
    has caught up (its bookmarks name the current tables), an event whose list it left alone
    is current too, however old its rows; otherwise only rows newer than the last tagging
    count (the cold path rebuilds the events it is told, without a bookmark)."""
    from podium.use_cases.derived import pending

    return pending(lake)


def progress(*, lake: Lake, talk_ids: list[str], event_ids: list[str]) -> DemoProgress:
    """How many demo talks are tagged and covered, and how many events have recommendations
    that reflect the last tagging of a demo talk."""
    state = state_rows(lake=lake, talk_ids=talk_ids)
    done = state[state.status == "done"]
    failed = set(state[state.status == "failed"].talk_id)
    recs = read_recommendations(lake=lake, columns=["event_id", "computed_at"], event_ids=event_ids)
    tagging = state[state.stage == "tags"].updated_at
    if len(tagging) and _behind(lake):
        recs = recs[recs.computed_at >= tagging.max()]
    return DemoProgress(
        total=len(talk_ids),
        tagged=int((done.stage == "tags").sum()),
        covered=int((done.stage == "image").sum()),
        failed=len(failed),
        events_with_recommendations=recs.event_id.nunique(),
        events=len(event_ids),
    )


def wait_for_pipeline(
    *,
    lake: Lake,
    talk_ids: list[str],
    event_ids: list[str],
    timeout_s: float,
    on_progress: Callable[[DemoProgress], None] = lambda _: None,
    check: Callable[[], None] = lambda: None,
) -> DemoProgress:
    """Poll the lake until every demo talk is enriched and every event has recommendations."""
    deadline = time.monotonic() + timeout_s
    while True:
        check()
        state = progress(lake=lake, talk_ids=talk_ids, event_ids=event_ids)
        on_progress(state)
        if state.done:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"pipeline not done after {timeout_s:.0f} s: {state.tagged}/{state.total} tagged, "
                f"{state.covered}/{state.total} covers, {state.events_with_recommendations}/"
                f"{state.events} events with recommendations"
            )
        time.sleep(1.0)
