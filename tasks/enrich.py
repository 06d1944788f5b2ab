"""Prefect around `podium.use_cases.enrich`: each model load and batch shows as a task.

The loop itself (claim, batch, record, drain) lives in the core; these wrappers only add
Prefect's task runs, retries for model loads and the run logger. Models and the lake are
passed in, never part of a cache key (cache_policy=NONE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from podium.use_cases.enrich import EnrichResources

# A model load that fails (a busy hub mirror, a flaky mount) is worth retrying; a batch is
# not: its failures are per talk and recorded in the ledger.
_RETRIED = {"load-tagger": 2, "load-image-backend": 2}


def prefect_step(name: str, action: Callable[[], Any]) -> Any:
    """Run one step of the use-case as a Prefect task named `name`."""
    retries = _RETRIED.get(name, 0)
    return task(name=name, cache_policy=NONE, retries=retries, retry_delay_seconds=5)(action)()


def enrich_resources(settings: Any) -> EnrichResources:
    """The real lake and model loaders from settings, each step run as a Prefect task."""
    resources = EnrichResources.from_settings(settings)
    resources.step = prefect_step
    return resources


def warm_enrich_resources(settings: Any) -> EnrichResources:
    """Like `enrich_resources`, with the models and the history this process keeps warm.

    The tagger stays loaded across runs (`warm_models`), and so does its neighbour history
    (`podium.warm_history`): a run takes the published snapshot as it is (the executor
    refreshes it between runs, by what changed, and warms the calibration on it first), so a
    run neither re-reads nor re-encodes the history, nor refits the tagger.
    """
    from podium import warm_models

    resources = enrich_resources(settings)
    lake = resources.lake

    def tagger(exclude: set[str]) -> tuple[Any, Any]:
        model, _ = warm_models.tagger(settings)
        encoder = getattr(model, "encoder", None)
        if encoder is None:
            return model, None
        return model, warm_models.history(settings, encoder, lake).current(exclude)

    resources.load_tagger = tagger
    resources.load_image_backend = lambda: warm_models.image_backend(settings)[0]
    return resources
