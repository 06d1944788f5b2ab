"""podium.tag_counts on a real Delta lake in a temp folder (nothing faked): after every kind of
change the incremental update must equal a full recount."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pandas as pd
import pytest

from podium.lake import Lake
from podium.models import Talk
from podium.tag_counts import (
    affected_event_ids,
    contributions,
    count,
    read_tag_counts,
    recompute_tag_counts,
    update_tag_counts,
)
from tests.podium.recommend.lake_data import make_lake, tag_rows, talk_rows


def _counts(lake: Lake) -> pd.DataFrame:
    rows = lake.read("tag_counts").drop(columns=["computed_at"])
    return rows.sort_values(["scope", "key", "tag"]).reset_index(drop=True)


def _full_equals_incremental(lake: Lake) -> None:
    incremental = _counts(lake)
    recompute_tag_counts(lake=lake)
    pd.testing.assert_frame_equal(incremental, _counts(lake))
    assert (incremental["talks"] > 0).all()


def test_counts_by_scope() -> None:
    talks = pd.DataFrame(
        {
            "talk_id": ["1", "2", "3"],
            "tags": [["Python"], ["python", "web"], []],
            "event_ids": [["e1"], ["e1", "e2"], ["e2"]],
            "state": ["submitted", "accepted", "deleted"],
        }
    )
    tags = pd.DataFrame({"talk_id": ["1", "3", "9"], "tag": ["web", "web", "web"]})
    got = count(contributions(talks, tags)).set_index(["scope", "key", "tag"])["talks"].to_dict()
    assert got == {
        ("all", "", "python"): 2,
        ("all", "", "web"): 2,  # talk 3 is deleted, talk 9 is not a talk
        ("event", "e1", "python"): 2,
        ("event", "e1", "web"): 2,
        ("event", "e2", "python"): 1,
        ("event", "e2", "web"): 1,
        ("state", "accepted", "python"): 1,
        ("state", "accepted", "web"): 1,
        ("state", "submitted", "python"): 1,
        ("state", "submitted", "web"): 1,
    }


def test_incremental_equals_full_through_a_series_of_changes(tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    first = update_tag_counts(lake=lake)  # nothing counted yet: a full count
    assert first.mode == "full"
    rng = random.Random(7)
    steps = [
        # an enrichment run re-tags two talks (one tag dropped, one new)
        lambda: (
            lake.delete("talk_tags", predicate="talk_id IN ('t002', 't003')"),
            lake.append("talk_tags", tag_rows([("t002", "rust"), ("t003", "pandas")])),
        ),
        # a talk moves to another event and is accepted
        lambda: lake.upsert(
            "talks",
            talk_rows(
                [
                    Talk(
                        talk_id="t004",
                        title="moved",
                        tags=["devops"],
                        event_ids=["ev-a"],
                        state="accepted",
                    )
                ]
            ),
        ),
        # a talk is deleted (state), another removed outright
        lambda: (
            lake.upsert("talks", talk_rows([Talk(talk_id="t005", title="gone", state="deleted")])),
            lake.delete("talks", predicate="talk_id = 't006'"),
        ),
        # a brand-new talk with speaker tags only
        lambda: lake.upsert(
            "talks", talk_rows([Talk(talk_id="t999", title="new", tags=["Rust", "web"])])
        ),
    ]
    for step in steps:
        step()
        run = update_tag_counts(lake=lake)  # no talk ids: found from the Delta logs
        assert run.mode == "incremental" and run.talks_changed >= 1
        _full_equals_incremental(lake)
        # many random re-tags at once, talk ids passed (some unchanged)
        ids = rng.sample([f"t{i:03d}" for i in range(10, 40)], 5)
        lake.delete("talk_tags", predicate=f"talk_id = '{ids[0]}'")
        lake.append(
            "talk_tags", tag_rows([(i, rng.choice(["python", "go", "web"])) for i in ids[1:]])
        )
        update_tag_counts(lake=lake, talk_ids=ids)
        _full_equals_incremental(lake)
    rust = read_tag_counts(lake=lake).set_index("tag")["talks"]
    assert rust["rust"] == 2  # t002 (model tag) and t999 (speaker tag)


def test_nothing_changed_is_a_no_op(tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    recompute_tag_counts(lake=lake)
    version = lake.version("tag_counts")
    run = update_tag_counts(lake=lake, talk_ids=None)
    assert run.talks_changed == 0 and lake.version("tag_counts") == version


def test_affected_events(tmp_path) -> None:
    lake = make_lake(tmp_path / "lake")
    full = recompute_tag_counts(lake=lake)
    assert affected_event_ids(lake=lake, run=full) is None
    lake.append("talk_tags", tag_rows([("t001", "devops")]))
    run = update_tag_counts(lake=lake)
    # t001 is a data talk (python, data science, pandas) now also tagged devops.
    assert affected_event_ids(lake=lake, run=run) == ["ev-a", "ev-c"]


@pytest.mark.parametrize("scope,key", [("event", "ev-b"), ("state", "rejected")])
def test_read_scope(tmp_path, scope: str, key: str) -> None:
    lake = make_lake(tmp_path / "lake")
    recompute_tag_counts(lake=lake)
    rows = read_tag_counts(lake=lake, scope=scope, key=key)
    assert len(rows) > 0 and rows["talks"].is_monotonic_decreasing


# ---- exactly once: a run killed at any point, then retried; runs racing each other ----------

ROOT = Path(__file__).resolve().parents[2]  # `-m tests.kill_after_writes` runs from here


def _retag(lake: Lake) -> None:
    lake.delete("talk_tags", predicate="talk_id IN ('t002', 't003', 't010')")
    lake.append("talk_tags", tag_rows([("t002", "rust"), ("t003", "go"), ("t010", "rust")]))
    lake.upsert("talks", talk_rows([Talk(talk_id="t004", title="gone", state="deleted")]))


@pytest.mark.parametrize("crash_after", [1, 2, 3])
def test_a_run_killed_after_any_write_then_retried_counts_exactly_once(
    tmp_path, crash_after: int
) -> None:
    import subprocess
    import sys

    lake = make_lake(tmp_path / "lake")
    update_tag_counts(lake=lake)
    _retag(lake)
    child = subprocess.run(
        [sys.executable, "-m", "tests.kill_after_writes", lake.url, str(crash_after)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode in (0, -signal.SIGKILL), child.stderr[-2000:]
    update_tag_counts(lake=lake)  # the retry
    _full_equals_incremental(lake)
    update_tag_counts(lake=lake)  # and once more: still nothing counted twice
    _full_equals_incremental(lake)


def test_concurrent_runs_count_each_change_once(tmp_path) -> None:
    import subprocess
    import sys

    lake = make_lake(tmp_path / "lake")
    update_tag_counts(lake=lake)
    _retag(lake)
    script = "import sys; from podium.lake import Lake; from podium.tag_counts import "
    script += "update_tag_counts; update_tag_counts(lake=Lake(sys.argv[1]))"
    runs = [
        subprocess.Popen([sys.executable, "-c", script, lake.url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for run in runs:
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err.decode()[-2000:]
    _full_equals_incremental(lake)


def test_the_bookmark_is_in_the_counts_commit(tmp_path) -> None:
    from deltalake import DeltaTable

    from podium.tag_counts import BOOKMARK_APP

    lake = make_lake(tmp_path / "lake")
    update_tag_counts(lake=lake)
    _retag(lake)
    run = update_tag_counts(lake=lake)
    table = DeltaTable(lake.table_uri("tag_counts"))
    assert table.transaction_version(BOOKMARK_APP + "talks") == run.versions["talks"] + 1
    assert table.transaction_version(BOOKMARK_APP + "talk_tags") == run.versions["talk_tags"] + 1
    assert not lake.blob_exists("state/tag_counts.json")


def test_bounded_counting_equals_the_plain_count_in_small_chunks() -> None:
    import random

    from podium.tag_counts import count_bounded

    rng = random.Random(3)
    talks = pd.DataFrame(
        [
            {
                "talk_id": f"t{i}",
                "tags": rng.sample([f"g{k}" for k in range(12)], rng.randint(0, 5)),
                "event_ids": rng.sample([f"e{k}" for k in range(6)], rng.randint(0, 3)),
                "state": rng.choice(["submitted", "accepted", "deleted"]),
            }
            for i in range(60)
        ]
    )
    talk_tags = pd.DataFrame(
        {"talk_id": [f"t{rng.randint(0, 70)}" for _ in range(80)],
         "tag": [f"g{rng.randint(0, 15)}" for _ in range(80)]}
    )  # fmt: skip
    plain = count(contributions(talks, talk_tags)).set_index(["scope", "key", "tag"])["talks"]
    for chunk_rows in (1, 7, 10_000):
        bounded = count_bounded(talks, talk_tags, chunk_rows=chunk_rows)
        assert bounded.set_index(["scope", "key", "tag"])["talks"].to_dict() == plain.to_dict()


def test_the_blow_up_talk_counts_in_bounded_memory() -> None:
    from bench.aggregate_memory import measure

    small = measure(tags=300, events=300, talks=50)
    assert small["new_rows"] < small["old_rows"]  # only the first 200 x 200 count
    assert small["new_mib"] < small["old_mib"] / 2, small
    # Growing the body does not grow the bounded count's peak.
    bigger = measure(tags=900, events=900, talks=50, old=False)
    assert bigger["new_mib"] < small["new_mib"] * 1.5 + 5, (small, bigger)
