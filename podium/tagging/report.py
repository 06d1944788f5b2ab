"""Evaluation reports as plain tables: one layout for the CLI printer and the Prefect artifacts.

A report (nested or against a history) becomes a headline, titled sections of string cells and
closing notes; `markdown` renders them for the Prefect UI, the CLI renders the same sections as
rich tables, and `per_tag_records` gives the rows of the per-tag table artifact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podium.tagging.evaluate import EvalReport
from podium.tagging.nested import NestedReport


@dataclass(frozen=True)
class Section:
    """One table: a title ("" for none), column names and rows of formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Layout:
    """What a report shows, in order: a headline, its tables, then one-line notes."""

    headline: str
    sections: list[Section]
    notes: list[str]


def _f(value: float) -> str:
    return f"{value:.3f}"


def per_tag_records(per_tag: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Per-tag rows, most supported first (the table artifact; support is a count)."""
    return [
        {
            "tag": tag,
            "support": int(row["support"]),
            "precision": round(row["precision"], 4),
            "recall": round(row["recall"], 4),
            "f1": round(row["f1"], 4),
        }
        for tag, row in sorted(per_tag.items(), key=lambda kv: (-kv[1]["support"], kv[0]))
    ]


def _per_tag_section(title: str, per_tag: dict[str, dict[str, float]]) -> Section:
    rows = [
        [r["tag"], str(r["support"]), _f(r["precision"]), _f(r["recall"]), _f(r["f1"])]
        for r in per_tag_records(per_tag)
    ]
    return Section(title, ["tag", "support", "precision", "recall", "F1"], rows)


def nested_layout(report: NestedReport) -> Layout:
    """Outer (pooled and mean ± std) beside inner (selection) figures, folds, languages, tags."""
    pooled = report.pooled

    def spread(key: str) -> str:
        mean, std = report.spread[key]
        return f"{mean:.3f} ± {std:.3f}"

    summary = Section(
        "",
        ["metric", "outer (pooled)", "outer mean ± std", "inner mean ± std"],
        [
            ["micro F1", _f(pooled["micro_f1"]), spread("micro_f1"), spread("inner_micro_f1")],
            [
                "precision@1",
                _f(pooled["precision_at_1"]),
                spread("precision_at_1"),
                spread("inner_precision_at_1"),
            ],
            *(
                [name, _f(pooled[key]), "", ""]
                for name, key in (
                    ("micro precision", "micro_precision"),
                    ("micro recall", "micro_recall"),
                    ("macro F1", "macro_f1"),
                )
            ),
            ["talks/s", f"{report.talks_per_second:.1f}", "", ""],
        ],
    )
    folds = Section(
        "Outer folds (each chose its configuration on its training part)",
        ["fold", "talks", "series", "chosen", "inner F1", "outer F1", "outer P@1"],
        [
            [
                str(f.fold + 1),
                str(f.talks),
                str(f.series),
                f.chosen,
                _f(f.inner["micro_f1"]),
                _f(f.outer["micro_f1"]),
                _f(f.outer["precision_at_1"]),
            ]
            for f in report.folds
        ],
    )
    sections = [summary, folds]
    if report.per_language:
        sections.append(
            Section(
                "Per language",
                ["language", "talks", "micro F1", "precision@1"],
                [
                    [name, str(row["talks"]), _f(row["micro_f1"]), _f(row["precision_at_1"])]
                    for name, row in report.per_language.items()
                ],
            )
        )
    sections.append(_per_tag_section("Per tag (outer)", pooled["per_tag"]))
    notes = []
    if report.new_vocabulary:
        nv = report.new_vocabulary
        notes.append(
            f"New vocabulary ({nv['tag_groups']} tag groups held out of history, "
            f"{nv['candidate']}): micro F1 {_f(nv['held_out']['micro_f1'])} on held-out tags, "
            f"{_f(nv['with_history']['micro_f1'])} on the same tags with history"
        )
    notes.append(f"model: {report.model_version}")
    return Layout(f"Tagging evaluation: {report.mode}, {report.talks} talks", sections, notes)


def history_layout(report: EvalReport) -> Layout:
    """Figures of a file scored against a history file, and its per-tag table."""
    summary = Section(
        "",
        ["metric", "value"],
        [
            ["micro precision", _f(report.micro_precision)],
            ["micro recall", _f(report.micro_recall)],
            ["micro F1", _f(report.micro_f1)],
            ["macro F1", _f(report.macro_f1)],
            ["precision@1", _f(report.precision_at_1)],
            ["talks/s", f"{report.talks_per_second:.1f}"],
        ],
    )
    return Layout(
        f"Tagging evaluation: {report.mode}, {report.talks} talks",
        [summary, _per_tag_section("Per tag", report.per_tag)],
        [f"model: {report.model_version}"],
    )


def layout(report: NestedReport | EvalReport) -> Layout:
    """The layout of either kind of report."""
    return nested_layout(report) if isinstance(report, NestedReport) else history_layout(report)


def _cell(text: str) -> str:
    # Tag names and candidate labels come from files: keep them from breaking the table.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(report: NestedReport | EvalReport) -> str:
    """The report as markdown (the Prefect artifact): headline, tables, notes."""
    shown = layout(report)
    lines = [f"## {_cell(shown.headline)}", ""]
    for section in shown.sections:
        if section.title:
            lines += [f"### {section.title}", ""]
        lines.append("| " + " | ".join(section.columns) + " |")
        lines.append("|" + "---|" * len(section.columns))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
        lines.append("")
    lines += [_cell(note) + "  " for note in shown.notes]
    return "\n".join(lines).rstrip() + "\n"
