"""Sender-supplied text (commit subjects, authors, the pusher, a branch) shown inertly in the
Markdown of the approval page, the notification and the review artifact.

Every such string goes into an inline code span: inside one, Markdown renders no link, image,
emphasis, heading, HTML or autolink, whatever the text holds. The span's fence is one backtick
longer than the longest run of backticks in the text, so the text cannot close it early; line
breaks and control characters become spaces, so it cannot start a new block either.
"""

from __future__ import annotations

import re
import unicodedata

_BACKTICKS = re.compile(r"`+")
MAX_CHARS = 300


def one_line(text: str, *, limit: int = MAX_CHARS) -> str:
    """`text` on one line: control characters (newlines, tabs, bidi overrides…) as spaces,
    at most `limit` characters (an ellipsis marks a cut)."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    ).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def code(text: str, *, limit: int = MAX_CHARS, empty: str = "—") -> str:
    """`text` as an inline code span that renders literally (see the module docstring);
    `empty` (plain) when there is nothing to show."""
    value = one_line(text, limit=limit)
    if not value:
        return empty
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space on each side of a span's content; pad when the text itself
    # starts or ends with a backtick (or the fence would merge with it).
    pad = " " if value[0] in "` " or value[-1] in "` " else ""
    return f"{fence}{pad}{value}{pad}{fence}"
