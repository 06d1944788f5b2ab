"""Review summaries against the review corpus (tests/podium/review/corpus.py).

Builds every push of the corpus as a real git repository, summarises it, and prints per case
and in total: material facts named / expected, expected risk flags raised, and false risk
flags (⚠ lines no reviewer should have been shown), for the corpus and for the held-out pushes
(written after the rules were settled). The structural summary always runs; with
`--llm` the backend configured in `PODIUM_REVIEW__*` runs too (its summary carries the
structural facts it left out, marked; the bench scores only what the model wrote itself).

    .venv/bin/python bench/review.py [--llm] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.podium.review.corpus import CASES, HELD_OUT, score, summarise_case  # noqa: E402


def model_part(summary: str) -> str:
    """What the model wrote itself: before the facts appended from the structural analysis
    (and before the coverage footer and the structural summary that follow)."""
    from podium.review.llm import APPENDED_HEADER

    return summary.split(APPENDED_HEADER)[0].split("**Coverage:**")[0]


def run(label: str, summarise, verbose: bool, cases=CASES) -> None:
    totals = [0, 0, 0, 0, 0]
    started = time.perf_counter()
    print(f"\n{label}")
    print(f"{'case':38} {'kind':15} {'facts':>7} {'flags':>7} {'false':>5}")
    with tempfile.TemporaryDirectory() as root:
        for case in cases:
            summary = summarise(Path(root) / case.name, case)
            result = score(case, summary)
            totals[0] += result.facts_named
            totals[1] += result.facts_expected
            totals[2] += result.flags_raised
            totals[3] += result.flags_expected
            totals[4] += len(result.false_flags)
            print(
                f"{case.name:38} {case.kind:15} {result.facts_named:>3}/{result.facts_expected:<3}"
                f" {result.flags_raised:>3}/{result.flags_expected:<3} {len(result.false_flags):>5}"
            )
            if verbose:
                for item in result.missing:
                    print(f"    missing: {item}")
                for item in result.false_flags:
                    print(f"    false flag: {item}")
    named, expected, raised, flags, false = totals
    share = 100 * named / expected
    print(
        f"TOTAL {len(cases)} pushes: facts named {named}/{expected} ({share:.1f}%),"
        f" expected flags raised {raised}/{flags}, false risk flags {false}"
        f" ({10 * false / len(cases):.2f} per 10 pushes), {time.perf_counter() - started:.1f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", action="store_true", help="also run the configured backend")
    parser.add_argument("--verbose", action="store_true", help="list missing facts and flags")
    args = parser.parse_args()
    structural = lambda root, case: summarise_case(root, case)  # noqa: E731
    run("structural summary: corpus", structural, args.verbose)
    run("structural summary: held-out pushes", structural, args.verbose, HELD_OUT)
    if args.llm:
        from podium.review.llm import backend_from_settings
        from podium.settings import get_settings

        review = get_settings().review
        backend = backend_from_settings(review)
        if backend is None:
            sys.exit("error: --llm needs PODIUM_REVIEW__SUMMARY_BACKEND=bedrock or openai")
        run(
            f"{backend.name} summary ({review.model_id})",
            lambda root, case: model_part(
                summarise_case(root, case, review=review, backend=backend)
            ),
            args.verbose,
            [*CASES, *HELD_OUT],
        )


if __name__ == "__main__":
    main()
