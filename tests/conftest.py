"""Shared fixtures. A real Prefect server is started once per session for flow tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server; yields its API URL and points this process's client at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.prefect_server import start_server, stop

    process, api_url = start_server(tmp_path_factory.mktemp("prefect"))
    os.environ["PREFECT_API_URL"] = api_url
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield api_url
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)  # send queued run logs while the server is up
        stop(process)
        os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at a temp home and lake; the cached settings are reset around it."""
    from podium.settings import Settings, get_settings

    monkeypatch.setenv("PODIUM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PODIUM_LAKE__URL", str(tmp_path / "lake"))
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


# Skips for data that lives beside the checkout (../shared/) are summed up in one line, so a
# run on a machine without it says plainly how much it did not test.
_SHARED_SKIP_WORDS = ("shared/fixtures", "fixture ", "pyvideo")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    skipped = terminalreporter.stats.get("skipped", [])
    shared = 0
    for report in skipped:
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if any(word in reason for word in _SHARED_SKIP_WORDS):
            shared += 1
    if shared:
        terminalreporter.write_line(
            f"podium: {shared} tests skipped because ../shared/ (fixtures, pyvideo data) "
            "is not beside this checkout"
        )
