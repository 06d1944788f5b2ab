"""Random NLI models built from a config, for tests and the benchmark (no hub, no weights).

A byte-level BPE tokenizer is trained on a given corpus and a BART sequence classifier with
random weights is saved next to it, so `load_nli_pipeline(path)` exercises the real loading
and pipeline code. Random weights cost exactly what trained ones do, so the same builder at
bart-large-mnli size (d_model 1024, 12+12 layers) serves the speed comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

NLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


def random_nli(
    *,
    corpus: Iterable[str],
    vocab_size: int = 1000,
    d_model: int = 16,
    layers: int = 1,
    heads: int = 2,
    ffn: int = 32,
    max_positions: int = 1024,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A BPE tokenizer trained on `corpus` and a BART NLI classifier with random weights, in
    memory: (tokenizer, model in eval mode).

    Args:
        corpus: texts to train the tokenizer on.
        vocab_size: BPE vocabulary size (50265 matches bart-large).
        d_model: hidden size (1024 for bart-large).
        layers: encoder and decoder layers each (12 for bart-large).
        heads: attention heads (16 for bart-large).
        ffn: feed-forward size (4096 for bart-large).
        max_positions: longest input.
        seed: torch seed of the random weights.
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import BartConfig, BartForSequenceClassification, BartTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(corpus), vocab_size=vocab_size, special_tokens=specials)
    # BART's pair layout: <s> A </s></s> B </s>
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = BartTokenizerFast(tokenizer_object=bpe._tokenizer, model_max_length=max_positions)
    config = BartConfig(
        vocab_size=bpe.get_vocab_size(),
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        max_position_embeddings=max_positions,
        id2label=NLI_LABELS,
        label2id={v: k for k, v in NLI_LABELS.items()},
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    torch.manual_seed(seed)
    return tokenizer, BartForSequenceClassification(config).eval()


def build_random_nli(path: str | Path, *, corpus: Iterable[str], **sizes: int) -> Path:
    """Save a random BART NLI classifier and its trained BPE tokenizer under the folder
    `path` (`random_nli`: `sizes` are its vocabulary, model sizes and seed)."""
    tokenizer, model = random_nli(corpus=corpus, **sizes)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out
