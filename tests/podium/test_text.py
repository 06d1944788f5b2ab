"""podium.text: markup stripping, truncation and talk text. All real; nothing faked."""

from __future__ import annotations

from podium.text import approx_tokens, strip_markup, talk_text, truncate


def test_strips_restructuredtext() -> None:
    text = (
        "Overview\n========\n\nSee `the docs <https://example.org/docs>`_ and :func:`sorted`.\n\n"
        ".. code-block:: python\n   :linenos:\n\nUse ``pip install x``.\n"
    )
    plain = strip_markup(text)
    assert "the docs" in plain and "sorted" in plain and "pip install x" in plain
    for residue in ("====", "https://", "code-block", ":func:", "``", "`_", ":linenos:"):
        assert residue not in plain


def test_strips_markdown_and_html() -> None:
    text = (
        "# Title\n\n**Bold** and _it_ with [a link](http://x.io) and ![img](a.png)\n\n"
        "<p>Hello&nbsp;<b>world</b> &amp; friends</p><script>alert(1)</script>"
    )
    plain = strip_markup(text)
    assert "Bold" in plain and "a link" in plain and "Hello" in plain and "world & friends" in plain
    for residue in ("#", "**", "](", "<p>", "<b>", "&amp;", "alert", "http"):
        assert residue not in plain


def test_keeps_any_script() -> None:
    assert strip_markup("<p>Привет, мир — 深層学習 — مرحبا</p>") == "Привет, мир — 深層学習 — مرحبا"


def test_truncate_prefers_sentence_boundaries() -> None:
    text = "One two three. Four five six seven eight. Nine ten eleven twelve thirteen fourteen."
    cut = truncate(text, 12)
    assert cut == "One two three. Four five six seven eight."
    assert approx_tokens(cut) <= 12


def test_truncate_cuts_long_first_sentence_at_a_word_and_cjk_by_characters() -> None:
    words = " ".join(f"w{i}" for i in range(100))
    cut = truncate(words, 10)
    assert cut and words.startswith(cut) and approx_tokens(cut) <= 10
    cjk = "深" * 500
    assert 0 < len(truncate(cjk, 20)) <= 20
    assert truncate("anything", 0) == ""


def test_talk_text_always_keeps_the_title_and_respects_the_budget() -> None:
    description = " ".join(["Lots of words here."] * 400)
    text = talk_text("Async Python in practice", description, max_tokens=64)
    assert text.startswith("Async Python in practice.")
    assert approx_tokens(text) <= 64
    # A budget smaller than the title still yields the title (cut), never nothing.
    assert talk_text("A very long title " * 30, description, max_tokens=8)


def test_talk_text_falls_back_to_title_and_speaker_tags() -> None:
    assert talk_text("Testing with pytest", "", tags=["pytest", "tdd"]) == (
        "Testing with pytest. Tags: pytest, tdd."
    )
    assert talk_text("Hello", "   ") == "Hello."


def _strip_every_pass(text: str) -> str:
    # strip_markup as it was written first: every pattern on every text, no substring guards.
    import html

    from podium import text as t

    if not text:
        return ""
    out = text.replace("\r\n", "\n").replace("\r", "\n")
    out = t._HTML_COMMENT.sub(" ", out)
    out = t._HTML_BLOCK.sub(" ", out)
    out = t._HTML_BREAK.sub("\n", out)
    out = t._HTML_TAG.sub(" ", out)
    out = html.unescape(out)
    for pattern, replacement in (
        (t._MD_IMAGE, r"\1"),
        (t._MD_LINK, r"\1"),
        (t._MD_REF_DEF, ""),
        (t._RST_LINK, r"\1"),
        (t._RST_ROLE, r"\1"),
        (t._RST_LITERAL, r"\1"),
        (t._RST_ANON_LINK, r"\1"),
        (t._RST_DIRECTIVE, ""),
        (t._RST_OPTION, ""),
        (t._RST_COMMENT, ""),
        (t._RST_UNDERLINE, ""),
        (t._RST_SUBST, r"\1"),
        (t._MD_FENCE, ""),
        (t._MD_HEADING, ""),
        (t._MD_QUOTE, ""),
        (t._MD_BULLET, ""),
        (t._MD_EMPHASIS, r"\2"),
        (t._MD_CODE, r"\1"),
        (t._URL, " "),
    ):
        out = pattern.sub(replacement, out)
    return t.normalise_space(out)


# Markup characters, words, scripts and line breaks, so every pattern (and its guard) is hit.
_PIECES = [
    *"<>![]()`:|#*_~-+=.&;/\n\r \t",
    "<!-- c -->",
    "<script>x</script>",
    "<br>",
    "<b>",
    "&amp;",
    "&lt;",
    "![i](a.png)",
    "[a](http://x.io)",
    "[r]: http://x",
    "`a <http://b>`_",
    ":func:`f`",
    "``lit``",
    "`anon`_",
    ".. note::",
    "   :opt: v",
    ".. _t: x",
    "====",
    "|sub|",
    "```py",
    "~~~",
    "## h",
    "> q",
    "- item",
    "1. item",
    "**b**",
    "__u__",
    "`code`",
    "https://e.org/p",
    "WWW.x.org",
    "www.y",
    "ftp://f",
    "word",
    "Jupyter",
    "日本語",
    "한국어",
    "ſ",
    "K",
]


def test_guarded_strip_markup_equals_every_pass_on_random_markup() -> None:
    import random

    rng = random.Random(16)
    for _ in range(3000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40)))
        assert strip_markup(text) == _strip_every_pass(text), repr(text)


def test_approx_tokens_counts_cjk_like_the_character_loop() -> None:
    import random

    rng = random.Random(7)
    alphabet = ["a", " ", "\u2fff", "\u3000", "語", "\u9fff", "\ua000", "\uac00", "\ud7af", "é"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
        assert approx_tokens(text) == int(len(text.split()) * 1.3) + cjk + 1
