"""Schemas of the lake's Delta tables: one place that says what each table holds."""

from __future__ import annotations

import pyarrow as pa

_ts = pa.timestamp("us", tz="UTC")
_strings = pa.list_(pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "talks": pa.schema(
        [
            ("talk_id", pa.string()),
            ("title", pa.string()),
            ("description", pa.string()),
            ("speakers", _strings),
            ("tags", _strings),
            ("event_ids", _strings),
            ("language", pa.string()),
            ("state", pa.string()),
            ("submitted_at", _ts),
            ("updated_at", _ts),
            ("content_hash", pa.string()),
            ("record_hash", pa.string()),
            ("ingested_at", _ts),
            # Source order of the change that wrote the row (podium/ordering.py): the stream's
            # zero-padded SequenceNumber and the source's own timestamp, null when not given.
            ("source_sequence", pa.string()),
            ("source_updated_at", _ts),
            # The talk's scheduled slot, null when its source has no schedule.
            ("slot_start", _ts),
            ("slot_end", _ts),
            ("slot_room", pa.string()),
            # How many times the row was written: 1 when inserted, +1 by each MERGE that
            # rewrites it. The ledger follows this order (podium/enrichment.py `mark_versions`).
            ("revision", pa.int64()),
        ]
    ),
    "events": pa.schema(
        [
            ("event_id", pa.string()),
            ("name", pa.string()),
            ("description", pa.string()),
            ("tags", _strings),
            ("starts_on", pa.date32()),
            ("ends_on", pa.date32()),
            ("record_hash", pa.string()),
            ("updated_at", _ts),
        ]
    ),
    "talk_tags": pa.schema(
        [
            ("talk_id", pa.string()),
            ("tag", pa.string()),
            ("score", pa.float64()),
            ("source", pa.string()),
            ("model", pa.string()),
            ("content_hash", pa.string()),
            ("tagged_at", _ts),
        ]
    ),
    # Organisers' corrections of tags (podium/tag_feedback.py): one row per decision.
    "tag_feedback": pa.schema(
        [
            ("feedback_id", pa.string()),
            ("talk_id", pa.string()),
            ("content_hash", pa.string()),  # the talk version the decision was made on
            ("tag", pa.string()),
            ("decision", pa.string()),  # accept, reject, add
            ("decided_by", pa.string()),
            ("reason", pa.string()),
            ("decided_at", _ts),
        ]
    ),
    "tag_counts": pa.schema(
        [
            ("scope", pa.string()),  # "all", "event", "state"
            ("key", pa.string()),  # "" for all, else the event id or state
            ("tag", pa.string()),
            ("talks", pa.int64()),
            ("computed_at", _ts),
        ]
    ),
    "recommendations": pa.schema(
        [
            ("event_id", pa.string()),
            ("rank", pa.int32()),
            ("talk_id", pa.string()),
            ("score", pa.float64()),
            ("matched_tags", _strings),
            ("components", pa.string()),  # JSON object: component name -> score
            ("model_version", pa.string()),
            ("computed_at", _ts),
        ]
    ),
    "related_talks": pa.schema(
        [
            ("talk_id", pa.string()),
            ("rank", pa.int32()),
            ("other_id", pa.string()),
            ("score", pa.float64()),
            ("computed_at", _ts),
        ]
    ),
    "enrichment_state": pa.schema(
        [
            ("talk_id", pa.string()),
            ("stage", pa.string()),  # "tags" or "image"
            ("content_hash", pa.string()),
            ("status", pa.string()),  # pending, running, done, error, failed
            ("attempts", pa.int32()),
            ("error", pa.string()),
            ("updated_at", _ts),
            ("claimed_by", pa.string()),  # the claim (one batch of one run) holding the row
            ("lease_until", _ts),  # the claim expires then: its process is presumed dead
            # The `talks` row revision this row was marked from: a mark from an older
            # revision never overwrites one from a newer (two writers racing, see ingest).
            ("talk_revision", pa.int64()),
        ]
    ),
    "source_checkpoints": pa.schema(
        [
            ("source", pa.string()),  # e.g. "pretalx:host/event", "dynamodb-stream:<arn>"
            ("key", pa.string()),  # a submission code, a shard id
            ("position", pa.string()),  # what was last taken: an update stamp, a sequence number
            ("updated_at", _ts),
        ]
    ),
    "dynamodb_keys": pa.schema(
        [
            ("table_name", pa.string()),  # DynamoDB table name
            ("talk_id", pa.string()),
            ("pk", pa.string()),  # the talk item's keys, as the directory app wrote them
            ("sk", pa.string()),
            ("updated_at", _ts),
        ]
    ),
    "talk_images": pa.schema(
        [
            ("talk_id", pa.string()),
            ("content_hash", pa.string()),
            ("path", pa.string()),
            ("backend", pa.string()),
            ("model", pa.string()),
            ("seed", pa.int64()),
            ("prompt", pa.string()),
            ("negative_prompt", pa.string()),
            ("flagged", pa.bool_()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("created_at", _ts),
            ("alt_text", pa.string()),  # what the cover shows, for screen readers
        ]
    ),
    "reviews": pa.schema(
        [
            ("repo", pa.string()),
            ("commit", pa.string()),
            ("ref", pa.string()),
            ("before", pa.string()),
            ("status", pa.string()),  # pending, approved, rejected, expired, superseded, deleted
            ("summary", pa.string()),
            ("summary_backend", pa.string()),
            ("flow_run_id", pa.string()),
            ("decided_by", pa.string()),
            ("comment", pa.string()),
            ("created_at", _ts),
            ("decided_at", _ts),
        ]
    ),
    "enrich_runs": pa.schema(
        [
            ("flow_run_id", pa.string()),
            ("started_at", _ts),
            ("finished_at", _ts),
            ("talks_tagged", pa.int32()),
            ("talks_imaged", pa.int32()),
            ("failed", pa.int32()),
            ("model_loads", pa.int32()),
            ("tag_model", pa.string()),
            ("image_backend", pa.string()),
        ]
    ),
    "embeddings": pa.schema(
        [
            ("model", pa.string()),  # encoder identity: weights, token limit, precision
            ("text_hash", pa.string()),  # hash of exactly the text embedded
            ("dim", pa.int32()),
            ("vector", pa.binary()),  # `dim` little-endian float16 (or float32) values
            ("embedded_at", _ts),
        ]
    ),
    "deferred_events": pa.schema(
        [
            ("event_id", pa.string()),  # the id the deferred event had
            ("event", pa.string()),  # its name (podium.talk.submitted, podium.talk.removed)
            ("source", pa.string()),  # directory or dynamodb
            ("talks", pa.int32()),  # talks it named
            ("reason", pa.string()),
            ("deferred_at", _ts),
        ]
    ),
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "talks": ("talk_id",),
    "events": ("event_id",),
    "talk_tags": ("talk_id", "tag"),
    "tag_feedback": ("feedback_id",),
    "tag_counts": ("scope", "key", "tag"),
    "recommendations": ("event_id", "rank"),
    "related_talks": ("talk_id", "rank"),
    "enrichment_state": ("talk_id", "stage"),
    "source_checkpoints": ("source", "key"),
    "dynamodb_keys": ("table_name", "talk_id"),
    "talk_images": ("talk_id", "content_hash"),
    "reviews": ("repo", "commit"),
    "enrich_runs": ("flow_run_id",),
    "embeddings": ("model", "text_hash"),
    "deferred_events": ("event_id",),
}

# Columns added to a table after it first shipped. Writers may leave them out (an upsert then
# keeps them on matched rows and inserts nulls), and a table created before gets them added
# the first time this code opens it.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "talks": (
        "source_sequence",
        "source_updated_at",
        "slot_start",
        "slot_end",
        "slot_room",
        "revision",
    ),
    "enrichment_state": ("claimed_by", "lease_until", "talk_revision"),
    "talk_images": ("alt_text",),
}
