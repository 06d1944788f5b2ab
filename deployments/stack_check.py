"""Drive a running stack and check it against the truth: a burst of signed talk posts spread
over the gateways (clients retry on another replica until a 2xx), then an audit of the lake
and the Prefect API. Used by the production stack's tests and by `bench/chaos.py`.

"Lost": a talk acknowledged with a 2xx that is not tagged at its current version (nor failed
and reported). Covers follow on the same ledger; the checks here are about tags.
"Processed twice": a talk version tagged by two passes, counted from the `podium.talk.tagged`
events the enrich passes emit (deduplicated by event id), and, where nothing crashed, from the
ledger: each claim counts an attempt, so a version claimed by two executors shows 2. A done
version sent round again by a late pending mark would restart at 0 attempts and show only in
the events (how the restart-PostgreSQL row's 'processed twice' happened on an older base; see
docs/production.md); the ledger's mark now refuses that (tests/podium/test_two_writers.py).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from deployments.local_stack import WARM_POOL
from podium.gateway.signatures import signed_headers
from podium.lake import Lake

TAGGED = "podium.talk.tagged"


def make_talks(n: int, *, prefix: str) -> list[dict]:
    """`n` distinct talks (sample-like English text, so the tagger has words to work with)."""
    from podium.demo import SAMPLE_DIR

    sample = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))
    talks = []
    for i in range(n):
        base = sample[i % len(sample)]
        talks.append(
            {
                "talk_id": f"{prefix}-{i:05d}",
                "title": f"{base['title']} ({prefix} {i})",
                "description": base["description"],
                "speakers": base.get("speakers", []),
                "event_ids": base.get("event_ids", []),
                "language": base.get("language", "en"),
            }
        )
    return talks


@dataclass
class Burst:
    """What a burst sent: the wall time each talk was first acknowledged with a 2xx."""

    acked: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)  # wall time of each first send
    by_gateway: Counter = field(default_factory=Counter)
    retries: int = 0
    started: float = 0.0
    finished: float = 0.0


def post_burst(
    talks: list[dict],
    *,
    gateway_urls: list[str],
    secret: str,
    clients: int = 4,
    on_acked: Callable[[int], None] = lambda _: None,
    give_up_s: float = 180,
    request_timeout_s: float = 60,
) -> Burst:
    """Post each talk once (one signed request each) from `clients` threads; talk i goes to
    gateway i mod N first and, on a connection error or a 5xx, to the next one, until a 2xx."""
    burst = Burst(started=time.time())
    lock = threading.Lock()

    def send(item: tuple[int, dict]) -> None:
        i, talk = item
        body = json.dumps(talk, ensure_ascii=False).encode()
        deadline = time.monotonic() + give_up_s
        attempt = 0
        with lock:
            burst.sent[talk["talk_id"]] = time.time()  # before sending: the sender's clock
        while True:
            url = gateway_urls[(i + attempt) % len(gateway_urls)]
            try:
                response = httpx.post(
                    f"{url}/hooks/talks",
                    content=body,
                    headers=signed_headers(body, secret),
                    timeout=request_timeout_s,
                )
                ok = 200 <= response.status_code < 300
                if not ok and response.status_code < 500:
                    raise AssertionError(
                        f"{talk['talk_id']}: HTTP {response.status_code} {response.text[:200]}"
                    )
            except httpx.HTTPError:
                ok = False
            if ok:
                with lock:
                    burst.acked[talk["talk_id"]] = time.time()
                    burst.by_gateway[url] += 1
                    on_acked(len(burst.acked))
                return
            attempt += 1
            with lock:
                burst.retries += 1
            if time.monotonic() > deadline:
                return  # never acknowledged: not counted as sent-and-lost
            time.sleep(0.2)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, enumerate(talks)))
    burst.finished = time.time()
    return burst


@dataclass
class Report:
    sent: int
    acked: int
    enriched: int  # tagged at their current version
    lost: list[str]
    twice: list[str]
    multi_attempts: list[str]  # versions claimed more than once (a crash retried them)
    latencies: list[float]  # post acknowledged -> tagged, seconds
    tagged_events: int

    @property
    def p50(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def p95(self) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def tagged_counts(api_url: str, *, since: datetime) -> tuple[Counter, int]:
    """Per talk id, in how many distinct `podium.talk.tagged` events it is named."""
    counts: Counter = Counter()
    seen: set[str] = set()
    body = {
        "filter": {
            "event": {"name": [TAGGED]},
            "occurred": {"since": since.isoformat()},
            "order": "ASC",
        },
        "limit": 50,
    }
    with httpx.Client(timeout=30) as client:
        page = client.post(f"{api_url}/events/filter", json=body)
        while True:
            page.raise_for_status()
            data = page.json()
            for event in data["events"]:
                if event["id"] in seen:
                    continue
                seen.add(event["id"])
                counts.update(set(event["payload"].get("talk_ids") or []))
            if not data.get("next_page"):
                break
            page = client.get(data["next_page"])
    return counts, len(seen)


def tagged_now(lake: Lake, ids: list[str]) -> set[str]:
    """The talks among `ids` whose tags are done for their current version."""
    from podium.enrichment import state_rows
    from podium.ingest import live_versions

    current = live_versions(lake=lake, talk_ids=ids)
    state = state_rows(
        lake=lake, talk_ids=ids, stage="tags", columns=["talk_id", "status", "content_hash"]
    )
    return {
        r.talk_id
        for r in state.itertuples()
        if r.status == "done" and current.get(r.talk_id) == r.content_hash
    }


def wait_tagged(
    lake: Lake,
    ids: list[str],
    *,
    timeout_s: float,
    check: Callable[[], None] = lambda: None,
    poll_s: float = 2.0,
) -> float:
    """Poll until every talk is tagged at its current version (or time runs out); returns
    when that was (wall time)."""
    deadline = time.monotonic() + timeout_s
    while len(tagged_now(lake, ids)) < len(ids):
        check()
        if time.monotonic() > deadline:
            break
        # Each look replays the tables' Delta logs from S3: not too often.
        time.sleep(poll_s)
    return time.time()


def wait_warm(
    api_url: str,
    *,
    count: int = 1,
    since: float = 0.0,
    timeout_s: float = 600,
    pool: str = WARM_POOL,
) -> float:
    """Poll until `count` warm executors of `pool` have sent a heartbeat after `since` (epoch
    seconds: they announce themselves once their models are loaded, and a restarted one has a
    new name); returns the seconds it took. Raises SystemExit when they do not in time."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            workers = httpx.post(
                f"{api_url}/work_pools/{pool}/workers/filter", json={}, timeout=30
            ).json()
        except httpx.HTTPError:
            workers = []
        fresh = [
            w
            for w in workers
            if w["name"].startswith("warm-")
            and w.get("last_heartbeat_time")  # none yet: not announced
            and datetime.fromisoformat(w["last_heartbeat_time"]).timestamp() > since
        ]
        if len(fresh) >= count:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"{count} warm executor(s) did not come up in {timeout_s:.0f} s")


def audit(lake: Lake, burst: Burst, sent: list[str], *, api_url: str, since: datetime) -> Report:
    """The lake and the API against what the burst got acknowledged: every acknowledged talk
    tagged at its current version (model tags of that version, none of another), once."""
    from podium.enrichment import audit as ledger_audit
    from podium.enrichment import state_rows

    ids = list(burst.acked)
    result = ledger_audit(lake=lake, max_attempts=3)
    tagged = tagged_now(lake, ids)
    failed = set(result.failed)
    lost = sorted((set(ids) - tagged - failed) | (set(result.stale_tags) & set(ids)))
    state = state_rows(
        lake=lake, talk_ids=ids, stage="tags", columns=["talk_id", "attempts", "updated_at"]
    )
    multi = sorted(set(state[state.attempts > 1].talk_id))
    latencies = [
        r.updated_at.timestamp() - burst.acked[r.talk_id]
        for r in state.itertuples()
        if r.talk_id in tagged
    ]
    counts, events = tagged_counts(api_url, since=since)
    twice = sorted(t for t in ids if counts[t] > 1)
    return Report(
        sent=len(sent),
        acked=len(ids),
        enriched=len(tagged),
        lost=lost,
        twice=twice,
        multi_attempts=multi,
        latencies=latencies,
        tagged_events=events,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
