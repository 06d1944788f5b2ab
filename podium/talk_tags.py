"""Writing and reading `talk_tags`: Podium adds, and never removes an organiser's tags."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from podium.lake import Lake, sql_list
from podium.models import TagAssignment


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
        "talk_tags",
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
    return lake.replace_where("talk_tags", frame, predicate=predicate)


def tags_by_talk(*, lake: Lake, talk_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Tag names per talk, best score first."""
    where = [("talk_id", "in", talk_ids)] if talk_ids is not None else None
    frame = lake.read("talk_tags", columns=["talk_id", "tag", "score"], where=where)
    frame = frame.sort_values(["talk_id", "score", "tag"], ascending=[True, False, True])
    return {k: list(v) for k, v in frame.groupby("talk_id", sort=False)["tag"]}
