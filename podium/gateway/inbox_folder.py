"""The gateway's inbox folder: folds accepted talks into Delta off the request path.

With `gateway.inbox` on, a talk request is answered once its changes are in an inbox blob
(podium/inbox.py); this thread, one per gateway process, folds them into `talks` and the
enrichment ledger and then posts one `podium.talk.submitted` event for every talk the fold
made pending (and one `podium.talk.removed` for deletions). The warm executors react to that
event as before, and find the talks already recorded and pending when they read them.

Only the replica holding the fold lease folds; the others keep looking, so a replica that
dies (even by `kill -9` right after answering 2xx) leaves its blobs to the next holder, at
most one lease (`gateway.inbox_lease_s`) later. A fold runs at start too, so a single
gateway restarted after a crash folds what its predecessor accepted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter

from podium import inbox, tracing
from podium.events import EventPoster
from podium.ingest import Change, IngestReport
from podium.lake import Lake

logger = logging.getLogger("podium.gateway.inbox")


class InboxFolder:
    """A thread that folds the inbox whenever it holds the fold lease.

    Args:
        lake: the lake.
        poster: posts the events of what each fold made pending.
        interval_s: pause between looks at an empty inbox (or one another replica folds); an
            append by this process wakes it at once.
        lease_s: how long a fold lease lasts unless renewed (each fold renews it).
        max_blobs: most inbox blobs per fold.
    """

    def __init__(
        self,
        lake: Lake,
        poster: EventPoster,
        *,
        interval_s: float,
        lease_s: float,
        max_blobs: int = 1000,
    ) -> None:
        self.lake = lake
        self.poster = poster
        self.interval_s = interval_s
        self.max_blobs = max_blobs
        self.writer = inbox.writer_id()
        self.lease = inbox.FoldLease(lake, holder=self.writer, ttl_s=lease_s)
        self.folds = 0  # folds that recorded something, for tests and health figures
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def append(self, changes: list[Change]) -> IngestReport:
        """The group commit's write in inbox mode: one blob for the batch, nothing else."""
        inbox.append(self.lake, changes, writer=self.writer)
        self._wake.set()  # fold at once if this process holds (or gets) the lease
        return IngestReport()

    def fold_once(self) -> inbox.Fold | None:
        """Fold what the inbox holds if this process gets the lease; None when it did not."""
        blobs = inbox.pending_blobs(self.lake)
        if not blobs or not self.lease.acquire():
            return None
        started = time.perf_counter()
        with tracing.span("inbox-fold", {"podium.blobs": len(blobs)}):
            done = inbox.fold(self.lake, blobs=blobs, max_blobs=self.max_blobs)
        self.folds += 1
        logger.debug(
            "folded %d inbox blob(s), %d change(s), in %.3f s",
            len(done.blobs),
            done.changes,
            time.perf_counter() - started,
        )
        from podium.gateway.talk_hooks import _announce

        report = done.report
        _announce(self.poster, report.pending, report.removed, "inbox", self.lake)
        return done

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.fold_once()
            except Exception:  # noqa: BLE001 - the lake is down: the blobs wait, retry later
                logger.exception("inbox fold failed; the blobs stay and are folded later")
                done = None
            if done is None:
                self._wake.wait(self.interval_s)
                self._wake.clear()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="podium-inbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop folding (the current fold ends first) and give the lease up."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001 - it runs out by itself
            logger.warning("could not release the inbox fold lease", exc_info=True)


@asynccontextmanager
async def inbox_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the app's inbox folder (when the inbox is on) with the app, stop it after."""
    folder: InboxFolder | None = getattr(app.state, "inbox_folder", None)
    if folder is not None:
        folder.start()
    try:
        yield
    finally:
        if folder is not None:
            folder.stop()


router = APIRouter(lifespan=inbox_lifespan)
