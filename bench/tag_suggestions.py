"""Candidate new tags on a held-out-vocabulary split: do the suggestions recover hidden tags?

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tag_suggestions.py [--groups 5] [--dev-groups 2]

The 25 tags of the shared labelled file (tagging-eval.json) are dealt into `--groups` groups
(by support, round-robin). For each group, its tags are removed from the vocabulary *and* from
the history (the directory has never heard of them); every labelled talk is scored against
the rest (history: the other talks, a talk never its own neighbour); the talks with no
confident tag are clustered and named (`podium.tagging.new_tags.suggest_tags`, the
vocabulary's remaining names and synonyms excluded from the names). Per hidden tag: the best
cluster for it (precision and recall of its membership) and whether a suggested name is the
tag's name or one of its synonyms (top-1, among the first three phrases, or containing it).

The cut distance is chosen on the first `--dev-groups` groups (by hidden tags named among the
first three phrases, then cluster F1) and reported on the other groups, which it never saw.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pyvideo import bench_parser  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=5, help="tag groups, hidden in turn")
    parser.add_argument("--dev-groups", type=int, default=2, help="groups the cut is chosen on")
    parser.add_argument("--distances", default="0.45,0.5,0.55,0.6,0.65", help="cuts to try")
    parser.add_argument(
        "--shares", default="1.0,0.25", help="max background shares of a name to try"
    )
    parser.add_argument("--min-size", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="first N labelled talks (smoke)")
    parser.add_argument(
        "--cache", type=Path, default=ROOT / ".podium" / "bench-cache", help="embedding cache"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import numpy as np

    from podium.embedding_cache import EmbeddingCache
    from podium.lake import Lake
    from podium.models import Vocabulary
    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled
    from podium.tagging.history import TagHistory, embed_talks
    from podium.tagging.new_tags import name_matches, score_hidden, suggest_for_pool, unconfident
    from podium.tagging.tagger import lexical_texts

    data = load_labelled(args.data / "tagging-eval.json")
    n = args.limit or len(data.talks)
    talks, gold, events = data.talks[:n], data.gold[:n], data.events[:n]
    tagger = build_tagger(TaggingSettings(), device="cpu")
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(Lake(str(args.cache / "lake")))
    started = time.perf_counter()
    vectors = embed_talks(talks, encoder=tagger.encoder, cache=cache).astype(np.float32)
    texts = lexical_texts(talks)
    talk_ids = [t.talk_id for t in talks]
    phrase_cache: dict[str, np.ndarray] = {}

    def embed(phrases: list[str]) -> np.ndarray:
        todo = [p for p in phrases if p not in phrase_cache]
        if todo:
            for p, v in zip(todo, tagger.encoder.encode(todo), strict=True):
                phrase_cache[p] = v
        return np.stack([phrase_cache[p] for p in phrases])

    vocabulary = data.vocabulary
    names = vocabulary.names
    support = {t: sum(t in g for g in gold) for t in names}
    order = sorted(names, key=lambda t: (-support[t], t))
    groups = [order[g :: args.groups] for g in range(args.groups) if order[g :: args.groups]]
    terms = {d.name: [d.name, *d.synonyms] for d in vocabulary.tags}
    distances = [
        (float(x), float(y)) for x in args.distances.split(",") for y in args.shares.split(",")
    ]
    print(
        f"{len(talks)} labelled talks, {len(names)} tags in {len(groups)} groups; "
        f"load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    runs: list[dict] = []  # one per (group, distance)
    for number, hidden in enumerate(groups):
        half = "dev" if number < args.dev_groups else "test"
        visible = Vocabulary(tags=[d for d in vocabulary.tags if d.name not in hidden])
        history = TagHistory(
            talk_ids=tuple(talk_ids),
            tags=tuple(tuple(x for x in g if x not in hidden) for g in gold),
            groups=tuple(events),
            embeddings=vectors,
            model_version=tagger.encoder.model_version,
            premises={t.talk_id: x for t, x in zip(talks, texts, strict=True)},
        )
        result = tagger.score(talks, vocabulary=visible, history=history, vectors=vectors)
        pool = np.flatnonzero(unconfident(result.scores, result.thresholds))
        pool_gold = {talks[i].talk_id: set(gold[i]) for i in pool}
        for distance, share in distances:
            suggestions = suggest_for_pool(
                pool,
                talk_ids,
                vectors,
                texts,
                embed=embed,
                vocabulary=visible,
                max_distance=distance,
                min_size=args.min_size,
                max_background_share=share,
            )
            scored = score_hidden(suggestions, pool_gold, {t: terms[t] for t in hidden})
            all_hidden_terms = [x for t in hidden for x in terms[t]]
            named_any = sum(name_matches(s.name, all_hidden_terms) for s in suggestions)
            runs.append(
                {
                    "group": number,
                    "half": half,
                    "hidden": hidden,
                    "distance": (distance, share),
                    "unconfident": len(pool),
                    "hidden_talks": {t: support[t] for t in hidden},
                    "hidden_in_pool": {
                        t: sum(t in pool_gold[x] for x in pool_gold) for t in hidden
                    },
                    "suggestions": [
                        {"name": s.name, "phrases": s.phrases, "talks": len(s.talk_ids)}
                        for s in suggestions
                    ],
                    "suggestions_naming_a_hidden_tag": named_any,
                    "per_tag": [vars(r) for r in scored],
                }
            )
        print(
            f"  group {number + 1} ({half}) hidden {', '.join(hidden)}: {len(pool)} talks with "
            f"no confident tag; {time.perf_counter() - started:.0f} s, load avg "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )

    def summary(rows: list[dict]) -> dict:
        per_tag = [r for run in rows for r in run["per_tag"]]
        count = max(len(per_tag), 1)
        suggestions = sum(len(run["suggestions"]) for run in rows)
        return {
            "hidden_tags": len(per_tag),
            "named_top1": sum(r["named"] for r in per_tag) / count,
            "named_top3": sum(r["named_top3"] for r in per_tag) / count,
            "named_lenient": sum(r["named_lenient"] for r in per_tag) / count,
            "named_by_any_suggestion": sum(r["named_anywhere"] for r in per_tag) / count,
            "cluster_precision_ge_0_5": sum(r["cluster_precision"] >= 0.5 for r in per_tag) / count,
            "cluster_precision_mean": sum(r["cluster_precision"] for r in per_tag) / count,
            "cluster_recall_mean": sum(r["cluster_recall"] for r in per_tag) / count,
            "suggestions": suggestions,
            "suggestions_naming_a_hidden_tag": sum(
                run["suggestions_naming_a_hidden_tag"] for run in rows
            ),
        }

    def pick(rows: list[dict]) -> tuple[float, float]:
        best = max(
            distances,
            key=lambda d: (
                summary([r for r in rows if r["distance"] == d])["named_top3"],
                summary([r for r in rows if r["distance"] == d])["cluster_precision_mean"],
                -d[0],
                -d[1],
            ),
        )
        return best

    dev = [r for r in runs if r["half"] == "dev"]
    chosen = pick(dev) if dev else distances[0]
    print(f"\ncut distance chosen on the dev groups: {chosen}\n")
    print(
        "| groups | cut | hidden tags | named (top-1) | named (top-3) | name contains tag "
        "| named by any suggestion | best cluster precision ≥ 0.5 | cluster P / R (mean) "
        "| suggestions (naming a hidden tag) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    table: dict[str, dict] = {}
    for label, rows in (("dev", dev), ("test", [r for r in runs if r["half"] == "test"])):
        for d in distances:
            s = summary([r for r in rows if r["distance"] == d])
            if not s["hidden_tags"] or not rows:
                continue
            mark = " (chosen)" if d == chosen else ""
            table[f"{label} {d[0]} {d[1]}"] = s
            print(
                f"| {label} | {d[0]}, {d[1]}{mark} | {s['hidden_tags']} | {s['named_top1']:.2f} | "
                f"{s['named_top3']:.2f} | {s['named_lenient']:.2f} | "
                f"{s['named_by_any_suggestion']:.2f} | {s['cluster_precision_ge_0_5']:.2f} | "
                f"{s['cluster_precision_mean']:.2f} / {s['cluster_recall_mean']:.2f} | "
                f"{s['suggestions']} ({s['suggestions_naming_a_hidden_tag']}) |"
            )
    print("\nper hidden tag at the chosen cut:")
    for run in runs:
        if run["distance"] != chosen:
            continue
        for r in run["per_tag"]:
            print(
                f"  [{run['half']}] {r['tag']:28s} {r['talks']:3d} in pool: best cluster "
                f"{r['cluster_size']:3d} talks P {r['cluster_precision']:.2f} R "
                f"{r['cluster_recall']:.2f} named {r['name']!r}" + (" ✓" if r["named_top3"] else "")
            )
        print(
            "    suggested: "
            + "; ".join(f"{s['name']} ({s['talks']})" for s in run["suggestions"][:12])
        )
    print(f"\n{time.perf_counter() - started:.0f} s; load avg {os.getloadavg()[0]:.1f}")
    out = {"chosen_distance": chosen, "table": table, "runs": runs}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=list))
    return out


if __name__ == "__main__":
    main()
