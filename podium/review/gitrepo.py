"""Getting a push's change out of git: a cached bare clone, then the commits and files between
`before` and `after`. Everything goes through the git CLI in a subprocess.

Credentials travel as an HTTP header in git's environment (GIT_CONFIG_*), so they never appear
on a command line, in a remote URL written to disk, or in an error message.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from podium.errors import UserError
from podium.review.diffs import split_by_file
from podium.review.models import is_zero_sha

_STATUS = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type changed",
}
SUBMODULE_MODE = "160000"


class GitError(UserError, RuntimeError):
    """A git command failed; the message names the command, never a credential."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    subject: str
    parents: int

    @property
    def is_merge(self) -> bool:
        return self.parents > 1


@dataclass(frozen=True)
class FileChange:
    """One path changed between base and after."""

    path: str
    status: str  # added, modified, deleted, renamed, copied, type changed
    old_path: str | None = None
    similarity: int | None = None  # renames and copies
    additions: int = 0
    deletions: int = 0
    binary: bool = False
    submodule: bool = False
    old_id: str = ""  # blob (or, for a submodule, commit) id before
    new_id: str = ""
    old_mode: str = ""
    new_mode: str = ""

    @property
    def lines(self) -> int:
        return self.additions + self.deletions


@dataclass
class ChangeSet:
    """What a push changed.

    Attributes:
        base: the commit (or empty tree) files were compared from.
        base_reason: why that base: previous tip, merge base with the default branch, ...
        commits: commits the push brought (reachable from after, not from base).
        dropped: commits a force push removed from the branch.
    """

    repo: str
    ref: str
    before: str
    after: str
    base: str
    base_reason: str
    forced: bool = False
    commits: list[Commit] = field(default_factory=list)
    dropped: list[Commit] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)


@dataclass
class Git:
    """Runs git in one repository (a bare cache clone or any local repository).

    Args:
        path: the repository (its work tree or its .git / bare folder).
        token: HTTPS token sent as a basic-auth header; never put in argv or messages.
        username: user name paired with the token.
        timeout_s: longest one command may take.
    """

    path: Path
    token: str | None = field(default=None, repr=False)
    username: str = "x-access-token"
    timeout_s: float = 300

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GIT_") or k in ("GIT_SSH_COMMAND", "GIT_SSH")
        }
        # Never prompt: a missing credential must fail, not hang a flow run.
        env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"})
        if self.token:
            basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
            env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
                }
            )
        return env

    def _scrub(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "***")
        return re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)

    def run(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        """Run `git args…`; returns stdout (text, surrogate-escaped)."""
        result = self.run_bytes(*args, cwd=cwd, check=check)
        return result.decode("utf-8", errors="surrogateescape")

    def run_bytes(self, *args: str, cwd: Path | None = None, check: bool = True) -> bytes:
        command = ["git", *args]
        try:
            proc = subprocess.run(
                command,
                cwd=cwd or self.path,
                env=self._env(),
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise GitError(f"git {args[0]} timed out after {self.timeout_s:.0f}s") from error
        except FileNotFoundError as error:
            raise GitError("git is not installed or not on PATH") from error
        if check and proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace").strip().splitlines()
            last = self._scrub(stderr[-1] if stderr else f"exit status {proc.returncode}")
            raise GitError(f"git {self._scrub(' '.join(args[:2]))} failed: {last}")
        return proc.stdout

    def ok(self, *args: str) -> bool:
        """True when `git args…` exits 0."""
        try:
            self.run_bytes(*args, check=True)
            return True
        except GitError:
            return False

    # ---- objects ------------------------------------------------------------------------

    def has_commit(self, sha: str) -> bool:
        return self.ok("cat-file", "-e", f"{sha}^{{commit}}")

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.ok("merge-base", "--is-ancestor", older, newer)

    def merge_base(self, a: str, b: str) -> str | None:
        out = self.run("merge-base", a, b, check=False).strip()
        return out or None

    def empty_tree(self) -> str:
        # sha1 and sha256 repositories have different empty-tree ids; ask git.
        return self.run("hash-object", "-t", "tree", "--stdin", "-w").strip()

    def blob(self, object_id: str, *, max_bytes: int = 2_000_000) -> bytes | None:
        """A blob's content, None when absent or larger than max_bytes."""
        if not object_id or is_zero_sha(object_id):
            return None
        size = self.run("cat-file", "-s", object_id, check=False).strip()
        if not size.isdigit() or int(size) > max_bytes:
            return None
        return self.run_bytes("cat-file", "blob", object_id)

    def default_branch(self) -> str | None:
        """The branch HEAD points at (a bare clone's HEAD is the remote's default)."""
        out = self.run("symbolic-ref", "--quiet", "HEAD", check=False).strip()
        return out.removeprefix("refs/heads/") or None

    def commits(self, revision_range: str) -> list[Commit]:
        out = self.run("log", "--format=%H%x1f%an%x1f%s%x1f%P%x1e", revision_range)
        commits = []
        for record in out.split("\x1e"):
            record = record.strip()
            if not record:
                continue
            sha, author, subject, parents = (record.split("\x1f") + ["", "", ""])[:4]
            commits.append(Commit(sha, author, subject, len(parents.split())))
        return commits

    def diff_files(self, base: str, after: str) -> list[FileChange]:
        """Every path changed from base to after, renames detected, binaries marked."""
        raw = self.run("diff", "--raw", "-z", "-M", "--no-abbrev", "--no-ext-diff", base, after)
        numstat = self.run("diff", "--numstat", "-z", "-M", "--no-ext-diff", base, after)
        counts = _parse_numstat(numstat)
        changes = []
        tokens = raw.split("\0")
        i = 0
        while i < len(tokens):
            meta = tokens[i]
            if not meta.startswith(":"):
                i += 1
                continue
            old_mode, new_mode, old_id, new_id, status = meta[1:].split(" ")
            letter = status[0]
            if letter in "RC":
                old_path, path = tokens[i + 1], tokens[i + 2]
                i += 3
            else:
                old_path, path = None, tokens[i + 1]
                i += 2
            added, deleted, binary = counts.get(path, (0, 0, False))
            submodule = SUBMODULE_MODE in (old_mode, new_mode)
            changes.append(
                FileChange(
                    path=path,
                    status=_STATUS.get(letter, letter),
                    old_path=old_path,
                    similarity=int(status[1:]) if letter in "RC" and status[1:] else None,
                    additions=added,
                    deletions=deleted,
                    binary=binary and not submodule,
                    submodule=submodule,
                    old_id=old_id,
                    new_id=new_id,
                    old_mode=old_mode,
                    new_mode=new_mode,
                )
            )
        return changes

    def diff_text(self, base: str, after: str) -> dict[str, str]:
        """The unified diff of each changed path (binaries show git's one-line note)."""
        out = self.run("diff", "-M", "--no-color", "--no-ext-diff", base, after)
        return split_by_file(out)


def _parse_numstat(text: str) -> dict[str, tuple[int, int, bool]]:
    counts: dict[str, tuple[int, int, bool]] = {}
    tokens = text.split("\0")
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token:
            i += 1
            continue
        added, deleted, path = token.split("\t", 2)
        if path == "":  # rename: old and new paths follow as separate tokens
            path = tokens[i + 2]
            i += 3
        else:
            i += 1
        binary = added == "-"
        counts[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
    return counts


def _cache_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".git"


def sync_repository(
    *,
    name: str,
    url: str,
    cache_dir: Path,
    token: str | None = None,
    username: str = "x-access-token",
    timeout_s: float = 300,
) -> Git:
    """Clone `url` into a bare cache (first time) or fetch every branch and tag into it.

    Local paths and URLs both work. Fetching with `+refs/heads/*:refs/heads/*` keeps old tips
    in the object store, so the `before` of a later force push is usually still there.

    Returns:
        A `Git` for the cache clone.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / _cache_name(name)
    git = Git(path, token=token, username=username, timeout_s=timeout_s)
    source = str(Path(url).resolve()) if _is_local(url) else url
    if not (path / "HEAD").exists():
        tmp = cache_dir / (path.name + ".partial")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        # Clone next to the target and rename, so a killed clone never leaves a half cache.
        git.run("clone", "--bare", "--quiet", "--", source, str(tmp), cwd=cache_dir)
        tmp.rename(path)
    else:
        git.run("remote", "set-url", "origin", source)
    git.run(
        "fetch",
        "--quiet",
        "--force",
        "--prune",
        "--tags",
        "origin",
        "+refs/heads/*:refs/heads/*",
    )
    # A bare clone's HEAD names the remote default branch at clone time; refresh it.
    head = git.run("ls-remote", "--symref", "origin", "HEAD", check=False)
    match = re.search(r"^ref: (refs/heads/\S+)\s+HEAD", head, re.M)
    if match:
        git.run("symbolic-ref", "HEAD", match.group(1))
    return git


def _is_local(url: str) -> bool:
    return "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url)


def compute_change(
    git: Git,
    *,
    repo: str,
    ref: str,
    before: str,
    after: str,
    default_branch: str | None = None,
) -> ChangeSet:
    """The change a push made to `ref`, from `before` to `after`.

    - new branch (`before` all zeros): compared with the merge base of the default branch;
    - fast-forward: compared with `before`;
    - force push: files compared with `before` (what the branch now holds instead), commits
      listed as brought and dropped;
    - `before` unknown to the clone: compared with the default branch's merge base, noted.

    Raises:
        GitError: `after` is not in the repository.
    """
    if is_zero_sha(after):
        raise GitError("the push deleted the branch; there is no change to review")
    if not git.has_commit(after):
        raise GitError(f"commit {after[:12]} is not in the repository (was it fetched?)")
    branch_name = ref.removeprefix("refs/heads/")
    # The configured default, else HEAD's branch (a bare clone's HEAD is the remote default;
    # a work tree's may be the pushed branch itself), else the conventional names.
    candidates = [default_branch, git.default_branch(), "main", "master"]
    default = next(
        (
            c
            for c in candidates
            if c and c != branch_name and git.ok("rev-parse", "--verify", f"refs/heads/{c}")
        ),
        None,
    )
    notes: list[str] = []
    forced = False
    dropped: list[Commit] = []

    def against_default(reason: str) -> tuple[str, str]:
        if default:
            base = git.merge_base(f"refs/heads/{default}", after)
            if base:
                return base, f"{reason}: merge base with {default} ({base[:12]})"
        return git.empty_tree(), f"{reason}: no common history with a default branch, every file"

    if is_zero_sha(before):
        base, reason = against_default("new branch")
        commits_range = f"{base}..{after}" if git.has_commit(base) else after
    elif not git.has_commit(before):
        base, reason = against_default(f"previous tip {before[:12]} is not in the clone")
        notes.append(
            f"The previous tip {before[:12]} is unknown here (history rewritten before it was "
            "fetched); the change is shown against the default branch instead."
        )
        commits_range = f"{base}..{after}" if git.has_commit(base) else after
    elif git.is_ancestor(before, after):
        base, reason = before, f"previous tip {before[:12]}"
        commits_range = f"{before}..{after}"
    else:
        forced = True
        base, reason = before, f"previous tip {before[:12]} (force push, history rewritten)"
        commits_range = f"{before}..{after}"
        dropped = git.commits(f"{after}..{before}")
    commits = git.commits(commits_range)
    files = git.diff_files(base, after)
    return ChangeSet(
        repo=repo,
        ref=ref,
        before=before,
        after=after,
        base=base,
        base_reason=reason,
        forced=forced,
        commits=commits,
        dropped=dropped,
        files=files,
        notes=notes,
    )
