"""A moto server over real HTTP in its own process, for S3 and DynamoDB tests and benches."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.prefect_server import free_port
from tests.processes import stop

# A moto server whose S3 clock runs `offset` seconds off: the store of a fleet whose clocks
# disagree with it (LastModified is stamped by this clock).
_SKEWED = (
    "import datetime, sys; import moto.s3.models as m; _now = m.utcnow; "
    "m.utcnow = lambda: _now() + datetime.timedelta(seconds=float(sys.argv[1])); "
    "from moto.server import main; main(sys.argv[2:])"
)


@contextmanager
def moto_server(*, clock_offset_s: float = 0.0, log: Path | None = None) -> Iterator[str]:
    """Start `moto.server` on 127.0.0.1 (a free port); yield its URL; stop it.

    `clock_offset_s` shifts the server's S3 clock (object LastModified) by that many seconds;
    `log` receives the server's output, its request log among it (`bench/s3_growth.py` counts
    requests from it).
    """
    port = free_port()
    server = ["-H", "127.0.0.1", "-p", str(port)]
    command = (
        [sys.executable, "-c", _SKEWED, str(clock_offset_s), *server]
        if clock_offset_s
        else [sys.executable, "-m", "moto.server", *server]
    )
    with log.open("w") if log else open(os.devnull, "w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process)


def s3_bucket(endpoint_url: str, name: str | None = None, *, prefix: str = "podium") -> str:
    """Create a bucket on the moto server (`name`, else a fresh one) and return its name."""
    import boto3

    name = name or f"{prefix}-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name
