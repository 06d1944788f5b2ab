"""Lake history on S3: what a table open, a point read and a MERGE cost as commits pile up.

    .venv/bin/python bench/s3_growth.py --commits 200 --every 25

Two lakes on one moto S3 server over HTTP, side by side in one run: `old` as Podium ran before
(no checkpoint interval set, so delta-rs's 100; no compaction until the nightly maintenance)
and `new` (the defaults: `lake.checkpoint_interval` 10, `lake.compact_after_files` 24). Both
take the same commits, interleaved one for one so the machine's load falls on both alike: a
MERGE of `--batch` new ledger rows (`enrichment_state`, random talk ids, as an inbox fold
marks them), every `--update-every`th also updating the rows marked `--lag` commits before (a
claim, a done). Every `--every` commits each lake
is measured: opening the table, a point read of one talk, and a MERGE of one updated and one
new row, with the S3 requests each made (from the moto server's request log: GETs of
`_delta_log` commits, of checkpoints, of data files, LISTs). Prints the load average with each
row. moto is slower than S3; the request counts are what carries over.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podium.lake import Lake  # noqa: E402
from tests.moto_server import moto_server, s3_bucket  # noqa: E402

TABLE = "enrichment_state"
_REQUEST = re.compile(r'"(GET|PUT|HEAD|POST|DELETE) (\S+) HTTP')


def kind(method: str, path: str) -> str:
    if method == "GET" and ("list-type" in path or "prefix=" in path):
        return "LIST"
    if "_delta_log" in path and ".json" in path:
        return f"{method} log"
    if "checkpoint" in path:
        return f"{method} ckpt"
    if ".parquet" in path:
        return f"{method} data"
    return f"{method} other"


class RequestLog:
    """The moto server's request log, read from where the last look left it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def since_last(self) -> Counter[str]:
        with self.path.open() as handle:
            handle.seek(self.offset)
            text = handle.read()
            self.offset = handle.tell()
        found: Counter[str] = Counter()
        for match in _REQUEST.finditer(text):
            found[kind(*match.groups())] += 1
        return found


def rows(ids: list[str]) -> pd.DataFrame:
    now = datetime.now(UTC)
    return pd.DataFrame(
        {
            "talk_id": ids,
            "stage": "tags",
            "content_hash": [uuid.uuid4().hex for _ in ids],
            "status": "pending",
            "attempts": 0,
            "error": None,
            "updated_at": now,
            "claimed_by": None,
            "lease_until": pd.NaT,
            "talk_revision": 1,
        }
    )


def lake_at(endpoint: str, *, old: bool) -> Lake:
    options = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "conditional_put": "etag",
    }
    fs = {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }
    tuning = {"checkpoint_interval": 0, "compact_after_files": 0} if old else {}
    return Lake(f"s3://{s3_bucket(endpoint)}/lake", options, fs, **tuning)  # type: ignore[arg-type]


def timed(action: Callable[[], object], log: RequestLog) -> tuple[float, Counter[str]]:
    log.since_last()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started, log.since_last()


def gets(found: Counter[str]) -> str:
    return f"{found['GET log']:>3}/{found['GET ckpt']:>2}/{found['GET data']:>3}/{found['LIST']:>2}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=200, help="MERGEs into each lake")
    parser.add_argument("--every", type=int, default=25, help="measure every N commits")
    parser.add_argument("--batch", type=int, default=8, help="ledger rows per MERGE")
    parser.add_argument(
        "--lag", type=int, default=3, help="an update MERGE takes the rows inserted N commits ago"
    )
    parser.add_argument(
        "--update-every", type=int, default=5, help="every Nth MERGE also updates earlier rows"
    )
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "moto.log"
        with moto_server(log=log_path) as endpoint:
            log = RequestLog(log_path)
            lakes = {"old": lake_at(endpoint, old=True), "new": lake_at(endpoint, old=False)}
            written: dict[str, list[str]] = {"old": [], "new": []}
            batches: list[list[str]] = []
            print(
                "requests: GETs of log commits / checkpoint parts / data files / LISTs\n"
                "commits | lake | open s | requests       | point read s | requests       "
                "| MERGE s | requests       | files | load 1m"
            )
            for commit in range(1, args.commits + 1):
                # New talks (an inbox fold's marks: inserts); every Nth MERGE also updates the
                # rows of talks marked `lag` commits ago (claimed or done by an executor).
                fresh = [uuid.uuid4().hex[:16] for _ in range(args.batch)]
                earlier = (
                    batches[-args.lag]
                    if len(batches) >= args.lag and commit % args.update_every == 0
                    else []
                )
                batches.append(fresh)
                for label, lake in lakes.items():
                    lake.upsert(TABLE, rows(fresh + earlier))
                    written[label] += fresh
                if commit % args.every and commit != args.commits:
                    continue
                for label, lake in lakes.items():
                    probe = written[label][len(written[label]) // 2]
                    open_s, open_r = timed(lambda lake=lake: lake.version(TABLE), log)
                    read_s, read_r = timed(
                        lambda lake=lake, probe=probe: lake.read(
                            TABLE, where=[("talk_id", "==", probe)]
                        ),
                        log,
                    )
                    new_id = uuid.uuid4().hex[:16]
                    merge_s, merge_r = timed(
                        lambda lake=lake, probe=probe, new_id=new_id: lake.upsert(
                            TABLE, rows([probe, new_id])
                        ),
                        log,
                    )
                    written[label].append(new_id)
                    table = lake._table(TABLE)
                    files = len(table.file_uris()) if table is not None else 0
                    log.since_last()
                    print(
                        f"{commit:>7} | {label:<4} | {open_s:>6.2f} | {gets(open_r)} "
                        f"| {read_s:>12.2f} | {gets(read_r)} | {merge_s:>7.2f} | {gets(merge_r)} "
                        f"| {files:>5} | {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
            for label, lake in lakes.items():
                got = lake.read(TABLE, columns=["talk_id"])
                print(f"{label}: {len(got)} rows, {len(set(written[label]))} written")
                if set(got.talk_id) != set(written[label]) or len(got) != len(got.talk_id.unique()):
                    raise SystemExit(f"{label}: rows lost or doubled")
    print(f"load average at end: {os.getloadavg()}; {time.monotonic() - started:.0f} s wall")


if __name__ == "__main__":
    main()
