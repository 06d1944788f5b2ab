"""Test data for tag counts and recommendations: a small lake and a fake text encoder.

The lake is real (Delta tables in a temp folder); the encoder is a fake: a hashed
bag-of-words embedding, deterministic and instant, so that texts sharing words are similar.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from podium.lake import Lake
from podium.models import Event, Talk

NOW = datetime(2026, 11, 1, tzinfo=UTC)


class BagOfWordsEncoder:
    """Fake encoder: each word adds a fixed pseudo-random vector; rows are unit length."""

    def __init__(self, dim: int = 64, model_version: str = "bow-test@1") -> None:
        self.dim = dim
        self.model_version = model_version
        self.calls: list[int] = []

    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i] += self._word(word)
            norm = float(np.linalg.norm(out[i]))
            out[i] = (
                out[i] / norm
                if norm
                else self._word("<empty>") / np.linalg.norm(self._word("<empty>"))
            )
        return out


def talk_rows(talks: list[Talk]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **t.model_dump(
                    include={
                        "talk_id",
                        "title",
                        "description",
                        "speakers",
                        "tags",
                        "event_ids",
                        "language",
                        "submitted_at",
                        "updated_at",
                    }
                ),
                "state": t.state.value,
                "content_hash": t.content_hash,
                "record_hash": t.record_hash(),
                "ingested_at": NOW,
            }
            for t in talks
        ]
    )


def event_rows(events: list[Event]) -> pd.DataFrame:
    return pd.DataFrame(
        [{**e.model_dump(), "record_hash": e.event_id, "updated_at": NOW} for e in events]
    )


def tag_rows(pairs: list[tuple[str, str]], source: str = "model") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "talk_id": t,
                "tag": g,
                "score": 0.9,
                "source": source,
                "model": "test",
                "content_hash": "",
                "tagged_at": NOW,
            }
            for t, g in pairs
        ]
    )


TOPICS: dict[str, list[str]] = {
    "python": ["python", "packaging", "typing"],
    "data": ["data science", "pandas", "python"],
    "web": ["django", "web", "python"],
    "ml": ["machine learning", "data science"],
    "ops": ["devops", "kubernetes"],
}


def sample_talks(n: int = 40) -> list[Talk]:
    """Talks cycling over topics; speaker tags are the topic's first tag, every 3rd in event b."""
    names = list(TOPICS)
    out = []
    for i in range(n):
        topic = names[i % len(names)]
        out.append(
            Talk(
                talk_id=f"t{i:03d}",
                title=f"{topic} talk {i}",
                description=f"All about {' and '.join(TOPICS[topic])}. Number {i}.",
                tags=[TOPICS[topic][0]],
                event_ids=["ev-b"] if i % 3 == 0 else [],
                language="en" if i % 7 else "de",
                state="rejected" if i % 11 == 10 else "submitted",
            )
        )
    return out


def sample_events() -> list[Event]:
    return [
        Event(
            event_id="ev-a",
            name="PyData Lisbon",
            description="data science with python",
            tags=["data science", "pandas"],
        ),
        Event(
            event_id="ev-b",
            name="DjangoCon",
            description="the web framework",
            tags=["django", "web"],
        ),
        Event(event_id="ev-c", name="Cloud Days", description="operations", tags=["devops"]),
    ]


def sample_model_tags(talks: list[Talk]) -> list[tuple[str, str]]:
    """Model tags: the topic's other tags, as an enrichment run would add."""
    pairs = []
    for talk in talks:
        topic = talk.title.split()[0]
        pairs += [(talk.talk_id, tag) for tag in TOPICS[topic][1:]]
    return pairs


def make_lake(root: Any, *, n_talks: int = 40) -> Lake:
    lake = Lake(str(root))
    talks = sample_talks(n_talks)
    lake.upsert("talks", talk_rows(talks))
    lake.upsert("events", event_rows(sample_events()))
    lake.upsert("talk_tags", tag_rows(sample_model_tags(talks)))
    return lake
