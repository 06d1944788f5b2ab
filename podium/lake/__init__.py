"""The lake: Delta tables and blobs."""

from podium.lake.store import Lake, LakeError, MergeStats, sql_list
from podium.lake.tables import PRIMARY_KEYS, SCHEMAS

__all__ = ["Lake", "LakeError", "MergeStats", "PRIMARY_KEYS", "SCHEMAS", "sql_list"]
