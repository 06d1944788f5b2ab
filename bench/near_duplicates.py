"""Near-duplicate submissions: precision and recall on duplicates planted in pyvideo events.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/near_duplicates.py [--talks 1200] [--plant 0.1]

Takes whole pyvideo events (talks.jsonl.gz, talks with a description of at least 100
characters) until `--talks` talks, and plants, in each event, a copy of `--plant` of its
talks as a new submission of the same event, one kind after another:

- `resubmitted`: the same talk again, title re-cased, whitespace changed, one line added;
- `edited`: a fifth of the sentences dropped and one word in ten deleted;
- `rewritten`: sentences shuffled, common words swapped for synonyms, the title reworded
  (a rule-made stand-in for a machine-generated variant: no text generator runs offline);
- `shortened`: the title and the first 40 % of the description.

Every other pair of talks of one event is a negative (pyvideo events hold distinct talks;
the false pairs are printed so a real duplicate among them shows). Events are dealt
alternately into a development half, where the cosine threshold (and the optional word-overlap
rule) is chosen by F1, and a test half, where precision and recall are reported
(`podium.tagging.duplicates`).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pyvideo import bench_parser  # noqa: E402

KINDS = ("resubmitted", "edited", "rewritten", "shortened")
SWAPS = {
    "use": "utilise",
    "using": "leveraging",
    "show": "demonstrate",
    "talk": "session",
    "how": "the way",
    "build": "construct",
    "make": "create",
    "easy": "simple",
    "learn": "discover",
    "help": "assist",
    "big": "large",
    "fast": "quick",
    "get": "obtain",
    "many": "numerous",
    "also": "additionally",
    "about": "regarding",
    "new": "novel",
    "will": "shall",
    "problem": "issue",
    "problems": "issues",
    "code": "source code",
}
TITLE_FORMS = ("{t}: a practical guide", "Understanding {t}", "{t} (revised)", "All about {t}")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def variant(title: str, description: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """A planted near-duplicate of a talk, of one kind."""
    if kind == "resubmitted":
        return title.upper() if rng.random() < 0.5 else title.lower(), (
            re.sub(r"\s+", " ", description) + "\n\n(Resubmitted with an updated bio.)"
        )
    sentences = _sentences(description)
    if kind == "edited":
        kept = [s for s in sentences if rng.random() >= 0.2] or sentences[:1]
        words = " ".join(kept).split()
        return title, " ".join(w for w in words if rng.random() >= 0.1)
    if kind == "rewritten":
        rng.shuffle(sentences)
        words = [SWAPS.get(w.lower(), w) for w in " ".join(sentences).split()]
        return rng.choice(TITLE_FORMS).format(t=title), " ".join(words)
    cut = max(1, int(len(description) * 0.4))
    return title, description[:cut]


def load_events(path: Path, *, talks: int, min_event: int, seed: int) -> list[list[dict]]:
    """Whole events, shuffled by seed, until `talks` talks; talks with a real description."""
    from podium.models import Talk

    by_event: dict[str, list[dict]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            if len(r.get("description") or "") < 100:
                continue
            try:
                Talk(talk_id=str(r["id"]), title=str(r.get("title") or "-"))
            except ValueError:
                continue
            by_event.setdefault(r["event"], []).append(r)
    names = sorted(e for e, rs in by_event.items() if len(rs) >= min_event)
    random.Random(seed).shuffle(names)
    out, total = [], 0
    for name in names:
        if total >= talks:
            break
        out.append(by_event[name])
        total += len(by_event[name])
    return out


def prf(flagged: set, truth: set) -> tuple[float, float, float]:
    tp = len(flagged & truth)
    p = tp / len(flagged) if flagged else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=1200, help="talks (whole events) to use")
    parser.add_argument("--min-event", type=int, default=20, help="talks an event needs")
    parser.add_argument("--plant", type=float, default=0.1, help="share of talks copied")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--cache", type=Path, default=ROOT / ".podium" / "bench-cache", help="embedding cache"
    )
    args = parser.parse_args(argv)

    import numpy as np

    from podium.embedding_cache import EmbeddingCache
    from podium.lake import Lake
    from podium.models import Talk
    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.duplicates import candidate_pairs, overlap, shingles
    from podium.tagging.history import embed_talks
    from podium.text import talk_text

    events = load_events(
        args.data / "talks.jsonl.gz", talks=args.talks, min_event=args.min_event, seed=args.seed
    )
    rng = random.Random(args.seed)
    rows: list[dict] = []  # id, event, title, description, kind, half
    truth: set[tuple[str, str]] = set()
    kind_of: dict[tuple[str, str], str] = {}
    k = 0
    for number, records in enumerate(events):
        half = "dev" if number % 2 == 0 else "test"
        for r in records:
            rows.append({**r, "kind": "", "half": half})
        planted = rng.sample(records, max(1, round(args.plant * len(records))))
        for r in planted:
            kind = KINDS[k % len(KINDS)]
            k += 1
            title, description = variant(r["title"], r["description"], kind, rng)
            vid = f"{r['id']}--dup"
            rows.append(
                {"id": vid, "event": r["event"], "title": title, "description": description}
                | {"kind": kind, "half": half}
            )
            pair = tuple(sorted((r["id"], vid)))
            truth.add(pair)
            kind_of[pair] = kind
    talks = [
        Talk(talk_id=r["id"], title=r["title"] or "-", description=r["description"] or "")
        for r in rows
    ]
    tagger = build_tagger(TaggingSettings(), device="cpu")
    started = time.perf_counter()
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(Lake(str(args.cache / "lake")))
    vectors = embed_talks(talks, encoder=tagger.encoder, cache=cache)
    embed_s = time.perf_counter() - started
    texts = [talk_text(t.title, t.description, max_tokens=10_000) for t in talks]
    words = [shingles(t) for t in texts]
    groups = [r["event"] for r in rows]
    started = time.perf_counter()
    pairs = []
    for i, j, cos in candidate_pairs(vectors, groups=groups, floor=0.5):
        pair = tuple(sorted((rows[i]["id"], rows[j]["id"])))
        pairs.append((pair, rows[i]["half"], cos, overlap(words[i], words[j])))
    pair_s = time.perf_counter() - started
    n_dev = sum(r["half"] == "dev" for r in rows)
    n_test = len(rows) - n_dev
    load = os.getloadavg()[0]
    print(
        f"{len(events)} events, {len(rows)} talks ({len(truth)} planted duplicates; dev "
        f"{n_dev} talks, test {n_test}); embedding {embed_s:.1f} s, pairs {pair_s:.2f} s; "
        f"load avg {load:.1f}",
        flush=True,
    )

    def flagged(half: str, cos_t: float, ov_t: float | None) -> set:
        return {
            p
            for p, h, cos, ov in pairs
            if h == half and (cos >= cos_t or (ov_t is not None and ov >= ov_t))
        }

    def truth_of(half: str) -> set:
        ids = {r["id"] for r in rows if r["half"] == half}
        return {p for p in truth if p[0] in ids}

    rules = [(c / 100, None) for c in range(70, 100)] + [
        (c / 100, o / 10) for c in range(80, 100, 2) for o in range(2, 9)
    ]
    results: dict[str, dict] = {}
    for name, allowed in (("cosine only", False), ("cosine or word overlap", True)):
        dev_truth = truth_of("dev")
        scored = [
            (prf(flagged("dev", c, o), dev_truth)[2], -c, c, o)
            for c, o in rules
            if (o is not None) == allowed
        ]
        _, _, cos_t, ov_t = max(scored)
        test_truth = truth_of("test")
        test_flag = flagged("test", cos_t, ov_t)
        p, r, f1 = prf(test_flag, test_truth)
        dp, dr, df1 = prf(flagged("dev", cos_t, ov_t), dev_truth)
        per_kind = {
            kind: sum(1 for t in test_truth if kind_of[t] == kind and t in test_flag)
            / max(1, sum(1 for t in test_truth if kind_of[t] == kind))
            for kind in KINDS
        }
        results[name] = {
            "cosine_threshold": cos_t,
            "overlap_threshold": ov_t,
            "dev": {"precision": dp, "recall": dr, "f1": df1},
            "test": {"precision": p, "recall": r, "f1": f1, "planted": len(test_truth)},
            "test_recall_per_kind": per_kind,
            "false_pairs": sorted(test_flag - test_truth),
        }
        rule = f"cosine >= {cos_t:.2f}" + (f" or overlap >= {ov_t:.1f}" if ov_t else "")
        print(
            f"{name:24s} chosen on dev: {rule:30s} dev P/R/F1 {dp:.3f}/{dr:.3f}/{df1:.3f}  "
            f"TEST P/R/F1 {p:.3f}/{r:.3f}/{f1:.3f} ({len(test_truth)} planted, "
            f"{len(test_flag)} flagged)"
        )
        print("    test recall per kind: " + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items()))
        sims = {p_: (cos, ov) for p_, _, cos, ov in pairs}
        for a, b in sorted(test_flag - test_truth)[:8]:
            print(
                f"    false pair: {a} ≈ {b} (cosine {sims[(a, b)][0]:.3f}, overlap "
                f"{sims[(a, b)][1]:.2f})"
            )
    from podium.tagging.duplicates import DEFAULT_THRESHOLD

    for half in ("dev", "test"):
        p, r, f1 = prf(flagged(half, DEFAULT_THRESHOLD, None), truth_of(half))
        results[f"default {half}"] = {"precision": p, "recall": r, "f1": f1}
        print(
            f"at Podium's default (cosine >= {DEFAULT_THRESHOLD:.2f}), {half}: P/R/F1 "
            f"{p:.3f}/{r:.3f}/{f1:.3f}"
        )
    sims_true = np.asarray([cos for p_, h, cos, _ in pairs if p_ in truth])
    if len(sims_true):
        print(
            f"planted pairs' cosine: min {sims_true.min():.3f}, median "
            f"{np.median(sims_true):.3f}; load avg {os.getloadavg()[0]:.1f}"
        )
    out = {"talks": len(rows), "planted": len(truth), "load_avg": load, "rules": results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=list))
    return out


if __name__ == "__main__":
    main()
