"""NLI backend: transformers zero-shot classification over pre-filtered candidate labels.

For users with NLI weights (bart-large-mnli and the like). The original system ran every
(talk, label) pair through the model and softmaxed across labels; here each talk is paired
only with its top-k labels by embedding score, so cost stays flat as the vocabulary grows,
and `multi_label=True` scores each label on its own (entailment vs contradiction), so adding
a tag does not dilute the others. All pairs of a batch go through the pipeline together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from podium.models import Talk, Vocabulary
from podium.text import talk_text


def _pipeline_class() -> type:
    from transformers import ZeroShotClassificationPipeline

    class PerTalkLabelsPipeline(ZeroShotClassificationPipeline):  # type: ignore[misc]
        """Zero-shot pipeline whose inputs may carry their own candidate labels.

        An input `{"text": ..., "candidate_labels": [...]}` is paired with its own labels;
        the chunk pipeline then batches pairs across inputs.
        """

        def preprocess(  # type: ignore[override]
            self,
            inputs: Any,
            candidate_labels: Any = None,
            hypothesis_template: str = "This example is {}.",
        ) -> Any:
            if isinstance(inputs, dict):
                candidate_labels = inputs["candidate_labels"]
                inputs = inputs["text"]
            yield from super().preprocess(inputs, candidate_labels, hypothesis_template)

    return PerTalkLabelsPipeline


def load_nli_pipeline(model: str, *, device: str = "cpu", max_length: int = 256) -> Any:
    """Load a zero-shot pipeline from a local path or hub id (offline when HF_HUB_OFFLINE=1).

    Args:
        model: local folder or hub id of an NLI sequence-classification model.
        device: torch device.
        max_length: token limit of premise plus hypothesis.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.model_max_length = max_length
    network = AutoModelForSequenceClassification.from_pretrained(model).to(device).eval()
    cls = _pipeline_class()
    return cls(model=network, tokenizer=tokenizer, device=device)


@dataclass
class NLIScorer:
    """Scores (talk, label) pairs with an NLI zero-shot pipeline.

    Args:
        pipeline: a zero-shot pipeline from `load_nli_pipeline`.
        model_version: name of the NLI weights.
        hypothesis: template with `{}` for the tag name.
        batch_size: pairs per forward pass.
        max_tokens: budget of the talk text (premise).
        threshold: entailment probability a tag must exceed.
    """

    pipeline: Any
    model_version: str
    hypothesis: str = "This talk is about {}."
    batch_size: int = 32
    max_tokens: int = 200
    threshold: float = 0.5

    def entailment(
        self, texts: Sequence[str], candidates: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        """Per text, the entailment probability of each of its candidate labels."""
        inputs = [
            {"text": text or " ", "candidate_labels": list(labels)}
            for text, labels in zip(texts, candidates, strict=True)
            if labels
        ]
        outputs = self.pipeline(
            inputs,
            multi_label=True,
            hypothesis_template=self.hypothesis,
            batch_size=self.batch_size,
        )
        if isinstance(outputs, dict):
            outputs = [outputs]
        results = iter(outputs)
        out: list[dict[str, float]] = []
        for labels in candidates:
            if not labels:
                out.append({})
                continue
            item = next(results)
            out.append(dict(zip(item["labels"], map(float, item["scores"]), strict=True)))
        return out

    def rescore(
        self,
        talks: Sequence[Talk],
        scores: np.ndarray,
        *,
        vocabulary: Vocabulary,
        top_k: int,
    ) -> np.ndarray:
        """NLI scores for each talk's top-k labels by `scores`; other labels score 0."""
        texts = [
            talk_text(t.title, t.description, tags=t.tags, max_tokens=self.max_tokens)
            for t in talks
        ]
        return self.rescore_texts(texts, scores, vocabulary=vocabulary, top_k=top_k)

    def rescore_texts(
        self,
        texts: Sequence[str],
        scores: np.ndarray,
        *,
        vocabulary: Vocabulary,
        top_k: int,
    ) -> np.ndarray:
        """`rescore` of premises already composed (one text per row of `scores`)."""
        names = vocabulary.names
        k = min(top_k, len(names))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        candidates = [[names[j] for j in row] for row in top]
        probabilities = self.entailment(texts, candidates)
        out = np.zeros_like(scores, dtype=np.float32)
        column = {name: j for j, name in enumerate(names)}
        for i, found in enumerate(probabilities):
            for name, value in found.items():
                out[i, column[name]] = value
        return out


def nli_version(model: str) -> str:
    """A short stable name of NLI weights: the folder name for local paths, else the id."""
    path = Path(model)
    return path.name if path.exists() else model
