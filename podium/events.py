"""Posting Prefect events (`POST /api/events`) from outside a flow, with retries.

The open-source Prefect server evaluates deployment triggers on these events; the gateway uses
this to hand work to Prefect only after the data is safe in the lake.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

# Ids an event names at most: payloads stay small whatever the burst; consumers scan the lake
# for the rest (enrich claims every pending talk, aggregate-tags reads the Delta log).
MAX_EVENT_IDS = 100


def bounded_ids(ids: list[str], *, cap: int = MAX_EVENT_IDS) -> dict[str, Any]:
    """An event payload naming at most `cap` talk ids, with the full count beside them."""
    unique = list(dict.fromkeys(ids))
    return {"talk_ids": unique[:cap], "count": len(unique), "truncated": len(unique) > cap}


class EventDeliveryError(RuntimeError):
    """The Prefect server did not accept the events after every retry."""


def make_event(
    name: str,
    *,
    resource_id: str,
    payload: dict[str, Any] | None = None,
    resource: dict[str, str] | None = None,
    related: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One event in the shape Prefect's events API takes."""
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource_id, **(resource or {})},
        "related": related or [],
        "payload": payload or {},
    }


@dataclass
class EventPoster:
    """Posts events to a Prefect server, retrying with exponential backoff.

    Args:
        api_url: the Prefect API URL (…/api).
        api_key: bearer token for authenticated servers; never logged.
        retries: retries after the first attempt.
        backoff_s: first pause between attempts (doubles each time).
    """

    api_url: str
    api_key: str | None = None
    retries: int = 4
    backoff_s: float = 0.25
    timeout_s: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    # One client for the poster's life: `httpx.post` builds a new client, and with it a TLS
    # context (certifi's bundle parsed under the GIL, ~20-50 ms of CPU) on every call, even
    # for http:// URLs. That was 90 % of the gateway's CPU under load. The client is
    # thread-safe and keeps connections alive; a stale one fails over to the retry loop.
    _client: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)
    _client_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Any) -> EventPoster:
        prefect = settings.prefect
        return cls(
            api_url=prefect.api_url,
            api_key=prefect.api_key.get_secret_value() if prefect.api_key else None,
            retries=prefect.event_retries,
            backoff_s=prefect.event_backoff_s,
        )

    def client(self) -> httpx.Client:
        """The shared HTTP client, created on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout_s)
            return self._client

    def close(self) -> None:
        """Close the shared client (a later `post` opens a new one)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def post(self, events: list[dict[str, Any]]) -> None:
        """Deliver `events`; raises `EventDeliveryError` when every attempt failed."""
        if not events:
            return
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = self.api_url.rstrip("/") + "/events"
        last = "no attempt"
        for attempt in range(self.retries + 1):
            try:
                response = self.client().post(url, json=events, headers=headers)
                if response.status_code < 300:
                    return
                last = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # the server refused the events themselves; retrying will not help
            except httpx.HTTPError as error:
                last = type(error).__name__
            if attempt < self.retries:
                self.sleep(self.backoff_s * 2**attempt)
        raise EventDeliveryError(f"Prefect server did not accept events at {url}: {last}")
