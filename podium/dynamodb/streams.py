"""The directory table's DynamoDB stream, read directly: the source the original Lambda had.

Shards are read parents first (DynamoDB splits a shard into children; a child's records come
after its parent's). Each shard's checkpoint in the lake is the last sequence number taken, or
`closed:<seq>` once a closed shard is read to its end. A page of records is recorded in the
lake before its checkpoint moves, so a crash or restart re-reads at most one page, and
recording is idempotent. Within a page the last change of a talk wins, in stream order: an
INSERT followed by a REMOVE of the same item is a removal.

The sink writes Podium's tags back onto talk items, which the stream then carries again. It
also writes `podiumTags` (the tags it added), so the source takes them off again here: the
speaker's own tags are what Podium reads, and its write-back never looks like an edit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from podium.checkpoints import drop_checkpoints, load_checkpoints, save_checkpoints
from podium.dynamodb.keys import save_keys
from podium.ingest import IngestReport
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from podium.sources import (
    DEFAULT_POLICY,
    PODIUM_TAGS,
    TALK_KEY_PREFIX,
    InputPolicy,
    RecordError,
    SyncReport,
    from_dynamodb_attribute,
    parse_dynamodb_stream,
    without_podium_tags,
)

logger = logging.getLogger(__name__)
CLOSED = "closed:"
__all__ = ["PODIUM_TAGS", "without_podium_tags"]  # re-exported: the sink and older callers


def checkpoint_source(stream_arn: str) -> str:
    return f"dynamodb-stream:{stream_arn}"


@dataclass
class StreamSyncReport(SyncReport):
    """What one pass over the stream did."""

    stream_arn: str
    shards: int = 0
    records: int = 0
    pages: int = 0


# ---- pure parts ---------------------------------------------------------------------------


@dataclass
class PageChanges:
    """A page of stream records reduced to the last change per talk, in stream order."""

    talks: list[Talk] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)


def reduce_records(
    records: list[dict[str, Any]], *, offset: int = 0, policy: InputPolicy = DEFAULT_POLICY
) -> PageChanges:
    """Parse a page of stream records with the hook's parser (`parse_dynamodb_stream`, which
    also takes Podium's own written-back tags off): the last change of each talk in stream
    order wins, and a removal keeps its place in the order (a `Removal`)."""
    parsed = parse_dynamodb_stream(records, offset=offset, policy=policy)
    changes = PageChanges(talks=parsed.talks, removed=parsed.removed, errors=parsed.errors)
    live = {t.talk_id for t in parsed.talks}
    for record in records:
        keys = record.get("dynamodb", {}).get("Keys", {}) if isinstance(record, dict) else {}
        if not isinstance(keys, dict) or "pk" not in keys or "sk" not in keys:
            continue
        try:
            pk, sk = from_dynamodb_attribute(keys["pk"]), from_dynamodb_attribute(keys["sk"])
        except ValueError:
            continue
        talk_id = str(sk)[len(TALK_KEY_PREFIX) :]
        if talk_id in live:
            changes.keys[talk_id] = (str(pk), str(sk))
    return changes


def apply_page(
    *,
    lake: Lake,
    table: str,
    records: list[dict[str, Any]],
    offset: int = 0,
    policy: InputPolicy = DEFAULT_POLICY,
) -> tuple[IngestReport, list[RecordError]]:
    """Record one page of stream records (keys, then talks and removals in stream order);
    what was recorded and the records rejected. The checkpoint moves only after this."""
    changes = reduce_records(records, offset=offset, policy=policy)
    save_keys(lake=lake, table=table, keys=changes.keys)
    return record_talks(lake=lake, talks=changes.talks, removed=changes.removed), changes.errors


def order_shards(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shards with every parent before its children (a parent no longer listed was trimmed)."""
    by_id = {s["ShardId"]: s for s in shards}
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in seen:
            return
        seen.add(shard["ShardId"])
        parent = by_id.get(shard.get("ParentShardId") or "")
        if parent is not None:
            visit(parent)
        ordered.append(shard)

    for shard in sorted(shards, key=lambda s: s["ShardId"]):
        visit(shard)
    return ordered


# ---- reading the stream ---------------------------------------------------------------------


def list_shards(*, streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every shard of the stream (DescribeStream, paginated)."""
    shards: list[dict[str, Any]] = []
    start: str | None = None
    while True:
        kwargs: dict[str, Any] = {"StreamArn": stream_arn}
        if start:
            kwargs["ExclusiveStartShardId"] = start
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards += description.get("Shards", [])
        start = description.get("LastEvaluatedShardId")
        if not start:
            return shards


def read_shard(
    *, streams: Any, stream_arn: str, shard_id: str, after: str | None, limit: int, max_pages: int
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """Pages of records after sequence number `after` (from the oldest when None).

    Yields (records, ended): `ended` is True on the last page of a closed shard. Stops when a
    page is empty (caught up with an open shard) or after `max_pages`.
    """
    kwargs: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
    if after:
        kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
    else:
        kwargs["ShardIteratorType"] = "TRIM_HORIZON"
    try:
        iterator = streams.get_shard_iterator(**kwargs).get("ShardIterator")
    except streams.exceptions.TrimmedDataAccessException:
        # The checkpoint is older than the stream's 24 h retention (Podium was down longer):
        # what is still there is read from the oldest record; the gap is logged by the caller.
        logger.warning(
            "shard %s: records after %s were trimmed from the stream; reading from the oldest",
            shard_id,
            after,
        )
        kwargs = {"StreamArn": stream_arn, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}
        iterator = streams.get_shard_iterator(**kwargs).get("ShardIterator")
    for _ in range(max_pages):
        if not iterator:
            return
        page = streams.get_records(ShardIterator=iterator, Limit=limit)
        iterator = page.get("NextShardIterator")
        records = page.get("Records", [])
        yield records, iterator is None
        if not records:
            return


def sync_stream(
    *,
    lake: Lake,
    streams: Any,
    stream_arn: str,
    table: str,
    limit: int = 1000,
    max_pages: int = 100,
    on_page: Callable[[int], None] | None = None,
    policy: InputPolicy = DEFAULT_POLICY,
) -> StreamSyncReport:
    """Record every talk change on the stream since the last checkpoint, shard by shard.

    Args:
        lake: where talks, keys and checkpoints live.
        streams: a DynamoDB Streams client.
        stream_arn: the stream.
        table: the table's name (keys are recorded per table).
        limit: records per GetRecords call.
        max_pages: pages per shard in one pass (the next pass goes on from the checkpoint).
        on_page: called with the number of records of each page recorded.
        policy: the input limits (`InputPolicy.from_settings`), as the hook applies them.
    """
    source = checkpoint_source(stream_arn)
    report = StreamSyncReport(stream_arn=stream_arn)
    checkpoints = load_checkpoints(lake=lake, source=source)
    shards = order_shards(list_shards(streams=streams, stream_arn=stream_arn))
    listed = {s["ShardId"] for s in shards}
    report.shards = len(shards)
    done = {k for k, v in checkpoints.items() if v.startswith(CLOSED)}
    for shard in shards:
        shard_id = shard["ShardId"]
        parent = shard.get("ParentShardId")
        if shard_id in done:
            continue
        if parent and parent in listed and parent not in done:
            continue  # the parent still has records to give first: next pass
        after = checkpoints.get(shard_id)
        last = after
        for records, ended in read_shard(
            streams=streams,
            stream_arn=stream_arn,
            shard_id=shard_id,
            after=after,
            limit=limit,
            max_pages=max_pages,
        ):
            if records:
                recorded, errors = apply_page(
                    lake=lake, table=table, records=records, offset=report.records, policy=policy
                )
                report.add(recorded)
                report.errors += errors
                report.records += len(records)
                report.pages += 1
                last = records[-1]["dynamodb"]["SequenceNumber"]
                if on_page:
                    on_page(len(records))
            position = f"{CLOSED}{last or ''}" if ended else last
            if position and position != checkpoints.get(shard_id):
                save_checkpoints(lake=lake, source=source, values={shard_id: position})
                checkpoints[shard_id] = position
            if ended:
                done.add(shard_id)
    # Shards past the stream's retention are gone: their checkpoints say nothing any more.
    drop_checkpoints(lake=lake, source=source, keys=sorted(set(checkpoints) - listed))
    return report
