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
