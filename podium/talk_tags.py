"""Writing and reading `talk_tags`: Podium adds, and never removes an organiser's tags.

This module owns the table: every other module reads it through `tag_rows` or `tags_by_talk`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from podium.lake import Lake, sql_list
from podium.models import TagAssignment

TABLE = "talk_tags"


def assignments_frame(assignments: Iterable[TagAssignment]) -> pd.DataFrame:
    rows = [a.model_dump() for a in assignments]
    columns = list(TagAssignment.model_fields)
    return pd.DataFrame(rows, columns=columns)


def write_tags(*, lake: Lake, talk_ids: list[str], assignments: list[TagAssignment]) -> int:
    """Replace the speaker and model tags of `talk_ids` with `assignments`, atomically.

    Organiser tags are corrections made by people: they are kept as they are, and a model or
    speaker tag that an organiser already set is not written twice.
    """
    if not talk_ids:
        return 0
    organiser = lake.read(
        TABLE,
        columns=["talk_id", "tag"],
        where=[("talk_id", "in", talk_ids), ("source", "=", "organiser")],
    )
    fixed = set(zip(organiser.talk_id, organiser.tag, strict=True))
    keep: dict[tuple[str, str], TagAssignment] = {}
    for a in assignments:
        key = (a.talk_id, a.tag)
        if a.source == "organiser" or key in fixed:
            continue
        # One row per (talk, tag): the speaker's own tag wins over the model's.
        if key not in keep or a.source == "speaker":
            keep[key] = a
    frame = assignments_frame(keep.values())
    predicate = f"talk_id IN {sql_list(talk_ids)} AND source != 'organiser'"
    return lake.replace_where(TABLE, frame, predicate=predicate)


def accept_tags(*, lake: Lake, assignments: list[TagAssignment]) -> int:
    """Record tags an organiser accepted or set (source `organiser`): upserted, so accepting
    a tag twice changes nothing; model and speaker rows of the same (talk, tag) become the
    organiser's."""
    frame = assignments_frame(a for a in assignments if a.source == "organiser")
    if frame.empty:
        return 0
    frame = frame.drop_duplicates(["talk_id", "tag"], keep="last")
    return lake.upsert(TABLE, frame, changed_when="t.source != s.source").changed


def tags_version(*, lake: Lake) -> int | None:
    """The table's Delta version (None before the first tag): a cache of reads follows it."""
    return lake.version(TABLE)


def tags_by_talk(*, lake: Lake, talk_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Tag names per talk, best score first."""
    frame = tag_rows(lake=lake, talk_ids=talk_ids, columns=["talk_id", "tag", "score"])
    frame = frame.sort_values(["talk_id", "score", "tag"], ascending=[True, False, True])
    return {k: list(v) for k, v in frame.groupby("talk_id", sort=False)["tag"]}


def tag_rows(
    *,
    lake: Lake,
    talk_ids: Iterable[str] | None = None,
    columns: list[str] | None = None,
    sources: Iterable[str] | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """Rows of `talk_tags` (source, score, model, content version), some talks or all.

    Args:
        talk_ids: only these talks (None: all).
        columns: only these columns (None: all).
        sources: only tags from these sources (speaker, organiser, model; None: all).
        model: only tags of this model version.
    """
    where: list[tuple[str, str, Any]] = []
    if talk_ids is not None:
        where.append(("talk_id", "in", list(talk_ids)))
    if sources is not None:
        where.append(("source", "in", list(sources)))
    if model is not None:
        where.append(("model", "=", model))
    return lake.read(TABLE, columns=columns, where=where or None)
