"""`podium.metrics`: the exposition, the lake-state gauges on a real lake, multiprocess mode
with real forked processes, and the instrumented ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from podium import enrichment, metrics
from podium.lake import Lake
from podium.metrics import LakeStateCollector
from podium.models import Talk
from podium.operations import lake_state
from podium.recording import record_talks

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _counter(name: str, **labels: str) -> float:
    body, _ = metrics.exposition()
    return _samples(body.decode()).get((name, tuple(sorted(labels.items()))), 0.0)


def test_lake_state_and_its_gauges_follow_the_ledger(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    talks = [Talk(talk_id=f"t-{i}", title=f"Talk {i}") for i in range(4)]
    record_talks(lake=lake, talks=talks)
    claims_before = _counter("podium_ledger_claims_total", stage="tags")
    done_before = _counter("podium_stage_latency_seconds_count", stage="tagged")
    # Two talks tagged, one failed for good (max_attempts=1), one still pending.
    work = enrichment.claim(lake=lake, stage="tags", limit=3, max_attempts=1, lease_seconds=60)
    assert work is not None and len(work.talks) == 3
    first, second, third = work.talks
    enrichment.record(
        lake=lake,
        claim=work,
        done=[first, second],
        errors={third.talk_id: (third, "CUDA error: out of memory\nat line 3")},
        max_attempts=1,
    )
    assert _counter("podium_ledger_claims_total", stage="tags") == claims_before + 1
    assert _counter("podium_stage_latency_seconds_count", stage="tagged") == done_before + 2

    later = datetime.now(UTC) + timedelta(seconds=90)
    state = lake_state(lake=lake, max_attempts=1, now=later)
    by_stage = {s.stage: s for s in state.stages}
    assert (by_stage["tags"].backlog, by_stage["tags"].failed) == (1, 1)
    assert by_stage["image"].backlog == 4
    assert 90 <= by_stage["tags"].oldest_age_s < 200
    assert [(f.talk_id, f.stage) for f in state.failed] == [(third.talk_id, "tags")]
    assert "out of memory" in state.failed[0].error
    assert state.talks == 4 and state.reviews == [] and state.deferred_last_hour == 0

    reads = []

    def read() -> object:
        reads.append(1)
        return lake_state(lake=lake, max_attempts=1)

    collector = LakeStateCollector(read, ttl_s=60)
    body, _ = metrics.exposition([collector])
    samples = _samples(body.decode())
    assert samples[("podium_ledger_backlog", (("stage", "tags"),))] == 1
    assert samples[("podium_ledger_backlog", (("stage", "image"),))] == 4
    assert samples[("podium_ledger_failed", (("stage", "tags"),))] == 1
    assert samples[("podium_lake_state_up", ())] == 1
    metrics.exposition([collector])
    assert len(reads) == 1, "a second scrape inside the TTL reads nothing"


def test_an_expired_lease_is_counted_when_the_talk_is_taken_again(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    record_talks(
        lake=lake, talks=[Talk(talk_id="t-1", title="One"), Talk(talk_id="t-2", title="Two")]
    )
    before = _counter("podium_ledger_lease_expiries_total", stage="tags")
    dead = enrichment.claim(lake=lake, stage="tags", limit=2, max_attempts=3, lease_seconds=1)
    assert dead is not None  # its process "dies": the claim is never recorded
    retaken = enrichment.claim(
        lake=lake, stage="tags", limit=2, max_attempts=3, lease_seconds=60,
        now=datetime.now(UTC) + timedelta(seconds=5),
    )  # fmt: skip
    assert retaken is not None and retaken.retried_alone and len(retaken.talks) == 1
    assert _counter("podium_ledger_lease_expiries_total", stage="tags") == before + 1


def test_multiprocess_mode_sums_forked_processes(tmp_path: Path) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    script = textwrap.dedent(
        """
        import multiprocessing, sys
        from podium import metrics

        def work(n):
            metrics.CLAIMS.labels("tags").inc(n)
            metrics.CLAIM_BATCH.labels("tags").observe(n)

        if __name__ == "__main__":
            context = multiprocessing.get_context("fork")
            children = [context.Process(target=work, args=(n,)) for n in (1, 2, 3)]
            for child in children:
                child.start()
            for child in children:
                child.join()
                assert child.exitcode == 0
            body, _ = metrics.exposition()
            sys.stdout.write(body.decode())
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    samples = _samples(result.stdout)
    assert samples[("podium_ledger_claims_total", (("stage", "tags"),))] == 6
    assert samples[("podium_ledger_claim_batch_size_count", (("stage", "tags"),))] == 3
    assert len(list(folder.glob("*.db"))) >= 3, "one file per process"


def test_metric_names_cover_every_family() -> None:
    names = metrics.metric_names()
    assert {"podium_http_requests_total", "podium_stage_latency_seconds_bucket",
            "podium_ledger_backlog", "podium_review_wait_seconds_count"} <= names  # fmt: skip


def test_counted_and_recommended_latencies_are_observed(settings, tmp_path: Path) -> None:  # noqa: ANN001
    from podium.resources import Resources
    from podium.use_cases.aggregate import aggregate
    from podium.use_cases.recommend import observe_recommended
    from tests.podium.recommend.lake_data import make_lake

    lake = make_lake(tmp_path / "lake")
    record_talks(
        lake=lake, talks=[Talk(talk_id="c-1", title="Counted"), Talk(talk_id="c-2", title="Too")]
    )
    work = enrichment.claim(lake=lake, stage="tags", limit=2, max_attempts=3, lease_seconds=60)
    assert work is not None
    enrichment.record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)
    counted = _counter("podium_stage_latency_seconds_count", stage="counted")
    aggregate(Resources(settings=settings, lake=lake), talk_ids=["c-1", "c-2", "unknown"])
    assert _counter("podium_stage_latency_seconds_count", stage="counted") == counted + 2
    recommended = _counter("podium_stage_latency_seconds_count", stage="recommended")
    observe_recommended(lake)
    assert _counter("podium_stage_latency_seconds_count", stage="recommended") == recommended + 1
