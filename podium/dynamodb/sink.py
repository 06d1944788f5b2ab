"""Podium's results written back into the original single-table layout, so its app keeps
working unchanged:

- talk items (`pk`, `sk` = `talk#<id>`): `tags` becomes the speaker's tags plus Podium's,
  `podiumTags` lists the ones Podium added (so the stream source can tell them apart);
- tag items: `pk` = the talk's `pk`, `sk` = `tag#<tag>`, `gsi1pk` = `tag#<tag>`, `gsi1sk` = the
  talk's `pk`, `tagName`, `title`, `_et` = `TAG`, `_ct`, `_md`; removed when the tag goes;
- tag counters: `pk` = `tag`, `sk` = `tag#<name>`, `quantity`, `tagName`, `_et` = `TAG_COUNT`,
  set to Podium's counts (never incremented blindly, so a retry cannot double-count);
- recommendations: `pk` = `recs#<event id>`, `sk` = `rank#0001`..., one query per event.

Every write compares with what the table holds first, so a second run writes nothing. A talk
item is only updated while it still holds what Podium read (a condition on `tags`), so an edit
the app makes meanwhile is never overwritten; the stream brings it and the next run catches up.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from podium.checkpoints import load_checkpoints, save_checkpoints
from podium.dynamodb.client import table_name
from podium.dynamodb.config import DynamoDBSettings
from podium.dynamodb.keys import load_keys, save_keys
from podium.dynamodb.streams import PODIUM_TAGS
from podium.images.alt_text import cover_alt_text
from podium.images.storage import read_covers
from podium.ingest import event_ids as all_event_ids
from podium.ingest import read_talks
from podium.lake import Lake
from podium.models import Talk, normalise_tag
from podium.recommend.serving import RecommendationError, lookup_recommendations
from podium.tag_counts import read_tag_counts
from podium.talk_tags import tags_by_talk

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
COUNTER_PK = "tag"


@dataclass
class SinkReport:
    """What one write-back changed in the table."""

    talks_updated: list[str] = field(default_factory=list)
    talks_created: list[str] = field(default_factory=list)
    talks_unchanged: int = 0
    talks_skipped: list[str] = field(default_factory=list)  # deleted or edited in the app meanwhile
    tag_items_put: int = 0
    tag_items_deleted: int = 0
    counters_set: int = 0
    recommendation_items_put: int = 0
    recommendation_items_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: (len(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Python values as typed attributes (floats as exact decimals)."""
    return {k: _serializer.serialize(_decimal(v)) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(round(value, 6)))
    if isinstance(value, list):
        return [_decimal(v) for v in value]
    return value


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- low-level helpers -----------------------------------------------------------------------


def _query(client: Any, table: str, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
    }
    while True:
        page = client.query(**kwargs)
        items += [from_item(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _batch_get(client: Any, table: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 100):
        chunk = unique[start : start + 100]
        request = {table: {"Keys": [{"pk": {"S": p}, "sk": {"S": s}} for p, s in chunk]}}
        delay = 0.05
        while request:
            page = client.batch_get_item(RequestItems=request)
            for raw in page.get("Responses", {}).get(table, []):
                item = from_item(raw)
                found[(item["pk"], item["sk"])] = item
            request = page.get("UnprocessedKeys") or {}
            if request:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
    return found


def _batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> int:
    for start in range(0, len(requests), 25):
        pending = {table: requests[start : start + 25]}
        delay = 0.05
        while pending:
            page = client.batch_write_item(RequestItems=pending)
            pending = page.get("UnprocessedItems") or {}
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
    return len(requests)


def _put(values: dict[str, Any]) -> dict[str, Any]:
    return {"PutRequest": {"Item": to_item(values)}}


def _delete(pk: str, sk: str) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}


# ---- talks and their tag items ---------------------------------------------------------------


def merged_tags(speaker: list[str], podium_tags: Iterable[str]) -> tuple[list[str], list[str]]:
    """(all tags, the ones Podium added): the speaker's as written, then Podium's best first."""
    have = {normalise_tag(t) for t in speaker}
    added = [t for t in dict.fromkeys(podium_tags) if normalise_tag(t) not in have]
    return list(speaker) + added, added


def _find_talk_items(client: Any, table: str, talk_ids: set[str]) -> dict[str, tuple[str, str]]:
    """Keys of talk items not learnt from the stream (recorded through the gateway): one scan."""
    found: dict[str, tuple[str, str]] = {}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "pk, sk",
        "FilterExpression": "begins_with(sk, :talk)",
        "ExpressionAttributeValues": {":talk": {"S": "talk#"}},
    }
    while True:
        page = client.scan(**kwargs)
        for raw in page.get("Items", []):
            item = from_item(raw)
            talk_id = str(item["sk"]).split("#", 1)[1]
            if talk_id in talk_ids:
                found[talk_id] = (str(item["pk"]), str(item["sk"]))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


PODIUM_COVER = "podiumCover"


def talk_covers(lake: Lake, talks: list[Talk]) -> dict[str, dict[str, str]]:
    """talk id -> {"path", "altText"} of each talk's current cover (its content version)."""
    if not talks:
        return {}
    rows = read_covers(lake=lake, talk_ids=[t.talk_id for t in talks])
    by_id = {t.talk_id: t for t in talks}
    covers: dict[str, dict[str, str]] = {}
    for row in rows.itertuples(index=False):
        talk = by_id.get(row.talk_id)
        if talk is None or row.content_hash != talk.content_hash:
            continue
        alt = row.alt_text if isinstance(row.alt_text, str) and row.alt_text else None
        if alt is None:  # stored before covers had alt text: described from the row
            alt = cover_alt_text(
                title=talk.title, tags=talk.tags[:3], backend=row.backend, prompt=row.prompt
            )
        covers[talk.talk_id] = {"path": str(row.path), "altText": alt}
    return covers


def _load_talks(lake: Lake, talk_ids: list[str] | None) -> list[Talk]:
    return read_talks(lake=lake, talk_ids=talk_ids)


@dataclass(frozen=True)
class _Pass:
    """One write-back: where it writes, the `_md` stamp of its items, and what it did."""

    lake: Lake
    client: Any  # a low-level DynamoDB client
    settings: DynamoDBSettings
    stamp: str
    full: bool  # compare everything with the table, not only what changed since the last pass
    report: SinkReport = field(default_factory=SinkReport)

    @property
    def table(self) -> str:
        return table_name(self.settings)


def _write_talks(run: _Pass, *, talk_ids: list[str] | None) -> dict[str, tuple[str, str]]:
    """Merged tags onto talk items and the tag items of their partitions; returns the keys of
    every talk item written or known (for recommendation items)."""
    lake, client, settings, report = run.lake, run.client, run.settings, run.report
    table = run.table
    keys = load_keys(lake=lake, table=table)
    loaded = _load_talks(lake, talk_ids)
    # Only talks whose record or Podium tags changed since they were last written cost requests.
    prints = _fingerprints(lake, loaded)
    written = {} if run.full else load_checkpoints(lake=lake, source=sink_source(table))
    wanted = [t for t in loaded if written.get(t.talk_id) != prints[t.talk_id]]
    report.talks_unchanged += len(loaded) - len(wanted)
    missing = {t.talk_id for t in wanted if t.talk_id not in keys}
    if missing:
        keys.update(_find_talk_items(client, table, missing))
    # A partition's tag items are the union over all its talks: read them all.
    partitions = {keys[t.talk_id][0] for t in wanted if t.talk_id in keys}
    wanted_ids = {t.talk_id for t in wanted}
    others = [i for i, (pk, _) in keys.items() if pk in partitions and i not in wanted_ids]
    talks = wanted + (_load_talks(lake, others) if others else [])
    live = [t for t in talks if t.state != "deleted"]
    podium = tags_by_talk(lake=lake, talk_ids=[t.talk_id for t in live])
    covers = talk_covers(lake, live)
    stamp = run.stamp

    created: dict[str, tuple[str, str]] = {}
    for talk in live:
        if talk.talk_id not in keys:
            created[talk.talk_id] = (
                f"{settings.new_talk_pk_prefix}{talk.talk_id}",
                f"talk#{talk.talk_id}",
            )
    keys.update(created)
    items = _batch_get(client, table, [keys[t.talk_id] for t in live])

    # Per partition: tag -> title of a talk that carries it.
    desired: dict[str, dict[str, str]] = {}
    for talk in live:
        pk, sk = keys[talk.talk_id]
        item = items.get((pk, sk))
        if item is None and talk.talk_id in created:
            tags, added = merged_tags(talk.tags, podium.get(talk.talk_id, []))
            values: dict[str, Any] = {
                "pk": pk,
                "sk": sk,
                "title": talk.title,
                "description": talk.description,
                "speakers": list(talk.speakers),
                "tags": tags,
                PODIUM_TAGS: added,
                "eventIds": list(talk.event_ids),
                "language": talk.language,
                "_et": "TALK",
                "_ct": stamp,
                "_md": stamp,
            }
            if talk.talk_id in covers:
                values[PODIUM_COVER] = covers[talk.talk_id]
            client.put_item(
                TableName=table,
                Item=to_item(values),
                ConditionExpression="attribute_not_exists(pk)",
            )
            items[(pk, sk)] = values
            report.talks_created.append(talk.talk_id)
        elif item is None:
            report.talks_skipped.append(talk.talk_id)  # the app deleted it: leave it deleted
            continue
        else:
            current = [str(t) for t in item.get("tags") or []]
            ours = {str(t) for t in item.get(PODIUM_TAGS) or []}
            speaker = [t for t in current if t not in ours]
            if {normalise_tag(t) for t in speaker} != set(talk.tags):
                report.talks_skipped.append(talk.talk_id)  # edited in the app, not ingested yet
                continue
            tags, added = merged_tags(speaker, podium.get(talk.talk_id, []))
            cover = covers.get(talk.talk_id)
            same_cover = cover is None or item.get(PODIUM_COVER) == cover
            if current == tags and sorted(ours) == sorted(added) and same_cover:
                report.talks_unchanged += 1
            elif _update_talk(client, table, pk, sk, item, tags, added, stamp, cover):
                report.talks_updated.append(talk.talk_id)
            else:
                report.talks_skipped.append(talk.talk_id)
                continue
        title = str(items[(pk, sk)].get("title") or talk.title)
        for tag in tags:
            desired.setdefault(pk, {}).setdefault(normalise_tag(tag), title)
    save_keys(lake=lake, table=table, keys=created)

    requests: list[dict[str, Any]] = []
    for talk in wanted:
        pk, sk = keys.get(talk.talk_id, ("", ""))
        if talk.state == "deleted" and pk.startswith(settings.new_talk_pk_prefix):
            requests.append(_delete(pk, sk))  # an item Podium created for a talk now removed
    for pk in sorted(partitions | {k[0] for k in created.values()}):
        existing = {str(i["sk"]): i for i in _query(client, table, pk, "tag#")}
        want = desired.get(pk, {})
        for tag, title in want.items():
            sk = f"tag#{tag}"
            old = existing.get(sk)
            if old and old.get("title") == title and old.get("gsi1sk") == pk:
                continue
            requests.append(
                _put(
                    {
                        "pk": pk,
                        "sk": sk,
                        "gsi1pk": sk,
                        "gsi1sk": pk,
                        "tagName": tag,
                        "title": title,
                        "_et": "TAG",
                        "_ct": (old or {}).get("_ct", stamp),
                        "_md": stamp,
                    }
                )
            )
            report.tag_items_put += 1
        for sk in existing:
            if sk[len("tag#") :] not in want:
                requests.append(_delete(pk, sk))
                report.tag_items_deleted += 1
    _batch_write(client, table, requests)
    skipped = set(report.talks_skipped)
    save_checkpoints(
        lake=lake,
        source=sink_source(table),
        values={t.talk_id: prints[t.talk_id] for t in wanted if t.talk_id not in skipped},
    )
    return keys


def sink_source(table: str) -> str:
    """The checkpoint source of what the sink last wrote to `table` (per talk, per event)."""
    return f"dynamodb-sink:{table}"


def _fingerprints(lake: Lake, talks: list[Talk]) -> dict[str, str]:
    podium = tags_by_talk(lake=lake, talk_ids=[t.talk_id for t in talks])
    covers = talk_covers(lake, talks)
    prints = {}
    for t in talks:
        material: list[Any] = [t.record_hash(), sorted(podium.get(t.talk_id, []))]
        if t.talk_id in covers:  # talks without a cover keep the fingerprint they had
            material.append(covers[t.talk_id])
        prints[t.talk_id] = _digest(material)
    return prints


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def _update_talk(
    client: Any,
    table: str,
    pk: str,
    sk: str,
    item: dict[str, Any],
    tags: list[str],
    added: list[str],
    stamp: str,
    cover: dict[str, str] | None = None,
) -> bool:
    values: dict[str, Any] = {":tags": tags, ":ours": added, ":md": stamp}
    update = f"SET tags = :tags, {PODIUM_TAGS} = :ours, #md = :md"
    if cover is not None:
        values[":cover"] = cover
        update += f", {PODIUM_COVER} = :cover"
    condition = "attribute_exists(pk)"
    if "tags" in item:
        condition += " AND tags = :old"
        values[":old"] = item["tags"]
    else:
        condition += " AND attribute_not_exists(tags)"
    try:
        client.update_item(
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#md": "_md"},
            ExpressionAttributeValues=to_item(values),
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


# ---- counters and recommendations ------------------------------------------------------------


def _write_counters(run: _Pass) -> None:
    """Tag counters set to Podium's overall counts; a counter of a tag no talk carries is 0."""
    client, table = run.client, run.table
    counts = read_tag_counts(lake=run.lake, scope="all")
    want = {str(t): int(n) for t, n in zip(counts.tag, counts.talks, strict=True)}
    existing = {str(i["sk"]): i for i in _query(client, table, COUNTER_PK, "tag#")}
    for sk, item in existing.items():
        want.setdefault(str(item.get("tagName") or sk[len("tag#") :]), 0)
    stamp = run.stamp
    requests = []
    for tag, quantity in sorted(want.items()):
        sk = f"tag#{tag}"
        old = existing.get(sk)
        if old is not None and int(old.get("quantity", -1)) == quantity:
            continue
        values = {
            "pk": COUNTER_PK,
            "sk": sk,
            "quantity": quantity,
            "tagName": tag,
            "_et": "TAG_COUNT",
            "_ct": (old or {}).get("_ct", stamp),
            "_md": stamp,
        }
        requests.append(_put(values))
    run.report.counters_set += _batch_write(client, table, requests)


def _write_recommendations(
    run: _Pass, *, keys: dict[str, tuple[str, str]], event_ids: list[str]
) -> None:
    """Each event's precomputed recommendations as items under `recs#<event id>` (events whose
    recommendations are as last written are skipped without a request, unless `full`)."""
    lake, client, settings, report = run.lake, run.client, run.settings, run.report
    table, stamp = run.table, run.stamp
    requests: list[dict[str, Any]] = []
    written = load_checkpoints(lake=lake, source=sink_source(table))
    done: dict[str, str] = {}
    for event_id in event_ids:
        try:
            recs = lookup_recommendations(lake=lake, event_id=event_id, max_staleness_s=0)
        except RecommendationError:
            continue
        titles = {t.talk_id: t.title for t in _load_talks(lake, [str(i) for i in recs.talk_id])}
        fingerprint = _digest(
            [
                [r.rank, r.talk_id, round(float(r.score), 6), list(r.matched_tags)]
                for r in recs.itertuples()
            ]
            + [titles, {str(i): keys.get(str(i)) for i in recs.talk_id}]
        )
        if not run.full and written.get(f"event:{event_id}") == fingerprint:
            continue
        done[f"event:{event_id}"] = fingerprint
        pk = f"{settings.recommendations_pk_prefix}{event_id}"
        existing = {str(i["sk"]): i for i in _query(client, table, pk, "rank#")}
        want = {}
        for row in recs.itertuples():
            talk_pk, talk_sk = keys.get(row.talk_id, ("", ""))
            values = {
                "pk": pk,
                "sk": f"rank#{int(row.rank):04d}",
                "eventId": event_id,
                "rank": int(row.rank),
                "talkId": row.talk_id,
                "talkPk": talk_pk,
                "talkSk": talk_sk,
                "title": titles.get(row.talk_id, ""),
                "score": float(row.score),
                "matchedTags": list(row.matched_tags),
                "modelVersion": row.model_version,
                "_et": "RECOMMENDATION",
                "_md": stamp,
            }
            want[values["sk"]] = values
            old = existing.get(values["sk"])
            same = old is not None and all(
                from_item(to_item({k: values[k]}))[k] == old.get(k) for k in values if k != "_md"
            )
            if not same:
                requests.append(_put(values))
                report.recommendation_items_put += 1
        for sk in existing:
            if sk not in want:
                requests.append(_delete(pk, sk))
                report.recommendation_items_deleted += 1
    _batch_write(client, table, requests)
    save_checkpoints(lake=lake, source=sink_source(table), values=done)


def write_back(
    *,
    lake: Lake,
    client: Any,
    settings: DynamoDBSettings,
    talk_ids: list[str] | None = None,
    event_ids: list[str] | None = None,
    now: datetime | None = None,
    full: bool = False,
) -> SinkReport:
    """Write talks' tags, tag items, counters and recommendations into the directory's table.

    Args:
        lake: the lake.
        client: a low-level DynamoDB client.
        settings: the table and its layout options.
        talk_ids: talks to write (all when None).
        event_ids: events whose recommendations to write (all when None).
        now: the `_md` stamp (tests pin it).
        full: compare every talk and event with the table, not only those changed since
            the last write (repairs items changed outside Podium).
    """
    stamp = _stamp(now or datetime.now(UTC))
    run = _Pass(lake=lake, client=client, settings=settings, stamp=stamp, full=full)
    keys = _write_talks(run, talk_ids=talk_ids)
    _write_counters(run)
    if event_ids is None:
        event_ids = all_event_ids(lake=lake)
    _write_recommendations(run, keys=keys, event_ids=event_ids)
    return run.report
