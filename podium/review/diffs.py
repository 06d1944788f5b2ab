"""Unified diffs of a push, parsed by `unidiff`: split per file, and the lines each one adds.

git's output is parsed by a maintained parser instead of by hand: a hunk's line counts decide
where it ends, so an added line that itself starts with `++` or `--`, or git's
`\\ No newline at end of file`, is read for what it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from unidiff import PatchedFile, PatchSet
from unidiff.errors import UnidiffParseError


def _files(diff: str) -> list[PatchedFile]:
    try:
        return list(PatchSet(diff))
    except UnidiffParseError:
        return []


def split_by_file(diff: str) -> dict[str, str]:
    """The text of each file's part of a `git diff`, by its path after the change (its old
    path when deleted); binaries keep git's one-line note."""
    return {patched.path: str(patched) for patched in _files(diff)}


def added_lines(diff: str) -> Iterator[tuple[int, str]]:
    """(line number in the new file, text) of every line the diff adds."""
    for patched in _files(diff):
        for hunk in patched:
            for line in hunk:
                if line.is_added:
                    yield line.target_line_no, line.value.rstrip("\n")
