"""SetFit-style contrastive fine-tuning of the encoder, scored on the nested CV's outer folds.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_finetune.py [--epochs 1] [--limit N]

For each outer fold of the series-disjoint 5-fold that `podium tags eval` uses, a copy of the
packaged MiniLM is fine-tuned on the *training* talks only (the text the tagger reads, no tags),
with a supervised contrastive loss over each batch: two talks that share a vocabulary tag are
a positive pair, all others negatives (multi-label SupCon, temperature 0.05). Every talk is then
re-embedded with that fold's encoder, and the tagger with the default settings (its thresholds
calibrated on the training talks, as always) scores the outer fold, beside the same settings
on the packaged encoder. The hyperparameters (1 epoch, batch 32, AdamW lr 2e-5, bf16 autocast
where the CPU has it) are fixed before measuring and not tuned: nothing is chosen, so the
comparison is paired, fold by fold, with no inner selection. Prints per fold F1 / P@1, pooled
figures, per language (with talks.jsonl.gz) and the CPU time of each fine-tune.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pyvideo import DATA  # noqa: E402


def fine_tune(encoder, texts, targets, *, epochs: int, batch: int, lr: float, max_steps: int):
    """A copy of `encoder.model` trained with multi-label supervised contrastive loss."""
    import numpy as np
    import torch

    model = copy.deepcopy(encoder.model).train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    y = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    rng = np.random.default_rng(0)
    steps = 0
    with torch.enable_grad():
        for _ in range(epochs):
            order = rng.permutation(len(texts))
            for start in range(0, len(order) - 1, batch):
                index = order[start : start + batch]
                tokens = encoder.tokenizer(
                    [texts[i] or " " for i in index],
                    truncation=True,
                    max_length=encoder.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=encoder.bf16):
                    hidden = model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).float()
                vectors = torch.nn.functional.normalize(
                    (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1
                )
                yy = y[index]
                eye = torch.eye(len(index), dtype=torch.bool)
                positive = ((yy @ yy.T) > 0) & ~eye
                logits = (vectors @ vectors.T / 0.05).masked_fill(eye, -1e9)
                log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
                anchors = positive.any(dim=1)
                if not anchors.any():
                    continue
                per_anchor = (log_p * positive).sum(1) / positive.sum(1).clamp(min=1)
                loss = -per_anchor[anchors].mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                steps += 1
                if max_steps and steps >= max_steps:
                    return model.eval(), steps
    return model.eval(), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-steps", type=int, default=0, help="stop each fine-tune early")
    parser.add_argument("--limit", type=int, default=None, help="only the first N talks")
    args = parser.parse_args()

    import numpy as np

    from podium.tagging import TaggingSettings, build_tagger
    from podium.tagging.evaluate import load_labelled, metrics
    from podium.tagging.history import talk_texts
    from podium.tagging.nested import Encoded, _Problem, _run
    from podium.tagging.series import group_folds
    from podium.tagging.tagger import Tagger

    data = load_labelled(args.data / "tagging-eval.json")
    raw = load_labelled(args.data / "talks.jsonl.gz", vocabulary=data.vocabulary)
    language = dict(zip([t.talk_id for t in raw.talks], raw.languages, strict=True))
    data = replace(data, languages=[language.get(t.talk_id, "") for t in data.talks])
    data = data.first(args.limit)
    settings = TaggingSettings()
    base = build_tagger(settings, device="cpu")
    problem = _Problem.of(data)
    outer = group_folds(problem.series, args.folds)
    texts = talk_texts(data.talks, encoder=base.encoder)
    base_encoded = Encoded(base, base.encoder.encode(texts))
    names = data.vocabulary.names
    print(
        f"{len(problem.talks)} labelled talks, {args.folds} outer folds; fine-tune: "
        f"{args.epochs} epoch(s), batch {args.batch}, lr {args.lr:g}; "
        f"load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    shape = problem.truth.shape
    pooled = {k: (np.zeros(shape, np.float32), np.zeros(shape, np.float32)) for k in ("b", "f")}
    for fold in range(args.folds):
        train = np.flatnonzero(outer != fold)
        test = np.flatnonzero(outer == fold)
        wall, cpu = time.perf_counter(), time.process_time()
        model, steps = fine_tune(
            base.encoder,
            [texts[problem.rows[i]] for i in train],
            problem.truth[train],
            epochs=args.epochs,
            batch=args.batch,
            lr=args.lr,
            max_steps=args.max_steps,
        )
        tune_wall, tune_cpu = time.perf_counter() - wall, time.process_time() - cpu
        encoder = replace(base.encoder, model=model, model_version=f"{base.model_version}+ft{fold}")
        tuned = Tagger(encoder=encoder, settings=settings)
        cpu = time.process_time()
        tuned_encoded = Encoded(tuned, encoder.encode(texts))
        embed_cpu = time.process_time() - cpu
        figures = {}
        for key, tagger, encoded in (("b", base, base_encoded), ("f", tuned, tuned_encoded)):
            s, p = _run(tagger, problem, encoded, train, test)
            pooled[key][0][test], pooled[key][1][test] = s, p
            figures[key] = metrics(s, p, problem.truth[test], names)
        print(
            f"  fold {fold + 1}: {len(test)} talks; packaged F1 {figures['b']['micro_f1']:.3f} "
            f"P@1 {figures['b']['precision_at_1']:.3f} | fine-tuned F1 "
            f"{figures['f']['micro_f1']:.3f} P@1 {figures['f']['precision_at_1']:.3f}; "
            f"fine-tune {steps} steps {tune_cpu:.0f} CPU-s ({tune_wall:.0f} s wall), "
            f"re-embed {embed_cpu:.0f} CPU-s; load avg {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    languages = np.asarray([data.languages[i] or "unknown" for i in problem.rows])
    for key, label in (("b", "packaged"), ("f", "fine-tuned")):
        scores, predicted = pooled[key]
        m = metrics(scores, predicted, problem.truth, names)
        line = f"{label:10s} pooled F1 {m['micro_f1']:.3f} P@1 {m['precision_at_1']:.3f}"
        for name, rows in (("English", languages == "eng"), ("non-English", languages != "eng")):
            if rows.any():
                g = metrics(scores[rows], predicted[rows], problem.truth[rows], names)
                line += f"; {name} F1 {g['micro_f1']:.3f} P@1 {g['precision_at_1']:.3f}"
        print(line)


if __name__ == "__main__":
    main()
