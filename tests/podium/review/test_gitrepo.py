"""Change extraction against real git repositories built in temp folders (a bare origin on
disk, pushed to with the git CLI). Nothing is faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.review.gitrepo import ChangeSet, Git, GitError, compute_change, sync_repository
from podium.review.models import ZERO_SHA
from tests.podium.review.gitfixtures import WorkRepo, git, make_repo, push_mixed_change


def _sync(repo: WorkRepo, cache: Path) -> Git:
    return sync_repository(name="app", url=str(repo.origin), cache_dir=cache)


def _change(repo: WorkRepo, tmp_path: Path, branch: str, before: str, after: str) -> ChangeSet:
    """The push of `branch` from `before` to `after`, as a fresh cache of origin sees it."""
    cache = _sync(repo, tmp_path / "cache")
    return compute_change(cache, repo="app", ref=f"refs/heads/{branch}", before=before, after=after)


def test_fast_forward_lists_commits_renames_binaries_and_deletions(
    repo: WorkRepo, tmp_path: Path
) -> None:
    before, after = push_mixed_change(repo)
    change = _change(repo, tmp_path, "main", before, after)
    assert change.base == before and not change.forced
    assert [c.subject for c in change.commits][0].startswith("bump httpx")
    assert len(change.commits) == 3
    files = {f.path: f for f in change.files}
    assert files["service/text_helpers.py"].status == "renamed"
    assert files["service/text_helpers.py"].old_path == "service/helpers.py"
    assert files["assets/logo.png"].binary and files["assets/logo.png"].status == "added"
    assert files["docs/obsolete.md"].status == "deleted"
    assert files["service/api.py"].additions > 0 and files["service/api.py"].deletions > 0
    assert set(files) == {
        "service/api.py",
        "service/text_helpers.py",
        "assets/logo.png",
        "docs/obsolete.md",
        "config/app.yaml",
        "requirements.txt",
        "tests/test_api.py",
    }


def test_new_branch_is_compared_with_the_default_branch_merge_base(
    repo: WorkRepo, tmp_path: Path
) -> None:
    fork = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("service/feature.py", "def shiny():\n    return 1\n")
    repo.commit("feature: shiny")
    repo.write("service/feature.py", "def shiny():\n    return 2\n")
    feature = repo.commit("feature: shinier")
    repo.push("feature")
    repo.git("checkout", "-q", "main")
    repo.write("README.md", "# app, moved on\n")
    repo.commit("main moves on")
    repo.push("main")
    change = _change(repo, tmp_path, "feature", ZERO_SHA, feature)
    assert change.base == fork
    assert "merge base with main" in change.base_reason
    assert [f.path for f in change.files] == ["service/feature.py"]  # not main's README
    assert [c.subject for c in change.commits] == ["feature: shinier", "feature: shiny"]


def test_force_push_lists_dropped_commits(repo: WorkRepo, tmp_path: Path) -> None:
    base = repo.head()
    repo.write("service/a.py", "A = 1\n")
    repo.commit("add a")
    repo.write("service/b.py", "B = 1\n")
    old_tip = repo.commit("add b")
    repo.push("main")
    cache = _sync(repo, tmp_path / "cache")  # the cache saw the old tip
    repo.git("reset", "-q", "--hard", base)
    repo.write("service/c.py", "C = 1\n")
    new_tip = repo.commit("add c instead")
    repo.push("main", force=True)
    cache = _sync(repo, tmp_path / "cache")
    change = compute_change(cache, repo="app", ref="refs/heads/main", before=old_tip, after=new_tip)
    assert change.forced
    assert [c.subject for c in change.dropped] == ["add b", "add a"]
    assert [c.subject for c in change.commits] == ["add c instead"]
    statuses = {f.path: f.status for f in change.files}
    assert statuses == {
        "service/a.py": "deleted",
        "service/b.py": "deleted",
        "service/c.py": "added",
    }


def test_unknown_previous_tip_falls_back_to_default_branch(repo: WorkRepo, tmp_path: Path) -> None:
    repo.git("checkout", "-q", "-b", "topic")
    repo.write("service/t.py", "T = 1\n")
    lost = repo.commit("lost")
    repo.git("reset", "-q", "--hard", "main")
    repo.write("service/t.py", "T = 2\n")
    new = repo.commit("rewritten")
    repo.push("topic")  # the lost commit never reached origin or the cache
    change = _change(repo, tmp_path, "topic", lost, new)
    assert "not in the clone" in change.base_reason and change.notes
    assert [f.path for f in change.files] == ["service/t.py"]


def test_merge_commit_and_submodule_bump(repo: WorkRepo, tmp_path: Path) -> None:
    sub_root = tmp_path / "sub"
    sub_root.mkdir()
    sub = make_repo(sub_root, name="lib")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.origin), "lib")
    repo.commit("add lib submodule")
    repo.push("main")
    before = repo.head()
    sub.write("lib.py", "VERSION = 2\n")
    sub_new = sub.commit("lib v2")
    sub.push("main")
    git(repo.path / "lib", "-c", "protocol.file.allow=always", "pull", "-q", "origin", "main")
    repo.commit("bump lib")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("service/side.py", "S = 1\n")
    repo.commit("side work")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    repo.push("main")
    change = _change(repo, tmp_path, "main", before, repo.head())
    files = {f.path: f for f in change.files}
    assert files["lib"].submodule and files["lib"].new_id == sub_new
    assert not files["lib"].binary
    assert "service/side.py" in files
    assert any(c.is_merge and c.subject == "merge side" for c in change.commits)


def test_sync_fetches_into_an_existing_cache_and_errors_are_clean(
    repo: WorkRepo, tmp_path: Path
) -> None:
    cache = _sync(repo, tmp_path / "cache")
    repo.write("service/new.py", "N = 1\n")
    new = repo.commit("new")
    assert not cache.has_commit(new)
    repo.push("main")
    assert _sync(repo, tmp_path / "cache").has_commit(new)
    with pytest.raises(GitError, match="not in the repository"):
        compute_change(cache, repo="app", ref="refs/heads/main", before=new, after="f" * 40)


def test_credentials_never_appear_in_git_errors(tmp_path: Path) -> None:
    from tests.prefect_server import free_port

    url = f"http://user:inline-pass@127.0.0.1:{free_port()}/nothing.git"
    with pytest.raises(GitError) as caught:
        sync_repository(
            name="private", url=url, cache_dir=tmp_path, token="tok-very-secret", timeout_s=30
        )
    assert "tok-very-secret" not in str(caught.value)
    assert "inline-pass" not in str(caught.value)
    assert "git clone --bare failed" in str(caught.value)


def test_token_is_sent_as_a_header_not_in_the_url(tmp_path: Path) -> None:
    import base64

    from tests.podium.review.httpfakes import http_server

    with http_server(lambda method, path, headers, body: (404, {})) as server:
        with pytest.raises(GitError) as caught:
            sync_repository(
                name="private",
                url=f"{server.url}/org/private.git",
                cache_dir=tmp_path,
                token="tok-very-secret",
                username="bot",
                timeout_s=30,
            )
    expected = "Basic " + base64.b64encode(b"bot:tok-very-secret").decode()
    assert server.requests and server.requests[0].headers.get("authorization") == expected
    assert all("tok-very-secret" not in r.path for r in server.requests)
    assert "tok-very-secret" not in str(caught.value)
