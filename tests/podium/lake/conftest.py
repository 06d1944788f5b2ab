"""Lake fixtures: a real moto S3 server over HTTP (one per session) and a `lake` on each backend.

`moto_s3` is reusable by any test that needs S3: it yields the endpoint URL of a `moto_server`
subprocess listening on a free local port. Nothing is patched in-process; delta-rs and s3fs talk
to it over HTTP exactly as they would to AWS.

Why a subprocess and not moto's in-process `ThreadedMotoServer`: deltalake's `QueryBuilder`
(which `Lake.read(where=...)` uses) holds the GIL while it fetches parquet files, so a server
thread in the same interpreter can never answer and the read hangs until its retry timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.lake import Lake
from podium.settings import LakeSettings, Settings
from tests.moto_server import moto_server, s3_bucket


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 in its own process; yields its endpoint URL."""
    with moto_server() as url:
        yield url


def s3_lake(endpoint_url: str) -> Lake:
    """A lake in a fresh bucket, built from settings the way production builds it."""
    bucket = s3_bucket(endpoint_url)
    settings = Settings(
        lake=LakeSettings(
            url=f"s3://{bucket}/lake",
            s3_endpoint_url=endpoint_url,
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
        )  # the default commit mode: conditional puts, safe for concurrent writers
    )
    return Lake.from_settings(settings)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """The same tests run on a local temp folder and on S3 (moto server over HTTP)."""
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    return s3_lake(request.getfixturevalue("moto_s3"))
