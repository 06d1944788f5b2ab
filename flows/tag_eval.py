"""The tag-eval flow: evaluate the tagger on a labelled file and publish the figures."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.run_names import tag_eval_run_name
from podium.devices import resolve_device
from podium.embedding_cache import EmbeddingCache
from podium.lake import Lake
from podium.settings import get_settings
from tasks.tagging import evaluate_tagger, load_tagger, publish_eval


@flow(name="tag-eval", flow_run_name=tag_eval_run_name)
def tag_eval(
    file: str,
    history: str | None = None,
    extra_history: str | None = None,
    folds: int = 5,
) -> dict[str, Any]:
    """Evaluate tagging (see `podium tags eval`) and publish a markdown and a table artifact.

    Args:
        file: labelled talks (tagging-eval.json format or JSONL).
        history: a labelled file whose talks serve as history; FILE is then evaluated whole.
        extra_history: more history with free-form tags (e.g. talks.jsonl.gz).
        folds: event-disjoint folds when no history file is given.
    """
    settings = get_settings()
    tagger = load_tagger(settings=settings.tagging, device=resolve_device(settings.tagging.device))
    # Embeddings of labelled files are cached in the lake, so re-running costs seconds.
    tagger.cache = EmbeddingCache(Lake.from_settings(settings))
    report = evaluate_tagger(
        tagger=tagger, file=file, history_file=history, extra_history=extra_history, folds=folds
    )
    publish_eval(report=report)
    return report.as_dict()
