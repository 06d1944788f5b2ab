"""`podium review summarize` on a real local git repository (its work tree, no clone, no
Prefect), through typer's CliRunner. Nothing is faked. approve/reject are exercised against a
real Prefect server in tests/flows/test_review_push.py."""

from __future__ import annotations

from typer.testing import CliRunner

from podium.review.cli import app
from podium.review.models import ZERO_SHA
from tests.podium.review.gitfixtures import MIXED_CHANGE_MENTIONS, WorkRepo, push_mixed_change


def test_summarize_prints_the_structural_summary(repo: WorkRepo, settings) -> None:
    before, after = push_mixed_change(repo)
    result = CliRunner().invoke(
        app, ["summarize", str(repo.path), "--before", before[:8], "--after", "HEAD"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"## Review of `app-work` main: `{before[:12]}` → `{after[:12]}`"
    )
    assert all(m in result.output for m in MIXED_CHANGE_MENTIONS)


def test_summarize_new_branch_and_one_line_errors(repo: WorkRepo, settings, tmp_path) -> None:
    repo.git("checkout", "-q", "-b", "topic")
    repo.write("service/topic.py", "def topic():\n    return 1\n")
    repo.commit("topic")
    runner = CliRunner()
    result = runner.invoke(
        app, ["summarize", str(repo.path), "--before", ZERO_SHA, "--after", "HEAD"]
    )
    assert result.exit_code == 0, result.output
    assert "new branch: merge base with main" in result.output
    assert "`service/topic.py` added" in result.output and "README.md" not in result.output
    missing = runner.invoke(
        app, ["summarize", str(repo.path), "--before", "HEAD", "--after", "deadbeef"]
    )
    assert missing.exit_code == 1
    assert missing.output.startswith("error: git rev-parse --verify failed:")
    assert missing.output.count("\n") == 1
    nowhere = runner.invoke(
        app, ["summarize", str(tmp_path / "nope"), "--before", "a", "--after", "b"]
    )
    assert nowhere.exit_code == 1 and "does not exist" in nowhere.output
