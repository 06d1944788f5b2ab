"""Prompt building: pure functions, with a real (tiny, written-on-the-spot) CLIP tokenizer for
the token budget; nothing is faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.images.prompts import (
    BASE_NEGATIVE,
    STYLE_PRESETS,
    build_prompt,
    clean_text,
    tokenizer_counter,
    word_count_tokens,
)
from podium.images.testing import tiny_tokenizer
from podium.models import Talk


@pytest.mark.parametrize(
    ("raw", "gone", "kept"),
    [
        (
            "Slides at https://example.com/x?y=1 and www.pyvideo.org/talk",
            ["http", "www", "example"],
            ["Slides"],
        ),
        ("Mail ada@example.org or ping @ada_l", ["@", "example.org", "ada_l"], ["Mail"]),
        ("Use `pd.read_csv()` and ``np.array``", ["read_csv", "np.array", "`"], ["Use"]),
        (":func:`os.path.join` helps", ["os.path", ":func:"], ["helps"]),
        (
            "Intro\n\n```python\nimport os\nprint(os.environ)\n```\nOutro",
            ["import", "print", "environ"],
            ["Intro", "Outro"],
        ),
        ("Example::\n\n    def f(x):\n        return x + 1\n\nDone", ["def", "return"], ["Done"]),
        (
            "<p>Hello <b>async</b> &amp; <script>alert(1)</script>world</p>",
            ["<", "alert", "&amp;"],
            ["Hello async & world"],
        ),
        (
            "See [the docs](https://docs.python.org) and ![img](a.png)",
            ["https", "img", "a.png", "]("],
            ["the docs"],
        ),
        ("**Bold** _claims_ in # headings", ["*", "#"], ["Bold", "claims", "headings"]),
        (
            "`Link text <https://x.org>`_ about Django 4.2.1",
            ["https", "4.2.1"],
            ["Link text", "Django"],
        ),
        ("self.foo.bar() and my_var = 3; x->y", ["self.foo", "my_var", "->", "="], []),
    ],
)
def test_clean_text_removes_what_models_draw_as_garbage(
    raw: str, gone: list[str], kept: list[str]
) -> None:
    cleaned = clean_text(raw)
    for fragment in gone:
        assert fragment not in cleaned, (fragment, cleaned)
    for fragment in kept:
        assert fragment in cleaned, (fragment, cleaned)
    assert "\n" not in cleaned and "  " not in cleaned


def test_clean_text_keeps_non_latin_text() -> None:
    assert clean_text("機械学習パイプライン https://x.jp") == "機械学習パイプライン"
    assert clean_text("تعلم الآلة") == "تعلم الآلة"
    assert clean_text("") == ""


def test_prompt_has_title_tags_description_and_style() -> None:
    talk = Talk(
        talk_id="t",
        title="Scaling **Prefect** flows: `flow.serve()` at https://prefect.io",
        description="We orchestrate thousands of tasks. Nobody reads this sentence.",
        tags=["python"],
    )
    prompt = build_prompt(talk, tags={"t": ["workflow"]}, style="isometric")
    assert prompt.prompt.startswith("Scaling Prefect flows")
    assert "workflow, python" in prompt.prompt  # enrichment's tags first, then the speaker's
    assert "orchestrate thousands of tasks" in prompt.prompt
    assert "Nobody" not in prompt.prompt
    assert prompt.prompt.endswith(STYLE_PRESETS["isometric"][0])
    assert (
        "https" not in prompt.prompt
        and "serve" not in prompt.prompt
        and " at," not in prompt.prompt
    )
    assert prompt.negative_prompt.startswith(BASE_NEGATIVE)
    assert STYLE_PRESETS["isometric"][1] in prompt.negative_prompt


def test_prompt_options() -> None:
    talk = Talk(talk_id="t", title="Plain")
    none = build_prompt(talk, tags={}, style="none", extra_negative="cats")
    assert none.prompt == "Plain" and none.negative_prompt.endswith("cats")
    assert build_prompt(Talk(talk_id="u", title="https://x.org"), tags={}, style="none").prompt
    with pytest.raises(ValueError, match="style"):
        build_prompt(talk, tags={}, style="baroque")


@pytest.mark.parametrize("budget", [9, 16, 30, 75])
def test_prompt_fits_the_tokenizer_budget(tmp_path: Path, budget: int) -> None:
    count, limit = tokenizer_counter(tiny_tokenizer(tmp_path))
    assert limit == 75  # 77 minus begin/end tokens
    talk = Talk(
        talk_id="t",
        title="Async Python data testing in the cloud at web scale " * 4,
        description="A very long description. " * 50,
        tags=[f"topic{i}" for i in range(10)],
    )
    prompt = build_prompt(talk, tags={}, max_tokens=budget, count_tokens=count)
    assert 0 < count(prompt.prompt) <= budget
    assert 0 < count(prompt.negative_prompt) <= budget
    assert prompt.prompt.startswith("Async Python")
    assert not prompt.prompt.endswith(",")
    if budget == 75:
        assert "flat editorial illustration" in prompt.prompt


def test_unspaced_titles_are_cut_by_character() -> None:
    talk = Talk(talk_id="j", title="機械学習パイプラインの設計と運用", language="ja")
    prompt = build_prompt(talk, tags={}, style="none", max_tokens=10, count_tokens=len)
    assert prompt.prompt == "機械学習パイプライン"


def test_word_count_estimate_is_monotonic() -> None:
    assert word_count_tokens("") == 0
    assert word_count_tokens("a b") < word_count_tokens("a b c d, e")
