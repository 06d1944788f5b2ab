"""Fixtures of the browser test: the embedded stack with the sample data, and headless Debian
Chromium driven by playwright, with a screenshot saved for every failed test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from deployments.local_stack import PROJECT_DIR
from tests.ui import stack as ui_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots of failed tests; CI keeps this folder as the test artifacts.
ARTIFACTS = Path(os.environ.get("PODIUM_TEST_ARTIFACTS", PROJECT_DIR / "test-artifacts")) / "ui"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ui_stack.UiStack]:
    """The stack of `podium up` on free ports, fed the sample talks and one push."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `sudo make test-deps` (Debian chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("podium-ui")
    saved = {k: os.environ.get(k) for k in ui_stack.ENV_KEYS}
    started: list[ui_stack.UiStack] = []
    try:
        started.append(ui_stack.start(home, on_started=started.append))
        yield started[-1]
    finally:
        if started:
            pids = [p.pid for p in started[0].stack.processes.values()]
            started[0].stack.down()
            alive = [
                p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
            ]
            assert not alive, f"orphaned processes: {alive}"
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, ui: ui_stack.UiStack, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh page on the Prefect UI; its screenshot is saved if the test fails."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, base_url=ui.stack.ui_url
    )
    # The UI and its API calls share two cores with the whole stack: allow for a slow load.
    context.set_default_timeout(60_000)
    context.set_default_navigation_timeout(120_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.txt").write_text(page.inner_text("body"), encoding="utf-8")
        context.close()
