"""A per-process cache of read answers that follows the Delta table versions.

Each cached answer belongs to the versions of the tables it was read from. At most once per
`staleness_s` a request looks up those versions (a listing of each table's Delta log); when
any moved, the whole cache is dropped and answers are read again. Nothing is shared between
processes: with N replicas each one checks the versions itself, so every replica serves what
the lake held at most `staleness_s` ago, and no replica can serve an answer older than that
because another one had not noticed a change.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class VersionedCache:
    """Answers keyed by request, dropped whenever `probe()` (the tables' versions) changes.

    Args:
        probe: returns the current versions of the tables the answers are read from.
        staleness_s: look for new versions at most this often; 0 disables the cache.
        max_entries: least recently used answers are dropped beyond this.
    """

    def __init__(
        self, probe: Callable[[], Hashable], *, staleness_s: float, max_entries: int = 4096
    ) -> None:
        self._probe = probe
        self.staleness_s = staleness_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._versions: Hashable = None
        self._checked_at = float("-inf")
        self.hits = self.misses = self.invalidations = 0

    def _current(self) -> Hashable:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < self.staleness_s:
                return self._versions
        versions = self._probe()  # outside the lock: other requests keep being served
        with self._lock:
            if versions != self._versions:
                if self._entries:
                    self.invalidations += 1
                self._entries.clear()
                self._versions = versions
            self._checked_at = now
            return versions

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached answer to `key`, or `compute()`'s (cached when the versions did not move
        while it ran)."""
        if self.staleness_s <= 0:
            return compute()
        versions = self._current()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]  # type: ignore[no-any-return]
            self.misses += 1
        value = compute()
        with self._lock:
            if self._versions == versions:
                self._entries[key] = value
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value


def read_cache_for(lake: Any, staleness_s: float) -> VersionedCache:
    """The gateway's cache: it follows every table the read routes read."""
    from podium.images.storage import covers_version
    from podium.ingest import events_version, talks_version
    from podium.lake.recommendations import table_versions
    from podium.talk_tags import tags_version

    def probe() -> Hashable:
        return (
            table_versions(lake=lake),
            events_version(lake=lake),
            talks_version(lake=lake),
            tags_version(lake=lake),
            covers_version(lake=lake),
        )

    return VersionedCache(probe, staleness_s=staleness_s)


_NO_CACHE = VersionedCache(lambda: None, staleness_s=0)


def read_cache(request: Any) -> VersionedCache:
    """The app's read cache (an app built without one reads the lake every time)."""
    return getattr(request.app.state, "read_cache", None) or _NO_CACHE
