"""Tagging benchmark: where the time goes, the encoder's fast paths side by side, their F1.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging.py [--limit 2000] [--skip sweep,f1,orig]

Prints:
  1. End to end, for each of `--e2e` variants in turn on the same talks, each in a fresh
     process: every talk of talks.jsonl.gz tagged (history embedded, calibrated, tags written
     to a Delta lake in a temp folder), talks/s, and the split of the time: tokenisation,
     encoder forward pass, lake writes (embedding cache and tags), calibration (head fits
     included) and the rest (scoring the batches, text preparation). A variant written
     `name@commit` runs the `podium` package as it was at that commit (`before` is `bf16` at
     the start of the throughput work), so the old and the new path are timed side by side;
     the tags of every variant are compared with the first one's.
  2. The encoder alone on `--subset` talk texts, every variant (runtime, precision, batch
     size, threads, token limit, length sorting) measured in interleaved rounds so that load
     changes hit all of them alike; texts/s and CPU-normalised texts/s, and the cosine of each
     variant's vectors with the torch fp32 ones.
  3. F1 of each variant that changes the vectors: the shipping tagger on the outer folds of
     the series-disjoint 5-fold split of tagging-eval.json (the nested evaluation's outer
     folds), per fold and pooled, side by side with torch fp32.
  4. The original approach (transformers zero-shot pipeline, a bart-large-mnli-sized model
     with random weights, one call per talk, 25 labels softmaxed) against Podium's tagger on
     the same talks, their ratio, and how time per talk grows from 25 to 200 labels. The
     model is `podium.tagging.nli_testing.random_nli` at bart-large's sizes; its embedding
     table has the vocabulary its BPE tokenizer learns from the first 5000 talks (about 38k
     tokens, so about 394M parameters where bart-large has 407M: the table is only looked
     up, so the time per pass is the same; before it was built here with 50265 rows).

The machine is shared, so every figure comes with the load average at the time, and rates
also as CPU-normalised talks/s (talks per CPU-second of this process x cores used).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

# name -> TaggingSettings overrides; "bf16" is the default before docs/tagging-throughput.md.
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {"precision": "fp32"},
    "fp32-unsorted": {"precision": "fp32", "sort_by_length": False},
    "bf16": {"precision": "bf16"},
    "bf16-b128": {"precision": "bf16", "batch_size": 128},
    "bf16-b256": {"precision": "bf16", "batch_size": 256},
    "bf16-1thread": {"precision": "bf16", "threads": 1},
    "int8": {"precision": "int8"},
    "onnx-fp32": {"runtime": "onnx", "precision": "fp32"},
    "onnx-int8": {"runtime": "onnx", "precision": "int8"},
    "onnx-int8-b16": {"runtime": "onnx", "precision": "int8", "batch_size": 16},
    "onnx-int8-b32": {"runtime": "onnx", "precision": "int8", "batch_size": 32},
    "onnx-int8-b128": {"runtime": "onnx", "precision": "int8", "batch_size": 128},
    "onnx-int8-1thread": {"runtime": "onnx", "precision": "int8", "threads": 1},
    "onnx-int8-len96": {"runtime": "onnx", "precision": "int8", "max_length": 96},
    "onnx-int8-len64": {"runtime": "onnx", "precision": "int8", "max_length": 64},
}
# main when the tagging throughput work began (issue 16): `before` runs bf16 on its podium.
BEFORE = "0d918b70266d7edbd4ed3504264a0946d9983559"
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `bench.pyvideo` when run as a script
    sys.path.insert(0, str(REPO))

from bench.pyvideo import DATA  # noqa: E402


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


def rate(n: int, clock: Clock, threads: int, unit: str = "talks/s") -> str:
    cpu_rate = n / max(clock.cpu / threads, 1e-9)
    return f"{n / clock.wall:.1f} {unit} (CPU-normalised {cpu_rate:.1f}; {load()})"


def timed_lake(folder: str) -> Any:
    """A Lake that sums the wall time of its writes and reads (outermost calls only)."""
    from podium.lake import Lake

    class TimedLake(Lake):
        write_s = 0.0
        read_s = 0.0
        _depth = 0

        def read(self, *a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().read(*a, **k)
            finally:
                if self._depth == 0:
                    self.read_s += time.perf_counter() - started

    def timed_write(method: str) -> Any:
        parent = getattr(Lake, method)

        def timed(self: TimedLake, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            self._depth += 1
            try:
                return parent(self, *args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.write_s += time.perf_counter() - started

        return timed

    for method in ("append", "overwrite", "replace_where", "upsert", "update_matched", "delete"):
        setattr(TimedLake, method, timed_write(method))
    return TimedLake(folder)


def labelled_talks(data: Path, limit: int | None) -> tuple[Any, Any, list[Any]]:
    """The eval set (for its vocabulary), the pyvideo records, and the talks to tag."""
    from bench.pyvideo import load_talks
    from podium.tagging.evaluate import load_labelled

    eval_data = load_labelled(data / "tagging-eval.json")
    raw = load_talks(data / "talks.jsonl.gz", vocabulary=eval_data.vocabulary)
    talks = [
        t.model_copy(update={"tags": [x for x in own if len(x) <= 80][:20]})
        for t, own in zip(raw.talks, raw.own_tags, strict=True)
    ][:limit]
    return eval_data, raw, talks


def e2e_spec(spec: str) -> tuple[str, str | None]:
    """`name` or `name@commit` (`before`: bf16 at `BEFORE`) -> (variant, commit or None)."""
    if spec == "before":
        return "bf16", BEFORE
    name, _, commit = spec.partition("@")
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    return name, commit or None


def e2e_one(name: str, *, label: str, data: Path, limit: int | None, out: Path | None) -> None:
    """One variant end to end in this process (a child of `run_e2e`): prints its figures and
    writes them (JSON) and its tag rows (parquet) next to `out`."""
    import json

    import pandas as pd
    import torch

    import podium
    from podium.embedding_cache import EmbeddingCache
    from podium.lake import Lake
    from podium.tagging import build_history, build_tagger
    from podium.talk_tags import write_tags

    threads = torch.get_num_threads()
    eval_data, raw, talks = labelled_talks(data, limit)
    vocabulary = eval_data.vocabulary
    code = Path(podium.__file__).parent
    with tempfile.TemporaryDirectory() as folder:
        lake = timed_lake(folder)
        with Clock() as loading:
            tagger = build_tagger(settings_of(name), device="cpu")
        tagger = tagger.with_cache(EmbeddingCache(lake))
        stats = tagger.encoder.stats
        tagger.tag(talks[:16], vocabulary=vocabulary)  # warm-up (no history, no lake)
        stats.reset()
        with Clock() as total:
            # History: talks whose speakers' tags map onto the vocabulary.
            tagged = [i for i, g in enumerate(raw.gold[: len(talks)]) if g]
            history = build_history(
                [talks[i] for i in tagged],
                encoder=tagger.encoder,
                labels=[raw.own_tags[i] for i in tagged],
                groups=[raw.events[i] for i in tagged],
                cache=tagger.cache,
            )
            with Clock() as calibrating:
                tagger.calibration(vocabulary=vocabulary, history=history)
            written = 0
            for start in range(0, len(talks), 2048):
                batch = talks[start : start + 2048]
                assignments = tagger.tag(batch, vocabulary=vocabulary, history=history)
                written += write_tags(
                    lake=lake, talk_ids=[t.talk_id for t in batch], assignments=assignments
                )
        rows = Lake(folder).read("talk_tags", columns=["talk_id", "tag", "source", "score"])
    split = {
        "tokenise": stats.tokenise_s,
        "encoder": stats.forward_s,
        "lake writes": lake.write_s,
        "lake reads": lake.read_s,
        "calibration (head fits incl.)": calibrating.wall,
    }
    split["rest (scoring, text)"] = total.wall - sum(split.values())
    shares = ", ".join(f"{k} {v:.1f}s ({v / total.wall:.0%})" for k, v in split.items())
    print(
        f"    {label:12s} {len(talks)} talks in {total.wall:.1f}s: "
        f"{rate(len(talks), total, threads)}\n"
        f"      code: {code}\n"
        f"      split: {shares}\n"
        f"      CPU {total.cpu:.1f}s ({total.cpu / total.wall:.2f} cores busy); "
        f"{stats.texts} texts encoded ({stats.tokens} tokens, "
        f"{stats.padded / max(stats.tokens, 1):.2f}x with padding); "
        f"history {len(history)} talks; {written} tag rows "
        f"({(rows.source == 'model').sum()} model, "
        f"{(rows.source == 'speaker').sum()} speaker); model load "
        f"{loading.wall:.1f}s (not included); peak RSS {peak_rss_gb():.2f} GB",
        flush=True,
    )
    if out is not None:
        figures = {
            "label": label,
            "talks": len(talks),
            "wall": total.wall,
            "cpu": total.cpu,
            "threads": threads,
            "split": split,
            "load": os.getloadavg()[0],
        }
        out.with_suffix(".json").write_text(json.dumps(figures))
        pd.DataFrame(rows).to_parquet(out.with_suffix(".parquet"))


def run_e2e(specs: list[str], *, data: Path, limit: int | None) -> None:
    """Each variant in a fresh process, in turn; then their ratios and how their tags agree."""
    import io
    import json
    import subprocess
    import sys
    import tarfile

    import pandas as pd

    print(f"\n[1] end to end, each variant in turn in its own process ({load()}):", flush=True)
    results: list[tuple[dict[str, Any], pd.DataFrame]] = []
    for spec in specs:
        name, commit = e2e_spec(spec)
        label = f"{name}@{commit[:9]}" if commit else name
        with tempfile.TemporaryDirectory() as work:
            path = [str(REPO)]
            if commit:  # the podium package as it was at that commit
                archive = subprocess.run(
                    ["git", "-C", str(REPO), "archive", commit, "podium"], capture_output=True
                )
                if archive.returncode != 0:
                    print(f"    {label}: cannot read commit {commit}: {archive.stderr.decode()}")
                    continue
                with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                    tar.extractall(Path(work) / "code", filter="data")
                path.insert(0, str(Path(work) / "code"))
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
            out = Path(work) / "result"
            command = [sys.executable, __file__, "--data", str(data), "--e2e-one", name]
            command += ["--label", label, "--out", str(out)]
            command += ["--limit", str(limit)] if limit else []
            done = subprocess.run(command, env=env, cwd=str(REPO))
            if done.returncode != 0:
                print(f"    {label}: failed (exit {done.returncode})")
                continue
            figures = json.loads(out.with_suffix(".json").read_text())
            results.append((figures, pd.read_parquet(out.with_suffix(".parquet"))))
    if len(results) < 2:
        return
    (base, base_rows), *others = results
    for figures, rows in others:
        wall = base["wall"] / figures["wall"]
        cpu = base["cpu"] / figures["cpu"]
        print(
            f"    {figures['label']} / {base['label']}: {wall:.2f}x talks/s wall, "
            f"{cpu:.2f}x CPU-normalised; {tag_agreement(base_rows, rows)}"
        )


def tag_agreement(first: Any, second: Any) -> str:
    """How the model tags of two runs over the same talks differ."""

    def model_tags(rows: Any) -> dict[str, set[str]]:
        model = rows[rows.source == "model"]
        out: dict[str, set[str]] = {}
        for talk_id, tag in zip(model.talk_id, model.tag, strict=True):
            out.setdefault(talk_id, set()).add(tag)
        return out

    a, b = model_tags(first), model_tags(second)
    talks = set(a) | set(b)
    differ = [t for t in talks if a.get(t, set()) != b.get(t, set())]
    added = sum(len(b.get(t, set()) - a.get(t, set())) for t in differ)
    removed = sum(len(a.get(t, set()) - b.get(t, set())) for t in differ)
    speaker_same = (first.source == "speaker").sum() == (second.source == "speaker").sum()
    if not differ:
        return f"model tags identical ({sum(map(len, a.values()))} model tags)" + (
            "" if speaker_same else "; speaker rows differ"
        )
    total = len(set(first.talk_id) | set(second.talk_id))
    return (
        f"model tags differ on {len(differ)} of {total} talks (+{added} / -{removed} of "
        f"{sum(map(len, a.values()))} model tags)"
        + ("" if speaker_same else "; speaker rows differ")
    )


def settings_of(name: str, **extra: Any) -> Any:
    from podium.tagging import TaggingSettings

    return TaggingSettings(**{**VARIANTS[name], **extra})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA,
    )
    parser.add_argument("--limit", type=int, default=None, help="Talks to tag end to end.")
    parser.add_argument(
        "--e2e",
        default="before,bf16",
        help="Comma list of variants run end to end; `name@commit` runs `name` on the podium "
        f"package of that commit, `before` is bf16@{BEFORE[:9]} (the path before issue 16).",
    )
    parser.add_argument("--subset", type=int, default=1000, help="Texts for the encoder sweep.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds of the sweep.")
    parser.add_argument(
        "--sweep", default=",".join(VARIANTS), help="Comma list of variants in the sweep."
    )
    parser.add_argument(
        "--f1", default="fp32,bf16,int8,onnx-fp32,onnx-int8", help="Variants whose F1 is measured."
    )
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
    parser.add_argument("--skip", default="", help="Comma list of parts to skip: e2e,sweep,f1,orig")
    parser.add_argument("--e2e-one", default="", help=argparse.SUPPRESS)  # a child: one variant
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.e2e_one:
        e2e_one(args.e2e_one, label=args.label, data=args.data, limit=args.limit, out=args.out)
        return

    import numpy as np
    import torch

    from podium.models import TagDefinition, Vocabulary
    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import history_from_labelled
    from podium.tagging.history import talk_texts

    threads = torch.get_num_threads()
    eval_data, raw, talks = labelled_talks(args.data, args.limit)
    vocabulary = eval_data.vocabulary
    print(f"{len(talks)} talks, {len(vocabulary.tags)} tags, {threads} torch threads, {load()}")

    # ---- 1. end to end ----------------------------------------------------------------------
    if "e2e" not in skip:
        run_e2e([x for x in args.e2e.split(",") if x], data=args.data, limit=args.limit)

    # ---- 2. the encoder's variants ----------------------------------------------------------
    if "sweep" not in skip:
        subset = talks[: args.subset]
        names = [n for n in args.sweep.split(",") if n]
        print(
            f"\n[2] encoder alone on {len(subset)} talk texts, {args.rounds} interleaved "
            f"rounds (best round shown, then the median):",
            flush=True,
        )
        encoders = {n: build_tagger(settings_of(n), device="cpu").encoder for n in names}
        texts = {n: talk_texts(subset, encoder=e) for n, e in encoders.items()}
        for n, e in encoders.items():
            e.encode(texts[n][:32])  # warm-up
        clocks: dict[str, list[Clock]] = {n: [] for n in names}
        vectors: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for n in names:
                with Clock() as clock:
                    vectors[n] = encoders[n].encode(texts[n])
                clocks[n].append(clock)
        reference = vectors.get("fp32")
        for n in names:
            best = min(clocks[n], key=lambda c: c.wall)
            median = statistics.median(c.wall for c in clocks[n])
            line = (
                f"    {n:18s} {rate(len(subset), best, threads, 'texts/s')}, median "
                f"{len(subset) / median:.1f}/s"
            )
            if reference is not None and vectors[n].shape == reference.shape:
                cosines = (vectors[n] * reference).sum(axis=1)
                line += f"; cosine with fp32 mean {cosines.mean():.4f} min {cosines.min():.4f}"
            print(line, flush=True)
        del encoders

    # ---- 3. F1 of the variants that change the vectors --------------------------------------
    if "f1" not in skip:
        from podium.tagging.evaluate import metrics
        from podium.tagging.nested import Encoded, _Problem, _run
        from podium.tagging.series import group_folds

        problem = _Problem.of(eval_data)
        fold_of = group_folds(problem.series, 5)
        positions = np.arange(len(problem.talks))
        print(
            f"\n[3] F1 on the outer folds (series-disjoint 5-fold of tagging-eval.json, "
            f"{len(problem.talks)} talks; default tagger settings), per variant:",
            flush=True,
        )
        summary: dict[str, tuple[float, float, float, list[float]]] = {}
        reference_vectors = None
        for name in filter(None, args.f1.split(",")):
            tagger = build_tagger(settings_of(name), device="cpu")
            vectors = tagger.encoder.encode(talk_texts(eval_data.talks, encoder=tagger.encoder))
            encoded = Encoded(tagger, vectors)
            per_fold: list[float] = []
            scores = np.zeros((len(positions), problem.truth.shape[1]), dtype=np.float32)
            predicted = np.zeros_like(scores)
            for fold in np.unique(fold_of):
                test = positions[fold_of == fold]
                s, p = _run(tagger, problem, encoded, positions[fold_of != fold], test)
                scores[test], predicted[test] = s, p
                names_ = vocabulary.names
                per_fold.append(metrics(s, p, problem.truth[test], names_)["micro_f1"])
            pooled = metrics(scores, predicted, problem.truth, vocabulary.names)
            summary[name] = (
                pooled["micro_f1"],
                float(np.mean(per_fold)),
                float(np.std(per_fold, ddof=1)),
                per_fold,
            )
            cosine = ""
            if reference_vectors is None:
                reference_vectors = vectors
            else:
                agree = (vectors * reference_vectors).sum(axis=1)
                first_name = args.f1.split(",")[0]
                cosine = f"; cosine with {first_name} {agree.mean():.4f} min {agree.min():.4f}"
            print(
                f"    {name:10s} pooled micro F1 {pooled['micro_f1']:.4f}, P@1 "
                f"{pooled['precision_at_1']:.3f}; per fold {np.mean(per_fold):.4f} +- "
                f"{np.std(per_fold, ddof=1):.4f} ({' '.join(f'{x:.3f}' for x in per_fold)})"
                f"{cosine}",
                flush=True,
            )
        first = next(iter(summary))
        for name, (pooled_f1, mean_f1, _, folds) in summary.items():
            if name == first:
                continue
            diffs = " ".join(f"{d:+.3f}" for d in np.asarray(folds) - summary[first][3])
            print(
                f"    {name} - {first}: pooled {pooled_f1 - summary[first][0]:+.4f}, mean "
                f"{mean_f1 - summary[first][1]:+.4f} (per fold {diffs};"
                f" fold spread {summary[first][2]:.4f})"
            )

    # ---- 4. the original approach -----------------------------------------------------------
    if "orig" not in skip:
        from transformers import pipeline

        from podium.tagging.nli_testing import random_nli

        same = talks[: args.orig_talks]
        texts = [f"{t.title}. {t.description}".strip() for t in same]
        names = vocabulary.names
        wide = Vocabulary(
            tags=[
                *vocabulary.tags,
                *[TagDefinition(name=f"topic number {i}") for i in range(200 - len(names))],
            ]
        )
        print(f"\n[4] original approach vs Podium on the same {len(same)} talks:")
        with Clock() as building:
            tokenizer, model = random_nli(
                corpus=[f"{t.title} {t.description}" for t in talks[:5000]],
                vocab_size=50265,
                d_model=1024,
                layers=12,
                heads=16,
                ffn=4096,
            )
            original = pipeline(
                "zero-shot-classification", model=model, tokenizer=tokenizer, device="cpu"
            )
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(
            f"    random bart-large-mnli-sized model: {params:.0f}M parameters, a "
            f"{len(tokenizer)}-token vocabulary (bart-large: 407M, 50265 tokens; only the "
            f"embedding table differs, not the work per pass; built in {building.wall:.0f}s)"
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
