"""Posting Prefect events (`POST /api/events`) from outside a flow, with retries, and the
event sink every use-case emits through.

The open-source Prefect server evaluates deployment triggers on these events; the gateway uses
`EventPoster` to hand work to Prefect only after the data is safe in the lake. Use-cases emit
through an `EventSink` from their resources (`podium.resources`): inside a flow run that is
Prefect's own `emit_event` (`tasks/resources.py`), over HTTP `PostedEvents`, in tests
`RecordedEvents`. Every sink checks the payload against `podium.event_catalog` first, so an
emitter cannot drift from the triggers that read it.
"""

from __future__ import annotations

import base64
import fnmatch
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from podium.event_catalog import EventSpec

if TYPE_CHECKING:
    from podium.settings import Settings

# Ids an event names at most: payloads stay small whatever the burst; consumers scan the lake
# for the rest (enrich claims every pending talk, aggregate-tags reads the Delta log).
MAX_EVENT_IDS = 100


def bounded_ids(ids: list[str], *, cap: int = MAX_EVENT_IDS) -> dict[str, Any]:
    """An event payload naming at most `cap` talk ids, with the full count beside them."""
    unique = list(dict.fromkeys(ids))
    return {"talk_ids": unique[:cap], "count": len(unique), "truncated": len(unique) > cap}


class EventDeliveryError(RuntimeError):
    """The Prefect server did not accept the events after every retry."""


class _Transient(Exception):
    """One failed attempt worth retrying (connection error, 5xx, 429)."""


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
        api_key: bearer token for Prefect Cloud; never logged.
        auth_string: `user:password` of a server protected with
            PREFECT_SERVER_API_AUTH_STRING, sent as HTTP Basic auth; never logged.
        retries: retries after the first attempt.
        backoff_s: first pause between attempts (doubles each time).
    """

    api_url: str
    api_key: str | None = field(default=None, repr=False)
    retries: int = 4
    backoff_s: float = 0.25
    timeout_s: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    auth_string: str | None = field(default=None, repr=False)
    # One client for the poster's life: `httpx.post` builds a new client, and with it a TLS
    # context (certifi's bundle parsed under the GIL, ~20-50 ms of CPU) on every call, even
    # for http:// URLs. That was 90 % of the gateway's CPU under load. The client is
    # thread-safe and keeps connections alive; a stale one fails over to the retry loop.
    _client: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)
    _client_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> EventPoster:
        prefect = settings.prefect
        return cls(
            api_url=prefect.api_url,
            api_key=prefect.api_key.get_secret_value() if prefect.api_key else None,
            retries=prefect.event_retries,
            backoff_s=prefect.event_backoff_s,
            timeout_s=prefect.event_timeout_s,
            auth_string=auth.get_secret_value() if (auth := prefect.auth_string) else None,
        )

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header of this poster's server: Basic with the auth string of a
        self-hosted server (what Prefect's own client sends for PREFECT_API_AUTH_STRING),
        else Bearer with a Cloud API key, else none."""
        if self.auth_string:
            token = base64.b64encode(self.auth_string.encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if self.api_key:
            return {"Authorization": f"Bearer {self.api_key}"}
        return {}

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
        headers = self.auth_headers()
        url = self.api_url.rstrip("/") + "/events"

        def attempt() -> str | None:
            """None when accepted; the refusal when retrying will not help; raises otherwise."""
            try:
                response = self.client().post(url, json=events, headers=headers)
            except httpx.HTTPError as error:
                raise _Transient(type(error).__name__) from error
            if response.status_code < 300:
                return None
            if 400 <= response.status_code < 500 and response.status_code != 429:
                return f"HTTP {response.status_code}"  # the server refused the events themselves
            raise _Transient(f"HTTP {response.status_code}")

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=float("inf")),
            retry=retry_if_exception_type(_Transient),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            refused = retrying(attempt)
        except _Transient as error:
            refused = str(error)
        if refused is not None:
            raise EventDeliveryError(f"Prefect server did not accept events at {url}: {refused}")


def checked_event(
    spec: EventSpec,
    *,
    payload: dict[str, Any],
    resource_id: str | None = None,
    resource: dict[str, str] | None = None,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(name, resource, payload) after checking both against the catalog.

    Raises:
        ValueError: the resource does not fit `spec.resource`, or the payload its model.
    """
    rid = resource_id or spec.resource
    if "*" in rid or not fnmatch.fnmatchcase(rid, spec.resource):
        raise ValueError(f"{spec.name}: resource {rid!r} does not fit {spec.resource!r}")
    spec.validate(payload)  # pydantic's ValidationError is a ValueError
    return spec.name, {"prefect.resource.id": rid, **(resource or {})}, payload


class EventSink:
    """Where a use-case's events go (see the module docstring for the implementations). Every
    sink checks each event against the catalog (`checked_event`), then hands it to `send`."""

    def emit(
        self,
        spec: EventSpec,
        *,
        payload: dict[str, Any],
        resource_id: str | None = None,
        resource: dict[str, str] | None = None,
    ) -> None:
        """Emit one event of the catalog's `spec`.

        Args:
            spec: the catalog entry (name, resource pattern, payload model).
            payload: checked against `spec.payload`; emitted as given.
            resource_id: the resource the event is about; `spec.resource` when it names one.
            resource: more resource labels (e.g. `podium.repo.ref`).
        """
        self.send(*checked_event(spec, payload=payload, resource_id=resource_id, resource=resource))

    def send(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        """Deliver one checked event: its name, resource labels and payload."""
        raise NotImplementedError


@dataclass
class RecordedEvents(EventSink):
    """An event sink that keeps what it is given, checked against the catalog: for tests and
    for runs with nobody listening (a CLI import without a Prefect server)."""

    events: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def send(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        self.events.append((name, resource, payload))

    def named(self, name: str) -> list[dict[str, Any]]:
        """The payloads emitted under `name`, oldest first."""
        return [payload for event, _, payload in self.events if event == name]


@dataclass
class PostedEvents(EventSink):
    """An event sink that posts each event to a Prefect server's API (`EventPoster`)."""

    poster: EventPoster

    def send(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        labels = dict(resource)
        rid = labels.pop("prefect.resource.id")
        self.poster.post([make_event(name, resource_id=rid, payload=payload, resource=labels)])
