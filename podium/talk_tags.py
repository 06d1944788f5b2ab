"""Writing and reading `talk_tags`: Podium adds, and never removes an organiser's tags.

This module owns the table: every other module reads it through `tag_rows` or `tags_by_talk`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from podium.lake import Lake, sql_list
from podium.models import TagAssignment
from podium.tag_feedback import rejections

TABLE = "talk_tags"


def assignments_frame(assignments: Iterable[TagAssignment]) -> pd.DataFrame:
    rows = [a.model_dump() for a in assignments]
    columns = list(TagAssignment.model_fields)
    return pd.DataFrame(rows, columns=columns)


def write_tags(*, lake: Lake, talk_ids: list[str], assignments: list[TagAssignment]) -> int:
    """Replace the speaker and model tags of `talk_ids` with `assignments`, atomically.

    Organiser tags are corrections made by people: they are kept as they are, and a model or
    speaker tag that an organiser already set is not written twice. A model tag an organiser
    rejected on that talk version (`podium.tag_feedback`) is never written; a rejection or an
    organiser tag that lands while this write is in flight is honoured after it (`settle`).
    """
    if not talk_ids:
        return 0
    rejected = rejections(lake=lake, talk_ids=talk_ids)
    assignments = [
        a
        for a in assignments
        if not (a.source == "model" and (a.talk_id, a.content_hash, a.tag) in rejected)
    ]
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
    written = lake.replace_where(TABLE, frame, predicate=predicate)
    settle(lake=lake, talk_ids=talk_ids)
    return written


def settle(*, lake: Lake, talk_ids: list[str]) -> int:
    """Remove the model tags of `talk_ids` that an organiser rejected (on the version they were
    computed from), and model or speaker rows that duplicate an organiser's tag.

    A correction is recorded before it is applied, and a tag write settles after it commits,
    so whichever of the two commits last leaves the organiser's decision in force.
    """
    if not talk_ids:
        return 0
    rows = lake.read(
        TABLE,
        columns=["talk_id", "tag", "source", "content_hash"],
        where=[("talk_id", "in", talk_ids)],
    )
    if rows.empty:
        return 0
    rejected = rejections(lake=lake, talk_ids=talk_ids)
    organiser = set(
        zip(
            rows.talk_id[rows.source == "organiser"],
            rows.tag[rows.source == "organiser"],
            strict=True,
        )
    )
    drop: set[tuple[str, str]] = set()
    for talk_id, tag, source, digest in zip(
        rows.talk_id, rows.tag, rows.source, rows.content_hash, strict=True
    ):
        if source == "model" and (talk_id, digest, tag) in rejected:
            drop.add((talk_id, tag))
        elif source != "organiser" and (talk_id, tag) in organiser:
            drop.add((talk_id, tag))
    deleted = 0
    for talk_id, tag in sorted(drop):
        deleted += lake.delete(
            TABLE,
            predicate=f"talk_id IN {sql_list([talk_id])} AND tag IN {sql_list([tag])}"
            " AND source != 'organiser'",
        )
    return deleted


def set_organiser_tag(
    *, lake: Lake, talk_id: str, tag: str, content_hash: str, now: datetime
) -> None:
    """Put `tag` on a talk with source `organiser` (replacing a model or speaker row of it)."""
    row = TagAssignment(
        talk_id=talk_id,
        tag=tag,
        score=1.0,
        source="organiser",
        model="",
        content_hash=content_hash,
        tagged_at=now,
    )
    lake.upsert(TABLE, assignments_frame([row]))


def remove_tag(*, lake: Lake, talk_id: str, tag: str) -> int:
    """Take `tag` off a talk, whatever its source (an organiser's rejection); returns rows."""
    return lake.delete(
        TABLE,
        predicate=f"talk_id IN {sql_list([talk_id])} AND tag IN {sql_list([tag])}",
    )


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
