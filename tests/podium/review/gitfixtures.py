"""Real git repositories built in temp folders for review tests (no git server: a bare
"origin" repository on disk plays the remote, reached by local path)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from podium.review.models import PushEvent

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    result = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


@dataclass
class WorkRepo:
    """A working clone that pushes to a bare `origin` on disk."""

    path: Path
    origin: Path

    def write(self, rel: str, content: str | bytes) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)

    def commit(self, message: str, *, allow_empty: bool = False) -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message, *(["--allow-empty"] if allow_empty else []))
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def push(self, branch: str, *, force: bool = False) -> None:
        args = ["push", "-q", "origin", f"HEAD:refs/heads/{branch}"]
        git(self.path, *(args + ["--force"] if force else args))

    def git(self, *args: str) -> str:
        return git(self.path, *args)


def empty_repo(root: Path, name: str) -> WorkRepo:
    """A bare origin `{name}-origin.git` under `root` and an empty working clone of it
    (`{name}-work`), its branch `main`."""
    origin = root / f"{name}-origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    work = root / f"{name}-work"
    git(root, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(origin))
    return WorkRepo(work, origin)


def make_repo(root: Path, name: str = "app") -> WorkRepo:
    """An origin with a `main` branch holding a small Python service, its tests and config."""
    repo = empty_repo(root, name)
    repo.write(
        "service/api.py",
        "TIMEOUT_S = 30\n\n\n"
        "def fetch(url):\n    return client.get(url, timeout=5)\n\n\n"
        "def parse(text):\n    return text.split()\n\n\n"
        "class Store:\n    def get(self, key):\n        return self.data[key]\n",
    )
    repo.write("service/helpers.py", "def slug(s):\n    return s.lower().replace(' ', '-')\n")
    repo.write(
        "tests/test_api.py", "def test_parse():\n    assert True\n\n\ndef test_old():\n    pass\n"
    )
    repo.write("config/app.yaml", "server:\n  port: 8080\n  workers: 2\n")
    repo.write("requirements.txt", "httpx==0.27.0\nrich>=13\n")
    repo.write("README.md", "# app\n")
    repo.write("docs/obsolete.md", "old notes\n")
    repo.commit("initial service")
    repo.push("main")
    return repo


def push_mixed_change(repo: WorkRepo) -> tuple[str, str]:
    """Push three commits to main touching every kind of change; returns (before, after)."""
    before = repo.head()
    repo.write(
        "service/api.py",
        "TIMEOUT_S = 60\n\n\n"
        "def fetch(url, retries=3):\n    return client.get(url, timeout=10)\n\n\n"
        "class Store:\n    def get(self, key):\n        return self.data.get(key)\n\n\n"
        "def login(user, password):\n    return check(user, password)\n",
    )
    repo.write("config/app.yaml", "server:\n  port: 9090\n  workers: 2\n  debug: true\n")
    repo.commit("api: longer timeout, retries, login")
    repo.git("mv", "service/helpers.py", "service/text_helpers.py")
    repo.write("assets/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    repo.git("rm", "-q", "docs/obsolete.md")
    repo.commit("move helpers, add logo, drop obsolete docs")
    repo.write("requirements.txt", "httpx==0.28.1\nboto3>=1.34\n")
    repo.write("tests/test_api.py", "def test_parse():\n    assert True\n")
    repo.commit("bump httpx, add boto3, drop rich and an old test")
    repo.push("main")
    return before, repo.head()


# Every change push_mixed_change makes, as a reviewer must see it named in a summary.
MIXED_CHANGE_MENTIONS = [
    "service/api.py",
    "service/helpers.py",
    "service/text_helpers.py",
    "renamed",
    "assets/logo.png",
    "binary",
    "docs/obsolete.md",
    "deleted",
    "config/app.yaml",
    "requirements.txt",
    "tests/test_api.py",
    "`login(user, password)`",
    "`parse`",
    "`fetch` signature `(url)` → `(url, retries=3)`",
    "`Store.get` body",
    "`test_old`",
    "`TIMEOUT_S` `30` → `60`",
    "`server.port` `8080` → `9090`",
    "`server.debug` added",
    "`client.get(timeout=)` in `fetch` `5` → `10`",
    "added `boto3>=1.34`",
    "`httpx` `==0.27.0` → `==0.28.1`",
    "removed `rich>=13`",
    "authentication or permission code changed",
    "tests removed",
]


def main_push(before: str, after: str, *, received_at: datetime, **fields: Any) -> PushEvent:
    """A push to `main` of the watched repository `app`, as the GitHub webhook gives it;
    `fields` set (or override) the other PushEvent fields."""
    return PushEvent(
        **{
            "repo": "app",
            "ref": "refs/heads/main",
            "before": before,
            "after": after,
            "source": "github",
            "received_at": received_at,
            **fields,
        }
    )
