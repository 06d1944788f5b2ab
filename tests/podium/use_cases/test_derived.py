"""podium.use_cases.derived without Prefect: warm counts and recommendations, coalesced, and
correct when several processes refresh at once.

Real: the lake (Delta tables in a temp folder) with generated talks, events and tags
(tests/podium/recommend/lake_data.py); in the race test, two real refresher processes
(tests/podium/use_cases/refresher.py) and a writer in this process. Fake: the text encoder
(a bag-of-words hash, `BagOfWordsEncoder`), so no model loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from deltalake.exceptions import CommitFailedError

from podium.lake import Lake
from podium.lake import recommendations as tables
from podium.recommend.build import build_tables
from podium.tag_counts import counted_versions, recompute_tag_counts
from podium.use_cases.derived import Coalescer, pending, refresh
from podium.use_cases.recommend import (
    RECOMMENDATION_SOURCES,
    BuildResources,
    recommendation_source_versions,
)
from tests.podium.recommend.lake_data import BagOfWordsEncoder, make_lake, tag_rows

ROOT = Path(__file__).resolve().parents[3]


def _counts(lake: Lake) -> pd.DataFrame:
    rows = lake.read("tag_counts").drop(columns=["computed_at"])
    return rows.sort_values(["scope", "key", "tag"]).reset_index(drop=True)


def _recs(lake: Lake) -> pd.DataFrame:
    rows = tables.read_recommendations(lake=lake, columns=["event_id", "rank", "talk_id", "score"])
    return rows.sort_values(["event_id", "rank"]).reset_index(drop=True)


def _from_scratch(lake: Lake, tmp: Path, settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and recommendations recomputed from nothing, on a copy of the lake."""
    copy = tmp / f"scratch-{time.monotonic_ns()}"
    shutil.copytree(lake.url, copy)
    shutil.rmtree(copy / "tables" / "tag_counts", ignore_errors=True)
    shutil.rmtree(copy / "tables" / "recommendations", ignore_errors=True)
    scratch = Lake(str(copy))
    recompute_tag_counts(lake=scratch)
    build_tables(lake=scratch, settings=settings.recommend, encoder=BagOfWordsEncoder())
    return _counts(scratch), _recs(scratch)


def test_refresh_follows_the_lake_and_rebuilds_only_affected_events(settings, tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    resources = BuildResources(lake=lake, settings=settings)
    assert pending(lake)

    first = refresh(resources, encoder=BagOfWordsEncoder())
    assert first.counts is not None and first.counts.mode == "full"
    assert first.event_ids is None and first.recommendation_rows > 0  # no bookmark yet: all
    assert not pending(lake)

    again = refresh(resources, encoder=BagOfWordsEncoder())
    assert again.counts is None and again.event_ids == [] and not again.changed

    # t004 (an "ops" talk) gains a django tag: DjangoCon (ev-b) is affected, not the others.
    lake.append("talk_tags", tag_rows([("t004", "django")]))
    assert pending(lake)
    third = refresh(resources, encoder=BagOfWordsEncoder())
    assert third.counts is not None and third.counts.changed_talk_ids == ("t004",)
    assert third.event_ids is not None and "ev-b" in third.event_ids
    assert "ev-a" not in third.event_ids
    assert "2 events" in third.describe() or "1 event" in third.describe()
    counts, recs = _from_scratch(lake, tmp_path, settings)
    pd.testing.assert_frame_equal(_counts(lake), counts)
    pd.testing.assert_frame_equal(_recs(lake), recs)
    assert "t004" in set(_recs(lake).query("event_id == 'ev-b'")["talk_id"])

    # A tag no event shares: counted; only the events sharing t004's other tags (django:
    # ev-b, devops: ev-c) are rebuilt, and nothing is left pending.
    lake.append("talk_tags", tag_rows([("t004", "quantum knitting")]))
    fourth = refresh(resources, encoder=BagOfWordsEncoder())
    assert fourth.counts is not None and fourth.counts.rows_written > 0
    assert fourth.event_ids == ["ev-b", "ev-c"] and not pending(lake)

    # A talk no event lists, whose tags no event shares: counted, no event rebuilt, no talk
    # read for recommendations, and nothing is left pending.
    before = _recs(lake)
    lake.append("talk_tags", tag_rows([("t005", "quantum knitting")]))
    fifth = refresh(resources, encoder=BagOfWordsEncoder())
    assert fifth.counts is not None and fifth.event_ids == [] and not pending(lake)
    pd.testing.assert_frame_equal(_recs(lake), before)


def test_counts_and_recommendations_refresh_apart_and_land_where_both_at_once_do(
    settings, tmp_path
) -> None:
    """The split refresher's two threads: counts alone, then recommendations alone, end where
    one refresh of both ends (and each part's pending check sees only its own part)."""
    lake = make_lake(tmp_path / "lake")
    resources = BuildResources(lake=lake, settings=settings)
    refresh(resources, encoder=BagOfWordsEncoder())
    lake.append("talk_tags", tag_rows([("t004", "django"), ("t007", "devops")]))
    assert pending(lake, ("counts",)) and pending(lake, ("recommendations",))

    counted = refresh(resources, encoder=BagOfWordsEncoder(), parts=("counts",))
    assert counted.counts is not None and set(counted.counts.changed_talk_ids) == {"t004", "t007"}
    assert counted.event_ids == [] and set(counted.phases) == {"counts", "observe"}
    assert not pending(lake, ("counts",)) and pending(lake, ("recommendations",))

    built = refresh(resources, encoder=BagOfWordsEncoder(), parts=("recommendations",))
    assert built.counts is None and built.event_ids and "ev-b" in built.event_ids
    assert not pending(lake)
    counts, recs = _from_scratch(lake, tmp_path, settings)
    pd.testing.assert_frame_equal(_counts(lake), counts)
    pd.testing.assert_frame_equal(_recs(lake), recs)


def test_an_event_with_no_list_gets_one_when_any_talk_changes(settings, tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    resources = BuildResources(lake=lake, settings=settings)
    refresh(resources, encoder=BagOfWordsEncoder())
    assert "ev-a" in set(_recs(lake)["event_id"])
    # ev-a's list as a build before any talk fitted it left it: empty (the demo's events that
    # share no tag with any talk stayed so until the hourly full rebuild).
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in tables.RECOMMENDATION_COLUMNS})
    tables.write_recommendations(lake=lake, rows=empty, row_group_rows=100, event_ids=["ev-a"])
    assert "ev-a" not in set(_recs(lake)["event_id"])
    # A talk no event lists, whose tag no event shares: ev-a still gets its list now.
    lake.append("talk_tags", tag_rows([("t005", "quantum knitting")]))
    outcome = refresh(resources, encoder=BagOfWordsEncoder())
    assert outcome.event_ids == ["ev-a"] and not pending(lake)
    assert "ev-a" in set(_recs(lake)["event_id"])


def test_a_build_overtaken_by_another_does_not_land(settings, tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    refresh(BuildResources(lake=lake, settings=settings), encoder=BagOfWordsEncoder())
    stale = tables.pin_recommendations(lake=lake)  # a slow build pinned here ...
    lake.append("talk_tags", tag_rows([("t004", "django")]))
    refresh(BuildResources(lake=lake, settings=settings), encoder=BagOfWordsEncoder())
    before = _recs(lake)
    with pytest.raises(CommitFailedError):  # ... and its commit is refused, not landed
        build_tables(
            lake=lake,
            settings=settings.recommend,
            encoder=BagOfWordsEncoder(),
            event_ids=["ev-b"],
            pinned=stale,
        )
    pd.testing.assert_frame_equal(_recs(lake), before)


def test_the_coalescer_folds_pokes_during_a_run_into_one_more_run() -> None:
    stopping = threading.Event()
    started, release = threading.Event(), threading.Event()
    runs: list[float] = []

    def action() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            started.set()
            release.wait(5)

    coalescer = Coalescer(action, check=lambda: False, check_s=30, stopping=stopping)
    coalescer.start()
    coalescer.poke()
    assert started.wait(5)
    for _ in range(50):  # a burst while the first run works
        coalescer.poke()
    release.set()
    deadline = time.monotonic() + 5
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    stopping.set()
    coalescer.poke()
    assert len(runs) == 2, runs  # 51 pokes, 2 runs


def test_the_coalescer_runs_when_the_check_finds_work_without_a_poke() -> None:
    stopping = threading.Event()
    due = threading.Event()
    ran = threading.Event()
    coalescer = Coalescer(ran.set, check=due.is_set, check_s=0.05, stopping=stopping)
    coalescer.start()
    time.sleep(0.2)
    assert not ran.is_set()
    due.set()  # a change nobody poked about (a lost event)
    assert ran.wait(3)
    stopping.set()


def _env(lake: Path, home: Path) -> dict[str, str]:
    return os.environ | {
        "PYTHONPATH": str(ROOT),
        "PODIUM_LAKE__URL": str(lake),
        "PODIUM_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def test_two_refresher_processes_at_once_leave_counts_equal_to_a_recount(
    settings, tmp_path
) -> None:
    lake_dir = tmp_path / "lake"
    lake = make_lake(lake_dir)
    stop = tmp_path / "stop"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.podium.use_cases.refresher", str(stop)],
            cwd=ROOT,
            env=_env(lake_dir, tmp_path / f"home{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        for worker in workers:  # both started (imports take seconds on a busy machine)
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        # Tags change under them: 10 commits, each adding one talk's tag or removing one.
        for i in range(10):
            talk = f"t{(i * 7) % 40:03d}"
            if i % 3 == 2:
                lake.delete("talk_tags", predicate=f"talk_id = '{talk}'")
            else:
                lake.append("talk_tags", tag_rows([(talk, ["django", "rust", "pandas"][i % 3])]))
            time.sleep(0.25)
        deadline = time.monotonic() + 120
        while pending(lake) and time.monotonic() < deadline:
            time.sleep(0.2)
        behind = pending(lake) and (
            "the refreshers did not catch up within 120 s: counted "
            f"{counted_versions(lake=lake)}, recommendations "
            f"{tables.read_recommendations_bookmark(lake=lake, sources=RECOMMENDATION_SOURCES)}"
            f", sources {recommendation_source_versions(lake)}"
        )
    finally:
        stop.touch()
        outputs = [w.communicate(timeout=60)[0] for w in workers]
    assert not behind, f"{behind}; the refreshers said: {outputs}"
    assert all(w.returncode == 0 for w in workers), outputs
    refreshes = [int(o.strip().splitlines()[-1].split()[1]) for o in outputs]
    assert all(r > 0 for r in refreshes), outputs  # both really worked
    counts, recs = _from_scratch(lake, tmp_path, settings)
    pd.testing.assert_frame_equal(_counts(lake), counts)
    pd.testing.assert_frame_equal(_recs(lake), recs)


def test_a_duty_of_half_leaves_as_much_time_idle_as_it_ran() -> None:
    stopping = threading.Event()
    starts: list[float] = []

    def action() -> None:
        starts.append(time.monotonic())
        time.sleep(0.2)
        coalescer.poke()  # always more work: a burst

    coalescer = Coalescer(action, check=lambda: True, check_s=0.01, stopping=stopping, duty=0.5)
    coalescer.start()
    deadline = time.monotonic() + 10
    while len(starts) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopping.set()
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) >= 3 and min(gaps) >= 0.4 - 0.01, gaps  # 0.2 s running, 0.2 s idle
