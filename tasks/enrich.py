"""Prefect around `podium.use_cases.enrich`: each model load and batch shows as a task.

The loop itself (claim, batch, record, drain) lives in the core; these wrappers only give it
the process's resources (`tasks.resources.flow_resources`: one lake, steps as Prefect tasks
with the model loads' retries) and, on the warm path, the models this process keeps loaded.
Models and the lake are never part of a cache key (cache_policy=NONE).
"""

from __future__ import annotations

from podium.resources import Resources
from podium.use_cases.enrich import EnrichResources
from tasks.resources import flow_resources


def enrich_resources(resources: Resources | None = None) -> EnrichResources:
    """The enrich view of the process's resources (default: `flow_resources()`): its lake and
    settings, models loaded when first used, each step run as a Prefect task."""
    return (resources or flow_resources()).enrich()


def warm_enrich_resources(resources: Resources | None = None) -> EnrichResources:
    """Like `enrich_resources`, with the models and the history this process keeps warm
    (`EnrichResources.warm`)."""
    return (resources or flow_resources()).enrich(warm=True)
