"""Fault injection: inject real faults into real processes, then check the lake against the truth.

Every scenario starts what it needs as separate processes (the gateway, a moto S3 server, a
TCP proxy standing for the S3 endpoint, Prefect, an aggregation run), injects a fault for real
(kill -9, a stopped server, out-of-order and repeated deliveries) and, once the system has
recovered, compares the lake with what was sent. It prints one row per scenario:

    scenario | talks sent | lost | processed twice | time to recover

"lost" counts talks (or counts) that the lake does not hold in their latest version, "processed
twice" talks (or counts) that were applied more than once. The target is 0 and 0 everywhere.

    .venv/bin/python bench/faults.py                       # every scenario
    .venv/bin/python bench/faults.py dynamodb-order s3-endpoint-killed --talks 60

Scenarios are a registry: decorate a function `(args) -> Outcome` with `@scenario("name")`
(another bench module can import `scenario` and `main` and add its own).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from podium.gateway.signatures import standard_headers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from tests.moto_server import s3_bucket  # noqa: E402
from tests.prefect_server import free_port  # noqa: E402
from tests.processes import podium_env, stop_group  # noqa: E402

SECRET = "faults-bench-secret"


@dataclass
class Outcome:
    """One row of the table."""

    sent: int
    lost: int
    twice: int
    recover_s: float | None
    note: str = ""


SCENARIOS: dict[str, Callable[[argparse.Namespace], Outcome]] = {}


def scenario(name: str) -> Callable:
    """Register a scenario under `name` (run in registration order)."""

    def register(fn: Callable[[argparse.Namespace], Outcome]) -> Callable:
        SCENARIOS[name] = fn
        return fn

    return register


# ---- processes ----------------------------------------------------------------------------


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_http(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited while starting")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


@contextlib.contextmanager
def gateway(home: Path, secret: str = SECRET, **podium: str) -> Iterator[str]:
    """`podium gateway` in its own process (its log in `home`); yields its base URL."""
    port = free_port()
    env = podium_env(
        home=str(home),
        gateway__port=str(port),
        gateway__secret=secret,
        prefect__event_retries="0",
        **podium,
    )
    process = _spawn([sys.executable, "-m", "podium", "gateway"], env, home / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/healthz", process)
        yield url
    finally:
        stop_group(process)


def no_prefect() -> str:
    """An API URL where nothing listens: the gateway defers every event."""
    return f"http://127.0.0.1:{free_port()}/api"


def post(url: str, path: str, payload: object, timeout: float = 60) -> httpx.Response:
    """One delivery, signed as a new Standard Webhooks message (a fresh webhook-id).

    Every call is a distinct delivery: a stream batch the pipe delivers again, or a client's
    retry after a refusal or a timeout, is a new invocation that its signer signs anew. The
    gateway's replay guard (409) is for a captured request sent again, not for these; the
    copies they carry must be absorbed by the lake, which is what the scenarios check. (The
    legacy headers, which this used before, have no id: two copies of one body signed in the
    same second carry the same signature and the second was refused as a replay.)
    """
    body = json.dumps(payload).encode()
    return httpx.post(
        f"{url}{path}", content=body, headers=standard_headers(body, SECRET), timeout=timeout
    )


def _duplicates(lake: Lake, table: str, keys: list[str]) -> int:
    frame = lake.read(table, columns=keys)
    return int(frame.duplicated(keys).sum())


# ---- DynamoDB: one key's changes within a batch and across batches, out of order ----------


def _stream_history(keys: int, rng: random.Random) -> tuple[list[dict], dict[str, dict | None]]:
    """Stream records of `keys` talks in sequence order, and the final state of each."""
    records: list[dict] = []
    truth: dict[str, dict | None] = {}
    sequence = 10**20
    plans = {}
    for k in range(keys):
        steps = ["INSERT"] + ["MODIFY"] * rng.randint(0, 3)
        if rng.random() < 0.4:
            steps.append("REMOVE")
            if rng.random() < 0.3:
                steps.append("INSERT")  # deleted, then submitted again
        plans[f"dyn-{k:04d}"] = steps
    # Interleave the keys' histories, as a busy table's stream does.
    pending = {key: list(steps) for key, steps in plans.items()}
    while pending:
        key = rng.choice(sorted(pending))
        event = pending[key].pop(0)
        if not pending[key]:
            del pending[key]
        sequence += rng.randint(1, 10**6)
        body: dict = {
            "Keys": {"pk": {"S": "USER#1"}, "sk": {"S": f"talk#{key}"}},
            "SequenceNumber": str(sequence),
        }
        if event == "REMOVE":
            truth[key] = None
        else:
            title = f"{key} v{sequence}"
            body["NewImage"] = {**body["Keys"], "title": {"S": title}}
            truth[key] = {"title": title}
        records.append({"eventName": event, "dynamodb": body})
    return records, truth


def _lake_matches(lake: Lake, truth: dict[str, dict | None]) -> tuple[int, int]:
    """(talks whose stored state differs from the truth, duplicated rows)."""
    rows = lake.read("talks", where=[("talk_id", "in", sorted(truth))])
    by_id = {r.talk_id: r for r in rows.itertuples()}
    lost = 0
    for key, final in truth.items():
        row = by_id.get(key)
        if final is None:
            lost += row is not None and row.state != "deleted"
        else:
            lost += row is None or row.state == "deleted" or row.title != final["title"]
    # A live talk must be queued at its final content, or it would be enriched at a stale one.
    ledger = lake.read("enrichment_state", where=[("talk_id", "in", sorted(truth))])
    queued = set(zip(ledger.talk_id, ledger.content_hash, strict=True))
    for key, row in by_id.items():
        if truth.get(key) is not None and (key, row.content_hash) not in queued:
            lost += 1
    return lost, _duplicates(lake, "talks", ["talk_id"])


@scenario("dynamodb-order")
def dynamodb_order(args: argparse.Namespace) -> Outcome:
    """INSERT/MODIFY/REMOVE of one key within a batch and across batches, delivered shuffled
    and partly twice by 4 concurrent clients to the gateway process."""
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="podium-faults-"))
    records, truth = _stream_history(args.talks, rng)
    batches = [records[i : i + 7] for i in range(0, len(records), 7)]
    deliveries = batches + rng.sample(batches, k=len(batches) // 3)  # at-least-once
    rng.shuffle(deliveries)
    for batch in deliveries:
        if rng.random() < 0.5:
            rng.shuffle(batch)  # records of one batch out of order too
    lake_url = str(home / "lake")
    with gateway(home, lake__url=lake_url, prefect__api_url=no_prefect()) as url:

        def deliver(batch: list[dict]) -> None:
            response = post(url, "/hooks/dynamodb", {"Records": batch})
            if response.status_code not in (200, 202):
                raise RuntimeError(f"gateway answered {response.status_code}: {response.text}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(deliver, deliveries))
        lost, twice = _lake_matches(Lake(lake_url), truth)
    # Nothing to recover from: the lake must match the truth as soon as the last delivery is
    # acknowledged (0 s), or it never will (no later process fixes an ordering mistake).
    return Outcome(
        len(truth),
        lost,
        twice,
        0.0 if lost == 0 else None,
        f"{len(records)} records in {len(deliveries)} deliveries, 1/3 twice",
    )


# ---- aggregate-tags killed between its writes, then retried ---------------------------------


@scenario("aggregate-tags-killed")
def aggregate_killed(args: argparse.Namespace) -> Outcome:
    """aggregate-tags killed (-9) right after its 1st, 2nd and 3rd storage write, then retried;
    lost/twice are count units below/above a full recount."""
    from podium.models import Talk
    from podium.recording import record_talks
    from podium.tag_counts import recompute_tag_counts, update_tag_counts
    from tests.podium.recommend.lake_data import tag_rows

    rng = random.Random(args.seed)
    vocabulary = ["python", "rust", "web", "data", "ml", "devops", "security", "testing"]
    lost = twice = 0
    recover: list[float] = []
    for kill_after in (1, 2, 3):
        lake = Lake(tempfile.mkdtemp(prefix="podium-faults-"))
        talks = [
            Talk(
                talk_id=f"agg-{i:04d}",
                title=f"Talk {i}",
                tags=rng.sample(vocabulary, 2),
                event_ids=[f"ev-{i % 5}"],
            )
            for i in range(args.talks)
        ]
        record_talks(lake=lake, talks=talks)
        lake.append("talk_tags", tag_rows([(t.talk_id, rng.choice(vocabulary)) for t in talks]))
        update_tag_counts(lake=lake)
        changed = rng.sample(talks, k=max(1, len(talks) // 4))
        ids = ", ".join(f"'{t.talk_id}'" for t in changed)
        lake.delete("talk_tags", predicate=f"talk_id IN ({ids})")
        lake.append("talk_tags", tag_rows([(t.talk_id, rng.choice(vocabulary)) for t in changed]))
        record_talks(lake=lake, talks=[], removed=[changed[0].talk_id])
        subprocess.run(
            [sys.executable, "-m", "tests.kill_after_writes", lake.url, str(kill_after)],
            env=podium_env(),
            cwd=ROOT,
            capture_output=True,
            timeout=300,
        )
        start = time.monotonic()
        subprocess.run(  # the retry, in a fresh process like a Prefect task retry
            [
                sys.executable,
                "-c",
                "import sys; from podium.lake import Lake; from podium.tag_counts import "
                "update_tag_counts; update_tag_counts(lake=Lake(sys.argv[1]))",
                lake.url,
            ],
            env=podium_env(),
            cwd=ROOT,
            check=True,
            timeout=300,
        )
        recover.append(time.monotonic() - start)
        key = ["scope", "key", "tag"]
        incremental = lake.read("tag_counts").set_index(key)["talks"]
        recompute_tag_counts(lake=lake)
        full = lake.read("tag_counts").set_index(key)["talks"]
        diff = incremental.reindex(full.index.union(incremental.index), fill_value=0).sub(
            full.reindex(full.index.union(incremental.index), fill_value=0)
        )
        twice += int(diff[diff > 0].sum())
        lost += int(-diff[diff < 0].sum())
    return Outcome(
        args.talks * 3, lost, twice, max(recover), "killed after write 1, 2, 3; worst retry"
    )


# ---- the S3 endpoint dies in the middle of writes ----------------------------------------------

_PROXY = r"""
import asyncio, sys
listen, target = int(sys.argv[1]), int(sys.argv[2])

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen, reuse_address=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


@contextlib.contextmanager
def moto_server(home: Path) -> Iterator[int]:
    port = free_port()
    process = _spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        podium_env(),
        home / "moto.log",
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        stop_group(process)


def _proxy(listen: int, target: int, home: Path) -> subprocess.Popen:
    process = _spawn(
        [sys.executable, "-c", _PROXY, str(listen), str(target)], podium_env(), home / "p"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{listen}", timeout=2)
            return process
        time.sleep(0.1)
    raise RuntimeError("the S3 proxy did not start")


@scenario("s3-endpoint-killed")
def s3_endpoint_killed(args: argparse.Namespace) -> Outcome:
    """The S3 endpoint the gateway writes to (lake on s3://, moto behind a proxy process) is
    killed -9 while talks are posted, and restarted 3 s later; clients retry until 2xx."""

    home = Path(tempfile.mkdtemp(prefix="podium-faults-"))
    talks = [
        {"talk_id": f"s3-{i:04d}", "title": f"Talk {i}", "description": "About durability."}
        for i in range(args.talks)
    ]
    with moto_server(home) as moto_port:
        s3_bucket(f"http://127.0.0.1:{moto_port}", "podium-faults")
        endpoint_port = free_port()
        proxy = _proxy(endpoint_port, moto_port, home)
        s3 = {
            "lake__url": "s3://podium-faults/lake",
            "lake__s3_endpoint_url": f"http://127.0.0.1:{endpoint_port}",
            "lake__s3_access_key_id": "testing",
            "lake__s3_secret_access_key": "testing",
        }
        acked: dict[str, float] = {}
        refused = 0
        restarted_at: list[float] = []
        lock = threading.Lock()
        try:
            with gateway(home, prefect__api_url=no_prefect(), **s3) as url:

                def submit(talk: dict) -> None:
                    nonlocal refused
                    while True:
                        try:
                            response = post(url, "/hooks/talks", talk, timeout=30)
                        except httpx.HTTPError:
                            response = None
                        if response is not None and response.status_code in (200, 202):
                            with lock:
                                acked[talk["talk_id"]] = time.monotonic()
                            return
                        with lock:
                            refused += 1
                        time.sleep(0.5)  # the client's retry

                def fault() -> None:
                    nonlocal proxy
                    while len(acked) < len(talks) // 3:
                        time.sleep(0.05)
                    proxy.send_signal(signal.SIGKILL)  # the endpoint dies mid-write
                    proxy.wait()
                    time.sleep(3)
                    proxy = _proxy(endpoint_port, moto_port, home)
                    restarted_at.append(time.monotonic())

                killer = threading.Thread(target=fault)
                killer.start()
                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(submit, talks))
                killer.join()
                lake = Lake.from_settings(_settings(home, s3))
                ids = [t["talk_id"] for t in talks]
                stored = set(lake.read("talks", where=[("talk_id", "in", ids)]).talk_id)
                queued = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
                half = set(ids) - set(queued.talk_id)
                lost = len(set(acked) - stored) + len(half & stored)
                twice = _duplicates(lake, "talks", ["talk_id"]) + _duplicates(
                    lake, "enrichment_state", ["talk_id", "stage"]
                )
        finally:
            stop_group(proxy)
    recover = max(acked.values()) - restarted_at[0] if restarted_at else None
    return Outcome(
        len(talks), lost, twice, recover, f"{refused} refused/failed requests, all retried"
    )


def _settings(home: Path, podium: dict[str, str]):  # noqa: ANN202
    from podium.settings import Settings

    env = podium_env(home=str(home), **podium)
    keys = {k: v for k, v in env.items() if k.startswith("PODIUM_")}
    with _patched_environ(keys):
        return Settings()


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ---- the Prefect server stops while talks are posted ----------------------------------------


@scenario("prefect-server-down")
def prefect_server_down(args: argparse.Namespace) -> Outcome:
    """The whole local stack runs; the Prefect server is stopped, talks are posted (the gateway
    answers `deferred`), the server is started again on its database: the enrich safety-net
    schedule must enrich every talk, each once. Recovery is counted from the restart."""
    from deployments.local_stack import LocalStack
    from podium.demo import SAMPLE_DIR, load_directory
    from podium.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="podium-faults-"))
    settings = Settings(
        home=home,
        lake={"url": str(home / "lake")},
        gateway={"port": free_port(), "secret": SECRET},
    )
    samples = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))
    talks = [{**samples[i % len(samples)], "talk_id": f"down-{i:04d}"} for i in range(args.talks)]
    ids = [t["talk_id"] for t in talks]
    stack = LocalStack(settings, server_port=free_port(), say=lambda _: None)
    stack.up()
    try:
        lake = Lake.from_settings(settings)
        load_directory(lake=lake)
        stop_group(stack.processes["prefect-server"])  # Prefect goes down
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda t: post(stack.gateway_url, "/hooks/talks", t), talks))
        statuses = [a.status_code for a in answers]
        deferred = sum(a.status_code == 202 and a.json()["event"] == "deferred" for a in answers)
        if any(code not in (200, 202) for code in statuses):
            raise RuntimeError(f"gateway answers while Prefect was down: {statuses}")
        stack.start_server()  # same port, same database
        restarted = time.monotonic()
        done: set[str] = set()
        while time.monotonic() - restarted < args.timeout:
            state = lake.read("enrichment_state", where=[("talk_id", "in", ids)])
            finished = state[state.status == "done"].groupby("talk_id").size()
            done = set(finished[finished == 2].index)
            if len(done) == len(ids):
                break
            time.sleep(2)
        recover = time.monotonic() - restarted
        time.sleep(5)  # let a run still in flight record itself
        runs = lake.read("enrich_runs")
        tagged = int(runs.talks_tagged.sum()) if not runs.empty else 0
    finally:
        stack.down()
    return Outcome(
        len(ids),
        len(ids) - len(done),
        max(0, tagged - len(ids)),
        recover if len(done) == len(ids) else None,
        f"{deferred} answered deferred; {tagged} talk taggings in {len(runs)} enrich runs",
    )


# ---- the table --------------------------------------------------------------------------------


# ---- enrichment scenarios (bench/faults_enrich.py: kill -9, poison talk, edit, overlap) ----


def _enrich_scenario(name: str, run: Callable[[int], dict]) -> None:
    @scenario(name)
    def adapted(args: argparse.Namespace) -> Outcome:
        row = run(args.talks)
        recover = float(str(row["time to recover"]).split()[0])
        return Outcome(
            row["talks sent"],
            row["talks lost"],
            row["talks processed twice"],
            recover,
            row.get("notes", ""),
        )


def _register_enrich_scenarios() -> None:
    # Through the repo root (put on sys.path above), as the other bench scripts import each
    # other: works when this file runs as a script and when a test loads it by path.
    from bench import faults_enrich

    for name, run in (
        ("enrich-worker-killed", faults_enrich.kill_mid_batch),
        ("poison-talk", faults_enrich.poison_talk),
        ("edit-while-enriching", faults_enrich.edit_while_enriching),
        ("enrich-and-backfill-at-once", faults_enrich.two_workers_at_once),
    ):
        _enrich_scenario(name, run)


def main(argv: list[str] | None = None) -> int:
    _register_enrich_scenarios()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)}")
    parser.add_argument("--talks", type=int, default=40, help="talks per scenario")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=600, help="longest recovery waited")
    args = parser.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    rows = []
    for name in names:
        print(f"• {name} …", flush=True)
        start = time.monotonic()
        try:
            outcome = SCENARIOS[name](args)
        except Exception as error:  # noqa: BLE001 - one broken scenario must not hide the rest
            outcome = Outcome(0, -1, -1, None, f"FAILED: {type(error).__name__}: {error}")
        rows.append((name, outcome, time.monotonic() - start))
    header = ("scenario", "talks sent", "lost", "twice", "time to recover", "wall", "notes")
    table = [header] + [
        (
            name,
            str(o.sent),
            str(o.lost),
            str(o.twice),
            "-" if o.recover_s is None else f"{o.recover_s:.1f} s",
            f"{wall:.0f} s",
            o.note,
        )
        for name, o, wall in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for index, row in enumerate(table):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    return 0 if all(o.lost == 0 and o.twice == 0 for _, o, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
