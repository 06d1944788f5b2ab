"""bench/faults.py scenarios run as tests (slow: each starts real processes and waits for them).

Real: the gateway process, a moto S3 server and a TCP proxy process standing for the S3
endpoint, kill -9 of that proxy mid-write, repeated and shuffled DynamoDB stream deliveries.
"""

from __future__ import annotations

import pytest

from tests.benches import load_bench


def _faults():  # noqa: ANN202
    return load_bench("faults")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["dynamodb-order", "aggregate-tags-killed", "s3-endpoint-killed"])
def test_scenario_loses_nothing_and_duplicates_nothing(name: str, capsys) -> None:
    assert _faults().main([name, "--talks", "16"]) == 0, capsys.readouterr().out


def test_script_loads_by_path_and_registers_every_scenario() -> None:
    """Fast guard for the slow runs above: loaded by path (as they load it), bench/faults.py
    imports its sibling bench/faults_enrich.py and lists every scenario in its --help."""
    module = _faults()
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert list(module.SCENARIOS) == [
        "dynamodb-order",
        "aggregate-tags-killed",
        "s3-endpoint-killed",
        "prefect-server-down",
        "enrich-worker-killed",
        "poison-talk",
        "edit-while-enriching",
        "enrich-and-backfill-at-once",
    ]
