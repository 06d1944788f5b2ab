"""bench/chaos.py at a tiny size (slow: the production-shaped stack alone takes minutes to
start on a shared machine, so it cannot fit the default suite's budget).

Real: every process of the stack, kill -9 and restarts of real processes, the S3 endpoint
going away for 10 s; each fault's row must show 0 lost and 0 processed twice.
"""

from __future__ import annotations

import pytest

from tests.benches import load_bench


def _chaos():  # noqa: ANN202
    return load_bench("chaos")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_fault_loses_nothing_and_duplicates_nothing(capsys) -> None:  # noqa: ANN001
    assert _chaos().main(["--talks", "12", "--clients", "4"]) == 0, capsys.readouterr().out
