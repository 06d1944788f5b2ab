"""The resources a process works with: built once from settings, passed into every use-case.

Side effects are chosen here, not deep inside a task: the lake, the event sink, the review
summary backend and notifier, the DynamoDB and stream clients, the pretalx client. Clients that
cost something to build (a boto3 client, an LLM backend) are built on first use and kept, so a
flow that never reviews never builds a Bedrock client. Tests build one in a line::

    resources = Resources(settings=settings, lake=Lake(str(tmp_path)))

(events then go to a `RecordedEvents` list; pass `summary_backend=`, `notifier=`, `dynamodb=`
… to use a local server instead). `tasks/resources.py` builds the flows' one, whose events go to
Prefect. `EnrichResources` (the enrich loop's view: lake, settings, model loaders) comes from
`Resources.enrich()` (its cold and warm variants; `EnrichResources.backfill` is a Dask worker's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from podium.events import EventSink, RecordedEvents
from podium.lake import Lake
from podium.steps import Step, direct

if TYPE_CHECKING:
    from podium.pretalx.client import PretalxClient
    from podium.review.llm import SummaryBackend
    from podium.review.notify import Notifier
    from podium.settings import Settings
    from podium.use_cases.enrich import EnrichResources

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built by `build` on the first call, then kept (thread-safe)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build: Callable[[], T] | None = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        with self._lock:
            if self._build is not None:
                self._value, self._build = self._build(), None
            return self._value  # type: ignore[return-value]

    @classmethod
    def of(cls, value: T) -> Lazy[T]:
        """An already built value."""
        return cls(lambda: value)


def _none() -> Lazy[Any]:
    return Lazy.of(None)


def _unconfigured(what: str) -> Lazy[Any]:
    def refuse() -> Any:
        raise RuntimeError(f"no {what} in these resources")

    return Lazy(refuse)


@dataclass
class Resources:
    """Everything with a side effect that a use-case needs, built once per process.

    Args:
        settings: `podium.settings.Settings`.
        lake: the lake (tables and blobs).
        events: where use-cases emit events (`podium.events.EventSink`).
        summary_backend: () -> the review summary backend (None: structural summary only).
        notifier: () -> the reviewer notifier (None: the review waits in the UI unannounced).
        dynamodb: () -> a boto3 DynamoDB client of the directory's table.
        streams: () -> a boto3 DynamoDB Streams client.
        pretalx: (pretalx://host/event URL) -> a `PretalxClient` (a context manager).
        step: runs one named step of a use-case (`direct` here; in a flow a Prefect task with
            that step's retries, `tasks/resources.py`).
    """

    settings: Settings
    lake: Lake
    events: EventSink = field(default_factory=RecordedEvents)
    summary_backend: Callable[[], SummaryBackend | None] = field(default_factory=_none)
    notifier: Callable[[], Notifier | None] = field(default_factory=_none)
    dynamodb: Callable[[], Any] = field(default_factory=lambda: _unconfigured("DynamoDB client"))
    streams: Callable[[], Any] = field(default_factory=lambda: _unconfigured("streams client"))
    pretalx: Callable[[str], PretalxClient] | None = None
    step: Step = direct

    def __post_init__(self) -> None:
        if self.pretalx is None:
            config = self.settings.pretalx

            def pretalx(url: str) -> PretalxClient:
                from podium.pretalx.client import PretalxClient, parse_pretalx_url

                return PretalxClient(parse_pretalx_url(url), config)

            self.pretalx = pretalx

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        events: EventSink | None = None,
        lake: Lake | None = None,
        step: Step = direct,
    ) -> Resources:
        """The real clients the settings describe, each built when first used.

        Args:
            settings: `podium.settings.Settings`.
            events: the event sink (default: posted to `settings.prefect.api_url`).
            lake: an already built lake (default: from `settings.lake`).
            step: how named steps run (see the class).
        """

        def summary_backend() -> SummaryBackend | None:
            from podium.review.llm import backend_from_settings

            return backend_from_settings(settings.review)

        def notifier() -> Notifier | None:
            from podium.review.notify import notifier_from_settings

            return notifier_from_settings(settings.review)

        def dynamodb() -> Any:
            from podium.dynamodb.client import dynamodb_client

            return dynamodb_client(settings.dynamodb)

        def streams() -> Any:
            from podium.dynamodb.client import streams_client

            return streams_client(settings.dynamodb)

        if events is None:
            from podium.events import EventPoster, PostedEvents

            events = PostedEvents(EventPoster.from_settings(settings))
        return cls(
            settings=settings,
            lake=lake or Lake.from_settings(settings),
            events=events,
            summary_backend=Lazy(summary_backend),
            notifier=Lazy(notifier),
            dynamodb=Lazy(dynamodb),
            streams=Lazy(streams),
            step=step,
        )

    def enrich(self, *, warm: bool = False) -> EnrichResources:
        """The enrich loop's resources on this lake, settings and steps: models loaded by the
        run when used, or with `warm` the models and history this process keeps loaded."""
        from podium.use_cases.enrich import EnrichResources

        variant = EnrichResources.warm if warm else EnrichResources.cold
        return variant(self.settings, lake=self.lake, step=self.step)
