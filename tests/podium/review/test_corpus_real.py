"""The real-commit corpus (tests/podium/review/corpus_real/): single commits of public
repositories, each rebuilt as a real git repository from its stored files and summarised by the
real analysis. The training part (the two spent held-out sets included) must name every fact
and raise exactly the expected flags; a held-out part (any split named `held-out...`, e.g.
`held-out-5`), where there is one, is built and summarised here but scored only by
`bench/review.py --splits held-out-5` (so no rule is tuned against it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from podium.review.config import ReviewSettings
from podium.review.scanners import INSTALL_HINT, scanners_available
from tests.podium.review.corpus import Case, score, summarise_case
from tests.podium.review.corpus_real import ALL, HELD_OUT, TRAIN, is_held_out

KINDS = (
    "cdk-python", "cdk-typescript", "terraform", "sam", "helm", "dockerfile", "github-actions",
    "fastapi", "django",
)  # fmt: skip


def test_corpus_is_real_commits_of_many_repositories_every_kind_five_times() -> None:
    assert len(ALL) >= 60
    assert len({c.repo for c in ALL}) >= 20
    kinds = Counter(c.kind for c in ALL)
    assert all(kinds[kind] >= 5 for kind in KINDS), kinds
    # the spent held-out sets are training now, each case saying which set it was
    spent = Counter(c.spent for c in ALL if c.split == "train")
    assert spent["held-out"] == 18 and spent["held-out-2"] == 22 and spent["held-out-3"] == 22
    assert spent["held-out-4"] == 32
    # a fresh held-out set (none between rounds): its own repositories, never a spent name
    assert all(c.split == "train" or is_held_out(c.split) for c in ALL)
    held = [c for c in ALL if is_held_out(c.split)]
    assert len(held) == len(HELD_OUT)
    assert not {c.split for c in held} & set(spent)
    assert not {c.repo for c in held} & {c.repo for c in ALL if c.split == "train"}
    for case in ALL:
        assert len(case.commit) == 40 and len(case.parent) == 40 and case.facts_written()


@pytest.mark.parametrize("case", TRAIN, ids=[c.name for c in TRAIN])
def test_training_commit_names_its_facts_and_flags_only_real_risks(
    case: Case, tmp_path: Path
) -> None:
    summary = summarise_case(tmp_path, case)
    result = score(case, summary)
    assert not result.missing, f"summary lacks {result.missing}:\n{summary}"
    assert not result.false_flags, f"false risk flags {result.false_flags}:\n{summary}"


@pytest.mark.parametrize("case", HELD_OUT, ids=[c.name for c in HELD_OUT])
def test_held_out_commit_builds_and_is_summarised(case: Case, tmp_path: Path) -> None:
    summary = summarise_case(tmp_path, case)
    assert "**Risk: " in summary and case.name in summary


def _need_scanners() -> None:
    if not scanners_available():
        pytest.fail(f"the review scanners are not installed: {INSTALL_HINT}")


@pytest.mark.slow
@pytest.mark.parametrize("case", TRAIN, ids=[c.name for c in TRAIN])
def test_training_commit_with_scanners(case: Case, tmp_path: Path) -> None:
    _need_scanners()
    summary = summarise_case(tmp_path, case, review=ReviewSettings(scanners=True))
    result = score(case, summary)
    assert not result.missing, f"summary lacks {result.missing}:\n{summary}"
    assert not result.false_flags, f"false risk flags {result.false_flags}:\n{summary}"
