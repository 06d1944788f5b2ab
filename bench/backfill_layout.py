"""The backfill's embed stage under different process x thread layouts, side by side.

    .venv/bin/python bench/backfill_layout.py [--limit 2000] [--rounds 2] [--layouts 2x1,1x2,2x2]

Each layout `PxT` is P worker processes (as the backfill's Dask workers are) with T torch
intra-op threads each, every process encoding its share of the same pyvideo talks' tagging
texts (exactly what the embed stage encodes) with the tagger's encoder as configured (torch
bf16 by default). All layouts' processes are started and their models loaded first, then the
layouts take turns, round by round, in alternating order, so a busy machine slows each alike.
Only the encoding is timed: wall from "go" to the last process done, and CPU seconds summed
over the processes (more CPU than wall x cores means threads waiting on each other).

A layout ending in `t` (`2x1t`) starts its processes with `MALLOC_TRIM_THRESHOLD_=65536`, as
Dask's nanny starts a worker by default (`distributed.nanny.pre-spawn-environ`); the
backfill's cluster (`flows.backfill.BackfillCluster`) leaves it out.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

from bench.backfill import DATA, first_talks  # noqa: E402


def _worker(conn, threads: int, source: str, part: int, parts: int) -> None:  # noqa: ANN001
    import torch

    torch.set_num_threads(threads)
    from podium import warm_models
    from podium.settings import Settings
    from podium.sources import load_source
    from podium.tagging.history import talk_texts

    started = time.perf_counter()
    tagger, _ = warm_models.tagger(Settings())
    encoder = tagger.encoder
    talks = load_source(Path(source)).talks[part::parts]
    texts = talk_texts(talks, encoder=encoder)
    encoder.encode(texts[:64])  # warm-up: first-call allocations and kernel choice
    conn.send(("ready", time.perf_counter() - started, torch.get_num_threads()))
    while True:
        if conn.recv() != "go":
            return
        wall, cpu = time.perf_counter(), time.process_time()
        encoder.encode(texts)
        conn.send((len(texts), time.perf_counter() - wall, time.process_time() - cpu))


def _name(layout: tuple[int, int, bool]) -> str:
    return f"{layout[0]} x {layout[1]}{' t' if layout[2] else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--layouts", default="2x1,1x2,2x2")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="podium-layout-"))
    source, talks = first_talks(args.data, args.limit, folder)
    specs = args.layouts.split(",")
    layouts = [
        (*(int(x) for x in spec.rstrip("t").split("x")), spec.endswith("t")) for spec in specs
    ]
    context = mp.get_context("spawn")
    pools: dict[tuple[int, int, bool], list] = {}
    print(f"{talks} pyvideo talks, load avg {os.getloadavg()[0]:.1f}; loading models ...")
    for layout in layouts:
        processes, threads, trim = layout
        if trim:  # read by glibc when the process starts: set around the spawn only
            os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"
        pipes = []
        for p in range(processes):
            ours, theirs = context.Pipe()
            proc = context.Process(
                target=_worker, args=(theirs, threads, str(source), p, processes), daemon=True
            )
            proc.start()
            pipes.append((ours, proc))
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        for ours, _ in pipes:
            _, load_s, got = ours.recv()
            print(f"  {_name(layout)}: model loaded in {load_s:.1f} s ({got} threads)")
        pools[layout] = pipes

    wall: dict[tuple[int, int, bool], float] = dict.fromkeys(layouts, 0.0)
    cpu: dict[tuple[int, int, bool], float] = dict.fromkeys(layouts, 0.0)
    texts: dict[tuple[int, int, bool], int] = dict.fromkeys(layouts, 0)
    loads = []
    for r in range(args.rounds):
        for layout in layouts if r % 2 == 0 else layouts[::-1]:
            loads.append(os.getloadavg()[0])
            started = time.perf_counter()
            for ours, _ in pools[layout]:
                ours.send("go")
            for ours, _ in pools[layout]:
                n, _, used = ours.recv()
                texts[layout] += n
                cpu[layout] += used
            wall[layout] += time.perf_counter() - started
    for pipes in pools.values():
        for ours, proc in pipes:
            ours.send("stop")
            proc.join(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\nembed stage layouts, {args.rounds} rounds x {talks} talks, interleaved "
        f"(load avg during: {min(loads):.1f}-{max(loads):.1f}; 2 cores):"
    )
    print("  layout (processes x threads)  texts/s wall   CPU s/1000 texts   vs first")
    print("  (t: MALLOC_TRIM_THRESHOLD_=65536, as Dask's nanny sets it)")
    first = texts[layouts[0]] / wall[layouts[0]]
    for layout in layouts:
        rate = texts[layout] / wall[layout]
        print(
            f"  {_name(layout):30s} {rate:12.1f} "
            f"{cpu[layout] / texts[layout] * 1000:18.1f} {rate / first:9.2f}x"
        )


if __name__ == "__main__":
    main()
