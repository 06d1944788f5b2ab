"""Lag of counts and recommendations behind a burst: cold (CPU-worker runs), warm in the warm
executor, and warm in a process of their own, side by side in one run on one stack.

Starts the embedded default in a temp folder (Prefect server, deployments, process workers,
warm executor, gateway), as `bench/burst.py` does. Then:

- **cold**: the warm executor runs with `PODIUM_DERIVED__WARM=false`, so counts and
  recommendations follow only through the `aggregate-tags` and `build-recommendations`
  deployments (triggered by events, each run a new interpreter on the CPU worker);
- **executor**: the same executor restarted with `derived.warm` on: it updates counts and
  rebuilds the touched events' recommendations in a thread of its own, beside the tagger;
- **process** (what `podium up` runs): the executor with `derived.warm` off again, and the
  refresher in a process of its own (`python -m deployments.warm_derived`, a warm CPU
  executor), so tagging keeps the executor's cores.

The CPU worker and the triggers stay in every phase, as in production (the safety net).

Each phase posts a burst of `--talks` talks, one request each from `--clients` threads, and
reports per talk, from the moment its request was sent:

  tagged   its tags stage recorded done in `enrichment_state`
  counts   the first moment `tag_counts` counted a `talk_tags` version holding its tags
  recs     the first `recommendations` commit seen after that

A thread samples the lake's versions and the counts' bookmark every `--sample` seconds, so
counts and recs are late by at most one sample (conservative). Each phase runs on a lake one
burst larger than the one before. The refresher's log lines (`counts and recommendations
refreshed: {...}`) give the profile: seconds per phase of each refresh (`phases`), the wait
from its first poke (`waited`) and the event stream's delivery lag (`delivery_max`); the
bench prints their medians and maxima per phase.

    .venv/bin/python bench/lag.py --talks 200 --clients 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from burst import Run, bench_stack, burst_parser, make_talks  # noqa: E402

from deployments.local_stack import (  # noqa: E402
    WARM_POOL,
    WARM_QUEUE,
    LocalStack,
    free_port,
    refresher_command,
    warm_executor_env,
)
from deployments.stack_check import wait_warm  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.lake.recommendations import table_versions  # noqa: E402
from podium.tag_counts import counted_versions  # noqa: E402
from podium.talk_tags import TABLE as TALK_TAGS  # noqa: E402


class Sampler:
    """(time, talk_tags version, talk_tags version counted, recommendations version), sampled."""

    def __init__(self, lake: Lake, every_s: float) -> None:
        self.lake, self.every_s = lake, every_s
        self.rows: list[tuple[datetime, int, int, int]] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                now = datetime.now(UTC)
                tags = self.lake.version(TALK_TAGS)
                counted = (counted_versions(lake=self.lake) or {}).get(TALK_TAGS)
                recs = table_versions(lake=self.lake)[0]
                self.rows.append((now, -1 if tags is None else tags,
                                  -1 if counted is None else counted,
                                  -1 if recs is None else recs))  # fmt: skip
            except Exception:  # noqa: BLE001 - a read racing a commit: sample again
                pass
            self.stopping.wait(self.every_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:  # also on a timeout: no thread left sampling
        self.stopping.set()
        self._thread.join()

    def lags(self, run: Run, ids: list[str]) -> pd.DataFrame:
        """Per talk: seconds from send to tagged, counts and recs."""
        rows = list(self.rows)  # a copy: the sampling thread appends meanwhile
        frame = pd.DataFrame(rows, columns=["when", "tags", "counted", "recs"])
        state = run.lake.read("enrichment_state", where=[("talk_id", "in", ids)])
        tagged = state[(state.stage == "tags") & (state.status == "done")]
        tagged = tagged.set_index("talk_id").updated_at
        rows = []
        for i in ids:
            sent = run.sent[i]
            row = {"tagged": (tagged[i] - sent).total_seconds(), "counts": np.nan,
                   "recs": np.nan}  # fmt: skip
            after = frame[frame.when >= tagged[i]]
            if not after.empty:
                holding = int(after.tags.iloc[0])  # a talk_tags version with its tags
                counted = frame[(frame.counted >= holding) & (frame.when >= tagged[i])]
                if not counted.empty:
                    at, base = counted.when.iloc[0], int(counted.recs.iloc[0])
                    row["counts"] = (at - sent).total_seconds()
                    rebuilt = frame[(frame.when >= at) & (frame.recs > base)]
                    if not rebuilt.empty:
                        row["recs"] = (rebuilt.when.iloc[0] - sent).total_seconds()
            rows.append(row)
        return pd.DataFrame(rows)


def burst(stack: LocalStack, lake: Lake, args: argparse.Namespace, prefix: str) -> pd.DataFrame:
    """Post a burst, wait until every talk is counted and recommended (or `--follow` ends)."""
    run = Run(stack, lake)
    talks = make_talks(args.talks, prefix=prefix)
    ids = [t["talk_id"] for t in talks]
    with Sampler(lake, args.sample) as sampler:
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(run.post, talks))
        deadline = time.monotonic() + args.timeout
        while True:
            state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
            if int(((state.stage == "tags") & (state.status == "done")).sum()) == len(ids):
                break
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for tags")
            time.sleep(1)
        deadline = time.monotonic() + args.follow
        while True:
            frame = sampler.lags(run, ids)
            if not frame.recs.isna().any() or time.monotonic() > deadline:
                break
            time.sleep(1)
    return sampler.lags(run, ids)


PHASES = ("cold", "executor", "process")


def restart_executor(stack: LocalStack, *, phase: str) -> float:
    """Restart the warm executor (and the refresher process) for `phase`; seconds until the
    executor's models loaded."""
    log = stack.home / "logs" / "warm-executor.log"
    loaded = log.read_text(errors="replace").count("models loaded (") if log.exists() else 0
    for name in ("warm-executor", "warm-derived"):
        process = stack.processes.pop(name, None)
        if process is not None:
            process.terminate()  # a run in progress (covers of the burst) finishes first
            try:
                process.wait(timeout=600)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    started = time.monotonic()
    stack._spawn(
        "warm-executor",
        [sys.executable, "-m", "deployments.warm_executor", "--pool", WARM_POOL,
         "--queue", WARM_QUEUE, "--probe-port", str(free_port())],
        extra_env={**warm_executor_env(stack.settings),
                   "PODIUM_DERIVED__WARM": "true" if phase == "executor" else "false"},
    )  # fmt: skip
    if phase == "process":
        stack._spawn("warm-derived", refresher_command())
    while log.read_text(errors="replace").count("models loaded (") <= loaded:
        if time.monotonic() - started > 600:
            raise SystemExit("the warm executor did not come back")
        time.sleep(0.5)
    return time.monotonic() - started


def refresh_profile(stack: LocalStack, phase: str, since: int) -> str:
    """Medians and maxima of the refreshes logged since byte `since` of the phase's log."""
    import ast

    name = {"executor": "warm-executor", "process": "warm-derived"}.get(phase)
    if name is None:
        return ""
    log = stack.home / "logs" / f"{name}.log"
    if not log.exists():
        return ""
    marker = "counts and recommendations refreshed: "
    rows = []
    with open(log, "rb") as handle:
        handle.seek(since)
        for line in handle.read().decode(errors="replace").splitlines():
            if marker in line:
                rows.append(ast.literal_eval(line.split(marker, 1)[1]))
    rows = [r for r in rows if r.get("talks_counted") or r.get("event_ids") != []]
    if not rows:
        return "no refresh logged"
    values: dict[str, list[float]] = {}
    for row in rows:
        part = row.get("part", "both")  # counts and recommendations in two threads, or one
        for key, seconds in {**row.get("phases", {}), "total": row["seconds"],
                             "waited": row.get("waited"),
                             "delivery": row.get("delivery_max")}.items():  # fmt: skip
            if seconds is not None:
                values.setdefault(f"{part}.{key}", []).append(float(seconds))
    cells = ", ".join(f"{k} {np.median(v):.2f}/{max(v):.2f}" for k, v in values.items())
    return f"{len(rows)} refreshes; seconds median/max: {cells}"


def log_size(stack: LocalStack, phase: str) -> int:
    name = {"executor": "warm-executor", "process": "warm-derived"}.get(phase, "")
    log = stack.home / "logs" / f"{name}.log"
    return log.stat().st_size if name and log.exists() else 0


def stats(frame: pd.DataFrame, column: str) -> tuple[float, float]:
    values = frame[column].dropna().to_numpy()
    if not len(values):
        return np.nan, np.nan
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def main() -> None:
    parser = burst_parser(__doc__.splitlines()[0], follow=180, settle=15)
    parser.add_argument(
        "--phases",
        default="cold,executor,process",
        help=f"which of {', '.join(PHASES)} to run, in this order (warm: process)",
    )
    args = parser.parse_args()
    phases = [{"warm": "process"}.get(p.strip(), p.strip()) for p in args.phases.split(",")
              if p.strip()]  # fmt: skip
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}: choose from {', '.join(PHASES)}")

    settings, stack, lake = bench_stack("podium-lag-")
    results: dict[str, tuple[pd.DataFrame, float]] = {}
    profiles: dict[str, str] = {}
    stack.up()
    try:
        wait_warm(stack.api_url, timeout_s=600)
        for phase in phases:
            loaded_s = restart_executor(stack, phase=phase)
            print(f"• {phase}: warm executor restarted (refresher: {phase}), "
                  f"models loaded in {loaded_s:.0f} s")  # fmt: skip
            time.sleep(args.settle)
            since = log_size(stack, phase)
            before = os.getloadavg()[0]
            frame = burst(stack, lake, args, prefix=f"lag-{phase}")
            results[phase] = (frame, os.getloadavg()[0])
            profiles[phase] = refresh_profile(stack, phase, since)
            cells = ", ".join(f"{c} %.2f / %.2f" % stats(frame, c)
                              for c in ("tagged", "counts", "recs"))  # fmt: skip
            print(f"• {phase}: burst done (load avg {before:.1f} before, "
                  f"{results[phase][1]:.1f} after); p50 / p95 s: {cells}")  # fmt: skip
    finally:
        stack.down()

    print(f"\nburst of {args.talks} talks from {args.clients} clients; seconds from each "
          "request's send; cold = CPU-worker runs, executor = refreshed in the warm "
          "executor, process = in a process of their own")  # fmt: skip
    header = "  ".join(f"{p + ' p50':>10s} {p + ' p95':>10s}" for p in results)
    print(f"  {'':14s} {header}")
    for column, label in (("tagged", "post -> tagged"), ("counts", "post -> counts"),
                          ("recs", "post -> recs")):  # fmt: skip
        cells = []
        for frame, _ in results.values():
            p50, p95 = stats(frame, column)
            cells.append(f"{p50:10.2f} {p95:10.2f}")
        print(f"  {label:14s} {'  '.join(cells)}")
    missing = {p: int(f.recs.isna().sum()) for p, (f, _) in results.items()}
    print("  load avg (1 min) at the end of each burst: "
          + ", ".join(f"{p} {la:.1f}" for p, (_, la) in results.items()))  # fmt: skip
    for phase, profile in profiles.items():
        if profile:
            print(f"  {phase} refresher: {profile}")
    if any(missing.values()):
        print(f"  talks not yet recommended when --follow ended: {missing}")


if __name__ == "__main__":
    main()
