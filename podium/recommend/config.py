"""Settings of recommendations (a section of `podium.settings.Settings`)."""

from pydantic import BaseModel, Field


class RecommendSettings(BaseModel):
    """How recommendation tables are built."""

    top_k: int = Field(default=10, gt=0, description="Talks recommended per event.")
    recommendable_states: list[str] = Field(
        default_factory=lambda: ["submitted", "accepted", "published"],
        description="Talk states that may be recommended.",
    )
