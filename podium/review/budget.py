"""Fitting a diff into a model's token budget.

Files are prioritised (code, then tests, configuration and infrastructure, manifests, docs,
lock files last); generated and vendored files matching the ignore patterns are left out;
each file's hunks are clipped at hunk boundaries; a footer lists every file the model did not
see in full, so a reviewer knows what the model's summary cannot speak for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from podium.review.gitrepo import ChangeSet
from podium.review.structural import LOCK_FILES, classify, matches_any

_PRIORITY = {
    "code": 0,
    "tests": 1,
    "config": 2,
    "infrastructure": 2,
    "dependencies": 3,
    "docs": 4,
    "other": 5,
}
_LOCK_PRIORITY = 9
_MIN_FILE_TOKENS = 200


def estimate_tokens(text: str) -> int:
    """A model-agnostic token estimate (about four characters a token for code and prose)."""
    return (len(text) + 3) // 4


@dataclass
class BudgetedDiff:
    """The part of a diff a model is shown, and what was left out."""

    text: str
    tokens: int
    included: list[str] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    omitted: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    def footer(self) -> str:
        """Markdown listing every file the model saw only in part or not at all."""
        if not self.clipped and not self.omitted:
            return ""
        lines = ["", "**Not shown to the model in full:**"]
        lines += [f"- `{path}`: clipped to fit the token budget" for path in self.clipped]
        lines += [f"- `{path}`: {why}" for path, why in self.omitted]
        return "\n".join(lines) + "\n"


def priority(path: str) -> int:
    """Lower is shown first: code before tests before config … before lock files."""
    if PurePosixPath(path).name.lower() in LOCK_FILES:
        return _LOCK_PRIORITY
    return _PRIORITY.get(classify(path), 5)


def clip_diff(diff: str, max_tokens: int) -> tuple[str, bool]:
    """Keep the file header and whole hunks while they fit; cut the first hunk by lines if
    even that is too large. Returns the text and whether anything was cut."""
    if estimate_tokens(diff) <= max_tokens:
        return diff, False
    pieces = re.split(r"(?m)^(?=@@ )", diff)
    header, hunks = pieces[0], pieces[1:]
    kept = header
    for hunk in hunks:
        if estimate_tokens(kept + hunk) > max_tokens:
            if kept == header:  # not one whole hunk fits: keep its first lines
                room = max_tokens * 4 - len(kept)
                cut = hunk[: max(room, 0)].rsplit("\n", 1)[0]
                kept += cut + "\n"
            break
        kept += hunk
    dropped = len(hunks) - kept.count("\n@@ ") - (1 if kept.startswith("@@ ") else 0)
    note = f"… [clipped: {max(dropped, 1)} of {len(hunks)} hunks not shown]\n"
    return kept + note, True


def budget_diff(
    change: ChangeSet,
    diffs: dict[str, str],
    *,
    budget_tokens: int,
    ignore_patterns: list[str],
) -> BudgetedDiff:
    """Choose and clip per-file diffs so the whole fits `budget_tokens`.

    Args:
        change: the change (its file list decides what must be accounted for).
        diffs: unified diff per path (from `Git.diff_text`).
        budget_tokens: approximate tokens the model may be shown.
        ignore_patterns: glob patterns of generated or vendored files never shown.
    """
    result = BudgetedDiff(text="", tokens=0)
    candidates: list[tuple[int, str]] = []
    for f in change.files:
        if f.submodule:
            result.omitted.append((f.path, "submodule pointer (named in the analysis)"))
        elif f.binary:
            result.omitted.append((f.path, "binary file"))
        elif matches_any(f.path, ignore_patterns):
            result.omitted.append((f.path, "generated or vendored (ignore pattern)"))
        elif f.path not in diffs:
            result.omitted.append((f.path, "no textual diff"))
        else:
            candidates.append((priority(f.path), f.path))
    candidates.sort()
    remaining = budget_tokens
    parts: list[str] = []
    for index, (_, path) in enumerate(candidates):
        left = len(candidates) - index
        # A fair share of what is left, so one huge file cannot starve every other file.
        share = max(_MIN_FILE_TOKENS, remaining // left)
        if remaining < _MIN_FILE_TOKENS:
            result.omitted.append((path, "over the token budget"))
            continue
        text, clipped = clip_diff(diffs[path], min(share, remaining))
        tokens = estimate_tokens(text)
        if tokens > remaining:
            result.omitted.append((path, "over the token budget"))
            continue
        parts.append(text)
        remaining -= tokens
        result.included.append(path)
        if clipped:
            result.clipped.append(path)
    result.text = "".join(parts)
    result.tokens = budget_tokens - remaining
    return result
