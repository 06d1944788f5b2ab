"""Latency benchmark of the event path: signed posts to the gateway, timed to each outcome.

Starts the embedded default in a temp folder (Prefect server, deployments, process workers, the
warm executor, gateway) and waits until the warm executor has loaded its models. Then, first on
a quiet system, one talk at a time (`--quiet` talks, each waited for to the end), then a burst of
`--talks` posted one request each by `--clients` threads, it reports per talk:

  post -> recorded   the gateway's 2xx (the talk is durable in the lake)
  post -> tagged     its tags stage recorded done in `enrichment_state`
  post -> covered    its image stage recorded done
  post -> counts     the end of the first aggregate-tags run that started after it was tagged
  post -> recs       the end of the first build-recommendations run that started after that

each p50/p95/max. The clock starts BEFORE a request is sent. Also: flow runs created per
deployment, and model loads (at executor start, and on the hot path, i.e. inside runs).

Where a quiet talk's seconds go, from the Prefect API: post -> the warm run created (by the
warm executor, woken by the event stream), -> its start (claim, engine start), -> its first
`tag-talks` task (resources, ledger claim, history), the tagging task itself, -> the run's end
(covers, record, artifacts). Also how each warm run was started (an event, the ledger check)
and how many posts the gateway answered `event: deferred`.

`--hot-path N` first compares, in process and side by side, what one warm run pays before its
tags on a lake of N tagged pyvideo talks: the previous path (`load_history` every run, so a new
history and a fresh calibration each time) against the warm history (a snapshot refreshed by
what changed, calibration warmed before the run).

    .venv/bin/python bench/burst.py --talks 200 --clients 8 --quiet 3
    .venv/bin/python bench/burst.py --hot-path 1000 --talks 0 --quiet 0
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployments.local_stack import LocalStack, stop_on_sigterm  # noqa: E402
from deployments.stack_check import wait_warm  # noqa: E402
from podium.demo import SAMPLE_DIR, load_directory  # noqa: E402
from podium.gateway.signatures import signed_headers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tests.prefect_server import free_port  # noqa: E402

# ../shared next to the checkout (a worktree sits one level deeper).
PYVIDEO = next(
    (
        p / "shared" / "data" / "pyvideo" / "talks.jsonl.gz"
        for p in Path(__file__).resolve().parents[2:4]
        if (p / "shared" / "data" / "pyvideo" / "talks.jsonl.gz").is_file()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pyvideo" / "talks.jsonl.gz",
)


def make_talks(n: int, *, prefix: str = "burst") -> list[dict]:
    """N distinct talks: real pyvideo talks when the shared data is there, else the samples."""
    talks: list[dict] = []
    if PYVIDEO.is_file():
        with gzip.open(PYVIDEO, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if not row.get("title"):
                    continue
                talks.append(
                    {
                        "talk_id": f"{prefix}-{len(talks):05d}",
                        "title": row["title"][:300],
                        "description": (row.get("description") or "")[:20000],
                        "speakers": [s for s in row.get("speakers") or [] if s][:5],
                        "tags": [t for t in row.get("tags") or [] if t and len(t) <= 80][:3],
                    }
                )
                if len(talks) == n:
                    return talks
    samples = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))
    while len(talks) < n:
        base = samples[len(talks) % len(samples)]
        talks.append(
            {
                **base,
                "talk_id": f"{prefix}-{len(talks):05d}",
                "title": f"{base['title']} ({len(talks)})",
            }
        )
    return talks


def flow_run_counts(api_url: str) -> dict[str, int]:
    deployments = httpx.post(f"{api_url}/deployments/filter", json={}, timeout=60).json()
    counts = {}
    for d in deployments:
        # Runs that started (or were folded): a schedule's future runs are created ahead.
        response = httpx.post(
            f"{api_url}/flow_runs/count",
            json={
                "flow_runs": {
                    "deployment_id": {"any_": [d["id"]]},
                    "state": {"type": {"not_any_": ["SCHEDULED"]}},
                }
            },
            timeout=60,
        )
        counts[d["name"]] = int(response.json())
    return counts


def finished_runs(api_url: str, deployment: str) -> list[tuple[datetime, datetime]]:
    """(start, end) of the completed flow runs of a deployment; [] while the API is busy."""
    try:
        return _finished_runs(api_url, deployment)
    except httpx.HTTPError:
        return []


def _finished_runs(api_url: str, deployment: str) -> list[tuple[datetime, datetime]]:
    deployments = httpx.post(f"{api_url}/deployments/filter", json={}, timeout=60).json()
    ids = [d["id"] for d in deployments if d["name"] == deployment]
    runs = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={
            "flow_runs": {
                "deployment_id": {"any_": ids},
                "state": {"type": {"any_": ["COMPLETED"]}},
            },
            "limit": 200,
        },
        timeout=60,
    ).json()
    return sorted(
        (datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]))
        for r in runs
        if r.get("start_time") and r.get("end_time")
    )


def _api(api_url: str, path: str, body: dict) -> list[dict]:
    return httpx.post(f"{api_url}{path}", json=body, timeout=60).json()


def warm_timeline(api_url: str, sent: datetime) -> dict[str, float] | None:
    """Seconds of each hop for the first warm run after `sent` that tagged something."""
    deployments = _api(api_url, "/deployments/filter", {})
    ids = [d["id"] for d in deployments if d["name"] == "enrich-warm"]
    runs = _api(api_url, "/flow_runs/filter",
                {"flow_runs": {"deployment_id": {"any_": ids}}, "limit": 200})  # fmt: skip
    runs = sorted(
        (r for r in runs if datetime.fromisoformat(r["created"]) >= sent and r.get("end_time")),
        key=lambda r: r["created"],
    )
    for run in runs:
        tasks = _api(api_url, "/task_runs/filter",
                     {"task_runs": {"flow_run_id": {"any_": [run["id"]]}}})  # fmt: skip
        tags = sorted(
            (t for t in tasks if t["name"].startswith("tag-talks") and t.get("end_time")),
            key=lambda t: t["start_time"],
        )
        if not tags:
            continue
        at = {
            "created": datetime.fromisoformat(run["created"]),
            "started": datetime.fromisoformat(run["start_time"]),
            "tag_start": datetime.fromisoformat(tags[0]["start_time"]),
            "tag_end": datetime.fromisoformat(tags[0]["end_time"]),
            "ended": datetime.fromisoformat(run["end_time"]),
        }
        return {
            "post->run created (executor)": (at["created"] - sent).total_seconds(),
            "created->started": (at["started"] - at["created"]).total_seconds(),
            "started->tag task": (at["tag_start"] - at["started"]).total_seconds(),
            "tag task": (at["tag_end"] - at["tag_start"]).total_seconds(),
            "tag task->run end": (at["ended"] - at["tag_end"]).total_seconds(),
        }
    return None


def burst_timeline(api_url: str) -> None:
    """Where a burst's warm run spends its time: its task runs by kind, and the gaps."""
    deployments = _api(api_url, "/deployments/filter", {})
    ids = [d["id"] for d in deployments if d["name"] == "enrich-warm"]
    runs = _api(api_url, "/flow_runs/filter",
                {"flow_runs": {"deployment_id": {"any_": ids}}, "limit": 200})  # fmt: skip
    best: list[dict] = []
    for run in runs:
        query = {"task_runs": {"flow_run_id": {"any_": [run["id"]]}}, "limit": 200}
        tasks = _api(api_url, "/task_runs/filter", query)
        tasks = [t for t in tasks if t.get("start_time") and t.get("end_time")]
        if len(tasks) > len(best):
            best = tasks
    if not best:
        return
    spans = sorted(
        (datetime.fromisoformat(t["start_time"]), datetime.fromisoformat(t["end_time"]),
         t["name"].rsplit("-", 1)[0])
        for t in best
    )  # fmt: skip
    print("\nthe burst's busiest warm run, its task runs by kind:")
    kinds: dict[str, list[float]] = {}
    for start, end, kind in spans:
        kinds.setdefault(kind, []).append((end - start).total_seconds())
    for kind, seconds in sorted(kinds.items()):
        print(f"  {kind:<24} {len(seconds):>3} runs, {sum(seconds):6.1f} s in all, "
              f"mean {sum(seconds) / len(seconds):5.2f} s, max {max(seconds):5.2f} s")  # fmt: skip
    busy = sum((end - start).total_seconds() for start, end, _ in spans)
    span = (spans[-1][1] - spans[0][0]).total_seconds()
    print(f"  span {span:.1f} s, in task runs {busy:.1f} s, between them {span - busy:.1f} s")


def hot_path(n: int, rounds: int = 3) -> None:
    """One warm run's work before its tags, previous path vs warm history, in one process."""
    from podium import enrichment, warm_models
    from podium.models import Talk
    from podium.recording import record_talks
    from podium.tagging import load_history
    from podium.vocabulary import load_vocabulary

    def _tagged(lake: Lake) -> None:  # every open tagging claim done, as a run records it
        while work := enrichment.claim(
            lake=lake, stage="tags", limit=500, max_attempts=3, lease_seconds=60
        ):
            enrichment.record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)

    home = Path(tempfile.mkdtemp(prefix="podium-hot-"))
    settings = Settings(home=home, lake={"url": str(home / "lake")})
    lake = Lake.from_settings(settings)
    load_directory(lake=lake)
    rows = make_talks(n + rounds, prefix="hot")
    record_talks(lake=lake, talks=[Talk.model_validate(r) for r in rows[:n]])
    _tagged(lake)
    tagger, _ = warm_models.tagger(settings)
    vocabulary = load_vocabulary(lake=lake)
    load_history(lake=lake, encoder=tagger.encoder)  # fills the embedding cache: both read it
    started = time.perf_counter()
    warm_models.refresh_history(settings)  # what the executor does at start
    print(f"\nhot path, in process, {n} tagged talks in the lake (load avg "
          f"{os.getloadavg()[0]:.1f}); executor start: history + calibration "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    print(f"  {'round':6s} {'previous: history':>18s} {'+ tag 1':>8s} "
          f"{'warm: history':>14s} {'+ tag 1':>8s}")  # fmt: skip
    for i, row in enumerate(rows[n:]):
        talk = Talk.model_validate(row)
        record_talks(lake=lake, talks=[talk])  # a submission: pending, then tagged
        t0 = time.perf_counter()
        history = load_history(lake=lake, encoder=tagger.encoder, exclude_talk_ids={talk.talk_id})
        t1 = time.perf_counter()
        tagger.tag([talk], vocabulary=vocabulary, history=history)
        t2 = time.perf_counter()
        warm = warm_models.history(settings, tagger.encoder).current({talk.talk_id})
        t3 = time.perf_counter()
        tagger.tag([talk], vocabulary=vocabulary, history=warm)
        t4 = time.perf_counter()
        print(f"  {i + 1:<6d} {t1 - t0:18.2f} {t2 - t1:8.2f} {t3 - t2:14.3f} {t4 - t3:8.2f}  "
              f"ratio {(t2 - t0) / (t4 - t2):.0f}x")  # fmt: skip
        _tagged(lake)
        stats = warm_models.refresh_history(settings)  # between runs, off the hot path
        print(f"         between runs (in the background): refresh {stats.seconds:.1f} s "
              f"({stats.reread} re-read, {stats.embedded} embedded; calibration "
              f"{stats.steps.get('warm', 0):.1f} s)")  # fmt: skip


def first_end_after(runs: list[tuple[datetime, datetime]], moment: datetime) -> datetime | None:
    ends = [end for start, end in runs if start >= moment]
    return min(ends) if ends else None


class Run:
    """Posts talks and collects their timeline from the lake and the Prefect API."""

    def __init__(self, stack: LocalStack, lake: Lake) -> None:
        self.stack, self.lake = stack, lake
        self.sent: dict[str, datetime] = {}
        self.recorded: dict[str, datetime] = {}
        self.answers: dict[str, str] = {}  # talk id -> the gateway's `event` field

    def post(self, talk: dict) -> None:
        body = json.dumps(talk, ensure_ascii=False).encode()
        headers = signed_headers(body, "bench-secret")
        self.sent[talk["talk_id"]] = datetime.now(UTC)  # before sending: the honest clock
        response = httpx.post(
            f"{self.stack.gateway_url}/hooks/talks", content=body, headers=headers, timeout=120
        )
        response.raise_for_status()
        self.recorded[talk["talk_id"]] = datetime.now(UTC)
        self.answers[talk["talk_id"]] = response.json().get("event", "?")

    def wait(self, ids: list[str], timeout_s: float, follow_s: float) -> pd.DataFrame:
        """Per talk: seconds from send to recorded, tagged, covered, counts, recs (waiting
        `follow_s` more for the last two)."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.lake.read("enrichment_state", where=[("talk_id", "in", ids)])
            done = state[state.status == "done"]
            if len(done) == 2 * len(ids):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {len(done)}/{2 * len(ids)} stages done")
            time.sleep(1)
        stage = {s: g.set_index("talk_id").updated_at for s, g in done.groupby("stage")}
        api = self.stack.api_url
        deadline = time.monotonic() + follow_s
        while True:  # counts and recommendations follow through their own (cold) runs
            counts = finished_runs(api, "aggregate-tags")
            recs = finished_runs(api, "build-recommendations")
            last_tagged = max(stage["tags"][i] for i in ids)
            counted = first_end_after(counts, last_tagged)
            if counted is not None and first_end_after(recs, counted) is not None:
                break
            if time.monotonic() > deadline:
                print("• counts/recommendations did not follow in time: reported as nan")
                break
            time.sleep(1)
        rows = []
        for i in ids:
            sent = self.sent[i]
            counted = first_end_after(counts, stage["tags"][i])
            rebuilt = first_end_after(recs, counted) if counted else None
            rows.append(
                {
                    "recorded": (self.recorded[i] - sent).total_seconds(),
                    "tagged": (stage["tags"][i] - sent).total_seconds(),
                    "covered": (stage["image"][i] - sent).total_seconds(),
                    "counts": (counted - sent).total_seconds() if counted else np.nan,
                    "recs": (rebuilt - sent).total_seconds() if rebuilt else np.nan,
                }
            )
        return pd.DataFrame(rows)


def report(title: str, frame: pd.DataFrame) -> None:
    print(f"\n{title} ({len(frame)} talks), seconds from the moment each request was sent "
          f"(load avg {os.getloadavg()[0]:.1f}):")  # fmt: skip
    width = max(10, *(len(str(c)) for c in frame.columns))
    print(f"  {'':{width}s} {'p50':>7s} {'p95':>7s} {'max':>7s}")
    for column in frame.columns:
        values = frame[column].dropna().to_numpy()
        if not len(values):
            print(f"  {column:{width}s} {'n/a':>7s}")
            continue
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        print(f"  {column:{width}s} {p50:7.2f} {p95:7.2f} {values.max():7.2f}")


def bench_stack(prefix: str) -> tuple[Settings, LocalStack, Lake]:
    """A local stack's settings, the stack (not started) and its lake, in a fresh temp home
    with the sample directory loaded (vocabulary first: the executor warms up on it at
    start); SIGTERM stops it like Ctrl-C."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    settings = Settings(
        home=home,
        lake={"url": str(home / "lake")},
        gateway={"port": free_port(), "secret": "bench-secret"},
    )
    stack = LocalStack(settings, server_port=free_port(), say=lambda m: print(f"• {m}"))
    stop_on_sigterm()
    lake = Lake.from_settings(settings)
    load_directory(lake=lake)
    return settings, stack, lake


def burst_parser(
    description: str, *, follow: float, settle: float | None = None, talks: str = "talks posted"
) -> argparse.ArgumentParser:
    """The options the burst benches (this one, lag, topologies) share: --talks, --clients,
    --timeout and --follow; with `settle`, --sample and --settle too (a bench that samples the
    stack, after a quiet spell, while its burst is tagged)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--talks", type=int, default=200, help=talks)
    parser.add_argument("--clients", type=int, default=8, help="concurrent posting clients")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for tags")
    parser.add_argument(
        "--follow",
        type=float,
        default=follow,
        help="seconds more for counts and recommendations",
    )
    if settle is not None:
        parser.add_argument("--sample", type=float, default=0.25, help="seconds between samples")
        parser.add_argument(
            "--settle", type=float, default=settle, help="quiet seconds before a burst"
        )
    return parser


def main() -> None:
    parser = burst_parser(__doc__.splitlines()[0], follow=600)
    parser.add_argument("--quiet", type=int, default=3, help="single talks on a quiet system")
    parser.add_argument(
        "--hot-path", type=int, default=0, help="first compare one run's pre-tag work, N talks"
    )
    args = parser.parse_args()
    if args.hot_path:
        hot_path(args.hot_path)
    if not args.talks and not args.quiet:
        return

    settings, stack, lake = bench_stack("podium-burst-")
    started = time.monotonic()
    stack.up()
    try:
        print(f"• stack up in {time.monotonic() - started:.0f} s; warm executor ready after "
              f"{wait_warm(stack.api_url, timeout_s=600):.0f} s more")  # fmt: skip
        run = Run(stack, lake)
        quiet, hops = [], []
        for talk in make_talks(args.quiet, prefix="quiet"):
            time.sleep(15)  # let the previous talk's follow-up runs settle: a quiet system
            run.post(talk)
            quiet.append(run.wait([talk["talk_id"]], args.timeout, args.follow))
            hops.append(warm_timeline(stack.api_url, run.sent[talk["talk_id"]]))
        if quiet:
            report("one talk, quiet system", pd.concat(quiet, ignore_index=True))
            known = [h for h in hops if h]
            if known:
                report(
                    "where a quiet talk's seconds go (hops of its warm run)", pd.DataFrame(known)
                )
        if not args.talks:
            return

        talks = make_talks(args.talks)
        time.sleep(15)
        start = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(run.post, talks))
        post_s = time.monotonic() - start
        burst = run.wait([t["talk_id"] for t in talks], args.timeout, args.follow)
        print(f"\nposted {len(talks)} talks from {args.clients} clients in {post_s:.1f} s "
              f"({len(talks) / post_s:.1f} req/s)")  # fmt: skip
        report(f"burst of {len(talks)}", burst)
        burst_timeline(stack.api_url)
        counts = flow_run_counts(stack.api_url)
        counts = {name: n for name, n in counts.items() if n}
        print(f"\nflow runs (not Scheduled) {sum(counts.values())} {counts}")
        runs = lake.read("enrich_runs")
        working = runs[runs.talks_tagged + runs.talks_imaged > 0]
        print(
            f"enrich runs with work     {len(working)} (talks per run: "
            f"{list(working.sort_values('started_at').talks_tagged)})"
        )
        deferred = sum(1 for i in run.answers if run.answers[i] == "deferred")
        print(f"gateway answers           {deferred} of {len(run.answers)} posts "
              "`event: deferred` (picked up by the executor's ledger check)")  # fmt: skip
        log = (settings.home / "logs" / "warm-executor.log").read_text(errors="replace")
        by_event = sum(1 for x in log.splitlines() if " event(s) in " in x)
        by_ledger = sum(1 for x in log.splitlines() if "claimable talks in the ledger" in x)
        print(f"warm runs created by the executor: {by_event} for events, {by_ledger} by "
              "its ledger check")  # fmt: skip
        preloads = sum(int(x.split("(")[1].split(")")[0]) for x in log.splitlines()
                       if "models loaded (" in x)  # fmt: skip
        print(f"model loads               {preloads} at executor start (off the hot path), "
              f"{int(runs.model_loads.sum())} inside runs")  # fmt: skip
    finally:
        stack.down()


if __name__ == "__main__":
    main()
