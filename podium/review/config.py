"""Settings of git push reviews (a section of `podium.settings.Settings`)."""

from pydantic import BaseModel, Field


class ReviewSettings(BaseModel):
    """How pushes are reviewed."""

    timeout_s: int = Field(
        default=3600, gt=0, description="How long a review waits for a decision before expiring."
    )
