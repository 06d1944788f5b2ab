"""The review corpus (tests/podium/review/corpus.py): every push is built as a real git
repository and summarised by the real structural analysis; nothing is faked. Each summary must
name every material fact of its push and raise exactly the expected risk flags."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from podium.review.iac import IAC_KINDS
from tests.podium.review.corpus import CASES, HELD_OUT, Case, score, summarise_case

# Every kind the review reads, but helm: its charts are in the real corpus (test_corpus_real.py).
CORPUS_KINDS = tuple(kind for kind in IAC_KINDS if kind != "helm")


def test_corpus_covers_python_and_every_iac_kind_three_times() -> None:
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 25
    assert kinds["python"] >= 3
    assert all(kinds[kind] >= 3 for kind in CORPUS_KINDS), kinds
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES + HELD_OUT, ids=[c.name for c in CASES + HELD_OUT])
def test_summary_names_the_facts_and_flags_only_real_risks(case: Case, tmp_path: Path) -> None:
    summary = summarise_case(tmp_path, case)
    result = score(case, summary)
    assert not result.missing, f"summary lacks {result.missing}:\n{summary}"
    assert not result.false_flags, f"false risk flags {result.false_flags}:\n{summary}"
