"""Learning curves of an organiser's corrections on unseen conferences (series-disjoint).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_vectors.py --eval-only   # once: embed
    HF_HUB_OFFLINE=1 .venv/bin/python bench/feedback_curve.py [--conference-prior 10]

For every conference series of the shared labelled file (tagging-eval.json) with at least
`--min-talks` talks: the history is every *other* series' labelled talks; a simulated
organiser corrects k of the conference's talks (uncertainty sampling against random); the
corrected talks join the history with their gold tags; the remaining talks are scored. Prints
micro F1 and P@1 at k = 0, 10, 25, 50, 100 per conference, and mean ± std over conferences
(`podium.tagging.feedback_curve`). Reads the vectors bench/tagging_vectors.py cached.

To choose a setting honestly, save one report per setting (`--json NAME.json` with the setting's
options) and run `--choose A.json B.json ... [--choose-ks 10,25,50,100]`: each conference gets
the setting that taught most on the other conferences (docs/tagging.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pyvideo import DATA  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", default="0,10,25,50,100", help="corrected talks, ascending")
    parser.add_argument("--min-talks", type=int, default=35, help="talks a test series needs")
    parser.add_argument("--only", default="", help="comma list of series to test")
    parser.add_argument(
        "--strategies", default="uncertainty,random", help="of uncertainty, random, clustered"
    )
    parser.add_argument("--min-remaining", type=int, default=10, help="talks left to score")
    parser.add_argument(
        "--conference-prior", type=float, default=None, help="tagging.conference_prior"
    )
    parser.add_argument(
        "--conference-tag-prior", type=float, default=None, help="tagging.conference_tag_prior"
    )
    parser.add_argument(
        "--conference-knn-prior", type=float, default=None, help="tagging.conference_knn_prior"
    )
    parser.add_argument("--conference-knn-scope", default=None, help="tagging.conference_knn_scope")
    parser.add_argument("--limit", type=int, default=0, help="first N labelled talks (smoke)")
    parser.add_argument("--encode", action="store_true", help="embed now instead of the cache")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument(
        "--choose",
        nargs="+",
        type=Path,
        default=None,
        help="--json reports of several settings: pick one per conference on the others",
    )
    parser.add_argument(
        "--choose-ks", default="10,25", help="the k whose gains --choose compares, comma list"
    )
    args = parser.parse_args(argv)
    if args.choose:
        return choose(args.choose, ks=[int(k) for k in args.choose_ks.split(",")])

    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled
    from podium.tagging.feedback_curve import feedback_curve
    from podium.tagging.history import embed_talks

    data = load_labelled(args.data / "tagging-eval.json")
    data = data.first(args.limit)
    overrides = {}
    if args.conference_prior is not None:
        overrides["conference_prior"] = args.conference_prior
    if args.conference_tag_prior is not None:
        overrides["conference_tag_prior"] = args.conference_tag_prior
    if args.conference_knn_scope is not None:
        overrides["conference_knn_scope"] = args.conference_knn_scope
    if args.conference_knn_prior is not None:
        overrides["conference_knn_prior"] = args.conference_knn_prior
    tagger = build_tagger(TaggingSettings(**overrides), device="cpu")
    if args.encode:
        vectors = embed_talks(data.talks, encoder=tagger.encoder)
    else:
        from bench.tagging_nested import load_vectors
        from podium.embedding_cache import encoder_identity

        vectors = load_vectors(
            encoder_identity(tagger.encoder), [t.talk_id for t in data.talks], "eval"
        )
    print(
        f"{len(data.talks)} labelled talks; {tagger.model_version}; "
        f"load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.perf_counter()
    report = feedback_curve(
        tagger,
        data,
        vectors,
        steps=[int(x) for x in args.steps.split(",")],
        strategies=args.strategies.split(","),
        min_talks=args.min_talks,
        min_remaining=args.min_remaining,
        only=[s for s in args.only.split(",") if s],
        on_progress=lambda line: print("  " + line, flush=True),
    )
    print(f"\n{time.perf_counter() - started:.0f}s, load avg {os.getloadavg()[0]:.1f}\n")
    print(report.markdown())
    big = report.summary(min_talks=100)
    if big:
        print("\nconferences of >= 100 talks:")
        for strategy, by_k in big.items():
            for k, row in by_k.items():
                print(
                    f"  {strategy:11s} k={k:3d}: F1 {row['f1_mean']:.3f} "
                    f"({row['f1_gain_same_talks']:+.3f} over the uncorrected tagger on the "
                    f"same talks), P@1 {row['p1_mean']:.3f}"
                )
    out = report.as_dict()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return out


def choose(paths: list[Path], *, ks: list[int]) -> dict:
    """Leave one conference out over the settings' reports (`choose_by_other_conferences`):
    each conference's pick, chosen on the other conferences, and the nested curves."""
    from podium.tagging.feedback_curve import CurveReport, choose_by_other_conferences

    reports = {p.stem: CurveReport.from_dict(json.loads(p.read_text())) for p in paths}
    picks, nested = choose_by_other_conferences(reports, ks=ks)
    for name, report in reports.items():
        print(f"{name}: {report.model_version}")
    print("\npicked on the other conferences: " + ", ".join(f"{c} {n}" for c, n in picks.items()))
    print("\nnested (each conference under its own pick):\n")
    print(nested.markdown())
    return {"picks": picks, "nested": nested.as_dict()}


if __name__ == "__main__":
    main()
