"""Evaluation: folds, metrics, file parsing and the `eval` CLI. Folds, metrics and parsing are
pure; the CLI runs for real (Typer's runner, real packaged MiniLM) on a small labelled file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from podium.embedding_cache import TABLE
from podium.lake import Lake
from podium.tagging.cli import app
from podium.tagging.evaluate import EvalInputError, event_folds, load_labelled, metrics

TOPICS = {
    "testing": [
        "Testing web apps with pytest",
        "Mocking network calls in unit tests",
        "Property-based testing",
        "Test fixtures that scale",
        "Fuzzing Python parsers",
        "Continuous integration for test suites",
    ],
    "databases": [
        "PostgreSQL indexes explained",
        "SQLAlchemy ORM patterns",
        "Schema migrations",
        "Query planning in SQL databases",
        "Transactions and isolation levels",
        "Storing JSON in Postgres",
    ],
    "machine learning": [
        "Classifiers with scikit-learn",
        "Feature engineering for models",
        "Gradient boosted trees",
        "Cross-validation done right",
        "Model evaluation metrics",
        "Training a regression model",
    ],
}


@pytest.fixture
def eval_file(tmp_path):
    talks = []
    for tag, titles in TOPICS.items():
        for i, title in enumerate(titles):
            talks.append(
                {
                    "id": f"{tag[:3]}-{i}",
                    "event": f"conf{i % 3}",
                    "title": title,
                    "description": f"A talk: {title.lower()}.",
                    "tags": [tag],
                }
            )
    path = tmp_path / "eval.json"
    path.write_text(
        json.dumps(
            {
                "vocabulary": list(TOPICS),
                "synonyms": {
                    "testing": ["pytest"],
                    "databases": ["sql"],
                    "machine learning": ["ml"],
                },
                "talks": talks,
            }
        )
    )
    return path


def test_event_folds_are_disjoint_balanced_and_deterministic() -> None:
    events = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"] * 2
    folds = event_folds(events, 3)
    for event in set(events):
        assert len({folds[i] for i, e in enumerate(events) if e == event}) == 1
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 2
    assert event_folds(list(reversed(events)), 3)[::-1].tolist() == folds.tolist()
    with pytest.raises(EvalInputError, match="cannot make 9"):
        event_folds(events, 9)


def test_metrics_on_a_known_case() -> None:
    truth = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    predicted = np.array([[1, 1], [0, 0], [1, 1]], dtype=np.float32)
    scores = np.array([[0.9, 0.5], [0.6, 0.1], [0.2, 0.8]])
    m = metrics(scores, predicted, truth, ["a", "b"])
    assert m["micro_precision"] == pytest.approx(3 / 4)
    assert m["micro_recall"] == pytest.approx(3 / 4)
    assert m["precision_at_1"] == pytest.approx(2 / 3)
    assert m["per_tag"]["b"]["recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((1.0 + 2 * 0.5 * 0.5 / 1.0) / 2)


def test_load_labelled_reads_json_and_jsonl(eval_file, tmp_path) -> None:
    data = load_labelled(eval_file)
    assert data.vocabulary.names == list(TOPICS)
    assert len(data.talks) == 18 and all(not t.tags for t in data.talks)  # gold never leaks
    lines = tmp_path / "talks.jsonl"
    lines.write_text(
        "\n".join(
            json.dumps({"id": f"x{i}", "event": "e", "title": "T", "tags": ["SQL", "misc"]})
            for i in range(2)
        )
    )
    raw = load_labelled(lines, vocabulary=data.vocabulary)
    assert raw.gold == [["databases"], ["databases"]] and raw.own_tags[0] == ["sql", "misc"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("{not json", "not valid JSON"),
        ('{"vocabulary": [], "talks": []}', "non-empty list"),
        ('{"vocabulary": ["a"], "talks": [{"id": "x"}]}', "lacks an id or a title"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(EvalInputError, match=message):
        load_labelled(path)
    result = CliRunner().invoke(app, ["eval", str(path), "--cache-dir", "none"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error:") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_file_is_a_one_line_error() -> None:
    result = CliRunner().invoke(app, ["eval", "/nonexistent/eval.json"])
    assert result.exit_code == 1 and "no such file" in result.output


def test_eval_cli_json_kfold_and_history(eval_file, tmp_path) -> None:
    runner = CliRunner()
    cache = tmp_path / "cache"
    result = runner.invoke(
        app, ["eval", str(eval_file), "--folds", "3", "--json", "--cache-dir", str(cache)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("micro_f1", "macro_f1", "precision_at_1", "talks_per_second"):
        assert key in report
    assert report["talks"] == 18
    assert report["mode"].startswith("nested series-disjoint 3x4-fold")
    assert report["precision_at_1"] >= 0.8  # three well-separated topics
    assert len(report["folds"]) == 3 and all(f["chosen"] for f in report["folds"])
    assert set(report["outer"]) >= {"micro_f1", "precision_at_1", "inner_micro_f1"}
    assert report["per_tag"]["testing"]["support"] == 6

    history = tmp_path / "history.json"
    document = json.loads(eval_file.read_text())
    for t in document["talks"]:
        t["id"], t["event"] = "old-" + t["id"], "old-" + t["event"]
    history.write_text(json.dumps(document))
    table = runner.invoke(
        app, ["eval", str(eval_file), "--history", str(history), "--cache-dir", str(cache)]
    )
    assert table.exit_code == 0, table.output
    assert "micro F1" in table.output and "precision@1" in table.output
    assert "history (18 talks)" in table.output
    # Embeddings are cached in the cache folder's embeddings table for the next run, once per
    # text: the history's talks differ from the file's only in ids and events.
    assert len(Lake(str(cache)).read(TABLE)) == 18


def test_kfold_never_lets_a_test_event_into_the_history(eval_file, encoder) -> None:
    from podium.tagging import Tagger, TaggingSettings
    from podium.tagging.evaluate import evaluate_folds, history_from_labelled

    class Recording(Tagger):
        def score(self, talks, *, vocabulary, history=None, vectors=None):
            calls.append(({t.talk_id for t in talks}, set(history.groups), set(history.talk_ids)))
            return super().score(talks, vocabulary=vocabulary, history=history, vectors=vectors)

    calls: list[tuple[set[str], set[str], set[str]]] = []
    tagger = Recording(encoder=encoder, settings=TaggingSettings())
    data = load_labelled(eval_file)
    extra = history_from_labelled(tagger, data, free_form=True)  # same talks, same events
    report = evaluate_folds(tagger, data, folds=3, extra=extra)
    assert len(calls) == 3 and report.talks == 18
    event_of = {t.talk_id: e for t, e in zip(data.talks, data.events, strict=True)}
    for test_ids, history_groups, history_ids in calls:
        assert not test_ids & history_ids
        assert not {event_of[i] for i in test_ids} & history_groups


def test_a_talk_with_a_bad_id_is_rejected_with_its_reason_not_the_file(eval_file, tmp_path) -> None:
    data = load_labelled(eval_file)
    lines = tmp_path / "talks.jsonl"
    rows = [{"id": "ok-1", "event": "e", "title": "T", "tags": ["sql"]}]
    rows.append({"id": "pycon/a talk", "event": "e", "title": "T", "tags": ["sql"]})
    lines.write_text("\n".join(json.dumps(r) for r in rows))
    raw = load_labelled(lines, vocabulary=data.vocabulary)
    assert [t.talk_id for t in raw.talks] == ["ok-1"]
    assert len(raw.rejected) == 1 and "pycon/a talk" in raw.rejected[0]
    lines.write_text(json.dumps(rows[1]))
    with pytest.raises(EvalInputError, match="no talks.*first rejected"):
        load_labelled(lines, vocabulary=data.vocabulary)
