"""Leases judged by one clock (issue 24): an executor whose clock is off from the lake store's
refuses to claim, and a live batch keeps its lease for as long as it is worked.

Real: a local lake in a temp folder and moto S3 servers over HTTP in their own processes, one
of them with its clock set an hour back (as a store, or a fleet, whose clocks disagree);
the ledger's own claim and renew.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from podium.enrichment import claim
from podium.lake import Lake
from podium.lake.clock import ClockSkewError, check_clock, store_clock_skew
from podium.models import Talk
from podium.recording import record_talks
from tests.moto_server import moto_server
from tests.podium.lake.conftest import s3_lake

HOUR = 3600.0


@pytest.fixture(scope="module")
def store_an_hour_behind() -> Iterator[str]:
    with moto_server(clock_offset_s=-HOUR) as url:
        yield url


def test_the_local_store_and_this_process_agree(tmp_path: Path) -> None:
    assert abs(store_clock_skew(Lake(str(tmp_path / "lake")))) < 2.0


def test_an_s3_store_on_the_same_clock_agrees(moto_s3: str) -> None:
    lake = s3_lake(moto_s3)
    assert abs(store_clock_skew(lake)) < 2.5  # S3 stamps whole seconds
    assert check_clock(lake, max_skew_s=30, recheck_s=0) is not None
    assert not list(lake._fs.find(lake.blob_url("state/clock"))), "the probe is removed"


def test_an_executor_an_hour_ahead_of_the_store_refuses(store_an_hour_behind: str) -> None:
    lake = s3_lake(store_an_hour_behind)
    skew = store_clock_skew(lake)
    assert HOUR - 3 < skew < HOUR + 3
    with pytest.raises(ClockSkewError) as refused:
        check_clock(lake, max_skew_s=30, recheck_s=0)
    message = str(refused.value)
    assert "ahead of the lake's" in message and "enrich.max_clock_skew_s" in message


def test_a_clock_behind_is_refused_too(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ClockSkewError, match="behind the lake's"):
        check_clock(lake, max_skew_s=30, clock=lambda: time.time() - HOUR, recheck_s=0)


def test_enrich_refuses_to_claim_on_a_skewed_executor(store_an_hour_behind: str) -> None:
    from podium.settings import LakeSettings, Settings
    from podium.use_cases.enrich import EnrichResources, enrich_pending

    lake = s3_lake(store_an_hour_behind)
    record_talks(lake=lake, talks=[Talk(talk_id="t1", title="Waiting")])
    settings = Settings(lake=LakeSettings(url=lake.url))
    with pytest.raises(ClockSkewError):
        enrich_pending(EnrichResources.cold(settings, lake=lake))
    state = lake.read("enrichment_state")
    assert state.claimed_by.isna().all() and set(state.attempts) == {0}, "nothing claimed"


def test_what_the_check_prevents_a_fast_clock_takes_a_live_claim(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[Talk(talk_id="t1", title="Live")])
    live = claim(lake=lake, stage="tags", limit=1, max_attempts=3, lease_seconds=120)
    assert live is not None
    honest = claim(lake=lake, stage="tags", limit=1, max_attempts=3, lease_seconds=120)
    assert honest is None
    ahead = datetime.now(UTC) + timedelta(hours=1)
    stolen = claim(lake=lake, stage="tags", limit=1, max_attempts=3, lease_seconds=120, now=ahead)
    assert stolen is not None and stolen.ids == ["t1"], "an hour-fast clock steals the claim"
    with pytest.raises(ClockSkewError):  # so such an executor never gets to claim
        check_clock(lake, max_skew_s=30, clock=lambda: ahead.timestamp(), recheck_s=0)


def test_the_heartbeat_outlasts_twenty_renewals(tmp_path: Path) -> None:
    from podium.use_cases.enrich import _Heartbeat

    lake = Lake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[Talk(talk_id="t1", title="Long batch")])
    lease = 0.6
    work = claim(lake=lake, stage="tags", limit=1, max_attempts=3, lease_seconds=lease)
    assert work is not None
    with _Heartbeat(lake, work, lease) as heartbeat:
        deadline = time.monotonic() + 60
        while heartbeat.renewals <= 21 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heartbeat.renewals > 20, "renewing stopped after 20 leases"
        other = claim(lake=lake, stage="tags", limit=1, max_attempts=3, lease_seconds=lease)
        assert other is None, "the batch kept its lease"
