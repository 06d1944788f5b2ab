"""The gateway's FastAPI application, built from one `Settings` object.

Nothing is read from the environment here: `create_app(settings)` gets everything it needs, and
tests pass their own lake and event poster.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from typing import Literal

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from podium.events import EventPoster
from podium.gateway import git_hooks, recommend_routes, tag_routes, talk_hooks
from podium.gateway.group_commit import GroupCommitter
from podium.gateway.signatures import DeliveryClaims, ReplayGuard
from podium.ingest import talks_version
from podium.lake import Lake
from podium.settings import Settings

logger = logging.getLogger("podium.gateway")

_HEALTH_TIMEOUT_S = 3.0
_HEALTH_PROBE = "_health/gateway"


class Health(BaseModel):
    """Whether the gateway and what it depends on are up."""

    status: Literal["ok", "degraded"] = Field(
        description="`ok` when the lake and Prefect are both reachable, else `degraded`."
    )
    lake: Literal["ok", "unreachable"] = Field(description="Whether the lake answered.")
    prefect: Literal["ok", "unreachable"] = Field(
        description="Whether the Prefect server answered /health. While unreachable, hooks "
        "still record talks and answer 202 with the event deferred."
    )
    version: str = Field(description="Podium version.")


def _version() -> str:
    try:
        return importlib.metadata.version("podium")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0+unknown"


def _check_lake(lake: Lake) -> None:
    # "Reachable" means the gateway could record a talk now: the talks table's log reads (a
    # table that does not exist yet is fine) and a small probe blob round-trips through the
    # same store. Listing alone would pass on a read-only or full store.
    talks_version(lake=lake)
    lake.put_blob(_HEALTH_PROBE, b"ok")
    if lake.get_blob(_HEALTH_PROBE) != b"ok":
        raise OSError("the lake returned other bytes than were written")


async def _lake_ok(lake: Lake) -> bool:
    try:
        await asyncio.wait_for(run_in_threadpool(_check_lake, lake), _HEALTH_TIMEOUT_S)
    except Exception as error:  # any failure means "unreachable" to a health probe
        logger.warning("healthz: lake unreachable: %s", type(error).__name__)
        return False
    return True


async def _prefect_ok(poster: EventPoster) -> bool:
    headers = {"Authorization": f"Bearer {poster.api_key}"} if poster.api_key else {}
    try:
        async with httpx.AsyncClient(timeout=_HEALTH_TIMEOUT_S) as client:
            response = await client.get(poster.api_url.rstrip("/") + "/health", headers=headers)
    except httpx.HTTPError as error:
        logger.warning("healthz: Prefect unreachable: %s", type(error).__name__)
        return False
    return response.status_code == 200


def create_app(
    settings: Settings, *, lake: Lake | None = None, poster: EventPoster | None = None
) -> FastAPI:
    """Build the gateway.

    Args:
        settings: Podium settings; `settings.gateway` holds the secret and limits.
        lake: the lake talks are recorded in; built from settings when None.
        poster: posts events to Prefect; built from settings when None.

    Returns:
        The app, with `app.state.settings`, `app.state.lake`, `app.state.poster`,
        `app.state.committer` (folds concurrent requests into one lake write),
        `app.state.replay_guard` (message ids seen inside the replay window, in flight
        or completed with their answer) and
        `app.state.deliveries` (git deliveries being handled) set.
    """
    app = FastAPI(
        title="Podium gateway",
        version=_version(),
        description="Signed webhooks that record talks in the lake and hand them to Prefect.",
    )
    app.state.settings = settings
    app.state.lake = lake if lake is not None else Lake.from_settings(settings)
    app.state.poster = poster if poster is not None else EventPoster.from_settings(settings)
    app.state.committer = GroupCommitter(app.state.lake)
    app.state.replay_guard = ReplayGuard(window_s=settings.gateway.replay_window_s)
    app.state.deliveries = DeliveryClaims()

    app.include_router(talk_hooks.router)
    app.include_router(recommend_routes.router)
    app.include_router(git_hooks.router)
    app.include_router(tag_routes.router)

    @app.get(
        "/healthz", response_model=Health, tags=["health"], summary="Liveness and dependencies"
    )
    async def healthz(request: Request) -> Health:
        """200 whenever the gateway runs; says whether the lake and Prefect are reachable."""
        lake_ok, prefect_ok = await asyncio.gather(
            _lake_ok(request.app.state.lake), _prefect_ok(request.app.state.poster)
        )
        return Health(
            status="ok" if lake_ok and prefect_ok else "degraded",
            lake="ok" if lake_ok else "unreachable",
            prefect="ok" if prefect_ok else "unreachable",
            version=app.version,
        )

    return app
