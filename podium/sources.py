"""Parsers from the shapes talks arrive in to validated `Talk`s.

Every parser is pure and total: it returns a `ParseResult` holding the talks that validated and
one `RecordError` per record that did not, so one bad record never sinks the others.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from podium.errors import UserError
from podium.ingest import IngestReport
from podium.jsonbody import JsonRefused, parse_text
from podium.models import Event, Talk, TalkState, check_identifier
from podium.ordering import Removal, SourceOrder, latest, parse_sequence

if TYPE_CHECKING:
    from podium.settings import Settings


@dataclass(frozen=True)
class RecordError:
    """Why one record was rejected. `record` says which (index, key or file)."""

    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.record}: {self.field}: " if self.field else f"{self.record}: "
        return where + self.message


@dataclass(kw_only=True)
class SyncReport:
    """What one pass of a sync did: what recording changed, and the records it refused. Each
    source's report adds its own fields (named first in `as_dict`, in their order)."""

    ingest: IngestReport = field(default_factory=IngestReport)
    errors: list[RecordError] = field(default_factory=list)

    def add(self, part: IngestReport) -> None:
        """Fold what one recorded batch changed into `ingest`."""
        for key, values in part.as_dict().items():
            getattr(self.ingest, key).extend(values)

    def as_dict(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _SYNC_FIELDS}
        return {**own, **self.ingest.as_dict(), "rejected": [str(e) for e in self.errors]}


_SYNC_FIELDS = {f.name for f in fields(SyncReport)}


@dataclass
class ParseResult:
    """Talks that validated, talks to delete (DynamoDB REMOVE), per-record errors, and records
    skipped because they are not talks (other item types of a DynamoDB table)."""

    talks: list[Talk] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    skipped: list[RecordError] = field(
        default_factory=list, metadata={"doc": "records that are not talks, and why"}
    )

    def extend(self, other: ParseResult) -> None:
        self.talks += other.talks
        self.removed += other.removed
        self.events += other.events
        self.errors += other.errors
        self.skipped += other.skipped


class SourceError(UserError, ValueError):
    """The input as a whole is unusable (not JSON, wrong top-level shape, missing file)."""


def validation_errors(record: str, error: ValidationError) -> list[RecordError]:
    """One `RecordError` per failing field, with the field's dotted path."""
    out = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in item["loc"]) or "(record)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        out.append(RecordError(record, path, message))
    return out


@dataclass(frozen=True)
class InputPolicy:
    """Limits every source applies to a validated talk, beyond the model's own rules.

    A talk over a limit is rejected as a record, with a reason that names the limit; its
    neighbours are unaffected. The gateway and the stream reader build this from
    `settings.limits`; other callers get these defaults.

    - Lists: a talk adds tags x (event ids + 2) rows to the tag counts, so the lists are
      bounded (1,500 tags x 1,500 event ids used to be 2.25 M rows from one 24 KB body).
    - Source times: an `updated_at` (or a removal's stream time) more than
      `max_future_skew_s` ahead of this process's clock is refused. Source order trusts
      `updated_at`, so one far-future value would make every real edit, and the removal, of
      that talk `stale` for good.
    """

    max_tags: int = 50
    max_event_ids: int = 50
    max_speakers: int = 50
    max_future_skew_s: float = 86_400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> InputPolicy:
        limits = settings.limits
        return cls(
            max_tags=limits.max_tags_per_talk,
            max_event_ids=limits.max_event_ids_per_talk,
            max_speakers=limits.max_speakers_per_talk,
            max_future_skew_s=limits.max_future_skew_s,
        )

    def problems(self, talk: Talk, *, now: datetime | None = None) -> list[tuple[str, str]]:
        """(field, reason) for each limit `talk` breaks; empty when it is within all."""
        out = []
        for name, values, most, setting in (
            ("tags", talk.tags, self.max_tags, "limits.max_tags_per_talk"),
            ("event_ids", talk.event_ids, self.max_event_ids, "limits.max_event_ids_per_talk"),
            ("speakers", talk.speakers, self.max_speakers, "limits.max_speakers_per_talk"),
        ):
            if len(values) > most:
                out.append((name, f"{len(values)} {name}; at most {most} per talk ({setting})"))
        # Only updated_at orders changes; a future submitted_at is odd but harmless.
        reason = self.future_problem(talk.updated_at, now=now)
        if reason:
            out.append(("updated_at", reason))
        return out

    def future_problem(self, value: datetime | None, *, now: datetime | None = None) -> str:
        """Why `value` is too far in the future ("" when it is not)."""
        if value is None:
            return ""
        current = now or datetime.now(UTC)
        ahead = (value - current).total_seconds()
        if ahead <= self.max_future_skew_s:
            return ""
        return (
            f"{value.isoformat()} is {ahead / 86_400:.1f} days ahead of the gateway's clock; "
            f"at most {self.max_future_skew_s:g}s ahead accepted (limits.max_future_skew_s)"
        )


# What a parser applies when its caller passes no policy: the list limits, but no bound on
# future times. The live sources (the hooks, the stream reader) pass the settings' policy,
# which holds updated_at to this process's clock; a file an operator imports (`podium ingest
# FILE`; the bundled sample is dated 2027) is taken as written (`podium talks repair-future`
# undoes a mistake).
DEFAULT_POLICY = InputPolicy(max_future_skew_s=math.inf)


def _validate_talk(
    record: str, data: Any, result: ParseResult, policy: InputPolicy = DEFAULT_POLICY
) -> None:
    if not isinstance(data, dict):
        result.errors.append(RecordError(record, "", f"expected an object, got {_kind(data)}"))
        return
    try:
        talk = Talk.model_validate(data)
    except ValidationError as error:
        result.errors.extend(validation_errors(record, error))
        return
    problems = policy.problems(talk)
    if problems:
        result.errors.extend(RecordError(record, f, reason) for f, reason in problems)
        return
    result.talks.append(talk)


_KINDS: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


# ---- (1) the directory app's JSON body ---------------------------------------------------


def parse_directory_body(body: Any, *, policy: InputPolicy = DEFAULT_POLICY) -> ParseResult:
    """One talk object, a list of them, or {"talks": [...]} as the directory app posts them."""
    if isinstance(body, dict) and set(body) == {"talks"}:
        body = body["talks"]
    items = body if isinstance(body, list) else [body]
    result = ParseResult()
    for index, item in enumerate(items):
        name = f"talks[{index}]"
        if isinstance(item, dict) and isinstance(item.get("talk_id"), str):
            name = f"talks[{index}] ({item['talk_id']})"
        _validate_talk(name, item, result, policy)
    return result


# ---- (2) DynamoDB Streams records ---------------------------------------------------------


_MAX_ATTRIBUTE_DEPTH = 32
_MAX_NUMBER_DIGITS = 38  # DynamoDB's own precision limit for N


def _dynamodb_number(inner: Any) -> int | float:
    # DynamoDB sends numbers as strings ({"N": "12"}); anything else, and values that are not
    # finite numbers within DynamoDB's 38 digits, is refused here, inside per-record handling.
    if not isinstance(inner, str):
        raise ValueError(f"N value must be a string of digits, got {_kind(inner)}")
    text = inner.strip()
    digits = sum(c.isdigit() for c in text)
    if digits > _MAX_NUMBER_DIGITS:
        raise ValueError(f"N value has {digits} digits; DynamoDB allows {_MAX_NUMBER_DIGITS}")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"N value {text[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"N value {text[:40]!r} is not a finite number")
    if number.is_integer() and text.lstrip("+-").isdigit():
        return int(text)
    return number


def from_dynamodb_attribute(value: Any, *, _depth: int = 0) -> Any:
    """Typed attribute form ({"S": "x"}, {"N": "1"}, {"L": [...]}, {"M": {...}}) to Python.

    Raises ValueError (never anything else) naming what is wrong: an untyped value, a type
    whose value has the wrong JSON type (`{"N": 5}`, `{"M": []}`), a number that is not finite,
    binary types (B, BS: no talk field reads bytes), or nesting deeper than 32 levels.
    """
    if _depth > _MAX_ATTRIBUTE_DEPTH:
        raise ValueError(f"attribute nests deeper than {_MAX_ATTRIBUTE_DEPTH} levels")
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"not a DynamoDB typed attribute: {str(value)[:60]!r}")
    ((kind, inner),) = value.items()
    expected = _ATTRIBUTE_JSON_TYPES.get(kind)
    if expected is None:
        if kind in ("B", "BS"):
            raise ValueError(f"binary attribute ({kind}) where a talk field expects text")
        raise ValueError(f"unsupported DynamoDB attribute type {str(kind)[:20]!r}")
    if not _has_json_type(inner, expected):
        raise ValueError(f"{kind} value must be {_TYPE_NAMES[expected]}, got {_kind(inner)}")
    if kind == "S":
        return inner
    if kind == "N":
        return _dynamodb_number(inner)
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        if inner is not True:
            raise ValueError("NULL value must be true")
        return None
    if kind == "L":
        return [from_dynamodb_attribute(v, _depth=_depth + 1) for v in inner]
    if kind == "M":
        return {k: from_dynamodb_attribute(v, _depth=_depth + 1) for k, v in inner.items()}
    if not all(isinstance(v, str) for v in inner):
        raise ValueError(f"{kind} members must be strings")
    if kind == "SS":
        return list(inner)
    return [_dynamodb_number(v) for v in inner]  # NS


def _has_json_type(value: Any, expected: type | tuple[type, ...]) -> bool:
    # bool is an int subclass in Python, and true/false are never a valid N/S/L/M value.
    return isinstance(value, expected) and (expected is bool or not isinstance(value, bool))


_ATTRIBUTE_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "S": str,
    "N": str,
    "BOOL": bool,
    "NULL": bool,
    "L": list,
    "M": dict,
    "SS": list,
    "NS": list,
}
_TYPE_NAMES: dict[type | tuple[type, ...], str] = {
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


# Item attribute -> Talk field, for the original system's single-table design. Only these are
# converted: any other attribute (GSI keys, counters, binary blobs) is never read, so it can
# neither fail nor sink the talk.
_DYNAMO_FIELDS = {
    "title": "title",
    "description": "description",
    "tags": "tags",
    "speakers": "speakers",
    "speaker": "speakers",
    "language": "language",
    "state": "state",
    "status": "state",
    "event_ids": "event_ids",
    "eventId": "event_ids",
    "event_id": "event_ids",
    "createdAt": "submitted_at",
    "updatedAt": "updated_at",
    # The talk's scheduled slot where the directory stores one: a map {start, end, room}
    # with ISO times or epoch numbers.
    "slot": "slot",
}
# The sort key that marks a talk item: exactly "talk#<talk_id>" (any letter case of "talk").
TALK_KEY_PREFIX = "talk#"
# Epoch numbers at or above this are milliseconds (as JavaScript's Date.now() writes them):
# in seconds it would be the year 5138.
_EPOCH_MS_FROM = 100_000_000_000
_EPOCH_MAX_S = 253_402_300_799  # 9999-12-31T23:59:59Z


def _epoch(value: int | float) -> datetime:
    seconds = value / 1000 if abs(value) >= _EPOCH_MS_FROM else value
    if not 0 <= seconds <= _EPOCH_MAX_S:
        raise ValueError(
            f"{value} is not a time in seconds or milliseconds since 1970 (up to year 9999)"
        )
    return datetime.fromtimestamp(seconds, UTC)


class _NotATalk(Exception):
    """The record is another item type of the table: skipped, with this reason."""


def _talk_key(keys: dict[str, Any]) -> str:
    """The talk id in a talk item's keys; `_NotATalk` for other items, ValueError if malformed."""
    sk = keys.get("sk")
    if sk is None:
        names = ", ".join(sorted(str(k)[:40] for k in keys)[:5]) or "none"
        raise _NotATalk(f"no sort key sk (keys: {names}): not a talk item")
    if not isinstance(sk, dict) or len(sk) != 1:
        raise ValueError(f"not a DynamoDB typed attribute: {str(sk)[:60]!r}")
    if "S" not in sk:
        raise _NotATalk(f"sort key sk is of type {str(next(iter(sk)))[:8]}: not a talk item")
    value = sk["S"]
    if not isinstance(value, str):
        raise ValueError(f"S value must be a string, got {_kind(value)}")
    if value[: len(TALK_KEY_PREFIX)].lower() != TALK_KEY_PREFIX:
        raise _NotATalk(f"sort key {value[:60]!r} does not start with {TALK_KEY_PREFIX!r}")
    return check_identifier(value[len(TALK_KEY_PREFIX) :])


PODIUM_TAGS = "podiumTags"


def without_podium_tags(record: Any) -> Any:
    """The record with the tags Podium wrote back (listed in `podiumTags`) taken off `tags`.

    The DynamoDB sink writes model tags onto the item and lists them in `podiumTags`; the
    stream (and a pipe to /hooks/dynamodb) then carries them again. Read as speaker tags they
    would change the talk's content, re-enrich it and make the sink skip it for good.
    """
    if not isinstance(record, dict) or not isinstance(record.get("dynamodb"), dict):
        return record
    image = record["dynamodb"].get("NewImage")
    if not isinstance(image, dict) or PODIUM_TAGS not in image:
        return record
    image = dict(image)
    try:
        added = {str(t) for t in from_dynamodb_attribute(image.pop(PODIUM_TAGS)) or []}
        tags = from_dynamodb_attribute(image["tags"]) if "tags" in image else []
    except (ValueError, TypeError):
        return record  # left for the parser to reject with its reason
    if isinstance(tags, list):
        image["tags"] = {"L": [{"S": str(t)} for t in tags if str(t) not in added]}
    return {**record, "dynamodb": {**record["dynamodb"], "NewImage": image}}


def _stream_record(
    index: int, record: Any, result: ParseResult, policy: InputPolicy = DEFAULT_POLICY
) -> Talk | Removal | None:
    """One stream record as a change carrying its place in the stream, or None (recorded in
    `result.errors` or `result.skipped` with the reason)."""
    name = f"Records[{index}]"
    record = without_podium_tags(record)
    if not isinstance(record, dict):
        result.errors.append(RecordError(name, "", f"expected an object, got {_kind(record)}"))
        return None
    event_name = record.get("eventName")
    stream = record.get("dynamodb")
    if event_name not in ("INSERT", "MODIFY", "REMOVE"):
        shown = event_name if isinstance(event_name, str | None) else _kind(event_name)
        result.errors.append(
            RecordError(name, "eventName", f"must be INSERT, MODIFY or REMOVE, got {shown!r:.60}")
        )
        return None
    if not isinstance(stream, dict) or not isinstance(stream.get("Keys"), dict):
        result.errors.append(RecordError(name, "dynamodb.Keys", "required field is missing"))
        return None
    try:
        talk_id = _talk_key(stream["Keys"])
    except _NotATalk as reason:
        result.skipped.append(RecordError(name, "dynamodb.Keys.sk", str(reason)))
        return None
    except ValueError as error:
        result.errors.append(RecordError(name, "dynamodb.Keys.sk", str(error)))
        return None
    name = f"Records[{index}] ({talk_id})"
    try:
        sequence = parse_sequence(stream.get("SequenceNumber"))
    except ValueError as error:
        result.errors.append(RecordError(name, "dynamodb.SequenceNumber", str(error)))
        return None
    changed_at = _approximate_time(stream)
    if event_name == "REMOVE":
        future = policy.future_problem(changed_at)
        if future:
            result.errors.append(RecordError(name, "dynamodb.ApproximateCreationDateTime", future))
            return None
        return Removal(talk_id, sequence=sequence, updated_at=changed_at)
    image = stream.get("NewImage")
    if not isinstance(image, dict):
        result.errors.append(
            RecordError(name, "dynamodb.NewImage", "required for INSERT and MODIFY")
        )
        return None
    data: dict[str, Any] = {"talk_id": talk_id}
    # Only the attributes a talk reads are converted: housekeeping, binary or unknown
    # attributes of the item never sink it.
    for key, attribute in image.items():
        target = _DYNAMO_FIELDS.get(key)
        if target is None:
            continue
        where = f"dynamodb.NewImage.{key}"
        try:
            value = from_dynamodb_attribute(attribute)
            if target in ("speakers", "event_ids") and isinstance(value, str):
                value = [value]
            if target in ("submitted_at", "updated_at") and isinstance(value, int | float):
                value = _epoch(value)
            if target == "slot" and isinstance(value, dict):
                value = {
                    k: _epoch(v) if k in ("start", "end") and isinstance(v, int | float) else v
                    for k, v in value.items()
                }
        except ValueError as error:
            result.errors.append(RecordError(name, where, str(error)))
            return None
        data[target] = value
    if changed_at is not None:
        data.setdefault("updated_at", changed_at)
    before = len(result.talks)
    _validate_talk(name, data, result, policy)
    if len(result.talks) == before:
        return None
    talk = result.talks.pop()
    talk._sequence = sequence
    return talk


def _approximate_time(stream: dict[str, Any]) -> datetime | None:
    value = stream.get("ApproximateCreationDateTime")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def parse_dynamodb_stream(
    payload: Any, *, offset: int = 0, policy: InputPolicy = DEFAULT_POLICY
) -> ParseResult:
    """{"Records": [...]} (or a bare list) of DynamoDB Streams records.

    INSERT/MODIFY records of talk items (sort key `talk#<talk_id>`) become talks; REMOVE
    records become deletions (`Removal`s). Records of other item types are listed in `skipped`
    with the reason; malformed records in `errors`. No record, however broken, sinks the others.

    Changes keep their place in the stream: each carries its `SequenceNumber`, and when one key
    has several records in the batch only the last by sequence number (by position when there
    is none) is kept, so `[MODIFY t, REMOVE t]` removes t and `[REMOVE t, INSERT t]` restores it,
    whatever order the batch lists them in.

    The one parser of stream records: the `/hooks/dynamodb` route and the stream reader
    (`podium.dynamodb.streams.reduce_records`) both call it, so both drop the tags Podium
    wrote back (`without_podium_tags`) and apply the same `policy`. `offset` shifts the
    record positions named in errors (a page's place in the stream).
    """
    records = payload.get("Records") if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise SourceError('expected {"Records": [...]} or a list of stream records')
    changes, unordered = _parse_stream_records(records, offset=offset, policy=policy)
    by_key: dict[str, list[tuple[int, Talk | Removal]]] = {}
    for index, change in changes:
        by_key.setdefault(_change_id(change), []).append((index, change))
    winners: list[tuple[int, Talk | Removal]] = []
    for items in by_key.values():
        # Sequence order first (a batch may list records out of order), then position.
        items.sort(key=lambda item: (_order(item[1]).sequence or 0, item[0]))
        winner = latest([(_order(change), (index, change)) for index, change in items])
        winners.append(winner)
    result = ParseResult(errors=unordered.errors, skipped=unordered.skipped)
    for _, change in sorted(winners, key=lambda item: item[0]):
        if isinstance(change, Talk):
            result.talks.append(change)
        else:
            result.removed.append(change)
    return result


def _change_id(change: Talk | Removal) -> str:
    return change.talk_id if isinstance(change, Talk) else str(change)


def _order(change: Talk | Removal) -> SourceOrder:
    if isinstance(change, Talk):
        return SourceOrder(change._sequence, change.updated_at)
    return SourceOrder(change.sequence, change.updated_at)


def _parse_stream_records(
    records: list[Any], *, offset: int = 0, policy: InputPolicy = DEFAULT_POLICY
) -> tuple[list[tuple[int, Talk | Removal]], ParseResult]:
    """Each talk record as (position, change), in stream order; errors and skips beside."""
    result = ParseResult()
    changes: list[tuple[int, Talk | Removal]] = []
    for index, record in enumerate(records, start=offset):
        change = _stream_record(index, record, result, policy)
        if change is not None:
            changes.append((index, change))
    return changes, result


# ---- (3) JSONL ------------------------------------------------------------------------------


def _open_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:  # type: ignore[operator]
        yield from handle


def parse_jsonl(path: Path) -> ParseResult:
    """One talk object per line (blank lines skipped); .gz is read transparently."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    result = ParseResult()
    try:
        for number, raw in enumerate(_open_lines(path), start=1):
            name = f"{path.name}:{number}"
            # Decoded per line, so one line of bad bytes is one rejected record.
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                result.errors.append(RecordError(name, "", "not UTF-8 text"))
                continue
            if not line.strip():
                continue
            try:
                data = parse_text(line)
            except json.JSONDecodeError as error:
                result.errors.append(RecordError(name, "", f"not JSON ({error.msg})"))
                continue
            except JsonRefused as refused:
                result.errors.append(RecordError(name, "", str(refused)))
                continue
            if isinstance(data, dict) and "talk_id" not in data and "id" in data:
                result.extend(_from_pyvideo_line(name, data))
            else:
                _validate_talk(name, data, result)
    except (OSError, EOFError) as error:  # not gzip (BadGzipFile is an OSError), or truncated
        raise SourceError(f"{path}: unreadable ({error})") from None
    return result


def _from_pyvideo_line(name: str, data: dict[str, Any]) -> ParseResult:
    # The shared pyvideo JSONL: id, event, title, description, speakers, tags, recorded, language.
    result = ParseResult()
    mapped = {
        "talk_id": data.get("id"),
        "title": data.get("title"),
        "description": data.get("description") or "",
        "speakers": _non_empty(data.get("speakers")),
        "tags": [t for t in data.get("tags") or [] if isinstance(t, str) and t.strip()],
        "event_ids": [data["event"]] if data.get("event") else [],
        "language": _language(data.get("language")),
        "state": TalkState.published,
    }
    _validate_talk(name, mapped, result)
    return result


def _non_empty(values: Any) -> Any:
    # pyvideo lists "" for an unknown speaker: dropped like empty tags, not a reason to reject.
    if not isinstance(values, list):
        return values or []
    return [v for v in values if not (isinstance(v, str) and not v.strip())]


def _language(value: Any) -> str:
    # pyvideo uses ISO 639-3 ("eng"); keep what we get, default English.
    return value if isinstance(value, str) and value.strip() else "en"


# ---- (4) a pyvideo/data folder -------------------------------------------------------------


def parse_pyvideo_folder(root: Path) -> ParseResult:
    """A folder laid out like the public pyvideo/data repository.

    `<event>/category.json` describes the event; `<event>/videos/*.json` are its talks.
    """
    if not root.is_dir():
        raise SourceError(f"{root}: no such folder")
    result = ParseResult()
    for category in sorted(root.glob("*/category.json")):
        event_dir = category.parent
        event_id = event_dir.name
        try:
            meta = json.loads(category.read_text(encoding="utf-8"))
            result.events.append(
                Event(
                    event_id=event_id,
                    name=meta.get("title") or event_id,
                    description=meta.get("description") or "",
                )
            )
        except (ValueError, AttributeError) as error:  # not JSON/UTF-8, invalid, not an object
            result.errors.append(RecordError(str(category.relative_to(root)), "", _short(error)))
        for video in sorted(event_dir.glob("videos/*.json")):
            name = str(video.relative_to(root))
            try:
                data = parse_text(video.read_text(encoding="utf-8"))
            except JsonRefused as refused:
                result.errors.append(RecordError(name, "", str(refused)))
                continue
            except json.JSONDecodeError as error:
                result.errors.append(RecordError(name, "", f"not JSON ({error.msg})"))
                continue
            except UnicodeDecodeError:
                result.errors.append(RecordError(name, "", "not UTF-8 text"))
                continue
            if not isinstance(data, dict):
                result.errors.append(RecordError(name, "", "expected an object"))
                continue
            mapped = {
                "talk_id": f"{event_id}/{data.get('slug') or video.stem}",
                "title": data.get("title"),
                "description": data.get("description") or data.get("summary") or "",
                "speakers": _non_empty(data.get("speakers")),
                "tags": [t for t in data.get("tags") or [] if isinstance(t, str) and t.strip()],
                "event_ids": [event_id],
                "language": _language(data.get("language")),
                "state": TalkState.published,
            }
            _validate_talk(name, mapped, result)
    return result


def _short(error: Exception) -> str:
    return str(error).splitlines()[0]


# ---- events and vocabularies -------------------------------------------------------------------


def parse_events(items: Iterable[Any]) -> ParseResult:
    """A list of event objects."""
    result = ParseResult()
    for index, item in enumerate(items):
        try:
            result.events.append(Event.model_validate(item))
        except ValidationError as error:
            result.errors.extend(validation_errors(f"events[{index}]", error))
    return result


def load_source(path: Path) -> ParseResult:
    """Pick the parser from what `path` is: folder, .jsonl[.gz], or .json (body or stream)."""
    if path.is_dir():
        return parse_pyvideo_folder(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return parse_jsonl(path)
    try:
        body = parse_text(path.read_text(encoding="utf-8"))
    except JsonRefused as refused:
        raise SourceError(f"{path}: {refused}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise SourceError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if isinstance(body, dict) and "Records" in body:
        return parse_dynamodb_stream(body)
    return parse_directory_body(body)
