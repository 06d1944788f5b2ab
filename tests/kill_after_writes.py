"""Run `update_tag_counts` and die by SIGKILL right after its Nth write reached storage.

    python -m tests.kill_after_writes LAKE_URL N     (from the repository root)

Used by the exactly-once tests and by bench/faults.py: every way the lake's storage is written
(Delta commits and blobs) counts as a write, so a retry can be tried from every crash point.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import deltalake
import deltalake.table

import podium.lake.store as store
from podium.lake import Lake
from podium.tag_counts import update_tag_counts


def main(lake_url: str, limit: int) -> None:
    writes = 0

    def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal writes
            out = fn(*args, **kwargs)
            writes += 1
            if writes == limit:
                os.kill(os.getpid(), signal.SIGKILL)  # like a kill -9 right after this write
            return out

        return wrapper

    store.write_deltalake = counted(store.write_deltalake)  # type: ignore[assignment]
    deltalake.table.TableMerger.execute = counted(deltalake.table.TableMerger.execute)  # type: ignore[method-assign]
    deltalake.DeltaTable.delete = counted(deltalake.DeltaTable.delete)  # type: ignore[method-assign]
    deltalake.DeltaTable.create_write_transaction = counted(  # type: ignore[method-assign]
        deltalake.DeltaTable.create_write_transaction
    )
    Lake.put_blob = counted(Lake.put_blob)  # type: ignore[method-assign]
    update_tag_counts(lake=Lake(lake_url))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
