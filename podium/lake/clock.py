"""The lake's clock: the one clock leases are judged by.

A claim's lease (`enrichment_state.lease_until`) is written and compared with each executor's
own clock. An executor whose clock runs a lease ahead would see live claims as expired and
take them; one that runs behind would hold expired ones. So every executor measures its clock
against the store's before it claims anything: it writes a small blob and reads back the
store's modification time of it (S3's `LastModified`, set by the object store's clock; a local
lake's file mtime, set by the host's), and refuses to run when the two differ by more than
`enrich.max_clock_skew_s`. With every executor within that bound of the one store clock, two
executors differ by at most twice the bound, which is kept well under a lease.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from podium.errors import UserError
from podium.lake.store import Lake

PROBE_PREFIX = "state/clock"


class ClockSkewError(UserError):
    """This process's clock differs from the lake's by more than the allowed skew."""


def store_clock_skew(lake: Lake, *, clock: Callable[[], float] = time.time) -> float:
    """Seconds this process's clock (`clock`) is ahead of the lake store's (negative: behind).

    Writes, reads the modification time of, and deletes one small probe blob. The store
    stamps the time when the write completes, so the local time is taken as the midpoint of
    the write; S3 stamps whole seconds, so the answer is within about a second.
    """
    path = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
    before = clock()
    lake.put_blob(path, b"clock probe")
    after = clock()
    try:
        stamped = lake.blob_modified(path)
    finally:
        try:
            lake.delete_blob(path)
        except OSError:  # a leftover probe is harmless
            pass
    return (before + after) / 2 - stamped.timestamp()


# When this process last found its clock within bounds, per lake: a warm executor runs many
# short enrich runs, and one probe a minute is enough (a clock does not jump often; when it
# does, the next probe refuses). Not correctness state: losing it only means probing again.
_PASSED: dict[str, float] = {}
_PASSED_LOCK = threading.Lock()


def check_clock(
    lake: Lake,
    *,
    max_skew_s: float,
    clock: Callable[[], float] = time.time,
    recheck_s: float = 60.0,
) -> float | None:
    """The skew (as `store_clock_skew`) when within `max_skew_s`; `ClockSkewError` otherwise.

    None, without probing, when this process passed the check on this lake less than
    `recheck_s` ago (0: always probe).
    """
    with _PASSED_LOCK:
        passed = _PASSED.get(lake.url)
    if recheck_s > 0 and passed is not None and time.monotonic() - passed < recheck_s:
        return None
    skew = store_clock_skew(lake, clock=clock)
    if abs(skew) > max_skew_s:
        here = datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds")
        raise ClockSkewError(
            f"this process's clock ({here}) is {abs(skew):.0f}s "
            f"{'ahead of' if skew > 0 else 'behind'} the lake's; leases are judged by one "
            f"clock, so it refuses to claim work until the clocks agree within "
            f"{max_skew_s:g}s (enrich.max_clock_skew_s; fix NTP on this host)"
        )
    with _PASSED_LOCK:
        _PASSED[lake.url] = time.monotonic()
    return skew
