"""Soak: talks posted at a steady rate through the production-shaped stack, and the memory of
every long-lived process over time.

Starts `deployments.production_stack.ProductionStack` (PostgreSQL, Redis, moto S3, Prefect API
servers + services, gateways behind the balancer, warm executors), posts `--talks` signed talks
at `--rate` per second (round-robin over the gateways, a failed post retried on the next one),
samples the resident memory (RSS) of every long-lived process every `--sample-s` seconds, then
waits until every acknowledged talk is tagged and prints:

- RSS over time, one row per sample, one column per process (MiB);
- per process, the slope of RSS against talks posted after the warm-up (the first
  `--warmup` fraction of the talks), in MiB per 1,000 talks: ~0 means flat memory;
- talks sent, acknowledged, lost (acknowledged, not tagged) and post -> tagged p50/p95.

    .venv/bin/python bench/soak.py                             # 10,000 talks over an hour
    .venv/bin/python bench/soak.py --talks 1500 --rate 3.1     # 1,500 talks in 8 minutes

Exit status 1 when a talk was lost, or when `--max-slope` is given and a warm executor's slope
exceeds it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from deployments.production_stack import ProductionStack  # noqa: E402
from deployments.stack_check import make_talks, tagged_now, wait_tagged  # noqa: E402
from podium.demo import load_directory  # noqa: E402
from podium.enrichment import state_rows  # noqa: E402
from podium.gateway.signatures import signed_headers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.settings import Settings  # noqa: E402

SECRET = "soak-bench-secret"
# Data services are not Podium's: their memory is their own business (and PostgreSQL's is
# shared buffers). Everything else the stack starts is sampled.
NOT_SAMPLED = {"postgres", "redis", "s3", "moto", "gateway-lb", "api-lb"}


@dataclass
class Sample:
    at: float  # seconds since the first post
    posted: int
    rss: dict[str, float]  # MiB per process name


@dataclass
class Soak:
    acked: dict[str, float] = field(default_factory=dict)
    failed: int = 0
    samples: list[Sample] = field(default_factory=list)


def rss_mib(pid: int) -> float | None:
    """RSS of a process and its descendants (a flow run a worker started counts to it)."""
    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20
    except psutil.Error:
        return None


def sample(stack: ProductionStack) -> dict[str, float]:
    out = {}
    for name, child in stack.children.items():
        if name in NOT_SAMPLED or child.process is None or child.process.poll() is not None:
            continue
        value = rss_mib(child.process.pid)
        if value is not None:
            out[name] = value
    return out


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (None with fewer than 3 points)."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def post_steadily(
    stack: ProductionStack,
    talks: list[dict],
    *,
    rate: float,
    soak: Soak,
    sample_s: float,
    clients: int = 8,
) -> None:
    """Post talk i at i/rate seconds (from `clients` threads, so a slow answer does not slow
    the rate), sampling RSS every `sample_s` seconds meanwhile."""
    urls = stack.gateway_urls()
    started = time.monotonic()
    lock = threading.Lock()
    posted = [0]

    def send(item: tuple[int, dict]) -> None:
        i, talk = item
        due = started + i / rate
        while (now := time.monotonic()) < due:
            time.sleep(min(0.05, due - now))
        body = json.dumps(talk, ensure_ascii=False).encode()
        with httpx.Client(timeout=30) as client:
            for attempt in range(len(urls) * 3):
                try:
                    url = urls[(i + attempt) % len(urls)]
                    response = client.post(
                        f"{url}/hooks/talks", content=body, headers=signed_headers(body, SECRET)
                    )
                    if 200 <= response.status_code < 300:
                        with lock:
                            soak.acked[talk["talk_id"]] = time.time()
                            posted[0] += 1
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        with lock:
            soak.failed += 1

    done = threading.Event()

    def sampler() -> None:
        while True:
            soak.samples.append(Sample(time.monotonic() - started, posted[0], sample(stack)))
            last = soak.samples[-1]  # as it goes, so a run cut short still shows its figures
            print(f"  sample {last.at:5.0f} s  {last.posted:6d} talks  "
                  + "  ".join(f"{n} {v:.0f}" for n, v in sorted(last.rss.items()))
                  + " MiB", flush=True)  # fmt: skip
            stack.supervise()  # a process that died is started again (and shows in the table)
            if done.wait(sample_s):
                return

    watching = threading.Thread(target=sampler, daemon=True)
    watching.start()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, enumerate(talks)))
    done.set()
    watching.join()


def report(soak: Soak, *, talks: int, warmup: float) -> dict[str, float | None]:
    names = sorted({n for s in soak.samples for n in s.rss})
    print("\nRSS over time (MiB):")
    header = ["t (s)", "talks", *names]
    rows = [
        [f"{s.at:.0f}", str(s.posted), *(f"{s.rss[n]:.0f}" if n in s.rss else "-" for n in names)]
        for s in soak.samples
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    after = [s for s in soak.samples if s.posted >= warmup * talks]
    slopes: dict[str, float | None] = {}
    print(f"\nslope after warm-up (first {warmup:.0%} of the talks left out), MiB per 1,000 talks:")
    for name in names:
        points = [(s.posted, s.rss[name]) for s in after if name in s.rss]
        value = slope(points)
        slopes[name] = None if value is None else value * 1000
        first = points[0][1] if points else None
        last = points[-1][1] if points else None
        shown = "-" if value is None else f"{value * 1000:+.1f}"
        span = "" if first is None else f"  ({first:.0f} -> {last:.0f} MiB)"
        print(f"  {name:<14} {shown:>8}{span}")
    return slopes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--talks", type=int, default=10_000, help="talks posted in all")
    parser.add_argument(
        "--rate", type=float, default=10_000 / 3600, help="talks per second (default: 10,000/h)"
    )
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=0.2, help="fraction of the talks left out of the slope"
    )
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--api-servers", type=int, default=2)
    parser.add_argument(
        "--max-slope",
        type=float,
        default=None,
        help="fail when a warm executor's slope exceeds this many MiB per 1,000 talks",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    stack = ProductionStack(
        Settings(gateway={"secret": SECRET}),
        api_servers=args.api_servers,
        gateways=args.gateways,
        executors=args.executors,
        deployments=("enrich-warm",),
        cpu_worker=False,
        say=lambda m: print(f"  {time.monotonic() - started:5.0f} s  {m}", flush=True),
    )
    soak = Soak()
    try:
        stack.up()
        lake = Lake.from_settings(stack.lake_settings())
        load_directory(lake=lake)
        talks = make_talks(args.talks, prefix=f"soak-{uuid.uuid4().hex[:6]}")
        print(f"posting {len(talks)} talks at {args.rate:.2f}/s "
              f"(~{len(talks) / args.rate / 60:.1f} min)", flush=True)  # fmt: skip
        post_steadily(stack, talks, rate=args.rate, soak=soak, sample_s=args.sample_s)
        ids = list(soak.acked)
        wait_tagged(lake, ids, timeout_s=300 + len(ids) * 0.5, check=stack.supervise)
        soak.samples.append(Sample(time.monotonic() - started, len(talks), sample(stack)))
        tagged = tagged_now(lake, ids)
        state = state_rows(
            lake=lake, talk_ids=ids, stage="tags", statuses=["done"],
            columns=["talk_id", "updated_at"],
        )  # fmt: skip
        latencies = sorted(
            r.updated_at.timestamp() - soak.acked[r.talk_id]
            for r in state.itertuples()
            if r.talk_id in tagged
        )
        restarts = {n: c.restarts for n, c in stack.children.items() if c.restarts}
    finally:
        stack.down()
    slopes = report(soak, talks=args.talks, warmup=args.warmup)
    lost = len(ids) - len(tagged)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = (
        latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        if latencies
        else float("nan")
    )  # noqa: E501
    print(f"\ntalks sent {len(talks)}, acknowledged {len(ids)}, never acknowledged "
          f"{soak.failed}, lost {lost}; post -> tagged p50 {p50:.1f} s, p95 {p95:.1f} s"
          + (f"; restarted: {restarts}" if restarts else ""))  # fmt: skip
    print(f"load average at end: {os.getloadavg()}; {time.monotonic() - started:.0f} s wall")
    executor_slopes = [v for n, v in slopes.items() if n.startswith("warm-") and v is not None]
    too_steep = args.max_slope is not None and any(v > args.max_slope for v in executor_slopes)
    return 1 if lost or too_steep else 0


if __name__ == "__main__":
    raise SystemExit(main())
