"""Review summaries against the review corpus (tests/podium/review/corpus.py).

Builds every push of the corpus as a real git repository, summarises it, and prints per case
and in total: material facts named / expected, expected risk flags raised, and false risk
flags (⚠ lines no reviewer should have been shown), for the corpus and for the held-out pushes
(written after the rules were settled). The structural summary always runs; with
`--llm` the backend configured in `PODIUM_REVIEW__*` runs too (its summary carries the
structural facts it left out, marked; the bench scores only what the model wrote itself).

It also scores the real-commit corpus (tests/podium/review/corpus_real/: single commits of
public repositories, facts and risks written from each diff before the summariser ran): its
training part by default (the three spent held-out sets included: they were scored once each
and are training now), a held-out split only when named (`--held-out`: every split named
`held-out...`, or `--splits held-out-5`: scored once, reported apart),
and with `--scanners` the same pushes with checkov, cfn-lint and bandit (wall seconds per push,
the scanners' CPU seconds, and the load average).

    .venv/bin/python bench/review.py [--llm] [--verbose] [--real-only] [--held-out]
        [--splits train,held-out-5]
        [--scanners [--scanner-mode both|server|one-shot]] [--kinds K1,K2] [--per-kind N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.podium.review.corpus import CASES, HELD_OUT, score, summarise_case  # noqa: E402
from tests.podium.review.corpus_real import ALL as REAL  # noqa: E402
from tests.podium.review.corpus_real import HELD_OUT_SPLITS  # noqa: E402


def model_part(summary: str) -> str:
    """What the model wrote itself: before the facts appended from the structural analysis
    (and before the coverage footer and the structural summary that follow)."""
    from podium.review.llm import APPENDED_HEADER

    return summary.split(APPENDED_HEADER)[0].split("**Coverage:**")[0]


def score_push(
    case, summary: str, totals: list[int], *, width: int, verbose: bool, after: str = ""
) -> None:
    """Score one push, add its figures to `totals` (facts named, facts expected, flags raised,
    flags expected, false flags) and print its row (`after` ends it), and with `verbose` what
    it missed and flagged falsely."""
    result = score(case, summary)
    figures = (
        result.facts_named,
        result.facts_expected,
        result.flags_raised,
        result.flags_expected,
        len(result.false_flags),
    )
    for i, value in enumerate(figures):
        totals[i] += value
    print(
        f"{case.name:{width}} {case.kind:15} {result.facts_named:>3}/{result.facts_expected:<3}"
        f" {result.flags_raised:>3}/{result.flags_expected:<3} {len(result.false_flags):>5}{after}"
    )
    if verbose:
        for item in result.missing:
            print(f"    missing: {item}")
        for item in result.false_flags:
            print(f"    false flag: {item}")


def run(label: str, summarise, verbose: bool, cases=CASES) -> None:
    totals = [0, 0, 0, 0, 0]
    started = time.perf_counter()
    print(f"\n{label}")
    print(f"{'case':38} {'kind':15} {'facts':>7} {'flags':>7} {'false':>5}")
    with tempfile.TemporaryDirectory() as root:
        for case in cases:
            summary = summarise(Path(root) / case.name, case)
            score_push(case, summary, totals, width=38, verbose=verbose)
    named, expected, raised, flags, false = totals
    share = 100 * named / expected
    print(
        f"TOTAL {len(cases)} pushes: facts named {named}/{expected} ({share:.1f}%),"
        f" expected flags raised {raised}/{flags}, false risk flags {false}"
        f" ({10 * false / len(cases):.2f} per 10 pushes), {time.perf_counter() - started:.1f}s"
    )


def run_real(
    label: str, cases, *, scanners: bool, verbose: bool, server: bool = True
) -> dict[str, float]:
    """Score real commits: facts named, risks flagged ⚠, false ⚠, per-push seconds (with the
    scanners: in the long-lived scanner process when `server`, else one-shot)."""
    import os

    from podium.review.scanners import ScannerServer, scanner_bin
    from podium.settings import get_settings

    review = get_settings().review.model_copy(
        update={"scanners": scanners, "scanner_server": server}
    )
    if scanners and server:
        warm = ScannerServer(scanner_bin(review.scanner_venv)).running()
        label += " (server already running)" if warm else " (the first push starts the server)"
    totals = [0, 0, 0, 0, 0]
    seconds: list[float] = []
    load = [os.getloadavg()[0]]
    print(f"\n{label}")
    print(f"{'case':48} {'kind':15} {'facts':>7} {'risks':>7} {'false':>5} {'s':>6}")
    with tempfile.TemporaryDirectory() as root:
        for real in cases:
            case = real.case
            started = time.perf_counter()
            summary = summarise_case(Path(root) / case.name, case, review=review)
            took = time.perf_counter() - started
            seconds.append(took)
            load.append(os.getloadavg()[0])
            score_push(case, summary, totals, width=48, verbose=verbose, after=f" {took:>6.1f}")
    named, expected, raised, flags, false = totals
    n = len(cases)
    seconds.sort()
    print(
        f"TOTAL {n} pushes ({len({c.repo for c in cases})} repositories): facts named "
        f"{named}/{expected} ({100 * named / max(1, expected):.1f}%), risks flagged "
        f"{raised}/{flags} ({100 * raised / max(1, flags):.1f}%), false ⚠ {false} "
        f"({20 * false / max(1, n):.2f} per 20 pushes); seconds per push: median "
        f"{seconds[n // 2]:.1f}, max {seconds[-1]:.1f}; "
        f"load average {min(load):.1f}-{max(load):.1f}"
    )
    return {
        "named": named,
        "expected": expected,
        "false": false,
        "median_s": seconds[n // 2],
        "max_s": seconds[-1],
        "load": max(load),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", action="store_true", help="also run the configured backend")
    parser.add_argument("--verbose", action="store_true", help="list missing facts and flags")
    parser.add_argument("--real-only", action="store_true", help="only the real-commit corpus")
    parser.add_argument("--held-out", action="store_true", help="score the held-out set")
    parser.add_argument(
        "--splits",
        default="train",
        help="real-commit splits to score, comma-separated: train, held-out-5, ...",
    )
    parser.add_argument("--scanners", action="store_true", help="also run with the scanners")
    parser.add_argument(
        "--scanner-mode",
        choices=("both", "server", "one-shot"),
        default="both",
        help="with --scanners: the long-lived scanner process, one-shot runs, or both",
    )
    parser.add_argument("--kinds", default="", help="only these kinds (comma-separated)")
    parser.add_argument("--per-kind", type=int, default=0, help="at most N pushes per kind")
    args = parser.parse_args()
    structural = lambda root, case: summarise_case(root, case)  # noqa: E731
    if not args.real_only:
        run("structural summary: corpus", structural, args.verbose)
        run("structural summary: held-out pushes", structural, args.verbose, HELD_OUT)
    kinds = set(filter(None, args.kinds.split(",")))
    splits = [s for s in args.splits.split(",") if s]
    if args.held_out:
        splits += [s for s in HELD_OUT_SPLITS if s not in splits]
    known = {real.split for real in REAL}
    if unknown := [s for s in splits if s not in known]:
        sys.exit(f"error: no real commits in split(s) {', '.join(unknown)}")
    for split in splits:
        chosen, per_kind = [], {}
        for real in REAL:
            if real.split != split or (kinds and real.kind not in kinds):
                continue
            per_kind[real.kind] = per_kind.get(real.kind, 0) + 1
            if args.per_kind and per_kind[real.kind] > args.per_kind:
                continue
            chosen.append(real)
        run_real(f"real commits, {split}: structural", chosen, scanners=False,
                 verbose=args.verbose)  # fmt: skip
        if args.scanners:
            timing = {}
            modes = {"both": ("one-shot", "server")}.get(args.scanner_mode, (args.scanner_mode,))
            for mode in modes:
                timing[mode] = run_real(
                    f"real commits, {split}: with scanners, {mode}", chosen, scanners=True,
                    verbose=args.verbose, server=mode == "server",
                )  # fmt: skip
            print(
                f"\nper push with scanners ({split}, {len(chosen)} pushes): "
                + "; ".join(
                    f"{mode} median {t['median_s']:.1f} s, max {t['max_s']:.1f} s"
                    f" (load average up to {t['load']:.1f})"
                    for mode, t in timing.items()
                )
            )
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
