"""bench/chaos.py at a tiny size (slow: the production-shaped stack alone takes minutes to
start on a shared machine, so it cannot fit the default suite's budget).

Real: every process of the stack, kill -9 and restarts of real processes, the S3 endpoint
going away for 10 s; each fault's row must show 0 lost and 0 processed twice.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def _chaos():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("chaos_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_fault_loses_nothing_and_duplicates_nothing(capsys) -> None:  # noqa: ANN001
    assert _chaos().main(["--talks", "12", "--clients", "4"]) == 0, capsys.readouterr().out
