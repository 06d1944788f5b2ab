"""Group commit: concurrent requests share one lake write.

Each Delta write costs a few hundred milliseconds whatever its size, so a burst of single-talk
requests written one by one queues up behind the lake. Here every request queues its talks;
whichever request holds the writer lock drains the whole queue into one `record_talks` call and
hands each waiting request its share of the report. A lone request still writes at once.

One request never fails its neighbours: when the combined write raises, each request of the
batch is written again on its own, so only the request whose own write fails learns of the
error (its sender gets a 503 and retries); the others are recorded and answered as usual.
Recording is idempotent, so the combined attempt leaves nothing a solo write could duplicate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from podium import metrics
from podium.ingest import Change, IngestReport
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks


@dataclass
class _Pending:
    talks: list[Talk]
    removed: list[str]
    future: Future[IngestReport] = field(default_factory=Future)


class GroupCommitter:
    """Records talks for many threads at once, one writer at a time.

    Args:
        lake: the lake to record in.
        max_batch: most queued requests folded into one write.
        write: what one write does with the batch's changes (in arrival order); by default
            `record_talks` into the lake. The inbox mode passes an append of one inbox blob
            (podium/inbox.py), which answers an empty report (what changed is the fold's to
            say).
    """

    def __init__(
        self,
        lake: Lake,
        *,
        max_batch: int = 256,
        write: Callable[[list[Change]], IngestReport] | None = None,
    ) -> None:
        self.lake = lake
        self.max_batch = max_batch
        self._record = write or (lambda changes: record_talks(lake=self.lake, changes=changes))
        self.writes = 0  # lake writes so far, for tests and health figures
        self.isolated = 0  # combined writes that failed and were retried request by request
        self._writer = threading.Lock()
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()

    def record(self, *, talks: list[Talk], removed: list[str]) -> IngestReport:
        """Record `talks` and `removed`, durably, before returning this request's report.

        Raises whatever the lake write raised; nothing of that batch is acknowledged.
        """
        mine = _Pending(list(talks), list(removed))
        with self._queue_lock:
            self._queue.append(mine)
        while not mine.future.done():
            with self._writer:
                if mine.future.done():
                    break
                with self._queue_lock:
                    batch = self._queue[: self.max_batch]
                    self._queue = self._queue[self.max_batch :]
                self._write(batch)
        return mine.future.result()

    def _write(self, batch: list[_Pending]) -> None:
        # Requests in arrival order, each in its own order: record_talks lets the source order
        # (sequence numbers, updated_at) decide between them, arrival only breaks ties.
        changes: list[Talk | str] = []
        for item in batch:
            changes += item.talks
            changes += item.removed
        metrics.GROUP_COMMIT_REQUESTS.observe(len(batch))
        started = time.perf_counter()
        try:
            report = self._record(changes)
            self.writes += 1
            metrics.GROUP_COMMIT_SECONDS.observe(time.perf_counter() - started)
        except Exception as error:
            metrics.GROUP_COMMIT_SECONDS.observe(time.perf_counter() - started)
            metrics.GROUP_COMMIT_FAILURES.inc()
            if len(batch) == 1:  # the request's own write failed: it must learn of it
                batch[0].future.set_exception(error)
                return
            # Isolate the failing request: each one alone, in arrival order.
            self.isolated += 1
            for index, item in enumerate(batch):
                try:
                    self._write([item])
                except BaseException as interrupt:  # Ctrl-C: the rest must not wait forever
                    reason = f"interrupted: {type(interrupt).__name__}"
                    for rest in batch[index + 1 :]:
                        rest.future.set_exception(RuntimeError(reason))
                    raise
            return
        except BaseException as error:
            # KeyboardInterrupt/SystemExit: fail the waiting requests, then let it propagate
            # so Ctrl-C still stops the process.
            for item in batch:
                item.future.set_exception(RuntimeError(f"interrupted: {type(error).__name__}"))
            raise
        for item in batch:
            item.future.set_result(_share(report, item))


def _share(report: IngestReport, item: _Pending) -> IngestReport:
    """The part of a combined report that concerns one request's talks."""
    ids = {t.talk_id for t in item.talks} | set(item.removed)

    def pick(values: list[str]) -> list[str]:
        return [v for v in values if v in ids]

    return IngestReport(
        new=pick(report.new),
        updated=pick(report.updated),
        unchanged=pick(report.unchanged),
        removed=pick(report.removed),
        pending=pick(report.pending),
        stale=pick(report.stale),
    )
