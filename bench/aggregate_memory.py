"""Peak memory of tag counting on the audit's blow-up talk (issue 24).

One 24 KB talk with 1,500 tags x 1,500 event ids, beside a few hundred ordinary talks, counted
the old way (`count(contributions(...))`: every (scope, key, tag, talk) row at once) and the
bounded way (`count_bounded`: at most `COUNTED_PER_TALK` tags and event ids per talk, per-event
rows a chunk at a time). Peak is tracemalloc's (numpy and pandas buffers included), measured
in this process, one way after the other. The sources now refuse such a talk as a record
(`limits.max_*_per_talk`); the bounded count covers a row that got into the lake before.

    .venv/bin/python bench/aggregate_memory.py [--tags 1500 --events 1500 --talks 300]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from podium.tag_counts import contributions, count, count_bounded  # noqa: E402


def frames(*, tags: int, events: int, talks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`talks` and `talk_tags` source rows: ordinary talks plus the blow-up talk."""
    rows = [
        {
            "talk_id": f"t{i}",
            "tags": [f"tag{(i + k) % 40}" for k in range(4)],
            "event_ids": [f"ev{i % 7}"],
            "state": "accepted",
        }
        for i in range(talks)
    ]
    rows.append(
        {
            "talk_id": "blowup",
            "tags": [f"x{i}" for i in range(tags)],
            "event_ids": [f"e{i}" for i in range(events)],
            "state": "submitted",
        }
    )
    talk_tags = pd.DataFrame(
        {"talk_id": [f"t{i}" for i in range(talks)], "tag": ["model tag"] * talks}
    )
    return pd.DataFrame(rows), talk_tags


def peak(function, *args) -> tuple[float, float, int]:  # noqa: ANN001
    """(peak MiB, seconds, rows) of one call."""
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    result = function(*args)
    seconds = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 2**20, seconds, len(result)


def measure(*, tags: int, events: int, talks: int, old: bool = True) -> dict[str, float]:
    talks_frame, talk_tags = frames(tags=tags, events=events, talks=talks)
    out: dict[str, float] = {}
    if old:
        out["old_mib"], out["old_s"], out["old_rows"] = peak(
            lambda a, b: count(contributions(a, b)), talks_frame, talk_tags
        )
    out["new_mib"], out["new_s"], out["new_rows"] = peak(count_bounded, talks_frame, talk_tags)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=1500)
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--talks", type=int, default=300, help="ordinary talks beside it")
    args = parser.parse_args()
    figures = measure(tags=args.tags, events=args.events, talks=args.talks)
    print(f"blow-up talk: {args.tags} tags x {args.events} event ids, +{args.talks} talks")
    print(
        f"old  count(contributions): peak {figures['old_mib']:.0f} MiB, "
        f"{figures['old_s']:.1f} s, {figures['old_rows']:.0f} count rows"
    )
    print(
        f"new  count_bounded:        peak {figures['new_mib']:.0f} MiB, "
        f"{figures['new_s']:.1f} s, {figures['new_rows']:.0f} count rows"
    )


if __name__ == "__main__":
    main()
