"""Prompts for text-to-image models, built from a talk's title, description and tags.

A diffusion model draws what it reads: URLs, code, e-mail addresses and markup come out as
garbled pseudo-text, so they are removed. Its text encoder reads a fixed number of tokens
(77 for CLIP) and silently drops the rest, so the prompt is built to a token budget, most
important part first, and the style preset is reserved room before anything else.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from podium.images.base import cover_tags
from podium.models import Talk

TokenCounter = Callable[[str], int]

# (positive suffix, negative additions) per preset.
STYLE_PRESETS: dict[str, tuple[str, str]] = {
    "editorial": (
        "flat editorial illustration, bold shapes, limited colour palette, clean composition",
        "photo, photorealistic, cluttered",
    ),
    "isometric": (
        "isometric 3d illustration, soft lighting, pastel colours, clean background",
        "photo, flat, cluttered",
    ),
    "abstract": (
        "abstract geometric art, gradients, vibrant colours, minimal",
        "photo, people, faces",
    ),
    "photographic": (
        "professional photograph, natural light, shallow depth of field, high detail",
        "illustration, cartoon, drawing",
    ),
    "none": ("", ""),
}
# Always avoided: models render requested text as gibberish, and covers carry no text.
BASE_NEGATIVE = (
    "text, letters, words, caption, watermark, logo, signature, blurry, lowres, "
    "deformed, disfigured, nsfw"
)

# What `clean_text` removes, in order. Before entities are decoded: code blocks and HTML (an
# escaped "&lt;b&gt;" in prose is text, not a tag).
_BLOCKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(```|~~~).*?(\1|$)", re.DOTALL), " "),  # fenced code
    (re.compile(r"(?ms)^\.\.\s+(?:code-block|code|sourcecode)::.*?(?=^\S|\Z)"), " "),
    (re.compile(r"<(script|style|pre|code)\b[^>]*>.*?</\1\s*>", re.I | re.DOTALL), " "),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->", re.DOTALL), " "),
)
# After: indented code, then links (their text kept), roles, inline code, addresses, handles,
# code-looking tokens (calls, attribute chains, operators, snake_case/paths, hex) and markup.
_INLINE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?m)^(?: {4}|\t).*$"), " "),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), " "),  # Markdown image
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # Markdown link
    (re.compile(r"`([^`<]+?)\s*<[^>]+>`_{1,2}"), r"\1"),  # reST link
    (re.compile(r":[A-Za-z][\w:+.-]*:`[^`]*`"), " "),  # reST role
    (re.compile(r"(?m)^\s*\.\.\s+.*$"), " "),  # reST directive
    (re.compile(r"``[^`]*``|`[^`\n]*`"), " "),  # inline code
    (re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+", re.IGNORECASE), " "),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), " "),  # e-mail
    (re.compile(r"(?<!\w)@\w+"), " "),  # handle
    (
        re.compile(
            r"\S*(?:\(\)|\w\(|\)\S|[{}\[\];<>=]|::|->|=>|\w\.\w+\.\w|/\w+/|\\\w)\S*"
            r"|\b\w+_\w+\b|\b0x[0-9a-f]+\b",
            re.IGNORECASE,
        ),
        " ",
    ),
    (re.compile(r"[*_#>|~^]+"), " "),  # markup characters
)
_SPACES = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


def clean_text(text: str) -> str:
    """Text a model can illustrate: no markup, code, URLs, e-mail addresses or handles.

    Link texts are kept (they are words); link targets, code blocks and inline code are
    dropped (code is drawn as glyph soup). Works on Markdown, reStructuredText and HTML.

    Args:
        text: a title or description, possibly marked up.

    Returns:
        Plain text on one line.
    """
    if not text:
        return ""
    out = text.replace("\r\n", "\n")
    for pattern, replacement in _BLOCKS:
        out = pattern.sub(replacement, out)
    out = html.unescape(out)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    out = _SPACES.sub(" ", out).strip()
    # Punctuation orphaned by removals (" , ," or "( )") reads as noise.
    out = re.sub(r"\(\s*\)|\[\s*\]", " ", out)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)
    out = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", out)
    return _SPACES.sub(" ", out).strip(" ,;:-")


def word_count_tokens(text: str) -> int:
    """A conservative token estimate when no tokenizer is at hand (~1.3 BPE tokens a word)."""
    return round(len(text.split()) * 1.3) + text.count(",")


@dataclass(frozen=True)
class Prompt:
    """A positive and a negative prompt."""

    prompt: str
    negative_prompt: str


def _first_sentence(text: str, *, max_words: int) -> str:
    sentence = _SENTENCE.split(text, maxsplit=1)[0] if text else ""
    words = sentence.split()
    return " ".join(words[:max_words]).rstrip(",.;:")


_DANGLING = re.compile(
    r"(?:[\s,;:(\-–—]+(?:at|on|in|with|and|or|see|via|from|to|for|of|by))+[\s,;:.!?]*$",
    re.IGNORECASE,
)


def _trim_dangling(text: str) -> str:
    # Removing a URL or code often strands the word that introduced it ("slides at").
    return _DANGLING.sub("", text).strip(" ,;:-")


def _fit_words(text: str, budget: int, count: TokenCounter) -> str:
    """Longest word prefix of `text` within `budget` tokens; a first word that alone is too
    long (a CJK title has no spaces) is cut by characters."""

    def longest(pieces: list[str], sep: str) -> int:
        lo, hi = 0, len(pieces)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(sep.join(pieces[:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return lo

    words = text.split()
    if not words or budget <= 0:
        return ""
    n = longest(words, " ")
    if n:
        return " ".join(words[:n]).rstrip(",;:")
    if not any(_unspaced(char) for char in words[0]):
        return ""  # half a Latin word is noise to the model
    return words[0][: longest(list(words[0]), "")]


def _unspaced(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER"))


def build_prompt(
    talk: Talk,
    *,
    tags: dict[str, list[str]],
    style: str = "editorial",
    max_tokens: int = 75,
    count_tokens: TokenCounter = word_count_tokens,
    extra_negative: str = "",
) -> Prompt:
    """A concise visual prompt for a talk's cover, within the text encoder's budget.

    Parts, most important first: the cleaned title, the top tags, the first sentence of the
    description; the style preset ends the prompt. The description goes first, then tags;
    if title and style still do not fit, the title is cut to at least half the budget (at a
    word, or a character for unspaced scripts) and the style gets the rest.

    Args:
        talk: the talk.
        tags: talk_id -> tags from tagging, best first.
        style: a key of `STYLE_PRESETS`.
        max_tokens: budget in tokens, special tokens excluded.
        count_tokens: counts tokens as the pipeline's tokenizer does.
        extra_negative: appended to the negative prompt.

    Returns:
        The prompt pair.
    """
    if style not in STYLE_PRESETS:
        raise ValueError(f"unknown style preset {style!r}; one of {sorted(STYLE_PRESETS)}")
    style_text, style_negative = STYLE_PRESETS[style]
    title = _trim_dangling(clean_text(talk.title)) or "a technical talk"
    topics = [clean_text(t) for t in cover_tags(talk, tags, limit=4)]
    topics = [t for t in topics if t]
    context = _trim_dangling(_first_sentence(clean_text(talk.description), max_words=24))

    def joined(parts: list[str]) -> str:
        return ", ".join(p for p in parts if p)

    def fits(parts: list[str]) -> bool:
        return count_tokens(joined(parts)) <= max_tokens

    parts = [title, *topics, context]
    # Drop the least important parts until it fits: description, then tags from the last.
    while len(parts) > 1 and not fits([*parts, style_text]):
        parts.pop()
    subject = parts[0]
    if not fits([*parts, style_text]):
        # The title keeps at least half of the budget; the style gets what is left.
        style_cost = count_tokens(style_text) + 1 if style_text else 0
        room = max(max_tokens - style_cost, max_tokens // 2, 1)
        parts = [_fit_words(subject, room, count_tokens)]
        style_room = max_tokens - count_tokens(parts[0]) - 1
        style_text = _fit_words(style_text, style_room, count_tokens) if style_text else ""
    prompt = joined([*parts, style_text])
    if count_tokens(prompt) > max_tokens:  # separators counted differently by some tokenizers
        prompt = _fit_words(prompt, max_tokens, count_tokens).rstrip(",")
    negative = ", ".join(p for p in (BASE_NEGATIVE, style_negative, extra_negative.strip()) if p)
    if count_tokens(negative) > max_tokens:  # the encoder would silently drop the tail
        negative = _fit_words(negative, max_tokens, count_tokens)
    return Prompt(prompt=prompt, negative_prompt=negative)


def tokenizer_counter(tokenizer: object) -> tuple[TokenCounter, int]:
    """A token counter and budget from a Hugging Face tokenizer (e.g. a pipeline's CLIP one).

    Returns:
        (count, budget): count excludes special tokens; budget is the model's limit minus
        the begin/end tokens the tokenizer adds.
    """

    def count(text: str) -> int:
        # tokenize() counts without the "sequence too long" warning encode() would log.
        return len(tokenizer.tokenize(text))  # type: ignore[attr-defined]

    limit = int(getattr(tokenizer, "model_max_length", 77) or 77)
    if limit > 100_000:  # "no limit" sentinel of tokenizers without one
        limit = 77
    return count, limit - 2
