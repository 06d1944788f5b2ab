"""The structural analysis: pure functions on source text, and whole summaries of pushes to
real git repositories in temp folders. Nothing is faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.review.gitrepo import compute_change, sync_repository
from podium.review.structural import (
    analyse,
    classify,
    config_values,
    dependencies,
    diff_values,
    python_delta,
    python_settings,
)
from tests.podium.review.gitfixtures import MIXED_CHANGE_MENTIONS, WorkRepo, push_mixed_change


def _report(repo: WorkRepo, tmp_path: Path, before: str, after: str, **kwargs):
    git = sync_repository(name="app", url=str(repo.origin), cache_dir=tmp_path / "cache")
    change = compute_change(git, repo="app", ref="refs/heads/main", before=before, after=after)
    return analyse(
        change, read_blob=git.blob, diffs=git.diff_text(change.base, change.after), **kwargs
    )


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("src/app/service.py", "code"),
        ("tests/test_service.py", "tests"),
        ("src/app/service_test.go", "tests"),
        ("web/button.spec.ts", "tests"),
        ("config/settings.yaml", "config"),
        (".env.production", "config"),
        ("infra/k8s/deploy.yaml", "infrastructure"),
        ("Dockerfile", "infrastructure"),
        (".github/workflows/ci.yml", "infrastructure"),
        ("main.tf", "infrastructure"),
        ("requirements-dev.txt", "dependencies"),
        ("pyproject.toml", "dependencies"),
        ("web/package-lock.json", "dependencies"),
        ("README.md", "docs"),
        ("docs/guide/index.html", "docs"),
        ("assets/logo.png", "other"),
    ],
)
def test_classify(path: str, kind: str) -> None:
    assert classify(path) == kind


def test_python_delta_names_added_removed_and_changed_definitions() -> None:
    old = "def a(x):\n    return x\n\nclass K(Base):\n    def m(self):\n        return 1\n"
    new = (
        "def a(x, y=2):\n    return x\n\nclass K(Other):\n    def m(self):\n        return 2\n"
        "\n    async def n(self) -> int:\n        return 3\n"
    )
    delta = python_delta(old, new)
    assert delta.added == ["async method `K.n(self) -> int`"]
    assert delta.removed == []
    assert "function `a` signature `(x)` → `(x, y=2)`" in delta.changed
    assert "class `K` bases `(Base)` → `(Other)`" in delta.changed
    assert "method `K.m` body" in delta.changed
    assert python_delta(old, None).removed == ["class `K`", "method `K.m`", "function `a`"]
    broken = python_delta(old, "def oops(:\n")
    assert broken.error and "line 1" in broken.error


def test_python_settings_are_module_and_class_assignments() -> None:
    source = (
        "RETRIES = 3\nNAME: str = 'x'\nMODE = Mode.FAST\n"
        "class Cfg:\n    timeout_s: int = Field(default=30, gt=0)\n    level = 2\n"
    )
    values = python_settings(source)
    assert values["RETRIES"] == (1, "3") and values["NAME"] == (2, "'x'")
    assert values["MODE"] == (3, "Mode.FAST") and values["Cfg.level"] == (6, "2")
    assert "Cfg.timeout_s" not in values  # a call: compared argument by argument


def test_config_and_dependency_parsing_and_secret_redaction() -> None:
    before = config_values("app.toml", b"[db]\nhost = 'a'\npassword = 'old-pass'\n")
    after = config_values("app.toml", b"[db]\nhost = 'b'\npassword = 'new-pass'\n")
    assert before and after
    rendered = [c.render() for c in diff_values("app.toml", before, after)]
    assert "`app.toml` `db.host`: 'a' → 'b'" in rendered
    assert "`app.toml` `db.password`: «redacted» → «redacted»" in rendered
    assert not any("pass'" in r for r in rendered)
    deps = dependencies(
        "pyproject.toml",
        b"[project]\ndependencies = ['fastapi>=0.1,<1', 'Py_Yaml>=6']\n"
        b"[project.optional-dependencies]\ndev = ['pytest>=8']\n",
    )
    assert deps == {"fastapi": ">=0.1,<1", "py-yaml": ">=6", "[dev] pytest": ">=8"}
    assert dependencies("package.json", b'{"dependencies": {"react": "^18"}}') == {"react": "^18"}
    assert dependencies("poetry.lock", b"") is None  # lock files: named, not parsed


def test_summary_names_every_change_of_a_mixed_push(repo: WorkRepo, tmp_path: Path) -> None:
    before, after = push_mixed_change(repo)
    report = _report(repo, tmp_path, before, after)
    summary = report.to_markdown()
    missing = [m for m in MIXED_CHANGE_MENTIONS if m not in summary]
    assert not missing, f"summary lacks {missing}:\n{summary}"
    assert "3 commits" in summary and "bump httpx" in summary


def test_risk_flags_secrets_untested_code_and_size(repo: WorkRepo, tmp_path: Path) -> None:
    before = repo.head()
    token = "ghp_" + "a1B2c3D4" * 5
    repo.write("service/client.py", f'GITHUB = "{token}"\nAWS = "AKIAABCDEFGHIJKLMNOP"\n')
    repo.write("service/big.py", "".join(f"V{i} = {i}\n" for i in range(300)))
    after = repo.commit("client with keys")
    repo.push("main")
    report = _report(repo, tmp_path, before, after, large_change_lines=200)
    summary = report.to_markdown()
    assert "secret-like strings added: `service/client.py` line 1 (GitHub token)" in summary
    assert "`service/client.py` line 2 (AWS access key id)" in summary
    assert token not in summary and "AKIAABCDEFGHIJKLMNOP" not in summary
    assert "code changed in 2 files with no test changed" in summary
    assert "very large change: 2 files, 302 lines" in summary
