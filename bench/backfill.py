"""Backfill benchmark: `podium backfill` of every pyvideo talk, with the share of each stage,
and the per-talk pattern of the original system measured on a sample and extrapolated.

    .venv/bin/python bench/backfill.py [--limit N] [--chunk-size 1000] [--sample 3]

1. The backfill, exactly as `podium backfill ../shared/data/pyvideo/talks.jsonl.gz` runs it (a
   temporary Prefect server for the run, a local Dask cluster of 2 worker processes, the
   vocabulary of tagging-eval.json): wall time from import to rebuilt recommendations, and
   each stage's seconds and share. Starting the server is timed apart.
2. The per-talk pattern (one flow run per talk, as the original system ran one Lambda per
   talk): a fresh interpreter per talk, as a process worker starts one per flow run, whose
   Prefect flow run (on the same server) loads the tagger, reads the tagged history, tags the
   talk, writes its tags and draws its cover. Timed on `--sample` talks and EXTRAPOLATED to all
   of them (it is not run on all); the worker's polling delay is not included. The original's
   model was BART-large, about 15 s per talk on its own; this uses Podium's models, so it
   measures the pattern, not the model.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

# ../shared next to the checkout (a worktree sits one level deeper).
DATA = next(
    (
        p / "shared" / "data" / "pyvideo"
        for p in Path(__file__).resolve().parents[2:4]
        if (p / "shared" / "data" / "pyvideo").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pyvideo",
)


def first_talks(data: Path, limit: int, folder: Path) -> tuple[Path, int]:
    """`folder/talks.jsonl.gz`, the first `limit` records of `data`'s talks.jsonl.gz, and how
    many it holds."""
    source = folder / "talks.jsonl.gz"
    with gzip.open(data / "talks.jsonl.gz", "rt") as inp, gzip.open(source, "wt") as out:
        lines = list(itertools.islice(inp, limit))
        out.writelines(lines)
    return source, len(lines)


PER_TALK = textwrap.dedent(
    """
    import sys
    from prefect import flow

    @flow(name="enrich-one-talk")
    def enrich_one(talk_id: str) -> None:
        from podium.settings import get_settings
        from podium.lake import Lake
        from podium.images import build_image_backend, store_covers
        from podium.ingest import frame_to_talks
        from podium.tagging import build_tagger, load_history
        from podium.talk_tags import write_tags
        from podium.vocabulary import load_vocabulary
        settings = get_settings()
        lake = Lake.from_settings(settings)
        talks = frame_to_talks(lake.read("talks", where=[("talk_id", "in", [talk_id])]))
        tagger = build_tagger(settings.tagging, device="cpu")
        history = load_history(lake=lake, encoder=tagger.encoder, exclude_talk_ids={talk_id})
        assignments = tagger.tag(talks, vocabulary=load_vocabulary(lake=lake), history=history)
        write_tags(lake=lake, talk_ids=[talk_id], assignments=assignments)
        backend = build_image_backend(settings.images, device="cpu")
        store_covers(lake=lake, covers=backend.render(talks, tags={}))

    enrich_one(sys.argv[1])
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None, help="only the first N talks")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=3, help="talks for the per-talk pattern")
    args = parser.parse_args()

    from deployments.local_stack import prefect_api_for
    from flows.backfill import backfill_on, local_torch_threads, watch
    from podium.lake import Lake
    from podium.settings import Settings, get_settings
    from podium.tagging.evaluate import load_labelled
    from podium.vocabulary import save_vocabulary

    home = Path(tempfile.mkdtemp(prefix="podium-backfill-"))
    os.environ["PODIUM_HOME"] = str(home)
    os.environ["PODIUM_LAKE__URL"] = str(home / "lake")
    os.environ.pop("PREFECT_API_URL", None)
    get_settings.cache_clear()
    settings = Settings()
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=load_labelled(args.data / "tagging-eval.json").vocabulary)
    source = args.data / "talks.jsonl.gz"
    if args.limit:
        source, _ = first_talks(args.data, args.limit, home)

    load = os.getloadavg()[0]
    loads: list[float] = []
    sampling = threading.Event()

    def sample_load() -> None:  # the machine's load during the run, every 10 s
        while not sampling.wait(10):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=sample_load, daemon=True).start()
    started = time.perf_counter()
    with prefect_api_for(settings, say=lambda m: print(f"• {m}")):
        server_s = time.perf_counter() - started
        marks: dict[str, float] = {}

        def show(stage: str, done: int, total: int) -> None:
            if done == total and stage not in marks:
                marks[stage] = time.perf_counter()
                print(f"• {stage:16s} done at {marks[stage] - started - server_s:7.1f} s")

        flow = backfill_on(None, workers=args.workers)
        with watch(show):
            began = time.perf_counter()
            summary = flow(
                source=str(source),
                chunk_size=args.chunk_size,
                parallel=args.workers,
                torch_threads=local_torch_threads(args.workers),
            )
            wall = time.perf_counter() - began
        sampling.set()

        n = summary["talks"]
        during = (
            f"; during the run mean {statistics.mean(loads):.1f}, median "
            f"{statistics.median(loads):.1f}, min {min(loads):.1f}, max {max(loads):.1f} "
            f"({len(loads)} samples, 2 cores)"
            if loads
            else ""
        )
        print(
            f"\n[1] backfill of {n} talks ({args.workers} Dask workers, chunks of "
            f"{args.chunk_size}; load avg {load:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at end{during})"
        )
        print(
            f"    wall time, import -> recommendations: {wall:.1f} s ({wall / 60:.1f} min), "
            f"{n / wall:.1f} talks/s; Prefect server start {server_s:.1f} s (not included)"
        )
        print(
            f"    tagged {summary['tagged']}, covers {summary['covers']}, failed "
            f"{len(summary['failed'])}, model loads {summary['model_loads']}"
        )
        print("    stage            seconds  share  talks/s   in tasks  workers busy  CPU in tasks")
        stages = summary["stages"]
        inside = summary.get("chunk_seconds", {})
        cpu = summary.get("chunk_cpu_seconds", {})
        flow_s = sum(stages.values()) or 1.0
        for stage, seconds in stages.items():
            per = f"{n / seconds:8.1f}" if stage in ("embed", "tags", "covers") and seconds else ""
            work = inside.get(stage)
            busy = (
                f"{work:9.1f}  {work / (seconds * args.workers):11.0%}"
                if work is not None and seconds
                else ""
            )
            used = f"  {cpu[stage]:12.1f}" if stage in cpu else ""
            print(f"    {stage:16s} {seconds:7.1f}  {seconds / flow_s:5.0%}  {per:8s} {busy}{used}")
        print(
            "    (in tasks: wall seconds summed over the stage's Dask tasks; CPU in tasks: CPU "
            "seconds of the worker processes during them, what the work costs whatever the "
            "load)"
        )
        print(f"    (other: flow start, Dask cluster start and finish: {wall - flow_s:.1f} s)")
        print(
            "    orchestration (Prefect task runs, Dask scheduling, idle workers at stage ends): "
            f"{sum(stages[k] * args.workers - inside.get(k, 0.0) for k in inside):.1f} "
            f"worker-seconds of {sum(stages[k] for k in inside) * args.workers:.1f}"
        )

        # ---- 2. the per-talk pattern, sampled --------------------------------------------
        talk_ids = lake.read("talks", columns=["talk_id"]).talk_id.tolist()[: args.sample]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        per_talk = []
        for talk_id in talk_ids:
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", PER_TALK, talk_id], env=env, check=True)
            per_talk.append(time.perf_counter() - began)
        mean = statistics.mean(per_talk)
        print(
            f"\n[2] per-talk pattern (one flow run in a fresh process per talk: load the "
            f"tagger, read the history, tag, write, draw): "
            f"{', '.join(f'{s:.1f}' for s in per_talk)} s"
        )
        print(
            f"    EXTRAPOLATED to {n} talks, one at a time: {mean * n / 3600:.1f} h "
            f"({mean * n / wall:.0f}x the backfill); measured on {len(per_talk)} talks only"
        )


if __name__ == "__main__":
    main()
