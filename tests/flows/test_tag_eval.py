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


def _artifacts(api_url: str, flow_run_id: object) -> dict[str, dict]:
    """The keyed artifacts of one flow run (keys repeat across runs)."""
    response = httpx.post(
        f"{api_url}/artifacts/filter",
        json={"limit": 200, "artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}},
    )
    response.raise_for_status()
    return {a["key"]: a for a in response.json() if a.get("key")}


def test_tag_eval_flow_runs_the_nested_cv_and_publishes_artifacts(
    prefect_server: str, settings, tmp_path
) -> None:
    talks = [
        {
            "id": f"{tag[:3]}-{i}",
            "event": f"conf{i % 3}",
            "title": title,
            "tags": [tag],
            "language": "deu" if i == 0 else "eng",
        }
        for tag, titles in TOPICS.items()
        for i, title in enumerate(titles)
    ]
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"vocabulary": list(TOPICS), "talks": talks}))
    state = tag_eval(file=str(path), folds=3, inner_folds=2, return_state=True)
    result = state.result()
    # The same evaluation as `podium tags eval`: nested, every outer fold chose a candidate.
    assert result["talks"] == 18 and 0 <= result["micro_f1"] <= 1
    assert result["mode"].startswith("nested series-disjoint 3x2-fold, 8 candidates")
    assert len(result["folds"]) == 3 and all(f["chosen"] for f in result["folds"])
    artifacts = _artifacts(prefect_server, state.state_details.flow_run_id)
    text = artifacts["tag-eval"]["data"]
    inner = result["outer"]["inner_micro_f1"]
    outer = result["outer"]["micro_f1"]
    # Outer (pooled, mean ± std) beside the inner (selection) score, with the run's figures.
    assert "| metric | outer (pooled) | outer mean ± std | inner mean ± std |" in text
    assert (
        f"| micro F1 | {result['micro_f1']:.3f} | {outer['mean']:.3f} ± {outer['std']:.3f} "
        f"| {inner['mean']:.3f} ± {inner['std']:.3f} |"
    ) in text
    for fold in result["folds"]:  # what each outer fold chose, its inner and outer F1
        assert (
            f"| {fold['fold'] + 1} | {fold['talks']} | 1 | {fold['chosen']} "
            f"| {fold['inner_micro_f1']:.3f} | {fold['outer_micro_f1']:.3f} |"
        ) in text
    assert "### Per language" in text and "| deu | 3 |" in text and "| eng | 15 |" in text
    per_tag = json.loads(artifacts["tag-eval-per-tag"]["data"])
    assert [row["tag"] for row in per_tag] == sorted(TOPICS)  # equal support: by name
    assert all(row["support"] == 6 for row in per_tag)
    assert per_tag[0]["f1"] == round(result["per_tag"][per_tag[0]["tag"]]["f1"], 4)


def test_tag_eval_flow_against_a_history_file(prefect_server: str, settings, tmp_path) -> None:
    talks = [
        {"id": f"{tag[:3]}-{i}", "event": f"conf{i % 3}", "title": title, "tags": [tag]}
        for tag, titles in TOPICS.items()
        for i, title in enumerate(titles)
    ]
    path, old = tmp_path / "eval.json", tmp_path / "old.json"
    path.write_text(json.dumps({"vocabulary": list(TOPICS), "talks": talks[::2]}))
    old.write_text(json.dumps({"vocabulary": list(TOPICS), "talks": talks[1::2]}))
    state = tag_eval(file=str(path), history=str(old), return_state=True)
    result = state.result()
    assert result["talks"] == 9 and result["mode"].startswith("history")
    artifacts = _artifacts(prefect_server, state.state_details.flow_run_id)
    assert f"| micro F1 | {result['micro_f1']:.3f} |" in artifacts["tag-eval"]["data"]
    per_tag = json.loads(artifacts["tag-eval-per-tag"]["data"])
    assert sum(row["support"] for row in per_tag) == 9


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
