"""Hostile commit text on the approval page (issue 23): subjects, authors, the pusher and the
branch reach the page's Markdown only as inert code spans. Real: git repositories with hostile
commits, the structural summary and the pause description Podium builds from them, rendered by
a real CommonMark renderer (markdown-it-py, tables on) to check what a browser would get."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from podium.review.approval import pause_description
from podium.review.config import ReviewSettings
from podium.review.markdown import code, one_line
from podium.review.models import PushEvent
from podium.review.service import fetch_push_change, review_change
from tests.podium.review.gitfixtures import make_repo

EVIL = "evil.example"
SUBJECTS = [
    f"Fix login [click me](http://{EVIL}/phish) ![pixel](http://{EVIL}/p.png)",
    f"<img src=x onerror=alert(1)> <a href='http://{EVIL}'>x</a> https://{EVIL}/auto",
    f"``` `tick` ```` ](http://{EVIL}) [ref]: http://{EVIL}/ref",
]
AUTHOR = f"Mallory ![a](http://{EVIL}/a.png) [x](http://{EVIL})"
PUSHER = f"[boss](http://{EVIL}) <script>alert(1)</script> `x`"


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def _outside_code(html: str) -> str:
    return re.sub(r"<code>.*?</code>", "", html, flags=re.DOTALL)


def _assert_inert(markdown: str) -> None:
    html = _html(markdown)
    assert "<a " not in html and "<img" not in html and "<script" not in html
    assert EVIL not in _outside_code(html)


@pytest.mark.parametrize(
    "text",
    ["plain", "`", "``a``", "a ` b", " lead", "trail `", "line\nbreak\r\n# heading", "\u202egnp"],
)
def test_code_spans_render_the_text_literally(text: str) -> None:
    html = _html(f"x {code(text)} y")
    assert html.count("<code>") == 1 and "<h1>" not in html
    (inner,) = re.findall(r"<code>(.*?)</code>", html)
    assert unescape(inner) == one_line(text)  # exactly the text, on one line


def test_hostile_commits_are_inert_on_the_approval_page(tmp_path: Path) -> None:
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git")
    before = repo.head()
    for i, subject in enumerate(SUBJECTS):
        repo.write(f"service/hostile_{i}.py", f"X = {i}\n")
        repo.git("add", "-A")
        repo.git("commit", "-q", "-m", subject, f"--author={AUTHOR} <m@{EVIL}>")
    after = repo.head()
    repo.push("main")
    review = ReviewSettings(repos=[{"name": "app", "url": str(repo.origin)}])
    push = PushEvent(
        repo="app",
        ref="refs/heads/main",
        before=before,
        after=after,
        source="github",
        pusher=PUSHER,
        received_at=datetime.now(UTC),
    )
    git, change = fetch_push_change(review=review, home=tmp_path / "home", push=push)
    assert [c.subject for c in change.commits][::-1] == SUBJECTS  # git kept them as written
    reviewed = review_change(git, change, review=review, backend=None)
    summary = reviewed.summary.text
    _assert_inert(summary)
    # Still readable: each subject and the author are there, verbatim, inside code.
    html = _html(summary)
    assert "Fix login [click me]" in html and "Mallory ![a]" in html

    hostile_branch = push.model_copy(update={"ref": f"refs/heads/x-[y](http://{EVIL})"})
    description = pause_description(
        push=hostile_branch, report=reviewed.report, summary=reviewed.summary, artifact_key="k"
    )
    _assert_inert(description)
    assert "[boss]" in _html(description)
