"""tag-eval and retag flows against a real Prefect server (started by the tests), a real Delta
lake in a temp folder and the real packaged MiniLM. Nothing is faked; the labelled file and the
talks are small hand-written ones."""

from __future__ import annotations

import json

import httpx
import pytest

from flows.retag import retag
from flows.tag_eval import tag_eval
from podium.ingest import talks_to_frame
from podium.lake import Lake
from podium.models import TagDefinition, Talk, Vocabulary
from podium.vocabulary import save_vocabulary
from tests.podium.tagging.conftest import HISTORY, NOW
from tests.podium.tagging.test_evaluate import TOPICS

# A Prefect server plus model loads: over a minute on the shared 2-core machine.
pytestmark = pytest.mark.slow


def _artifacts(api_url: str) -> dict[str, dict]:
    response = httpx.post(f"{api_url}/artifacts/filter", json={"limit": 200})
    response.raise_for_status()
    return {a["key"]: a for a in response.json() if a.get("key")}


def test_tag_eval_flow_publishes_artifacts(prefect_server: str, settings, tmp_path) -> None:
    talks = [
        {"id": f"{tag[:3]}-{i}", "event": f"conf{i % 3}", "title": title, "tags": [tag]}
        for tag, titles in TOPICS.items()
        for i, title in enumerate(titles)
    ]
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"vocabulary": list(TOPICS), "talks": talks}))
    result = tag_eval(file=str(path), folds=3)
    assert result["talks"] == 18 and 0 <= result["micro_f1"] <= 1
    artifacts = _artifacts(prefect_server)
    assert "micro F1" in artifacts["tag-eval"]["data"]
    assert "tag-eval-per-tag" in artifacts
    per_tag = json.loads(artifacts["tag-eval-per-tag"]["data"])
    assert {row["tag"] for row in per_tag} <= set(TOPICS) and per_tag


def test_retag_flow_tags_then_finds_nothing_stale(prefect_server: str, settings) -> None:
    lake = Lake(settings.lake_url)
    talks = [
        Talk(talk_id=i, title=title, description=text, tags=tags, event_ids=[ev])
        for i, ev, title, text, tags in HISTORY
    ]
    talks.append(Talk(talk_id="new", title="Scaling PostgreSQL reads", event_ids=["ev9"]))
    lake.upsert("talks", talks_to_frame(talks, now=NOW))
    save_vocabulary(
        lake=lake,
        vocabulary=Vocabulary(
            tags=[
                TagDefinition(name="testing", synonyms=["pytest"]),
                TagDefinition(name="databases", synonyms=["sql", "postgresql"]),
            ]
        ),
    )
    first = retag(batch_size=3)
    assert first["retagged"] == 8 and first["up_to_date"] == 0
    rows = lake.read("talk_tags")
    assert ((rows.talk_id == "new") & (rows.tag == "databases") & (rows.source == "model")).any()
    assert retag()["retagged"] == 0
