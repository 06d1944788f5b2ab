"""podium.replay: the replay store every gateway replica shares, on each backend.

Real: the lake store on a local folder and on S3 (a moto server over HTTP, conditional puts),
the Redis store on a real `redis-server` on a free port. Two store objects on one backend stand
for two replicas (or one before and one after a restart): nothing is shared in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from podium.replay import LakeReplayStore, RedisReplayStore, ReplayStore, Seen, replay_store
from podium.settings import Settings
from tests.podium.lake.conftest import s3_lake
from tests.redis_server import redis_server
from tests.together import all_at_once

NOW = 1_000_000.0


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["lake-local", "lake-s3", "redis"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ReplayStore, ...]]:
    """Two stores on one backend: two replicas."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        namespace = f"test:{request.node.name}:"
        pair = (
            RedisReplayStore(url, namespace=namespace),
            RedisReplayStore(url, namespace=namespace),
        )
    elif request.param == "lake-s3":
        lake = s3_lake(request.getfixturevalue("moto_s3"))
        pair = (
            LakeReplayStore(lake),
            LakeReplayStore(type(lake)(lake.url, lake.storage_options, lake.fs_options)),
        )
    else:
        pair = (LakeReplayStore(_local(tmp_path)), LakeReplayStore(_local(tmp_path)))
    yield pair
    for store in pair:
        store.close()


def _local(tmp_path: Path):  # noqa: ANN202
    from podium.lake import Lake

    return Lake(str(tmp_path / "lake"))


def claim(store: ReplayStore, key: str = "talks\x00id:m1", digest: str = "d1", **kw):  # noqa: ANN201
    args = {"expires_at": NOW + 300, "lease_s": 60.0, "now": NOW} | kw
    return store.claim(key, digest=digest, **args)


def test_one_replica_claims_the_other_sees_it_with_its_body(stores) -> None:
    a, b = stores
    first = claim(a)
    assert first.seen is Seen.FIRST
    assert claim(b).seen is Seen.IN_FLIGHT  # same body, still being handled
    assert claim(b, digest="d2").seen is Seen.REUSED  # another body under the same id
    a.complete("talks\x00id:m1", first.handle, b'{"answer": 1}')
    done = claim(b, now=NOW + 299)
    assert (done.seen, done.outcome) == (Seen.DONE, b'{"answer": 1}')
    assert claim(b, digest="d2", now=NOW + 299).seen is Seen.REUSED
    assert claim(b, key="dynamodb\x00id:m1").seen is Seen.FIRST  # another scope


def test_a_released_id_is_new_again_and_a_dead_claim_is_taken_over_once(stores) -> None:
    a, b = stores
    first = claim(a)
    a.release("talks\x00id:m1", first.handle)
    again = claim(b)
    assert again.seen is Seen.FIRST
    # b's claim is in flight until its lease; past it, its holder is presumed dead.
    assert claim(a, now=NOW + 59).seen is Seen.IN_FLIGHT
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda s: claim(s, now=NOW + 61).seen, [a, b] * 4))
    assert sorted(v.value for v in verdicts) == ["first"] + ["in_flight"] * 7
    # The dead holder's late completion changes nothing: its claim was taken over.
    b.complete("talks\x00id:m1", again.handle, b"late")
    assert claim(a, now=NOW + 62).seen is Seen.IN_FLIGHT


def test_of_many_concurrent_claims_exactly_one_wins(stores) -> None:
    a, b = stores

    def race(store: ReplayStore) -> Seen:
        return claim(
            store, key="talks\x00id:raced", now=time.time(), expires_at=time.time() + 300
        ).seen

    verdicts = all_at_once(race, [a, b] * 4)
    assert [v for v in verdicts if v is Seen.FIRST] == [Seen.FIRST]


def test_entries_expire_with_their_window(stores, tmp_path: Path) -> None:
    a, b = stores
    now = time.time()
    first = claim(a, key="talks\x00id:short", now=now, expires_at=now + 1.5)
    a.complete("talks\x00id:short", first.handle, None)
    kept = claim(a, key="talks\x00id:long", now=now, expires_at=now + 300)
    a.complete("talks\x00id:long", kept.handle, None)
    assert claim(b, key="talks\x00id:short", now=now).seen is Seen.DONE
    time.sleep(2)
    removed = b.sweep()
    if isinstance(b, LakeReplayStore):
        assert removed == 1  # the maintenance sweep removed the expired one, only it
        assert len(b.lake.list_blobs("replay")) == 1
    else:
        assert removed == 0  # Redis expired it by its TTL
    later = time.time()
    assert claim(b, key="talks\x00id:short", now=later, expires_at=later + 300).seen is Seen.FIRST
    assert claim(b, key="talks\x00id:long", now=later).seen is Seen.DONE


def test_the_factory_picks_the_backend_from_settings(tmp_path: Path, redis_url: str) -> None:
    from podium.lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    assert isinstance(replay_store(Settings(), lake), LakeReplayStore)
    store = replay_store(Settings(replay={"url": redis_url}), lake)  # type: ignore[arg-type]
    assert isinstance(store, RedisReplayStore)
    store.close()
    with pytest.raises(ValueError, match="redis:// or rediss://"):
        Settings(replay={"url": "http://cache:6379"})  # type: ignore[arg-type]
    # A password in the URL never shows in the settings' output.
    secret = Settings(replay={"url": "redis://:hunter2@cache:6379/0"})  # type: ignore[arg-type]
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret.model_dump())
