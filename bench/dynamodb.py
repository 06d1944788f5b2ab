"""The DynamoDB stream source and sink on a moto server over HTTP: time and requests.

    .venv/bin/python bench/dynamodb.py --talks 500

Puts N talk items as the app would (two talks per speaker partition), reads them from the
stream into a lake in a temp folder, gives each talk three model tags, and writes everything
back: first write, then a second write with nothing new (which must write nothing). Prints
seconds and DynamoDB requests per phase. moto is slower than DynamoDB; the request counts are
what carries over.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podium.dynamodb.client import dynamodb_client, latest_stream_arn, streams_client  # noqa: E402
from podium.dynamodb.config import DynamoDBSettings  # noqa: E402
from podium.dynamodb.sink import to_item, write_back  # noqa: E402
from podium.dynamodb.streams import sync_stream  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.models import TagAssignment  # noqa: E402
from podium.tag_counts import recompute_tag_counts  # noqa: E402
from podium.talk_tags import write_tags  # noqa: E402
from tests.podium.dynamodb.conftest import create_directory_table  # noqa: E402
from tests.prefect_server import free_port  # noqa: E402

TAGS = ["python", "data science", "testing", "web", "security", "devops", "databases", "ml"]


def counting(client) -> Counter:
    calls: Counter = Counter()
    client.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=500)
    args = parser.parse_args()
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        settings = DynamoDBSettings(
            table="bench",
            endpoint_url=url,
            access_key_id="testing",
            secret_access_key="testing",
        )
        ddb, streams = dynamodb_client(settings), streams_client(settings)
        create_directory_table(ddb, settings.table)
        n = args.talks
        started = time.perf_counter()
        for i in range(n):
            item = {
                "pk": f"USER#{i // 2}",
                "sk": f"talk#t{i:05d}",
                "title": f"Talk number {i}",
                "description": "A talk for the benchmark.",
                "speakers": [f"Speaker {i // 2}"],
                "tags": [TAGS[i % len(TAGS)]],
                "eventId": f"ev{i % 5}",
            }
            ddb.put_item(TableName=settings.table, Item=to_item(item))
        put_s = time.perf_counter() - started

        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake(str(Path(tmp) / "lake"))
            arn = latest_stream_arn(dynamodb=ddb, settings=settings)
            stream_calls = counting(streams)
            started = time.perf_counter()
            report = sync_stream(lake=lake, streams=streams, stream_arn=arn, table=settings.table)
            read_s = time.perf_counter() - started
            assert len(report.ingest.new) == n

            now = datetime.now(UTC)
            ids = [f"t{i:05d}" for i in range(n)]
            rows = [
                TagAssignment(
                    talk_id=t,
                    tag=TAGS[(i + k) % len(TAGS)],
                    score=0.8,
                    source="model",
                    tagged_at=now,
                )
                for i, t in enumerate(ids)
                for k in (1, 2, 3)
            ]
            write_tags(lake=lake, talk_ids=ids, assignments=rows)
            recompute_tag_counts(lake=lake)

            calls = counting(ddb)
            started = time.perf_counter()
            first = write_back(lake=lake, client=ddb, settings=settings)
            first_s = time.perf_counter() - started
            first_calls = dict(calls)
            calls.clear()
            started = time.perf_counter()
            second = write_back(lake=lake, client=ddb, settings=settings)
            second_s = time.perf_counter() - started
            second_calls = dict(calls)

        print(f"talks: {n} ({n // 2} speaker partitions)")
        print(f"app puts:            {put_s:6.1f} s")
        print(
            f"stream → lake:       {read_s:6.1f} s  {report.records} records, "
            f"{report.pages} pages, {n / read_s:.0f} talks/s, requests {dict(stream_calls)}"
        )
        print(
            f"first write-back:    {first_s:6.1f} s  {len(first.talks_updated)} talk items, "
            f"{first.tag_items_put} tag items, {first.counters_set} counters; "
            f"requests {first_calls} ({sum(first_calls.values()) / n:.2f} per talk)"
        )
        writes = sum(
            v for k, v in second_calls.items() if k in ("BatchWriteItem", "UpdateItem", "PutItem")
        )
        print(
            f"second (no change):  {second_s:6.1f} s  writes {writes}; "
            f"requests {second_calls}; unchanged {second.talks_unchanged}"
        )
    finally:
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    main()
