"""Prefect around `podium.use_cases.enrich`: each model load and batch shows as a task.

The loop itself (claim, batch, record, drain) lives in the core; these wrappers only give it
the process's resources (`tasks.resources.flow_resources`: one lake, steps as Prefect tasks
with the model loads' retries) and, on the warm path, the models this process keeps loaded.
Models and the lake are never part of a cache key (cache_policy=NONE).
"""

from __future__ import annotations

from typing import Any

from podium.resources import Resources
from podium.use_cases.enrich import EnrichResources
from tasks.resources import flow_resources


def enrich_resources(resources: Resources | None = None) -> EnrichResources:
    """The enrich view of the process's resources (default: `flow_resources()`): its lake and
    settings, models loaded when first used, each step run as a Prefect task."""
    return (resources or flow_resources()).enrich()


def warm_enrich_resources(resources: Resources | None = None) -> EnrichResources:
    """Like `enrich_resources`, with the models and the history this process keeps warm.

    The tagger stays loaded across runs (`warm_models`), and so does its neighbour history
    (`podium.warm_history`, on the process's lake): a run takes the published snapshot as it
    is (the executor refreshes it between runs, by what changed, and warms the calibration on
    it first), so a run neither re-reads nor re-encodes the history, nor refits the tagger.
    """
    from podium import warm_models

    view = enrich_resources(resources)
    settings, lake = view.settings, view.lake

    def tagger(exclude: set[str]) -> tuple[Any, Any]:
        model, _ = warm_models.tagger(settings)
        encoder = getattr(model, "encoder", None)
        if encoder is None:
            return model, None
        return model, warm_models.history(settings, encoder, lake).current(exclude)

    view.load_tagger = tagger
    view.load_image_backend = lambda: warm_models.image_backend(settings)[0]
    return view
