"""The gateway's state, typed: what `create_app` builds once per process and every route
reaches through FastAPI's dependencies (`state: Gateway`, or `gateway_state(request)` in a
helper that has the request).

`GatewayState` is the app's `app.state` itself (a Starlette `State` whose attributes are
declared), so there is one place the objects live. A test may mount a router on an app of
its own and set only the attributes its routes read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, Request
from starlette.datastructures import State

if TYPE_CHECKING:
    from podium.events import EventPoster
    from podium.gateway.group_commit import GroupCommitter
    from podium.gateway.inbox_folder import InboxFolder
    from podium.gateway.read_cache import ReadCache
    from podium.gateway.signatures import DeliveryClaims, ReplayGuard
    from podium.lake import Lake
    from podium.metrics import LakeStateCollector
    from podium.settings import Settings


class GatewayState(State):
    """What the routes work with.

    Attributes:
        settings: Podium settings (`settings.gateway` holds the secrets and limits).
        lake: the lake talks are recorded in.
        poster: posts events to Prefect.
        committer: folds concurrent requests into one lake write.
        inbox_folder: with `gateway.inbox` on, folds the inbox into Delta; else None.
        replay_guard: message ids seen inside the replay window, in flight or completed
            with their answer, in the replay store every replica shares.
        deliveries: git deliveries being handled.
        read_cache: the read routes' cache, kept while the lake's tables do not move.
        lake_collector: the lake-state gauges of /metrics.
    """

    settings: Settings
    lake: Lake
    poster: EventPoster
    committer: GroupCommitter
    inbox_folder: InboxFolder | None
    replay_guard: ReplayGuard
    deliveries: DeliveryClaims
    read_cache: ReadCache
    lake_collector: LakeStateCollector


def gateway_state(request: Request) -> GatewayState:
    """The state of the app serving `request` (a FastAPI dependency)."""
    return cast(GatewayState, request.app.state)


Gateway = Annotated[GatewayState, Depends(gateway_state)]
