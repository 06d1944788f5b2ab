"""Two gateway replicas on one lake: racing edits, a racing `ingest`, and replays across replicas.

Starts real `podium gateway` processes (separate homes, nothing shared but the lake and, with
`--redis`, a Redis server) on a local lake or on a moto S3 lake over HTTP, then:

1. **edits race**: every talk is created, then in each round its two next versions (the newer
   one by `updated_at`) are posted at the same moment to different replicas;
2. **ingest race**: `podium ingest FILE` records one version of every talk while the gateway
   records another (which one is newer alternates by talk);
3. **replays**: every message already handled is sent again, each to the *other* replica, and
   once more with its id reused on a different body; then replica 0 is restarted (a new
   process on the same lake and store) and gets every message it handled again.

Then, for every talk, the `talks` row must be the newest version and the ledger row of each
enrichment stage must carry that row's content hash. It prints:

    lake | replay store | talks raced | posts | ledger mismatches | talks not newest
    | replays refused (other replica) | after restart | reused ids refused (409) | seconds

Targets: 0 mismatches, 0 talks not newest, every replay answered as a duplicate (nothing
recorded again) and every reused id refused with 409.

    .venv/bin/python bench/replicas.py                    # local lake, 40 talks x 3 rounds
    .venv/bin/python bench/replicas.py --s3 --talks 40    # the lake on moto S3 over HTTP
    .venv/bin/python bench/replicas.py --redis            # replay store in a real redis-server
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.faults import gateway, no_prefect  # noqa: E402
from podium.gateway.signatures import standard_headers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tests.moto_server import s3_bucket  # noqa: E402
from tests.processes import podium_env, stop_group  # noqa: E402
from tests.redis_server import redis_server  # noqa: E402

SECRET = "replicas-bench-secret"
BASE = datetime(2026, 3, 1, tzinfo=UTC)


# ---- processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def gateway_process(home: Path, lake: dict[str, str], **podium: str) -> Iterator[str]:
    """`podium gateway` in its own process and home; yields its base URL.

    Prefect is unreachable on purpose: every event is deferred at once, which keeps the race
    on the lake (a deferred talk is still recorded and pending).
    """
    home.mkdir(parents=True, exist_ok=True)
    with gateway(
        home,
        SECRET,
        # Long enough that every replay of a run is inside the window: what refuses it is
        # then the shared store, never the timestamp check.
        gateway__replay_window_s="1800",
        prefect__api_url=no_prefect(),
        **lake,
        **podium,
    ) as url:
        yield url


def s3_lake_settings(endpoint: str) -> dict[str, str]:
    """A fresh bucket on the moto server, as PODIUM_LAKE__* settings (keys lower-case)."""
    bucket = s3_bucket(endpoint, prefix="replicas")
    return {
        "lake__url": f"s3://{bucket}/lake",
        "lake__s3_endpoint_url": endpoint,
        "lake__s3_access_key_id": "testing",
        "lake__s3_secret_access_key": "testing",
    }


def lake_of(settings: dict[str, str]) -> Lake:
    """The lake the processes share, opened here the way they open it."""
    lake = {k.removeprefix("lake__"): v for k, v in settings.items() if k.startswith("lake__")}
    return Lake.from_settings(Settings(lake=lake))  # type: ignore[arg-type]


# ---- requests -----------------------------------------------------------------------------


def talk(talk_id: str, version: int) -> dict:
    """Version `version` of a talk: its content and `updated_at` both grow with it."""
    return {
        "talk_id": talk_id,
        "title": f"{talk_id} version {version}",
        "description": f"Edit number {version} of {talk_id}.",
        "speakers": ["Ada Lovelace"],
        "updated_at": (BASE + timedelta(minutes=version)).isoformat(),
    }


@dataclass
class Sent:
    """A delivered message (body and headers), kept to replay it."""

    body: bytes
    headers: dict[str, str]
    url: str


def post(url: str, talks: list[dict], *, tries: int = 10) -> Sent:
    """Post talks as one signed message, as a Standard Webhooks sender does: retried with the
    same message id (and signature) after a timeout, a 409 (in flight) or a 503, until 2xx."""
    body = json.dumps({"talks": talks}).encode()
    headers = standard_headers(body, SECRET)
    answer: httpx.Response | None = None
    for attempt in range(tries):
        try:
            answer = httpx.post(f"{url}/hooks/talks", content=body, headers=headers, timeout=120)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code in (200, 202):
            return Sent(body, headers, url)
        time.sleep(0.5 * (attempt + 1))
    detail = "no answer" if answer is None else f"{answer.status_code} {answer.text}"
    raise RuntimeError(f"{url}: no 2xx after {tries} tries: {detail}")


# ---- the checks ---------------------------------------------------------------------------


def mismatches(lake: Lake, newest: dict[str, int]) -> tuple[list[str], list[str]]:
    """(talks whose ledger row is not at the talk's content hash, talks not at their newest
    version in `talks`), for every talk in `newest` (talk id -> newest version number)."""
    from podium.enrichment import STAGES, state_rows
    from podium.ingest import talk_rows

    ids = sorted(newest)
    rows = talk_rows(lake=lake, columns=["talk_id", "title", "content_hash"], talk_ids=ids)
    current = dict(zip(rows.talk_id, rows.content_hash, strict=True))
    titles = dict(zip(rows.talk_id, rows.title, strict=True))
    ledger = state_rows(lake=lake, talk_ids=ids, columns=["talk_id", "stage", "content_hash"])
    marked = {(r.talk_id, r.stage): r.content_hash for r in ledger.itertuples()}
    off = [i for i in ids if any(marked.get((i, s)) != current.get(i) for s in STAGES)]
    stale = [i for i in ids if titles.get(i) != talk(i, newest[i])["title"]]
    return off, stale


# ---- the scenarios ------------------------------------------------------------------------


@dataclass
class Result:
    lake: str
    talks: int = 0
    posts: int = 0
    mismatched: list[str] = field(default_factory=list)
    not_newest: list[str] = field(default_factory=list)
    store: str = "lake"
    replays: int = 0
    replays_refused: int = 0
    restart_replays: int = 0
    restart_refused: int = 0
    reused: int = 0
    reused_refused: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.mismatched
            and not self.not_newest
            and self.replays_refused == self.replays
            and self.reused_refused == self.reused
            and self.restart_refused == self.restart_replays
        )


def race_edits(
    urls: list[str], ids: list[str], rounds: int, rng: random.Random, *, parallel: int = 4
) -> list[Sent]:
    """Create every talk, then per round post its two next versions at the same moment, one
    to each replica (which one gets the newer version is random), `parallel` talks at a
    time. Returns every message sent."""
    sent: list[Sent] = []
    with ThreadPoolExecutor(2 * parallel) as pool:
        sent += pool.map(lambda i: post(urls[0], [talk(i, 1)]), ids)
        for r in range(rounds):
            for start in range(0, len(ids), parallel):
                chunk = ids[start : start + parallel]
                barrier = threading.Barrier(2 * len(chunk))
                jobs = []
                for talk_id in chunk:
                    first, second = rng.sample(urls, 2)
                    jobs += [(first, talk_id, 2 * r + 2), (second, talk_id, 2 * r + 3)]

                def together(job: tuple[str, str, int], barrier=barrier) -> Sent:
                    barrier.wait()
                    return post(job[0], [talk(job[1], job[2])])

                sent += pool.map(together, jobs)
    return sent


def race_ingest(
    url: str, lake: dict[str, str], home: Path, ids: list[str], version: int
) -> list[Sent]:
    """`podium ingest` records versions `version` / `version + 1` of the talks (alternating)
    while the gateway records the other one, talk by talk, at the same time."""
    file_talks = [talk(i, version + (n % 2)) for n, i in enumerate(ids)]
    path = home / "ingest.json"
    path.write_text(json.dumps({"talks": file_talks}))
    env = podium_env(home=str(home / "ingest-home"), **lake)
    process = subprocess.Popen(
        [sys.executable, "-m", "podium", "ingest", str(path), "--no-notify"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with ThreadPoolExecutor(8) as pool:
            sent = list(
                pool.map(lambda n: post(url, [talk(ids[n], version + 1 - n % 2)]), range(len(ids)))
            )
        output, _ = process.communicate(timeout=300)
    finally:
        stop_group(process)
    if process.returncode != 0:
        raise RuntimeError(f"podium ingest failed: {output.decode()[-2000:]}")
    return sent


def replay(sent: list[Sent], urls: list[str], result: Result) -> None:
    """Send each message again to the other replica; then reuse its id on another body."""

    def again(message: Sent) -> tuple[bool, bool]:
        other = urls[(urls.index(message.url) + 1) % len(urls)]
        copy = httpx.post(
            f"{other}/hooks/talks", content=message.body, headers=message.headers, timeout=120
        )
        body = message.body.replace(b"version", b"forged version")
        forged = httpx.post(
            f"{other}/hooks/talks", content=body, headers=_resigned(message, body), timeout=120
        )
        duplicate = replay_refused(copy)
        problem = forged.headers.get("content-type", "").startswith("application/problem+json")
        refused = forged.status_code == 409 and problem and "webhook-id-reused" in forged.text
        return duplicate, refused

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(again, sent))
    result.replays += len(answers)
    # A replay of a handled message is answered with its first answer, marked duplicate, and
    # records nothing: "refused" here means not recorded again, which the lake check confirms.
    result.replays_refused += sum(1 for duplicate, _ in answers if duplicate)
    result.reused += len(answers)
    result.reused_refused += sum(1 for _, refused in answers if refused)


def replay_refused(answer: httpx.Response) -> bool:
    """A replay recorded nothing: inside the window it is answered as a duplicate (200 and
    `duplicate: true`, the first answer again); past it, its timestamp is refused (401)."""
    if answer.status_code == 200:
        return answer.json().get("duplicate") is True
    return answer.status_code == 401 and "replay window" in answer.text


def _send(url: str, message: Sent) -> httpx.Response:
    return httpx.post(
        f"{url}/hooks/talks", content=message.body, headers=message.headers, timeout=120
    )


def _resigned(message: Sent, body: bytes) -> dict[str, str]:
    """The same message id and timestamp, validly signed over a different body."""
    from podium.gateway.signatures import WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER

    return standard_headers(
        body,
        SECRET,
        msg_id=message.headers[WEBHOOK_ID_HEADER],
        timestamp=int(message.headers[WEBHOOK_TIMESTAMP_HEADER]),
    )


def run(
    *,
    talks: int,
    rounds: int,
    s3_endpoint: str | None = None,
    redis_url: str | None = None,
    seed: int = 7,
    workdir: Path | None = None,
    replays: bool = True,
    inbox: bool = False,
) -> Result:
    """The whole bench at one size; returns its figures (see the module docs). With `inbox`
    the gateways answer once a talk is in the lake's inbox (podium/inbox.py); the checks run
    once the inbox is folded."""
    rng = random.Random(seed)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        lake = s3_lake_settings(s3_endpoint) if s3_endpoint else {"lake__url": str(tmp / "lake")}
        extra = {"replay__url": redis_url} if redis_url else {}
        if inbox:
            extra |= {"gateway__inbox": "true", "gateway__inbox_lease_s": "3"}
        first = contextlib.ExitStack()
        urls = [first.enter_context(gateway_process(tmp / "gw0", lake, **extra))]
        urls.append(stack.enter_context(gateway_process(tmp / "gw1", lake, **extra)))
        result = Result(lake="s3 (moto)" if s3_endpoint else "local")
        result.store = ("redis" if redis_url else "lake") + (", inbox" if inbox else "")
        ids = [f"race-{n:03d}" for n in range(talks)]
        sent = race_edits(urls, ids, rounds, rng)
        newest = dict.fromkeys(ids, 2 * rounds + 1)
        ingest_ids = [f"ingest-{n:03d}" for n in range(talks)]
        sent += race_ingest(urls[0], lake, tmp, ingest_ids, version=2)
        newest.update(dict.fromkeys(ingest_ids, 3))
        if replays:
            replay(sent, urls, result)
            # A restart: replica 0 stops, a new process takes its place on the same lake and
            # store; what was sent to the old one is sent again to the new one.
            first.close()
            restarted = stack.enter_context(gateway_process(tmp / "gw0-restarted", lake, **extra))
            again = [m for m in sent if m.url == urls[0]]
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda m: _send(restarted, m), again))
            result.restart_replays = len(answers)
            result.restart_refused = sum(1 for a in answers if replay_refused(a))
        first.close()
        if inbox:
            wait_folded(lake_of(lake))
        result.talks = len(newest)
        result.posts = len(sent)
        result.mismatched, result.not_newest = mismatches(lake_of(lake), newest)
    result.seconds = time.perf_counter() - started
    return result


def wait_folded(lake: Lake, timeout_s: float = 120) -> None:
    """Wait until every inbox blob is folded into Delta (by a replica still running)."""
    from podium.inbox import pending_blobs

    deadline = time.monotonic() + timeout_s
    while pending_blobs(lake):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the inbox was not folded within {timeout_s:.0f} s")
        time.sleep(0.1)


def table(result: Result) -> str:
    """The bench's figures as a header line and a row."""
    load = os.getloadavg()[0]
    return (
        "lake | replay store | talks raced | posts | ledger mismatches | talks not newest "
        "| replays refused (other replica) | after restart | reused ids refused (409) "
        "| seconds | load\n"
        f"{result.lake} | {result.store} | {result.talks} | {result.posts} | "
        f"{len(result.mismatched)} | {len(result.not_newest)} | "
        f"{result.replays_refused}/{result.replays} | "
        f"{result.restart_refused}/{result.restart_replays} | "
        f"{result.reused_refused}/{result.reused} | {result.seconds:.1f} | {load:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--talks", type=int, default=40, help="talks per race")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of racing edits")
    parser.add_argument("--s3", action="store_true", help="the lake on a moto S3 server")
    parser.add_argument("--redis", action="store_true", help="replay store in redis-server")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--inbox", action="store_true", help="gateways with gateway.inbox on")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        endpoint = None
        if args.s3:
            from tests.moto_server import moto_server

            endpoint = stack.enter_context(moto_server())
        redis_url = None
        if args.redis:
            redis_url = stack.enter_context(redis_server())
        result = run(
            talks=args.talks,
            rounds=args.rounds,
            s3_endpoint=endpoint,
            redis_url=redis_url,
            seed=args.seed,
            inbox=args.inbox,
        )
    print(table(result))
    if result.mismatched:
        print("mismatched:", ", ".join(result.mismatched[:20]))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
