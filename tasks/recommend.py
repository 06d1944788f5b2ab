"""Prefect tasks around `podium.recommend`: build the tables, publish them as artifacts."""

from __future__ import annotations

import json
import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from podium.ingest import talk_rows
from podium.lake import Lake
from podium.recommend.build import BuildResult
from podium.recommend.config import RecommendSettings
from podium.use_cases.recommend import RecommendResources, build_recommendations


@task(name="build-recommendation-tables", retries=1, retry_delay_seconds=10, cache_policy=NONE)
def build_recommendation_tables(
    resources: RecommendResources,
    *,
    event_ids: list[str] | None,
    known_keys: dict[tuple[str, str], str] | None = None,
) -> BuildResult:
    """Recompute `recommendations` (all or some events) and `related_talks`."""
    return build_recommendations(resources, event_ids=event_ids, known_keys=known_keys)


def _artifact_key(event_id: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    slug = re.sub(r"[^a-z0-9]+", "-", event_id.lower()).strip("-")
    return f"recommendations-{slug}"[:100]


def talk_titles(*, lake: Lake, talk_ids: list[str]) -> dict[str, str]:
    """Titles of these talks, so an artifact reads as talks, not ids."""
    if not talk_ids:
        return {}
    frame = talk_rows(lake=lake, columns=["talk_id", "title"], talk_ids=talk_ids)
    return dict(zip(frame["talk_id"], frame["title"], strict=True))


def _title(titles: dict[str, str], talk_id: str, limit: int = 90) -> str:
    title = " ".join(str(titles.get(talk_id, "")).split())
    return title if len(title) <= limit else title[: limit - 1] + "…"


@task(name="publish-recommendations", cache_policy=NONE)
def publish_recommendations(*, result: BuildResult, settings: RecommendSettings, lake: Lake) -> int:
    """One table artifact per event for small builds, else one markdown summary; each
    recommended talk is listed with its title.

    Returns how many artifacts were created.
    """
    recs = result.recommendations
    titles = talk_titles(lake=lake, talk_ids=sorted(set(recs["talk_id"])))
    if result.events <= settings.artifact_event_limit:
        for event_id, rows in recs.groupby("event_id", sort=True):
            table = [
                {
                    "rank": int(r.rank),
                    "title": _title(titles, r.talk_id),
                    "talk": r.talk_id,
                    "score": round(float(r.score), 4),
                    "matched tags": ", ".join(r.matched_tags),
                    **{k: v for k, v in json.loads(r.components).items() if "weight" not in k},
                }
                for r in rows.itertuples()
            ]
            create_table_artifact(
                key=_artifact_key(str(event_id)),
                table=table,
                description=(
                    f"Recommended talks for {result.event_names.get(event_id, event_id)} "
                    f"(model {result.model_version}, "
                    f"computed {result.computed_at:%Y-%m-%d %H:%M} UTC)."
                ),
            )
        return int(recs["event_id"].nunique())
    firsts = recs[recs["rank"] == 1].head(settings.artifact_event_limit)
    lines = [
        f"# Recommendations: {result.events} events",
        "",
        f"- rows written: {result.recommendation_rows}; related-talk rows: {result.related_rows}",
        f"- talks: {result.talks} ({result.eligible_talks} recommendable); "
        f"texts embedded this run: {result.embedded_now}",
        f"- model: {result.model_version}; computed at {result.computed_at:%Y-%m-%d %H:%M:%S} UTC",
        "",
        "| event | top talk | title | score | matched tags |",
        "|---|---|---|---|---|",
    ]
    for r in firsts.itertuples():
        title = _title(titles, r.talk_id).replace("|", "\\|")
        lines.append(
            f"| {r.event_id} | {r.talk_id} | {title} | {r.score:.4f} | "
            f"{', '.join(r.matched_tags)} |"
        )
    create_markdown_artifact(key="recommendations-summary", markdown="\n".join(lines))
    return 1
