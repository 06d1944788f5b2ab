"""Run names say what a run handles; pure functions over the parameters as Prefect passes them
(a model from a local call, plain JSON from a trigger). Nothing faked."""

from __future__ import annotations

from datetime import UTC, datetime

from flows import run_names as n
from podium.review.models import PushEvent

SHA = "3f9c2a17b0d4e5f60718293a4b5c6d7e8f901234"


def test_review_names_repo_branch_and_short_commit_from_a_model_or_json() -> None:
    push = PushEvent(
        repo="speakers-app", ref="refs/heads/main", before="0" * 40, after=SHA,
        source="github", received_at=datetime.now(UTC),
    )  # fmt: skip
    assert n.name_review(push) == "review · speakers-app@main 3f9c2a1"
    assert n.name_review(push.model_dump(mode="json")) == "review · speakers-app@main 3f9c2a1"
    deleted = {"repo": "r", "ref": "refs/heads/old", "after": "0" * 40}
    assert n.name_review(deleted) == "review · r@old deleted"


def test_names_of_the_other_flows() -> None:
    assert n.name_ingest({"talk_ids": ["a", "b"]}) == "ingest · 2 talks from the gateway"
    assert n.name_ingest({"source": "/data/pyvideo/data/"}) == "ingest · data"
    assert n.name_enrich() == "enrich · pending talks"
    assert n.name_enrich(limit=10) == "enrich · pending talks (up to 10)"
    assert n.name_enrich(48) == "enrich · 48 talks" and n.name_enrich(1) == "enrich · 1 talk"
    assert n.name_enrich(0) == "enrich · nothing pending"
    assert n.name_aggregate(None, True) == "aggregate-tags · full recount"
    assert n.name_aggregate(["t1"], False) == "aggregate-tags · 1 talk"
    assert n.name_aggregate([], False) == "aggregate-tags · changes since last run"
    assert n.name_recommendations(None) == "build-recommendations · all events"
    assert n.name_recommendations(["a", "b", "c"]) == "build-recommendations · 3 events: a, b, …"
    assert n.name_backfill("talks.jsonl.gz") == "backfill · talks.jsonl.gz"
    assert n.name_retag(True, 5) == "retag · every talk (up to 5)"
    assert n.name_tag_eval("e.json", None, 5) == "tag-eval · e.json, 5 folds"
    assert n.name_maintenance(False) == "maintenance · covers"
