"""Chaos on the production-shaped stack: real faults, mid-burst, one row each.

Starts `deployments.production_stack.ProductionStack` once (PostgreSQL, Redis, moto S3 behind
an endpoint proxy, 2 Prefect API servers + services, 2 gateways, 2 warm executors), then for
each fault posts a burst of signed talks from `--clients` clients spread over both gateways
(a client whose request fails retries on the other gateway), injects the fault a third of the
way into the burst, brings the faulted piece back as an orchestrator would, waits until every
acknowledged talk is tagged and covered, and audits the lake and the API:

    fault | talks sent | lost | processed twice | post->tagged p50 / p95 | time to recover

- lost: a talk acknowledged with a 2xx that is not tagged at its current version (a talk whose
  client gave up before any 2xx is counted apart, in the notes).
- processed twice: a talk named by two `podium.talk.tagged` events (two passes tagged it).
- time to recover: from the fault until every talk acknowledged so far was tagged.

    .venv/bin/python bench/chaos.py                         # every fault, 60 talks each
    .venv/bin/python bench/chaos.py --talks 200 --clients 16 kill-gateway restart-postgres

It takes minutes (the stack alone starts in ~1-3 min), so the suite runs it only as a slow
test (tests/deployments/test_chaos_bench.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployments.production_stack import ProductionStack  # noqa: E402
from deployments.stack_check import (  # noqa: E402
    audit,
    make_talks,
    post_burst,
    utcnow,
    wait_tagged,
)
from podium.demo import load_directory  # noqa: E402
from podium.enrichment import state_rows  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.settings import Settings  # noqa: E402

SECRET = "chaos-bench-secret"


def _kill(name: str) -> Callable[[ProductionStack], None]:
    def fault(stack: ProductionStack) -> None:
        stack.kill(name)  # kill -9 of its whole process group
        stack.restart(name, wait=False)  # what the Deployment's restart does

    return fault


def _restart(name: str, sig: int) -> Callable[[ProductionStack], None]:
    def fault(stack: ProductionStack) -> None:
        stack.kill(name, sig)
        stack.restart(name, wait=False)

    return fault


def _s3_down(stack: ProductionStack) -> None:
    stack.kill("s3")  # the endpoint is gone; moto (the data) stays
    time.sleep(10)
    stack.restart("s3", wait=False)


FAULTS: dict[str, Callable[[ProductionStack], None]] = {
    "kill-gateway": _kill("gateway-1"),
    "kill-executor": _kill("warm-1"),
    "kill-api-server": _kill("api-1"),
    # Redis stops (SIGTERM: its append-only file is flushed) and starts again.
    "restart-redis": _restart("redis", signal.SIGTERM),
    # PostgreSQL's fast shutdown (SIGINT: open sessions are cut), then a start.
    "restart-postgres": _restart("postgres", signal.SIGINT),
    "s3-endpoint-down-10s": _s3_down,
}
LABELS = {
    "kill-gateway": "kill -9 gateway",
    "kill-executor": "kill -9 warm executor",
    "kill-api-server": "kill -9 API server",
    "restart-redis": "restart Redis",
    "restart-postgres": "restart PostgreSQL",
    "s3-endpoint-down-10s": "S3 endpoint down 10 s",
}


@dataclass
class Row:
    fault: str
    sent: int
    lost: int
    twice: int
    p50: float | None
    p95: float | None
    recover_s: float | None
    retries: int
    note: str = ""


def run_fault(stack: ProductionStack, name: str, *, talks: int, clients: int) -> Row:
    lake = Lake.from_settings(stack.lake_settings())
    since = utcnow()
    batch = make_talks(talks, prefix=f"{name}-{uuid.uuid4().hex[:6]}")
    fault_at: list[float] = []
    faulted = threading.Event()

    def inject(acked: int) -> None:
        if acked >= talks // 3 and not faulted.is_set():
            faulted.set()
            fault_at.append(time.time())
            threading.Thread(target=FAULTS[name], args=(stack,), daemon=True).start()

    burst = post_burst(
        batch,
        gateway_urls=stack.gateway_urls(),
        secret=SECRET,
        clients=clients,
        on_acked=inject,
        give_up_s=300,
    )
    ids = list(burst.acked)
    done_at = wait_tagged(lake, ids, timeout_s=600, check=lambda: None)
    stack.supervise()  # anything else that died meanwhile is started again
    report = audit(lake, burst, ids, api_url=stack.api_url, since=since)
    tagged = state_rows(
        lake=lake, talk_ids=ids, stage="tags", statuses=["done"], columns=["talk_id", "updated_at"]
    )
    recover = None
    if fault_at and not report.lost:
        before = [i for i in ids if burst.acked[i] <= fault_at[0] + 1]
        last = tagged[tagged.talk_id.isin(before)].updated_at.max()
        recover = max(0.0, last.timestamp() - fault_at[0]) if before else done_at - fault_at[0]
    # A talk never acknowledged (its client gave up) is not lost: no 2xx promised anything.
    unacked = len(batch) - len(ids)
    notes = []
    if unacked:
        notes.append(f"{unacked} never acknowledged (client gave up)")
    if report.multi_attempts:
        notes.append(f"{len(report.multi_attempts)} claimed again after the fault")
    return Row(
        LABELS[name],
        len(batch),
        len(report.lost),
        len(report.twice),
        report.p50,
        report.p95,
        recover,
        burst.retries,
        "; ".join(notes),
    )


def start_stack(root: Path | None = None, say: Callable[[str], None] = print) -> ProductionStack:
    settings = Settings(gateway={"secret": SECRET})
    kwargs = {"root": root} if root else {}
    stack = ProductionStack(
        settings, deployments=("enrich-warm",), cpu_worker=False, say=say, **kwargs
    )
    stack.up()
    load_directory(lake=Lake.from_settings(stack.lake_settings()))
    return stack


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def print_rows(rows: list[Row]) -> None:
    header = ("fault", "talks sent", "lost", "twice", "p50", "p95", "recover", "retries", "notes")
    table = [header] + [
        (r.fault, str(r.sent), str(r.lost), str(r.twice), _fmt(r.p50), _fmt(r.p95),
         _fmt(r.recover_s), str(r.retries), r.note)
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("faults", nargs="*", help=f"some of {', '.join(FAULTS)} (default all)")
    parser.add_argument("--talks", type=int, default=60, help="talks per fault's burst")
    parser.add_argument("--clients", type=int, default=8, help="concurrent posting clients")
    args = parser.parse_args(argv)
    names = args.faults or list(FAULTS)
    unknown = set(names) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    stack = start_stack(say=lambda m: print(f"  {time.monotonic() - started:5.0f} s  {m}"))
    rows = []
    try:
        for name in names:
            rows.append(run_fault(stack, name, talks=args.talks, clients=args.clients))
            print_rows(rows[-1:])
    finally:
        stack.down()
    print(f"\nload average at end: {os.getloadavg()}; {time.monotonic() - started:.0f} s wall")
    print_rows(rows)
    return 0 if all(r.lost == 0 and r.twice == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
