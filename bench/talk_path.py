"""Where one talk's time goes on the production-shaped stack, and what the lake costs on S3.

    .venv/bin/python bench/talk_path.py --singles 5 --burst 16
    .venv/bin/python bench/talk_path.py --variants after,pruned     # side by side, one stack
    .venv/bin/python bench/talk_path.py --singles 1 --burst 2 --variants pruned   # the suite's run

Starts `deployments.production_stack` once (PostgreSQL, Redis, moto S3, two API servers, two
gateways, two warm executors, the warm counts process), every Podium process writing its spans
to a file of its own (`ops.traces=file`: the gateway's request, the warm run, tagging, the
ledger record, and every lake operation and table open, `lake.*`). For each variant (an
environment given to the Podium processes, which are restarted with it) it posts `--singles`
talks one at a time on the quiet stack, each once the previous is tagged, then a burst of
`--burst` talks from `--clients` threads, and listens to the API's event stream
(`podium.talk.submitted`, `podium.talk.tagged`), so that nothing polls the lake while a talk is
under way. Per single talk:

- accept: request sent -> 2xx (the gateway's inbox append);
- fold: 2xx -> `podium.talk.submitted` stamped (the inbox fold: listing, lease, `talks` and
  ledger MERGEs, in a gateway);
- executor: submitted -> `podium.talk.tagged` stamped (event delivery, the warm executor's
  wake-up, its ledger check, run creation, claim, tagging, the ledger record);
- the spans started in the talk's window, summed per process and name, and moto's requests in
  the window by table and kind (log commit, checkpoint, data file, listing, blob), less the
  quiet stack's rate.

The load average is printed with every figure: compare variants of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from deployments.production_stack import ProductionStack  # noqa: E402
from deployments.stack_check import (  # noqa: E402
    make_talks,
    post_burst,
    signed_headers,
    wait_warm,
)
from podium.demo import load_directory  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.settings import Settings  # noqa: E402

SECRET = "talk-path-bench-secret"
SUBMITTED, TAGGED = "podium.talk.submitted", "podium.talk.tagged"
PODIUM_PROCESSES = ("gateway-", "warm-", "derived-")

# What each variant changes in the Podium processes' environment.
VARIANTS: dict[str, dict[str, str]] = {
    "before": {
        "PODIUM_LAKE__REUSE_TABLES": "false",
        "PODIUM_LAKE__FILE_CACHE_MIB": "0",
        "PODIUM_LAKE__COMPACT_AFTER_FILES": "24",
        "PODIUM_LAKE__PRUNE_MERGES": "false",
    },
    # Tables reused and data files cached (the tenth round), MERGEs unpruned.
    "after": {
        "PODIUM_LAKE__REUSE_TABLES": "true",
        "PODIUM_LAKE__FILE_CACHE_MIB": "64",
        "PODIUM_LAKE__COMPACT_AFTER_FILES": "24",
        "PODIUM_LAKE__PRUNE_MERGES": "false",
    },
    # The defaults now: the same, with every MERGE given its keys (`Lake._key_filter`).
    "pruned": {
        "PODIUM_LAKE__REUSE_TABLES": "true",
        "PODIUM_LAKE__FILE_CACHE_MIB": "64",
        "PODIUM_LAKE__COMPACT_AFTER_FILES": "24",
        "PODIUM_LAKE__PRUNE_MERGES": "true",
    },
    # The same, with tables compacted once they hold more than 8 data files instead of 24.
    "compact8": {
        "PODIUM_LAKE__REUSE_TABLES": "true",
        "PODIUM_LAKE__FILE_CACHE_MIB": "64",
        "PODIUM_LAKE__COMPACT_AFTER_FILES": "8",
        "PODIUM_LAKE__PRUNE_MERGES": "false",
    },
}


class TracedStack(ProductionStack):
    """The production stack, with every Podium process's spans in `root/traces/<name>.jsonl`
    and the variant's environment."""

    extra_env: dict[str, str] = {}

    def podium_env(self, name: str) -> dict[str, str]:
        env = super().podium_env(name)
        traces = self.root / "traces"
        traces.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "PODIUM_OPS__TRACES": "file",
                "PODIUM_OPS__TRACE_FILE": str(traces / f"{name}.jsonl"),
                **self.extra_env,
            }
        )
        return env


# ---- the event stream -------------------------------------------------------------------------


@dataclass
class Seen:
    """Per talk id: when its submitted and tagged events were stamped (occurred)."""

    submitted: dict[str, float] = field(default_factory=dict)
    tagged: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_event(self, event: Any) -> None:
        name = getattr(event, "event", "")
        occurred = event.occurred.timestamp()
        ids = (getattr(event, "payload", {}) or {}).get("talk_ids") or []
        target = self.submitted if name == SUBMITTED else self.tagged
        with self.lock:
            for talk_id in ids:
                target.setdefault(talk_id, occurred)

    def wait(self, ids: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if all(i in self.tagged for i in ids):
                    return True
            time.sleep(0.02)
        return False


def listen(api_url: str, seen: Seen, stopping: threading.Event) -> threading.Thread:
    async def run() -> None:
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api_url}):
            names = EventNameFilter(name=[SUBMITTED, TAGGED])  # type: ignore[call-arg]
            async with get_events_subscriber(filter=EventFilter(event=names)) as stream:
                async for event in stream:
                    seen.on_event(event)
                    if stopping.is_set():
                        return

    def loop() -> None:
        while not stopping.is_set():
            try:
                asyncio.run(run())
            except Exception:  # noqa: BLE001 - reconnect
                time.sleep(1)

    thread = threading.Thread(target=loop, daemon=True, name="bench-events")
    thread.start()
    return thread


# ---- moto's request log and the spans ---------------------------------------------------------

_REQUEST = re.compile(r'\[(\d\d/\w+/\d{4} \d\d:\d\d:\d\d)\] "(\w+) (\S+) HTTP')


def s3_kind(method: str, path: str) -> str:
    """A request's table (or blob folder) and kind: `talks log`, `inbox list`, ..."""
    base, _, query = path.partition("?")
    if "list-type" in query or (method == "GET" and "prefix=" in query):
        prefix = re.search(r"prefix=([^&]*)", query)
        where = prefix.group(1).replace("%2F", "/") if prefix else ""
        return f"{_where(where)} list"
    parts = base.split("/")
    where = "/".join(parts[2:])
    if "/_delta_log/" in base:
        last = parts[-1]
        kind = (
            "checkpoint"
            if "checkpoint" in last
            else "log"
            if last.endswith(".json")
            else "log other"
        )
    elif base.endswith(".parquet"):
        kind = "data"
    else:
        kind = "blob"
    return f"{_where(where)} {kind} {method}"


def _where(key: str) -> str:
    key = key.removeprefix("lake/")
    if key.startswith("tables/"):
        return key.split("/")[1]
    return key.split("/")[0] or "(bucket)"


def s3_requests(log: Path) -> list[tuple[float, str]]:
    """(second, kind) of every request in moto's log."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        match = _REQUEST.search(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%d/%b/%Y %H:%M:%S").timestamp()
            out.append((stamp, s3_kind(match.group(2), match.group(3))))
    return out


@dataclass
class Span:
    service: str
    name: str
    table: str
    start: float
    seconds: float


def read_spans(folder: Path) -> list[Span]:
    spans = []
    for path in sorted(folder.glob("*.jsonl")):
        service = path.stem
        for line in path.read_text(errors="replace").splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            start = datetime.fromisoformat(data["start_time"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(data["end_time"].replace("Z", "+00:00"))
            attributes = data.get("attributes") or {}
            spans.append(
                Span(
                    service.rstrip("0123456789").rstrip("-"),
                    data["name"],
                    str(attributes.get("lake.table", "")),
                    start.timestamp(),
                    (end - start).total_seconds(),
                )
            )
    return spans


# ---- one variant ------------------------------------------------------------------------------


@dataclass
class Single:
    talk_id: str
    sent: float
    acked: float
    submitted: float | None
    tagged: float | None

    @property
    def parts(self) -> dict[str, float | None]:
        return {
            "accept": self.acked - self.sent,
            "fold": None if self.submitted is None else self.submitted - self.acked,
            "executor": (
                None
                if self.tagged is None or self.submitted is None
                else self.tagged - self.submitted
            ),
            "post -> tagged": None if self.tagged is None else self.tagged - self.sent,
        }


@dataclass
class Burst:
    lags: list[float]  # post -> tagged of each acknowledged talk that was tagged
    acked: int
    posted: int


@dataclass
class Variant:
    name: str
    singles: list[Single] = field(default_factory=list)
    burst: Burst = field(default_factory=lambda: Burst([], 0, 0))
    idle_s3_per_s: float = 0.0
    load: list[float] = field(default_factory=list)
    spans: dict[tuple[str, str, str], tuple[int, float]] = field(default_factory=dict)
    s3: Counter = field(default_factory=Counter)


def restart_podium(stack: TracedStack, env: dict[str, str]) -> None:
    stack.extra_env = env
    for name, child in stack.children.items():
        if name.startswith(PODIUM_PROCESSES):
            child.env.update(env)  # the rest (ports, the executor's own) stays as started
            stack.kill(name, 15)
            stack.restart(name, wait=False)
    stack.wait_podium()


def post_one(talk: dict, url: str) -> tuple[float, float]:
    body = json.dumps(talk).encode()
    sent = time.time()
    response = httpx.post(
        f"{url}/hooks/talks", content=body, headers=signed_headers(body, SECRET), timeout=60
    )
    response.raise_for_status()
    return sent, time.time()


def run_variant(stack: TracedStack, name: str, seen: Seen, args: argparse.Namespace) -> Variant:
    figures = Variant(name)
    if stack.extra_env != VARIANTS[name]:
        restarted = time.time()
        restart_podium(stack, VARIANTS[name])
        wait_warm(stack.api_url, count=stack.executors, since=restarted)
    figures.load.append(os.getloadavg()[0])
    quiet_from = time.time()
    time.sleep(args.settle)
    quiet_to = time.time()
    urls = stack.gateway_urls()
    for i, talk in enumerate(make_talks(args.singles, prefix=f"path-{name}-{time.time_ns()}")):
        sent, acked = post_one(talk, urls[i % len(urls)])
        seen.wait([talk["talk_id"]], args.timeout)
        with seen.lock:
            figures.singles.append(
                Single(
                    talk["talk_id"],
                    sent,
                    acked,
                    seen.submitted.get(talk["talk_id"]),
                    seen.tagged.get(talk["talk_id"]),
                )
            )
        time.sleep(args.gap)
    figures.load.append(os.getloadavg()[0])
    if args.burst:
        talks = make_talks(args.burst, prefix=f"burst-{name}-{time.time_ns()}")
        burst = post_burst(talks, gateway_urls=urls, secret=SECRET, clients=args.clients)
        seen.wait(list(burst.acked), args.timeout)
        with seen.lock:
            lags = [seen.tagged[i] - burst.sent[i] for i in burst.acked if i in seen.tagged]
        figures.burst = Burst(lags, len(burst.acked), len(talks))
        figures.load.append(os.getloadavg()[0])
    # What the singles cost: spans and S3 requests in their windows, the quiet rate subtracted.
    time.sleep(1.5)  # the span files and moto's log catch up
    requests = s3_requests(stack.log_path("moto"))
    quiet = [k for t, k in requests if quiet_from <= t < int(quiet_to)]
    figures.idle_s3_per_s = len(quiet) / max(int(quiet_to) - quiet_from, 1)
    quiet_rate = Counter(quiet)
    spans = read_spans(stack.root / "traces")
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    window_s = 0.0
    for single in figures.singles:
        end = single.tagged if single.tagged is not None else single.sent + args.timeout
        window_s += int(end) + 1 - int(single.sent)
        for t, kind in requests:
            if int(single.sent) <= t <= int(end):
                figures.s3[kind] += 1
        for span in spans:
            if single.sent <= span.start <= end:
                key = (span.service, span.name, span.table)
                totals[key][0] += 1
                totals[key][1] += span.seconds
    scale = window_s / max(int(quiet_to) - quiet_from, 1)
    for kind, count in quiet_rate.items():
        figures.s3[kind] -= count * scale  # what the quiet stack would have done anyway
    n = max(len(figures.singles), 1)
    figures.s3 = Counter({k: v / n for k, v in figures.s3.items()})
    figures.spans = {k: (int(c), s / n) for k, (c, s) in totals.items()}
    return figures


# ---- printing ---------------------------------------------------------------------------------


def _p(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.2f}" if values else "n/a"


def print_variants(variants: list[Variant], args: argparse.Namespace) -> None:
    names = [v.name for v in variants]
    print(f"\n## one talk at a time ({args.singles} talks, p50 seconds)")
    print("| part | " + " | ".join(names) + " |")
    for part in ("accept", "fold", "executor", "post -> tagged"):
        cells = []
        for v in variants:
            values = [s.parts[part] for s in v.singles if s.parts[part] is not None]
            cells.append(_p(values, 50))  # type: ignore[arg-type]
        print(f"| {part} | " + " | ".join(cells) + " |")
    print(
        "| load before / after | "
        + " | ".join(" / ".join(f"{x:.1f}" for x in v.load[:2]) for v in variants)
        + " |"
    )
    if args.burst:
        print(f"\n## burst of {args.burst} talks from {args.clients} clients (seconds)")
        print("| figure | " + " | ".join(names) + " |")
        print(
            "| post -> tagged p50 / p95 | "
            + " | ".join(f"{_p(v.burst.lags, 50)} / {_p(v.burst.lags, 95)}" for v in variants)
            + " |"
        )
        print(
            "| acked, tagged | "
            + " | ".join(f"{v.burst.acked}/{v.burst.posted}, {len(v.burst.lags)}" for v in variants)
            + " |"
        )
        print("| load after | " + " | ".join(f"{v.load[-1]:.1f}" for v in variants) + " |")
    print("\n## spans per single talk (count, seconds summed; top 25 by seconds)")
    keys = sorted(
        {k for v in variants for k in v.spans},
        key=lambda k: -max(v.spans.get(k, (0, 0.0))[1] for v in variants),
    )[:25]
    print("| process | span | table | " + " | ".join(names) + " |")
    for key in keys:
        cells = []
        for v in variants:
            count, seconds = v.spans.get(key, (0, 0.0))
            cells.append(f"{count / max(len(v.singles), 1):.1f}x {seconds:.3f} s")
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    print("\n## S3 requests per single talk (quiet rate subtracted; top 20)")
    print(
        "| quiet stack, requests/s | "
        + " | ".join(f"{v.idle_s3_per_s:.1f}" for v in variants)
        + " |"
    )
    print("| all | " + " | ".join(f"{sum(v.s3.values()):.0f}" for v in variants) + " |")
    kinds = sorted(
        {k for v in variants for k in v.s3}, key=lambda k: -max(v.s3.get(k, 0) for v in variants)
    )[:20]
    for kind in kinds:
        print(f"| {kind} | " + " | ".join(f"{v.s3.get(kind, 0):.1f}" for v in variants) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--singles", type=int, default=5, help="talks posted one at a time")
    parser.add_argument("--burst", type=int, default=16, help="talks in the burst (0: none)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent posting clients")
    parser.add_argument("--settle", type=float, default=8, help="quiet seconds before posting")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between single talks")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for tags")
    parser.add_argument(
        "--variants", default="after,pruned", help=f"some of {', '.join(VARIANTS)}, in order"
    )
    parser.add_argument("--rounds", type=int, default=1, help="times to run the variants")
    args = parser.parse_args(argv)
    args.variants = [v for v in args.variants.split(",") if v]
    if set(args.variants) - set(VARIANTS):
        parser.error(f"variants are some of {', '.join(VARIANTS)}")
    started = time.monotonic()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    stack = TracedStack(
        Settings(gateway={"secret": SECRET}),
        deployments=("enrich-warm",),
        cpu_worker=False,
        say=lambda m: print(f"  {time.monotonic() - started:5.0f} s  {m}", flush=True),
    )
    stack.extra_env = VARIANTS[args.variants[0]]
    stack.up()
    stopping = threading.Event()
    variants = []
    try:
        load_directory(lake=Lake.from_settings(stack.lake_settings()))
        seen = Seen()
        listen(stack.api_url, seen, stopping)
        wait_warm(stack.api_url, count=stack.executors)
        for _ in range(args.rounds):
            for name in args.variants:
                variants.append(run_variant(stack, name, seen, args))
                print(f"  {time.monotonic() - started:5.0f} s  {name} done", flush=True)
    finally:
        stopping.set()
        stack.down()
    print_variants(variants, args)
    print(f"\nload average at end: {os.getloadavg()}; {time.monotonic() - started:.0f} s wall")
    untagged = sum(s.tagged is None for v in variants for s in v.singles) + sum(
        v.burst.acked - len(v.burst.lags) for v in variants
    )
    if untagged:
        print(f"{untagged} acknowledged talks were not tagged within --timeout")
    return 1 if untagged else 0


if __name__ == "__main__":
    raise SystemExit(main())
