"""Two real `podium gateway` processes on one lake (bench/replicas.py at a tiny size; its run
on a local lake with the lake-backed replay store is its `bench_smoke` entry).

Real: gateway processes with their own homes, `podium ingest` in its own process, the lake on a
local folder or on a moto S3 server over HTTP, the replay store in the lake or in a real
`redis-server`, a gateway restarted for real. Checked: every talk ends at its newest version in
`talks` with the ledger at that version's content hash; every replay, sent to the other
replica or to the restarted one, is answered as a duplicate; every reused id is refused 409.
"""

from __future__ import annotations

import pytest

from tests.benches import load_bench


def _bench():  # noqa: ANN202
    return load_bench("replicas")


def _check(result) -> None:  # noqa: ANN001
    assert result.mismatched == [] and result.not_newest == []
    assert result.replays > 0 and result.replays_refused == result.replays
    assert result.restart_replays > 0 and result.restart_refused == result.restart_replays
    assert result.reused_refused == result.reused


@pytest.mark.timeout(600)
def test_two_gateways_share_a_redis_replay_store() -> None:
    from tests.redis_server import redis_server

    bench = _bench()
    with redis_server() as url:
        _check(bench.run(talks=2, rounds=1, redis_url=url))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_two_gateways_race_on_an_s3_lake() -> None:
    from tests.moto_server import moto_server

    with moto_server() as endpoint:
        _check(_bench().run(talks=10, rounds=2, s3_endpoint=endpoint))
