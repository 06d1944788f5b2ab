"""podium.review.diffs (unidiff) on real `git diff` output from real repositories in temp
folders: per-file split, and added lines with their numbers where hand parsing went wrong."""

from __future__ import annotations

from podium.review.diffs import added_lines, split_by_file
from podium.review.gitrepo import Git
from podium.review.secrets import scan_diffs
from tests.podium.review.gitfixtures import WorkRepo


def _diff(repo: WorkRepo, before: str, after: str) -> str:
    return Git(repo.origin).run("diff", "-M", "--no-color", "--no-ext-diff", before, after)


def test_added_lines_that_look_like_headers_are_still_added(repo: WorkRepo) -> None:
    before = repo.head()
    # An added line whose text starts with "++" shows as "+++…" in the diff, and a file that
    # had no final newline gets git's "\ No newline at end of file" between its hunk lines.
    repo.write("counter.c", "int main() {\n  ++i;\n")
    repo.write("notes.txt", "first")
    repo.commit("add")
    middle = repo.head()
    repo.write("counter.c", "int main() {\n  ++i;\n++token = 'abcdefghijklmnop';\n")
    repo.write("notes.txt", "first\nsecond\npassword = 'hunter2hunter2'\n")
    repo.commit("change")
    repo.push("main")
    diffs = split_by_file(_diff(repo, middle, repo.head()))

    assert set(diffs) == {"counter.c", "notes.txt"}
    assert list(added_lines(diffs["counter.c"])) == [(3, "++token = 'abcdefghijklmnop';")]
    assert list(added_lines(diffs["notes.txt"])) == [
        (1, "first"),
        (2, "second"),
        (3, "password = 'hunter2hunter2'"),
    ]
    hits = {(h.path, h.line) for h in scan_diffs(diffs)}
    assert hits == {("counter.c", 3), ("notes.txt", 3)}
    assert before != middle


def test_renames_deletions_and_binaries_are_keyed_by_path(repo: WorkRepo) -> None:
    before = repo.head()
    repo.git("mv", "service/helpers.py", "service/text.py")
    repo.git("rm", "-q", "tests/test_api.py")
    repo.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x01\x02")
    repo.commit("move, delete, add a binary")
    repo.push("main")
    diffs = split_by_file(_diff(repo, before, repo.head()))

    assert set(diffs) == {"service/text.py", "tests/test_api.py", "logo.png"}
    assert "rename to service/text.py" in diffs["service/text.py"]
    assert "Binary files" in diffs["logo.png"] and not list(added_lines(diffs["logo.png"]))
    assert split_by_file("not a diff") == {}
