"""The read routes' cache: an immutable index of answers that a background poller keeps at
the lake's table versions.

A request never touches Delta: it looks its key up in the current `ReadIndex` (pre-rendered
JSON bytes and their ETag). A poller thread per process looks up the versions of the tables
the routes read every `poll_s` (a listing of each table's Delta log, a few requests on S3);
when any moved it builds a new index from the lake (reading again only what moved:
`read_index.build_index`) and swaps it in whole. So every replica
serves what the lake held at most `poll_s` plus one build ago, and no replica can serve an
answer older than that because another had not noticed a change: each follows the lake, and
nothing is shared between processes or kept on disk.

Where the poller cannot look (the lake unreachable) the index is used for at most
`max_stale_s`; past it the routes read the lake per request again (and answer as that path
does). Exports are rendered on their first request for an index (that request reads the lake)
and kept with it; after a swap the poller renders again the exports asked for before, so the
steady state reads nothing per request.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podium.settings import Settings

from podium.gateway.read_index import Answer, ReadIndex, build_index
from podium.lake import Lake

logger = logging.getLogger("podium.gateway")

MAX_EXPORTS = 512
"""Exports kept per index (events x formats; beyond it an export is rendered per request)."""
WARM_EXPORTS = 64
"""Exports the poller renders again after a swap (those asked for before)."""


def read_versions(*, lake: Lake) -> tuple[Any, ...]:
    """The versions of every table the read routes read: recommendations, related_talks,
    events, talks, then what only exports read (talk_tags, talk_images)."""
    from podium.images.storage import covers_version
    from podium.ingest import events_version, talks_version
    from podium.lake.recommendations import table_versions
    from podium.talk_tags import tags_version

    recommendations, related = table_versions(lake=lake)
    return (
        recommendations,
        related,
        events_version(lake=lake),
        talks_version(lake=lake),
        tags_version(lake=lake),
        covers_version(lake=lake),
    )


class ReadCache:
    """The current `ReadIndex` of one process, followed by a poller thread.

    Args:
        lake: the lake the answers are read from.
        poll_s: look for new table versions this often; 0 disables the cache (every request
            reads the lake, as before).
        public_states: the talk states the public routes serve.
        max_stale_s: serve an index whose versions were last confirmed at most this long ago
            (default: 20 polls, at least 10 s); older, the routes read the lake per request.
        export: renders one export (event id, format) from the lake.
        idle_s: the poller pauses when no read asked for the index this long (a replica that
            only takes webhooks costs the lake nothing); the next read finds the index not
            confirmed (after `max_stale_s`, read from the lake) and the poller resumes.
    """

    def __init__(
        self,
        *,
        lake: Lake,
        poll_s: float,
        public_states: Collection[str],
        max_stale_s: float | None = None,
        export: Callable[[str, str], bytes] | None = None,
        idle_s: float = 300.0,
    ) -> None:
        self.lake = lake
        self.poll_s = poll_s
        self.public_states = tuple(public_states)
        self.max_stale_s = max_stale_s if max_stale_s is not None else max(10.0, 20 * poll_s)
        self._export = export
        self.idle_s = idle_s
        self.last_read = time.monotonic()
        self._index: ReadIndex | None = None
        self._confirmed_at = float("-inf")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.polls = self.builds = self.updates = self.failures = 0
        self.last_build_s = 0.0

    @property
    def enabled(self) -> bool:
        return self.poll_s > 0

    def start(self) -> None:
        """Start the poller (idempotent); it builds the first index at once."""
        if not self.enabled:
            return
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=_poll,
                args=(weakref.ref(self), self._stop, self.poll_s),
                name="podium-read-cache",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the poller and wait for it (a build in progress finishes first)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)  # a build still running ends with the process (daemon)

    def current(self) -> ReadIndex | None:
        """The index to answer from, or None: read the lake (cache disabled, first index not
        built yet, or versions not confirmed for `max_stale_s`)."""
        if not self.enabled:
            return None
        if self._thread is None:
            self.start()  # an app served without its lifespan (a bare TestClient)
        self.last_read = time.monotonic()
        index = self._index
        if index is None or time.monotonic() - self._confirmed_at > self.max_stale_s:
            return None
        return index

    def refresh(self) -> bool:
        """One poll: look up the versions; build and swap in a new index when they moved.
        Returns whether a new index was swapped in."""
        with self._refresh_lock:
            looked_at = time.monotonic()  # the index holds at least the lake as of now
            versions = read_versions(lake=self.lake)
            self.polls += 1
            previous = self._index
            if previous is not None and previous.versions == versions:
                self._confirmed_at = looked_at
                return False
            started = time.perf_counter()
            index = build_index(
                lake=self.lake,
                versions=versions,
                public_states=self.public_states,
                previous=previous,
            )
            self._index, self._confirmed_at = index, looked_at
            if index.how == "full":
                self.builds += 1
                self.last_build_s = time.perf_counter() - started
            else:
                self.updates += 1
        if previous is not None:
            for key in list(previous.exports)[-WARM_EXPORTS:]:
                if self._stop.is_set() or self._index is not index:
                    break
                self.export(index, *key)
        return True

    def export(self, index: ReadIndex, event_id: str, fmt: str) -> Answer:
        """The export from `index`'s memo, rendered (and kept) on first request.

        Raises:
            What rendering raised (kept too: an unknown event stays unknown in this index).
        """
        key = (event_id, fmt)
        found = index.exports.get(key)
        if found is None:
            assert self._export is not None, "built without an export renderer"
            try:
                found = Answer.of(self._export(event_id, fmt))
            except LookupError as error:  # unknown event, nothing scheduled: user errors
                found = error
            with index.exports_lock:
                if len(index.exports) < MAX_EXPORTS:
                    index.exports.setdefault(key, found)
        if isinstance(found, Exception):
            raise found
        return found  # type: ignore[no-any-return]


def _poll(ref: weakref.ref[ReadCache], stop: threading.Event, poll_s: float) -> None:
    """The poller: refresh (unless no read came for `idle_s`), then wait `poll_s`; ends with
    `stop` or when its cache is gone (an app dropped without its lifespan ending)."""
    while not stop.is_set():
        cache = ref()
        if cache is None:
            return
        try:
            if time.monotonic() - cache.last_read <= cache.idle_s:
                cache.refresh()
        except Exception as error:  # noqa: BLE001 - the lake may be briefly unreachable
            cache.failures += 1
            logger.warning("read cache: refresh failed: %s: %s", type(error).__name__, error)
        del cache
        stop.wait(poll_s)


def read_cache_for(lake: Lake, settings: Settings) -> ReadCache:
    """The gateway's read cache, from its settings (`gateway.read_cache_s`,
    `recommend.public_states`, `exports`)."""
    from podium.exports.export import export_event

    def export(event_id: str, fmt: str) -> bytes:
        return export_event(lake=lake, event_id=event_id, fmt=fmt, settings=settings.exports)

    return ReadCache(
        lake=lake,
        poll_s=settings.gateway.read_cache_s,
        public_states=settings.recommend.public_states,
        export=export,
    )


def read_cache(request: Any) -> ReadCache | None:
    """The app's read cache; None when the app was built without one (tests of one router)."""
    return getattr(request.app.state, "read_cache", None)


def current_index(request: Any) -> ReadIndex | None:
    """The read cache's current index; None without a cache or a recently confirmed index
    (the request then reads the lake itself)."""
    cache = read_cache(request)
    return cache.current() if cache is not None else None


@asynccontextmanager
async def read_cache_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the poller with the app (the first index is built before much traffic comes) and
    stop it on shutdown."""
    cache = getattr(app.state, "read_cache", None)
    if cache is not None:
        cache.start()
    try:
        yield
    finally:
        if cache is not None:
            cache.stop()
