"""The loop end to end: an organiser rejects a model tag and adds one through the signed route,
and the directory follows: `talk_tags`, tag counts, recommendations, and the next similar talk.

Real: the gateway over HTTP (its Prefect server unreachable: the correction is in force and the
event deferred, as the route test shows it reaching a real server), the Delta lake, the sample
talks, events and vocabulary, the packaged MiniLM tagger with the lake's history
(`load_history`), the enrich path's tag write (`tag_batch`), the counting and recommendation
use cases the triggers run.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from podium.events import EventPoster
from podium.gateway import running_gateway, signed_headers
from podium.ingest import read_talks, record_events
from podium.lake import Lake
from podium.models import TagAssignment, Talk
from podium.recommend.serving import lookup_recommendations
from podium.recording import record_talks
from podium.resources import Resources
from podium.sources import parse_events
from podium.tag_counts import read_tag_counts
from podium.tagging import TaggingSettings, load_history
from podium.tagging.tagger import Tagger
from podium.talk_tags import tag_rows, write_tags
from podium.use_cases.aggregate import aggregate
from podium.use_cases.enrich import tag_batch
from podium.use_cases.recommend import build_recommendations
from podium.vocabulary import read_vocabulary_file, save_vocabulary
from tests.prefect_server import free_port

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "data" / "sample"
SECRET = "loop-secret"
# The German Pulumi talk again, as a second conference's submission would word it.
NEXT = Talk(
    talk_id="t-next",
    title="Infrastruktur als Code mit Pulumi und Python in der Praxis",
    description=(
        "Wie wir unsere Cloud-Infrastruktur mit Pulumi und Python beschreiben, testen und "
        "ausrollen: Stacks, Secrets, Vorschau vor jedem Deployment und was wir nach einem "
        "Jahr im Betrieb anders machen würden."
    ),
    speakers=["Lena Vogt"],
    event_ids=["opsfield-2027"],
)


def _count(lake: Lake, tag: str) -> int:
    counts = read_tag_counts(lake=lake)
    hit = counts[counts.tag == tag]
    return int(hit.talks.iloc[0]) if len(hit) else 0


def test_reject_and_add_through_the_route_and_the_directory_follows(settings, encoder) -> None:
    settings = settings.model_copy(
        update={
            "gateway": settings.gateway.model_copy(update={"secret": SECRET}),
            # t-032 is itself at opsfield-2027, the event whose tags include devops.
            "recommend": settings.recommend.model_copy(update={"exclude_talks_at_event": False}),
        }
    )
    lake = Lake.from_settings(settings)
    raw = json.loads((SAMPLE / "talks.json").read_text(encoding="utf-8"))
    record_talks(lake=lake, talks=[Talk.model_validate(t) for t in raw])
    events = parse_events(json.loads((SAMPLE / "events.json").read_text(encoding="utf-8")))
    record_events(lake=lake, events=events.events)
    vocabulary = read_vocabulary_file(SAMPLE / "vocabulary.json")
    save_vocabulary(lake=lake, vocabulary=vocabulary)
    resources = Resources(settings=settings, lake=lake)
    tagger = Tagger(encoder=encoder, settings=TaggingSettings())
    (pulumi,) = read_talks(lake=lake, talk_ids=["t-032"])
    # The model tag the issue saw on the German Pulumi talk.
    write_tags(
        lake=lake,
        talk_ids=["t-032"],
        assignments=[
            TagAssignment(
                talk_id="t-032", tag="flask", score=0.5, source="model", model="old",
                content_hash=pulumi.content_hash, tagged_at="2027-01-01T00:00:00Z",
            )
        ],
    )  # fmt: skip
    aggregate(resources, full=True)
    build_recommendations(resources, encoder=encoder)
    flask_before, devops_before = _count(lake, "flask"), _count(lake, "devops")
    recs = lookup_recommendations(lake=lake, event_id="opsfield-2027")
    mine = recs[recs.talk_id == "t-032"]
    assert not len(mine) or "devops" not in list(mine.matched_tags.iloc[0])
    history_before = load_history(lake=lake, encoder=encoder)
    before = tagger.score([NEXT], vocabulary=vocabulary, history=history_before)
    column = vocabulary.names.index("devops")

    body = json.dumps(
        {
            "decisions": [
                {"talk_id": "t-032", "tag": "flask", "decision": "reject",
                 "decided_by": "Ines", "reason": "an infrastructure talk"},
                {"talk_id": "t-032", "tag": "devops", "decision": "add", "decided_by": "Ines"},
            ]
        }
    ).encode()  # fmt: skip
    dead = EventPoster(api_url=f"http://127.0.0.1:{free_port()}/api", retries=0, backoff_s=0.01)
    with running_gateway(settings, lake=lake, poster=dead, port=0) as url:
        answer = httpx.post(url + "/hooks/tags", content=body, headers=signed_headers(body, SECRET))
    assert answer.status_code == 202 and answer.json()["recorded"] == 2, answer.text

    # talk_tags: the organiser's tag on, the rejected one off, and a model run keeps it so.
    rows = tag_rows(lake=lake, talk_ids=["t-032"])
    assert dict(zip(rows.tag, rows.source, strict=True)) == {"devops": "organiser"}
    history = load_history(lake=lake, encoder=encoder, exclude_talk_ids={"t-032"})
    tag_batch(lake=lake, tagger=tagger, history=history, vocabulary=vocabulary, talks=[pulumi])
    tags = tag_rows(lake=lake, talk_ids=["t-032"])
    assert "flask" not in set(tags.tag) and ("devops", "organiser") in set(
        zip(tags.tag, tags.source, strict=True)
    )

    # Counts and recommendations follow (what aggregate-tags and build-recommendations run).
    aggregate(resources)
    assert _count(lake, "flask") == flask_before - 1
    assert _count(lake, "devops") == devops_before + 1
    build_recommendations(resources, event_ids=["opsfield-2027"], encoder=encoder)
    recs = lookup_recommendations(lake=lake, event_id="opsfield-2027")
    mine = recs[recs.talk_id == "t-032"]
    assert len(mine) and "devops" in list(mine.matched_tags.iloc[0])

    # The next similar talk: the organiser's tag is now history it learns from.
    history_after = load_history(lake=lake, encoder=encoder)
    assert "t-032" in history_after.talk_ids
    after = tagger.score([NEXT], vocabulary=vocabulary, history=history_after)
    record_talks(lake=lake, talks=[NEXT])
    outcome = tag_batch(
        lake=lake, tagger=tagger, history=history_after, vocabulary=vocabulary, talks=[NEXT]
    )
    assigned = {a.tag for a in outcome.rows}
    print(
        f"devops on the next talk: {before.scores[0, column]:.3f} -> {after.scores[0, column]:.3f}"
        f" (threshold {float(after.thresholds.reshape(-1, len(vocabulary.tags))[0, column]):.3f});"
        f" assigned {sorted(assigned)}"
    )
    assert after.scores[0, column] > before.scores[0, column]
    assert "devops" in assigned and "flask" not in assigned
