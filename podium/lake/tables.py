"""Schemas of the lake's Delta tables: one place that says what each table holds.

Each table is declared once, a column a line: its name, its type (`_TYPES`), then `key` when
the column is part of the table's primary key (upserts MERGE on it) and `added` when it came
after the table first shipped (writers may leave it out: an upsert then keeps it on matched
rows and inserts nulls, and a table created before gets it the first time this code opens
it). `#` starts a comment. `SCHEMAS`, `PRIMARY_KEYS` and `ADDED_COLUMNS` are read from these
declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "strings": pa.list_(pa.string()),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "binary": pa.binary(),
}
_MARKS = ("key", "added")


@dataclass(frozen=True)
class Table:
    """One table's declaration, read: its schema, primary key and later-added columns."""

    schema: pa.Schema
    key: tuple[str, ...]
    added: tuple[str, ...]


def table(declaration: str) -> Table:
    """A table from its declaration: `name type [key] [added]` a line, `#` comments.

    Raises:
        ValueError: an unknown type or mark, a repeated column, or no key column.
    """
    fields: list[pa.Field] = []
    key: list[str] = []
    added: list[str] = []
    for line in declaration.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) < 2 or words[1] not in _TYPES or any(m not in _MARKS for m in words[2:]):
            raise ValueError(f"column {line.strip()!r}: want `name type [key] [added]`")
        name, kind, *marks = words
        if any(f.name == name for f in fields):
            raise ValueError(f"column {name!r} declared twice")
        fields.append(pa.field(name, _TYPES[kind]))
        if "key" in marks:
            key.append(name)
        if "added" in marks:
            added.append(name)
    if not key:
        raise ValueError("a table needs at least one `key` column")
    return Table(pa.schema(fields), tuple(key), tuple(added))


TABLES: dict[str, Table] = {
    "talks": table(
        """
        talk_id            string     key
        title              string
        description        string
        speakers           strings
        tags               strings
        event_ids          strings
        language           string
        state              string
        submitted_at       timestamp
        updated_at         timestamp
        content_hash       string
        record_hash        string
        ingested_at        timestamp
        # Source order of the change that wrote the row (podium/ordering.py): the stream's
        # zero-padded SequenceNumber and the source's own timestamp, null when not given.
        source_sequence    string     added
        source_updated_at  timestamp  added
        # The talk's scheduled slot, null when its source has no schedule.
        slot_start         timestamp  added
        slot_end           timestamp  added
        slot_room          string     added
        # How many times the row was written: 1 when inserted, +1 by each MERGE that
        # rewrites it. The ledger follows this order (podium/enrichment.py `mark_versions`).
        revision           int64      added
        """
    ),
    "events": table(
        """
        event_id           string     key
        name               string
        description        string
        tags               strings
        starts_on          date
        ends_on            date
        record_hash        string
        updated_at         timestamp
        """
    ),
    "talk_tags": table(
        """
        talk_id            string     key
        tag                string     key
        score              float64
        source             string
        model              string
        content_hash       string
        tagged_at          timestamp
        """
    ),
    # Organisers' corrections of tags (podium/tag_feedback.py): one row per decision.
    "tag_feedback": table(
        """
        feedback_id        string     key
        talk_id            string
        content_hash       string     # the talk version the decision was made on
        tag                string
        decision           string     # accept, reject, add
        decided_by         string
        reason             string
        decided_at         timestamp
        """
    ),
    "tag_counts": table(
        """
        scope              string     key  # "all", "event", "state"
        key                string     key  # "" for all, else the event id or state
        tag                string     key
        talks              int64
        computed_at        timestamp
        """
    ),
    "recommendations": table(
        """
        event_id           string     key
        rank               int32      key
        talk_id            string
        score              float64
        matched_tags       strings
        components         string     # JSON object: component name -> score
        model_version      string
        computed_at        timestamp
        """
    ),
    "related_talks": table(
        """
        talk_id            string     key
        rank               int32      key
        other_id           string
        score              float64
        computed_at        timestamp
        """
    ),
    "enrichment_state": table(
        """
        talk_id            string     key
        stage              string     key  # "tags" or "image"
        content_hash       string
        status             string     # pending, running, done, error, failed
        attempts           int32
        error              string
        updated_at         timestamp
        claimed_by         string     added  # the claim (one batch of one run) holding the row
        lease_until        timestamp  added  # the claim expires then: its process is presumed dead
        # The `talks` row revision this row was marked from: a mark from an older
        # revision never overwrites one from a newer (two writers racing, see ingest).
        talk_revision      int64      added
        """
    ),
    "source_checkpoints": table(
        """
        source             string     key  # "pretalx:host/event", "dynamodb-stream:<arn>"
        key                string     key  # a submission code, a shard id
        position           string     # what was last taken: an update stamp, a sequence number
        updated_at         timestamp
        """
    ),
    "dynamodb_keys": table(
        """
        table_name         string     key  # DynamoDB table name
        talk_id            string     key
        pk                 string     # the talk item's keys, as the directory app wrote them
        sk                 string
        updated_at         timestamp
        """
    ),
    "talk_images": table(
        """
        talk_id            string     key
        content_hash       string     key
        path               string
        backend            string
        model              string
        seed               int64
        prompt             string
        negative_prompt    string
        flagged            bool
        width              int32
        height             int32
        created_at         timestamp
        alt_text           string     added  # what the cover shows, for screen readers
        """
    ),
    "reviews": table(
        """
        repo               string     key
        commit             string     key
        ref                string
        before             string
        status             string     # pending, approved, rejected, expired, superseded, deleted
        summary            string
        summary_backend    string
        flow_run_id        string
        decided_by         string
        comment            string
        created_at         timestamp
        decided_at         timestamp
        """
    ),
    "enrich_runs": table(
        """
        flow_run_id        string     key
        started_at         timestamp
        finished_at        timestamp
        talks_tagged       int32
        talks_imaged       int32
        failed             int32
        model_loads        int32
        tag_model          string
        image_backend      string
        """
    ),
    "embeddings": table(
        """
        model              string     key  # encoder identity: weights, token limit, precision
        text_hash          string     key  # hash of exactly the text embedded
        dim                int32
        vector             binary     # `dim` little-endian float16 (or float32) values
        embedded_at        timestamp
        """
    ),
    "deferred_events": table(
        """
        event_id           string     key  # the id the deferred event had
        event              string     # its name (podium.talk.submitted, podium.talk.removed)
        source             string     # directory or dynamodb
        talks              int32      # talks it named
        reason             string
        deferred_at        timestamp
        """
    ),
}

SCHEMAS: dict[str, pa.Schema] = {name: t.schema for name, t in TABLES.items()}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {name: t.key for name, t in TABLES.items()}
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {name: t.added for name, t in TABLES.items() if t.added}
