"""What a reviewer reads on the approval page: the description shown above the approve/reject
form of a paused `review-push` run (the Prefect UI renders it as markdown).

The summary itself is shown there, not only linked: whole when it fits, otherwise its risk
flags and material facts with a pointer to the full summary artifact of the same run.
"""

from __future__ import annotations

from podium.review.llm import Summary
from podium.review.markdown import code as md_code
from podium.review.models import PushEvent
from podium.review.structural import StructuralReport

# Longest description shown in full; Prefect stores it as a flow-run input value.
MAX_DESCRIPTION_CHARS = 12_000
_MAX_FACTS = 40


def pause_description(
    *, push: PushEvent, report: StructuralReport, summary: Summary, artifact_key: str
) -> str:
    """Markdown for the approval form: who pushed what, the summary (or its key facts), and
    what the decision records."""
    made_by = summary.backend + (f" — {summary.fallback_reason}" if summary.fallback_reason else "")
    head = [
        f"**Approve or reject the deployment of `{push.repo}` {md_code(push.branch)}**: "
        f"`{push.before[:12]}` → `{push.after[:12]}`, pushed by "
        f"{md_code(push.pusher, empty='unknown')} via {push.source}. Summary: {made_by}.",
        "",
    ]
    tail = [
        "",
        "---",
        f"Full summary: artifact `{artifact_key}` of this run. The time and your comment are "
        "recorded with the decision, made here as an operator's (named reviewers decide "
        "through their signed links).",
    ]
    whole = "\n".join(head) + "\n" + summary.text + "\n".join(tail)
    if len(whole) <= MAX_DESCRIPTION_CHARS:
        return whole
    lines = list(head)
    if report.risks:
        lines += ["### Risk flags", *[f"- {r}" for r in report.risks], ""]
    facts = [f for f in report.material_facts() if f.effect != "loosens"]
    if facts:
        lines.append("### Key facts")
        lines += [f"- {f.render()}" for f in facts[:_MAX_FACTS]]
        if len(facts) > _MAX_FACTS:
            lines.append(f"- … and {len(facts) - _MAX_FACTS} more in the full summary")
    lines += report.notes and ["", "### Notes", *[f"- {n}" for n in report.notes]] or []
    lines.append("")
    lines.append(
        f"(The summary is {len(summary.text):,} characters; the key facts are shown here.)"
    )
    text = "\n".join(lines + tail)
    return text[:MAX_DESCRIPTION_CHARS]


def resumed_description(*, push: PushEvent, summary: str, artifact_key: str) -> str:
    """The approval form's text for a review whose run starts again after it was recorded
    pending (a resumed suspension, a retry): the recorded summary, cut to fit."""
    head = (
        f"**Approve or reject the deployment of `{push.repo}` {md_code(push.branch)}**: "
        f"`{push.before[:12]}` → `{push.after[:12]}`, pushed by "
        f"{md_code(push.pusher, empty='unknown')} via {push.source}.\n\n"
    )
    tail = f"\n\n---\nFull summary: artifact `{artifact_key}` of this run."
    room = MAX_DESCRIPTION_CHARS - len(head) - len(tail)
    body = summary if len(summary) <= room else summary[: room - 1] + "…"
    return head + body + tail
