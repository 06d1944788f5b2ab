"""The gateway's FastAPI application, built from one `Settings` object.

Nothing is read from the environment here: `create_app(settings)` gets everything it needs, and
tests pass their own lake and event poster.
"""

from __future__ import annotations

import importlib.metadata
import logging

from fastapi import FastAPI

from podium.events import EventPoster
from podium.gateway import (
    export_routes,
    git_hooks,
    inbox_folder,
    observe,
    recommend_routes,
    review_links,
    tag_routes,
    talk_hooks,
)
from podium.gateway.group_commit import GroupCommitter
from podium.gateway.read_cache import read_cache_for
from podium.gateway.read_fast_path import ReadFastPath
from podium.gateway.signatures import DeliveryClaims, ReplayGuard
from podium.gateway.state import GatewayState
from podium.lake import Lake
from podium.metrics import LakeStateCollector
from podium.operations import lake_state
from podium.replay import replay_store
from podium.settings import Settings

logger = logging.getLogger("podium.gateway")


def _version() -> str:
    try:
        return importlib.metadata.version("podium")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0+unknown"


def create_app(
    settings: Settings, *, lake: Lake | None = None, poster: EventPoster | None = None
) -> FastAPI:
    """Build the gateway.

    Args:
        settings: Podium settings; `settings.gateway` holds the secret and limits.
        lake: the lake talks are recorded in; built from settings when None.
        poster: posts events to Prefect; built from settings when None.

    Returns:
        The app; its `app.state` is a `GatewayState` (`podium.gateway.state`: settings, lake,
        poster, committer, replay guard, deliveries, read cache, lake collector), which the
        routes reach through FastAPI's dependencies.
    """
    app = FastAPI(
        title="Podium gateway",
        version=_version(),
        description="Signed webhooks that record talks in the lake and hand them to Prefect.",
    )
    app.state = GatewayState()
    app.state.settings = settings
    app.state.lake = lake if lake is not None else Lake.from_settings(settings)
    app.state.poster = poster if poster is not None else EventPoster.from_settings(settings)
    app.state.inbox_folder = None
    if settings.gateway.inbox:
        # Requests are answered once their changes are in an inbox blob; a thread folds the
        # inbox into Delta (podium/gateway/inbox_folder.py).
        app.state.inbox_folder = inbox_folder.InboxFolder(
            app.state.lake,
            app.state.poster,
            interval_s=settings.gateway.inbox_fold_interval_s,
            lease_s=settings.gateway.inbox_lease_s,
        )
        app.state.committer = GroupCommitter(app.state.lake, write=app.state.inbox_folder.append)
    else:
        app.state.committer = GroupCommitter(app.state.lake)
    app.state.replay_guard = ReplayGuard(
        replay_store(settings, app.state.lake),
        window_s=settings.gateway.replay_window_s,
        lease_s=settings.replay.in_flight_lease_s,
    )
    app.state.deliveries = DeliveryClaims()
    app.state.read_cache = read_cache_for(app.state.lake, settings)

    app.include_router(talk_hooks.router)
    app.include_router(inbox_folder.router)
    app.include_router(recommend_routes.router)
    app.include_router(export_routes.router)
    app.include_router(git_hooks.router)
    app.include_router(tag_routes.router)
    app.include_router(review_links.router)
    app.include_router(observe.router)
    app.state.lake_collector = LakeStateCollector(
        lambda: lake_state(lake=app.state.lake, max_attempts=settings.enrich.max_attempts),
        ttl_s=settings.ops.lake_metrics_ttl_s,
    )
    app.add_middleware(ReadFastPath)  # inside the metrics: cached reads count like any route
    app.add_middleware(observe.MetricsMiddleware)

    return app
