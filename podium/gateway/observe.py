"""The gateway's metrics middleware and its `/metrics`, `/healthz` and `/readyz` routes.

- `/healthz` (liveness): 200 while the process serves requests. It touches nothing, so a slow
  lake or Prefect never gets a healthy gateway restarted, and a probe writes nothing anywhere.
- `/readyz` (readiness): 200 when the lake reads, the Prefect API answers `/health` and the
  replay store (when one is configured) answers; 503 with the failing parts otherwise, so a
  load balancer sends no webhook to a replica that could not record it.
- `/metrics`: the Prometheus exposition (`podium.metrics`), with the lake-state gauges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium import metrics
from podium.events import EventPoster
from podium.gateway.state import Gateway
from podium.ingest import talks_version
from podium.lake import Lake

logger = logging.getLogger("podium.gateway")

READY_TIMEOUT_S = 3.0

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    """The gateway process serves requests."""

    status: Literal["ok"] = Field(description="Always `ok`: an answer means the process lives.")
    version: str = Field(description="Podium version.")


class Readiness(BaseModel):
    """Whether this gateway can record and announce talks now."""

    status: Literal["ready", "not_ready"] = Field(
        description="`ready` when every dependency below is `ok` (or `not_configured`)."
    )
    lake: Literal["ok", "unreachable"] = Field(description="Whether the talks table reads.")
    prefect: Literal["ok", "unreachable"] = Field(
        description="Whether the Prefect API answered /health. While unreachable, hooks still "
        "record talks and answer 202 with the event deferred."
    )
    replay_store: Literal["ok", "unreachable", "not_configured"] = Field(
        description="Whether the shared replay store answered; `not_configured` when the "
        "replay guard is this process's own memory."
    )
    version: str = Field(description="Podium version.")


def _lake_readable(lake: Lake) -> None:
    lake.ping()  # the folder or bucket answers
    talks_version(lake=lake)  # the talks table's log reads (a table not created yet is fine)


async def lake_ok(lake: Lake) -> bool:
    try:
        await asyncio.wait_for(run_in_threadpool(_lake_readable, lake), READY_TIMEOUT_S)
    except Exception as error:  # any failure means "unreachable" to a probe
        logger.warning("readyz: lake unreachable: %s", type(error).__name__)
        return False
    return True


async def prefect_ok(poster: EventPoster) -> bool:
    headers = poster.auth_headers()  # Basic for a server's auth string, Bearer for a Cloud key
    try:
        async with httpx.AsyncClient(timeout=READY_TIMEOUT_S) as client:
            response = await client.get(poster.api_url.rstrip("/") + "/health", headers=headers)
    except httpx.HTTPError as error:
        logger.warning("readyz: Prefect unreachable: %s", type(error).__name__)
        return False
    return response.status_code == 200


async def replay_store_ok(guard: Any) -> Literal["ok", "unreachable", "not_configured"]:
    ping = getattr(guard, "ping", None)  # a shared store (Redis, …) offers one
    if ping is None:
        return "not_configured"
    try:
        await asyncio.wait_for(run_in_threadpool(ping), READY_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001
        logger.warning("readyz: replay store unreachable: %s", type(error).__name__)
        return "unreachable"
    return "ok"


@router.get("/healthz", response_model=Liveness, summary="Liveness")
async def healthz(request: Request) -> Liveness:
    """200 while the process serves requests; checks and writes nothing."""
    return Liveness(status="ok", version=request.app.version)


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={503: {"model": Readiness, "description": "A dependency is unreachable."}},
)
async def readyz(request: Request, state: Gateway) -> JSONResponse:
    """200 when the lake reads, Prefect answers and the replay store answers; else 503."""
    lake, prefect, replay = await asyncio.gather(
        lake_ok(state.lake), prefect_ok(state.poster), replay_store_ok(state.replay_guard)
    )
    ready = lake and prefect and replay != "unreachable"
    body = Readiness(
        status="ready" if ready else "not_ready",
        lake="ok" if lake else "unreachable",
        prefect="ok" if prefect else "unreachable",
        replay_store=replay,
        version=request.app.version,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics_route(request: Request, state: Gateway) -> Response:
    """The Prometheus text exposition: this process's figures and the lake's state."""
    body, content_type = await run_in_threadpool(metrics.exposition, [state.lake_collector])
    return Response(body, media_type=content_type)


class MetricsMiddleware:
    """Counts every request by route template, method and status; times it; records the
    declared body size. Unmatched paths count as `unmatched`, so a scan cannot blow up the
    label set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(route, method, str(status["code"])).inc()
            metrics.HTTP_SECONDS.labels(route, method).observe(time.perf_counter() - started)
            for name, value in scope.get("headers", ()):
                if name == b"content-length" and value.isdigit():
                    metrics.HTTP_BODY_BYTES.labels(route).observe(int(value))
                    break
