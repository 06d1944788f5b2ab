"""Write a real-commit corpus file (tests/podium/review/corpus_real/<id>.yaml) from a local
mirror of a public repository: the commit's changed files before and after it, with `facts`
and `risks` left empty, to be written by hand from the diff before the summariser is run.

    python tests/podium/review/make_real_case.py GIT_DIR OWNER/NAME COMMIT KIND SPLIT [PATH...]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).with_name("corpus_real")


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
    ).stdout


def _blob(git_dir: str, commit: str, path: str) -> str | None:
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], capture_output=True
    )
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


class _Literal(str):
    pass


def _literal(dumper: yaml.Dumper, text: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style="|")


def main() -> None:
    git_dir, repo, commit, kind, split, *only = sys.argv[1:]
    commit = _git(git_dir, "rev-parse", commit).strip()
    parent = _git(git_dir, "rev-parse", f"{commit}^").strip()
    subject = _git(git_dir, "log", "-1", "--format=%s", commit).strip()
    files = []
    for line in _git(git_dir, "diff", "--name-status", "-M", parent, commit).splitlines():
        status, *paths = line.split("\t")
        old, new = paths[0], paths[-1]
        if only and new not in only:
            continue
        before = None if status == "A" else _blob(git_dir, parent, old)
        after = None if status == "D" else _blob(git_dir, commit, new)
        entry: dict[str, object] = {"path": new}
        if old != new:
            entry["old_path"] = old
        entry["before"] = _Literal(before) if before and "\r" not in before else before
        entry["after"] = _Literal(after) if after and "\r" not in after else after
        files.append(entry)
    name = f"{kind}-{repo.split('/')[1]}-{commit[:8]}"
    doc = {
        "id": name, "repo": repo, "commit": commit, "parent": parent, "subject": subject,
        "kind": kind, "split": split, "facts": [], "risks": [], "files": files,
    }  # fmt: skip
    yaml.add_representer(_Literal, _literal)
    out = ROOT / f"{name}.yaml"
    out.write_text(yaml.dump(doc, sort_keys=False, allow_unicode=True, width=1000))
    print(out)


if __name__ == "__main__":
    main()
