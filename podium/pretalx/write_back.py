"""Write tags back to pretalx (opt-in): organisers' accepted tags and, optionally, model tags
above a score become pretalx tags on their submissions.

pretalx's API (v2) can do it with a read-write token: `POST /api/events/<slug>/tags/` creates
a tag, `PATCH /api/events/<slug>/submissions/<code>/` with `{"tags": [ids]}` sets a
submission's tags. A run lists the event's tags and every submission's tag ids, creates the
tags that are missing, and patches only submissions that lack one of theirs, with the union of
what they have and what Podium adds: a tag set in pretalx is never removed, and a second run
with nothing new makes no write. The tags Podium added are remembered per submission
(`source_checkpoints`, source `pretalx-writeback:<host>/<event>`), so the next sync does not
read them back as the speaker's own tags (which would change the talk and re-enrich it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from podium.checkpoints import load_checkpoints, save_checkpoints
from podium.ingest import live_versions
from podium.lake import Lake
from podium.models import normalise_tag
from podium.pretalx.client import PretalxClient, PretalxRef
from podium.pretalx.config import PretalxSettings
from podium.pretalx.mapping import localised, talk_id_for
from podium.talk_tags import tag_rows

MAX_PRETALX_TAG = 50  # pretalx's TagRequest.tag maxLength


def written_source(ref: PretalxRef) -> str:
    """The checkpoint source of the tags Podium wrote to this event."""
    return "pretalx-writeback:" + ref.source.removeprefix("pretalx:")


def written_tags(*, lake: Lake, ref: PretalxRef) -> dict[str, set[str]]:
    """Submission code -> the tags Podium added to it in pretalx."""
    rows = load_checkpoints(lake=lake, source=written_source(ref))
    return {code: set(json.loads(value)) for code, value in rows.items()}


@dataclass
class TagWriteBackReport:
    """What one write-back to one pretalx event did."""

    source: str
    tags_created: list[str] = field(default_factory=list)
    submissions_updated: list[str] = field(default_factory=list)
    submissions_unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # "<code>: <tag>: reason"
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wanted_tags(*, lake: Lake, slug: str, settings: PretalxSettings) -> dict[str, list[str]]:
    """Submission code -> the tags to have in pretalx: organisers' tags, and model tags at or
    above the threshold when enabled; live talks only, best first."""
    sources = ["organiser", "model"] if settings.write_back_model_tags else ["organiser"]
    rows = tag_rows(lake=lake, columns=["talk_id", "tag", "score", "source"], sources=sources)
    prefix = talk_id_for(slug, "")
    rows = rows[rows["talk_id"].str.startswith(prefix)]
    rows = rows[(rows["source"] == "organiser") | (rows["score"] >= settings.write_back_min_score)]
    if rows.empty:
        return {}
    live = live_versions(lake=lake, talk_ids=sorted(set(rows["talk_id"])))
    rows = rows[rows["talk_id"].isin(list(live))]
    rows = rows.sort_values(["talk_id", "score", "tag"], ascending=[True, False, True])
    return {
        str(talk_id)[len(prefix) :]: list(dict.fromkeys(group["tag"]))
        for talk_id, group in rows.groupby("talk_id", sort=True)
    }


def write_back_tags(
    *, lake: Lake, client: PretalxClient, settings: PretalxSettings
) -> TagWriteBackReport:
    """Add Podium's tags to the event's submissions in pretalx (creating missing tags)."""
    ref = client.ref
    report = TagWriteBackReport(source=ref.source)
    wanted = wanted_tags(lake=lake, slug=ref.slug, settings=settings)
    if not wanted:
        return report
    existing: dict[str, int] = {}
    for tag in client.tags():
        name = normalise_tag(localised(tag.get("tag")))
        if name and isinstance(tag.get("id"), int):
            existing.setdefault(name, int(tag["id"]))
    index = {
        str(item["code"]): item
        for item in client.submission_index()
        if isinstance(item, dict) and item.get("code")
    }
    written = {code: set(tags) for code, tags in written_tags(lake=lake, ref=ref).items()}
    changed: dict[str, str] = {}
    for code, names in sorted(wanted.items()):
        item = index.get(code)
        if item is None:  # deleted in pretalx meanwhile: the next sync removes the talk
            continue
        current = {int(i) for i in item.get("tags") or [] if isinstance(i, int)}
        add: dict[str, int] = {}
        for name in names:
            if len(name) > MAX_PRETALX_TAG:
                report.skipped.append(f"{code}: {name}: longer than pretalx's 50 characters")
                continue
            if name not in existing:
                created = client.create_tag(
                    name, color=settings.write_back_color, public=settings.write_back_public
                )
                existing[name] = int(created["id"])
                report.tags_created.append(name)
            if existing[name] not in current:
                add[name] = existing[name]
        if not add:
            report.submissions_unchanged += 1
            continue
        client.set_submission_tags(code, sorted(current | set(add.values())))
        report.submissions_updated.append(code)
        mine = written.get(code, set()) | set(add)
        changed[code] = json.dumps(sorted(mine))
    save_checkpoints(lake=lake, source=written_source(ref), values=changed)
    report.requests = client.requests
    return report
