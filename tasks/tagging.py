"""Prefect tasks around `podium.tagging`: evaluate, publish the evaluation, retag in batches.

Models, lakes and histories are passed in and never part of a cache key (cache_policy=NONE).
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from podium.embedding_cache import EmbeddingCache
from podium.lake import Lake
from podium.models import Talk, Vocabulary
from podium.tagging import Tagger, TaggingSettings, TagHistory, build_tagger, load_history
from podium.tagging.evaluate import (
    EvalInputError,
    EvalReport,
    history_from_labelled,
    load_labelled,
    with_languages,
)
from podium.tagging.nested import NestedReport, evaluate_labelled
from podium.tagging.report import markdown as report_markdown
from podium.tagging.report import per_tag_records
from podium.tagging.retag import retag_batch, stale_talks


@task(name="load-tagger", cache_policy=NONE)
def load_tagger(
    *, settings: TaggingSettings, device: str, cache: EmbeddingCache | None = None
) -> Tagger:
    """Load the tagger's models once for the whole flow run (talk vectors through `cache`)."""
    return build_tagger(settings, device=device, cache=cache)


@task(name="load-tag-history", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def load_tag_history(*, lake: Lake, tagger: Tagger) -> TagHistory:
    """The lake's tagged talks, embedded through the lake's embedding cache."""
    return load_history(lake=lake, encoder=tagger.encoder)


@task(name="evaluate-tagger", cache_policy=NONE)
def evaluate_tagger(
    *,
    tagger: Tagger,
    file: str,
    history_file: str | None,
    extra_history: str | None,
    folds: int,
    inner_folds: int = 4,
    candidates: str = "default",
    new_vocabulary: int = 0,
    languages: str | None = None,
) -> NestedReport | EvalReport:
    """Nested series-disjoint CV on `file`, or `history_file` -> `file` (as `podium tags eval`).

    Raises:
        EvalInputError: unreadable files, bad options, too few series for the folds.
    """
    if candidates not in ("default", "settings"):
        raise EvalInputError("candidates must be 'default' or 'settings'")
    if new_vocabulary < 0:
        raise EvalInputError("new_vocabulary must be 0 or more")
    data = load_labelled(file)
    if languages:
        data = with_languages(data, languages)
    extra = None
    if extra_history:
        raw = load_labelled(extra_history, vocabulary=data.vocabulary)
        extra = history_from_labelled(tagger, raw, free_form=True)
    history = load_labelled(history_file, vocabulary=data.vocabulary) if history_file else None
    return evaluate_labelled(
        tagger,
        data,
        history=history,
        extra=extra,
        folds=folds,
        inner_folds=inner_folds,
        candidates=candidates,
        new_vocabulary_groups=new_vocabulary,
        on_progress=get_run_logger().info,
    )


@task(name="publish-tag-eval", cache_policy=NONE)
def publish_eval(*, report: NestedReport | EvalReport, key: str = "tag-eval") -> dict[str, str]:
    """A markdown summary (outer beside inner figures, folds, languages) and a per-tag table."""
    markdown = create_markdown_artifact(
        key=key, markdown=report_markdown(report), description=f"Tagging evaluation ({report.mode})"
    )
    per_tag = report.pooled["per_tag"] if isinstance(report, NestedReport) else report.per_tag
    table = create_table_artifact(
        key=f"{key}-per-tag",
        table=per_tag_records(per_tag),
        description="Per-tag support, precision, recall and F1"
        + (" (outer folds)" if isinstance(report, NestedReport) else ""),
    )
    figures = report.pooled if isinstance(report, NestedReport) else report.as_dict()
    get_run_logger().info(
        "micro F1 %.3f, precision@1 %.3f, %.1f talks/s",
        figures["micro_f1"],
        figures["precision_at_1"],
        report.talks_per_second,
    )
    return {"markdown": str(markdown), "table": str(table)}


@task(name="find-stale-talks", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def find_stale_talks(
    *, lake: Lake, tagger: Tagger, vocabulary: Vocabulary, force: bool
) -> tuple[list[Talk], int]:
    """Talks whose model tags predate the current tagger, vocabulary or content."""
    return stale_talks(lake=lake, model=tagger.assignment_model(vocabulary), force=force)


# `retag_batch` itself, as a task.
retag_talks = task(
    name="retag-batch",
    retries=2,
    retry_delay_seconds=5,
    cache_policy=NONE,
    description="Tag one batch, write it (organiser tags kept) and checkpoint it; "
    "returns rows written.",
)(retag_batch)


def summary(values: dict[str, Any]) -> dict[str, Any]:
    """Log a flow's summary and hand it back (so flows stay one-liners)."""
    get_run_logger().info("%s", values)
    return values
