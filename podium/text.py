"""Text handling shared by the models: strip markup, truncate on a budget, compose talk text.

Small, general functions with no model or I/O dependencies: tagging, image prompts and
recommendations all read talk text through here. Any language and script is accepted; nothing
here assumes ASCII or English.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

# ---- markup ---------------------------------------------------------------------------------

_HTML_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|p|li|div)\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_MD_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(?=\S)(.+?)(?<=\S)\1")
_MD_CODE = re.compile(r"`{1,2}([^`\n]+)`{1,2}(?!_)")
_MD_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_MD_QUOTE = re.compile(r"^\s*>+\s?", re.MULTILINE)
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_{1,2}")
_RST_ANON_LINK = re.compile(r"`([^`]+)`_{1,2}")
_RST_ROLE = re.compile(r":[A-Za-z][\w:+.-]*:`([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")
_RST_DIRECTIVE = re.compile(r"^\s*\.\.\s+[\w:-]+::.*$", re.MULTILINE)
_RST_COMMENT = re.compile(r"^\s*\.\.\s+(_[^:]+:.*|\|[^|]+\|.*|\[[^\]]+\].*)?$", re.MULTILINE)
_RST_OPTION = re.compile(r"^\s+:[\w-]+:.*$", re.MULTILINE)
_RST_UNDERLINE = re.compile(r"^\s*([=\-~^\"'`#*+<>:.])\1{2,}\s*$", re.MULTILINE)
_RST_SUBST = re.compile(r"\|([^|\n]+)\|")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

# The passes of `strip_markup` after HTML, in order: (pattern, replacement, substrings of
# which the text must hold one for the pattern to match at all; () runs it always).
_MARKUP_PASSES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (_MD_IMAGE, r"\1", ("![",)),
    (_MD_LINK, r"\1", ("](",)),
    (_MD_REF_DEF, "", ("]:",)),
    (_RST_LINK, r"\1", ("`",)),
    (_RST_ROLE, r"\1", ("`",)),
    (_RST_LITERAL, r"\1", ("`",)),
    (_RST_ANON_LINK, r"\1", ("`",)),
    (_RST_DIRECTIVE, "", ("..",)),
    (_RST_OPTION, "", (":",)),
    (_RST_COMMENT, "", ("..",)),
    (_RST_UNDERLINE, "", ()),
    (_RST_SUBST, r"\1", ("|",)),
    (_MD_FENCE, "", ("```", "~~~")),
    (_MD_HEADING, "", ("#",)),
    (_MD_QUOTE, "", (">",)),
    (_MD_BULLET, "", ()),
    (_MD_EMPHASIS, r"\2", ("*", "__")),
    (_MD_CODE, r"\1", ("`",)),
)


def strip_markup(text: str) -> str:
    """Plain text from reStructuredText, Markdown or HTML (or a mix of them).

    Link texts are kept and their targets dropped; bare URLs, directives, heading underlines,
    emphasis markers and HTML tags and entities are removed. Paragraph breaks survive as a
    single blank line.

    Args:
        text: the marked-up text.

    Returns:
        The plain text, whitespace collapsed.
    """
    if not text:
        return ""
    out = text.replace("\r\n", "\n").replace("\r", "\n")
    # Each pattern is tried only when the text holds a character it cannot match without
    # (a substring test is ~100x cheaper than a regex pass): the same output, and plain
    # text, most of a directory, skips nearly every pass.
    if "<" in out:
        out = _HTML_COMMENT.sub(" ", out)
        out = _HTML_BLOCK.sub(" ", out)
        out = _HTML_BREAK.sub("\n", out)
        out = _HTML_TAG.sub(" ", out)
    out = html.unescape(out)
    for pattern, replacement, needs in _MARKUP_PASSES:
        if not needs or any(n in out for n in needs):
            out = pattern.sub(replacement, out)
    if "://" in out or "www." in out.lower():
        out = _URL.sub(" ", out)
    return normalise_space(out)


def normalise_space(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks as one blank line, trim each line."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    joined = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", joined).strip()


# ---- truncation -----------------------------------------------------------------------------

# Sentence ends in Latin, CJK, Devanagari and Arabic scripts.
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\u0964\u061f])\s+|\n+")


_CJK = re.compile("[\u3000-\u9fff\uac00-\ud7af]")


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate of subword tokens: ~1.3 per word, one per CJK character.

    Used to budget text before tokenizing; the model's tokenizer still truncates exactly.
    """
    # Called for every candidate cut of every talk: ASCII text has no CJK to count.
    cjk = 0 if text.isascii() else len(_CJK.findall(text))
    words = len(text.split())
    return int(words * 1.3) + cjk + 1


def truncate(text: str, max_tokens: int, *, count: Callable[[str], int] = approx_tokens) -> str:
    """Cut text to a token budget at a sentence boundary where one fits, else at a word.

    Args:
        text: plain text.
        max_tokens: the budget.
        count: token counter; an estimate by default, a tokenizer's length for exactness.

    Returns:
        The longest prefix within budget that ends at a sentence end (or, when even the first
        sentence is too long, at a word boundary). Empty when the budget is below one token.
    """
    if max_tokens <= 0 or not text:
        return ""
    if count(text) <= max_tokens:
        return text
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if not sentence:
            continue
        candidate = " ".join([*kept, sentence])
        if count(candidate) > max_tokens:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    # The first sentence alone is over budget: cut it at a word.
    words = text.split()
    low, high = 0, len(words)
    while low < high:  # largest word count within budget
        mid = (low + high + 1) // 2
        if count(" ".join(words[:mid])) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    if low == 0:  # one unbroken run (e.g. CJK without spaces): cut by characters
        chars = max(1, int(len(text) * max_tokens / max(count(text), 1)))
        return text[:chars]
    return " ".join(words[:low])


# ---- composing a talk's text -----------------------------------------------------------------


def talk_text(
    title: str,
    description: str = "",
    *,
    tags: Iterable[str] = (),
    max_tokens: int = 256,
    count: Callable[[str], int] = approx_tokens,
) -> str:
    """The text a model reads for a talk: title first, then the cleaned description.

    The title is always included (it carries the most signal per token); the description is
    stripped of markup and truncated at a sentence boundary to fill what is left of the budget.
    The speaker's tags are appended when given, and they are all that follows the title when
    the description is empty.

    Args:
        title: the talk's title.
        description: its description, in any markup.
        tags: the speaker's own tags.
        max_tokens: budget for the whole text (the model's limit, minus special tokens).
        count: token counter (estimate by default).

    Returns:
        One string: "title. description. Tags: a, b."
    """
    head = normalise_space(strip_markup(title)).replace("\n", " ")
    tag_list = [t for t in dict.fromkeys(t.strip() for t in tags) if t]
    tail = f"Tags: {', '.join(tag_list)}." if tag_list else ""
    head = truncate(head, max_tokens, count=count) or head[:200]
    if head and head[-1] not in ".!?:;\u3002\uff01\uff1f":
        head += "."
    budget = max_tokens - count(head) - (count(tail) if tail else 0)
    body = " ".join(truncate(strip_markup(description), budget, count=count).split())
    return " ".join(part for part in (head, body, tail) if part)
