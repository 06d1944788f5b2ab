"""Fixtures of the pretalx tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pretalx_server import PretalxServer, start_pretalx


@pytest.fixture(name="server")
def live_pretalx_server(tmp_path: Path) -> Iterator[PretalxServer]:
    """A real pretalx server (tests/pretalx_server.py) for one test, stopped after it."""
    server = start_pretalx(tmp_path)
    try:
        yield server
    finally:
        server.stop()
