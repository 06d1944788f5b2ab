"""Running the gateway with uvicorn: in the foreground (`podium gateway`) or in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from podium import tracing
from podium.events import EventPoster
from podium.gateway.app import create_app
from podium.lake import Lake
from podium.settings import Settings


def _config(
    settings: Settings, *, lake: Lake | None, poster: EventPoster | None, port: int, log_level: str
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, lake=lake, poster=poster),
        host=settings.gateway.host,
        port=port,
        log_level=log_level,
        # Headers and bodies are never logged; the access log holds method, path and status.
        access_log=True,
        # Bodies are bounded by gateway.max_body_bytes; bound idle connections as well.
        timeout_keep_alive=5,
        # JSON logs: uvicorn's loggers go through the root handler's JSON formatter.
        log_config=None if settings.ops.json_logs else uvicorn.config.LOGGING_CONFIG,
    )


def serve(
    settings: Settings,
    *,
    lake: Lake | None = None,
    poster: EventPoster | None = None,
    log_level: str = "info",
) -> None:
    """Serve the gateway on `settings.gateway.host:port` until interrupted.

    Ctrl-C (SIGINT) shuts down gracefully and returns. On SIGTERM uvicorn shuts down just as
    gracefully and then re-raises the signal, so the process ends as terminated by SIGTERM.

    Args:
        settings: Podium settings.
        lake: the lake; built from settings when None.
        poster: the Prefect event poster; built from settings when None.
        log_level: uvicorn's log level.
    """
    tracing.configure(settings.ops, service="gateway")
    tracing.configure_logging(settings.ops)
    config = _config(
        settings, lake=lake, poster=poster, port=settings.gateway.port, log_level=log_level
    )
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        # uvicorn re-raises SIGINT after its graceful shutdown; by then there is nothing left
        # to stop, so `podium gateway` exits cleanly instead of with a traceback.
        pass
    finally:
        tracing.shutdown()


@contextmanager
def running_gateway(
    settings: Settings,
    *,
    lake: Lake | None = None,
    poster: EventPoster | None = None,
    port: int | None = None,
    log_level: str = "warning",
    startup_timeout_s: float = 20.0,
) -> Iterator[str]:
    """Run the gateway in a background thread; yields its base URL, stops it on exit.

    Args:
        settings: Podium settings.
        lake: the lake; built from settings when None.
        poster: the Prefect event poster; built from settings when None.
        port: port to bind; `settings.gateway.port` when None, 0 for any free port.
        log_level: uvicorn's log level.
        startup_timeout_s: how long to wait for the socket to be listening.
    """
    config = _config(
        settings,
        lake=lake,
        poster=poster,
        port=settings.gateway.port if port is None else port,
        log_level=log_level,
    )
    server = uvicorn.Server(config)
    # uvicorn only installs signal handlers on the main thread, so this leaves Ctrl-C alone.
    thread = threading.Thread(target=server.run, name="podium-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the gateway exited while starting (is the port taken?)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the gateway did not start in time")
        time.sleep(0.02)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{settings.gateway.host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
