"""Prefect tasks around `podium.tagging`: evaluate, publish the evaluation, retag in batches.

Models, lakes and histories are passed in and never part of a cache key (cache_policy=NONE).
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from podium.lake import Lake
from podium.models import Talk, Vocabulary
from podium.tagging import Tagger, TaggingSettings, TagHistory, build_tagger, load_history
from podium.tagging.evaluate import (
    EvalReport,
    evaluate_against_history,
    evaluate_folds,
    history_from_labelled,
    load_labelled,
)
from podium.tagging.retag import retag_batch, stale_talks


@task(name="load-tagger", cache_policy=NONE)
def load_tagger(*, settings: TaggingSettings, device: str) -> Tagger:
    """Load the tagger's models once for the whole flow run."""
    return build_tagger(settings, device=device)


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
) -> EvalReport:
    """Event-disjoint k-fold on `file`, or `history_file` -> `file` (see `podium tags eval`)."""
    data = load_labelled(file)
    extra = None
    if extra_history:
        raw = load_labelled(extra_history, vocabulary=data.vocabulary)
        extra = history_from_labelled(tagger, raw, free_form=True)
    if history_file:
        old = load_labelled(history_file, vocabulary=data.vocabulary)
        known = history_from_labelled(tagger, old, free_form=False)
        if extra is not None:
            known = TagHistory.concat([known, extra])
        return evaluate_against_history(tagger, data, history=known)
    return evaluate_folds(tagger, data, folds=folds, extra=extra)


@task(name="publish-tag-eval", cache_policy=NONE)
def publish_eval(*, report: EvalReport, key: str = "tag-eval") -> dict[str, str]:
    """A markdown summary and a per-tag table artifact of an evaluation."""
    markdown = create_markdown_artifact(
        key=key, markdown=report.markdown(), description=f"Tagging evaluation ({report.mode})"
    )
    rows = [{"tag": tag, **figures} for tag, figures in report.per_tag.items()]
    table = create_table_artifact(
        key=f"{key}-per-tag", table=rows, description="Per-tag precision, recall and F1"
    )
    get_run_logger().info(
        "micro F1 %.3f, precision@1 %.3f, %.1f talks/s",
        report.micro_f1,
        report.precision_at_1,
        report.talks_per_second,
    )
    return {"markdown": str(markdown), "table": str(table)}


@task(name="find-stale-talks", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def find_stale_talks(
    *, lake: Lake, tagger: Tagger, vocabulary: Vocabulary, force: bool
) -> tuple[list[Talk], int]:
    """Talks whose model tags predate the current tagger, vocabulary or content."""
    return stale_talks(lake=lake, model=tagger.assignment_model(vocabulary), force=force)


@task(name="retag-batch", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def retag_talks(
    *,
    lake: Lake,
    tagger: Tagger,
    vocabulary: Vocabulary,
    history: TagHistory | None,
    talks: list[Talk],
) -> int:
    """Tag one batch, write it (organiser tags kept) and checkpoint it; returns rows written."""
    return retag_batch(
        lake=lake, tagger=tagger, vocabulary=vocabulary, history=history, talks=talks
    )


def summary(values: dict[str, Any]) -> dict[str, Any]:
    """Log a flow's summary and hand it back (so flows stay one-liners)."""
    get_run_logger().info("%s", values)
    return values
