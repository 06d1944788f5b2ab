"""The tag-eval flow: evaluate the tagger on a labelled file and publish the figures."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.run_names import tag_eval_run_name
from podium.devices import resolve_device
from podium.embedding_cache import EmbeddingCache
from tasks.resources import flow_resources
from tasks.tagging import evaluate_tagger, load_tagger, publish_eval


@flow(name="tag-eval", flow_run_name=tag_eval_run_name)
def tag_eval(
    file: str,
    history: str | None = None,
    extra_history: str | None = None,
    folds: int = 5,
    inner_folds: int = 4,
    candidates: str = "default",
    new_vocabulary: int = 0,
    languages: str | None = None,
) -> dict[str, Any]:
    """Evaluate tagging as `podium tags eval` does and publish a markdown and a table artifact.

    Without `history`, the nested series-disjoint CV: the configuration is chosen inside each
    outer training part, so the outer score is the honest one; the inner (selection) score is
    shown beside it.

    Args:
        file: labelled talks (tagging-eval.json format or JSONL).
        history: a labelled file whose talks serve as history; FILE is then evaluated whole.
        extra_history: more history with free-form tags (e.g. talks.jsonl.gz).
        folds: outer folds (whole conference series) when no history file is given.
        inner_folds: inner folds that choose the configuration.
        candidates: `default` (choose among the built-in configurations) or `settings`
            (only the configured settings, no choice).
        new_vocabulary: also hold tags out of history in this many groups; 0 skips it.
        languages: JSONL(.gz) with `id` and `language` per talk, for per-language figures.
    """
    resources = flow_resources()
    settings = resources.settings
    # Embeddings of labelled files are cached in the lake, so re-running costs seconds.
    tagger = load_tagger(
        settings=settings.tagging,
        device=resolve_device(settings.tagging.device),
        cache=EmbeddingCache(resources.lake),
    )
    report = evaluate_tagger(
        tagger=tagger,
        file=file,
        history_file=history,
        extra_history=extra_history,
        folds=folds,
        inner_folds=inner_folds,
        candidates=candidates,
        new_vocabulary=new_vocabulary,
        languages=languages,
    )
    publish_eval(report=report)
    return report.as_dict()
