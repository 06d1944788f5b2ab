"""Report layout and markdown: pure functions on hand-built reports (no model); the flow task's
option checks."""

from __future__ import annotations

import pytest

from podium.tagging.evaluate import EvalInputError, EvalReport
from podium.tagging.nested import FoldResult, NestedReport
from podium.tagging.report import layout, markdown, per_tag_records

PER_TAG = {
    "web": {"support": 2.0, "precision": 1.0, "recall": 0.5, "f1": 0.6667},
    "a|b": {"support": 5.0, "precision": 0.8, "recall": 0.8, "f1": 0.8},
}


def _nested(**extra) -> NestedReport:
    fold = {"micro_f1": 0.7, "precision_at_1": 0.9}
    return NestedReport(
        mode="nested series-disjoint 2x2-fold, 2 candidates",
        talks=7,
        folds=[
            FoldResult(0, 4, 2, "blend per-tag", {"micro_f1": 0.81, "precision_at_1": 1.0}, fold),
            FoldResult(1, 3, 1, "blend global", {"micro_f1": 0.79, "precision_at_1": 0.9}, fold),
        ],
        pooled={
            "micro_precision": 0.75,
            "micro_recall": 0.65,
            "micro_f1": 0.7,
            "macro_f1": 0.6,
            "precision_at_1": 0.9,
            "per_tag": PER_TAG,
        },
        spread={
            "micro_f1": (0.7, 0.01),
            "precision_at_1": (0.9, 0.0),
            "inner_micro_f1": (0.8, 0.0141),
            "inner_precision_at_1": (0.95, 0.0707),
        },
        per_language={"eng": {"talks": 5, "micro_f1": 0.72, "precision_at_1": 1.0}},
        new_vocabulary=extra.get("new_vocabulary"),
        talks_per_second=123.45,
        model_version="m1",
    )


def test_nested_markdown_puts_inner_beside_outer_and_shows_each_fold() -> None:
    text = markdown(_nested())
    assert text.startswith("## Tagging evaluation: nested series-disjoint 2x2-fold")
    assert "| micro F1 | 0.700 | 0.700 ± 0.010 | 0.800 ± 0.014 |" in text
    assert "| precision@1 | 0.900 | 0.900 ± 0.000 | 0.950 ± 0.071 |" in text
    assert "| 1 | 4 | 2 | blend per-tag | 0.810 | 0.700 | 0.900 |" in text
    assert "| 2 | 3 | 1 | blend global | 0.790 | 0.700 | 0.900 |" in text
    assert "### Per language" in text and "| eng | 5 | 0.720 | 1.000 |" in text
    # A pipe in a tag name is escaped, so the table keeps its columns; most support first.
    assert text.index("| a\\|b | 5 | 0.800 |") < text.index("| web | 2 |")
    assert "model: m1" in text and "New vocabulary" not in text


def test_new_vocabulary_note_and_no_language_section_without_languages() -> None:
    nv = {
        "tag_groups": 2,
        "candidate": "blend global",
        "held_out": {"micro_f1": 0.4},
        "with_history": {"micro_f1": 0.7},
    }
    report = _nested(new_vocabulary=nv)
    report = NestedReport(**{**report.__dict__, "per_language": {}})
    text = markdown(report)
    assert "Per language" not in text
    assert "micro F1 0.400 on held-out tags, 0.700 on the same tags with history" in text


def test_history_layout_and_per_tag_records() -> None:
    report = EvalReport(
        0.8, 0.6, 0.686, 0.6, 1.0, 9, 50.0, PER_TAG, "history (9 talks) -> file", 0, "m2"
    )
    shown = layout(report)
    assert shown.headline == "Tagging evaluation: history (9 talks) -> file, 9 talks"
    assert ["micro F1", "0.686"] in shown.sections[0].rows
    assert markdown(report).startswith("## Tagging evaluation: history (9 talks) -> file")
    assert per_tag_records(PER_TAG) == [
        {"tag": "a|b", "support": 5, "precision": 0.8, "recall": 0.8, "f1": 0.8},
        {"tag": "web", "support": 2, "precision": 1.0, "recall": 0.5, "f1": 0.6667},
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"candidates": "all"}, "candidates must be"), ({"new_vocabulary": -1}, "0 or more")],
)
def test_flow_task_rejects_bad_options_before_loading_anything(options, message) -> None:
    from tasks.tagging import evaluate_tagger

    with pytest.raises(EvalInputError, match=message):
        evaluate_tagger.fn(
            tagger=None,
            file="/nonexistent",
            history_file=None,
            extra_history=None,
            folds=3,
            **options,
        )
