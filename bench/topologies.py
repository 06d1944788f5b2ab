"""The single-machine stack and the production-shaped one, side by side in one run.

    .venv/bin/python bench/topologies.py --talks 200 --clients 8
    .venv/bin/python bench/topologies.py --talks 4 --clients 2 --faults none   # the suite's run

One after the other, on the same machine in the same run:

- **single**: `podium up`'s stack (`deployments.local_stack.LocalStack`: one Prefect server on
  SQLite, one gateway, one warm executor, the counts and recommendations process, the process
  workers; the lake on local disk);
- **production**: the production-shaped stack (`deployments.production_stack`: PostgreSQL,
  Redis, the lake on moto S3 over HTTP, two Prefect API servers, two gateways, two warm
  executors, the counts and recommendations process).

Each stack, once its warm executors have loaded their models, gets one burst of `--talks`
signed posts from `--clients` threads over all of its gateways (a request that fails goes to
the next gateway). Per talk, from the moment its request was first sent (stamped before
sending): **tagged** (its tags stage done), **counts** (the first sample in which
`tag_counts` counted a `talk_tags` version holding its tags) and **recommendations** (the next
`recommendations` commit after that), sampled as `bench/lag.py` does; and the burst's
**accepted requests per second** (2xx answers over the burst's wall time, closed loop: each
client waits for its answer). Then, on the production-shaped stack, the chaos rows of
`bench/chaos.py` for `--faults` (a fault needs a supervisor that starts the piece again, which
`podium up` is not; the single machine's faults are in `bench/faults.py`).

The load average is printed with each figure: compare the two columns, which shared the machine
with the same neighbours, rather than either with a figure from another run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from burst import bench_stack, burst_parser  # noqa: E402
from chaos import FAULTS, print_rows, run_fault  # noqa: E402
from chaos import start_stack as start_production  # noqa: E402
from lag import Sampler  # noqa: E402

from deployments.stack_check import make_talks, post_burst, tagged_now, wait_warm  # noqa: E402
from podium.lake import Lake  # noqa: E402


@dataclass
class Figures:
    """One topology's column."""

    name: str
    talks: int = 0
    acked: int = 0
    req_s: float = float("nan")
    lags: pd.DataFrame = field(default_factory=pd.DataFrame)
    start_s: float = float("nan")
    load: tuple[float, float] = (float("nan"), float("nan"))  # 1-min load before, after
    rows: list = field(default_factory=list)  # chaos rows (production only)


def measure_burst(
    figures: Figures,
    lake: Lake,
    *,
    gateway_urls: list[str],
    secret: str,
    args: argparse.Namespace,
) -> None:
    """One burst through `gateway_urls`; fills `figures` with its rate and per-talk lags."""
    talks = make_talks(args.talks, prefix=f"topo-{figures.name}")
    ids = [t["talk_id"] for t in talks]
    with Sampler(lake, args.sample) as sampler:  # stops sampling on a timeout too
        before = os.getloadavg()[0]
        burst = post_burst(talks, gateway_urls=gateway_urls, secret=secret, clients=args.clients)
        acked = list(burst.acked)
        deadline = time.monotonic() + args.timeout
        while len(tagged_now(lake, acked)) < len(acked) and time.monotonic() < deadline:
            time.sleep(1)
        run = SimpleNamespace(
            lake=lake, sent={i: datetime.fromtimestamp(burst.sent[i], UTC) for i in acked}
        )
        deadline = time.monotonic() + args.follow
        while True:
            lags = sampler.lags(run, acked)  # type: ignore[arg-type]  # the Run's two fields
            if not lags.recs.isna().any() or time.monotonic() > deadline:
                break
            time.sleep(1)
    figures.talks, figures.acked = len(ids), len(acked)
    figures.req_s = len(acked) / max(burst.finished - burst.started, 1e-9)
    figures.lags = sampler.lags(run, acked)  # type: ignore[arg-type]
    figures.load = (before, os.getloadavg()[0])


def single(args: argparse.Namespace) -> Figures:
    figures = Figures("single")
    settings, stack, lake = bench_stack("podium-topologies-")
    started = time.monotonic()
    stack.up()
    try:
        wait_warm(stack.api_url, timeout_s=600)
        figures.start_s = time.monotonic() - started
        time.sleep(args.settle)
        measure_burst(figures, lake, gateway_urls=[stack.gateway_url],
                      secret=settings.gateway.secret.get_secret_value(), args=args)  # fmt: skip
    finally:
        stack.down()
    return figures


def production(args: argparse.Namespace) -> Figures:
    from chaos import SECRET

    figures = Figures("production")
    started = time.monotonic()
    stack = start_production(say=lambda m: print(f"• production: {m}", flush=True))
    try:
        wait_warm(stack.api_url, count=stack.executors, timeout_s=600)  # models loaded in both
        figures.start_s = time.monotonic() - started
        time.sleep(args.settle)
        lake = Lake.from_settings(stack.lake_settings())
        measure_burst(figures, lake, gateway_urls=stack.gateway_urls(), secret=SECRET, args=args)
        for name in args.faults:
            figures.rows.append(run_fault(stack, name, talks=args.chaos_talks,
                                          clients=args.clients))  # fmt: skip
            print_rows(figures.rows[-1:])
    finally:
        stack.down()
    return figures


def percentiles(frame: pd.DataFrame, column: str) -> str:
    values = frame[column].dropna().to_numpy() if column in frame else np.zeros(0)
    if not len(values):
        return "n/a"
    return f"{np.percentile(values, 50):.2f} / {np.percentile(values, 95):.2f} s"


def print_table(columns: list[Figures], args: argparse.Namespace) -> None:
    print(f"\n{args.talks} talks from {args.clients} clients per stack; seconds from each "
          "request's send, p50 / p95")  # fmt: skip
    rows = [
        ("stack started in", [f"{f.start_s:.0f} s" for f in columns]),
        ("burst accepted", [f"{f.acked}/{f.talks}, {f.req_s:.1f} req/s" for f in columns]),
        ("post -> tagged", [percentiles(f.lags, "tagged") for f in columns]),
        ("post -> counts", [percentiles(f.lags, "counts") for f in columns]),
        ("post -> recommendations", [percentiles(f.lags, "recs") for f in columns]),
        ("load avg before / after", [f"{f.load[0]:.1f} / {f.load[1]:.1f}" for f in columns]),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"| {'':{width}s} | " + " | ".join(f"{f.name:24s}" for f in columns) + " |")
    for label, cells in rows:
        print(f"| {label:{width}s} | " + " | ".join(f"{c:24s}" for c in cells) + " |")
    for figures in columns:
        if figures.rows:
            print(f"\nchaos on the {figures.name} stack, {args.chaos_talks} talks a fault:")
            print_rows(figures.rows)
        missing = int(figures.lags.recs.isna().sum()) if "recs" in figures.lags else 0
        if missing:
            print(f"{figures.name}: {missing} talks not yet recommended when --follow ended")


def main(argv: list[str] | None = None) -> int:
    parser = burst_parser(
        __doc__.split("\n")[0], follow=180, settle=10, talks="talks in each stack's burst"
    )
    parser.add_argument(
        "--faults",
        default="kill-gateway,kill-executor,kill-api-server,restart-redis,restart-postgres,"
        "s3-endpoint-down-10s",
        help=f"chaos rows on the production stack: some of {', '.join(FAULTS)}, or none",
    )
    parser.add_argument("--chaos-talks", type=int, default=16, help="talks in each fault's burst")
    parser.add_argument(
        "--only", choices=("single", "production"), help="one stack (not side by side)"
    )
    args = parser.parse_args(argv)
    args.faults = [] if args.faults == "none" else [f for f in args.faults.split(",") if f]
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    columns = []
    if args.only in (None, "single"):
        columns.append(single(args))
    if args.only in (None, "production"):
        columns.append(production(args))
    print_table(columns, args)
    print(f"\nload average at end: {os.getloadavg()}; {time.monotonic() - started:.0f} s wall")
    return 0 if all(r.lost == 0 and r.twice == 0 for f in columns for r in f.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
