"""Prefect tasks around `podium.use_cases.review`: release superseded reviews (resume their
paused runs) and publish a review as an artifact. The review itself (fetch, summarise, record,
notify) is the use-case's, its steps run as tasks by `tasks.resources.prefect_step`."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from podium.review.markdown import code as md_code
from podium.review.models import ApprovalInput, PushEvent


@task(name="release-superseded-reviews", cache_policy=NONE)
def release_superseded(*, flow_run_ids: list[str], by: str) -> list[str]:
    """Resume the paused runs of superseded reviews so they finish now instead of waiting for
    their timeout. Their rows are already `superseded`; the answer only wakes them."""
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run

    logger = get_run_logger()
    released = []
    answer = ApprovalInput(decision="reject", comment=f"superseded by {by}", reviewer="podium")
    for run_id in flow_run_ids:
        try:
            resume_flow_run(UUID(run_id), run_input=answer.model_dump())
            released.append(run_id)
        except Exception as error:  # not paused yet or already gone: it sees its row itself
            logger.info("superseded run %s not resumed: %s", run_id, type(error).__name__)
    return released


def artifact_key(push: PushEvent) -> str:
    """A valid artifact key (lower-case letters, digits, dashes) per repo and commit."""
    import re

    return re.sub(r"[^a-z0-9-]", "-", f"review-{push.repo.lower()}-{push.after[:12]}")


def _cell(markdown: str) -> str:
    # GFM splits a table row at every `|`, even inside a code span, unless it is escaped.
    return markdown.replace("|", "\\|")


@task(name="publish-review", cache_policy=NONE)
def publish_review(*, push: PushEvent, row: dict[str, Any], summary: str) -> str:
    """A markdown artifact with the decision, the commit range and the summary."""
    decided_at = row.get("decided_at")
    header = (
        f"# Review {row['status']}: {push.repo} {md_code(push.branch)}\n\n"
        f"| | |\n|---|---|\n"
        f"| commits | `{push.before[:12]}` → `{push.after[:12]}` |\n"
        f"| status | **{row['status']}** |\n"
        f"| decided by | {_cell(md_code(str(row.get('decided_by') or '')))} |\n"
        f"| decided at | {decided_at if decided_at is not None else '—'} |\n"
        f"| comment | {(row.get('comment') or '—').replace('|', '/')} |\n"
        f"| pushed by | {_cell(md_code(push.pusher))} via {push.source} |\n\n"
    )
    return str(
        create_markdown_artifact(
            key=artifact_key(push),
            markdown=header + summary,
            description=f"Review of {push.repo}@{push.after[:12]}: {row['status']}",
        )
    )
