"""Tagging benchmark: tag every pyvideo talk end to end, the settings that matter, and the
original approach side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging.py [--data ../shared/data/pyvideo]

Prints:
  1. End to end: all talks of talks.jsonl.gz tagged (history embedded, calibrated, tags
     written to a Delta lake in a temp folder): talks/s and peak memory (max RSS).
  2. Effects of bf16 autocast, length-sorted batches and the token limit: throughput on a
     subset, and event-disjoint 5-fold F1 on tagging-eval.json per setting.
  3. The original approach (transformers zero-shot pipeline, a bart-large-mnli-sized model
     with random weights, one call per talk, 25 labels softmaxed) against Podium's tagger on
     the same talks, their ratio, and how time per talk grows from 25 to 200 labels.

The machine is shared, so every figure comes with the load average at the time, and rates
also as CPU-normalised talks/s (talks per CPU-second of this process x cores used).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


@dataclass
class Clock:
    """Wall and process CPU time of a block."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def load() -> str:
    return f"load avg {os.getloadavg()[0]:.1f}"


def rate(n: int, clock: Clock, threads: int) -> str:
    cpu_rate = n / max(clock.cpu / threads, 1e-9)
    return f"{n / clock.wall:.1f} talks/s (CPU-normalised {cpu_rate:.1f}; {load()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pyvideo",
    )
    parser.add_argument("--limit", type=int, default=None, help="Talks to tag end to end.")
    parser.add_argument("--subset", type=int, default=1000, help="Talks for the settings sweep.")
    parser.add_argument(
        "--orig-talks",
        type=int,
        default=20,
        help="Talks through the original approach (20 = the brief).",
    )
    parser.add_argument(
        "--orig-growth-talks",
        type=int,
        default=2,
        help="Talks for the original approach's 25 -> 200 label growth.",
    )
    parser.add_argument("--skip", default="", help="Comma list of parts to skip: e2e,sweep,orig")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import torch

    from podium.embedding_cache import EmbeddingCache
    from podium.lake import Lake
    from podium.models import TagDefinition, Vocabulary
    from podium.tagging import TaggingSettings, build_history, build_tagger
    from podium.tagging.evaluate import evaluate_folds, history_from_labelled, load_labelled
    from podium.talk_tags import write_tags

    threads = torch.get_num_threads()
    eval_data = load_labelled(args.data / "tagging-eval.json")
    vocabulary = eval_data.vocabulary
    raw = load_labelled(args.data / "talks.jsonl.gz", vocabulary=vocabulary)
    talks = [
        t.model_copy(update={"tags": [x for x in own if len(x) <= 80][:20]})
        for t, own in zip(raw.talks, raw.own_tags, strict=True)
    ][: args.limit]
    print(f"{len(talks)} talks, {len(vocabulary.tags)} tags, {threads} torch threads, {load()}")

    # ---- 1. end to end ----------------------------------------------------------------------
    if "e2e" not in skip:
        settings = TaggingSettings()
        with tempfile.TemporaryDirectory() as folder:
            lake = Lake(folder)
            with Clock() as loading:
                tagger = build_tagger(settings, device="cpu")
            tagger.cache = EmbeddingCache(lake)
            with Clock() as total:
                # History: talks whose speakers' tags map onto the vocabulary.
                tagged = [i for i, g in enumerate(raw.gold[: len(talks)]) if g]
                history = build_history(
                    [raw.talks[i] for i in tagged],
                    encoder=tagger.encoder,
                    labels=[raw.own_tags[i] for i in tagged],
                    groups=[raw.events[i] for i in tagged],
                    cache=tagger.cache,
                )
                tagger.calibration(vocabulary=vocabulary, history=history)
                written = 0
                for start in range(0, len(talks), 2048):
                    batch = talks[start : start + 2048]
                    assignments = tagger.tag(batch, vocabulary=vocabulary, history=history)
                    written += write_tags(
                        lake=lake, talk_ids=[t.talk_id for t in batch], assignments=assignments
                    )
            rows = lake.read("talk_tags", columns=["source"])
            print(
                f"\n[1] end to end ({tagger.model_version}; bf16={tagger.encoder.bf16}):\n"
                f"    {len(talks)} talks tagged and written in {total.wall:.1f}s: "
                f"{rate(len(talks), total, threads)}\n"
                f"    model load {loading.wall:.1f}s (once per run, not included); "
                f"history {len(history)} tagged talks; {written} tag rows "
                f"({(rows.source == 'model').sum()} model, {(rows.source == 'speaker').sum()} "
                f"speaker)\n    peak memory (max RSS) {peak_rss_gb():.2f} GB"
            )
            del tagger, history

    # ---- 2. settings that matter ------------------------------------------------------------
    if "sweep" not in skip:
        subset = talks[: args.subset]
        configs = [
            ("fp32, 256 tokens, unsorted", "fp32", 256, False),
            ("fp32, 256 tokens, sorted", "fp32", 256, True),
            ("bf16, 256 tokens, sorted", "bf16", 256, True),
            ("bf16, 128 tokens, unsorted", "bf16", 128, False),
            ("bf16, 128 tokens, sorted (default)", "bf16", 128, True),
            ("bf16, 64 tokens, sorted", "bf16", 64, True),
        ]
        print(
            f"\n[2] settings on {len(subset)} talks (embedding + scoring, no history), and "
            f"event-disjoint 5-fold on tagging-eval.json ({len(eval_data.talks)} talks):"
        )
        f1s: dict[str, float] = {}
        F1_CONFIGS = {
            "fp32, 256 tokens, sorted",
            "bf16, 256 tokens, sorted",
            "bf16, 128 tokens, sorted (default)",
        }
        for name, precision, length, sort in configs:
            settings = TaggingSettings(precision=precision, max_length=length)
            tagger = build_tagger(settings, device="cpu")
            tagger.encoder.sort_by_length = sort
            tagger.score(subset[:32], vocabulary=vocabulary)  # warm-up
            with Clock() as clock:
                tagger.score(subset, vocabulary=vocabulary)
            line = f"    {name:36s} {rate(len(subset), clock, threads)}"
            if name in F1_CONFIGS:
                report = evaluate_folds(tagger, eval_data, folds=5)
                f1s[name] = report.micro_f1
                line += f"  micro F1 {report.micro_f1:.3f} P@1 {report.precision_at_1:.3f}"
            print(line, flush=True)
        reference = f1s["fp32, 256 tokens, sorted"]
        default = f1s["bf16, 128 tokens, sorted (default)"]
        print(
            f"    default vs full precision, full length: F1 {default:.3f} vs "
            f"{reference:.3f} (difference {default - reference:+.3f})"
        )

    # ---- 3. the original approach -----------------------------------------------------------
    if "orig" not in skip:
        from transformers import (
            BartConfig,
            BartForSequenceClassification,
            BartTokenizerFast,
            pipeline,
        )

        from podium.tagging.nli_testing import NLI_LABELS

        same = talks[: args.orig_talks]
        texts = [f"{t.title}. {t.description}".strip() for t in same]
        names = vocabulary.names
        wide = Vocabulary(
            tags=[
                *vocabulary.tags,
                *[TagDefinition(name=f"topic number {i}") for i in range(200 - len(names))],
            ]
        )
        print(f"\n[3] original approach vs Podium on the same {len(same)} talks:")
        with Clock() as building:
            from tokenizers import ByteLevelBPETokenizer, processors

            bpe = ByteLevelBPETokenizer()
            bpe.train_from_iterator(
                [f"{t.title} {t.description}" for t in talks[:5000]],
                vocab_size=50265,
                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            )
            bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
            tokenizer = BartTokenizerFast(tokenizer_object=bpe._tokenizer, model_max_length=1024)
            config = BartConfig(
                vocab_size=50265,
                d_model=1024,
                encoder_layers=12,
                decoder_layers=12,
                encoder_attention_heads=16,
                decoder_attention_heads=16,
                encoder_ffn_dim=4096,
                decoder_ffn_dim=4096,
                max_position_embeddings=1024,
                num_labels=3,
                id2label=NLI_LABELS,
                label2id={v: k for k, v in NLI_LABELS.items()},
                pad_token_id=1,
                bos_token_id=0,
                eos_token_id=2,
                decoder_start_token_id=2,
            )
            model = BartForSequenceClassification(config).eval()
            original = pipeline(
                "zero-shot-classification", model=model, tokenizer=tokenizer, device="cpu"
            )
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(
            f"    random bart-large-mnli-sized model: {params:.0f}M parameters "
            f"(built in {building.wall:.0f}s)"
        )

        def original_per_talk(items: list[str], labels: list[str]) -> Clock:
            with torch.inference_mode(), Clock() as clock:
                for text in items:  # one call per talk, softmax across labels, as it was
                    original(text, candidate_labels=labels, multi_label=False)
            return clock

        orig = original_per_talk(texts, names)
        orig_per_talk = orig.wall / len(texts)
        print(
            f"    original, 25 labels: {orig_per_talk:.2f} s/talk "
            f"({len(texts) / orig.wall:.3f} talks/s; {load()})",
            flush=True,
        )

        tagger = build_tagger(TaggingSettings(), device="cpu")
        history = history_from_labelled(tagger, eval_data, free_form=False)
        tagger.calibration(vocabulary=vocabulary, history=history)
        tagger.calibration(vocabulary=wide, history=history)
        tagger.label_vectors(wide)
        batch = talks[:1000]
        tagger.tag(batch[:32], vocabulary=vocabulary, history=history)  # warm-up
        timings = {}
        for label_count, vocab in ((25, vocabulary), (200, wide)):
            with Clock() as clock:
                tagger.tag(batch, vocabulary=vocab, history=history)
            timings[label_count] = clock.wall / len(batch)
        ours_rate = 1 / timings[25]
        print(
            f"    Podium, 25 labels: {timings[25] * 1000:.1f} ms/talk "
            f"({ours_rate:.1f} talks/s on {len(batch)} talks; {load()})"
        )
        print(f"    ratio: {orig_per_talk / timings[25]:.0f}x faster")
        # Titles only: 200 bart-large passes per full talk take many minutes on this machine.
        growth = [t.title for t in same[: args.orig_growth_talks]]
        grown = original_per_talk(growth, wide.names)
        base = original_per_talk(growth, names)
        print(
            f"    25 -> 200 labels, time per talk:\n"
            f"      original: {base.wall / len(growth):.2f} -> {grown.wall / len(growth):.2f} s "
            f"({grown.wall / base.wall:.1f}x, on {len(growth)} talk titles)\n"
            f"      Podium:   {timings[25] * 1000:.1f} -> {timings[200] * 1000:.1f} ms "
            f"({timings[200] / timings[25]:.2f}x)"
        )
    print(f"\npeak memory of the whole benchmark (max RSS) {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
