"""Fixtures of review tests: real git repositories built in temp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.podium.review.gitfixtures import WorkRepo, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> WorkRepo:
    return make_repo(tmp_path)
