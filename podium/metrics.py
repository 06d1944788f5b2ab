"""Every Prometheus metric Podium exposes, defined once, and the `/metrics` exposition.

Two kinds of figures:

- **Process counters and histograms** (this module's objects): what one process did — requests,
  group commits, events deferred, claims, lease expiries, model loads, encoder seconds, stage
  latencies. Each process that does the work counts it; Prometheus sums over replicas.
- **Lake state** (`LakeStateCollector`): the ledger's backlog and oldest pending age per stage,
  failed talks and waiting reviews, read from the lake at scrape time (cached for a few
  seconds). Every replica reports the same numbers, because the state is in the lake, not in
  a process: query them with `max()`, never `sum()`.

Where processes fork (several workers writing into one exposition), set the client library's
own `PROMETHEUS_MULTIPROC_DIR` to an empty folder before the processes start: the values are
then kept in files there and `exposition()` aggregates them (`prometheus_client.multiprocess`).
Nothing here reads the environment at import time; `exposition()` looks at it per scrape.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds buckets from 5 ms to 10 min: a group commit, a tag batch and a cold start all fit.
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_BYTES = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)

# ---- gateway -----------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "podium_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "podium_http_request_seconds",
    "Seconds from a request's arrival to its answer, by route template and method.",
    ["route", "method"],
    buckets=_SECONDS,
)
HTTP_BODY_BYTES = Histogram(
    "podium_http_request_body_bytes",
    "Declared request body size (Content-Length), by route template.",
    ["route"],
    buckets=_BYTES,
)
GROUP_COMMIT_REQUESTS = Histogram(
    "podium_group_commit_requests",
    "Requests folded into one lake write by the gateway's group commit.",
    buckets=_SIZES,
)
GROUP_COMMIT_SECONDS = Histogram(
    "podium_group_commit_seconds",
    "Seconds one group-commit lake write took (success or failure).",
    buckets=_SECONDS,
)
GROUP_COMMIT_FAILURES = Counter(
    "podium_group_commit_failures", "Group-commit lake writes that raised (every request 503)."
)
EVENTS = Counter(
    "podium_gateway_events",
    "Outcome of the gateway's podium.talk.submitted/removed announcements: accepted, "
    "deferred (Prefect unreachable after retries; the ledger check picks the talks up) or "
    "not_needed (nothing changed).",
    ["outcome"],
)
REPLAYS_REFUSED = Counter(
    "podium_replays_refused",
    "Signed messages refused or answered again by the shared replay store: duplicate (200 "
    "with the first answer), in_flight (409), reused-id (409, another body) or "
    "store-unavailable (503).",
    ["scope", "reason"],
)

# ---- the ledger (per process that claims) ------------------------------------------------------

CLAIMS = Counter("podium_ledger_claims", "Batches claimed from the ledger, by stage.", ["stage"])
CLAIM_BATCH = Histogram(
    "podium_ledger_claim_batch_size",
    "Talks per claimed batch, by stage.",
    ["stage"],
    buckets=_SIZES,
)
LEASE_EXPIRIES = Counter(
    "podium_ledger_lease_expiries",
    "Ledger rows taken again because their claim's lease ran out (its process died), by stage.",
    ["stage"],
)
OUTCOMES = Counter(
    "podium_ledger_outcomes",
    "Outcomes recorded in the ledger: done, error (retried), failed (for good) or superseded "
    "(a newer version arrived), by stage.",
    ["stage", "outcome"],
)

# ---- stages, models ----------------------------------------------------------------------------

STAGES = ("recorded", "tagged", "covered", "counted", "recommended")
STAGE_SECONDS = Histogram(
    "podium_stage_latency_seconds",
    "Seconds until a stage was done, from: the request's arrival (recorded), the talk's "
    "pending time in the ledger (tagged, covered), its tagging (counted), the newest tag-count "
    "commit (recommended).",
    ["stage"],
    buckets=_SECONDS,
)
MODEL_LOADS = Counter(
    "podium_model_loads", "Models loaded into a process (tagger, cover backend).", ["kind"]
)
ENCODER_SECONDS = Histogram(
    "podium_encoder_seconds",
    "Seconds the tagger spent on one batch of talks (encoder forward passes and scoring).",
    buckets=_SECONDS,
)
WARM_RUNS = Counter(
    "podium_warm_runs",
    "Flow runs a warm executor handled: completed, failed (any other final state) or folded "
    "(nothing pending any more).",
    ["outcome"],
)
REVIEW_WAIT = Histogram(
    "podium_review_wait_seconds",
    "Seconds from a push to its review's decision, by decision.",
    ["decision"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600),
)

# Names of the lake-state gauges (for the dashboard and rules tests).
LAKE_GAUGES = (
    "podium_ledger_backlog",
    "podium_ledger_oldest_pending_age_seconds",
    "podium_ledger_failed",
    "podium_reviews_waiting",
    "podium_review_oldest_wait_seconds",
    "podium_lake_state_up",
)


def metric_names() -> set[str]:
    """Every sample name Podium can expose (counters with `_total`, histograms' series)."""
    names = set(LAKE_GAUGES)
    for metric in (
        HTTP_REQUESTS, HTTP_SECONDS, HTTP_BODY_BYTES, GROUP_COMMIT_REQUESTS, GROUP_COMMIT_SECONDS,
        GROUP_COMMIT_FAILURES, EVENTS, REPLAYS_REFUSED, CLAIMS, CLAIM_BATCH, LEASE_EXPIRIES,
        OUTCOMES, STAGE_SECONDS, MODEL_LOADS, ENCODER_SECONDS, WARM_RUNS, REVIEW_WAIT,
    ):  # fmt: skip
        for family in metric.describe():
            if family.type == "counter":
                names |= {family.name + "_total", family.name + "_created"}
            elif family.type == "histogram":
                names |= {family.name + s for s in ("_bucket", "_sum", "_count", "_created")}
            else:
                names.add(family.name)
    return names


def observe_since(histogram: Any, started: datetime | Any, *, now: datetime | None = None) -> None:
    """Observe the seconds from `started` (an aware datetime or pandas Timestamp) until now."""
    if started is None:
        return
    now = now or datetime.now(UTC)
    seconds = (now - started).total_seconds()
    if seconds >= 0:
        histogram.observe(seconds)


# ---- lake state, read at scrape time -----------------------------------------------------------


class LakeStateCollector:
    """The ledger's and reviews' state as gauges, read from the lake at most every `ttl_s`.

    Args:
        read: returns a `podium.operations.LakeState` (a lake read; may raise).
        ttl_s: seconds a reading is reused; scrapes in between cost nothing.
    """

    def __init__(self, read: Callable[[], Any], *, ttl_s: float = 10.0) -> None:
        self._read = read
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, Any] | None = None

    def _state(self) -> Any:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl_s:
                return self._cached[1]
            try:
                state = self._read()
            except Exception:  # noqa: BLE001 - an unreadable lake is a metric, not a 500
                state = None
            self._cached = (time.monotonic(), state)
            return state

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        up = GaugeMetricFamily(
            "podium_lake_state_up", "1 when the last read of the lake's state succeeded."
        )
        up.add_metric([], 0.0 if state is None else 1.0)
        yield up
        if state is None:
            return
        backlog = GaugeMetricFamily(
            "podium_ledger_backlog",
            "Talks with a stage still to do at their current content (claimed ones included).",
            labels=["stage"],
        )
        age = GaugeMetricFamily(
            "podium_ledger_oldest_pending_age_seconds",
            "Seconds the oldest talk still to do for a stage has waited (0 when none).",
            labels=["stage"],
        )
        failed = GaugeMetricFamily(
            "podium_ledger_failed",
            "Talks whose stage failed for good at their current content.",
            labels=["stage"],
        )
        for stage in state.stages:
            backlog.add_metric([stage.stage], stage.backlog)
            age.add_metric([stage.stage], stage.oldest_age_s)
            failed.add_metric([stage.stage], stage.failed)
        yield backlog
        yield age
        yield failed
        waiting = GaugeMetricFamily("podium_reviews_waiting", "Reviews waiting for a decision.")
        waiting.add_metric([], len(state.reviews))
        yield waiting
        oldest = GaugeMetricFamily(
            "podium_review_oldest_wait_seconds",
            "Seconds the oldest waiting review has waited (0 when none).",
        )
        oldest.add_metric([], max((r.waiting_s for r in state.reviews), default=0.0))
        yield oldest


class _Collectors:
    def __init__(self, collectors: Iterable[Any]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(extra: Iterable[Any] = ()) -> tuple[bytes, str]:
    """This process's metrics (or, in multiprocess mode, every process's) plus `extra`
    collectors, in the Prometheus text format; returns (body, content type)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        base: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    return generate_latest(_Collectors([base, *extra])), CONTENT_TYPE_LATEST  # type: ignore[arg-type]
