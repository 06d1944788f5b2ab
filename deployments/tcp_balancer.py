"""A TCP load balancer for the production-shaped stack: what a Kubernetes Service, an ALB or
NGINX does in front of replicas, in one small process.

Each accepted connection goes to the next backend in turn (round robin); a backend that
refuses or does not answer within `CONNECT_TIMEOUT_S` is skipped for that connection, so a
killed replica costs its open connections (clients retry) and nothing after. Bytes are piped
both ways unchanged: HTTP keep-alive and WebSockets (Prefect's event stream) pass through.

    python -m deployments.tcp_balancer LISTEN_PORT BACKEND_PORT [BACKEND_PORT ...]
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys

CONNECT_TIMEOUT_S = 1.0
HOST = "127.0.0.1"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass


class Balancer:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self._turn = itertools.cycle(range(len(backends)))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = next(self._turn)
        for i in range(len(self.backends)):
            port = self.backends[(start + i) % len(self.backends)]
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(HOST, port), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                continue
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:  # every backend down: the client sees a closed connection
            writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def serve(listen: int, backends: list[int]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.handle, HOST, listen, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = [int(a) for a in (argv if argv is not None else sys.argv[1:])]
    if len(args) < 2:
        raise SystemExit("usage: python -m deployments.tcp_balancer LISTEN BACKEND [BACKEND ...]")
    asyncio.run(serve(args[0], args[1:]))


if __name__ == "__main__":
    main()
