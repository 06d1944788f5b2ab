"""Alt text for covers: what a screen reader says instead of the image.

A title card shows the talk's title and tags as text, so its alt text says exactly that. A
generated image shows a picture made from a prompt; its alt text names the talk and gives a
short description of what was asked for (the prompt's leading clauses, without the style
preset when it is known). Alt text stays short (at most `MAX_ALT` characters), as
screen-reader guidance asks.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_ALT = 250


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


def prompt_description(prompt: str, *, max_words: int = 16) -> str:
    """The subject of a prompt: its first comma-separated clauses, up to `max_words` words."""
    taken: list[str] = []
    count = 0
    for clause in (c.strip() for c in prompt.split(",")):
        words = clause.split()
        if not words:
            continue
        if taken and count + len(words) > max_words:
            break
        taken.append(" ".join(words[: max_words - count]))
        count += min(len(words), max_words - count)
        if count >= max_words:
            break
    return ", ".join(taken)


def cover_alt_text(
    *,
    title: str,
    tags: Sequence[str],
    backend: str,
    prompt: str = "",
    flagged: bool = False,
    style_text: str = "",
) -> str:
    """The alt text of a talk's cover.

    Args:
        title: the talk's title.
        tags: the tags on the cover (best first; at most three are named).
        backend: `card` (a title card) or `diffusers` (a generated image).
        prompt: the prompt of a generated image (also kept on a card that replaced a flagged
            image, which is still a card).
        flagged: the generated image was replaced by its card.
        style_text: the style preset that ends the prompt, left out of the description.
    """
    named = ", ".join(t for t in list(tags)[:3] if t)
    title = _clip(title, 120)
    if backend == "card" or flagged or not prompt:
        text = f"Title card for the talk “{title}”"
        if named:
            text += f", with the tags {named}"
        return _clip(text + ".", MAX_ALT)
    if style_text and prompt.endswith(style_text):
        prompt = prompt[: -len(style_text)].rstrip(", ")
    subject = prompt_description(prompt)
    text = (
        f"Illustration for the talk “{title}”: {subject}"
        if subject
        else (f"Illustration for the talk “{title}”")
    )
    if named:
        text += f". Tags: {named}"
    return _clip(text + ".", MAX_ALT)
